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

unsigned vg_route_find_tx(vg_partition_t *const *parts, unsigned nparts, const char *transaction_id,
                          vg_txindex_t *out)
{
    for (unsigned p = 0; p < nparts; p++) {
        vg_state_reader_t r = {.st = vg_partition_state(parts[p])};
        bool found =
            r.st && vg_txindex_get(&r, transaction_id, out) == 0 && out->tx_offset != VG_NO_OFFSET;
        vg_state_reader_end(&r);
        if (found)
            return p;
    }
    return nparts;
}

unsigned vg_route_label(vg_partition_t *const *parts, unsigned nparts, const char *transaction_id,
                        const char *account_id, bool *known)
{
    vg_txindex_t x;
    bool named = account_id && account_id[0];
    unsigned mine = named ? vg_route_account(nparts, account_id) : nparts;
    *known = mine < nparts && vg_route_find_tx(parts + mine, 1, transaction_id, &x) == 0;
    if (*known)
        return vg_log_tx_names_account(vg_partition_log(parts[mine]), x.tx_offset, account_id)
                   ? mine
                   : VG_ROUTE_MISMATCH;
    unsigned at = vg_route_find_tx(parts, nparts, transaction_id, &x);
    *known = at < nparts;
    if (named && *known)
        return VG_ROUTE_MISMATCH;
    return *known ? at : mine;
}

/* Whether partition p's index holds a label waiting for this transaction. */
static bool label_waits_in(vg_partition_t *p, const char *transaction_id)
{
    vg_state_reader_t r = {.st = vg_partition_state(p)};
    vg_txindex_t x;
    bool waits = r.st && vg_txindex_get(&r, transaction_id, &x) == 0 && x.tx_offset == VG_NO_OFFSET;
    vg_state_reader_end(&r);
    return waits;
}

bool vg_route_label_room(vg_partition_t *const *parts, unsigned nparts, unsigned to,
                         const char *transaction_id, vg_tx_error_t *err)
{
    unsigned end = to < nparts ? to + 1 : nparts;
    for (unsigned p = to < nparts ? to : 0; p < end; p++) {
        uint64_t waiting = 0;
        if (vg_partition_has_room_for_label(parts[p], &waiting) ||
            label_waits_in(parts[p], transaction_id))
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

void vg_route_mismatch_error(const char *transaction_id, const char *account_id, vg_tx_error_t *err)
{
    snprintf(err->code, sizeof(err->code), "account_mismatch");
    snprintf(err->field, sizeof(err->field), "account_id");
    snprintf(err->message, sizeof(err->message),
             "transaction %.120s belongs to another account than %.80s", transaction_id,
             account_id);
}

void vg_route_conflict_error(const char *transaction_id, vg_tx_error_t *err)
{
    snprintf(err->code, sizeof(err->code), "transaction_id_conflict");
    snprintf(err->field, sizeof(err->field), "account_id");
    snprintf(err->message, sizeof(err->message),
             "transaction_id %.120s is already another account's transaction", transaction_id);
}
