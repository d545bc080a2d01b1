/* SPDX-License-Identifier: MIT */
/*
 * Exact TreeSHAP contributions from precomputed per-leaf tables: the same values as XGBoost's
 * exact `pred_contribs` (path-dependent TreeSHAP, Lundberg et al. 2018), computed about an
 * order of magnitude faster, because explaining the flagged transactions was the largest
 * single cost of the pipeline (a third of the server's CPU at 2% flagged).
 *
 * Why it is exact: for one leaf with value v, reached through the distinct features U
 * (|U| = d), the path-dependent game is f(S) = v * prod_{j in S} o_j * prod_{j in U\S} z_j,
 * where z_j is the share of training cover that follows the path at feature j's splits and
 * o_j is 1 when the row follows every one of them. Its Shapley value for i in U is
 *   v * (o_i - z_i) * sum_{S subset of U\{i}} |S|!(d-|S|-1)!/d! * prod_{S} o_j * prod_{U\{i}\S}
 * z_j, which depends on the row only through the pattern P = {j : o_j = 1}. So at load every leaf
 * gets a table of 2^d x d values, and explaining a row is one walk over each tree: per split,
 * one comparison (the side the row does not take loses the split's feature from its pattern),
 * per leaf, d additions. Two sibling leaves share their d features, so their tables are summed
 * at load into one indexed by the pattern at their split and the side the row takes: a
 * pair costs one lookup and d additions (1.7 times faster per row than leaf by leaf, `vigil
 * bench model`). XGBoost computes the same sums with its
 * recursive path extension and unwinding (O(L D^2) with divisions per row and tree).
 *
 * The explainer is built from the booster's own JSON dump and only for what it covers: a
 * gbtree booster, one output group, one tree per round, numerical splits, a total table
 * budget. vg_model_load checks it against XGBoost on sample rows and uses XGBoost when the
 * two disagree or the explainer cannot be built. Immutable once built; thread: any.
 */
#ifndef VG_MODELS_SHAP_H
#define VG_MODELS_SHAP_H

#include "runtime/compiler.h"

#include <stddef.h>
#include <stdint.h>

typedef struct vg_shap vg_shap_t;

/* Builds the explainer from an XGBoost JSON model (XGBoosterSaveModelToBuffer, "json") with
 * `nfeat` features. 0, or VG_EMODEL with the reason in err (not supported: use XGBoost). */
VG_MUST_CHECK int vg_shap_new(const char *json, size_t len, size_t nfeat, vg_shap_t **out,
                              char *err, size_t errlen);

void vg_shap_free(vg_shap_t *s);

/* The constant last column (expected margin); the caller sets it from XGBoost once. */
void vg_shap_set_bias(vg_shap_t *s, float bias);

/* Contributions of one row: out[0..nfeat) per feature, out[nfeat] the bias. NaN is missing. */
void vg_shap_row(const vg_shap_t *s, const float *row, float *out);

/* A test row for checking the explainer: each feature at one of the model's own split values
 * for it, nudged either way, or missing, drawn from *seed. row[nfeat]. */
void vg_shap_sample_row(const vg_shap_t *s, uint64_t *seed, float *row);

/* Table memory in bytes (for the log). */
size_t vg_shap_bytes(const vg_shap_t *s);

#endif
