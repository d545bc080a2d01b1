/* SPDX-License-Identifier: MIT */
/*
 * uv_poll_start without the needless epoll_ctl pair. Linked into each executable (never into
 * a library) and exported, so it takes the place of libuv's own for every caller, above all
 * libwebsockets' libuv glue (libwebsockets-evlib_uv.so).
 *
 * Why: libuv's uv_poll_start first stops the watcher, which removes the descriptor from epoll
 * at once (EPOLL_CTL_DEL), then starts it again, which adds it back at the next poll
 * (EPOLL_CTL_ADD), even when the events did not change. libwebsockets 4.1 changes a
 * connection's events several times per HTTP request and calls uv_poll_start each time: 7
 * epoll_ctl calls per request, 11.5% of the HTTP server's CPU under load (BENCHMARKS.md).
 *
 * What: for a handle that is already active (its descriptor is in epoll) and stays active,
 * this sets the wanted events and queues the watcher exactly as libuv's own uv__io_start and
 * uv__io_stop do for a partial change; libuv's next poll then issues one EPOLL_CTL_MOD, or
 * nothing when the events are the ones already wanted. Every other case (first start, stop,
 * a closing handle) goes to libuv's function. libuv's poll already masks returned events with
 * the wanted ones, so an event that was dropped in the same turn is not delivered.
 *
 * This touches libuv's private fields (uv__io_t, the loop's watcher queue). They are part of
 * libuv's v1 ABI (in its public headers), and the shim is enabled only for the libuv version
 * it was checked against (1.44, Debian 12); on any other it passes every call through.
 * Thread: the loop's, like uv_poll_start. Built with _GNU_SOURCE (RTLD_NEXT) by CMakeLists.txt.
 */
#include "runtime/uvpoll.h"

#include <dlfcn.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef int (*vg_uvpoll_start_t)(uv_poll_t *handle, int pevents, uv_poll_cb cb);

static _Atomic(vg_uvpoll_start_t) real_start;
static atomic_int shim_state; /* 0 unknown, 1 on, -1 off */

/* libuv's epoll backend takes these for UV__POLLRDHUP and UV__POLLPRI (src/unix/internal.h). */
#define SHIM_POLLRDHUP POLLRDHUP
#define SHIM_POLLPRI   POLLPRI

static vg_uvpoll_start_t resolve(void)
{
    vg_uvpoll_start_t f = atomic_load_explicit(&real_start, memory_order_acquire);
    if (f)
        return f;
    void *sym = dlsym(RTLD_NEXT, "uv_poll_start");
    if (!sym)
        abort();                 /* the executable links libuv: it cannot be missing */
    memcpy(&f, &sym, sizeof(f)); /* POSIX: a dlsym result converts to a function pointer */
    unsigned v = uv_version();
    atomic_store_explicit(&shim_state, (v >> 16) == 1 && ((v >> 8) & 0xff) == 44 ? 1 : -1,
                          memory_order_relaxed);
    atomic_store_explicit(&real_start, f, memory_order_release);
    return f;
}

bool vg_uvpoll_shim_active(void)
{
    (void)resolve();
    return atomic_load_explicit(&shim_state, memory_order_relaxed) == 1;
}

typedef void *queue_t[2];

static void queue_insert_tail(queue_t *head, queue_t *q)
{
    (*q)[0] = head;       /* next */
    (*q)[1] = (*head)[1]; /* prev */
    (*(queue_t *)(*q)[1])[0] = q;
    (*head)[1] = q;
}

static int queue_empty(queue_t *q)
{
    return (*q)[0] == (void *)q;
}

int uv_poll_start(uv_poll_t *handle, int pevents, uv_poll_cb cb)
{
    vg_uvpoll_start_t real = resolve();
    if (atomic_load_explicit(&shim_state, memory_order_relaxed) != 1 || pevents == 0 ||
        !uv_is_active((uv_handle_t *)handle) || uv_is_closing((uv_handle_t *)handle))
        return real(handle, pevents, cb);
    unsigned events = 0;
    if (pevents & UV_READABLE)
        events |= POLLIN;
    if (pevents & UV_PRIORITIZED)
        events |= SHIM_POLLPRI;
    if (pevents & UV_WRITABLE)
        events |= POLLOUT;
    if (pevents & UV_DISCONNECT)
        events |= SHIM_POLLRDHUP;
    uv__io_t *w = &handle->io_watcher;
    handle->poll_cb = cb;
    if (w->pevents == events)
        return 0;
    w->pevents = events;
    queue_t *q = (queue_t *)(void *)&w->watcher_queue;
    if (queue_empty(q))
        queue_insert_tail((queue_t *)(void *)&handle->loop->watcher_queue, q);
    return 0;
}
