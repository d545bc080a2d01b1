/* SPDX-License-Identifier: MIT */
/*
 * vg_x* allocation wrappers and the bump arena. Thread: any.
 */
#include "runtime/alloc.h"
#include "runtime/logging.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_DEFAULT_BLOCK ((size_t)64 * 1024)
#define ARENA_ALIGN         16u

struct vg_arena_block {
    struct vg_arena_block *next;
    size_t used;
    size_t cap;
    _Alignas(16) unsigned char data[];
};

void *vg_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        VG_PANIC("out of memory size=%zu", size);
    return p;
}

void *vg_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        VG_PANIC("out of memory count=%zu size=%zu", count, size);
    return p;
}

void *vg_xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p)
        VG_PANIC("out of memory size=%zu", size);
    return p;
}

char *vg_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = vg_xmalloc(n);
    memcpy(d, s, n);
    return d;
}

void vg_arena_init(vg_arena_t *arena, size_t block_bytes)
{
    arena->head = NULL;
    arena->block_bytes = block_bytes ? block_bytes : ARENA_DEFAULT_BLOCK;
}

void *vg_arena_alloc(vg_arena_t *arena, size_t size)
{
    size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    struct vg_arena_block *b = arena->head;
    if (!b || b->cap - b->used < size) {
        size_t cap = size > arena->block_bytes ? size : arena->block_bytes;
        b = vg_xmalloc(sizeof(*b) + cap);
        b->used = 0;
        b->cap = cap;
        b->next = arena->head;
        arena->head = b;
    }
    void *p = b->data + b->used;
    b->used += size;
    return p;
}

void vg_arena_reset(vg_arena_t *arena)
{
    /* Keep the newest block of the normal size for reuse; the rest go back to malloc. */
    struct vg_arena_block *keep = NULL;
    for (struct vg_arena_block *b = arena->head, *next; b; b = next) {
        next = b->next;
        if (!keep && b->cap == arena->block_bytes)
            keep = b;
        else
            free(b);
    }
    if (keep) {
        keep->next = NULL;
        keep->used = 0;
    }
    arena->head = keep;
}

void vg_arena_close(vg_arena_t *arena)
{
    struct vg_arena_block *b = arena->head;
    while (b) {
        struct vg_arena_block *next = b->next;
        free(b);
        b = next;
    }
    arena->head = NULL;
}
