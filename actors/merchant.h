/* SPDX-License-Identifier: MIT */
/*
 * Merchant state across partitions. A merchant's profile (models/features.h) lives in the
 * partition that owns it, hash(merchant_id) % P, while its transactions arrive in their
 * accounts' partitions. So each account partition keeps an OUTBOX of merchant deltas (a
 * transaction counted, a fraud label added or withdrawn), written in the same LMDB
 * transaction as the account state and the applied offset, and sends them to the owners;
 * an owner applies a source's deltas in one LMDB transaction together with that source's
 * high-water offset, so a delta sent twice (after a crash, a retry) is applied once. The
 * source deletes a delta from its outbox once the owner has answered. Exactly once, with no
 * distributed transaction: the outbox makes sending durable, the high-water makes applying
 * idempotent.
 *
 * Reads are eventually consistent: an account partition computes a transaction's merchant
 * features from the owner's committed profile, which lacks the deltas still in flight (a
 * few milliseconds of the merchant's traffic; the windows are days long).
 *
 * The outbox holds one RECORD per owner per applied batch (keyed by the offset of its first
 * delta), not one entry per delta: two LMDB writes per owner per batch (put, and the delete
 * once acknowledged) instead of two per transaction. A record is sent whole, never split
 * across messages, so an acknowledgement always covers whole records.
 *
 * META keys: outbox  'o' owner(4, BE) record(8, BE) -> deltas, each:
 *                    offset(8) ts(8) tx(1) fraud(1) idlen(1) merchant_id
 *            high-water  'h' source(4, BE) -> next source offset not yet applied (8, LE)
 * Thread: batch functions on the partition's loop; vg_merchant_get any.
 */
#ifndef VG_ACTORS_MERCHANT_H
#define VG_ACTORS_MERCHANT_H

#include "models/features.h"
#include "runtime/compiler.h"
#include "storage/state.h"

#include <stdint.h>

#define VG_MERCHANT_ID_MAX 128

typedef struct vg_mdelta {
    uint64_t offset; /* the source partition's log offset of the record: the dedupe key */
    uint64_t record; /* the outbox record holding it (its first delta's offset) */
    int64_t ts_ms;   /* the transaction's event time: the day it counts on */
    int8_t tx_delta;
    int8_t fraud_delta;
    unsigned owner;
    char merchant_id[VG_MERCHANT_ID_MAX + 1];
} vg_mdelta_t;

/* The owner partition of a merchant. */
unsigned vg_merchant_owner(const char *merchant_id, unsigned nparts);

/* Outbox records, inside the source's batch. vg_outbox_put writes d[0..n) (one owner, offsets
 * increasing) as one record keyed by d[0].offset and sets each delta's `record`. */
VG_MUST_CHECK int vg_outbox_put(vg_state_batch_t *b, vg_mdelta_t *d, size_t n);
VG_MUST_CHECK int vg_outbox_del(vg_state_batch_t *b, unsigned owner, uint64_t record);

/* Every outbox delta, in (owner, offset) order, with its record. OUT: *out (malloc'd), *n.
 * 0, VG_ECORRUPT or the error. */
VG_MUST_CHECK int vg_outbox_load(vg_state_t *st, vg_mdelta_t **out, size_t *n);

/* Applies deltas[0..n) from partition `src` (offsets increasing) to their merchants, skipping
 * those below the source's high-water, and commits them with the new high-water in one
 * transaction (the state's applied offset is kept). OUT: *applied (may be NULL). */
VG_MUST_CHECK int vg_merchant_apply(vg_state_t *st, unsigned src, const vg_mdelta_t *deltas,
                                    size_t n, size_t *applied);

/* As vg_merchant_apply, inside the caller's batch (which the caller commits), so an owner can
 * apply several sources' deltas in one transaction. */
VG_MUST_CHECK int vg_merchant_apply_batch(vg_state_batch_t *b, unsigned src,
                                          const vg_mdelta_t *deltas, size_t n, size_t *applied);

/* The committed profile, through the owner state's reader. 0, VG_ENOTFOUND, or the error.
 * Thread: any. */
VG_MUST_CHECK int vg_merchant_get(vg_state_reader_t *r, const char *merchant_id,
                                  vg_merchant_profile_t *out);

#endif
