/* SPDX-License-Identifier: MIT */
/*
 * Group commit for one log: the owner appends on its loop and asks for durability; a flusher
 * thread gathers the requests into one fdatasync per batch (a batch closes once max_bytes
 * are waiting or max_us have passed since its first request, or at once while the window is
 * expected to bring fewer than two records or 64 are waiting already, so low load and big
 * batches do not wait for nothing; while a sync runs, requests pile up for the next), and
 * the completion comes back on the owner's loop through a
 * vg_wake_t (runtime/wake.h). fsync never runs on the loop. In `os` and `none` durability there is
 * no flusher: a request completes on the next loop turn with everything written so far.
 *
 * Thread: new, request and close on the owner's loop; the callback runs there too.
 */
#ifndef VG_STORAGE_GROUPCOMMIT_H
#define VG_STORAGE_GROUPCOMMIT_H

#include "runtime/compiler.h"
#include "runtime/histogram.h"
#include "storage/seglog.h"

#include <uv.h>

enum vg_gcommit_mode {
    VG_GCOMMIT_FSYNC = 0, /* acknowledge after fdatasync */
    VG_GCOMMIT_OS = 1,    /* acknowledge after write(2): survives a crash of vigil, not of the OS */
    VG_GCOMMIT_NONE = 2,  /* benchmarks only: same as os today */
};

typedef struct vg_gcommit vg_gcommit_t;

/* Everything below `durable_offset` is durable (status 0), or the log failed (status < 0,
 * durable_offset is the last good one). Runs on the owner's loop. */
typedef void (*vg_gcommit_fn)(void *ctx, uint64_t durable_offset, int status);

typedef struct vg_gcommit_opts {
    enum vg_gcommit_mode mode;
    uint64_t max_bytes; /* 0 = 1 MiB */
    uint32_t max_us;    /* 0: sync as soon as asked (requests still batch behind a sync); also
                           0 while it would bring fewer than 2 records or 64 are waiting */
} vg_gcommit_opts_t;

typedef struct vg_gcommit_stats {
    uint64_t syncs;
    uint64_t requests;
    uint64_t unwaited;      /* syncs that did not wait max_us (see max_us) */
    vg_histogram_t sync_ns; /* duration of each fdatasync batch */
    vg_histogram_t gap_ns;  /* time between the starts of consecutive syncs */
} vg_gcommit_stats_t;

/* Starts the flusher for `log` (which must outlive it). OUT: *out. 0 or -errno. */
VG_MUST_CHECK int vg_gcommit_new(vg_seglog_t *log, uv_loop_t *loop, const vg_gcommit_opts_t *opts,
                                 vg_gcommit_fn fn, void *ctx, vg_gcommit_t **out);

/* Asks for everything appended so far to be made durable. */
void vg_gcommit_request(vg_gcommit_t *gc);

/* A copy of the counters (taken under the flusher's lock). */
void vg_gcommit_stats(vg_gcommit_t *gc, vg_gcommit_stats_t *out);

/* Finishes pending syncs (their completions are delivered), stops the flusher, closes the
 * async handle; on_closed(arg) runs on the loop when gc is freed. */
void vg_gcommit_close(vg_gcommit_t *gc, void (*on_closed)(void *arg), void *arg);

#endif
