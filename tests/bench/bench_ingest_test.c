/* SPDX-License-Identifier: MIT */
/*
 * The TCP client of `vigil bench ingest` against a fake in-process TCP ingest server (a libuv
 * loop on its own thread) that answers every IngestRequest frame with an IngestReply of the same
 * seq: a decision, or every tenth time an error. Checks the framing, the in-order seq matching,
 * the counts, and the open loop's pacing. Thread: test main plus the fake server's loop.
 */
#include "actors/frame.h"
#include "bench/bench_ingest_int.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/compiler.h"
#include "tests/vg_test.h"

#include "storage/vigil.pb-c.h"
#include <uv.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fake {
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_async_t stop;
    pthread_t thread;
    int port;
    uint64_t seq_skew; /* added to every reply's seq: 1 breaks the stream */
    uint64_t frames;
    int64_t max_ts_ms; /* the latest event time of a transaction received */
};

struct fconn {
    uv_tcp_t tcp;
    struct fake *f;
    vg_frame_decoder_t dec;
    char buf[65536];
};

struct fwrite {
    uv_write_t req;
    uint8_t data[];
};

static void on_fconn_closed(uv_handle_t *h)
{
    struct fconn *c = vg_container_of((uv_tcp_t *)h, struct fconn, tcp);
    vg_frame_decoder_close(&c->dec);
    free(c);
}

static void on_fwrite(uv_write_t *req, int status)
{
    (void)status;
    free(vg_container_of(req, struct fwrite, req));
}

static int on_fframe(void *ctx, vg_bytes_t payload)
{
    struct fconn *c = ctx;
    Vigil__IngestRequest *in = vigil__ingest_request__unpack(NULL, payload.len, payload.ptr);
    if (!in)
        return -1;
    c->f->frames++;
    if (in->transaction && in->transaction->timestamp_ms > c->f->max_ts_ms)
        c->f->max_ts_ms = in->transaction->timestamp_ms;
    Vigil__IngestReply out = VIGIL__INGEST_REPLY__INIT;
    Vigil__Decision d = VIGIL__DECISION__INIT;
    Vigil__IngestError e = VIGIL__INGEST_ERROR__INIT;
    char code[] = "invalid_amount";
    out.seq = in->seq + c->f->seq_skew;
    if (in->seq % 10 == 9) {
        e.code = code;
        out.result_case = VIGIL__INGEST_REPLY__RESULT_ERROR;
        out.error = &e;
    } else {
        d.transaction_id = in->transaction ? in->transaction->transaction_id : NULL;
        out.result_case = VIGIL__INGEST_REPLY__RESULT_DECISION;
        out.decision = &d;
    }
    size_t len = vigil__ingest_reply__get_packed_size(&out);
    struct fwrite *w = vg_xmalloc(sizeof(*w) + VG_FRAME_HEADER_BYTES + len);
    vg_frame_header(w->data, (uint32_t)len);
    vigil__ingest_reply__pack(&out, w->data + VG_FRAME_HEADER_BYTES);
    vigil__ingest_request__free_unpacked(in, NULL);
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)(VG_FRAME_HEADER_BYTES + len));
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_fwrite) != 0)
        free(w);
    return 0;
}

static void on_falloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct fconn *c = vg_container_of((uv_tcp_t *)h, struct fconn, tcp);
    *buf = uv_buf_init(c->buf, sizeof(c->buf));
}

static void on_fread(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct fconn *c = vg_container_of((uv_tcp_t *)s, struct fconn, tcp);
    if (n < 0 || (n > 0 && vg_frame_feed(&c->dec, (const uint8_t *)buf->base, (size_t)n, on_fframe,
                                         c, NULL) != 0)) {
        if (!uv_is_closing((uv_handle_t *)&c->tcp))
            uv_close((uv_handle_t *)&c->tcp, on_fconn_closed);
    }
}

static void on_fconnection(uv_stream_t *server, int status)
{
    struct fake *f = server->data;
    if (status != 0)
        return;
    struct fconn *c = vg_xcalloc(1, sizeof(*c));
    c->f = f;
    vg_frame_decoder_init(&c->dec, 1u << 20);
    uv_tcp_init(&f->loop, &c->tcp);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, on_falloc, on_fread) != 0)
        uv_close((uv_handle_t *)&c->tcp, on_fconn_closed);
}

static void close_one(uv_handle_t *h, void *arg)
{
    struct fake *f = arg;
    if (uv_is_closing(h))
        return;
    if (h == (uv_handle_t *)&f->listener || h == (uv_handle_t *)&f->stop)
        uv_close(h, NULL);
    else
        uv_close(h, on_fconn_closed); /* an accepted connection */
}

static void on_fstop(uv_async_t *a)
{
    uv_walk(a->loop, close_one, a->data);
}

static void *fake_main(void *arg)
{
    struct fake *f = arg;
    uv_run(&f->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void fake_start(struct fake *f, uint64_t seq_skew)
{
    memset(f, 0, sizeof(*f));
    signal(SIGPIPE, SIG_IGN); /* as vg_bench_ingest does: a closed peer is an error, not a kill */
    f->seq_skew = seq_skew;
    ASSERT_EQ(uv_loop_init(&f->loop), 0);
    ASSERT_EQ(uv_tcp_init(&f->loop, &f->listener), 0);
    f->listener.data = f;
    ASSERT_EQ(uv_async_init(&f->loop, &f->stop, on_fstop), 0);
    f->stop.data = f;
    struct sockaddr_in sa;
    ASSERT_EQ(uv_ip4_addr("127.0.0.1", 0, &sa), 0);
    ASSERT_EQ(uv_tcp_bind(&f->listener, (const struct sockaddr *)&sa, 0), 0);
    ASSERT_EQ(uv_listen((uv_stream_t *)&f->listener, 64, on_fconnection), 0);
    int len = sizeof(sa);
    ASSERT_EQ(uv_tcp_getsockname(&f->listener, (struct sockaddr *)&sa, &len), 0);
    f->port = ntohs(sa.sin_port);
    ASSERT_EQ(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_stop(struct fake *f)
{
    uv_async_send(&f->stop);
    pthread_join(f->thread, NULL);
    ASSERT_EQ(uv_loop_close(&f->loop), 0);
}

static void tcp_opts(vg_bi_opts_t *o, int port)
{
    memset(o, 0, sizeof(*o));
    o->tcp = true;
    o->conns = 2;
    o->window = 16;
    o->threads = 1;
    o->accounts = 100;
    o->merchants = 10;
    o->duration_s = 0.5;
    o->warmup_s = 0.1;
    o->path = "/";
    snprintf(o->prefix, sizeof(o->prefix), "test");
    ASSERT_EQ(uv_ip4_addr("127.0.0.1", port, (struct sockaddr_in *)&o->addr), 0);
}

static void check_closed_loop(const vg_bi_stats_t *st, uint64_t frames);

VG_TEST(tcp_closed_loop)
{
    struct fake f;
    fake_start(&f, 0);
    vg_bi_opts_t o;
    tcp_opts(&o, f.port);
    vg_bi_stats_t *st = vg_xcalloc(1, sizeof(*st));
    ASSERT_OK(vg__bi_client_run(&o, 0, 0, st));
    fake_stop(&f);
    check_closed_loop(st, f.frames);
    free(st);
}

/* With one account each request moves event time on by 12 hours: 40 requests went past the
 * 20 days' head start, and a server refused the rest as timestamp_in_future. */
VG_TEST(tcp_event_time_stays_behind_the_clock)
{
    struct fake f;
    fake_start(&f, 0);
    vg_bi_opts_t o;
    tcp_opts(&o, f.port);
    o.accounts = 1;
    vg_bi_stats_t *st = vg_xcalloc(1, sizeof(*st));
    ASSERT_OK(vg__bi_client_run(&o, 0, 0, st));
    fake_stop(&f);
    ASSERT_GT(f.frames, 1000);
    ASSERT_GT(f.max_ts_ms, 0);
    ASSERT_LE(f.max_ts_ms, vg_clock_wall_ms());
    free(st);
}

static void check_closed_loop(const vg_bi_stats_t *st, uint64_t frames)
{
    ASSERT_GT(st->ok, 100);
    ASSERT_EQ_U(st->conn_errors, 0);
    ASSERT_EQ_U(st->unanswered, 0);
    ASSERT_EQ_U(st->lost, 0);
    ASSERT_EQ_U(st->sent, frames);
    ASSERT_EQ_U(st->ncodes, 1);
    ASSERT_STR_EQ(st->codes[0].code, "invalid_amount");
    ASSERT_EQ_U(st->codes[0].n, st->other);
    /* Every tenth seq is refused: roughly a tenth of the measured replies. */
    ASSERT_GT(st->other * 20, st->ok);
    ASSERT_LT(st->other * 5, st->ok);
    ASSERT_EQ_U(st->hist.count, st->ok + st->other);
}

VG_TEST(tcp_open_loop_paces)
{
    struct fake f;
    fake_start(&f, 0);
    vg_bi_opts_t o;
    tcp_opts(&o, f.port);
    o.open = true;
    o.rate = 2000;
    vg_bi_stats_t *st = vg_xcalloc(1, sizeof(*st));
    ASSERT_OK(vg__bi_client_run(&o, 0, 0, st));
    fake_stop(&f);
    /* 0.6 s at 2000/s is 1200 requests; 0.5 s of them measured. */
    ASSERT_EQ_U(st->sent, 1200);
    ASSERT_GE(st->in_window, 950);
    ASSERT_LE(st->in_window, 1050);
    ASSERT_EQ_U(st->hist.count, 1000);
    ASSERT_EQ_U(st->unsent, 0);
    free(st);
}

VG_TEST(tcp_seq_mismatch_fails_connections)
{
    struct fake f;
    fake_start(&f, 1);
    vg_bi_opts_t o;
    tcp_opts(&o, f.port);
    o.duration_s = 0.2;
    vg_bi_stats_t *st = vg_xcalloc(1, sizeof(*st));
    ASSERT_OK(vg__bi_client_run(&o, 0, 0, st));
    fake_stop(&f);
    ASSERT_EQ_U(st->conn_errors, 2);
    ASSERT_EQ(st->first_error, -EPROTO);
    ASSERT_EQ_U(st->ok, 0);
    free(st);
}
