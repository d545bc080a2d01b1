/* SPDX-License-Identifier: MIT */
/*
 * `vigil bench ingest`: the load generator for a running engine. It drives HTTP (keep-alive
 * POST /v1/score or /v1/transactions, one request in flight per connection) or TCP ingest
 * (length-prefixed vigil.IngestRequest frames, a window of requests in flight per connection)
 * from its own libuv loops, closed loop or open loop at a fixed rate, and reports requests/s
 * and latency p50/p99/p99.9/max. Unless pointed at a running server with --http or --tcp, it
 * starts one itself (this binary, `vigil serve` on a fresh temporary data directory and free
 * ports), stops it at the end and reports its peak and final RSS. Thread: main, plus one client
 * thread per --threads.
 */
#ifndef VG_BENCH_BENCH_INGEST_H
#define VG_BENCH_BENCH_INGEST_H

/* `vigil bench ingest [flags] [-- serve flags]`: argv[0] is "ingest"; flags after `--` go to
 * the server it starts. Returns the exit code: 0, 1 (the server or the run failed), 2 (usage). */
int vg_bench_ingest(int argc, char **argv);

#endif
