/* SPDX-License-Identifier: MIT */
/*
 * Tests of the data directory lock and layout.
 */
#include "runtime/error.h"
#include "runtime/io.h"
#include "storage/datadir.h"
#include "tests/vg_test.h"

#include <errno.h>
#include <sys/wait.h>
#include <unistd.h>

VG_TEST(datadir_lock_excludes_second_process)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/data/nested", vg_test_tmpdir());
    vg_datadir_t *dd = NULL;
    ASSERT_OK(vg_datadir_open(path, &dd, NULL));
    ASSERT_STR_EQ(vg_datadir_path(dd), path);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        vg_datadir_t *other = NULL;
        pid_t holder = 0;
        int rc = vg_datadir_open(path, &other, &holder);
        _exit(rc == VG_EBUSY && holder == getppid() ? 0 : 1);
    }
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
    vg_datadir_close(dd);
    /* Released: it can be taken again. */
    ASSERT_OK(vg_datadir_open(path, &dd, NULL));
    vg_datadir_close(dd);
    vg_datadir_close(NULL);
}

VG_TEST(datadir_partition_paths)
{
    char buf[64];
    ASSERT_OK(vg_datadir_partition_path("data", 3, 8, "log", buf, sizeof(buf)));
    ASSERT_STR_EQ(buf, "data/p03/log");
    ASSERT_OK(vg_datadir_partition_path("data", 7, 128, "state", buf, sizeof(buf)));
    ASSERT_STR_EQ(buf, "data/p007/state");
    ASSERT_ERR(vg_datadir_partition_path("data", 1, 8, "log", buf, 5), -ENAMETOOLONG);
}

/* Nothing is recorded until the caller says the partitions exist; then the count holds. */
VG_TEST(datadir_partitions_recorded_only_when_asked)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/data", vg_test_tmpdir());
    vg_datadir_t *dd = NULL;
    ASSERT_OK(vg_datadir_open(path, &dd, NULL));
    unsigned recorded = 0;
    ASSERT_ERR(vg_datadir_check_partitions(dd, 4, &recorded), VG_ENOTFOUND);
    ASSERT_ERR(vg_datadir_check_partitions(dd, 2, &recorded), VG_ENOTFOUND);
    char missing[600];
    /* Not before every partition's log directory exists. */
    ASSERT_ERR(vg_datadir_record_partitions(dd, 2, missing, sizeof(missing)), -ENOENT);
    char want[600];
    snprintf(want, sizeof(want), "%s/p00", path);
    ASSERT_STR_EQ(missing, want);
    for (unsigned i = 0; i < 2; i++) {
        char dir[600];
        ASSERT_OK(vg_datadir_partition_path(path, i, 2, "log", dir, sizeof(dir)));
        ASSERT_OK(vg_io_mkdirs(dir, 0755));
    }
    ASSERT_OK(vg_datadir_record_partitions(dd, 2, missing, sizeof(missing)));
    ASSERT_OK(vg_datadir_check_partitions(dd, 2, &recorded));
    ASSERT_EQ(recorded, 2u);
    ASSERT_ERR(vg_datadir_check_partitions(dd, 4, &recorded), VG_ECONFIG);
    vg_datadir_close(dd);
}

/* A partition directory or its log that is gone is named, outermost first. */
VG_TEST(datadir_missing_partition_dirs_are_named)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/data", vg_test_tmpdir());
    char dir[600];
    ASSERT_OK(vg_datadir_partition_path(path, 1, 2, "log", dir, sizeof(dir)));
    ASSERT_OK(vg_io_mkdirs(dir, 0755));
    char missing[600];
    ASSERT_OK(vg_datadir_check_partition_dirs(path, 1, 2, missing, sizeof(missing)));
    ASSERT_ERR(vg_datadir_check_partition_dirs(path, 0, 2, missing, sizeof(missing)), -ENOENT);
    char want[600];
    snprintf(want, sizeof(want), "%s/p00", path);
    ASSERT_STR_EQ(missing, want);
    ASSERT_EQ(rmdir(dir), 0);
    ASSERT_ERR(vg_datadir_check_partition_dirs(path, 1, 2, missing, sizeof(missing)), -ENOENT);
    ASSERT_STR_EQ(missing, dir);
}
