/* SPDX-License-Identifier: MIT */
/*
 * `vigil serve` and `vigil demo`: load the configuration (flag > env > file > default), take
 * the data directory's lock, start the runtime's loops, the HTTP API actor and the TCP ingest
 * listener, print where they listen, then wait for SIGINT/SIGTERM and shut down in order:
 * not ready, stop the listeners, drain every mailbox, stop the actors and loops, free.
 * Thread: main (the signal waiter); the actors run on the runtime's loops.
 */
#define VG_LOG_MODULE "serve"
#include "actors/api.h"
#include "actors/commands.h"
#include "actors/ingest.h"
#include "actors/partition.h"
#include "actors/tcp.h"
#include "config/config.h"
#include "models/xgb.h"
#include "runtime/actor.h"
#include "runtime/alloc.h"
#include "runtime/cli.h"
#include "runtime/clock.h"
#include "runtime/error.h"
#include "runtime/event.h"
#include "runtime/io.h"
#include "runtime/logging.h"
#include "storage/datadir.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define FD_LIMIT_MAX ((rlim_t)1 << 20)

/* Every connection is a descriptor, and the usual soft limit (1024, also systemd's default)
 * is reached long before the hard one (524288 under systemd): running out of them leaves new
 * clients waiting (HTTP) or turned away (TCP). So the soft limit is raised to the hard one, up
 * to 2^20, as Go's runtime and nginx do; never lowered. Logged, for whoever meets EMFILE. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t was = rl.rlim_cur;
    rlim_t want = rl.rlim_max > FD_LIMIT_MAX ? FD_LIMIT_MAX : rl.rlim_max;
    if (want > rl.rlim_cur) {
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            rl.rlim_cur = was;
    }
    VG_LOG_INFO("file descriptors limit=%llu was=%llu hard=%llu", (unsigned long long)rl.rlim_cur,
                (unsigned long long)was, (unsigned long long)rl.rlim_max);
}

extern char **environ;

struct serve_flags {
    const char *config;
    const char *data;
    const char *http_port;
    const char *tcp_port;
    const char *bind;
    const char *workers;
    const char *log_level;
    const char *partitions;
    const char *durability;
    const char *model;
    bool print_config;
};

struct server {
    vg_config_t cfg;
    vg_datadir_t *dd;
    vg_runtime_t *rt;
    vg_api_t *api;
    vg_tcp_ingest_t *tcp;
    int stop_sig;                /* SIGINT or SIGTERM taken while starting: stop, not a failure */
    vg_tcp_ingest_t **tcp_hosts; /* one per loop after the first */
    vg_api_t **api_peers;        /* one per loop after the first, with its ingest */
    vg_ingest_t **ingest_peers;
    unsigned ntcp_hosts;
    vg_tcp_ingest_opts_t topts;
    vg_http_budget_t body_budget; /* every API's request bodies (ingest.max_body_memory) */
    int http_port;
    int tcp_port;
    int start_rc;
    vg_partition_t **parts;
    unsigned nparts;
    vg_ingest_t *ingest;
    int ingest_rc;
    unsigned opening; /* the partition or peer a vg_loop_call_wait is opening */
    bool new_data;    /* no partition count recorded yet: recorded once the partitions exist */
    vg_model_t *model;
    double threshold_medium;
    double threshold_high;
};

/* Applies the flags that were given, in a fixed order, through the config's own validation. */
static int apply_flags(vg_config_t *cfg, const struct serve_flags *f, char *err, size_t errlen)
{
    const struct {
        const char *value;
        const char *key;
        const char *flag;
    } map[] = {
        {f->data, "server.data_dir", "--data"},
        {f->http_port, "server.http_port", "--http-port"},
        {f->tcp_port, "server.tcp_port", "--tcp-port"},
        {f->bind, "server.bind", "--bind"},
        {f->workers, "server.workers", "--workers"},
        {f->log_level, "server.log_level", "--log-level"},
        {f->partitions, "log.partitions", "--partitions"},
        {f->durability, "log.durability", "--durability"},
        {f->model, "scoring.model", "--model"},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(map); i++) {
        if (!map[i].value)
            continue;
        int rc = vg_config_set(cfg, map[i].key, map[i].value, VG_CONFIG_SRC_FLAG, map[i].flag, err,
                               errlen);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int load_config(vg_config_t *cfg, const struct serve_flags *f)
{
    char err[512];
    vg_config_init_defaults(cfg);
    int rc = 0;
    if (f->config)
        rc = vg_config_load_file(cfg, f->config, err, sizeof(err));
    if (rc == 0)
        rc = vg_config_load_env(cfg, environ, err, sizeof(err));
    if (rc == 0)
        rc = apply_flags(cfg, f, err, sizeof(err));
    if (rc == 0)
        rc = vg_config_validate(cfg, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "vigil: %s\n", err);
    return rc;
}

/* Says which setting chose a port that could not be bound. */
static void report_bind_failure(const vg_config_t *cfg, const char *what, const char *key, int port,
                                int rc)
{
    char src[256];
    if (rc == -EADDRNOTAVAIL)
        key = "server.bind"; /* not this machine's address: the port is not at fault */
    vg_config_source(cfg, key, src, sizeof(src));
    fprintf(stderr, "vigil: cannot listen for %s on %s:%d: %s (%s from %s)\n", what,
            cfg->server.bind, port, vg_strerror(rc), key, src);
}

static void start_listeners(void *arg)
{
    struct server *s = arg;
    vg_loop_t *loop = vg_runtime_loop(s->rt, 0);
    vg_api_opts_t api_opts = {
        .bind = s->cfg.server.bind,
        .port = (int)s->cfg.server.http_port, /* 0..65535, checked by config */
        .max_body_bytes = s->cfg.ingest.max_body_bytes,
        .body_budget = &s->body_budget,
    };
    s->body_budget.limit = s->cfg.ingest.max_body_memory;
    int rc = vg_api_new(loop, &api_opts, &s->api);
    if (rc != 0) {
        report_bind_failure(&s->cfg, "HTTP", "server.http_port", (int)s->cfg.server.http_port, rc);
        s->start_rc = rc;
        return;
    }
    s->http_port = vg_api_port(s->api);
    rc = vg_tcp_ingest_new(loop, s->cfg.server.bind, (int)s->cfg.server.tcp_port, &s->tcp);
    if (rc != 0) {
        report_bind_failure(&s->cfg, "TCP ingest", "server.tcp_port", (int)s->cfg.server.tcp_port,
                            rc);
        s->start_rc = rc;
        return;
    }
    s->tcp_port = vg_tcp_ingest_port(s->tcp);
}

/* Partitions round-robin over the loops. Measured on 2 loops (BENCHMARKS.md): keeping them
 * off loop 0 (the API's and TCP's) made TCP ingest slower (137k vs 160k tx/s) and HTTP no
 * faster, since the apply work then all lands on one core. */
static vg_loop_t *partition_loop(struct server *s, unsigned i)
{
    return vg_runtime_loop(s->rt, i % vg_runtime_nloops(s->rt));
}

static void start_partition(void *arg)
{
    struct server *s = arg;
    const vg_config_t *c = &s->cfg;
    vg_partition_opts_t o = {
        .data_dir = c->server.data_dir,
        .index = s->opening,
        .count = s->nparts,
        .log =
            {
                .segment_bytes = (uint64_t)c->log.segment_bytes,
                .segment_age_ms = (uint64_t)c->log.segment_age_s * 1000u,
                .index_interval_bytes = (uint32_t)c->log.index_interval_bytes,
                .retention_bytes = (uint64_t)c->log.retention_bytes,
                .retention_age_ms = (uint64_t)c->log.retention_age_s * 1000u,
                /* Zeros ahead, so a group commit's fdatasync need not write the segment's
                 * inode: about half its time and CPU on ext4 (BENCHMARKS.md). Without
                 * fsyncs they would only be written for nothing. */
                .prealloc_bytes = (enum vg_gcommit_mode)c->log.durability == VG_GCOMMIT_FSYNC
                                      ? (uint64_t)1 << 20
                                      : 0,
            },
        .state = {.map_size = (uint64_t)c->state.map_size, .writemap = c->state.writemap},
        .commit =
            {
                /* log.durability's values are listed in vg_gcommit_mode's order. */
                .mode = (enum vg_gcommit_mode)c->log.durability,
                .max_bytes = (uint64_t)c->log.group_commit_bytes,
                .max_us = (uint32_t)c->log.group_commit_us,
            },
        .state_sync_ms = (uint64_t)c->state.sync_interval_ms,
        .model = s->model,
        .threshold_medium = s->threshold_medium,
        .threshold_high = s->threshold_high,
        .batch_max = (size_t)c->scoring.batch_max,
        .mailbox = (uint32_t)c->runtime.mailbox_capacity,
        .recent_ids = (uint64_t)c->ingest.recent_ids,
        .pending_label_ttl_ms = (int64_t)c->state.pending_label_ttl_days * 86400000,
        .max_waiting_labels = (uint64_t)c->state.max_waiting_labels,
        .account_ttl_ms = (int64_t)c->state.account_ttl_days * 86400000,
    };
    vg_loop_t *loop = partition_loop(s, s->opening);
    /* A partition that cannot open is kept, stopped, and reported by /readyz. */
    (void)vg_partition_new(loop, &o, &s->parts[s->opening]);
}

/* Every partition is open: each learns its peers (merchant owners) and replays its log, on
 * its own loop, one after another. A partition that cannot is stopped and named by /readyz. */
static void catch_up_partition(void *arg)
{
    struct server *s = arg;
    (void)vg_partition_start(s->parts[s->opening], s->parts, s->nparts);
}

/* Then each refills its filter of recent ids, on its own loop, all at once. */
struct refill {
    vg_partition_t *p;
    vg_event_t done;
};

static void refill_partition(void *arg)
{
    struct refill *r = arg;
    (void)vg_partition_refill_recent(r->p); /* one that cannot is stopped, named by /readyz */
    vg_event_set(&r->done);
}

static void refill_partitions(struct server *s)
{
    struct refill *r = vg_xcalloc(s->nparts, sizeof(*r));
    for (unsigned i = 0; i < s->nparts; i++) {
        r[i].p = s->parts[i];
        vg_event_init(&r[i].done);
        if (vg_loop_call(partition_loop(s, i), refill_partition, &r[i]) != 0)
            vg_event_set(&r[i].done); /* a loop that is gone: nothing to wait for */
    }
    for (unsigned i = 0; i < s->nparts; i++) {
        vg_event_wait(&r[i].done);
        vg_event_close(&r[i].done);
    }
    free(r);
}

/* /readyz: every partition healthy. Thread: the API's loop. */
static int partitions_health(void *ctx, char *why, size_t len)
{
    struct server *s = ctx;
    int first = 0;
    size_t used = 0;
    why[0] = '\0';
    for (unsigned i = 0; i < s->nparts; i++) {
        char one[512];
        int rc = vg_partition_status(s->parts[i], one, sizeof(one));
        if (rc == 0)
            continue;
        first = first ? first : rc;
        int n = snprintf(why + used, len - used, "%s%s", used ? "; " : "", one);
        if (n > 0 && (size_t)n < len - used)
            used += (size_t)n;
    }
    return first;
}

static void start_ingest(void *arg)
{
    struct server *s = arg;
    vg_tx_limits_t lim = {
        .max_future_skew_ms = s->cfg.ingest.max_future_skew_s * 1000,
        .max_age_ms = s->cfg.ingest.max_event_age_days * 86400000,
        .max_batch = (size_t)s->cfg.ingest.max_batch,
    };
    s->ingest_rc =
        vg_ingest_new(vg_runtime_loop(s->rt, 0), s->api, s->parts, s->nparts, &lim, &s->ingest);
    s->topts = (vg_tcp_ingest_opts_t){
        .parts = s->parts,
        .nparts = s->nparts,
        .limits = lim,
        .max_frame = (size_t)s->cfg.ingest.max_frame_bytes,
    };
    vg_tcp_ingest_attach(s->tcp, &s->topts); /* the TCP listener lives on loop 0 too */
}

/* Loop 1 + opening gets a TCP host and an HTTP API peer with its own ingest: they
 * serve the connections the listeners on loop 0 hand them. */
static void start_peer(void *arg)
{
    struct server *s = arg;
    unsigned i = s->opening;
    vg_loop_t *loop = vg_runtime_loop(s->rt, i + 1);
    s->tcp_hosts[i] = vg_tcp_ingest_new_host(loop);
    vg_tcp_ingest_attach(s->tcp_hosts[i], &s->topts);
    vg_api_opts_t api_opts = {
        .max_body_bytes = s->cfg.ingest.max_body_bytes,
        .no_listener = true,
        .body_budget = &s->body_budget,
    };
    s->ingest_rc = vg_api_new(loop, &api_opts, &s->api_peers[i]);
    if (s->ingest_rc == 0)
        s->ingest_rc = vg_ingest_new(loop, s->api_peers[i], s->parts, s->nparts, &s->topts.limits,
                                     &s->ingest_peers[i]);
    if (s->api_peers[i])
        vg_api_set_health(s->api_peers[i], partitions_health, s);
}

static void share_loops(void *arg)
{
    struct server *s = arg;
    vg_tcp_ingest_share(s->tcp, s->tcp_hosts, s->ntcp_hosts);
    vg_api_share(s->api, s->api_peers, s->ntcp_hosts);
}

/* Ingest on every loop: the listeners (loop 0) hand connections round-robin to peers on the
 * other loops, so parsing and answering requests uses every core. */
static int spread_loops(struct server *s)
{
    s->ntcp_hosts = vg_runtime_nloops(s->rt) - 1;
    size_t n = s->ntcp_hosts ? s->ntcp_hosts : 1;
    s->tcp_hosts = vg_xcalloc(n, sizeof(vg_tcp_ingest_t *));
    s->api_peers = vg_xcalloc(n, sizeof(vg_api_t *));
    s->ingest_peers = vg_xcalloc(n, sizeof(vg_ingest_t *));
    for (unsigned i = 0; i < s->ntcp_hosts; i++) {
        s->opening = i;
        int rc = vg_loop_call_wait(vg_runtime_loop(s->rt, i + 1), start_peer, s);
        if (rc == 0)
            rc = s->ingest_rc;
        if (rc != 0)
            return rc;
    }
    return vg_loop_call_wait(vg_runtime_loop(s->rt, 0), share_loops, s);
}

/* The signals that stop the engine: blocked in every thread, taken by the main one. */
static void stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
}

/* SIGINT or SIGTERM, taken if one is pending (the start-up checks between its steps), else
 * 0. Until 2026-12-03 a SIGTERM during a long start waited until the engine was ready. */
static int stop_requested(struct server *s)
{
    sigset_t set;
    stop_signals(&set);
    const struct timespec none = {0, 0};
    int sig = sigtimedwait(&set, NULL, &none);
    if (sig > 0)
        s->stop_sig = sig;
    return sig > 0 ? sig : 0;
}

static int open_partitions(struct server *s)
{
    s->nparts = (unsigned)s->cfg.log.partitions;
    s->parts = vg_xcalloc(s->nparts, sizeof(vg_partition_t *));
    for (unsigned i = 0; i < s->nparts; i++) {
        s->opening = i;
        if (stop_requested(s))
            return -ECANCELED;
        int rc = vg_loop_call_wait(partition_loop(s, i), start_partition, s);
        if (rc != 0)
            return rc;
        /* A log another process writes is not damage to serve around: it is a second engine
         * on this directory (its vigil.lock deleted), and this one must not start. */
        char why[512];
        if (vg_partition_status(s->parts[i], why, sizeof(why)) == VG_EBUSY) {
            fprintf(stderr, "vigil: %s\n", why);
            return VG_EBUSY;
        }
    }
    for (unsigned i = 0; i < s->nparts; i++) {
        s->opening = i;
        if (stop_requested(s))
            return -ECANCELED;
        int rc = vg_loop_call_wait(partition_loop(s, i), catch_up_partition, s);
        if (rc != 0)
            return rc;
    }
    refill_partitions(s);
    vg_api_set_health(s->api, partitions_health, s);
    /* Last before ingest: from here on records can be accepted, and they are routed by it. */
    if (s->new_data) {
        char missing[1024];
        int rc = vg_datadir_record_partitions(s->dd, s->nparts, missing, sizeof(missing));
        if (rc != 0) {
            fprintf(stderr, "vigil: cannot record the partition count in %s: %s%s%s\n",
                    s->cfg.server.data_dir, vg_strerror(rc), rc == -ENOENT ? ": " : "",
                    rc == -ENOENT ? missing : "");
            return rc;
        }
    }
    int rc = vg_loop_call_wait(vg_runtime_loop(s->rt, 0), start_ingest, s);
    if (rc == 0)
        rc = s->ingest_rc;
    return rc ? rc : spread_loops(s);
}

static int wait_for_signal(void)
{
    sigset_t set;
    stop_signals(&set);
    int sig = 0;
    while (sigwait(&set, &sig) != 0)
        ;
    return sig;
}

static void on_api_closed(void *ctx)
{
    vg_event_set(ctx);
}

/* Stops an API and waits until no handler of it can run any more. */
static void stop_api(vg_api_t *api)
{
    vg_event_t closed;
    vg_event_init(&closed);
    vg_api_stop(api, on_api_closed, &closed);
    vg_event_wait(&closed);
    vg_event_close(&closed);
}

static void set_ready(struct server *s, bool ready, const char *why)
{
    if (s->api)
        vg_api_set_ready(s->api, ready, why);
    for (unsigned i = 0; s->api_peers && i < s->ntcp_hosts; i++)
        if (s->api_peers[i])
            vg_api_set_ready(s->api_peers[i], ready, why);
}

/* TCP connections answered everything and sent their FIN, HTTP answers are on their way: a
 * moment for the clients to read the answers and close (closing first would reset the connection,
 * and a client's kernel drops answers not read yet), 1 s at most and not past the shutdown's
 * deadline. */
static void linger_clients(struct server *s, int64_t deadline_ms)
{
    int64_t now = (int64_t)vg_clock_mono_ns() / 1000000;
    int64_t until = now + 1000 < deadline_ms ? now + 1000 : deadline_ms;
    for (; now < until; now = (int64_t)vg_clock_mono_ns() / 1000000) {
        unsigned open = s->tcp ? vg_tcp_ingest_open_connections(s->tcp) : 0;
        for (unsigned i = 0; s->tcp_hosts && i < s->ntcp_hosts; i++)
            open += s->tcp_hosts[i] ? vg_tcp_ingest_open_connections(s->tcp_hosts[i]) : 0;
        open += s->api ? vg_api_inflight(s->api) : 0; /* HTTP answers still being written */
        for (unsigned i = 0; s->api_peers && i < s->ntcp_hosts; i++)
            open += s->api_peers[i] ? vg_api_inflight(s->api_peers[i]) : 0;
        if (open == 0)
            return;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

static void shutdown_server(struct server *s)
{
    set_ready(s, false, "shutting down");
    if (s->tcp)
        vg_tcp_ingest_stop(s->tcp);
    for (unsigned i = 0; s->tcp_hosts && i < s->ntcp_hosts; i++)
        if (s->tcp_hosts[i])
            vg_tcp_ingest_stop(s->tcp_hosts[i]);
    /* HTTP refuses new requests and answers those in (until 2026-12-03 it stopped at once,
     * and requests logged and durable went unanswered). */
    if (s->api)
        vg_api_drain(s->api);
    for (unsigned i = 0; s->api_peers && i < s->ntcp_hosts; i++)
        if (s->api_peers[i])
            vg_api_drain(s->api_peers[i]);
    /* Let what was accepted become durable and be answered (the answers are messages too),
     * so no request is left holding memory when the actors stop. */
    int64_t deadline = (int64_t)vg_clock_mono_ns() / 1000000 + s->cfg.server.shutdown_timeout_ms;
    bool drained = false;
    while (!drained && (int64_t)vg_clock_mono_ns() / 1000000 < deadline) {
        drained = vg_runtime_quiesce(s->rt, 100) == 0;
        for (unsigned i = 0; drained && s->parts && i < s->nparts; i++)
            drained = !s->parts[i] || vg_partition_waiting(s->parts[i]) == 0;
        if (!drained) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    if (!drained)
        VG_LOG_WARN("shutdown timeout: stopping with work still in flight timeout_ms=%lld",
                    (long long)s->cfg.server.shutdown_timeout_ms);
    linger_clients(s, deadline);
    /* No request may look at a partition once partitions start closing. */
    if (s->api)
        stop_api(s->api);
    s->api = NULL;
    for (unsigned i = 0; s->api_peers && i < s->ntcp_hosts; i++)
        if (s->api_peers[i])
            stop_api(s->api_peers[i]);
    vg_runtime_free(s->rt); /* stops the partitions too: logs synced and closed */
    s->rt = NULL;
    free(s->parts);
    s->parts = NULL;
    free(s->tcp_hosts); /* the hosts freed themselves with the runtime */
    s->tcp_hosts = NULL;
    free(s->api_peers);
    s->api_peers = NULL;
    free(s->ingest_peers); /* each ingest frees itself with the runtime */
    s->ingest_peers = NULL;
}

/* Whether the model was trained on this build's feature table, column for column. */
static bool model_fits(const vg_model_t *m)
{
    bool same = vg_model_feature_count(m) == VG_FEATURE_COUNT;
    for (size_t i = 0; same && i < VG_FEATURE_COUNT; i++)
        same = strcmp(vg_model_feature_name(m, i), vg_feature_name(i)) == 0;
    return same;
}

/* The model's sidecar thresholds, for each one the configuration leaves at its default: one
 * set in a file, a variable or a flag wins, as --print-config says it does (until 2026-12-03
 * the sidecar's won over every setting, and --print-config showed values not in effect). */
static int apply_model_thresholds(struct server *s)
{
    double medium = s->threshold_medium;
    double high = s->threshold_high;
    if (!vg_model_thresholds(s->model, &medium, &high))
        return 0;
    if (vg_config_is_default(&s->cfg, "scoring.threshold_medium"))
        s->threshold_medium = medium;
    if (vg_config_is_default(&s->cfg, "scoring.threshold_high"))
        s->threshold_high = high;
    if (s->threshold_medium < s->threshold_high)
        return 0;
    fprintf(stderr,
            "vigil: thresholds medium=%g high=%g, from the configuration and the model's sidecar "
            "(%g, %g): medium must be below high; set both\n",
            s->threshold_medium, s->threshold_high, medium, high);
    return VG_ECONFIG;
}

/* scoring.model: load it (and its sidecar) before any partition replays its log, so the
 * replay decides with the same model, and its thresholds where the config has none. */
static int load_model(struct server *s)
{
    s->threshold_medium = s->cfg.scoring.threshold_medium;
    s->threshold_high = s->cfg.scoring.threshold_high;
    const char *path = s->cfg.scoring.model;
    if (!path || !*path) {
        VG_LOG_WARN("no model (scoring.model is empty): every transaction is LOW");
        return 0;
    }
    char err[512];
    int rc = vg_model_load(path, &s->model, err, sizeof(err));
    char src[128];
    vg_config_source(&s->cfg, "scoring.model", src, sizeof(src));
    if (rc != 0) {
        fprintf(stderr, "vigil: cannot load the model: %s (scoring.model from %s)\n", err, src);
        return rc;
    }
    rc = apply_model_thresholds(s);
    if (rc != 0)
        return rc;
    if (!model_fits(s->model)) {
        fprintf(stderr,
                "vigil: model %s was trained on other features than this build's feature table "
                "(%zu columns, the table has %d): retrain it with vigil train\n",
                path, vg_model_feature_count(s->model), VG_FEATURE_COUNT);
        return VG_EMODEL;
    }
    VG_LOG_INFO("model loaded path=%s version=%s medium=%.3f high=%.3f", path,
                vg_model_version(s->model), s->threshold_medium, s->threshold_high);
    return 0;
}

/* The "vigil: serving" line on stdout, then the log's: ready, or serving but not ready (a
 * stopped partition, as /readyz says). */
static void announce(struct server *s)
{
    const char *bind = s->cfg.server.bind;
    bool v6 = strchr(bind, ':') != NULL; /* [::1]:8080, as a URL writes it */
    printf("vigil: serving http=%s%s%s:%d tcp=%s%s%s:%d data=%s workers=%u partitions=%u\n",
           v6 ? "[" : "", bind, v6 ? "]" : "", s->http_port, v6 ? "[" : "", bind, v6 ? "]" : "",
           s->tcp_port, s->cfg.server.data_dir, vg_runtime_nloops(s->rt), s->nparts);
    fflush(stdout);
    char why[1024];
    if (partitions_health(s, why, sizeof(why)) != 0)
        VG_LOG_WARN("serving but not ready http_port=%d tcp_port=%d data=%s workers=%u why=%s",
                    s->http_port, s->tcp_port, s->cfg.server.data_dir, vg_runtime_nloops(s->rt),
                    why);
    else
        VG_LOG_INFO("ready http_port=%d tcp_port=%d data=%s workers=%u", s->http_port, s->tcp_port,
                    s->cfg.server.data_dir, vg_runtime_nloops(s->rt));
}

/* The data directory keeps the partition count it was written with. A new one gets its count
 * only once its partitions exist (open_partitions), so a start that fails before (a port in
 * use, a model that does not load) leaves it free for the next start to choose. */
static int check_data_dir(struct server *s)
{
    unsigned recorded = 0;
    int rc = vg_datadir_check_partitions(s->dd, (unsigned)s->cfg.log.partitions, &recorded);
    s->new_data = rc == VG_ENOTFOUND;
    if (rc == VG_ENOTFOUND)
        return 0;
    /* Recorded: the partitions were all created before it was, so one that is gone now is
     * lost data. Opening it would recreate it empty and serve as if nothing had happened. */
    for (unsigned i = 0; rc == 0 && i < recorded; i++) {
        char missing[1024];
        rc = vg_datadir_check_partition_dirs(s->cfg.server.data_dir, i, recorded, missing,
                                             sizeof(missing));
        if (rc != 0) {
            fprintf(stderr,
                    "vigil: data directory %s holds %u partitions but %s is %s: its records "
                    "are lost; restore it (vigil log verify %s lists what is missing)\n",
                    s->cfg.server.data_dir, recorded, missing,
                    rc == -ENOENT ? "missing" : vg_strerror(rc), s->cfg.server.data_dir);
            return rc;
        }
    }
    if (rc == 0)
        return 0;
    char src[128];
    vg_config_source(&s->cfg, "log.partitions", src, sizeof(src));
    if (rc == VG_ECONFIG)
        fprintf(stderr,
                "vigil: data directory %s was written with %u partitions, log.partitions "
                "is %lld (from %s): accounts would land in the wrong partitions; use %u\n",
                s->cfg.server.data_dir, recorded, (long long)s->cfg.log.partitions, src, recorded);
    else
        fprintf(stderr, "vigil: cannot read %s/partitions: %s\n", s->cfg.server.data_dir,
                vg_strerror(rc));
    return rc;
}

static int run_server(struct server *s)
{
    pid_t holder = 0;
    int rc = vg_datadir_open(s->cfg.server.data_dir, &s->dd, &holder);
    if (rc != 0) {
        if (rc == VG_EBUSY)
            fprintf(stderr, "vigil: data directory %s is in use by another vigil (pid %d)\n",
                    s->cfg.server.data_dir, (int)holder);
        else
            fprintf(stderr, "vigil: cannot use data directory %s: %s\n", s->cfg.server.data_dir,
                    vg_strerror(rc));
        return 1;
    }
    if (check_data_dir(s) != 0) {
        vg_datadir_close(s->dd);
        return 1;
    }
    /* The loops inherit this mask, so only the main thread ever takes SIGINT/SIGTERM. */
    sigset_t set;
    stop_signals(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();

    vg_runtime_opts_t ropts = {
        .workers = (unsigned)s->cfg.server.workers,
        .drain_batch = (unsigned)s->cfg.runtime.drain_batch,
    };
    rc = vg_runtime_new(&ropts, &s->rt);
    if (rc == 0)
        rc = vg_runtime_start(s->rt);
    if (rc != 0) {
        fprintf(stderr, "vigil: cannot start the runtime: %s\n", vg_strerror(rc));
        vg_runtime_free(s->rt);
        vg_datadir_close(s->dd);
        return 1;
    }
    rc = vg_loop_call_wait(vg_runtime_loop(s->rt, 0), start_listeners, s);
    if (rc == 0)
        rc = s->start_rc;
    if (rc == 0)
        rc = load_model(s);
    if (rc == 0)
        rc = open_partitions(s);
    if (rc != 0) {
        if (s->stop_sig)
            VG_LOG_INFO("shutdown requested while starting signal=%s",
                        s->stop_sig == SIGINT ? "SIGINT" : "SIGTERM");
        shutdown_server(s);
        vg_datadir_close(s->dd);
        vg_model_free(s->model);
        return s->stop_sig ? 0 : 1; /* asked to stop: not a failure */
    }
    set_ready(s, true, NULL);
    announce(s);

    int sig = wait_for_signal();
    VG_LOG_INFO("shutdown requested signal=%s", sig == SIGINT ? "SIGINT" : "SIGTERM");
    shutdown_server(s);
    vg_datadir_close(s->dd);
    vg_model_free(s->model);
    VG_LOG_INFO("shutdown complete");
    return 0;
}

/* `vigil demo` without a model: train one on synthetic data into DATA/model.json the first
 * time (a second or two), so the demo's decisions come from a real model. */
static int demo_model(vg_config_t *cfg)
{
    if (cfg->scoring.model && cfg->scoring.model[0])
        return 0;
    char path[4096];
    snprintf(path, sizeof(path), "%s/model.json", cfg->server.data_dir);
    vg_model_t *old = NULL;
    bool usable =
        access(path, R_OK) == 0 && vg_model_load(path, &old, NULL, 0) == 0 && model_fits(old);
    vg_model_free(old);
    if (!usable) {
        printf("vigil demo: no usable model: training one on synthetic data into %s\n", path);
        fflush(stdout);
        int rc = vg_io_mkdirs(cfg->server.data_dir, 0755);
        char a0[] = "train";
        char a1[] = "--synthetic";
        char a2[] = "--out";
        char *args[] = {a0, a1, a2, path, NULL};
        if (rc != 0 || vg_cmd_train(4, args) != 0) {
            fprintf(stderr, "vigil demo: could not train the demo model\n");
            return 1;
        }
    }
    char err[256];
    return vg_config_set(cfg, "scoring.model", path, VG_CONFIG_SRC_FLAG, "vigil demo", err,
                         sizeof(err)) == 0
               ? 0
               : 1;
}

static int serve_main(int argc, char **argv, bool demo)
{
    struct serve_flags f = {0};
    const vg_cli_opt_t opts[] = {
        {"config", VG_CLI_STRING, &f.config, "FILE",
         "INI configuration file (see config/vigil.conf)", 0, 0, NULL},
        {"data", VG_CLI_STRING, &f.data, "DIR", "data directory (server.data_dir)", 0, 0, NULL},
        {"http-port", VG_CLI_STRING, &f.http_port, "N",
         "HTTP/WebSocket port, 0 = any free (server.http_port)", 0, 0, NULL},
        {"tcp-port", VG_CLI_STRING, &f.tcp_port, "N",
         "TCP ingest port, 0 = any free (server.tcp_port)", 0, 0, NULL},
        {"bind", VG_CLI_STRING, &f.bind, "ADDR", "address to listen on (server.bind)", 0, 0, NULL},
        {"workers", VG_CLI_STRING, &f.workers, "N",
         "event-loop threads, 0 = one per core (server.workers)", 0, 0, NULL},
        {"partitions", VG_CLI_STRING, &f.partitions, "N", "log partitions (log.partitions)", 0, 0,
         NULL},
        {"durability", VG_CLI_STRING, &f.durability, "MODE", "fsync, os or none (log.durability)",
         0, 0, NULL},
        {"model", VG_CLI_STRING, &f.model, "FILE",
         "XGBoost model file with its .meta.json sidecar (scoring.model)", 0, 0, NULL},
        {"log-level", VG_CLI_STRING, &f.log_level, "LEVEL",
         "debug, info, warn or error (server.log_level)", 0, 0, NULL},
        {"print-config", VG_CLI_BOOL, &f.print_config, NULL,
         "print the effective configuration and where each value came from, then exit", 0, 0, NULL},
    };
    const vg_cli_t cli = {
        demo ? "vigil demo" : "vigil serve",
        "[flags]",
        demo ? "Runs the engine on its embedded defaults: data under ./data, HTTP on 8080, TCP\n"
               "ingest on 7070, all on 127.0.0.1. Stop it with Ctrl-C."
             : "Runs the engine until SIGINT or SIGTERM. Settings come from, in order of\n"
               "precedence: flags, VIGIL_<SECTION>_<KEY> environment variables, the --config\n"
               "file, the embedded defaults.",
        opts,
        VG_ARRAY_LEN(opts),
        0,
        0};
    int rc = vg_cli_parse(&cli, argc, argv, NULL, NULL);
    if (rc != 0)
        return rc == VG_CLI_HELP ? 0 : 2;
    struct server s = {0};
    if (load_config(&s.cfg, &f) != 0) {
        vg_config_free(&s.cfg);
        return 2;
    }
    if (f.print_config) {
        vg_config_print(&s.cfg, stdout);
        vg_config_free(&s.cfg);
        return 0;
    }
    /* server.log_level's values are listed in vg_log_level's order. */
    vg_log_set_level((enum vg_log_level)s.cfg.server.log_level);
    if (demo) {
        printf("vigil demo: starting on the embedded defaults; Ctrl-C stops it\n");
        if (demo_model(&s.cfg) != 0) {
            vg_config_free(&s.cfg);
            return 1;
        }
    }
    rc = run_server(&s);
    vg_config_free(&s.cfg);
    return rc;
}

int vg_cmd_serve(int argc, char **argv)
{
    return serve_main(argc, argv, false);
}

int vg_cmd_demo(int argc, char **argv)
{
    return serve_main(argc, argv, true);
}
