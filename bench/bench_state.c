/* SPDX-License-Identifier: MIT */
/*
 * `vigil bench state`: the LMDB state store as the account actor uses it: batches of
 * read-modify-write updates of ~128-byte values on random 8-byte big-endian keys, each batch
 * committed with its applied offset. Reports load and update rates, random gets/s and bytes
 * per key on disk, for each key count. Thread: main.
 */
#include "bench/bench.h"
#include "runtime/alloc.h"
#include "runtime/cli.h"
#include "runtime/clock.h"
#include "runtime/error.h"
#include "runtime/hash.h"
#include "runtime/io.h"
#include "storage/state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void key_of(uint64_t k, uint8_t out[8])
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(k >> (56 - 8 * i)); /* big-endian: LMDB order = numeric order */
}

/* One pass of `n` read-modify-write updates drawn by `pick`, in batches. Returns updates/s. */
static double update_pass(vg_state_t *st, uint64_t n, uint64_t keys, uint64_t batch,
                          uint32_t vbytes, bool sequential, bool rmw, uint64_t *offset, int *rc)
{
    uint8_t *val = vg_xcalloc(1, vbytes);
    uint64_t t0 = vg_clock_mono_ns();
    uint64_t x = 12345;
    for (uint64_t done = 0; done < n && *rc == 0;) {
        vg_state_batch_t *b = vg_state_batch_begin(st);
        uint64_t m = n - done < batch ? n - done : batch;
        for (uint64_t i = 0; i < m; i++) {
            x = vg_hash_u64(x);
            uint64_t k = sequential ? done + i : x % keys;
            uint8_t key[8];
            key_of(k, key);
            vg_bytes_t cur;
            uint64_t count = 0;
            if (rmw && vg_state_batch_get(b, VG_STATE_ACCOUNTS, key, 8, &cur) == 0 && cur.len >= 8)
                memcpy(&count, cur.ptr, 8);
            count++;
            memcpy(val, &count, 8);
            int prc = vg_state_batch_put(b, VG_STATE_ACCOUNTS, key, 8, val, vbytes);
            if (prc != 0)
                *rc = prc;
        }
        *offset += m;
        int crc = vg_state_batch_commit(b, *offset);
        if (crc != 0)
            *rc = crc;
        done += m;
    }
    free(val);
    return (double)n / ((double)(vg_clock_mono_ns() - t0) / 1e9);
}

/* Load, blind puts, read-modify-writes and gets for one key count; prints one line. */
static int run_keys(const char *dir, uint64_t keys, uint64_t batch, uint32_t vbytes, bool writemap)
{
    char b1[32];
    char b2[32];
    char b3[32];
    char b4[32];
    char b5[32];
    char sub[600];
    snprintf(sub, sizeof(sub), "%s/keys-%llu", dir, (unsigned long long)keys);
    vg_state_t *st = NULL;
    vg_state_opts_t o = {.writemap = writemap};
    int rc = vg_state_open(sub, &o, &st);
    if (rc != 0)
        return rc;
    uint64_t offset = 0;
    double load = update_pass(st, keys, keys, batch, vbytes, true, false, &offset, &rc);
    uint64_t nupd = keys < 2000000 ? keys : 2000000;
    /* Blind puts: the account actor writes back profiles it holds in memory. */
    double put = update_pass(st, nupd, keys, batch, vbytes, false, false, &offset, &rc);
    /* Read-modify-write: a profile not in memory is read first. */
    double upd = update_pass(st, nupd, keys, batch, vbytes, false, true, &offset, &rc);
    uint64_t t0 = vg_clock_mono_ns();
    uint64_t x = 99;
    uint64_t ngets = 1000000;
    uint8_t buf[4096];
    for (uint64_t i = 0; i < ngets && rc == 0; i++) {
        x = vg_hash_u64(x);
        uint8_t key[8];
        key_of(x % keys, key);
        size_t len = 0;
        int g = vg_state_get(st, VG_STATE_ACCOUNTS, key, 8, buf, sizeof(buf), &len);
        if (g != 0 && g != VG_ENOTFOUND)
            rc = g;
    }
    double gets = (double)ngets / ((double)(vg_clock_mono_ns() - t0) / 1e9);
    vg_state_stats_t s;
    if (rc == 0)
        rc = vg_state_stats(st, &s);
    if (rc == 0)
        printf("keys %-10s load (key order) %s/s, random puts %s/s, random read-modify-writes "
               "%s/s, gets %s/s, %.0f bytes per key (%llu entries, %llu MiB used)\n",
               vg_bench_fmt((double)keys, b1, sizeof(b1)), vg_bench_fmt(load, b2, sizeof(b2)),
               vg_bench_fmt(put, b5, sizeof(b5)), vg_bench_fmt(upd, b3, sizeof(b3)),
               vg_bench_fmt(gets, b4, sizeof(b4)),
               (double)s.used_bytes / (double)s.entries[VG_STATE_ACCOUNTS],
               (unsigned long long)s.entries[VG_STATE_ACCOUNTS],
               (unsigned long long)(s.used_bytes >> 20));
    fflush(stdout);
    vg_state_close(st);
    (void)vg_io_remove_tree(sub); /* best effort: temporary files */
    return rc;
}

int vg_bench_state(int argc, char **argv)
{
    uint64_t keys_arg = 0;
    bool writemap = false;
    uint64_t batch = 10000;
    uint64_t vbytes = 128;
    const char *dir = NULL;
    const vg_cli_opt_t opts[] = {
        {"keys", VG_CLI_UINT, &keys_arg, "N", "key count (default: 1M, then 10M)", 1, 1e9, NULL},
        {"batch", VG_CLI_UINT, &batch, "N", "updates per committed batch", 1, 1e7, NULL},
        {"value-bytes", VG_CLI_UINT, &vbytes, "N", "value size", 8, 4096, NULL},
        {"dir", VG_CLI_STRING, &dir, "DIR", "where to write (default: a temporary directory)", 0, 0,
         NULL},
        {"writemap", VG_CLI_BOOL, &writemap, NULL, "open LMDB with MDB_WRITEMAP", 0, 0, NULL},
    };
    const vg_cli_t cli = {"vigil bench state",
                          "[flags]",
                          "Measures LMDB batched read-modify-write updates/s, gets/s and bytes "
                          "per key.",
                          opts,
                          VG_ARRAY_LEN(opts),
                          0,
                          0};
    int rc = vg_cli_parse(&cli, argc, argv, NULL, NULL);
    if (rc != 0)
        return rc == VG_CLI_HELP ? 0 : 2;
    char tmp[512];
    if (!dir) {
        if (vg_bench_tmpdir("state", tmp, sizeof(tmp)) != 0)
            return 1;
        dir = tmp;
    }
    uint64_t counts[2] = {1000000, 10000000};
    size_t nruns = keys_arg ? 1 : 2;
    if (keys_arg)
        counts[0] = keys_arg;
    printf("# vigil bench state: batches of %llu, %llu-byte values%s, dir %s\n",
           (unsigned long long)batch, (unsigned long long)vbytes, writemap ? ", MDB_WRITEMAP" : "",
           dir);
    for (size_t r = 0; r < nruns && rc == 0; r++)
        rc = run_keys(dir, counts[r], batch, (uint32_t)vbytes, writemap);
    if (dir == tmp)
        (void)vg_io_remove_tree(tmp); /* best effort: temporary files */
    if (rc != 0)
        fprintf(stderr, "vigil bench state: %s\n", vg_strerror(rc));
    return rc == 0 ? 0 : 1;
}
