/* SPDX-License-Identifier: MIT */
/*
 * `vigil bench model`: model training time, load time, then predict microseconds per row and
 * per call (p50/p99 of single calls) for each batch size, and contribution cost per row, exact
 * (TreeSHAP) and approximate. Each figure is the median over --runs repetitions of --seconds.
 * The data is synthetic: uniform features, a label from a few of them plus noise (~10%
 * positives), so the trees are full-depth like a real fraud model's. Thread: main.
 */
#include "bench/bench_model.h"
#include "bench/bench.h"
#include "models/train.h"
#include "models/xgb.h"
#include "runtime/alloc.h"
#include "runtime/cli.h"
#include "runtime/clock.h"
#include "runtime/error.h"
#include "runtime/histogram.h"
#include "runtime/io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_RUNS   21
#define POOL_ROWS  4096 /* rows scored round-robin, so the input is not one hot cache line */
#define NAME_MAX_B 24

struct bench_data {
    float *X;
    float *y;
    size_t nrows;
    size_t ncols;
};

static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float unit(uint64_t *s)
{
    return (float)(mix(s) >> 40) / (float)(1u << 24);
}

static struct bench_data make_data(size_t nrows, size_t ncols, uint64_t seed)
{
    struct bench_data d = {vg_xmalloc(nrows * ncols * sizeof(float)),
                           vg_xmalloc(nrows * sizeof(float)), nrows, ncols};
    uint64_t s = seed;
    for (size_t i = 0; i < nrows; i++) {
        float *row = d.X + i * ncols;
        for (size_t j = 0; j < ncols; j++)
            row[j] = unit(&s);
        float z = 2.0f * row[0] * row[1] + row[2] - 0.5f * row[3] + (unit(&s) - 0.5f) * 0.6f;
        d.y[i] = z > 1.45f ? 1.0f : 0.0f;
    }
    return d;
}

/* Rows scored per second when calling predict with `batch` rows at a time for `seconds`;
 * single-call latencies (ns) go into h. */
static double run_predict(const vg_model_t *m, const struct bench_data *pool, size_t batch,
                          double seconds, float *out, vg_histogram_t *h)
{
    uint64_t start = vg_clock_mono_ns();
    uint64_t deadline = start + (uint64_t)(seconds * 1e9);
    uint64_t rows = 0;
    size_t off = 0;
    uint64_t now = start;
    while (now < deadline) {
        if (off + batch > pool->nrows)
            off = 0;
        uint64_t t0 = vg_clock_mono_ns();
        if (vg_model_predict(m, pool->X + off * pool->ncols, batch, pool->ncols, out) != 0)
            return -1.0;
        now = vg_clock_mono_ns();
        vg_histogram_record(h, now - t0);
        rows += batch;
        off += batch;
    }
    return (double)rows / ((double)(now - start) / 1e9);
}

static double run_contrib(const vg_model_t *m, const struct bench_data *pool, size_t batch,
                          bool exact, double seconds, float *out)
{
    uint64_t start = vg_clock_mono_ns();
    uint64_t deadline = start + (uint64_t)(seconds * 1e9);
    uint64_t rows = 0;
    size_t off = 0;
    uint64_t now = start;
    while (now < deadline) {
        if (off + batch > pool->nrows)
            off = 0;
        if (vg_model_contributions(m, pool->X + off * pool->ncols, batch, pool->ncols, exact,
                                   out) != 0)
            return -1.0;
        rows += batch;
        off += batch;
        now = vg_clock_mono_ns();
    }
    return (double)rows / ((double)(now - start) / 1e9);
}

static int train_and_load(const struct bench_data *d, uint64_t trees, uint64_t depth,
                          const char *dir, vg_model_t **out)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/bench.json", dir);
    char(*names)[NAME_MAX_B] = vg_xmalloc(d->ncols * sizeof(*names));
    const char **np = vg_xmalloc(d->ncols * sizeof(*np));
    for (size_t j = 0; j < d->ncols; j++) {
        snprintf(names[j], NAME_MAX_B, "f%02zu", j);
        np[j] = names[j];
    }
    vg_train_opts_t o;
    vg_train_opts_default(&o);
    o.n_rounds = (unsigned)trees;
    o.max_depth = (unsigned)depth;
    o.nthread = 2;
    o.valid_fraction = 0.2;
    vg_train_report_t rep;
    char err[256] = "";
    int rc = vg_train(&o, d->X, d->y, d->nrows, d->ncols, np, path, &rep, err, sizeof(err));
    if (rc == 0) {
        printf("trained rows=%zu features=%zu trees=%llu depth=%llu in %.2f s: valid auc %.4f "
               "ap %.4f positives %zu\n",
               d->nrows, d->ncols, (unsigned long long)trees, (unsigned long long)depth,
               rep.train_seconds, rep.valid_auc, rep.valid_ap, rep.positives);
        uint64_t t0 = vg_clock_mono_ns();
        rc = vg_model_load(path, out, err, sizeof(err));
        if (rc == 0)
            printf("load + warm-up %.1f ms\n", (double)(vg_clock_mono_ns() - t0) / 1e6);
    }
    if (rc != 0)
        fprintf(stderr, "vigil bench model: %s\n", err);
    char meta[600];
    snprintf(meta, sizeof(meta), "%s.meta.json", path);
    (void)unlink(meta); /* best effort: the temp dir goes next */
    (void)unlink(path);
    free(np);
    free(names);
    return rc;
}

static void bench_predict(const vg_model_t *m, const struct bench_data *pool, uint64_t runs,
                          double seconds)
{
    static const size_t batches[] = {1, 16, 64, 256, 1024};
    float *out = vg_xmalloc(1024 * sizeof(float));
    char b1[32];
    printf("\n%-8s %12s %10s %12s %12s\n", "batch", "rows/s", "us/row", "call p50 us",
           "call p99 us");
    for (size_t i = 0; i < VG_ARRAY_LEN(batches); i++) {
        double rates[MAX_RUNS] = {0};
        vg_histogram_t h;
        vg_histogram_init(&h);
        for (uint64_t r = 0; r < runs; r++)
            rates[r] = run_predict(m, pool, batches[i], seconds, out, &h);
        double med = vg_bench_median(rates, (size_t)runs);
        printf("%-8zu %12s %10.3f %12.1f %12.1f\n", batches[i], vg_bench_fmt(med, b1, sizeof(b1)),
               1e6 / med, (double)vg_histogram_quantile(&h, 0.5) / 1e3,
               (double)vg_histogram_quantile(&h, 0.99) / 1e3);
        fflush(stdout);
    }
    free(out);
}

static void bench_contrib(const vg_model_t *m, const struct bench_data *pool, uint64_t runs,
                          double seconds)
{
    static const size_t batches[] = {1, 64};
    float *out = vg_xmalloc(64 * (pool->ncols + 1) * sizeof(float));
    char exact_name[40];
    snprintf(exact_name, sizeof(exact_name), "exact (%s)", vg_model_explainer(m));
    printf("\n%-22s %8s %10s\n", "contributions", "batch", "us/row");
    for (int exact = 1; exact >= 0; exact--) {
        for (size_t i = 0; i < VG_ARRAY_LEN(batches); i++) {
            double rates[MAX_RUNS] = {0};
            for (uint64_t r = 0; r < runs; r++)
                rates[r] = run_contrib(m, pool, batches[i], exact, seconds, out);
            double med = vg_bench_median(rates, (size_t)runs);
            printf("%-22s %8zu %10.2f\n", exact ? exact_name : "approximate (Saabas)", batches[i],
                   1e6 / med);
            fflush(stdout);
        }
    }
    free(out);
}

int vg_bench_model(int argc, char **argv)
{
    uint64_t runs = 3, rows = 20000, features = 30, trees = 100, depth = 6;
    double seconds = 0.3;
    const vg_cli_opt_t opts[] = {
        {"runs", VG_CLI_UINT, &runs, "N", "repetitions per measurement (median reported)", 1,
         MAX_RUNS, NULL},
        {"seconds", VG_CLI_DOUBLE, &seconds, "S", "duration of each repetition", 0.05, 60, NULL},
        {"rows", VG_CLI_UINT, &rows, "N", "training rows", 1000, 10000000, NULL},
        {"features", VG_CLI_UINT, &features, "N", "features per row", 4, 1000, NULL},
        {"trees", VG_CLI_UINT, &trees, "N", "boosting rounds", 1, 10000, NULL},
        {"depth", VG_CLI_UINT, &depth, "N", "tree depth", 1, 16, NULL},
    };
    const vg_cli_t cli = {"vigil bench model",
                          "[flags]",
                          "Trains a synthetic XGBoost model, then measures predict cost per row "
                          "and per call by batch size,\nand exact versus approximate SHAP "
                          "contribution cost per row (one scoring thread).",
                          opts,
                          VG_ARRAY_LEN(opts),
                          0,
                          0};
    int rc = vg_cli_parse(&cli, argc, argv, NULL, NULL);
    if (rc != 0)
        return rc == VG_CLI_HELP ? 0 : 2;
    char dir[256];
    if (vg_bench_tmpdir("model", dir, sizeof(dir)) != 0)
        return 1;
    printf("# vigil bench model: runs=%llu seconds=%.2f\n", (unsigned long long)runs, seconds);
    struct bench_data d = make_data((size_t)rows, (size_t)features, 42);
    vg_model_t *m = NULL;
    rc = train_and_load(&d, trees, depth, dir, &m);
    (void)vg_io_remove_tree(dir); /* best effort: temporary files */
    if (rc == 0) {
        struct bench_data pool = make_data(POOL_ROWS, (size_t)features, 7);
        bench_predict(m, &pool, runs, seconds);
        bench_contrib(m, &pool, runs, seconds);
        free(pool.X);
        free(pool.y);
    }
    vg_model_free(m);
    free(d.X);
    free(d.y);
    return rc == 0 ? 0 : 1;
}
