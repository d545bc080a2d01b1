/* SPDX-License-Identifier: MIT */
/* The accepting listener; see listener.h. Thread: the loop's. */
#include "runtime/listener.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/compiler.h"
#include "runtime/error.h"
#include "runtime/logging.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPTS_PER_WAKE 64 /* then the loop's other work gets its turn */

/* A record under the listener's own name ("http", "tcp") as its module. */
#define LISTENER_LOG(level, l, ...)                                                                \
    do {                                                                                           \
        if ((int)(level) >= atomic_load_explicit(&vg_log_level_current, memory_order_relaxed))     \
            vg_log_write((level), (l)->name, __VA_ARGS__);                                         \
    } while (0)

struct vg_listener {
    uv_loop_t *loop;
    const char *name;
    int fd;
    int port;
    vg_listener_fn fn;
    void *ctx;
    uv_poll_t poll;
    uv_timer_t timer; /* resumes accepting after a pause */
    unsigned open_handles;
    uint64_t paused_since_ns; /* 0 while accepting */
    uint64_t pauses;
    void (*on_closed)(void *ctx);
    void *closed_ctx;
};

/* A listening, non-blocking, close-on-exec socket on bind_addr:port. OUT: *fd, *port. */
static int listen_on(const char *bind_addr, int port, int *out_fd, int *out_port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t sl = 0;
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, bind_addr, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        sl = sizeof(*in4);
    } else if (inet_pton(AF_INET6, bind_addr, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        sl = sizeof(*in6);
    } else {
        return VG_EINVAL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    int rc = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        fcntl(fd, F_SETFL, O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ||
        bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 511) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        rc = -errno;
    if (rc != 0) {
        (void)close(fd); /* never used: nothing to flush */
        return rc;
    }
    *out_port = ntohs(ss.ss_family == AF_INET ? in4->sin_port : in6->sin6_port);
    *out_fd = fd;
    return 0;
}

static void on_readable(uv_poll_t *p, int status, int events);

static void on_resume(uv_timer_t *t)
{
    vg_listener_t *l = vg_container_of(t, vg_listener_t, timer);
    uv_poll_start(&l->poll, UV_READABLE, on_readable);
}

/* The pending connection stays in the backlog and the socket stays readable, so accepting
 * again at once would fail again, as fast as the loop turns (and log each time: 690,000 lines
 * in 3 s before 2026-12-03). The socket is left alone for VG_LISTENER_PAUSE_MS instead. */
static void pause_accepting(vg_listener_t *l, int err)
{
    uv_poll_stop(&l->poll);
    uv_timer_start(&l->timer, on_resume, VG_LISTENER_PAUSE_MS, 0);
    l->pauses++;
    if (l->paused_since_ns)
        return;
    l->paused_since_ns = vg_clock_mono_ns();
    LISTENER_LOG(VG_LOG_LEVEL_WARN, l,
                 "accepting paused port=%d err=%s: new connections wait (tried again every %d ms)",
                 l->port, vg_strerror(err), VG_LISTENER_PAUSE_MS);
}

/* accept's errors: 1 try the next connection, 0 none is waiting, -1 paused. */
static int accept_failed(vg_listener_t *l, int err)
{
    switch (err) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
        return 0;
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
        pause_accepting(l, -err);
        return -1;
    default: /* ECONNABORTED, EINTR, or a network error of that connection (accept(2)) */
        return 1;
    }
}

static void on_readable(uv_poll_t *p, int status, int events)
{
    (void)events;
    vg_listener_t *l = vg_container_of(p, vg_listener_t, poll);
    if (status < 0) {
        LISTENER_LOG(VG_LOG_LEVEL_WARN, l, "listener poll failed err=%s", vg_strerror(status));
        return;
    }
    for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
        int fd = accept(l->fd, NULL, NULL); /* accept4 is a GNU extension; this is not hot */
        if (fd < 0) {
            if (accept_failed(l, errno) > 0)
                continue;
            return;
        }
        if (l->paused_since_ns) {
            LISTENER_LOG(VG_LOG_LEVEL_WARN, l, "accepting again port=%d after=%llums", l->port,
                         (unsigned long long)((vg_clock_mono_ns() - l->paused_since_ns) / 1000000));
            l->paused_since_ns = 0;
        }
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* latency only */
        l->fn(l->ctx, fd);
    }
}

int vg_listener_open(uv_loop_t *loop, const char *name, const char *bind_addr, int port,
                     vg_listener_fn fn, void *ctx, vg_listener_t **out)
{
    vg_listener_t *l = vg_xcalloc(1, sizeof(*l));
    int rc = listen_on(bind_addr, port, &l->fd, &l->port);
    if (rc != 0) {
        free(l);
        return rc;
    }
    l->loop = loop;
    l->name = name;
    l->fn = fn;
    l->ctx = ctx;
    rc = uv_poll_init(loop, &l->poll, l->fd);
    if (rc == 0)
        rc = uv_poll_start(&l->poll, UV_READABLE, on_readable);
    VG_CHECK(rc == 0); /* a fresh listening socket on a live loop */
    rc = uv_timer_init(loop, &l->timer);
    VG_CHECK(rc == 0);
    l->open_handles = 2;
    LISTENER_LOG(VG_LOG_LEVEL_DEBUG, l, "listening port=%d", l->port);
    *out = l;
    return 0;
}

int vg_listener_port(const vg_listener_t *l)
{
    return l->port;
}

uint64_t vg_listener_pauses(const vg_listener_t *l)
{
    return l->pauses;
}

static void on_handle_closed(uv_handle_t *h)
{
    vg_listener_t *l = h->data;
    if (--l->open_handles > 0)
        return;
    (void)close(l->fd); /* listening socket: nothing to flush */
    if (l->on_closed)
        l->on_closed(l->closed_ctx);
    free(l);
}

void vg_listener_close(vg_listener_t *l, void (*on_closed)(void *ctx), void *ctx)
{
    l->on_closed = on_closed;
    l->closed_ctx = ctx;
    l->poll.data = l;
    l->timer.data = l;
    uv_poll_stop(&l->poll);
    uv_timer_stop(&l->timer);
    uv_close((uv_handle_t *)&l->poll, on_handle_closed);
    uv_close((uv_handle_t *)&l->timer, on_handle_closed);
}
