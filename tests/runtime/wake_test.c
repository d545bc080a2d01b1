/* SPDX-License-Identifier: MIT */
/*
 * Tests of the cross-thread wake-up (runtime/wake.h): sends coalesce into one call, a call
 * re-arms it, sends from other threads reach the loop, and a send after close is harmless.
 */
#include "runtime/wake.h"
#include "tests/vg_test.h"

#include <pthread.h>
#include <stdatomic.h>

struct counted {
    vg_wake_t w;
    atomic_int calls;
    int closed;
    atomic_int sent; /* by the sender thread */
    int target;      /* stop the loop once the loop has seen this many sends */
};

static void count_call(vg_wake_t *w)
{
    struct counted *c = (struct counted *)(void *)w;
    atomic_fetch_add(&c->calls, 1);
    if (c->target && atomic_load(&c->sent) >= c->target)
        uv_stop(w->poll.loop);
}

static void count_closed(vg_wake_t *w)
{
    ((struct counted *)(void *)w)->closed++;
}

VG_TEST(sends_coalesce_and_each_call_rearms)
{
    uv_loop_t loop;
    ASSERT_EQ(uv_loop_init(&loop), 0);
    struct counted c = {0};
    ASSERT_EQ(vg_wake_init(&loop, &c.w, count_call), 0);
    (void)uv_run(&loop, UV_RUN_NOWAIT);
    ASSERT_EQ(atomic_load(&c.calls), 0); /* nothing sent: no call */
    for (int i = 0; i < 1000; i++)
        vg_wake_send(&c.w);
    (void)uv_run(&loop, UV_RUN_NOWAIT);
    ASSERT_EQ(atomic_load(&c.calls), 1);
    (void)uv_run(&loop, UV_RUN_NOWAIT);
    ASSERT_EQ(atomic_load(&c.calls), 1); /* the count was consumed */
    vg_wake_send(&c.w);
    (void)uv_run(&loop, UV_RUN_NOWAIT);
    ASSERT_EQ(atomic_load(&c.calls), 2);
    vg_wake_close(&c.w, count_closed);
    (void)uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(c.closed, 1);
    vg_wake_send(&c.w); /* late sender: the eventfd is still open, nothing runs */
    (void)uv_run(&loop, UV_RUN_NOWAIT);
    ASSERT_EQ(atomic_load(&c.calls), 2);
    vg_wake_release(&c.w);
    ASSERT_EQ(c.w.fd, -1);
    ASSERT_EQ(uv_loop_close(&loop), 0);
}

static void *sender(void *arg)
{
    struct counted *c = arg;
    for (int i = 0; i < c->target; i++) {
        atomic_fetch_add(&c->sent, 1);
        vg_wake_send(&c->w);
    }
    return NULL;
}

VG_TEST(another_threads_sends_wake_a_blocked_loop)
{
    uv_loop_t loop;
    ASSERT_EQ(uv_loop_init(&loop), 0);
    struct counted c = {0};
    c.target = 100000;
    ASSERT_EQ(vg_wake_init(&loop, &c.w, count_call), 0);
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, sender, &c), 0);
    /* Blocks in epoll until a send comes; returns when a call saw the last one. */
    (void)uv_run(&loop, UV_RUN_DEFAULT);
    pthread_join(t, NULL);
    int calls = atomic_load(&c.calls);
    ASSERT_GE(calls, 1);
    ASSERT_LE(calls, c.target);
    vg_wake_close(&c.w, NULL);
    (void)uv_run(&loop, UV_RUN_DEFAULT);
    vg_wake_release(&c.w);
    ASSERT_EQ(uv_loop_close(&loop), 0);
}
