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
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/error.h"
#include "runtime/logging.h"
#include "storage/datadir.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOUSEKEEPING_MS 1000u

struct vg_partition {
    vg_actor_t actor;
    unsigned index;
    vg_seglog_t *log;
    vg_state_t *state;
    vg_gcommit_t *gc;
    vg_timer_t timer; /* housekeeping: roll by age, retention, state sync */
    bool timer_started;
    uv_work_t sync_work; /* vg_state_sync on the libuv threadpool */
    bool syncing;
    bool stopping; /* on_stop ran: finish once the sync work is back */
    uint64_t sync_every_ms;
    uint64_t since_sync_ms;
    int open_rc;
    char open_why[PATH_MAX + 256];
    vg_append_msg_t *pending_head; /* appended, waiting for durability, in offset order */
    vg_append_msg_t *pending_tail;
};

static void answer(vg_append_msg_t *m, int status)
{
    m->status = status;
    if (vg_actor_reply(&m->hdr, &m->hdr) != 0)
        VG_LOG_WARN("append answered to a stopped requester");
}

/* Group commit completion: acknowledge every append that is now durable (or failed). */
static void on_durable(void *ctx, uint64_t durable, int status)
{
    vg_partition_t *p = ctx;
    if (status != 0)
        VG_LOG_ERROR("partition stops accepting writes partition=%u durable=%llu err=%s", p->index,
                     (unsigned long long)durable, vg_strerror(status));
    while (p->pending_head && (status != 0 || p->pending_head->last_offset < durable)) {
        vg_append_msg_t *m = p->pending_head;
        p->pending_head = m->next_pending;
        if (!p->pending_head)
            p->pending_tail = NULL;
        answer(m, m->last_offset < durable ? 0 : status);
    }
}

static void finish_close(void *arg)
{
    vg_partition_t *p = arg;
    vg_seglog_close(p->log);
    vg_state_close(p->state);
    free(p);
}

/* The only message today: append a batch, answer once it is durable. */
static void partition_receive(vg_actor_t *self, vg_msg_t *msg)
{
    vg_partition_t *p = vg_container_of(self, vg_partition_t, actor);
    vg_append_msg_t *m = (vg_append_msg_t *)msg;
    if (p->open_rc != 0) {
        answer(m, VG_EREADONLY);
        return;
    }
    int rc = vg_seglog_append(p->log, m->recs, m->n, &m->first_offset);
    if (rc != 0) {
        answer(m, rc);
        return;
    }
    m->last_offset = m->first_offset + m->n - 1;
    m->next_pending = NULL;
    if (p->pending_tail)
        p->pending_tail->next_pending = m;
    else
        p->pending_head = m;
    p->pending_tail = m;
    vg_gcommit_request(p->gc);
}

vg_actor_t *vg_partition_actor(vg_partition_t *p)
{
    return &p->actor;
}

static void close_storage(vg_partition_t *p)
{
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
    if (p->timer_started)
        vg_timer_close(&p->timer, on_timer_closed);
    else
        close_storage(p);
}

/* Runs on the libuv threadpool: LMDB's sync blocks, so never on the loop. */
static void do_state_sync(uv_work_t *w)
{
    vg_partition_t *p = vg_container_of(w, vg_partition_t, sync_work);
    int rc = vg_state_sync(p->state);
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

/* Every second: roll the active segment by age, apply retention (never past what the state
 * has applied), and every state.sync_interval_ms sync the state off the loop. */
static void on_housekeeping(vg_actor_t *self, vg_timer_t *t)
{
    (void)t;
    vg_partition_t *p = vg_container_of(self, vg_partition_t, actor);
    int64_t now = vg_clock_wall_ms();
    uint64_t applied = 0;
    if (vg_seglog_maybe_roll(p->log, now) != 0 || vg_state_applied_offset(p->state, &applied) != 0)
        return; /* a failed log says why through /readyz */
    unsigned deleted = 0;
    if (vg_seglog_retain(p->log, applied, now, &deleted) != 0)
        VG_LOG_WARN("retention failed partition=%u", p->index);
    p->since_sync_ms += HOUSEKEEPING_MS;
    if (p->since_sync_ms >= p->sync_every_ms && !p->syncing) {
        p->since_sync_ms = 0;
        p->syncing = uv_queue_work(vg_loop_uv(self->loop), &p->sync_work, do_state_sync,
                                   after_state_sync) == 0;
    }
}

static const vg_actor_ops_t partition_ops = {"partition", partition_receive, partition_on_stop};

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
    rc = vg_gcommit_new(p->log, vg_loop_uv(loop), &o->commit, on_durable, p, &p->gc);
    if (rc != 0)
        snprintf(p->open_why, sizeof(p->open_why), "group commit: %s", vg_strerror(rc));
    VG_LOG_INFO("partition open partition=%u next_offset=%llu applied=%llu segments=%u", o->index,
                (unsigned long long)next, (unsigned long long)applied, rec.segments);
    return rc;
}

int vg_partition_new(vg_loop_t *loop, const vg_partition_opts_t *opts, vg_partition_t **out)
{
    vg_partition_t *p = vg_xcalloc(1, sizeof(*p));
    p->index = opts->index;
    p->open_rc = open_storage(p, loop, opts);
    if (p->open_rc != 0)
        VG_LOG_ERROR("partition stopped partition=%u err=%s why=%s", opts->index,
                     vg_strerror(p->open_rc), p->open_why);
    vg_actor_init(&p->actor, loop, &partition_ops, "partition", 0);
    p->sync_every_ms = opts->state_sync_ms ? opts->state_sync_ms : 1000;
    if (p->open_rc == 0) {
        vg_timer_init(&p->actor, &p->timer);
        vg_timer_start(&p->timer, HOUSEKEEPING_MS, HOUSEKEEPING_MS, on_housekeeping);
        p->timer_started = true;
    }
    *out = p;
    return p->open_rc;
}

int vg_partition_status(vg_partition_t *p, char *why, size_t len)
{
    if (p->open_rc != 0) {
        snprintf(why, len, "partition %u: %s", p->index, p->open_why);
        return p->open_rc;
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
