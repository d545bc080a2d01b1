/* SPDX-License-Identifier: MIT */
/*
 * `vigil train --synthetic`: trains the first model on generated data. Transactions come from
 * the synthetic generator in event-time order; each one's features are computed from its
 * account's and its merchant's profiles before it (the same code the engine serves with),
 * then the profiles are updated; the generator's chargebacks reach the merchant's fraud
 * history when they are reported, as in the engine; the label is the generator's ground
 * truth. The last 20% of rows in time order are
 * held out for validation (AUC ROC and average precision). Training from the log and its late
 * labels is the models issue. Thread: main.
 */
#include "actors/commands.h"
#include "models/features.h"
#include "models/gen.h"
#include "models/train.h"
#include "runtime/alloc.h"
#include "runtime/cli.h"
#include "runtime/error.h"
#include "runtime/hash.h"
#include "runtime/timefmt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* account number (from "A000123") -> profile: the generator's ids are dense. */
struct profiles {
    vg_account_profile_t *p;
    size_t n;
};

static vg_account_profile_t *profile_of(struct profiles *ps, const char *account_id)
{
    size_t k = (size_t)strtoul(account_id + 1, NULL, 10);
    if (k >= ps->n) {
        size_t n = k + 1 > ps->n * 2 ? k + 1 : ps->n * 2;
        ps->p = vg_xrealloc(ps->p, n * sizeof(*ps->p));
        for (size_t i = ps->n; i < n; i++)
            vg_profile_init(&ps->p[i]);
        ps->n = n;
    }
    return &ps->p[k];
}

/* merchant id -> profile (open addressing; ids are copied). */
struct merchants {
    char **ids;
    vg_merchant_profile_t *m;
    size_t cap;
    size_t n;
};

static vg_merchant_profile_t *merchant_of(struct merchants *ms, const char *id)
{
    if (ms->n * 2 >= ms->cap) {
        struct merchants big = {vg_xcalloc(ms->cap ? ms->cap * 2 : 1024, sizeof(char *)),
                                vg_xcalloc(ms->cap ? ms->cap * 2 : 1024, sizeof(*ms->m)),
                                ms->cap ? ms->cap * 2 : 1024, 0};
        for (size_t i = 0; i < ms->cap; i++) {
            if (!ms->ids[i])
                continue;
            size_t h = vg_hash64(ms->ids[i], strlen(ms->ids[i])) & (big.cap - 1);
            while (big.ids[h])
                h = (h + 1) & (big.cap - 1);
            big.ids[h] = ms->ids[i];
            big.m[h] = ms->m[i];
            big.n++;
        }
        free(ms->ids);
        free(ms->m);
        *ms = big;
    }
    size_t h = vg_hash64(id, strlen(id)) & (ms->cap - 1);
    while (ms->ids[h] && strcmp(ms->ids[h], id) != 0)
        h = (h + 1) & (ms->cap - 1);
    if (!ms->ids[h]) {
        ms->ids[h] = vg_xstrdup(id);
        vg_merchant_init(&ms->m[h]);
        ms->n++;
    }
    return &ms->m[h];
}

static void merchants_free(struct merchants *ms)
{
    for (size_t i = 0; i < ms->cap; i++)
        free(ms->ids[i]);
    free(ms->ids);
    free(ms->m);
}

/* What a fraud label needs to reach its merchant, by the generator's dense "tx-<seq>". */
struct tx_where {
    char (*m)[16]; /* [seq]: merchant id, "" for none */
    int64_t *ts;
    size_t cap;
};

static void remember_tx(struct tx_where *w, const Vigil__Transaction *tx)
{
    size_t seq = (size_t)strtoull(tx->transaction_id + 3, NULL, 10);
    if (seq >= w->cap) {
        size_t cap = seq + 1 > w->cap * 2 ? seq + 1 : w->cap * 2;
        w->m = vg_xrealloc(w->m, cap * sizeof(*w->m));
        w->ts = vg_xrealloc(w->ts, cap * sizeof(*w->ts));
        memset(w->m + w->cap, 0, (cap - w->cap) * sizeof(*w->m));
        w->cap = cap;
    }
    snprintf(w->m[seq], sizeof(w->m[seq]), "%s", tx->merchant_id ? tx->merchant_id : "");
    w->ts[seq] = tx->timestamp_ms;
}

/* The training matrix: one row per generated transaction, in event-time order. */
struct matrix {
    float *x;
    float *y;
    size_t rows;
    int64_t first_ts;
    int64_t last_ts;
};

/* Replays the generator through the feature table as the engine would: account and merchant
 * features from the profiles before each transaction; chargebacks reach the merchant's fraud
 * history when they are reported. */
static void build_matrix(vg_gen_t *g, struct matrix *mx)
{
    size_t cap = 1 << 16;
    mx->x = vg_xmalloc(cap * VG_FEATURE_COUNT * sizeof(float));
    mx->y = vg_xmalloc(cap * sizeof(float));
    struct profiles ps = {0};
    struct merchants ms = {0};
    struct tx_where where = {0};
    vg_gen_event_t ev;
    while (vg_gen_next(g, &ev) == 0) {
        if (ev.kind == VG_GEN_LABEL) {
            size_t seq = (size_t)strtoull(ev.label.transaction_id + 3, NULL, 10);
            if (ev.label.is_fraud && seq < where.cap && where.m[seq][0])
                vg_merchant_add(merchant_of(&ms, where.m[seq]), where.ts[seq], 0, 1);
            continue;
        }
        if (ev.kind != VG_GEN_TX)
            continue;
        if (mx->rows == cap) {
            cap *= 2;
            mx->x = vg_xrealloc(mx->x, cap * VG_FEATURE_COUNT * sizeof(float));
            mx->y = vg_xrealloc(mx->y, cap * sizeof(float));
        }
        float *row = mx->x + mx->rows * VG_FEATURE_COUNT;
        double amount = (double)ev.tx.amount_minor / 100.0; /* the generator uses EUR */
        vg_account_profile_t *p = profile_of(&ps, ev.tx.account_id);
        vg_features_compute(&ev.tx, amount, p, row);
        vg_profile_update(p, &ev.tx, amount);
        if (ev.tx.merchant_id && ev.tx.merchant_id[0]) {
            vg_merchant_profile_t *m = merchant_of(&ms, ev.tx.merchant_id);
            vg_merchant_features(m, ev.tx.timestamp_ms, row);
            vg_merchant_add(m, ev.tx.timestamp_ms, 1, 0);
        }
        remember_tx(&where, &ev.tx);
        mx->y[mx->rows] = ev.is_fraud ? 1.0f : 0.0f;
        mx->first_ts = mx->rows == 0 ? ev.tx.timestamp_ms : mx->first_ts;
        mx->last_ts = ev.tx.timestamp_ms;
        mx->rows++;
    }
    free(where.m);
    free(where.ts);
    merchants_free(&ms);
    free(ps.p);
}

int vg_cmd_train(int argc, char **argv)
{
    bool synthetic = false;
    const char *out = NULL;
    uint64_t seed = 1;
    uint64_t accounts = 2000;
    uint64_t days = 60;
    uint64_t trees = 100;
    uint64_t depth = 6;
    const vg_cli_opt_t opts[] = {
        {"synthetic", VG_CLI_BOOL, &synthetic, NULL,
         "train on generated data (the only source "
         "built yet)",
         0, 0, NULL},
        {"out", VG_CLI_STRING, &out, "FILE",
         "model file to write (.json); the sidecar goes next "
         "to it as FILE.meta.json",
         0, 0, NULL},
        {"seed", VG_CLI_UINT, &seed, "N", "generator seed", 0, 0, NULL},
        {"accounts", VG_CLI_UINT, &accounts, "N", "generated accounts", 10, 10000000, NULL},
        {"days", VG_CLI_UINT, &days, "N", "generated days", 7, 3650, NULL},
        {"trees", VG_CLI_UINT, &trees, "N", "boosting rounds", 1, 10000, NULL},
        {"depth", VG_CLI_UINT, &depth, "N", "tree depth", 1, 16, NULL},
    };
    const vg_cli_t cli = {"vigil train",
                          "--synthetic --out FILE [flags]",
                          "Trains an XGBoost model on the feature table. Today the data comes "
                          "from the synthetic\ngenerator (--synthetic); training from the log and "
                          "its labels is not built yet.",
                          opts,
                          VG_ARRAY_LEN(opts),
                          0,
                          0};
    int rc = vg_cli_parse(&cli, argc, argv, NULL, NULL);
    if (rc != 0)
        return rc == VG_CLI_HELP ? 0 : 2;
    if (!synthetic || !out) {
        fprintf(stderr, "vigil train: give --synthetic and --out FILE (training from the log is "
                        "not built yet)\n");
        return 2;
    }
    vg_gen_opts_t go = {.seed = seed, .accounts = (uint32_t)accounts, .days = (uint32_t)days};
    vg_gen_t *g = NULL;
    if (vg_gen_new(&go, &g) != 0) {
        fprintf(stderr, "vigil train: bad generator options\n");
        return 2;
    }
    struct matrix mx = {0};
    build_matrix(g, &mx);
    vg_gen_free(g);
    float *x = mx.x;
    float *y = mx.y;
    size_t rows = mx.rows;
    int64_t first_ts = mx.first_ts;
    int64_t last_ts = mx.last_ts;
    const char *feature_names[VG_FEATURE_COUNT];
    for (size_t i = 0; i < VG_FEATURE_COUNT; i++)
        feature_names[i] = vg_feature_name(i);
    char from[40];
    char to[40];
    vg_train_opts_t to_opts;
    vg_train_opts_default(&to_opts);
    to_opts.n_rounds = (unsigned)trees;
    to_opts.max_depth = (unsigned)depth;
    to_opts.valid_fraction = 0.2;
    to_opts.data_from = vg_time_format(first_ts, from, sizeof(from));
    to_opts.data_to = vg_time_format(last_ts, to, sizeof(to));
    vg_train_report_t rep;
    char err[512];
    rc = vg_train(&to_opts, x, y, rows, VG_FEATURE_COUNT, feature_names, out, &rep, err,
                  sizeof(err));
    free(x);
    free(y);
    if (rc != 0) {
        /* the library's messages say "train: ...", the command's own prefix already does */
        fprintf(stderr, "vigil train: %s\n", strncmp(err, "train: ", 7) == 0 ? err + 7 : err);
        return 1;
    }
    printf("trained %s on %zu rows (%zu fraud), %zu features, %u trees: validation AUC %.4f, "
           "average precision %.4f, %.1f s; wrote %s and %s.meta.json\n",
           rep.version, rep.n_rows, rep.positives, (size_t)VG_FEATURE_COUNT, to_opts.n_rounds,
           rep.valid_auc, rep.valid_ap, rep.train_seconds, out, out);
    return 0;
}
