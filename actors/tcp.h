/* SPDX-License-Identifier: MIT */
/*
 * The TCP ingest actor: listens on the ingest port (default 7070) on one loop. Today it only
 * owns the listening socket, so the port is reserved, reported and checked at start-up; the
 * protobuf framing and the pipeline behind it are not built yet (the pipeline issue), so a
 * connection is accepted and closed at once. Thread: its loop.
 */
#ifndef VG_ACTORS_TCP_H
#define VG_ACTORS_TCP_H

#include "runtime/actor.h"
#include "runtime/compiler.h"

typedef struct vg_tcp_ingest vg_tcp_ingest_t;

/* Creates the actor on `loop` and starts listening on bind:port (0 = a free port).
 * Thread: `loop`'s (use vg_loop_call_wait). OUT: *out. 0, -EADDRINUSE, -EADDRNOTAVAIL,
 * VG_EINVAL (bad address) or -errno. The actor frees itself after vg_tcp_ingest_stop. */
VG_MUST_CHECK int vg_tcp_ingest_new(vg_loop_t *loop, const char *bind, int port,
                                    vg_tcp_ingest_t **out);

/* The bound port. Thread: any, after new returned. */
int vg_tcp_ingest_port(const vg_tcp_ingest_t *tcp);

/* Closes the listener; the actor frees itself once its handles are closed. Thread: any. */
void vg_tcp_ingest_stop(vg_tcp_ingest_t *tcp);

#endif
