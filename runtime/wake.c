/* SPDX-License-Identifier: MIT */
/*
 * The cross-thread wake-up; see wake.h. Thread: as marked there.
 */
#include "runtime/wake.h"
#include "runtime/compiler.h"
#include "runtime/logging.h"

#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void on_poll(uv_poll_t *h, int status, int events)
{
    (void)status; /* an eventfd does not fail to poll */
    (void)events;
    vg_wake_t *w = vg_container_of(h, vg_wake_t, poll);
    uint64_t n;
    ssize_t r;
    do
        r = read(w->fd, &n, sizeof(n)); /* resets the count: later sends wake us again */
    while (r < 0 && errno == EINTR);
    w->fn(w);
}

int vg_wake_init(uv_loop_t *loop, vg_wake_t *w, vg_wake_fn fn)
{
    w->fn = fn;
    w->on_closed = NULL;
    w->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->fd < 0)
        return -errno;
    int rc = uv_poll_init(loop, &w->poll, w->fd);
    if (rc != 0) {
        (void)close(w->fd);
        w->fd = -1;
        return rc;
    }
    rc = uv_poll_start(&w->poll, UV_READABLE, on_poll);
    VG_CHECK(rc == 0); /* fails only for a closing handle or bad events */
    return 0;
}

void vg_wake_send(vg_wake_t *w)
{
    uint64_t one = 1;
    ssize_t r;
    do
        r = write(w->fd, &one, sizeof(one));
    while (r < 0 && errno == EINTR);
    /* EAGAIN only when the count would pass 2^64 - 2: the loop is awake already. */
}

static void on_closed(uv_handle_t *h)
{
    vg_wake_t *w = vg_container_of((uv_poll_t *)h, vg_wake_t, poll);
    if (w->on_closed)
        w->on_closed(w);
}

void vg_wake_close(vg_wake_t *w, void (*cb)(vg_wake_t *w))
{
    w->on_closed = cb;
    uv_close((uv_handle_t *)&w->poll, on_closed);
}

void vg_wake_release(vg_wake_t *w)
{
    if (w->fd >= 0)
        (void)close(w->fd);
    w->fd = -1;
}
