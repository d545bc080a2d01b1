/* SPDX-License-Identifier: MIT */
/*
 * Tests of TCP ingest framing: any chunking gives the same frames, oversize frames end the
 * stream, a stopping callback leaves the rest to be fed again, and a protobuf request
 * survives the trip.
 */
#include "actors/frame.h"
#include "runtime/alloc.h"
#include "runtime/hash.h"
#include "storage/vigil.pb-c.h"
#include "tests/vg_test.h"

#include <string.h>

struct seen {
    size_t n;
    size_t total;
    uint32_t sum;
    size_t stop_after;
};

static int on_frame(void *ctx, vg_bytes_t p)
{
    struct seen *s = ctx;
    s->n++;
    s->total += p.len;
    for (size_t i = 0; i < p.len; i++)
        s->sum = s->sum * 31 + p.ptr[i];
    return s->stop_after && s->n == s->stop_after ? 1 : 0;
}

/* A stream of `n` frames of varied sizes (some empty). OUT: *len. */
static uint8_t *make_stream(size_t n, size_t *len, struct seen *expect)
{
    size_t cap = 0;
    for (size_t i = 0; i < n; i++)
        cap += VG_FRAME_HEADER_BYTES + (i * 37) % 300;
    uint8_t *buf = vg_xmalloc(cap ? cap : 1);
    size_t off = 0;
    memset(expect, 0, sizeof(*expect));
    for (size_t i = 0; i < n; i++) {
        uint32_t flen = (uint32_t)((i * 37) % 300);
        vg_frame_header(buf + off, flen);
        off += VG_FRAME_HEADER_BYTES;
        vg_bytes_t p = {buf + off, flen};
        for (uint32_t k = 0; k < flen; k++)
            buf[off + k] = (uint8_t)vg_hash_u64(i * 1000 + k);
        off += flen;
        on_frame(expect, p);
    }
    *len = off;
    return buf;
}

VG_TEST(frame_any_chunking_gives_the_same_frames)
{
    size_t len = 0;
    struct seen want;
    uint8_t *stream = make_stream(200, &len, &want);
    uint64_t seed = vg_test_seed();
    for (int round = 0; round < 50; round++) {
        vg_frame_decoder_t d;
        vg_frame_decoder_init(&d, 1024);
        struct seen got = {0};
        size_t off = 0;
        uint64_t x = seed + (uint64_t)round;
        while (off < len) {
            x = vg_hash_u64(x);
            size_t chunk = round == 0 ? 1 : 1 + x % 700; /* round 0: byte by byte */
            if (chunk > len - off)
                chunk = len - off;
            size_t used = 0;
            ASSERT_OK(vg_frame_feed(&d, stream + off, chunk, on_frame, &got, &used));
            ASSERT_EQ(used, chunk);
            off += chunk;
        }
        ASSERT_EQ(got.n, want.n);
        ASSERT_EQ(got.total, want.total);
        ASSERT_EQ_U(got.sum, want.sum);
        ASSERT_EQ_U(d.frames, 200);
        ASSERT_EQ(d.len, 0); /* nothing left over */
        vg_frame_decoder_close(&d);
    }
    free(stream);
}

VG_TEST(frame_over_the_limit_ends_the_stream)
{
    vg_frame_decoder_t d;
    vg_frame_decoder_init(&d, 100);
    uint8_t buf[8] = {0};
    vg_frame_header(buf, 101);
    struct seen got = {0};
    ASSERT_ERR(vg_frame_feed(&d, buf, sizeof(buf), on_frame, &got, NULL), VG_ETOOBIG);
    ASSERT_EQ(got.n, 0);
    vg_frame_decoder_close(&d);
    /* Split header: the check still happens once the 4 bytes are in. */
    vg_frame_decoder_init(&d, 100);
    ASSERT_OK(vg_frame_feed(&d, buf, 2, on_frame, &got, NULL));
    ASSERT_ERR(vg_frame_feed(&d, buf + 2, 2, on_frame, &got, NULL), VG_ETOOBIG);
    vg_frame_decoder_close(&d);
}

VG_TEST(frame_callback_can_pause_the_feed)
{
    size_t len = 0;
    struct seen want;
    uint8_t *stream = make_stream(10, &len, &want);
    vg_frame_decoder_t d;
    vg_frame_decoder_init(&d, 1024);
    struct seen got = {.stop_after = 3};
    size_t used = 0;
    ASSERT_EQ(vg_frame_feed(&d, stream, len, on_frame, &got, &used), 1);
    ASSERT_EQ(got.n, 3);
    ASSERT_LT(used, len);
    got.stop_after = 0;
    ASSERT_OK(vg_frame_feed(&d, stream + used, len - used, on_frame, &got, &used));
    ASSERT_EQ(got.n, 10);
    ASSERT_EQ_U(got.sum, want.sum);
    vg_frame_decoder_close(&d);
    free(stream);
}

static int decode_request(void *ctx, vg_bytes_t p)
{
    Vigil__IngestRequest **out = ctx;
    *out = vigil__ingest_request__unpack(NULL, p.len, p.ptr);
    return 0;
}

VG_TEST(frame_carries_a_protobuf_request)
{
    Vigil__Transaction tx = VIGIL__TRANSACTION__INIT;
    tx.transaction_id = "t-1";
    tx.account_id = "A1";
    tx.amount_minor = 1234;
    tx.currency = "EUR";
    tx.timestamp_ms = 1767225600000;
    Vigil__IngestRequest req = VIGIL__INGEST_REQUEST__INIT;
    req.seq = 7;
    req.item_case = VIGIL__INGEST_REQUEST__ITEM_TRANSACTION;
    req.transaction = &tx;
    size_t n = vigil__ingest_request__get_packed_size(&req);
    uint8_t *buf = vg_xmalloc(VG_FRAME_HEADER_BYTES + n);
    vg_frame_header(buf, (uint32_t)n);
    vigil__ingest_request__pack(&req, buf + VG_FRAME_HEADER_BYTES);
    vg_frame_decoder_t d;
    vg_frame_decoder_init(&d, 65536);
    Vigil__IngestRequest *got = NULL;
    ASSERT_OK(vg_frame_feed(&d, buf, VG_FRAME_HEADER_BYTES + n, decode_request, &got, NULL));
    ASSERT_NOT_NULL(got);
    ASSERT_EQ_U(got->seq, 7);
    ASSERT_EQ(got->item_case, VIGIL__INGEST_REQUEST__ITEM_TRANSACTION);
    ASSERT_STR_EQ(got->transaction->transaction_id, "t-1");
    ASSERT_EQ(got->transaction->amount_minor, 1234);
    vigil__ingest_request__free_unpacked(got, NULL);
    vg_frame_decoder_close(&d);
    free(buf);
}

/* A reply built around an already packed decision is byte for byte what protobuf-c packs for
 * the same reply, for seq values of every varint width (0 is not written at all). */
VG_TEST(frame_decision_reply_is_what_protobuf_packs)
{
    Vigil__Reason r = VIGIL__REASON__INIT;
    r.feature = "amount_z";
    r.value = 4.5;
    r.contribution = 1.25;
    Vigil__Reason *rp[1] = {&r};
    float features[31];
    for (size_t i = 0; i < 31; i++)
        features[i] = (float)i * 0.5f;
    Vigil__Decision dec = VIGIL__DECISION__INIT;
    dec.transaction_id = "tx-1";
    dec.partition = 1;
    dec.offset = 123456789;
    dec.score = 0.93;
    dec.level = VIGIL__LEVEL__LEVEL_HIGH;
    dec.n_reasons = 1;
    dec.reasons = rp;
    dec.model_version = "xgb-1";
    dec.n_features = 31;
    dec.features = features;
    dec.decided_ms = 1764600000000;
    size_t dlen = vigil__decision__get_packed_size(&dec);
    uint8_t *dbytes = vg_xmalloc(dlen);
    vigil__decision__pack(&dec, dbytes);
    static const uint64_t seqs[] = {0, 1, 127, 128, 300, 1ull << 40, UINT64_MAX};
    for (size_t i = 0; i < VG_ARRAY_LEN(seqs); i++) {
        Vigil__IngestReply want = VIGIL__INGEST_REPLY__INIT;
        want.seq = seqs[i];
        want.result_case = VIGIL__INGEST_REPLY__RESULT_DECISION;
        want.decision = &dec;
        size_t wlen = vigil__ingest_reply__get_packed_size(&want);
        uint8_t *wbytes = vg_xmalloc(wlen);
        vigil__ingest_reply__pack(&want, wbytes);
        uint8_t *frame = NULL;
        size_t flen = vg_frame_decision_reply(seqs[i], dbytes, dlen, &frame);
        ASSERT_EQ(flen, VG_FRAME_HEADER_BYTES + wlen);
        uint8_t h[VG_FRAME_HEADER_BYTES];
        vg_frame_header(h, (uint32_t)wlen);
        ASSERT_TRUE(memcmp(frame, h, sizeof(h)) == 0);
        ASSERT_TRUE(memcmp(frame + VG_FRAME_HEADER_BYTES, wbytes, wlen) == 0);
        Vigil__IngestReply *got =
            vigil__ingest_reply__unpack(NULL, wlen, frame + VG_FRAME_HEADER_BYTES);
        ASSERT_NOT_NULL(got);
        ASSERT_EQ_U(got->seq, seqs[i]);
        ASSERT_EQ(got->result_case, VIGIL__INGEST_REPLY__RESULT_DECISION);
        ASSERT_TRUE(strcmp(got->decision->transaction_id, "tx-1") == 0);
        ASSERT_EQ(got->decision->n_features, 31);
        vigil__ingest_reply__free_unpacked(got, NULL);
        free(frame);
        free(wbytes);
    }
    free(dbytes);
}
