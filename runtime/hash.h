/* SPDX-License-Identifier: MIT */
/*
 * Non-cryptographic 64-bit hashing for partitioning and hash tables. The value is stable
 * across runs, machines and versions (it decides which partition owns an account, so it is
 * part of the on-disk layout): never change it. Thread: any.
 */
#ifndef VG_RUNTIME_HASH_H
#define VG_RUNTIME_HASH_H

#include <stddef.h>
#include <stdint.h>

/* A 64-bit hash of `len` bytes (a wyhash-style multiply-fold, seed fixed). */
uint64_t vg_hash64(const void *data, size_t len);

/* Mixes one 64-bit integer (splitmix64 finaliser). */
static inline uint64_t vg_hash_u64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

#endif
