/* SPDX-License-Identifier: MIT */
/*
 * The frame decoder; see frame.h. Whole frames that arrive in one chunk are handed out
 * straight from the caller's buffer (no copy); only a frame split across chunks is gathered
 * in the decoder's own buffer. Thread: the decoder's owner.
 */
#include "actors/frame.h"
#include "runtime/alloc.h"
#include "runtime/error.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void vg_frame_decoder_init(vg_frame_decoder_t *d, size_t max_frame)
{
    memset(d, 0, sizeof(*d));
    d->max_frame = max_frame;
}

void vg_frame_decoder_close(vg_frame_decoder_t *d)
{
    free(d->buf);
    d->buf = NULL;
    d->len = d->cap = 0;
}

void vg_frame_header(uint8_t out[VG_FRAME_HEADER_BYTES], uint32_t len)
{
    out[0] = (uint8_t)(len >> 24);
    out[1] = (uint8_t)(len >> 16);
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
}

/* Field numbers and wire types of Vigil.IngestReply (storage/vigil.proto). */
#define REPLY_SEQ_TAG      ((1u << 3) | 0u) /* uint64 seq = 1: varint */
#define REPLY_DECISION_TAG ((2u << 3) | 2u) /* Decision decision = 2: length-delimited */
#define VARINT_MAX         10u

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

size_t vg_frame_decision_reply(uint64_t seq, const uint8_t *decision, size_t len, uint8_t **out)
{
    uint8_t head[2 * (1 + VARINT_MAX)];
    size_t h = 0;
    if (seq != 0) { /* proto3: a zero scalar is not written */
        head[h++] = REPLY_SEQ_TAG;
        h += put_varint(head + h, seq);
    }
    head[h++] = REPLY_DECISION_TAG;
    h += put_varint(head + h, len);
    size_t payload = h + len;
    uint8_t *f = vg_xmalloc(VG_FRAME_HEADER_BYTES + payload);
    vg_frame_header(f, (uint32_t)payload);
    memcpy(f + VG_FRAME_HEADER_BYTES, head, h);
    if (len)
        memcpy(f + VG_FRAME_HEADER_BYTES + h, decision, len);
    *out = f;
    return VG_FRAME_HEADER_BYTES + payload;
}

/* Field numbers of Vigil.IngestRequest and Vigil.Transaction. */
#define REQUEST_TRANSACTION_FIELD 2u
#define TX_RECEIVED_MS_TAG        ((17u << 3) | 0u) /* int64 received_ms = 17: varint */

/* Reads a varint at *p (< end), moving *p past it. false when it runs past end or 10 bytes. */
static bool get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

size_t vg_frame_stamped_transaction(vg_bytes_t request, int64_t received_ms, uint8_t *out)
{
    const uint8_t *p = request.ptr;
    const uint8_t *end = p + request.len;
    vg_bytes_t tx = {0};
    unsigned found = 0;
    while (p < end) {
        uint64_t key;
        uint64_t n;
        if (!get_varint(&p, end, &key))
            return 0;
        unsigned wire = (unsigned)(key & 7);
        if (key >> 3 == REQUEST_TRANSACTION_FIELD && wire != 2)
            return 0;
        switch (wire) {
        case 0:
            if (!get_varint(&p, end, &n))
                return 0;
            break;
        case 1:
            if (end - p < 8)
                return 0;
            p += 8;
            break;
        case 5:
            if (end - p < 4)
                return 0;
            p += 4;
            break;
        case 2:
            if (!get_varint(&p, end, &n) || n > (uint64_t)(end - p))
                return 0;
            if (key >> 3 == REQUEST_TRANSACTION_FIELD) {
                tx.ptr = p;
                tx.len = (size_t)n;
                found++; /* twice: protobuf merges the two, so pack it again */
            }
            p += n;
            break;
        default:
            return 0; /* groups: nothing of vigil's, pack it again */
        }
    }
    if (found != 1)
        return 0;
    if (tx.len)
        memcpy(out, tx.ptr, tx.len);
    size_t len = tx.len;
    len += put_varint(out + len, TX_RECEIVED_MS_TAG);
    len += put_varint(out + len, (uint64_t)received_ms);
    return len;
}

static size_t frame_len(const uint8_t *h)
{
    return (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | (size_t)h[3];
}

static void gather(vg_frame_decoder_t *d, const uint8_t *p, size_t n)
{
    if (d->len + n > d->cap) {
        d->cap = d->len + n > 2 * d->cap ? d->len + n : 2 * d->cap;
        d->buf = vg_xrealloc(d->buf, d->cap);
    }
    memcpy(d->buf + d->len, p, n);
    d->len += n;
}

int vg_frame_feed(vg_frame_decoder_t *d, const uint8_t *data, size_t len, vg_frame_fn fn, void *ctx,
                  size_t *consumed)
{
    size_t off = 0;
    int rc = 0;
    while (off < len && rc == 0) {
        /* Finish a gathered frame first. */
        if (d->len > 0 || len - off < VG_FRAME_HEADER_BYTES) {
            if (d->len < VG_FRAME_HEADER_BYTES) {
                size_t take = VG_FRAME_HEADER_BYTES - d->len;
                take = take < len - off ? take : len - off;
                gather(d, data + off, take);
                off += take;
                if (d->len < VG_FRAME_HEADER_BYTES)
                    break;
            }
            size_t flen = frame_len(d->buf);
            if (flen > d->max_frame)
                return VG_ETOOBIG;
            size_t want = VG_FRAME_HEADER_BYTES + flen - d->len;
            size_t take = want < len - off ? want : len - off;
            gather(d, data + off, take);
            off += take;
            if (d->len < VG_FRAME_HEADER_BYTES + flen)
                break;
            vg_bytes_t payload = {d->buf + VG_FRAME_HEADER_BYTES, flen};
            d->len = 0;
            d->frames++;
            rc = fn(ctx, payload);
            continue;
        }
        size_t flen = frame_len(data + off);
        if (flen > d->max_frame)
            return VG_ETOOBIG;
        if (len - off < VG_FRAME_HEADER_BYTES + flen) {
            gather(d, data + off, len - off); /* the rest comes later */
            off = len;
            break;
        }
        vg_bytes_t payload = {data + off + VG_FRAME_HEADER_BYTES, flen};
        off += VG_FRAME_HEADER_BYTES + flen;
        d->frames++;
        rc = fn(ctx, payload);
    }
    if (consumed)
        *consumed = off;
    return rc;
}
