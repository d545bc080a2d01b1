/* SPDX-License-Identifier: MIT */
/*
 * Tests of the actor runtime: sends within a loop and across loops (order, exactly once),
 * full mailboxes, request/reply on the caller's loop, timers, stop and shutdown draining,
 * quiescence, and calls onto a loop. Every test stops its runtime and frees everything, so
 * LeakSanitizer sees no leak.
 */
#include "runtime/actor.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/logging.h"
#include "tests/vg_test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

struct done {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int count;
};

static void done_init(struct done *d)
{
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    d->count = 0;
}

static void done_signal(struct done *d)
{
    pthread_mutex_lock(&d->mu);
    d->count++;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

/* Waits until `n` signals arrived; fails the test after 20 s. */
static void done_wait(struct done *d, int n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 20;
    pthread_mutex_lock(&d->mu);
    while (d->count < n) {
        if (pthread_cond_timedwait(&d->cv, &d->mu, &ts) != 0) {
            pthread_mutex_unlock(&d->mu);
            VG_FAIL("timed out waiting for %d signals (got %d)", n, d->count);
        }
    }
    pthread_mutex_unlock(&d->mu);
}

static void done_destroy(struct done *d)
{
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
}

struct num_msg {
    vg_msg_t hdr;
    uint64_t value;
};

/* A consumer that checks per-sender order and counts. */
struct counter {
    vg_actor_t actor;
    uint64_t expect_next;
    uint64_t got;
    uint64_t want;
    bool order_ok;
    bool stopped;
    uint64_t got_at_stop;
    vg_loop_t *ran_on;
    struct done *done;
    _Atomic uint64_t *gate; /* when set, the first message waits until it is non-zero */
};

static void counter_receive(vg_actor_t *self, vg_msg_t *msg)
{
    struct counter *c = vg_container_of(self, struct counter, actor);
    struct num_msg *m = (struct num_msg *)msg;
    /* Hold the consumer until the producer has met a full mailbox, so backpressure is
     * exercised whatever the scheduling (a consumer that kept up never filled it under TSan). */
    for (int waited = 0; c->gate && c->got == 0 && atomic_load(c->gate) == 0 && waited < 5000;
         waited++) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    if (m->value != c->expect_next)
        c->order_ok = false;
    c->expect_next = m->value + 1;
    c->got++;
    c->ran_on = vg_loop_current();
    free(m);
    if (c->got == c->want && c->done)
        done_signal(c->done);
}

static void counter_on_stop(vg_actor_t *self)
{
    struct counter *c = vg_container_of(self, struct counter, actor);
    c->stopped = true;
    c->got_at_stop = c->got;
}

static const vg_actor_ops_t counter_ops = {"counter", counter_receive, counter_on_stop};

static struct num_msg *num(uint64_t v)
{
    struct num_msg *m = vg_xcalloc(1, sizeof(*m));
    m->value = v;
    return m;
}

static vg_runtime_t *runtime(unsigned workers)
{
    vg_runtime_opts_t opts = {.workers = workers, .drain_batch = 64};
    vg_runtime_t *rt = NULL;
    ASSERT_OK(vg_runtime_new(&opts, &rt));
    return rt;
}

/* A producer that sends `count` numbers to `to`, retrying on a full mailbox from its loop. */
struct producer {
    vg_actor_t actor;
    vg_actor_t *to;
    uint64_t next;
    uint64_t count;
    _Atomic uint64_t full_seen; /* read by the consumer's gate */
    vg_timer_t retry;
};

static void producer_pump(struct producer *p)
{
    while (p->next < p->count) {
        struct num_msg *m = num(p->next);
        int rc = vg_actor_send(p->to, &m->hdr);
        if (rc == VG_EMAILBOX_FULL) {
            free(m); /* still ours: the failed send left it with us */
            p->full_seen++;
            return;
        }
        VG_CHECK(rc == 0);
        p->next++;
    }
    vg_timer_stop(&p->retry);
}

static void producer_tick(vg_actor_t *self, vg_timer_t *t)
{
    (void)t;
    producer_pump(vg_container_of(self, struct producer, actor));
}

static void producer_receive(vg_actor_t *self, vg_msg_t *msg)
{
    struct producer *p = vg_container_of(self, struct producer, actor);
    free(msg);
    vg_timer_init(self, &p->retry);
    vg_timer_start(&p->retry, 1, 1, producer_tick);
    producer_pump(p);
}

static void producer_on_stop(vg_actor_t *self)
{
    struct producer *p = vg_container_of(self, struct producer, actor);
    vg_timer_close(&p->retry, NULL);
}

static const vg_actor_ops_t producer_ops = {"producer", producer_receive, producer_on_stop};

static void run_pair(unsigned workers, unsigned consumer_loop, uint64_t count, uint32_t cap)
{
    vg_runtime_t *rt = runtime(workers);
    struct done done;
    done_init(&done);
    struct producer p = {.count = count};
    struct counter c = {.want = count, .order_ok = true, .done = &done};
    if (cap != 0 && cap < count)
        c.gate = &p.full_seen;
    vg_actor_init(&c.actor, vg_runtime_loop(rt, consumer_loop), &counter_ops, "c", cap);
    vg_actor_init(&p.actor, vg_runtime_loop(rt, 0), &producer_ops, "p", 4);
    p.to = &c.actor;
    ASSERT_OK(vg_runtime_start(rt));
    ASSERT_OK(vg_actor_send(&p.actor, &num(0)->hdr));
    done_wait(&done, 1);
    vg_runtime_stop(rt);
    ASSERT_EQ_U(c.got, count);
    ASSERT_TRUE(c.order_ok);
    ASSERT_TRUE(c.stopped);
    ASSERT_EQ(c.ran_on, vg_runtime_loop(rt, consumer_loop));
    if (cap != 0 && cap < count)
        ASSERT_GT(atomic_load(&p.full_seen), 0); /* backpressure met, nothing was lost */
    vg_runtime_free(rt);
    done_destroy(&done);
}

VG_TEST(send_within_loop_in_order)
{
    run_pair(1, 0, 100000, 0);
}

VG_TEST(send_across_loops_in_order)
{
    run_pair(2, 1, 100000, 0);
}

VG_TEST(backpressure_across_loops_loses_nothing)
{
    run_pair(2, 1, 50000, 64);
}

VG_TEST(full_mailbox_is_reported_and_message_kept)
{
    vg_runtime_t *rt = runtime(1);
    struct counter c = {.want = 0, .order_ok = true};
    vg_actor_init(&c.actor, vg_runtime_loop(rt, 0), &counter_ops, "c", 8);
    for (uint64_t i = 0; i < 8; i++)
        ASSERT_OK(vg_actor_send(&c.actor, &num(i)->hdr));
    struct num_msg *extra = num(8);
    ASSERT_ERR(vg_actor_send(&c.actor, &extra->hdr), VG_EMAILBOX_FULL);
    vg_actor_stats_t st;
    vg_actor_stats(&c.actor, &st);
    ASSERT_EQ(st.queued, 8);
    ASSERT_EQ(st.capacity, 8);
    ASSERT_EQ_U(st.rejected_full, 1);
    ASSERT_OK(vg_runtime_start(rt));
    ASSERT_OK(vg_runtime_quiesce(rt, 10000));
    /* Space again: the message the sender kept goes through now. */
    ASSERT_OK(vg_actor_send(&c.actor, &extra->hdr));
    ASSERT_OK(vg_runtime_quiesce(rt, 10000));
    vg_runtime_stop(rt);
    ASSERT_EQ_U(c.got, 9);
    ASSERT_TRUE(c.order_ok);
    vg_runtime_free(rt);
}

/* Request/reply: the server doubles the value and replies into the same message. */
struct server {
    vg_actor_t actor;
    vg_loop_t *ran_on;
};

static void server_receive(vg_actor_t *self, vg_msg_t *msg)
{
    struct server *s = vg_container_of(self, struct server, actor);
    struct num_msg *m = (struct num_msg *)msg;
    s->ran_on = vg_loop_current();
    m->value *= 2;
    VG_CHECK(vg_actor_reply(msg, msg) == 0);
}

static const vg_actor_ops_t server_ops = {"server", server_receive, NULL};

struct client {
    vg_actor_t actor;
    vg_actor_t *server;
    uint64_t sum;
    int replies;
    bool wrong_loop;
    struct done *done;
};

static void client_on_reply(vg_actor_t *self, vg_msg_t *reply, void *ctx)
{
    struct client *c = vg_container_of(self, struct client, actor);
    if (vg_loop_current() != self->loop || ctx != c)
        c->wrong_loop = true;
    c->sum += ((struct num_msg *)reply)->value;
    free(reply);
    if (++c->replies == 100)
        done_signal(c->done);
}

static void client_receive(vg_actor_t *self, vg_msg_t *msg)
{
    struct client *c = vg_container_of(self, struct client, actor);
    free(msg);
    for (uint64_t i = 1; i <= 100; i++)
        VG_CHECK(vg_actor_request(self, c->server, &num(i)->hdr, client_on_reply, c) == 0);
}

static const vg_actor_ops_t client_ops = {"client", client_receive, NULL};

VG_TEST(request_reply_runs_on_callers_loop)
{
    vg_runtime_t *rt = runtime(2);
    struct done done;
    done_init(&done);
    struct server s = {0};
    struct client c = {.server = &s.actor, .done = &done};
    vg_actor_init(&s.actor, vg_runtime_loop(rt, 1), &server_ops, "s", 0);
    vg_actor_init(&c.actor, vg_runtime_loop(rt, 0), &client_ops, "c", 0);
    ASSERT_OK(vg_runtime_start(rt));
    ASSERT_OK(vg_actor_send(&c.actor, &num(0)->hdr));
    done_wait(&done, 1);
    vg_runtime_stop(rt);
    ASSERT_EQ_U(c.sum, 2 * 5050);
    ASSERT_FALSE(c.wrong_loop);
    ASSERT_EQ(s.ran_on, vg_runtime_loop(rt, 1));
    vg_runtime_free(rt);
    done_destroy(&done);
}

/* Timers: fire five times on the actor's loop, then close. */
struct ticker {
    vg_actor_t actor;
    vg_timer_t timer;
    int ticks;
    bool closed;
    uint64_t started_ns;
    uint64_t elapsed_ns;
    struct done *done;
};

static void ticker_closed(vg_timer_t *t)
{
    struct ticker *k = vg_container_of(t, struct ticker, timer);
    k->closed = true;
    done_signal(k->done);
}

static void ticker_tick(vg_actor_t *self, vg_timer_t *t)
{
    struct ticker *k = vg_container_of(self, struct ticker, actor);
    if (++k->ticks == 5) {
        k->elapsed_ns = vg_clock_mono_ns() - k->started_ns;
        vg_timer_close(t, ticker_closed);
    }
}

static void ticker_receive(vg_actor_t *self, vg_msg_t *msg)
{
    struct ticker *k = vg_container_of(self, struct ticker, actor);
    free(msg);
    k->started_ns = vg_clock_mono_ns();
    vg_timer_init(self, &k->timer);
    vg_timer_start(&k->timer, 10, 10, ticker_tick);
}

static const vg_actor_ops_t ticker_ops = {"ticker", ticker_receive, NULL};

static void ticker_with_close_on_stop(vg_actor_t *self)
{
    struct ticker *k = vg_container_of(self, struct ticker, actor);
    if (!k->closed && k->started_ns)
        vg_timer_close(&k->timer, NULL);
}

static const vg_actor_ops_t ticker_stop_ops = {"ticker", ticker_receive, ticker_with_close_on_stop};

VG_TEST(timer_repeats_then_closes)
{
    vg_runtime_t *rt = runtime(1);
    struct done done;
    done_init(&done);
    struct ticker k = {.done = &done};
    vg_actor_init(&k.actor, vg_runtime_loop(rt, 0), &ticker_ops, "t", 0);
    ASSERT_OK(vg_runtime_start(rt));
    ASSERT_OK(vg_actor_send(&k.actor, &num(0)->hdr));
    done_wait(&done, 1);
    vg_runtime_stop(rt);
    ASSERT_EQ(k.ticks, 5);
    ASSERT_TRUE(k.closed);
    ASSERT_GE(k.elapsed_ns, 45ull * 1000000ull); /* five 10 ms periods, never early */
    vg_runtime_free(rt);
    done_destroy(&done);
}

VG_TEST(stop_drains_accepted_then_rejects)
{
    vg_runtime_t *rt = runtime(2);
    struct counter c = {.order_ok = true};
    vg_actor_init(&c.actor, vg_runtime_loop(rt, 1), &counter_ops, "c", 0);
    for (uint64_t i = 0; i < 10; i++)
        ASSERT_OK(vg_actor_send(&c.actor, &num(i)->hdr));
    vg_actor_stop(&c.actor);
    vg_actor_stop(&c.actor); /* idempotent */
    struct num_msg *late = num(10);
    ASSERT_ERR(vg_actor_send(&c.actor, &late->hdr), VG_ESTOPPED);
    free(late); /* a refused message stays the sender's */
    ASSERT_OK(vg_runtime_start(rt));
    ASSERT_OK(vg_runtime_quiesce(rt, 10000));
    vg_runtime_stop(rt);
    ASSERT_TRUE(c.stopped);
    ASSERT_EQ_U(c.got_at_stop, 10); /* on_stop ran after every accepted message */
    ASSERT_TRUE(c.order_ok);
    vg_runtime_free(rt);
}

/* Shutdown with work in flight: everything accepted is delivered before on_stop. */
VG_TEST(runtime_stop_drains_and_closes_handles)
{
    vg_runtime_t *rt = runtime(2);
    struct counter c[2] = {{.order_ok = true}, {.order_ok = true}};
    struct ticker k[2];
    memset(k, 0, sizeof(k));
    struct done done;
    done_init(&done);
    for (unsigned i = 0; i < 2; i++) {
        vg_actor_init(&c[i].actor, vg_runtime_loop(rt, i), &counter_ops, "c", 0);
        k[i].done = &done;
        vg_actor_init(&k[i].actor, vg_runtime_loop(rt, i), &ticker_stop_ops, "k", 0);
    }
    ASSERT_OK(vg_runtime_start(rt));
    for (unsigned i = 0; i < 2; i++)
        ASSERT_OK(vg_actor_send(&k[i].actor, &num(0)->hdr)); /* starts a repeating timer */
    for (uint64_t v = 0; v < 20000; v++)
        ASSERT_OK(vg_actor_send(&c[v % 2].actor, &num(v / 2)->hdr));
    /* Stop at once: the tickers' timers are still open and the counters still busy. */
    vg_runtime_stop(rt);
    for (unsigned i = 0; i < 2; i++) {
        ASSERT_TRUE(c[i].stopped);
        ASSERT_EQ_U(c[i].got_at_stop, 10000);
        ASSERT_TRUE(c[i].order_ok);
    }
    vg_runtime_free(rt); /* panics if any loop had an open handle */
    done_destroy(&done);
}

VG_TEST(actor_on_stop_closes_its_timer)
{
    vg_runtime_t *rt = runtime(1);
    struct done done;
    done_init(&done);
    struct ticker k = {.done = &done};
    vg_actor_init(&k.actor, vg_runtime_loop(rt, 0), &ticker_stop_ops, "t", 0);
    ASSERT_OK(vg_runtime_start(rt));
    ASSERT_OK(vg_actor_send(&k.actor, &num(0)->hdr));
    ASSERT_OK(vg_runtime_quiesce(rt, 10000));
    vg_runtime_stop(rt); /* the timer is open and repeating: on_stop must close it */
    vg_runtime_free(rt);
    done_destroy(&done);
}

struct call_arg {
    vg_loop_t *ran_on;
    int calls;
};

static void record_call(void *arg)
{
    struct call_arg *a = arg;
    a->ran_on = vg_loop_current();
    a->calls++;
}

VG_TEST(loop_call_wait_runs_on_the_loop)
{
    vg_runtime_t *rt = runtime(2);
    ASSERT_OK(vg_runtime_start(rt));
    struct call_arg a = {0};
    ASSERT_OK(vg_loop_call_wait(vg_runtime_loop(rt, 1), record_call, &a));
    ASSERT_EQ(a.calls, 1);
    ASSERT_EQ(a.ran_on, vg_runtime_loop(rt, 1));
    ASSERT_NULL(vg_loop_current());
    vg_runtime_stop(rt);
    ASSERT_ERR(vg_loop_call(vg_runtime_loop(rt, 1), record_call, &a), VG_ESTOPPED);
    vg_runtime_free(rt);
}

/* Many producers (two loops' actors and two plain threads) into one bounded mailbox. */
#define STRESS_THREADS 2
#define STRESS_PER     50000

struct ext_arg {
    vg_actor_t *to;
    uint64_t base;
    uint64_t full;
};

static void *ext_producer(void *arg)
{
    struct ext_arg *e = arg;
    for (uint64_t i = 0; i < STRESS_PER; i++) {
        struct num_msg *m = num(e->base + i);
        while (vg_actor_send(e->to, &m->hdr) == VG_EMAILBOX_FULL) {
            e->full++;
            struct timespec ts = {0, 10000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

struct summer {
    vg_actor_t actor;
    uint64_t sum;
    uint64_t got;
    struct done *done;
    uint64_t want;
};

static void summer_receive(vg_actor_t *self, vg_msg_t *msg)
{
    struct summer *s = vg_container_of(self, struct summer, actor);
    s->sum += ((struct num_msg *)msg)->value;
    free(msg);
    if (++s->got == s->want)
        done_signal(s->done);
}

static const vg_actor_ops_t summer_ops = {"summer", summer_receive, NULL};

VG_TEST(many_producers_one_bounded_mailbox)
{
    vg_runtime_t *rt = runtime(2);
    struct done done;
    done_init(&done);
    struct summer s = {.done = &done, .want = (uint64_t)STRESS_THREADS * STRESS_PER};
    vg_actor_init(&s.actor, vg_runtime_loop(rt, 1), &summer_ops, "sum", 64);
    ASSERT_OK(vg_runtime_start(rt));
    pthread_t th[STRESS_THREADS];
    struct ext_arg args[STRESS_THREADS];
    for (unsigned i = 0; i < STRESS_THREADS; i++) {
        args[i] = (struct ext_arg){.to = &s.actor, .base = (uint64_t)i * STRESS_PER};
        ASSERT_EQ(pthread_create(&th[i], NULL, ext_producer, &args[i]), 0);
    }
    for (unsigned i = 0; i < STRESS_THREADS; i++)
        pthread_join(th[i], NULL);
    done_wait(&done, 1);
    vg_runtime_stop(rt);
    uint64_t n = (uint64_t)STRESS_THREADS * STRESS_PER;
    ASSERT_EQ_U(s.got, n);
    ASSERT_EQ_U(s.sum, n * (n - 1) / 2);
    vg_actor_stats_t st;
    vg_actor_stats(&s.actor, &st);
    ASSERT_LE(st.high_water, 64);
    vg_runtime_free(rt);
    done_destroy(&done);
}

VG_TEST(runtime_never_started_frees_cleanly)
{
    vg_runtime_t *rt = runtime(3);
    ASSERT_EQ(vg_runtime_nloops(rt), 3);
    vg_runtime_free(rt);
    vg_runtime_free(NULL);
}
