/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by storage/seglog.c (writing, recovery) and storage/seglog_read.c
 * (readers, verification). Not for use outside storage/. Thread rules as in seglog.h.
 */
#ifndef VG_STORAGE_SEGLOG_INT_H
#define VG_STORAGE_SEGLOG_INT_H

#include "storage/seglog.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VG__SEGLOG_MIN_RECORD_LEN (VG_SEGLOG_RECORD_BYTES - 4u)

struct segment {
    uint64_t base;
    uint64_t next;       /* offset after its last record (sealed segments) */
    uint64_t size;       /* bytes (sealed segments) */
    int64_t created_ms;  /* from its header */
    int64_t modified_ms; /* last write, wall clock: retention by age */
};

struct idx_entry {
    uint64_t offset;
    uint64_t pos;
    int64_t max_ts;
};

struct vg_seglog {
    char *dir;
    vg_seglog_opts_t o;
    pthread_mutex_t lock;
    struct segment *segs; /* oldest first; the last is active */
    size_t nsegs;
    size_t capsegs;
    int active_fd;
    int idx_fd;
    int chk_fd;
    int dir_fd;
    int *unsynced; /* fds of rolled segments not yet synced (under lock) */
    size_t nunsynced;
    size_t capunsynced;
    bool dir_dirty; /* a segment was created or deleted since the last sync */
    /* Owner only. */
    uint64_t active_pos;
    uint64_t zeroed_end; /* the active segment's file holds bytes (records or zeros) to here */
    uint64_t idx_due;    /* next index entry at or after this position */
    int64_t active_max_ts;
    uint8_t *wbuf;
    size_t wcap;
    /* Published. */
    _Atomic uint64_t next_offset;
    _Atomic uint64_t durable_offset;
    _Atomic uint64_t active_end;
    _Atomic uint64_t bytes_written;
    _Atomic int failed;
    char fail_msg[256]; /* under lock */
};

struct cursor {
    int fd;
    uint64_t file_size;
    uint64_t pos;
    uint8_t *buf;
    size_t cap;
    uint64_t buf_pos; /* file position of buf[0] */
    size_t buf_len;
};

/* Writes "DIR/<base:020>.<ext>" into buf. */
void vg__seglog_path(const char *dir, uint64_t base, const char *ext, char *buf, size_t len);

void vg__seglog_cursor_init(struct cursor *c, int fd, uint64_t file_size, uint64_t pos);
void vg__seglog_cursor_free(struct cursor *c);

/* Reads the record at c->pos, which must carry offset `expect` (UINT64_MAX: any).
 * 0 (advanced), VG_ENOTFOUND at the exact end of the file, VG_ETORN for a short or bad record
 * (c->pos stays on it), or -errno. */
int vg__seglog_cursor_next(struct cursor *c, uint64_t expect, vg_seglog_view_t *v);

/* Whether bytes [from, to) of fd are all zero. 0 or -errno in *rc. */
bool vg__seglog_zeros(int fd, uint64_t from, uint64_t to, int *rc);

/* Loads DIR/<base>.idx. OUT: *entries (caller frees), *n. Missing file: 0 entries. */
int vg__seglog_load_index(const char *dir, uint64_t base, struct idx_entry **entries, size_t *n);

#endif
