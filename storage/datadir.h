/* SPDX-License-Identifier: MIT */
/*
 * The data directory: one per engine, locked while an engine uses it.
 *
 *   DATA/vigil.lock      flock(2)ed by the running engine; holds its pid as text
 *   DATA/partitions      the partition count the data was written with ("8\n"): an
 *                        account's partition is hash % P, so P cannot change under data
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

/* Checks that the directory was written with `partitions` partitions, recording it on first
 * use. 0; VG_ECONFIG when it holds data of another count (*recorded says which); or -errno. */
VG_MUST_CHECK int vg_datadir_check_partitions(vg_datadir_t *dd, unsigned partitions,
                                              unsigned *recorded);

/* Releases the lock and frees. Accepts NULL. */
void vg_datadir_close(vg_datadir_t *dd);

#endif
