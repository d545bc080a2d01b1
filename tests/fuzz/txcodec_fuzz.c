/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the JSON ingest codec (actors/txcodec.c): `make fuzz`
 * (FUZZ_SECONDS=60 by default). Built with clang, ASan and UBSan; not part of `make test`.
 *
 * Besides crashes and sanitizer reports, it holds vigil's verdicts against jansson's, a
 * strict RFC 8259 parser: a body jansson takes as JSON is never invalid_json here (unless it
 * holds a control character outside strings, which jansson lets through), and no element of
 * a body jansson refuses is accepted (unless jansson refused it for a key given twice, which
 * vigil reports per element, or for a number beyond its range, an integer too big or a real
 * that overflows: JSON's grammar allows both, and vigil refuses only the element whose field
 * holds one). cJSON, which vigil parses with, is lenient where jansson is not: this is what
 * checks the lexical check in front of it. An amount given as a number, which vigil reads from
 * its literal, must agree with jansson's double for it. Every body that is accepted must also
 * come back out as JSON.
 */
#include "actors/txcodec.h"

#include <jansson.h>

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const vg_tx_limits_t lim = {
    .now_ms = 1795502400000ll, .max_future_skew_ms = 300000, .max_batch = 100};

static bool has_control(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++)
        if (data[i] < 0x20 && data[i] != '\t' && data[i] != '\n' && data[i] != '\r')
            return true;
    return false;
}

/* Another number of the body taken for the amount would not agree. */
static void check_amounts(json_t *j, const vg_tx_item_t *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_object_get(json_is_array(j) ? json_array_get(j, i) : j, "amount");
        if (!items[i].ok || !json_is_number(a))
            continue;
        double want = json_number_value(a);
        int exp = vg_currency_exponent(items[i].tx.pb.currency);
        double got = (double)items[i].tx.pb.amount_minor / vg_currency_unit(exp);
        if (fabs(got - want) > 1e-9 * (want > 1 ? want : 1)) {
            fprintf(stderr, "element %zu: amount %.17g read as %.17g\n", i, want, got);
            abort();
        }
    }
}

static void check_against_jansson(const uint8_t *data, size_t size, int rc,
                                  const vg_tx_item_t *items, size_t n, const vg_tx_error_t *err)
{
    json_error_t je;
    json_t *j = json_loadb((const char *)data, size, 0, &je);
    if (j && rc != 0 && strcmp(err->code, "invalid_json") == 0 && !has_control(data, size)) {
        fprintf(stderr, "jansson takes it, vigil says: %s\n", err->message);
        abort();
    }
    if (!j && rc == 0 && !strstr(je.text, "too big") && !strstr(je.text, "overflow") &&
        !strstr(je.text, "duplicate")) {
        for (size_t i = 0; i < n; i++) {
            if (items[i].ok) {
                fprintf(stderr, "jansson refuses it (%s), vigil took element %zu\n", je.text, i);
                abort();
            }
        }
    }
    if (j && rc == 0)
        check_amounts(j, items, n);
    json_decref(j);
}

/* The same bytes as a TCP request's frame: the wire walk TCP ingest runs on every frame
 * (crashes, reads past the end), and the peek at the seq of one that does not decode. */
static void check_as_protobuf(const uint8_t *data, size_t size)
{
    vg_bytes_t b = {data, size};
    uint64_t seq;
    (void)vg_pb_peek_varint(b, 1, &seq);
    Vigil__IngestRequest *r = vigil__ingest_request__unpack(NULL, size, data);
    if (!r)
        return;
    vg_tx_error_t err;
    if (vg_pb_check_wire(&vigil__ingest_request__descriptor, b, &err) != 0 && !err.code[0])
        abort(); /* a refusal always says why */
    vigil__ingest_request__free_unpacked(r, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vg_tx_item_t *items = NULL;
    size_t n = 0;
    vg_tx_error_t err;
    int rc = vg_tx_parse_json((const char *)data, size, &lim, &items, &n, &err);
    check_against_jansson(data, size, rc, items, n, &err);
    if (rc == 0) {
        for (size_t i = 0; i < n; i++) {
            if (!items[i].ok)
                continue;
            char *back = vg_tx_to_json(&items[i].tx.pb);
            if (!back)
                abort();
            free(back);
        }
        vg_tx_items_free(items, n);
    } else {
        char *e = vg_tx_error_json(&err);
        if (!e)
            abort();
        free(e);
    }
    vg_label_item_t *labels = NULL;
    if (vg_label_parse_json((const char *)data, size, &lim, &labels, &n, &err) == 0)
        vg_label_items_free(labels, n);
    check_as_protobuf(data, size);
    return 0;
}
