/* SPDX-License-Identifier: MIT */
/*
 * Tests of the accepting listener (runtime/listener.h): connections reach their owner; out of
 * descriptors it pauses and tries again every 100 ms, leaving the client waiting in the
 * backlog, instead of failing at every loop turn or (as libuv's listener does) accepting and
 * closing every waiting connection; a bad address is refused; closing calls back once.
 */
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/error.h"
#include "runtime/listener.h"
#include "tests/support/fds.h"
#include "tests/vg_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

struct owner {
    int accepted;
    int cloexec;
    int nodelay;
    int closed;
};

static void take(void *ctx, int fd)
{
    struct owner *o = ctx;
    o->accepted++;
    o->cloexec += (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
    int v = 0;
    socklen_t len = sizeof(v);
    o->nodelay += getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0 && v;
    close(fd);
}

static void on_closed(void *ctx)
{
    ((struct owner *)ctx)->closed++;
}

/* A blocking client socket connected to 127.0.0.1:port (into the backlog, accepted or not). */
static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* Runs the loop until *count reaches want or ms pass. */
static void run_until(uv_loop_t *loop, const int *count, int want, unsigned ms)
{
    uint64_t end = vg_clock_mono_ns() + (uint64_t)ms * 1000000;
    while (*count < want && vg_clock_mono_ns() < end) {
        (void)uv_run(loop, UV_RUN_NOWAIT);
        struct timespec step = {0, 1000000};
        nanosleep(&step, NULL);
    }
}

static void close_listener(uv_loop_t *loop, vg_listener_t *l, struct owner *o)
{
    vg_listener_close(l, on_closed, o);
    run_until(loop, &o->closed, 1, 2000);
    ASSERT_EQ(o->closed, 1);
    ASSERT_EQ(uv_loop_close(loop), 0); /* no handle left */
}

VG_TEST(listener_hands_each_connection_over)
{
    uv_loop_t loop;
    ASSERT_EQ(uv_loop_init(&loop), 0);
    struct owner o = {0};
    vg_listener_t *l = NULL;
    ASSERT_OK(vg_listener_open(&loop, "test", "127.0.0.1", 0, take, &o, &l));
    ASSERT_GT(vg_listener_port(l), 0);
    int c[3];
    for (int i = 0; i < 3; i++)
        c[i] = connect_to(vg_listener_port(l));
    run_until(&loop, &o.accepted, 3, 5000);
    ASSERT_EQ(o.accepted, 3);
    ASSERT_EQ(o.cloexec, 3);
    ASSERT_EQ(o.nodelay, 3);
    ASSERT_EQ_U(vg_listener_pauses(l), 0);
    for (int i = 0; i < 3; i++)
        close(c[i]);
    close_listener(&loop, l, &o);
    vg_listener_t *bad = NULL;
    ASSERT_ERR(vg_listener_open(&loop, "test", "localhost", 0, take, &o, &bad), VG_EINVAL);
    ASSERT_NULL(bad);
}

VG_TEST(listener_out_of_descriptors_pauses_and_keeps_the_client_waiting)
{
    uv_loop_t loop;
    ASSERT_EQ(uv_loop_init(&loop), 0);
    struct owner o = {0};
    vg_listener_t *l = NULL;
    ASSERT_OK(vg_listener_open(&loop, "test", "127.0.0.1", 0, take, &o, &l));
    int client = connect_to(vg_listener_port(l));
    vg_tf_exhausted_t *x = vg_xcalloc(1, sizeof(*x));
    vg_tf_exhaust(x);
    run_until(&loop, &o.accepted, 1, 350); /* cannot be accepted meanwhile */
    ASSERT_EQ(o.accepted, 0);
    uint64_t pauses = vg_listener_pauses(l);
    char byte;
    ASSERT_EQ(recv(client, &byte, 1, MSG_DONTWAIT), -1); /* not closed: it waits */
    ASSERT_EQ(errno, EAGAIN);
    vg_tf_restore(x);
    free(x);
    run_until(&loop, &o.accepted, 1, 5000);
    ASSERT_EQ(o.accepted, 1);
    /* one pause per 100 ms while out of descriptors (350 ms), not one per loop turn */
    ASSERT_GE(pauses, 1);
    ASSERT_LE(pauses, 6);
    close(client);
    close_listener(&loop, l, &o);
}
