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

/* Packs req. OUT: *len. */
static uint8_t *pack_request(const Vigil__IngestRequest *req, size_t *len)
{
    *len = vigil__ingest_request__get_packed_size(req);
    uint8_t *buf = vg_xmalloc(*len ? *len : 1);
    vigil__ingest_request__pack(req, buf);
    return buf;
}

/* The bytes protobuf-c packs for `tx` with received_ms set to `ms`. OUT: *len. */
static uint8_t *pack_stamped(Vigil__Transaction *tx, int64_t ms, size_t *len)
{
    int64_t was = tx->received_ms;
    tx->received_ms = ms;
    *len = vigil__transaction__get_packed_size(tx);
    uint8_t *buf = vg_xmalloc(*len);
    vigil__transaction__pack(tx, buf);
    tx->received_ms = was;
    return buf;
}

/* Unpacks a stamped record and packs it again: what a reader of the log makes of it. */
static uint8_t *repack(const uint8_t *rec, size_t n, size_t *len)
{
    Vigil__Transaction *got = vigil__transaction__unpack(NULL, n, rec);
    if (!got)
        return NULL;
    *len = vigil__transaction__get_packed_size(got);
    uint8_t *buf = vg_xmalloc(*len);
    vigil__transaction__pack(got, buf);
    vigil__transaction__free_unpacked(got, NULL);
    return buf;
}

/* A transaction taken from the request's bytes, with received_ms appended, reads back as the
 * transaction packed again with received_ms set: every field, the attributes, a received_ms
 * the client sent (overridden), for received_ms values of every varint width; a request
 * holding the transaction twice, or cut short, is left to be packed again (0). */
VG_TEST(frame_stamped_transaction_reads_as_packing_it_again)
{
    Vigil__Transaction__AttributesEntry a1 = VIGIL__TRANSACTION__ATTRIBUTES_ENTRY__INIT;
    a1.key = "terminal";
    a1.value = "T-9";
    Vigil__Transaction__AttributesEntry *attrs[1] = {&a1};
    Vigil__Transaction tx = VIGIL__TRANSACTION__INIT;
    tx.transaction_id = "t-42";
    tx.account_id = "A-7";
    tx.card_id = "C-1";
    tx.merchant_id = "M-3";
    tx.mcc = 5411;
    tx.amount_minor = 123456;
    tx.currency = "EUR";
    tx.channel = VIGIL__CHANNEL__CHANNEL_ECOMMERCE;
    tx.device_id = "d-1";
    tx.ip = "192.0.2.1";
    tx.country = "FR";
    tx.lat = 48.85;
    tx.lon = 2.35;
    tx.has_location = 1;
    tx.timestamp_ms = 1767225600000;
    tx.n_attributes = 1;
    tx.attributes = attrs;
    tx.received_ms = 5; /* the client's: vigil's wins */
    Vigil__IngestRequest req = VIGIL__INGEST_REQUEST__INIT;
    req.seq = 9;
    req.item_case = VIGIL__INGEST_REQUEST__ITEM_TRANSACTION;
    req.transaction = &tx;
    size_t rlen;
    uint8_t *rbytes = pack_request(&req, &rlen);
    static const int64_t stamps[] = {1, 127, 128, 1767225600123, INT64_MAX};
    for (size_t i = 0; i < VG_ARRAY_LEN(stamps); i++) {
        vg_bytes_t r = {rbytes, rlen};
        uint8_t *out = vg_xmalloc(vg_frame_stamped_cap(r));
        size_t n = vg_frame_stamped_transaction(r, stamps[i], out);
        ASSERT_TRUE(n > 0 && n <= vg_frame_stamped_cap(r));
        size_t wlen;
        size_t glen = 0;
        uint8_t *want = pack_stamped(&tx, stamps[i], &wlen);
        uint8_t *got = repack(out, n, &glen);
        ASSERT_NOT_NULL(got);
        ASSERT_EQ(glen, wlen);
        ASSERT_TRUE(memcmp(got, want, wlen) == 0);
        free(got);
        free(want);
        free(out);
    }
    /* the transaction field twice (protobuf would merge them): not taken */
    req.seq = 0;
    size_t one_len;
    uint8_t *one = pack_request(&req, &one_len);
    uint8_t *twice = vg_xmalloc(2 * one_len);
    memcpy(twice, one, one_len);
    memcpy(twice + one_len, one, one_len);
    uint8_t *out = vg_xmalloc(2 * one_len + VG_FRAME_STAMP_MAX);
    ASSERT_EQ(vg_frame_stamped_transaction((vg_bytes_t){twice, 2 * one_len}, 1, out), 0);
    /* cut short anywhere: not taken */
    for (size_t cut = 1; cut < rlen; cut++)
        ASSERT_EQ(vg_frame_stamped_transaction((vg_bytes_t){rbytes, cut}, 1, out), 0);
    free(out);
    free(twice);
    free(one);
    free(rbytes);
}
