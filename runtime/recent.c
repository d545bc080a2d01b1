/* SPDX-License-Identifier: MIT */
/*
 * The recent-keys filter; see recent.h. A key's hash picks a block of 8 words (one 64-byte
 * cache line) by a multiply-shift (no power of two needed); words 0-3 belong to generation 0
 * and 4-7 to generation 1, so a test of both generations, and an add, touch one line. In its
 * generation's 256 bits the key sets 7, 8 bits of a second mixed word each.
 */
#include "runtime/recent.h"
#include "runtime/alloc.h"
#include "runtime/hash.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define GEN_WORDS    4ull /* per block and generation */
#define BLOCK_WORDS  (2u * GEN_WORDS)
#define GEN_BITS     (GEN_WORDS * 64u)
#define BITS_PER_KEY 16u /* per generation */
#define PROBES       7u

struct vg_recent {
    void *mem;           /* w's memory untyped, for free and prefetch (no _Atomic cast) */
    _Atomic uint64_t *w; /* mem: nblocks blocks of BLOCK_WORDS */
    uint64_t nblocks;
    uint64_t per_gen; /* keys a generation takes before the older one is emptied */
    uint64_t count;   /* keys in the current generation */
    unsigned cur;
};

vg_recent_t *vg_recent_new(uint64_t n)
{
    if (n == 0)
        return NULL;
    if (n > (1ull << 35))
        n = 1ull << 35; /* keeps nblocks below 2^32 */
    vg_recent_t *r = vg_xcalloc(1, sizeof(*r));
    r->per_gen = n;
    r->nblocks = (n * BITS_PER_KEY + GEN_BITS - 1) / GEN_BITS;
    size_t words = r->nblocks * BLOCK_WORDS;
    r->mem = vg_xmalloc(words * sizeof(uint64_t));
    r->w = r->mem;
    for (size_t i = 0; i < words; i++)
        atomic_init(&r->w[i], 0);
    return r;
}

void vg_recent_free(vg_recent_t *r)
{
    if (!r)
        return;
    free(r->mem);
    free(r);
}

/* The key's block (its first word) and its 7 bits, as a mask per word of a generation. */
struct probe {
    uint64_t block;
    uint64_t mask[GEN_WORDS];
};

void vg_recent_key(const void *key, size_t len, vg_recent_key_t *out)
{
    _Static_assert(GEN_WORDS == sizeof(out->mask) / sizeof(out->mask[0]), "mask per word");
    out->h = vg_hash64(key, len);
    uint64_t bits = vg_hash_u64(out->h);
    for (unsigned w = 0; w < GEN_WORDS; w++)
        out->mask[w] = 0;
    for (unsigned i = 0; i < PROBES; i++) {
        unsigned b = (unsigned)(bits >> (8 * i)) & (GEN_BITS - 1);
        out->mask[b / 64] |= 1ull << (b % 64);
    }
}

/* The key's block in r, and its bits. */
static void probe_at(const vg_recent_t *r, const vg_recent_key_t *k, struct probe *p)
{
    p->block = (((k->h >> 32) * r->nblocks) >> 32) * BLOCK_WORDS; /* nblocks < 2^32 */
    memcpy(p->mask, k->mask, sizeof(p->mask));
}

static void probe_of(const vg_recent_t *r, const void *key, size_t len, struct probe *p)
{
    vg_recent_key_t k;
    vg_recent_key(key, len, &k);
    probe_at(r, &k, p);
}

static bool in_gen(const vg_recent_t *r, unsigned g, const struct probe *p)
{
    const _Atomic uint64_t *w = r->w + p->block + g * GEN_WORDS;
    for (unsigned i = 0; i < GEN_WORDS; i++) {
        uint64_t v = atomic_load_explicit(&w[i], memory_order_relaxed);
        if ((v & p->mask[i]) != p->mask[i])
            return false;
    }
    return true;
}

static void add_probe(vg_recent_t *r, const struct probe *p)
{
    if (r->count >= r->per_gen) {
        /* The older generation goes: it becomes the current one, emptied. */
        r->cur ^= 1u;
        for (uint64_t b = 0; b < r->nblocks; b++)
            for (unsigned i = 0; i < GEN_WORDS; i++)
                atomic_store_explicit(&r->w[b * BLOCK_WORDS + r->cur * GEN_WORDS + i], 0,
                                      memory_order_relaxed);
        r->count = 0;
    }
    _Atomic uint64_t *w = r->w + p->block + r->cur * GEN_WORDS;
    for (unsigned i = 0; i < GEN_WORDS; i++) {
        if (!p->mask[i])
            continue;
        /* The only writer: a load and a store, no locked read-modify-write. */
        uint64_t v = atomic_load_explicit(&w[i], memory_order_relaxed);
        if ((v & p->mask[i]) != p->mask[i])
            atomic_store_explicit(&w[i], v | p->mask[i], memory_order_relaxed);
    }
    r->count++;
}

void vg_recent_add(vg_recent_t *r, const void *key, size_t len)
{
    if (!r)
        return;
    struct probe p;
    probe_of(r, key, len, &p);
    add_probe(r, &p);
}

void vg_recent_add_many(vg_recent_t *r, const char *const *keys, size_t n)
{
    enum { CHUNK = 32 };
    struct probe p[CHUNK];
    for (size_t at = 0; r && at < n; at += CHUNK) {
        size_t m = n - at < CHUNK ? n - at : CHUNK;
        /* Every line first, so their cache misses overlap instead of coming one by one. */
        for (size_t i = 0; i < m; i++) {
            probe_of(r, keys[at + i], strlen(keys[at + i]), &p[i]);
            __builtin_prefetch((const uint64_t *)r->mem + p[i].block, 1);
        }
        for (size_t i = 0; i < m; i++)
            add_probe(r, &p[i]);
    }
}

bool vg_recent_may_have(const vg_recent_t *r, const void *key, size_t len)
{
    if (!r)
        return true;
    vg_recent_key_t k;
    vg_recent_key(key, len, &k);
    return vg_recent_may_have_key(r, &k);
}

bool vg_recent_may_have_key(const vg_recent_t *r, const vg_recent_key_t *k)
{
    if (!r)
        return true;
    struct probe p;
    probe_at(r, k, &p);
    return in_gen(r, 0, &p) || in_gen(r, 1, &p);
}
