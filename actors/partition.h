/* SPDX-License-Identifier: MIT */
/*
 * The partition actor: owns one partition's segmented log, its group commit and its LMDB
 * state, on one loop. Today it opens (recovering the log and checking the state's applied
 * offset against it), keeps house once a second (rolls the active segment by age, applies
 * retention below the state's applied offset, syncs the state on the threadpool every
 * state.sync_interval_ms), reports its health for /readyz, and closes cleanly; the pipeline
 * issue adds the messages that append transactions and apply them. A partition whose log cannot be
 * opened (a corrupt record in a sealed segment, a gap) or whose log later fails (a write or
 * fsync error) is stopped: it accepts nothing and says why; the other partitions go on.
 * Thread: its loop, except vg_partition_status (any).
 */
#ifndef VG_ACTORS_PARTITION_H
#define VG_ACTORS_PARTITION_H

#include "runtime/actor.h"
#include "runtime/compiler.h"
#include "storage/groupcommit.h"
#include "storage/seglog.h"
#include "storage/state.h"

typedef struct vg_partition vg_partition_t;

/* An append request: send it with vg_actor_request to vg_partition_actor(p); the reply (the
 * same message) comes once every record is durable (status 0, first_offset set) or the
 * partition refused or failed (status < 0). The records and payloads stay the sender's. */
typedef struct vg_append_msg {
    vg_msg_t hdr;
    const vg_seglog_rec_t *recs;
    size_t n;
    uint64_t first_offset; /* OUT */
    int status;            /* OUT */
    uint64_t last_offset;  /* partition-private */
    struct vg_append_msg *next_pending;
} vg_append_msg_t;

/* The actor, for vg_actor_request. */
vg_actor_t *vg_partition_actor(vg_partition_t *p);

typedef struct vg_partition_opts {
    const char *data_dir;
    unsigned index;
    unsigned count; /* partitions in the engine (for the directory name width) */
    vg_seglog_opts_t log;
    vg_state_opts_t state;
    vg_gcommit_opts_t commit;
    uint64_t state_sync_ms; /* sync the state this often; 0 = 1000 */
} vg_partition_opts_t;

/* Opens partition `opts->index` on `loop` (call on that loop's thread). Always creates the
 * actor; a partition that could not open is created stopped, with the reason kept.
 * OUT: *out. 0, or the open error (the partition still exists, failed). */
int vg_partition_new(vg_loop_t *loop, const vg_partition_opts_t *opts, vg_partition_t **out);

/* 0 when healthy; else the error, with a one-line reason in `why`. Thread: any. */
int vg_partition_status(vg_partition_t *p, char *why, size_t len);

/* Stops the actor: its log is synced and closed, then it frees itself. Thread: any. */
void vg_partition_stop(vg_partition_t *p);

#endif
