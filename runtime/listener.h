/* SPDX-License-Identifier: MIT */
/*
 * A listening TCP socket that accepts on a libuv loop and hands each connected descriptor to
 * its owner: the HTTP API's and the TCP ingest's listeners are both one. Out of descriptors or
 * memory (EMFILE, ENFILE, ENOBUFS, ENOMEM), accepting pauses for VG_LISTENER_PAUSE_MS at a
 * time, logged once when it starts and once when it ends; the waiting clients stay in the
 * backlog and are accepted once descriptors are free. (Accepting again at once would fail as
 * fast as the loop turns; libuv's own listener instead accepts and closes every waiting
 * connection, without a word.) Thread: the loop's.
 */
#ifndef VG_RUNTIME_LISTENER_H
#define VG_RUNTIME_LISTENER_H

#include <stdint.h>
#include <uv.h>

#define VG_LISTENER_PAUSE_MS 100

typedef struct vg_listener vg_listener_t;

/* A connected socket (close-on-exec, TCP_NODELAY set), now the callee's. */
typedef void (*vg_listener_fn)(void *ctx, int fd);

/* Listens on bind_addr (an IPv4 or IPv6 literal) and port (0 picks a free one) and starts
 * accepting on `loop`. `name` ("http", "tcp") goes into its log lines and must outlive it.
 * OUT: *out. 0, VG_EINVAL for an address that is neither, or -errno. */
int vg_listener_open(uv_loop_t *loop, const char *name, const char *bind_addr, int port,
                     vg_listener_fn fn, void *ctx, vg_listener_t **out);

/* The port it listens on. */
int vg_listener_port(const vg_listener_t *l);

/* How many times accepting paused so far. */
uint64_t vg_listener_pauses(const vg_listener_t *l);

/* Stops accepting and closes the socket (connections still in its backlog are reset); calls
 * on_closed(ctx), if not NULL, once its handles are closed, and frees it. */
void vg_listener_close(vg_listener_t *l, void (*on_closed)(void *ctx), void *ctx);

#endif
