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
#include "runtime/error.h"
#include "runtime/logging.h"
#include "storage/datadir.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vg_partition {
    vg_actor_t actor;
    unsigned index;
    vg_seglog_t *log;
    vg_state_t *state;
    vg_gcommit_t *gc;
    int open_rc;
    char open_why[PATH_MAX + 256];
};

static void on_durable(void *ctx, uint64_t durable, int status)
{
    vg_partition_t *p = ctx;
    if (status != 0)
        VG_LOG_ERROR("partition stops accepting writes partition=%u durable=%llu err=%s", p->index,
                     (unsigned long long)durable, vg_strerror(status));
}

static void finish_close(void *arg)
{
    vg_partition_t *p = arg;
    vg_seglog_close(p->log);
    vg_state_close(p->state);
    free(p);
}

static void partition_receive(vg_actor_t *self, vg_msg_t *msg)
{
    (void)self;
    free(msg); /* the pipeline issue defines the messages */
}

static void partition_on_stop(vg_actor_t *self)
{
    vg_partition_t *p = vg_container_of(self, vg_partition_t, actor);
    if (p->gc)
        vg_gcommit_close(p->gc, finish_close, p); /* frees p once its async handle closed */
    else
        finish_close(p);
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
