/* SPDX-License-Identifier: MIT */
/*
 * Tests of the feature table and account profile against hand-computed numbers.
 */
#include "models/features.h"
#include "tests/vg_test.h"

#include <math.h>

#define T0   1767607200000ll /* 2026-01-05T10:00:00Z, a Monday */
#define MIN  60000ll
#define HOUR 3600000ll

static Vigil__Transaction tx_at(int64_t ts, const char *merchant, const char *country,
                                const char *device, double lat, double lon)
{
    Vigil__Transaction t = VIGIL__TRANSACTION__INIT;
    t.transaction_id = "t";
    t.account_id = "A";
    t.currency = "EUR";
    t.timestamp_ms = ts;
    t.merchant_id = (char *)(uintptr_t)merchant;
    t.country = (char *)(uintptr_t)country;
    if (device)
        t.device_id = (char *)(uintptr_t)device;
    if (!isnan(lat)) {
        t.has_location = 1;
        t.lat = lat;
        t.lon = lon;
    }
    return t;
}

#define F(name) out[VG_FEATURE_##name]

VG_TEST(feat_scripted_history_matches_hand_computation)
{
    vg_account_profile_t p;
    vg_profile_init(&p);
    /* Brussels (50.8503, 4.3517), Paris (48.8566, 2.3522). */
    Vigil__Transaction t1 = tx_at(T0, "M1", "BE", "d1", 50.8503, 4.3517);
    Vigil__Transaction t2 = tx_at(T0 + 30 * MIN, "M2", "BE", "d1", 50.8503, 4.3517);
    Vigil__Transaction t3 = tx_at(T0 + 23 * HOUR, "M1", "BE", NULL, 50.8503, 4.3517);
    vg_profile_update(&p, &t1, 10.0);
    vg_profile_update(&p, &t2, 30.0);
    vg_profile_update(&p, &t3, 20.0); /* Tuesday 09:00 */
    Vigil__Transaction t4 = tx_at(T0 + 23 * HOUR + 20 * MIN, "M3", "FR", "d2", 48.8566, 2.3522);
    t4.channel = VIGIL__CHANNEL__CHANNEL_ECOMMERCE;
    t4.mcc = 5816;
    float out[VG_FEATURE_COUNT];
    vg_features_compute(&t4, 100.0, &p, out);
    ASSERT_EQ_DBL(F(amount), 100.0, 0);
    ASSERT_EQ_DBL(F(log_amount), log1p(100.0), 1e-5);
    ASSERT_EQ_DBL(F(hour_of_day), 9, 0);
    ASSERT_EQ_DBL(F(day_of_week), 1, 0); /* Tuesday */
    ASSERT_EQ_DBL(F(is_weekend), 0, 0);
    ASSERT_EQ_DBL(F(is_night), 0, 0);
    ASSERT_EQ_DBL(F(seconds_since_last), 1200, 0); /* 09:00 -> 09:20 */
    ASSERT_EQ_DBL(F(tx_count_1h), 1, 0);           /* only t3 in (08:20, 09:20] */
    ASSERT_EQ_DBL(F(tx_count_1d), 1, 0);           /* t3, the same UTC day */
    ASSERT_EQ_DBL(F(amount_sum_1d), 20, 0);
    ASSERT_EQ_DBL(F(mean_amount_1d), 20, 0);
    ASSERT_EQ_DBL(F(tx_count_7d), 3, 0); /* t1, t2 on Monday, t3 */
    ASSERT_EQ_DBL(F(amount_sum_7d), 60, 0);
    ASSERT_EQ_DBL(F(mean_amount_7d), 20, 0);
    ASSERT_EQ_DBL(F(tx_count_30d), 3, 0);
    /* logs 2.397895, 3.433987, 3.044522: mean 2.958802, sample sd 0.523338,
     * (4.615121 - 2.958802) / 0.523338 = 3.164912 */
    ASSERT_EQ_DBL(F(amount_zscore), 3.164912, 1e-4);
    ASSERT_EQ_DBL(F(is_new_merchant), 1, 0);
    ASSERT_EQ_DBL(F(is_new_device), 1, 0);
    ASSERT_EQ_DBL(F(is_new_country), 1, 0);
    ASSERT_EQ_DBL(F(distance_km), 263.9758, 1e-2); /* haversine, R = 6371.0088 km */
    ASSERT_EQ_DBL(F(speed_kmh), 791.9273, 5e-2);   /* 263.98 km in 20 minutes */
    ASSERT_EQ_DBL(F(channel), 2, 0);
    ASSERT_EQ_DBL(F(mcc_group), 3, 0); /* digital goods */
    /* A known merchant, device and country read as not new. */
    Vigil__Transaction t5 = tx_at(T0 + 24 * HOUR, "M2", "BE", "d1", NAN, NAN);
    vg_features_compute(&t5, 30.0, &p, out);
    ASSERT_EQ_DBL(F(is_new_merchant), 0, 0);
    ASSERT_EQ_DBL(F(is_new_device), 0, 0);
    ASSERT_EQ_DBL(F(is_new_country), 0, 0);
    ASSERT_TRUE(isnan(F(distance_km))); /* no location on t5 */
}

VG_TEST(feat_first_transaction_has_missing_values)
{
    vg_account_profile_t p;
    vg_profile_init(&p);
    Vigil__Transaction t = tx_at(T0 + 5 * 86400000ll - 8 * HOUR, "M", "", NULL, NAN, NAN);
    float out[VG_FEATURE_COUNT];
    vg_features_compute(&t, 5.0, &p, out);
    ASSERT_TRUE(isnan(F(seconds_since_last)));
    ASSERT_TRUE(isnan(F(mean_amount_30d)));
    ASSERT_TRUE(isnan(F(amount_zscore)));
    ASSERT_TRUE(isnan(F(is_new_device)));
    ASSERT_TRUE(isnan(F(is_new_country)));
    ASSERT_EQ_DBL(F(tx_count_30d), 0, 0);
    ASSERT_EQ_DBL(F(is_weekend), 1, 0); /* 2026-01-10 is a Saturday */
    ASSERT_EQ_DBL(F(is_night), 1, 0);   /* 02:00 */
}

VG_TEST(feat_windows_roll_and_late_events)
{
    vg_account_profile_t p;
    vg_profile_init(&p);
    for (int day = 0; day < 40; day++) {
        Vigil__Transaction t = tx_at(T0 + day * 86400000ll, "M", "BE", NULL, NAN, NAN);
        vg_profile_update(&p, &t, 1.0);
    }
    float out[VG_FEATURE_COUNT];
    Vigil__Transaction probe = tx_at(T0 + 39 * 86400000ll + HOUR, "M", "BE", NULL, NAN, NAN);
    vg_features_compute(&probe, 1.0, &p, out);
    ASSERT_EQ_DBL(F(tx_count_1d), 1, 0);
    ASSERT_EQ_DBL(F(tx_count_7d), 7, 0);
    ASSERT_EQ_DBL(F(tx_count_30d), 30, 0); /* days 10..39 */
    /* An event 5 days late lands in its own day; one 35 days late is only counted as late. */
    Vigil__Transaction late5 = tx_at(T0 + 34 * 86400000ll, "M", "BE", NULL, NAN, NAN);
    vg_profile_update(&p, &late5, 1.0);
    Vigil__Transaction late35 = tx_at(T0 + 4 * 86400000ll, "M", "BE", NULL, NAN, NAN);
    vg_profile_update(&p, &late35, 1.0);
    ASSERT_EQ(p.late, 1);
    vg_features_compute(&probe, 1.0, &p, out);
    ASSERT_EQ_DBL(F(tx_count_7d), 8, 0);
    ASSERT_EQ_DBL(F(tx_count_30d), 31, 0);
    /* The latest event time does not go backwards. */
    ASSERT_EQ(p.last_ts_ms, T0 + 39 * 86400000ll);
}

/* A transaction late in event time sees only what came before it: the helper's case of
 * 12:00, then 11:00, then 11:30 on one day. Until 2026-12-03 11:00 had a gap of -3600 s and
 * counted 12:00 in its day. */
VG_TEST(feat_late_events_count_only_what_came_before)
{
    vg_account_profile_t p;
    vg_profile_init(&p);
    int64_t noon = T0 + 12 * HOUR;
    Vigil__Transaction t12 = tx_at(noon, "M", "BE", NULL, NAN, NAN);
    vg_profile_update(&p, &t12, 5.0);
    float out[VG_FEATURE_COUNT];
    Vigil__Transaction t11 = tx_at(noon - HOUR, "M", "BE", NULL, NAN, NAN);
    vg_features_compute(&t11, 3.0, &p, out);
    ASSERT_TRUE(isnan(F(seconds_since_last))); /* nothing before it is known */
    ASSERT_EQ_DBL(F(tx_count_1h), 0, 0);
    ASSERT_EQ_DBL(F(tx_count_1d), 0, 0);
    ASSERT_EQ_DBL(F(amount_sum_1d), 0, 0);
    ASSERT_TRUE(isnan(F(mean_amount_1d)));
    vg_profile_update(&p, &t11, 3.0);
    Vigil__Transaction t1130 = tx_at(noon - HOUR / 2, "M", "BE", NULL, NAN, NAN);
    vg_features_compute(&t1130, 1.0, &p, out);
    ASSERT_EQ_DBL(F(seconds_since_last), 1800, 0);
    ASSERT_EQ_DBL(F(tx_count_1h), 1, 0);
    ASSERT_EQ_DBL(F(tx_count_1d), 1, 0);
    ASSERT_EQ_DBL(F(amount_sum_1d), 3, 1e-6);
    ASSERT_EQ_DBL(F(tx_count_7d), 1, 0);
    /* In order again: every earlier event counts, and the gap is to the newest. */
    Vigil__Transaction t13 = tx_at(noon + HOUR, "M", "BE", NULL, NAN, NAN);
    vg_features_compute(&t13, 1.0, &p, out);
    ASSERT_EQ_DBL(F(seconds_since_last), 3600, 0);
    ASSERT_EQ_DBL(F(tx_count_1d), 2, 0);
    ASSERT_EQ_DBL(F(amount_sum_1d), 8, 1e-6);
}

/* Speed is distance over the time since the located transaction, across one without a place,
 * and across an encode and decode. Until 2026-12-03 Brussels at 10:00, an unlocated payment at
 * 10:50 and Paris at 11:00 read as 1,583 km/h (264 km over the 10 minutes since 10:50). */
VG_TEST(feat_speed_is_since_the_located_transaction)
{
    vg_account_profile_t p;
    vg_profile_init(&p);
    Vigil__Transaction bxl = tx_at(T0, "M", "BE", NULL, 50.8503, 4.3517);
    vg_profile_update(&p, &bxl, 1.0);
    Vigil__Transaction nowhere = tx_at(T0 + 50 * 60000ll, "M", "BE", NULL, NAN, NAN);
    vg_profile_update(&p, &nowhere, 1.0);
    uint8_t enc[VG_PROFILE_BYTES];
    vg_profile_encode(&p, enc);
    vg_account_profile_t q;
    ASSERT_OK(vg_profile_decode(enc, sizeof(enc), &q));
    float out[VG_FEATURE_COUNT];
    Vigil__Transaction paris = tx_at(T0 + HOUR, "M", "FR", NULL, 48.8566, 2.3522);
    vg_features_compute(&paris, 1.0, &q, out);
    ASSERT_EQ_DBL(F(distance_km), 264, 1);
    ASSERT_EQ_DBL(F(speed_kmh), F(distance_km), 0.01); /* over one hour */
    /* A profile written before the field existed (zeros there): the old reading, not NaN. */
    q.last_loc_ms = 0;
    vg_features_compute(&paris, 1.0, &q, out);
    ASSERT_EQ_DBL(F(speed_kmh), F(distance_km) * 6, 0.1);
}

VG_TEST(feat_profile_encoding_round_trip_and_corruption)
{
    vg_account_profile_t p;
    vg_profile_init(&p);
    for (int i = 0; i < 20; i++) {
        Vigil__Transaction t =
            tx_at(T0 + i * 7 * HOUR, i % 3 ? "M1" : "M2", "BE", "d", 50.0 + i * 0.01, 4.0);
        vg_profile_update(&p, &t, 3.0 + i);
    }
    uint8_t blob[VG_PROFILE_BYTES];
    vg_profile_encode(&p, blob);
    vg_account_profile_t q;
    ASSERT_OK(vg_profile_decode(blob, sizeof(blob), &q));
    ASSERT_MEM_EQ(&p.day_count, &q.day_count, sizeof(p.day_count));
    ASSERT_EQ(q.n, 20);
    ASSERT_EQ_DBL(q.mean_log, p.mean_log, 0);
    ASSERT_EQ(q.last_ts_ms, p.last_ts_ms);
    float a[VG_FEATURE_COUNT];
    float b[VG_FEATURE_COUNT];
    Vigil__Transaction probe = tx_at(T0 + 200 * HOUR, "M1", "FR", "d", 48.0, 2.0);
    vg_features_compute(&probe, 9.0, &p, a);
    vg_features_compute(&probe, 9.0, &q, b);
    ASSERT_MEM_EQ(a, b, sizeof(a)); /* the decoded profile gives the very same features */
    uint32_t n = 0;
    int64_t last = 0; /* what the idle sweep reads without decoding */
    ASSERT_OK(vg_profile_peek_last(blob, sizeof(blob), &n, &last));
    ASSERT_EQ(n, 20);
    ASSERT_EQ(last, T0 + 19 * 7 * HOUR);
    ASSERT_ERR(vg_profile_decode(blob, sizeof(blob) - 1, &q), VG_ECORRUPT);
    ASSERT_ERR(vg_profile_peek_last(blob, sizeof(blob) - 1, &n, &last), VG_ECORRUPT);
    blob[0] = 99;
    ASSERT_ERR(vg_profile_decode(blob, sizeof(blob), &q), VG_ECORRUPT);
    ASSERT_ERR(vg_profile_peek_last(blob, sizeof(blob), &n, &last), VG_ECORRUPT);
    ASSERT_LE(VG_PROFILE_BYTES, 512);
}

VG_TEST(feat_table_names_unique_and_found)
{
    for (size_t i = 0; i < VG_FEATURE_COUNT; i++) {
        ASSERT_EQ(vg_feature_index(vg_feature_name(i)), (int64_t)i);
        for (size_t j = i + 1; j < VG_FEATURE_COUNT; j++)
            ASSERT_FALSE(strcmp(vg_feature_name(i), vg_feature_name(j)) == 0);
    }
    ASSERT_EQ(vg_feature_index("nope"), -1);
    ASSERT_NULL(vg_feature_name(VG_FEATURE_COUNT));
}

/* The account windows equal their definition summed day by day (the kept days on or before
 * the transaction's day and after day - span, oldest-first index order), bit for bit, for
 * random profiles and transactions before, inside and after the kept days. */
VG_TEST(feat_windows_match_day_by_day_sums)
{
    static const int spans[3] = {1, 7, 30};
    uint64_t seed = 7;
    for (int round = 0; round < 2000; round++) {
        vg_account_profile_t p;
        vg_profile_init(&p);
        p.newest_day = T0 / 86400000ll;
        for (int i = 0; i < VG_PROFILE_DAYS; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            p.day_count[i] = (uint16_t)((seed >> 33) % 5u);
            p.day_sum[i] = p.day_count[i] ? (float)((seed >> 12) % 100000u) / 7.0f : 0.0f;
        }
        int64_t day = p.newest_day - 40 + round % 80;
        Vigil__Transaction t = tx_at(day * 86400000ll + HOUR, "M", "BE", NULL, NAN, NAN);
        float out[VG_FEATURE_COUNT];
        vg_features_compute(&t, 1.0, &p, out);
        for (int k = 0; k < 3; k++) {
            double c = 0;
            double s = 0;
            for (int i = 0; i < VG_PROFILE_DAYS; i++) {
                int64_t d = p.newest_day - i;
                if (d <= day && d > day - spans[k]) {
                    c += p.day_count[i];
                    s += p.day_sum[i];
                }
            }
            ASSERT_TRUE(out[VG_FEATURE_tx_count_1d + k] == (float)c);
            ASSERT_TRUE(out[VG_FEATURE_amount_sum_1d + k] == (float)s);
            if (c > 0)
                ASSERT_TRUE(out[VG_FEATURE_mean_amount_1d + k] == (float)(s / c));
            else
                ASSERT_TRUE(isnan(out[VG_FEATURE_mean_amount_1d + k]));
        }
    }
}
