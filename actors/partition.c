/* SPDX-License-Identifier: MIT */
/*
 * The partition actor; see partition.h. Opening is synchronous on the loop at start-up
 * (recovery must finish before the engine says it is ready). The failure reason of an open
 * is written once before the engine starts serving and only read afterwards; a later log
 * failure is read through vg_seglog_failed, which is thread-safe.
 * Thread: its loop; vg_partition_status any.
 */
#define VG_LOG_MODULE "partition"
#include "actors/partition.h"
#include "actors/txcodec.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/error.h"
#include "runtime/logging.h"
#include "runtime/recent.h"
#include "storage/datadir.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOUSEKEEPING_MS 1000u
/* The sweeps run in slices, one per tick of TICK_MS, so that a slice stops the loop for well
 * under a millisecond: 4,096 profiles at once took 0.3-0.9 ms (2.4 ms while each was decoded
 * whole), and every request that came meanwhile waited. */
#define TICK_MS        125u
#define SWEEP_ACCOUNTS 512u /* account profiles checked for the time-to-live per tick */
/* Index entries checked per tick while retention has left some behind: twice the records
 * appended since the last tick, so a pass keeps up with the inserts, within these bounds (the
 * upper one bounds the tick's pause, at the price of a larger index under a heavier sustained
 * load). */
#define SWEEP_INDEX_MIN 2048u
#define SWEEP_INDEX_MAX 4096u

struct vg_partition {
    vg_actor_t actor;
    vg_seglog_t *log;
    vg_seglog_t *declog; /* decisions: derived, synced with the state */
    vg_decider_t *decider;
    vg_state_t *state;
    vg_gcommit_t *gc;
    vg_timer_t timer; /* every TICK_MS: sweeps; every HOUSEKEEPING_MS also roll by age,
                         retention, state sync */
    unsigned ticks;
    uv_work_t sync_work; /* vg_state_sync on the libuv threadpool */
    uint64_t sync_every_ms;
    uint64_t since_sync_ms;
    uint64_t swept_at_next;        /* the log's next offset at the last index sweep */
    vg_append_msg_t *pending_head; /* appended, waiting for durability, in offset order */
    vg_append_msg_t *pending_tail;
    /* Appends received this loop turn, written with one vg_seglog_append when the turn's
     * I/O is done (one write(2) for every request the turn brought, not one each); their
     * records, in order, in recs. */
    vg_append_msg_t *staged_head;
    vg_append_msg_t *staged_tail;
    vg_seglog_rec_t *recs;
    size_t nrecs;
    size_t recs_cap;
    vg_pipe_item_t *batch;
    size_t batch_cap;
    vg_recent_t *recent; /* ids decided lately (added here, read by ingest on any loop) */
    const char **ids;    /* [batch_cap]: a batch's ids, for adding to `recent` */
    /* counters for the summary logged at close */
    uint64_t writes;      /* vg_seglog_append calls of staged records */
    uint64_t written;     /* records they appended */
    uint64_t batches;     /* decider batches */
    uint64_t batch_items; /* records in them */
    /* merchant outbox: per owner, deltas not yet acknowledged, oldest first; at most one
     * message in flight per owner, so an owner sees a source's deltas in offset order */
    vg_partition_t **peers;      /* set once every partition is open */
    struct merchant_msg *inbox;  /* merchant deltas received this loop turn (owner side) */
    struct merchant_msg *riding; /* inbox messages applied in the decider batch committing */
    uv_check_t turn_check; /* after the turn's I/O: writes the staged appends, applies the inbox */
    uv_idle_t turn_nudge;  /* active meanwhile, so the turn's poll does not block (see below) */
    bool check_started;
    struct outq *outq; /* [count] */
    unsigned npeers;
    unsigned count;
    unsigned index;
    uint64_t max_waiting_labels;    /* 0: no limit */
    _Atomic int64_t full_logged_ms; /* when "too many waiting labels" was last logged */
    uint64_t recent_ids;            /* what `recent` holds at least */
    bool retains;                   /* log retention is on: decisions go with their records */
    uint64_t decl_seen_base;        /* the oldest decision segment scanned, + 1 (0: none) */
    uint64_t decl_seen_max;         /* the newest transaction offset its decisions name */
    int open_rc;
    _Atomic int apply_rc;     /* an apply failed: the partition stopped (apply_why set first) */
    _Atomic unsigned waiting; /* appends accepted, not yet answered (read by shutdown) */
    bool timer_started;
    bool syncing;
    bool stopping; /* on_stop ran: finish once the sync work is back */
    char apply_why[256];
    char open_why[PATH_MAX + 256];
};

struct outq {
    vg_mdelta_t *d;
    size_t head;
    size_t len;
    size_t cap;
    bool in_flight;
};

/* A batch of merchant deltas for their owner; malloc'd by the source, freed by it on the
 * reply, or by the owner when the source has stopped. */
struct merchant_msg {
    vg_msg_t hdr;
    struct merchant_msg *next_in; /* the owner's inbox */
    unsigned src;
    unsigned owner;
    int status;
    size_t n;
    vg_mdelta_t d[];
};

#define OUTBOX_CHUNK 1024
#define FULL_LOG_MS  60000 /* "labels refused" is logged at most this often per partition */
#define REFILL_CHUNK 1024  /* decisions unpacked per call of vg_recent_add_many */

static void outq_push(vg_partition_t *p, const vg_mdelta_t *d);
static int decide(vg_partition_t *p, vg_pipe_item_t *items, size_t n, uint64_t next_offset);
static void send_outbox(vg_partition_t *p);

static void answer(vg_append_msg_t *m, int status)
{
    m->status = status;
    if (vg_actor_reply(&m->hdr, &m->hdr) != 0)
        VG_LOG_WARN("append answered to a stopped requester");
}

/* Copies a message's decisions back from the batch, and its packed decisions (borrowed from
 * the decider until its next batch) into one block for the requester: one allocation per
 * message, not one per transaction freed on another thread. */
static void copy_back(vg_append_msg_t *m, const vg_pipe_item_t *from, bool ok)
{
    size_t bytes = 0;
    for (size_t i = 0; ok && i < m->n; i++)
        bytes += from[i].packed ? from[i].packed_len : 0;
    uint8_t *block = bytes ? vg_xmalloc(bytes) : NULL;
    size_t used = 0;
    for (size_t i = 0; i < m->n; i++) {
        vg_pipe_item_t *it = &m->items[i];
        it->decision = from[i].decision;
        it->packed = NULL;
        it->packed_len = 0;
        if (block && from[i].packed) {
            memcpy(block + used, from[i].packed, from[i].packed_len);
            it->packed = block + used;
            it->packed_len = from[i].packed_len;
            used += from[i].packed_len;
        }
    }
    m->packed = block;
}

/* Applies every durable message's items in one decider batch (one model call, one state
 * commit), copies the decisions back, and answers. */
static void apply_and_answer(vg_partition_t *p, vg_append_msg_t *head, vg_append_msg_t *stop)
{
    size_t n = 0;
    for (vg_append_msg_t *m = head; m != stop; m = m->next_pending)
        n += m->n;
    if (n > p->batch_cap) {
        p->batch_cap = n;
        p->batch = vg_xrealloc(p->batch, n * sizeof(*p->batch));
        p->ids = vg_xrealloc(p->ids, n * sizeof(*p->ids));
    }
    size_t k = 0;
    for (vg_append_msg_t *m = head; m != stop; m = m->next_pending)
        for (size_t i = 0; i < m->n; i++) {
            p->batch[k] = m->items[i];
            p->batch[k++].offset = m->first_offset + i;
        }
    int rc = atomic_load_explicit(&p->apply_rc, memory_order_relaxed);
    if (rc == 0) {
        rc = decide(p, p->batch, n, head ? p->batch[n - 1].offset + 1 : 0);
        if (rc != 0) {
            snprintf(p->apply_why, sizeof(p->apply_why), "applying offsets %llu..%llu: %s",
                     (unsigned long long)p->batch[0].offset,
                     (unsigned long long)p->batch[n - 1].offset, vg_strerror(rc));
            atomic_store_explicit(&p->apply_rc, rc, memory_order_release);
            VG_LOG_ERROR("partition stops partition=%u why=%s", p->index, p->apply_why);
        }
    }
    if (rc == 0) {
        size_t nids = 0;
        for (size_t i = 0; p->recent && i < n; i++) {
            const vg_pipe_item_t *it = &p->batch[i];
            if (it->tx && it->decision.applied) /* decided now, or a replay: indexed */
                p->ids[nids++] = it->tx->transaction_id;
        }
        vg_recent_add_many(p->recent, p->ids, nids);
        size_t nd = 0;
        const vg_mdelta_t *deltas = vg_decider_deltas(p->decider, &nd);
        for (size_t i = 0; i < nd; i++)
            outq_push(p, &deltas[i]);
        send_outbox(p);
    }
    k = 0;
    vg_append_msg_t *m = head;
    while (m != stop) {
        vg_append_msg_t *next = m->next_pending;
        copy_back(m, p->batch + k, rc == 0);
        k += m->n;
        answer(m, rc);
        atomic_fetch_sub_explicit(&p->waiting, 1, memory_order_release);
        m = next;
    }
}

/* Group commit completion: apply and acknowledge every append that is now durable; fail the
 * rest when the log failed. */
static void on_durable(void *ctx, uint64_t durable, int status)
{
    vg_partition_t *p = ctx;
    if (status != 0)
        VG_LOG_ERROR("partition stops accepting writes partition=%u durable=%llu err=%s", p->index,
                     (unsigned long long)durable, vg_strerror(status));
    vg_append_msg_t *head = p->pending_head;
    vg_append_msg_t *cut = head;
    while (cut && cut->last_offset < durable)
        cut = cut->next_pending;
    p->pending_head = cut;
    if (!cut)
        p->pending_tail = NULL;
    if (head != cut)
        apply_and_answer(p, head, cut);
    if (status == 0)
        return;
    while (p->pending_head) {
        vg_append_msg_t *m = p->pending_head;
        p->pending_head = m->next_pending;
        answer(m, status);
        atomic_fetch_sub_explicit(&p->waiting, 1, memory_order_release);
    }
    p->pending_tail = NULL;
}

/* ---- the merchant outbox ---- */

static void outq_push(vg_partition_t *p, const vg_mdelta_t *d)
{
    if (d->owner >= p->count)
        return;
    struct outq *q = &p->outq[d->owner];
    if (q->head + q->len == q->cap) {
        if (q->head > 0) {
            memmove(q->d, q->d + q->head, q->len * sizeof(*q->d));
            q->head = 0;
        } else {
            q->cap = q->cap ? q->cap * 2 : 256;
            q->d = vg_xrealloc(q->d, q->cap * sizeof(*q->d));
        }
    }
    q->d[q->head + q->len++] = *d;
}

static void on_merchant_reply(vg_actor_t *self, vg_msg_t *reply, void *ctx)
{
    (void)ctx;
    vg_partition_t *p = vg_container_of(self, vg_partition_t, actor);
    struct merchant_msg *m = (struct merchant_msg *)reply;
    struct outq *q = &p->outq[m->owner];
    q->in_flight = false;
    if (m->status == 0) {
        for (size_t i = 0; i < m->n; i++)
            if (i == 0 || m->d[i].record != m->d[i - 1].record)
                vg_decider_forget(p->decider, m->owner, m->d[i].record); /* sent whole */
        q->head += m->n;
        q->len -= m->n;
        if (q->len == 0)
            q->head = 0;
    } else {
        VG_LOG_WARN("merchant deltas refused partition=%u owner=%u err=%s (kept, retried)",
                    p->index, m->owner, vg_strerror(m->status));
    }
    int status = m->status;
    free(m);
    if (status == 0)
        send_outbox(p);
}

/* Sends the oldest deltas of every owner that has none in flight. A refused send (a full
 * mailbox) stays queued for the next batch or housekeeping tick. */
static void send_outbox(vg_partition_t *p)
{
    if (!p->peers)
        return;
    for (unsigned o = 0; o < p->count; o++) {
        struct outq *q = &p->outq[o];
        if (q->in_flight || q->len == 0 || !p->peers[o])
            continue;
        size_t n = q->len < OUTBOX_CHUNK ? q->len : OUTBOX_CHUNK;
        while (n < q->len && q->d[q->head + n].record == q->d[q->head + n - 1].record)
            n++; /* whole records only: an acknowledgement deletes the records it covers */
        struct merchant_msg *m = vg_xcalloc(1, sizeof(*m) + n * sizeof(m->d[0]));
        m->hdr.type = VG_PARTITION_MSG_MERCHANT;
        m->src = p->index;
        m->owner = o;
        m->n = n;
        memcpy(m->d, q->d + q->head, n * sizeof(m->d[0]));
        if (vg_actor_request(&p->actor, vg_partition_actor(p->peers[o]), &m->hdr, on_merchant_reply,
                             NULL) != 0) {
            free(m);
            continue;
        }
        q->in_flight = true;
    }
}

/* Answers the merchant messages of `list` with rc (0: their deltas are committed). */
static void answer_merchant(vg_partition_t *p, struct merchant_msg *list, int rc)
{
    if (rc != 0 && list)
        VG_LOG_WARN("merchant deltas not applied partition=%u err=%s (the sources resend)",
                    p->index, vg_strerror(rc));
    while (list) {
        struct merchant_msg *m = list;
        list = m->next_in;
        m->status = rc;
        if (vg_actor_reply(&m->hdr, &m->hdr) != 0)
            free(m); /* the source stopped: its outbox resends after a restart */
    }
}

/* The owner side: applies the deltas of every message in `list` to batch b, each with its
 * source's high-water. */
static int apply_merchant(vg_state_batch_t *b, const struct merchant_msg *list)
{
    int rc = 0;
    for (const struct merchant_msg *m = list; m && rc == 0; m = m->next_in)
        rc = vg_merchant_apply_batch(b, m->src, m->d, m->n, NULL);
    return rc;
}

/* The decider's hook: the merchant deltas received so far ride in its batch. Not while
 * earlier riders wait for their answer (a replay commits several batches in one call): those
 * are answered first, and the newer ones ride next time or in their own transaction. */
static int ride_inbox(void *ctx, vg_state_batch_t *b)
{
    vg_partition_t *p = ctx;
    if (p->riding)
        return 0;
    p->riding = p->inbox;
    p->inbox = NULL;
    return apply_merchant(b, p->riding);
}

/* After each decider batch (or replay): answers the merchant messages that rode in it. */
static void answer_riding(vg_partition_t *p, int rc)
{
    struct merchant_msg *list = p->riding;
    p->riding = NULL;
    answer_merchant(p, list, rc);
}

/* A decider batch, and the answer to the merchant messages that rode in it. */
static int decide(vg_partition_t *p, vg_pipe_item_t *items, size_t n, uint64_t next_offset)
{
    int rc = vg_decider_apply(p->decider, items, n, next_offset);
    p->batches++;
    p->batch_items += n;
    answer_riding(p, rc);
    return rc;
}

/* What arrived in a loop turn without a decider batch to ride in: its own transaction. */
static void apply_inbox(vg_partition_t *p)
{
    struct merchant_msg *list = p->inbox;
    p->inbox = NULL;
    if (!list)
        return;
    int rc = p->open_rc;
    vg_state_batch_t *b = rc == 0 ? vg_state_batch_begin(p->state) : NULL;
    if (b)
        rc = apply_merchant(b, list);
    if (b && rc == 0)
        rc = vg_state_batch_commit(b, VG_STATE_KEEP_APPLIED);
    else if (b)
        vg_state_batch_abort(b);
    answer_merchant(p, list, rc);
}

/* Appends m to a list linked through next_pending. */
static void queue_push(vg_append_msg_t **head, vg_append_msg_t **tail, vg_append_msg_t *m)
{
    m->next_pending = NULL;
    if (*tail)
        (*tail)->next_pending = m;
    else
        *head = m;
    *tail = m;
}

/* Appends the staged messages' records in one write and asks for their durability. */
static void write_staged(vg_partition_t *p)
{
    vg_append_msg_t *m = p->staged_head;
    p->staged_head = p->staged_tail = NULL;
    if (!m)
        return;
    uint64_t first = 0;
    int rc = atomic_load_explicit(&p->apply_rc, memory_order_relaxed) != 0 ? VG_EREADONLY : 0;
    if (rc == 0)
        rc = vg_seglog_append(p->log, p->recs, p->nrecs, &first);
    if (rc == 0) {
        p->writes++;
        p->written += p->nrecs;
    }
    p->nrecs = 0;
    while (m) {
        vg_append_msg_t *next = m->next_pending;
        if (rc != 0) {
            answer(m, rc);
            atomic_fetch_sub_explicit(&p->waiting, 1, memory_order_release);
        } else {
            m->first_offset = first;
            m->last_offset = first + m->n - 1;
            first += m->n;
            queue_push(&p->pending_head, &p->pending_tail, m);
        }
        m = next;
    }
    if (rc == 0)
        vg_gcommit_request(p->gc);
}

static void on_turn_end(uv_check_t *h)
{
    vg_partition_t *p = vg_container_of(h, vg_partition_t, turn_check);
    uv_check_stop(h);
    uv_idle_stop(&p->turn_nudge);
    write_staged(p);
    apply_inbox(p);
}

static void on_nudge(uv_idle_t *h)
{
    (void)h; /* being active is its job */
}

/* Messages arrive in the poll phase (from other loops) or in the idle phase (from this loop's
 * own FIFO). The check runs after the poll, but a poll blocks (up to the next timer: a
 * second) unless an idle handle is active: without the nudge a message from this loop would
 * wait for unrelated I/O. */
static void start_turn_check(vg_partition_t *p)
{
    if (!p->check_started) {
        uv_check_init(vg_loop_uv(p->actor.loop), &p->turn_check);
        uv_idle_init(vg_loop_uv(p->actor.loop), &p->turn_nudge);
        p->check_started = true;
    }
    uv_check_start(&p->turn_check, on_turn_end);
    uv_idle_start(&p->turn_nudge, on_nudge);
}

static void receive_merchant(vg_partition_t *p, struct merchant_msg *m)
{
    m->next_in = p->inbox;
    p->inbox = m;
    start_turn_check(p);
}

/* Where the decider reads merchant profiles: the owner's state. */
static vg_state_t *merchant_state(void *ctx, unsigned owner)
{
    vg_partition_t *p = ctx;
    if (!p->peers || owner >= p->npeers || !p->peers[owner])
        return NULL; /* before vg_partition_start: no partition reads another yet */
    return vg_partition_state(p->peers[owner]);
}

static void finish_close(void *arg)
{
    vg_partition_t *p = arg;
    vg_decider_free(p->decider);
    vg_seglog_close(p->declog);
    vg_seglog_close(p->log);
    vg_state_close(p->state);
    free(p->recs);
    free(p->batch);
    vg_recent_free(p->recent);
    free(p->ids);
    for (unsigned o = 0; p->outq && o < p->count; o++)
        free(p->outq[o].d);
    free(p->outq);
    free(p);
}

/* The only message today: append a batch; it is answered once durable and applied. */
static void partition_receive(vg_actor_t *self, vg_msg_t *msg)
{
    vg_partition_t *p = vg_container_of(self, vg_partition_t, actor);
    if (msg->type == VG_PARTITION_MSG_MERCHANT) {
        receive_merchant(p, (struct merchant_msg *)msg);
        return;
    }
    vg_append_msg_t *m = (vg_append_msg_t *)msg;
    if (p->open_rc != 0 || atomic_load_explicit(&p->apply_rc, memory_order_relaxed) != 0 ||
        m->n == 0) {
        answer(m, m->n == 0 ? VG_EINVAL : VG_EREADONLY);
        return;
    }
    if (p->nrecs + m->n > p->recs_cap) {
        p->recs_cap = (p->nrecs + m->n) * 2;
        p->recs = vg_xrealloc(p->recs, p->recs_cap * sizeof(*p->recs));
    }
    for (size_t i = 0; i < m->n; i++)
        p->recs[p->nrecs++] = m->items[i].rec; /* the payloads live until m is answered */
    queue_push(&p->staged_head, &p->staged_tail, m);
    atomic_fetch_add_explicit(&p->waiting, 1, memory_order_relaxed);
    start_turn_check(p);
}

vg_actor_t *vg_partition_actor(vg_partition_t *p)
{
    return &p->actor;
}

/* What the partition did while it ran, for tuning the group commit and the batches. */
static void log_summary(const vg_partition_t *p)
{
    if (!p->gc)
        return;
    vg_gcommit_stats_t st;
    vg_gcommit_stats(p->gc, &st);
    VG_LOG_INFO("partition closing partition=%u records=%llu writes=%llu syncs=%llu "
                "sync_ms_p50=%.3f sync_ms_p99=%.3f sync_gap_ms_p50=%.3f batches=%llu "
                "records_per_batch=%.1f unwaited=%llu",
                p->index, (unsigned long long)p->written, (unsigned long long)p->writes,
                (unsigned long long)st.syncs, (double)vg_histogram_quantile(&st.sync_ns, 0.5) / 1e6,
                (double)vg_histogram_quantile(&st.sync_ns, 0.99) / 1e6,
                (double)vg_histogram_quantile(&st.gap_ns, 0.5) / 1e6,
                (unsigned long long)p->batches,
                p->batches ? (double)p->batch_items / (double)p->batches : 0.0,
                (unsigned long long)st.unwaited);
}

static void close_storage(vg_partition_t *p)
{
    log_summary(p);
    if (p->gc)
        vg_gcommit_close(p->gc, finish_close, p); /* frees p once its async handle closed */
    else
        finish_close(p);
}

static void on_timer_closed(vg_timer_t *t)
{
    vg_partition_t *p = vg_container_of(t, vg_partition_t, timer);
    if (!p->syncing)
        close_storage(p); /* else the sync's completion does it */
}

static void partition_on_stop(vg_actor_t *self)
{
    vg_partition_t *p = vg_container_of(self, vg_partition_t, actor);
    p->stopping = true;
    if (p->check_started) {
        on_turn_end(&p->turn_check);                   /* what arrived in the last turn */
        uv_close((uv_handle_t *)&p->turn_check, NULL); /* closed before the timer's callback */
        uv_close((uv_handle_t *)&p->turn_nudge, NULL);
    }
    if (p->timer_started)
        vg_timer_close(&p->timer, on_timer_closed);
    else
        close_storage(p);
}

/* Runs on the libuv threadpool: LMDB's sync blocks, so never on the loop. */
static void do_state_sync(uv_work_t *w)
{
    vg_partition_t *p = vg_container_of(w, vg_partition_t, sync_work);
    /* Decisions first: the synced state never points past the synced decision log. */
    int rc = vg_seglog_sync(p->declog);
    if (rc != 0)
        VG_LOG_WARN("decision log sync failed partition=%u err=%s", p->index, vg_strerror(rc));
    rc = vg_state_sync(p->state);
    if (rc != 0)
        VG_LOG_WARN("state sync failed partition=%u err=%s", p->index, vg_strerror(rc));
}

static void after_state_sync(uv_work_t *w, int status)
{
    (void)status;
    vg_partition_t *p = vg_container_of(w, vg_partition_t, sync_work);
    p->syncing = false;
    if (p->stopping)
        close_storage(p); /* the timer closed while we synced */
}

/* Drops the profiles of accounts idle past the time-to-live, SWEEP_ACCOUNTS per tick, and the
 * index entries of transactions retention deleted. About 0.1 ms a tick. */
static void sweep(vg_partition_t *p)
{
    size_t dropped = 0;
    if (vg_decider_sweep(p->decider, SWEEP_ACCOUNTS, &dropped) != 0)
        VG_LOG_WARN("idle account sweep failed partition=%u (tried again next tick)", p->index);
    else if (dropped)
        VG_LOG_INFO("idle accounts dropped partition=%u count=%zu", p->index, dropped);
    uint64_t next = vg_seglog_next_offset(p->log);
    uint64_t grew = next - p->swept_at_next;
    size_t max = grew > SWEEP_INDEX_MAX / 2   ? SWEEP_INDEX_MAX
                 : grew * 2 < SWEEP_INDEX_MIN ? SWEEP_INDEX_MIN
                                              : (size_t)grew * 2;
    p->swept_at_next = next;
    if (vg_decider_sweep_index(p->decider, max, &dropped) != 0)
        VG_LOG_WARN("index sweep failed partition=%u (tried again next tick)", p->index);
    else if (dropped)
        VG_LOG_INFO("index entries of deleted segments dropped partition=%u count=%zu", p->index,
                    dropped);
}

/* The newest transaction offset the decisions in [base, next) of the decision log name. */
static int decisions_newest_tx(vg_partition_t *p, uint64_t base, uint64_t next, uint64_t *out)
{
    vg_seglog_reader_t *r = NULL;
    int rc = vg_seglog_reader_open(p->declog, base, &r);
    vg_seglog_view_t v;
    uint64_t seen = 0; /* every record of the segment must be read, or it stays */
    *out = 0;
    while (rc == 0 && seen < next - base && (rc = vg_seglog_reader_next(r, &v)) == 0) {
        uint64_t tx = 0; /* absent: 0, as proto3 leaves a zero out (the record's CRC held) */
        (void)vg_pb_peek_varint((vg_bytes_t){v.payload, v.len}, 3 /* Decision.offset */, &tx);
        *out = tx > *out ? tx : *out;
        seen++;
    }
    if (r)
        vg_seglog_reader_close(r);
    return rc == 0 && seen == next - base ? 0 : rc != 0 ? rc : VG_ECORRUPT;
}

#define DECL_DROPS 256 /* decision segments dropped per housekeeping tick at most */

/* The newest transaction offset the oldest decision segment [base, next) names: read once,
 * then remembered while that segment stays. False when it cannot be read. */
static bool oldest_decisions_newest_tx(vg_partition_t *p, uint64_t base, uint64_t next)
{
    if (p->decl_seen_base == base + 1)
        return true;
    uint64_t newest = 0;
    if (decisions_newest_tx(p, base, next, &newest) != 0) {
        VG_LOG_WARN("decision retention cannot read partition=%u base=%llu", p->index,
                    (unsigned long long)base);
        return false;
    }
    p->decl_seen_base = base + 1;
    p->decl_seen_max = newest;
    return true;
}

/* With retention on, the decision log's oldest segments go once every decision in them is of
 * a transaction the log no longer holds (its index entry goes too: see the index sweep), at
 * most DECL_DROPS a second. Until 2026-12-03 the decision log was never trimmed: with
 * retention set, the transaction log stayed bounded and the decisions grew for ever. */
static void retain_decisions(vg_partition_t *p)
{
    uint64_t keep = vg_seglog_start_offset(p->log);
    uint64_t base = 0;
    uint64_t next = 0;
    for (unsigned k = 0;
         p->retains && k < DECL_DROPS && vg_seglog_oldest_sealed(p->declog, &base, &next); k++) {
        if (!oldest_decisions_newest_tx(p, base, next) || p->decl_seen_max >= keep ||
            vg_seglog_drop_oldest(p->declog) != 0)
            return;
    }
}

/* Every second: roll the active segment by age, apply retention (never past what the state
 * has applied), and every state.sync_interval_ms sync the state off the loop. False when the
 * log or the state failed (they say why through /readyz). */
static bool housekeeping(vg_partition_t *p)
{
    int64_t now = vg_clock_wall_ms();
    uint64_t applied = 0;
    if (vg_seglog_maybe_roll(p->log, now) != 0 || vg_state_applied_offset(p->state, &applied) != 0)
        return false;
    unsigned deleted = 0;
    if (vg_seglog_retain(p->log, applied, now, &deleted) != 0)
        VG_LOG_WARN("retention failed partition=%u", p->index);
    retain_decisions(p);
    send_outbox(p);
    /* Outbox entries acknowledged since the last batch: delete them now if traffic stopped. */
    if (vg_decider_forgetting(p->decider)) {
        int rc = decide(p, NULL, 0, applied);
        if (rc != 0)
            VG_LOG_WARN("outbox cleanup failed partition=%u", p->index);
    }
    p->since_sync_ms += HOUSEKEEPING_MS;
    if (p->since_sync_ms >= p->sync_every_ms && !p->syncing) {
        p->since_sync_ms = 0;
        p->syncing = uv_queue_work(vg_loop_uv(p->actor.loop), &p->sync_work, do_state_sync,
                                   after_state_sync) == 0;
    }
    return true;
}

static void on_tick(vg_actor_t *self, vg_timer_t *t)
{
    (void)t;
    vg_partition_t *p = vg_container_of(self, vg_partition_t, actor);
    if (p->open_rc != 0)
        return; /* its replay failed (vg_partition_start): stopped, nothing to keep */
    if (++p->ticks % (HOUSEKEEPING_MS / TICK_MS) == 0 && !housekeeping(p))
        return;
    if (atomic_load_explicit(&p->apply_rc, memory_order_relaxed) == 0) /* else stopped */
        sweep(p);
}

static const vg_actor_ops_t partition_ops = {"partition", partition_receive, partition_on_stop};

/* The decision log and the decider. Fills p->open_why on failure. */
static int open_decisions(vg_partition_t *p, const vg_partition_opts_t *o)
{
    char dir[PATH_MAX];
    int rc =
        vg_datadir_partition_path(o->data_dir, o->index, o->count, "decisions", dir, sizeof(dir));
    vg_seglog_opts_t dopts = o->log;
    dopts.fault = NULL;
    dopts.prealloc_bytes = 0; /* synced with the state, seldom: zeros would not pay */
    if (rc == 0)
        rc = vg_seglog_open(dir, &dopts, &p->declog, NULL, p->open_why, sizeof(p->open_why));
    if (rc != 0)
        return rc;
    vg_decider_opts_t dec = {
        .partition = o->index,
        .state = p->state,
        .log = p->log,
        .declog = p->declog,
        .model = o->model,
        .threshold_medium = o->threshold_medium,
        .threshold_high = o->threshold_high,
        .pending_label_ttl_ms = o->pending_label_ttl_ms,
        .account_ttl_ms = o->account_ttl_ms,
        .batch_max = o->batch_max,
        .nparts = o->count,
        .merchant_state = merchant_state,
        .merchant_ctx = p,
        .before_commit = ride_inbox,
        .before_commit_ctx = p,
    };
    p->decider = vg_decider_new(&dec);
    return 0;
}

/* Until 2026-12-03 the filter started empty, so a client retrying after a restart had its
 * transaction logged again before its partition answered the replay, and a transaction_id
 * reused for another account in another partition was not caught. */
static int refill_recent(vg_partition_t *p)
{
    uint64_t end = vg_seglog_next_offset(p->declog);
    if (!p->recent || end == 0)
        return 0;
    uint64_t t0 = vg_clock_mono_ns();
    vg_seglog_reader_t *r = NULL;
    int rc = vg_seglog_reader_open(p->declog, end > p->recent_ids ? end - p->recent_ids : 0, &r);
    const char *ids[REFILL_CHUNK];
    Vigil__Decision *msgs[REFILL_CHUNK];
    size_t n = 0;
    uint64_t added = 0;
    vg_seglog_view_t v;
    while (rc == 0) {
        rc = vg_seglog_reader_next(r, &v);
        if (rc == 0 && v.type == VG_SEGLOG_TYPE_DECISION) {
            Vigil__Decision *d = vigil__decision__unpack(NULL, v.len, v.payload);
            if (d && d->transaction_id && d->transaction_id[0]) {
                msgs[n] = d;
                ids[n++] = d->transaction_id;
            } else if (d) {
                vigil__decision__free_unpacked(d, NULL);
            }
        }
        if (n == REFILL_CHUNK || (rc != 0 && n > 0)) {
            vg_recent_add_many(p->recent, ids, n);
            added += n;
            for (size_t i = 0; i < n; i++)
                vigil__decision__free_unpacked(msgs[i], NULL);
            n = 0;
        }
    }
    vg_seglog_reader_close(r);
    if (added)
        VG_LOG_INFO("recent ids refilled partition=%u ids=%llu ms=%llu", p->index,
                    (unsigned long long)added,
                    (unsigned long long)((vg_clock_mono_ns() - t0) / 1000000));
    return rc == VG_ENOTFOUND ? 0 : rc;
}

/* The replay from the applied offset, then the merchant outbox left from before (the replay
 * may have added to it). Run once every partition is open, so that the replayed transactions
 * get their merchants' features from the owners' committed profiles. Fills p->open_why on
 * failure. */
static int catch_up(vg_partition_t *p)
{
    uint64_t applied = 0;
    int rc = vg_state_applied_offset(p->state, &applied);
    uint64_t replayed = 0;
    uint64_t t0 = vg_clock_mono_ns();
    if (rc == 0)
        rc = vg_decider_count_waiting(p->decider);
    if (rc == 0)
        rc = vg_decider_replay(p->decider, &replayed);
    answer_riding(p, rc); /* nothing, normally: no message comes before the replay ends */
    if (rc != 0) {
        snprintf(p->open_why, sizeof(p->open_why), "replaying the log from offset %llu: %s",
                 (unsigned long long)applied, vg_strerror(rc));
        return rc;
    }
    if (replayed)
        VG_LOG_INFO("partition caught up partition=%u from=%llu records=%llu ms=%llu", p->index,
                    (unsigned long long)applied, (unsigned long long)replayed,
                    (unsigned long long)((vg_clock_mono_ns() - t0) / 1000000));
    vg_mdelta_t *pending = NULL;
    size_t npending = 0;
    rc = vg_outbox_load(p->state, &pending, &npending);
    if (rc != 0) {
        snprintf(p->open_why, sizeof(p->open_why), "reading the merchant outbox: %s",
                 vg_strerror(rc));
        return rc;
    }
    for (size_t i = 0; i < npending; i++)
        outq_push(p, &pending[i]);
    free(pending);
    return 0;
}

/* Opens the log and the state, and checks they agree. Fills p->open_why on failure. */
static int open_storage(vg_partition_t *p, vg_loop_t *loop, const vg_partition_opts_t *o)
{
    char dir[PATH_MAX];
    int rc = vg_datadir_partition_path(o->data_dir, o->index, o->count, "log", dir, sizeof(dir));
    vg_seglog_recovery_t rec;
    if (rc == 0)
        rc = vg_seglog_open(dir, &o->log, &p->log, &rec, p->open_why, sizeof(p->open_why));
    if (rc != 0)
        return rc;
    p->retains = o->log.retention_bytes || o->log.retention_age_ms;
    if (rec.truncated_bytes)
        VG_LOG_WARN("torn log tail cut partition=%u file=%s at=%llu bytes=%llu", o->index, rec.file,
                    (unsigned long long)rec.truncated_at, (unsigned long long)rec.truncated_bytes);
    rc = vg_datadir_partition_path(o->data_dir, o->index, o->count, "state", dir, sizeof(dir));
    if (rc == 0)
        rc = vg_state_open(dir, &o->state, &p->state);
    uint64_t applied = 0;
    if (rc == 0)
        rc = vg_state_applied_offset(p->state, &applied);
    if (rc != 0) {
        snprintf(p->open_why, sizeof(p->open_why), "state in %s: %s", dir, vg_strerror(rc));
        return rc;
    }
    uint64_t next = vg_seglog_next_offset(p->log);
    if (applied > next) {
        /* The state is ahead of its log: the log lost acknowledged records. */
        snprintf(p->open_why, sizeof(p->open_why),
                 "state applied offset %llu is beyond the log's end %llu",
                 (unsigned long long)applied, (unsigned long long)next);
        return VG_ECORRUPT;
    }
    rc = open_decisions(p, o);
    if (rc != 0)
        return rc;
    rc = vg_gcommit_new(p->log, vg_loop_uv(loop), &o->commit, on_durable, p, &p->gc);
    if (rc != 0)
        snprintf(p->open_why, sizeof(p->open_why), "group commit: %s", vg_strerror(rc));
    VG_LOG_INFO("partition open partition=%u next_offset=%llu applied=%llu segments=%u", o->index,
                (unsigned long long)next, (unsigned long long)applied, rec.segments);
    return rc;
}

/* A partition that cannot start stays stopped, with p->open_why: reported by
 * vg_partition_status, its state no one's to read. */
static void stop_at_start(vg_partition_t *p, int rc)
{
    VG_LOG_ERROR("partition stopped partition=%u err=%s why=%s", p->index, vg_strerror(rc),
                 p->open_why);
    p->open_rc = rc;
}

int vg_partition_new(vg_loop_t *loop, const vg_partition_opts_t *opts, vg_partition_t **out)
{
    vg_partition_t *p = vg_xcalloc(1, sizeof(*p));
    p->index = opts->index;
    p->count = opts->count;
    p->max_waiting_labels = opts->max_waiting_labels;
    p->recent_ids = opts->recent_ids;
    p->outq = vg_xcalloc(opts->count ? opts->count : 1, sizeof(*p->outq));
    p->recent = vg_recent_new(opts->recent_ids);
    int rc = open_storage(p, loop, opts);
    if (rc != 0)
        stop_at_start(p, rc);
    vg_actor_init(&p->actor, loop, &partition_ops, "partition",
                  opts->mailbox ? opts->mailbox : 1024);
    p->sync_every_ms = opts->state_sync_ms ? opts->state_sync_ms : 1000;
    if (p->open_rc == 0) {
        vg_timer_init(&p->actor, &p->timer);
        /* Spread over a tick: the partitions' sweeps do not stop every loop at once. */
        uint64_t first = TICK_MS + (opts->count ? opts->index * TICK_MS / opts->count : 0);
        vg_timer_start(&p->timer, first, TICK_MS, on_tick);
        p->timer_started = true;
    }
    *out = p;
    return p->open_rc;
}

int vg_partition_start(vg_partition_t *p, vg_partition_t **peers, unsigned n)
{
    p->peers = peers;
    p->npeers = n;
    if (p->open_rc != 0)
        return p->open_rc;
    int rc = catch_up(p);
    if (rc != 0) {
        stop_at_start(p, rc);
        return rc;
    }
    send_outbox(p);
    return 0;
}

int vg_partition_refill_recent(vg_partition_t *p)
{
    if (p->open_rc != 0)
        return p->open_rc;
    int rc = refill_recent(p);
    if (rc != 0) {
        snprintf(p->open_why, sizeof(p->open_why), "reading the decision log: %s", vg_strerror(rc));
        stop_at_start(p, rc);
    }
    return rc;
}

unsigned vg_partition_waiting(vg_partition_t *p)
{
    return atomic_load_explicit(&p->waiting, memory_order_acquire);
}

bool vg_partition_has_room_for_label(vg_partition_t *p, uint64_t *waiting)
{
    *waiting = p->open_rc == 0 ? vg_decider_labels_waiting(p->decider) : 0;
    if (p->max_waiting_labels == 0 || *waiting < p->max_waiting_labels)
        return true;
    /* Clients get 503s: say so in the log, once a minute at most. */
    int64_t now = (int64_t)(vg_clock_mono_ns() / 1000000);
    int64_t last = atomic_load_explicit(&p->full_logged_ms, memory_order_relaxed);
    if ((last == 0 || now - last >= FULL_LOG_MS) &&
        atomic_compare_exchange_strong_explicit(&p->full_logged_ms, &last, now,
                                                memory_order_relaxed, memory_order_relaxed))
        VG_LOG_WARN("labels refused partition=%u waiting=%llu max=%llu: labels for transactions "
                    "not seen yet wait until those come or state.pending_label_ttl_days passes",
                    p->index, (unsigned long long)*waiting,
                    (unsigned long long)p->max_waiting_labels);
    return false;
}

bool vg_partition_may_know(const vg_partition_t *p, const vg_recent_key_t *id)
{
    return vg_recent_may_have_key(p->recent, id);
}

vg_state_t *vg_partition_state(vg_partition_t *p)
{
    return p->open_rc == 0 ? p->state : NULL;
}

vg_seglog_t *vg_partition_log(vg_partition_t *p)
{
    return p->open_rc == 0 ? p->log : NULL;
}

vg_seglog_t *vg_partition_decisions(vg_partition_t *p)
{
    return p->open_rc == 0 ? p->declog : NULL;
}

unsigned vg_partition_index(const vg_partition_t *p)
{
    return p->index;
}

int vg_partition_status(vg_partition_t *p, char *why, size_t len)
{
    if (p->open_rc != 0) {
        snprintf(why, len, "partition %u: %s", p->index, p->open_why);
        return p->open_rc;
    }
    int arc = atomic_load_explicit(&p->apply_rc, memory_order_acquire);
    if (arc != 0) {
        snprintf(why, len, "partition %u: %s", p->index, p->apply_why);
        return arc;
    }
    char msg[256];
    int rc = vg_seglog_failed(p->log, msg, sizeof(msg));
    if (rc != 0)
        snprintf(why, len, "partition %u: %s", p->index, msg);
    return rc;
}

void vg_partition_stop(vg_partition_t *p)
{
    vg_actor_stop(&p->actor);
}
