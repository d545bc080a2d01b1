/* SPDX-License-Identifier: MIT */
/*
 * The partition's apply-and-decide step: the records of one group commit (or of a replay
 * chunk), in log order, become account state, transaction-index entries and decisions, and
 * all of it is committed to the partition's LMDB environment in ONE write transaction
 * together with the applied log offset. The live path, the restart replay and (later) the
 * backtest run this same code, so they compute the same numbers.
 *
 * Per transaction: its features come from the account profile as it was before it (the
 * feature table in models/features.h is the only definition); then the profile is updated.
 * A transaction_id already in the index (or earlier in the same batch) is a duplicate: it
 * changes no state, and its decision is the original one, marked replay. The batch's feature
 * rows are scored with ONE XGBoost call; rows at or above the MEDIUM threshold get exact SHAP
 * contributions in one more call, and the top 3 positive ones are their reasons. Each
 * decision is appended to the partition's decision log (derived data; the transaction index
 * points at it). Without a model every transaction is LOW with score 0 and no model version
 * (the rules that would decide then are not built yet).
 *
 * Per label: when its transaction is indexed, the label is recorded there and the account's
 * label history is updated (a relabel moves the count); otherwise it waits in the index and
 * is applied when the transaction arrives.
 *
 * Merchants (actors/merchant.h): a transaction's merchant features come from the owner
 * partition's committed merchant profile; the transaction, and a label that changes its fraud
 * status, become merchant deltas in this partition's outbox, committed with the batch.
 *
 * The transaction index (DB txindex), key = transaction_id, value = 32 bytes little-endian:
 *   0 8 offset of the transaction (UINT64_MAX: not seen yet, only a label waits)
 *   8 8 offset of its decision in the decision log (UINT64_MAX: none)
 *  16 1 label: 0 none, 1 genuine, 2 fraud      17 7 zero
 *  24 8 the label's reported_at_ms
 * Thread: the partition's loop (one decider per partition).
 */
#ifndef VG_ACTORS_DECIDE_H
#define VG_ACTORS_DECIDE_H

#include "actors/merchant.h"
#include "models/features.h"
#include "models/xgb.h"
#include "runtime/compiler.h"
#include "storage/seglog.h"
#include "storage/state.h"

#include "storage/vigil.pb-c.h"

#include <stdbool.h>
#include <stdint.h>

#define VG_DECISION_REASONS 3
#define VG_NO_OFFSET        UINT64_MAX

/* A decision, flat (no pointers), so it can be copied into a reply. */
typedef struct vg_decision {
    uint64_t offset;          /* the transaction's offset in the partition's log */
    uint64_t decision_offset; /* its record in the decision log */
    uint32_t partition;
    float score;   /* probability, 0..1 */
    int level;     /* Vigil__Level */
    bool replay;   /* a duplicate transaction_id: this is the original decision */
    bool applied;  /* set once the decision is final */
    bool conflict; /* its transaction_id is another account's transaction: refused, and the
                      other fields are not a decision (nothing was changed) */
    uint8_t n_reasons;
    struct {
        uint16_t feature;
        float value;
        float contribution;
    } reasons[VG_DECISION_REASONS];
    float features[VG_FEATURE_COUNT];
    int64_t decided_ms;
    char model_version[40];
} vg_decision_t;

/* One record of a batch. The caller fills rec and tx or label; offset is set by the
 * partition; decision is the output for transactions. */
typedef struct vg_pipe_item {
    vg_seglog_rec_t rec;
    const Vigil__Transaction *tx; /* rec.type == VG_SEGLOG_TYPE_TRANSACTION */
    const Vigil__Label *label;    /* rec.type == VG_SEGLOG_TYPE_LABEL */
    uint64_t offset;
    vg_decision_t decision; /* OUT */
    /* IN: also hand back the new decision's record as logged (a packed Vigil.Decision), so a
     * protobuf reply need not pack it again. OUT: in the decider's buffer, valid until its
     * next batch (copy it); NULL for a replayed decision or when the batch failed before the
     * decision log. */
    bool want_packed;
    uint8_t *packed;
    uint32_t packed_len;
} vg_pipe_item_t;

/* An index entry, decoded. */
typedef struct vg_txindex {
    uint64_t tx_offset;
    uint64_t decision_offset;
    int label; /* 0 none, 1 genuine, 2 fraud */
    int64_t label_reported_ms;
    /* A label waiting for its transaction: the account it named (32 bits of its hash, never
     * 0), or 0 when it named none; a transaction of another account does not take it. */
    uint32_t label_account;
} vg_txindex_t;

typedef struct vg_decider vg_decider_t;

typedef struct vg_decider_opts {
    unsigned partition;
    vg_state_t *state;
    vg_seglog_t *log;        /* the transactions (read to find a labelled one's account) */
    vg_seglog_t *declog;     /* the decisions */
    const vg_model_t *model; /* may be NULL; shared, outlives the decider */
    double threshold_medium;
    double threshold_high;
    size_t batch_max; /* rows per model call; 0 = 1024 */
    unsigned nparts;  /* for merchant owners */
    /* The state of partition `owner`, where its merchants' committed profiles are; NULL when
     * it is unavailable (a partition that could not open): the merchant features are then
     * NaN. A batch reads each owner through one reader. */
    vg_state_t *(*merchant_state)(void *ctx, unsigned owner);
    void *merchant_ctx;
    /* A label waiting for its transaction is dropped once a batch's newest transaction time
     * is this far past the label's reported_at (event time, so a replay drops the same ones);
     * 0 keeps them forever. */
    int64_t pending_label_ttl_ms;
    /* An account whose latest transaction is this far behind the partition's clock (the
     * newest transaction time it has applied; event time, kept in the state) starts over:
     * its next transaction sees a new account, and vg_decider_sweep deletes the profile
     * meanwhile. Deleting early changes nothing a transaction sees, so a replay decides the
     * same whenever the sweeps ran. 0 keeps accounts forever. */
    int64_t account_ttl_ms;
    /* Called with each batch just before it commits, to add what must commit with it (the
     * partition applies there the merchant deltas other partitions sent it, saving a
     * transaction of their own); an error aborts the batch. NULL: nothing. */
    int (*before_commit)(void *ctx, vg_state_batch_t *b);
    void *before_commit_ctx;
} vg_decider_opts_t;

vg_decider_t *vg_decider_new(const vg_decider_opts_t *opts);
void vg_decider_free(vg_decider_t *d);

/* Applies items[0..n) (offsets increasing) and commits them with applied offset
 * `next_offset` (n may be 0: only the queued outbox deletions are committed). Sets each
 * transaction's decision. 0, or the state or log error (nothing of the batch is committed; the
 * decision log may hold decisions that a replay rewrites). */
VG_MUST_CHECK int vg_decider_apply(vg_decider_t *d, vg_pipe_item_t *items, size_t n,
                                   uint64_t next_offset);

/* Checks up to `max` account profiles, going on from where the last call stopped (and from
 * the first after the last), and deletes those past account_ttl_ms, in a transaction of its
 * own. OUT: *dropped. 0, or the state error. Not while a batch is open. */
VG_MUST_CHECK int vg_decider_sweep(vg_decider_t *d, size_t max, size_t *dropped);

/* The same over the transaction index, for the entries of transactions the log no longer
 * holds (retention deleted their segment; it never deletes what the state has not applied).
 * A pass over the whole index starts when the log's first offset has moved since the last
 * pass started, and drops the entries below that offset; between passes it checks nothing.
 * Once dropped, a transaction id is new again: the window for repeats is the log's. */
VG_MUST_CHECK int vg_decider_sweep_index(vg_decider_t *d, size_t max, size_t *dropped);

/* The merchant deltas that the last successful vg_decider_apply put in the outbox, grouped
 * by owner (offset order within each owner), each with its outbox record; valid until the
 * next apply. */
const vg_mdelta_t *vg_decider_deltas(const vg_decider_t *d, size_t *n);

/* Queues the deletion of an outbox record its owner has acknowledged; it is deleted in the
 * next apply's commit. */
void vg_decider_forget(vg_decider_t *d, unsigned owner, uint64_t record);

/* Whether deletions are queued. */
bool vg_decider_forgetting(const vg_decider_t *d);

/* Replays the log from the state's applied offset to its end through vg_decider_apply, in
 * chunks. OUT: *replayed (records). 0 or the error. */
VG_MUST_CHECK int vg_decider_replay(vg_decider_t *d, uint64_t *replayed);

/* Counts the labels waiting for their transaction, as committed (a scan of their keys): once,
 * before the first apply; each commit then adds its own. 0 or the state error. */
VG_MUST_CHECK int vg_decider_count_waiting(vg_decider_t *d);

/* ---- lookups (thread: any; read-only) ---- */

/* How many labels wait for their transaction, as of the last commit. */
uint64_t vg_decider_labels_waiting(const vg_decider_t *d);

/* Through a reader of the partition's state. 0, VG_ENOTFOUND or the state error. */
VG_MUST_CHECK int vg_txindex_get(vg_state_reader_t *r, const char *transaction_id,
                                 vg_txindex_t *out);

/* Whether the transaction at `offset` of `log` names account_id; true when it cannot be read
 * (retention took it): callers then go on as if it did. */
bool vg_log_tx_names_account(vg_seglog_t *log, uint64_t offset, const char *account_id);

/* The decision at `offset` of the decision log `declog` into *out (replaced whole, its
 * decision_offset set); *out is untouched when it cannot be read. 0, VG_ENOTFOUND (offset
 * VG_NO_OFFSET too) or VG_ECORRUPT. */
int vg_log_read_decision(vg_seglog_t *declog, uint64_t offset, vg_decision_t *out);

/* Reads the record at `offset` of `log` and unpacks it as `type` (a Vigil__Transaction* or
 * Vigil__Decision*; free with protobuf_c_message_free_unpacked). 0, VG_ENOTFOUND,
 * VG_ECORRUPT. */
VG_MUST_CHECK int vg_log_read_message(vg_seglog_t *log, uint64_t offset, uint16_t type,
                                      ProtobufCMessage **out);

/* Fills `out` (a decision message whose arrays point into `reasons`, `rptr` and the
 * decision itself: valid while `d` and those are) from a flat decision. */
void vg_decision_to_pb(const vg_decision_t *d, const char *transaction_id, Vigil__Decision *out,
                       Vigil__Reason reasons[VG_DECISION_REASONS],
                       Vigil__Reason *rptr[VG_DECISION_REASONS]);

/* The flat decision from a decision-log record. */
void vg_decision_from_pb(const Vigil__Decision *pb, vg_decision_t *out);

#endif
