/* SPDX-License-Identifier: MIT */
/*
 * A fixed-size log-linear latency histogram (HDR-style): values from 0 to 2^40 with at most
 * 1/64 (1.6 %) relative error, recording in O(1) with no allocation. Used by benchmarks and by
 * /metrics. One writer at a time; merge copies to read across threads. Thread: owner.
 */
#ifndef VG_RUNTIME_HISTOGRAM_H
#define VG_RUNTIME_HISTOGRAM_H

#include <stdint.h>

#define VG_HIST_SUB_BITS 6
#define VG_HIST_SUB      (1u << VG_HIST_SUB_BITS)
#define VG_HIST_BUCKETS  ((40 - VG_HIST_SUB_BITS + 1) * VG_HIST_SUB)

typedef struct vg_histogram {
    uint64_t count;
    uint64_t sum;
    uint64_t min;
    uint64_t max;
    uint64_t bins[VG_HIST_BUCKETS];
} vg_histogram_t;

void vg_histogram_init(vg_histogram_t *h);

/* Records one value (values above 2^40 are clamped). */
void vg_histogram_record(vg_histogram_t *h, uint64_t value);

/* Adds every value of `src` into `dst`. */
void vg_histogram_merge(vg_histogram_t *dst, const vg_histogram_t *src);

/* The value at quantile `q` (0..1): an upper bound of its bin, exact for min and max.
 * 0 when empty. */
uint64_t vg_histogram_quantile(const vg_histogram_t *h, double q);

#endif
