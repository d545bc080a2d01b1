/* SPDX-License-Identifier: MIT */
/*
 * Loops, actors and message delivery; see actor.h for the model. Each loop owns a vg_wake_t
 * (an eventfd, woken by other threads when its MPSC inbox gets messages; not uv_async_t, whose
 * libuv 1.44 receiver spins while the sender is preempted, see wake.h) and a uv_idle_t (active
 * while its local FIFO has messages, so the loop polls without blocking and comes back to them). A
 * wake-up handles at most drain_batch remote and drain_batch local messages, then yields to
 * I/O. Mailbox counts are decremented once per actor per batch (or every FLUSH_EVERY
 * messages), not per message, so a busy cross-loop pair does not bounce the counter's cache
 * line on every message.
 *
 * Shutdown: a loop that gets SYS_STOP_LOOP stops its actors; when the last one has run its
 * on_stop, the loop closes its own two handles and uv_run returns once the actors' handles are
 * closed too. Loop memory and the wake-up's eventfd are freed only after every thread has been
 * joined, so a sender that is still inside vg_wake_send never touches freed memory.
 *
 * Thread: as marked in actor.h; static helpers run on the loop thread unless they say so.
 */
#define VG_LOG_MODULE "runtime"
#include "runtime/actor.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/error.h"
#include "runtime/event.h"
#include "runtime/logging.h"
#include "runtime/wake.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PENDING_CLOSED   0x80000000u
#define PENDING_MASK     0x7fffffffu
#define DEFAULT_CAPACITY 65536u
#define DEFAULT_DRAIN    1024u
#define MAX_WORKERS      256u

/* Mailbox counts are settled at the end of a batch, or sooner once this many (at most a
 * quarter of the capacity) are unsettled, so a sender never sees an actor much fuller than
 * it is. */
#define FLUSH_EVERY 64u

#define MSG_F_SYS   1u
#define MSG_F_REPLY 2u

enum sys_kind {
    SYS_STOP_ACTOR = 1,
    SYS_CALL = 2,
    SYS_STOP_LOOP = 3,
};

struct call_msg {
    vg_msg_t hdr;
    void (*fn)(void *arg);
    void *arg;
    vg_event_t *waiter; /* NULL: free the message after the call */
};

/* Hot fields sit on their own cache lines on purpose: the padding is intended. */
struct vg_loop { // NOLINT(clang-analyzer-optin.performance.Padding)
    uv_loop_t uv;
    vg_wake_t wake;
    uv_idle_t idle;
    vg_mpsc_t inbox;
    atomic_bool signaled VG_CACHELINE_ALIGNED; /* a wake-up is on its way */
    atomic_bool accepting;                     /* vg_loop_call allowed */
    vg_msg_t *local_head VG_CACHELINE_ALIGNED; /* FIFO of sends from this loop's thread */
    vg_msg_t *local_tail;
    vg_actor_t *dirty; /* actors with unflushed counts */
    vg_runtime_t *rt;
    unsigned index;
    bool closing;        /* SYS_STOP_LOOP handled */
    bool handles_closed; /* wake-up and idle closed */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock; /* guards `actors`: registration may come from any thread */
    vg_actor_t *actors;
    vg_msg_t stop_msg;
    uint64_t wakeups;
};

struct vg_runtime {
    unsigned nloops;
    unsigned drain_batch;
    bool started;
    bool stopped;
    vg_loop_t **loops;
};

static _Thread_local vg_loop_t *tls_loop;

static void enqueue(vg_loop_t *lp, vg_msg_t *m);
static void dispatch(vg_loop_t *lp);
static void deliver(vg_loop_t *lp, vg_msg_t *m);
static void flush_dirty(vg_loop_t *lp);
static void finish_stop(vg_loop_t *lp, vg_actor_t *a);
static void maybe_close_loop(vg_loop_t *lp);
static void on_wake(vg_wake_t *w);
static void on_idle(uv_idle_t *h);
static void *loop_thread(void *arg);
static unsigned default_workers(void);

/* ---- runtime lifecycle ---- */

int vg_runtime_new(const vg_runtime_opts_t *opts, vg_runtime_t **out)
{
    vg_runtime_opts_t def = {0};
    if (!opts)
        opts = &def;
    unsigned n = opts->workers ? opts->workers : default_workers();
    if (n > MAX_WORKERS)
        return VG_EINVAL;
    vg_runtime_t *rt = vg_xcalloc(1, sizeof(*rt));
    rt->drain_batch = opts->drain_batch ? opts->drain_batch : DEFAULT_DRAIN;
    rt->loops = vg_xcalloc(n, sizeof(vg_loop_t *));
    int rc = 0;
    for (unsigned i = 0; i < n; i++) {
        vg_loop_t *lp = vg_xcalloc(1, sizeof(*lp));
        lp->rt = rt;
        lp->index = i;
        vg_mpsc_init(&lp->inbox);
        atomic_init(&lp->signaled, false);
        atomic_init(&lp->accepting, true);
        pthread_mutex_init(&lp->lock, NULL);
        rc = uv_loop_init(&lp->uv);
        if (rc != 0) {
            free(lp);
            break;
        }
        /* Both handles are initialised before any thread runs the loop. */
        rc = vg_wake_init(&lp->uv, &lp->wake, on_wake);
        if (rc != 0) {
            (void)uv_loop_close(&lp->uv);
            free(lp);
            break;
        }
        rc = uv_idle_init(&lp->uv, &lp->idle);
        VG_CHECK(rc == 0);
        rt->loops[i] = lp;
        rt->nloops = i + 1;
    }
    if (rc != 0) {
        vg_runtime_free(rt);
        return rc;
    }
    *out = rt;
    return 0;
}

int vg_runtime_start(vg_runtime_t *rt)
{
    if (rt->started)
        return VG_EINVAL;
    rt->started = true;
    for (unsigned i = 0; i < rt->nloops; i++) {
        vg_loop_t *lp = rt->loops[i];
        int rc = pthread_create(&lp->thread, NULL, loop_thread, lp);
        if (rc != 0) {
            VG_LOG_ERROR("cannot start loop thread loop=%u err=%s", i, vg_strerror(-rc));
            vg_runtime_stop(rt);
            return -rc;
        }
        lp->thread_started = true;
    }
    return 0;
}

/* Every actor message is counted in its receiver's `pending` until handled, so the counts
 * alone say whether work is queued (the inbox itself is the loop thread's to inspect). */
static bool loop_idle_locked(vg_loop_t *lp)
{
    for (vg_actor_t *a = lp->actors; a; a = a->next) {
        if ((atomic_load_explicit(&a->pending, memory_order_acquire) & PENDING_MASK) != 0)
            return false;
    }
    return true;
}

int vg_runtime_quiesce(vg_runtime_t *rt, unsigned timeout_ms)
{
    uint64_t deadline = vg_clock_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
    for (;;) {
        bool idle = true;
        for (unsigned i = 0; i < rt->nloops && idle; i++) {
            vg_loop_t *lp = rt->loops[i];
            pthread_mutex_lock(&lp->lock);
            idle = loop_idle_locked(lp);
            pthread_mutex_unlock(&lp->lock);
        }
        if (idle)
            return 0;
        if (vg_clock_mono_ns() >= deadline)
            return VG_EBUSY;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

static void log_open_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    VG_LOG_ERROR("handle still open at loop close type=%s active=%d",
                 uv_handle_type_name(uv_handle_get_type(h)), uv_is_active(h));
}

void vg_runtime_stop(vg_runtime_t *rt)
{
    if (!rt || rt->stopped)
        return;
    rt->stopped = true;
    for (unsigned i = 0; i < rt->nloops; i++) {
        vg_loop_t *lp = rt->loops[i];
        if (!lp->thread_started) {
            /* Never ran: close the two handles here, on the only thread that touched them. */
            lp->closing = true;
            lp->handles_closed = true;
            vg_wake_close(&lp->wake, NULL);
            uv_close((uv_handle_t *)&lp->idle, NULL);
            (void)uv_run(&lp->uv, UV_RUN_DEFAULT); /* only runs the close callbacks */
            continue;
        }
        lp->stop_msg.flags = MSG_F_SYS;
        lp->stop_msg.type = SYS_STOP_LOOP;
        lp->stop_msg.to = NULL;
        enqueue(lp, &lp->stop_msg);
    }
    for (unsigned i = 0; i < rt->nloops; i++) {
        vg_loop_t *lp = rt->loops[i];
        if (lp->thread_started)
            pthread_join(lp->thread, NULL);
        lp->thread_started = false;
    }
    for (unsigned i = 0; i < rt->nloops; i++) {
        vg_loop_t *lp = rt->loops[i];
        if (uv_loop_close(&lp->uv) == UV_EBUSY) {
            uv_walk(&lp->uv, log_open_handle, NULL);
            VG_PANIC("loop closed with open handles loop=%u", i);
        }
    }
}

void vg_runtime_free(vg_runtime_t *rt)
{
    if (!rt)
        return;
    vg_runtime_stop(rt);
    for (unsigned i = 0; i < rt->nloops; i++) {
        pthread_mutex_destroy(&rt->loops[i]->lock);
        vg_wake_release(&rt->loops[i]->wake);
        free(rt->loops[i]);
    }
    free(rt->loops);
    free(rt);
}

unsigned vg_runtime_nloops(const vg_runtime_t *rt)
{
    return rt->nloops;
}

vg_loop_t *vg_runtime_loop(vg_runtime_t *rt, unsigned index)
{
    VG_CHECK(index < rt->nloops);
    return rt->loops[index];
}

/* ---- loops ---- */

uv_loop_t *vg_loop_uv(vg_loop_t *loop)
{
    return &loop->uv;
}

unsigned vg_loop_index(const vg_loop_t *loop)
{
    return loop->index;
}

vg_loop_t *vg_loop_current(void)
{
    return tls_loop;
}

static int loop_call(vg_loop_t *lp, void (*fn)(void *), void *arg, vg_event_t *w)
{
    if (!atomic_load_explicit(&lp->accepting, memory_order_acquire))
        return VG_ESTOPPED;
    struct call_msg *cm = vg_xcalloc(1, sizeof(*cm));
    cm->hdr.flags = MSG_F_SYS;
    cm->hdr.type = SYS_CALL;
    cm->fn = fn;
    cm->arg = arg;
    cm->waiter = w;
    enqueue(lp, &cm->hdr);
    return 0;
}

int vg_loop_call(vg_loop_t *loop, void (*fn)(void *arg), void *arg)
{
    return loop_call(loop, fn, arg, NULL);
}

int vg_loop_call_wait(vg_loop_t *loop, void (*fn)(void *arg), void *arg)
{
    VG_CHECK(tls_loop != loop);
    if (!loop->thread_started) {
        fn(arg); /* the loop is not running: this thread may use it */
        return 0;
    }
    vg_event_t w;
    vg_event_init(&w);
    int rc = loop_call(loop, fn, arg, &w);
    if (rc == 0)
        vg_event_wait(&w);
    vg_event_close(&w);
    return rc;
}

/* ---- actors ---- */

void vg_actor_init(vg_actor_t *actor, vg_loop_t *loop, const vg_actor_ops_t *ops, const char *name,
                   uint32_t capacity)
{
    memset(actor, 0, sizeof(*actor));
    VG_CHECK(capacity <= PENDING_MASK);
    atomic_init(&actor->pending, 0);
    atomic_init(&actor->rejected_full, 0);
    actor->capacity = capacity ? capacity : DEFAULT_CAPACITY;
    /* Small mailboxes settle sooner, so unsettled counts never fill more than a quarter. */
    actor->flush_every = actor->capacity / 4 < FLUSH_EVERY ? actor->capacity / 4 : FLUSH_EVERY;
    if (actor->flush_every == 0)
        actor->flush_every = 1;
    actor->ops = ops;
    actor->loop = loop;
    actor->name = name ? name : ops->kind;
    pthread_mutex_lock(&loop->lock);
    actor->next = loop->actors;
    if (loop->actors)
        loop->actors->prev = actor;
    loop->actors = actor;
    pthread_mutex_unlock(&loop->lock);
}

/* Takes one mailbox slot. `bounded`: refuse past capacity (replies are not bounded). */
static int reserve(vg_actor_t *to, bool bounded)
{
    uint32_t cur = atomic_load_explicit(&to->pending, memory_order_relaxed);
    do {
        if (cur & PENDING_CLOSED)
            return VG_ESTOPPED;
        if (bounded && cur >= to->capacity) {
            atomic_fetch_add_explicit(&to->rejected_full, 1, memory_order_relaxed);
            return VG_EMAILBOX_FULL;
        }
    } while (!atomic_compare_exchange_weak_explicit(&to->pending, &cur, cur + 1,
                                                    memory_order_acq_rel, memory_order_relaxed));
    return 0;
}

int vg_actor_send(vg_actor_t *to, vg_msg_t *msg)
{
    int rc = reserve(to, true);
    if (rc != 0)
        return rc;
    msg->to = to;
    msg->flags = 0;
    msg->reply_to = NULL;
    enqueue(to->loop, msg);
    return 0;
}

int vg_actor_request(vg_actor_t *from, vg_actor_t *to, vg_msg_t *msg, vg_reply_fn on_reply,
                     void *ctx)
{
    int rc = reserve(to, true);
    if (rc != 0)
        return rc;
    msg->to = to;
    msg->flags = 0;
    msg->reply_to = from;
    msg->on_reply = on_reply;
    msg->reply_ctx = ctx;
    enqueue(to->loop, msg);
    return 0;
}

int vg_actor_reply(vg_msg_t *request, vg_msg_t *reply)
{
    vg_actor_t *to = request->reply_to;
    VG_CHECK(to != NULL && request->on_reply != NULL);
    vg_reply_fn fn = request->on_reply;
    void *ctx = request->reply_ctx;
    int rc = reserve(to, false);
    if (rc != 0)
        return rc;
    reply->to = to;
    reply->flags = MSG_F_REPLY;
    reply->reply_to = NULL;
    reply->on_reply = fn;
    reply->reply_ctx = ctx;
    enqueue(to->loop, reply);
    return 0;
}

void vg_actor_stop(vg_actor_t *actor)
{
    uint32_t prev = atomic_fetch_or_explicit(&actor->pending, PENDING_CLOSED, memory_order_acq_rel);
    if (prev & PENDING_CLOSED)
        return;
    actor->stop_msg.flags = MSG_F_SYS;
    actor->stop_msg.type = SYS_STOP_ACTOR;
    actor->stop_msg.to = actor;
    enqueue(actor->loop, &actor->stop_msg);
}

void vg_actor_stats(const vg_actor_t *actor, vg_actor_stats_t *out)
{
    out->received = actor->received;
    out->rejected_full = atomic_load_explicit(&actor->rejected_full, memory_order_relaxed);
    out->queued = atomic_load_explicit(&actor->pending, memory_order_relaxed) & PENDING_MASK;
    out->capacity = actor->capacity;
    out->high_water = actor->high_water;
}

/* ---- timers ---- */

static void on_timer(uv_timer_t *h)
{
    vg_timer_t *t = vg_container_of(h, vg_timer_t, handle);
    t->fn(t->actor, t);
}

static void on_timer_closed(uv_handle_t *h)
{
    vg_timer_t *t = vg_container_of((uv_timer_t *)h, vg_timer_t, handle);
    if (t->on_closed)
        t->on_closed(t);
}

void vg_timer_init(vg_actor_t *actor, vg_timer_t *timer)
{
    memset(timer, 0, sizeof(*timer));
    timer->actor = actor;
    int rc = uv_timer_init(&actor->loop->uv, &timer->handle);
    VG_CHECK(rc == 0); /* cannot fail on Unix */
}

void vg_timer_start(vg_timer_t *timer, uint64_t timeout_ms, uint64_t repeat_ms, vg_timer_fn fn)
{
    timer->fn = fn;
    int rc = uv_timer_start(&timer->handle, on_timer, timeout_ms, repeat_ms);
    VG_CHECK(rc == 0); /* only fails for a closing handle: a caller bug */
}

void vg_timer_stop(vg_timer_t *timer)
{
    (void)uv_timer_stop(&timer->handle); /* always 0 */
}

void vg_timer_close(vg_timer_t *timer, void (*on_closed)(vg_timer_t *timer))
{
    timer->on_closed = on_closed;
    uv_close((uv_handle_t *)&timer->handle, on_timer_closed);
}

/* ---- delivery ---- */

/* Thread: any. */
static void enqueue(vg_loop_t *lp, vg_msg_t *m)
{
    if (tls_loop == lp) {
        atomic_store_explicit(&m->node.next, NULL, memory_order_relaxed);
        if (lp->local_tail) {
            atomic_store_explicit(&lp->local_tail->node.next, &m->node, memory_order_relaxed);
        } else {
            lp->local_head = m;
            (void)uv_idle_start(&lp->idle, on_idle); /* 0, or already active */
        }
        lp->local_tail = m;
        return;
    }
    vg_mpsc_push(&lp->inbox, &m->node);
    if (!atomic_exchange_explicit(&lp->signaled, true, memory_order_acq_rel))
        vg_wake_send(&lp->wake);
}

static vg_msg_t *local_pop(vg_loop_t *lp)
{
    vg_msg_t *m = lp->local_head;
    if (!m)
        return NULL;
    vg_mpsc_node_t *next = atomic_load_explicit(&m->node.next, memory_order_relaxed);
    lp->local_head = next ? vg_container_of(next, vg_msg_t, node) : NULL;
    if (!lp->local_head)
        lp->local_tail = NULL;
    return m;
}

static void dispatch(vg_loop_t *lp)
{
    unsigned batch = lp->rt->drain_batch;
    lp->wakeups++;
    /* Clear before popping: a producer that finds the flag set has already linked its node. */
    atomic_store_explicit(&lp->signaled, false, memory_order_seq_cst);
    unsigned n = 0;
    for (; n < batch; n++) {
        vg_mpsc_node_t *node = vg_mpsc_pop(&lp->inbox);
        if (!node)
            break;
        deliver(lp, vg_container_of(node, vg_msg_t, node));
    }
    for (unsigned k = 0; k < batch; k++) {
        vg_msg_t *m = local_pop(lp);
        if (!m)
            break;
        deliver(lp, m);
    }
    flush_dirty(lp);
    if (n == batch && !atomic_exchange_explicit(&lp->signaled, true, memory_order_acq_rel))
        vg_wake_send(&lp->wake); /* more may be waiting: come back after I/O */
    if (!lp->handles_closed) {
        if (lp->local_head)
            (void)uv_idle_start(&lp->idle, on_idle);
        else
            (void)uv_idle_stop(&lp->idle);
    }
    maybe_close_loop(lp);
}

static void mark_dirty(vg_loop_t *lp, vg_actor_t *a)
{
    a->received++;
    if (++a->unflushed >= a->flush_every && !a->stop_requested) {
        /* Settle now; the actor may stay on the dirty list with a zero count. */
        atomic_fetch_sub_explicit(&a->pending, a->unflushed, memory_order_acq_rel);
        a->unflushed = 0;
    }
    if (!a->dirty) {
        a->dirty = true;
        a->dirty_next = lp->dirty;
        lp->dirty = a;
    }
}

static void handle_sys(vg_loop_t *lp, vg_msg_t *m)
{
    switch (m->type) {
    case SYS_STOP_ACTOR: {
        vg_actor_t *a = m->to;
        a->stop_requested = true;
        flush_dirty(lp);
        if (!a->stopped &&
            (atomic_load_explicit(&a->pending, memory_order_acquire) & PENDING_MASK) == 0)
            finish_stop(lp, a);
        break;
    }
    case SYS_CALL: {
        struct call_msg *cm = (struct call_msg *)m;
        cm->fn(cm->arg);
        if (cm->waiter)
            vg_event_set(cm->waiter);
        free(cm);
        break;
    }
    case SYS_STOP_LOOP: {
        lp->closing = true;
        atomic_store_explicit(&lp->accepting, false, memory_order_release);
        pthread_mutex_lock(&lp->lock);
        for (vg_actor_t *a = lp->actors; a; a = a->next)
            vg_actor_stop(a);
        pthread_mutex_unlock(&lp->lock);
        break;
    }
    default:
        VG_PANIC("unknown system message type=%u", m->type);
    }
}

static void deliver(vg_loop_t *lp, vg_msg_t *m)
{
    uint32_t flags = m->flags;
    if (flags & MSG_F_SYS) {
        handle_sys(lp, m);
        return;
    }
    vg_actor_t *a = m->to;
    uint32_t queued = atomic_load_explicit(&a->pending, memory_order_relaxed) & PENDING_MASK;
    if (queued > a->high_water)
        a->high_water = queued;
    if (flags & MSG_F_REPLY)
        m->on_reply(a, m, m->reply_ctx);
    else
        a->ops->receive(a, m);
    mark_dirty(lp, a);
}

static void flush_dirty(vg_loop_t *lp)
{
    vg_actor_t *a;
    while ((a = lp->dirty) != NULL) {
        lp->dirty = a->dirty_next;
        a->dirty = false;
        uint32_t n = a->unflushed;
        a->unflushed = 0;
        uint32_t prev = atomic_fetch_sub_explicit(&a->pending, n, memory_order_acq_rel);
        if (a->stop_requested && !a->stopped && ((prev - n) & PENDING_MASK) == 0)
            finish_stop(lp, a);
    }
}

static void finish_stop(vg_loop_t *lp, vg_actor_t *a)
{
    a->stopped = true;
    pthread_mutex_lock(&lp->lock);
    if (a->prev)
        a->prev->next = a->next;
    else
        lp->actors = a->next;
    if (a->next)
        a->next->prev = a->prev;
    a->prev = a->next = NULL;
    pthread_mutex_unlock(&lp->lock);
    VG_LOG_DEBUG("actor stopped kind=%s name=%s received=%llu", a->ops->kind, a->name,
                 (unsigned long long)a->received);
    if (a->ops->on_stop)
        a->ops->on_stop(a); /* may free `a` */
}

static void maybe_close_loop(vg_loop_t *lp)
{
    if (!lp->closing || lp->handles_closed)
        return;
    pthread_mutex_lock(&lp->lock);
    bool empty = lp->actors == NULL;
    pthread_mutex_unlock(&lp->lock);
    if (!empty || lp->local_head || !vg_mpsc_empty(&lp->inbox))
        return;
    lp->handles_closed = true;
    vg_wake_close(&lp->wake, NULL);
    uv_close((uv_handle_t *)&lp->idle, NULL);
}

static void on_wake(vg_wake_t *w)
{
    dispatch(vg_container_of(w, vg_loop_t, wake));
}

static void on_idle(uv_idle_t *h)
{
    dispatch(vg_container_of(h, vg_loop_t, idle));
}

static void *loop_thread(void *arg)
{
    vg_loop_t *lp = arg;
    tls_loop = lp;
    int rc = uv_run(&lp->uv, UV_RUN_DEFAULT);
    VG_LOG_DEBUG("loop exited loop=%u alive=%d wakeups=%llu", lp->index, rc,
                 (unsigned long long)lp->wakeups);
    tls_loop = NULL;
    return NULL;
}

static unsigned default_workers(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1u;
}
