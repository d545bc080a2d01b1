/* SPDX-License-Identifier: MIT */
/*
 * ROC AUC and average precision by one sort of (score, label) pairs, highest score first, then
 * a walk over groups of tied scores. Thread: any.
 */
#include "models/metrics.h"
#include "runtime/alloc.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

struct scored {
    float score;
    bool positive;
};

static int by_score_desc(const void *a, const void *b)
{
    float sa = ((const struct scored *)a)->score;
    float sb = ((const struct scored *)b)->score;
    return (sa < sb) - (sa > sb);
}

/* Sorted copy of the pairs, or NULL when n == 0 or a score is NaN. Caller frees. */
static struct scored *sorted_pairs(const float *scores, const float *labels, size_t n,
                                   size_t *positives)
{
    if (n == 0)
        return NULL;
    struct scored *v = vg_xmalloc(n * sizeof(*v));
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(scores[i])) {
            free(v);
            return NULL;
        }
        v[i].score = scores[i];
        v[i].positive = labels[i] > 0.5f;
        pos += v[i].positive;
    }
    qsort(v, n, sizeof(*v), by_score_desc);
    *positives = pos;
    return v;
}

double vg_metrics_auc(const float *scores, const float *labels, size_t n)
{
    size_t npos = 0;
    struct scored *v = sorted_pairs(scores, labels, n, &npos);
    if (!v)
        return NAN;
    size_t nneg = n - npos;
    if (npos == 0 || nneg == 0) {
        free(v);
        return NAN;
    }
    /* For every negative: the positives ranked strictly above it, plus half of those tied. */
    double pairs = 0.0;
    size_t pos_above = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i, gpos = 0, gneg = 0;
        while (j < n && v[j].score == v[i].score) {
            if (v[j].positive)
                gpos++;
            else
                gneg++;
            j++;
        }
        pairs += (double)gneg * ((double)pos_above + 0.5 * (double)gpos);
        pos_above += gpos;
        i = j;
    }
    free(v);
    return pairs / ((double)npos * (double)nneg);
}

double vg_metrics_average_precision(const float *scores, const float *labels, size_t n)
{
    size_t npos = 0;
    struct scored *v = sorted_pairs(scores, labels, n, &npos);
    if (!v)
        return NAN;
    if (npos == 0) {
        free(v);
        return NAN;
    }
    double ap = 0.0;
    size_t tp = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i, gpos = 0;
        while (j < n && v[j].score == v[i].score) {
            gpos += v[j].positive;
            j++;
        }
        tp += gpos;
        /* Recall grows by gpos/npos at this threshold, where precision is tp/j. */
        if (gpos)
            ap += ((double)gpos / (double)npos) * ((double)tp / (double)j);
        i = j;
    }
    free(v);
    return ap;
}
