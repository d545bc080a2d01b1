/* SPDX-License-Identifier: MIT */
/*
 * Shared between bench_ingest.c (flags, the server process, the report) and
 * bench_ingest_client.c (the libuv client loops). Thread: see each function.
 */
#ifndef VG_BENCH_BENCH_INGEST_INT_H
#define VG_BENCH_BENCH_INGEST_INT_H

#include "runtime/histogram.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define VG_BI_MAX_CODES  16  /* distinct TCP error codes counted one by one */
#define VG_BI_MAX_STATUS 600 /* HTTP statuses counted one by one */

/* What one run does; read-only while the client threads run. */
typedef struct vg_bi_opts {
    bool tcp;                     /* TCP frames, else HTTP */
    bool open;                    /* open loop at `rate`, else closed loop */
    double rate;                  /* open loop: requests/s over all threads */
    uint64_t conns;               /* over all threads */
    uint64_t window;              /* TCP: requests in flight per connection */
    uint64_t threads;             /* client loops */
    uint64_t accounts;            /* account ids drawn from acct-0..accounts-1 */
    uint64_t merchants;           /* merchant ids drawn from m-0..merchants-1 */
    bool random_ids;              /* transaction ids: 32 random hex digits, else counters */
    double duration_s;            /* measured part of a run */
    double warmup_s;              /* before it */
    const char *path;             /* HTTP request target */
    struct sockaddr_storage addr; /* the one address every connection goes to */
    char host_header[80];         /* HTTP Host: value */
    char prefix[16];              /* random per process: transaction ids never repeat */
} vg_bi_opts_t;

/* One client loop's counts for one run; merged over the threads. Requests count when their
 * send time (closed loop) or intended send time (open loop) falls after the warm-up. */
typedef struct vg_bi_stats {
    vg_histogram_t hist;  /* latency of measured requests, ns */
    uint64_t sent;        /* every request written, warm-up included */
    uint64_t in_window;   /* replies that arrived between warm-up end and run end */
    uint64_t ok;          /* HTTP 2xx, TCP decisions */
    uint64_t flagged;     /* TCP: decisions at MEDIUM or HIGH (they carry SHAP reasons) */
    uint64_t accepted;    /* TCP: `accepted` replies */
    uint64_t overload;    /* HTTP 429 */
    uint64_t other;       /* other HTTP statuses, TCP errors and empty results */
    uint64_t unanswered;  /* measured, sent, no reply by the end of the drain */
    uint64_t unsent;      /* open loop: measured, never sent (every connection was busy) */
    uint64_t lost;        /* measured, sent on a connection that then failed */
    uint64_t conn_errors; /* connections that failed: reset, closed, protocol error */
    uint64_t status[VG_BI_MAX_STATUS];
    struct {
        char code[32];
        uint64_t n;
    } codes[VG_BI_MAX_CODES];
    size_t ncodes;
    uint64_t codes_dropped; /* errors whose code did not fit in `codes` */
    int first_error;        /* the first connection failure, 0 when none */
} vg_bi_stats_t;

/* Runs one client loop for run number `run` as client `index` of `o->threads`, with its share
 * of the connections and of the rate. Fills *st (initialised here). 0, or -errno / VG_E* when
 * the connections could not be set up (printed). Thread: a client thread. */
int vg__bi_client_run(const vg_bi_opts_t *o, unsigned run, unsigned index, vg_bi_stats_t *st);

/* Adds `src` into `dst`. */
void vg__bi_stats_merge(vg_bi_stats_t *dst, const vg_bi_stats_t *src);

#endif
