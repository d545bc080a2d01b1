/* SPDX-License-Identifier: MIT */
/*
 * An intrusive, unbounded, lock-free multi-producer single-consumer FIFO (Dmitry Vyukov's
 * design). Producers never wait: a push is one atomic exchange plus one store. The consumer
 * may transiently see the queue as empty while a producer is between its two steps; that
 * producer then wakes the consumer again (see runtime/actor.c), so nothing is lost. Bounds
 * are enforced by the caller (actor mailboxes count their messages). Per-producer order is
 * kept. Thread: push from any thread; pop from the single consumer thread only.
 */
#ifndef VG_RUNTIME_MPSC_H
#define VG_RUNTIME_MPSC_H

#include "runtime/compiler.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct vg_mpsc_node {
    _Atomic(struct vg_mpsc_node *) next;
} vg_mpsc_node_t;

typedef struct vg_mpsc {
    _Atomic(vg_mpsc_node_t *) head VG_CACHELINE_ALIGNED; /* producers exchange here */
    vg_mpsc_node_t *tail VG_CACHELINE_ALIGNED;           /* consumer only */
    vg_mpsc_node_t stub;
} vg_mpsc_t;

static inline void vg_mpsc_init(vg_mpsc_t *q)
{
    atomic_store_explicit(&q->stub.next, NULL, memory_order_relaxed);
    atomic_store_explicit(&q->head, &q->stub, memory_order_relaxed);
    q->tail = &q->stub;
}

/* Appends `node`. Thread: any. */
static inline void vg_mpsc_push(vg_mpsc_t *q, vg_mpsc_node_t *node)
{
    atomic_store_explicit(&node->next, NULL, memory_order_relaxed);
    vg_mpsc_node_t *prev = atomic_exchange_explicit(&q->head, node, memory_order_acq_rel);
    atomic_store_explicit(&prev->next, node, memory_order_release);
}

/* Removes the oldest node, or returns NULL when the queue is empty or a producer is midway
 * through a push (it will signal again). Thread: the consumer. */
static inline vg_mpsc_node_t *vg_mpsc_pop(vg_mpsc_t *q)
{
    vg_mpsc_node_t *tail = q->tail;
    vg_mpsc_node_t *next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (tail == &q->stub) {
        if (!next)
            return NULL;
        q->tail = next;
        tail = next;
        next = atomic_load_explicit(&next->next, memory_order_acquire);
    }
    if (next) {
        q->tail = next;
        return tail;
    }
    if (tail != atomic_load_explicit(&q->head, memory_order_acquire))
        return NULL;
    vg_mpsc_push(q, &q->stub);
    next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (next) {
        q->tail = next;
        return tail;
    }
    return NULL;
}

/* True when nothing is queued (racy against producers; exact when they are quiet).
 * Thread: the consumer. */
static inline bool vg_mpsc_empty(vg_mpsc_t *q)
{
    /* q->tail always points at the next node to hand out, or at the stub. */
    return q->tail == &q->stub && atomic_load_explicit(&q->stub.next, memory_order_acquire) == NULL;
}

#endif
