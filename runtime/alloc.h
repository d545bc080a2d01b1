/* SPDX-License-Identifier: MIT */
/*
 * Allocation that aborts on exhaustion, so callers never test for NULL, and the per-batch
 * arena: all of one batch's memory comes from it and one reset frees it. Thread: any (an arena
 * belongs to one thread at a time).
 */
#ifndef VG_RUNTIME_ALLOC_H
#define VG_RUNTIME_ALLOC_H

#include <stddef.h>

void *vg_xmalloc(size_t size);
void *vg_xcalloc(size_t count, size_t size);
void *vg_xrealloc(void *ptr, size_t size);
char *vg_xstrdup(const char *s);

typedef struct vg_arena vg_arena_t;
struct vg_arena_block;

struct vg_arena {
    struct vg_arena_block *head; /* newest block first */
    size_t block_bytes;          /* size of a normal block */
};

/* Prepares an arena whose blocks are `block_bytes` (0 = 64 KiB). Allocates nothing yet. */
void vg_arena_init(vg_arena_t *arena, size_t block_bytes);

/* `size` bytes aligned to 16, valid until the next reset or close. Never NULL. */
void *vg_arena_alloc(vg_arena_t *arena, size_t size);

/* Frees everything allocated since init, keeping one block of the normal size for reuse
 * (a bigger one, made for one large allocation, is freed). */
void vg_arena_reset(vg_arena_t *arena);

/* Frees every block. */
void vg_arena_close(vg_arena_t *arena);

#endif
