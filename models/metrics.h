/* SPDX-License-Identifier: MIT */
/*
 * Ranking metrics for binary classifiers: ROC AUC and average precision, computed by sorting
 * the scores once. Pure functions over caller-owned arrays, shared by training (validation
 * split) and evaluation/backtests. A label counts as positive when it is > 0.5. Scores that tie
 * form one group: ROC AUC gives a tied positive/negative pair half a point (Mann-Whitney), and
 * average precision steps precision/recall once per distinct score, as scikit-learn does.
 * Thread: any (each call allocates its own scratch and touches no shared state).
 */
#ifndef VG_MODELS_METRICS_H
#define VG_MODELS_METRICS_H

#include <stddef.h>

/* Area under the ROC curve of `scores` (higher = more likely positive) against `labels`,
 * both `n` long. Returns a value in [0, 1]: 1 for a perfect ranking, 0 for a reversed one,
 * 0.5 when every score ties. Returns NaN when it is undefined: no positives, no negatives,
 * n == 0, or a NaN score. */
double vg_metrics_auc(const float *scores, const float *labels, size_t n);

/* Average precision (area under the precision/recall curve, step-wise):
 * AP = sum over distinct thresholds t, from the highest score down, of
 * (recall(t) - recall(previous t)) * precision(t). Returns a value in [0, 1], or NaN when
 * there is no positive, n == 0, or a score is NaN. */
double vg_metrics_average_precision(const float *scores, const float *labels, size_t n);

#endif
