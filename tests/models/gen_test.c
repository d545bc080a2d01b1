/* SPDX-License-Identifier: MIT */
/*
 * Tests of the synthetic generator: determinism, event-time order, labels for exactly the
 * frauds and only later, a plausible fraud rate, and the shape of each scenario.
 */
#include "models/gen.h"
#include "runtime/alloc.h"
#include "tests/vg_test.h"

#include <math.h>

struct seen {
    char id[32];
    int64_t ts;
    bool fraud;
    bool labelled;
};

static int64_t event_time(const vg_gen_event_t *ev)
{
    return ev->kind == VG_GEN_TX ? ev->tx.timestamp_ms : ev->label.reported_at_ms;
}

VG_TEST(gen_same_seed_same_stream)
{
    vg_gen_opts_t o = {.seed = 42, .accounts = 200, .merchants = 80, .days = 5};
    vg_gen_t *a = NULL;
    vg_gen_t *b = NULL;
    ASSERT_OK(vg_gen_new(&o, &a));
    ASSERT_OK(vg_gen_new(&o, &b));
    vg_gen_event_t ea;
    vg_gen_event_t eb;
    int n = 0;
    while (vg_gen_next(a, &ea) == 0) {
        ASSERT_OK(vg_gen_next(b, &eb));
        ASSERT_EQ(ea.kind, eb.kind);
        ASSERT_EQ(event_time(&ea), event_time(&eb));
        if (ea.kind == VG_GEN_TX) {
            ASSERT_STR_EQ(ea.tx.transaction_id, eb.tx.transaction_id);
            ASSERT_EQ(ea.tx.amount_minor, eb.tx.amount_minor);
        }
        n++;
    }
    ASSERT_ERR(vg_gen_next(b, &eb), VG_ENOTFOUND);
    ASSERT_GT(n, 1000);
    vg_gen_free(a);
    vg_gen_free(b);
    o.seed = 43;
    ASSERT_OK(vg_gen_new(&o, &a));
    ASSERT_OK(
        vg_gen_new(&(vg_gen_opts_t){.seed = 42, .accounts = 200, .merchants = 80, .days = 5}, &b));
    int differ = 0;
    for (int i = 0; i < 100; i++) {
        ASSERT_OK(vg_gen_next(a, &ea));
        ASSERT_OK(vg_gen_next(b, &eb));
        differ += event_time(&ea) != event_time(&eb);
    }
    ASSERT_GT(differ, 50);
    vg_gen_free(a);
    vg_gen_free(b);
}

VG_TEST(gen_time_order_and_labels_follow_frauds)
{
    vg_gen_opts_t o = {
        .seed = vg_test_seed(), .accounts = 500, .merchants = 200, .days = 20, .fraud_scale = 3};
    vg_gen_t *g = NULL;
    ASSERT_OK(vg_gen_new(&o, &g));
    size_t cap = 1 << 16;
    size_t n = 0;
    struct seen *txs = vg_xcalloc(cap, sizeof(*txs));
    int64_t last = INT64_MIN;
    vg_gen_event_t ev;
    uint64_t labels = 0;
    while (vg_gen_next(g, &ev) == 0) {
        ASSERT_GE(event_time(&ev), last);
        last = event_time(&ev);
        if (ev.kind == VG_GEN_TX) {
            if (n == cap) {
                cap *= 2;
                txs = vg_xrealloc(txs, cap * sizeof(*txs));
            }
            ASSERT_GT(ev.tx.amount_minor, 0);
            ASSERT_STR_EQ(ev.tx.currency, "EUR");
            ASSERT_EQ(strlen(ev.tx.country), 2);
            snprintf(txs[n].id, sizeof(txs[n].id), "%s", ev.tx.transaction_id);
            txs[n].ts = ev.tx.timestamp_ms;
            txs[n].fraud = ev.is_fraud;
            txs[n].labelled = false;
            n++;
            continue;
        }
        labels++;
        /* ids are "tx-<seq>", seq = position in id order: find it. */
        unsigned long long seq = strtoull(ev.label.transaction_id + 3, NULL, 10);
        bool found = false;
        for (size_t i = 0; i < n && !found; i++) {
            if (strtoull(txs[i].id + 3, NULL, 10) != seq)
                continue;
            ASSERT_TRUE(txs[i].fraud);
            ASSERT_FALSE(txs[i].labelled);
            ASSERT_GT(ev.label.reported_at_ms, txs[i].ts);
            txs[i].labelled = true;
            found = true;
        }
        ASSERT_TRUE(found);
    }
    uint64_t frauds = 0;
    for (size_t i = 0; i < n; i++) {
        frauds += txs[i].fraud;
        if (txs[i].fraud && !txs[i].labelled)
            VG_FAIL("fraud %s never labelled", txs[i].id);
    }
    ASSERT_EQ_U(labels, frauds);
    vg_gen_stats_t st;
    vg_gen_stats(g, &st);
    ASSERT_EQ_U(st.transactions, n);
    for (int s = 1; s < VG_GEN_NSCENARIOS; s++) {
        if (st.frauds[s] == 0)
            VG_FAIL("scenario %d never happened", s);
    }
    free(txs);
    vg_gen_free(g);
}

VG_TEST(gen_fraud_rate_is_plausible)
{
    vg_gen_opts_t o = {.seed = 7, .accounts = 2000, .merchants = 500, .days = 30};
    vg_gen_t *g = NULL;
    ASSERT_OK(vg_gen_new(&o, &g));
    vg_gen_event_t ev;
    uint64_t tx = 0;
    uint64_t fraud = 0;
    while (vg_gen_next(g, &ev) == 0) {
        if (ev.kind != VG_GEN_TX)
            continue;
        tx++;
        fraud += ev.is_fraud;
    }
    double rate = (double)fraud / (double)tx;
    ASSERT_GT(tx, 100000); /* 2,000 accounts x 30 days x ~2 a day */
    if (!(rate > 0.002 && rate < 0.03))
        VG_FAIL("fraud rate %.4f outside 0.2%%..3%%", rate);
    fprintf(stderr, "transactions %llu fraud rate %.4f\n", (unsigned long long)tx, rate);
    vg_gen_free(g);
}

static double km(double lat1, double lon1, double lat2, double lon2)
{
    double r = 3.14159265358979323846 / 180.0;
    double dlat = (lat2 - lat1) * r;
    double dlon = (lon2 - lon1) * r;
    double a = sin(dlat / 2) * sin(dlat / 2) +
               cos(lat1 * r) * cos(lat2 * r) * sin(dlon / 2) * sin(dlon / 2);
    return 6371.0 * 2 * atan2(sqrt(a), sqrt(1 - a));
}

VG_TEST(gen_scenarios_have_their_shape)
{
    vg_gen_opts_t o = {.seed = 99, .accounts = 300, .merchants = 150, .days = 15, .fraud_scale = 5};
    vg_gen_t *g = NULL;
    ASSERT_OK(vg_gen_new(&o, &g));
    vg_gen_event_t ev;
    int tiny_tests = 0;
    int travel_checked = 0;
    int transfers = 0;
    /* Last card-present location per account (by id number). */
    double *lat = vg_xcalloc(o.accounts, sizeof(double));
    double *lon = vg_xcalloc(o.accounts, sizeof(double));
    int64_t *when = vg_xcalloc(o.accounts, sizeof(int64_t));
    while (vg_gen_next(g, &ev) == 0) {
        if (ev.kind != VG_GEN_TX)
            continue;
        unsigned acct = (unsigned)strtoul(ev.tx.account_id + 1, NULL, 10);
        if (ev.scenario == VG_GEN_CARD_TESTING && ev.tx.amount_minor <= 300)
            tiny_tests++;
        if (ev.scenario == VG_GEN_MULE) {
            ASSERT_EQ(ev.tx.channel, VIGIL__CHANNEL__CHANNEL_TRANSFER);
            ASSERT_EQ(ev.tx.amount_minor % 10000, 0);
            transfers++;
        }
        if (ev.scenario == VG_GEN_IMPOSSIBLE_TRAVEL && when[acct]) {
            double d = km(lat[acct], lon[acct], ev.tx.lat, ev.tx.lon);
            double hours = (double)(ev.tx.timestamp_ms - when[acct]) / 3600000.0;
            if (hours > 0 && hours < 1.1) {
                ASSERT_GT(d, 1000.0);
                travel_checked++;
            }
        }
        if (ev.tx.channel == VIGIL__CHANNEL__CHANNEL_CARD_PRESENT) {
            lat[acct] = ev.tx.lat;
            lon[acct] = ev.tx.lon;
            when[acct] = ev.tx.timestamp_ms;
        }
    }
    ASSERT_GT(tiny_tests, 20);
    ASSERT_GT(travel_checked, 3);
    ASSERT_GT(transfers, 20);
    free(lat);
    free(lon);
    free(when);
    vg_gen_free(g);
}

VG_TEST(gen_rejects_absurd_options)
{
    vg_gen_t *g = NULL;
    vg_gen_opts_t o = {.days = 100000};
    ASSERT_ERR(vg_gen_new(&o, &g), VG_EINVAL);
    ASSERT_NULL(g);
    vg_gen_free(NULL);
}
