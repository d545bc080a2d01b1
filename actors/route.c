/* SPDX-License-Identifier: MIT */
/* Record routing; see route.h. Thread: any. */
#include "actors/route.h"
#include "runtime/error.h"
#include "runtime/hash.h"

#include <stdio.h>
#include <string.h>

unsigned vg_route_account(unsigned nparts, const char *account_id)
{
    return nparts ? (unsigned)(vg_hash64(account_id, strlen(account_id)) % nparts) : 0;
}

/* Partition p's index entry for the transaction (a transaction's, or a label's waiting for
 * it) into *out; false when it has none or cannot be read. */
static bool index_entry(vg_partition_t *p, const char *transaction_id, vg_txindex_t *out)
{
    vg_state_reader_t r = {.st = vg_partition_state(p)};
    bool found = r.st && vg_txindex_get(&r, transaction_id, out) == 0;
    vg_state_reader_end(&r);
    return found;
}

unsigned vg_route_find_tx(vg_partition_t *const *parts, unsigned nparts, const char *transaction_id,
                          vg_txindex_t *out)
{
    for (unsigned p = 0; p < nparts; p++)
        if (index_entry(parts[p], transaction_id, out) && out->tx_offset != VG_NO_OFFSET)
            return p;
    return nparts;
}

static void mismatch_error(const char *transaction_id, const char *account_id, vg_tx_error_t *err)
{
    snprintf(err->code, sizeof(err->code), "account_mismatch");
    snprintf(err->field, sizeof(err->field), "account_id");
    snprintf(err->message, sizeof(err->message),
             "transaction %.120s belongs to another account than %.80s", transaction_id,
             account_id);
}

/* Whether the partitions a waiting label goes to (partition `to`, or every one when `to` is
 * nparts) have room for it (vg_partition_has_room_for_label, or a label for the same
 * transaction waits there already, which it replaces); if not, false with *err set
 * (too_many_waiting_labels). */
static bool label_room(vg_partition_t *const *parts, unsigned nparts, unsigned to,
                       const char *transaction_id, vg_tx_error_t *err)
{
    unsigned end = to < nparts ? to + 1 : nparts;
    for (unsigned p = to < nparts ? to : 0; p < end; p++) {
        uint64_t waiting = 0;
        vg_txindex_t x;
        if (vg_partition_has_room_for_label(parts[p], &waiting) ||
            (index_entry(parts[p], transaction_id, &x) && x.tx_offset == VG_NO_OFFSET))
            continue; /* a relabel takes no more room */
        snprintf(err->code, sizeof(err->code), "too_many_waiting_labels");
        snprintf(err->field, sizeof(err->field), "transaction_id");
        snprintf(err->message, sizeof(err->message),
                 "partition %u already keeps %llu labels waiting for their transactions "
                 "(state.max_waiting_labels): send this one again once its transaction has "
                 "arrived",
                 p, (unsigned long long)waiting);
        return false;
    }
    return true;
}

unsigned vg_route_label(vg_partition_t *const *parts, unsigned nparts, const Vigil__Label *l,
                        bool *known, vg_tx_error_t *err)
{
    vg_txindex_t x;
    const char *account_id = l->account_id;
    bool named = account_id && account_id[0];
    unsigned mine = named ? vg_route_account(nparts, account_id) : nparts;
    /* One look over every partition, decided on what it found. Until 2026-12-03 the named
     * account's partition was looked at, then all of them: a transaction indexed there between
     * the two looks was refused as account_mismatch without its account being compared (6 in
     * 6,000 labels racing their transactions), and the label was lost. */
    unsigned at = vg_route_find_tx(parts, nparts, l->transaction_id, &x);
    *known = at < nparts;
    if (*known && named &&
        (at != mine ||
         !vg_log_tx_names_account(vg_partition_log(parts[at]), x.tx_offset, account_id))) {
        mismatch_error(l->transaction_id, account_id, err);
        return VG_ROUTE_REFUSED;
    }
    if (*known)
        return at;
    return label_room(parts, nparts, mine, l->transaction_id, err) ? mine : VG_ROUTE_REFUSED;
}

enum vg_route_verdict vg_route_transaction(vg_partition_t *const *parts, unsigned nparts,
                                           vg_state_reader_t *readers, const Vigil__Transaction *tx,
                                           unsigned *partition, vg_decision_t *out)
{
    unsigned p = vg_route_account(nparts, tx->account_id);
    *partition = p;
    vg_recent_key_t id;
    vg_recent_key(tx->transaction_id, strlen(tx->transaction_id), &id);
    for (unsigned k = 0; k < nparts; k++) {
        unsigned at = (p + k) % nparts; /* its own partition first */
        if (!vg_partition_may_know(parts[at], &id))
            continue; /* not among its recent ids: for its own, the apply step answers */
        vg_state_reader_t one = {0};
        vg_state_reader_t *r = readers ? &readers[at] : &one;
        if (!r->st)
            r->st = vg_partition_state(parts[at]);
        vg_txindex_t x;
        int rc = r->st ? vg_txindex_get(r, tx->transaction_id, &x) : VG_EREADONLY;
        vg_state_reader_end(&one);
        if (rc != 0 || x.tx_offset == VG_NO_OFFSET)
            continue;
        if (at != p ||
            !vg_log_tx_names_account(vg_partition_log(parts[at]), x.tx_offset, tx->account_id))
            return VG_ROUTE_CONFLICT;
        if (vg_log_read_decision(vg_partition_decisions(parts[at]), x.decision_offset, out) != 0)
            return VG_ROUTE_NEW; /* unreadable: the partition's apply step answers */
        out->replay = true;
        return VG_ROUTE_REPLAY;
    }
    return VG_ROUTE_NEW;
}

void vg_route_conflict_error(const char *transaction_id, vg_tx_error_t *err)
{
    snprintf(err->code, sizeof(err->code), "transaction_id_conflict");
    snprintf(err->field, sizeof(err->field), "account_id");
    snprintf(err->message, sizeof(err->message),
             "transaction_id %.120s is already another account's transaction", transaction_id);
}
