/* SPDX-License-Identifier: MIT */
/*
 * Readers of the segmented log (by offset, by time, across segments) and the full
 * verification behind `vigil log verify`; the format is in seglog.h. Readers take the log's
 * mutex only to look up segments and read files through their own descriptors, so they never
 * block the writer. Thread: any.
 */
#include "runtime/alloc.h"
#include "runtime/error.h"
#include "storage/seglog.h"
#include "storage/seglog_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- readers ---- */

struct vg_seglog_reader {
    vg_seglog_t *log;
    uint64_t seg_base;
    uint64_t next; /* offset of the next record to return */
    int fd;
    struct cursor c;
};

/* The segment holding `offset`: its base and the start of the one after (UINT64_MAX if none). */
static bool find_segment(vg_seglog_t *log, uint64_t offset, uint64_t *base, uint64_t *after)
{
    pthread_mutex_lock(&log->lock);
    bool found = false;
    for (size_t i = log->nsegs; i-- > 0;) {
        if (log->segs[i].base <= offset) {
            *base = log->segs[i].base;
            *after = i + 1 < log->nsegs ? log->segs[i + 1].base : UINT64_MAX;
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&log->lock);
    return found;
}

/* Opens segment `base` at the index entry at or before `offset` (or by time, see below). */
static int reader_enter(vg_seglog_reader_t *r, uint64_t base, uint64_t start_pos, uint64_t first)
{
    if (r->fd >= 0)
        (void)close(r->fd); /* read-only */
    vg__seglog_cursor_free(&r->c);
    char path[PATH_MAX];
    vg__seglog_path(r->log->dir, base, "seg", path, sizeof(path));
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0)
        return -errno;
    struct stat st;
    if (fstat(r->fd, &st) < 0)
        return -errno;
    vg__seglog_cursor_init(&r->c, r->fd, (uint64_t)st.st_size, start_pos);
    r->seg_base = base;
    r->next = first;
    return 0;
}

static int reader_seek_offset(vg_seglog_reader_t *r, uint64_t offset)
{
    uint64_t base = 0;
    uint64_t after = 0;
    if (!find_segment(r->log, offset, &base, &after))
        return VG_ENOTFOUND;
    struct idx_entry *idx = NULL;
    size_t n = 0;
    uint64_t pos = VG_SEGLOG_HEADER_BYTES;
    uint64_t first = base;
    if (vg__seglog_load_index(r->log->dir, base, &idx, &n) == 0) {
        for (size_t i = 0; i < n && idx[i].offset <= offset; i++) {
            pos = idx[i].pos;
            first = idx[i].offset;
        }
    }
    free(idx);
    int rc = reader_enter(r, base, pos, first);
    vg_seglog_view_t v;
    /* Skip forward to `offset` inside the segment. */
    while (rc == 0 && r->next < offset) {
        rc = vg_seglog_reader_next(r, &v);
        if (rc == VG_ENOTFOUND)
            return 0; /* offset is past the end: the reader waits there */
    }
    return rc;
}

int vg_seglog_reader_open(vg_seglog_t *log, uint64_t from_offset, vg_seglog_reader_t **out)
{
    vg_seglog_reader_t *r = vg_xcalloc(1, sizeof(*r));
    r->log = log;
    r->fd = -1;
    uint64_t start = vg_seglog_start_offset(log);
    int rc = reader_seek_offset(r, from_offset < start ? start : from_offset);
    if (rc != 0 && rc != VG_ENOTFOUND) {
        vg_seglog_reader_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

int vg_seglog_reader_next(vg_seglog_reader_t *r, vg_seglog_view_t *out)
{
    bool reread = false;
    for (;;) {
        if (r->next >= vg_seglog_next_offset(r->log))
            return VG_ENOTFOUND;
        if (r->fd < 0)
            return VG_ENOTFOUND;
        int rc = vg__seglog_cursor_next(&r->c, r->next, out);
        if (rc == 0) {
            out->segment_base = r->seg_base;
            r->next++;
            return 0;
        }
        if (rc == VG_ETORN || rc == VG_ENOTFOUND) {
            /* The active segment may have grown since we opened it, or been cut to its
             * records when it rolled (its zeros ahead gone). */
            struct stat st;
            if (fstat(r->fd, &st) == 0 && (uint64_t)st.st_size != r->c.file_size) {
                r->c.file_size = (uint64_t)st.st_size;
                r->c.buf_len = 0;
                continue;
            }
            /* Records below next_offset are written: what the buffer holds in their place
             * was read before them (zeros ahead of the active segment's end). Read again,
             * once: a record still bad after that is damage. */
            if (rc == VG_ETORN && !reread) {
                reread = true;
                r->c.buf_len = 0;
                continue;
            }
            /* Past this segment's last record (what follows it, if anything, is zeros a
             * roll did not manage to cut): on to the segment that holds the next one. */
            uint64_t base = 0;
            uint64_t after = 0;
            if (find_segment(r->log, r->next, &base, &after) && base != r->seg_base) {
                rc = reader_enter(r, base, VG_SEGLOG_HEADER_BYTES, r->next);
                if (rc != 0)
                    return rc;
                continue;
            }
            return rc == VG_ETORN ? VG_ECORRUPT : VG_ENOTFOUND;
        }
        return rc;
    }
}

/* Scans segment `base` from its index position for ts_ms. 0: positioned on the record;
 * VG_ENOTFOUND: none in this segment. */
static int seek_time_in(vg_seglog_reader_t *r, uint64_t base, int64_t ts_ms)
{
    struct idx_entry *idx = NULL;
    size_t n = 0;
    if (vg__seglog_load_index(r->log->dir, base, &idx, &n) != 0)
        n = 0;
    /* Records before the first entry whose running maximum reaches ts_ms are all earlier. */
    uint64_t pos = VG_SEGLOG_HEADER_BYTES;
    uint64_t first = base;
    for (size_t i = 0; i < n && idx[i].max_ts < ts_ms; i++) {
        pos = idx[i].pos;
        first = idx[i].offset;
    }
    free(idx);
    int rc = reader_enter(r, base, pos, first);
    vg_seglog_view_t v;
    while (rc == 0) {
        uint64_t at = r->c.pos;
        uint64_t off = r->next;
        rc = vg_seglog_reader_next(r, &v);
        if (rc != 0)
            break;
        if (v.segment_base != base)
            return v.timestamp_ms >= ts_ms ? reader_seek_offset(r, v.offset) : VG_ENOTFOUND;
        if (v.timestamp_ms >= ts_ms) {
            r->c.pos = at; /* step back so next() returns it */
            r->next = off;
            return 0;
        }
    }
    return rc;
}

int vg_seglog_reader_seek_time(vg_seglog_reader_t *r, int64_t ts_ms)
{
    pthread_mutex_lock(&r->log->lock);
    size_t nsegs = r->log->nsegs;
    uint64_t *bases = vg_xmalloc(nsegs * sizeof(*bases));
    for (size_t i = 0; i < nsegs; i++)
        bases[i] = r->log->segs[i].base;
    pthread_mutex_unlock(&r->log->lock);
    int rc = VG_ENOTFOUND;
    for (size_t s = 0; s < nsegs && rc == VG_ENOTFOUND; s++)
        rc = seek_time_in(r, bases[s], ts_ms);
    free(bases);
    if (rc == VG_ENOTFOUND) /* none: the reader waits at the end */
        return reader_seek_offset(r, vg_seglog_next_offset(r->log));
    return rc;
}

void vg_seglog_reader_close(vg_seglog_reader_t *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        (void)close(r->fd); /* read-only */
    vg__seglog_cursor_free(&r->c);
    free(r);
}

/* ---- verification ---- */

/* The index entries of a segment being verified, matched in order against its records. */
struct idx_check {
    struct idx_entry *idx;
    size_t n;
    size_t next; /* the first entry not matched yet */
    int64_t max_ts;
};

/* Matches the entries up to record v against it. */
static void check_entry(struct idx_check *ic, const vg_seglog_view_t *v, uint64_t *bad)
{
    ic->max_ts = v->timestamp_ms > ic->max_ts ? v->timestamp_ms : ic->max_ts;
    while (ic->next < ic->n && ic->idx[ic->next].pos < v->position)
        ic->next++; /* an entry between records: caught below as not matching */
    if (ic->next < ic->n && ic->idx[ic->next].pos == v->position) {
        if (ic->idx[ic->next].offset != v->offset || ic->idx[ic->next].max_ts != ic->max_ts)
            (*bad)++;
        ic->next++;
    }
}

/* Entries left past `expect`, the log's end when verify opened it. On a running engine's
 * directory the engine has appended records since, and entries for them: an entry is written
 * after its record and the index was loaded before this, so the records they name are there
 * to be read now (past the file size seen at first, or where zeros were read ahead). They are
 * checked against those records; only an entry that names none is damage. */
static void check_live_tail(int fd, struct cursor *c, uint64_t expect, struct idx_check *ic,
                            uint64_t *bad)
{
    struct stat st;
    if (fstat(fd, &st) == 0)
        c->file_size = (uint64_t)st.st_size;
    c->buf_len = 0;
    vg_seglog_view_t v;
    while (ic->next < ic->n && vg__seglog_cursor_next(c, expect, &v) == 0) {
        check_entry(ic, &v, bad);
        expect++;
    }
}

/* Scans one whole segment, checking every record and that every index entry points at the
 * record it names with the right running maximum timestamp. */
static int verify_segment(const char *dir, uint64_t base, uint64_t limit, vg_seglog_verify_t *out,
                          char *err, size_t errlen)
{
    char path[PATH_MAX];
    vg__seglog_path(dir, base, "seg", path, sizeof(path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int rc = -errno;
        snprintf(err, errlen, "%s: cannot open: %s", path, vg_strerror(rc));
        return rc;
    }
    struct stat st;
    int rc = fstat(fd, &st) < 0 ? -errno : 0;
    struct idx_check ic = {.max_ts = INT64_MIN};
    if (rc == 0)
        rc = vg__seglog_load_index(dir, base, &ic.idx, &ic.n);
    struct cursor c;
    vg__seglog_cursor_init(&c, fd, (uint64_t)st.st_size, VG_SEGLOG_HEADER_BYTES);
    vg_seglog_view_t v;
    uint64_t expect = base;
    while (rc == 0 && expect < limit && (rc = vg__seglog_cursor_next(&c, expect, &v)) == 0) {
        check_entry(&ic, &v, &out->bad_indexes);
        out->records++;
        expect++;
    }
    if (rc == VG_ENOTFOUND || expect == limit)
        rc = 0;
    if (rc == 0 && ic.next < ic.n && expect == limit)
        check_live_tail(fd, &c, expect, &ic, &out->bad_indexes);
    if (rc == 0 && ic.next < ic.n)
        out->bad_indexes++; /* entries past the records */
    if (rc != 0) {
        snprintf(err, errlen, "%s: corrupt record at byte %llu", path, (unsigned long long)c.pos);
        rc = VG_ECORRUPT;
    }
    out->bytes += (uint64_t)st.st_size;
    out->segments++;
    vg__seglog_cursor_free(&c);
    free(ic.idx);
    (void)close(fd); /* read-only */
    return rc;
}

int vg_seglog_verify_dir(const char *dir, vg_seglog_verify_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    err[0] = '\0';
    /* A read-only open checks headers, joins and the last segment against the checkpoint. */
    vg_seglog_opts_t o = {.read_only = true};
    vg_seglog_t *log = NULL;
    vg_seglog_recovery_t rec;
    int rc = vg_seglog_open(dir, &o, &log, &rec, err, errlen);
    if (rc != 0)
        return rc == -ENOENT ? rc : VG_ECORRUPT;
    out->torn_tail_bytes = rec.truncated_bytes;
    out->first_offset = log->segs[0].base;
    out->next_offset = vg_seglog_next_offset(log);
    bool oldest = true; /* no segment verified yet */
    for (size_t i = 0; rc == 0 && i < log->nsegs; i++) {
        uint64_t limit = i + 1 == log->nsegs ? out->next_offset : log->segs[i].next;
        rc = verify_segment(dir, log->segs[i].base, limit, out, err, errlen);
        if (rc == -ENOENT && oldest && i + 1 < log->nsegs) {
            /* Gone since the open: a running engine's retention deleted its oldest segments
             * (never the active one). The log starts after it now. */
            rc = 0;
            err[0] = '\0';
            out->first_offset = log->segs[i + 1].base;
            continue;
        }
        oldest = false;
    }
    vg_seglog_close(log);
    return rc;
}
