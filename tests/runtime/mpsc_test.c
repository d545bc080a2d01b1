/* SPDX-License-Identifier: MIT */
/*
 * Tests of the MPSC queue: FIFO on one thread, and a multi-producer stress test (run it under
 * TSan) that checks every node arrives exactly once and each producer's order is kept.
 */
#include "runtime/alloc.h"
#include "runtime/mpsc.h"
#include "tests/vg_test.h"

#include <pthread.h>

struct item {
    vg_mpsc_node_t node;
    unsigned producer;
    unsigned seq;
};

VG_TEST(fifo_single_thread)
{
    vg_mpsc_t q;
    vg_mpsc_init(&q);
    ASSERT_TRUE(vg_mpsc_empty(&q));
    ASSERT_NULL(vg_mpsc_pop(&q));
    struct item items[100];
    for (unsigned round = 0; round < 3; round++) {
        for (unsigned i = 0; i < 100; i++) {
            items[i].seq = i;
            vg_mpsc_push(&q, &items[i].node);
        }
        ASSERT_FALSE(vg_mpsc_empty(&q));
        for (unsigned i = 0; i < 100; i++) {
            vg_mpsc_node_t *n = vg_mpsc_pop(&q);
            ASSERT_NOT_NULL(n);
            ASSERT_EQ(vg_container_of(n, struct item, node)->seq, i);
        }
        ASSERT_NULL(vg_mpsc_pop(&q));
        ASSERT_TRUE(vg_mpsc_empty(&q));
    }
    /* One element in, one out, repeatedly: the stub is recycled each time. */
    for (unsigned i = 0; i < 10; i++) {
        vg_mpsc_push(&q, &items[i].node);
        ASSERT_FALSE(vg_mpsc_empty(&q));
        ASSERT_EQ(vg_container_of(vg_mpsc_pop(&q), struct item, node)->seq, items[i].seq);
        ASSERT_TRUE(vg_mpsc_empty(&q));
    }
}

#define PRODUCERS    4
#define PER_PRODUCER 200000

struct stress {
    vg_mpsc_t q;
    struct item *items;
    unsigned id;
};

struct producer_arg {
    struct stress *s;
    unsigned id;
};

static void *produce(void *arg)
{
    struct producer_arg *pa = arg;
    struct item *mine = pa->s->items + (size_t)pa->id * PER_PRODUCER;
    for (unsigned i = 0; i < PER_PRODUCER; i++) {
        mine[i].producer = pa->id;
        mine[i].seq = i;
        vg_mpsc_push(&pa->s->q, &mine[i].node);
    }
    return NULL;
}

VG_TEST(multi_producer_stress)
{
    struct stress s;
    vg_mpsc_init(&s.q);
    s.items = vg_xcalloc((size_t)PRODUCERS * PER_PRODUCER, sizeof(struct item));
    pthread_t threads[PRODUCERS];
    struct producer_arg args[PRODUCERS];
    for (unsigned p = 0; p < PRODUCERS; p++) {
        args[p].s = &s;
        args[p].id = p;
        ASSERT_EQ(pthread_create(&threads[p], NULL, produce, &args[p]), 0);
    }
    unsigned next_seq[PRODUCERS] = {0};
    size_t got = 0;
    while (got < (size_t)PRODUCERS * PER_PRODUCER) {
        vg_mpsc_node_t *n = vg_mpsc_pop(&s.q);
        if (!n)
            continue;
        struct item *it = vg_container_of(n, struct item, node);
        ASSERT_LT(it->producer, PRODUCERS);
        ASSERT_EQ(it->seq, next_seq[it->producer]);
        next_seq[it->producer]++;
        got++;
    }
    for (unsigned p = 0; p < PRODUCERS; p++) {
        pthread_join(threads[p], NULL);
        ASSERT_EQ(next_seq[p], PER_PRODUCER);
    }
    ASSERT_NULL(vg_mpsc_pop(&s.q));
    ASSERT_TRUE(vg_mpsc_empty(&s.q));
    free(s.items);
}
