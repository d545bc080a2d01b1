/* SPDX-License-Identifier: MIT */
/*
 * A borrowed byte view. Who owns the bytes and how long they live is said where a view is
 * handed out (a view from LMDB dies with its transaction). Thread: any.
 */
#ifndef VG_RUNTIME_BYTES_H
#define VG_RUNTIME_BYTES_H

#include <stddef.h>
#include <stdint.h>

typedef struct vg_bytes {
    const uint8_t *ptr;
    size_t len;
} vg_bytes_t;

#endif
