/* SPDX-License-Identifier: MIT */
/*
 * Training a fraud model through the XGBoost C API from a dense float matrix and 0/1 labels:
 * gradient-boosted trees (binary:logistic, hist), an optional validation split taken from the
 * END of the rows (rows are in event-time order, so validation is "the future"), ROC AUC and
 * average precision on it by our own code (models/metrics.h), then the model file and its
 * sidecar `<path>.meta.json` (format in models/xgb.h), each written atomically (temp file,
 * fsync, rename, fsync directory; model first, then sidecar).
 *
 * The model version is "xgb-" plus the 16 hex digits of vg_hash64 over the model file's
 * bytes (a content hash: the same model gives the same version; the sidecar also carries it as
 * "model_hash", which vg_model_load checks). Thread: worker (blocking, CPU-heavy: never on an
 * actor loop; report back through a mailbox).
 */
#ifndef VG_MODELS_TRAIN_H
#define VG_MODELS_TRAIN_H

#include "models/xgb.h"
#include "runtime/compiler.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vg_train_opts {
    unsigned max_depth;      /* tree depth, >= 1 */
    double eta;              /* learning rate, (0, 1] */
    unsigned n_rounds;       /* boosting rounds = trees, >= 1 */
    double scale_pos_weight; /* > 0; <= 0 means auto: negatives / positives of the train rows */
    double subsample;        /* row sampling per tree, (0, 1] */
    uint64_t seed;
    unsigned nthread;        /* XGBoost threads for training, >= 1 */
    double valid_fraction;   /* [0, 1): the last rows held out for validation; 0 = none */
    const char *data_from;   /* optional: first event time of the data, recorded in the sidecar */
    const char *data_to;     /* optional: last event time */
    bool has_thresholds;     /* write thresholds into the sidecar */
    double threshold_medium; /* probabilities, 0 <= medium <= high <= 1 */
    double threshold_high;
    bool keep_model; /* hand the trained booster back in report->model */
} vg_train_opts_t;

#define VG_TRAIN_VERSION_MAX 32

typedef struct vg_train_report {
    size_t n_rows;    /* all rows */
    size_t n_train;   /* rows trained on */
    size_t n_valid;   /* rows held out */
    size_t positives; /* over all rows */
    size_t train_positives;
    size_t valid_positives;
    double scale_pos_weight_used;
    double valid_auc; /* NaN without a split, or when the split has one class only */
    double valid_ap;  /* NaN without a split, or when it has no positive */
    double train_seconds;
    char version[VG_TRAIN_VERSION_MAX];
    vg_model_t *model; /* with opts->keep_model: the in-memory model (caller frees it with
                          vg_model_free); else NULL */
} vg_train_report_t;

/* Defaults: depth 6, eta 0.1, 100 rounds, auto scale_pos_weight, subsample 1, seed 0,
 * nthread 1, valid_fraction 0.2, no thresholds, no data range, keep_model false. */
void vg_train_opts_default(vg_train_opts_t *opts);

/* Trains on X (nrows x ncols floats, row-major, NaN = missing) and y (nrows labels, each 0 or
 * 1), with `feature_names` (ncols non-empty, distinct strings) stored in both the model and its
 * sidecar, and writes `out_model_path` (must end in ".json" or ".ubj", which picks the format)
 * plus `<out_model_path>.meta.json`. OUT: *report (zeroed first).
 * Returns 0; VG_EINVAL for bad arguments/options (a label not 0/1, no positive or no negative
 * train row, a bad extension, ...); VG_EMODEL when XGBoost fails; -errno when writing fails.
 * On failure `err` (errlen bytes, may be NULL) holds a one-line reason and no model was kept. */
VG_MUST_CHECK int vg_train(const vg_train_opts_t *opts, const float *X, const float *y,
                           size_t nrows, size_t ncols, const char *const *feature_names,
                           const char *out_model_path, vg_train_report_t *report, char *err,
                           size_t errlen);

#endif
