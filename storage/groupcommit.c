/* SPDX-License-Identifier: MIT */
/*
 * The group-commit flusher; see groupcommit.h. The mutex guards the request flag, the
 * result and the stats; fdatasync itself runs outside it.
 * Thread: the flusher thread, and the owner's loop for the public functions and on_async.
 */
#define VG_LOG_MODULE "gcommit"
#include "storage/groupcommit.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/error.h"
#include "runtime/logging.h"
#include "runtime/wake.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_MAX_BYTES ((uint64_t)1 << 20)
#define GAP_CAP           16 /* windows: the most one pause weighs in the arrival estimate */
#define BATCH_FULL        64 /* records: a batch this big does not wait for more */

struct vg_gcommit {
    vg_seglog_t *log;
    vg_gcommit_opts_t o;
    vg_gcommit_fn fn;
    void *ctx;
    vg_wake_t wake;
    pthread_t thread;
    bool has_thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool requested;
    uint64_t first_request_ns; /* when the oldest unserved request came */
    uint64_t last_request_ns;  /* the previous request, and the log's end then */
    uint64_t last_request_offset;
    uint64_t gap_ns; /* recent time between records (moving average); 0: no estimate yet */
    bool stopping;
    uint64_t result_offset;
    int result_status;
    bool result_ready;
    uint64_t bytes_at_sync;
    uint64_t last_sync_start_ns;
    vg_gcommit_stats_t stats;
    void (*on_closed)(void *arg);
    void *on_closed_arg;
};

static void on_wake(vg_wake_t *w);
static void on_wake_closed(vg_wake_t *w);
static void *flusher(void *arg);

int vg_gcommit_new(vg_seglog_t *log, uv_loop_t *loop, const vg_gcommit_opts_t *opts,
                   vg_gcommit_fn fn, void *ctx, vg_gcommit_t **out)
{
    vg_gcommit_t *gc = vg_xcalloc(1, sizeof(*gc));
    gc->log = log;
    gc->o = *opts;
    if (!gc->o.max_bytes)
        gc->o.max_bytes = DEFAULT_MAX_BYTES;
    gc->fn = fn;
    gc->ctx = ctx;
    vg_histogram_init(&gc->stats.sync_ns);
    vg_histogram_init(&gc->stats.gap_ns);
    pthread_mutex_init(&gc->mu, NULL);
    pthread_cond_init(&gc->cv, NULL);
    gc->result_offset = vg_seglog_durable_offset(log);
    int rc = vg_wake_init(loop, &gc->wake, on_wake);
    if (rc == 0 && gc->o.mode == VG_GCOMMIT_FSYNC) {
        rc = -pthread_create(&gc->thread, NULL, flusher, gc);
        gc->has_thread = rc == 0;
        if (rc != 0)
            vg_wake_close(&gc->wake, on_wake_closed); /* frees gc once the loop turns */
    }
    if (rc != 0) {
        VG_LOG_ERROR("group commit start failed err=%s", vg_strerror(rc));
        if (gc->wake.fd < 0) { /* the wake-up never opened: nothing refers to gc */
            pthread_cond_destroy(&gc->cv);
            pthread_mutex_destroy(&gc->mu);
            free(gc);
        }
        return rc;
    }
    *out = gc;
    return 0;
}

/* Updates the estimate of the time between records with the ones appended since the last
 * request. A long pause counts as at most GAP_CAP windows, so the estimate comes back within
 * a few requests once records come quickly again. With the lock held. */
static void note_arrivals(vg_gcommit_t *gc, uint64_t now)
{
    uint64_t end = vg_seglog_next_offset(gc->log);
    if (gc->last_request_ns && end > gc->last_request_offset) {
        uint64_t gap = (now - gc->last_request_ns) / (end - gc->last_request_offset);
        uint64_t cap = GAP_CAP * (uint64_t)gc->o.max_us * 1000u;
        gap = gap < cap ? gap : cap;
        gc->gap_ns = gc->gap_ns ? gc->gap_ns - gc->gap_ns / 8 + gap / 8 : gap;
    }
    gc->last_request_ns = now;
    gc->last_request_offset = end;
}

void vg_gcommit_request(vg_gcommit_t *gc)
{
    pthread_mutex_lock(&gc->mu);
    gc->stats.requests++;
    if (gc->o.mode != VG_GCOMMIT_FSYNC) {
        gc->result_offset = vg_seglog_next_offset(gc->log);
        gc->result_ready = true;
        pthread_mutex_unlock(&gc->mu);
        vg_wake_send(&gc->wake);
        return;
    }
    uint64_t now = vg_clock_mono_ns();
    note_arrivals(gc, now);
    if (!gc->requested) {
        gc->requested = true;
        gc->first_request_ns = now;
        pthread_cond_signal(&gc->cv);
    }
    pthread_mutex_unlock(&gc->mu);
}

void vg_gcommit_stats(vg_gcommit_t *gc, vg_gcommit_stats_t *out)
{
    pthread_mutex_lock(&gc->mu);
    *out = gc->stats;
    pthread_mutex_unlock(&gc->mu);
}

void vg_gcommit_close(vg_gcommit_t *gc, void (*on_closed)(void *arg), void *arg)
{
    pthread_mutex_lock(&gc->mu);
    gc->stopping = true;
    pthread_cond_signal(&gc->cv);
    pthread_mutex_unlock(&gc->mu);
    if (gc->has_thread)
        pthread_join(gc->thread, NULL); /* at most one sync in flight: brief */
    gc->on_closed = on_closed;
    gc->on_closed_arg = arg;
    on_wake(&gc->wake); /* deliver the last completion before closing */
    vg_wake_close(&gc->wake, on_wake_closed);
}

static void on_wake(vg_wake_t *w)
{
    vg_gcommit_t *gc = vg_container_of(w, vg_gcommit_t, wake);
    pthread_mutex_lock(&gc->mu);
    bool ready = gc->result_ready;
    uint64_t off = gc->result_offset;
    int status = gc->result_status;
    gc->result_ready = false;
    pthread_mutex_unlock(&gc->mu);
    if (ready)
        gc->fn(gc->ctx, off, status);
}

static void on_wake_closed(vg_wake_t *w)
{
    vg_gcommit_t *gc = vg_container_of(w, vg_gcommit_t, wake);
    vg_wake_release(w); /* the flusher, the only other sender, has been joined */
    void (*cb)(void *) = gc->on_closed;
    void *arg = gc->on_closed_arg;
    pthread_cond_destroy(&gc->cv);
    pthread_mutex_destroy(&gc->mu);
    free(gc);
    if (cb)
        cb(arg);
}

/* Waits, with the lock held, until the batch should close. The window pays when it brings
 * records that would otherwise need a sync of their own. It is skipped:
 * - while it is expected (from the recent time between records) to bring fewer than two:
 *   at 5,000 HTTP requests/s over two partitions a record comes every 400 us against a
 *   500 us window, and the wait only delayed every answer;
 * - for a batch of BATCH_FULL records or more (TCP at full speed: a loop turn's few hundred),
 *   which spreads its sync thinly already, while its client's next records come only after
 *   this batch's answers: the wait left the loops idle.
 * A closed-loop HTTP batch of 10-20 records keeps it: fewer syncs queue on the disk. */
static void wait_batch_locked(vg_gcommit_t *gc)
{
    if (!gc->o.max_us)
        return;
    uint64_t window_ns = (uint64_t)gc->o.max_us * 1000u;
    uint64_t waiting = vg_seglog_next_offset(gc->log) - vg_seglog_durable_offset(gc->log);
    if (waiting >= BATCH_FULL || gc->gap_ns * 2 > window_ns) {
        gc->stats.unwaited++;
        return;
    }
    uint64_t deadline_ns = gc->first_request_ns + window_ns;
    while (!gc->stopping &&
           vg_seglog_bytes_written(gc->log) - gc->bytes_at_sync < gc->o.max_bytes) {
        uint64_t now = vg_clock_mono_ns();
        if (now >= deadline_ns)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t wait = deadline_ns - now;
        ts.tv_sec += (time_t)(wait / 1000000000u);
        ts.tv_nsec += (long)(wait % 1000000000u);
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&gc->cv, &gc->mu, &ts);
    }
}

static void *flusher(void *arg)
{
    vg_gcommit_t *gc = arg;
    pthread_mutex_lock(&gc->mu);
    for (;;) {
        while (!gc->requested && !gc->stopping)
            pthread_cond_wait(&gc->cv, &gc->mu);
        if (!gc->requested)
            break; /* stopping with nothing to do */
        wait_batch_locked(gc);
        gc->requested = false;
        uint64_t bytes = vg_seglog_bytes_written(gc->log);
        pthread_mutex_unlock(&gc->mu);
        uint64_t t0 = vg_clock_mono_ns();
        int rc = vg_seglog_sync(gc->log);
        uint64_t t1 = vg_clock_mono_ns();
        pthread_mutex_lock(&gc->mu);
        gc->stats.syncs++;
        vg_histogram_record(&gc->stats.sync_ns, t1 - t0);
        if (gc->last_sync_start_ns)
            vg_histogram_record(&gc->stats.gap_ns, t0 - gc->last_sync_start_ns);
        gc->last_sync_start_ns = t0;
        gc->bytes_at_sync = bytes;
        gc->result_offset = vg_seglog_durable_offset(gc->log);
        gc->result_status = rc;
        gc->result_ready = true;
        pthread_mutex_unlock(&gc->mu);
        vg_wake_send(&gc->wake);
        pthread_mutex_lock(&gc->mu);
    }
    pthread_mutex_unlock(&gc->mu);
    return NULL;
}
