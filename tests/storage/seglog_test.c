/* SPDX-License-Identifier: MIT */
/*
 * Tests of the segmented log: round trips, reopen, recovery from every torn tail and flipped
 * header bit, hard errors for damaged acknowledged data, injected write/fsync failures, rolls
 * at the exact boundary, index rebuilds, seeks by offset and time, retention, group commit,
 * concurrent sync, and kill -9 of a process appending in fsync mode.
 */
#include "runtime/alloc.h"
#include "runtime/hash.h"
#include "runtime/io.h"
#include "storage/groupcommit.h"
#include "storage/seglog.h"
#include "tests/vg_test.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ---- */

static uint32_t payload_len(uint64_t off)
{
    return 16 + (uint32_t)(vg_hash_u64(off) % 64);
}

static void payload(uint64_t off, uint8_t *buf)
{
    uint32_t len = payload_len(off);
    for (uint32_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(vg_hash_u64(off * 131 + i) >> 13);
}

static int64_t ts_of(uint64_t off)
{
    return 1767225600000ll + (int64_t)off * 1000;
}

static char *path_in(const char *sub)
{
    static char buf[4][512];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 512, "%s/%s", vg_test_tmpdir(), sub);
    return p;
}

static vg_seglog_t *open_log(const char *dir, const vg_seglog_opts_t *o, vg_seglog_recovery_t *rec)
{
    vg_seglog_t *log = NULL;
    char err[512];
    vg_seglog_recovery_t tmp;
    int rc = vg_seglog_open(dir, o, &log, rec ? rec : &tmp, err, sizeof(err));
    if (rc != 0)
        VG_FAIL("open %s: %s (%s)", dir, vg_err_name(rc), err);
    return log;
}

/* Appends records [next, next+n) in batches of `batch`. */
static void append_n(vg_seglog_t *log, uint64_t n, size_t batch)
{
    uint8_t bufs[16][128];
    vg_seglog_rec_t recs[16];
    ASSERT_LE(batch, 16);
    uint64_t next = vg_seglog_next_offset(log);
    for (uint64_t done = 0; done < n;) {
        size_t k = 0;
        for (; k < batch && done + k < n; k++) {
            uint64_t off = next + done + k;
            payload(off, bufs[k]);
            recs[k] = (vg_seglog_rec_t){VG_SEGLOG_TYPE_TEST, ts_of(off), bufs[k], payload_len(off)};
        }
        uint64_t first = 0;
        ASSERT_OK(vg_seglog_append(log, recs, k, &first));
        ASSERT_EQ_U(first, next + done);
        done += k;
    }
}

/* Reads [from, to) and checks every record. */
static void check_range(vg_seglog_t *log, uint64_t from, uint64_t to)
{
    vg_seglog_reader_t *r = NULL;
    ASSERT_OK(vg_seglog_reader_open(log, from, &r));
    vg_seglog_view_t v;
    uint8_t want[128];
    for (uint64_t off = from; off < to; off++) {
        int rc = vg_seglog_reader_next(r, &v);
        if (rc != 0)
            VG_FAIL("reading offset %llu: %s", (unsigned long long)off, vg_err_name(rc));
        ASSERT_EQ_U(v.offset, off);
        ASSERT_EQ(v.timestamp_ms, ts_of(off));
        ASSERT_EQ(v.type, VG_SEGLOG_TYPE_TEST);
        ASSERT_EQ(v.len, payload_len(off));
        payload(off, want);
        ASSERT_MEM_EQ(v.payload, want, v.len);
    }
    ASSERT_ERR(vg_seglog_reader_next(r, &v), VG_ENOTFOUND);
    vg_seglog_reader_close(r);
}

/* `vigil log verify` of dir finds it sound, with `records` records (UINT64_MAX: any). */
static void expect_verified(const char *dir, uint64_t records)
{
    vg_seglog_verify_t ver;
    char err[512];
    if (vg_seglog_verify_dir(dir, &ver, err, sizeof(err)) != 0)
        VG_FAIL("verify %s: %s", dir, err);
    if (records != UINT64_MAX)
        ASSERT_EQ_U(ver.records, records);
    ASSERT_EQ_U(ver.torn_tail_bytes, 0);
}

static void copy_dir(const char *src, const char *dst)
{
    ASSERT_OK(vg_io_remove_tree(dst));
    ASSERT_OK(vg_io_mkdirs(dst, 0755));
    const char *names[] = {"00000000000000000000.seg", "00000000000000000000.idx", "checkpoint"};
    for (size_t i = 0; i < VG_ARRAY_LEN(names); i++) {
        char a[600];
        char b[600];
        snprintf(a, sizeof(a), "%s/%s", src, names[i]);
        snprintf(b, sizeof(b), "%s/%s", dst, names[i]);
        char *data = NULL;
        size_t len = 0;
        if (vg_io_read_file(a, &data, &len) != 0)
            continue;
        int fd = open(b, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ASSERT_GE(fd, 0);
        ASSERT_OK(vg_io_write_all(fd, data, len));
        close(fd);
        free(data);
    }
}

static off_t file_size(const char *path)
{
    struct stat st;
    ASSERT_EQ(stat(path, &st), 0);
    return st.st_size;
}

static void flip_bit(const char *path, off_t pos, int bit)
{
    int fd = open(path, O_RDWR);
    ASSERT_GE(fd, 0);
    uint8_t b = 0;
    ASSERT_EQ(pread(fd, &b, 1, pos), 1);
    b ^= (uint8_t)(1u << bit);
    ASSERT_EQ(pwrite(fd, &b, 1, pos), 1);
    close(fd);
}

/* A log of `synced` records, synced, then `unsynced` more, left as a crash leaves it: the
 * writer process ends without closing (so no final sync and no checkpoint update). */
static void crashed_log(const char *dir, uint64_t synced, uint64_t unsynced)
{
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        vg_seglog_opts_t o = {0};
        vg_seglog_t *log = open_log(dir, &o, NULL);
        append_n(log, synced, 3);
        if (vg_seglog_sync(log) != 0)
            _exit(1);
        append_n(log, unsynced, 1);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* crashed_log(dir, synced, 1); OUT: segment 0's path and size. Returns where its last,
 * unsynced record starts. */
static off_t crashed_one_unsynced(const char *dir, uint64_t synced, char *seg, size_t seglen,
                                  off_t *full)
{
    crashed_log(dir, synced, 1);
    snprintf(seg, seglen, "%s/00000000000000000000.seg", dir);
    *full = file_size(seg);
    return *full - (off_t)(VG_SEGLOG_RECORD_BYTES + payload_len(synced));
}

/* ---- tests ---- */

VG_TEST(seglog_append_read_reopen)
{
    const char *dir = path_in("log");
    vg_seglog_opts_t o = {0};
    vg_seglog_t *log = open_log(dir, &o, NULL);
    ASSERT_EQ_U(vg_seglog_next_offset(log), 0);
    append_n(log, 1000, 7);
    check_range(log, 0, 1000);
    check_range(log, 500, 1000);
    vg_seglog_close(log);
    vg_seglog_recovery_t rec;
    log = open_log(dir, &o, &rec);
    ASSERT_EQ_U(rec.truncated_bytes, 0);
    ASSERT_EQ_U(vg_seglog_next_offset(log), 1000);
    ASSERT_EQ_U(vg_seglog_durable_offset(log), 1000);
    append_n(log, 10, 1);
    check_range(log, 0, 1010);
    vg_seglog_close(log);
}

/* A log has one writer: a second open for writing is refused (in a process of its own it
 * would be a second engine on the data directory), a read-only one (verify) is not, and the
 * lock goes with the close. */
VG_TEST(seglog_has_one_writer)
{
    const char *dir = path_in("log");
    vg_seglog_opts_t o = {0};
    vg_seglog_t *log = open_log(dir, &o, NULL);
    append_n(log, 10, 1);
    vg_seglog_t *second = NULL;
    char err[256] = "";
    ASSERT_ERR(vg_seglog_open(dir, &o, &second, NULL, err, sizeof(err)), VG_EBUSY);
    ASSERT_STR_CONTAINS(err, "in use by another process");
    vg_seglog_opts_t ro = {.read_only = true};
    vg_seglog_t *reader = open_log(dir, &ro, NULL);
    ASSERT_EQ_U(vg_seglog_next_offset(reader), 10);
    vg_seglog_close(reader);
    vg_seglog_close(log);
    log = open_log(dir, &o, NULL);
    ASSERT_EQ_U(vg_seglog_next_offset(log), 10);
    vg_seglog_close(log);
}

VG_TEST(seglog_torn_tail_every_byte_of_last_record)
{
    const char *src = path_in("src");
    char seg[600];
    off_t full = 0;
    off_t last_start = crashed_one_unsynced(src, 20, seg, sizeof(seg), &full);
    const char *dst = path_in("dst");
    for (off_t cut = last_start; cut < full; cut++) {
        copy_dir(src, dst);
        char s2[600];
        snprintf(s2, sizeof(s2), "%s/00000000000000000000.seg", dst);
        ASSERT_EQ(truncate(s2, cut), 0);
        vg_seglog_opts_t o = {0};
        vg_seglog_recovery_t rec;
        vg_seglog_t *log = open_log(dst, &o, &rec);
        ASSERT_EQ_U(vg_seglog_next_offset(log), 20); /* exactly the records before the cut */
        ASSERT_EQ_U(rec.truncated_bytes, (uint64_t)(cut - last_start));
        check_range(log, 0, 20);
        append_n(log, 1, 1); /* and the log goes on from there */
        check_range(log, 0, 21);
        vg_seglog_close(log);
        expect_verified(dst, 21);
    }
}

VG_TEST(seglog_flipped_bit_in_unsynced_tail_is_cut)
{
    const char *src = path_in("src");
    char seg[600];
    off_t full = 0;
    off_t last = crashed_one_unsynced(src, 10, seg, sizeof(seg), &full);
    const char *dst = path_in("dst");
    /* One bit in each header field (length, crc, offset, timestamp, type, flags) and payload. */
    const int fields[] = {0, 4, 8, 16, 24, 26, 28};
    for (size_t f = 0; f < VG_ARRAY_LEN(fields); f++) {
        copy_dir(src, dst);
        char s2[600];
        snprintf(s2, sizeof(s2), "%s/00000000000000000000.seg", dst);
        flip_bit(s2, last + fields[f], 1);
        vg_seglog_opts_t o = {0};
        vg_seglog_recovery_t rec;
        vg_seglog_t *log = open_log(dst, &o, &rec);
        ASSERT_EQ_U(vg_seglog_next_offset(log), 10);
        ASSERT_EQ_U(rec.truncated_at, (uint64_t)last);
        check_range(log, 0, 10);
        vg_seglog_close(log);
    }
}

VG_TEST(seglog_damage_to_synced_records_is_a_hard_error)
{
    const char *src = path_in("src");
    crashed_log(src, 10, 1);
    char seg[600];
    snprintf(seg, sizeof(seg), "%s/00000000000000000000.seg", src);
    const char *dst = path_in("dst");
    const int fields[] = {0, 4, 8, 16, 24, 28};
    for (size_t f = 0; f < VG_ARRAY_LEN(fields); f++) {
        copy_dir(src, dst);
        char s2[600];
        snprintf(s2, sizeof(s2), "%s/00000000000000000000.seg", dst);
        /* Record 3 lies below the synced position: acknowledged data. */
        off_t pos = VG_SEGLOG_HEADER_BYTES;
        for (uint64_t off = 0; off < 3; off++)
            pos += (off_t)(VG_SEGLOG_RECORD_BYTES + payload_len(off));
        flip_bit(s2, pos + fields[f], 0);
        vg_seglog_opts_t o = {0};
        vg_seglog_t *log = NULL;
        vg_seglog_recovery_t rec;
        char err[512];
        ASSERT_ERR(vg_seglog_open(dst, &o, &log, &rec, err, sizeof(err)), VG_ECORRUPT);
        ASSERT_STR_CONTAINS(err, "00000000000000000000.seg");
        ASSERT_EQ_U(rec.error_pos, (uint64_t)pos);
        ASSERT_EQ(file_size(s2), file_size(seg)); /* nothing was cut */
        vg_seglog_verify_t ver;
        ASSERT_ERR(vg_seglog_verify_dir(dst, &ver, err, sizeof(err)), VG_ECORRUPT);
    }
}

VG_TEST(seglog_sealed_segment_damage_is_a_hard_error)
{
    const char *dir = path_in("log");
    vg_seglog_opts_t o = {.segment_bytes = 4096};
    vg_seglog_t *log = open_log(dir, &o, NULL);
    append_n(log, 300, 5);
    vg_seglog_close(log);
    char seg[600];
    snprintf(seg, sizeof(seg), "%s/00000000000000000000.seg", dir);
    flip_bit(seg, VG_SEGLOG_HEADER_BYTES + 40, 3); /* inside the first record */
    char err[512];
    vg_seglog_verify_t ver;
    ASSERT_ERR(vg_seglog_verify_dir(dir, &ver, err, sizeof(err)), VG_ECORRUPT);
    ASSERT_STR_CONTAINS(err, "00000000000000000000.seg: corrupt record at byte 32");
    /* The cheap open checks only sealed tails; damage at the head is found by verify and by
     * readers, never served. */
    log = open_log(dir, &o, NULL);
    vg_seglog_reader_t *r = NULL;
    ASSERT_OK(vg_seglog_reader_open(log, 0, &r));
    vg_seglog_view_t v;
    ASSERT_ERR(vg_seglog_reader_next(r, &v), VG_ECORRUPT);
    vg_seglog_reader_close(r);
    vg_seglog_close(log);
    /* A missing segment in the middle: the next one does not join. */
    const char *dir2 = path_in("log2");
    log = open_log(dir2, &o, NULL);
    append_n(log, 300, 5);
    vg_seglog_close(log);
    char second[600];
    snprintf(second, sizeof(second), "%s", dir2);
    /* find the second segment's name: the one after 0 */
    vg_seglog_opts_t ro = {.read_only = true};
    log = open_log(dir2, &ro, NULL);
    vg_seglog_reader_t *rr = NULL;
    ASSERT_OK(vg_seglog_reader_open(log, 0, &rr));
    uint64_t second_base = 0;
    while (vg_seglog_reader_next(rr, &v) == 0) {
        if (v.segment_base != 0) {
            second_base = v.segment_base;
            break;
        }
    }
    vg_seglog_reader_close(rr);
    vg_seglog_close(log);
    ASSERT_GT(second_base, 0);
    snprintf(second, sizeof(second), "%s/%020llu.seg", dir2, (unsigned long long)second_base);
    ASSERT_EQ(unlink(second), 0);
    log = NULL;
    ASSERT_ERR(vg_seglog_open(dir2, &o, &log, NULL, err, sizeof(err)), VG_ECORRUPT);
    ASSERT_STR_CONTAINS(err, "do not join");
}

static int fail_nth;
static int fail_op;
static int fail_errno;
static int seen_ops;

static int inject(void *ctx, enum vg_seglog_fault_op op)
{
    (void)ctx;
    if ((int)op != fail_op)
        return 0;
    return ++seen_ops == fail_nth ? -fail_errno : 0;
}

VG_TEST(seglog_fsync_failure_makes_log_read_only)
{
    const char *dir = path_in("log");
    vg_seglog_opts_t o = {.fault = inject};
    fail_op = VG_SEGLOG_OP_SYNC;
    fail_nth = 2;
    fail_errno = EIO;
    seen_ops = 0;
    vg_seglog_t *log = open_log(dir, &o, NULL);
    append_n(log, 10, 2);
    ASSERT_OK(vg_seglog_sync(log)); /* sync #1: fine, 10 durable */
    append_n(log, 5, 1);
    ASSERT_ERR(vg_seglog_sync(log), -EIO); /* between write and fsync */
    ASSERT_EQ_U(vg_seglog_durable_offset(log), 10);
    char why[256];
    ASSERT_ERR(vg_seglog_failed(log, why, sizeof(why)), -EIO);
    ASSERT_STR_CONTAINS(why, "fsync failed");
    uint8_t b[4] = {0};
    vg_seglog_rec_t rec = {VG_SEGLOG_TYPE_TEST, 0, b, 4};
    uint64_t first = 0;
    ASSERT_ERR(vg_seglog_append(log, &rec, 1, &first), VG_EREADONLY);
    ASSERT_ERR(vg_seglog_sync(log), VG_EREADONLY); /* never retried */
    check_range(log, 0, 15);                       /* what is there stays readable */
    vg_seglog_close(log);
    o.fault = NULL;
    log = open_log(dir, &o, NULL);
    ASSERT_GE(vg_seglog_next_offset(log), 10); /* the durable ones survive */
    check_range(log, 0, vg_seglog_next_offset(log));
    vg_seglog_close(log);
}

VG_TEST(seglog_write_failure_is_reported)
{
    const char *dir = path_in("log");
    vg_seglog_opts_t o = {.fault = inject};
    fail_op = VG_SEGLOG_OP_WRITE;
    fail_nth = 3; /* the segment header is write #1 */
    fail_errno = ENOSPC;
    seen_ops = 0;
    vg_seglog_t *log = open_log(dir, &o, NULL);
    append_n(log, 1, 1);
    uint8_t b[4] = {0};
    vg_seglog_rec_t rec = {VG_SEGLOG_TYPE_TEST, 0, b, 4};
    uint64_t first = 0;
    ASSERT_ERR(vg_seglog_append(log, &rec, 1, &first), -ENOSPC);
    ASSERT_ERR(vg_seglog_append(log, &rec, 1, &first), VG_EREADONLY);
    ASSERT_EQ_U(vg_seglog_next_offset(log), 1);
    char why[256];
    ASSERT_ERR(vg_seglog_failed(log, why, sizeof(why)), -ENOSPC);
    ASSERT_STR_CONTAINS(why, "write failed");
    vg_seglog_close(log);
}

VG_TEST(seglog_roll_at_exact_boundary)
{
    const char *dir = path_in("log");
    /* Records of a fixed size so the boundary is exact: 4 records fill a segment. */
    uint32_t rec_bytes = VG_SEGLOG_RECORD_BYTES + 100;
    vg_seglog_opts_t o = {.segment_bytes = VG_SEGLOG_HEADER_BYTES + 4 * rec_bytes};
    vg_seglog_t *log = open_log(dir, &o, NULL);
    uint8_t p[100] = {0};
    for (int i = 0; i < 9; i++) {
        vg_seglog_rec_t rec = {VG_SEGLOG_TYPE_TEST, i, p, 100};
        uint64_t first = 0;
        ASSERT_OK(vg_seglog_append(log, &rec, 1, &first));
    }
    vg_seglog_close(log);
    char path[600];
    const unsigned long long bases[] = {0, 4, 8};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%020llu.seg", dir, bases[i]);
        off_t want = VG_SEGLOG_HEADER_BYTES + (i < 2 ? 4 : 1) * (off_t)rec_bytes;
        ASSERT_EQ(file_size(path), want);
    }
    log = open_log(dir, &o, NULL);
    ASSERT_EQ_U(vg_seglog_next_offset(log), 9);
    vg_seglog_reader_t *r = NULL;
    ASSERT_OK(vg_seglog_reader_open(log, 3, &r));
    vg_seglog_view_t v;
    for (uint64_t off = 3; off < 9; off++) {
        ASSERT_OK(vg_seglog_reader_next(r, &v));
        ASSERT_EQ_U(v.offset, off);
        ASSERT_EQ_U(v.segment_base, off / 4 * 4);
    }
    vg_seglog_reader_close(r);
    vg_seglog_close(log);
}

VG_TEST(seglog_index_rebuilt_and_seeks_right)
{
    const char *dir = path_in("log");
    vg_seglog_opts_t o = {.segment_bytes = 16384, .index_interval_bytes = 256};
    vg_seglog_t *log = open_log(dir, &o, NULL);
    append_n(log, 2000, 4);
    vg_seglog_close(log);
    /* Delete one index, truncate another mid-entry. */
    char p0[600];
    snprintf(p0, sizeof(p0), "%s/00000000000000000000.idx", dir);
    ASSERT_EQ(unlink(p0), 0);
    vg_seglog_recovery_t rec;
    log = open_log(dir, &o, &rec);
    ASSERT_GE(rec.indexes_rebuilt, 2); /* the deleted one, and the active one always */
    ASSERT_GT(file_size(p0), 0);
    for (uint64_t off = 0; off < 2000; off += 97)
        check_range(log, off, 2000);
    vg_seglog_close(log);
    ASSERT_EQ(truncate(p0, file_size(p0) - 7), 0);
    log = open_log(dir, &o, &rec);
    check_range(log, 1234, 2000);
    vg_seglog_verify_t ver;
    char err[512];
    vg_seglog_close(log);
    ASSERT_OK(vg_seglog_verify_dir(dir, &ver, err, sizeof(err)));
    ASSERT_EQ_U(ver.records, 2000);
    ASSERT_EQ_U(ver.bad_indexes, 0);
}

VG_TEST(seglog_seek_by_time_with_out_of_order_events)
{
    const char *dir = path_in("log");
    vg_seglog_opts_t o = {.segment_bytes = 8192, .index_interval_bytes = 200};
    vg_seglog_t *log = open_log(dir, &o, NULL);
    /* Timestamps mostly rising, with late events mixed in. */
    uint8_t p[40] = {0};
    int64_t ts[1000];
    for (int i = 0; i < 1000; i++) {
        ts[i] = 1000000 + (int64_t)i * 10 - ((i % 7 == 0) ? 5000 : 0);
        vg_seglog_rec_t rec = {VG_SEGLOG_TYPE_TEST, ts[i], p, sizeof(p)};
        uint64_t first = 0;
        ASSERT_OK(vg_seglog_append(log, &rec, 1, &first));
    }
    const int64_t probes[] = {0, 1000000, 1002345, 1005000, 1009990, 1010001};
    for (size_t k = 0; k < VG_ARRAY_LEN(probes); k++) {
        int want = -1;
        for (int i = 0; i < 1000 && want < 0; i++)
            want = ts[i] >= probes[k] ? i : -1;
        vg_seglog_reader_t *r = NULL;
        ASSERT_OK(vg_seglog_reader_open(log, 0, &r));
        ASSERT_OK(vg_seglog_reader_seek_time(r, probes[k]));
        vg_seglog_view_t v;
        int rc = vg_seglog_reader_next(r, &v);
        if (want < 0) {
            ASSERT_ERR(rc, VG_ENOTFOUND);
        } else {
            ASSERT_OK(rc);
            ASSERT_EQ_U(v.offset, (uint64_t)want);
        }
        vg_seglog_reader_close(r);
    }
    vg_seglog_close(log);
}

VG_TEST(seglog_retention_keeps_unapplied_and_active)
{
    const char *dir = path_in("log");
    vg_seglog_opts_t o = {.segment_bytes = 4096, .retention_bytes = 8192};
    vg_seglog_t *log = open_log(dir, &o, NULL);
    append_n(log, 1000, 5);
    unsigned deleted = 0;
    /* Nothing applied yet: nothing may go. */
    ASSERT_OK(vg_seglog_retain(log, 0, 0, &deleted));
    ASSERT_EQ(deleted, 0);
    ASSERT_EQ_U(vg_seglog_start_offset(log), 0);
    ASSERT_OK(vg_seglog_retain(log, 500, 0, &deleted));
    ASSERT_GT(deleted, 0);
    uint64_t start = vg_seglog_start_offset(log);
    ASSERT_GT(start, 0);
    ASSERT_LE(start, 500);
    check_range(log, start, 1000);
    /* Everything applied: size decides, and the active segment always stays. */
    ASSERT_OK(vg_seglog_retain(log, 1000, 0, &deleted));
    check_range(log, vg_seglog_start_offset(log), 1000);
    vg_seglog_close(log);
    log = open_log(dir, &o, NULL);
    ASSERT_EQ_U(vg_seglog_next_offset(log), 1000);
    vg_seglog_close(log);
}

/* ---- group commit ---- */

struct gc_test {
    vg_seglog_t *log;
    vg_gcommit_t *gc;
    uv_loop_t *loop;
    uint64_t acked;
    int completions;
    bool bad;
    int syncs_seen;
    uint64_t want;
};

static int count_syncs(void *ctx, enum vg_seglog_fault_op op)
{
    struct gc_test *t = ctx;
    if (op == VG_SEGLOG_OP_SYNC)
        t->syncs_seen++;
    return 0;
}

static void on_durable(void *ctx, uint64_t durable, int status)
{
    struct gc_test *t = ctx;
    if (status != 0 || durable > vg_seglog_durable_offset(t->log))
        t->bad = true; /* acknowledged beyond what is synced */
    t->acked = durable;
    t->completions++;
}

static void on_tick(uv_timer_t *timer)
{
    struct gc_test *t = timer->data;
    if (vg_seglog_next_offset(t->log) < t->want) {
        append_n(t->log, 10, 5);
        vg_gcommit_request(t->gc);
        return;
    }
    if (t->acked >= t->want) {
        uv_timer_stop(timer);
        uv_close((uv_handle_t *)timer, NULL);
        vg_gcommit_close(t->gc, NULL, NULL);
    }
}

VG_TEST(seglog_group_commit_acks_on_loop_after_sync)
{
    struct gc_test t = {.want = 500};
    vg_seglog_opts_t o = {.fault = count_syncs, .fault_ctx = &t};
    t.log = open_log(path_in("log"), &o, NULL);
    uv_loop_t loop;
    ASSERT_EQ(uv_loop_init(&loop), 0);
    vg_gcommit_opts_t go = {.mode = VG_GCOMMIT_FSYNC, .max_us = 200};
    ASSERT_OK(vg_gcommit_new(t.log, &loop, &go, on_durable, &t, &t.gc));
    uv_timer_t timer;
    uv_timer_init(&loop, &timer);
    timer.data = &t;
    uv_timer_start(&timer, on_tick, 0, 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    ASSERT_FALSE(t.bad);
    ASSERT_EQ_U(t.acked, 500);
    ASSERT_GT(t.syncs_seen, 0);
    ASSERT_LE(t.completions, 60); /* 50 requests: batched, not more completions than syncs+1 */
    vg_seglog_close(t.log);
}

/* Against an 8 ms window: sparse records, dense ones, batches of a few dozen, then a few
 * thousand at a time (TCP at full speed). A phase ends once everything it appended is
 * durable. */
struct window_phase {
    int ticks;
    uint64_t every_ms;
    uint64_t records; /* per tick */
    uint64_t syncs;   /* filled in: syncs during the phase */
    uint64_t unwaited;
};

struct window_test {
    struct gc_test t;
    struct window_phase *phases;
    int nphases;
    int phase;
    int ticks;
    vg_gcommit_stats_t at_start; /* of the phase */
};

static void on_window_tick(uv_timer_t *timer)
{
    struct window_test *w = timer->data;
    struct window_phase *ph = &w->phases[w->phase];
    if (w->ticks < ph->ticks) {
        append_n(w->t.log, ph->records, 16);
        vg_gcommit_request(w->t.gc);
        w->ticks++;
        return;
    }
    if (w->t.acked < vg_seglog_next_offset(w->t.log))
        return;
    vg_gcommit_stats_t st;
    vg_gcommit_stats(w->t.gc, &st);
    ph->syncs = st.syncs - w->at_start.syncs;
    ph->unwaited = st.unwaited - w->at_start.unwaited;
    w->at_start = st;
    w->ticks = 0;
    if (++w->phase < w->nphases) {
        uv_timer_start(timer, on_window_tick, 0, w->phases[w->phase].every_ms);
        return;
    }
    uv_timer_stop(timer);
    uv_close((uv_handle_t *)timer, NULL);
    vg_gcommit_close(w->t.gc, NULL, NULL);
}

VG_TEST(seglog_group_commit_waits_only_when_the_window_pays)
{
    struct window_phase phases[] = {
        /* 20 ms apart: the window would bring none */
        {.ticks = 8, .every_ms = 20, .records = 1},
        /* two every ms: the window brings 16 */
        {.ticks = 100, .every_ms = 1, .records = 2},
        /* 40 every 20 ms: by the average it brings 16, fewer than wait, and a batch under 64
         * keeps its window (two batches would pile up only behind a sync of over 32 ms) */
        {.ticks = 10, .every_ms = 20, .records = 40},
        /* 2,000 every 10 ms: it would bring 1,600, but the batch is full already */
        {.ticks = 20, .every_ms = 10, .records = 2000},
    };
    struct window_test w = {.phases = phases, .nphases = 4};
    vg_seglog_opts_t o = {0};
    w.t.log = open_log(path_in("log"), &o, NULL);
    uv_loop_t loop;
    ASSERT_EQ(uv_loop_init(&loop), 0);
    vg_gcommit_opts_t go = {.mode = VG_GCOMMIT_FSYNC, .max_us = 8000};
    ASSERT_OK(vg_gcommit_new(w.t.log, &loop, &go, on_durable, &w.t, &w.t.gc));
    uv_timer_t timer;
    uv_timer_init(&loop, &timer);
    timer.data = &w;
    uv_timer_start(&timer, on_window_tick, 0, phases[0].every_ms);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    ASSERT_FALSE(w.t.bad);
    ASSERT_EQ(w.phase, 4);
    /* The first request has no estimate and waits; every later sparse one syncs at once. */
    ASSERT_EQ_U(phases[0].syncs, 8);
    ASSERT_EQ_U(phases[0].unwaited, 7);
    /* Dense: once the estimate has come down from the sparse phase's (by an eighth per
     * request) the syncs wait, so a sync serves several ticks (one per tick without). */
    ASSERT_LE(phases[1].unwaited, 20);
    ASSERT_LT(phases[1].syncs, 50);
    /* Dozens at a time: every sync waits. */
    ASSERT_EQ_U(phases[2].unwaited, 0);
    /* Thousands at a time: no sync waits, though the records come closer than the window. */
    ASSERT_GT(phases[3].syncs, 0);
    ASSERT_EQ_U(phases[3].unwaited, phases[3].syncs);
    vg_seglog_close(w.t.log);
}

static void *sync_loop(void *arg)
{
    vg_seglog_t *log = arg;
    while (vg_seglog_durable_offset(log) < 20000)
        if (vg_seglog_sync(log) != 0)
            break;
    return NULL;
}

VG_TEST(seglog_concurrent_append_and_sync)
{
    vg_seglog_opts_t o = {.segment_bytes = 65536};
    vg_seglog_t *log = open_log(path_in("log"), &o, NULL);
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, sync_loop, log), 0);
    append_n(log, 20000, 16); /* rolls many times while the other thread syncs */
    pthread_join(th, NULL);
    ASSERT_EQ_U(vg_seglog_durable_offset(log), 20000);
    check_range(log, 0, 20000);
    vg_seglog_close(log);
}

struct live_verify {
    const char *dir;
    atomic_bool stop;
    atomic_uint runs; /* read by the appending thread */
    unsigned failed;
    char first[1024]; /* the first failure */
};

static void *verify_loop(void *arg)
{
    struct live_verify *lv = arg;
    while (!atomic_load(&lv->stop)) {
        vg_seglog_verify_t v;
        char err[512];
        int rc = vg_seglog_verify_dir(lv->dir, &v, err, sizeof(err));
        atomic_fetch_add(&lv->runs, 1);
        if ((rc != 0 || v.bad_indexes) && lv->failed++ == 0)
            snprintf(lv->first, sizeof(lv->first), "rc=%s bad_indexes=%llu err=%s", vg_err_name(rc),
                     (unsigned long long)v.bad_indexes, err);
    }
    return NULL;
}

/* `vigil log verify` on a running engine's directory: records and index entries appended
 * while it reads, and segments rolled, are no damage. */
VG_TEST(seglog_verify_of_a_live_log_reports_no_damage)
{
    vg_seglog_opts_t o = {
        .segment_bytes = 65536, .index_interval_bytes = 64, .prealloc_bytes = 8192};
    struct live_verify lv = {.dir = path_in("log")};
    vg_seglog_t *log = open_log(lv.dir, &o, NULL);
    append_n(log, 10, 1);
    ASSERT_OK(vg_seglog_sync(log));
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, verify_loop, &lv), 0);
    for (int i = 0; i < 6000 && (i < 200 || atomic_load(&lv.runs) < 100); i++) {
        append_n(log, 3, 3);
        if (i % 4 == 0)
            ASSERT_OK(vg_seglog_sync(log));
    }
    atomic_store(&lv.stop, true);
    pthread_join(th, NULL);
    vg_seglog_close(log);
    if (lv.failed)
        VG_FAIL("%u of %u verifications reported damage; the first: %s", lv.failed,
                atomic_load(&lv.runs), lv.first);
    ASSERT_GT(atomic_load(&lv.runs), 10u);
}

/* ---- kill -9 ---- */

VG_TEST_SLOW(seglog_kill9_loses_no_acknowledged_record)
{
    uint64_t seed = vg_test_seed();
    for (int round = 0; round < 8; round++) {
        char sub[32];
        snprintf(sub, sizeof(sub), "kill%d", round);
        const char *dir = path_in(sub);
        int pfd[2];
        ASSERT_EQ(pipe(pfd), 0);
        pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            close(pfd[0]);
            /* Odd rounds write zeros ahead of the records. */
            vg_seglog_opts_t o = {.segment_bytes = 65536, .prealloc_bytes = round % 2 ? 16384 : 0};
            vg_seglog_t *log = open_log(dir, &o, NULL);
            for (;;) {
                append_n(log, 1 + (vg_seglog_next_offset(log) % 7), 4);
                if (vg_seglog_sync(log) != 0)
                    _exit(1);
                uint64_t acked = vg_seglog_durable_offset(log);
                if (write(pfd[1], &acked, sizeof(acked)) != sizeof(acked))
                    _exit(1);
            }
        }
        close(pfd[1]);
        /* The kill comes at a random moment after the first acknowledgement: timed from the
         * fork instead, a machine busy enough could kill the writer before it had any (a CI
         * run saw acked == 0). */
        uint64_t acked = 0;
        uint64_t v = 0;
        ASSERT_EQ(read(pfd[0], &v, sizeof(v)), (ssize_t)sizeof(v));
        acked = v;
        struct timespec ts = {0, (long)(vg_hash_u64(seed + (uint64_t)round) % 150 + 20) * 1000000};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        while (read(pfd[0], &v, sizeof(v)) == sizeof(v))
            acked = v;
        close(pfd[0]);
        ASSERT_GT(acked, 0);
        vg_seglog_opts_t o = {.segment_bytes = 65536, .prealloc_bytes = round % 2 ? 16384 : 0};
        vg_seglog_t *log = open_log(dir, &o, NULL);
        ASSERT_GE(vg_seglog_next_offset(log), acked);
        check_range(log, 0, vg_seglog_next_offset(log));
        append_n(log, 3, 1); /* it goes on where the records end, zeros or not */
        check_range(log, 0, vg_seglog_next_offset(log));
        vg_seglog_close(log);
        expect_verified(dir, UINT64_MAX);
    }
}

/* With zeros written ahead (prealloc_bytes): the active file is longer than its records; a
 * reader that read ahead into the zeros still reads the records written there later; a
 * reopen finds the records' end without reporting a torn tail; a rolled segment is cut to
 * its records. */
VG_TEST(seglog_zeros_ahead_are_free_space)
{
    const char *dir = path_in("log");
    vg_seglog_opts_t o = {.segment_bytes = 32768, .prealloc_bytes = 8192};
    vg_seglog_t *log = open_log(dir, &o, NULL);
    append_n(log, 5, 1);
    char seg0[600];
    snprintf(seg0, sizeof(seg0), "%s/00000000000000000000.seg", dir);
    off_t records = VG_SEGLOG_HEADER_BYTES;
    for (uint64_t off = 0; off < 5; off++)
        records += VG_SEGLOG_RECORD_BYTES + payload_len(off);
    ASSERT_GT(file_size(seg0), records + 4096); /* zeros ahead: at least half of 8192 */
    ASSERT_LE(file_size(seg0), records + 8192);
    vg_seglog_reader_t *r = NULL;
    ASSERT_OK(vg_seglog_reader_open(log, 0, &r));
    vg_seglog_view_t v;
    for (uint64_t off = 0; off < 5; off++)
        ASSERT_OK(vg_seglog_reader_next(r, &v));
    ASSERT_ERR(vg_seglog_reader_next(r, &v), VG_ENOTFOUND); /* it has read the zeros */
    append_n(log, 1000, 7); /* over those zeros, and through several rolls */
    for (uint64_t off = 5; off < 1005; off++) {
        int rc = vg_seglog_reader_next(r, &v);
        if (rc != 0)
            VG_FAIL("reading offset %llu: %s", (unsigned long long)off, vg_err_name(rc));
        ASSERT_EQ_U(v.offset, off);
    }
    vg_seglog_reader_close(r);
    ASSERT_OK(vg_seglog_sync(log));
    vg_seglog_close(log);
    /* Rolled segments end at their last record; the active one has zeros after its own. */
    uint64_t bases[64];
    size_t nb = 0;
    vg_seglog_recovery_t rec;
    log = open_log(dir, &o, &rec);
    ASSERT_EQ_U(rec.truncated_bytes, 0);
    ASSERT_EQ_U(vg_seglog_next_offset(log), 1005);
    vg_seglog_reader_t *all = NULL;
    ASSERT_OK(vg_seglog_reader_open(log, 0, &all));
    uint64_t base = UINT64_MAX;
    off_t end = 0;
    for (uint64_t off = 0; off < 1005; off++) {
        ASSERT_OK(vg_seglog_reader_next(all, &v));
        if (v.segment_base != base) {
            if (base != UINT64_MAX) {
                char path[600];
                snprintf(path, sizeof(path), "%s/%020llu.seg", dir, (unsigned long long)base);
                ASSERT_EQ(file_size(path), end);
            }
            ASSERT_LT(nb, VG_ARRAY_LEN(bases));
            bases[nb++] = base = v.segment_base;
        }
        end = (off_t)(v.position + VG_SEGLOG_RECORD_BYTES + v.len);
    }
    vg_seglog_reader_close(all);
    ASSERT_GT(nb, 2);
    char active[600];
    snprintf(active, sizeof(active), "%s/%020llu.seg", dir, (unsigned long long)base);
    ASSERT_GT(file_size(active), end);
    append_n(log, 10, 3);
    check_range(log, 0, 1015);
    vg_seglog_close(log);
    expect_verified(dir, 1015);
}

/* Killed after a roll, before the cut of the rolled segment reached the disk: zeros after its
 * records are free space, and the open cuts them. A torn record before zeros is still torn. */
VG_TEST(seglog_zeros_after_records_are_not_damage)
{
    const char *dir = path_in("log");
    vg_seglog_opts_t o = {.segment_bytes = 4096};
    vg_seglog_t *log = open_log(dir, &o, NULL);
    append_n(log, 100, 4); /* a few segments */
    ASSERT_OK(vg_seglog_sync(log));
    vg_seglog_close(log);
    char seg0[600];
    snprintf(seg0, sizeof(seg0), "%s/00000000000000000000.seg", dir);
    off_t sealed = file_size(seg0);
    ASSERT_EQ(truncate(seg0, sealed + 5000), 0); /* zeros after a sealed segment's records */
    expect_verified(dir, 100);                   /* read-only: accepted, and nothing cut */
    vg_seglog_opts_t ro = {.segment_bytes = 4096, .read_only = true};
    log = open_log(dir, &ro, NULL);
    check_range(log, 0, 100); /* a reader goes past those zeros to the next segment */
    vg_seglog_close(log);
    ASSERT_EQ(file_size(seg0), sealed + 5000);
    vg_seglog_recovery_t rec;
    log = open_log(dir, &o, &rec);
    ASSERT_EQ(file_size(seg0), sealed); /* cut */
    check_range(log, 0, 100);
    vg_seglog_close(log);
    /* A torn record with zeros after it, beyond the synced position: cut and reported. */
    const char *src = path_in("src");
    char last[600];
    off_t full = 0;
    off_t rec_start = crashed_one_unsynced(src, 20, last, sizeof(last), &full);
    ASSERT_EQ(truncate(last, rec_start + 10), 0); /* ten bytes of the record... */
    ASSERT_EQ(truncate(last, full + 4096), 0);    /* ...then zeros */
    vg_seglog_opts_t d = {0};
    log = open_log(src, &d, &rec);
    ASSERT_EQ_U(vg_seglog_next_offset(log), 20);
    ASSERT_EQ_U(rec.truncated_at, (uint64_t)rec_start);
    ASSERT_EQ_U(rec.truncated_bytes, (uint64_t)(full + 4096 - rec_start));
    vg_seglog_close(log);
}

VG_TEST(seglog_segment_killed_while_being_created)
{
    const char *dir = path_in("log");
    uint32_t rec_bytes = VG_SEGLOG_RECORD_BYTES + 100;
    vg_seglog_opts_t o = {.segment_bytes = VG_SEGLOG_HEADER_BYTES + 4 * rec_bytes};
    vg_seglog_t *log = open_log(dir, &o, NULL);
    uint8_t p[100] = {0};
    for (int i = 0; i < 4; i++) {
        vg_seglog_rec_t rec = {VG_SEGLOG_TYPE_TEST, i, p, 100};
        uint64_t first = 0;
        ASSERT_OK(vg_seglog_append(log, &rec, 1, &first));
    }
    vg_seglog_close(log);
    /* As if killed right after creating segment 4, before its header was written. */
    char path[600];
    snprintf(path, sizeof(path), "%s/00000000000000000004.seg", dir);
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, "VGS", 3), 3);
    close(fd);
    log = open_log(dir, &o, NULL);
    ASSERT_EQ_U(vg_seglog_next_offset(log), 4);
    vg_seglog_rec_t rec = {VG_SEGLOG_TYPE_TEST, 4, p, 100};
    uint64_t first = 0;
    ASSERT_OK(vg_seglog_append(log, &rec, 1, &first)); /* rolls into a fresh segment 4 */
    ASSERT_EQ_U(first, 4);
    vg_seglog_close(log);
    ASSERT_EQ(file_size(path), VG_SEGLOG_HEADER_BYTES + rec_bytes);
    vg_seglog_verify_t ver;
    char err[512];
    ASSERT_OK(vg_seglog_verify_dir(dir, &ver, err, sizeof(err)));
    ASSERT_EQ_U(ver.records, 5);
}
