/* SPDX-License-Identifier: MIT */
/*
 * vigil's XGBoost model: a booster loaded from a model file (.json or .ubj) plus its metadata
 * sidecar `<model_path>.meta.json`, scored in micro-batches through the XGBoost 1.7 C API.
 * XGBoost itself is reached only from models/xgb*.c and models/train*.c; nothing here exposes
 * its types, and its errors come back as VG_EMODEL (message in the caller's error buffer for
 * load, logged once per model for the scoring calls).
 *
 * Sidecar (JSON object, written by vg_train):
 *   "format": 1                         integer, required
 *   "version": "xgb-<16 hex>"            string, required; vg_train derives it from vg_hash64
 *                                       of the model file's bytes
 *   "model_hash": "<16 hex>"             optional; when present it must match the model bytes
 *   "features": ["name", ...]            required, in column order; count must equal the model's
 *   "thresholds": {"medium": m, "high": h}  optional (the config's thresholds apply without it)
 *   "created_at": "2026-11-24T07:00:00Z" optional
 *   "training": {"from": s, "to": s, "n_rows": n, "positives": n, ...}  optional
 *   "metrics": {"valid_auc": x, "valid_ap": y}                          optional
 *   "params": {...}                                                       optional, not read
 *
 * Threads: in XGBoost >= 1.4 (checked for 1.7.4) prediction on one booster is thread-safe
 * (the learner locks its lazy configuration, and each thread gets its own output buffer), and
 * this wrapper's only per-call state is a pool of proxy matrices that each call claims with an
 * atomic flag (falling back to none when all are busy), so one loaded model MAY be shared by
 * several scorer threads for the predict, margin and contributions calls. Load and free are not
 * concurrent with anything on the same model: swap models by pointer (the old one is freed
 * only after in-flight batches on it are done); a reload that fails leaves *out untouched, so
 * the old model keeps serving. Every booster runs with nthread=1: vigil
 * parallelises by partitions, not inside a batch. Thread: any, under those rules.
 */
#ifndef VG_MODELS_XGB_H
#define VG_MODELS_XGB_H

#include "runtime/compiler.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct vg_model vg_model_t;

/* One reason for a score: a feature and its (positive) SHAP contribution in margin units. */
typedef struct vg_reason {
    size_t feature;     /* column index; name via vg_model_feature_name */
    float contribution; /* log-odds added by this feature, > 0 */
} vg_reason_t;

/* Loads `model_path` (.json or .ubj, XGBoost 1.7 format) and `<model_path>.meta.json`, checks
 * that the model's feature count equals the sidecar's, sets nthread=1 and warms the booster up
 * (a few predictions and one contribution call, so the first real batch is not slow).
 * OUT: *out (free with vg_model_free). On failure *out is untouched and, if `err` is non-NULL,
 * `err` (errlen bytes) holds a one-line reason naming the file.
 * Returns 0; -ENOENT/-errno when a file cannot be read; VG_EMODEL when XGBoost rejects the
 * model; VG_ECORRUPT when the sidecar is malformed or disagrees with the model; VG_EINVAL for
 * NULL arguments. Blocking (reads files): never on an actor loop except at start-up. */
VG_MUST_CHECK int vg_model_load(const char *model_path, vg_model_t **out, char *err, size_t errlen);

/* The number of input columns (features) the model expects. */
size_t vg_model_feature_count(const vg_model_t *model);

/* The name of feature `i` (< vg_model_feature_count), or NULL when out of range. Valid until
 * vg_model_free. */
const char *vg_model_feature_name(const vg_model_t *model, size_t i);

/* The sidecar's version string. Valid until vg_model_free. Never NULL. */
const char *vg_model_version(const vg_model_t *model);

/* The sidecar's created_at, or "" when absent. Valid until vg_model_free. */
const char *vg_model_created_at(const vg_model_t *model);

/* The sidecar's thresholds. Returns false (outputs untouched) when the sidecar has none, in
 * which case the config's thresholds apply. OUT: *medium, *high (probabilities). */
bool vg_model_thresholds(const vg_model_t *model, double *medium, double *high);

/* Scores `nrows` rows of `ncols` floats (row-major; NaN = missing) with ONE C API call.
 * OUT: out_scores[nrows], probabilities in [0, 1]. nrows == 0 does nothing.
 * Returns 0; VG_EINVAL when ncols differs from the model's feature count or a pointer is NULL;
 * VG_EMODEL when XGBoost fails (its message is logged once per model). */
VG_MUST_CHECK int vg_model_predict(const vg_model_t *model, const float *rows, size_t nrows,
                                   size_t ncols, float *out_scores);

/* As vg_model_predict, but the raw margin (log-odds) instead of the probability. This is
 * what the contributions of a row add up to. */
VG_MUST_CHECK int vg_model_predict_margin(const vg_model_t *model, const float *rows, size_t nrows,
                                          size_t ncols, float *out_margins);

/* Per-feature SHAP contributions of each row, in margin units. exact=true runs TreeSHAP
 * (about 100x a prediction: only for flagged rows, batched); exact=false uses XGBoost's
 * approximate (Saabas) attributions, about the cost of a prediction.
 * OUT: out[nrows * (ncols + 1)]: for row r, out[r*(ncols+1) + j] is feature j's contribution
 * and out[r*(ncols+1) + ncols] is the bias; a row's entries sum to its margin.
 * Returns 0, VG_EINVAL, or VG_EMODEL (logged once per model). */
VG_MUST_CHECK int vg_model_contributions(const vg_model_t *model, const float *rows, size_t nrows,
                                         size_t ncols, bool exact, float *out);

/* Picks the k largest strictly positive contributions among contribs_row[0..ncols) (the bias
 * at index ncols is ignored, as are NaNs), largest first; equal contributions keep column
 * order. OUT: out[0..returned). Returns how many were found (<= k). Pure; Thread: any. */
size_t vg_model_top_reasons(const float *contribs_row, size_t ncols, size_t k, vg_reason_t *out);

/* How exact contributions are computed: "tables" (models/shap.h, built and checked against
 * XGBoost by vg_model_load) or "XGBoost" (its own TreeSHAP). Thread: any. */
const char *vg_model_explainer(const vg_model_t *model);

/* Frees the booster and metadata. Accepts NULL. */
void vg_model_free(vg_model_t *model);

#endif
