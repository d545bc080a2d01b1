/* SPDX-License-Identifier: MIT */
/*
 * printf's "%.9g" for a double, without printf: the same bytes, for the values a decision
 * carries (scores, contributions, feature values). glibc's printf formats a double through
 * multi-precision arithmetic, about 2,400 instructions a number; most of these values are
 * within 1e-11..1e9 of zero, where the nine digits come exactly from one 128-bit product and
 * a shift (round half to even, as glibc rounds). Outside that range, and for zero,
 * subnormals, infinities and NaN, it calls snprintf. Thread: any.
 */
#ifndef VG_RUNTIME_NUMFMT_H
#define VG_RUNTIME_NUMFMT_H

#include <stddef.h>

/* Writes v as snprintf(out, len, "%.9g", v) would, and returns the same count. len >= 32. */
int vg_fmt_g9(double v, char *out, size_t len);

#endif
