/* SPDX-License-Identifier: MIT */
/*
 * A filter of the keys added recently: "certainly not among the last N" or "perhaps". Two
 * generations of a blocked Bloom filter, side by side in each 64-byte block, so that testing
 * a key against both, or adding one, touches one cache line (each key sets 7 bits in its
 * generation's half). Once the current generation holds N keys, the older one is emptied and
 * becomes the current one. So every key among the last N added answers "perhaps"; a key not
 * among the last 2N answers "no" unless a false positive (about 1 in 370 with both
 * generations full) says otherwise. Memory is fixed: 4 bytes per key of N (16 bits per key in
 * each generation).
 *
 * Thread: one writer (vg_recent_add, vg_recent_add_many), any number of readers on any
 * threads at the same time (vg_recent_may_have). Bits are relaxed atomics: a reader racing
 * the writer may get "no" for a key being added at that moment; every key among the last N
 * added before the test began gets "perhaps".
 */
#ifndef VG_RUNTIME_RECENT_H
#define VG_RUNTIME_RECENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vg_recent vg_recent_t;

/* A filter of the last `n` keys at least; NULL when n is 0 (callers treat a NULL filter as
 * "perhaps" for every key). */
vg_recent_t *vg_recent_new(uint64_t n);
void vg_recent_free(vg_recent_t *r);

/* Thread: the one writer. */
void vg_recent_add(vg_recent_t *r, const void *key, size_t len);

/* Adds n strings, in order, fetching their cache lines ahead. Thread: the one writer. */
void vg_recent_add_many(vg_recent_t *r, const char *const *keys, size_t n);

/* false: the key is not among the last n added (see above). Thread: any. */
bool vg_recent_may_have(const vg_recent_t *r, const void *key, size_t len);

/* A key's hash and bit pattern, the same in every filter: made once (vg_recent_key), a key is
 * tested against several filters (vg_recent_may_have_key) at the cost of their cache lines
 * only. */
typedef struct vg_recent_key {
    uint64_t h;
    uint64_t mask[4];
} vg_recent_key_t;
void vg_recent_key(const void *key, size_t len, vg_recent_key_t *out);
/* As vg_recent_may_have. Thread: any. */
bool vg_recent_may_have_key(const vg_recent_t *r, const vg_recent_key_t *k);

#endif
