/* SPDX-License-Identifier: MIT */
/*
 * vg_hash64: a small, fast, stable hash in the style of wyhash's mum (multiply then fold).
 * Thread: any.
 */
#include "runtime/hash.h"
#include "runtime/compiler.h"

#include <stdbool.h>
#include <string.h>

#define HASH_SEED 0x2d358dccaa6c78a5ull
#define HASH_P1   0xa0761d6478bd642full
#define HASH_P2   0xe7037ed1a0b428dbull

static inline uint64_t mum(uint64_t a, uint64_t b)
{
    vg_u128_t r = (vg_u128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/* The values are pinned (tests/runtime/util_test.c): read64 and the tail below read the bytes
 * as a little-endian machine does. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "vg_hash64 assumes little-endian");

static inline uint64_t read64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t read32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

uint64_t vg_hash64(const void *data, size_t len)
{
    const unsigned char *p = data;
    bool long_key = len >= 8;
    uint64_t h = HASH_SEED ^ mum(len, HASH_P1);
    while (len >= 16) {
        h = mum(read64(p) ^ HASH_P1, read64(p + 8) ^ h);
        p += 16;
        len -= 16;
    }
    uint64_t a = 0;
    uint64_t b = 0;
    if (len >= 8) {
        a = read64(p);
        p += 8;
        len -= 8;
    }
    /* b: the len (< 8) bytes left as a little-endian number, in a load or two, not a byte at
     * a time (the same value the byte loop of 2026-11 gave; the tests pin it). */
    if (len && long_key) /* the last 8 bytes, shifted down to the len left */
        b = read64(p + len - 8) >> (64 - 8 * len);
    else if (len >= 4) /* two loads of 4 that overlap in the middle */
        b = read32(p) | (read32(p + len - 4) << (8 * (len - 4)));
    else if (len) /* the first, middle and last bytes: all of 1 to 3 */
        b = (uint64_t)p[0] | ((uint64_t)p[len / 2] << (8 * (len / 2))) |
            ((uint64_t)p[len - 1] << (8 * (len - 1)));
    h = mum(a ^ HASH_P2, b ^ h);
    return vg_hash_u64(h);
}
