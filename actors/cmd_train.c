/* SPDX-License-Identifier: MIT */
/*
 * `vigil train --synthetic`: trains the first model on generated data. Transactions come from
 * the synthetic generator in event-time order; each one's features are computed from its
 * account's profile before it (the same code the engine serves with), then the profile is
 * updated; the label is the generator's ground truth. The last 20% of rows in time order are
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
    size_t cap = 1 << 16;
    size_t rows = 0;
    float *x = vg_xmalloc(cap * VG_FEATURE_COUNT * sizeof(float));
    float *y = vg_xmalloc(cap * sizeof(float));
    struct profiles ps = {0};
    int64_t first_ts = 0;
    int64_t last_ts = 0;
    vg_gen_event_t ev;
    while (vg_gen_next(g, &ev) == 0) {
        if (ev.kind != VG_GEN_TX)
            continue;
        if (rows == cap) {
            cap *= 2;
            x = vg_xrealloc(x, cap * VG_FEATURE_COUNT * sizeof(float));
            y = vg_xrealloc(y, cap * sizeof(float));
        }
        double amount = (double)ev.tx.amount_minor / 100.0; /* the generator uses EUR */
        vg_account_profile_t *p = profile_of(&ps, ev.tx.account_id);
        vg_features_compute(&ev.tx, amount, p, x + rows * VG_FEATURE_COUNT);
        vg_profile_update(p, &ev.tx, amount);
        y[rows] = ev.is_fraud ? 1.0f : 0.0f;
        first_ts = rows == 0 ? ev.tx.timestamp_ms : first_ts;
        last_ts = ev.tx.timestamp_ms;
        rows++;
    }
    vg_gen_free(g);
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
    free(ps.p);
    if (rc != 0) {
        fprintf(stderr, "vigil train: %s\n", err);
        return 1;
    }
    printf("trained %s on %zu rows (%zu fraud), %zu features, %u trees: validation AUC %.4f, "
           "average precision %.4f, %.1f s; wrote %s and %s.meta.json\n",
           rep.version, rep.n_rows, rep.positives, (size_t)VG_FEATURE_COUNT, to_opts.n_rounds,
           rep.valid_auc, rep.valid_ap, rep.train_seconds, out, out);
    return 0;
}
