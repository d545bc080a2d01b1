/* SPDX-License-Identifier: MIT */
/*
 * `vigil log verify DIR` and `vigil log inspect DIR [...]`: offline checks and dumps of the
 * segmented log, without changing anything. DIR is a data directory (holding pNN/log/) or one
 * partition's log directory. Thread: main.
 */
#ifndef VG_STORAGE_LOGTOOL_H
#define VG_STORAGE_LOGTOOL_H

/* argv[0] is "log". Returns the exit code: 0 clean, 1 damage found or a read error,
 * 2 bad usage. */
int vg_logtool_main(int argc, char **argv);

#endif
