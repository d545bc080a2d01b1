/* SPDX-License-Identifier: MIT */
/*
 * Exactly once, tried the hard way: a child process appends records for many keys to the
 * log and applies them to a counter per key in the state store (counters and applied offset
 * in one commit), and is SIGKILLed at random moments; each restart replays the log from the
 * applied offset. At the end every counter must equal the number of records for its key in
 * the log: nothing lost, nothing counted twice. The seed is printed and accepted back from
 * VG_TEST_SEED.
 */
#include "runtime/hash.h"
#include "storage/seglog.h"
#include "storage/state.h"
#include "tests/vg_test.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KEYS      500
#define MAX_APPLY 100

struct store {
    vg_seglog_t *log;
    vg_state_t *st;
};

static void open_store(const char *dir, struct store *s)
{
    char p[600];
    char err[256];
    snprintf(p, sizeof(p), "%s/log", dir);
    /* Zeros ahead of the records, as the partitions write them. */
    vg_seglog_opts_t lo = {.segment_bytes = 32768, .prealloc_bytes = 8192};
    if (vg_seglog_open(p, &lo, &s->log, NULL, err, sizeof(err)) != 0)
        VG_FAIL("log open: %s", err);
    snprintf(p, sizeof(p), "%s/state", dir);
    vg_state_opts_t so = {.map_size = 1 << 20};
    ASSERT_OK(vg_state_open(p, &so, &s->st));
}

/* Applies every log record from the state's applied offset on, in batches. */
static void apply_pending(struct store *s)
{
    uint64_t applied = 0;
    ASSERT_OK(vg_state_applied_offset(s->st, &applied));
    vg_seglog_reader_t *r = NULL;
    ASSERT_OK(vg_seglog_reader_open(s->log, applied, &r));
    vg_seglog_view_t v;
    int rc = 0;
    while (rc == 0) {
        vg_state_batch_t *b = vg_state_batch_begin(s->st);
        uint64_t last = UINT64_MAX;
        for (int i = 0; i < MAX_APPLY && (rc = vg_seglog_reader_next(r, &v)) == 0; i++) {
            vg_bytes_t cur;
            uint64_t n = 0;
            if (vg_state_batch_get(b, VG_STATE_ACCOUNTS, v.payload, v.len, &cur) == 0)
                memcpy(&n, cur.ptr, sizeof(n));
            n++;
            ASSERT_OK(vg_state_batch_put(b, VG_STATE_ACCOUNTS, v.payload, v.len, &n, sizeof(n)));
            last = v.offset;
        }
        if (last == UINT64_MAX) {
            vg_state_batch_abort(b);
            break;
        }
        ASSERT_OK(vg_state_batch_commit(b, last + 1));
    }
    ASSERT_TRUE(rc == 0 || rc == VG_ENOTFOUND);
    vg_seglog_reader_close(r);
}

/* The child: recover, then append and apply until killed. */
static void worker(const char *dir, uint64_t seed)
{
    struct store s;
    open_store(dir, &s);
    apply_pending(&s);
    uint64_t x = seed;
    char keys[64][8];
    vg_seglog_rec_t recs[64];
    for (;;) {
        x = vg_hash_u64(x);
        size_t n = 1 + x % 64;
        for (size_t i = 0; i < n; i++) {
            x = vg_hash_u64(x);
            snprintf(keys[i], sizeof(keys[i]), "k%03u", (unsigned)(x % KEYS));
            recs[i] = (vg_seglog_rec_t){VG_SEGLOG_TYPE_TEST, (int64_t)x % 100000, keys[i], 4};
        }
        uint64_t first = 0;
        if (vg_seglog_append(s.log, recs, n, &first) != 0)
            _exit(3);
        apply_pending(&s);
    }
}

static void run_kills(int kills)
{
    uint64_t seed = vg_test_seed();
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/part", vg_test_tmpdir());
    for (int k = 0; k < kills; k++) {
        pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            worker(dir, seed + (uint64_t)k);
            _exit(0);
        }
        uint64_t us = 2000 + vg_hash_u64(seed ^ (uint64_t)k * 7919) % 60000;
        struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        if (!WIFSIGNALED(status))
            VG_FAIL("round %d: worker exited by itself (status %d)", k, status);
    }
    /* Recover once more, then count the log by key and compare. */
    struct store s;
    open_store(dir, &s);
    apply_pending(&s);
    uint64_t want[KEYS] = {0};
    vg_seglog_reader_t *r = NULL;
    ASSERT_OK(vg_seglog_reader_open(s.log, 0, &r));
    vg_seglog_view_t v;
    uint64_t total = 0;
    while (vg_seglog_reader_next(r, &v) == 0) {
        ASSERT_EQ(v.len, 4);
        /* "kNNN", not NUL-terminated */
        want[(v.payload[1] - '0') * 100 + (v.payload[2] - '0') * 10 + (v.payload[3] - '0')]++;
        total++;
    }
    vg_seglog_reader_close(r);
    ASSERT_GT(total, (uint64_t)kills); /* the workers did get work done */
    uint64_t applied = 0;
    ASSERT_OK(vg_state_applied_offset(s.st, &applied));
    ASSERT_EQ_U(applied, total);
    for (unsigned k = 0; k < KEYS; k++) {
        char key[8];
        snprintf(key, sizeof(key), "k%03u", k);
        uint64_t got = 0;
        size_t len = 0;
        int rc = vg_state_get(s.st, VG_STATE_ACCOUNTS, key, 4, &got, sizeof(got), &len);
        if (rc == VG_ENOTFOUND)
            got = 0;
        else
            ASSERT_OK(rc);
        if (got != want[k])
            VG_FAIL("key %s: state counts %llu, log holds %llu", key, (unsigned long long)got,
                    (unsigned long long)want[k]);
    }
    fprintf(stderr, "%d kills, %llu records, every count exact\n", kills,
            (unsigned long long)total);
    vg_seglog_close(s.log);
    vg_state_close(s.st);
}

VG_TEST(exactly_once_after_random_kills)
{
    run_kills(8);
}

VG_TEST_SLOW(exactly_once_after_sixty_random_kills)
{
    run_kills(60);
}
