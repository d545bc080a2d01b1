/* SPDX-License-Identifier: MIT */
/*
 * The data directory: one per engine, locked while an engine uses it.
 *
 *   DATA/vigil.lock      flock(2)ed by the running engine; holds its pid as text
 *   DATA/partitions      the partition count the data was written with ("8\n"): an
 *                        account's partition is hash % P, so P cannot change under data.
 *                        Written last, once every partition has been created and before
 *                        the first record can be accepted: a start that fails earlier
 *                        leaves the count open. Once it exists, every pNN/log/ below P
 *                        must exist too: one that is missing is lost data, not a new
 *                        partition
 *   DATA/pNN/log/        partition NN's segmented log (storage/seglog.h)
 *   DATA/pNN/state/      partition NN's LMDB environment (storage/state.h)
 *
 * NN is the partition number, zero-padded to two digits (three or more when P > 100).
 * The lock is advisory and dies with the process, so a kill -9 never leaves a stale lock.
 * Thread: main.
 */
#ifndef VG_STORAGE_DATADIR_H
#define VG_STORAGE_DATADIR_H

#include "runtime/compiler.h"

#include <stddef.h>
#include <sys/types.h>

typedef struct vg_datadir vg_datadir_t;

/* Creates `path` if missing and takes its lock. OUT: *out. VG_EBUSY when another process
 * holds it (*holder_pid says which, 0 if unknown), or -errno. */
VG_MUST_CHECK int vg_datadir_open(const char *path, vg_datadir_t **out, pid_t *holder_pid);

/* The directory's path as given. */
const char *vg_datadir_path(const vg_datadir_t *dd);

/* Writes "DATA/pNN/<sub>" into buf. 0, or -ENAMETOOLONG. */
VG_MUST_CHECK int vg_datadir_partition_path(const char *data, unsigned partition,
                                            unsigned partitions, const char *sub, char *buf,
                                            size_t len);

/* Checks that the directory was written with `partitions` partitions. 0; VG_ENOTFOUND when
 * no count is recorded yet (a new directory, see vg_datadir_record_partitions); VG_ECONFIG
 * when it holds data of another count (*recorded says which); VG_ECORRUPT when the file
 * cannot be parsed; or -errno. */
VG_MUST_CHECK int vg_datadir_check_partitions(vg_datadir_t *dd, unsigned partitions,
                                              unsigned *recorded);

/* Reads the partition count recorded in directory `data` (no lock needed). OUT: *partitions.
 * 0; VG_ENOTFOUND when none is recorded; VG_ECORRUPT when the file cannot be parsed; -errno. */
VG_MUST_CHECK int vg_datadir_read_partitions(const char *data, unsigned *partitions);

/* Checks that partition `partition`'s directory and its log directory exist. 0; -ENOENT
 * (or another -errno) with the path that is missing written into `missing`. */
VG_MUST_CHECK int vg_datadir_check_partition_dirs(const char *data, unsigned partition,
                                                  unsigned partitions, char *missing, size_t len);

/* Records `partitions` as the directory's count (temp file, fsync, rename, fsync directory)
 * once every partition's log directory exists (each pNN is synced first). Call it once the
 * partitions are open and before any record is accepted. 0; -ENOENT with the missing path
 * in `missing` when a partition was not created; or -errno. */
VG_MUST_CHECK int vg_datadir_record_partitions(vg_datadir_t *dd, unsigned partitions, char *missing,
                                               size_t len);

/* Releases the lock and frees. Accepts NULL. */
void vg_datadir_close(vg_datadir_t *dd);

#endif
