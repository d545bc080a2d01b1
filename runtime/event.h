/* SPDX-License-Identifier: MIT */
/*
 * A one-shot event: one thread waits until another sets it (a mutex, a condition variable
 * and a flag). For start-up and shutdown hand-offs between the main thread and the loops,
 * never for per-message work. Thread: any.
 */
#ifndef VG_RUNTIME_EVENT_H
#define VG_RUNTIME_EVENT_H

#include <pthread.h>
#include <stdbool.h>

typedef struct vg_event {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool set;
} vg_event_t;

void vg_event_init(vg_event_t *ev);

/* Sets the event and wakes every waiter. */
void vg_event_set(vg_event_t *ev);

/* Blocks until the event is set. */
void vg_event_wait(vg_event_t *ev);

/* Destroys an event nobody waits on. */
void vg_event_close(vg_event_t *ev);

#endif
