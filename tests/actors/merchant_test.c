/* SPDX-License-Identifier: MIT */
/*
 * The merchant outbox and its owner side: outbox entries round-trip through the state in
 * (owner, offset) order and go with their batch; an owner applies a source's deltas once,
 * however often they are resent; the merchant profile's windows and delayed fraud rate.
 */
#include "actors/merchant.h"
#include "runtime/error.h"
#include "tests/vg_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DAY 86400000LL

static vg_state_t *open_state(const char *sub)
{
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/%s", vg_test_tmpdir(), sub);
    vg_state_opts_t o = {0};
    vg_state_t *st = NULL;
    ASSERT_OK(vg_state_open(dir, &o, &st));
    return st;
}

static vg_mdelta_t delta(unsigned owner, uint64_t off, int64_t ts, const char *m, int tx, int fr)
{
    vg_mdelta_t d;
    memset(&d, 0, sizeof(d));
    d.owner = owner;
    d.offset = off;
    d.ts_ms = ts;
    d.tx_delta = (int8_t)tx;
    d.fraud_delta = (int8_t)fr;
    snprintf(d.merchant_id, sizeof(d.merchant_id), "%s", m);
    return d;
}

VG_TEST(outbox_records_round_trip_in_owner_and_offset_order)
{
    vg_state_t *st = open_state("src");
    /* Two batches: owner 3 gets a record from each, owner 1 one record. */
    vg_state_batch_t *b = vg_state_batch_begin(st);
    vg_mdelta_t first[] = {delta(3, 20, 5 * DAY, "m-b", 1, 0), delta(3, 22, 5 * DAY, "m-d", 1, 0)};
    ASSERT_OK(vg_outbox_put(b, first, 2));
    ASSERT_OK(vg_state_batch_commit(b, 23));
    ASSERT_EQ_U(first[1].record, 20);
    b = vg_state_batch_begin(st);
    vg_mdelta_t to1[] = {delta(1, 7, 4 * DAY, "m-a", 0, -1)};
    vg_mdelta_t to3[] = {delta(3, 9, 6 * DAY, "m-c", 1, 1)};
    ASSERT_OK(vg_outbox_put(b, to1, 1));
    ASSERT_OK(vg_outbox_put(b, to3, 1));
    ASSERT_OK(vg_outbox_put(b, NULL, 0)); /* an owner with nothing: no record */
    ASSERT_OK(vg_state_batch_commit(b, 23));
    vg_mdelta_t *out = NULL;
    size_t n = 0;
    ASSERT_OK(vg_outbox_load(st, &out, &n));
    ASSERT_EQ(n, 4);
    ASSERT_EQ(out[0].owner, 1);
    ASSERT_EQ_U(out[0].offset, 7);
    ASSERT_EQ_U(out[0].record, 7);
    ASSERT_EQ(out[0].fraud_delta, -1);
    ASSERT_STR_EQ(out[0].merchant_id, "m-a");
    ASSERT_EQ_U(out[1].offset, 9); /* owner 3, records in offset order */
    ASSERT_EQ_U(out[2].offset, 20);
    ASSERT_EQ_U(out[3].offset, 22);
    ASSERT_EQ_U(out[3].record, 20);
    ASSERT_STR_EQ(out[3].merchant_id, "m-d");
    ASSERT_EQ(out[2].ts_ms, 5 * DAY);
    free(out);
    /* An acknowledged record goes, whole, with a later batch. */
    b = vg_state_batch_begin(st);
    ASSERT_OK(vg_outbox_del(b, 3, 20));
    ASSERT_OK(vg_state_batch_commit(b, 23));
    ASSERT_OK(vg_outbox_load(st, &out, &n));
    ASSERT_EQ(n, 2);
    ASSERT_EQ_U(out[1].offset, 9);
    free(out);
    vg_state_close(st);
}

VG_TEST(outbox_load_refuses_a_damaged_record)
{
    vg_state_t *st = open_state("damaged");
    vg_state_batch_t *b = vg_state_batch_begin(st);
    vg_mdelta_t d[] = {delta(0, 5, DAY, "m-long-enough", 1, 0)};
    ASSERT_OK(vg_outbox_put(b, d, 1));
    ASSERT_OK(vg_state_batch_commit(b, 6));
    /* The same key with the record cut short inside its merchant id. */
    uint8_t key[13] = {'o', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5};
    uint8_t val[25] = {0};
    val[0] = 5;
    val[18] = 13; /* says 13 id bytes follow; 6 do */
    b = vg_state_batch_begin(st);
    ASSERT_OK(vg_state_batch_put(b, VG_STATE_META, key, sizeof(key), val, sizeof(val)));
    ASSERT_OK(vg_state_batch_commit(b, 6));
    vg_mdelta_t *out = NULL;
    size_t n = 0;
    ASSERT_ERR(vg_outbox_load(st, &out, &n), VG_ECORRUPT);
    ASSERT_NULL(out);
    vg_state_close(st);
}

VG_TEST(owner_applies_each_source_delta_once)
{
    vg_state_t *st = open_state("owner");
    vg_mdelta_t a[] = {delta(0, 10, 100 * DAY, "m1", 1, 0), delta(0, 11, 100 * DAY, "m1", 1, 0),
                       delta(0, 12, 90 * DAY, "m1", 0, 1)};
    size_t applied = 0;
    ASSERT_OK(vg_merchant_apply(st, 2, a, 3, &applied));
    ASSERT_EQ(applied, 3);
    /* A resend (the source crashed before its outbox delete) changes nothing ... */
    ASSERT_OK(vg_merchant_apply(st, 2, a, 3, &applied));
    ASSERT_EQ(applied, 0);
    /* ... a resend with new deltas after it applies only the new ones ... */
    vg_mdelta_t b[] = {a[2], delta(0, 13, 100 * DAY, "m1", 1, 0)};
    ASSERT_OK(vg_merchant_apply(st, 2, b, 2, &applied));
    ASSERT_EQ(applied, 1);
    /* ... and another source's offsets are its own. */
    vg_mdelta_t c[] = {delta(0, 10, 100 * DAY, "m1", 1, 0)};
    ASSERT_OK(vg_merchant_apply(st, 5, c, 1, &applied));
    ASSERT_EQ(applied, 1);
    vg_merchant_profile_t m;
    vg_state_reader_t r = {.st = st};
    ASSERT_OK(vg_merchant_get(&r, "m1", &m));
    ASSERT_EQ(m.n, 4);
    ASSERT_EQ(m.frauds, 1);
    uint64_t off = 99;
    ASSERT_OK(vg_state_applied_offset(st, &off));
    ASSERT_EQ_U(off, 0); /* the owner's own applied offset is untouched */
    ASSERT_ERR(vg_merchant_get(&r, "nobody", &m), VG_ENOTFOUND);
    vg_state_reader_end(&r);
    vg_state_close(st);
}

VG_TEST(merchant_windows_and_delayed_risk)
{
    vg_merchant_profile_t m;
    vg_merchant_init(&m);
    int64_t d = 20000; /* a day number */
    for (int i = 0; i < 4; i++)
        vg_merchant_add(&m, (d - 10) * DAY + i, 1, 0); /* 4 on day d-10 */
    vg_merchant_add(&m, (d - 10) * DAY, 0, 1);         /* one of them fraud */
    vg_merchant_add(&m, (d - 7) * DAY, 1, 1);          /* d-7: one, fraud */
    vg_merchant_add(&m, d * DAY, 1, 0);                /* today: one */
    float f[VG_FEATURE_COUNT];
    vg_merchant_features(&m, d * DAY + 5, f);
    ASSERT_EQ_DBL(f[VG_FEATURE_merchant_tx_count_1d], 1.0, 1e-9);
    ASSERT_EQ_DBL(f[VG_FEATURE_merchant_tx_count_7d], 1.0, 1e-9); /* d-6..d */
    ASSERT_EQ_DBL(f[VG_FEATURE_merchant_tx_count_30d], 6.0, 1e-9);
    ASSERT_EQ_DBL(f[VG_FEATURE_merchant_risk_1d], 1.0, 1e-9); /* day d-7: 1 of 1 */
    ASSERT_EQ_DBL(f[VG_FEATURE_merchant_risk_7d], 0.4, 1e-6); /* d-13..d-7: 2 of 5 */
    ASSERT_EQ_DBL(f[VG_FEATURE_merchant_risk_30d], 0.4, 1e-6);
    vg_merchant_add(&m, (d - 7) * DAY, 0, -1); /* relabelled genuine */
    vg_merchant_features(&m, d * DAY + 5, f);
    ASSERT_EQ_DBL(f[VG_FEATURE_merchant_risk_7d], 0.2, 1e-6);
    vg_merchant_features(NULL, d * DAY, f);
    ASSERT_TRUE(isnan(f[VG_FEATURE_merchant_tx_count_1d]) &&
                isnan(f[VG_FEATURE_merchant_risk_30d]));
    /* Encoding round trip. */
    uint8_t enc[VG_MERCHANT_BYTES];
    vg_merchant_encode(&m, enc);
    vg_merchant_profile_t back;
    ASSERT_OK(vg_merchant_decode(enc, sizeof(enc), &back));
    ASSERT_MEM_EQ(&back, &m, sizeof(m));
    ASSERT_ERR(vg_merchant_decode(enc, sizeof(enc) - 1, &back), VG_ECORRUPT);
}

/* The windows' definition, day by day: the days [day - from - span + 1, day - from] that the
 * profile still holds. */
static void window_by_day(const vg_merchant_profile_t *m, int64_t day, int from, int span,
                          double *tx, double *fraud)
{
    *tx = *fraud = 0;
    for (int64_t x = day - from - span + 1; x <= day - from; x++) {
        int64_t idx = m->newest_day - x;
        if (idx >= 0 && idx < VG_MERCHANT_DAYS) {
            *tx += m->tx[idx];
            *fraud += m->fraud[idx];
        }
    }
}

/* The features equal the windows summed day by day, exactly, for random profiles and for
 * transactions before, inside and after the days the profile holds. */
VG_TEST(merchant_features_match_day_by_day_sums)
{
    uint64_t seed = 42;
    for (int round = 0; round < 2000; round++) {
        vg_merchant_profile_t m;
        vg_merchant_init(&m);
        m.newest_day = 20000;
        for (int i = 0; i < VG_MERCHANT_DAYS; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            m.tx[i] = (uint32_t)(seed >> 40) % 1000u * (round % 3 == 0 ? 0u : 1u);
            m.fraud[i] = (uint16_t)(m.tx[i] ? (seed >> 20) % (m.tx[i] + 1) : 0);
        }
        int64_t day = m.newest_day - 50 + round % 100;
        float f[VG_FEATURE_COUNT];
        vg_merchant_features(&m, day * DAY + 1234, f);
        const int spans[3] = {1, 7, 30};
        for (int k = 0; k < 3; k++) {
            double tx;
            double fraud;
            window_by_day(&m, day, 0, spans[k], &tx, &fraud);
            ASSERT_TRUE(f[VG_FEATURE_merchant_tx_count_1d + k] == (float)tx);
            window_by_day(&m, day, VG_MERCHANT_DELAY_DAYS, spans[k], &tx, &fraud);
            float risk = f[VG_FEATURE_merchant_risk_1d + k];
            if (tx > 0)
                ASSERT_TRUE(risk == (float)(fraud / tx));
            else
                ASSERT_TRUE(isnan(risk));
        }
    }
}

/* Counting in the encoded bytes gives the bytes of decode + add + encode, and features read
 * from them equal those of the decoded profile, over random histories: deltas on the newest
 * day, older days, days past the kept ones (late), relabels that take counts below zero,
 * fraud counts at their ceiling; new days and empty profiles are left to the decoder. */
VG_TEST(merchant_encoded_add_and_features_match_the_decoded_ones)
{
    uint64_t seed = 99;
    size_t in_place = 0;
    size_t decoded = 0;
    for (int round = 0; round < 300; round++) {
        vg_merchant_profile_t m;
        vg_merchant_init(&m);
        int64_t day = 20000;
        uint8_t enc[VG_MERCHANT_BYTES];
        vg_merchant_encode(&m, enc);
        for (int step = 0; step < 200; step++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            unsigned r = (unsigned)(seed >> 33);
            if (r % 50 == 0)
                day += 1 + r % 3; /* a new day now and then */
            int64_t back = r % 7 == 0 ? 30 + (int64_t)(r % 30) : (int64_t)(r % 5);
            int64_t ts = (day - back) * DAY + (int64_t)(r % 1000);
            int txd = r % 11 == 0 ? 0 : 1;
            int frd = r % 13 == 0 ? -1 : r % 17 == 0 ? 1 : 0;
            if (r % 97 == 0) {
                txd = -3;    /* below zero: clamped */
                frd = 70000; /* over the u16 ceiling: clamped */
            }
            uint8_t want[VG_MERCHANT_BYTES];
            ASSERT_OK(vg_merchant_decode(enc, sizeof(enc), &m));
            vg_merchant_add(&m, ts, txd, frd);
            vg_merchant_encode(&m, want);
            uint8_t got[VG_MERCHANT_BYTES];
            memcpy(got, enc, sizeof(got));
            if (vg_merchant_add_encoded(got, ts, txd, frd)) {
                in_place++;
                ASSERT_TRUE(memcmp(got, want, sizeof(want)) == 0);
            } else {
                decoded++;
                ASSERT_TRUE(memcmp(got, enc, sizeof(enc)) == 0); /* untouched */
            }
            memcpy(enc, want, sizeof(enc));
            float a[VG_FEATURE_COUNT];
            float b[VG_FEATURE_COUNT];
            int64_t probe = (day - (int64_t)(r % 45)) * DAY + 7;
            vg_merchant_features(&m, probe, a);
            ASSERT_OK(vg_merchant_features_encoded(enc, sizeof(enc), probe, b));
            for (int k = VG_FEATURE_merchant_tx_count_1d; k < VG_FEATURE_COUNT; k++)
                ASSERT_TRUE(a[k] == b[k] || (isnan(a[k]) && isnan(b[k])));
        }
    }
    ASSERT_GT(in_place, 10000u);
    ASSERT_GT(decoded, 100u);
    uint8_t bad[VG_MERCHANT_BYTES] = {0}; /* version 0 */
    float f[VG_FEATURE_COUNT];
    ASSERT_ERR(vg_merchant_features_encoded(bad, sizeof(bad), 0, f), VG_ECORRUPT);
    ASSERT_FALSE(vg_merchant_add_encoded(bad, 0, 1, 0));
}
