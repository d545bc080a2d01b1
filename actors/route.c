/* SPDX-License-Identifier: MIT */
/* Record routing; see route.h. Thread: any. */
#include "actors/route.h"
#include "runtime/error.h"
#include "runtime/hash.h"

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

/* Whether the transaction that `x` indexes in p's log names `account_id`. true when the record
 * cannot be read (retention took it a moment ago): the partition then applies the label to
 * the transaction's own account, as it would anyway. */
static bool tx_names_account(vg_partition_t *p, const vg_txindex_t *x, const char *account_id)
{
    ProtobufCMessage *m = NULL;
    if (vg_log_read_message(vg_partition_log(p), x->tx_offset, VG_SEGLOG_TYPE_TRANSACTION, &m) != 0)
        return true;
    bool same = strcmp(((const Vigil__Transaction *)m)->account_id, account_id) == 0;
    protobuf_c_message_free_unpacked(m, NULL);
    return same;
}

unsigned vg_route_label(vg_partition_t *const *parts, unsigned nparts, const char *transaction_id,
                        const char *account_id, bool *known)
{
    vg_txindex_t x;
    bool named = account_id && account_id[0];
    unsigned mine = named ? vg_route_account(nparts, account_id) : nparts;
    *known = mine < nparts && vg_route_find_tx(parts + mine, 1, transaction_id, &x) == 0;
    if (*known)
        return tx_names_account(parts[mine], &x, account_id) ? mine : VG_ROUTE_MISMATCH;
    unsigned at = vg_route_find_tx(parts, nparts, transaction_id, &x);
    *known = at < nparts;
    if (named && *known)
        return VG_ROUTE_MISMATCH;
    return *known ? at : mine;
}

bool vg_route_known_decision(vg_partition_t *p, vg_state_reader_t *r, const char *transaction_id,
                             vg_decision_t *out)
{
    if (!vg_partition_may_know(p, transaction_id))
        return false; /* new, or older than the filter: the partition's apply step answers */
    vg_state_reader_t one = {0};
    if (!r)
        r = &one;
    if (!r->st)
        r->st = vg_partition_state(p);
    vg_txindex_t x;
    int rc = r->st ? vg_txindex_get(r, transaction_id, &x) : VG_EREADONLY;
    vg_state_reader_end(&one);
    if (rc != 0 || x.tx_offset == VG_NO_OFFSET || x.decision_offset == VG_NO_OFFSET)
        return false;
    ProtobufCMessage *m = NULL;
    if (vg_log_read_message(vg_partition_decisions(p), x.decision_offset, VG_SEGLOG_TYPE_DECISION,
                            &m) != 0)
        return false; /* let the partition answer it */
    vg_decision_from_pb((Vigil__Decision *)m, out);
    protobuf_c_message_free_unpacked(m, NULL);
    out->decision_offset = x.decision_offset;
    out->replay = true;
    return true;
}
