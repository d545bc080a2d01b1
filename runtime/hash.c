/* SPDX-License-Identifier: MIT */
/*
 * vg_hash64: a small, fast, stable hash in the style of wyhash's mum (multiply then fold).
 * Thread: any.
 */
#include "runtime/hash.h"
#include "runtime/compiler.h"

#include <string.h>

#define HASH_SEED 0x2d358dccaa6c78a5ull
#define HASH_P1   0xa0761d6478bd642full
#define HASH_P2   0xe7037ed1a0b428dbull

static inline uint64_t mum(uint64_t a, uint64_t b)
{
    vg_u128_t r = (vg_u128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t read64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

uint64_t vg_hash64(const void *data, size_t len)
{
    const unsigned char *p = data;
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
    for (size_t i = 0; i < len; i++)
        b |= (uint64_t)p[i] << (8 * i);
    h = mum(a ^ HASH_P2, b ^ h);
    return vg_hash_u64(h);
}
