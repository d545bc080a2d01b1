/* SPDX-License-Identifier: MIT */
/*
 * `vigil serve` as a user runs it: start on free ports with a temporary data directory, ask
 * /healthz and /readyz over HTTP, stop it with SIGTERM or SIGINT and check it exits 0 and
 * releases its data directory; refuse a port in use, a locked data directory and bad
 * configuration with one clear message. Under the ASan build the binary is instrumented, so
 * a leak at shutdown makes the exit status non-zero and these tests fail.
 */
#include "runtime/alloc.h"
#include "runtime/io.h"
#include "tests/support/http_client.h"
#include "tests/support/proc.h"
#include "tests/vg_test.h"

#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct engine {
    vg_tp_t proc;
    int http_port;
    int tcp_port;
    char data[512];
};

static void start_engine(struct engine *e, const char *const *extra, const char *const *env)
{
    snprintf(e->data, sizeof(e->data), "%s/data", vg_test_tmpdir());
    const char *args[32] = {"serve", "--data",    e->data, "--http-port", "0", "--tcp-port",
                            "0",     "--workers", "2"};
    size_t n = 9;
    for (size_t i = 0; extra && extra[i] && n < 30; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    ASSERT_OK(vg_tp_spawn(&e->proc, args, env));
    char line[512];
    int rc = vg_tp_wait_line(&e->proc, "vigil: serving", line, sizeof(line), 20000);
    if (rc != 0) {
        char *err = vg_tp_stderr(&e->proc);
        VG_FAIL("engine did not start (%s); stderr:\n%s", vg_strerror(rc), err);
    }
    const char *h = strstr(line, "http=");
    const char *t = strstr(line, "tcp=");
    ASSERT_NOT_NULL(h);
    ASSERT_NOT_NULL(t);
    e->http_port = atoi(strchr(h, ':') + 1);
    e->tcp_port = atoi(strchr(t, ':') + 1);
    ASSERT_GT(e->http_port, 0);
    ASSERT_GT(e->tcp_port, 0);
}

static void expect_clean_exit(struct engine *e, int sig)
{
    vg_tp_signal(&e->proc, sig);
    int status = 0;
    ASSERT_OK(vg_tp_wait(&e->proc, 20000, &status));
    char *err = vg_tp_stderr(&e->proc);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        VG_FAIL("engine did not exit cleanly (status %d); stderr:\n%s", status, err);
    ASSERT_STR_CONTAINS(err, "shutdown complete");
    free(err);
    vg_tp_cleanup(&e->proc);
}

static int get(int port, const char *path, char **body)
{
    vg_tc_response_t r;
    ASSERT_OK(vg_tc_request(port, "GET", path, NULL, NULL, 0, &r));
    *body = r.body;
    return r.status;
}

VG_TEST(serve_answers_health_and_stops_on_sigterm)
{
    struct engine e;
    start_engine(&e, NULL, NULL);
    char *body = NULL;
    ASSERT_EQ(get(e.http_port, "/healthz", &body), 200);
    ASSERT_STR_CONTAINS(body, "\"status\":\"ok\"");
    free(body);
    ASSERT_EQ(get(e.http_port, "/readyz", &body), 200);
    ASSERT_STR_CONTAINS(body, "\"status\":\"ready\"");
    free(body);
    ASSERT_EQ(get(e.http_port, "/nope", &body), 404);
    ASSERT_STR_CONTAINS(body, "\"error\"");
    free(body);
    expect_clean_exit(&e, SIGTERM);
}

/* The soft limit on descriptors (often 1024) is raised to the hard one at start: each
 * connection is one, and running out left clients waiting or turned away. */
VG_TEST(serve_raises_its_descriptor_limit)
{
    struct rlimit old;
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
    if (old.rlim_max < 400)
        vg_test_skip("the hard limit on descriptors is too low to tell");
    struct rlimit low = old;
    low.rlim_cur = 300;
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0); /* the engine inherits it */
    struct engine e;
    start_engine(&e, NULL, NULL);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/limits", (int)e.proc.pid);
    FILE *f = fopen(path, "r"); /* a /proc file says its size is 0: read it as a stream */
    ASSERT_NOT_NULL(f);
    char *limits = vg_xcalloc(1, 8192);
    size_t len = fread(limits, 1, 8191, f);
    fclose(f);
    ASSERT_GT(len, 0);
    const char *line = strstr(limits, "Max open files");
    ASSERT_NOT_NULL(line);
    unsigned long long soft = 0, hard = 0;
    ASSERT_EQ(sscanf(line + strlen("Max open files"), "%llu %llu", &soft, &hard), 2);
    ASSERT_EQ_U(soft, hard < (1ull << 20) ? hard : (1ull << 20));
    free(limits);
    char *err = vg_tp_stderr(&e.proc);
    ASSERT_STR_CONTAINS(err, "file descriptors limit=");
    ASSERT_STR_CONTAINS(err, " was=300 ");
    free(err);
    expect_clean_exit(&e, SIGTERM);
}

/* A SIGTERM while the partitions open stops the start there: exit 0 at once, not once the
 * engine is ready (until 2026-12-03: 1,024 new partitions took 50 s, and the SIGTERM sent at
 * 25 s waited for all of them). */
VG_TEST(serve_stops_on_sigterm_while_starting)
{
    char data[512];
    snprintf(data, sizeof(data), "%s/data", vg_test_tmpdir());
    const char *args[] = {
        "serve",        "--data", data,           "--http-port", "0",           "--tcp-port", "0",
        "--partitions", "512",    "--durability", "os",          "--log-level", "info",       NULL};
    vg_tp_t p;
    ASSERT_OK(vg_tp_spawn(&p, args, NULL));
    for (int i = 0; i < 6000; i++) { /* the log goes to stderr: until a few are open */
        char *log = vg_tp_stderr(&p);
        bool opening = strstr(log, "partition open partition=3 ") != NULL;
        free(log);
        if (opening)
            break;
        struct timespec pause = {0, 10000000};
        nanosleep(&pause, NULL);
    }
    vg_tp_signal(&p, SIGTERM);
    int status = 0;
    ASSERT_OK(vg_tp_wait(&p, 20000, &status));
    char *err = vg_tp_stderr(&p);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        VG_FAIL("status %d: %s", status, err);
    ASSERT_STR_CONTAINS(err, "shutdown requested while starting signal=SIGTERM");
    if (strstr(err, "partition open partition=511 "))
        VG_FAIL("every partition opened before the SIGTERM was taken");
    free(err);
    vg_tp_cleanup(&p);
}

VG_TEST(serve_stops_on_sigint)
{
    struct engine e;
    start_engine(&e, NULL, NULL);
    char *body = NULL;
    ASSERT_EQ(get(e.http_port, "/healthz", &body), 200);
    free(body);
    expect_clean_exit(&e, SIGINT);
}

VG_TEST(serve_refuses_a_locked_data_dir)
{
    struct engine e;
    start_engine(&e, NULL, NULL);
    int code = 0;
    char *err = NULL;
    const char *args[] = {"serve", "--data", e.data, "--http-port", "0", "--tcp-port", "0", NULL};
    ASSERT_OK(vg_tp_run(args, NULL, 20000, &code, NULL, &err));
    ASSERT_EQ(code, 1);
    ASSERT_STR_CONTAINS(err, "in use by another vigil");
    free(err);
    /* With vigil.lock deleted, each log still has one writer: until 2026-12-03 a second
     * engine wrote into the same segments (acknowledged records lost, decision logs damaged). */
    char lock[600];
    snprintf(lock, sizeof(lock), "%s/vigil.lock", e.data);
    ASSERT_EQ(unlink(lock), 0);
    ASSERT_OK(vg_tp_run(args, NULL, 20000, &code, NULL, &err));
    ASSERT_EQ(code, 1);
    ASSERT_STR_CONTAINS(err, "in use by another process");
    free(err);
    expect_clean_exit(&e, SIGTERM);
    /* The lock went with the first engine: a new one starts on the same directory. */
    start_engine(&e, NULL, NULL);
    expect_clean_exit(&e, SIGTERM);
}

/* hash(account) % P decides where an account's data is: a data directory keeps its P. */
VG_TEST(serve_refuses_another_partition_count_on_written_data)
{
    struct engine e;
    const char *three[] = {"--partitions", "3", NULL};
    start_engine(&e, three, NULL);
    expect_clean_exit(&e, SIGTERM);
    int code = 0;
    char *err = NULL;
    const char *args[] = {"serve",      "--data", e.data,         "--http-port", "0",
                          "--tcp-port", "0",      "--partitions", "5",           NULL};
    ASSERT_OK(vg_tp_run(args, NULL, 20000, &code, NULL, &err));
    ASSERT_EQ(code, 1);
    ASSERT_STR_CONTAINS(
        err, "was written with 3 partitions, log.partitions is 5 (from flag --partitions)");
    free(err);
    start_engine(&e, three, NULL); /* the recorded count still starts */
    expect_clean_exit(&e, SIGTERM);
}

VG_TEST(serve_reports_a_port_in_use_naming_the_setting)
{
    struct engine e;
    start_engine(&e, NULL, NULL);
    char port[16];
    snprintf(port, sizeof(port), "%d", e.http_port);
    char data2[512];
    snprintf(data2, sizeof(data2), "%s/data2", vg_test_tmpdir());
    int code = 0;
    char *err = NULL;
    const char *args[] = {"serve", "--data", data2, "--http-port", port, "--tcp-port", "0", NULL};
    ASSERT_OK(vg_tp_run(args, NULL, 20000, &code, NULL, &err));
    ASSERT_EQ(code, 1);
    ASSERT_STR_CONTAINS(err, "server.http_port");
    ASSERT_STR_CONTAINS(err, "--http-port");
    free(err);
    /* Through the environment, the message names the variable instead. */
    char env_port[64];
    snprintf(env_port, sizeof(env_port), "VIGIL_SERVER_TCP_PORT=%d", e.tcp_port);
    const char *env[] = {env_port, NULL};
    const char *args2[] = {"serve", "--data", data2, "--http-port", "0", NULL};
    ASSERT_OK(vg_tp_run(args2, env, 20000, &code, NULL, &err));
    ASSERT_EQ(code, 1);
    ASSERT_STR_CONTAINS(err, "server.tcp_port");
    ASSERT_STR_CONTAINS(err, "VIGIL_SERVER_TCP_PORT");
    free(err);
    expect_clean_exit(&e, SIGTERM);
}

/* A start that fails before it serves anything (here: its HTTP port is taken) does not fix
 * the partition count of the data directory it created: the next start chooses again. */
VG_TEST(serve_failed_start_leaves_the_partition_count_open)
{
    struct engine e;
    start_engine(&e, NULL, NULL);
    char port[16];
    snprintf(port, sizeof(port), "%d", e.http_port);
    char data2[512];
    snprintf(data2, sizeof(data2), "%s/data2", vg_test_tmpdir());
    int code = 0;
    char *err = NULL;
    const char *args[] = {"serve",      "--data", data2,          "--http-port", port,
                          "--tcp-port", "0",      "--partitions", "4",           NULL};
    ASSERT_OK(vg_tp_run(args, NULL, 20000, &code, NULL, &err));
    ASSERT_EQ(code, 1);
    ASSERT_STR_CONTAINS(err, "server.http_port");
    free(err);
    expect_clean_exit(&e, SIGTERM);
    char path[600];
    snprintf(path, sizeof(path), "%s/partitions", data2);
    ASSERT_NE(access(path, F_OK), 0);
    /* A plain start (2 partitions) on that directory is not told to use 4. */
    const char *plain[] = {"serve", "--data", data2, "--http-port", "0", "--tcp-port", "0", NULL};
    ASSERT_OK(vg_tp_spawn(&e.proc, plain, NULL));
    char line[512];
    if (vg_tp_wait_line(&e.proc, "vigil: serving", line, sizeof(line), 20000) != 0)
        VG_FAIL("engine did not start: %s", vg_tp_stderr(&e.proc));
    ASSERT_STR_CONTAINS(line, "partitions=2");
    expect_clean_exit(&e, SIGTERM);
    char *text = NULL;
    size_t len = 0;
    ASSERT_OK(vg_io_read_file(path, &text, &len));
    ASSERT_STR_EQ(text, "2\n");
    free(text);
}

/* Runs serve on e->data and expects it refused (exit 1) with `want` in its one-line error. */
static void expect_refused(const struct engine *e, const char *want)
{
    int code = 0;
    char *err = NULL;
    const char *args[] = {"serve", "--data", e->data, "--http-port", "0", "--tcp-port", "0", NULL};
    ASSERT_OK(vg_tp_run(args, NULL, 20000, &code, NULL, &err));
    if (code != 1 || !strstr(err, want))
        VG_FAIL("expected exit 1 with \"%s\", got %d: %s", want, code, err);
    ASSERT_STR_CONTAINS(err, "records are lost");
    free(err);
}

/* Once a data directory records its partition count, a partition or its log that is gone is
 * lost data: serve refuses to start rather than recreate it empty. A directory whose
 * partitions exist but whose count was never recorded (killed during its very first start)
 * starts. */
VG_TEST(serve_refuses_a_data_dir_that_lost_a_partition)
{
    struct engine e;
    start_engine(&e, NULL, NULL);
    expect_clean_exit(&e, SIGTERM);
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s/p01/log'", e.data);
    ASSERT_EQ(system(cmd), 0);
    expect_refused(&e, "p01/log is missing");
    snprintf(cmd, sizeof(cmd), "rm -rf '%s/p01'", e.data);
    ASSERT_EQ(system(cmd), 0);
    expect_refused(&e, "p01 is missing");
    /* The count gone as well, as after a kill -9 before it was first written: a new start. */
    snprintf(cmd, sizeof(cmd), "%s/partitions", e.data);
    ASSERT_EQ(unlink(cmd), 0);
    start_engine(&e, NULL, NULL);
    expect_clean_exit(&e, SIGTERM);
    char *text = NULL;
    size_t len = 0;
    ASSERT_OK(vg_io_read_file(cmd, &text, &len));
    ASSERT_STR_EQ(text, "2\n");
    free(text);
}

VG_TEST(serve_bad_flag_value_is_one_line_exit_2)
{
    int code = 0;
    char *err = NULL;
    const char *args[] = {"serve", "--http-port", "http", NULL};
    ASSERT_OK(vg_tp_run(args, NULL, 20000, &code, NULL, &err));
    ASSERT_EQ(code, 2);
    ASSERT_STR_CONTAINS(err, "--http-port");
    ASSERT_EQ(strchr(err, '\n') - err + 1, (long)strlen(err)); /* exactly one line */
    free(err);
    const char *args2[] = {"serve", "--bogus", NULL};
    ASSERT_OK(vg_tp_run(args2, NULL, 20000, &code, NULL, &err));
    ASSERT_EQ(code, 2);
    ASSERT_STR_CONTAINS(err, "unknown flag --bogus");
    free(err);
}

VG_TEST(serve_config_file_errors_name_file_and_line)
{
    char conf[512];
    snprintf(conf, sizeof(conf), "%s/bad.conf", vg_test_tmpdir());
    FILE *f = fopen(conf, "w");
    ASSERT_NOT_NULL(f);
    fputs("[server]\nhttp_port = 8080\nhtp_port = 9\n", f);
    fclose(f);
    int code = 0;
    char *err = NULL;
    const char *args[] = {"serve", "--config", conf, NULL};
    ASSERT_OK(vg_tp_run(args, NULL, 20000, &code, NULL, &err));
    ASSERT_EQ(code, 2);
    ASSERT_STR_CONTAINS(err, "bad.conf:3");
    ASSERT_STR_CONTAINS(err, "htp_port");
    free(err);
}

VG_TEST(serve_print_config_shows_sources)
{
    char conf[512];
    snprintf(conf, sizeof(conf), "%s/ok.conf", vg_test_tmpdir());
    FILE *f = fopen(conf, "w");
    ASSERT_NOT_NULL(f);
    fputs("[log]\npartitions = 4\n", f);
    fclose(f);
    int code = 0;
    char *out = NULL;
    const char *env[] = {"VIGIL_SERVER_WORKERS=3", NULL};
    const char *args[] = {"serve", "--config", conf, "--http-port", "9191", "--print-config", NULL};
    ASSERT_OK(vg_tp_run(args, env, 20000, &code, &out, NULL));
    ASSERT_EQ(code, 0);
    ASSERT_STR_CONTAINS(out, "9191");
    ASSERT_STR_CONTAINS(out, "--http-port");
    ASSERT_STR_CONTAINS(out, "VIGIL_SERVER_WORKERS");
    ASSERT_STR_CONTAINS(out, "ok.conf:2");
    ASSERT_STR_CONTAINS(out, "default");
    free(out);
}

VG_TEST(serve_stops_a_damaged_partition_and_says_why)
{
    struct engine e;
    const char *two[] = {"--partitions", "2", NULL};
    start_engine(&e, two, NULL);
    char *body = NULL;
    ASSERT_EQ(get(e.http_port, "/readyz", &body), 200);
    free(body);
    expect_clean_exit(&e, SIGTERM);
    /* Both partitions' logs exist; damage partition 1's segment header. */
    char seg[700];
    snprintf(seg, sizeof(seg), "%s/p01/log/00000000000000000000.seg", e.data);
    FILE *f = fopen(seg, "r+b");
    ASSERT_NOT_NULL(f);
    fputc('X', f);
    fclose(f);
    int code = 0;
    char *out = NULL;
    const char *verify[] = {"log", "verify", e.data, NULL};
    ASSERT_OK(vg_tp_run(verify, NULL, 20000, &code, &out, NULL));
    ASSERT_EQ(code, 1);
    ASSERT_STR_CONTAINS(out, "partition 0: ok");
    ASSERT_STR_CONTAINS(out, "partition 1: DAMAGED");
    free(out);
    start_engine(&e, two, NULL);
    ASSERT_EQ(get(e.http_port, "/healthz", &body), 200); /* alive */
    free(body);
    ASSERT_EQ(get(e.http_port, "/readyz", &body), 503); /* but not ready, and why */
    ASSERT_STR_CONTAINS(body, "partition 1");
    ASSERT_STR_CONTAINS(body, "p01/log/00000000000000000000.seg");
    free(body);
    vg_tp_signal(&e.proc, SIGTERM);
    int status = 0;
    ASSERT_OK(vg_tp_wait(&e.proc, 20000, &status));
    char *err = vg_tp_stderr(&e.proc);
    ASSERT_STR_CONTAINS(err, "partition stopped partition=1");
    ASSERT_STR_CONTAINS(err, "serving but not ready"); /* not "ready" in the log */
    ASSERT_TRUE(strstr(err, "INFO  serve: ready") == NULL);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    free(err);
    vg_tp_cleanup(&e.proc);
}

VG_TEST(serve_housekeeping_runs_and_stops_cleanly)
{
    /* The housekeeping timer fires every second; a state sync on the threadpool may be in
     * flight when SIGTERM comes: shutdown must wait for it and leak nothing. */
    struct engine e;
    const char *env[] = {"VIGIL_STATE_SYNC_INTERVAL_MS=1", NULL};
    const char *two[] = {"--partitions", "3", NULL};
    start_engine(&e, two, env);
    struct timespec ts = {2, 100 * 1000000};
    nanosleep(&ts, NULL);
    char *body = NULL;
    ASSERT_EQ(get(e.http_port, "/readyz", &body), 200);
    free(body);
    expect_clean_exit(&e, SIGTERM);
}

/* An HTTP/1.1 client that pipelines requests with a body (sends them before reading
 * answers) gets its connection closed, and nothing else notices. libwebsockets 4.1 used to loop
 * forever over the pipelined bytes inside one callback: that loop's HTTP went dead (the listener
 * too) and SIGTERM could no longer stop the engine. */
VG_TEST(serve_closes_a_pipelining_connection_and_keeps_serving)
{
    struct engine e;
    start_engine(&e, NULL, NULL);
    static const char body[] = "{\"transaction_id\":\"pipe-1\",\"account_id\":\"a1\","
                               "\"amount\":\"10.00\",\"currency\":\"EUR\","
                               "\"timestamp\":\"2026-01-01T00:00:00Z\"}";
    char one[512];
    snprintf(one, sizeof(one),
             "POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             sizeof(body) - 1, body);
    char wire[2048];
    snprintf(wire, sizeof(wire), "%s%s%sGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", one, one, one);
    for (int round = 0; round < 4; round++) { /* connections alternate between the loops */
        vg_tc_conn_t c;
        ASSERT_OK(vg_tc_connect(&c, e.http_port));
        ASSERT_OK(vg_tc_send_raw(&c, wire));
        ASSERT_OK(vg_tc_wait_close(&c)); /* closed by the server, not timed out (20 s) */
        vg_tc_close(&c);
    }
    for (int i = 0; i < 8; i++) {
        char *b = NULL;
        ASSERT_EQ(get(e.http_port, "/healthz", &b), 200);
        free(b);
    }
    expect_clean_exit(&e, SIGTERM);
}

/* Reads from fd into buf until it holds `want` or timeout_ms pass. Whether it did. */
static bool recv_until(int fd, const char *want, char *buf, size_t cap, int timeout_ms)
{
    size_t len = strlen(buf);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!strstr(buf, want)) {
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long left =
            timeout_ms - ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0 || len + 1 >= cap)
            return false;
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n <= 0)
            return false;
        len += (size_t)n;
        buf[len] = '\0';
    }
    return true;
}

/* Sends `wire` on a new connection; the answer must hold `want` and the connection must then
 * close (every answer to a chunked request, and every error below, ends its connection). */
static void chunked_round(int port, const char *const *wire, size_t nparts, const char *want)
{
    vg_tc_conn_t c;
    ASSERT_OK(vg_tc_connect(&c, port));
    for (size_t i = 0; i < nparts; i++) {
        ASSERT_OK(vg_tc_send_raw(&c, wire[i]));
        struct timespec ts = {0, 20 * 1000000}; /* separate reads on the server */
        nanosleep(&ts, NULL);
    }
    char buf[8192] = "";
    if (!recv_until(c.fd, want, buf, sizeof(buf), 10000))
        VG_FAIL("wanted \"%s\" in the answer, got \"%s\"", want, buf);
    ASSERT_STR_CONTAINS(buf, "connection: close\r\n");
    ASSERT_OK(vg_tc_wait_close(&c)); /* closed by the server, not timed out */
    vg_tc_close(&c);
}

/* A body that comes in pieces, the first small enough to be kept inside the request and the
 * whole too big for it, is read whole: every transaction of the batch is accepted. */
VG_TEST(serve_reads_a_body_that_comes_in_pieces)
{
    struct engine e;
    start_engine(&e, NULL, NULL);
    enum { N = 40 };
    char body[N * 160 + 8];
    size_t len = 0;
    body[len++] = '[';
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(body + len, sizeof(body) - len,
                                "%s{\"transaction_id\":\"piece-%02d\",\"account_id\":\"a%d\","
                                "\"amount\":\"1.00\",\"currency\":\"EUR\","
                                "\"timestamp\":\"2026-01-01T00:00:00Z\"}",
                                i ? "," : "", i, i % 7);
    body[len++] = ']';
    body[len] = '\0';
    ASSERT_GT(len, 4096); /* over the request's inline space */
    char head[256];
    snprintf(head, sizeof(head),
             "POST /v1/transactions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\n\r\n",
             len);
    vg_tc_conn_t c;
    ASSERT_OK(vg_tc_connect(&c, e.http_port));
    ASSERT_OK(vg_tc_send_raw(&c, head));
    static const size_t cuts[] = {100, 900, 2000};
    size_t from = 0;
    for (size_t k = 0; k <= VG_ARRAY_LEN(cuts); k++) {
        size_t to = k < VG_ARRAY_LEN(cuts) ? cuts[k] : len;
        char piece[sizeof(body)];
        memcpy(piece, body + from, to - from);
        piece[to - from] = '\0';
        ASSERT_OK(vg_tc_send_raw(&c, piece));
        struct timespec ts = {0, 20 * 1000000}; /* separate reads on the server */
        nanosleep(&ts, NULL);
        from = to;
    }
    char buf[16384] = "";
    if (!recv_until(c.fd, "\"rejected\":[]", buf, sizeof(buf), 10000))
        VG_FAIL("wanted every transaction accepted, got \"%s\"", buf);
    ASSERT_STR_CONTAINS(buf, "HTTP/1.1 202");
    ASSERT_STR_CONTAINS(buf, "\"transaction_id\":\"piece-39\"");
    vg_tc_close(&c);
    char *got = NULL;
    ASSERT_EQ(get(e.http_port, "/v1/transactions/piece-00", &got), 200);
    free(got);
    expect_clean_exit(&e, SIGTERM);
}

/* A body sent with Transfer-Encoding: chunked (what Node.js's http.request sends when no
 * Content-Length is set) is decoded: chunk extensions and trailers ignored, the framing split
 * anywhere across reads. libwebsockets 4.1 passes such a body on with its framing and reads no
 * further request on the connection, so the answer closes it. Bad framing, a chunk over the
 * body limit, another coding and a request framed both ways get 400 / 413 / 501 / 400. */
VG_TEST(serve_reads_chunked_request_bodies)
{
    struct engine e;
    start_engine(&e, NULL, NULL);
    static const char head[] = "POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: "
                               "application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int round = 0; round < 2; round++) { /* connections alternate between the loops */
        char id[32];
        snprintf(id, sizeof(id), "chunk-%d", round);
        char first[128];
        snprintf(first, sizeof(first), "{\"transaction_id\":\"%s\",\"account_id\":\"a1\",", id);
        static const char rest[] =
            "\"amount\":\"10.00\",\"currency\":\"EUR\",\"timestamp\":\"2026-01-01T00:00:00Z\"}";
        char c1[256];
        char c2[256];
        /* the first chunk's size line with an extension; its data split mid-way */
        snprintf(c1, sizeof(c1), "%zx;name=value\r\n%.10s", strlen(first), first);
        snprintf(c2, sizeof(c2), "%s\r\n%zX\r\n%s\r\n0\r\nX-Trailer: 1\r\n\r\n", first + 10,
                 strlen(rest), rest);
        const char *const wire[] = {head, c1, c2};
        char want[64];
        snprintf(want, sizeof(want), "\"transaction_id\":\"%s\"", id);
        chunked_round(e.http_port, wire, 3, want);
        char path[64];
        snprintf(path, sizeof(path), "/v1/transactions/%s", id);
        char *body = NULL;
        ASSERT_EQ(get(e.http_port, path, &body), 200); /* it was decided and kept */
        ASSERT_STR_CONTAINS(body, "\"amount\"");
        free(body);
    }
    const char *const bad[] = {head, "zz\r\nabc\r\n0\r\n\r\n"};
    chunked_round(e.http_port, bad, 2, "\"bad_chunked_body\"");
    const char *const nosize[] = {head, "\r\n"};
    chunked_round(e.http_port, nosize, 2, "\"bad_chunked_body\"");
    const char *const nocrlf[] = {head, "2\r\n{}XY0\r\n\r\n"};
    chunked_round(e.http_port, nocrlf, 2, "\"bad_chunked_body\"");
    const char *const huge[] = {head, "10000000000\r\n{"};
    chunked_round(e.http_port, huge, 2, "\"body_too_large\"");
    const char *const gzip[] = {"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                "application/json\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"};
    chunked_round(e.http_port, gzip, 1, "HTTP/1.1 501");
    const char *const both[] = {"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                "application/json\r\nTransfer-Encoding: chunked\r\n"
                                "Content-Length: 5\r\n\r\n",
                                "2\r\n{}\r\n0\r\n\r\n"};
    chunked_round(e.http_port, both, 2, "Content-Length and Transfer-Encoding");
    for (int i = 0; i < 4; i++) {
        char *b = NULL;
        ASSERT_EQ(get(e.http_port, "/healthz", &b), 200);
        free(b);
    }
    expect_clean_exit(&e, SIGTERM);
}

/* A Content-Length that is not one decimal number is 400 and the connection closed (RFC 9112
 * 6.3), and nothing of the request is kept. Until 2026-12-03 "113abc" was read as 113, a
 * second header disagreeing with the first was ignored or made the rest of the body the next
 * request, and "-1" was a body of 2^64 - 1 bytes (413). */
VG_TEST(serve_refuses_a_malformed_content_length)
{
    struct engine e;
    start_engine(&e, NULL, NULL);
    static const char body[] = "{\"transaction_id\":\"cl-1\",\"account_id\":\"a1\","
                               "\"amount\":\"10.00\",\"currency\":\"EUR\","
                               "\"timestamp\":\"2026-01-01T00:00:00Z\"}";
    char len[24];
    snprintf(len, sizeof(len), "%zu", strlen(body));
    char two[64];
    snprintf(two, sizeof(two), "%s\r\nContent-Length: 5", len);
    char twice[64];
    snprintf(twice, sizeof(twice), "5\r\nContent-Length: %s", len);
    char suffix[64];
    snprintf(suffix, sizeof(suffix), "%sabc", len);
    char listed[64];
    snprintf(listed, sizeof(listed), "%s, %s", len, len);
    const char *const bad[] = {suffix,
                               listed,
                               two,
                               twice,
                               "-1",
                               "x",
                               "+5",
                               "99999999999999999999",
                               "0000000000000000000000000000005"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char wire[1024];
        snprintf(wire, sizeof(wire),
                 "POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 "Content-Length: %s\r\n\r\n%s",
                 bad[i], body);
        const char *const parts[] = {wire};
        chunked_round(e.http_port, parts, 1, "Content-Length must be one decimal number");
    }
    char *b = NULL;
    ASSERT_EQ(get(e.http_port, "/v1/transactions/cl-1", &b), 404);
    free(b);
    expect_clean_exit(&e, SIGTERM);
}

/* SIGTERM with HTTP requests in flight: every transaction logged was answered 200; a request
 * that came too late is 503 or its connection closed, and it is not logged. Until 2026-12-03
 * the API stopped at once, and requests already logged went unanswered. */
VG_TEST(serve_sigterm_answers_every_http_request_it_logged)
{
    struct engine e;
    start_engine(&e, NULL, NULL);
    enum { N = 48 };
    vg_tc_conn_t c[N];
    for (int i = 0; i < N; i++) {
        ASSERT_OK(vg_tc_connect(&c[i], e.http_port));
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"transaction_id\":\"st-%02d\",\"account_id\":\"a%d\",\"amount\":\"1.00\","
                 "\"currency\":\"EUR\",\"timestamp\":\"2026-12-01T00:00:00Z\"}",
                 i, i % 7);
        char wire[512];
        snprintf(wire, sizeof(wire),
                 "POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\n\r\n%s",
                 strlen(body), body);
        ASSERT_OK(vg_tc_send_raw(&c[i], wire));
    }
    vg_tp_signal(&e.proc, SIGTERM);
    bool answered[N];
    for (int i = 0; i < N; i++) {
        char buf[8192] = "";
        answered[i] = recv_until(c[i].fd, "\"replay\":", buf, sizeof(buf), 10000) &&
                      strncmp(buf, "HTTP/1.1 200", 12) == 0;
        vg_tc_close(&c[i]);
    }
    ASSERT_OK(vg_tp_wait_clean_exit(&e.proc, 20000));
    for (int i = 0; i < N; i++) {
        char id[48];
        snprintf(id, sizeof(id), "st-%02d\"", i);
        long logged = vg_tp_logged(e.data, id);
        ASSERT_GE(logged, 0);
        if (logged && !answered[i])
            VG_FAIL("st-%02d was logged and not answered", i);
    }
}

/* "Expect: 100-continue" gets its interim 100 before the body is sent (clients wait up to a
 * second for it otherwise), then the real answer; a body over the limit gets its 413 at once
 * and no 100, and one not JSON its 415. */
VG_TEST(serve_answers_expect_100_continue)
{
    struct engine e;
    start_engine(&e, NULL, NULL);
    static const char body[] = "{\"transaction_id\":\"exp-1\",\"account_id\":\"a1\","
                               "\"amount\":\"10.00\",\"currency\":\"EUR\","
                               "\"timestamp\":\"2026-01-01T00:00:00Z\"}";
    char head[512];
    snprintf(head, sizeof(head),
             "POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Expect: 100-continue\r\nContent-Length: %zu\r\n\r\n",
             sizeof(body) - 1);
    for (int round = 0; round < 2; round++) { /* connections alternate between the loops */
        vg_tc_conn_t c;
        ASSERT_OK(vg_tc_connect(&c, e.http_port));
        ASSERT_OK(vg_tc_send_raw(&c, head));
        char buf[8192] = "";
        if (!recv_until(c.fd, "\r\n\r\n", buf, sizeof(buf), 500))
            VG_FAIL("no interim answer within 500 ms: \"%s\"", buf);
        ASSERT_TRUE(strncmp(buf, "HTTP/1.1 100 Continue\r\n\r\n", 25) == 0);
        ASSERT_OK(vg_tc_send_raw(&c, body));
        buf[0] = '\0';
        if (!recv_until(c.fd, "\"replay\":", buf, sizeof(buf), 10000))
            VG_FAIL("no decision: \"%s\"", buf);
        ASSERT_TRUE(strncmp(buf, "HTTP/1.1 200", 12) == 0);
        vg_tc_close(&c);
    }
    vg_tc_conn_t c;
    ASSERT_OK(vg_tc_connect(&c, e.http_port));
    ASSERT_OK(vg_tc_send_raw(&c, "POST /v1/transactions HTTP/1.1\r\nHost: x\r\n"
                                 "Content-Type: application/json\r\nExpect: 100-continue\r\n"
                                 "Content-Length: 999999999\r\n\r\n"));
    char buf[8192] = "";
    if (!recv_until(c.fd, "body_too_large", buf, sizeof(buf), 5000))
        VG_FAIL("no 413: \"%s\"", buf);
    ASSERT_TRUE(strncmp(buf, "HTTP/1.1 413", 12) == 0);
    vg_tc_close(&c);
    /* Nor for a body of a type the API does not take: until 2026-12-03 it got its 100, was
     * read whole (up to 1 MiB), then answered 415. */
    ASSERT_OK(vg_tc_connect(&c, e.http_port));
    ASSERT_OK(vg_tc_send_raw(&c, "POST /v1/score HTTP/1.1\r\nHost: x\r\n"
                                 "Content-Type: text/plain\r\nExpect: 100-continue\r\n"
                                 "Content-Length: 100000\r\n\r\n"));
    buf[0] = '\0';
    if (!recv_until(c.fd, "unsupported_media_type", buf, sizeof(buf), 5000))
        VG_FAIL("no 415: \"%s\"", buf);
    ASSERT_TRUE(strncmp(buf, "HTTP/1.1 415", 12) == 0);
    vg_tc_close(&c);
    expect_clean_exit(&e, SIGTERM);
}
