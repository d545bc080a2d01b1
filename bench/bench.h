/* SPDX-License-Identifier: MIT */
/*
 * `vigil bench ...`: benchmarks built into the binary, never run by ctest. Each prints
 * throughput and p50/p99 latency per configuration and the median over `--runs`. Every entry
 * point takes the subcommand's argv (argv[0] is its name) and returns an exit code.
 * Thread: main.
 */
#ifndef VG_BENCH_BENCH_H
#define VG_BENCH_BENCH_H

#include <stddef.h>
#include <stdint.h>

/* `vigil bench runtime`: messages/s within a loop and across loops, request/reply RTT. */
int vg_bench_runtime(int argc, char **argv);

/* `vigil bench log`: segmented log appends under group commit, fsync timing, reads. */
int vg_bench_log(int argc, char **argv);

/* `vigil bench state`: LMDB batched read-modify-write updates/s, gets/s, bytes per key. */
int vg_bench_state(int argc, char **argv);

/* Creates a fresh temporary directory for benchmark `name` in $TMPDIR (or /tmp) into buf.
 * 0, or -errno (a message is printed). The caller removes it with vg_io_remove_tree. */
int vg_bench_tmpdir(const char *name, char *buf, size_t len);

/* The median of `n` values (sorts them in place). */
double vg_bench_median(double *values, size_t n);

/* Formats `v` with thousands separators into buf. Returns buf. */
const char *vg_bench_fmt(double v, char *buf, size_t len);

#endif
