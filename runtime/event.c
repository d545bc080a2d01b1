/* SPDX-License-Identifier: MIT */
/*
 * The one-shot event; see event.h. Thread: any.
 */
#include "runtime/event.h"

void vg_event_init(vg_event_t *ev)
{
    pthread_mutex_init(&ev->mu, NULL);
    pthread_cond_init(&ev->cv, NULL);
    ev->set = false;
}

void vg_event_set(vg_event_t *ev)
{
    pthread_mutex_lock(&ev->mu);
    ev->set = true;
    pthread_cond_broadcast(&ev->cv);
    pthread_mutex_unlock(&ev->mu);
}

void vg_event_wait(vg_event_t *ev)
{
    pthread_mutex_lock(&ev->mu);
    while (!ev->set)
        pthread_cond_wait(&ev->cv, &ev->mu);
    pthread_mutex_unlock(&ev->mu);
}

void vg_event_close(vg_event_t *ev)
{
    pthread_cond_destroy(&ev->cv);
    pthread_mutex_destroy(&ev->mu);
}
