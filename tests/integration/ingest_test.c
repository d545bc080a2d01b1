/* SPDX-License-Identifier: MIT */
/*
 * POST /v1/transactions through the real binary: 202 with partition and offset once durable,
 * bad elements reported by index and kept out of the log, body-level errors, and kill -9 of
 * the engine mid-stream: every transaction the client saw acknowledged is in the log, and
 * after a restart each account's state counts its logged transactions exactly once.
 */
#include "runtime/alloc.h"
#include "storage/datadir.h"
#include "storage/seglog.h"
#include "storage/vigil.pb-c.h"
#include "tests/support/http_client.h"
#include "tests/support/proc.h"
#include "tests/vg_test.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PARTS 4

static void start_on(vg_tp_t *p, const char *data, int *port)
{
    const char *args[] = {"serve",      "--data", data,           "--http-port", "0",
                          "--tcp-port", "0",      "--partitions", "4",           NULL};
    ASSERT_OK(vg_tp_spawn(p, args, NULL));
    char line[512];
    if (vg_tp_wait_line(p, "vigil: serving", line, sizeof(line), 20000) != 0) {
        char *err = vg_tp_stderr(p);
        VG_FAIL("engine did not start: %s", err);
    }
    *port = atoi(strchr(strstr(line, "http="), ':') + 1);
}

static void start(vg_tp_t *p, char *data, size_t len, int *port)
{
    snprintf(data, len, "%s/data", vg_test_tmpdir());
    start_on(p, data, port);
}

static int post(int port, const char *body, char **resp)
{
    vg_tc_response_t r;
    ASSERT_OK(vg_tc_request(port, "POST", "/v1/transactions", "application/json", body,
                            strlen(body), &r));
    *resp = r.body;
    return r.status;
}

#define KILL_ACCOUNTS 37

/* Every transaction id in the data directory's logs, newline-separated; when per_account is
 * not NULL, also how many transactions of account "A<k>" the logs hold. */
static char *logged_ids(const char *data, unsigned *per_account)
{
    size_t cap = 1 << 16;
    size_t len = 0;
    char *out = vg_xcalloc(1, cap);
    for (unsigned p = 0; p < PARTS; p++) {
        char dir[700];
        ASSERT_OK(vg_datadir_partition_path(data, p, PARTS, "log", dir, sizeof(dir)));
        vg_seglog_opts_t o = {.read_only = true};
        vg_seglog_t *log = NULL;
        char err[256];
        if (vg_seglog_open(dir, &o, &log, NULL, err, sizeof(err)) != 0)
            continue; /* a partition that never got a write */
        vg_seglog_reader_t *r = NULL;
        ASSERT_OK(vg_seglog_reader_open(log, 0, &r));
        vg_seglog_view_t v;
        while (vg_seglog_reader_next(r, &v) == 0) {
            if (v.type != VG_SEGLOG_TYPE_TRANSACTION)
                continue;
            Vigil__Transaction *tx = vigil__transaction__unpack(NULL, v.len, v.payload);
            ASSERT_NOT_NULL(tx);
            if (per_account && tx->account_id[0] == 'A')
                per_account[atoi(tx->account_id + 1) % KILL_ACCOUNTS]++;
            size_t need = strlen(tx->transaction_id) + 2;
            if (len + need >= cap) {
                cap = cap * 2 + need;
                out = vg_xrealloc(out, cap);
            }
            len += (size_t)snprintf(out + len, cap - len, "\n%s", tx->transaction_id);
            vigil__transaction__free_unpacked(tx, NULL);
        }
        vg_seglog_reader_close(r);
        vg_seglog_close(log);
    }
    if (len + 2 >= cap)
        out = vg_xrealloc(out, len + 2);
    out[len] = '\n';
    out[len + 1] = '\0';
    return out;
}

VG_TEST(ingest_accepts_good_rejects_bad_and_persists)
{
    vg_tp_t p;
    char data[512];
    int port = 0;
    start(&p, data, sizeof(data), &port);
    char *resp = NULL;
    ASSERT_EQ(post(port,
                   "{\"transaction_id\":\"t1\",\"account_id\":\"A1\",\"amount\":\"12.34\","
                   "\"currency\":\"EUR\",\"timestamp\":\"2026-11-24T06:00:00Z\"}",
                   &resp),
              202);
    ASSERT_STR_CONTAINS(resp, "\"transaction_id\":\"t1\",\"partition\":");
    free(resp);
    ASSERT_EQ(post(port,
                   "[{\"transaction_id\":\"t2\",\"account_id\":\"A2\",\"amount\":5,\"currency\":"
                   "\"EUR\",\"timestamp\":1795500000000},{\"transaction_id\":\"bad\","
                   "\"account_id\":\"A2\",\"amount\":\"5.123\",\"currency\":\"EUR\","
                   "\"timestamp\":1795500000000}]",
                   &resp),
              202);
    ASSERT_STR_CONTAINS(resp, "\"rejected\":[{\"index\":1,\"error\":{\"code\":"
                              "\"too_many_decimals\"");
    free(resp);
    /* A key given twice fails its own element, and the others go on. */
    ASSERT_EQ(post(port,
                   "[{\"transaction_id\":\"t3\",\"account_id\":\"A3\",\"amount\":5,\"currency\":"
                   "\"EUR\",\"timestamp\":1795500000000},{\"transaction_id\":\"dup\","
                   "\"account_id\":\"A3\",\"account_id\":\"A4\",\"amount\":5,\"currency\":\"EUR\","
                   "\"timestamp\":1795500000000}]",
                   &resp),
              202);
    ASSERT_STR_CONTAINS(resp, "\"rejected\":[{\"index\":1,\"error\":{\"code\":"
                              "\"invalid_json\"");
    ASSERT_STR_CONTAINS(resp, "\"field\":\"account_id\"");
    free(resp);
    ASSERT_EQ(post(port, "{\"transaction_id\":\"t9\"", &resp), 400);
    ASSERT_STR_CONTAINS(resp, "\"code\":\"invalid_json\"");
    free(resp);
    ASSERT_EQ(post(port, "{\"transaction_id\":\"bad2\",\"account_id\":\"A\"}", &resp), 400);
    ASSERT_STR_CONTAINS(resp, "\"code\":\"missing_field\"");
    free(resp);
    vg_tc_response_t r;
    ASSERT_OK(vg_tc_request(port, "POST", "/v1/transactions", "text/plain", "x", 1, &r));
    ASSERT_EQ(r.status, 415);
    vg_tc_response_free(&r);
    vg_tp_signal(&p, SIGTERM);
    int status = 0;
    ASSERT_OK(vg_tp_wait(&p, 20000, &status));
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    vg_tp_cleanup(&p);
    char *ids = logged_ids(data, NULL);
    ASSERT_STR_CONTAINS(ids, "\nt1\n");
    ASSERT_STR_CONTAINS(ids, "\nt2\n");
    ASSERT_FALSE(strstr(ids, "\nbad\n") != NULL); /* nothing half-written reached the log */
    ASSERT_FALSE(strstr(ids, "\nbad2\n") != NULL);
    ASSERT_STR_CONTAINS(ids, "\nt3\n");
    ASSERT_FALSE(strstr(ids, "\ndup\n") != NULL);
    free(ids);
}

VG_TEST(ingest_kill9_loses_no_acknowledged_transaction)
{
    vg_tp_t p;
    char data[512];
    int port = 0;
    start(&p, data, sizeof(data), &port);
    int pfd[2];
    ASSERT_EQ(pipe(pfd), 0);
    pid_t client = fork();
    ASSERT_GE(client, 0);
    if (client == 0) {
        /* Post transactions one by one; report each id once acknowledged. */
        close(pfd[0]);
        struct timespec wall;
        clock_gettime(CLOCK_REALTIME, &wall);
        long long now_ms = (long long)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
        for (int i = 0;; i++) {
            char body[256];
            snprintf(body, sizeof(body),
                     "{\"transaction_id\":\"k%06d\",\"account_id\":\"A%d\",\"amount\":%d,"
                     "\"currency\":\"EUR\",\"timestamp\":%lld}",
                     i, i % KILL_ACCOUNTS, 1 + i % 50, (long long)now_ms);
            vg_tc_response_t r;
            if (vg_tc_request(port, "POST", "/v1/transactions", "application/json", body,
                              strlen(body), &r) != 0)
                _exit(0); /* the engine is gone */
            if (r.status == 202) {
                char id[16];
                snprintf(id, sizeof(id), "k%06d\n", i);
                if (write(pfd[1], id, 8) != 8)
                    _exit(1);
            }
            vg_tc_response_free(&r);
        }
    }
    close(pfd[1]);
    uint64_t seed = vg_test_seed();
    struct timespec ts = {0, (long)(200 + seed % 400) * 1000000};
    nanosleep(&ts, NULL);
    vg_tp_signal(&p, SIGKILL);
    int status = 0;
    ASSERT_OK(vg_tp_wait(&p, 20000, &status));
    waitpid(client, &status, 0);
    vg_tp_cleanup(&p);
    char acked[1 << 16];
    size_t n = 0;
    ssize_t got = 0;
    while (n < sizeof(acked) - 1 && (got = read(pfd[0], acked + n, sizeof(acked) - 1 - n)) > 0)
        n += (size_t)got;
    acked[n] = '\0';
    close(pfd[0]);
    ASSERT_GT(n, 8); /* the client got some acknowledgements */
    unsigned per_account[KILL_ACCOUNTS] = {0};
    char *ids = logged_ids(data, per_account);
    size_t count = 0;
    for (char *line = acked; *line; line += 8) {
        char want[16];
        snprintf(want, sizeof(want), "\n%.7s\n", line);
        if (!strstr(ids, want))
            VG_FAIL("acknowledged %.7s is not in the log", line);
        count++;
    }
    fprintf(stderr, "%zu acknowledged transactions, all in the log\n", count);
    free(ids);
    /* Restarted, the engine replays its logs from the applied offsets: each account's state
     * counts every transaction of its log exactly once, in its velocity features too. */
    start_on(&p, data, &port);
    for (unsigned a = 0; a < KILL_ACCOUNTS; a++) {
        char path[64];
        snprintf(path, sizeof(path), "/v1/accounts/A%u", a);
        vg_tc_response_t r;
        ASSERT_OK(vg_tc_request(port, "GET", path, NULL, NULL, 0, &r));
        if (per_account[a] == 0) {
            ASSERT_EQ(r.status, 404);
            vg_tc_response_free(&r);
            continue;
        }
        ASSERT_EQ(r.status, 200);
        char want[96];
        snprintf(want, sizeof(want), "\"transactions\":%u,", per_account[a]);
        ASSERT_STR_CONTAINS(r.body, want);
        snprintf(want, sizeof(want), "\"tx_count_30d\":%u.0,", per_account[a]);
        ASSERT_STR_CONTAINS(r.body, want);
        vg_tc_response_free(&r);
    }
    vg_tp_signal(&p, SIGTERM);
    ASSERT_OK(vg_tp_wait(&p, 20000, &status));
    vg_tp_cleanup(&p);
}

struct burst {
    int port;
    int thread;
    int ok;
    int busy;
    int retry_after;
    char ok_ids[64][24];
};

static void *burst_client(void *arg)
{
    struct burst *b = arg;
    for (int i = 0; i < 64; i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"transaction_id\":\"b%d-%d\",\"account_id\":\"B%d\",\"amount\":\"1.00\","
                 "\"currency\":\"EUR\",\"timestamp\":\"2026-11-24T06:00:00Z\"}",
                 b->thread, i, i % 7);
        vg_tc_response_t r;
        if (vg_tc_request(b->port, "POST", "/v1/transactions", "application/json", body,
                          strlen(body), &r) != 0)
            continue;
        char h[16];
        if (r.status == 202)
            snprintf(b->ok_ids[b->ok++], sizeof(b->ok_ids[0]), "b%d-%d", b->thread, i);
        else if (r.status == 429) {
            b->busy++;
            b->retry_after += vg_tc_header(&r, "retry-after", h, sizeof(h)) != NULL;
        }
        vg_tc_response_free(&r);
    }
    return NULL;
}

/* A partition whose queue is full answers 429 with Retry-After instead of queueing without
 * bound; what it answered 202 is in the log, what it refused is not. */
VG_TEST(ingest_full_partition_answers_429_and_loses_nothing)
{
    vg_tp_t p;
    char data[512];
    snprintf(data, sizeof(data), "%s/data", vg_test_tmpdir());
    const char *args[] = {"serve",      "--data", data,           "--http-port", "0",
                          "--tcp-port", "0",      "--partitions", "4",           NULL};
    const char *env[] = {"VIGIL_RUNTIME_MAILBOX_CAPACITY=1", NULL};
    ASSERT_OK(vg_tp_spawn(&p, args, env));
    char line[512];
    ASSERT_OK(vg_tp_wait_line(&p, "vigil: serving", line, sizeof(line), 20000));
    int port = atoi(strchr(strstr(line, "http="), ':') + 1);
    enum { THREADS = 32 };
    struct burst *b = vg_xcalloc(THREADS, sizeof(*b));
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        b[t].port = port;
        b[t].thread = t;
        ASSERT_EQ(pthread_create(&th[t], NULL, burst_client, &b[t]), 0);
    }
    int ok = 0;
    int busy = 0;
    int retry = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        ok += b[t].ok;
        busy += b[t].busy;
        retry += b[t].retry_after;
    }
    fprintf(stderr, "burst: %d accepted, %d answered 429\n", ok, busy);
    ASSERT_GT(busy, 0);
    ASSERT_EQ(retry, busy); /* every 429 says when to retry */
    ASSERT_EQ(ok + busy, THREADS * 64);
    vg_tp_signal(&p, SIGTERM);
    int status = 0;
    ASSERT_OK(vg_tp_wait(&p, 20000, &status));
    vg_tp_cleanup(&p);
    char *ids = logged_ids(data, NULL);
    size_t logged = 0;
    for (char *q = ids; (q = strchr(q, '\n')) && q[1]; q++)
        logged++;
    for (int t = 0; t < THREADS; t++) {
        for (int i = 0; i < b[t].ok; i++) {
            char want[32];
            snprintf(want, sizeof(want), "\n%s\n", b[t].ok_ids[i]);
            ASSERT_STR_CONTAINS(ids, want);
        }
    }
    ASSERT_EQ(logged, (size_t)ok); /* nothing refused reached the log */
    free(ids);
    free(b);
}
