/* SPDX-License-Identifier: MIT */
/*
 * The blocking test HTTP client; see http_client.h. Thread: the caller's.
 */
#define _GNU_SOURCE /* memmem */
#include "tests/support/http_client.h"
#include "runtime/alloc.h"
#include "runtime/io.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int vg_tc_connect(vg_tc_conn_t *c, int port)
{
    c->len = 0;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return -errno;
    struct timeval tv = {.tv_sec = 20};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int rc = -errno;
        close(c->fd);
        c->fd = -1;
        return rc;
    }
    return 0;
}

int vg_tc_send_raw(vg_tc_conn_t *c, const char *bytes)
{
    size_t len = strlen(bytes);
    ssize_t n = send(c->fd, bytes, len, MSG_NOSIGNAL);
    return n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
}

int vg_tc_wait_close(vg_tc_conn_t *c)
{
    char buf[4096];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
        if (n == 0)
            return 0;
        if (n < 0)
            return errno == EINTR ? 0 : -errno;
    }
}

void vg_tc_close(vg_tc_conn_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* Reads more into c->buf. 0, -EPIPE at EOF, -errno. */
static int fill(vg_tc_conn_t *c)
{
    if (c->len == sizeof(c->buf))
        return -EMSGSIZE;
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
    if (n == 0)
        return -EPIPE;
    if (n < 0)
        return errno == EAGAIN ? -ETIMEDOUT : -errno;
    c->len += (size_t)n;
    return 0;
}

static int read_response(vg_tc_conn_t *c, bool head, vg_tc_response_t *out)
{
    char *end = NULL;
    while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4))) {
        int rc = fill(c);
        if (rc != 0)
            return rc;
    }
    size_t hlen = (size_t)(end - c->buf) + 4;
    if (hlen >= sizeof(out->headers))
        return -EPROTO;
    memcpy(out->headers, c->buf, hlen);
    out->headers[hlen] = '\0';
    for (char *p = out->headers; *p; p++) {
        /* lower-case header names (up to each ':' on a line) for easy lookup */
        char *colon = strchr(p, ':');
        char *eol = strstr(p, "\r\n");
        if (!eol)
            break;
        for (char *q = p; colon && q < colon && q < eol; q++)
            *q = (char)tolower((unsigned char)*q);
        p = eol + 1;
    }
    if (sscanf(out->headers, "http/1.%*d %d", &out->status) != 1 &&
        sscanf(out->headers, "HTTP/1.%*d %d", &out->status) != 1)
        return -EPROTO;
    char cl[32];
    size_t body_len = 0;
    if (!head && vg_tc_header(out, "content-length", cl, sizeof(cl)))
        body_len = strtoull(cl, NULL, 10);
    memmove(c->buf, c->buf + hlen, c->len - hlen);
    c->len -= hlen;
    out->body = vg_xmalloc(body_len + 1);
    size_t got = 0;
    while (got < body_len) {
        if (c->len == 0) {
            int rc = fill(c);
            if (rc != 0) {
                free(out->body);
                out->body = NULL;
                return rc;
            }
        }
        size_t take = c->len < body_len - got ? c->len : body_len - got;
        memcpy(out->body + got, c->buf, take);
        memmove(c->buf, c->buf + take, c->len - take);
        c->len -= take;
        got += take;
    }
    out->body[body_len] = '\0';
    out->body_len = body_len;
    return 0;
}

int vg_tc_send(vg_tc_conn_t *c, const char *method, const char *path, const char *content_type,
               const void *body, size_t len, const char *extra_headers, vg_tc_response_t *out)
{
    memset(out, 0, sizeof(*out));
    char head[8192];
    char cl[48] = "";
    if (body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0)
        snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", len);
    int n =
        snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%s%s%s\r\n", method,
                 path, content_type ? "Content-Type: " : "", content_type ? content_type : "",
                 content_type ? "\r\n" : "", cl, extra_headers ? extra_headers : "");
    if (n < 0 || (size_t)n >= sizeof(head))
        return -EMSGSIZE; /* a test asking for a longer head than this client writes */
    /* A server may answer early and close (413 for a body over the limit): writing on would
     * raise SIGPIPE, so ignore it and read the answer that is already there. */
    signal(SIGPIPE, SIG_IGN);
    int rc = vg_io_write_all(c->fd, head, (size_t)n);
    if (rc == 0 && len > 0)
        rc = vg_io_write_all(c->fd, body, len);
    if (rc != 0 && rc != -EPIPE && rc != -ECONNRESET)
        return rc;
    return read_response(c, strcmp(method, "HEAD") == 0, out);
}

int vg_tc_request(int port, const char *method, const char *path, const char *content_type,
                  const void *body, size_t len, vg_tc_response_t *out)
{
    vg_tc_conn_t *c = vg_xmalloc(sizeof(*c));
    int rc = vg_tc_connect(c, port);
    if (rc == 0)
        rc = vg_tc_send(c, method, path, content_type, body, len, "Connection: close\r\n", out);
    vg_tc_close(c);
    free(c);
    return rc;
}

const char *vg_tc_header(const vg_tc_response_t *r, const char *name, char *buf, size_t len)
{
    char key[128];
    snprintf(key, sizeof(key), "\r\n%s:", name);
    const char *p = strstr(r->headers, key);
    if (!p)
        return NULL;
    p += strlen(key);
    while (*p == ' ')
        p++;
    const char *eol = strstr(p, "\r\n");
    size_t n = eol ? (size_t)(eol - p) : strlen(p);
    if (n >= len)
        n = len - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

void vg_tc_response_free(vg_tc_response_t *r)
{
    free(r->body);
    r->body = NULL;
}
