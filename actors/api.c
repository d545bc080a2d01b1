/* SPDX-License-Identifier: MIT */
/*
 * The HTTP API actor; see api.h. The readiness flag and reason are written by the main thread
 * and read by the handlers on the loop, so they sit behind a mutex (never on a hot path).
 * Thread: its loop; vg_api_set_ready and vg_api_stop from any.
 */
#define VG_LOG_MODULE "api"
#include "actors/api.h"
#include "actors/http.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/error.h"
#include "runtime/logging.h"

#include <jansson.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define VIGIL_VERSION "0.1.0"

struct vg_api {
    vg_actor_t actor;
    vg_http_t *http;
    int port;
    int64_t started_ms;
    pthread_mutex_t lock;
    bool ready;
    char reason[256];
    vg_api_health_fn health; /* set before serving; read on the loop */
    void *health_ctx;
    void (*closed)(void *ctx);
    void *closed_ctx;
    vg_api_t **peers; /* the listening API spreads connections over itself and these */
    unsigned npeers;
    unsigned next_peer;
};

/* A connection the listening API hands to a peer on another loop. */
struct fd_msg {
    vg_msg_t hdr;
    int fd;
};

static void on_http_closed(void *ctx);

/* The only message: a connection from the listening API. */
static void api_receive(vg_actor_t *self, vg_msg_t *msg)
{
    vg_api_t *api = vg_container_of(self, vg_api_t, actor);
    struct fd_msg *m = (struct fd_msg *)msg;
    vg_http_adopt(api->http, m->fd);
    free(m);
}

/* Round robin: keep one connection in n + 1, send the others' descriptors to the peers. */
static bool hand_off(void *ctx, int fd)
{
    vg_api_t *api = ctx;
    unsigned pick = api->next_peer++ % (api->npeers + 1);
    if (pick == 0)
        return false;
    struct fd_msg *m = vg_xcalloc(1, sizeof(*m));
    m->fd = fd;
    if (vg_actor_send(&api->peers[pick - 1]->actor, &m->hdr) != 0) {
        free(m);
        return false; /* serve it here */
    }
    return true;
}

void vg_api_share(vg_api_t *api, vg_api_t **peers, unsigned n)
{
    api->peers = peers;
    api->npeers = n;
    if (n)
        vg_http_set_accept_hook(api->http, hand_off, api);
}

static void api_on_stop(vg_actor_t *self)
{
    vg_api_t *api = vg_container_of(self, vg_api_t, actor);
    vg_http_close(api->http, on_http_closed, api);
}

static const vg_actor_ops_t api_ops = {"api", api_receive, api_on_stop};

static void respond_json(vg_http_req_t *req, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    vg_http_respond(req, status, "application/json", text, text ? strlen(text) : 0, NULL);
    free(text);
}

static void handle_healthz(vg_http_req_t *req, void *ctx)
{
    vg_api_t *api = ctx;
    int64_t uptime_s = (vg_clock_wall_ms() - api->started_ms) / 1000;
    respond_json(req, 200,
                 json_pack("{s:s, s:s, s:I}", "status", "ok", "version", VIGIL_VERSION, "uptime_s",
                           (json_int_t)uptime_s));
}

static void handle_readyz(vg_http_req_t *req, void *ctx)
{
    vg_api_t *api = ctx;
    char why[1024];
    pthread_mutex_lock(&api->lock);
    bool ready = api->ready;
    snprintf(why, sizeof(why), "%s", api->reason);
    pthread_mutex_unlock(&api->lock);
    if (ready && api->health && api->health(api->health_ctx, why, sizeof(why)) != 0)
        ready = false;
    json_t *body = ready ? json_pack("{s:s}", "status", "ready")
                         : json_pack("{s:s, s:s}", "status", "not_ready", "reason", why);
    respond_json(req, ready ? 200 : 503, body);
}

/* A /v1/ path no route takes while the engine starts: its routes come once the partitions
 * have replayed their logs. Until 2026-12-03 such a request was 404 not_found. */
static bool unrouted_while_starting(void *ctx, const char *path, char *why, size_t len)
{
    vg_api_t *api = ctx;
    if (strncmp(path, "/v1/", 4) != 0)
        return false;
    pthread_mutex_lock(&api->lock);
    bool starting = !api->ready && strcmp(api->reason, "starting") == 0;
    pthread_mutex_unlock(&api->lock);
    if (starting)
        snprintf(why, len,
                 "the engine is starting: its partitions are replaying their logs; "
                 "try again");
    return starting;
}

int vg_api_new(vg_loop_t *loop, const vg_api_opts_t *opts, vg_api_t **out)
{
    vg_api_t *api = vg_xcalloc(1, sizeof(*api));
    pthread_mutex_init(&api->lock, NULL);
    snprintf(api->reason, sizeof(api->reason), "starting");
    api->started_ms = vg_clock_wall_ms();
    vg_http_opts_t hopts = {
        .bind = opts->bind,
        .port = opts->port,
        .max_body_bytes = opts->max_body_bytes,
        .no_listener = opts->no_listener,
        .body_budget = opts->body_budget,
        .json_bodies = true, /* every body the API takes is JSON */
    };
    int rc = vg_http_new(vg_loop_uv(loop), &hopts, &api->http);
    if (rc == 0)
        rc = vg_http_route(api->http, "GET", "/healthz", VG_HTTP_EXACT, NULL, handle_healthz, api);
    if (rc == 0)
        rc = vg_http_route(api->http, "GET", "/readyz", VG_HTTP_EXACT, NULL, handle_readyz, api);
    if (rc != 0) {
        if (api->http)
            vg_http_close(api->http, on_http_closed, api);
        else
            on_http_closed(api);
        return rc;
    }
    api->port = vg_http_port(api->http);
    vg_http_set_unrouted(api->http, unrouted_while_starting, api);
    vg_actor_init(&api->actor, loop, &api_ops, "api", 0);
    *out = api;
    return 0;
}

int vg_api_port(const vg_api_t *api)
{
    return api->port;
}

void vg_api_set_ready(vg_api_t *api, bool ready, const char *reason)
{
    pthread_mutex_lock(&api->lock);
    api->ready = ready;
    snprintf(api->reason, sizeof(api->reason), "%s", reason ? reason : "");
    pthread_mutex_unlock(&api->lock);
}

int vg_api_route(vg_api_t *api, const char *method, const char *path, int prefix,
                 const char *params, void (*handler)(struct vg_http_req *req, void *ctx), void *ctx)
{
    return vg_http_route(api->http, method, path, prefix ? VG_HTTP_PREFIX : VG_HTTP_EXACT, params,
                         handler, ctx);
}

void vg_api_set_health(vg_api_t *api, vg_api_health_fn fn, void *ctx)
{
    api->health = fn;
    api->health_ctx = ctx;
}

void vg_api_drain(vg_api_t *api)
{
    vg_http_drain(api->http);
}

unsigned vg_api_inflight(vg_api_t *api)
{
    return vg_http_inflight(api->http);
}

void vg_api_stop(vg_api_t *api, void (*closed)(void *ctx), void *ctx)
{
    api->closed = closed; /* read on the loop after the stop message: ordered by the mailbox */
    api->closed_ctx = ctx;
    vg_actor_stop(&api->actor);
}

static void on_http_closed(void *ctx)
{
    vg_api_t *api = ctx;
    void (*closed)(void *) = api->closed;
    void *closed_ctx = api->closed_ctx;
    pthread_mutex_destroy(&api->lock);
    free(api);
    if (closed)
        closed(closed_ctx);
}
