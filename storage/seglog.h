/* SPDX-License-Identifier: MIT */
/*
 * The segmented append-only log: vigil's source of truth (it replaces Kafka). One log per
 * partition directory. Records get dense, consecutive offsets; segments roll by size or age;
 * old segments go by size or age, never the active one and never records the state has not
 * yet applied.
 *
 * On-disk format (little-endian throughout):
 *
 *   DIR/<base:020>.seg   a segment: a 32-byte header, then records back to back
 *     header  0  8  magic "VGSEG\0\0\1"
 *             8  8  base offset (the first record's offset)
 *            16  8  creation time, wall-clock ms
 *            24  4  reserved, 0
 *            28  4  CRC32C of bytes 0..27
 *     record  0  4  length L: bytes after this field (24 + payload length)
 *             4  4  CRC32C of the length field and bytes 8..4+L (everything but itself)
 *             8  8  offset
 *            16  8  event timestamp, ms since the Unix epoch (signed)
 *            24  2  type (VG_SEGLOG_TYPE_*)
 *            26  2  flags, 0
 *            28  ..  payload (L - 24 bytes; opaque protobuf written by callers)
 *   DIR/<base:020>.idx   sparse index, derived, never synced: 24-byte entries
 *             0  8  offset of a record    8  8  its byte position in the segment
 *            16  8  the largest event timestamp in the segment up to and including it
 *   DIR/checkpoint       recovery point, rewritten in place after every sync (never synced
 *                        itself: stale is safe, torn is detected): 32 bytes
 *             0  8  magic "VGCHK\0\0\1"   8  8  active segment base   16  8  synced byte
 *                   position in it       24  4  CRC32C of bytes 0..23   28  4  reserved
 *
 * The active segment may end in zeros written ahead of its records (opts.prealloc_bytes); a
 * rolled segment is cut to its records. A segment's end is its last record: zeros after it
 * are free space, in any segment (a crash may come before the cut of a rolled one is on disk).
 *
 * Recovery on open: the last segment is scanned. A record that is short, or whose CRC, offset
 * or length is wrong, ends the log there when it lies beyond the checkpoint's synced position
 * (a torn write that was never acknowledged): unless only zeros follow, the tail is truncated
 * and the bytes cut are reported. Below the synced position it is corruption of acknowledged data:
 * a hard error (VG_ECORRUPT) naming file and position, as is a bad sealed segment, a bad segment
 * header or a gap between segments. A missing, short or inconsistent index is rebuilt by scanning.
 * A read-only open (vigil log inspect) reports instead of repairing.
 *
 * Durability: append writes to the page cache; vg_seglog_sync() makes everything appended so
 * far durable (fdatasync of the segments written since the last sync, and of the directory
 * after a roll). A failed write or sync makes the log failed for good: later appends get
 * VG_EREADONLY, vg_seglog_failed() says why, and records already durable stay readable.
 * After a failed fsync the page cache cannot be trusted, so it is never retried.
 *
 * Threads: append, roll and retain from one owner thread; sync from one other (flusher)
 * thread at a time, concurrently with appends; readers from any thread, seeing records below
 * vg_seglog_next_offset() at the time they reach the end.
 */
#ifndef VG_STORAGE_SEGLOG_H
#define VG_STORAGE_SEGLOG_H

#include "runtime/compiler.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VG_SEGLOG_HEADER_BYTES 32u
#define VG_SEGLOG_RECORD_BYTES 28u         /* record header */
#define VG_SEGLOG_MAX_PAYLOAD  (16u << 20) /* 16 MiB */

enum vg_seglog_type {
    VG_SEGLOG_TYPE_TRANSACTION = 1,
    VG_SEGLOG_TYPE_LABEL = 2,
    VG_SEGLOG_TYPE_ANALYST_ACTION = 3,
    VG_SEGLOG_TYPE_DECISION = 4,
    VG_SEGLOG_TYPE_TEST = 100, /* tests and benchmarks */
};

/* The name of a record type ("transaction", ...), or "unknown". */
const char *vg_seglog_type_name(uint16_t type);

enum vg_seglog_fault_op { VG_SEGLOG_OP_WRITE = 1, VG_SEGLOG_OP_SYNC = 2 };

/* Test hook: called before every write and sync; a negative return (-errno) is taken as that
 * call's failure. NULL in production. */
typedef int (*vg_seglog_fault_fn)(void *ctx, enum vg_seglog_fault_op op);

typedef struct vg_seglog_opts {
    uint64_t segment_bytes;        /* roll at this size; 0 = 128 MiB */
    uint64_t segment_age_ms;       /* roll when the active segment is this old; 0 = never */
    uint32_t index_interval_bytes; /* one index entry per this many bytes; 0 = 4096 */
    uint64_t retention_bytes;      /* keep at most this many bytes; 0 = all */
    uint64_t retention_age_ms;     /* drop segments older than this (wall clock); 0 = never */
    /* Keep about this many bytes of zeros written past the active segment's end, so that
     * appends overwrite blocks the file already has and a sync need not write its inode
     * (ext4: about half the time and CPU of an fdatasync); 0 = none (the file grows with
     * each append). Capped at segment_bytes. */
    uint64_t prealloc_bytes;
    bool read_only; /* inspect: report damage, change nothing */
    vg_seglog_fault_fn fault;
    void *fault_ctx;
} vg_seglog_opts_t;

/* What recovery did on open. */
typedef struct vg_seglog_recovery {
    uint32_t segments;
    uint32_t indexes_rebuilt;
    uint64_t truncated_bytes; /* cut from the last segment's torn tail */
    uint64_t truncated_at;    /* byte position of the cut */
    char file[4096];          /* the segment the cut or the error is in */
    uint64_t error_pos;       /* position of a hard error */
} vg_seglog_recovery_t;

/* A record to append. */
typedef struct vg_seglog_rec {
    uint16_t type;
    int64_t timestamp_ms;
    const void *payload;
    uint32_t len;
} vg_seglog_rec_t;

/* A record read back; payload valid until the reader's next call. */
typedef struct vg_seglog_view {
    uint64_t offset;
    int64_t timestamp_ms;
    uint16_t type;
    const uint8_t *payload;
    uint32_t len;
    uint64_t segment_base; /* where it lives, for tools */
    uint64_t position;
} vg_seglog_view_t;

typedef struct vg_seglog vg_seglog_t;
typedef struct vg_seglog_reader vg_seglog_reader_t;

/* Opens (creating) the log in `dir` and recovers it. OUT: *out; *rec (may be NULL) says what
 * recovery did, also on failure. err (may be NULL) gets a one-line reason on failure.
 * 0, VG_ECORRUPT (file and position in err and rec), or -errno. */
VG_MUST_CHECK int vg_seglog_open(const char *dir, const vg_seglog_opts_t *opts, vg_seglog_t **out,
                                 vg_seglog_recovery_t *rec, char *err, size_t errlen);

/* Appends `n` records as one write. OUT: *first_offset (the rest follow densely).
 * 0, VG_EINVAL (payload too big), VG_EREADONLY (failed earlier or read-only), or -errno (this
 * write failed: the log is now failed). Thread: owner. */
VG_MUST_CHECK int vg_seglog_append(vg_seglog_t *log, const vg_seglog_rec_t *recs, size_t n,
                                   uint64_t *first_offset);

/* Makes every record appended before the call durable. 0, or -errno / VG_EREADONLY (the log is
 * failed). Thread: one flusher at a time (may run concurrently with append). */
VG_MUST_CHECK int vg_seglog_sync(vg_seglog_t *log);

/* The offset the next record will get; all below are written. Thread: any. */
uint64_t vg_seglog_next_offset(const vg_seglog_t *log);
/* Every record below this is durable (fsync mode). Thread: any. */
uint64_t vg_seglog_durable_offset(const vg_seglog_t *log);
/* The oldest offset still kept. Thread: any. */
uint64_t vg_seglog_start_offset(vg_seglog_t *log);
/* Bytes appended since open (for group-commit sizing). Thread: any. */
uint64_t vg_seglog_bytes_written(const vg_seglog_t *log);

/* 0 while healthy; else the sticky error, with a message in buf. Thread: any. */
int vg_seglog_failed(vg_seglog_t *log, char *buf, size_t len);

/* Rolls to a new segment if the active one is past its size or age. Thread: owner. */
VG_MUST_CHECK int vg_seglog_maybe_roll(vg_seglog_t *log, int64_t now_ms);

/* Deletes whole sealed segments beyond the retention size/age whose records are all below
 * `min_keep_offset` (the state's applied offset). OUT: *deleted (may be NULL). Thread: owner. */
VG_MUST_CHECK int vg_seglog_retain(vg_seglog_t *log, uint64_t min_keep_offset, int64_t now_ms,
                                   unsigned *deleted);

/* The oldest sealed segment's offsets, [*base, *next): false when only the active segment is
 * left. Thread: any. */
bool vg_seglog_oldest_sealed(vg_seglog_t *log, uint64_t *base, uint64_t *next);

/* Deletes the oldest sealed segment, whatever the retention settings: for a log whose records
 * are kept by what they refer to (the decision log, by its transactions). 0, VG_ENOTFOUND
 * (only the active segment), VG_EINVAL (read-only) or -errno. Thread: owner. */
VG_MUST_CHECK int vg_seglog_drop_oldest(vg_seglog_t *log);

/* Closes (syncing first unless failed or read-only). Accepts NULL. Thread: owner, with the
 * flusher stopped and readers closed. */
void vg_seglog_close(vg_seglog_t *log);

/* ---- readers ---- */

/* A reader positioned at `from_offset` (clamped to the oldest kept). Thread: any. */
VG_MUST_CHECK int vg_seglog_reader_open(vg_seglog_t *log, uint64_t from_offset,
                                        vg_seglog_reader_t **out);

/* Positions the reader at the first record (in offset order) whose timestamp is >= ts_ms,
 * using the index's running maximum timestamps; event times need not be monotonic. */
VG_MUST_CHECK int vg_seglog_reader_seek_time(vg_seglog_reader_t *r, int64_t ts_ms);

/* The next record. 0, VG_ENOTFOUND at the end, VG_ECORRUPT, or -errno. */
VG_MUST_CHECK int vg_seglog_reader_next(vg_seglog_reader_t *r, vg_seglog_view_t *out);

void vg_seglog_reader_close(vg_seglog_reader_t *r);

/* ---- verification (vigil log verify) ---- */

typedef struct vg_seglog_verify {
    uint64_t records;
    uint64_t segments;
    uint64_t bytes;
    uint64_t first_offset;
    uint64_t next_offset;
    uint64_t bad_indexes;     /* index files that disagree with their segment */
    uint64_t torn_tail_bytes; /* unacknowledged tail of the last segment (not damage) */
} vg_seglog_verify_t;

/* Checks every segment header, record CRC, offset continuity and index in `dir` without
 * changing anything. 0 when clean (a torn tail beyond the checkpoint is not damage); else
 * VG_ECORRUPT with file and position in err. Safe on a running engine's log: it checks the
 * records there were when it opened the log; index entries for records appended since are
 * checked against those records, and the oldest segments retention deletes meanwhile are
 * skipped. */
VG_MUST_CHECK int vg_seglog_verify_dir(const char *dir, vg_seglog_verify_t *out, char *err,
                                       size_t errlen);

#endif
