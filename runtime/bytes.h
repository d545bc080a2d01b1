/* SPDX-License-Identifier: MIT */
/*
 * A borrowed byte view. Who owns the bytes and how long they live is said where a view is
 * handed out (a view from LMDB dies with its transaction). And the fixed-width integer
 * encodings of the on-disk formats: little-endian for values, big-endian for keys (so that
 * LMDB's byte order is the numeric order). Thread: any.
 */
#ifndef VG_RUNTIME_BYTES_H
#define VG_RUNTIME_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct vg_bytes {
    const uint8_t *ptr;
    size_t len;
} vg_bytes_t;

/* On a little-endian host the value encodings are plain copies: gcc -O2 does not turn the
 * byte loops below into single loads and stores, and the profile codecs are hot (3,000
 * instructions per transaction under callgrind before). The loops are the definition. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define VG_LE_HOST 1
#else
#define VG_LE_HOST 0
#endif

static inline void vg_put_le16(uint8_t *p, uint16_t v)
{
    if (VG_LE_HOST) {
        memcpy(p, &v, sizeof(v));
        return;
    }
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void vg_put_le32(uint8_t *p, uint32_t v)
{
    if (VG_LE_HOST) {
        memcpy(p, &v, sizeof(v));
        return;
    }
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void vg_put_le64(uint8_t *p, uint64_t v)
{
    if (VG_LE_HOST) {
        memcpy(p, &v, sizeof(v));
        return;
    }
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t vg_get_le16(const uint8_t *p)
{
    if (VG_LE_HOST) {
        uint16_t v;
        memcpy(&v, p, sizeof(v));
        return v;
    }
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t vg_get_le32(const uint8_t *p)
{
    if (VG_LE_HOST) {
        uint32_t v;
        memcpy(&v, p, sizeof(v));
        return v;
    }
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t vg_get_le64(const uint8_t *p)
{
    if (VG_LE_HOST) {
        uint64_t v;
        memcpy(&v, p, sizeof(v));
        return v;
    }
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static inline void vg_put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static inline void vg_put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static inline uint64_t vg_get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Copies the string src into dst[size] (size > 0), cut to size - 1 bytes, always terminated:
 * snprintf(dst, size, "%s", src) without the format parsing, for the hot paths that copy ids.
 * Returns the bytes copied. */
static inline size_t vg_strlcpy(char *dst, const char *src, size_t size)
{
    size_t n = strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
    return n;
}

#endif
