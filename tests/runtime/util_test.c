/* SPDX-License-Identifier: MIT */
/*
 * Tests of the runtime's small utilities: CRC32C, hashing, the histogram, the arena, errors
 * and the I/O helpers.
 */
#include "runtime/alloc.h"
#include "runtime/bytes.h"
#include "runtime/crc32c.h"
#include "runtime/error.h"
#include "runtime/hash.h"
#include "runtime/histogram.h"
#include "runtime/io.h"
#include "tests/vg_test.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

VG_TEST(crc32c_known_vectors)
{
    ASSERT_EQ_U(vg_crc32c(0, "123456789", 9), 0xE3069283u);
    ASSERT_EQ_U(vg_crc32c_sw(0, "123456789", 9), 0xE3069283u);
    uint8_t zeros[32] = {0};
    ASSERT_EQ_U(vg_crc32c(0, zeros, sizeof(zeros)), 0x8A9136AAu); /* RFC 3720 B.4 */
}

VG_TEST(crc32c_hw_matches_sw_and_is_incremental)
{
    uint8_t buf[1031];
    uint64_t x = vg_test_seed();
    for (size_t i = 0; i < sizeof(buf); i++) {
        x = vg_hash_u64(x + i);
        buf[i] = (uint8_t)x;
    }
    for (size_t len = 0; len < sizeof(buf); len += 7) {
        ASSERT_EQ_U(vg_crc32c(0, buf, len), vg_crc32c_sw(0, buf, len));
        uint32_t part = vg_crc32c(vg_crc32c(0, buf, len / 3), buf + len / 3, len - len / 3);
        ASSERT_EQ_U(part, vg_crc32c(0, buf, len));
    }
}

/* The on-disk integer encodings, byte by byte: the formats must not depend on the host. */
VG_TEST(bytes_encodings_are_fixed_byte_orders)
{
    uint8_t b[8];
    vg_put_le16(b, 0x0102);
    ASSERT_TRUE(memcmp(b, "\x02\x01", 2) == 0);
    ASSERT_EQ_U(vg_get_le16(b), 0x0102);
    vg_put_le32(b, 0x01020304u);
    ASSERT_TRUE(memcmp(b, "\x04\x03\x02\x01", 4) == 0);
    ASSERT_EQ_U(vg_get_le32(b), 0x01020304u);
    vg_put_le64(b, 0x0102030405060708ull);
    ASSERT_TRUE(memcmp(b, "\x08\x07\x06\x05\x04\x03\x02\x01", 8) == 0);
    ASSERT_EQ_U(vg_get_le64(b), 0x0102030405060708ull);
    ASSERT_EQ_U(vg_get_le64((const uint8_t *)"\xff\xff\xff\xff\xff\xff\xff\x80"),
                0x80ffffffffffffffull);
    vg_put_be32(b, 0x01020304u);
    ASSERT_TRUE(memcmp(b, "\x01\x02\x03\x04", 4) == 0);
    vg_put_be64(b, 0x0102030405060708ull);
    ASSERT_TRUE(memcmp(b, "\x01\x02\x03\x04\x05\x06\x07\x08", 8) == 0);
    ASSERT_EQ_U(vg_get_be(b, 8), 0x0102030405060708ull);
    ASSERT_EQ_U(vg_get_be(b + 4, 4), 0x05060708u);
}

VG_TEST(bytes_strlcpy_cuts_and_terminates)
{
    char b[6];
    memset(b, 'x', sizeof(b));
    ASSERT_EQ(vg_strlcpy(b, "abc", sizeof(b)), 3);
    ASSERT_TRUE(strcmp(b, "abc") == 0);
    ASSERT_EQ(vg_strlcpy(b, "abcdefgh", sizeof(b)), 5);
    ASSERT_TRUE(strcmp(b, "abcde") == 0);
    ASSERT_EQ(vg_strlcpy(b, "", sizeof(b)), 0);
    ASSERT_TRUE(b[0] == '\0');
}

VG_TEST(hash_is_stable_and_spreads)
{
    /* The partition of an account, and the categorical features a model was trained on,
     * depend on these values: they must never change (pinned 2026-12-03, every length up to
     * 48 so that each path through the tail is covered). */
    ASSERT_EQ_U(vg_hash64("acct-1", 6), 0xd1211e8ba45cbc5eull);
    ASSERT_EQ_U(vg_hash64("tx-000000000042", 15), 0x1a75e3186f6462f1ull);
    const char *s = "acct-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH";
    uint64_t fold = 0;
    for (size_t n = 0; n <= 48; n++)
        fold = fold * 31 + vg_hash64(s, n);
    ASSERT_EQ_U(fold, 0xd1bb9ae09a0c2cd3ull);
    ASSERT_NE(vg_hash64("acct-1", 6), vg_hash64("acct-2", 6));
    unsigned counts[8] = {0};
    char key[32];
    for (int i = 0; i < 80000; i++) {
        int n = snprintf(key, sizeof(key), "C%05d", i);
        counts[vg_hash64(key, (size_t)n) % 8]++;
    }
    for (int p = 0; p < 8; p++) {
        ASSERT_GT(counts[p], 9500);
        ASSERT_LT(counts[p], 10500);
    }
}

VG_TEST(histogram_quantiles_within_error)
{
    vg_histogram_t h;
    vg_histogram_init(&h);
    for (uint64_t v = 1; v <= 100000; v++)
        vg_histogram_record(&h, v);
    ASSERT_EQ_U(h.count, 100000);
    ASSERT_EQ_U(vg_histogram_quantile(&h, 0.0), 1);
    ASSERT_EQ_U(vg_histogram_quantile(&h, 1.0), 100000);
    uint64_t p50 = vg_histogram_quantile(&h, 0.5);
    uint64_t p99 = vg_histogram_quantile(&h, 0.99);
    ASSERT_GE(p50, 50000);
    ASSERT_LE(p50, 50000 + 50000 / 64 + 1);
    ASSERT_GE(p99, 99000);
    ASSERT_LE(p99, 100000);
    vg_histogram_t m;
    vg_histogram_init(&m);
    vg_histogram_merge(&m, &h);
    ASSERT_EQ_U(vg_histogram_quantile(&m, 0.5), p50);
}

VG_TEST(arena_alloc_aligned_and_reset)
{
    vg_arena_t a;
    vg_arena_init(&a, 1024);
    for (int i = 0; i < 1000; i++) {
        char *p = vg_arena_alloc(&a, (size_t)(i % 100) + 1);
        ASSERT_EQ((uintptr_t)p % 16, 0);
        memset(p, 0xab, (size_t)(i % 100) + 1);
    }
    char *big = vg_arena_alloc(&a, 10000);
    memset(big, 1, 10000);
    vg_arena_reset(&a);
    ASSERT_NOT_NULL(a.head); /* a normal block kept */
    vg_arena_close(&a);
    vg_arena_close(&a);
    vg_arena_init(&a, 1024);
    memset(vg_arena_alloc(&a, 100000), 2, 100000);
    vg_arena_reset(&a);
    ASSERT_NULL(a.head); /* the one large block is not kept */
    vg_arena_close(&a);
}

VG_TEST(error_names_and_messages)
{
    ASSERT_STR_EQ(vg_err_name(VG_EMAILBOX_FULL), "VG_EMAILBOX_FULL");
    ASSERT_STR_EQ(vg_strerror(VG_ENOTFOUND), "not found");
    ASSERT_STR_EQ(vg_err_name(-ENOENT), "ENOENT");
    ASSERT_STR_EQ(vg_strerror(0), "ok");
}

VG_TEST(io_atomic_write_and_read_back)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/a/b/meta", vg_test_tmpdir());
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/a/b", vg_test_tmpdir());
    ASSERT_OK(vg_io_mkdirs(dir, 0755));
    ASSERT_OK(vg_io_mkdirs(dir, 0755));
    ASSERT_OK(vg_io_write_file_atomic(path, "hello", 5));
    ASSERT_OK(vg_io_write_file_atomic(path, "hello world", 11));
    char *buf = NULL;
    size_t len = 0;
    ASSERT_OK(vg_io_read_file(path, &buf, &len));
    ASSERT_EQ(len, 11);
    ASSERT_STR_EQ(buf, "hello world");
    free(buf);
    char missing[512];
    snprintf(missing, sizeof(missing), "%s/nope", vg_test_tmpdir());
    ASSERT_ERR(vg_io_read_file(missing, &buf, &len), -ENOENT);
}

VG_TEST(io_proc_status_reads_one_figure)
{
    long rss = vg_io_proc_status_kb(getpid(), "VmRSS:");
    long hwm = vg_io_proc_status_kb(getpid(), "VmHWM:");
    ASSERT_GT(rss, 0);
    ASSERT_GE(hwm, rss); /* the peak is at least the present */
    ASSERT_EQ(vg_io_proc_status_kb(getpid(), "NoSuchField:"), -1);
    ASSERT_EQ(vg_io_proc_status_kb(-1, "VmRSS:"), -1); /* no such process */
}
