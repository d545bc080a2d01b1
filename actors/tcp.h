/* SPDX-License-Identifier: MIT */
/*
 * The TCP ingest actor: listens on the ingest port (default 7070) on one loop and speaks the
 * framed protocol of storage/vigil.proto: each frame is a 4-byte big-endian length and one
 * IngestRequest (a transaction or a label, with the client's seq); each request gets exactly
 * one IngestReply frame, in request order: the decision, "accepted" for a label, or an error
 * with a code and the field at fault. Clients pipeline: everything one read brings in is
 * validated and sent to the partitions as one append per partition, so a busy connection
 * costs one message per partition per read, not per transaction.
 *
 * Bad input: a frame that does not decode, or a request that fails validation, gets an error
 * reply and the connection goes on (its length kept the stream in step). A frame over
 * ingest.max_frame_bytes cannot be skipped safely: it gets an error reply (seq 0) and the
 * connection is closed once that reply is written.
 *
 * End of requests: a client that half-closes (shutdown(SHUT_WR)) after its last frame still
 * gets a reply to every request it sent; the connection closes once the last one is written.
 * A read error (a reset) closes it at once: nobody is left to read the replies.
 *
 * Backpressure: a connection with `window` requests unanswered, or with 1 MiB of replies its
 * client has not read yet, stops reading its socket until both drain below half. A partition
 * whose queue is full (runtime.mailbox_capacity) makes the connection stop reading and retry
 * that part every millisecond: the client is slowed down by TCP itself, never answered
 * "overloaded". Memory per connection is bounded by the window and one read buffer.
 *
 * Thread: its loop.
 */
#ifndef VG_ACTORS_TCP_H
#define VG_ACTORS_TCP_H

#include "actors/partition.h"
#include "actors/txcodec.h"
#include "runtime/actor.h"
#include "runtime/compiler.h"

typedef struct vg_tcp_ingest vg_tcp_ingest_t;

/* Creates the actor on `loop` and starts listening on bind:port (0 = a free port).
 * Connections that arrive before vg_tcp_ingest_attach (while the engine starts) are kept,
 * and each frame read on them is answered with the error "unavailable"; once attached, they
 * are served like any other.
 * Thread: `loop`'s (use vg_loop_call_wait). OUT: *out. 0, -EADDRINUSE, -EADDRNOTAVAIL,
 * VG_EINVAL (bad address) or -errno. The actor frees itself after vg_tcp_ingest_stop. */
VG_MUST_CHECK int vg_tcp_ingest_new(vg_loop_t *loop, const char *bind, int port,
                                    vg_tcp_ingest_t **out);

/* A host: serves connections the listener hands over, on `loop` (one per extra loop, so the
 * ingest work spreads over the cores). Thread: `loop`'s. Never NULL. */
vg_tcp_ingest_t *vg_tcp_ingest_new_host(vg_loop_t *loop);

/* Makes `listener` spread its connections round-robin over itself and `hosts` (which must
 * outlive it). Thread: the listener's loop. */
void vg_tcp_ingest_share(vg_tcp_ingest_t *listener, vg_tcp_ingest_t **hosts, unsigned n);

typedef struct vg_tcp_ingest_opts {
    vg_partition_t **parts; /* must outlive the actor */
    unsigned nparts;
    vg_tx_limits_t limits;
    size_t max_frame; /* payload bytes */
    size_t window;    /* unanswered requests per connection before reading pauses; 0 = 4096 */
} vg_tcp_ingest_opts_t;

/* Starts serving ingest (listener or host). Thread: the actor's loop. */
void vg_tcp_ingest_attach(vg_tcp_ingest_t *tcp, const vg_tcp_ingest_opts_t *opts);

/* The bound port. Thread: any, after new returned. */
int vg_tcp_ingest_port(const vg_tcp_ingest_t *tcp);

/* Closes the listener and stops reading: every request read is still answered, then each
 * connection sends its FIN and closes at its client's EOF (input meanwhile discarded); what is
 * left closes when the runtime stops the actor, which then frees itself. Thread: any. */
void vg_tcp_ingest_stop(vg_tcp_ingest_t *tcp);

/* Connections not closed yet (after vg_tcp_ingest_stop: those still answering, or waiting
 * for their client's EOF after the last answer). Thread: any. */
unsigned vg_tcp_ingest_open_connections(vg_tcp_ingest_t *tcp);

#endif
