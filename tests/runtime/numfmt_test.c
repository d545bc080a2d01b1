/* SPDX-License-Identifier: MIT */
/*
 * vg_fmt_g9 gives snprintf's "%.9g" byte for byte: on random doubles over the whole range,
 * on random floats (what scores and contributions are), next to every power of ten the fast
 * path covers, and on exact halfway cases (rounded half to even).
 */
#include "runtime/numfmt.h"
#include "tests/vg_test.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static uint64_t next(uint64_t *s)
{
    uint64_t x = *s += 0x9e3779b97f4a7c15ull; /* splitmix64 */
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void same(double v)
{
    char want[64];
    char got[64];
    int nw = snprintf(want, sizeof(want), "%.9g", v);
    int ng = vg_fmt_g9(v, got, sizeof(got));
    if (nw != ng || strcmp(want, got) != 0)
        VG_FAIL("%.17g: snprintf \"%s\" (%d), vg_fmt_g9 \"%s\" (%d)", v, want, nw, got, ng);
}

VG_TEST(fmt_g9_matches_printf_on_random_doubles)
{
    uint64_t seed = 7;
    for (int i = 0; i < 200000; i++) {
        uint64_t r = next(&seed);
        double mant = (double)(r >> 11) / (double)(1ull << 53);          /* [0, 1) */
        int e = (int)(next(&seed) % 50) - 25;                            /* 1e-25 .. 1e24 */
        double v = (mant + 0.1) * pow(10.0, e) * ((r & 1) ? -1.0 : 1.0); /* both signs */
        same(v);
    }
    for (int i = 0; i < 100000; i++) { /* any bit pattern: subnormals, inf, NaN too */
        uint64_t bits = next(&seed);
        double v;
        memcpy(&v, &bits, sizeof(v));
        same(v);
    }
    same(0.0);
    same(-0.0);
}

VG_TEST(fmt_g9_matches_printf_on_floats_and_powers_of_ten)
{
    uint64_t seed = 11;
    for (int i = 0; i < 200000; i++) {
        float f = (float)((double)(next(&seed) >> 40) / (double)(1ull << 24)); /* scores */
        same((double)f);
        same((double)(f * 1e-3f) - 0.5);
    }
    for (int k = -13; k <= 11; k++) {
        double p = pow(10.0, k);
        double lo = p;
        double hi = p;
        for (int i = 0; i < 2000; i++) {
            same(lo);
            same(hi);
            lo = nextafter(lo, 0.0);
            hi = nextafter(hi, INFINITY);
        }
        same(p * (1.0 - 5e-10)); /* rounds up to the next power */
        same(p * (1.0 - 4e-10));
        same(p * 9.9999999950000);
    }
}

VG_TEST(fmt_g9_rounds_halfway_cases_to_even)
{
    uint64_t seed = 13;
    for (int i = 0; i < 100000; i++) {
        uint64_t m = 100000000ull + next(&seed) % 900000000ull;
        same((double)(2 * m + 1) / 2.0); /* nine digits and exactly .5: to the even one */
        same((double)(2 * m + 1) / 2048.0);
    }
    same(123456788.5);
    same(123456789.5);
    same(0.5);
    same(2.5);
}
