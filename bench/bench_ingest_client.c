/* SPDX-License-Identifier: MIT */
/*
 * The client side of `vigil bench ingest`: one libuv loop with its share of the connections.
 * Every connection has a ring of the requests it has in flight (1 for HTTP, which the server
 * answers one at a time; --window for TCP, whose replies come back in order with the request's
 * seq). Connections with room wait in a FIFO queue, so requests are spread over them.
 *
 * Closed loop: a connection with room sends at once; latency runs from the actual send.
 * Open loop: request i is due at t0 + i/rate. A timerfd (ns precision, unlike uv_timer's ms)
 * wakes the loop at the next due time; a due request goes out on the first connection with
 * room, or waits for one. Latency runs from the intended time, so a stalled server shows up as
 * latency rather than as fewer requests (no coordinated omission).
 *
 * The run ends by itself: at t0 + warm-up + duration sending stops; replies are awaited for at
 * most DRAIN_NS more. Measured requests still unanswered then, and open-loop requests that were
 * due but never sent, are recorded with their latency so far (a lower bound) and counted.
 * Thread: the client thread that calls vg__bi_client_run; nothing is shared with other loops.
 */
#include "actors/frame.h"
#include "bench/bench_ingest_int.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/compiler.h"
#include "runtime/error.h"
#include "runtime/hash.h"
#include "runtime/logging.h"

#include "storage/vigil.pb-c.h"
#include <uv.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define DRAIN_NS        2000000000ull /* wait for replies after the run, at most */
#define READ_BYTES      65536u        /* TCP read buffer per connection */
#define MAX_FRAME_BYTES (1u << 20)    /* a reply larger than this ends the connection */
#define MAX_HEAD_BYTES  16384u        /* HTTP response head limit */
#define BODY_BYTES      384u          /* one JSON body or transaction's strings, at most */

/* A request in flight. */
struct inflight {
    uint64_t seq;
    uint64_t t_ns; /* actual (closed loop) or intended (open loop) send time */
    bool measured; /* t_ns is after the warm-up */
};

struct obuf {
    char *p;
    size_t len;
    size_t cap;
};

struct conn {
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t write;
    struct client *cl;
    struct obuf out[2]; /* out[cur] collects requests; the other is being written */
    unsigned cur;
    bool writing;
    bool alive;  /* connected and not failed */
    bool queued; /* in the client's queue of connections with room */
    bool dirty;  /* out[cur] has bytes to flush */
    struct inflight *ring;
    size_t ring_cap;
    size_t head;
    size_t count;
    char *in; /* HTTP: unparsed response bytes; TCP: the read buffer */
    size_t in_len;
    size_t in_cap;
    vg_frame_decoder_t dec; /* TCP */
};

struct client {
    uv_loop_t loop;
    uv_timer_t phase;
    uv_poll_t tick; /* open loop: the timerfd */
    int tfd;
    const vg_bi_opts_t *o;
    vg_bi_stats_t *st;
    struct conn *conns;
    size_t nconns;
    size_t *queue; /* indices of connections with room, FIFO */
    size_t qhead;
    size_t qlen;
    struct conn **dirty;
    size_t ndirty;
    size_t connecting;
    uint64_t t0;
    uint64_t warm_ns; /* end of the warm-up */
    uint64_t end_ns;  /* end of sending */
    double interval_ns;
    uint64_t next_due; /* open loop: index of the next request to send */
    uint64_t outstanding;
    uint64_t nreq; /* requests made, for transaction ids and seqs */
    uint64_t rng;
    bool stopping;
    bool finished;
    int rc;
    char idpfx[48];
    uint64_t idpfx_hash;   /* --random-ids: mixed with each request's number */
    int64_t event_base_ms; /* simulated event time of request 0 */
    vg_arena_t arena;      /* one TCP reply's decoded message */
    ProtobufCAllocator pa;
};

static struct client *client_new(const vg_bi_opts_t *o, unsigned run, unsigned index,
                                 vg_bi_stats_t *st);
static void client_free(struct client *c);
static void start_run(struct client *c);
static void pump(struct client *c);
static void finish(struct client *c);
static void conn_fail(struct conn *k, int err);
static void flush(struct conn *k);
static void on_connect(uv_connect_t *req, int status);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_write(uv_write_t *req, int status);
static void on_phase(uv_timer_t *t);
static void on_tick(uv_poll_t *p, int status, int events);
static int on_frame(void *ctx, vg_bytes_t payload);
static void *pa_alloc(void *data, size_t size);
static void pa_free(void *data, void *ptr);

int vg__bi_client_run(const vg_bi_opts_t *o, unsigned run, unsigned index, vg_bi_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    vg_histogram_init(&st->hist);
    struct client *c = client_new(o, run, index, st);
    for (size_t i = 0; i < c->nconns; i++) {
        struct conn *k = &c->conns[i];
        int rc =
            uv_tcp_connect(&k->connect, &k->tcp, (const struct sockaddr *)&o->addr, on_connect);
        if (rc != 0) {
            conn_fail(k, rc);
            c->rc = rc;
            continue;
        }
        c->connecting++;
    }
    if (c->connecting == 0)
        finish(c);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    int rc = c->rc;
    client_free(c);
    return rc;
}

void vg__bi_stats_merge(vg_bi_stats_t *dst, const vg_bi_stats_t *src)
{
    vg_histogram_merge(&dst->hist, &src->hist);
    dst->sent += src->sent;
    dst->in_window += src->in_window;
    dst->ok += src->ok;
    dst->flagged += src->flagged;
    dst->accepted += src->accepted;
    dst->overload += src->overload;
    dst->other += src->other;
    dst->unanswered += src->unanswered;
    dst->unsent += src->unsent;
    dst->lost += src->lost;
    dst->conn_errors += src->conn_errors;
    for (size_t i = 0; i < VG_BI_MAX_STATUS; i++)
        dst->status[i] += src->status[i];
    for (size_t i = 0; i < src->ncodes; i++) {
        size_t j = 0;
        while (j < dst->ncodes && strcmp(dst->codes[j].code, src->codes[i].code) != 0)
            j++;
        if (j == dst->ncodes && j == VG_BI_MAX_CODES) {
            dst->codes_dropped += src->codes[i].n;
            continue;
        }
        if (j == dst->ncodes) {
            memcpy(dst->codes[j].code, src->codes[i].code, sizeof(dst->codes[j].code));
            dst->ncodes++;
        }
        dst->codes[j].n += src->codes[i].n;
    }
    dst->codes_dropped += src->codes_dropped;
    if (!dst->first_error)
        dst->first_error = src->first_error;
}

/* ---- set-up and tear-down ---- */

static struct client *client_new(const vg_bi_opts_t *o, unsigned run, unsigned index,
                                 vg_bi_stats_t *st)
{
    struct client *c = vg_xcalloc(1, sizeof(*c));
    c->o = o;
    c->st = st;
    c->tfd = -1;
    c->rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)index + 1) * 0xbf58476d1ce4e5b9ull;
    snprintf(c->idpfx, sizeof(c->idpfx), "b-%s-%u.%u-", o->prefix, run, index);
    c->idpfx_hash = vg_hash64(c->idpfx, strlen(c->idpfx));
    c->event_base_ms = vg_clock_wall_ms() - 20 * 86400000LL;
    unsigned nthreads = (unsigned)o->threads;
    c->nconns = (size_t)(o->conns / nthreads + (index < o->conns % nthreads ? 1 : 0));
    c->interval_ns = 1e9 * (double)nthreads / (o->open ? o->rate : 1.0);
    vg_arena_init(&c->arena, 0);
    c->pa = (ProtobufCAllocator){pa_alloc, pa_free, c};
    int rc = uv_loop_init(&c->loop);
    VG_CHECK(rc == 0);
    uv_timer_init(&c->loop, &c->phase);
    c->phase.data = c;
    if (o->open) {
        c->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        VG_CHECK(c->tfd >= 0);
        uv_poll_init(&c->loop, &c->tick, c->tfd);
        c->tick.data = c;
    }
    c->conns = vg_xcalloc(c->nconns, sizeof(*c->conns));
    c->queue = vg_xcalloc(c->nconns, sizeof(*c->queue));
    c->dirty = vg_xcalloc(c->nconns, sizeof(struct conn *));
    for (size_t i = 0; i < c->nconns; i++) {
        struct conn *k = &c->conns[i];
        k->cl = c;
        k->ring_cap = o->tcp ? (size_t)o->window : 1;
        k->ring = vg_xcalloc(k->ring_cap, sizeof(*k->ring));
        k->in_cap = o->tcp ? READ_BYTES : 4096;
        k->in = vg_xmalloc(k->in_cap);
        vg_frame_decoder_init(&k->dec, MAX_FRAME_BYTES);
        uv_tcp_init(&c->loop, &k->tcp);
        k->tcp.data = k;
        k->connect.data = k;
        k->write.data = k;
        uv_tcp_nodelay(&k->tcp, 1);
    }
    return c;
}

/* After uv_run returned: every handle is closed. */
static void client_free(struct client *c)
{
    int rc = uv_loop_close(&c->loop);
    VG_CHECK(rc == 0);
    for (size_t i = 0; i < c->nconns; i++) {
        struct conn *k = &c->conns[i];
        free(k->ring);
        free(k->in);
        free(k->out[0].p);
        free(k->out[1].p);
        vg_frame_decoder_close(&k->dec);
    }
    if (c->tfd >= 0)
        (void)close(c->tfd); /* a timerfd: nothing to flush */
    vg_arena_close(&c->arena);
    free(c->conns);
    free(c->queue);
    free(c->dirty);
    free(c);
}

/* ---- the schedule ---- */

static void start_run(struct client *c)
{
    c->t0 = vg_clock_mono_ns();
    c->warm_ns = c->t0 + (uint64_t)(c->o->warmup_s * 1e9);
    c->end_ns = c->warm_ns + (uint64_t)(c->o->duration_s * 1e9);
    uv_update_time(&c->loop);
    uv_timer_start(&c->phase, on_phase, (c->end_ns - c->t0 + 999999) / 1000000, 0);
    if (c->o->open)
        uv_poll_start(&c->tick, UV_READABLE, on_tick);
    pump(c);
}

static uint64_t due_time(const struct client *c, uint64_t i)
{
    return c->t0 + (uint64_t)((double)i * c->interval_ns);
}

static void arm_tick(struct client *c, uint64_t at_ns)
{
    struct itimerspec its = {0};
    its.it_value.tv_sec = (time_t)(at_ns / 1000000000ull);
    its.it_value.tv_nsec = (long)(at_ns % 1000000000ull);
    int rc = timerfd_settime(c->tfd, TFD_TIMER_ABSTIME, &its, NULL);
    VG_CHECK(rc == 0);
}

static void enqueue(struct client *c, struct conn *k)
{
    if (k->queued || !k->alive || k->count == k->ring_cap)
        return;
    c->queue[(c->qhead + c->qlen) % c->nconns] = (size_t)(k - c->conns);
    c->qlen++;
    k->queued = true;
}

/* The first live connection with room, or NULL; it stays at the front. */
static struct conn *queue_front(struct client *c)
{
    while (c->qlen > 0) {
        struct conn *k = &c->conns[c->queue[c->qhead]];
        if (k->alive)
            return k;
        k->queued = false;
        c->qhead = (c->qhead + 1) % c->nconns;
        c->qlen--;
    }
    return NULL;
}

static void queue_pop(struct client *c)
{
    c->conns[c->queue[c->qhead]].queued = false;
    c->qhead = (c->qhead + 1) % c->nconns;
    c->qlen--;
}

static uint64_t next_rand(struct client *c)
{
    uint64_t x = c->rng; /* xorshift64*: fixed seed, so every run draws the same ids */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    c->rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

static char *obuf_reserve(struct obuf *b, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        b->p = vg_xrealloc(b->p, cap);
        b->cap = cap;
    }
    return b->p + b->len;
}

/* The strings of request n, shared by both encodings. */
struct fields {
    char id[80];
    char account[32];
    char merchant[32];
    uint64_t cents;
    int64_t ts_ms;
};

/* Traffic shaped like card payments rather than noise, so the model flags about as often as
 * it would in production (exact SHAP reasons for flagged ones cost ~100x a score): event time
 * runs from 20 days ago so each account pays about twice a day of simulated time (as the
 * synthetic training data does), most payments go to one of the account's 6 usual merchants,
 * and most amounts are small. One request in 50 belongs to one of 200 accounts on a spending
 * burst (large amounts, seconds apart), which the model flags: a few percent of decisions
 * carry reasons, as a fraud engine's traffic does. Event time never passes the wall clock:
 * with few accounts, or a long run, it catches up with now after 20 days' worth of requests
 * (4 million per client thread at the default 100,000 accounts) and stays there, where it
 * ran into the server's timestamp_in_future before. */
static void make_fields(struct client *c, uint64_t n, struct fields *f)
{
    int64_t now_ms = vg_clock_wall_ms();
    if (c->o->random_ids) { /* unique: the prefix is unique, and the hash of it and n mixes */
        uint64_t h = c->idpfx_hash ^ n;
        snprintf(f->id, sizeof(f->id), "%016llx%016llx", (unsigned long long)vg_hash_u64(h),
                 (unsigned long long)vg_hash_u64(h ^ 0x9e3779b97f4a7c15ull));
    } else {
        snprintf(f->id, sizeof(f->id), "%s%llu", c->idpfx, (unsigned long long)n);
    }
    f->ts_ms = c->event_base_ms + (int64_t)(n * 43200000ull / c->o->accounts);
    f->ts_ms = f->ts_ms < now_ms ? f->ts_ms : now_ms;
    if (n % 50 == 0) {
        uint64_t k = (n / 50) % 200;
        snprintf(f->account, sizeof(f->account), "burst-%llu", (unsigned long long)k);
        snprintf(f->merchant, sizeof(f->merchant), "m-%llu",
                 (unsigned long long)(next_rand(c) % c->o->merchants));
        f->cents = 50000 + next_rand(c) % 100000; /* 500..1500 */
        /* 60x faster event time: a burst account pays about once a minute */
        f->ts_ms = c->event_base_ms + (int64_t)(n * 43200000ull / c->o->accounts / 60);
        f->ts_ms = f->ts_ms < now_ms ? f->ts_ms : now_ms;
        return;
    }
    uint64_t acct = next_rand(c) % c->o->accounts;
    uint64_t r = next_rand(c);
    uint64_t merchant =
        r % 8 == 0 ? next_rand(c) % c->o->merchants : (acct * 7919 + r % 6) % c->o->merchants;
    snprintf(f->account, sizeof(f->account), "acct-%llu", (unsigned long long)acct);
    snprintf(f->merchant, sizeof(f->merchant), "m-%llu", (unsigned long long)merchant);
    uint64_t a = next_rand(c);
    f->cents = a % 10 == 0 ? 100 + a % 49900 : 100 + a % 6000; /* mostly 1..60, some to 500 */
}

static void put_http(struct conn *k, const struct fields *f)
{
    char body[BODY_BYTES];
    int blen = snprintf(body, sizeof(body),
                        "{\"transaction_id\":\"%s\",\"account_id\":\"%s\",\"merchant_id\":\"%s\","
                        "\"amount\":\"%llu.%02llu\",\"currency\":\"EUR\",\"timestamp\":%lld,"
                        "\"channel\":\"ecommerce\",\"country\":\"FR\"}",
                        f->id, f->account, f->merchant, (unsigned long long)(f->cents / 100),
                        (unsigned long long)(f->cents % 100), (long long)f->ts_ms);
    VG_CHECK(blen > 0 && (size_t)blen < sizeof(body));
    const vg_bi_opts_t *o = k->cl->o;
    struct obuf *b = &k->out[k->cur];
    size_t room = strlen(o->path) + strlen(o->host_header) + (size_t)blen + 128;
    char *p = obuf_reserve(b, room);
    int n = snprintf(p, room,
                     "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %d\r\n\r\n%s",
                     o->path, o->host_header, blen, body);
    VG_CHECK(n > 0 && (size_t)n < room);
    b->len += (size_t)n;
}

static void put_tcp(struct conn *k, const struct fields *f, uint64_t seq)
{
    char currency[] = "EUR";
    char country[] = "FR";
    char id[sizeof(f->id)];
    char account[sizeof(f->account)];
    char merchant[sizeof(f->merchant)];
    memcpy(id, f->id, sizeof(id)); /* protobuf-c's strings are not const */
    memcpy(account, f->account, sizeof(account));
    memcpy(merchant, f->merchant, sizeof(merchant));
    Vigil__Transaction tx = VIGIL__TRANSACTION__INIT;
    tx.transaction_id = id;
    tx.account_id = account;
    tx.merchant_id = merchant;
    tx.amount_minor = (int64_t)f->cents;
    tx.currency = currency;
    tx.channel = VIGIL__CHANNEL__CHANNEL_ECOMMERCE;
    tx.country = country;
    tx.timestamp_ms = f->ts_ms;
    Vigil__IngestRequest req = VIGIL__INGEST_REQUEST__INIT;
    req.seq = seq;
    req.item_case = VIGIL__INGEST_REQUEST__ITEM_TRANSACTION;
    req.transaction = &tx;
    size_t len = vigil__ingest_request__get_packed_size(&req);
    struct obuf *b = &k->out[k->cur];
    uint8_t *p = (uint8_t *)obuf_reserve(b, VG_FRAME_HEADER_BYTES + len);
    vg_frame_header(p, (uint32_t)len);
    size_t packed = vigil__ingest_request__pack(&req, p + VG_FRAME_HEADER_BYTES);
    VG_CHECK(packed == len);
    b->len += VG_FRAME_HEADER_BYTES + len;
}

/* Appends one request to k's output and records it in flight. */
static void send_one(struct client *c, struct conn *k, uint64_t t_ns)
{
    uint64_t seq = c->nreq++;
    struct fields f;
    make_fields(c, seq, &f);
    if (c->o->tcp)
        put_tcp(k, &f, seq);
    else
        put_http(k, &f);
    struct inflight *r = &k->ring[(k->head + k->count) % k->ring_cap];
    r->seq = seq;
    r->t_ns = t_ns;
    r->measured = t_ns >= c->warm_ns;
    k->count++;
    c->outstanding++;
    c->st->sent++;
    if (!k->dirty) {
        k->dirty = true;
        c->dirty[c->ndirty++] = k;
    }
}

/* Sends what is due on connections with room, flushes, and sets the next wake-up. */
static void pump(struct client *c)
{
    if (c->stopping)
        return;
    uint64_t now = vg_clock_mono_ns();
    struct conn *k = NULL;
    while ((k = queue_front(c)) != NULL) {
        uint64_t t = now;
        if (c->o->open) {
            t = due_time(c, c->next_due);
            if (t > now || t >= c->end_ns)
                break;
            c->next_due++;
        } else if (now >= c->end_ns) {
            break;
        }
        send_one(c, k, t);
        queue_pop(c);
        enqueue(c, k); /* to the back while it has room: requests spread over connections */
    }
    for (size_t i = 0; i < c->ndirty; i++) {
        c->dirty[i]->dirty = false;
        flush(c->dirty[i]);
    }
    c->ndirty = 0;
    if (c->o->open && c->qlen > 0) {
        uint64_t t = due_time(c, c->next_due);
        if (t < c->end_ns)
            arm_tick(c, t);
    }
}

static void flush(struct conn *k)
{
    struct obuf *b = &k->out[k->cur];
    if (k->writing || !k->alive || b->len == 0)
        return;
    uv_buf_t buf = uv_buf_init(b->p, (unsigned)b->len);
    /* Straight to the socket first: a uv_write that completes at once still costs the loop
     * an epoll_ctl (libuv re-arms the watcher after its callback), one per request here,
     * which this load generator would take from the server on a 2-core machine. */
    int n = uv_try_write((uv_stream_t *)&k->tcp, &buf, 1);
    if (n == (int)b->len) {
        b->len = 0;
        return;
    }
    if (n < 0 && n != UV_EAGAIN) {
        conn_fail(k, n);
        return;
    }
    if (n > 0)
        buf = uv_buf_init(b->p + n, (unsigned)(b->len - (size_t)n));
    int rc = uv_write(&k->write, (uv_stream_t *)&k->tcp, &buf, 1, on_write);
    if (rc != 0) {
        conn_fail(k, rc);
        return;
    }
    k->writing = true;
    k->cur ^= 1u;
}

/* Records latencies of what never got an answer, then closes everything. */
static void finish(struct client *c)
{
    if (c->finished)
        return;
    c->finished = true;
    c->stopping = true;
    uint64_t now = vg_clock_mono_ns();
    for (size_t i = 0; i < c->nconns; i++) {
        struct conn *k = &c->conns[i];
        for (size_t j = 0; k->alive && j < k->count; j++) {
            const struct inflight *r = &k->ring[(k->head + j) % k->ring_cap];
            if (r->measured) {
                c->st->unanswered++;
                vg_histogram_record(&c->st->hist, now - r->t_ns);
            }
        }
        k->alive = false;
        if (!uv_is_closing((uv_handle_t *)&k->tcp))
            uv_close((uv_handle_t *)&k->tcp, NULL);
    }
    /* Open loop: due but never sent because no connection had room. */
    for (uint64_t i = c->next_due; c->o->open && c->t0 && due_time(c, i) < c->end_ns; i++) {
        uint64_t t = due_time(c, i);
        if (t >= c->warm_ns) {
            c->st->unsent++;
            vg_histogram_record(&c->st->hist, now > t ? now - t : 0);
        }
    }
    uv_close((uv_handle_t *)&c->phase, NULL);
    if (c->o->open)
        uv_close((uv_handle_t *)&c->tick, NULL);
}

static void conn_fail(struct conn *k, int err)
{
    struct client *c = k->cl;
    if (!c->st->first_error)
        c->st->first_error = err;
    if (k->alive) {
        c->st->conn_errors++;
        for (size_t j = 0; j < k->count; j++) {
            if (k->ring[(k->head + j) % k->ring_cap].measured)
                c->st->lost++;
        }
        c->outstanding -= k->count;
        k->count = 0;
        k->alive = false;
    }
    if (!uv_is_closing((uv_handle_t *)&k->tcp))
        uv_close((uv_handle_t *)&k->tcp, NULL);
    size_t live = 0;
    for (size_t i = 0; i < c->nconns; i++)
        live += c->conns[i].alive ? 1 : 0;
    /* Finished when nothing is left to measure with, or nothing is left to wait for. */
    if (c->t0 && ((live == 0 && c->connecting == 0) || (c->stopping && c->outstanding == 0)))
        finish(c);
}

/* Takes the oldest request in flight off k; returns whether it counts, and counts it. */
static bool complete(struct conn *k, uint64_t seq, bool *seq_ok)
{
    struct client *c = k->cl;
    struct inflight r = k->ring[k->head];
    *seq_ok = !c->o->tcp || r.seq == seq;
    k->head = (k->head + 1) % k->ring_cap;
    k->count--;
    c->outstanding--;
    uint64_t now = vg_clock_mono_ns();
    if (now >= c->warm_ns && now < c->end_ns)
        c->st->in_window++;
    if (r.measured)
        vg_histogram_record(&c->st->hist, now - r.t_ns);
    enqueue(c, k);
    return r.measured;
}

/* ---- HTTP responses ---- */

static const char *find_crlfcrlf(const char *p, size_t len)
{
    for (size_t i = 0; i + 4 <= len; i++) {
        if (p[i] == '\r' && memcmp(p + i, "\r\n\r\n", 4) == 0)
            return p + i;
    }
    return NULL;
}

/* The response at the front of buf. OUT: *status, *total (head and body bytes). 0; -EAGAIN when
 * incomplete; -EPROTO for a response this client cannot frame. */
static int http_parse(const char *buf, size_t len, int *status, size_t *total)
{
    size_t scan = len < MAX_HEAD_BYTES ? len : MAX_HEAD_BYTES;
    const char *end = find_crlfcrlf(buf, scan);
    if (!end)
        return len >= MAX_HEAD_BYTES ? -EPROTO : -EAGAIN;
    if (end - buf < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ')
        return -EPROTO;
    int code = 0;
    for (size_t i = 9; i < 12; i++) {
        if (buf[i] < '0' || buf[i] > '9')
            return -EPROTO;
        code = code * 10 + (buf[i] - '0');
    }
    bool have_length = false;
    size_t body = 0;
    for (const char *line = memchr(buf, '\n', (size_t)(end - buf)); line && line < end;
         line = memchr(line, '\n', (size_t)(end - line))) {
        line++;
        if (strncasecmp(line, "transfer-encoding:", 18) == 0)
            return -EPROTO; /* chunked: the server under test never sends it */
        if (strncasecmp(line, "content-length:", 15) != 0)
            continue;
        const char *v = line + 15;
        while (*v == ' ' || *v == '\t')
            v++;
        char *vend = NULL;
        unsigned long long n = strtoull(v, &vend, 10);
        if (vend == v || n > (1ull << 30))
            return -EPROTO;
        body = (size_t)n;
        have_length = true;
    }
    if (!have_length && !(code == 204 || code == 304 || code < 200))
        return -EPROTO;
    size_t head = (size_t)(end - buf) + 4;
    if (len < head + body)
        return -EAGAIN;
    *status = code;
    *total = head + body;
    return 0;
}

static void count_status(vg_bi_stats_t *st, int status)
{
    if (status >= 200 && status < 300)
        st->ok++;
    else if (status == 429)
        st->overload++;
    else
        st->other++;
    if (status >= 0 && status < VG_BI_MAX_STATUS)
        st->status[status]++;
}

static int http_input(struct conn *k)
{
    size_t off = 0;
    for (;;) {
        int status = 0;
        size_t total = 0;
        int rc = http_parse(k->in + off, k->in_len - off, &status, &total);
        if (rc == -EAGAIN)
            break;
        if (rc != 0)
            return rc;
        if (k->count == 0)
            return -EPROTO; /* an answer to nothing */
        bool seq_ok = true;
        if (complete(k, 0, &seq_ok))
            count_status(k->cl->st, status);
        off += total;
    }
    memmove(k->in, k->in + off, k->in_len - off);
    k->in_len -= off;
    return 0;
}

/* ---- TCP replies ---- */

static void count_code(vg_bi_stats_t *st, const char *code)
{
    size_t j = 0;
    while (j < st->ncodes && strcmp(st->codes[j].code, code) != 0)
        j++;
    if (j == st->ncodes) {
        if (j == VG_BI_MAX_CODES) {
            st->codes_dropped++;
            return;
        }
        snprintf(st->codes[j].code, sizeof(st->codes[j].code), "%s", code);
        st->ncodes++;
    }
    st->codes[j].n++;
}

static int on_frame(void *ctx, vg_bytes_t payload)
{
    struct conn *k = ctx;
    struct client *c = k->cl;
    Vigil__IngestReply *r = vigil__ingest_reply__unpack(&c->pa, payload.len, payload.ptr);
    if (!r || k->count == 0) {
        vg_arena_reset(&c->arena);
        return -EPROTO;
    }
    bool seq_ok = true;
    bool measured = complete(k, r->seq, &seq_ok);
    if (!seq_ok) {
        vg_arena_reset(&c->arena);
        return -EPROTO; /* replies must come back in order */
    }
    if (measured) {
        if (r->result_case == VIGIL__INGEST_REPLY__RESULT_DECISION) {
            c->st->ok++;
            c->st->flagged += r->decision && r->decision->level >= VIGIL__LEVEL__LEVEL_MEDIUM;
        } else if (r->result_case == VIGIL__INGEST_REPLY__RESULT_ACCEPTED) {
            c->st->accepted++;
        } else {
            c->st->other++;
            bool coded = r->result_case == VIGIL__INGEST_REPLY__RESULT_ERROR && r->error &&
                         r->error->code && r->error->code[0];
            count_code(c->st, coded ? r->error->code : "(no result)");
        }
    }
    vg_arena_reset(&c->arena);
    return 0;
}

static void *pa_alloc(void *data, size_t size)
{
    struct client *c = data;
    return vg_arena_alloc(&c->arena, size);
}

static void pa_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr; /* the arena is reset after each reply */
}

/* ---- libuv callbacks ---- */

static void on_connect(uv_connect_t *req, int status)
{
    struct conn *k = req->data;
    struct client *c = k->cl;
    c->connecting--;
    if (status == 0 && !c->finished) {
        k->alive = true;
        status = uv_read_start((uv_stream_t *)&k->tcp, on_alloc, on_read);
    }
    if (status != 0) {
        conn_fail(k, status);
        c->rc = status; /* a connection that cannot be made makes the run meaningless */
    }
    if (c->connecting > 0)
        return;
    if (c->rc != 0) {
        finish(c);
        return;
    }
    for (size_t i = 0; i < c->nconns; i++)
        enqueue(c, &c->conns[i]);
    start_run(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct conn *k = h->data;
    if (k->cl->o->tcp) {
        *buf = uv_buf_init(k->in, (unsigned)k->in_cap);
        return;
    }
    if (k->in_cap - k->in_len < 4096) {
        k->in_cap *= 2;
        k->in = vg_xrealloc(k->in, k->in_cap);
    }
    *buf = uv_buf_init(k->in + k->in_len, (unsigned)(k->in_cap - k->in_len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *k = s->data;
    struct client *c = k->cl;
    if (nread == 0)
        return;
    if (nread < 0) {
        conn_fail(k, (int)nread);
        return;
    }
    int rc = 0;
    if (c->o->tcp) {
        rc = vg_frame_feed(&k->dec, (const uint8_t *)buf->base, (size_t)nread, on_frame, k, NULL);
    } else {
        k->in_len += (size_t)nread;
        rc = http_input(k);
    }
    if (rc != 0) {
        conn_fail(k, rc);
        return;
    }
    if (c->stopping && c->outstanding == 0)
        finish(c);
    else
        pump(c);
}

static void on_write(uv_write_t *req, int status)
{
    struct conn *k = req->data;
    k->writing = false;
    k->out[k->cur ^ 1u].len = 0;
    if (k->cl->finished)
        return;
    if (status != 0) {
        if (status != UV_ECANCELED)
            conn_fail(k, status);
        return;
    }
    flush(k);
}

static void on_phase(uv_timer_t *t)
{
    struct client *c = t->data;
    if (!c->stopping && vg_clock_mono_ns() < c->end_ns) {
        uv_timer_start(&c->phase, on_phase, 1, 0); /* uv timers round to ms */
        return;
    }
    if (!c->stopping)
        pump(c); /* what fell due just before the end */
    if (c->stopping || c->outstanding == 0) {
        finish(c);
        return;
    }
    c->stopping = true;
    if (c->o->open)
        uv_poll_stop(&c->tick);
    uv_timer_start(&c->phase, on_phase, DRAIN_NS / 1000000, 0);
}

static void on_tick(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    struct client *c = p->data;
    uint64_t expirations = 0;
    /* Clears the timerfd; EAGAIN (already read) is harmless. */
    ssize_t got = read(c->tfd, &expirations, sizeof(expirations));
    (void)got;
    pump(c);
}
