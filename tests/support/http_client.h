/* SPDX-License-Identifier: MIT */
/*
 * Test support: a tiny blocking HTTP/1.1 client for 127.0.0.1, enough to drive vigil's API in
 * tests: one request per connection, or many on one keep-alive connection. Responses must
 * carry Content-Length (vigil's always do). Thread: the calling thread.
 */
#ifndef VG_TESTS_SUPPORT_HTTP_CLIENT_H
#define VG_TESTS_SUPPORT_HTTP_CLIENT_H

#include <stddef.h>

typedef struct vg_tc_response {
    int status;
    char headers[4096]; /* raw header block, lower-cased names */
    char *body;         /* malloc'd, NUL-terminated; caller frees (vg_tc_response_free) */
    size_t body_len;
} vg_tc_response_t;

typedef struct vg_tc_conn {
    int fd;
    char buf[65536];
    size_t len;
} vg_tc_conn_t;

/* Connects to 127.0.0.1:port. 0 or -errno. */
int vg_tc_connect(vg_tc_conn_t *c, int port);

/* Sends one request on `c` and reads its response. `extra_headers` is NULL or
 * "Name: value\r\n" lines. 0, -errno, or -EPROTO for a malformed response. */
int vg_tc_send(vg_tc_conn_t *c, const char *method, const char *path, const char *content_type,
               const void *body, size_t len, const char *extra_headers, vg_tc_response_t *out);

/* Sends `bytes` as they are (pipelined or malformed requests). 0 or -errno. */
int vg_tc_send_raw(vg_tc_conn_t *c, const char *bytes);

/* Reads and discards until the server closes `c`. 0 on the close; -errno otherwise, -EAGAIN
 * when the socket timed out first. */
int vg_tc_wait_close(vg_tc_conn_t *c);

void vg_tc_close(vg_tc_conn_t *c);

/* One request on a fresh connection (closed afterwards). */
int vg_tc_request(int port, const char *method, const char *path, const char *content_type,
                  const void *body, size_t len, vg_tc_response_t *out);

/* The value of response header `name` (lower case) copied into buf, or NULL. */
const char *vg_tc_header(const vg_tc_response_t *r, const char *name, char *buf, size_t len);

void vg_tc_response_free(vg_tc_response_t *r);

#endif
