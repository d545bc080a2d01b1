/* SPDX-License-Identifier: MIT */
/*
 * The HTTP API actor: owns the HTTP server (actors/http.h) on one loop and its routes. Today:
 * GET /healthz (the process is up) and GET /readyz (it accepts work: 200, or 503 with the
 * reason). The pipeline, dashboard and WebSocket issues add their routes here.
 * Thread: its loop, except where marked.
 */
#ifndef VG_ACTORS_API_H
#define VG_ACTORS_API_H

#include "actors/http.h"
#include "runtime/actor.h"
#include "runtime/compiler.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct vg_api vg_api_t;

typedef struct vg_api_opts {
    const char *bind;              /* listen address, e.g. "127.0.0.1" */
    int port;                      /* 0 = any free port */
    size_t max_body_bytes;         /* larger request bodies get 413 */
    bool no_listener;              /* a peer: serves the connections a listening API hands it */
    vg_http_budget_t *body_budget; /* shared by the process's APIs; NULL: none */
} vg_api_opts_t;

/* Creates the actor on `loop` and starts listening. Thread: `loop`'s (vg_loop_call_wait).
 * OUT: *out. 0, -EADDRINUSE, or another -errno / VG_EHTTP. Starts not ready. */
VG_MUST_CHECK int vg_api_new(vg_loop_t *loop, const vg_api_opts_t *opts, vg_api_t **out);

/* The bound port. Thread: any, after new returned. */
int vg_api_port(const vg_api_t *api);

/* Sets what /readyz answers; `reason` (copied) explains a not-ready state. Thread: any. */
void vg_api_set_ready(vg_api_t *api, bool ready, const char *reason);

/* Adds a route to the API's HTTP server (see actors/http.h). Thread: the API's loop, before
 * the engine reports ready. 0 or VG_EINVAL. */
struct vg_http_req;
VG_MUST_CHECK int vg_api_route(vg_api_t *api, const char *method, const char *path, int prefix,
                               const char *params,
                               void (*handler)(struct vg_http_req *req, void *ctx), void *ctx);

/* Asks fn(ctx, why, len) on every /readyz: 0 means healthy, else `why` says what is wrong
 * (e.g. a stopped partition). Runs on the API's loop; fn must be thread-safe. */
typedef int (*vg_api_health_fn)(void *ctx, char *why, size_t len);
void vg_api_set_health(vg_api_t *api, vg_api_health_fn fn, void *ctx);

/* Makes `api` (the listening one) hand its connections round-robin to itself and `peers`
 * (APIs on other loops, made with no_listener, which must outlive it), so HTTP uses every
 * core. Thread: `api`'s loop. */
void vg_api_share(vg_api_t *api, vg_api_t **peers, unsigned n);

/* Shutdown: new requests are refused (503), those in are answered (vg_http_drain); how many
 * are still in. Thread: any. */
void vg_api_drain(vg_api_t *api);
unsigned vg_api_inflight(vg_api_t *api);

/* Stops serving; the actor closes the server and frees itself, then calls closed(ctx) (may
 * be NULL) on its loop: after that no handler runs any more. Thread: any. */
void vg_api_stop(vg_api_t *api, void (*closed)(void *ctx), void *ctx);

#endif
