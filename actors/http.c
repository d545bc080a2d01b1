/* SPDX-License-Identifier: MIT */
/*
 * The HTTP server over libwebsockets on a foreign libuv loop; see http.h.
 *
 * Listening: our own non-blocking socket watched by a uv_poll_t; each accepted fd is adopted
 * by libwebsockets' default vhost, created with CONTEXT_PORT_NO_LISTEN_SERVER.
 *
 * A request moves READING (body arriving) -> HANDLING (the handler owns it) -> ANSWERED
 * (response stored, waiting for the socket to be writable) -> freed after the write. If the
 * connection closes while HANDLING, the request is orphaned: it keeps no link to the
 * connection or the server, and the later answer just frees it.
 *
 * Closing: stop accepting, then lws_context_destroy(); on a foreign loop libwebsockets
 * finishes asynchronously and writes NULL through info.pcontext when done, which a short
 * timer watches before on_closed runs.
 *
 * Thread: the loop's.
 */
#define VG_LOG_MODULE "http"
#include "actors/http.h"
#include "runtime/alloc.h"
#include "runtime/bytes.h"
#include "runtime/clock.h"
#include "runtime/error.h"
#include "runtime/listener.h"
#include "runtime/logging.h"

#include <jansson.h>
#include <libwebsockets.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_MAX_BODY ((size_t)1024 * 1024)
#define MAX_ROUTES       64
#define HEADER_SPACE     1024
/* A request body that stops coming is answered 408 after this long without a byte: before
 * libwebsockets' own timeout (LWS_TIMEOUT_S), which closed the connection without a word. */
#define DEFAULT_BODY_IDLE_MS 5000
#define LWS_TIMEOUT_S        15
#define CLOSE_POLL_MS        2
#define HDR_VALUE_MAX        512
#define PATH_MAX_LEN         2048
#define QUERY_MAX_LEN        2048
#define REQ_INLINE           2048 /* a request's inline space for its strings, body and answer */
#define RESP_RESERVE         1024 /* of it, kept for the answer when a body goes inline */

enum req_state { REQ_READING, REQ_HANDLING, REQ_ANSWERED };

enum hdr_id {
    H_CONTENT_TYPE,
    H_AUTHORIZATION,
    H_ACCEPT,
    H_USER_AGENT,
    H_X_REQUEST_ID,
    H_IF_NONE_MATCH,
    H_COUNT
};

static const char *const hdr_names[H_COUNT] = {"content-type", "authorization", "accept",
                                               "user-agent",   "x-request-id",  "if-none-match"};

struct route {
    char method[8];
    char *path;
    size_t path_len;
    enum vg_http_match match;
    char *params; /* the query parameters it takes, separated by spaces; "" for none */
    vg_http_handler_fn handler;
    void *ctx;
};

struct vg_http_req {
    vg_http_t *http; /* NULL once orphaned */
    struct lws *wsi; /* NULL once orphaned */
    enum req_state state;
    char method[8];
    char *path;
    char *query;      /* its pieces as libwebsockets decoded them ("id=a&b" for id=a%26b), */
    size_t query_len; /* each ended by a NUL: a decoded '&' or '=' in a value is no separator */
    char *hdr[H_COUNT];
    unsigned char *body;
    size_t body_len;
    size_t body_cap;
    vg_http_budget_t *budget; /* where `reserved` bytes of the body are counted */
    size_t reserved;
    const struct route *route;
    /* The answer, once given. */
    int status;
    char *content_type;
    char *extra_headers;
    unsigned char *resp;
    size_t resp_len;
    bool close_after; /* close after the answer ("Connection: close"): unread body left on
                         the wire, or a chunked one (see on_body) */
    bool in_dispatch; /* the handler is running: an answer is written on its return */
    bool body_done;   /* its BODY_COMPLETION came: another one means pipelined bytes */
    bool chunked;     /* Transfer-Encoding: chunked, decoded here (see chunked_take) */
    bool query_cut;   /* the query string was over QUERY_MAX_LEN (refused at dispatch) */
    bool ch_digit;    /* the size line has a digit */
    uint8_t ch_state;
    uint64_t ch_left; /* bytes left in the chunk, or its size while its line is read */
    /* A typical request's strings, body and answer, taken in turn (req_take): one allocation
     * per request instead of one each. Not zeroed; the fields above are. */
    size_t inl_used;
    unsigned char inl[REQ_INLINE];
};

struct conn {
    vg_http_req_t *req;
};

/* n bytes from the request's inline space, or malloc'd when they do not fit. */
static void *req_take(vg_http_req_t *req, size_t n)
{
    if (n > sizeof(req->inl) - req->inl_used)
        return vg_xmalloc(n);
    void *p = req->inl + req->inl_used;
    req->inl_used += n;
    return p;
}

static bool req_inline(const vg_http_req_t *req, const void *p)
{
    uintptr_t at = (uintptr_t)p;
    uintptr_t lo = (uintptr_t)req->inl;
    return at >= lo && at < lo + sizeof(req->inl);
}

/* Frees what req_take gave, unless it is inline. */
static void req_give_back(vg_http_req_t *req, void *p)
{
    if (!req_inline(req, p))
        free(p);
}

struct vg_http {
    uv_loop_t *loop;
    struct lws_context *ctx; /* set to NULL by libwebsockets when destroyed */
    struct lws_vhost *vhost;
    vg_listener_t *listener; /* NULL: none, or closed */
    int port;
    uv_timer_t close_timer;
    unsigned quiet_ticks; /* close-timer ticks in a row with no handle closing */
    size_t max_body;
    unsigned body_idle_ms;
    vg_http_budget_t *body_budget;
    bool json_bodies;
    _Atomic bool draining;        /* vg_http_drain: new requests are refused */
    _Atomic unsigned inflight;    /* requests not yet freed (an orphan counts until closed) */
    vg_http_unrouted_fn unrouted; /* see vg_http_set_unrouted */
    void *unrouted_ctx;
    struct route routes[MAX_ROUTES];
    size_t nroutes;
    vg_http_stats_t stats;
    vg_http_accept_fn accept_hook;
    void *accept_ctx;
    void (*on_closed)(void *ctx);
    void *on_closed_ctx;
    unsigned in_callback; /* libwebsockets callbacks running (they nest) */
};

static int lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                        size_t len);
static void on_accepted(void *ctx, int fd);
static void on_listener_closed(void *ctx);
static void on_close_timer(uv_timer_t *t);
static void on_close_timer_closed(uv_handle_t *h);
static void req_free(vg_http_req_t *req);
static int write_answer(struct lws *wsi, struct conn *c);
static void answer(vg_http_req_t *req, int status, const char *content_type, const void *body,
                   size_t len, const char *extra_headers);
static void json_error(vg_http_req_t *req, int status, const char *code, const char *message,
                       const char *field, const char *extra_headers);

static const struct lws_protocols protocols[] = {
    {"http", lws_callback, sizeof(struct conn), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---- libwebsockets' own log lines go through ours ---- */

static void lws_log_emit(int level, const char *line)
{
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    if (level & (LLL_ERR | LLL_WARN))
        VG_LOG_WARN("libwebsockets: %.*s", (int)n, line);
    else
        VG_LOG_INFO("libwebsockets: %.*s", (int)n, line);
}

/* ---- listening ---- */

int vg_http_new(uv_loop_t *loop, const vg_http_opts_t *opts, vg_http_t **out)
{
    static bool log_set;
    if (!log_set) {
        /* VG_LWS_LOG=<lws level bits> turns libwebsockets' own tracing on, for debugging. */
        const char *lvl = getenv("VG_LWS_LOG");
        lws_set_log_level(lvl ? atoi(lvl) : (LLL_ERR | LLL_WARN), lws_log_emit);
        log_set = true;
    }
    vg_http_t *h = vg_xcalloc(1, sizeof(*h));
    h->loop = loop;
    h->max_body = opts->max_body_bytes ? opts->max_body_bytes : DEFAULT_MAX_BODY;
    h->body_idle_ms = opts->body_idle_ms ? opts->body_idle_ms : DEFAULT_BODY_IDLE_MS;
    h->body_budget = opts->body_budget;
    h->json_bodies = opts->json_bodies;
    /* Nothing is accepted before this returns: accepting is on this loop, this thread. */
    int rc = opts->no_listener
                 ? 0
                 : vg_listener_open(loop, "http", opts->bind ? opts->bind : "127.0.0.1", opts->port,
                                    on_accepted, h, &h->listener);
    if (rc != 0) {
        free(h);
        return rc;
    }
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    void *foreign_loops[1] = {loop};
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_LIBUV;
    info.foreign_loops = foreign_loops;
    info.pcontext = &h->ctx;
    info.user = h;
    info.server_string = "vigil";
    info.timeout_secs = LWS_TIMEOUT_S; /* ours (body_idle_ms) come first */
    h->ctx = lws_create_context(&info);
    h->vhost = h->ctx ? lws_get_vhost_by_name(h->ctx, "default") : NULL;
    if (!h->vhost) {
        VG_LOG_ERROR("libwebsockets context creation failed");
        if (h->listener)
            vg_listener_close(h->listener, NULL, NULL);
        if (h->ctx)
            lws_context_destroy(h->ctx); /* completes on the loop; see vg_http_close */
        free(h);
        return VG_EHTTP;
    }
    h->port = h->listener ? vg_listener_port(h->listener) : 0;
    *out = h;
    return 0;
}

int vg_http_port(const vg_http_t *http)
{
    return http->port;
}

/* The index of `name` (len bytes) among the space-separated words of `list`, or -1; with
 * name NULL, the number of words. */
static int word_index(const char *list, const char *name, size_t len)
{
    int i = 0;
    for (const char *p = list + strspn(list, " "); *p; p += strspn(p, " "), i++) {
        size_t w = strcspn(p, " ");
        if (name && w == len && memcmp(p, name, len) == 0)
            return i;
        p += w;
    }
    return name ? -1 : i;
}

int vg_http_route(vg_http_t *http, const char *method, const char *path, enum vg_http_match match,
                  const char *params, vg_http_handler_fn handler, void *ctx)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"};
    bool known = false;
    for (size_t i = 0; i < VG_ARRAY_LEN(methods); i++)
        known = known || strcmp(method, methods[i]) == 0;
    if (!known || path[0] != '/' || http->nroutes == MAX_ROUTES ||
        (params && word_index(params, NULL, 0) > 64)) /* query_ok keeps a 64-bit mask */
        return VG_EINVAL;
    struct route *r = &http->routes[http->nroutes++];
    snprintf(r->method, sizeof(r->method), "%s", method);
    r->path = vg_xstrdup(path);
    r->path_len = strlen(path);
    r->match = match;
    r->params = vg_xstrdup(params ? params : "");
    r->handler = handler;
    r->ctx = ctx;
    return 0;
}

bool vg_http_is_json(const char *content_type)
{
    const char *ct = content_type;
    /* parameters (charset) may follow the type; application/jsonx is another type */
    return ct && strncasecmp(ct, "application/json", 16) == 0 &&
           (ct[16] == '\0' || ct[16] == ';' || ct[16] == ' ' || ct[16] == '\t');
}

void vg_http_drain(vg_http_t *http)
{
    atomic_store_explicit(&http->draining, true, memory_order_relaxed);
}

unsigned vg_http_inflight(vg_http_t *http)
{
    return atomic_load_explicit(&http->inflight, memory_order_relaxed);
}

void vg_http_set_unrouted(vg_http_t *http, vg_http_unrouted_fn fn, void *ctx)
{
    http->unrouted = fn;
    http->unrouted_ctx = ctx;
}

void vg_http_stats(const vg_http_t *http, vg_http_stats_t *out)
{
    *out = http->stats;
    if (http->listener)
        out->accept_pauses = vg_listener_pauses(http->listener);
}

static void on_accepted(void *ctx, int fd)
{
    vg_http_t *h = ctx;
    if (h->accept_hook && h->accept_hook(h->accept_ctx, fd))
        return;
    vg_http_adopt(h, fd);
}

void vg_http_adopt(vg_http_t *http, int fd)
{
    http->stats.connections++;
    /* On failure libwebsockets closes the fd itself. */
    if (!lws_adopt_socket_vhost(http->vhost, fd))
        VG_LOG_WARN("http connection not adopted");
}

void vg_http_set_accept_hook(vg_http_t *http, vg_http_accept_fn fn, void *ctx)
{
    http->accept_hook = fn;
    http->accept_ctx = ctx;
}

/* ---- closing ---- */

void vg_http_close(vg_http_t *http, void (*on_closed)(void *ctx), void *ctx)
{
    http->on_closed = on_closed;
    http->on_closed_ctx = ctx;
    if (http->listener) {
        http->stats.accept_pauses = vg_listener_pauses(http->listener);
        vg_listener_close(http->listener, on_listener_closed, http);
    }
    lws_context_destroy(http->ctx);
    int rc = uv_timer_init(http->loop, &http->close_timer);
    VG_CHECK(rc == 0);
    uv_timer_start(&http->close_timer, on_close_timer, 0, CLOSE_POLL_MS);
}

static void on_listener_closed(void *ctx)
{
    ((vg_http_t *)ctx)->listener = NULL;
}

static void count_closing(uv_handle_t *handle, void *arg)
{
    if (uv_is_closing(handle))
        ++*(unsigned *)arg;
}

static void on_close_timer(uv_timer_t *t)
{
    vg_http_t *h = vg_container_of(t, vg_http_t, close_timer);
    if (h->ctx) {
        /* libwebsockets 4.1 on a foreign loop destroys in two calls: the first closes its
         * handles, the second (once those closes have completed, or its plugin's close
         * callbacks would run after it is unloaded) frees the rest and clears h->ctx through
         * pcontext. Two quiet ticks in a row: nothing of it is still closing. */
        unsigned closing = 0;
        uv_walk(h->loop, count_closing, &closing);
        h->quiet_ticks = closing ? 0 : h->quiet_ticks + 1;
        if (h->quiet_ticks >= 2)
            lws_context_destroy(h->ctx);
        return;
    }
    if (h->listener)
        return;
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, on_close_timer_closed);
}

static void on_close_timer_closed(uv_handle_t *t)
{
    vg_http_t *h = vg_container_of((uv_timer_t *)t, vg_http_t, close_timer);
    for (size_t i = 0; i < h->nroutes; i++) {
        free(h->routes[i].path);
        free(h->routes[i].params);
    }
    void (*cb)(void *) = h->on_closed;
    void *ctx = h->on_closed_ctx;
    free(h);
    if (cb)
        cb(ctx);
}

/* ---- requests ---- */

static char *take_str(vg_http_req_t *req, const char *src, size_t len)
{
    char *s = req_take(req, len + 1);
    memcpy(s, src, len);
    s[len] = '\0';
    return s;
}

static const char *detect_method(struct lws *wsi)
{
    static const struct {
        enum lws_token_indexes tok;
        const char *name;
    } methods[] = {
        {WSI_TOKEN_GET_URI, "GET"},         {WSI_TOKEN_POST_URI, "POST"},
        {WSI_TOKEN_PUT_URI, "PUT"},         {WSI_TOKEN_PATCH_URI, "PATCH"},
        {WSI_TOKEN_DELETE_URI, "DELETE"},   {WSI_TOKEN_HEAD_URI, "HEAD"},
        {WSI_TOKEN_OPTIONS_URI, "OPTIONS"},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(methods); i++) {
        if (lws_hdr_total_length(wsi, methods[i].tok) > 0)
            return methods[i].name;
    }
    return "?";
}

static void copy_headers(vg_http_req_t *req, struct lws *wsi)
{
    static const enum lws_token_indexes toks[H_COUNT] = {
        WSI_TOKEN_HTTP_CONTENT_TYPE,
        WSI_TOKEN_HTTP_AUTHORIZATION,
        WSI_TOKEN_HTTP_ACCEPT,
        WSI_TOKEN_HTTP_USER_AGENT,
        WSI_TOKEN_COUNT,
        WSI_TOKEN_HTTP_IF_NONE_MATCH,
    };
    char buf[HDR_VALUE_MAX];
    for (int i = 0; i < H_COUNT; i++) {
        int n = -1;
        if (toks[i] != WSI_TOKEN_COUNT)
            n = lws_hdr_copy(wsi, buf, sizeof(buf), toks[i]);
        else
            n = lws_hdr_custom_copy(wsi, buf, sizeof(buf), "x-request-id:", 13);
        if (n > 0)
            req->hdr[i] = take_str(req, buf, (size_t)n);
    }
}

static void copy_query(vg_http_req_t *req, struct lws *wsi)
{
    char buf[QUERY_MAX_LEN];
    size_t used = 0;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS) > QUERY_MAX_LEN - 2) {
        req->query_cut = true; /* and each piece fits `part` below */
        return;
    }
    for (int frag = 0;; frag++) {
        char part[QUERY_MAX_LEN];
        int n = lws_hdr_copy_fragment(wsi, part, sizeof(part), WSI_TOKEN_HTTP_URI_ARGS, frag);
        if (n < 0)
            break; /* no more pieces */
        if (n == 0)
            continue; /* an empty one, as in "a=1&&b=2" */
        if (used + (size_t)n + 1 > sizeof(buf) || memchr(part, '\0', (size_t)n)) {
            req->query_cut = true; /* a %00 too (libwebsockets 4.1 closes on one first) */
            break;
        }
        memcpy(buf + used, part, (size_t)n);
        used += (size_t)n;
        buf[used++] = '\0';
    }
    req->query = take_str(req, buf, used);
    req->query_len = used;
}

/* The first route for req's path and method (HEAD takes GET's). When there is none,
 * *path_known says whether the path has routes, and `allow` lists their methods (for 405). */
static const struct route *find_route(const vg_http_t *h, const vg_http_req_t *req,
                                      bool *path_known, char *allow, size_t allow_len)
{
    size_t used = 0;
    allow[0] = '\0';
    *path_known = false;
    for (size_t i = 0; i < h->nroutes; i++) {
        const struct route *r = &h->routes[i];
        bool hit = r->match == VG_HTTP_EXACT ? strcmp(req->path, r->path) == 0
                                             : strncmp(req->path, r->path, r->path_len) == 0;
        if (!hit)
            continue;
        *path_known = true;
        if (strcmp(r->method, req->method) == 0 ||
            (strcmp(req->method, "HEAD") == 0 && strcmp(r->method, "GET") == 0))
            return r; /* the first that takes the method; `allow` only matters for a 405 */
        bool get = strcmp(r->method, "GET") == 0; /* which serves HEAD too (RFC 9110 9.3.2) */
        int n = snprintf(allow + used, allow_len - used, "%s%s%s", used ? ", " : "", r->method,
                         get ? ", HEAD" : "");
        if (n > 0 && (size_t)n < allow_len - used)
            used += (size_t)n;
    }
    return NULL;
}

/* Runs the handler. An answer given during the call is written from the WRITEABLE
 * callback, one given later at once by answer(); never inside this callback, see
 * on_body_complete. Returns what the libwebsockets callback should return. */
/* The first len bytes of s, cut to fit dst, with '?' for every byte that is not printable
 * ASCII or would need escaping: the client's bytes, made safe to quote. */
static void printable(char *dst, size_t cap, const char *s, size_t len)
{
    size_t n = len < cap - 1 ? len : cap - 1;
    for (size_t k = 0; k < n; k++) {
        unsigned char ch = (unsigned char)s[k];
        dst[k] = s[k];
        if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
            dst[k] = '?';
    }
    dst[n] = '\0';
}

/* Answers 400 invalid_query when the query names a parameter the route does not take, names
 * one twice, or is longer than vigil keeps: a misspelt parameter would otherwise be ignored
 * without a word, as an unknown JSON field is not. True when the query is fine. */
static bool query_ok(vg_http_req_t *req)
{
    const char *takes = req->route->params;
    uint64_t seen = 0;
    char msg[256];
    if (req->query_cut) {
        snprintf(msg, sizeof(msg), "the query string is over %d bytes", QUERY_MAX_LEN - 2);
        vg_http_respond_error(req, 400, "invalid_query", msg, NULL);
        return false;
    }
    for (const char *p = req->query; p && p < req->query + req->query_len; p += strlen(p) + 1) {
        size_t len = strcspn(p, "=");
        int at = word_index(takes, p, len); /* < 64: see vg_http_route */
        if (at >= 0 && !(seen & (UINT64_C(1) << at))) {
            seen |= UINT64_C(1) << at;
            continue;
        }
        char name[65];
        printable(name, sizeof(name), p, len);
        if (at >= 0)
            snprintf(msg, sizeof(msg), "query parameter %s is given twice", name);
        else if (takes[0])
            snprintf(msg, sizeof(msg), "unknown query parameter \"%s\" (this endpoint takes: %s)",
                     name, takes);
        else
            snprintf(msg, sizeof(msg), "unknown query parameter \"%s\" (this endpoint takes none)",
                     name);
        vg_http_respond_error(req, 400, "invalid_query", msg, name);
        return false;
    }
    return true;
}

static int dispatch(struct conn *c)
{
    vg_http_req_t *req = c->req;
    struct lws *wsi = req->wsi;
    req->state = REQ_HANDLING;
    req->in_dispatch = true;
    req->http->stats.requests++;
    if (query_ok(req))
        req->route->handler(req, req->route->ctx); /* an answer only stores it: req lives on */
    req->in_dispatch = false;
    if (req->state == REQ_ANSWERED)
        lws_callback_on_writable(wsi);
    return 0;
}

static bool has_body_method(const char *m)
{
    return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0;
}

/* A client that sent "Expect: 100-continue" waits for an interim 100 before it sends the body
 * (curl for up to a second), and libwebsockets 4.1 never sends one: so it is sent here, once
 * the request is known to be accepted (a 411 or 413 goes out instead, as RFC 9110 allows). Not
 * when earlier output is still queued: the client then sends the body after its timeout. */
static void expect_continue(struct lws *wsi)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    char v[32];
    if (lws_hdr_copy(wsi, v, sizeof(v), WSI_TOKEN_HTTP_EXPECT) <= 0 ||
        strcasecmp(v, "100-continue") != 0 || lws_send_pipe_choked(wsi))
        return;
    unsigned char buf[LWS_PRE + sizeof(cont)];
    memcpy(buf + LWS_PRE, cont, sizeof(cont) - 1);
    if (lws_write(wsi, buf + LWS_PRE, sizeof(cont) - 1, LWS_WRITE_HTTP) < 0)
        VG_LOG_DEBUG("http: 100 Continue not sent");
}

/* (Re)starts the wait for the next bytes of req's body: LWS_CALLBACK_TIMER answers 408 when
 * none come in time. A timer left over from an answered request finds no body being read. */
static void body_timer(vg_http_req_t *req)
{
    lws_set_timer_usecs(req->wsi, (lws_usec_t)req->http->body_idle_ms * 1000);
}

/* Refuses a request before its body is read: the rest of the body stays on the wire (or its
 * end is not known), so the answer closes the connection. `extra_headers` may be NULL. */
static void refuse_unread_with(vg_http_req_t *req, int status, const char *code, const char *msg,
                               const char *extra_headers)
{
    req->state = REQ_HANDLING;
    req->close_after = true;
    json_error(req, status, code, msg, NULL, extra_headers);
}

static void refuse_unread(vg_http_req_t *req, int status, const char *code, const char *msg)
{
    refuse_unread_with(req, status, code, msg, NULL);
}

/* A request with Transfer-Encoding: chunked is read and its framing taken off here
 * (chunked_take): libwebsockets 4.1 passes such a body on as it came and never says where it
 * ends. Other codings get 501, and a request with both headers 400 (RFC 9112 6.1: a
 * message framed two ways is how requests are smuggled past proxies). */
static int on_transfer_encoding(struct lws *wsi, vg_http_req_t *req, bool has_length)
{
    char te[64];
    int n = lws_hdr_copy(wsi, te, sizeof(te), WSI_TOKEN_HTTP_TRANSFER_ENCODING);
    if (has_length) {
        refuse_unread(req, 400, "bad_request",
                      "a request may not have both Content-Length and Transfer-Encoding");
        return 0;
    }
    if (n <= 0 || strcasecmp(te, "chunked") != 0) {
        char msg[128];
        snprintf(msg, sizeof(msg), "transfer coding \"%s\" is not supported (only chunked)",
                 n > 0 ? te : "?");
        refuse_unread(req, 501, "not_implemented", msg);
        return 0;
    }
    req->chunked = true;
    expect_continue(wsi);
    return 0;
}

/* The Content-Length header's value: digits only, at most 18 of them. libwebsockets joins
 * repeated headers with commas, so two of them fail here too. RFC 9112 6.3: an invalid
 * length, or two that disagree, is 400 and the connection closed. Until 2026-12-03 strtoull
 * read "113abc" as 113, "5, 113" as 5 (the rest of the body then read as the next request),
 * and "-1" as 2^64 - 1. */
static bool content_length(struct lws *wsi, unsigned long long *out)
{
    char cl[24];
    int n = lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH);
    if (n <= 0 || n > 18)
        return false;
    unsigned long long v = 0;
    for (int i = 0; i < n; i++) {
        if (cl[i] < '0' || cl[i] > '9')
            return false;
        v = v * 10 + (unsigned)(cl[i] - '0');
    }
    *out = v;
    return true;
}

/* LWS_CALLBACK_HTTP: headers are in. Returns what the callback returns. */
static int on_request(vg_http_t *h, struct lws *wsi, struct conn *c, const char *path, size_t len)
{
    vg_http_req_t *req = vg_xmalloc(sizeof(*req));
    memset(req, 0, offsetof(vg_http_req_t, inl));
    atomic_fetch_add_explicit(&h->inflight, 1, memory_order_relaxed);
    req->http = h;
    req->wsi = wsi;
    req->state = REQ_READING;
    c->req = req;
    vg_strlcpy(req->method, detect_method(wsi), sizeof(req->method));
    req->path = take_str(req, path, len < PATH_MAX_LEN ? len : PATH_MAX_LEN);
    copy_query(req, wsi);
    copy_headers(req, wsi);
    if (atomic_load_explicit(&h->draining, memory_order_relaxed)) {
        h->stats.requests++;
        refuse_unread_with(req, 503, "unavailable", "the engine is shutting down", NULL);
        return 0;
    }
    bool path_known = false;
    char allow[128];
    req->route = find_route(h, req, &path_known, allow, sizeof(allow));
    if (!req->route) {
        h->stats.requests++;
        if (path_known) {
            char extra[160];
            snprintf(extra, sizeof(extra), "Allow: %s\r\n", allow);
            char msg[256];
            snprintf(msg, sizeof(msg), "method %s is not allowed here (allowed: %s)", req->method,
                     allow);
            req->state = REQ_HANDLING;
            json_error(req, 405, "method_not_allowed", msg, NULL, extra);
            return 0;
        }
        req->state = REQ_HANDLING;
        char why[256];
        if (h->unrouted && h->unrouted(h->unrouted_ctx, req->path, why, sizeof(why)))
            json_error(req, 503, "unavailable", why, NULL, "Retry-After: 1\r\n");
        else
            vg_http_respond_error(req, 404, "not_found", "no such endpoint", NULL);
        return 0;
    }
    if (!has_body_method(req->method))
        return dispatch(c);
    body_timer(req);
    if (h->json_bodies && !vg_http_is_json(vg_http_req_header(req, "content-type"))) {
        /* before a 100 Continue, and before a body of up to max_body is read for nothing */
        refuse_unread(req, 415, "unsupported_media_type",
                      "send the body as Content-Type: application/json");
        return 0;
    }
    bool has_length = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0)
        return on_transfer_encoding(wsi, req, has_length);
    if (!has_length) {
        refuse_unread(req, 411, "length_required",
                      "a request body needs a Content-Length header or chunked "
                      "Transfer-Encoding");
        return 0;
    }
    unsigned long long want;
    if (!content_length(wsi, &want)) {
        refuse_unread(req, 400, "bad_request",
                      "Content-Length must be one decimal number of bytes, given once");
        return 0;
    }
    if (want > h->max_body) {
        char msg[128];
        snprintf(msg, sizeof(msg), "request body of %llu bytes is over the limit of %zu bytes",
                 want, h->max_body);
        refuse_unread(req, 413, "body_too_large", msg);
        return 0;
    }
    if (want == 0)
        return dispatch(c);
    expect_continue(wsi);
    return 0;
}

/* Counts `more` bytes of req's body against the process's budget. False when that would
 * go over it: nothing is counted, and the request is answered 503. */
static bool reserve_body(vg_http_t *h, vg_http_req_t *req, size_t more)
{
    vg_http_budget_t *b = h->body_budget;
    if (!b)
        return true;
    uint64_t used = atomic_fetch_add_explicit(&b->used, more, memory_order_relaxed);
    if (used + more > b->limit) {
        atomic_fetch_sub_explicit(&b->used, more, memory_order_relaxed);
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "request bodies being received hold %llu bytes, the most allowed "
                 "(ingest.max_body_memory): retry later",
                 (unsigned long long)used);
        refuse_unread_with(req, 503, "overloaded", msg, "Retry-After: 1\r\n");
        return false;
    }
    req->budget = b;
    req->reserved += more;
    return true;
}

/* Adds to the body. False once it is over the limit (answered 413) or the process's budget
 * for bodies (503). */
static bool append_body(vg_http_t *h, vg_http_req_t *req, const void *in, size_t len)
{
    if (req->body_len + len > h->max_body) {
        refuse_unread(req, 413, "body_too_large", "request body is over the limit");
        return false;
    }
    if (len == 0)
        return true;
    if (!req->body) { /* inline when it fits, leaving room for the answer */
        size_t room = sizeof(req->inl) - req->inl_used;
        size_t inline_cap = room > RESP_RESERVE ? room - RESP_RESERVE : 0;
        if (len <= inline_cap) {
            req->body = req_take(req, inline_cap);
            req->body_cap = inline_cap;
        }
    }
    if (!req->body || req->body_len + len > req->body_cap) {
        size_t cap = req->body_cap > 4096 ? req->body_cap : 4096;
        while (cap < req->body_len + len)
            cap *= 2;
        if (!reserve_body(h, req, cap - req->reserved))
            return false;
        if (req->body && req_inline(req, req->body)) { /* moves to the heap */
            unsigned char *grown = vg_xmalloc(cap);
            memcpy(grown, req->body, req->body_len);
            req->body = grown;
        } else {
            req->body = vg_xrealloc(req->body, cap);
        }
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, in, len);
    req->body_len += len;
    return true;
}

enum chunk_state {
    CH_SIZE,         /* the chunk's size in hex */
    CH_EXT,          /* ";name=value" after it, ignored */
    CH_SIZE_LF,      /* the size line's LF */
    CH_DATA,         /* ch_left bytes of data */
    CH_DATA_CR,      /* the CRLF after them */
    CH_DATA_LF,      /* its LF */
    CH_TRAILER,      /* the start of a trailer line, or the final CRLF */
    CH_TRAILER_LINE, /* a trailer field, ignored */
    CH_TRAILER_LF,   /* its LF */
    CH_END_LF,       /* the final LF */
    CH_DONE,
};

static int hex_digit(uint8_t ch)
{
    return ch >= '0' && ch <= '9'   ? ch - '0'
           : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
           : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                    : -1;
}

/* One byte of the framing around the data (every state but CH_DATA). False: malformed. */
static bool chunk_frame_byte(vg_http_req_t *req, uint8_t ch)
{
    enum chunk_state st = (enum chunk_state)req->ch_state;
    enum chunk_state next = st;
    int d = hex_digit(ch);
    switch (st) {
    case CH_SIZE:
        if (d >= 0 && req->ch_left >> (64 - 4) == 0) {
            req->ch_left = req->ch_left << 4 | (uint64_t)d;
            req->ch_digit = true;
        } else if (d < 0 && req->ch_digit && (ch == ';' || ch == ' ' || ch == '\t' || ch == '\r')) {
            next = ch == '\r' ? CH_SIZE_LF : CH_EXT;
        } else {
            return false; /* not a size, over 64 bits, or none at all */
        }
        break;
    case CH_EXT:
        next = ch == '\r' ? CH_SIZE_LF : CH_EXT;
        break;
    case CH_SIZE_LF:
        next = req->ch_left ? CH_DATA : CH_TRAILER;
        break;
    case CH_DATA_CR:
        next = CH_DATA_LF;
        break;
    case CH_DATA_LF:
        next = CH_SIZE;
        req->ch_digit = false;
        break;
    case CH_TRAILER:
        next = ch == '\r' ? CH_END_LF : CH_TRAILER_LINE;
        break;
    case CH_TRAILER_LINE:
        next = ch == '\r' ? CH_TRAILER_LF : CH_TRAILER_LINE;
        break;
    case CH_TRAILER_LF:
        next = CH_TRAILER;
        break;
    case CH_END_LF:
        next = CH_DONE;
        break;
    case CH_DATA:
    case CH_DONE:
        return false;
    }
    /* the LF of a CRLF, and the CR after a chunk's data, must be just that */
    bool lf_state = st == CH_SIZE_LF || st == CH_DATA_LF || st == CH_TRAILER_LF || st == CH_END_LF;
    if ((lf_state && ch != '\n') || (st == CH_DATA_CR && ch != '\r'))
        return false;
    req->ch_state = (uint8_t)next;
    return true;
}

/* Decodes chunked framing (RFC 9112 7.1) from `in`, appending the data to the body. Returns
 * the bytes used (fewer than len once the body is done: the rest belong to a request sent
 * behind it), or -1 once the request has been answered (400 for bad framing, 413). */
static ssize_t chunked_take(vg_http_t *h, vg_http_req_t *req, const uint8_t *in, size_t len)
{
    size_t i = 0;
    while (i < len && req->ch_state != CH_DONE) {
        if (req->ch_state == CH_DATA) {
            size_t n = len - i < req->ch_left ? len - i : (size_t)req->ch_left;
            if (!append_body(h, req, in + i, n))
                return -1;
            req->ch_left -= n;
            i += n;
            if (req->ch_left == 0)
                req->ch_state = CH_DATA_CR;
            continue;
        }
        if (!chunk_frame_byte(req, in[i])) {
            refuse_unread(req, 400, "bad_chunked_body",
                          "the chunked request body is malformed (RFC 9112 7.1)");
            return -1;
        }
        i++;
        if (req->ch_state == CH_DATA && req->ch_left > h->max_body - req->body_len) {
            refuse_unread(req, 413, "body_too_large", "request body is over the limit");
            return -1; /* a chunk that will not fit: refused before its data */
        }
    }
    return (ssize_t)i;
}

static int on_body_complete(vg_http_t *h, struct conn *c);

/* Bytes of another request while one is open (see on_body_complete): the connection closes.
 * An error answered from the headers, which closes the connection anyway, goes out first
 * (write_answer completes no transaction for it, which must not happen in here). */
static int close_pipelined(vg_http_t *h, struct conn *c)
{
    h->stats.pipelined++;
    if (c->req && c->req->state == REQ_ANSWERED && c->req->close_after && c->req->wsi)
        (void)write_answer(c->req->wsi, c); /* -1: it closes */
    return -1;
}

static int on_body(vg_http_t *h, struct conn *c, const void *in, size_t len)
{
    vg_http_req_t *req = c->req;
    if (req && req->chunked && req->ch_state == CH_DONE)
        return on_body_complete(h, c); /* bytes behind the body: pipelined, see there */
    if (!req || req->state != REQ_READING)
        return 0; /* already answered (413): ignore the rest */
    body_timer(req);
    if (!req->chunked) {
        (void)append_body(h, req, in, len);
        return 0;
    }
    ssize_t used = chunked_take(h, req, in, len);
    if (used < 0 || req->ch_state != CH_DONE)
        return 0;
    /* libwebsockets 4.1 reads nothing more on a connection whose request body had no
     * Content-Length, even after the transaction completes: the client gets
     * "Connection: close" and sends its next request on a new one. */
    req->close_after = true;
    int rc = on_body_complete(h, c);
    if (rc == 0 && (size_t)used < len)
        rc = on_body_complete(h, c); /* a request sent behind this one */
    return rc;
}

/* Writes the answer, headers and body in ONE send (each send is a system call, plus the
 * loopback's work for the receiver: `sendto` was 11% of the server's time). Called from
 * libwebsockets callbacks and, for an answer that came later, straight from answer(): libwebsockets
 * keeps whatever the socket does not take and finishes it on POLLOUT. Returns -1 when the
 * connection must close. */
static int write_answer(struct lws *wsi, struct conn *c)
{
    vg_http_req_t *req = c->req;
    bool head = strcmp(req->method, "HEAD") == 0;
    size_t body_len = head ? 0 : req->resp_len;
    size_t hdr_cap = LWS_PRE + HEADER_SPACE + body_len;
    /* A decision's answer fits on the stack (lws_write keeps what the socket does not take). */
    unsigned char small[LWS_PRE + HEADER_SPACE + 2048];
    unsigned char *buf = hdr_cap <= sizeof(small) ? small : vg_xmalloc(hdr_cap);
    unsigned char *start = buf + LWS_PRE;
    unsigned char *p = start;
    unsigned char *end = buf + LWS_PRE + HEADER_SPACE - 1;
    int rc = 0;
    if (lws_add_http_common_headers(wsi, (unsigned)req->status, req->content_type,
                                    (lws_filepos_t)req->resp_len, &p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)"no-store", 8, &p, end) ||
        (req->close_after &&
         lws_add_http_header_by_name(wsi, (const unsigned char *)"connection:",
                                     (const unsigned char *)"close", 5, &p, end)))
        rc = -1;
    for (char *line = req->extra_headers; rc == 0 && line && *line;) {
        char *colon = strchr(line, ':');
        char *eol = strstr(line, "\r\n");
        if (!colon || !eol || colon > eol)
            break;
        char name[64];
        size_t nlen = (size_t)(colon - line) + 1;
        if (nlen >= sizeof(name))
            break;
        memcpy(name, line, nlen);
        name[nlen] = '\0';
        for (char *q = name; *q; q++)
            *q = (char)(*q >= 'A' && *q <= 'Z' ? *q + 32 : *q);
        const char *val = colon + 1;
        while (*val == ' ')
            val++;
        if (lws_add_http_header_by_name(wsi, (unsigned char *)name, (const unsigned char *)val,
                                        (int)(eol - val), &p, end))
            rc = -1;
        line = eol + 2;
    }
    if (rc == 0 && lws_finalize_http_header(wsi, &p, end))
        rc = -1;
    if (rc == 0) {
        memcpy(p, req->resp, body_len);
        p += body_len;
        /* As "headers": libwebsockets sends them as they are (it has nothing to frame in
         * HTTP/1.1), and buffers whatever the socket does not take now. */
        if (lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_HEADERS) < 0)
            rc = -1;
    }
    if (buf != small)
        free(buf);
    bool close_after = req->close_after;
    c->req = NULL;
    req_free(req);
    if (rc != 0 || close_after)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* HTTP/1.1 pipelining: libwebsockets 4.1 holds a pipelined request without a body until the
 * open transaction completes, so those are answered in order. One with a body it cannot hold
 * for us: with reading paused (lws_rx_flow_control), or with the transaction completed
 * inside its callbacks, its loop over buffered input re-read the bytes without consuming,
 * forever, in one callback (the whole loop stopped, all its HTTP went dead, SIGTERM could
 * not stop it). Left reading, it reports them as a repeated BODY_COMPLETION, and failing
 * that closes the connection cleanly; the open request is still carried out (its client may
 * retry it, idempotently). A new request's headers while one is open fail the same way. */
static int on_body_complete(vg_http_t *h, struct conn *c)
{
    vg_http_req_t *req = c->req;
    if (!req)
        return 0;
    if (!req->body_done) {
        req->body_done = true;
        lws_set_timer_usecs(req->wsi, LWS_SET_TIMER_USEC_CANCEL); /* see body_timer */
        /* else answered before its body ended (an error, or a zero-length body) */
        return req->state == REQ_READING ? dispatch(c) : 0;
    }
    return close_pipelined(h, c);
}

static int on_callback(vg_http_t *h, struct lws *wsi, enum lws_callback_reasons reason,
                       struct conn *c, void *in, size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_TIMER: /* body_timer's */
        if (c && c->req && c->req->state == REQ_READING) {
            char msg[96];
            snprintf(msg, sizeof(msg), "no byte of the request body came for %u ms",
                     h->body_idle_ms);
            refuse_unread(c->req, 408, "request_timeout", msg);
        }
        return 0;
    case LWS_CALLBACK_HTTP:
        if (c->req) /* a new request before the last was answered: see on_body_complete */
            return close_pipelined(h, c);
        return on_request(h, wsi, c, in ? (const char *)in : "/", in ? len : 1);
    case LWS_CALLBACK_HTTP_BODY:
        return on_body(h, c, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return on_body_complete(h, c);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (c && c->req && c->req->state == REQ_ANSWERED)
            return write_answer(wsi, c);
        return 0;
    case LWS_CALLBACK_CLOSED_HTTP:
        if (c && c->req) {
            vg_http_req_t *req = c->req;
            c->req = NULL;
            if (req->state == REQ_HANDLING) {
                h->stats.orphaned++;
                atomic_fetch_sub_explicit(&h->inflight, 1, memory_order_relaxed);
                req->wsi = NULL; /* the handler still owns it: orphan */
                req->http = NULL;
            } else {
                req_free(req);
            }
        }
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, c, in, len);
}

static int lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                        size_t len)
{
    vg_http_t *h = lws_context_user(lws_get_context(wsi));
    if (!h) /* context creation and destruction */
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    h->in_callback++;
    int rc = on_callback(h, wsi, reason, user, in, len);
    h->in_callback--;
    return rc;
}

/* ---- answering ---- */

static void count_status(vg_http_t *h, int status)
{
    if (status >= 500)
        h->stats.responses_5xx++;
    else if (status >= 400)
        h->stats.responses_4xx++;
    else if (status >= 200 && status < 300)
        h->stats.responses_2xx++;
}

static void answer(vg_http_req_t *req, int status, const char *content_type, const void *body,
                   size_t len, const char *extra_headers)
{
    VG_CHECK(req->state == REQ_HANDLING);
    if (!req->wsi) { /* the client went away: nothing to send to */
        req_free(req);
        return;
    }
    count_status(req->http, status);
    req->state = REQ_ANSWERED;
    req->status = status;
    const char *ct = content_type ? content_type : "application/octet-stream";
    req->content_type = take_str(req, ct, strlen(ct));
    req->extra_headers = extra_headers ? take_str(req, extra_headers, strlen(extra_headers)) : NULL;
    req->resp = req_take(req, len ? len : 1);
    if (len)
        memcpy(req->resp, body, len);
    req->resp_len = len;
    if (req->in_dispatch)
        return; /* dispatch() asks for the WRITEABLE callback */
    struct lws *wsi = req->wsi;
    if (req->http->in_callback > 0 || req->close_after) {
        /* never complete a transaction in there; and a connection to close is closed by
         * returning -1 from the WRITEABLE callback (a kill set from outside waited for the
         * client after a chunked body) */
        lws_callback_on_writable(wsi);
        return;
    }
    /* Written now, outside libwebsockets' callbacks, not on the next POLLOUT: each change of
     * a connection's poll events costs libuv an epoll_ctl DEL and ADD (uv_poll_start
     * restarts the watcher), and asking for POLLOUT and dropping it again is two changes. */
    struct conn *c = lws_wsi_user(wsi);
    VG_CHECK(c && c->req == req); /* a live wsi's request is its connection's */
    if (write_answer(wsi, c) != 0)
        lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC); /* close from here */
}

void vg_http_respond(vg_http_req_t *req, int status, const char *content_type, const void *body,
                     size_t len, const char *extra_headers)
{
    answer(req, status, content_type, body, len, extra_headers);
}

void vg_http_respond_error(vg_http_req_t *req, int status, const char *code, const char *message,
                           const char *field)
{
    json_error(req, status, code, message, field, NULL);
}

static void json_error(vg_http_req_t *req, int status, const char *code, const char *message,
                       const char *field, const char *extra_headers)
{
    json_t *err = json_object();
    json_object_set_new(err, "code", json_string(code));
    json_object_set_new(err, "message", json_string(message));
    json_object_set_new(err, "field", field ? json_string(field) : json_null());
    json_t *root = json_object();
    json_object_set_new(root, "error", err);
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    answer(req, status, "application/json", text, text ? strlen(text) : 0, extra_headers);
    free(text);
}

static void req_free(vg_http_req_t *req)
{
    if (req->http) /* an orphan's was counted out when its connection closed */
        atomic_fetch_sub_explicit(&req->http->inflight, 1, memory_order_relaxed);
    if (req->reserved)
        atomic_fetch_sub_explicit(&req->budget->used, req->reserved, memory_order_relaxed);
    req_give_back(req, req->path);
    req_give_back(req, req->query);
    for (int i = 0; i < H_COUNT; i++)
        req_give_back(req, req->hdr[i]);
    req_give_back(req, req->body);
    req_give_back(req, req->content_type);
    req_give_back(req, req->extra_headers);
    req_give_back(req, req->resp);
    free(req);
}

const char *vg_http_req_method(const vg_http_req_t *req)
{
    return req->method;
}

const char *vg_http_req_path(const vg_http_req_t *req)
{
    return req->path;
}

const char *vg_http_req_query(const vg_http_req_t *req, const char *name, char *buf, size_t len)
{
    size_t nlen = strlen(name);
    for (const char *p = req->query; p && p < req->query + req->query_len; p += strlen(p) + 1) {
        if (strncmp(p, name, nlen) != 0 || (p[nlen] != '=' && p[nlen] != '\0'))
            continue;
        const char *v = p[nlen] == '=' ? p + nlen + 1 : p + nlen;
        size_t vlen = strlen(v);
        if (vlen >= len)
            vlen = len - 1;
        memcpy(buf, v, vlen);
        buf[vlen] = '\0';
        return buf;
    }
    return NULL;
}

const char *vg_http_req_header(const vg_http_req_t *req, const char *name)
{
    for (int i = 0; i < H_COUNT; i++) {
        if (strcasecmp(name, hdr_names[i]) == 0)
            return req->hdr[i];
    }
    return NULL;
}

vg_bytes_t vg_http_req_body(const vg_http_req_t *req)
{
    vg_bytes_t b = {req->body, req->body_len};
    return b;
}
