/* SPDX-License-Identifier: MIT */
/*
 * `vigil bench runtime`: the actor runtime's throughput and latency.
 *  - within a loop: a producer and a consumer actor on one loop;
 *  - across loops: producer on loop 0, consumer on loop 1 (drained in batches per wake-up);
 *  - request/reply: one outstanding request at a time, round trip p50/p99.
 * Messages are preallocated and flow-controlled by credits (the consumer hands back a credit
 * every window/4 messages), so the numbers measure the runtime, not malloc.
 * Thread: main, plus the runtime's loops.
 */
#include "bench/bench.h"
#include "runtime/actor.h"
#include "runtime/alloc.h"
#include "runtime/cli.h"
#include "runtime/clock.h"
#include "runtime/error.h"
#include "runtime/event.h"
#include "runtime/histogram.h"
#include "runtime/logging.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW      4096u
#define CREDIT_STEP (WINDOW / 4u)
#define NCREDITS    (WINDOW / CREDIT_STEP + 2u)

enum { MSG_DATA = 1, MSG_CREDIT = 2, MSG_START = 3 };

struct bench_msg {
    vg_msg_t hdr;
    uint64_t seq;
};

struct bconsumer {
    vg_actor_t actor;
    vg_actor_t *producer;
    uint64_t received;
    uint64_t since_credit;
    struct bench_msg credits[NCREDITS];
    unsigned next_credit;
};

struct bproducer {
    vg_actor_t actor;
    vg_actor_t *consumer;
    struct bench_msg ring[WINDOW];
    uint64_t sent;
    uint64_t credited;
    uint64_t deadline_ns;
    uint64_t start_ns;
    uint64_t end_ns;
    bool finished;
    uint64_t consumed_at_end;
    struct bconsumer *cons;
    vg_event_t *flag;
};

static void producer_fill(struct bproducer *p)
{
    /* Messages below `credited` have been consumed, so their slots may be reused. */
    while (p->sent < p->credited + WINDOW) {
        struct bench_msg *m = &p->ring[p->sent % WINDOW];
        m->hdr.type = MSG_DATA;
        m->seq = p->sent;
        if (vg_actor_send(p->consumer, &m->hdr) != 0)
            break;
        p->sent++;
    }
}

static void producer_receive(vg_actor_t *self, vg_msg_t *msg)
{
    struct bproducer *p = vg_container_of(self, struct bproducer, actor);
    if (msg->type == MSG_START) {
        p->start_ns = vg_clock_mono_ns();
        producer_fill(p);
        return;
    }
    p->credited += CREDIT_STEP;
    if (p->finished)
        return;
    uint64_t now = vg_clock_mono_ns();
    if (now >= p->deadline_ns) {
        p->finished = true;
        p->end_ns = now;
        p->consumed_at_end = p->credited;
        vg_event_set(p->flag);
        return;
    }
    producer_fill(p);
}

static void consumer_receive(vg_actor_t *self, vg_msg_t *msg)
{
    struct bconsumer *c = vg_container_of(self, struct bconsumer, actor);
    (void)msg;
    c->received++;
    if (++c->since_credit == CREDIT_STEP) {
        c->since_credit = 0;
        struct bench_msg *cr = &c->credits[c->next_credit++ % NCREDITS];
        cr->hdr.type = MSG_CREDIT;
        int rc = vg_actor_send(c->producer, &cr->hdr);
        /* The producer's mailbox holds every outstanding credit; it only refuses once the
         * run is over and the runtime is stopping. */
        VG_CHECK(rc == 0 || rc == VG_ESTOPPED);
    }
}

static const vg_actor_ops_t bproducer_ops = {"bench-producer", producer_receive, NULL};
static const vg_actor_ops_t bconsumer_ops = {"bench-consumer", consumer_receive, NULL};

/* One throughput run; returns messages/s. */
static double run_throughput(unsigned consumer_loop, double seconds)
{
    vg_runtime_opts_t opts = {.workers = consumer_loop + 1, .drain_batch = 1024};
    vg_runtime_t *rt = NULL;
    VG_CHECK(vg_runtime_new(&opts, &rt) == 0);
    vg_event_t flag;
    vg_event_init(&flag);
    struct bproducer *p = vg_xcalloc(1, sizeof(*p));
    struct bconsumer *c = vg_xcalloc(1, sizeof(*c));
    vg_actor_init(&p->actor, vg_runtime_loop(rt, 0), &bproducer_ops, "producer", 1024);
    vg_actor_init(&c->actor, vg_runtime_loop(rt, consumer_loop), &bconsumer_ops, "consumer",
                  WINDOW);
    p->consumer = &c->actor;
    c->producer = &p->actor;
    p->flag = &flag;
    p->deadline_ns = vg_clock_mono_ns() + (uint64_t)(seconds * 1e9);
    VG_CHECK(vg_runtime_start(rt) == 0);
    struct bench_msg start = {.hdr.type = MSG_START};
    VG_CHECK(vg_actor_send(&p->actor, &start.hdr) == 0);
    vg_event_wait(&flag);
    double rate = (double)p->consumed_at_end / ((double)(p->end_ns - p->start_ns) / 1e9);
    vg_runtime_free(rt);
    free(p);
    free(c);
    vg_event_close(&flag);
    return rate;
}

/* ---- request/reply round trips ---- */

struct echo {
    vg_actor_t actor;
};

static void echo_receive(vg_actor_t *self, vg_msg_t *msg)
{
    (void)self;
    int rc = vg_actor_reply(msg, msg);
    VG_CHECK(rc == 0);
}

struct pinger {
    vg_actor_t actor;
    vg_actor_t *echo;
    struct bench_msg msg;
    vg_histogram_t hist;
    uint64_t sent_ns;
    uint64_t deadline_ns;
    bool done;
    vg_event_t *flag;
};

static void ping(struct pinger *p);

static void pinger_on_reply(vg_actor_t *self, vg_msg_t *reply, void *ctx)
{
    (void)self;
    (void)reply;
    struct pinger *p = ctx;
    if (p->done)
        return;
    uint64_t now = vg_clock_mono_ns();
    vg_histogram_record(&p->hist, now - p->sent_ns);
    if (now >= p->deadline_ns) {
        p->done = true;
        vg_event_set(p->flag);
        return;
    }
    ping(p);
}

static void ping(struct pinger *p)
{
    p->sent_ns = vg_clock_mono_ns();
    int rc = vg_actor_request(&p->actor, p->echo, &p->msg.hdr, pinger_on_reply, p);
    VG_CHECK(rc == 0);
}

static void pinger_receive(vg_actor_t *self, vg_msg_t *msg)
{
    (void)msg;
    ping(vg_container_of(self, struct pinger, actor));
}

static const vg_actor_ops_t echo_ops = {"bench-echo", echo_receive, NULL};
static const vg_actor_ops_t pinger_ops = {"bench-pinger", pinger_receive, NULL};

static void run_rtt(unsigned echo_loop, double seconds, vg_histogram_t *out)
{
    vg_runtime_opts_t opts = {.workers = echo_loop + 1};
    vg_runtime_t *rt = NULL;
    VG_CHECK(vg_runtime_new(&opts, &rt) == 0);
    vg_event_t flag;
    vg_event_init(&flag);
    struct echo *e = vg_xcalloc(1, sizeof(*e));
    struct pinger *p = vg_xcalloc(1, sizeof(*p));
    vg_histogram_init(&p->hist);
    vg_actor_init(&e->actor, vg_runtime_loop(rt, echo_loop), &echo_ops, "echo", 16);
    vg_actor_init(&p->actor, vg_runtime_loop(rt, 0), &pinger_ops, "pinger", 16);
    p->echo = &e->actor;
    p->flag = &flag;
    p->deadline_ns = vg_clock_mono_ns() + (uint64_t)(seconds * 1e9);
    VG_CHECK(vg_runtime_start(rt) == 0);
    struct bench_msg start = {.hdr.type = MSG_START};
    VG_CHECK(vg_actor_send(&p->actor, &start.hdr) == 0);
    vg_event_wait(&flag);
    vg_runtime_free(rt);
    vg_histogram_merge(out, &p->hist);
    free(e);
    free(p);
    vg_event_close(&flag);
}

int vg_bench_tmpdir(const char *name, char *buf, size_t len)
{
    const char *base = getenv("TMPDIR");
    snprintf(buf, len, "%s/vigil-bench-%s-XXXXXX", base && *base ? base : "/tmp", name);
    if (!mkdtemp(buf)) {
        int rc = -errno;
        fprintf(stderr, "vigil bench %s: cannot create a temporary directory: %s\n", name,
                vg_strerror(rc));
        return rc;
    }
    return 0;
}

double vg_bench_median(double *values, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        double v = values[i];
        size_t j = i;
        for (; j > 0 && values[j - 1] > v; j--)
            values[j] = values[j - 1];
        values[j] = v;
    }
    if (n == 0)
        return 0;
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

const char *vg_bench_fmt(double v, char *buf, size_t len)
{
    char digits[32];
    snprintf(digits, sizeof(digits), "%.0f", v);
    size_t nd = strlen(digits);
    size_t o = 0;
    for (size_t i = 0; i < nd && o + 2 < len; i++) {
        if (i > 0 && (nd - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

#define MAX_RUNS 21

int vg_bench_runtime(int argc, char **argv)
{
    uint64_t runs = 5;
    double seconds = 1.0;
    const vg_cli_opt_t opts[] = {
        {"runs", VG_CLI_UINT, &runs, "N", "repetitions per measurement (median reported)", 1,
         MAX_RUNS, NULL},
        {"seconds", VG_CLI_DOUBLE, &seconds, "S", "duration of each repetition", 0.05, 60, NULL},
    };
    const vg_cli_t cli = {"vigil bench runtime",
                          "[flags]",
                          "Measures the actor runtime: messages/s between two actors on one loop "
                          "and across two loops,\nand request/reply round-trip latency.",
                          opts,
                          VG_ARRAY_LEN(opts),
                          0,
                          0};
    int rc = vg_cli_parse(&cli, argc, argv, NULL, NULL);
    if (rc != 0)
        return rc == VG_CLI_HELP ? 0 : 2;

    char b1[32];
    char b2[32];
    char b3[32];
    printf("# vigil bench runtime: runs=%llu seconds=%.2f window=%u\n", (unsigned long long)runs,
           seconds, WINDOW);
    const char *names[2] = {"within one loop", "across two loops"};
    for (unsigned mode = 0; mode < 2; mode++) {
        double rates[MAX_RUNS] = {0};
        for (uint64_t r = 0; r < runs; r++)
            rates[r] = run_throughput(mode, seconds);
        double lo = rates[0];
        double hi = rates[0];
        for (uint64_t r = 1; r < runs; r++) {
            lo = rates[r] < lo ? rates[r] : lo;
            hi = rates[r] > hi ? rates[r] : hi;
        }
        double med = vg_bench_median(rates, (size_t)runs);
        printf("%-18s msgs/s median %s (min %s, max %s)\n", names[mode],
               vg_bench_fmt(med, b1, sizeof(b1)), vg_bench_fmt(lo, b2, sizeof(b2)),
               vg_bench_fmt(hi, b3, sizeof(b3)));
        fflush(stdout);
    }
    for (unsigned mode = 0; mode < 2; mode++) {
        vg_histogram_t h;
        vg_histogram_init(&h);
        for (uint64_t r = 0; r < runs; r++)
            run_rtt(mode, seconds / 2, &h);
        printf("request/reply %-5s round trips %s  p50 %.2f us  p99 %.2f us  max %.2f us\n",
               mode ? "cross" : "local", vg_bench_fmt((double)h.count, b1, sizeof(b1)),
               (double)vg_histogram_quantile(&h, 0.5) / 1e3,
               (double)vg_histogram_quantile(&h, 0.99) / 1e3, (double)h.max / 1e3);
        fflush(stdout);
    }
    return 0;
}
