/* SPDX-License-Identifier: MIT */
/*
 * The per-partition state store on LMDB: derived data (account and merchant profiles, the
 * transaction index, alerts) that the partition rebuilds from its log. One environment per
 * partition (DATA/pNN/state/) with the databases below. lmdb.h stays inside state.c.
 *
 * Exactly once: a write batch is one LMDB write transaction: its gets see its own puts and
 * deletes (so a batch can read-modify-write the same key many times), and its commit writes
 * them TOGETHER WITH the partition's applied log offset. On restart the partition
 * replays its log from the applied offset; the state and the offset never disagree, so no
 * record is counted twice or lost.
 *
 * Durability: commits use MDB_NOSYNC (and MDB_WRITEMAP when asked): a commit is in the page
 * cache, vg_state_sync() (on a timer, off the hot path) flushes it. A kill -9 of vigil loses
 * nothing committed (the page cache survives the process). A power loss can lose the commits
 * since the last sync: the state then holds an older applied offset and the partition replays
 * more of its log, which is safe for the same reason as above. Without MDB_WRITEMAP, LMDB keeps
 * its integrity on a file system that preserves write order; with it, or on one that does not,
 * a power loss can damage the environment, and the fix is to delete DATA/pNN/state/ and
 * replay the partition's log from its first kept offset (so the state is exact only if
 * retention has kept the whole history that matters to the features).
 *
 * The map grows on demand: MDB_MAP_FULL doubles the map (up to max_map_size) and applies the
 * batch's operations again (they are recorded as they come). Readers never block the writer
 * (LMDB MVCC); a map resize waits for every transaction in this process to end (a rwlock),
 * so a thread must not hold a reader of this environment across a batch operation that may
 * grow it (vg_state_batch_before_grow lets the batch end them first).
 *
 * Thread: batches from one owner thread; gets, sync and stats from any.
 */
#ifndef VG_STORAGE_STATE_H
#define VG_STORAGE_STATE_H

#include "runtime/bytes.h"
#include "runtime/compiler.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum vg_state_db {
    VG_STATE_ACCOUNTS = 0,  /* account id -> account profile */
    VG_STATE_MERCHANTS = 1, /* merchant id -> merchant profile (merchant-owning partition) */
    VG_STATE_TXINDEX = 2,   /* transaction id -> partition, offset, account, merchant */
    VG_STATE_ALERTS = 3,    /* alert id -> alert */
    VG_STATE_META = 4,      /* "applied_offset", "model_version", ... */
    VG_STATE_NDBS = 5,
};

#define VG_STATE_MAX_KEY 511 /* LMDB's default key limit */

typedef struct vg_state_opts {
    uint64_t map_size;     /* initial map size; 0 = 64 MiB */
    uint64_t max_map_size; /* growth limit; 0 = 1 TiB */
    bool writemap;         /* MDB_WRITEMAP: faster writes, weaker power-loss integrity */
} vg_state_opts_t;

typedef struct vg_state_stats {
    uint64_t entries[VG_STATE_NDBS];
    uint64_t map_size;
    uint64_t used_bytes; /* pages in use x page size */
    uint64_t resizes;
} vg_state_stats_t;

typedef struct vg_state vg_state_t;
typedef struct vg_state_batch vg_state_batch_t;

/* Opens (creating) the environment in `dir`. OUT: *out. 0, VG_ESTATE (LMDB refused; message
 * logged), or -errno. */
VG_MUST_CHECK int vg_state_open(const char *dir, const vg_state_opts_t *opts, vg_state_t **out);

/* Accepts NULL. Thread: owner, with no batch open and no reader running. */
void vg_state_close(vg_state_t *st);

/* The applied log offset (0 for a new partition): every record below it is in the state. */
VG_MUST_CHECK int vg_state_applied_offset(vg_state_t *st, uint64_t *out);

/* Copies the committed value of `key` into buf (cap bytes). OUT: *len (the full length, even
 * when larger than cap: then nothing is copied and VG_ETOOBIG is returned).
 * 0, VG_ENOTFOUND, VG_ETOOBIG, VG_EINVAL (bad key) or VG_ESTATE. Thread: any. */
VG_MUST_CHECK int vg_state_get(vg_state_t *st, enum vg_state_db db, const void *key, size_t klen,
                               void *buf, size_t cap, size_t *len);

/* A read view held across several gets: one LMDB read transaction, begun by the first get
 * and kept until vg_state_reader_end, so a turn that reads many keys pays for one transaction
 * (vg_state_get begins and ends one per key: a malloc, the reader-table lock, a free). It pins
 * a snapshot and the read side of the resize lock, so end it within the loop turn, and before
 * the same thread puts into a batch on the same environment (a put may grow the map).
 * Initialise as {.st = st}. Thread: one at a time. */
typedef struct vg_state_reader {
    vg_state_t *st;
    void *txn; /* MDB_txn; NULL until the first get */
} vg_state_reader_t;

/* The committed value of `key`, through the reader's transaction. OUT: *val, a view into the
 * map, valid until vg_state_reader_end (the snapshot never changes under it).
 * 0, VG_ENOTFOUND, VG_EINVAL (bad key) or VG_ESTATE. */
VG_MUST_CHECK int vg_state_reader_get(vg_state_reader_t *r, enum vg_state_db db, const void *key,
                                      size_t klen, vg_bytes_t *val);

/* Ends the transaction, if one was begun; the reader can be used again. */
void vg_state_reader_end(vg_state_reader_t *r);

/* Ends r[0..n) and forgets their states, for readers whose state is looked up again on their
 * next use (another partition's, which may have stopped meanwhile). */
void vg_state_readers_reset(vg_state_reader_t *r, size_t n);

/* Calls fn(ctx, key, value) for every committed key of `db` that starts with `prefix` (plen
 * 0: every key), in key order, inside one read transaction (the views are valid during the
 * call only). fn returns non-zero to stop. 0, VG_EINVAL or VG_ESTATE. Thread: any. */
typedef int (*vg_state_scan_fn)(void *ctx, vg_bytes_t key, vg_bytes_t value);
VG_MUST_CHECK int vg_state_scan(vg_state_t *st, enum vg_state_db db, const void *prefix,
                                size_t plen, vg_state_scan_fn fn, void *ctx);

/* The same from the first key >= `start` (slen 0: the first key) to the last, whatever they
 * begin with. 0, VG_EINVAL or VG_ESTATE. Thread: any. */
VG_MUST_CHECK int vg_state_scan_from(vg_state_t *st, enum vg_state_db db, const void *start,
                                     size_t slen, vg_state_scan_fn fn, void *ctx);

/* Flushes committed transactions to disk. Thread: any (not the owner's loop: it blocks). */
VG_MUST_CHECK int vg_state_sync(vg_state_t *st);

VG_MUST_CHECK int vg_state_stats(vg_state_t *st, vg_state_stats_t *out);

/* ---- write batches (owner thread) ---- */

/* Starts a batch. Only one batch at a time. Never NULL: the write transaction begins with the
 * first operation, and a failure to begin is that operation's error. */
vg_state_batch_t *vg_state_batch_begin(vg_state_t *st);

/* fn(ctx) runs before the batch grows the map, with the batch's transaction already ended: it
 * must end every reader this thread holds on any environment (vg_state_readers_reset), since
 * the resize waits for the readers of this one, and another partition's resize may be waiting
 * for this thread's readers of it. Cleared by vg_state_batch_begin. */
void vg_state_batch_before_grow(vg_state_batch_t *b, void (*fn)(void *ctx), void *ctx);

/* Records a put (key and value are copied) in the batch's transaction. 0, VG_EINVAL (empty or
 * too long key), or the batch's failure: VG_ESTATE, -ENOSPC (the map cannot grow) or -errno.
 * After a failure every operation returns it and the batch can only be aborted (a commit
 * returns it too and writes nothing). */
VG_MUST_CHECK int vg_state_batch_put(vg_state_batch_t *b, enum vg_state_db db, const void *key,
                                     size_t klen, const void *val, size_t vlen);

/* Records a put of a key that is not there yet, in one walk of the tree: 0 once done, or
 * VG_EEXISTS with the value there in *existing (valid as a get's) and nothing written; else
 * the codes of vg_state_batch_put. */
VG_MUST_CHECK int vg_state_batch_put_new(vg_state_batch_t *b, enum vg_state_db db, const void *key,
                                         size_t klen, const void *val, size_t vlen,
                                         vg_bytes_t *existing);

/* Records a delete (of a key that may be absent). The same codes. */
VG_MUST_CHECK int vg_state_batch_del(vg_state_batch_t *b, enum vg_state_db db, const void *key,
                                     size_t klen);

/* The value as this batch sees it: its own puts and deletes, then the committed state.
 * OUT: *val, valid until the batch's next put, delete, commit or abort (LMDB moves pages as
 * it writes them). 0, VG_ENOTFOUND, VG_EINVAL or the batch's failure. */
VG_MUST_CHECK int vg_state_batch_get(vg_state_batch_t *b, enum vg_state_db db, const void *key,
                                     size_t klen, vg_bytes_t *val);

/* Commits every operation and `applied_offset` in one transaction, and ends the batch.
 * VG_STATE_KEEP_APPLIED leaves the applied offset as it is (a batch that applies no log
 * records of its own, such as merchant deltas from other partitions).
 * 0; or the batch's failure, or VG_ESTATE / -errno / -ENOSPC from the commit: nothing is
 * written and the batch is ended. */
#define VG_STATE_KEEP_APPLIED UINT64_MAX
VG_MUST_CHECK int vg_state_batch_commit(vg_state_batch_t *b, uint64_t applied_offset);

/* Drops the batch: nothing is written. */
void vg_state_batch_abort(vg_state_batch_t *b);

/* Operations recorded in the batch (puts and deletes, repeats of a key included). */
size_t vg_state_batch_size(const vg_state_batch_t *b);

#endif
