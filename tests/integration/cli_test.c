/* SPDX-License-Identifier: MIT */
/*
 * The vigil command line, run as a user would: exit codes, help texts, one-line errors for bad
 * flags, and honest "not built yet" answers from subcommands that later issues deliver.
 */
#include "actors/txcodec.h"
#include "models/features.h"
#include "models/xgb.h"
#include "runtime/io.h"
#include "tests/support/proc.h"
#include "tests/vg_test.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static int run(const char *const *args, char **out, char **err)
{
    int code = -1;
    ASSERT_OK(vg_tp_run(args, NULL, 30000, &code, out, err));
    return code;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

VG_TEST(no_command_prints_usage_and_exits_2)
{
    char *out = NULL;
    char *err = NULL;
    const char *args[] = {NULL};
    ASSERT_EQ(run(args, &out, &err), 2);
    ASSERT_STR_CONTAINS(err, "usage: vigil COMMAND");
    free(out);
    free(err);
}

VG_TEST(help_lists_every_command)
{
    char *out = NULL;
    const char *args[] = {"--help", NULL};
    ASSERT_EQ(run(args, &out, NULL), 0);
    const char *names[] = {"serve",  "demo",  "gen", "import", "train",
                           "replay", "bench", "log", "token"};
    for (size_t i = 0; i < VG_ARRAY_LEN(names); i++)
        ASSERT_STR_CONTAINS(out, names[i]);
    free(out);
}

VG_TEST(unknown_command_is_one_line_exit_2)
{
    char *err = NULL;
    const char *args[] = {"frobnicate", NULL};
    ASSERT_EQ(run(args, NULL, &err), 2);
    ASSERT_STR_CONTAINS(err, "unknown command \"frobnicate\"");
    ASSERT_EQ(count_lines(err), 1);
    free(err);
}

VG_TEST(every_command_has_help)
{
    const char *names[] = {"serve",  "demo",  "gen", "import", "train",
                           "replay", "bench", "log", "token"};
    for (size_t i = 0; i < VG_ARRAY_LEN(names); i++) {
        char *out = NULL;
        const char *args[] = {names[i], "--help", NULL};
        int code = run(args, &out, NULL);
        if (code != 0)
            VG_FAIL("vigil %s --help exited %d", names[i], code);
        ASSERT_STR_CONTAINS(out, "usage: vigil");
        free(out);
    }
}

VG_TEST(bench_unknown_name_exit_2)
{
    char *err = NULL;
    const char *args[] = {"bench", "nope", NULL};
    ASSERT_EQ(run(args, NULL, &err), 2);
    ASSERT_STR_CONTAINS(err, "unknown benchmark \"nope\"");
    free(err);
}

VG_TEST(bench_runtime_bad_flag_exit_2)
{
    char *err = NULL;
    const char *args[] = {"bench", "runtime", "--runs", "many", NULL};
    ASSERT_EQ(run(args, NULL, &err), 2);
    ASSERT_STR_CONTAINS(err, "--runs");
    ASSERT_EQ(count_lines(err), 1);
    free(err);
}

/* NaN compares false with both ends of a range: until 2026-12-03 `gen --fraud-scale nan`
 * generated 63,213 transactions and no fraud, and `--tx-per-day nan` none. */
VG_TEST(a_nan_flag_is_refused)
{
    static const char *const flags[] = {"--fraud-scale", "--tx-per-day"};
    for (size_t i = 0; i < VG_ARRAY_LEN(flags); i++) {
        char *err = NULL;
        const char *args[] = {"gen", "--days", "1", flags[i], "nan", NULL};
        ASSERT_EQ(run(args, NULL, &err), 2);
        ASSERT_STR_CONTAINS(err, flags[i]);
        ASSERT_EQ(count_lines(err), 1);
        free(err);
    }
}

VG_TEST(bench_runtime_reports_figures)
{
    char *out = NULL;
    const char *args[] = {"bench", "runtime", "--runs", "1", "--seconds", "0.1", NULL};
    ASSERT_EQ(run(args, &out, NULL), 0);
    ASSERT_STR_CONTAINS(out, "within one loop");
    ASSERT_STR_CONTAINS(out, "across two loops");
    ASSERT_STR_CONTAINS(out, "p99");
    free(out);
}

VG_TEST(gen_writes_valid_api_bodies_and_labels)
{
    char labels[512];
    snprintf(labels, sizeof(labels), "%s/labels.jsonl", vg_test_tmpdir());
    const char *args[] = {"gen", "--seed",        "5", "--accounts", "60",   "--days",
                          "10",  "--fraud-scale", "5", "--labels",   labels, NULL};
    char *out = NULL;
    char *err = NULL;
    int code = -1;
    ASSERT_OK(vg_tp_run(args, NULL, 30000, &code, &out, &err));
    ASSERT_EQ(code, 0);
    ASSERT_STR_CONTAINS(err, "transactions");
    /* Every line is a transaction the ingest codec accepts. */
    vg_tx_limits_t lim = {.now_ms = 1795502401000ll, .max_future_skew_ms = 300000};
    size_t lines = 0;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        vg_tx_item_t *items = NULL;
        size_t n = 0;
        vg_tx_error_t e;
        ASSERT_OK(vg_tx_parse_json(line, strlen(line), &lim, &items, &n, &e));
        if (!items[0].ok)
            VG_FAIL("line %zu refused: %s %s: %s", lines, items[0].error.code, items[0].error.field,
                    line);
        vg_tx_items_free(items, n);
        lines++;
    }
    ASSERT_GT(lines, 600);
    char *lab = NULL;
    size_t len = 0;
    ASSERT_OK(vg_io_read_file(labels, &lab, &len));
    ASSERT_STR_CONTAINS(lab, "\"is_fraud\":true");
    free(lab);
    free(out);
    free(err);
    /* Same seed, same data. */
    char *a = NULL;
    char *b = NULL;
    const char *small[] = {"gen", "--seed", "9", "--accounts", "5", "--days", "2", NULL};
    ASSERT_OK(vg_tp_run(small, NULL, 30000, &code, &a, NULL));
    ASSERT_OK(vg_tp_run(small, NULL, 30000, &code, &b, NULL));
    ASSERT_STR_EQ(a, b);
    free(a);
    free(b);
}

VG_TEST(train_synthetic_writes_a_servable_model)
{
    char model[512];
    snprintf(model, sizeof(model), "%s/first.json", vg_test_tmpdir());
    const char *args[] = {"train",  "--synthetic", "--out",   model, "--accounts", "400",
                          "--days", "30",          "--trees", "30",  NULL};
    char *out = NULL;
    int code = -1;
    ASSERT_OK(vg_tp_run(args, NULL, 120000, &code, &out, NULL));
    ASSERT_EQ(code, 0);
    ASSERT_STR_CONTAINS(out, "validation AUC");
    double auc = atof(strstr(out, "validation AUC") + strlen("validation AUC"));
    if (!(auc > 0.85))
        VG_FAIL("validation AUC %.4f: the features do not separate the generated fraud", auc);
    free(out);
    /* The model carries exactly the feature table, in order: the engine can serve it. */
    vg_model_t *m = NULL;
    char err[256];
    ASSERT_OK(vg_model_load(model, &m, err, sizeof(err)));
    ASSERT_EQ(vg_model_feature_count(m), VG_FEATURE_COUNT);
    for (size_t i = 0; i < VG_FEATURE_COUNT; i++)
        ASSERT_STR_EQ(vg_model_feature_name(m, i), vg_feature_name(i));
    vg_model_free(m);
    const char *bad[] = {"train", "--out", model, NULL};
    char *e = NULL;
    ASSERT_OK(vg_tp_run(bad, NULL, 20000, &code, NULL, &e));
    ASSERT_EQ(code, 2);
    ASSERT_STR_CONTAINS(e, "--synthetic");
    free(e);
}

/* Starts serve on `model` with `env`; the stderr once it serves (or exits), and its exit
 * status (-1 while it served: stopped here). */
static char *serve_log(const char *model, const char *const *env, int *status)
{
    char data[512];
    snprintf(data, sizeof(data), "%s/thr-data", vg_test_tmpdir());
    const char *args[] = {"serve",      "--data", data,      "--http-port", "0",
                          "--tcp-port", "0",      "--model", model,         NULL};
    vg_tp_t p;
    ASSERT_OK(vg_tp_spawn(&p, args, env));
    char line[256];
    bool served = vg_tp_wait_line(&p, "vigil: serving", line, sizeof(line), 30000) == 0;
    if (served)
        vg_tp_signal(&p, SIGTERM);
    ASSERT_OK(vg_tp_wait(&p, 20000, status));
    char *err = vg_tp_stderr(&p);
    vg_tp_cleanup(&p);
    if (served)
        *status = -1;
    return err;
}

/* A model's sidecar thresholds apply where the configuration has none: a threshold set in a
 * file, a variable or a flag wins, as --print-config says it does. Until 2026-12-03 the
 * sidecar's won over every setting. A pair that ends up out of order is refused. */
VG_TEST(configured_thresholds_win_over_the_model_sidecars)
{
    char model[512];
    snprintf(model, sizeof(model), "%s/thr.json", vg_test_tmpdir());
    const char *train[] = {"train",  "--synthetic", "--out",   model, "--accounts", "200",
                           "--days", "10",          "--trees", "5",   NULL};
    int code = -1;
    ASSERT_OK(vg_tp_run(train, NULL, 120000, &code, NULL, NULL));
    ASSERT_EQ(code, 0);
    char meta[600];
    snprintf(meta, sizeof(meta), "%s.meta.json", model);
    char *text = NULL;
    size_t len = 0;
    ASSERT_OK(vg_io_read_file(meta, &text, &len));
    char *end = strrchr(text, '}');
    ASSERT_NOT_NULL(end);
    *end = '\0';
    static const char thr[] = ", \"thresholds\": {\"medium\": 0.01, \"high\": 0.02}}";
    size_t wlen = strlen(text) + sizeof(thr);
    char *with = malloc(wlen);
    ASSERT_NOT_NULL(with);
    snprintf(with, wlen, "%s%s", text, thr);
    ASSERT_OK(vg_io_write_file_atomic(meta, with, strlen(with)));
    free(with);
    free(text);
    int status = 0;
    char *log = serve_log(model, NULL, &status);
    ASSERT_STR_CONTAINS(log, "medium=0.010 high=0.020"); /* the sidecar's */
    free(log);
    static const char *const both[] = {"VIGIL_SCORING_THRESHOLD_MEDIUM=0.98",
                                       "VIGIL_SCORING_THRESHOLD_HIGH=0.99", NULL};
    log = serve_log(model, both, &status);
    ASSERT_STR_CONTAINS(log, "medium=0.980 high=0.990");
    free(log);
    static const char *const medium[] = {"VIGIL_SCORING_THRESHOLD_MEDIUM=0.03", NULL};
    log = serve_log(model, medium, &status); /* over the sidecar's high */
    ASSERT_EQ(status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1, 1);
    ASSERT_STR_CONTAINS(log, "medium must be below high");
    free(log);
}

/* `vigil bench ingest --baseline BIN`: a fresh server of each binary per run, in alternating
 * order, both sides' medians and their ratio, the median of the pairs' ratios; and the flags
 * it cannot go with. */
VG_TEST(bench_ingest_compares_with_a_baseline_binary)
{
    const char *bin = vg_tp_bin();
    const char *args[] = {"bench",         "ingest", "--proto",    "tcp", "--baseline", bin,
                          "--runs",        "2",      "--duration", "0.3", "--warmup",   "0.1",
                          "--connections", "1",      "--window",   "8",   "--accounts", "50",
                          "--merchants",   "10",     NULL};
    char *out = NULL;
    char *err = NULL;
    if (run(args, &out, &err) != 0)
        VG_FAIL("bench failed: %s %s", out, err);
    /* Run 1 starts with the baseline, run 2 with this build. */
    const char *b1 = strstr(out, "run 1 (baseline): ");
    const char *t1 = strstr(out, "run 1 (this build): ");
    const char *b2 = strstr(out, "run 2 (baseline): ");
    const char *t2 = strstr(out, "run 2 (this build): ");
    ASSERT_TRUE(b1 && t1 && b2 && t2);
    ASSERT_TRUE(b1 < t1 && t1 < t2 && t2 < b2);
    ASSERT_STR_CONTAINS(out, "baseline, median of 2 runs: ");
    ASSERT_STR_CONTAINS(out, "this build, CPU per answered request (median): server ");
    /* The hypervisor's share and the idle time, so a reader can tell a busy machine's figures. */
    const char *mach = strstr(out, "this build, machine (median): steal ");
    ASSERT_NOT_NULL(mach);
    double steal = -1;
    double idle = -1;
    ASSERT_EQ(sscanf(mach, "this build, machine (median): steal %lf%%, idle %lf%%", &steal, &idle),
              2);
    ASSERT_TRUE(steal >= 0 && steal <= 100 && idle >= 0 && idle <= 100);
    ASSERT_STR_CONTAINS(out, "this build / baseline: rate ");
    ASSERT_STR_CONTAINS(out, " of 2 runs\n");
    const char *pairs = strstr(out, "pair by pair (median of 2 ratios): rate ");
    ASSERT_NOT_NULL(pairs);
    double rate = 0;
    double cpu = 0;
    ASSERT_EQ(sscanf(pairs,
                     "pair by pair (median of 2 ratios): rate %lf, server CPU per request %lf",
                     &rate, &cpu),
              2);
    ASSERT_TRUE(rate > 0 && cpu > 0); /* the same binary twice: about 1, noise aside */
    free(out);
    free(err);
    const char *missing[] = {"bench", "ingest", "--baseline", "/nonexistent/vigil", NULL};
    ASSERT_EQ(run(missing, &out, &err), 2);
    ASSERT_STR_CONTAINS(err, "--baseline must name an executable vigil binary");
    free(out);
    free(err);
    const char *targeted[] = {"bench", "ingest", "--tcp", "127.0.0.1:1", "--baseline", bin, NULL};
    ASSERT_EQ(run(targeted, &out, &err), 2);
    ASSERT_STR_CONTAINS(err, "no --http or --tcp");
    free(out);
    free(err);
}
