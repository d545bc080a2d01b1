/* SPDX-License-Identifier: MIT */
/*
 * Tests of `vigil log verify` and `vigil log inspect` (called in-process): exit codes on a
 * clean and a damaged data directory, and the JSON lines inspect prints.
 */
#include "runtime/io.h"
#include "storage/datadir.h"
#include "storage/logtool.h"
#include "storage/seglog.h"
#include "tests/vg_test.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void make_log(const char *data, unsigned p, const char *sub, unsigned n)
{
    char dir[600];
    ASSERT_OK(vg_datadir_partition_path(data, p, 8, sub, dir, sizeof(dir)));
    vg_seglog_opts_t o = {.segment_bytes = 2048};
    vg_seglog_t *log = NULL;
    char err[256];
    ASSERT_OK(vg_seglog_open(dir, &o, &log, NULL, err, sizeof(err)));
    for (unsigned i = 0; i < n; i++) {
        char buf[32];
        int len = snprintf(buf, sizeof(buf), "p%u-r%u", p, i);
        vg_seglog_rec_t rec = {VG_SEGLOG_TYPE_TRANSACTION, 1767225600000ll + i * 1000, buf,
                               (uint32_t)len};
        uint64_t first = 0;
        ASSERT_OK(vg_seglog_append(log, &rec, 1, &first));
    }
    vg_seglog_close(log);
}

static void make_partition(const char *data, unsigned p, unsigned n)
{
    make_log(data, p, "log", n);
}

/* Runs the tool with stdout captured into a file; returns the exit code, *out the text. */
static int run_tool(char **argv, int argc, char **out)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/stdout.txt", vg_test_tmpdir());
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, STDOUT_FILENO);
    close(fd);
    int rc = vg_logtool_run(argc, argv, NULL); /* storage alone: payloads in hex */
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    size_t len = 0;
    ASSERT_OK(vg_io_read_file(path, out, &len));
    return rc;
}

/* Overwrites byte 100 of the first segment in data/sub (inside its first record). */
static void damage_first_segment(const char *data, const char *sub)
{
    char seg[700];
    snprintf(seg, sizeof(seg), "%s/%s/00000000000000000000.seg", data, sub);
    int fd = open(seg, O_RDWR);
    ASSERT_GE(fd, 0);
    uint8_t b = 0x5a;
    ASSERT_EQ(pwrite(fd, &b, 1, 100), 1);
    close(fd);
}

VG_TEST(logtool_verify_clean_and_damaged)
{
    char data[600];
    snprintf(data, sizeof(data), "%s/data", vg_test_tmpdir());
    make_partition(data, 0, 200);
    make_partition(data, 3, 50);
    char *out = NULL;
    char *argv[] = {"log", "verify", data};
    ASSERT_EQ(run_tool(argv, 3, &out), 0);
    ASSERT_STR_CONTAINS(out, "partition 0: ok records=200");
    ASSERT_STR_CONTAINS(out, "partition 3: ok records=50");
    free(out);
    damage_first_segment(data, "p03/log"); /* in the middle */
    ASSERT_EQ(run_tool(argv, 3, &out), 1);
    ASSERT_STR_CONTAINS(out, "partition 3: DAMAGED");
    ASSERT_STR_CONTAINS(out, "00000000000000000000.seg");
    ASSERT_STR_CONTAINS(out, "partition 0: ok");
    free(out);
}

/* A partition's decision log is verified too, and damage there fails the run. */
VG_TEST(logtool_verify_covers_the_decision_logs)
{
    char data[600];
    snprintf(data, sizeof(data), "%s/data", vg_test_tmpdir());
    make_partition(data, 0, 40);
    make_log(data, 0, "decisions", 30);
    make_partition(data, 1, 10); /* no decision log yet: nothing to say about it */
    char *out = NULL;
    char *argv[] = {"log", "verify", data};
    ASSERT_EQ(run_tool(argv, 3, &out), 0);
    ASSERT_STR_CONTAINS(out, "partition 0: ok records=40");
    ASSERT_STR_CONTAINS(out, "partition 0 decisions: ok records=30");
    ASSERT_STR_CONTAINS(out, "partition 1: ok records=10");
    ASSERT_TRUE(strstr(out, "partition 1 decisions") == NULL);
    free(out);
    damage_first_segment(data, "p00/decisions");
    ASSERT_EQ(run_tool(argv, 3, &out), 1);
    ASSERT_STR_CONTAINS(out, "partition 0: ok records=40");
    ASSERT_STR_CONTAINS(out, "partition 0 decisions: DAMAGED");
    free(out);
}

/* A data directory records its partition count: a partition or its log that is gone is
 * damage, not a partition that was never there. */
VG_TEST(logtool_verify_reports_a_missing_partition)
{
    char data[600];
    snprintf(data, sizeof(data), "%s/data", vg_test_tmpdir());
    make_partition(data, 0, 20);
    make_partition(data, 1, 20);
    make_partition(data, 2, 20);
    char path[700];
    snprintf(path, sizeof(path), "%s/partitions", data);
    ASSERT_OK(vg_io_write_file_atomic(path, "3\n", 2));
    char *out = NULL;
    char *argv[] = {"log", "verify", data};
    ASSERT_EQ(run_tool(argv, 3, &out), 0);
    free(out);
    char cmd[1400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s/p01/log'", data);
    ASSERT_EQ(system(cmd), 0);
    ASSERT_EQ(run_tool(argv, 3, &out), 1);
    ASSERT_STR_CONTAINS(out, "partition 0: ok records=20");
    ASSERT_STR_CONTAINS(out, "partition 1: DAMAGED: ");
    ASSERT_STR_CONTAINS(out, "p01/log: missing");
    ASSERT_STR_CONTAINS(out, "partition 2: ok records=20");
    free(out);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s/p01' '%s/p02'", data, data);
    ASSERT_EQ(system(cmd), 0);
    ASSERT_EQ(run_tool(argv, 3, &out), 1);
    ASSERT_STR_CONTAINS(out, "p01: missing");
    ASSERT_STR_CONTAINS(out, "partition 2: DAMAGED: ");
    free(out);
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* verify changes nothing, so what it logs about a torn tail or a segment without a header
 * says what the next start will do, not that it was done. */
VG_TEST(logtool_verify_says_what_recovery_would_do)
{
    char data[600];
    snprintf(data, sizeof(data), "%s/data", vg_test_tmpdir());
    make_partition(data, 0, 5);
    char seg[700];
    char empty[700];
    snprintf(seg, sizeof(seg), "%s/p00/log/00000000000000000000.seg", data);
    snprintf(empty, sizeof(empty), "%s/p00/log/00000000000000000005.seg", data);
    int fd = open(seg, O_WRONLY | O_APPEND);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, "torn tail!", 10), 10); /* an unacknowledged, half-written record */
    close(fd);
    fd = open(empty, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, "VGS", 3), 3); /* killed while writing its header */
    close(fd);
    long long seg_size = file_size(seg);
    char errpath[700];
    snprintf(errpath, sizeof(errpath), "%s/stderr.txt", vg_test_tmpdir());
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, STDERR_FILENO);
    close(fd);
    char *out = NULL;
    char *argv[] = {"log", "verify", data};
    int rc = run_tool(argv, 3, &out);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    ASSERT_EQ(rc, 0);
    ASSERT_STR_CONTAINS(out, "partition 0: ok records=5");
    ASSERT_STR_CONTAINS(out, "unacknowledged_tail_bytes=10");
    free(out);
    char *err = NULL;
    size_t len = 0;
    ASSERT_OK(vg_io_read_file(errpath, &err, &len));
    ASSERT_STR_CONTAINS(err, "torn tail found, cut at the next start");
    ASSERT_STR_CONTAINS(err, "bytes_to_cut=10");
    ASSERT_STR_CONTAINS(err, "segment without a header found, removed at the next start");
    ASSERT_TRUE(strstr(err, "truncated") == NULL);
    ASSERT_TRUE(strstr(err, "header removed") == NULL);
    free(err);
    ASSERT_EQ(file_size(seg), seg_size); /* nothing changed */
    ASSERT_EQ(file_size(empty), 3);
}

VG_TEST(logtool_inspect_prints_json_lines)
{
    char data[600];
    snprintf(data, sizeof(data), "%s/data", vg_test_tmpdir());
    make_partition(data, 1, 30);
    char *out = NULL;
    char *argv[] = {"log", "inspect", data, "--partition", "1", "--from", "10", "--limit", "2"};
    ASSERT_EQ(run_tool(argv, 9, &out), 0);
    ASSERT_STR_EQ(out, "{\"partition\":1,\"offset\":10,\"timestamp\":1767225610000,\"type\":"
                       "\"transaction\",\"size\":6,\"payload_hex\":\"70312d723130\"}\n"
                       "{\"partition\":1,\"offset\":11,\"timestamp\":1767225611000,\"type\":"
                       "\"transaction\",\"size\":6,\"payload_hex\":\"70312d723131\"}\n");
    free(out);
    char *argv2[] = {"log", "inspect", data, "--since", "2026-01-01T00:00:25Z", "--limit", "1"};
    ASSERT_EQ(run_tool(argv2, 7, &out), 0);
    ASSERT_STR_CONTAINS(out, "\"offset\":25,");
    free(out);
    char *argv0[] = {"log", "inspect", data, "--limit", "0"};
    ASSERT_EQ(run_tool(argv0, 5, &out), 0);
    ASSERT_STR_EQ(out, ""); /* at most none */
    free(out);
    char *argv3[] = {"log", "inspect", data, "--since", "yesterday"};
    ASSERT_EQ(run_tool(argv3, 5, &out), 2);
    free(out);
    char *argv4[] = {"log", "inspect", data, "--partition", "7"};
    ASSERT_EQ(run_tool(argv4, 5, &out), 1);
    free(out);
    char *argv5[] = {"log", "frobnicate", data};
    ASSERT_EQ(run_tool(argv5, 3, &out), 2);
    free(out);
}
