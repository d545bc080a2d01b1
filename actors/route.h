/* SPDX-License-Identifier: MIT */
/*
 * Where a record goes, shared by the HTTP and TCP ingest paths: a transaction to
 * hash(account_id) % P; a label to the partition whose transaction index holds the
 * transaction, else (not seen yet) to its account's partition when the client names the
 * account, else to every partition, each of which keeps it until the transaction arrives. And the
 * fast path for a repeated transaction_id: its original decision straight from the index and the
 * decision log, without appending anything. Thread: any (partition reads are thread-safe).
 */
#ifndef VG_ACTORS_ROUTE_H
#define VG_ACTORS_ROUTE_H

#include "actors/decide.h"
#include "actors/partition.h"
#include "actors/txcodec.h"

#include <stdbool.h>

/* hash(account_id) % nparts (0 when nparts is 0). */
unsigned vg_route_account(unsigned nparts, const char *account_id);

/* The partition whose index holds the transaction (not just a label waiting for it), or
 * nparts. OUT: *out, its index entry. */
unsigned vg_route_find_tx(vg_partition_t *const *parts, unsigned nparts, const char *transaction_id,
                          vg_txindex_t *out);

/* The partition for label l, or nparts when it must go to every partition, or
 * VG_ROUTE_REFUSED with *err set. Every partition's index is asked once. For a named account
 * (l->account_id, may be ""): if its partition holds the transaction, its log record must name
 * that account;
 * if the transaction is indexed in another partition instead, the account is not its either
 * (sent there, the label would wait for a transaction that never comes): both are
 * account_mismatch. If no index holds it yet, the label waits: in the account's partition, or
 * in every one; where a partition already keeps state.max_waiting_labels (and no label for
 * the same transaction, which it would replace) it is too_many_waiting_labels. OUT: *known,
 * whether an index holds the transaction (false: the label waits for it). */
#define VG_ROUTE_REFUSED (~0u)
unsigned vg_route_label(vg_partition_t *const *parts, unsigned nparts, const Vigil__Label *l,
                        bool *known, vg_tx_error_t *err);

/* What ingest makes of a transaction before logging it (vg_route_transaction). */
enum vg_route_verdict {
    VG_ROUTE_NEW,      /* not seen (or not yet known to be seen): log it */
    VG_ROUTE_REPLAY,   /* its id was decided for this account: answer the original decision */
    VG_ROUTE_CONFLICT, /* its id is another account's transaction: refuse it */
};

/* Where transaction `tx` goes (*partition, its account's) and whether its id is taken there
 * (the partition's recent ids filter, then its index: a replay, or a conflict when the
 * original names another account) or in another partition (a conflict: the same account
 * always goes to the same partition). `readers` is [nparts] readers the caller ends, or
 * NULL. An id this misses (decided but older than the filter, or still in flight) is caught
 * by the partition's apply step when it is the partition's own, and not at all when another
 * partition holds it. OUT: *out, the original decision for a replay. */
enum vg_route_verdict vg_route_transaction(vg_partition_t *const *parts, unsigned nparts,
                                           vg_state_reader_t *readers, const Vigil__Transaction *tx,
                                           unsigned *partition, vg_decision_t *out);

/* The error for a VG_ROUTE_CONFLICT (or a decision marked conflict by the apply step). */
void vg_route_conflict_error(const char *transaction_id, vg_tx_error_t *err);

#endif
