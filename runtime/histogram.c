/* SPDX-License-Identifier: MIT */
/*
 * Log-linear histogram: values below 2*SUB map to themselves; above, each power of two is cut
 * into SUB equal bins. Thread: owner.
 */
#include "runtime/histogram.h"

#include <string.h>

#define HIST_MAX_VALUE ((1ull << 40) - 1)

static unsigned bin_of(uint64_t v)
{
    if (v < 2ull * VG_HIST_SUB)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - VG_HIST_SUB_BITS;
    return (shift + 1) * VG_HIST_SUB + (unsigned)((v >> shift) - VG_HIST_SUB);
}

static uint64_t bin_upper(unsigned bin)
{
    if (bin < 2 * VG_HIST_SUB)
        return bin;
    unsigned shift = bin / VG_HIST_SUB - 1;
    uint64_t base = (uint64_t)(bin % VG_HIST_SUB + VG_HIST_SUB) << shift;
    return base + ((1ull << shift) - 1);
}

void vg_histogram_init(vg_histogram_t *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

void vg_histogram_record(vg_histogram_t *h, uint64_t value)
{
    if (value > HIST_MAX_VALUE)
        value = HIST_MAX_VALUE;
    h->bins[bin_of(value)]++;
    h->count++;
    h->sum += value;
    if (value < h->min)
        h->min = value;
    if (value > h->max)
        h->max = value;
}

void vg_histogram_merge(vg_histogram_t *dst, const vg_histogram_t *src)
{
    for (unsigned i = 0; i < VG_HIST_BUCKETS; i++)
        dst->bins[i] += src->bins[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t vg_histogram_quantile(const vg_histogram_t *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q <= 0.0)
        return h->min;
    if (q >= 1.0)
        return h->max;
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if (rank >= h->count)
        rank = h->count - 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < VG_HIST_BUCKETS; i++) {
        seen += h->bins[i];
        if (seen > rank) {
            uint64_t v = bin_upper(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}
