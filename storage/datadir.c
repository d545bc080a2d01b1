/* SPDX-License-Identifier: MIT */
/*
 * The data directory lock and layout; see datadir.h. Thread: main.
 */
#include "storage/datadir.h"
#include "runtime/alloc.h"
#include "runtime/error.h"
#include "runtime/io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct vg_datadir {
    char *path;
    int lock_fd;
};

static pid_t read_pid(int fd)
{
    char buf[32] = {0};
    size_t got = 0;
    if (vg_io_pread_all(fd, buf, sizeof(buf) - 1, 0, &got) != 0)
        return 0;
    return (pid_t)strtol(buf, NULL, 10);
}

int vg_datadir_open(const char *path, vg_datadir_t **out, pid_t *holder_pid)
{
    char lock_path[PATH_MAX];
    if (holder_pid)
        *holder_pid = 0;
    int rc = vg_io_mkdirs(path, 0755);
    if (rc != 0)
        return rc;
    if (snprintf(lock_path, sizeof(lock_path), "%s/vigil.lock", path) >= (int)sizeof(lock_path))
        return -ENAMETOOLONG;
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        rc = errno == EWOULDBLOCK ? VG_EBUSY : -errno;
        if (holder_pid && rc == VG_EBUSY)
            *holder_pid = read_pid(fd);
        (void)close(fd); /* only a lock fd: nothing written */
        return rc;
    }
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || vg_io_pwrite_all(fd, pid, (size_t)n, 0) != 0) {
        rc = -errno;
        (void)close(fd); /* failing anyway; rc says why */
        return rc ? rc : -EIO;
    }
    vg_datadir_t *dd = vg_xcalloc(1, sizeof(*dd));
    dd->path = vg_xstrdup(path);
    dd->lock_fd = fd;
    *out = dd;
    return 0;
}

const char *vg_datadir_path(const vg_datadir_t *dd)
{
    return dd->path;
}

int vg_datadir_partition_path(const char *data, unsigned partition, unsigned partitions,
                              const char *sub, char *buf, size_t len)
{
    int width = partitions > 100 ? (partitions > 1000 ? 4 : 3) : 2;
    int n = snprintf(buf, len, "%s/p%0*u/%s", data, width, partition, sub);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int partitions_file(const char *data, char *path, size_t len)
{
    int n = snprintf(path, len, "%s/partitions", data);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int vg_datadir_read_partitions(const char *data, unsigned *partitions)
{
    char path[PATH_MAX];
    int rc = partitions_file(data, path, sizeof(path));
    char *text = NULL;
    size_t len = 0;
    if (rc == 0)
        rc = vg_io_read_file(path, &text, &len);
    if (rc == -ENOENT)
        return VG_ENOTFOUND;
    if (rc != 0)
        return rc;
    char *end = NULL;
    unsigned long v = strtoul(text, &end, 10);
    bool ok = end != text && (*end == '\n' || *end == '\0') && v > 0 && v <= 65536;
    free(text);
    if (!ok)
        return VG_ECORRUPT;
    *partitions = (unsigned)v;
    return 0;
}

int vg_datadir_check_partitions(vg_datadir_t *dd, unsigned partitions, unsigned *recorded)
{
    unsigned v = 0;
    int rc = vg_datadir_read_partitions(vg_datadir_path(dd), &v);
    if (rc != 0)
        return rc;
    *recorded = v;
    return v == partitions ? 0 : VG_ECONFIG;
}

static int check_dir(const char *path, char *missing, size_t len)
{
    struct stat st;
    int rc = stat(path, &st) < 0 ? -errno : S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
    if (rc != 0)
        snprintf(missing, len, "%s", path);
    return rc;
}

int vg_datadir_check_partition_dirs(const char *data, unsigned partition, unsigned partitions,
                                    char *missing, size_t len)
{
    /* pNN first: the message names the outermost thing that is gone. */
    snprintf(missing, len, "%s", data);
    char path[PATH_MAX];
    int rc = vg_datadir_partition_path(data, partition, partitions, "", path, sizeof(path));
    if (rc == 0) {
        path[strlen(path) - 1] = '\0'; /* no trailing slash in the message */
        rc = check_dir(path, missing, len);
    }
    if (rc == 0)
        rc = vg_datadir_partition_path(data, partition, partitions, "log", path, sizeof(path));
    return rc == 0 ? check_dir(path, missing, len) : rc;
}

/* The count is recorded last, after every partition's directories exist and are durable,
 * because its presence is what says "this directory holds data": once it is there, a missing
 * pNN/log is lost data and refused, not recreated empty. Written first (as it used to be),
 * a kill -9 or a power loss during the very first start could leave the count with
 * no partition directories, and that directory would then be refused forever though it never
 * held a record. Recorded last, such a crash leaves partitions without a count: they hold no
 * acknowledged record (nothing is accepted before the count is written), and the next start
 * opens them again and records the count. */
int vg_datadir_record_partitions(vg_datadir_t *dd, unsigned partitions, char *missing, size_t len)
{
    const char *data = vg_datadir_path(dd);
    char path[PATH_MAX];
    int rc = 0;
    for (unsigned i = 0; rc == 0 && i < partitions; i++) {
        rc = vg_datadir_check_partition_dirs(data, i, partitions, missing, len);
        /* pNN's entry for log/ (and state/, decisions/) durable before the count says so. */
        if (rc == 0)
            rc = vg_datadir_partition_path(data, i, partitions, "", path, sizeof(path));
        if (rc == 0)
            rc = vg_io_fsync_dir(path);
    }
    if (rc == 0)
        rc = partitions_file(data, path, sizeof(path));
    if (rc != 0)
        return rc;
    char buf[16];
    int n = snprintf(buf, sizeof(buf), "%u\n", partitions);
    return vg_io_write_file_atomic(path, buf, (size_t)n); /* syncs DATA: the pNN entries too */
}

void vg_datadir_close(vg_datadir_t *dd)
{
    if (!dd)
        return;
    (void)close(dd->lock_fd); /* releases the lock; the pid text is informational */
    free(dd->path);
    free(dd);
}
