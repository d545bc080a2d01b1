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

#include <stdbool.h>

/* hash(account_id) % nparts (0 when nparts is 0). */
unsigned vg_route_account(unsigned nparts, const char *account_id);

/* The partition whose index holds the transaction (not just a label waiting for it), or
 * nparts. OUT: *out, its index entry. */
unsigned vg_route_find_tx(vg_partition_t *const *parts, unsigned nparts, const char *transaction_id,
                          vg_txindex_t *out);

/* The partition for a label, or nparts when it must go to every partition, or
 * VG_ROUTE_MISMATCH. `account_id` may be NULL or "". A named account's partition is asked
 * first; if it holds the transaction, its log record must name that account; if the
 * transaction is indexed in another partition instead, the account is not its either
 * (VG_ROUTE_MISMATCH: sent there, the label would wait for a transaction that never comes);
 * if no index holds it yet, the label goes to the account's partition to wait. OUT: *known,
 * whether an index holds the transaction (false: the label waits for it). */
#define VG_ROUTE_MISMATCH (~0u)
unsigned vg_route_label(vg_partition_t *const *parts, unsigned nparts, const char *transaction_id,
                        const char *account_id, bool *known);

/* True when partition `p` has already decided `transaction_id`: OUT *out, the original
 * decision, marked replay. `r` is a reader of p's state that the caller ends (its st is set
 * here when NULL), so many lookups in one turn share one read transaction; or NULL. */
bool vg_route_known_decision(vg_partition_t *p, vg_state_reader_t *r, const char *transaction_id,
                             vg_decision_t *out);

#endif
