/* SPDX-License-Identifier: MIT */
/*
 * vigil's HTTP server: libwebsockets (HTTP/1.1, later WebSocket and static files) running on a
 * libuv loop that vigil owns. vigil owns the listening socket itself (so a port in use is a
 * precise -EADDRINUSE and port 0 works) and hands each accepted connection to libwebsockets.
 * No libwebsockets type appears here.
 *
 * A request is routed by method and path once its whole body has arrived; the handler answers
 * with vg_http_respond*() either at once or later from any callback on the same loop (the
 * pipeline answers POST /v1/score only once the transaction is durable and scored). If the
 * client goes away first, the request stays valid until it is answered; the answer is then
 * dropped. Built-in answers, all JSON errors: 404 unknown path, 405 known path with another
 * method (with Allow), 411 a body without Content-Length, 413 a body over the limit.
 *
 * Thread: everything on the loop's thread.
 */
#ifndef VG_ACTORS_HTTP_H
#define VG_ACTORS_HTTP_H

#include "runtime/bytes.h"
#include "runtime/compiler.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

typedef struct vg_http vg_http_t;
typedef struct vg_http_req vg_http_req_t;

/* Handles a request; answer it exactly once with a vg_http_respond*() call, now or later. */
typedef void (*vg_http_handler_fn)(vg_http_req_t *req, void *ctx);

enum vg_http_match {
    VG_HTTP_EXACT = 0,  /* the path equals the route */
    VG_HTTP_PREFIX = 1, /* the path starts with the route ("/v1/transactions/") */
};

/* Memory that request bodies being received may hold at once, shared by every server of a
 * process: a body that needs more is answered 503 (with Retry-After) and its connection
 * closed. Only bodies that outgrow the request's own inline space (about 1 KiB) count, by
 * what they allocate. */
typedef struct vg_http_budget {
    _Atomic uint64_t used;
    uint64_t limit;
} vg_http_budget_t;

typedef struct vg_http_opts {
    const char *bind;              /* listen address; NULL = "127.0.0.1" */
    int port;                      /* 0 = a free port (see vg_http_port) */
    size_t max_body_bytes;         /* 0 = 1 MiB */
    unsigned body_idle_ms;         /* a body with no byte for this long is answered 408; 0 = 5 s */
    bool no_listener;              /* serve only connections given with vg_http_adopt */
    vg_http_budget_t *body_budget; /* NULL: bodies are bounded only by max_body_bytes each */
    bool json_bodies;              /* a body of another Content-Type: 415 before it is read */
} vg_http_opts_t;

typedef struct vg_http_stats {
    uint64_t connections; /* accepted since start */
    uint64_t requests;    /* routed to a handler or answered by the server */
    uint64_t responses_2xx;
    uint64_t responses_4xx;
    uint64_t responses_5xx;
    uint64_t orphaned;      /* answers dropped because the client had gone */
    uint64_t pipelined;     /* connections closed for sending a request before an answer */
    uint64_t accept_pauses; /* times accepting was paused, out of descriptors or memory */
} vg_http_stats_t;

/* Starts listening on `loop`. OUT: *out. 0, VG_EINVAL (bad address), -EADDRINUSE,
 * -EADDRNOTAVAIL, VG_EHTTP (libwebsockets refused to start) or -errno. */
VG_MUST_CHECK int vg_http_new(uv_loop_t *loop, const vg_http_opts_t *opts, vg_http_t **out);

/* The port actually listened on. */
int vg_http_port(const vg_http_t *http);

/* Adds a route; later routes never shadow earlier ones (first match wins). `method` is
 * "GET", "POST", "PUT", "PATCH", "DELETE" or "HEAD". `params` names the query parameters the
 * route takes, separated by spaces (at most 64; NULL or "": none): a request naming any
 * other, or one of them twice, or whose query string is over 2 KiB, is answered 400
 * `invalid_query` and the handler is not called. 0, or VG_EINVAL. */
VG_MUST_CHECK int vg_http_route(vg_http_t *http, const char *method, const char *path,
                                enum vg_http_match match, const char *params,
                                vg_http_handler_fn handler, void *ctx);

void vg_http_stats(const vg_http_t *http, vg_http_stats_t *out);

/* Shutdown, first step: every request from now on is answered 503 `unavailable` and its
 * connection closed; those already in are answered as usual. Thread: any. */
void vg_http_drain(vg_http_t *http);

/* Requests received and not yet answered (or given up with their connection). Thread: any. */
unsigned vg_http_inflight(vg_http_t *http);

/* Whether a Content-Type value is application/json (parameters such as charset may follow). */
bool vg_http_is_json(const char *content_type);

/* Asked about a request no route takes, before it is answered 404: true, with a reason in
 * why, answers 503 `unavailable` with Retry-After: 1 instead (routes not added yet: the
 * engine is starting). Thread: the loop's. */
typedef bool (*vg_http_unrouted_fn)(void *ctx, const char *path, char *why, size_t len);
void vg_http_set_unrouted(vg_http_t *http, vg_http_unrouted_fn fn, void *ctx);

/* Called with each accepted connection's descriptor before this server adopts it: return
 * true to take it (e.g. to hand it to a server on another loop). Thread: the loop's. */
typedef bool (*vg_http_accept_fn)(void *ctx, int fd);
void vg_http_set_accept_hook(vg_http_t *http, vg_http_accept_fn fn, void *ctx);

/* Serves a connected socket (one accepted by another server's listener). Thread: the
 * loop's. */
void vg_http_adopt(vg_http_t *http, int fd);

/* Stops listening, closes every connection and libwebsockets' handles; on_closed(ctx) runs on
 * the loop once all are closed, and `http` is freed then. Requests still unanswered stay valid
 * until answered (the answers are dropped). */
void vg_http_close(vg_http_t *http, void (*on_closed)(void *ctx), void *ctx);

/* ---- requests (valid until answered) ---- */

const char *vg_http_req_method(const vg_http_req_t *req);
const char *vg_http_req_path(const vg_http_req_t *req);
/* The value of query parameter `name`, %-escapes decoded (by libwebsockets), copied into buf
 * and cut to fit; "" for a name without '='; NULL when absent. */
const char *vg_http_req_query(const vg_http_req_t *req, const char *name, char *buf, size_t len);
/* A request header by case-insensitive name: content-type, authorization, accept,
 * user-agent, x-request-id, if-none-match. NULL when absent or not kept. */
const char *vg_http_req_header(const vg_http_req_t *req, const char *name);
/* The body (empty for GET). Valid until the request is answered. */
vg_bytes_t vg_http_req_body(const vg_http_req_t *req);

/* Answers with `status` and a body (copied). `extra_headers` is NULL or lines of
 * "Name: value\r\n" (e.g. "Retry-After: 1\r\n"). Frees the request. */
void vg_http_respond(vg_http_req_t *req, int status, const char *content_type, const void *body,
                     size_t len, const char *extra_headers);

/* Answers with the JSON error shape {"error":{"code":..,"message":..,"field":..}}; `field` may
 * be NULL. Frees the request. */
void vg_http_respond_error(vg_http_req_t *req, int status, const char *code, const char *message,
                           const char *field);

#endif
