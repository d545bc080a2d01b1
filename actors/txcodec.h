/* SPDX-License-Identifier: MIT */
/*
 * The ingest codec: client JSON (and decoded protobuf) into validated transactions and
 * labels, and decisions and transactions back into JSON. One set of rules for every path:
 * the JSON parser fills the protobuf struct, then the same semantic checks run as for a TCP
 * frame. Errors carry a stable code, a message and the field at fault, the shape of the API's
 * {"error":{"code","message","field"}}. Pure code: no I/O, "now" comes from the caller.
 *
 * JSON fields are the .proto names: transaction_id, account_id, card_id, merchant_id, mcc,
 * amount (major units, a JSON number or a decimal string, converted exactly with the
 * currency's exponent; more decimals than the currency has is an error), currency, channel
 * (card_present, ecommerce, atm, transfer, mobile), device_id, ip, country, lat, lon,
 * timestamp (RFC 3339 or epoch milliseconds), attributes (an object of strings). Required:
 * transaction_id, account_id, amount, currency, timestamp. Anything else is unknown_field.
 *
 * A JSON number amount is a double: it is accepted when it lies within 1e-9 (relative) of a
 * whole number of minor units, so 12.34 is 1234 cents and 12.345 EUR is too_many_decimals.
 * Exponents ("1e3") are accepted in numbers, not in strings. Limits: ids 1..128 bytes without
 * control characters; amounts above 10^12 major units are invalid_amount; at most 32
 * attributes, keys up to 64 and values up to 256 bytes.
 *
 * Thread: any (no shared state).
 */
#ifndef VG_ACTORS_TXCODEC_H
#define VG_ACTORS_TXCODEC_H

#include "runtime/alloc.h"
#include "runtime/bytes.h"
#include "runtime/compiler.h"

#include "storage/vigil.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest id (transaction, account, card, merchant, device) in bytes. */
#define VG_TX_MAX_ID 128

typedef struct vg_tx_limits {
    int64_t now_ms;             /* wall clock at ingest */
    int64_t max_future_skew_ms; /* later than now + this: timestamp_in_future */
    int64_t max_age_ms;         /* earlier than now - this: timestamp_too_old */
    size_t max_batch;           /* most elements in one JSON array */
} vg_tx_limits_t;

typedef struct vg_tx_error {
    char code[32]; /* "missing_field", "invalid_amount", ... */
    char message[256];
    char field[96]; /* "" when no single field is at fault */
} vg_tx_error_t;

/* A decoded transaction; its strings live in `arena`. */
typedef struct vg_tx {
    Vigil__Transaction pb;
    vg_arena_t arena;
} vg_tx_t;

/* One element of a request body. */
typedef struct vg_tx_item {
    size_t index; /* position in the array (0 for a single object) */
    bool ok;
    vg_tx_t tx; /* when ok */
    vg_tx_error_t error;
} vg_tx_item_t;

/* The exponent of ISO 4217 currency `code` (2 for EUR, 0 for JPY, 3 for KWD), or -1. */
int vg_currency_exponent(const char *code);

/* Minor units in one major unit: 10^exp, exactly (a table for ISO's exponents, not pow()). */
double vg_currency_unit(int exp);

/* Whether `code` is an assigned ISO 3166-1 alpha-2 country code (upper case). */
bool vg_country_known(const char *code);

/* Parses a body holding one transaction object or an array of them. Each element is
 * validated on its own: the good ones come back ok, each bad one with its error and index.
 * OUT: *items (free with vg_tx_items_free), *n. 0, or VG_EINVAL with `err` for a body that is
 * not JSON, not an object or array, an empty array or a too-big array. */
VG_MUST_CHECK int vg_tx_parse_json(const char *body, size_t len, const vg_tx_limits_t *lim,
                                   vg_tx_item_t **items, size_t *n, vg_tx_error_t *err);

void vg_tx_items_free(vg_tx_item_t *items, size_t n);

/* The semantic checks alone, for a transaction that arrived as protobuf. 0 or VG_EINVAL. */
VG_MUST_CHECK int vg_tx_validate(const Vigil__Transaction *tx, const vg_tx_limits_t *lim,
                                 vg_tx_error_t *err);

/* One element of a POST /v1/labels body: transaction_id and is_fraud required; reported_at
 * (RFC 3339 or epoch ms; default now), source and account_id (a routing hint: the label goes
 * straight to that account's partition) optional. */
typedef struct vg_label_item {
    size_t index;
    bool ok;
    Vigil__Label pb; /* strings in arena; account_id "" when not given */
    vg_arena_t arena;
    vg_tx_error_t error;
} vg_label_item_t;

/* As vg_tx_parse_json, for labels. Free with vg_label_items_free. */
VG_MUST_CHECK int vg_label_parse_json(const char *body, size_t len, const vg_tx_limits_t *lim,
                                      vg_label_item_t **items, size_t *n, vg_tx_error_t *err);
void vg_label_items_free(vg_label_item_t *items, size_t n);

/* Fields a protobuf sender set that vigil's schema does not have (protobuf-c keeps them and
 * packs them back): refused, as the JSON API refuses unknown keys, rather than kept in the
 * log unread. 0, or VG_EINVAL with `err` (code unknown_field, the field's number as field). */
VG_MUST_CHECK int vg_pb_check_unknown(const ProtobufCMessage *m, vg_tx_error_t *err);

/* What protobuf-c does not see in a message's wire bytes (`d`: its type; it unpacked
 * already): every string, at any depth, free of NUL bytes (protobuf-c's strings end at the
 * first, so "a\0b" read as "a": two transactions merged into one id) and valid UTF-8 (a
 * proto3 string must be; strict decoders refuse a reply that quotes one that is not); and
 * no field the schema does not have, at any depth (a map entry's included). 0, or VG_EINVAL
 * with `err`: invalid_id (an id field) or invalid_string, with the field; unknown_field. */
VG_MUST_CHECK int vg_pb_check_wire(const ProtobufCMessageDescriptor *d, vg_bytes_t bytes,
                                   vg_tx_error_t *err);

/* The first value of varint field `field` in a message's wire bytes that may not decode,
 * read up to the first fault: the seq of a request that is not one, so that its error reply
 * carries it. False when there is none before the fault. */
bool vg_pb_peek_varint(vg_bytes_t bytes, unsigned field, uint64_t *out);

/* The checks of a label that arrived as protobuf. 0 or VG_EINVAL. */
VG_MUST_CHECK int vg_label_validate(const Vigil__Label *l, const vg_tx_limits_t *lim,
                                    vg_tx_error_t *err);

/* JSON for a transaction (amount as an exact decimal string, timestamp as RFC 3339 UTC).
 * malloc'd; the caller frees. */
char *vg_tx_to_json(const Vigil__Transaction *tx);

/* JSON for a decision (score, level, reasons, rules, model_version, partition, offset,
 * replay, and with_features: the feature vector as {name: value}, NaN as null).
 * malloc'd; the caller frees. */
char *vg_decision_to_json(const Vigil__Decision *d, bool with_features);

/* The API's error body {"error":{"code":..,"message":..,"field":..}}. malloc'd. */
char *vg_tx_error_json(const vg_tx_error_t *err);

#endif
