/* SPDX-License-Identifier: MIT */
/*
 * File I/O helpers that own EINTR and short reads/writes, so call sites never loop, and the
 * atomic small-file write (temp file, fsync, rename, fsync directory). Blocking; never call
 * them on an actor's loop for anything but start-up. Thread: any.
 */
#ifndef VG_RUNTIME_IO_H
#define VG_RUNTIME_IO_H

#include "runtime/compiler.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Writes all `len` bytes. 0, or -errno. */
VG_MUST_CHECK int vg_io_write_all(int fd, const void *buf, size_t len);

/* Writes all `len` bytes at `off`. 0, or -errno. */
VG_MUST_CHECK int vg_io_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);

/* Reads up to `len` bytes at `off`, stopping early only at end of file.
 * OUT: *got, the bytes read. 0, or -errno. */
VG_MUST_CHECK int vg_io_pread_all(int fd, void *buf, size_t len, uint64_t off, size_t *got);

/* fsync()s the directory `path` so that a create/rename/unlink in it is durable. */
VG_MUST_CHECK int vg_io_fsync_dir(const char *path);

/* Replaces `path` with `len` bytes atomically: writes `path`.tmp, fsyncs it, renames it over
 * `path` and fsyncs the directory. 0, or -errno. */
VG_MUST_CHECK int vg_io_write_file_atomic(const char *path, const void *buf, size_t len);

/* Reads the whole file into a malloc'd buffer (NUL-terminated for convenience; the NUL is not
 * counted). OUT: *buf (caller frees), *len. 0, -ENOENT, or -errno. */
VG_MUST_CHECK int vg_io_read_file(const char *path, char **buf, size_t *len);

/* rm -rf: removes `path` and everything under it (symlinks are not followed). Callers that
 * clean up temporary files may ignore the result.
 * 0, or -errno of the first failure. */
int vg_io_remove_tree(const char *path);

/* mkdir -p. 0, or -errno. */
VG_MUST_CHECK int vg_io_mkdirs(const char *path, unsigned mode);

/* The kB figure of one line of /proc/PID/status, `field` with its colon ("VmHWM:",
 * "RssAnon:"). -1 when the process or the line is not there. */
long vg_io_proc_status_kb(pid_t pid, const char *field);

#endif
