/* SPDX-License-Identifier: MIT */
/*
 * `vigil bench ingest`: flags, the server under test, the runs and the report. The clients
 * themselves are in bench_ingest_client.c. When no --http/--tcp target is given, the server is
 * this binary (/proc/self/exe) run as `vigil serve --data <tmp>/data --http-port 0 --tcp-port 0
 * --durability fsync [flags after --]`; its ports come from its "vigil: serving" line on stdout,
 * its stderr goes to <tmp>/server.stderr (shown if it fails to start). At the end it gets
 * SIGTERM (SIGKILL after 10 s) and the temporary directory is removed. Connections only ever go
 * to the one address given or printed by the server (0.0.0.0 and :: become loopback).
 * Thread: main; each run spawns --threads client threads and joins them.
 */
#include "bench/bench_ingest.h"
#include "bench/bench.h"
#include "bench/bench_ingest_int.h"
#include "runtime/alloc.h"
#include "runtime/cli.h"
#include "runtime/clock.h"
#include "runtime/compiler.h"
#include "runtime/error.h"
#include "runtime/histogram.h"
#include "runtime/io.h"
#include "runtime/logging.h"

#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_RUNS         21
#define MAX_THREADS      16
#define MAX_EXTRA        64
#define START_TIMEOUT_MS 60000 /* a server loading a large model takes a while */
#define STOP_TIMEOUT_MS  10000
#define SERVING          "vigil: serving "

struct server {
    const char *exe; /* the vigil binary to run; NULL: this one */
    pid_t pid;
    int out_fd; /* its stdout; kept open so that a late write cannot SIGPIPE it */
    char dir[PATH_MAX];
    char err_path[PATH_MAX + 32];
    char host[64];
    int http_port;
    int tcp_port;
    char buf[4096]; /* stdout bytes not yet split into lines */
    size_t len;
};

struct worker {
    pthread_t thread;
    const vg_bi_opts_t *o;
    unsigned run;
    unsigned index;
    int rc;
    vg_bi_stats_t st;
};

struct flags {
    const char *mode;
    const char *proto;
    const char *http;
    const char *tcp;
    bool conns_seen;
    uint64_t runs;
    const char *baseline; /* another vigil binary to compare with */
    char **extra;         /* flags after --, for the server */
    size_t nextra;
};

/* Per-run figures for the medians. */
struct figures {
    double rate[MAX_RUNS];
    double p50[MAX_RUNS];
    double p99[MAX_RUNS];
    double p999[MAX_RUNS];
    double max[MAX_RUNS];
    double server_us[MAX_RUNS]; /* server CPU per answered request; < 0 when unknown */
    double client_us[MAX_RUNS]; /* this load generator's */
    double steal[MAX_RUNS];     /* % of the machine's CPU time taken by the hypervisor; < 0 */
    double idle[MAX_RUNS];      /* % idle (iowait included); < 0 when unknown */
};

/* The whole machine's CPU time so far, from /proc/stat's "cpu" line, in clock ticks. */
struct machine_ticks {
    unsigned long long total, idle, steal;
    bool ok;
};

static struct machine_ticks machine_ticks(void)
{
    struct machine_ticks t = {0};
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return t;
    unsigned long long v[8] = {0}; /* user nice system idle iowait irq softirq steal */
    t.ok = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                  &v[4], &v[5], &v[6], &v[7]) == 8;
    (void)fclose(f); /* read-only: nothing to lose */
    for (int i = 0; i < 8; i++)
        t.total += v[i];
    t.idle = v[3] + v[4];
    t.steal = v[7];
    return t;
}

/* CPU time used so far by process `pid` (user + system), in microseconds; -1 when unknown.
 * Per answered request it is a steadier figure than the rate on a shared machine. */
static double process_cpu_us(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    (void)fclose(f); /* read-only: nothing to lose */
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long ut = 0, stime = 0;
    /* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
     * stime */
    if (!p ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &stime) != 2)
        return -1;
    return (double)(ut + stime) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

static int server_start(struct server *s, char **extra, size_t nextra);
static void server_stop(struct server *s);
static int read_line(struct server *s, char *line, size_t len, uint64_t deadline_ns);
static int parse_hostport(const char *s, size_t n, char *host, size_t hlen, int *port);
static int set_addr(vg_bi_opts_t *o, const char *host, int port);
static int parse_flags(int argc, char **argv, vg_bi_opts_t *o, struct flags *f);
static void print_header(const vg_bi_opts_t *o, uint64_t runs, const char *where);
static int run_all(const vg_bi_opts_t *o, unsigned runs, pid_t server);
static int run_compare(vg_bi_opts_t *o, const struct flags *f);
static int run_once(const vg_bi_opts_t *o, unsigned run, vg_bi_stats_t *total);
static void report_run(const vg_bi_opts_t *o, unsigned run, const char *label,
                       const vg_bi_stats_t *st, struct figures *fig);
static void report_server(const struct server *s);

int vg_bench_ingest(int argc, char **argv)
{
    vg_bi_opts_t o = {0};
    struct flags f = {0};
    int rc = parse_flags(argc, argv, &o, &f);
    if (rc != 0)
        return rc == VG_CLI_HELP ? 0 : 2;
    signal(SIGPIPE, SIG_IGN); /* a server that goes away is an error to count, not a kill */
    uint32_t salt = (uint32_t)(vg_clock_mono_ns() ^ (uint64_t)vg_clock_wall_ms() * 2654435761u ^
                               (uint64_t)getpid() << 16);
    snprintf(o.prefix, sizeof(o.prefix), "%08x", (unsigned)salt);

    if (f.baseline)
        return run_compare(&o, &f) == 0 ? 0 : 1;
    struct server s = {.pid = -1, .out_fd = -1};
    const char *target = o.tcp ? f.tcp : f.http;
    char host[64] = "";
    int port = 0;
    if (target) {
        rc = parse_hostport(target, strlen(target), host, sizeof(host), &port);
    } else {
        rc = server_start(&s, f.extra, f.nextra);
        snprintf(host, sizeof(host), "%s", s.host);
        port = o.tcp ? s.tcp_port : s.http_port;
    }
    if (rc == 0)
        rc = set_addr(&o, host, port);
    if (rc != 0) {
        if (target)
            fprintf(stderr, "vigil bench ingest: bad target \"%s\" (HOST:PORT, HOST an IP)\n",
                    target);
        server_stop(&s);
        return target ? 2 : 1;
    }
    char where[128];
    snprintf(where, sizeof(where), "%s%s", target ? "target " : "server started: ", o.host_header);
    print_header(&o, f.runs, where);
    rc = run_all(&o, (unsigned)f.runs, s.pid);
    if (s.pid > 0)
        report_server(&s);
    fflush(stdout);
    server_stop(&s);
    return rc == 0 ? 0 : 1;
}

/* ---- flags ---- */

/* The checks vg_cli cannot make: NULL, or what is wrong. */
static const char *check_flags(vg_bi_opts_t *o, const struct flags *f)
{
    bool ok = strcmp(f->mode, "closed") == 0 || strcmp(f->mode, "open") == 0;
    ok = ok && (strcmp(f->proto, "http") == 0 || strcmp(f->proto, "tcp") == 0);
    if (!ok)
        return "--mode is closed or open, --proto http or tcp";
    o->open = strcmp(f->mode, "open") == 0;
    o->tcp = f->tcp || (!f->http && strcmp(f->proto, "tcp") == 0);
    if (!f->conns_seen && o->tcp)
        o->conns = 4;
    if (o->open && o->rate <= 0)
        return "--mode open needs --rate";
    if (f->http && f->tcp)
        return "give --http or --tcp, not both";
    if ((f->http || f->tcp) && f->nextra)
        return "flags after -- are for a server started here";
    if ((f->http || f->tcp) && f->baseline)
        return "--baseline starts both servers here: no --http or --tcp";
    if (f->baseline && access(f->baseline, X_OK) != 0)
        return "--baseline must name an executable vigil binary";
    if (f->nextra > MAX_EXTRA)
        return "too many flags after --";
    if (o->path[0] != '/')
        return "--path must start with /";
    if (o->conns < o->threads)
        return "--connections must be at least --threads";
    return NULL;
}

/* 0, VG_CLI_HELP, or VG_EUSAGE (printed). */
static int parse_flags(int argc, char **argv, vg_bi_opts_t *o, struct flags *f)
{
    *o = (vg_bi_opts_t){.conns = 64,
                        .window = 256,
                        .threads = 1,
                        .accounts = 100000,
                        .merchants = 10000,
                        .duration_s = 10,
                        .warmup_s = 2,
                        .path = "/v1/score"};
    *f = (struct flags){.mode = "closed", .proto = "http", .runs = 1};
    const vg_cli_opt_t opts[] = {
        {"mode", VG_CLI_STRING, &f->mode, "MODE", "closed (default) or open (needs --rate)", 0, 0,
         NULL},
        {"rate", VG_CLI_DOUBLE, &o->rate, "R", "open loop: requests/s over all connections", 1, 1e8,
         NULL},
        {"proto", VG_CLI_STRING, &f->proto, "P",
         "http (default) or tcp, for the server started here", 0, 0, NULL},
        {"http", VG_CLI_STRING, &f->http, "HOST:PORT", "target a running server over HTTP", 0, 0,
         NULL},
        {"tcp", VG_CLI_STRING, &f->tcp, "HOST:PORT", "target a running server's TCP ingest", 0, 0,
         NULL},
        {"path", VG_CLI_STRING, &o->path, "PATH", "HTTP request path (default /v1/score)", 0, 0,
         NULL},
        {"connections", VG_CLI_UINT, &o->conns, "C", "connections (default 64 http, 4 tcp)", 1,
         10000, &f->conns_seen},
        {"window", VG_CLI_UINT, &o->window, "W",
         "TCP requests in flight per connection (default 256)", 1, 65536, NULL},
        {"threads", VG_CLI_UINT, &o->threads, "N", "client loops, one thread each (default 1)", 1,
         MAX_THREADS, NULL},
        {"duration", VG_CLI_DOUBLE, &o->duration_s, "S", "measured seconds per run (default 10)",
         0.1, 3600, NULL},
        {"warmup", VG_CLI_DOUBLE, &o->warmup_s, "S",
         "unmeasured seconds before each run (default 2)", 0, 600, NULL},
        {"runs", VG_CLI_UINT, &f->runs, "N", "runs (median reported, default 1)", 1, MAX_RUNS,
         NULL},
        {"accounts", VG_CLI_UINT, &o->accounts, "N", "distinct account ids (default 100000)", 1,
         1e9, NULL},
        {"merchants", VG_CLI_UINT, &o->merchants, "N", "distinct merchant ids (default 10000)", 1,
         1e9, NULL},
        {"random-ids", VG_CLI_BOOL, &o->random_ids, NULL,
         "random transaction ids (32 hex digits, like a UUID's) instead of counters after a "
         "per-connection prefix: each one lands on its own page of the index",
         0, 0, NULL},
        {"baseline", VG_CLI_STRING, &f->baseline, "BIN",
         "compare with another vigil binary: each run starts a fresh server of it and of this "
         "build, in alternating order, and the report gives both and their ratio",
         0, 0, NULL},
    };
    const vg_cli_t cli = {
        "vigil bench ingest",
        "[flags] [-- serve flags]",
        "Load generator: drives a vigil server over HTTP (POST, keep-alive, one request in\n"
        "flight per connection) or TCP ingest (pipelined frames), closed loop or open loop at a\n"
        "fixed rate (latency from the intended send time), and reports requests/s and latency.\n"
        "Without --http/--tcp it starts `vigil serve` itself on a temporary data directory with\n"
        "--durability fsync plus the flags after --, and reports the server's RSS at the end.",
        opts,
        VG_ARRAY_LEN(opts),
        0,
        0};
    int cli_argc = argc;
    for (int i = 1; i < argc && cli_argc == argc; i++)
        cli_argc = strcmp(argv[i], "--") == 0 ? i : argc;
    int rc = vg_cli_parse(&cli, cli_argc, argv, NULL, NULL);
    if (rc != 0)
        return rc;
    int skip = cli_argc < argc ? 1 : 0;
    f->extra = argv + cli_argc + skip;
    f->nextra = (size_t)(argc - cli_argc - skip);
    const char *why = check_flags(o, f);
    if (why) {
        fprintf(stderr, "vigil bench ingest: %s (see vigil bench ingest --help)\n", why);
        return VG_EUSAGE;
    }
    return 0;
}

/* ---- runs ---- */

static void print_header(const vg_bi_opts_t *o, uint64_t runs, const char *where)
{
    printf("# vigil bench ingest: %s%s %s loop, %llu connections", o->tcp ? "tcp" : "http POST ",
           o->tcp ? "" : o->path, o->open ? "open" : "closed", (unsigned long long)o->conns);
    if (o->tcp)
        printf(" x window %llu", (unsigned long long)o->window);
    if (o->open)
        printf(", rate %.0f/s", o->rate);
    printf(", %llu thread%s, %.1f s (+%.1f s warm-up) x %llu run%s, %s\n",
           (unsigned long long)o->threads, o->threads > 1 ? "s" : "", o->duration_s, o->warmup_s,
           (unsigned long long)runs, runs > 1 ? "s" : "", where);
    fflush(stdout);
}

/* Run `run` against `server` (its pid, for its CPU; <= 0: not ours), printed, its figures at
 * fig[run]. 0, or the failure. */
static int one_run(const vg_bi_opts_t *o, unsigned run, const char *label, pid_t server,
                   struct figures *fig)
{
    vg_bi_stats_t *st = vg_xcalloc(1, sizeof(*st));
    double cpu0 = server > 0 ? process_cpu_us(server) : -1;
    double self0 = process_cpu_us(getpid());
    struct machine_ticks m0 = machine_ticks();
    int rc = run_once(o, run, st);
    struct machine_ticks m1 = machine_ticks();
    double cpu1 = server > 0 ? process_cpu_us(server) : -1;
    double self1 = process_cpu_us(getpid());
    /* A shared virtual machine's speed moves with its neighbours': say how much was taken. */
    double mt = (double)(m1.total - m0.total);
    bool mok = m0.ok && m1.ok && m1.total > m0.total;
    fig->steal[run] = mok ? 100.0 * (double)(m1.steal - m0.steal) / mt : -1;
    fig->idle[run] = mok ? 100.0 * (double)(m1.idle - m0.idle) / mt : -1;
    /* Over the whole run (warm-up included), so per request sent (all are answered). */
    uint64_t answered = st->sent - st->unanswered - st->lost;
    fig->server_us[run] =
        cpu0 >= 0 && cpu1 >= 0 && answered ? (cpu1 - cpu0) / (double)answered : -1;
    fig->client_us[run] =
        self0 >= 0 && self1 >= 0 && answered ? (self1 - self0) / (double)answered : -1;
    if (rc == 0)
        report_run(o, run, label, st, fig);
    if (rc == 0 && st->in_window == 0) {
        fprintf(stderr, "vigil bench ingest: no replies in the measured window\n");
        rc = VG_ESTOPPED;
    }
    free(st);
    return rc;
}

/* "median of N runs: ..." and the CPU medians, for `done` runs in fig (sorted in place). */
static void report_medians(const char *label, unsigned done, struct figures *fig, bool cpu)
{
    char b[32];
    printf("%s%s%u run%s: %s req/s  p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms\n",
           label ? label : "", label ? ", median of " : "median of ", done, done > 1 ? "s" : "",
           vg_bench_fmt(vg_bench_median(fig->rate, done), b, sizeof(b)),
           vg_bench_median(fig->p50, done), vg_bench_median(fig->p99, done),
           vg_bench_median(fig->p999, done), vg_bench_median(fig->max, done));
    if (cpu)
        printf("%s%sCPU per answered request (median): server %.2f us, client %.2f us\n",
               label ? label : "", label ? ", " : "", vg_bench_median(fig->server_us, done),
               vg_bench_median(fig->client_us, done));
    if (fig->steal[0] >= 0)
        printf("%s%smachine (median): steal %.1f%%, idle %.1f%% of its CPU time\n",
               label ? label : "", label ? ", " : "", vg_bench_median(fig->steal, done),
               vg_bench_median(fig->idle, done));
}

/* Every run, one line each, then the medians. 0, or the first failure. */
static int run_all(const vg_bi_opts_t *o, unsigned runs, pid_t server)
{
    struct figures fig = {0};
    unsigned done = 0;
    int rc = 0;
    for (unsigned r = 0; r < runs && rc == 0; r++) {
        rc = one_run(o, r, NULL, server, &fig);
        done += rc == 0;
    }
    if (done > 0)
        report_medians(NULL, done, &fig, server > 0);
    return rc;
}

/* --baseline: per run, a fresh server of each binary (the order alternates, so that a machine
 * getting faster or slower favours neither), then both sides' medians and their ratio. On a
 * shared machine whose speed drifts from minute to minute this compares two builds better
 * than runs made at different times. */
static int run_compare(vg_bi_opts_t *o, const struct flags *f)
{
    struct {
        const char *label;
        const char *exe;
        struct figures fig;
    } side[2] = {{.label = "baseline", .exe = f->baseline}, {.label = "this build"}};
    char where[PATH_MAX + 64];
    snprintf(where, sizeof(where), "a fresh server per run of this build and of %s", f->baseline);
    print_header(o, f->runs, where);
    unsigned done = 0;
    int rc = 0;
    for (unsigned r = 0; r < f->runs && rc == 0; r++) {
        for (unsigned k = 0; k < 2 && rc == 0; k++) {
            unsigned which = r % 2 ? 1 - k : k;
            struct server s = {.exe = side[which].exe, .pid = -1, .out_fd = -1};
            rc = server_start(&s, f->extra, f->nextra);
            if (rc == 0)
                rc = set_addr(o, s.host, o->tcp ? s.tcp_port : s.http_port);
            if (rc == 0)
                rc = one_run(o, r, side[which].label, s.pid, &side[which].fig);
            server_stop(&s);
        }
        done += rc == 0;
    }
    if (done == 0)
        return rc;
    unsigned less = 0; /* run by run, before the medians sort the figures */
    double rate_ratio[MAX_RUNS];
    double cpu_ratio[MAX_RUNS];
    unsigned paired = 0;
    for (unsigned r = 0; r < done; r++) {
        less += side[1].fig.server_us[r] < side[0].fig.server_us[r];
        if (side[0].fig.rate[r] > 0 && side[0].fig.server_us[r] > 0 &&
            side[1].fig.server_us[r] > 0) {
            rate_ratio[paired] = side[1].fig.rate[r] / side[0].fig.rate[r];
            cpu_ratio[paired++] = side[1].fig.server_us[r] / side[0].fig.server_us[r];
        }
    }
    for (unsigned i = 0; i < 2; i++)
        report_medians(side[i].label, done, &side[i].fig, true);
    double rate0 = vg_bench_median(side[0].fig.rate, done);
    double cpu0 = vg_bench_median(side[0].fig.server_us, done);
    printf("this build / baseline: rate %.3f, server CPU per request %.3f; less server CPU in %u "
           "of %u runs\n",
           rate0 > 0 ? vg_bench_median(side[1].fig.rate, done) / rate0 : 0.0,
           cpu0 > 0 ? vg_bench_median(side[1].fig.server_us, done) / cpu0 : 0.0, less, done);
    /* A run and its pair ran a minute apart at most: when the machine's speed drifts across
     * the whole set, the median of the pairs' ratios follows the builds, not the drift. */
    if (paired)
        printf("pair by pair (median of %u ratios): rate %.3f, server CPU per request %.3f\n",
               paired, vg_bench_median(rate_ratio, paired), vg_bench_median(cpu_ratio, paired));
    fflush(stdout);
    return rc;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    w->rc = vg__bi_client_run(w->o, w->run, w->index, &w->st);
    return NULL;
}

static int run_once(const vg_bi_opts_t *o, unsigned run, vg_bi_stats_t *total)
{
    size_t n = (size_t)o->threads;
    struct worker *w = vg_xcalloc(n, sizeof(*w));
    for (size_t i = 0; i < n; i++) {
        w[i].o = o;
        w[i].run = run;
        w[i].index = (unsigned)i;
        int rc = pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
        VG_CHECK(rc == 0);
    }
    int rc = 0;
    vg_histogram_init(&total->hist);
    for (size_t i = 0; i < n; i++) {
        (void)pthread_join(w[i].thread, NULL); /* cannot fail: joinable, joined once */
        if (w[i].rc != 0 && rc == 0)
            rc = w[i].rc;
        vg__bi_stats_merge(total, &w[i].st);
    }
    free(w);
    if (rc != 0)
        fprintf(stderr, "vigil bench ingest: cannot connect to %s: %s\n", o->host_header,
                vg_strerror(rc));
    return rc;
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static void report_run(const vg_bi_opts_t *o, unsigned run, const char *label,
                       const vg_bi_stats_t *st, struct figures *fig)
{
    char b[6][32];
    double rate = (double)st->in_window / o->duration_s;
    fig->rate[run] = rate;
    fig->p50[run] = ms(vg_histogram_quantile(&st->hist, 0.5));
    fig->p99[run] = ms(vg_histogram_quantile(&st->hist, 0.99));
    fig->p999[run] = ms(vg_histogram_quantile(&st->hist, 0.999));
    fig->max[run] = ms(st->hist.max);
    printf("run %u%s%s%s: %s req/s", run + 1, label ? " (" : "", label ? label : "",
           label ? ")" : "", vg_bench_fmt(rate, b[0], sizeof(b[0])));
    if (o->open)
        printf(" (target %s)", vg_bench_fmt(o->rate, b[1], sizeof(b[1])));
    printf("  p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms  |  sent %s", fig->p50[run],
           fig->p99[run], fig->p999[run], fig->max[run],
           vg_bench_fmt((double)st->sent, b[2], sizeof(b[2])));
    if (o->tcp)
        printf(", decisions %s (%.1f%% flagged), accepted %s, errors %s",
               vg_bench_fmt((double)st->ok, b[3], sizeof(b[3])),
               st->ok ? 100.0 * (double)st->flagged / (double)st->ok : 0.0,
               vg_bench_fmt((double)st->accepted, b[4], sizeof(b[4])),
               vg_bench_fmt((double)st->other, b[5], sizeof(b[5])));
    else
        printf(", 2xx %s, 429 %s, other %s", vg_bench_fmt((double)st->ok, b[3], sizeof(b[3])),
               vg_bench_fmt((double)st->overload, b[4], sizeof(b[4])),
               vg_bench_fmt((double)st->other, b[5], sizeof(b[5])));
    if (fig->server_us[run] >= 0)
        printf(", CPU per request: server %.2f us, client %.2f us", fig->server_us[run],
               fig->client_us[run]);
    if (fig->steal[run] >= 0)
        printf(", machine: steal %.1f%%, idle %.1f%%", fig->steal[run], fig->idle[run]);
    printf("\n");
    if (st->unanswered || st->unsent || st->lost || st->conn_errors)
        printf("  unanswered %llu, unsent (open loop) %llu, lost %llu, failed connections %llu "
               "(first: %s)\n",
               (unsigned long long)st->unanswered, (unsigned long long)st->unsent,
               (unsigned long long)st->lost, (unsigned long long)st->conn_errors,
               st->first_error ? vg_strerror(st->first_error) : "-");
    for (int code = 0; !o->tcp && st->other && code < VG_BI_MAX_STATUS; code++) {
        if (st->status[code] && code != 429 && (code < 200 || code >= 300))
            printf("  status %d: %llu\n", code, (unsigned long long)st->status[code]);
    }
    for (size_t i = 0; i < st->ncodes; i++)
        printf("  error %s: %llu\n", st->codes[i].code, (unsigned long long)st->codes[i].n);
    if (st->codes_dropped)
        printf("  other error codes: %llu\n", (unsigned long long)st->codes_dropped);
    uint64_t answers = st->ok + st->accepted + st->overload + st->other;
    if (st->other * 100 > answers) /* an error is answered faster than a decision */
        printf("  warning: %.1f%% of the answers were errors, and the rate counts them: it is "
               "not a rate of decisions\n",
               100.0 * (double)st->other / (double)answers);
    fflush(stdout);
}

/* ---- addresses ---- */

/* "HOST:PORT" or "[V6]:PORT" (the first n bytes of s). */
static int parse_hostport(const char *s, size_t n, char *host, size_t hlen, int *port)
{
    const char *colon = NULL;
    const char *h = s;
    size_t hl = 0;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close || close + 1 >= s + n || close[1] != ':')
            return VG_EINVAL;
        h = s + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        for (size_t i = n; i > 0 && !colon; i--)
            colon = s[i - 1] == ':' ? s + i - 1 : NULL;
        if (!colon)
            return VG_EINVAL;
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= hlen)
        return VG_EINVAL;
    int p = 0;
    const char *end = s + n;
    for (const char *d = colon + 1; d < end; d++) {
        if (*d < '0' || *d > '9' || p > 65535)
            return VG_EINVAL;
        p = p * 10 + (*d - '0');
    }
    if (colon + 1 == end || p < 1 || p > 65535)
        return VG_EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = p;
    return 0;
}

static int set_addr(vg_bi_opts_t *o, const char *host, int port)
{
    /* A server bound to every address is reached on loopback, never elsewhere. */
    if (strcmp(host, "0.0.0.0") == 0)
        host = "127.0.0.1";
    else if (strcmp(host, "::") == 0)
        host = "::1";
    memset(&o->addr, 0, sizeof(o->addr));
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&o->addr) == 0) {
        snprintf(o->host_header, sizeof(o->host_header), "%s:%d", host, port);
        return 0;
    }
    if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)&o->addr) == 0) {
        snprintf(o->host_header, sizeof(o->host_header), "[%s]:%d", host, port);
        return 0;
    }
    return VG_EINVAL;
}

/* ---- the server process ---- */

static void print_server_stderr(const struct server *s)
{
    char *buf = NULL;
    size_t len = 0;
    if (vg_io_read_file(s->err_path, &buf, &len) != 0)
        return;
    size_t from = len > 4000 ? len - 4000 : 0;
    fprintf(stderr, "--- server stderr (%s) ---\n%s\n---\n", s->err_path, buf + from);
    free(buf);
}

static pid_t spawn(struct server *s, char **extra, size_t nextra, int *out_fd)
{
    char data[PATH_MAX + 8];
    snprintf(data, sizeof(data), "%s/data", s->dir);
    char *args[16 + MAX_EXTRA] = {"vigil", "serve",      "--data", data,           "--http-port",
                                  "0",     "--tcp-port", "0",      "--durability", "fsync"};
    size_t na = 10;
    for (size_t i = 0; i < nextra; i++)
        args[na++] = extra[i];
    args[na] = NULL;
    int pipefd[2];
    if (pipe(pipefd) < 0)
        return -1;
    (void)fcntl(pipefd[0], F_SETFD, FD_CLOEXEC); /* only this end: the child writes to the other */
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        int errfd = open(s->err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        dup2(pipefd[1], STDOUT_FILENO);
        if (errfd >= 0)
            dup2(errfd, STDERR_FILENO);
        execv(s->exe ? s->exe : "/proc/self/exe", args);
        _exit(127);
    }
    int saved = errno;
    (void)close(pipefd[1]); /* the child's end: nothing buffered */
    if (pid < 0) {
        (void)close(pipefd[0]);
        errno = saved;
        return -1;
    }
    *out_fd = pipefd[0];
    return pid;
}

static int server_start(struct server *s, char **extra, size_t nextra)
{
    int rc = vg_bench_tmpdir("ingest", s->dir, sizeof(s->dir));
    if (rc != 0) {
        s->dir[0] = '\0'; /* nothing to remove */
        return rc;
    }
    snprintf(s->err_path, sizeof(s->err_path), "%s/server.stderr", s->dir);
    s->pid = spawn(s, extra, nextra, &s->out_fd);
    if (s->pid < 0) {
        rc = -errno;
        fprintf(stderr, "vigil bench ingest: cannot start the server: %s\n", vg_strerror(rc));
        return rc;
    }
    uint64_t deadline = vg_clock_mono_ns() + (uint64_t)START_TIMEOUT_MS * 1000000ull;
    char line[1024];
    while ((rc = read_line(s, line, sizeof(line), deadline)) == 0) {
        if (strncmp(line, SERVING, strlen(SERVING)) == 0)
            break;
    }
    const char *h = rc == 0 ? strstr(line, "http=") : NULL;
    const char *t = rc == 0 ? strstr(line, "tcp=") : NULL;
    char thost[64];
    if (rc == 0 &&
        (!h || !t ||
         parse_hostport(h + 5, strcspn(h + 5, " "), s->host, sizeof(s->host), &s->http_port) != 0 ||
         parse_hostport(t + 4, strcspn(t + 4, " "), thost, sizeof(thost), &s->tcp_port) != 0))
        rc = VG_EINVAL;
    if (rc != 0) {
        fprintf(stderr, "vigil bench ingest: the server did not report its ports: %s\n",
                vg_strerror(rc));
        print_server_stderr(s);
    }
    return rc;
}

/* The next stdout line of the server. 0, -ETIMEDOUT, -EPIPE (it exited) or -errno. */
static int read_line(struct server *s, char *line, size_t len, uint64_t deadline_ns)
{
    for (;;) {
        char *nl = memchr(s->buf, '\n', s->len);
        if (nl) {
            size_t n = (size_t)(nl - s->buf);
            size_t c = n < len - 1 ? n : len - 1;
            memcpy(line, s->buf, c);
            line[c] = '\0';
            memmove(s->buf, nl + 1, s->len - n - 1);
            s->len -= n + 1;
            return 0;
        }
        uint64_t now = vg_clock_mono_ns();
        if (now >= deadline_ns)
            return -ETIMEDOUT;
        struct pollfd pfd = {.fd = s->out_fd, .events = POLLIN};
        int r = poll(&pfd, 1, (int)((deadline_ns - now) / 1000000ull) + 1);
        if (r < 0 && errno != EINTR)
            return -errno;
        if (r <= 0)
            continue;
        if (s->len == sizeof(s->buf))
            s->len = 0; /* an absurdly long line: drop it */
        ssize_t got = read(s->out_fd, s->buf + s->len, sizeof(s->buf) - s->len);
        if (got == 0)
            return -EPIPE;
        if (got < 0 && errno != EINTR)
            return -errno;
        if (got > 0)
            s->len += (size_t)got;
    }
}

static void report_server(const struct server *s)
{
    long hwm = vg_io_proc_status_kb(s->pid, "VmHWM:");
    long rss = vg_io_proc_status_kb(s->pid, "VmRSS:");
    if (hwm < 0 || rss < 0) {
        printf("server rss: unavailable\n");
        return;
    }
    printf("server rss: VmHWM %.1f MiB  VmRSS %.1f MiB  (pid %d)\n", (double)hwm / 1024.0,
           (double)rss / 1024.0, (int)s->pid);
}

static void server_stop(struct server *s)
{
    if (s->pid > 0) {
        (void)kill(s->pid, SIGTERM); /* only fails if it is already gone: waitpid tells */
        uint64_t deadline = vg_clock_mono_ns() + (uint64_t)STOP_TIMEOUT_MS * 1000000ull;
        int status = 0;
        pid_t r = 0;
        while ((r = waitpid(s->pid, &status, WNOHANG)) == 0 && vg_clock_mono_ns() < deadline) {
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
        }
        if (r == 0) {
            fprintf(stderr, "vigil bench ingest: server pid %d ignored SIGTERM for %d s: killed\n",
                    (int)s->pid, STOP_TIMEOUT_MS / 1000);
            (void)kill(s->pid, SIGKILL); /* reaped just below */
            r = waitpid(s->pid, &status, 0);
        }
        if (r == s->pid && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
            fprintf(stderr, "vigil bench ingest: server exited with %s %d\n",
                    WIFEXITED(status) ? "status" : "signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        s->pid = -1;
    }
    if (s->out_fd >= 0)
        (void)close(s->out_fd); /* a pipe we only read */
    s->out_fd = -1;
    if (s->dir[0] && vg_io_remove_tree(s->dir) != 0)
        fprintf(stderr, "vigil bench ingest: cannot remove %s\n", s->dir);
    s->dir[0] = '\0';
}
