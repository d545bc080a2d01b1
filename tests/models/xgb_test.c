/* SPDX-License-Identifier: MIT */
/*
 * Tests for models/metrics.c, models/xgb.c and models/train.c: metrics on hand-checked inputs,
 * training on a synthetic problem generated here (seeded by vg_test_seed), save/load/predict
 * round trips, contributions against margins, top reasons, and every way a load can fail.
 * Thread: the test's main thread (plus two scorer threads in xgb_threads_share_model).
 */
#include "models/metrics.h"
#include "models/train.h"
#include "models/xgb.h"
#include "runtime/alloc.h"
#include "runtime/io.h"
#include "tests/vg_test.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NF 5

static const char *const feature_names[NF] = {"amount_log", "velocity_1h", "hour", "new_device",
                                              "merchant_fraud_rate"};

struct dataset {
    float *X;
    float *y;
    size_t n;
};

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float rng_unit(uint64_t *s)
{
    return (float)(rng_next(s) >> 40) / (float)(1u << 24);
}

/* label = [x0 + x1 + noise > 1.1]: learnable from x0 and x1 only; x4 is sometimes missing. */
static struct dataset make_data(size_t n, uint64_t seed)
{
    struct dataset d = {vg_xmalloc(n * NF * sizeof(float)), vg_xmalloc(n * sizeof(float)), n};
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        float *row = d.X + i * NF;
        for (size_t j = 0; j < NF; j++)
            row[j] = rng_unit(&s);
        if (rng_unit(&s) < 0.1f)
            row[4] = NAN;
        float noise = (rng_unit(&s) - 0.5f) * 0.2f;
        d.y[i] = row[0] + row[1] + noise > 1.1f ? 1.0f : 0.0f;
    }
    return d;
}

static void free_data(struct dataset *d)
{
    free(d->X);
    free(d->y);
}

static char *tmp_path(const char *name)
{
    char *p = vg_xmalloc(4096);
    snprintf(p, 4096, "%s/%s", vg_test_tmpdir(), name);
    return p;
}

static void write_text(const char *path, const char *text)
{
    ASSERT_OK(vg_io_write_file_atomic(path, text, strlen(text)));
}

/* Trains a small model into `name` in the tmpdir. OUT: *model (in-memory) when non-NULL. */
static char *train_small(const char *name, size_t n, unsigned rounds, vg_train_report_t *rep)
{
    struct dataset d = make_data(n, vg_test_seed());
    vg_train_opts_t o;
    vg_train_opts_default(&o);
    o.n_rounds = rounds;
    o.max_depth = 4;
    o.seed = vg_test_seed();
    o.keep_model = true;
    o.has_thresholds = true;
    o.threshold_medium = 0.5;
    o.threshold_high = 0.9;
    char *path = tmp_path(name);
    char err[256] = "";
    int rc = vg_train(&o, d.X, d.y, d.n, NF, feature_names, path, rep, err, sizeof(err));
    if (rc != 0)
        VG_FAIL("vg_train: %s (%s)", vg_err_name(rc), err);
    free_data(&d);
    return path;
}

VG_TEST(xgb_auc_perfect_reversed_tied)
{
    const float labels[6] = {1, 1, 1, 0, 0, 0};
    const float perfect[6] = {0.9f, 0.8f, 0.7f, 0.3f, 0.2f, 0.1f};
    const float reversed[6] = {0.1f, 0.2f, 0.3f, 0.7f, 0.8f, 0.9f};
    const float tied[6] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
    ASSERT_EQ_DBL(vg_metrics_auc(perfect, labels, 6), 1.0, 1e-12);
    ASSERT_EQ_DBL(vg_metrics_auc(reversed, labels, 6), 0.0, 1e-12);
    ASSERT_EQ_DBL(vg_metrics_auc(tied, labels, 6), 0.5, 1e-12);
    ASSERT_EQ_DBL(vg_metrics_average_precision(perfect, labels, 6), 1.0, 1e-12);
    /* All tied: one threshold, precision 3/6 at recall 1. */
    ASSERT_EQ_DBL(vg_metrics_average_precision(tied, labels, 6), 0.5, 1e-12);
}

VG_TEST(xgb_metrics_hand_examples)
{
    /* Positives at 0.9 and 0.7, negatives at 0.8 and 0.6: 3 of 4 pairs ordered -> 0.75.
     * AP: recall 1/2 at precision 1/1, then recall 1 at precision 2/3 -> 0.5 + 1/3. */
    const float s1[4] = {0.9f, 0.8f, 0.7f, 0.6f};
    const float l1[4] = {1, 0, 1, 0};
    ASSERT_EQ_DBL(vg_metrics_auc(s1, l1, 4), 0.75, 1e-12);
    ASSERT_EQ_DBL(vg_metrics_average_precision(s1, l1, 4), 0.5 + 1.0 / 3.0, 1e-12);
    /* Input order must not matter. */
    const float s2[4] = {0.6f, 0.7f, 0.8f, 0.9f};
    const float l2[4] = {0, 1, 0, 1};
    ASSERT_EQ_DBL(vg_metrics_auc(s2, l2, 4), 0.75, 1e-12);
    ASSERT_EQ_DBL(vg_metrics_average_precision(s2, l2, 4), 0.5 + 1.0 / 3.0, 1e-12);
    /* A tie between a positive and a negative is half a pair: (0.5 + 1) / 2 = 0.75; AP steps
     * once for the tied group: recall 1 at precision 1/2. */
    const float s3[3] = {0.5f, 0.5f, 0.2f};
    const float l3[3] = {1, 0, 0};
    ASSERT_EQ_DBL(vg_metrics_auc(s3, l3, 3), 0.75, 1e-12);
    ASSERT_EQ_DBL(vg_metrics_average_precision(s3, l3, 3), 0.5, 1e-12);
    /* Undefined cases are NaN, not a number that looks like a result. */
    const float one_class[3] = {1, 1, 1};
    ASSERT_TRUE(isnan(vg_metrics_auc(s3, one_class, 3)));
    const float none[3] = {0, 0, 0};
    ASSERT_TRUE(isnan(vg_metrics_average_precision(s3, none, 3)));
    ASSERT_TRUE(isnan(vg_metrics_auc(s3, l3, 0)));
    const float with_nan[3] = {0.5f, NAN, 0.2f};
    ASSERT_TRUE(isnan(vg_metrics_auc(with_nan, l3, 3)));
}

/* The sidecar of xgb_train_synthetic_learns says what its report says. */
static void check_sidecar_text(const vg_train_report_t *rep)
{
    char *meta = tmp_path("m.json.meta.json");
    char *text = NULL;
    size_t len = 0;
    ASSERT_OK(vg_io_read_file(meta, &text, &len));
    ASSERT_STR_CONTAINS(text, rep->version);
    ASSERT_STR_CONTAINS(text, "\"merchant_fraud_rate\"");
    ASSERT_STR_CONTAINS(text, "\"valid_auc\"");
    ASSERT_STR_CONTAINS(text, "2026-02-01T00:00:00Z");
    ASSERT_STR_CONTAINS(text, "\"n_rows\": 5000");
    free(text);
    free(meta);
}

static void check_loads_without_thresholds(const char *path, const vg_train_report_t *rep)
{
    char err[256] = "";
    vg_model_t *m = NULL;
    ASSERT_OK(vg_model_load(path, &m, err, sizeof(err)));
    ASSERT_STR_EQ(vg_model_version(m), rep->version);
    double med = 0, high = 0;
    ASSERT_FALSE(vg_model_thresholds(m, &med, &high)); /* none given: the config's apply */
    ASSERT_TRUE(vg_model_created_at(m)[0] != '\0');
    vg_model_free(m);
}

VG_TEST(xgb_train_synthetic_learns)
{
    struct dataset d = make_data(5000, vg_test_seed());
    vg_train_opts_t o;
    vg_train_opts_default(&o);
    o.n_rounds = 50;
    o.seed = vg_test_seed();
    o.valid_fraction = 0.2;
    o.data_from = "2026-01-01T00:00:00Z";
    o.data_to = "2026-02-01T00:00:00Z";
    char *path = tmp_path("m.json");
    vg_train_report_t rep;
    char err[256] = "";
    ASSERT_OK(vg_train(&o, d.X, d.y, d.n, NF, feature_names, path, &rep, err, sizeof(err)));
    ASSERT_EQ(rep.n_rows, 5000);
    ASSERT_EQ(rep.n_valid, 1000);
    ASSERT_EQ(rep.n_train, 4000);
    ASSERT_EQ(rep.train_positives + rep.valid_positives, rep.positives);
    ASSERT_GT(rep.valid_positives, 0);
    ASSERT_NULL(rep.model); /* keep_model was false */
    printf("valid_auc=%.4f valid_ap=%.4f spw=%.3f secs=%.3f version=%s\n", rep.valid_auc,
           rep.valid_ap, rep.scale_pos_weight_used, rep.train_seconds, rep.version);
    ASSERT_TRUE(rep.valid_auc > 0.9);
    ASSERT_TRUE(rep.valid_ap > 0.8);
    ASSERT_TRUE(strncmp(rep.version, "xgb-", 4) == 0 && strlen(rep.version) == 20);

    check_sidecar_text(&rep);
    check_loads_without_thresholds(path, &rep);
    free(path);
    free_data(&d);
}

static void check_metadata(const vg_model_t *m, const vg_train_report_t *rep)
{
    ASSERT_EQ(vg_model_feature_count(m), NF);
    for (size_t i = 0; i < NF; i++)
        ASSERT_STR_EQ(vg_model_feature_name(m, i), feature_names[i]);
    ASSERT_NULL(vg_model_feature_name(m, NF));
    ASSERT_STR_EQ(vg_model_version(m), rep->version);
    double med = 0, high = 0;
    ASSERT_TRUE(vg_model_thresholds(m, &med, &high));
    ASSERT_EQ_DBL(med, 0.5, 1e-12);
    ASSERT_EQ_DBL(high, 0.9, 1e-12);
}

VG_TEST(xgb_save_load_predict_matches)
{
    vg_train_report_t rep;
    char *path = train_small("m.json", 2000, 20, &rep);
    ASSERT_NOT_NULL(rep.model);
    char err[256] = "";
    vg_model_t *m = NULL;
    ASSERT_OK(vg_model_load(path, &m, err, sizeof(err)));
    check_metadata(m, &rep);

    struct dataset d = make_data(1000, vg_test_seed() ^ 0x55);
    float *a = vg_xmalloc(d.n * sizeof(float));
    float *b = vg_xmalloc(d.n * sizeof(float));
    ASSERT_OK(vg_model_predict(rep.model, d.X, d.n, NF, a));
    ASSERT_OK(vg_model_predict(m, d.X, d.n, NF, b));
    size_t distinct = 0;
    for (size_t i = 0; i < d.n; i++) {
        ASSERT_EQ_DBL(a[i], b[i], 1e-6);
        ASSERT_TRUE(b[i] >= 0.0f && b[i] <= 1.0f);
        distinct += i > 0 && b[i] != b[0];
    }
    ASSERT_GT(distinct, 0); /* not a constant model */
    free(a);
    free(b);
    free_data(&d);
    vg_model_free(m);
    vg_model_free(rep.model);
    free(path);
}

VG_TEST(xgb_predict_edge_cases)
{
    vg_train_report_t rep;
    char *path = train_small("m.json", 1000, 10, &rep);
    const vg_model_t *m = rep.model;
    /* A row of only missing values is scored too. */
    float missing[NF] = {NAN, NAN, NAN, NAN, NAN};
    float s = -1;
    ASSERT_OK(vg_model_predict(m, missing, 1, NF, &s));
    ASSERT_TRUE(s >= 0.0f && s <= 1.0f);
    /* Zero rows is a no-op, a wrong column count is refused. */
    float out[2 * (NF + 1)] = {0};
    ASSERT_OK(vg_model_predict(m, missing, 0, NF, out));
    ASSERT_ERR(vg_model_predict(m, missing, 1, NF - 1, out), VG_EINVAL);
    ASSERT_ERR(vg_model_predict_margin(m, missing, 1, NF + 1, out), VG_EINVAL);
    ASSERT_ERR(vg_model_contributions(m, missing, 1, NF + 1, true, out), VG_EINVAL);
    ASSERT_ERR(vg_model_predict(m, NULL, 1, NF, out), VG_EINVAL);
    vg_model_free(rep.model);
    free(path);
}

VG_TEST(xgb_ubj_round_trip)
{
    vg_train_report_t rep;
    char *path = train_small("m.ubj", 1000, 10, &rep);
    char err[256] = "";
    vg_model_t *m = NULL;
    ASSERT_OK(vg_model_load(path, &m, err, sizeof(err)));
    struct dataset d = make_data(200, vg_test_seed() + 1);
    float a[200], b[200];
    ASSERT_OK(vg_model_predict(rep.model, d.X, d.n, NF, a));
    ASSERT_OK(vg_model_predict(m, d.X, d.n, NF, b));
    for (size_t i = 0; i < d.n; i++)
        ASSERT_EQ_DBL(a[i], b[i], 1e-6);
    free_data(&d);
    vg_model_free(m);
    vg_model_free(rep.model);
    free(path);
}

VG_TEST(xgb_batch_equals_row_by_row)
{
    vg_train_report_t rep;
    char *path = train_small("m.json", 2000, 20, &rep);
    struct dataset d = make_data(300, vg_test_seed() + 7);
    float batch[300], one[300];
    ASSERT_OK(vg_model_predict(rep.model, d.X, d.n, NF, batch));
    for (size_t i = 0; i < d.n; i++)
        ASSERT_OK(vg_model_predict(rep.model, d.X + i * NF, 1, NF, &one[i]));
    for (size_t i = 0; i < d.n; i++)
        ASSERT_EQ_DBL(batch[i], one[i], 1e-7);
    /* Uneven batch sizes give the same numbers. */
    size_t off = 0;
    static const size_t sizes[] = {1, 16, 64, 219};
    for (size_t k = 0; k < VG_ARRAY_LEN(sizes); k++) {
        float part[219];
        ASSERT_OK(vg_model_predict(rep.model, d.X + off * NF, sizes[k], NF, part));
        for (size_t i = 0; i < sizes[k]; i++)
            ASSERT_EQ_DBL(part[i], batch[off + i], 1e-7);
        off += sizes[k];
    }
    free_data(&d);
    vg_model_free(rep.model);
    free(path);
}

VG_TEST(xgb_contributions_sum_to_margin)
{
    vg_train_report_t rep;
    char *path = train_small("m.json", 2000, 30, &rep);
    struct dataset d = make_data(64, vg_test_seed() + 3);
    float margins[64], probs[64];
    float *exact = vg_xmalloc(sizeof(float) * 64 * (NF + 1));
    float *approx = vg_xmalloc(sizeof(float) * 64 * (NF + 1));
    ASSERT_OK(vg_model_predict_margin(rep.model, d.X, d.n, NF, margins));
    ASSERT_OK(vg_model_predict(rep.model, d.X, d.n, NF, probs));
    ASSERT_OK(vg_model_contributions(rep.model, d.X, d.n, NF, true, exact));
    ASSERT_OK(vg_model_contributions(rep.model, d.X, d.n, NF, false, approx));
    double spread = 0.0;
    for (size_t r = 0; r < d.n; r++) {
        double se = 0.0, sa = 0.0;
        for (size_t j = 0; j <= NF; j++) {
            se += exact[r * (NF + 1) + j];
            sa += approx[r * (NF + 1) + j];
        }
        ASSERT_EQ_DBL(se, margins[r], 1e-3);
        ASSERT_EQ_DBL(sa, margins[r], 1e-3);
        ASSERT_EQ_DBL(1.0 / (1.0 + exp(-(double)margins[r])), probs[r], 1e-5);
        /* The label ignores x2 and x3: they should matter much less than x0 and x1. */
        spread += fabsf(exact[r * (NF + 1) + 0]) + fabsf(exact[r * (NF + 1) + 1]) -
                  fabsf(exact[r * (NF + 1) + 2]) - fabsf(exact[r * (NF + 1) + 3]);
    }
    ASSERT_TRUE(spread > 0.0);
    free(exact);
    free(approx);
    free_data(&d);
    vg_model_free(rep.model);
    free(path);
}

VG_TEST(xgb_top_reasons_picks_largest_positive)
{
    /* 6 features + bias. Bias is large but must be ignored; ties keep column order. */
    const float row[7] = {0.1f, -2.0f, 0.7f, 0.3f, 0.7f, NAN, 9.0f};
    vg_reason_t r[3];
    ASSERT_EQ(vg_model_top_reasons(row, 6, 3, r), 3);
    ASSERT_EQ(r[0].feature, 2);
    ASSERT_EQ(r[1].feature, 4);
    ASSERT_EQ(r[2].feature, 3);
    ASSERT_EQ_DBL(r[0].contribution, 0.7, 1e-6);
    ASSERT_EQ_DBL(r[2].contribution, 0.3, 1e-6);
    /* Fewer positive ones than k. */
    const float neg[4] = {-1.0f, 0.0f, 0.25f, 5.0f};
    vg_reason_t r2[3];
    ASSERT_EQ(vg_model_top_reasons(neg, 3, 3, r2), 1);
    ASSERT_EQ(r2[0].feature, 2);
    ASSERT_EQ(vg_model_top_reasons(row, 6, 0, r2), 0);
    /* k = 1 with a later larger value replacing the first. */
    ASSERT_EQ(vg_model_top_reasons(row, 6, 1, r2), 1);
    ASSERT_EQ(r2[0].feature, 2);
}

VG_TEST(xgb_top_reasons_on_model)
{
    vg_train_report_t rep;
    char *path = train_small("m.json", 2000, 30, &rep);
    /* x0 and x1 high: fraud because of them. */
    const float row[NF] = {0.95f, 0.9f, 0.5f, 0.5f, 0.5f};
    float c[NF + 1];
    ASSERT_OK(vg_model_contributions(rep.model, row, 1, NF, true, c));
    vg_reason_t r[2];
    ASSERT_EQ(vg_model_top_reasons(c, NF, 2, r), 2);
    ASSERT_TRUE((r[0].feature == 0 && r[1].feature == 1) ||
                (r[0].feature == 1 && r[1].feature == 0));
    vg_model_free(rep.model);
    free(path);
}

VG_TEST(xgb_load_missing_files)
{
    char err[256] = "";
    vg_model_t *m = (vg_model_t *)0x1;
    char *path = tmp_path("nope.json");
    ASSERT_ERR(vg_model_load(path, &m, err, sizeof(err)), -ENOENT);
    ASSERT_STR_CONTAINS(err, "nope.json");
    ASSERT_TRUE(m == (vg_model_t *)0x1); /* untouched on failure */
    /* A model without its sidecar is refused too. */
    vg_train_report_t rep;
    char *good = train_small("m.json", 500, 5, &rep);
    vg_model_free(rep.model);
    char *meta = tmp_path("m.json.meta.json");
    ASSERT_EQ(remove(meta), 0);
    ASSERT_ERR(vg_model_load(good, &m, err, sizeof(err)), -ENOENT);
    ASSERT_STR_CONTAINS(err, "sidecar");
    ASSERT_ERR(vg_model_load(NULL, &m, err, sizeof(err)), VG_EINVAL);
    free(meta);
    free(good);
    free(path);
}

VG_TEST(xgb_load_corrupt_model)
{
    char err[256] = "";
    vg_model_t *m = NULL;
    char *path = tmp_path("bad.json");
    char *meta = tmp_path("bad.json.meta.json");
    write_text(meta, "{\"format\":1,\"version\":\"v1\",\"features\":[\"a\",\"b\"]}");
    write_text(path, "{\"learner\": garbage");
    ASSERT_ERR(vg_model_load(path, &m, err, sizeof(err)), VG_EMODEL);
    ASSERT_STR_CONTAINS(err, "rejected by xgboost");
    ASSERT_TRUE(strchr(err, '\n') == NULL); /* one line, no stack trace */
    ASSERT_NULL(m);
    /* A real model cut in half. */
    vg_train_report_t rep;
    char *good = train_small("m.json", 500, 5, &rep);
    vg_model_free(rep.model);
    char *bytes = NULL;
    size_t len = 0;
    ASSERT_OK(vg_io_read_file(good, &bytes, &len));
    ASSERT_OK(vg_io_write_file_atomic(path, bytes, len / 2));
    ASSERT_ERR(vg_model_load(path, &m, err, sizeof(err)), VG_EMODEL);
    /* Empty file. */
    write_text(path, "");
    ASSERT_ERR(vg_model_load(path, &m, err, sizeof(err)), VG_EMODEL);
    ASSERT_NULL(m);
    free(bytes);
    free(good);
    free(meta);
    free(path);
}

VG_TEST(xgb_load_sidecar_wrong_feature_count)
{
    vg_train_report_t rep;
    char *path = train_small("m.json", 500, 5, &rep);
    vg_model_free(rep.model);
    char *meta = tmp_path("m.json.meta.json");
    write_text(meta, "{\"format\":1,\"version\":\"v1\",\"features\":[\"a\",\"b\",\"c\"]}");
    char err[256] = "";
    vg_model_t *m = NULL;
    ASSERT_ERR(vg_model_load(path, &m, err, sizeof(err)), VG_ECORRUPT);
    ASSERT_STR_CONTAINS(err, "5 features but its sidecar lists 3");
    ASSERT_NULL(m);
    /* Right count, wrong names (the model stores its names). */
    write_text(meta,
               "{\"format\":1,\"version\":\"v1\",\"features\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}");
    ASSERT_ERR(vg_model_load(path, &m, err, sizeof(err)), VG_ECORRUPT);
    ASSERT_STR_CONTAINS(err, "amount_log");
    /* Right names, but the sidecar belongs to another model file. */
    write_text(meta, "{\"format\":1,\"version\":\"v1\",\"model_hash\":\"0000000000000000\","
                     "\"features\":[\"amount_log\",\"velocity_1h\",\"hour\",\"new_device\","
                     "\"merchant_fraud_rate\"]}");
    ASSERT_ERR(vg_model_load(path, &m, err, sizeof(err)), VG_ECORRUPT);
    ASSERT_STR_CONTAINS(err, "model_hash");
    /* Without the hash it loads, and the sidecar's version is the model's. */
    write_text(meta, "{\"format\":1,\"version\":\"hand-made\",\"features\":[\"amount_log\","
                     "\"velocity_1h\",\"hour\",\"new_device\",\"merchant_fraud_rate\"]}");
    ASSERT_OK(vg_model_load(path, &m, err, sizeof(err)));
    ASSERT_STR_EQ(vg_model_version(m), "hand-made");
    vg_model_free(m);
    free(meta);
    free(path);
}

VG_TEST(xgb_load_sidecar_malformed)
{
    vg_train_report_t rep;
    char *path = train_small("m.json", 500, 5, &rep);
    vg_model_free(rep.model);
    char *meta = tmp_path("m.json.meta.json");
    static const char *const bad[] = {
        "{\"format\":1,\"version\":\"v1\",\"features\":[\"a\",",
        "[1,2,3]",
        "",
        "{\"format\":2,\"version\":\"v1\",\"features\":[\"a\"]}",
        "{\"format\":1,\"features\":[\"a\"]}",
        "{\"format\":1,\"version\":\"v1\",\"features\":[]}",
        "{\"format\":1,\"version\":\"v1\",\"features\":[1,2,3,4,5]}",
        "{\"format\":1,\"version\":\"v1\",\"features\":\"amount_log\"}",
        "{\"format\":1,\"format\":1,\"version\":\"v1\",\"features\":[\"a\"]}",
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(bad); i++) {
        write_text(meta, bad[i]);
        char err[256] = "";
        vg_model_t *m = NULL;
        int rc = vg_model_load(path, &m, err, sizeof(err));
        if (rc != VG_ECORRUPT)
            VG_FAIL("sidecar %zu: expected VG_ECORRUPT, got %s (%s)", i, vg_err_name(rc), err);
        ASSERT_STR_CONTAINS(err, "sidecar");
        ASSERT_NULL(m);
    }
    /* Thresholds out of order. */
    write_text(meta,
               "{\"format\":1,\"version\":\"v1\",\"thresholds\":{\"medium\":0.9,\"high\":0.5},"
               "\"features\":[\"amount_log\",\"velocity_1h\",\"hour\",\"new_device\","
               "\"merchant_fraud_rate\"]}");
    char err[256] = "";
    vg_model_t *m = NULL;
    ASSERT_ERR(vg_model_load(path, &m, err, sizeof(err)), VG_ECORRUPT);
    ASSERT_STR_CONTAINS(err, "thresholds");
    free(meta);
    free(path);
}

VG_TEST(xgb_train_rejects_bad_input)
{
    struct dataset d = make_data(100, 1);
    vg_train_opts_t o;
    vg_train_opts_default(&o);
    o.n_rounds = 2;
    char *path = tmp_path("m.json");
    vg_train_report_t rep;
    char err[256] = "";
    d.y[3] = 0.5f;
    ASSERT_ERR(vg_train(&o, d.X, d.y, d.n, NF, feature_names, path, &rep, err, sizeof(err)),
               VG_EINVAL);
    ASSERT_STR_CONTAINS(err, "row 3");
    for (size_t i = 0; i < d.n; i++)
        d.y[i] = 0.0f;
    ASSERT_ERR(vg_train(&o, d.X, d.y, d.n, NF, feature_names, path, &rep, err, sizeof(err)),
               VG_EINVAL);
    ASSERT_STR_CONTAINS(err, "both classes");
    d.y[0] = 1.0f;
    char *txt = tmp_path("m.txt");
    ASSERT_ERR(vg_train(&o, d.X, d.y, d.n, NF, feature_names, txt, &rep, err, sizeof(err)),
               VG_EINVAL);
    static const char *const dup[NF] = {"a", "b", "c", "b", "e"};
    ASSERT_ERR(vg_train(&o, d.X, d.y, d.n, NF, dup, path, &rep, err, sizeof(err)), VG_EINVAL);
    o.eta = 0.0;
    ASSERT_ERR(vg_train(&o, d.X, d.y, d.n, NF, feature_names, path, &rep, err, sizeof(err)),
               VG_EINVAL);
    /* Nothing was written by the failed calls. */
    char *bytes = NULL;
    size_t len = 0;
    ASSERT_ERR(vg_io_read_file(path, &bytes, &len), -ENOENT);
    free(txt);
    free(path);
    free_data(&d);
}

struct share_arg {
    const vg_model_t *m;
    const struct dataset *d;
    const float *want;
    int bad;
};

static void *share_worker(void *p)
{
    struct share_arg *a = p;
    float out[64];
    for (int it = 0; it < 100; it++) {
        size_t off = (size_t)(it % 4) * 64;
        if (vg_model_predict(a->m, a->d->X + off * NF, 64, NF, out) != 0) {
            a->bad++;
            continue;
        }
        for (size_t i = 0; i < 64; i++)
            a->bad += out[i] != a->want[off + i];
    }
    return NULL;
}

/* More threads than the model's proxy slots, so some calls also take the no-proxy path. */
VG_TEST(xgb_threads_share_model)
{
    vg_train_report_t rep;
    char *path = train_small("m.json", 1000, 20, &rep);
    struct dataset d = make_data(256, vg_test_seed() + 11);
    float want[256];
    ASSERT_OK(vg_model_predict(rep.model, d.X, d.n, NF, want));
    enum { NT = 12 };
    struct share_arg args[NT];
    pthread_t t[NT];
    for (int i = 0; i < NT; i++) {
        args[i] = (struct share_arg){rep.model, &d, want, 0};
        ASSERT_EQ(pthread_create(&t[i], NULL, share_worker, &args[i]), 0);
    }
    for (int i = 0; i < NT; i++)
        ASSERT_EQ(pthread_join(t[i], NULL), 0);
    for (int i = 0; i < NT; i++)
        ASSERT_EQ(args[i].bad, 0);
    free_data(&d);
    vg_model_free(rep.model);
    free(path);
}
