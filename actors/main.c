/* SPDX-License-Identifier: MIT */
/*
 * The vigil binary's entry point: the table of subcommands. Each subcommand's code lives with
 * the module it drives (serve in actors/, log tools in storage/, benchmarks in bench/); this
 * file only dispatches. A subcommand that a later issue fills in says so and exits 3.
 * Thread: main.
 */
#include "actors/commands.h"
#include "bench/bench.h"
#include "bench/bench_ingest.h"
#include "bench/bench_model.h"
#include "runtime/compiler.h"

#include <stdio.h>
#include <string.h>

#define EXIT_NOT_BUILT 3

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static int not_built(int argc, char **argv);
static int bench_main(int argc, char **argv);

static const struct command commands[] = {
    {"serve", vg_cmd_serve, "run the engine: ingest, score, alert, serve the API and dashboard"},
    {"demo", vg_cmd_demo, "serve on the embedded defaults (what `make demo` runs)"},
    {"gen", vg_cmd_gen, "generate synthetic transactions with labelled fraud scenarios"},
    {"import", not_built, "import transactions from CSV (e.g. the Fraud Detection Handbook)"},
    {"train", vg_cmd_train, "train an XGBoost model (today: on synthetic data)"},
    {"replay", not_built, "backtest a model and rule set over a range of the log"},
    {"bench", bench_main, "benchmarks: runtime, model, log, state, ingest"},
    {"log", vg_cmd_log, "verify or inspect the segmented log"},
    {"token", not_built, "issue API tokens"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: vigil COMMAND [flags]    (vigil COMMAND --help for its flags)\n\n"
                 "vigil is a real-time fraud detection engine in one binary.\n\ncommands:\n");
    for (size_t i = 0; i < VG_ARRAY_LEN(commands); i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
}

static int not_built(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        for (size_t i = 0; i < VG_ARRAY_LEN(commands); i++) {
            if (strcmp(commands[i].name, argv[0]) == 0)
                printf("usage: vigil %s\n\n%s.\n\nNot built yet: a later issue delivers it.\n",
                       argv[0], commands[i].summary);
        }
        return 0;
    }
    fprintf(stderr, "vigil %s: not built yet\n", argv[0]);
    return EXIT_NOT_BUILT;
}

static int bench_main(int argc, char **argv)
{
    static const struct command benches[] = {
        {"runtime", vg_bench_runtime, "actor messages/s within and across loops, reply RTT"},
        {"model", vg_bench_model, "XGBoost predict cost by batch size, SHAP cost"},
        {"log", vg_bench_log, "log appends/s per durability mode, fsync timing, reads"},
        {"state", vg_bench_state, "LMDB batched updates/s and bytes per key"},
        {"ingest", vg_bench_ingest, "load generator: HTTP/TCP ingest req/s and latency"},
    };
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        FILE *out = argc < 2 ? stderr : stdout;
        fprintf(out, "usage: vigil bench NAME [flags]\n\nbenchmarks:\n");
        for (size_t i = 0; i < VG_ARRAY_LEN(benches); i++)
            fprintf(out, "  %-8s %s\n", benches[i].name, benches[i].summary);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < VG_ARRAY_LEN(benches); i++) {
        if (strcmp(argv[1], benches[i].name) == 0)
            return benches[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "vigil bench: unknown benchmark \"%s\" (see vigil bench --help)\n", argv[1]);
    return 2;
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
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < VG_ARRAY_LEN(commands); i++) {
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "vigil: unknown command \"%s\" (see vigil --help)\n", argv[1]);
    return 2;
}
