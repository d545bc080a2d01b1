/* SPDX-License-Identifier: MIT */
/*
 * The harness main: `test_<dir> CASE` runs one case, `--list` prints them all. Thread: main.
 */
#include "tests/vg_test.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/io.h"

#include <stdarg.h>
#include <unistd.h>

#define MAX_TESTS 512

struct test_entry {
    const char *name;
    vg_test_fn fn;
};

static struct test_entry tests[MAX_TESTS];
static size_t ntests;
static char tmpdir[256];
static const char *current;

void vg_test_register(const char *name, vg_test_fn fn)
{
    if (ntests == MAX_TESTS) {
        fprintf(stderr, "too many tests\n");
        abort();
    }
    tests[ntests].name = name;
    tests[ntests].fn = fn;
    ntests++;
}

void vg_test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "FAIL %s at %s:%d: ", current ? current : "?", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (tmpdir[0])
        fprintf(stderr, "(temporary files kept in %s)\n", tmpdir);
    fflush(stderr);
    exit(1);
}

void vg_test_skip(const char *why)
{
    fprintf(stderr, "SKIP %s: %s\n", current ? current : "?", why);
    exit(77);
}

const char *vg_test_tmpdir(void)
{
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof(tmpdir), "%s/vigil-test-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            abort();
        }
    }
    return tmpdir;
}

uint64_t vg_test_seed(void)
{
    const char *env = getenv("VG_TEST_SEED");
    uint64_t seed = env && *env ? strtoull(env, NULL, 0) : vg_clock_mono_ns() ^ (uint64_t)getpid();
    fprintf(stderr, "seed %" PRIu64 " (set VG_TEST_SEED=%" PRIu64 " to repeat)\n", seed, seed);
    return seed;
}

#if defined(__SANITIZE_THREAD__)
/* libxgboost parallelises model loading and training with OpenMP, and ThreadSanitizer cannot
 * see the barriers of the uninstrumented libgomp: it reports the main thread freeing what a
 * finished OpenMP worker read as a race. Suppress races whose stacks are inside libxgboost (one
 * definition per binary: here); races in our own code (e.g. two scorer threads sharing a model) are
 * still reported. LMDB's readers and its writer synchronise through the reader table in
 * the shared lock file (MVCC: a page a live reader can see is never rewritten), which
 * ThreadSanitizer cannot see either: it reports a commit writing a page an older read
 * transaction once read. Races inside liblmdb are suppressed for that reason (nano-node does
 * the same); our own locking around it (the map-resize rwlock) is still checked, except the
 * lock order of its read side: a thread may hold readers of several partitions' states in any
 * order (storage/state.c says why that cannot deadlock), which TSan reports as an inversion. */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
    return "race:libxgboost.so\nrace:liblmdb.so\ndeadlock:read_begin\n";
}
#endif

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < ntests; i++)
            printf("%s\n", tests[i].name);
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: %s CASE | --list\n", argv[0]);
        return 2;
    }
    for (size_t i = 0; i < ntests; i++) {
        if (strcmp(tests[i].name, argv[1]) != 0)
            continue;
        current = tests[i].name;
        tests[i].fn();
        if (tmpdir[0])
            (void)vg_io_remove_tree(tmpdir); /* best effort: temporary files */
        fprintf(stderr, "PASS %s\n", current);
        return 0;
    }
    fprintf(stderr, "no test named %s\n", argv[1]);
    return 2;
}
