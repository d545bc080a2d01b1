/* SPDX-License-Identifier: MIT */
/*
 * The segmented log; the on-disk format, recovery rule and thread rules are in seglog.h.
 *
 * The owner thread appends with pwrite at the active segment's end and publishes the new end
 * through atomics (next_offset, active_end) after the write returns, so readers and the
 * flusher only ever look below data that is fully written. The mutex guards the segment
 * list, the set of file descriptors a sync must flush, and the failure state; sync holds it
 * across its fdatasync calls, so a roll (rare) waits for a sync in progress, and a file
 * descriptor is never closed under a sync. Appends never take it.
 */
#define VG_LOG_MODULE "seglog"
#include "storage/seglog.h"
#include "runtime/alloc.h"
#include "runtime/bytes.h"
#include "runtime/clock.h"
#include "runtime/crc32c.h"
#include "runtime/error.h"
#include "runtime/io.h"
#include "runtime/logging.h"
#include "storage/seglog_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define IDX_ENTRY_BYTES  24u
#define CHK_BYTES        32u
#define DEFAULT_SEGMENT  ((uint64_t)128 << 20)
#define DEFAULT_INTERVAL 4096u
#define READ_CHUNK       ((size_t)256 << 10)
#define MIN_RECORD_LEN   VG__SEGLOG_MIN_RECORD_LEN

_Static_assert(VG_SEGLOG_HEADER_BYTES == 32, "segment header");
_Static_assert(VG_SEGLOG_RECORD_BYTES == 28, "record header");
static const uint8_t seg_magic[8] = {'V', 'G', 'S', 'E', 'G', 0, 0, 1};
static const uint8_t chk_magic[8] = {'V', 'G', 'C', 'H', 'K', 0, 0, 1};

static uint32_t record_crc(const uint8_t *rec, uint32_t len)
{
    return vg_crc32c(vg_crc32c(0, rec, 4), rec + 8, len - 4);
}

const char *vg_seglog_type_name(uint16_t type)
{
    switch (type) {
    case VG_SEGLOG_TYPE_TRANSACTION:
        return "transaction";
    case VG_SEGLOG_TYPE_LABEL:
        return "label";
    case VG_SEGLOG_TYPE_ANALYST_ACTION:
        return "analyst_action";
    case VG_SEGLOG_TYPE_DECISION:
        return "decision";
    case VG_SEGLOG_TYPE_TEST:
        return "test";
    default:
        return "unknown";
    }
}

/* ---- paths and files ---- */

void vg__seglog_path(const char *dir, uint64_t base, const char *ext, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%020llu.%s", dir, (unsigned long long)base, ext);
}

static int fault(const vg_seglog_t *log, enum vg_seglog_fault_op op)
{
    return log->o.fault ? log->o.fault(log->o.fault_ctx, op) : 0;
}

static void set_failed(vg_seglog_t *log, int rc, const char *what)
{
    pthread_mutex_lock(&log->lock);
    if (!atomic_load(&log->failed)) {
        snprintf(log->fail_msg, sizeof(log->fail_msg), "%s failed: %s", what, vg_strerror(rc));
        atomic_store(&log->failed, rc);
        VG_LOG_ERROR("log failed, partition stops accepting writes dir=%s op=%s err=%s", log->dir,
                     what, vg_strerror(rc));
    }
    pthread_mutex_unlock(&log->lock);
}

static int read_header(int fd, uint64_t *base, int64_t *created)
{
    uint8_t h[VG_SEGLOG_HEADER_BYTES];
    size_t got = 0;
    int rc = vg_io_pread_all(fd, h, sizeof(h), 0, &got);
    if (rc != 0)
        return rc;
    if (got != sizeof(h) || memcmp(h, seg_magic, 8) != 0 ||
        vg_get_le32(h + 28) != vg_crc32c(0, h, 28))
        return VG_ECORRUPT;
    *base = vg_get_le64(h + 8);
    *created = (int64_t)vg_get_le64(h + 16);
    return 0;
}

/* ---- record cursor ---- */

void vg__seglog_cursor_init(struct cursor *c, int fd, uint64_t file_size, uint64_t pos)
{
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    c->file_size = file_size;
    c->pos = pos;
}

void vg__seglog_cursor_free(struct cursor *c)
{
    free(c->buf);
    c->buf = NULL;
}

/* Makes [pos, pos+need) available in the buffer. 0, VG_ETORN if the file ends first. */
static int cursor_fill(struct cursor *c, size_t need)
{
    if (c->pos >= c->buf_pos && c->pos + need <= c->buf_pos + c->buf_len)
        return 0;
    if (c->pos + need > c->file_size)
        return VG_ETORN;
    size_t want = need > READ_CHUNK ? need : READ_CHUNK;
    if (want > c->file_size - c->pos)
        want = (size_t)(c->file_size - c->pos);
    if (want > c->cap) {
        c->buf = vg_xrealloc(c->buf, want);
        c->cap = want;
    }
    size_t got = 0;
    int rc = vg_io_pread_all(c->fd, c->buf, want, c->pos, &got);
    if (rc != 0)
        return rc;
    c->buf_pos = c->pos;
    c->buf_len = got;
    return got >= need && c->buf ? 0 : VG_ETORN;
}

/* Reads the record at c->pos. `expect` is the offset it must carry (UINT64_MAX: any).
 * 0 (advanced), VG_ENOTFOUND at the exact end of the file, VG_ETORN for a short or bad record
 * (c->pos stays on it), or -errno. */
int vg__seglog_cursor_next(struct cursor *c, uint64_t expect, vg_seglog_view_t *v)
{
    if (c->pos == c->file_size)
        return VG_ENOTFOUND;
    int rc = cursor_fill(c, VG_SEGLOG_RECORD_BYTES);
    if (rc != 0)
        return rc;
    const uint8_t *p = c->buf + (c->pos - c->buf_pos);
    uint32_t len = vg_get_le32(p);
    if (len < MIN_RECORD_LEN || len > MIN_RECORD_LEN + VG_SEGLOG_MAX_PAYLOAD)
        return VG_ETORN;
    rc = cursor_fill(c, 4 + (size_t)len);
    if (rc != 0)
        return rc;
    p = c->buf + (c->pos - c->buf_pos);
    if (vg_get_le32(p + 4) != record_crc(p, len))
        return VG_ETORN;
    uint64_t off = vg_get_le64(p + 8);
    if (expect != UINT64_MAX && off != expect)
        return VG_ETORN;
    v->offset = off;
    v->timestamp_ms = (int64_t)vg_get_le64(p + 16);
    v->type = vg_get_le16(p + 24);
    v->payload = p + VG_SEGLOG_RECORD_BYTES;
    v->len = len - MIN_RECORD_LEN;
    v->position = c->pos;
    c->pos += 4 + (uint64_t)len;
    return 0;
}

/* ---- index ---- */

static int write_index_entry(int fd, uint64_t offset, uint64_t pos, int64_t max_ts)
{
    uint8_t e[IDX_ENTRY_BYTES];
    vg_put_le64(e, offset);
    vg_put_le64(e + 8, pos);
    vg_put_le64(e + 16, (uint64_t)max_ts);
    return vg_io_write_all(fd, e, sizeof(e));
}

/* Loads DIR/<base>.idx. OUT: *entries (caller frees), *n. Missing file: 0 entries. */
int vg__seglog_load_index(const char *dir, uint64_t base, struct idx_entry **entries, size_t *n)
{
    char path[PATH_MAX];
    vg__seglog_path(dir, base, "idx", path, sizeof(path));
    char *data = NULL;
    size_t len = 0;
    *entries = NULL;
    *n = 0;
    int rc = vg_io_read_file(path, &data, &len);
    if (rc == -ENOENT)
        return 0;
    if (rc != 0)
        return rc;
    size_t cnt = len / IDX_ENTRY_BYTES;
    struct idx_entry *e = vg_xcalloc(cnt ? cnt : 1, sizeof(*e));
    for (size_t i = 0; i < cnt; i++) {
        const uint8_t *p = (const uint8_t *)data + i * IDX_ENTRY_BYTES;
        e[i].offset = vg_get_le64(p);
        e[i].pos = vg_get_le64(p + 8);
        e[i].max_ts = (int64_t)vg_get_le64(p + 16);
    }
    free(data);
    *entries = e;
    *n = cnt;
    return 0;
}

/* Scans a segment from `start_pos` (whose record has `start_offset`), (re)writing its index
 * unless `idx_fd` is -1 (a full scan starts at the header).
 * OUT: *end (position after the last good record), *next (offset after it), *max_ts,
 * *bad (true when it stopped at a bad record rather than the end of the file). */
static int scan_segment(int fd, uint64_t file_size, uint64_t start_pos, uint64_t start_offset,
                        uint32_t interval, int idx_fd, uint64_t *end, uint64_t *next,
                        int64_t *max_ts, bool *bad)
{
    struct cursor c;
    vg__seglog_cursor_init(&c, fd, file_size, start_pos);
    uint64_t expect = start_offset;
    uint64_t due = VG_SEGLOG_HEADER_BYTES;
    int64_t mts = INT64_MIN;
    int rc = 0;
    vg_seglog_view_t v;
    *bad = false;
    while ((rc = vg__seglog_cursor_next(&c, expect, &v)) == 0) {
        if (v.timestamp_ms > mts)
            mts = v.timestamp_ms;
        if (idx_fd >= 0 && v.position >= due) {
            rc = write_index_entry(idx_fd, v.offset, v.position, mts);
            if (rc != 0)
                break;
            due = v.position + interval;
        }
        expect++;
    }
    if (rc == VG_ETORN) {
        *bad = true;
        rc = 0;
    } else if (rc == VG_ENOTFOUND) {
        rc = 0;
    }
    *end = c.pos;
    *next = expect;
    *max_ts = mts;
    vg__seglog_cursor_free(&c);
    return rc;
}

/* ---- checkpoint ---- */

static int write_checkpoint(vg_seglog_t *log, uint64_t base, uint64_t pos)
{
    uint8_t b[CHK_BYTES] = {0};
    memcpy(b, chk_magic, sizeof(chk_magic));
    vg_put_le64(b + 8, base);
    vg_put_le64(b + 16, pos);
    vg_put_le32(b + 24, vg_crc32c(0, b, 24));
    return vg_io_pwrite_all(log->chk_fd, b, sizeof(b), 0);
}

static bool read_checkpoint(int fd, uint64_t *base, uint64_t *pos)
{
    uint8_t b[CHK_BYTES];
    size_t got = 0;
    if (vg_io_pread_all(fd, b, sizeof(b), 0, &got) != 0 || got != sizeof(b) ||
        memcmp(b, chk_magic, 8) != 0 || vg_get_le32(b + 24) != vg_crc32c(0, b, 24))
        return false;
    *base = vg_get_le64(b + 8);
    *pos = vg_get_le64(b + 16);
    return true;
}

/* ---- opening ---- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The bases of DIR's segments, sorted. OUT: *bases (caller frees), *n. */
static int list_segments(const char *dir, uint64_t **bases, size_t *n)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    size_t cap = 16;
    size_t cnt = 0;
    uint64_t *b = vg_xmalloc(cap * sizeof(*b));
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len != 24 || strcmp(e->d_name + 20, ".seg") != 0)
            continue;
        char *end = NULL;
        unsigned long long base = strtoull(e->d_name, &end, 10);
        if (end != e->d_name + 20)
            continue;
        if (cnt == cap) {
            cap *= 2;
            b = vg_xrealloc(b, cap * sizeof(*b));
        }
        b[cnt++] = base;
    }
    closedir(d);
    qsort(b, cnt, sizeof(*b), cmp_u64);
    *bases = b;
    *n = cnt;
    return 0;
}

static void add_segment(vg_seglog_t *log, const struct segment *s)
{
    if (log->nsegs == log->capsegs) {
        log->capsegs = log->capsegs ? log->capsegs * 2 : 16;
        log->segs = vg_xrealloc(log->segs, log->capsegs * sizeof(*log->segs));
    }
    log->segs[log->nsegs++] = *s;
}

bool vg__seglog_zeros(int fd, uint64_t from, uint64_t to, int *rc)
{
    uint8_t buf[16384]; /* partitions open on their own threads */
    *rc = 0;
    while (from < to) {
        size_t want = to - from < sizeof(buf) ? (size_t)(to - from) : sizeof(buf);
        size_t got = 0;
        *rc = vg_io_pread_all(fd, buf, want, from, &got);
        if (*rc != 0)
            return false;
        for (size_t i = 0; i < got; i++)
            if (buf[i])
                return false;
        if (got < want)
            return true; /* the file ends first */
        from += got;
    }
    return true;
}

/* Writes zeros past the active segment's end when fewer than half of prealloc_bytes are
 * left, up to prealloc_bytes past it (not beyond segment_bytes). Owner thread: the only
 * writer, so zeros never land on a record. A failure only costs the saving: the log goes on
 * growing its file, and a partial run of zeros is free space like any other. */
static void extend_zeros(vg_seglog_t *log)
{
    static const uint8_t zeros[64 << 10];
    uint64_t pre = log->o.prealloc_bytes;
    if (!pre || log->zeroed_end >= log->active_pos + pre / 2)
        return;
    uint64_t to = log->active_pos + pre;
    if (to > log->o.segment_bytes)
        to = log->o.segment_bytes;
    uint64_t from = log->zeroed_end > log->active_pos ? log->zeroed_end : log->active_pos;
    while (from < to) {
        size_t n = to - from < sizeof(zeros) ? (size_t)(to - from) : sizeof(zeros);
        int rc = vg_io_pwrite_all(log->active_fd, zeros, n, from); /* not a fault point */
        if (rc != 0) {
            VG_LOG_WARN("zeros ahead of the log not written dir=%s err=%s (appends grow the file)",
                        log->dir, vg_strerror(rc));
            log->o.prealloc_bytes = 0;
            break;
        }
        from += n;
    }
    log->zeroed_end = from;
}

/* Creates segment `base` and its index, making them the active pair. */
static int create_segment(vg_seglog_t *log, uint64_t base, int64_t now_ms)
{
    char path[PATH_MAX];
    vg__seglog_path(log->dir, base, "seg", path, sizeof(path));
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    uint8_t h[VG_SEGLOG_HEADER_BYTES] = {0};
    memcpy(h, seg_magic, sizeof(seg_magic));
    vg_put_le64(h + 8, base);
    vg_put_le64(h + 16, (uint64_t)now_ms);
    vg_put_le32(h + 28, vg_crc32c(0, h, 28));
    int rc = fault(log, VG_SEGLOG_OP_WRITE);
    if (rc == 0)
        rc = vg_io_pwrite_all(fd, h, sizeof(h), 0);
    char ipath[PATH_MAX];
    vg__seglog_path(log->dir, base, "idx", ipath, sizeof(ipath));
    int ifd = rc == 0 ? open(ipath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644) : -1;
    if (rc == 0 && ifd < 0)
        rc = -errno;
    if (rc != 0) {
        (void)close(fd); /* failing anyway */
        (void)unlink(path);
        return rc;
    }
    struct segment s = {base, base, VG_SEGLOG_HEADER_BYTES, now_ms, now_ms};
    /* The rolled segment ends at its last record: its zeros go (the sync of it below makes
     * the cut durable; a crash before that leaves zeros, which recovery takes as free). */
    if (log->active_fd >= 0 && log->zeroed_end > log->active_pos &&
        ftruncate(log->active_fd, (off_t)log->active_pos) < 0)
        VG_LOG_WARN("rolled segment not cut to its records dir=%s err=%s", log->dir,
                    vg_strerror(-errno));
    pthread_mutex_lock(&log->lock);
    if (log->active_fd >= 0) {
        /* The rolled segment still has to reach disk: the next sync flushes and closes it. */
        struct segment *old = &log->segs[log->nsegs - 1];
        old->next = base;
        old->size = log->active_pos;
        old->modified_ms = now_ms;
        if (log->nunsynced == log->capunsynced) {
            log->capunsynced = log->capunsynced ? log->capunsynced * 2 : 4;
            log->unsynced = vg_xrealloc(log->unsynced, log->capunsynced * sizeof(int));
        }
        log->unsynced[log->nunsynced++] = log->active_fd;
    }
    add_segment(log, &s);
    log->active_fd = fd;
    log->dir_dirty = true;
    pthread_mutex_unlock(&log->lock);
    if (log->idx_fd >= 0)
        (void)close(log->idx_fd); /* the index is derived and never synced */
    log->idx_fd = ifd;
    log->active_pos = VG_SEGLOG_HEADER_BYTES;
    log->zeroed_end = VG_SEGLOG_HEADER_BYTES;
    log->idx_due = VG_SEGLOG_HEADER_BYTES;
    log->active_max_ts = INT64_MIN;
    atomic_store(&log->active_end, VG_SEGLOG_HEADER_BYTES);
    return 0;
}

static int fail_open(vg_seglog_recovery_t *rec, char *err, size_t errlen, int rc, const char *path,
                     uint64_t pos, const char *what)
{
    if (rec) {
        snprintf(rec->file, sizeof(rec->file), "%s", path);
        rec->error_pos = pos;
    }
    if (err)
        snprintf(err, errlen, "%s: %s at byte %llu", path, what, (unsigned long long)pos);
    return rc;
}

/* Opens segment `base` and checks its header. OUT: *fd, *st, *created, path (PATH_MAX).
 * On failure the error is reported through fail_open and nothing stays open. */
static int open_segment_file(vg_seglog_t *log, uint64_t base, int flags, char *path, int *fd,
                             struct stat *st, int64_t *created, vg_seglog_recovery_t *rec,
                             char *err, size_t errlen)
{
    vg__seglog_path(log->dir, base, "seg", path, PATH_MAX);
    *fd = open(path, flags | O_CLOEXEC);
    if (*fd < 0)
        return fail_open(rec, err, errlen, -errno, path, 0, "cannot open");
    uint64_t hbase = 0;
    int rc = fstat(*fd, st) < 0 ? -errno : read_header(*fd, &hbase, created);
    if (rc == 0 && hbase != base)
        rc = VG_ECORRUPT;
    if (rc != 0) {
        (void)close(*fd); /* nothing written yet */
        *fd = -1;
        return fail_open(rec, err, errlen, rc, path, 0, "bad segment header");
    }
    return 0;
}

/* Whether segment `base`'s index looks right; if so, its last entry's position and offset. */
static bool index_usable(const char *dir, uint64_t base, uint64_t size, uint64_t *pos,
                         uint64_t *offset)
{
    struct idx_entry *idx = NULL;
    size_t n = 0;
    int rc = vg__seglog_load_index(dir, base, &idx, &n);
    bool ok = rc == 0 && n > 0 && idx[0].offset == base && idx[n - 1].pos < size;
    for (size_t i = 1; ok && i < n; i++)
        ok = idx[i].offset > idx[i - 1].offset && idx[i].pos > idx[i - 1].pos;
    if (ok) {
        *pos = idx[n - 1].pos;
        *offset = idx[n - 1].offset;
    }
    free(idx);
    return ok;
}

/* Checks a sealed segment's header, index and tail; sets s->next. */
static int open_sealed(vg_seglog_t *log, uint64_t base, uint64_t next_base,
                       vg_seglog_recovery_t *rec, char *err, size_t errlen, struct segment *s)
{
    char path[PATH_MAX];
    int fd = -1;
    struct stat st = {0};
    int64_t created = 0;
    int rc = open_segment_file(log, base, O_RDONLY, path, &fd, &st, &created, rec, err, errlen);
    if (rc != 0)
        return rc;
    uint64_t start = VG_SEGLOG_HEADER_BYTES;
    uint64_t expect = base;
    bool idx_ok = index_usable(log->dir, base, (uint64_t)st.st_size, &start, &expect);
    int ifd = -1;
    if (!idx_ok) {
        start = VG_SEGLOG_HEADER_BYTES;
        expect = base;
        if (rec)
            rec->indexes_rebuilt++;
        char ipath[PATH_MAX];
        vg__seglog_path(log->dir, base, "idx", ipath, sizeof(ipath));
        if (!log->o.read_only)
            ifd = open(ipath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (log->o.read_only) /* verify, inspect: nothing is written */
            VG_LOG_INFO("index unusable, rebuilt at the next start seg=%s", path);
        else
            VG_LOG_INFO("index rebuilt seg=%s", path);
    }
    /* Scan from the last indexed record (all of it when rebuilding): this checks the tail. */
    uint64_t bad_pos = 0;
    int64_t mts = 0;
    bool bad = false;
    rc = scan_segment(fd, (uint64_t)st.st_size, start, expect, log->o.index_interval_bytes, ifd,
                      &bad_pos, &expect, &mts, &bad);
    if (ifd >= 0)
        (void)close(ifd); /* derived: rebuilt again if lost */
    uint64_t size = (uint64_t)st.st_size;
    if (rc == 0 && bad && expect == next_base && vg__seglog_zeros(fd, bad_pos, size, &rc)) {
        /* Killed after a roll, before the cut of the zeros reached the disk: cut them now. */
        bad = false;
        size = bad_pos;
        if (!log->o.read_only && truncate(path, (off_t)size) < 0)
            VG_LOG_WARN("zeros after a rolled segment's records not cut seg=%s err=%s", path,
                        vg_strerror(-errno));
    }
    (void)close(fd); /* read-only */
    if (rc == 0 && bad)
        rc = VG_ETORN;
    if (rc != 0)
        return fail_open(rec, err, errlen, rc == VG_ETORN ? VG_ECORRUPT : rc, path, bad_pos,
                         "corrupt record in a sealed segment");
    if (expect != next_base)
        return fail_open(rec, err, errlen, VG_ECORRUPT, path, bad_pos,
                         "segments do not join (missing records before the next segment)");
    s->base = base;
    s->next = expect;
    s->size = size;
    s->created_ms = created;
    s->modified_ms = (int64_t)st.st_mtime * 1000;
    return 0;
}

/* A read-only open (verify, inspect) leaves the file as it is: it says what the next start
 * will cut. */
static void report_torn_tail(const vg_seglog_t *log, const char *path, uint64_t at, uint64_t cut)
{
    if (log->o.read_only)
        VG_LOG_WARN("torn tail found, cut at the next start seg=%s at=%llu bytes_to_cut=%llu", path,
                    (unsigned long long)at, (unsigned long long)cut);
    else
        VG_LOG_WARN("torn tail truncated seg=%s at=%llu bytes_cut=%llu", path,
                    (unsigned long long)at, (unsigned long long)cut);
}

/* Recovers the last segment: truncates a torn tail, rebuilds its index, opens it for append. */
static int open_active(vg_seglog_t *log, uint64_t base, vg_seglog_recovery_t *rec, char *err,
                       size_t errlen)
{
    char path[PATH_MAX];
    int fd = -1;
    struct stat st = {0};
    int64_t created = 0;
    int rc = open_segment_file(log, base, log->o.read_only ? O_RDONLY : O_RDWR, path, &fd, &st,
                               &created, rec, err, errlen);
    if (rc != 0)
        return rc;
    char ipath[PATH_MAX];
    vg__seglog_path(log->dir, base, "idx", ipath, sizeof(ipath));
    int ifd = log->o.read_only
                  ? -1
                  : open(ipath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    /* The checkpoint before the scan: on a running engine's log (vigil log verify) the records
     * it covers were complete when it was written, so the scan finds them all, whereas one read
     * after the scan may cover a record that was still being written when the scan met it. */
    uint64_t chk_base = 0;
    uint64_t chk_pos = 0;
    bool chk = log->chk_fd >= 0 && read_checkpoint(log->chk_fd, &chk_base, &chk_pos);
    uint64_t end = 0;
    uint64_t next = 0;
    int64_t mts = 0;
    bool bad = false;
    rc = scan_segment(fd, (uint64_t)st.st_size, VG_SEGLOG_HEADER_BYTES, base,
                      log->o.index_interval_bytes, ifd, &end, &next, &mts, &bad);
    /* A read-only open of a running engine's log looked at the file's size before the
     * checkpoint: one past that size was written after, by syncs this scan does not see, and
     * a record cut at that size is the live tail (a CI run of the live-verify test saw it). */
    bool newer = log->o.read_only && chk_pos > (uint64_t)st.st_size;
    if (rc == 0 && bad && chk && chk_base == base && end < chk_pos && !newer)
        rc = VG_ECORRUPT; /* below the synced position: acknowledged data is damaged */
    if (rc != 0) {
        if (ifd >= 0)
            (void)close(ifd);
        (void)close(fd);
        return fail_open(rec, err, errlen, rc, path, end,
                         "corrupt record below the synced position");
    }
    uint64_t size = (uint64_t)st.st_size;
    if (bad && vg__seglog_zeros(fd, end, size, &rc))
        bad = false; /* zeros written ahead of the records: free space, kept */
    if (rc != 0) {
        if (ifd >= 0)
            (void)close(ifd);
        (void)close(fd);
        return fail_open(rec, err, errlen, rc, path, end, "cannot read the tail");
    }
    if (bad) {
        uint64_t cut = size - end;
        size = end;
        if (rec) {
            rec->truncated_bytes = cut;
            rec->truncated_at = end;
            snprintf(rec->file, sizeof(rec->file), "%s", path);
        }
        if (!log->o.read_only) {
            if (ftruncate(fd, (off_t)end) < 0 || fdatasync(fd) < 0) {
                rc = -errno;
                (void)close(ifd);
                (void)close(fd);
                return fail_open(rec, err, errlen, rc, path, end, "cannot truncate torn tail");
            }
        }
        report_torn_tail(log, path, end, cut);
    }
    if (rec)
        rec->indexes_rebuilt++;
    struct segment s = {base, next, end, created, (int64_t)st.st_mtime * 1000};
    add_segment(log, &s);
    log->active_fd = fd;
    log->idx_fd = ifd;
    log->active_pos = end;
    log->zeroed_end = size;
    log->active_max_ts = mts;
    log->idx_due = end; /* the next record gets an entry */
    atomic_store(&log->active_end, end);
    atomic_store(&log->next_offset, next);
    atomic_store(&log->durable_offset, next);
    return 0;
}

/* Whether segment `base` is shorter than its header (a crash while creating it); if so, and
 * the log may be changed, the file is removed. */
static bool torn_creation(vg_seglog_t *log, uint64_t base)
{
    char path[PATH_MAX];
    vg__seglog_path(log->dir, base, "seg", path, sizeof(path));
    struct stat st;
    if (stat(path, &st) != 0 || (uint64_t)st.st_size >= VG_SEGLOG_HEADER_BYTES)
        return false;
    if (log->o.read_only) {
        VG_LOG_WARN("segment without a header found, removed at the next start seg=%s bytes=%lld",
                    path, (long long)st.st_size);
        return true;
    }
    VG_LOG_WARN("segment without a header removed seg=%s bytes=%lld", path, (long long)st.st_size);
    (void)unlink(path); /* nothing in it; the directory is synced after open */
    vg__seglog_path(log->dir, base, "idx", path, sizeof(path));
    (void)unlink(path);
    return true;
}

static int open_segments(vg_seglog_t *log, vg_seglog_recovery_t *rec, char *err, size_t errlen)
{
    uint64_t *bases = NULL;
    size_t n = 0;
    int rc = list_segments(log->dir, &bases, &n);
    if (rc != 0)
        return fail_open(rec, err, errlen, rc, log->dir, 0, "cannot list");
    /* Killed between creating the newest segment and writing its header: nothing was ever
     * written to it, so the one before it is still the active segment. */
    uint64_t first_base = 0;
    if (n > 0 && torn_creation(log, bases[n - 1]))
        first_base = bases[--n];
    if (rec)
        rec->segments = (uint32_t)n;
    for (size_t i = 0; rc == 0 && i + 1 < n; i++) {
        struct segment s;
        rc = open_sealed(log, bases[i], bases[i + 1], rec, err, errlen, &s);
        if (rc == 0)
            add_segment(log, &s);
    }
    if (rc == 0 && n > 0)
        rc = open_active(log, bases[n - 1], rec, err, errlen);
    free(bases);
    if (rc == 0 && n == 0 && log->o.read_only)
        rc = fail_open(rec, err, errlen, -ENOENT, log->dir, 0, "no segments");
    if (rc == 0 && n == 0) {
        rc = create_segment(log, first_base, vg_clock_wall_ms());
        atomic_store(&log->next_offset, first_base);
        atomic_store(&log->durable_offset, first_base);
    }
    return rc;
}

int vg_seglog_open(const char *dir, const vg_seglog_opts_t *opts, vg_seglog_t **out,
                   vg_seglog_recovery_t *rec, char *err, size_t errlen)
{
    if (rec)
        memset(rec, 0, sizeof(*rec));
    vg_seglog_t *log = vg_xcalloc(1, sizeof(*log));
    log->o = *opts;
    if (!log->o.segment_bytes)
        log->o.segment_bytes = DEFAULT_SEGMENT;
    if (!log->o.index_interval_bytes)
        log->o.index_interval_bytes = DEFAULT_INTERVAL;
    log->dir = vg_xstrdup(dir);
    log->active_fd = -1;
    log->idx_fd = -1;
    log->chk_fd = -1;
    log->dir_fd = -1;
    pthread_mutex_init(&log->lock, NULL);
    int rc = log->o.read_only ? 0 : vg_io_mkdirs(dir, 0755);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/checkpoint", dir);
    if (rc == 0) {
        log->chk_fd =
            open(path, (log->o.read_only ? O_RDONLY : O_RDWR | O_CREAT) | O_CLOEXEC, 0644);
        if (log->chk_fd < 0 && (!log->o.read_only || errno != ENOENT))
            rc = -errno;
        log->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rc == 0 && log->dir_fd < 0)
            rc = -errno;
    }
    /* One writer per log, whatever else guards the data directory: with vigil.lock deleted,
     * a second engine on the same directory wrote into the same segments (acknowledged
     * records lost, decision logs damaged). The lock goes with dir_fd at close or exit. */
    if (rc == 0 && !log->o.read_only && flock(log->dir_fd, LOCK_EX | LOCK_NB) < 0) {
        rc = errno == EWOULDBLOCK ? VG_EBUSY : -errno;
        if (err)
            snprintf(err, errlen, "%s: %s", dir,
                     rc == VG_EBUSY ? "in use by another process (a second engine on this data "
                                      "directory?)"
                                    : vg_strerror(rc));
    } else if (rc != 0) {
        if (err)
            snprintf(err, errlen, "%s: cannot open: %s", dir, vg_strerror(rc));
    }
    if (rc == 0)
        rc = open_segments(log, rec, err, errlen);
    if (rc == 0 && !log->o.read_only && vg_io_fsync_dir(dir) != 0)
        VG_LOG_WARN("cannot sync log directory dir=%s", dir);
    if (rc != 0) {
        log->o.read_only = true; /* close without syncing */
        atomic_store(&log->failed, rc);
        vg_seglog_close(log);
        return rc;
    }
    *out = log;
    return 0;
}

/* ---- appending ---- */

int vg_seglog_maybe_roll(vg_seglog_t *log, int64_t now_ms)
{
    if (log->o.read_only || atomic_load(&log->failed))
        return VG_EREADONLY;
    if (log->active_pos <= VG_SEGLOG_HEADER_BYTES)
        return 0; /* empty: never roll an empty segment */
    const struct segment *s = &log->segs[log->nsegs - 1];
    bool by_size = log->active_pos >= log->o.segment_bytes;
    bool by_age = log->o.segment_age_ms && now_ms - s->created_ms >= (int64_t)log->o.segment_age_ms;
    if (!by_size && !by_age)
        return 0;
    int rc = create_segment(log, atomic_load(&log->next_offset), now_ms);
    if (rc != 0)
        set_failed(log, rc, "segment roll");
    return rc;
}

int vg_seglog_append(vg_seglog_t *log, const vg_seglog_rec_t *recs, size_t n,
                     uint64_t *first_offset)
{
    if (log->o.read_only || atomic_load_explicit(&log->failed, memory_order_relaxed))
        return VG_EREADONLY;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].len > VG_SEGLOG_MAX_PAYLOAD)
            return VG_EINVAL;
        total += VG_SEGLOG_RECORD_BYTES + recs[i].len;
    }
    if (log->active_pos + total > log->o.segment_bytes) {
        int rc = vg_seglog_maybe_roll(log, vg_clock_wall_ms());
        if (rc != 0)
            return rc;
    }
    if (total > log->wcap) {
        log->wcap = total * 2;
        log->wbuf = vg_xrealloc(log->wbuf, log->wcap);
    }
    uint64_t first = atomic_load_explicit(&log->next_offset, memory_order_relaxed);
    uint8_t *p = log->wbuf;
    for (size_t i = 0; i < n; i++) {
        uint32_t len = MIN_RECORD_LEN + recs[i].len;
        vg_put_le32(p, len);
        vg_put_le64(p + 8, first + i);
        vg_put_le64(p + 16, (uint64_t)recs[i].timestamp_ms);
        vg_put_le16(p + 24, recs[i].type);
        vg_put_le16(p + 26, 0);
        if (recs[i].len)
            memcpy(p + VG_SEGLOG_RECORD_BYTES, recs[i].payload, recs[i].len);
        vg_put_le32(p + 4, record_crc(p, len));
        p += 4 + len;
    }
    int rc = fault(log, VG_SEGLOG_OP_WRITE);
    if (rc == 0)
        rc = vg_io_pwrite_all(log->active_fd, log->wbuf, total, log->active_pos);
    if (rc != 0) {
        set_failed(log, rc, "write");
        return rc;
    }
    /* Index entries for the records that crossed the interval mark (derived: best effort). */
    uint64_t pos = log->active_pos;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].timestamp_ms > log->active_max_ts)
            log->active_max_ts = recs[i].timestamp_ms;
        if (pos >= log->idx_due && log->idx_fd >= 0) {
            if (write_index_entry(log->idx_fd, first + i, pos, log->active_max_ts) != 0)
                VG_LOG_WARN("index write failed dir=%s (rebuilt on next open)", log->dir);
            log->idx_due = pos + log->o.index_interval_bytes;
        }
        pos += VG_SEGLOG_RECORD_BYTES + recs[i].len;
    }
    log->active_pos = pos;
    if (log->zeroed_end < pos)
        log->zeroed_end = pos;
    atomic_store_explicit(&log->active_end, pos, memory_order_release);
    atomic_fetch_add_explicit(&log->bytes_written, total, memory_order_relaxed);
    atomic_store_explicit(&log->next_offset, first + n, memory_order_release);
    *first_offset = first;
    extend_zeros(log); /* after the records are published: it is not on their way */
    return 0;
}

/* ---- syncing ---- */

int vg_seglog_sync(vg_seglog_t *log)
{
    if (log->o.read_only)
        return VG_EREADONLY;
    pthread_mutex_lock(&log->lock);
    int rc = atomic_load(&log->failed) ? VG_EREADONLY : 0;
    /* Everything below these was written before this point, so the syncs below cover it. */
    uint64_t target = atomic_load_explicit(&log->next_offset, memory_order_acquire);
    uint64_t end = atomic_load_explicit(&log->active_end, memory_order_acquire);
    uint64_t base = log->segs[log->nsegs - 1].base;
    for (size_t i = 0; rc == 0 && i < log->nunsynced; i++) {
        rc = fault(log, VG_SEGLOG_OP_SYNC);
        if (rc == 0 && fdatasync(log->unsynced[i]) < 0)
            rc = -errno;
    }
    if (rc == 0) {
        for (size_t i = 0; i < log->nunsynced; i++)
            (void)close(log->unsynced[i]); /* synced just above */
        log->nunsynced = 0;
        rc = fault(log, VG_SEGLOG_OP_SYNC);
    }
    if (rc == 0 && fdatasync(log->active_fd) < 0)
        rc = -errno;
    if (rc == 0 && log->dir_dirty) {
        if (fsync(log->dir_fd) < 0)
            rc = -errno;
        else
            log->dir_dirty = false;
    }
    if (rc == 0) {
        if (write_checkpoint(log, base, end) != 0)
            VG_LOG_WARN("checkpoint write failed dir=%s", log->dir); /* only slows recovery */
        atomic_store_explicit(&log->durable_offset, target, memory_order_release);
    }
    pthread_mutex_unlock(&log->lock);
    if (rc != 0 && rc != VG_EREADONLY)
        set_failed(log, rc, "fsync");
    return rc;
}

uint64_t vg_seglog_next_offset(const vg_seglog_t *log)
{
    return atomic_load_explicit(&log->next_offset, memory_order_acquire);
}

uint64_t vg_seglog_durable_offset(const vg_seglog_t *log)
{
    return atomic_load_explicit(&log->durable_offset, memory_order_acquire);
}

uint64_t vg_seglog_start_offset(vg_seglog_t *log)
{
    pthread_mutex_lock(&log->lock);
    uint64_t start = log->segs[0].base;
    pthread_mutex_unlock(&log->lock);
    return start;
}

uint64_t vg_seglog_bytes_written(const vg_seglog_t *log)
{
    return atomic_load_explicit(&log->bytes_written, memory_order_relaxed);
}

int vg_seglog_failed(vg_seglog_t *log, char *buf, size_t len)
{
    int rc = atomic_load(&log->failed);
    if (rc && buf) {
        pthread_mutex_lock(&log->lock);
        snprintf(buf, len, "%s", log->fail_msg);
        pthread_mutex_unlock(&log->lock);
    }
    return rc;
}

/* ---- retention and closing ---- */

/* Deletes the oldest (sealed) segment and its index; the lock held. 0 or -errno. */
static int drop_first_locked(vg_seglog_t *log)
{
    const struct segment *s = &log->segs[0];
    char path[PATH_MAX];
    vg__seglog_path(log->dir, s->base, "seg", path, sizeof(path));
    if (unlink(path) < 0)
        return -errno;
    vg__seglog_path(log->dir, s->base, "idx", path, sizeof(path));
    (void)unlink(path); /* derived */
    VG_LOG_INFO("segment deleted by retention dir=%s base=%llu bytes=%llu", log->dir,
                (unsigned long long)s->base, (unsigned long long)s->size);
    memmove(log->segs, log->segs + 1, (log->nsegs - 1) * sizeof(*log->segs));
    log->nsegs--;
    log->dir_dirty = true;
    return 0;
}

bool vg_seglog_oldest_sealed(vg_seglog_t *log, uint64_t *base, uint64_t *next)
{
    pthread_mutex_lock(&log->lock);
    bool sealed = log->nsegs > 1;
    if (sealed) {
        *base = log->segs[0].base;
        *next = log->segs[0].next;
    }
    pthread_mutex_unlock(&log->lock);
    return sealed;
}

int vg_seglog_drop_oldest(vg_seglog_t *log)
{
    if (log->o.read_only)
        return VG_EINVAL;
    pthread_mutex_lock(&log->lock);
    int rc = log->nsegs > 1 ? drop_first_locked(log) : VG_ENOTFOUND;
    pthread_mutex_unlock(&log->lock);
    return rc;
}

int vg_seglog_retain(vg_seglog_t *log, uint64_t min_keep_offset, int64_t now_ms, unsigned *deleted)
{
    unsigned n = 0;
    if (deleted)
        *deleted = 0;
    if (log->o.read_only || (!log->o.retention_bytes && !log->o.retention_age_ms))
        return 0;
    pthread_mutex_lock(&log->lock);
    uint64_t total = log->active_pos;
    for (size_t i = 0; i + 1 < log->nsegs; i++)
        total += log->segs[i].size;
    while (log->nsegs > 1) {
        const struct segment *s = &log->segs[0];
        bool over_size = log->o.retention_bytes && total > log->o.retention_bytes;
        bool too_old =
            log->o.retention_age_ms && now_ms - s->modified_ms > (int64_t)log->o.retention_age_ms;
        if ((!over_size && !too_old) || s->next > min_keep_offset)
            break;
        uint64_t size = s->size;
        int rc = drop_first_locked(log);
        if (rc != 0) {
            pthread_mutex_unlock(&log->lock);
            return rc;
        }
        total -= size;
        n++;
    }
    pthread_mutex_unlock(&log->lock);
    if (deleted)
        *deleted = n;
    return 0;
}

void vg_seglog_close(vg_seglog_t *log)
{
    if (!log)
        return;
    if (!log->o.read_only && !atomic_load(&log->failed) && log->active_fd >= 0 &&
        vg_seglog_sync(log) != 0)
        VG_LOG_ERROR("final sync failed dir=%s", log->dir);
    for (size_t i = 0; i < log->nunsynced; i++)
        (void)close(log->unsynced[i]); /* failed log: nothing more can be made durable */
    if (log->active_fd >= 0)
        (void)close(log->active_fd); /* synced above, or failed */
    if (log->idx_fd >= 0)
        (void)close(log->idx_fd);
    if (log->chk_fd >= 0)
        (void)close(log->chk_fd);
    if (log->dir_fd >= 0)
        (void)close(log->dir_fd);
    pthread_mutex_destroy(&log->lock);
    free(log->unsynced);
    free(log->segs);
    free(log->wbuf);
    free(log->dir);
    free(log);
}
