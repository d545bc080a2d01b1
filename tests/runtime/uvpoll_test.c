/* SPDX-License-Identifier: MIT */
/*
 * Tests of the uv_poll_start replacement (runtime/uvpoll.c): a poll handle whose events change
 * while it is active gets the new events, in epoll too (read back from /proc/self/fdinfo), and
 * only those are delivered; starting with the events it already has queues nothing; stop,
 * start again and close behave as with libuv's own function.
 */
#include "runtime/uvpoll.h"
#include "tests/vg_test.h"

#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

struct seen {
    int calls;
    int events; /* union of what was delivered */
};

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct seen *s = h->data;
    ASSERT_EQ(status, 0);
    s->calls++;
    s->events |= events;
}

/* The events epoll holds for `fd` on `loop`'s epoll descriptor; -1 when not registered. */
static long epoll_events(uv_loop_t *loop, int fd)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", uv_backend_fd(loop));
    FILE *f = fopen(path, "r");
    ASSERT_NOT_NULL(f);
    char line[256];
    long found = -1;
    while (fgets(line, sizeof(line), f)) {
        int tfd = -1;
        unsigned ev = 0;
        if (sscanf(line, "tfd: %d events: %x", &tfd, &ev) == 2 && tfd == fd)
            found = (long)(ev & (EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLRDHUP)); /* not ERR, HUP */
    }
    (void)fclose(f);
    return found;
}

static struct seen turn(uv_loop_t *loop, uv_poll_t *h)
{
    struct seen *s = h->data;
    memset(s, 0, sizeof(*s));
    (void)uv_run(loop, UV_RUN_NOWAIT);
    return *s;
}

static int queued(uv_poll_t *h)
{
    return h->io_watcher.watcher_queue[0] != (void *)&h->io_watcher.watcher_queue;
}

VG_TEST(shim_is_on_for_the_libuv_it_was_checked_against)
{
    unsigned v = uv_version();
    ASSERT_EQ(vg_uvpoll_shim_active(), (v >> 16) == 1 && ((v >> 8) & 0xff) == 44);
}

VG_TEST(changing_an_active_handles_events_takes_effect)
{
    uv_loop_t loop;
    ASSERT_EQ(uv_loop_init(&loop), 0);
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    uv_poll_t h;
    struct seen s = {0};
    ASSERT_EQ(uv_poll_init(&loop, &h, sv[0]), 0);
    h.data = &s;

    ASSERT_EQ(uv_poll_start(&h, UV_READABLE, on_poll), 0);
    ASSERT_EQ(turn(&loop, &h).calls, 0); /* nothing to read */
    ASSERT_EQ(epoll_events(&loop, sv[0]), EPOLLIN);

    /* Same events again: nothing to tell epoll. */
    ASSERT_EQ(uv_poll_start(&h, UV_READABLE, on_poll), 0);
    if (vg_uvpoll_shim_active())
        ASSERT_FALSE(queued(&h));
    ASSERT_EQ(turn(&loop, &h).calls, 0);
    ASSERT_EQ(epoll_events(&loop, sv[0]), EPOLLIN);

    /* Add WRITABLE while active: delivered at once (the socket has room). */
    ASSERT_EQ(uv_poll_start(&h, UV_READABLE | UV_WRITABLE, on_poll), 0);
    struct seen r = turn(&loop, &h);
    ASSERT_EQ(r.calls, 1);
    ASSERT_EQ(r.events, UV_WRITABLE);
    ASSERT_EQ(epoll_events(&loop, sv[0]), EPOLLIN | EPOLLOUT);

    /* Drop it again: no more WRITABLE, and epoll no longer reports it. */
    ASSERT_EQ(uv_poll_start(&h, UV_READABLE, on_poll), 0);
    ASSERT_EQ(turn(&loop, &h).calls, 0);
    ASSERT_EQ(epoll_events(&loop, sv[0]), EPOLLIN);

    /* Data arrives: READABLE only. */
    ASSERT_EQ(write(sv[1], "x", 1), 1);
    r = turn(&loop, &h);
    ASSERT_EQ(r.calls, 1);
    ASSERT_EQ(r.events, UV_READABLE);

    /* Dropping READABLE for WRITABLE in the same turn as the data: only WRITABLE comes. */
    ASSERT_EQ(uv_poll_start(&h, UV_WRITABLE, on_poll), 0);
    r = turn(&loop, &h);
    ASSERT_EQ(r.events, UV_WRITABLE);
    ASSERT_EQ(epoll_events(&loop, sv[0]), EPOLLOUT);

    /* Stop (libuv's own) takes it out of epoll; a start after it puts it back. */
    ASSERT_EQ(uv_poll_stop(&h), 0);
    ASSERT_EQ(turn(&loop, &h).calls, 0);
    ASSERT_EQ(epoll_events(&loop, sv[0]), -1);
    ASSERT_EQ(uv_poll_start(&h, UV_READABLE, on_poll), 0);
    r = turn(&loop, &h);
    ASSERT_EQ(r.calls, 1); /* the byte written above is still there */
    ASSERT_EQ(r.events, UV_READABLE);
    ASSERT_EQ(epoll_events(&loop, sv[0]), EPOLLIN);

    /* A change queued and then closed before the loop ran: the close wins. */
    ASSERT_EQ(uv_poll_start(&h, UV_READABLE | UV_WRITABLE, on_poll), 0);
    uv_close((uv_handle_t *)&h, NULL);
    (void)uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(epoll_events(&loop, sv[0]), -1);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    (void)close(sv[0]);
    (void)close(sv[1]);
}
