/* SPDX-License-Identifier: MIT */
/*
 * Backpressure through the real binary: clients flood TCP ingest with pipelined transactions
 * and do not read their replies for a while. The engine must stop reading their sockets
 * (the clients' writes block) instead of buffering without bound: its anonymous memory
 * (RssAnon: heap, not the LMDB and log pages that the kernel can drop) stays under the bound
 * stated in README.md, and once the clients read again every request gets its reply.
 */
#include "actors/frame.h"
#include "runtime/alloc.h"
#include "runtime/io.h"
#include "runtime/logging.h"
#include "storage/vigil.pb-c.h"
#include "tests/support/proc.h"
#include "tests/vg_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CONNS        4
#define PER_CONN     200000 /* about 10 MB of frames each: more than the kernel buffers */
#define RSS_BOUND_MB 64     /* README.md: "Memory under load" */

struct flood {
    int fd;
    uint8_t *out; /* every frame of this connection, prebuilt */
    size_t out_len;
    size_t out_off;
    uint8_t in[1 << 16];
    size_t in_len;
    uint64_t replies;
    uint64_t errors;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void build_frames(struct flood *fl, int conn)
{
    size_t cap = (size_t)PER_CONN * 128;
    fl->out = vg_xmalloc(cap);
    long long base = now_ms() - 20LL * 86400000;
    for (uint64_t i = 0; i < PER_CONN; i++) {
        char id[32];
        char acct[32];
        char cur[] = "EUR";
        snprintf(id, sizeof(id), "f%d-%llu", conn, (unsigned long long)i);
        snprintf(acct, sizeof(acct), "fa%llu",
                 (unsigned long long)((i * 7 + (unsigned)conn) % 50000));
        Vigil__Transaction tx = VIGIL__TRANSACTION__INIT;
        tx.transaction_id = id;
        tx.account_id = acct;
        tx.amount_minor = 1000 + (int64_t)(i % 5000);
        tx.currency = cur;
        tx.timestamp_ms = base + (int64_t)i * 1000;
        Vigil__IngestRequest r = VIGIL__INGEST_REQUEST__INIT;
        r.seq = i;
        r.item_case = VIGIL__INGEST_REQUEST__ITEM_TRANSACTION;
        r.transaction = &tx;
        size_t len = vigil__ingest_request__get_packed_size(&r);
        VG_CHECK(fl->out_len + 4 + len <= cap);
        vg_frame_header(fl->out + fl->out_len, (uint32_t)len);
        vigil__ingest_request__pack(&r, fl->out + fl->out_len + 4);
        fl->out_len += 4 + len;
    }
}

/* Consumes whole reply frames from fl->in. */
static void take_replies(struct flood *fl)
{
    size_t off = 0;
    while (fl->in_len - off >= 4) {
        const uint8_t *h = fl->in + off;
        size_t len = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
        if (fl->in_len - off < 4 + len)
            break;
        Vigil__IngestReply *r = vigil__ingest_reply__unpack(NULL, len, h + 4);
        ASSERT_NOT_NULL(r);
        ASSERT_EQ_U(r->seq, fl->replies); /* in order, none missing */
        fl->errors += r->result_case != VIGIL__INGEST_REPLY__RESULT_DECISION;
        fl->replies++;
        vigil__ingest_reply__free_unpacked(r, NULL);
        off += 4 + len;
    }
    memmove(fl->in, fl->in + off, fl->in_len - off);
    fl->in_len -= off;
}

VG_TEST_SLOW(flood_is_held_back_and_memory_stays_bounded)
{
    char data[512];
    snprintf(data, sizeof(data), "%s/data", vg_test_tmpdir());
    vg_tp_t p;
    const char *args[] = {"serve",      "--data", data,           "--http-port", "0",
                          "--tcp-port", "0",      "--partitions", "2",           NULL};
    ASSERT_OK(vg_tp_spawn(&p, args, NULL));
    char line[512];
    ASSERT_OK(vg_tp_wait_line(&p, "vigil: serving", line, sizeof(line), 20000));
    int port = atoi(strchr(strstr(line, "tcp="), ':') + 1);
    struct flood *fl = vg_xcalloc(CONNS, sizeof(*fl));
    for (int c = 0; c < CONNS; c++) {
        build_frames(&fl[c], c);
        fl[c].fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(connect(fl[c].fd, (struct sockaddr *)&a, sizeof(a)), 0);
        ASSERT_EQ(fcntl(fl[c].fd, F_SETFL, O_NONBLOCK), 0);
        int small = 64 * 1024; /* keep the client's own kernel buffer out of the picture */
        ASSERT_EQ(setsockopt(fl[c].fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    }
    /* Phase 1: write only. The engine must stop taking bytes long before all are sent. */
    long max_kb = 0;
    long long quiet_since = now_ms();
    bool blocked = false;
    while (now_ms() - quiet_since < 1500) {
        bool wrote = false;
        for (int c = 0; c < CONNS; c++) {
            struct flood *f = &fl[c];
            if (f->out_off == f->out_len)
                continue;
            ssize_t n = write(f->fd, f->out + f->out_off, f->out_len - f->out_off);
            if (n > 0) {
                f->out_off += (size_t)n;
                wrote = true;
            } else {
                ASSERT_TRUE(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
            }
        }
        long kb = vg_io_proc_status_kb(p.pid, "RssAnon:");
        max_kb = kb > max_kb ? kb : max_kb;
        if (wrote)
            quiet_since = now_ms();
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    size_t unsent = 0;
    for (int c = 0; c < CONNS; c++)
        unsent += fl[c].out_len - fl[c].out_off;
    blocked = unsent > 0;
    ASSERT_TRUE(blocked); /* the engine pushed back instead of reading everything */
    /* Phase 2: read and write until every request has its reply. */
    long long deadline = now_ms() + 120000;
    uint64_t total = 0;
    while (total < (uint64_t)CONNS * PER_CONN && now_ms() < deadline) {
        struct pollfd pfd[CONNS];
        for (int c = 0; c < CONNS; c++) {
            pfd[c].fd = fl[c].fd;
            pfd[c].events = (short)(POLLIN | (fl[c].out_off < fl[c].out_len ? POLLOUT : 0));
        }
        ASSERT_GE(poll(pfd, CONNS, 1000), 0);
        total = 0;
        for (int c = 0; c < CONNS; c++) {
            struct flood *f = &fl[c];
            if (pfd[c].revents & POLLOUT) {
                ssize_t n = write(f->fd, f->out + f->out_off, f->out_len - f->out_off);
                if (n > 0)
                    f->out_off += (size_t)n;
            }
            if (pfd[c].revents & POLLIN) {
                ssize_t n = read(f->fd, f->in + f->in_len, sizeof(f->in) - f->in_len);
                ASSERT_GT(n, 0);
                f->in_len += (size_t)n;
                take_replies(f);
            }
            total += f->replies;
        }
        long kb = vg_io_proc_status_kb(p.pid, "RssAnon:");
        max_kb = kb > max_kb ? kb : max_kb;
    }
    uint64_t errors = 0;
    for (int c = 0; c < CONNS; c++) {
        errors += fl[c].errors;
        close(fl[c].fd);
        free(fl[c].out);
    }
    free(fl);
    fprintf(stderr,
            "flood: %zu bytes held back at the peak, %llu replies, %llu errors, "
            "max RssAnon %ld MiB (bound %d)\n",
            unsent, (unsigned long long)total, (unsigned long long)errors, max_kb / 1024,
            RSS_BOUND_MB);
    ASSERT_EQ_U(total, (uint64_t)CONNS * PER_CONN);
    ASSERT_EQ_U(errors, 0);
    ASSERT_GT(max_kb, 0);
    ASSERT_LT(max_kb, RSS_BOUND_MB * 1024);
    vg_tp_signal(&p, SIGTERM);
    int status = 0;
    ASSERT_OK(vg_tp_wait(&p, 30000, &status));
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    vg_tp_cleanup(&p);
}
