/* SPDX-License-Identifier: MIT */
/*
 * `vigil bench log`: the segmented log under group commit. Writer threads (one libuv loop
 * each; the partitions are spread over them as the engine spreads them over workers) append
 * batches and ask for durability; a record counts once its group commit has acknowledged it.
 * Reports appends/s and MB/s per durability mode, partition count and record size, the
 * fdatasync time per group commit and the gap between commits (p50/p99/max), and sequential
 * read throughput. Thread: main plus the writer threads and the flushers.
 */
#include "bench/bench.h"
#include "runtime/alloc.h"
#include "runtime/cli.h"
#include "runtime/clock.h"
#include "runtime/error.h"
#include "runtime/io.h"
#include "runtime/logging.h"
#include "storage/groupcommit.h"
#include "storage/seglog.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PARTS    64
#define BATCH        128
#define MAX_INFLIGHT (1u << 14) /* records appended but not yet acknowledged, per log */

struct part {
    vg_seglog_t *log;
    vg_gcommit_t *gc;
    uint64_t acked;
};

struct writer {
    uv_loop_t loop;
    uv_idle_t idle;
    struct part *parts;
    size_t nparts;
    uint32_t rec_bytes;
    uint64_t deadline_ns;
    bool stopping;
    uint8_t *payload;
    pthread_t thread;
};

static void on_acked(void *ctx, uint64_t durable, int status)
{
    struct part *p = ctx;
    if (status == 0)
        p->acked = durable;
}

static void on_idle(uv_idle_t *h)
{
    struct writer *w = h->data;
    if (vg_clock_mono_ns() >= w->deadline_ns) {
        uv_idle_stop(h);
        uv_close((uv_handle_t *)h, NULL);
        for (size_t i = 0; i < w->nparts; i++)
            vg_gcommit_close(w->parts[i].gc, NULL, NULL);
        return;
    }
    vg_seglog_rec_t recs[BATCH];
    for (size_t i = 0; i < BATCH; i++)
        recs[i] = (vg_seglog_rec_t){VG_SEGLOG_TYPE_TEST, (int64_t)i, w->payload, w->rec_bytes};
    for (size_t i = 0; i < w->nparts; i++) {
        struct part *p = &w->parts[i];
        if (vg_seglog_next_offset(p->log) - p->acked > MAX_INFLIGHT)
            continue; /* backpressure: wait for the flusher */
        uint64_t first = 0;
        if (vg_seglog_append(p->log, recs, BATCH, &first) != 0)
            continue;
        vg_gcommit_request(p->gc);
    }
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    uv_run(&w->loop, UV_RUN_DEFAULT);
    return NULL;
}

struct result {
    double recs_per_s;
    double mb_per_s;
    vg_histogram_t sync_ns;
    vg_histogram_t gap_ns;
    uint64_t syncs;
};

static int run_append(const char *root, enum vg_gcommit_mode mode, unsigned nparts,
                      uint32_t rec_bytes, double seconds, unsigned threads, struct result *res)
{
    struct part *parts = vg_xcalloc(nparts, sizeof(*parts));
    struct writer *ws = vg_xcalloc(threads, sizeof(*ws));
    uint8_t *payload = vg_xcalloc(1, rec_bytes);
    memset(res, 0, sizeof(*res));
    vg_histogram_init(&res->sync_ns);
    vg_histogram_init(&res->gap_ns);
    int rc = 0;
    for (unsigned i = 0; i < nparts && rc == 0; i++) {
        char dir[700];
        snprintf(dir, sizeof(dir), "%s/p%02u", root, i);
        vg_seglog_opts_t o = {0};
        char err[256];
        rc = vg_seglog_open(dir, &o, &parts[i].log, NULL, err, sizeof(err));
    }
    uint64_t deadline = vg_clock_mono_ns() + (uint64_t)(seconds * 1e9);
    for (unsigned t = 0; t < threads && rc == 0; t++) {
        struct writer *w = &ws[t];
        uv_loop_init(&w->loop);
        w->rec_bytes = rec_bytes;
        w->payload = payload;
        w->deadline_ns = deadline;
        w->parts = vg_xcalloc(nparts, sizeof(*w->parts));
        for (unsigned i = t; i < nparts; i += threads) {
            struct part *p = &w->parts[w->nparts++];
            *p = parts[i];
            vg_gcommit_opts_t go = {.mode = mode, .max_us = 0};
            rc = vg_gcommit_new(p->log, &w->loop, &go, on_acked, p, &p->gc);
        }
        uv_idle_init(&w->loop, &w->idle);
        w->idle.data = w;
        uv_idle_start(&w->idle, on_idle);
    }
    uint64_t t0 = vg_clock_mono_ns();
    for (unsigned t = 0; t < threads && rc == 0; t++)
        pthread_create(&ws[t].thread, NULL, writer_main, &ws[t]);
    uint64_t acked = 0;
    for (unsigned t = 0; t < threads && rc == 0; t++) {
        pthread_join(ws[t].thread, NULL);
        uv_loop_close(&ws[t].loop);
        for (size_t i = 0; i < ws[t].nparts; i++)
            acked += ws[t].parts[i].acked;
    }
    double secs = (double)(vg_clock_mono_ns() - t0) / 1e9;
    res->recs_per_s = (double)acked / secs;
    res->mb_per_s = (double)acked * (rec_bytes + VG_SEGLOG_RECORD_BYTES) / secs / 1e6;
    for (unsigned t = 0; t < threads; t++)
        free(ws[t].parts);
    for (unsigned i = 0; i < nparts; i++)
        vg_seglog_close(parts[i].log);
    free(parts);
    free(ws);
    free(payload);
    return rc;
}

/* The group-commit stats are lost with the gcommit; measure sync timing in a separate short
 * single-partition run that samples them before closing. */
struct timing_ctx {
    vg_gcommit_t *gc;
    vg_seglog_t *log;
    uint64_t acked;
    uint64_t deadline_ns;
    vg_gcommit_stats_t stats;
    uint8_t payload[100];
};

static void timing_acked(void *ctx, uint64_t durable, int status)
{
    struct timing_ctx *c = ctx;
    if (status == 0)
        c->acked = durable;
}

static void timing_idle(uv_idle_t *h)
{
    struct timing_ctx *c = h->data;
    if (vg_clock_mono_ns() >= c->deadline_ns) {
        vg_gcommit_stats(c->gc, &c->stats);
        uv_idle_stop(h);
        uv_close((uv_handle_t *)h, NULL);
        vg_gcommit_close(c->gc, NULL, NULL);
        return;
    }
    if (vg_seglog_next_offset(c->log) - c->acked > MAX_INFLIGHT)
        return;
    vg_seglog_rec_t recs[BATCH];
    for (size_t i = 0; i < BATCH; i++)
        recs[i] = (vg_seglog_rec_t){VG_SEGLOG_TYPE_TEST, (int64_t)i, c->payload, 100};
    uint64_t first = 0;
    if (vg_seglog_append(c->log, recs, BATCH, &first) == 0)
        vg_gcommit_request(c->gc);
}

static int run_timing(const char *root, double seconds, vg_gcommit_stats_t *out, double *read_rate)
{
    char dir[700];
    snprintf(dir, sizeof(dir), "%s/timing", root);
    struct timing_ctx c = {0};
    vg_seglog_opts_t o = {0};
    char err[256];
    int rc = vg_seglog_open(dir, &o, &c.log, NULL, err, sizeof(err));
    if (rc != 0)
        return rc;
    uv_loop_t loop;
    uv_loop_init(&loop);
    vg_gcommit_opts_t go = {.mode = VG_GCOMMIT_FSYNC};
    rc = vg_gcommit_new(c.log, &loop, &go, timing_acked, &c, &c.gc);
    if (rc == 0) {
        uv_idle_t idle;
        uv_idle_init(&loop, &idle);
        idle.data = &c;
        c.deadline_ns = vg_clock_mono_ns() + (uint64_t)(seconds * 1e9);
        uv_idle_start(&idle, timing_idle);
        uv_run(&loop, UV_RUN_DEFAULT);
        *out = c.stats;
    }
    uv_loop_close(&loop);
    /* Sequential read of everything just written. */
    vg_seglog_reader_t *r = NULL;
    uint64_t n = 0;
    uint64_t t0 = vg_clock_mono_ns();
    if (rc == 0 && vg_seglog_reader_open(c.log, 0, &r) == 0) {
        vg_seglog_view_t v;
        while (vg_seglog_reader_next(r, &v) == 0)
            n++;
        vg_seglog_reader_close(r);
    }
    *read_rate = (double)n / ((double)(vg_clock_mono_ns() - t0) / 1e9);
    vg_seglog_close(c.log);
    return rc;
}

int vg_bench_log(int argc, char **argv)
{
    double seconds = 2.0;
    const char *dir = NULL;
    uint64_t threads = 2;
    const vg_cli_opt_t opts[] = {
        {"seconds", VG_CLI_DOUBLE, &seconds, "S", "duration of each configuration", 0.1, 600, NULL},
        {"dir", VG_CLI_STRING, &dir, "DIR", "where to write (default: a temporary directory)", 0, 0,
         NULL},
        {"threads", VG_CLI_UINT, &threads, "N", "writer threads (loops)", 1, 16, NULL},
    };
    const vg_cli_t cli = {"vigil bench log",
                          "[flags]",
                          "Measures the segmented log: acknowledged appends/s and MB/s per "
                          "durability mode,\npartition count and record size; fdatasync time "
                          "and gap per group commit;\nsequential read records/s.",
                          opts,
                          VG_ARRAY_LEN(opts),
                          0,
                          0};
    int rc = vg_cli_parse(&cli, argc, argv, NULL, NULL);
    if (rc != 0)
        return rc == VG_CLI_HELP ? 0 : 2;
    char tmp[512];
    if (!dir) {
        if (vg_bench_tmpdir("log", tmp, sizeof(tmp)) != 0)
            return 1;
        dir = tmp;
    }
    printf("# vigil bench log: %.1f s per configuration, batches of %d, %llu writer threads, "
           "dir %s\n",
           seconds, BATCH, (unsigned long long)threads, dir);
    printf("%-6s %5s %6s %14s %9s\n", "mode", "parts", "bytes", "appends/s", "MB/s");
    const char *mode_names[] = {"fsync", "os", "none"};
    const unsigned part_counts[] = {1, 8};
    const uint32_t sizes[] = {100, 1024};
    char b1[32];
    for (int m = 0; m < 3 && rc == 0; m++) {
        for (size_t pc = 0; pc < 2 && rc == 0; pc++) {
            for (size_t sz = 0; sz < 2 && rc == 0; sz++) {
                char root[600];
                snprintf(root, sizeof(root), "%s/run-%d-%zu-%zu", dir, m, pc, sz);
                struct result res;
                unsigned th = part_counts[pc] < threads ? part_counts[pc] : (unsigned)threads;
                rc = run_append(root, (enum vg_gcommit_mode)m, part_counts[pc], sizes[sz], seconds,
                                th, &res);
                printf("%-6s %5u %6u %14s %9.1f\n", mode_names[m], part_counts[pc], sizes[sz],
                       vg_bench_fmt(res.recs_per_s, b1, sizeof(b1)), res.mb_per_s);
                fflush(stdout);
                (void)vg_io_remove_tree(root); /* best effort: temporary files */
            }
        }
    }
    vg_gcommit_stats_t st;
    double read_rate = 0;
    if (rc == 0)
        rc = run_timing(dir, seconds, &st, &read_rate);
    if (rc == 0) {
        printf("group commit (fsync, 1 partition, 100 B): %llu syncs; fdatasync p50 %.2f ms p99 "
               "%.2f ms; gap between commits p50 %.2f ms p99 %.2f ms max %.2f ms\n",
               (unsigned long long)st.syncs, (double)vg_histogram_quantile(&st.sync_ns, 0.5) / 1e6,
               (double)vg_histogram_quantile(&st.sync_ns, 0.99) / 1e6,
               (double)vg_histogram_quantile(&st.gap_ns, 0.5) / 1e6,
               (double)vg_histogram_quantile(&st.gap_ns, 0.99) / 1e6, (double)st.gap_ns.max / 1e6);
        printf("sequential read: %s records/s\n", vg_bench_fmt(read_rate, b1, sizeof(b1)));
    }
    if (dir == tmp)
        (void)vg_io_remove_tree(tmp); /* best effort: temporary files */
    if (rc != 0)
        fprintf(stderr, "vigil bench log: %s\n", vg_strerror(rc));
    return rc == 0 ? 0 : 1;
}
