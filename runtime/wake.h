/* SPDX-License-Identifier: MIT */
/*
 * A cross-thread wake-up for a libuv loop: an eventfd that the loop watches with a uv_poll_t.
 * It does what uv_async_t does, without its spin. In libuv 1.44 (Debian 12) a loop woken by
 * uv_async_send spins, then calls sched_yield in a loop, until the sending thread has
 * returned from its eventfd write and flagged the handle done; a sender preempted right after
 * the write (common when the wake-up makes the woken thread run on a busy core) keeps the
 * woken loop spinning for the rest of its time slice (libuv PR #3879, fixed in 1.45).
 *
 * Wake-ups coalesce: several sends before the loop runs give one call. The callback runs on
 * the loop's thread. Thread: vg_wake_send from any thread; the rest on the loop's thread.
 */
#ifndef VG_RUNTIME_WAKE_H
#define VG_RUNTIME_WAKE_H

#include <uv.h>

typedef struct vg_wake vg_wake_t;
typedef void (*vg_wake_fn)(vg_wake_t *w);

struct vg_wake {
    uv_poll_t poll;
    int fd;
    vg_wake_fn fn;
    void (*on_closed)(vg_wake_t *w);
};

/* Opens the eventfd and starts watching it on `loop`. Returns 0 or a negative errno. */
int vg_wake_init(uv_loop_t *loop, vg_wake_t *w, vg_wake_fn fn);

/* Wakes the loop: `fn` runs there once, soon, for any number of sends before it. Never blocks.
 * Thread: any, until vg_wake_release. */
void vg_wake_send(vg_wake_t *w);

/* Stops watching; `on_closed` (may be NULL) runs on the loop once the handle is closed. The
 * eventfd stays open, so a sender that is late is harmless, until vg_wake_release. */
void vg_wake_close(vg_wake_t *w, void (*on_closed)(vg_wake_t *w));

/* Closes the eventfd, once the handle is closed and no thread can send any more. */
void vg_wake_release(vg_wake_t *w);

#endif
