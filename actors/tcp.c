/* SPDX-License-Identifier: MIT */
/*
 * TCP ingest listener; see tcp.h. Connections are accepted and closed until the framing and
 * pipeline land, with a debug line each, so a client sees a clean close rather than a hang.
 * Thread: the owning loop.
 */
#define VG_LOG_MODULE "tcp"
#include "actors/tcp.h"
#include "runtime/alloc.h"
#include "runtime/error.h"
#include "runtime/logging.h"

#include <stdlib.h>

struct vg_tcp_ingest {
    vg_actor_t actor;
    uv_tcp_t listener;
    int port;
    uint64_t accepted;
};

struct conn {
    uv_tcp_t handle;
};

static void on_listener_closed(uv_handle_t *h);
static void on_connection(uv_stream_t *server, int status);
static void on_conn_closed(uv_handle_t *h);

static void tcp_receive(vg_actor_t *self, vg_msg_t *msg)
{
    (void)self;
    free(msg); /* no messages are defined yet */
}

static void tcp_on_stop(vg_actor_t *self)
{
    vg_tcp_ingest_t *t = vg_container_of(self, vg_tcp_ingest_t, actor);
    uv_close((uv_handle_t *)&t->listener, on_listener_closed);
}

static const vg_actor_ops_t tcp_ops = {"tcp-ingest", tcp_receive, tcp_on_stop};

int vg_tcp_ingest_new(vg_loop_t *loop, const char *bind, int port, vg_tcp_ingest_t **out)
{
    struct sockaddr_storage ss;
    if (uv_ip4_addr(bind, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(bind, port, (struct sockaddr_in6 *)&ss) != 0)
        return VG_EINVAL;
    vg_tcp_ingest_t *t = vg_xcalloc(1, sizeof(*t));
    int rc = uv_tcp_init(vg_loop_uv(loop), &t->listener);
    if (rc != 0) {
        free(t);
        return rc;
    }
    rc = uv_tcp_bind(&t->listener, (const struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&t->listener, 511, on_connection);
    if (rc == 0) {
        struct sockaddr_storage got;
        int len = sizeof(got);
        rc = uv_tcp_getsockname(&t->listener, (struct sockaddr *)&got, &len);
        t->port = got.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&got)->sin6_port)
                                            : ntohs(((struct sockaddr_in *)&got)->sin_port);
    }
    if (rc != 0) {
        /* Never became an actor: close the handle and free in its callback. */
        uv_close((uv_handle_t *)&t->listener, on_listener_closed);
        return rc;
    }
    vg_actor_init(&t->actor, loop, &tcp_ops, "tcp-ingest", 0);
    *out = t;
    return 0;
}

int vg_tcp_ingest_port(const vg_tcp_ingest_t *tcp)
{
    return tcp->port;
}

void vg_tcp_ingest_stop(vg_tcp_ingest_t *tcp)
{
    vg_actor_stop(&tcp->actor);
}

static void on_listener_closed(uv_handle_t *h)
{
    vg_tcp_ingest_t *t = vg_container_of((uv_tcp_t *)h, vg_tcp_ingest_t, listener);
    VG_LOG_DEBUG("tcp ingest closed port=%d accepted=%llu", t->port,
                 (unsigned long long)t->accepted);
    free(t);
}

static void on_connection(uv_stream_t *server, int status)
{
    vg_tcp_ingest_t *t = vg_container_of((uv_tcp_t *)server, vg_tcp_ingest_t, listener);
    if (status != 0) {
        VG_LOG_WARN("tcp accept failed err=%s", vg_strerror(status));
        return;
    }
    struct conn *c = vg_xcalloc(1, sizeof(*c));
    int rc = uv_tcp_init(server->loop, &c->handle);
    if (rc != 0) {
        free(c);
        return;
    }
    rc = uv_accept(server, (uv_stream_t *)&c->handle);
    t->accepted++;
    VG_LOG_DEBUG("tcp connection closed: ingest not built yet rc=%s", vg_err_name(rc));
    uv_close((uv_handle_t *)&c->handle, on_conn_closed);
}

static void on_conn_closed(uv_handle_t *h)
{
    free(vg_container_of((uv_tcp_t *)h, struct conn, handle));
}
