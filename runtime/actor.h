/* SPDX-License-Identifier: MIT */
/*
 * The actor runtime: N worker threads, each running its own libuv loop, and actors that live
 * on exactly one loop. An actor is state + a bounded mailbox + a behaviour function. Messages
 * are intrusive (a vg_msg_t embedded in the sender's struct), so sending allocates nothing.
 *
 * Delivery: a send to an actor on the sender's own loop goes to that loop's local FIFO (no
 * atomics but the mailbox count); a send from another thread goes through the target loop's
 * lock-free MPSC queue and one eventfd write per wake-up (vg_wake_send), and the target
 * drains up to `drain_batch` messages per wake-up. Order is FIFO per (sender thread, receiver).
 *
 * Bounds: each actor counts its queued messages; a send that would exceed the actor's capacity
 * fails with VG_EMAILBOX_FULL and the message stays with the sender, which must apply
 * backpressure (pause its input, answer 429, retry on a timer). Nothing is dropped silently.
 * Replies do not count against capacity (the requester bounds its own outstanding requests),
 * so a reply is never refused for space.
 *
 * Stopping: vg_actor_stop() closes the mailbox at once (later sends get VG_ESTOPPED); messages
 * already accepted are still delivered; then ops->on_stop runs on the actor's loop, where the
 * actor closes its handles and frees itself when they are closed. vg_runtime_stop() stops every
 * remaining actor, waits for every loop to close its handles, joins the threads and frees the
 * loops. An actor's memory must stay valid until its on_stop has run.
 *
 * Thread: functions say which thread may call them. Actor code runs only on its loop's thread.
 */
#ifndef VG_RUNTIME_ACTOR_H
#define VG_RUNTIME_ACTOR_H

#include "runtime/compiler.h"
#include "runtime/mpsc.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

typedef struct vg_runtime vg_runtime_t;
typedef struct vg_loop vg_loop_t;
typedef struct vg_actor vg_actor_t;
typedef struct vg_msg vg_msg_t;

/* Handles one message; takes ownership of it (free it, keep it or send it on). */
typedef void (*vg_actor_fn)(vg_actor_t *self, vg_msg_t *msg);
/* Handles a reply on the requester's loop; takes ownership of `reply`. */
typedef void (*vg_reply_fn)(vg_actor_t *self, vg_msg_t *reply, void *ctx);

typedef struct vg_actor_ops {
    const char *kind;                  /* for logs and stats: "partition", "scorer", ... */
    vg_actor_fn receive;               /* every message that is not a reply */
    void (*on_stop)(vg_actor_t *self); /* mailbox drained; close handles, free when closed */
} vg_actor_ops_t;

/* Message header: embed it as the FIRST member of every message struct. */
struct vg_msg {
    vg_mpsc_node_t node; /* queue link, owned by the runtime while queued */
    vg_actor_t *to;
    uint32_t type;  /* the receiver's own message type; the runtime never reads it */
    uint32_t flags; /* runtime-private */
    vg_actor_t *reply_to;
    vg_reply_fn on_reply;
    void *reply_ctx;
};

struct vg_actor {
    _Atomic uint32_t pending; /* accepted, not yet handled; top bit: mailbox closed */
    uint32_t capacity;
    const vg_actor_ops_t *ops;
    vg_loop_t *loop;
    const char *name;
    /* Everything below belongs to the owning loop. */
    uint32_t unflushed;   /* handled since the last `pending` update */
    uint32_t flush_every; /* settle `pending` after this many handled */
    bool dirty;           /* on the loop's list of actors with unflushed counts */
    bool stop_requested;  /* STOP arrived; finish once pending reaches 0 */
    bool stopped;         /* on_stop has run */
    vg_actor_t *dirty_next;
    vg_actor_t *prev; /* the loop's list of live actors */
    vg_actor_t *next;
    vg_msg_t stop_msg;
    uint64_t received;              /* messages and replies handled */
    _Atomic uint64_t rejected_full; /* sends refused with VG_EMAILBOX_FULL */
    uint32_t high_water;            /* most messages seen queued at a delivery */
};

typedef struct vg_actor_stats {
    uint64_t received;
    uint64_t rejected_full;
    uint32_t queued;
    uint32_t capacity;
    uint32_t high_water;
} vg_actor_stats_t;

typedef struct vg_runtime_opts {
    unsigned workers;     /* loops/threads; 0 = one per CPU core */
    unsigned drain_batch; /* messages handled per wake-up before yielding to I/O; 0 = 1024 */
} vg_runtime_opts_t;

/* ---- runtime lifecycle (called from the main thread) ---- */

/* Creates the loops (threads are started by vg_runtime_start). OUT: *out. 0 or -errno. */
VG_MUST_CHECK int vg_runtime_new(const vg_runtime_opts_t *opts, vg_runtime_t **out);

/* Starts one thread per loop; each runs its loop until vg_runtime_stop. The caller's signal
 * mask is inherited: block SIGINT/SIGTERM first if the main thread waits for them. */
VG_MUST_CHECK int vg_runtime_start(vg_runtime_t *rt);

/* Waits until no actor has a message queued, or `timeout_ms` passes (VG_EBUSY). Thread: any
 * thread that is not a loop of this runtime. */
VG_MUST_CHECK int vg_runtime_quiesce(vg_runtime_t *rt, unsigned timeout_ms);

/* Stops every actor (each drains its mailbox, then on_stop), waits for each loop to close every
 * handle, joins the threads and closes the loops. Idempotent. Thread: not a loop thread. */
void vg_runtime_stop(vg_runtime_t *rt);

/* Frees the runtime (stopping it first if needed). Accepts NULL. */
void vg_runtime_free(vg_runtime_t *rt);

unsigned vg_runtime_nloops(const vg_runtime_t *rt);
vg_loop_t *vg_runtime_loop(vg_runtime_t *rt, unsigned index);

/* ---- loops ---- */

/* The libuv loop, for handles owned by actors of this loop. Use it only on the loop's thread
 * (or before vg_runtime_start). */
uv_loop_t *vg_loop_uv(vg_loop_t *loop);
unsigned vg_loop_index(const vg_loop_t *loop);

/* The loop whose thread is calling, or NULL on any other thread. */
vg_loop_t *vg_loop_current(void);

/* Runs fn(arg) on the loop's thread (allocates a small message). 0, or VG_ESTOPPED. */
VG_MUST_CHECK int vg_loop_call(vg_loop_t *loop, void (*fn)(void *arg), void *arg);

/* Like vg_loop_call but waits until fn has returned. Thread: not this loop's thread. */
VG_MUST_CHECK int vg_loop_call_wait(vg_loop_t *loop, void (*fn)(void *arg), void *arg);

/* ---- actors ---- */

/* Prepares `actor` on `loop` with a mailbox of `capacity` messages (0 = 65536). The actor can
 * receive as soon as this returns. Thread: any (typically the loop's, or before start). */
void vg_actor_init(vg_actor_t *actor, vg_loop_t *loop, const vg_actor_ops_t *ops, const char *name,
                   uint32_t capacity);

/* Sends `msg` to `to`. 0: the message now belongs to the receiver. VG_EMAILBOX_FULL or
 * VG_ESTOPPED: the message is still the caller's. Thread: any. */
VG_MUST_CHECK int vg_actor_send(vg_actor_t *to, vg_msg_t *msg);

/* Sends `msg` to `to` as a request: the receiver answers with vg_actor_reply() and
 * on_reply(from, reply, ctx) runs on `from`'s loop. Same codes as vg_actor_send.
 * Thread: `from`'s loop. */
VG_MUST_CHECK int vg_actor_request(vg_actor_t *from, vg_actor_t *to, vg_msg_t *msg,
                                   vg_reply_fn on_reply, void *ctx);

/* Answers `request` with `reply` (which may be the same message, reused). Never refused for
 * space; VG_ESTOPPED if the requester has stopped (the reply stays the caller's).
 * Thread: the receiver's loop. */
VG_MUST_CHECK int vg_actor_reply(vg_msg_t *request, vg_msg_t *reply);

/* Closes the mailbox and schedules on_stop after the messages already accepted. Idempotent.
 * Thread: any. */
void vg_actor_stop(vg_actor_t *actor);

/* A snapshot of the actor's counters. Thread: the actor's loop (queued is exact from any). */
void vg_actor_stats(const vg_actor_t *actor, vg_actor_stats_t *out);

/* ---- timers (thin: an actor's uv_timer that calls back with the actor) ---- */

typedef struct vg_timer vg_timer_t;
typedef void (*vg_timer_fn)(vg_actor_t *self, vg_timer_t *timer);

struct vg_timer {
    uv_timer_t handle;
    vg_actor_t *actor;
    vg_timer_fn fn;
    void (*on_closed)(vg_timer_t *timer);
};

/* Thread (all timer functions): the actor's loop. */
void vg_timer_init(vg_actor_t *actor, vg_timer_t *timer);
void vg_timer_start(vg_timer_t *timer, uint64_t timeout_ms, uint64_t repeat_ms, vg_timer_fn fn);
void vg_timer_stop(vg_timer_t *timer);
/* Closes the timer; on_closed (may be NULL) runs once the handle is closed. */
void vg_timer_close(vg_timer_t *timer, void (*on_closed)(vg_timer_t *timer));

#endif
