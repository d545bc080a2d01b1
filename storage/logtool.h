/* SPDX-License-Identifier: MIT */
/*
 * `vigil log verify DIR` and `vigil log inspect DIR [...]`: offline checks and dumps of the
 * segmented log, without changing anything. DIR is a data directory (holding pNN/log/ and
 * pNN/decisions/) or one log directory. Thread: main.
 */
#ifndef VG_STORAGE_LOGTOOL_H
#define VG_STORAGE_LOGTOOL_H

#include <stddef.h>
#include <stdint.h>

/* A record's payload as a JSON object (malloc'd text), or NULL when it cannot say (then the
 * payload is printed in hex). The schema lives above storage, so the caller brings it. */
typedef char *(*vg_log_render_fn)(int type, const uint8_t *payload, size_t len);

/* argv[0] is "log". Returns the exit code: 0 clean, 1 damage found or a read error,
 * 2 bad usage. inspect prints each payload render() can read as "record":{...}, the others
 * (all of them when render is NULL) in hex. */
int vg_logtool_run(int argc, char **argv, vg_log_render_fn render);

#endif
