/* SPDX-License-Identifier: MIT */
/* "%.9g" without printf; see numfmt.h. */
#include "runtime/numfmt.h"
#include "runtime/compiler.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define DIGITS 9
#define D_MIN  100000000ull  /* 10^8: the smallest nine-digit value */
#define D_END  1000000000ull /* 10^9 */

static const uint64_t pow10_u64[20] = {1ull,
                                       10ull,
                                       100ull,
                                       1000ull,
                                       10000ull,
                                       100000ull,
                                       1000000ull,
                                       10000000ull,
                                       100000000ull,
                                       1000000000ull,
                                       10000000000ull,
                                       100000000000ull,
                                       1000000000000ull,
                                       10000000000000ull,
                                       100000000000000ull,
                                       1000000000000000ull,
                                       10000000000000000ull,
                                       100000000000000000ull,
                                       1000000000000000000ull,
                                       10000000000000000000ull};

/* round(mant * 2^-shift * 10^s), half to even, exactly. false when out of the fast range. */
static bool scaled(uint64_t mant, int shift, int s, uint64_t *out)
{
    if (s < 0 || s > 19 || shift <= 0 || shift > 120)
        return false;
    vg_u128_t n = (vg_u128_t)mant * pow10_u64[s]; /* < 2^53 * 2^64 */
    vg_u128_t q = n >> shift;
    vg_u128_t r = n - (q << shift);
    vg_u128_t half = (vg_u128_t)1 << (shift - 1);
    if (r > half || (r == half && (q & 1)))
        q++;
    if (q >= (vg_u128_t)UINT64_MAX)
        return false;
    *out = (uint64_t)q;
    return true;
}

/* The nine significant digits of |v| (> 0, normal) and its decimal exponent X
 * (10^X <= |v| rounded < 10^(X+1)). false when out of the fast range. */
static bool nine_digits(double a, uint64_t *digits, int *x10)
{
    uint64_t bits;
    memcpy(&bits, &a, sizeof(bits));
    int biased = (int)((bits >> 52) & 0x7ff);
    if (biased == 0 || biased == 0x7ff)
        return false; /* zero, subnormal, inf, NaN */
    uint64_t mant = (bits & ((1ull << 52) - 1)) | (1ull << 52);
    int shift = 1075 - biased; /* a = mant * 2^-shift */
    int x = (int)floor(log10(a));
    for (int tries = 0; tries < 3; tries++) {
        uint64_t d = 0;
        if (!scaled(mant, shift, DIGITS - 1 - x, &d))
            return false;
        if (d >= D_END) {
            x++; /* the estimate was low, or rounding carried to ten digits */
        } else if (d < D_MIN) {
            x--;
        } else {
            *digits = d;
            *x10 = x;
            return true;
        }
    }
    return false;
}

/* Writes the nine digits of d to p. */
static void put_digits(char *p, uint64_t d)
{
    for (int i = DIGITS - 1; i >= 0; i--) {
        p[i] = (char)('0' + d % 10);
        d /= 10;
    }
}

int vg_fmt_g9(double v, char *out, size_t len)
{
    uint64_t d = 0;
    int x = 0;
    if (len < 32 || !nine_digits(fabs(v), &d, &x))
        return snprintf(out, len, "%.9g", v);
    char dig[DIGITS];
    put_digits(dig, d);
    int keep = DIGITS; /* significant digits once trailing zeros go, as %g drops them */
    while (keep > 1 && dig[keep - 1] == '0')
        keep--;
    char *p = out;
    if (signbit(v))
        *p++ = '-';
    if (x < -4 || x >= DIGITS) { /* d.ddde+XX */
        *p++ = dig[0];
        if (keep > 1) {
            *p++ = '.';
            memcpy(p, dig + 1, (size_t)keep - 1);
            p += keep - 1;
        }
        int e = x < 0 ? -x : x;
        *p++ = 'e';
        *p++ = x < 0 ? '-' : '+';
        if (e >= 100)
            *p++ = (char)('0' + e / 100);
        *p++ = (char)('0' + e / 10 % 10);
        *p++ = (char)('0' + e % 10);
    } else if (x >= 0) { /* ddd.ddd */
        memcpy(p, dig, (size_t)x + 1);
        p += x + 1;
        if (keep > x + 1) {
            *p++ = '.';
            memcpy(p, dig + x + 1, (size_t)(keep - x - 1));
            p += keep - x - 1;
        }
    } else { /* 0.000ddd */
        *p++ = '0';
        *p++ = '.';
        for (int i = 0; i < -x - 1; i++)
            *p++ = '0';
        memcpy(p, dig, (size_t)keep);
        p += keep;
    }
    *p = '\0';
    return (int)(p - out);
}
