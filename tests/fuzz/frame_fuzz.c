/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the TCP ingest path's own code (actors/frame.c): the frame decoder fed
 * in two pieces split where the first input byte says, each frame's IngestRequest unpacked by
 * protobuf-c as tcp.c does, its transaction or label validated, and the transaction's bytes
 * stamped with received_ms the way the log stores them. `make fuzz` runs it after the JSON
 * codec's target.
 *
 * The checks beyond crashes and sanitizer reports: the frames delivered from the two pieces
 * are the frames delivered from the input in one piece (same count, lengths and bytes), and
 * whenever protobuf-c accepts a request with a transaction and vg_frame_stamped_transaction
 * copies its bytes, those bytes unpack as a Transaction whose received_ms is the stamp (a
 * field read last wins), with the same transaction_id.
 */
#include "actors/frame.h"
#include "actors/txcodec.h"
#include "runtime/crc32c.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define STAMP 1795502400123ll

static const vg_tx_limits_t lim = {
    .now_ms = 1795502400000ll, .max_future_skew_ms = 300000, .max_batch = 100};

static void check_stamp(vg_bytes_t payload, const Vigil__Transaction *tx)
{
    uint8_t *out = malloc(vg_frame_stamped_cap(payload));
    size_t len = vg_frame_stamped_transaction(payload, STAMP, out);
    if (len) {
        Vigil__Transaction *back = vigil__transaction__unpack(NULL, len, out);
        if (!back || back->received_ms != STAMP ||
            strcmp(back->transaction_id ? back->transaction_id : "",
                   tx->transaction_id ? tx->transaction_id : "") != 0) {
            fprintf(stderr, "stamped transaction does not read back\n");
            abort();
        }
        vigil__transaction__free_unpacked(back, NULL);
    }
    free(out);
}

/* What a feed delivered: each frame's length and checksum. */
struct seen {
    size_t n;
    uint32_t len[64];
    uint32_t crc[64];
};

static int on_frame(void *ctx, vg_bytes_t payload)
{
    struct seen *seen = ctx;
    if (seen->n < 64) {
        seen->len[seen->n] = (uint32_t)payload.len;
        seen->crc[seen->n] = vg_crc32c(0, payload.ptr, payload.len);
    }
    seen->n++;
    Vigil__IngestRequest *r = vigil__ingest_request__unpack(NULL, payload.len, payload.ptr);
    if (!r)
        return 0; /* tcp.c answers invalid_protobuf and goes on */
    vg_tx_error_t err;
    if (r->item_case == VIGIL__INGEST_REQUEST__ITEM_TRANSACTION && r->transaction) {
        (void)vg_tx_validate(r->transaction, &lim, &err);
        check_stamp(payload, r->transaction);
    } else if (r->item_case == VIGIL__INGEST_REQUEST__ITEM_LABEL && r->label) {
        (void)vg_label_validate(r->label, &lim, &err);
    }
    vigil__ingest_request__free_unpacked(r, NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const uint8_t *body = data + 1;
    size_t len = size - 1;
    size_t cut = data[0] % (len + 1);
    struct seen split = {0}, whole = {0};
    vg_frame_decoder_t d;
    vg_frame_decoder_init(&d, 4096);
    int rc = vg_frame_feed(&d, body, cut, on_frame, &split, NULL);
    if (rc == 0)
        rc = vg_frame_feed(&d, body + cut, len - cut, on_frame, &split, NULL);
    vg_frame_decoder_close(&d);
    vg_frame_decoder_init(&d, 4096);
    int rc_whole = vg_frame_feed(&d, body, len, on_frame, &whole, NULL);
    vg_frame_decoder_close(&d);
    /* a frame over the limit stops either feed there: tcp.c closes with an error frame */
    if (rc != rc_whole || split.n != whole.n ||
        memcmp(split.len, whole.len, sizeof(split.len)) != 0 ||
        memcmp(split.crc, whole.crc, sizeof(split.crc)) != 0) {
        fprintf(stderr, "two pieces gave other frames than one (%zu against %zu)\n", split.n,
                whole.n);
        abort();
    }
    return 0;
}
