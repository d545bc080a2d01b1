/* SPDX-License-Identifier: MIT */
/*
 * The partition actor: owns one partition's segmented log, its group commit and its LMDB
 * state, on one loop. Today it opens (recovering the log and checking the state's applied
 * offset against it), keeps house once a second (rolls the active segment by age, applies
 * retention below the state's applied offset, syncs the state on the threadpool every
 * state.sync_interval_ms), reports its health for /readyz, and closes cleanly. It appends
 * batches of transactions and labels; once a group commit makes them durable it applies them
 * (actors/decide.h: features, account state, index, scores, the decision log) in one state
 * commit with the applied offset, and only then answers. On open it first replays the log
 * from the state's applied offset, so a restart after kill -9 catches up before serving.
 * A partition whose log cannot be
 * opened (a corrupt record in a sealed segment, a gap) or whose log later fails (a write or
 * fsync error) is stopped: it accepts nothing and says why; the other partitions go on.
 * Thread: its loop, except vg_partition_status (any).
 */
#ifndef VG_ACTORS_PARTITION_H
#define VG_ACTORS_PARTITION_H

#include "actors/decide.h"
#include "runtime/actor.h"
#include "runtime/compiler.h"
#include "runtime/recent.h"
#include "storage/groupcommit.h"
#include "storage/seglog.h"
#include "storage/state.h"

typedef struct vg_partition vg_partition_t;

/* Message types (vg_msg_t.type) a partition receives. */
enum { VG_PARTITION_MSG_APPEND = 0, VG_PARTITION_MSG_MERCHANT = 1 };

/* An append request: send it with vg_actor_request to vg_partition_actor(p); the reply (the
 * same message) comes once every record is durable AND applied: status 0, first_offset set,
 * and each transaction item's decision filled in (a duplicate transaction_id gets the original
 * decision, marked replay); or the partition refused or failed (status < 0). The items and
 * their payloads stay the sender's. */
typedef struct vg_append_msg {
    vg_msg_t hdr;
    vg_pipe_item_t *items;
    size_t n;
    uint64_t first_offset; /* OUT */
    int status;            /* OUT */
    /* OUT: one malloc'd block holding the packed decisions that items[].packed point into
     * (the requester frees it, NULL when there are none); the requester sets it to NULL. */
    uint8_t *packed;
    uint64_t last_offset; /* partition-private */
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
    uint64_t state_sync_ms;  /* sync the state this often; 0 = 1000 */
    const vg_model_t *model; /* shared by every partition; NULL: no model */
    double threshold_medium;
    double threshold_high;
    size_t batch_max;             /* rows per model call */
    uint32_t mailbox;             /* append messages queued at most; 0 = 1024 */
    uint64_t recent_ids;          /* ids in the filter of vg_partition_may_know; 0 = none */
    int64_t pending_label_ttl_ms; /* see vg_decider_opts_t; 0 keeps waiting labels */
    uint64_t max_waiting_labels;  /* see vg_partition_has_room_for_label; 0: no limit */
    int64_t account_ttl_ms;       /* see vg_decider_opts_t; 0 keeps accounts */
} vg_partition_opts_t;

/* Opens partition `opts->index` on `loop` (call on that loop's thread). Always creates the
 * actor; a partition that could not open is created stopped, with the reason kept.
 * OUT: *out. 0, or the open error (the partition still exists, failed). */
int vg_partition_new(vg_loop_t *loop, const vg_partition_opts_t *opts, vg_partition_t **out);

/* 0 when healthy; else the error, with a one-line reason in `why`. Thread: any. */
int vg_partition_status(vg_partition_t *p, char *why, size_t len);

/* Once every partition of the engine is open: hands the partition its peers (all of them, by
 * index), from which it reads merchant profiles and to which it sends its merchant outbox
 * (actors/merchant.h); then replays its log from the state's applied offset (the replayed
 * transactions read their merchants' committed profiles like live ones) and sends the outbox.
 * Call before any append. 0, or the error that stopped the partition (also reported by
 * vg_partition_status). Thread: the partition's loop. */
int vg_partition_start(vg_partition_t *p, vg_partition_t **peers, unsigned n);

/* Gives the filter of recent ids (vg_partition_may_know) the ids of the last
 * opts->recent_ids decisions, oldest first, as if the engine had not stopped: after
 * vg_partition_start, before ingest starts; partitions may do it at the same time. A
 * partition that cannot read its decision log is stopped. Thread: the partition's loop. 0 or
 * the error. */
int vg_partition_refill_recent(vg_partition_t *p);

/* Appends accepted and not yet answered (waiting for their fsync). Thread: any. */
unsigned vg_partition_waiting(vg_partition_t *p);

/* For readers on other threads (GET /v1/...): the state, the transaction log and the
 * decision log, or NULL when the partition did not open. Readers are thread-safe. */
vg_state_t *vg_partition_state(vg_partition_t *p);
vg_seglog_t *vg_partition_log(vg_partition_t *p);
vg_seglog_t *vg_partition_decisions(vg_partition_t *p);
unsigned vg_partition_index(const vg_partition_t *p);

/* Whether a label may wait here for its transaction: fewer than opts->max_waiting_labels are
 * waiting (as of the last commit; labels on their way are not counted, so the bound holds
 * within what the partition's mailbox can hold). When not, a warning is logged, once a
 * minute at most. OUT: *waiting, how many. Thread: any. */
bool vg_partition_has_room_for_label(vg_partition_t *p, uint64_t *waiting);

/* false when the transaction id `id` (vg_recent_key of it: one key serves every partition) is
 * certainly not among the last opts->recent_ids transactions the partition decided
 * (runtime/recent.h): a lookup in the index could only find an older one, which the apply
 * step finds as well; true otherwise. Thread: any. */
bool vg_partition_may_know(const vg_partition_t *p, const vg_recent_key_t *id);

/* Stops the actor: its log is synced and closed, then it frees itself. Thread: any. */
void vg_partition_stop(vg_partition_t *p);

#endif
