/* SPDX-License-Identifier: MIT */
/*
 * The XGBoost 1.7 model wrapper: loads a booster and its sidecar, checks they agree, warms the
 * booster up, and scores dense float rows. Plain predictions use in-place prediction
 * (XGBoosterPredictFromDense): one call per batch, with constant config strings and the
 * __array_interface__ formatted into a stack buffer (snprintf: ~150 ns, against ~10 us for the
 * call itself), so the hot path allocates nothing of ours.
 * XGBoost 1.7 rejects contribution types in in-place prediction ("Unsupported prediction
 * type"), so contributions go through a DMatrix built per call (they are rare: flagged rows).
 * In-place prediction in 1.7 requires the config keys type, training, iteration_begin,
 * iteration_end, strict_shape, cache_id and missing (NaN is accepted as a JSON literal).
 * Given no proxy DMatrix, XGBoost allocates one per call: that doubles a one-row call
 * (measured 24 us -> 11 us with 100 depth-6 trees), so each model keeps a few proxies that
 * concurrent callers claim with an atomic flag (a caller that finds none free passes NULL,
 * which is slower but correct). A proxy keeps only a pointer to the last rows, never reads
 * it outside a call.
 * A vg_model_t is immutable after load; see models/xgb.h for the thread rules.
 */
#define VG_LOG_MODULE "model"
#include "models/xgb.h"
#include "models/shap.h"
#include "models/xgb_int.h"
#include "runtime/alloc.h"
#include "runtime/error.h"
#include "runtime/hash.h"
#include "runtime/io.h"
#include "runtime/logging.h"

#include <jansson.h>
#include <xgboost/c_api.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIDECAR_SUFFIX  ".meta.json"
#define SIDECAR_FORMAT  1
#define IFACE_MAX       160 /* longest __array_interface__ we format, with room to spare */
#define WARMUP_ROWS     256
#define PROXY_SLOTS     8   /* more than vigil's scorer threads per model */
#define SHAP_CHECK_ROWS 256 /* sample rows on which the fast explainer must match XGBoost */
#define CFG_COMMON_TAIL "\"training\":false,\"iteration_begin\":0,\"iteration_end\":0,"
#define CFG_INPLACE(t)                                                                             \
    "{\"type\":" #t "," CFG_COMMON_TAIL "\"strict_shape\":false,\"cache_id\":0,\"missing\":NaN}"

static const char cfg_value[] = CFG_INPLACE(0);
static const char cfg_margin[] = CFG_INPLACE(1);
static const char cfg_contrib_exact[] = CFG_INPLACE(2);
static const char cfg_contrib_approx[] = CFG_INPLACE(3);

struct proxy_slot {
    atomic_bool busy;
    DMatrixHandle proxy;
};

struct vg_model {
    BoosterHandle booster;
    struct proxy_slot *slots; /* PROXY_SLOTS; separate so the const scoring calls may claim */
    size_t nfeat;
    char **names;  /* nfeat names, in column order */
    char *version; /* never NULL once loaded */
    char *created_at;
    bool has_thresholds;
    double medium;
    double high;
    atomic_bool *error_logged; /* separate so the const scoring calls may set it */
    vg_shap_t *shap; /* exact contributions from tables (models/shap.h); NULL: XGBoost's */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...) VG_PRINTF(3, 4);
static vg_model_t *model_alloc(void);
static int model_attach(vg_model_t *m, BoosterHandle b, char *err, size_t errlen);
static int check_objective(BoosterHandle b, char *err, size_t errlen);
static int check_booster_names(const vg_model_t *m, char *err, size_t errlen);
static int warm_up(const vg_model_t *m, char *err, size_t errlen);
static void build_explainer(vg_model_t *m);
static int xgb_contributions(const vg_model_t *model, const float *rows, size_t nrows, size_t ncols,
                             bool exact, float *out);
static int read_sidecar(vg_model_t *m, const char *meta_path, const char *model_hash, char *err,
                        size_t errlen);
static int parse_features(vg_model_t *m, json_t *root, const char *meta_path, char *err,
                          size_t errlen);
static int parse_thresholds(vg_model_t *m, json_t *root, const char *meta_path, char *err,
                            size_t errlen);
static int predict_dense(const vg_model_t *m, const float *rows, size_t nrows, size_t ncols,
                         const char *cfg, float *out);
static int scoring_failed(const vg_model_t *m, const char *what, const char *why);
static const char *xgb_last_error(size_t *len);

int vg_model_load(const char *model_path, vg_model_t **out, char *err, size_t errlen)
{
    if (!model_path || !out) {
        set_err(err, errlen, "model load: NULL argument");
        return VG_EINVAL;
    }
    int rc = 0;
    char *bytes = NULL;
    size_t len = 0;
    char *meta_path = NULL;
    BoosterHandle b = NULL;
    vg_model_t *m = model_alloc();

    rc = vg_io_read_file(model_path, &bytes, &len);
    if (rc != 0) {
        set_err(err, errlen, "cannot read model %s: %s", model_path, vg_strerror(rc));
        goto cleanup;
    }
    char hash[17];
    snprintf(hash, sizeof(hash), "%016" PRIx64, vg_hash64(bytes, len));
    size_t mlen = strlen(model_path) + sizeof(SIDECAR_SUFFIX);
    meta_path = vg_xmalloc(mlen);
    snprintf(meta_path, mlen, "%s" SIDECAR_SUFFIX, model_path);
    rc = read_sidecar(m, meta_path, hash, err, errlen);
    if (rc != 0)
        goto cleanup;
    if (XGBoosterCreate(NULL, 0, &b) != 0 || XGBoosterLoadModelFromBuffer(b, bytes, len) != 0) {
        char what[64];
        snprintf(what, sizeof(what), "model %s rejected by xgboost", len ? "file" : "(empty)");
        rc = vg__xgb_error(err, errlen, what);
        goto cleanup;
    }
    rc = model_attach(m, b, err, errlen);
    b = NULL; /* owned by m now, whatever happened */
    if (rc != 0)
        goto cleanup;
    build_explainer(m); /* only for a loaded model: training only predicts with its own */
    VG_LOG_INFO("model loaded path=%s version=%s features=%zu", model_path, m->version, m->nfeat);
    *out = m;
    m = NULL;
cleanup:
    if (b)
        XGBoosterFree(b);
    vg_model_free(m);
    free(meta_path);
    free(bytes);
    return rc;
}

size_t vg_model_feature_count(const vg_model_t *model)
{
    return model->nfeat;
}

const char *vg_model_feature_name(const vg_model_t *model, size_t i)
{
    return i < model->nfeat ? model->names[i] : NULL;
}

const char *vg_model_version(const vg_model_t *model)
{
    return model->version;
}

const char *vg_model_created_at(const vg_model_t *model)
{
    return model->created_at ? model->created_at : "";
}

bool vg_model_thresholds(const vg_model_t *model, double *medium, double *high)
{
    if (!model->has_thresholds)
        return false;
    *medium = model->medium;
    *high = model->high;
    return true;
}

int vg_model_predict(const vg_model_t *model, const float *rows, size_t nrows, size_t ncols,
                     float *out_scores)
{
    return predict_dense(model, rows, nrows, ncols, cfg_value, out_scores);
}

int vg_model_predict_margin(const vg_model_t *model, const float *rows, size_t nrows, size_t ncols,
                            float *out_margins)
{
    return predict_dense(model, rows, nrows, ncols, cfg_margin, out_margins);
}

int vg_model_contributions(const vg_model_t *model, const float *rows, size_t nrows, size_t ncols,
                           bool exact, float *out)
{
    if (!model || (nrows && (!rows || !out)) || ncols != model->nfeat)
        return VG_EINVAL;
    if (exact && model->shap) {
        for (size_t r = 0; r < nrows; r++)
            vg_shap_row(model->shap, rows + r * ncols, out + r * (ncols + 1));
        return 0;
    }
    return xgb_contributions(model, rows, nrows, ncols, exact, out);
}

int vg__model_contributions_xgb(const vg_model_t *m, const float *rows, size_t nrows, size_t ncols,
                                float *out)
{
    if (!m || (nrows && (!rows || !out)) || ncols != m->nfeat)
        return VG_EINVAL;
    return xgb_contributions(m, rows, nrows, ncols, true, out);
}

bool vg__model_has_tables(const vg_model_t *m)
{
    return m && m->shap;
}

const char *vg_model_explainer(const vg_model_t *m)
{
    return vg__model_has_tables(m) ? "tables" : "XGBoost";
}

static int xgb_contributions(const vg_model_t *model, const float *rows, size_t nrows, size_t ncols,
                             bool exact, float *out)
{
    if (nrows == 0)
        return 0;
    int rc = 0;
    DMatrixHandle d = NULL;
    if (XGDMatrixCreateFromMat_omp(rows, (bst_ulong)nrows, (bst_ulong)ncols, NAN, &d, 1) != 0) {
        d = NULL;
        rc = scoring_failed(model, "contrib dmatrix", NULL);
        goto cleanup;
    }
    const bst_ulong *shape = NULL;
    bst_ulong dim = 0;
    const float *res = NULL;
    const char *cfg = exact ? cfg_contrib_exact : cfg_contrib_approx;
    if (XGBoosterPredictFromDMatrix(model->booster, d, cfg, &shape, &dim, &res) != 0) {
        rc = scoring_failed(model, "contributions", NULL);
        goto cleanup;
    }
    if (dim != 2 || shape[0] != nrows || shape[1] != ncols + 1) {
        rc = scoring_failed(model, "contributions", "unexpected output shape");
        goto cleanup;
    }
    memcpy(out, res, nrows * (ncols + 1) * sizeof(float));
cleanup:
    if (d)
        XGDMatrixFree(d);
    return rc;
}

size_t vg_model_top_reasons(const float *contribs_row, size_t ncols, size_t k, vg_reason_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < ncols && k > 0; i++) {
        float c = contribs_row[i];
        if (!(c > 0.0f))
            continue; /* also skips NaN */
        /* Insert after every entry >= c, so equal contributions keep column order. */
        size_t pos = n;
        while (pos > 0 && out[pos - 1].contribution < c)
            pos--;
        if (pos >= k)
            continue;
        size_t last = n < k ? n : k - 1;
        for (size_t j = last; j > pos; j--)
            out[j] = out[j - 1];
        out[pos] = (vg_reason_t){.feature = i, .contribution = c};
        if (n < k)
            n++;
    }
    return n;
}

void vg_model_free(vg_model_t *model)
{
    if (!model)
        return;
    for (size_t i = 0; model->slots && i < PROXY_SLOTS; i++) {
        if (model->slots[i].proxy)
            XGDMatrixFree(model->slots[i].proxy);
    }
    free(model->slots);
    vg_shap_free(model->shap);
    if (model->booster)
        XGBoosterFree(model->booster);
    for (size_t i = 0; model->names && i < model->nfeat; i++)
        free(model->names[i]);
    free(model->names);
    free(model->version);
    free(model->created_at);
    free(model->error_logged);
    free(model);
}

int vg__model_wrap(void *booster, const char *const *names, size_t nfeat, const char *version,
                   vg_model_t **out, char *err, size_t errlen)
{
    vg_model_t *m = model_alloc();
    m->nfeat = nfeat;
    m->names = vg_xcalloc(nfeat ? nfeat : 1, sizeof(char *));
    for (size_t i = 0; i < nfeat; i++)
        m->names[i] = vg_xstrdup(names[i]);
    m->version = vg_xstrdup(version);
    int rc = model_attach(m, booster, err, errlen);
    if (rc != 0) {
        vg_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int vg__xgb_error(char *err, size_t errlen, const char *what)
{
    size_t len = 0;
    const char *msg = xgb_last_error(&len);
    set_err(err, errlen, "%s: %.*s", what, (int)len, msg);
    return VG_EMODEL;
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

static vg_model_t *model_alloc(void)
{
    vg_model_t *m = vg_xcalloc(1, sizeof(*m));
    m->error_logged = vg_xmalloc(sizeof(*m->error_logged));
    atomic_init(m->error_logged, false);
    m->slots = vg_xcalloc(PROXY_SLOTS, sizeof(*m->slots));
    for (size_t i = 0; i < PROXY_SLOTS; i++)
        atomic_init(&m->slots[i].busy, false);
    return m;
}

/* Takes ownership of b. Leaves m->booster set so vg_model_free releases it on failure too. */
static int model_attach(vg_model_t *m, BoosterHandle b, char *err, size_t errlen)
{
    m->booster = b;
    if (XGBoosterSetParam(b, "nthread", "1") != 0)
        return vg__xgb_error(err, errlen, "cannot set nthread");
    bst_ulong nfeat = 0;
    if (XGBoosterGetNumFeature(b, &nfeat) != 0)
        return vg__xgb_error(err, errlen, "cannot read the model's feature count");
    if (nfeat != m->nfeat) {
        set_err(err, errlen, "model has %llu features but its sidecar lists %zu",
                (unsigned long long)nfeat, m->nfeat);
        return VG_ECORRUPT;
    }
    for (size_t i = 0; i < PROXY_SLOTS; i++) {
        if (XGProxyDMatrixCreate(&m->slots[i].proxy) != 0) {
            m->slots[i].proxy = NULL;
            return vg__xgb_error(err, errlen, "cannot create a proxy matrix");
        }
    }
    int rc = check_objective(b, err, errlen);
    if (rc == 0)
        rc = check_booster_names(m, err, errlen);
    if (rc == 0)
        rc = warm_up(m, err, errlen);
    return rc;
}

/* The fast exact explainer, kept only if it matches XGBoost's exact contributions on sample
 * rows that sit on the model's own split values (both sides of each) and on missing values. */
static void build_explainer(vg_model_t *m)
{
    bst_ulong len = 0;
    const char *json = NULL;
    char why[256] = "";
    vg_shap_t *s = NULL;
    if (XGBoosterSaveModelToBuffer(m->booster, "{\"format\": \"json\"}", &len, &json) != 0) {
        snprintf(why, sizeof(why), "cannot dump the model");
    } else if (vg_shap_new(json, (size_t)len, m->nfeat, &s, why, sizeof(why)) != 0) {
        s = NULL;
    }
    size_t nf = m->nfeat;
    float *rows = vg_xmalloc(SHAP_CHECK_ROWS * nf * sizeof(float));
    float *want = vg_xmalloc(SHAP_CHECK_ROWS * (nf + 1) * sizeof(float));
    float *got = vg_xmalloc((nf + 1) * sizeof(float));
    uint64_t seed = 42;
    for (size_t r = 0; s && r < SHAP_CHECK_ROWS; r++)
        vg_shap_sample_row(s, &seed, rows + r * nf);
    if (s && xgb_contributions(m, rows, SHAP_CHECK_ROWS, nf, true, want) != 0) {
        snprintf(why, sizeof(why), "XGBoost's contributions failed");
        vg_shap_free(s);
        s = NULL;
    }
    if (s)
        vg_shap_set_bias(s, want[nf]); /* the expected margin: the same for every row */
    double worst = 0.0;
    for (size_t r = 0; s && r < SHAP_CHECK_ROWS; r++) {
        vg_shap_row(s, rows + r * nf, got);
        for (size_t c = 0; c <= nf; c++) {
            double w = want[r * (nf + 1) + c];
            double diff = fabs((double)got[c] - w) / (1.0 + fabs(w));
            worst = diff > worst ? diff : worst;
        }
    }
    if (s && !(worst <= 1e-4)) {
        snprintf(why, sizeof(why), "differs from XGBoost by %.3g on sample rows", worst);
        vg_shap_free(s);
        s = NULL;
    }
    free(rows);
    free(want);
    free(got);
    if (s)
        VG_LOG_INFO("exact contributions from tables bytes=%zu largest_relative_difference=%.2g",
                    vg_shap_bytes(s), worst);
    else
        VG_LOG_WARN("exact contributions through XGBoost (slower) why=\"%s\"", why);
    m->shap = s;
}

/* Scores are probabilities only for a logistic objective: refuse anything else. */
static int check_objective(BoosterHandle b, char *err, size_t errlen)
{
    bst_ulong len = 0;
    const char *cfg = NULL;
    if (XGBoosterSaveJsonConfig(b, &len, &cfg) != 0)
        return vg__xgb_error(err, errlen, "cannot read the model's config");
    json_error_t jerr;
    json_t *root = json_loadb(cfg, (size_t)len, 0, &jerr);
    const char *name = json_string_value(
        json_object_get(json_object_get(json_object_get(root, "learner"), "objective"), "name"));
    int rc = 0;
    if (!name || (strcmp(name, "binary:logistic") != 0 && strcmp(name, "reg:logistic") != 0)) {
        set_err(err, errlen, "model objective %s is not binary:logistic", name ? name : "(none)");
        rc = VG_EMODEL;
    }
    json_decref(root);
    return rc;
}

/* A model trained with feature names must list the sidecar's names in the same order. */
static int check_booster_names(const vg_model_t *m, char *err, size_t errlen)
{
    bst_ulong n = 0;
    const char **names = NULL;
    if (XGBoosterGetStrFeatureInfo(m->booster, "feature_name", &n, &names) != 0)
        return vg__xgb_error(err, errlen, "cannot read the model's feature names");
    if (n == 0)
        return 0;
    for (size_t i = 0; i < m->nfeat; i++) {
        if (i >= n || strcmp(names[i], m->names[i]) != 0) {
            set_err(err, errlen, "model feature %zu is \"%s\" but the sidecar says \"%s\"", i,
                    i < n ? names[i] : "", m->names[i]);
            return VG_ECORRUPT;
        }
    }
    return 0;
}

/* The first calls after loading are slow (lazy configuration, thread-local buffers): pay that
 * here, for each batch shape class and both contribution kinds. This also proves the model
 * gives one output per row, i.e. is a binary classifier. */
static int warm_up(const vg_model_t *m, char *err, size_t errlen)
{
    size_t nf = m->nfeat;
    float *rows = vg_xcalloc(WARMUP_ROWS * (nf + 1), sizeof(float));
    float *outv = vg_xmalloc(WARMUP_ROWS * (nf + 1) * sizeof(float));
    static const size_t sizes[] = {1, 1, 16, WARMUP_ROWS, 1};
    int rc = 0;
    for (size_t i = 0; i < VG_ARRAY_LEN(sizes) && rc == 0; i++)
        rc = vg_model_predict(m, rows, sizes[i], nf, outv);
    if (rc == 0)
        rc = vg_model_predict_margin(m, rows, 1, nf, outv);
    if (rc == 0)
        rc = vg_model_contributions(m, rows, 1, nf, false, outv);
    if (rc == 0)
        rc = vg_model_contributions(m, rows, 1, nf, true, outv);
    if (rc != 0)
        set_err(err, errlen, "model warm-up failed (see log): %s", vg_strerror(rc));
    free(outv);
    free(rows);
    return rc;
}

static int read_sidecar(vg_model_t *m, const char *meta_path, const char *model_hash, char *err,
                        size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int rc = vg_io_read_file(meta_path, &text, &len);
    if (rc != 0) {
        set_err(err, errlen, "cannot read model sidecar %s: %s", meta_path, vg_strerror(rc));
        return rc;
    }
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (!json_is_object(root)) {
        set_err(err, errlen, "model sidecar %s: not a JSON object (line %d: %s)", meta_path,
                jerr.line, root ? "wrong type" : jerr.text);
        rc = VG_ECORRUPT;
        goto cleanup;
    }
    json_t *format = json_object_get(root, "format");
    const char *version = json_string_value(json_object_get(root, "version"));
    if (!json_is_integer(format) || json_integer_value(format) != SIDECAR_FORMAT) {
        set_err(err, errlen, "model sidecar %s: \"format\" must be %d", meta_path, SIDECAR_FORMAT);
        rc = VG_ECORRUPT;
        goto cleanup;
    }
    if (!version || !version[0]) {
        set_err(err, errlen, "model sidecar %s: \"version\" must be a non-empty string", meta_path);
        rc = VG_ECORRUPT;
        goto cleanup;
    }
    const char *want = json_string_value(json_object_get(root, "model_hash"));
    if (want && strcmp(want, model_hash) != 0) {
        set_err(err, errlen, "model sidecar %s describes model_hash %s, the file has %s", meta_path,
                want, model_hash);
        rc = VG_ECORRUPT;
        goto cleanup;
    }
    m->version = vg_xstrdup(version);
    const char *created = json_string_value(json_object_get(root, "created_at"));
    m->created_at = created ? vg_xstrdup(created) : NULL;
    rc = parse_features(m, root, meta_path, err, errlen);
    if (rc == 0)
        rc = parse_thresholds(m, root, meta_path, err, errlen);
cleanup:
    json_decref(root);
    return rc;
}

static int parse_features(vg_model_t *m, json_t *root, const char *meta_path, char *err,
                          size_t errlen)
{
    json_t *features = json_object_get(root, "features");
    size_t n = json_array_size(features);
    if (!json_is_array(features) || n == 0) {
        set_err(err, errlen, "model sidecar %s: \"features\" must be a non-empty array", meta_path);
        return VG_ECORRUPT;
    }
    m->names = vg_xcalloc(n, sizeof(char *));
    m->nfeat = n;
    for (size_t i = 0; i < n; i++) {
        const char *name = json_string_value(json_array_get(features, i));
        if (!name || !name[0]) {
            set_err(err, errlen, "model sidecar %s: feature %zu is not a non-empty string",
                    meta_path, i);
            return VG_ECORRUPT;
        }
        m->names[i] = vg_xstrdup(name);
    }
    return 0;
}

static int parse_thresholds(vg_model_t *m, json_t *root, const char *meta_path, char *err,
                            size_t errlen)
{
    json_t *thr = json_object_get(root, "thresholds");
    if (!thr || json_is_null(thr))
        return 0;
    json_t *medium = json_object_get(thr, "medium");
    json_t *high = json_object_get(thr, "high");
    if (!json_is_object(thr) || !json_is_number(medium) || !json_is_number(high) ||
        !(json_number_value(medium) >= 0.0 &&
          json_number_value(medium) <= json_number_value(high) && json_number_value(high) <= 1.0)) {
        set_err(err, errlen,
                "model sidecar %s: \"thresholds\" must be {\"medium\": m, \"high\": h} with "
                "0 <= m <= h <= 1",
                meta_path);
        return VG_ECORRUPT;
    }
    m->has_thresholds = true;
    m->medium = json_number_value(medium);
    m->high = json_number_value(high);
    return 0;
}

static int predict_dense(const vg_model_t *m, const float *rows, size_t nrows, size_t ncols,
                         const char *cfg, float *out)
{
    if (!m || (nrows && (!rows || !out)) || ncols != m->nfeat)
        return VG_EINVAL;
    if (nrows == 0)
        return 0;
    /* "<f4": the host is little-endian (x86-64, arm64); rows are read in place, not copied. */
    char iface[IFACE_MAX];
    snprintf(iface, sizeof(iface),
             "{\"data\":[%" PRIuPTR ",true],\"shape\":[%zu,%zu],\"typestr\":\"<f4\",\"version\":3}",
             (uintptr_t)rows, nrows, ncols);
    struct proxy_slot *slot = NULL;
    for (size_t i = 0; i < PROXY_SLOTS && !slot; i++) {
        if (!atomic_exchange_explicit(&m->slots[i].busy, true, memory_order_acquire))
            slot = &m->slots[i];
    }
    const bst_ulong *shape = NULL;
    bst_ulong dim = 0;
    const float *res = NULL;
    int xrc = XGBoosterPredictFromDense(m->booster, iface, cfg, slot ? slot->proxy : NULL, &shape,
                                        &dim, &res);
    if (slot)
        atomic_store_explicit(&slot->busy, false, memory_order_release);
    /* res stays valid: XGBoost keeps it per thread and booster until this thread's next call. */
    if (xrc != 0)
        return scoring_failed(m, "predict", NULL);
    if (dim < 1 || shape[0] != nrows || (dim == 2 && shape[1] != 1) || dim > 2)
        return scoring_failed(m, "predict", "not one output per row (not a binary classifier)");
    memcpy(out, res, nrows * sizeof(float));
    return 0;
}

/* Logs the first failure of a model (later ones only return the code: no per-event logs). */
static int scoring_failed(const vg_model_t *m, const char *what, const char *why)
{
    size_t len = 0;
    const char *msg = why ? why : xgb_last_error(&len);
    if (why)
        len = strlen(why);
    if (!atomic_exchange(m->error_logged, true))
        VG_LOG_ERROR("model call failed call=%s version=%s error=%.*s", what,
                     m->version ? m->version : "", (int)len, msg);
    return VG_EMODEL;
}

/* XGBoost's message without its "[hh:mm:ss] " prefix and without the stack trace that
 * follows the first line. */
static const char *xgb_last_error(size_t *len)
{
    const char *msg = XGBGetLastError();
    if (!msg)
        msg = "unknown xgboost error";
    if (msg[0] == '[') {
        const char *close = strstr(msg, "] ");
        if (close)
            msg = close + 2;
    }
    *len = strcspn(msg, "\n");
    return msg;
}
