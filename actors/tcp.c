/* SPDX-License-Identifier: MIT */
/*
 * TCP ingest; see tcp.h. Per connection: a frame decoder, a ring of slots (one per request,
 * in arrival order, each waiting for its reply frame), and the batch being built from the
 * current read. A batch holds the unpacked requests its append items point into, so it lives
 * until every partition has answered. Replies are written in slot order as soon as the
 * oldest slots are done. A connection is freed once its handle is closed and no batch of it
 * is in flight.
 * Thread: the owning loop.
 */
#define VG_LOG_MODULE "tcp"
#include "actors/tcp.h"
#include "actors/frame.h"
#include "actors/route.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/error.h"
#include "runtime/listener.h"
#include "runtime/logging.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_BUF       (64u * 1024u)
#define DEFAULT_WINDOW 4096u
#define WRITE_HIGH     (1u << 20) /* reply bytes queued for a slow reader: stop reading */
/* A frame's payload limit until the ingest is attached, or when ingest.max_frame_bytes is 0. */
#define DEFAULT_FRAME 65536u
/* A peer gone without a FIN (its host died, the network between went): TCP keepalive probes
 * an idle connection after KEEPALIVE_IDLE_S, every KEEPALIVE_INTVL_S, and gives up after
 * KEEPALIVE_PROBES; data left unacknowledged for USER_TIMEOUT_MS drops it too. About two
 * minutes either way, instead of never: the connection and its 64 KiB buffer were kept. */
#define KEEPALIVE_IDLE_S  60
#define KEEPALIVE_INTVL_S 10
#define KEEPALIVE_PROBES  6
#define USER_TIMEOUT_MS   120000u

struct conn;

struct vg_tcp_ingest {
    vg_actor_t actor;
    vg_listener_t *listener; /* the listening one's, until closed */
    int port;
    uint64_t accepted;
    bool attached;
    bool closing;                /* listener closed or closing */
    _Atomic unsigned open_conns; /* not yet closed: read by the shutdown (any thread) */
    bool actor_gone;             /* on_stop ran */
    bool listener_closed;
    vg_tcp_ingest_opts_t o;
    struct conn *conns;         /* live connections */
    unsigned nconns;            /* not yet freed */
    bool has_listener;          /* else a host: connections come from the listener's loop */
    vg_state_reader_t *readers; /* [o.nparts] for the replay lookups of one read */
    vg_tcp_ingest_t **hosts;    /* the listener spreads connections over itself and these */
    unsigned nhosts;
    unsigned next_host;
};

/* A connection accepted on the listener's loop for a host on another loop. */
struct fd_msg {
    vg_msg_t hdr;
    int fd;
};

struct slot {
    uint64_t seq;
    unsigned waiting; /* partitions that have not answered (a label may go to all) */
    bool done;
    uint8_t *frame; /* the packed reply frame, once done */
    size_t len;
};

/* The items of one read that go to one partition. */
struct tpart {
    vg_append_msg_t msg;
    bool unsent; /* the partition's queue was full: retried by the connection's timer */
    vg_pipe_item_t *items;
    uint64_t *slot; /* absolute slot index of each item */
    size_t n;
    size_t cap;
    struct batch *b;
};

struct batch {
    struct conn *c;
    struct tpart *parts;
    unsigned outstanding;
    vg_arena_t arena;        /* the unpacked requests and packed payloads of this read */
    ProtobufCAllocator pbuf; /* protobuf-c allocating from `arena` */
};

struct conn {
    uv_tcp_t handle;
    vg_tcp_ingest_t *t;
    struct conn *next;
    struct conn *prev;
    vg_frame_decoder_t dec;
    struct slot *slots; /* ring */
    size_t cap;
    size_t head;
    size_t count;
    uint64_t base; /* absolute index of slots[head] */
    struct batch *cur;
    size_t items_hint; /* the most items a partition took from a recent read (add_item) */
    unsigned batches;  /* in flight */
    bool reading;
    bool closed;           /* uv_close called */
    unsigned handles;      /* open libuv handles: the socket, the retry timer */
    struct batch *stalled; /* a batch with parts a full partition queue refused */
    uv_timer_t retry;
    bool retry_init;
    bool close_after_flush; /* no more reading: close once every slot's reply is written */
    bool draining;          /* shutting down: input discarded, FIN after the last reply */
    bool fin_sent;
    unsigned shutdowns; /* uv_shutdown requests pending */
    uv_shutdown_t shut;
    unsigned writes; /* in flight */
    uint8_t rbuf[READ_BUF];
};

struct wreq {
    uv_write_t req;
    struct conn *c;
    uint8_t *buf;
};

static void conn_close(struct conn *c);
static void conn_maybe_free(struct conn *c);
static void conn_done(struct conn *c);
static void resume_reading(struct conn *c);
static void end_of_requests(struct conn *c);
static void maybe_free_actor(vg_tcp_ingest_t *t);

/* ---- slots and replies ---- */

static struct slot *slot_at(struct conn *c, uint64_t idx)
{
    return &c->slots[(c->head + (size_t)(idx - c->base)) % c->cap];
}

static uint64_t slot_push(struct conn *c, uint64_t seq)
{
    if (c->count == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 256;
        struct slot *n = vg_xcalloc(ncap, sizeof(*n));
        for (size_t i = 0; i < c->count; i++)
            n[i] = c->slots[(c->head + i) % c->cap];
        free(c->slots);
        c->slots = n;
        c->cap = ncap;
        c->head = 0;
    }
    struct slot *s = &c->slots[(c->head + c->count) % c->cap];
    memset(s, 0, sizeof(*s));
    s->seq = seq;
    c->count++;
    return c->base + c->count - 1;
}

static void slot_finish(struct slot *s, const Vigil__IngestReply *r)
{
    size_t len = vigil__ingest_reply__get_packed_size(r);
    s->frame = vg_xmalloc(VG_FRAME_HEADER_BYTES + len);
    vg_frame_header(s->frame, (uint32_t)len);
    vigil__ingest_reply__pack(r, s->frame + VG_FRAME_HEADER_BYTES);
    s->len = VG_FRAME_HEADER_BYTES + len;
    s->done = true;
}

static void slot_error(struct slot *s, const char *code, const char *message, const char *field)
{
    Vigil__IngestError e = VIGIL__INGEST_ERROR__INIT;
    char codebuf[32];
    char msgbuf[256];
    char fieldbuf[96];
    snprintf(codebuf, sizeof(codebuf), "%s", code);
    snprintf(msgbuf, sizeof(msgbuf), "%s", message);
    snprintf(fieldbuf, sizeof(fieldbuf), "%s", field ? field : "");
    e.code = codebuf;
    e.message = msgbuf;
    e.field = fieldbuf;
    Vigil__IngestReply r = VIGIL__INGEST_REPLY__INIT;
    r.seq = s->seq;
    r.result_case = VIGIL__INGEST_REPLY__RESULT_ERROR;
    r.error = &e;
    slot_finish(s, &r);
}

static void slot_decision(struct slot *s, const vg_decision_t *d, const char *transaction_id)
{
    Vigil__Decision pb;
    Vigil__Reason reasons[VG_DECISION_REASONS];
    Vigil__Reason *rptr[VG_DECISION_REASONS];
    vg_decision_to_pb(d, transaction_id, &pb, reasons, rptr);
    Vigil__IngestReply r = VIGIL__INGEST_REPLY__INIT;
    r.seq = s->seq;
    r.result_case = VIGIL__INGEST_REPLY__RESULT_DECISION;
    r.decision = &pb;
    slot_finish(s, &r);
}

static void slot_accepted(struct slot *s)
{
    Vigil__IngestReply r = VIGIL__INGEST_REPLY__INIT;
    r.seq = s->seq;
    r.result_case = VIGIL__INGEST_REPLY__RESULT_ACCEPTED;
    r.accepted = true;
    slot_finish(s, &r);
}

static void on_written(uv_write_t *req, int status)
{
    struct wreq *w = vg_container_of(req, struct wreq, req);
    struct conn *c = w->c;
    free(w->buf);
    free(w);
    c->writes--;
    bool failed = status != 0;
    bool finished = c->close_after_flush && c->writes == 0 && c->count == 0;
    if (failed && !c->closed)
        conn_close(c);
    else if (finished && !c->closed)
        conn_done(c);
    else
        resume_reading(c);
    conn_maybe_free(c);
}

/* Writes the replies of the oldest done slots, in order, with one write. */
static void flush(struct conn *c)
{
    size_t n = 0;
    size_t bytes = 0;
    while (n < c->count && c->slots[(c->head + n) % c->cap].done) {
        bytes += c->slots[(c->head + n) % c->cap].len;
        n++;
    }
    if (n == 0)
        return;
    uint8_t *buf = vg_xmalloc(bytes);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        struct slot *s = &c->slots[c->head];
        memcpy(buf + off, s->frame, s->len);
        off += s->len;
        free(s->frame);
        s->frame = NULL;
        c->head = (c->head + 1) % c->cap;
        c->base++;
        c->count--;
    }
    if (c->closed) {
        free(buf);
        return;
    }
    struct wreq *w = vg_xmalloc(sizeof(*w));
    w->c = c;
    w->buf = buf;
    uv_buf_t b = uv_buf_init((char *)buf, (unsigned)bytes);
    if (uv_write(&w->req, (uv_stream_t *)&c->handle, &b, 1, on_written) != 0) {
        free(buf);
        free(w);
        conn_close(c);
        return;
    }
    c->writes++;
}

/* ---- batches ---- */

static void *arena_pb_alloc(void *ctx, size_t size)
{
    return vg_arena_alloc(ctx, size ? size : 1);
}

static void arena_pb_free(void *ctx, void *p)
{
    (void)ctx;
    (void)p; /* freed with the arena */
}

static struct batch *batch_new(struct conn *c)
{
    struct batch *b = vg_xcalloc(1, sizeof(*b));
    b->c = c;
    b->parts = vg_xcalloc(c->t->o.nparts, sizeof(*b->parts));
    vg_arena_init(&b->arena, (size_t)64 * 1024);
    b->pbuf = (ProtobufCAllocator){arena_pb_alloc, arena_pb_free, &b->arena};
    return b;
}

static void batch_free(struct batch *b, unsigned nparts)
{
    for (unsigned p = 0; p < nparts; p++) {
        free(b->parts[p].items);
        free(b->parts[p].slot);
    }
    vg_arena_close(&b->arena);
    free(b->parts);
    free(b);
}

static uint8_t *keep_payload(struct batch *b, size_t len)
{
    return vg_arena_alloc(&b->arena, len ? len : 1);
}

static void add_item(struct batch *b, unsigned p, uint64_t slot, vg_seglog_rec_t rec,
                     const Vigil__Transaction *tx, const Vigil__Label *label)
{
    struct tpart *tp = &b->parts[p];
    if (tp->n == tp->cap) {
        /* Sized for what the last read brought, so that a steady stream allocates each array
         * once: growing from 64 by doubling copied its items (some 300 bytes each) about once
         * over, 280 instructions per transaction under the TCP closed loop. */
        size_t first = b->c->items_hint > 64 ? b->c->items_hint : 64;
        tp->cap = tp->cap ? tp->cap * 2 : first;
        tp->items = vg_xrealloc(tp->items, tp->cap * sizeof(*tp->items));
        tp->slot = vg_xrealloc(tp->slot, tp->cap * sizeof(*tp->slot));
    }
    vg_pipe_item_t *it = &tp->items[tp->n];
    memset(it, 0, sizeof(*it));
    it->rec = rec;
    it->tx = tx;
    it->label = label;
    it->want_packed = tx != NULL;
    tp->slot[tp->n++] = slot;
}

static void conn_maybe_free(struct conn *c)
{
    if (c->handles || c->batches || c->writes || c->shutdowns)
        return;
    vg_tcp_ingest_t *t = c->t;
    for (size_t i = 0; i < c->count; i++)
        free(c->slots[(c->head + i) % c->cap].frame);
    free(c->slots);
    vg_frame_decoder_close(&c->dec);
    free(c);
    t->nconns--;
    maybe_free_actor(t);
}

static void on_appended(vg_actor_t *self, vg_msg_t *reply, void *ctx)
{
    (void)self;
    (void)reply;
    struct tpart *tp = ctx;
    struct batch *b = tp->b;
    struct conn *c = b->c;
    int status = tp->msg.status;
    for (size_t k = 0; k < tp->n; k++) {
        struct slot *s = slot_at(c, tp->slot[k]);
        vg_pipe_item_t *it = &tp->items[k];
        if (s->done) {
            /* a label whose other partition failed */
        } else if (status != 0) {
            slot_error(s, "unavailable", "partition cannot store transactions", NULL);
        } else if (it->tx && it->decision.conflict) {
            vg_tx_error_t err;
            vg_route_conflict_error(it->tx->transaction_id, &err);
            slot_error(s, err.code, err.message, err.field);
        } else if (it->packed) {
            s->len = vg_frame_decision_reply(s->seq, it->packed, it->packed_len, &s->frame);
            s->done = true;
        } else if (it->tx) {
            slot_decision(s, &it->decision, it->tx->transaction_id); /* a replayed one */
        } else if (--s->waiting == 0) {
            slot_accepted(s);
        }
        it->packed = NULL;
    }
    free(tp->msg.packed);
    tp->msg.packed = NULL;
    c->batches--;
    if (--b->outstanding == 0)
        batch_free(b, c->t->o.nparts);
    flush(c);
    resume_reading(c);
    conn_maybe_free(c);
}

static void send_part(struct conn *c, struct tpart *tp, unsigned p);

static void on_retry_closed(uv_handle_t *h)
{
    struct conn *c = vg_container_of((uv_timer_t *)h, struct conn, retry);
    c->handles--;
    conn_maybe_free(c);
}

/* A full partition queue: the refused parts are retried every millisecond while the
 * connection does not read, so the client is slowed down instead of answered "overloaded". */
static void on_retry(uv_timer_t *h)
{
    struct conn *c = vg_container_of(h, struct conn, retry);
    struct batch *b = c->stalled;
    if (!b)
        return;
    bool still = false;
    for (unsigned p = 0; p < c->t->o.nparts; p++) {
        if (b->parts[p].unsent)
            send_part(c, &b->parts[p], p);
        still = still || b->parts[p].unsent;
    }
    if (still)
        return; /* the repeating timer tries again */
    uv_timer_stop(&c->retry);
    c->stalled = NULL;
    if (--b->outstanding == 0) /* the hold taken when it stalled */
        batch_free(b, c->t->o.nparts);
    flush(c);
    resume_reading(c);
}

/* Sends one partition's part; a full queue leaves it unsent (counted as in flight). */
static void send_part(struct conn *c, struct tpart *tp, unsigned p)
{
    vg_tcp_ingest_t *t = c->t;
    struct batch *b = tp->b;
    bool retry = tp->unsent;
    int rc = vg_actor_request(&t->actor, vg_partition_actor(t->o.parts[p]), &tp->msg.hdr,
                              on_appended, tp);
    if (rc == VG_EMAILBOX_FULL) {
        if (!retry) {
            tp->unsent = true;
            b->outstanding++;
            c->batches++;
        }
        return;
    }
    tp->unsent = false;
    if (rc == 0) {
        if (!retry) {
            b->outstanding++;
            c->batches++;
        }
        return;
    }
    if (retry) {
        b->outstanding--; /* never below the stall's hold */
        c->batches--;
    }
    for (size_t k = 0; k < tp->n; k++) {
        struct slot *s = slot_at(c, tp->slot[k]);
        if (!s->done)
            slot_error(s, "unavailable", "partition cannot store transactions", NULL);
    }
}

/* Sends the current batch: one append per partition that has items. */
static void batch_send(struct conn *c)
{
    struct batch *b = c->cur;
    c->cur = NULL;
    vg_tcp_ingest_t *t = c->t;
    b->outstanding = 1;
    bool stalled = false;
    size_t most = 0;
    for (unsigned p = 0; p < t->o.nparts; p++) {
        struct tpart *tp = &b->parts[p];
        most = tp->n > most ? tp->n : most;
        if (!tp->n)
            continue;
        tp->b = b;
        tp->msg.items = tp->items;
        tp->msg.n = tp->n;
        tp->msg.packed = NULL;
        send_part(c, tp, p);
        stalled = stalled || tp->unsent;
    }
    c->items_hint = most + most / 4; /* reads vary: some room over the last */
    if (stalled) {
        c->stalled = b; /* keeps the hold of 1 until every part is sent */
        if (!c->retry_init) {
            uv_timer_init(c->handle.loop, &c->retry);
            c->retry_init = true;
            c->handles++;
        }
        uv_timer_start(&c->retry, on_retry, 1, 1);
        if (c->reading) {
            uv_read_stop((uv_stream_t *)&c->handle);
            c->reading = false;
        }
        return;
    }
    if (--b->outstanding == 0)
        batch_free(b, t->o.nparts);
}

/* ---- requests ---- */

static void take_transaction(struct conn *c, uint64_t idx, Vigil__Transaction *tx,
                             vg_bytes_t request)
{
    vg_tcp_ingest_t *t = c->t;
    struct slot *s = slot_at(c, idx);
    vg_tx_limits_t lim = t->o.limits;
    lim.now_ms = vg_clock_wall_ms();
    vg_tx_error_t err;
    if (vg_tx_validate(tx, &lim, &err) != 0) {
        slot_error(s, err.code, err.message, err.field);
        return;
    }
    unsigned p = 0;
    vg_decision_t d;
    switch (vg_route_transaction(t->o.parts, t->o.nparts, t->readers, tx, &p, &d)) {
    case VG_ROUTE_REPLAY:
        slot_decision(s, &d, tx->transaction_id);
        return;
    case VG_ROUTE_CONFLICT:
        vg_route_conflict_error(tx->transaction_id, &err);
        slot_error(s, err.code, err.message, err.field);
        return;
    case VG_ROUTE_NEW:
        break;
    }
    tx->received_ms = lim.now_ms;
    uint8_t *payload = keep_payload(c->cur, vg_frame_stamped_cap(request));
    size_t len = vg_frame_stamped_transaction(request, tx->received_ms, payload);
    if (len == 0) { /* an odd request: packed again */
        len = vigil__transaction__get_packed_size(tx);
        payload = keep_payload(c->cur, len);
        vigil__transaction__pack(tx, payload);
    }
    s->waiting = 1;
    add_item(
        c->cur, p, idx,
        (vg_seglog_rec_t){VG_SEGLOG_TYPE_TRANSACTION, tx->timestamp_ms, payload, (uint32_t)len}, tx,
        NULL);
}

static void take_label(struct conn *c, uint64_t idx, Vigil__Label *l)
{
    vg_tcp_ingest_t *t = c->t;
    struct slot *s = slot_at(c, idx);
    vg_tx_limits_t lim = t->o.limits;
    lim.now_ms = vg_clock_wall_ms();
    if (l->reported_at_ms == 0)
        l->reported_at_ms = lim.now_ms;
    vg_tx_error_t err;
    if (vg_label_validate(l, &lim, &err) != 0) {
        slot_error(s, err.code, err.message, err.field);
        return;
    }
    bool known = false;
    unsigned to = vg_route_label(t->o.parts, t->o.nparts, l, &known, &err);
    if (to == VG_ROUTE_REFUSED) {
        slot_error(s, err.code, err.message, err.field);
        return;
    }
    size_t len = vigil__label__get_packed_size(l);
    uint8_t *payload = keep_payload(c->cur, len);
    vigil__label__pack(l, payload);
    vg_seglog_rec_t rec = {VG_SEGLOG_TYPE_LABEL, l->reported_at_ms, payload, (uint32_t)len};
    if (to < t->o.nparts) {
        s->waiting = 1;
        add_item(c->cur, to, idx, rec, NULL, l);
        return;
    }
    s->waiting = t->o.nparts;
    for (unsigned p = 0; p < t->o.nparts; p++)
        add_item(c->cur, p, idx, rec, NULL, l);
}

static int on_frame(void *ctx, vg_bytes_t payload)
{
    struct conn *c = ctx;
    Vigil__IngestRequest *r =
        vigil__ingest_request__unpack(&c->cur->pbuf, payload.len, payload.ptr);
    uint64_t seq = r ? r->seq : 0;
    if (!r) /* its seq, when one comes before the fault */
        (void)vg_pb_peek_varint(payload, 1 /* seq */, &seq);
    uint64_t idx = slot_push(c, seq);
    if (!r) {
        slot_error(slot_at(c, idx), "invalid_protobuf", "the frame is not a vigil.IngestRequest",
                   NULL);
        return 0;
    }
    vg_tx_error_t err;
    if (vg_pb_check_wire(&vigil__ingest_request__descriptor, payload, &err) != 0)
        slot_error(slot_at(c, idx), err.code, err.message, err.field);
    else if (r->item_case == VIGIL__INGEST_REQUEST__ITEM_TRANSACTION)
        take_transaction(c, idx, r->transaction, payload);
    else if (r->item_case == VIGIL__INGEST_REQUEST__ITEM_LABEL)
        take_label(c, idx, r->label);
    else
        slot_error(slot_at(c, idx), "missing_field", "a request holds a transaction or a label",
                   "item");
    return 0;
}

/* Start-up: the partitions are still replaying their logs and the ingest is not attached.
 * Each frame is answered "unavailable" (/readyz answers 503 "starting" meanwhile) instead of
 * the connection being closed with no word; it stays open and is served once the engine is
 * ready. */
static int on_frame_starting(void *ctx, vg_bytes_t payload)
{
    struct conn *c = ctx;
    uint64_t seq = 0; /* the answer needs only the seq: no unpacking */
    (void)vg_pb_peek_varint(payload, 1 /* seq */, &seq);
    uint64_t idx = slot_push(c, seq);
    slot_error(slot_at(c, idx), "unavailable",
               "the engine is starting: its partitions are replaying their logs; try again", NULL);
    return 0;
}

/* ---- the connection ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct conn *c = vg_container_of((uv_tcp_t *)h, struct conn, handle);
    *buf = uv_buf_init((char *)c->rbuf, READ_BUF);
}

static size_t window_of(const struct conn *c)
{
    return c->t->o.window ? c->t->o.window : DEFAULT_WINDOW;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct conn *c = vg_container_of((uv_tcp_t *)stream, struct conn, handle);
    if (c->draining) { /* shutting down: what comes now is not read; the EOF ends it */
        if (nread < 0)
            conn_close(c);
        return;
    }
    if (nread == UV_EOF) {
        end_of_requests(c);
        return;
    }
    if (nread < 0) {
        conn_close(c); /* an error: nobody is left to read the answers in flight */
        return;
    }
    if (nread == 0)
        return;
    int rc = 0;
    if (c->t->attached) {
        c->cur = batch_new(c);
        rc = vg_frame_feed(&c->dec, c->rbuf, (size_t)nread, on_frame, c, NULL);
        vg_state_readers_reset(c->t->readers, c->t->o.nparts); /* the read's lookups: one txn */
        batch_send(c);
    } else {
        rc = vg_frame_feed(&c->dec, c->rbuf, (size_t)nread, on_frame_starting, c, NULL);
    }
    if (rc == VG_ETOOBIG) {
        char msg[128];
        snprintf(msg, sizeof(msg), "a frame is over the %zu-byte limit: closing", c->dec.max_frame);
        slot_error(slot_at(c, slot_push(c, 0)), "frame_too_large", msg, NULL);
        c->close_after_flush = true;
        uv_read_stop(stream);
        c->reading = false;
    }
    flush(c);
    if (c->reading &&
        (c->count >= window_of(c) || uv_stream_get_write_queue_size(stream) >= WRITE_HIGH)) {
        uv_read_stop(stream); /* backpressure: resumes as answers drain */
        c->reading = false;
    }
}

/* The client sent its last request (it half-closed, as `nc -N` and batch senders do): what it
 * sent was accepted and may be logged already, so it still gets every answer. Reading stops for
 * good; the connection closes once the last answer is written. */
static void end_of_requests(struct conn *c)
{
    uv_read_stop((uv_stream_t *)&c->handle);
    c->reading = false;
    c->close_after_flush = true; /* also keeps resume_reading from reading again */
    if (c->count == 0 && c->writes == 0)
        conn_done(c);
}

static void on_shut(uv_shutdown_t *req, int status)
{
    struct conn *c = vg_container_of(req, struct conn, shut);
    c->shutdowns--;
    if (status != 0 && !c->closed)
        conn_close(c);
    conn_maybe_free(c);
}

/* Every answer is written. Closed now, unless the engine is shutting down with the client
 * still sending: then a FIN after the answers, and the input discarded until the client's EOF
 * (closing with unread input would send a reset, and the client's kernel would drop answers
 * it had not read yet: the lingering close of HTTP servers). */
static void conn_done(struct conn *c)
{
    if (!c->draining) {
        conn_close(c);
        return;
    }
    if (c->fin_sent)
        return;
    c->fin_sent = true;
    c->shutdowns++;
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->handle, on_shut) != 0) {
        c->shutdowns--;
        conn_close(c);
    }
}

static void resume_reading(struct conn *c)
{
    if (c->reading || c->closed || c->close_after_flush || c->stalled ||
        c->count > window_of(c) / 2 ||
        uv_stream_get_write_queue_size((uv_stream_t *)&c->handle) > WRITE_HIGH / 2)
        return;
    c->reading = uv_read_start((uv_stream_t *)&c->handle, on_alloc, on_read) == 0;
}

static void on_conn_closed(uv_handle_t *h)
{
    struct conn *c = vg_container_of((uv_tcp_t *)h, struct conn, handle);
    c->handles--;
    conn_maybe_free(c);
}

static void conn_close(struct conn *c)
{
    if (c->closed)
        return;
    c->closed = true;
    vg_tcp_ingest_t *t = c->t;
    atomic_fetch_sub_explicit(&t->open_conns, 1, memory_order_relaxed);
    if (c->prev)
        c->prev->next = c->next;
    else
        t->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    struct batch *b = c->stalled;
    c->stalled = NULL;
    for (unsigned p = 0; b && p < t->o.nparts; p++) {
        if (b->parts[p].unsent) { /* never sent: nobody will answer them */
            b->parts[p].unsent = false;
            b->outstanding--;
            c->batches--;
        }
    }
    if (b && --b->outstanding == 0)
        batch_free(b, t->o.nparts);
    if (c->retry_init)
        uv_close((uv_handle_t *)&c->retry, on_retry_closed);
    uv_close((uv_handle_t *)&c->handle, on_conn_closed);
}

/* Keepalive and a user timeout on the connection (see KEEPALIVE_IDLE_S); a failure only
 * leaves it as it was. */
static void watch_peer(struct conn *c)
{
    uv_os_fd_t fd;
    if (uv_tcp_keepalive(&c->handle, 1, KEEPALIVE_IDLE_S) != 0 ||
        uv_fileno((uv_handle_t *)&c->handle, &fd) != 0)
        return;
    int intvl = KEEPALIVE_INTVL_S;
    int probes = KEEPALIVE_PROBES;
    unsigned user_timeout = USER_TIMEOUT_MS;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof(probes));
    (void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout));
}

/* Takes a connected socket on `t`'s loop (accepted on it, or handed over by the listener's
 * loop) and starts serving it. */
static void adopt(vg_tcp_ingest_t *t, int fd)
{
    struct conn *c = vg_xcalloc(1, sizeof(*c));
    c->t = t;
    if (uv_tcp_init(vg_loop_uv(t->actor.loop), &c->handle) != 0) {
        free(c);
        (void)close(fd); /* never read: nothing to flush */
        return;
    }
    t->nconns++;
    atomic_fetch_add_explicit(&t->open_conns, 1, memory_order_relaxed);
    c->handles = 1;
    c->next = t->conns;
    if (t->conns)
        t->conns->prev = c;
    t->conns = c;
    vg_frame_decoder_init(&c->dec, t->o.max_frame ? t->o.max_frame : DEFAULT_FRAME);
    int rc = uv_tcp_open(&c->handle, fd);
    if (rc != 0)
        (void)close(fd);
    t->accepted++;
    if (rc != 0 || t->closing) {
        conn_close(c);
        return;
    }
    (void)uv_tcp_nodelay(&c->handle, 1);
    watch_peer(c);
    resume_reading(c);
}

/* Hands a connection to a host on another loop: libuv handles cannot move between loops, so
 * the descriptor goes and the host opens a handle on it. */
static void hand_off(int fd, vg_tcp_ingest_t *host)
{
    struct fd_msg *m = vg_xcalloc(1, sizeof(*m));
    m->fd = fd;
    if (vg_actor_send(&host->actor, &m->hdr) != 0) {
        (void)close(fd); /* never read: nothing to flush */
        free(m);
    }
}

static void on_accepted(void *ctx, int fd)
{
    vg_tcp_ingest_t *t = ctx;
    /* Round robin over this loop and the hosts, so connections spread over the cores. */
    unsigned pick = t->next_host++ % (t->nhosts + 1);
    if (pick > 0 && !t->closing)
        hand_off(fd, t->hosts[pick - 1]);
    else
        adopt(t, fd);
}

/* ---- the actor ---- */

/* The only message: a connection handed over by the listener (replies come through
 * on_reply). */
static void tcp_receive(vg_actor_t *self, vg_msg_t *msg)
{
    vg_tcp_ingest_t *t = vg_container_of(self, vg_tcp_ingest_t, actor);
    struct fd_msg *m = (struct fd_msg *)msg;
    adopt(t, m->fd);
    free(m);
}

static void maybe_free_actor(vg_tcp_ingest_t *t)
{
    if (t->actor_gone && t->listener_closed && t->nconns == 0) {
        free(t->readers);
        free(t);
    }
}

static void on_listener_closed(void *ctx)
{
    vg_tcp_ingest_t *t = ctx;
    VG_LOG_DEBUG("tcp ingest closed port=%d accepted=%llu", t->port,
                 (unsigned long long)t->accepted);
    t->listener_closed = true;
    maybe_free_actor(t);
}

/* Closes the listener once. */
static void stop_accepting(vg_tcp_ingest_t *t)
{
    if (t->closing)
        return;
    t->closing = true;
    if (t->has_listener)
        vg_listener_close(t->listener, on_listener_closed, t);
}

/* Stops accepting and closes every connection; batches in flight still come back. */
static void close_all(void *arg)
{
    vg_tcp_ingest_t *t = arg;
    stop_accepting(t);
    while (t->conns) /* what finish_all left: clients that do not read their answers */
        conn_close(t->conns);
}

/* Shutdown: no new connection and no new request, but every request read is answered (the
 * partitions drain meanwhile), then each connection closes, as on a client's half-close.
 * Until 2026-12-03 every socket closed at once: transactions logged and durable went
 * unanswered, and a client saw an error for what had succeeded. */
static void finish_all(void *arg)
{
    vg_tcp_ingest_t *t = arg;
    stop_accepting(t);
    for (struct conn *c = t->conns, *next; c; c = next) {
        next = c->next; /* conn_done may close c */
        if (c->closed || c->close_after_flush)
            continue; /* the client's EOF came already: it reads no more */
        c->draining = true;
        c->close_after_flush = true; /* keeps resume_reading from parsing again */
        if (!c->reading) /* paused by backpressure: read to discard, and to see the EOF */
            c->reading = uv_read_start((uv_stream_t *)&c->handle, on_alloc, on_read) == 0;
        if (c->count == 0 && c->writes == 0)
            conn_done(c);
    }
}

static void tcp_on_stop(vg_actor_t *self)
{
    vg_tcp_ingest_t *t = vg_container_of(self, vg_tcp_ingest_t, actor);
    close_all(t);
    t->actor_gone = true;
    maybe_free_actor(t);
}

static const vg_actor_ops_t tcp_ops = {"tcp-ingest", tcp_receive, tcp_on_stop};

int vg_tcp_ingest_new(vg_loop_t *loop, const char *bind, int port, vg_tcp_ingest_t **out)
{
    vg_tcp_ingest_t *t = vg_xcalloc(1, sizeof(*t));
    /* Nothing is accepted before this returns: accepting is on this loop, this thread. */
    int rc = vg_listener_open(vg_loop_uv(loop), "tcp", bind, port, on_accepted, t, &t->listener);
    if (rc != 0) {
        free(t);
        return rc;
    }
    t->port = vg_listener_port(t->listener);
    t->has_listener = true;
    vg_actor_init(&t->actor, loop, &tcp_ops, "tcp-ingest", 0);
    *out = t;
    return 0;
}

vg_tcp_ingest_t *vg_tcp_ingest_new_host(vg_loop_t *loop)
{
    vg_tcp_ingest_t *t = vg_xcalloc(1, sizeof(*t));
    t->listener_closed = true; /* it has none */
    vg_actor_init(&t->actor, loop, &tcp_ops, "tcp-ingest", 0);
    return t;
}

void vg_tcp_ingest_share(vg_tcp_ingest_t *listener, vg_tcp_ingest_t **hosts, unsigned n)
{
    listener->hosts = hosts;
    listener->nhosts = n;
}

void vg_tcp_ingest_attach(vg_tcp_ingest_t *tcp, const vg_tcp_ingest_opts_t *opts)
{
    tcp->o = *opts;
    free(tcp->readers);
    tcp->readers = vg_xcalloc(opts->nparts ? opts->nparts : 1, sizeof(*tcp->readers));
    tcp->attached = true;
    for (struct conn *c = tcp->conns; c; c = c->next) /* taken while starting */
        c->dec.max_frame = opts->max_frame ? opts->max_frame : DEFAULT_FRAME;
}

int vg_tcp_ingest_port(const vg_tcp_ingest_t *tcp)
{
    return tcp->port;
}

unsigned vg_tcp_ingest_open_connections(vg_tcp_ingest_t *tcp)
{
    return atomic_load_explicit(&tcp->open_conns, memory_order_relaxed);
}

void vg_tcp_ingest_stop(vg_tcp_ingest_t *tcp)
{
    /* Stop reading and accepting now; each connection closes once its answers are written,
     * and the actor stops with the runtime (close_all: what is left then), after the
     * partitions have answered what is in flight. */
    if (vg_loop_call(tcp->actor.loop, finish_all, tcp) != 0)
        vg_actor_stop(&tcp->actor);
}
