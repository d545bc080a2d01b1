/* SPDX-License-Identifier: MIT */
/*
 * TCP ingest framing: a 4-byte big-endian length, then that many bytes (one protobuf
 * message). The decoder takes bytes as they arrive, in any chunking, and hands out whole
 * frames; a frame that is larger than the limit cannot be skipped safely (its length may be
 * garbage), so it ends the stream with VG_ETOOBIG. A frame whose payload does not decode is
 * the caller's business: the stream stays in step, since the length was good. Pure code, no
 * I/O. Thread: the owner of the decoder.
 */
#ifndef VG_ACTORS_FRAME_H
#define VG_ACTORS_FRAME_H

#include "runtime/bytes.h"
#include "runtime/compiler.h"

#include <stddef.h>
#include <stdint.h>

#define VG_FRAME_HEADER_BYTES 4u

typedef struct vg_frame_decoder {
    uint8_t *buf; /* bytes of an unfinished frame */
    size_t len;
    size_t cap;
    size_t max_frame; /* payload limit */
    uint64_t frames;  /* handed out so far */
} vg_frame_decoder_t;

/* Called for each whole frame; the payload is valid only during the call. Return 0 to go on,
 * non-zero to stop (vg_frame_feed then returns that value). */
typedef int (*vg_frame_fn)(void *ctx, vg_bytes_t payload);

void vg_frame_decoder_init(vg_frame_decoder_t *d, size_t max_frame);
void vg_frame_decoder_close(vg_frame_decoder_t *d);

/* Feeds `len` bytes. OUT: *consumed (may be NULL): bytes taken, less than len only when a
 * callback stopped the feed (the rest is the caller's to feed again later, e.g. after
 * backpressure). 0; VG_ETOOBIG (a frame over the limit: close the stream); or the callback's
 * non-zero value. */
VG_MUST_CHECK int vg_frame_feed(vg_frame_decoder_t *d, const uint8_t *data, size_t len,
                                vg_frame_fn fn, void *ctx, size_t *consumed);

/* Writes the 4-byte header for a payload of `len` bytes. */
void vg_frame_header(uint8_t out[VG_FRAME_HEADER_BYTES], uint32_t len);

/* The whole reply frame for a decision that is already packed (the bytes of its decision log
 * record): the header, then Vigil.IngestReply {seq, decision}, byte for byte what protobuf-c
 * packs for that reply (an embedded message is its own bytes behind a tag and a length), so
 * the decision is not packed a second time. OUT: *out, malloc'd. Returns the frame's bytes. */
size_t vg_frame_decision_reply(uint64_t seq, const uint8_t *decision, size_t len, uint8_t **out);

/* The log record of a transaction that came in `request` (a packed Vigil.IngestRequest that
 * unpacked to a transaction): the transaction's bytes as the client sent them, then
 * received_ms (field 17) appended, which protobuf reads as that field's value (the last one
 * on the wire wins). The same transaction as packing it again with received_ms set, for a
 * fraction of the work; found by walking the request's top-level fields. Writes to out
 * (vg_frame_stamped_cap(request) bytes) and returns the record's length; 0 when the request
 * does not hold exactly one transaction field (pack it again then). */
#define VG_FRAME_STAMP_MAX 12u
size_t vg_frame_stamped_transaction(vg_bytes_t request, int64_t received_ms, uint8_t *out);

/* How many bytes vg_frame_stamped_transaction may write for `request`: its length plus
 * VG_FRAME_STAMP_MAX (the transaction is part of it). */
static inline size_t vg_frame_stamped_cap(vg_bytes_t request)
{
    return request.len + VG_FRAME_STAMP_MAX;
}

#endif
