/* SPDX-License-Identifier: MIT */
/*
 * vg_train: checks the inputs, trains a binary:logistic booster on the first rows, saves it,
 * wraps it as a vg_model_t (the same checks and warm-up as a load), scores the held-out tail
 * with it, and writes the sidecar. XGBoost returns its buffers "valid until the next call",
 * so the saved model bytes are hashed and written before anything else touches the booster.
 * Thread: worker.
 */
#define VG_LOG_MODULE "train"
#include "models/train.h"
#include "models/metrics.h"
#include "models/xgb_int.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/error.h"
#include "runtime/hash.h"
#include "runtime/io.h"
#include "runtime/logging.h"

#include <jansson.h>
#include <xgboost/c_api.h>

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SIDECAR_SUFFIX ".meta.json"

static void set_err(char *err, size_t errlen, const char *fmt, ...) VG_PRINTF(3, 4);
static int check_args(const vg_train_opts_t *o, const float *X, const float *y, size_t nrows,
                      size_t ncols, const char *const *names, const char *path, char *err,
                      size_t errlen);
static int check_labels(const float *y, vg_train_report_t *r, char *err, size_t errlen);
static int build_booster(const vg_train_opts_t *o, const float *X, const float *y,
                         const vg_train_report_t *r, size_t ncols, const char *const *names,
                         BoosterHandle *out, char *err, size_t errlen);
static int set_params(BoosterHandle b, const vg_train_opts_t *o, double spw, char *err,
                      size_t errlen);
static int save_model(BoosterHandle b, const char *path, vg_train_report_t *r, char *hash,
                      char *err, size_t errlen);
static int validate(const vg_model_t *m, const float *X, const float *y, size_t ncols,
                    vg_train_report_t *r, char *err, size_t errlen);
static int write_sidecar(const vg_train_opts_t *o, const char *path, const char *hash, size_t ncols,
                         const char *const *names, const vg_train_report_t *r, char *err,
                         size_t errlen);
static json_t *num_or_null(double v);
static bool has_suffix(const char *s, const char *suffix);

void vg_train_opts_default(vg_train_opts_t *opts)
{
    *opts = (vg_train_opts_t){
        .max_depth = 6,
        .eta = 0.1,
        .n_rounds = 100,
        .scale_pos_weight = 0.0,
        .subsample = 1.0,
        .seed = 0,
        .nthread = 1,
        .valid_fraction = 0.2,
    };
}

int vg_train(const vg_train_opts_t *opts, const float *X, const float *y, size_t nrows,
             size_t ncols, const char *const *feature_names, const char *out_model_path,
             vg_train_report_t *report, char *err, size_t errlen)
{
    if (!report) {
        set_err(err, errlen, "train: NULL report");
        return VG_EINVAL;
    }
    memset(report, 0, sizeof(*report));
    report->valid_auc = NAN;
    report->valid_ap = NAN;
    int rc = check_args(opts, X, y, nrows, ncols, feature_names, out_model_path, err, errlen);
    if (rc != 0)
        return rc;
    report->n_rows = nrows;
    report->n_valid = (size_t)((double)nrows * opts->valid_fraction);
    report->n_train = nrows - report->n_valid;
    rc = check_labels(y, report, err, errlen);
    if (rc != 0)
        return rc;
    report->scale_pos_weight_used =
        opts->scale_pos_weight > 0.0
            ? opts->scale_pos_weight
            : (double)(report->n_train - report->train_positives) / (double)report->train_positives;

    uint64_t t0 = vg_clock_mono_ns();
    BoosterHandle b = NULL;
    vg_model_t *model = NULL;
    char hash[17] = "";
    rc = build_booster(opts, X, y, report, ncols, feature_names, &b, err, errlen);
    if (rc == 0)
        rc = save_model(b, out_model_path, report, hash, err, errlen);
    if (rc == 0) {
        rc = vg__model_wrap(b, feature_names, ncols, report->version, &model, err, errlen);
        b = NULL; /* owned by the wrapper, also on failure */
    }
    report->train_seconds = (double)(vg_clock_mono_ns() - t0) / 1e9;
    if (rc == 0)
        rc = validate(model, X, y, ncols, report, err, errlen);
    if (rc == 0)
        rc = write_sidecar(opts, out_model_path, hash, ncols, feature_names, report, err, errlen);
    if (rc == 0) {
        VG_LOG_INFO("model trained path=%s version=%s rows=%zu valid_auc=%.4f valid_ap=%.4f",
                    out_model_path, report->version, nrows, report->valid_auc, report->valid_ap);
        if (opts->keep_model) {
            report->model = model;
            model = NULL;
        }
    }
    if (b)
        XGBoosterFree(b);
    vg_model_free(model);
    return rc;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int check_args(const vg_train_opts_t *o, const float *X, const float *y, size_t nrows,
                      size_t ncols, const char *const *names, const char *path, char *err,
                      size_t errlen)
{
    if (!o || !X || !y || !names || !path || nrows < 2 || ncols == 0) {
        set_err(err, errlen, "train: NULL argument, fewer than 2 rows or no feature");
        return VG_EINVAL;
    }
    if (o->max_depth < 1 || !(o->eta > 0.0 && o->eta <= 1.0) || o->n_rounds < 1 ||
        !(o->subsample > 0.0 && o->subsample <= 1.0) || o->nthread < 1 ||
        !(o->valid_fraction >= 0.0 && o->valid_fraction < 1.0) || isnan(o->scale_pos_weight)) {
        set_err(err, errlen,
                "train: bad option (need max_depth >= 1, 0 < eta <= 1, n_rounds >= 1, "
                "0 < subsample <= 1, nthread >= 1, 0 <= valid_fraction < 1)");
        return VG_EINVAL;
    }
    if (o->has_thresholds &&
        !(o->threshold_medium >= 0.0 && o->threshold_medium <= o->threshold_high &&
          o->threshold_high <= 1.0)) {
        set_err(err, errlen, "train: thresholds need 0 <= medium <= high <= 1");
        return VG_EINVAL;
    }
    if (!has_suffix(path, ".json") && !has_suffix(path, ".ubj")) {
        set_err(err, errlen, "train: model path %s must end in .json or .ubj", path);
        return VG_EINVAL;
    }
    for (size_t i = 0; i < ncols; i++) {
        if (!names[i] || !names[i][0]) {
            set_err(err, errlen, "train: feature %zu has no name", i);
            return VG_EINVAL;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(names[i], names[j]) == 0) {
                set_err(err, errlen, "train: feature name %s appears twice", names[i]);
                return VG_EINVAL;
            }
        }
    }
    return 0;
}

static int check_labels(const float *y, vg_train_report_t *r, char *err, size_t errlen)
{
    for (size_t i = 0; i < r->n_rows; i++) {
        if (y[i] != 0.0f && y[i] != 1.0f) {
            set_err(err, errlen, "train: label of row %zu is %g, not 0 or 1", i, (double)y[i]);
            return VG_EINVAL;
        }
        bool pos = y[i] == 1.0f;
        r->positives += pos;
        if (i < r->n_train)
            r->train_positives += pos;
        else
            r->valid_positives += pos;
    }
    if (r->train_positives == 0 || r->train_positives == r->n_train) {
        set_err(err, errlen, "train: the %zu training rows need both classes (positives=%zu)",
                r->n_train, r->train_positives);
        return VG_EINVAL;
    }
    return 0;
}

static int build_booster(const vg_train_opts_t *o, const float *X, const float *y,
                         const vg_train_report_t *r, size_t ncols, const char *const *names,
                         BoosterHandle *out, char *err, size_t errlen)
{
    int rc = 0;
    DMatrixHandle d = NULL;
    BoosterHandle b = NULL;
    const char **cnames = vg_xmalloc(ncols * sizeof(*cnames));
    for (size_t i = 0; i < ncols; i++)
        cnames[i] = names[i];
    if (XGDMatrixCreateFromMat_omp(X, (bst_ulong)r->n_train, (bst_ulong)ncols, NAN, &d,
                                   (int)o->nthread) != 0) {
        d = NULL;
        rc = vg__xgb_error(err, errlen, "train: cannot build the training matrix");
        goto cleanup;
    }
    if (XGDMatrixSetFloatInfo(d, "label", y, (bst_ulong)r->n_train) != 0 ||
        XGDMatrixSetStrFeatureInfo(d, "feature_name", cnames, (bst_ulong)ncols) != 0) {
        rc = vg__xgb_error(err, errlen, "train: cannot set labels or feature names");
        goto cleanup;
    }
    if (XGBoosterCreate(&d, 1, &b) != 0) {
        b = NULL;
        rc = vg__xgb_error(err, errlen, "train: cannot create the booster");
        goto cleanup;
    }
    /* The booster keeps the names only when told (they are then saved with the model, and
     * vg_model_load checks them against the sidecar). */
    if (XGBoosterSetStrFeatureInfo(b, "feature_name", cnames, (bst_ulong)ncols) != 0) {
        rc = vg__xgb_error(err, errlen, "train: cannot name the booster's features");
        goto cleanup;
    }
    rc = set_params(b, o, r->scale_pos_weight_used, err, errlen);
    for (unsigned i = 0; rc == 0 && i < o->n_rounds; i++) {
        if (XGBoosterUpdateOneIter(b, (int)i, d) != 0)
            rc = vg__xgb_error(err, errlen, "train: boosting round failed");
    }
    if (rc == 0) {
        *out = b;
        b = NULL;
    }
cleanup:
    if (b)
        XGBoosterFree(b);
    if (d)
        XGDMatrixFree(d);
    free(cnames);
    return rc;
}

static int set_params(BoosterHandle b, const vg_train_opts_t *o, double spw, char *err,
                      size_t errlen)
{
    char depth[16], eta[32], spws[32], sub[32], seed[24], nth[16];
    snprintf(depth, sizeof(depth), "%u", o->max_depth);
    snprintf(eta, sizeof(eta), "%.17g", o->eta);
    snprintf(spws, sizeof(spws), "%.17g", spw);
    snprintf(sub, sizeof(sub), "%.17g", o->subsample);
    /* XGBoost's seed is a signed integer: keep it in int32 range on every version. */
    snprintf(seed, sizeof(seed), "%" PRIu64, o->seed % 2147483647u);
    snprintf(nth, sizeof(nth), "%u", o->nthread);
    const char *const params[][2] = {
        {"booster", "gbtree"},
        {"objective", "binary:logistic"},
        {"tree_method", "hist"},
        {"max_depth", depth},
        {"eta", eta},
        {"scale_pos_weight", spws},
        {"subsample", sub},
        {"seed", seed},
        {"nthread", nth},
        {"verbosity", "0"},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(params); i++) {
        if (XGBoosterSetParam(b, params[i][0], params[i][1]) != 0) {
            char what[64];
            snprintf(what, sizeof(what), "train: parameter %s rejected", params[i][0]);
            return vg__xgb_error(err, errlen, what);
        }
    }
    return 0;
}

static int save_model(BoosterHandle b, const char *path, vg_train_report_t *r, char *hash,
                      char *err, size_t errlen)
{
    const char *cfg = has_suffix(path, ".ubj") ? "{\"format\":\"ubj\"}" : "{\"format\":\"json\"}";
    bst_ulong len = 0;
    const char *bytes = NULL;
    if (XGBoosterSaveModelToBuffer(b, cfg, &len, &bytes) != 0)
        return vg__xgb_error(err, errlen, "train: cannot serialise the model");
    snprintf(hash, 17, "%016" PRIx64, vg_hash64(bytes, (size_t)len));
    snprintf(r->version, sizeof(r->version), "xgb-%s", hash);
    int rc = vg_io_write_file_atomic(path, bytes, (size_t)len);
    if (rc != 0)
        set_err(err, errlen, "train: cannot write %s: %s", path, vg_strerror(rc));
    return rc;
}

static int validate(const vg_model_t *m, const float *X, const float *y, size_t ncols,
                    vg_train_report_t *r, char *err, size_t errlen)
{
    if (r->n_valid == 0)
        return 0;
    float *scores = vg_xmalloc(r->n_valid * sizeof(float));
    int rc = vg_model_predict(m, X + r->n_train * ncols, r->n_valid, ncols, scores);
    if (rc == 0) {
        r->valid_auc = vg_metrics_auc(scores, y + r->n_train, r->n_valid);
        r->valid_ap = vg_metrics_average_precision(scores, y + r->n_train, r->n_valid);
    } else {
        set_err(err, errlen, "train: scoring the validation rows failed: %s", vg_strerror(rc));
    }
    free(scores);
    return rc;
}

static int write_sidecar(const vg_train_opts_t *o, const char *path, const char *hash, size_t ncols,
                         const char *const *names, const vg_train_report_t *r, char *err,
                         size_t errlen)
{
    char created[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);

    json_t *features = json_array();
    for (size_t i = 0; i < ncols; i++)
        json_array_append_new(features, json_string(names[i]));
    json_t *training =
        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "n_rows", (json_int_t)r->n_rows, "positives",
                  (json_int_t)r->positives, "n_train", (json_int_t)r->n_train, "train_positives",
                  (json_int_t)r->train_positives, "n_valid", (json_int_t)r->n_valid,
                  "valid_positives", (json_int_t)r->valid_positives);
    json_object_set_new(training, "from", o->data_from ? json_string(o->data_from) : json_null());
    json_object_set_new(training, "to", o->data_to ? json_string(o->data_to) : json_null());
    json_t *metrics = json_pack("{s:o,s:o}", "valid_auc", num_or_null(r->valid_auc), "valid_ap",
                                num_or_null(r->valid_ap));
    json_t *params =
        json_pack("{s:s,s:s,s:I,s:f,s:I,s:f,s:f,s:I,s:I,s:f}", "objective", "binary:logistic",
                  "tree_method", "hist", "max_depth", (json_int_t)o->max_depth, "eta", o->eta,
                  "n_rounds", (json_int_t)o->n_rounds, "scale_pos_weight", r->scale_pos_weight_used,
                  "subsample", o->subsample, "seed", (json_int_t)(o->seed % 2147483647u), "nthread",
                  (json_int_t)o->nthread, "valid_fraction", o->valid_fraction);
    json_t *root = json_pack("{s:i,s:s,s:s,s:s,s:o,s:o,s:o,s:o}", "format", 1, "version",
                             r->version, "model_hash", hash, "created_at", created, "features",
                             features, "training", training, "metrics", metrics, "params", params);
    if (o->has_thresholds)
        json_object_set_new(
            root, "thresholds",
            json_pack("{s:f,s:f}", "medium", o->threshold_medium, "high", o->threshold_high));
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    VG_CHECK(text != NULL); /* every value above is finite or null: only OOM fails */
    size_t mlen = strlen(path) + sizeof(SIDECAR_SUFFIX);
    char *meta_path = vg_xmalloc(mlen);
    snprintf(meta_path, mlen, "%s" SIDECAR_SUFFIX, path);
    int rc = vg_io_write_file_atomic(meta_path, text, strlen(text));
    if (rc != 0)
        set_err(err, errlen, "train: cannot write %s: %s", meta_path, vg_strerror(rc));
    free(meta_path);
    free(text);
    return rc;
}

/* jansson cannot encode NaN; an undefined metric is null. */
static json_t *num_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcmp(s + n - m, suffix) == 0;
}
