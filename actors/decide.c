/* SPDX-License-Identifier: MIT */
/*
 * The apply-and-decide step; see decide.h. Two passes over a batch: the first walks the
 * records in log order (dedupe, features from the profile before, profile update, labels),
 * the second scores the batch's feature rows at once, appends the decisions to the decision
 * log and writes the index entries that point at them; then one commit.
 * Thread: the partition's loop (lookups: any).
 */
#define VG_LOG_MODULE "decide"
#include "actors/decide.h"
#include "actors/txcodec.h"
#include "runtime/alloc.h"
#include "runtime/bytes.h"
#include "runtime/clock.h"
#include "runtime/compiler.h"
#include "runtime/error.h"
#include "runtime/hash.h"
#include "runtime/logging.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TXINDEX_BYTES       32
#define MAX_PACKED_DECISION 1024
#define REPLAY_CHUNK        1024
#define WAIT_KEY_MAX        (1 + 8 + VG_STATE_MAX_KEY) /* 'w' + reported_at + transaction id */
#define EXPIRE_MAX          512     /* waiting labels dropped per batch at most */
#define CLOCK_KEY           "clock" /* META: the newest transaction time applied, le64 */

struct vg_decider {
    vg_decider_opts_t o;
    /* scratch, grown to the largest batch */
    size_t cap;
    float *rows;     /* [cap][VG_FEATURE_COUNT] */
    float *scores;   /* [cap] */
    size_t *row_of;  /* item index of each row */
    float *flagged;  /* [cap][VG_FEATURE_COUNT] rows that need reasons */
    float *contribs; /* [cap][VG_FEATURE_COUNT + 1] */
    size_t *flag_row;
    vg_seglog_rec_t *drecs;
    uint8_t *dbuf;               /* the batch's packed decisions */
    vg_state_reader_t *mreaders; /* [nreaders]: one read transaction per owner per batch */
    unsigned nreaders;
    size_t dbuf_cap;
    /* merchant deltas of the batch being applied, and outbox entries to delete */
    vg_mdelta_t *deltas;
    vg_mdelta_t *by_owner; /* [capdeltas]: the deltas regrouped per owner for the outbox */
    size_t ndeltas;
    size_t capdeltas;
    struct forget {
        unsigned owner;
        uint64_t record;
    } * forget;
    size_t nforget;
    size_t capforget;
    /* Waiting labels: the oldest reported_at among them, INT64_MIN until known (a scan of the
     * wait list finds it), INT64_MAX when there are none; and the oldest put by this batch. */
    int64_t oldest_waiting_ms;
    int64_t batch_oldest_wait_ms;
    /* How many wait keys there are, as committed (read by ingest on any loop), and what the
     * open batch adds to that. */
    _Atomic uint64_t labels_waiting;
    int64_t batch_wait_delta;
    size_t batch_late_labels; /* waiting labels past the time-to-live when their tx came */
    /* The decision log's next offset when the batch began: row r's decision goes to
     * dbase + r, so each transaction is indexed once, with its decision's offset. */
    uint64_t dbase;
    /* The partition's clock: the newest transaction time applied (INT64_MIN: none yet), as
     * committed and as the open batch moves it. Labels and replays do not move it: a bulk
     * load of old labels before their transactions (a backfill) must not expire its own older
     * half. */
    int64_t clock_ms;
    int64_t clock_committed;
    bool clock_loaded;
    /* Where the next sweep of idle accounts, and of the index, starts (empty: the first key). */
    struct resume {
        uint8_t key[VG_STATE_MAX_KEY];
        size_t len;
    } accounts_from, index_from;
    /* The index sweep: the pass running drops the entries of transactions below
     * index_below (0: no pass running); index_swept is the bound of the last whole pass. */
    uint64_t index_below;
    uint64_t index_swept;
};

static vg_mdelta_t *new_delta(vg_decider_t *d, uint64_t offset, int64_t ts, const char *merchant)
{
    if (d->ndeltas == d->capdeltas) {
        d->capdeltas = d->capdeltas ? d->capdeltas * 2 : 256;
        d->deltas = vg_xrealloc(d->deltas, d->capdeltas * sizeof(*d->deltas));
        d->by_owner = vg_xrealloc(d->by_owner, d->capdeltas * sizeof(*d->by_owner));
    }
    vg_mdelta_t *m = &d->deltas[d->ndeltas++];
    memset(m, 0, sizeof(*m));
    m->offset = offset;
    m->ts_ms = ts;
    m->owner = vg_merchant_owner(merchant, d->o.nparts);
    vg_strlcpy(m->merchant_id, merchant, sizeof(m->merchant_id));
    return m;
}

const vg_mdelta_t *vg_decider_deltas(const vg_decider_t *d, size_t *n)
{
    *n = d->ndeltas;
    return d->deltas;
}

bool vg_decider_forgetting(const vg_decider_t *d)
{
    return d->nforget > 0;
}

void vg_decider_forget(vg_decider_t *d, unsigned owner, uint64_t record)
{
    if (d->nforget == d->capforget) {
        d->capforget = d->capforget ? d->capforget * 2 : 256;
        d->forget = vg_xrealloc(d->forget, d->capforget * sizeof(*d->forget));
    }
    d->forget[d->nforget++] = (struct forget){owner, record};
}

/* The merchant columns of a row, from the owner's committed profile. */
static void merchant_columns(vg_decider_t *d, const Vigil__Transaction *tx, float *row)
{
    if (!tx->merchant_id || !tx->merchant_id[0] || !d->o.merchant_state)
        return; /* NaN from vg_features_compute */
    unsigned owner = vg_merchant_owner(tx->merchant_id, d->o.nparts);
    vg_state_reader_t *r = &d->mreaders[owner];
    if (!r->st)
        r->st = d->o.merchant_state(d->o.merchant_ctx, owner);
    if (!r->st)
        return;
    vg_bytes_t v;
    int rc =
        vg_state_reader_get(r, VG_STATE_MERCHANTS, tx->merchant_id, strlen(tx->merchant_id), &v);
    if (rc == VG_ENOTFOUND) {
        vg_merchant_profile_t m;
        vg_merchant_init(&m);
        vg_merchant_features(&m, tx->timestamp_ms, row);
    } else if (rc == 0 && vg_merchant_features_encoded(v.ptr, v.len, tx->timestamp_ms, row) != 0) {
        return; /* a damaged profile: NaN, as for an unreadable one */
    }
}

/* ---- the index entry ---- */

static void txindex_encode(const vg_txindex_t *x, uint8_t *out)
{
    memset(out, 0, TXINDEX_BYTES);
    vg_put_le64(out, x->tx_offset);
    vg_put_le64(out + 8, x->decision_offset);
    out[16] = (uint8_t)x->label;
    vg_put_le32(out + 20, x->label_account);
    vg_put_le64(out + 24, (uint64_t)x->label_reported_ms);
}

static int txindex_decode(const uint8_t *in, size_t len, vg_txindex_t *x)
{
    if (len != TXINDEX_BYTES || in[16] > 2)
        return VG_ECORRUPT;
    x->tx_offset = vg_get_le64(in);
    x->decision_offset = vg_get_le64(in + 8);
    x->label = in[16];
    x->label_account = vg_get_le32(in + 20); /* 0 in entries written before 2026-12-03 */
    x->label_reported_ms = (int64_t)vg_get_le64(in + 24);
    return 0;
}

int vg_txindex_get(vg_state_reader_t *r, const char *transaction_id, vg_txindex_t *out)
{
    vg_bytes_t v;
    int rc = vg_state_reader_get(r, VG_STATE_TXINDEX, transaction_id, strlen(transaction_id), &v);
    return rc != 0 ? rc : txindex_decode(v.ptr, v.len, out);
}

static int batch_txindex(vg_state_batch_t *b, const char *id, vg_txindex_t *out)
{
    vg_bytes_t v;
    int rc = vg_state_batch_get(b, VG_STATE_TXINDEX, id, strlen(id), &v);
    return rc != 0 ? rc : txindex_decode(v.ptr, v.len, out);
}

/* Puts *x as the entry of `id` if it has none; else VG_EEXISTS with the entry in *x. */
static int claim_txindex(vg_state_batch_t *b, const char *id, vg_txindex_t *x)
{
    uint8_t buf[TXINDEX_BYTES];
    txindex_encode(x, buf);
    vg_bytes_t v;
    int rc = vg_state_batch_put_new(b, VG_STATE_TXINDEX, id, strlen(id), buf, sizeof(buf), &v);
    if (rc == VG_EEXISTS) {
        int drc = txindex_decode(v.ptr, v.len, x);
        return drc != 0 ? drc : rc;
    }
    return rc;
}

static int put_txindex(vg_state_batch_t *b, const char *id, const vg_txindex_t *x)
{
    uint8_t buf[TXINDEX_BYTES];
    txindex_encode(x, buf);
    return vg_state_batch_put(b, VG_STATE_TXINDEX, id, strlen(id), buf, sizeof(buf));
}

/* ---- labels waiting for their transaction ----
 *
 * A label whose transaction is not indexed waits in the index (tx_offset VG_NO_OFFSET). Each
 * waiting entry also has a key in the META db, 'w' + reported_at (big-endian, sign bit
 * flipped, so key order is time order) + the transaction id, so the oldest are found without
 * reading the index. Labels for a transaction not seen yet go to every partition, and all but
 * one of those copies wait forever; the time-to-live drops them. */

static size_t wait_key(uint8_t *k, int64_t reported_ms, const char *id)
{
    size_t n = strlen(id);
    k[0] = 'w';
    vg_put_be64(k + 1, (uint64_t)reported_ms ^ (1ull << 63));
    for (size_t i = 0; i < n; i++)
        k[9 + i] = (uint8_t)id[i]; /* key bytes: no terminator */
    return 9 + n;
}

static int put_wait(vg_decider_t *d, vg_state_batch_t *b, int64_t reported_ms, const char *id)
{
    uint8_t k[WAIT_KEY_MAX];
    if (reported_ms < d->oldest_waiting_ms && d->oldest_waiting_ms != INT64_MIN)
        d->oldest_waiting_ms = reported_ms;
    if (reported_ms < d->batch_oldest_wait_ms)
        d->batch_oldest_wait_ms = reported_ms; /* the scan below does not see it */
    return vg_state_batch_put(b, VG_STATE_META, k, wait_key(k, reported_ms, id), "", 0);
}

static int del_wait(vg_state_batch_t *b, int64_t reported_ms, const char *id)
{
    uint8_t k[WAIT_KEY_MAX];
    return vg_state_batch_del(b, VG_STATE_META, k, wait_key(k, reported_ms, id));
}

struct expiring {
    int64_t before; /* reported_at limit */
    size_t n;
    int64_t next; /* reported_at of the first key kept, INT64_MAX: none */
    struct {
        int64_t reported_ms;
        char id[VG_STATE_MAX_KEY + 1];
    } * keys;
};

static int collect_expiring(void *ctx, vg_bytes_t key, vg_bytes_t value)
{
    (void)value;
    struct expiring *e = ctx;
    if (key.len < 10 || key.len > WAIT_KEY_MAX)
        return 0; /* not a wait key: skip it */
    int64_t ms = (int64_t)(vg_get_be(key.ptr + 1, 8) ^ (1ull << 63));
    if (ms >= e->before || e->n == EXPIRE_MAX) {
        e->next = ms;
        return 1;
    }
    e->keys[e->n].reported_ms = ms;
    memcpy(e->keys[e->n].id, key.ptr + 9, key.len - 9);
    e->keys[e->n].id[key.len - 9] = '\0';
    e->n++;
    return 0;
}

/* A waiting label reported before this has outlived state.pending_label_ttl_days at the
 * partition's clock; INT64_MIN (none has) without a time-to-live or a clock. The sweep and a
 * transaction taking its label hold labels to this one limit. */
static int64_t wait_limit(const vg_decider_t *d)
{
    int64_t ttl = d->o.pending_label_ttl_ms;
    return ttl > 0 && d->clock_ms != INT64_MIN ? d->clock_ms - ttl : INT64_MIN;
}

/* Drops the labels that have waited longer than the time-to-live (wait_limit: the
 * partition's clock after the batch), EXPIRE_MAX per batch at most. Only committed waits are
 * seen: one put in this batch is not old yet. A label the sweep has not reached is held to
 * the same clock when its transaction comes (take_waiting_label), so whether a label is
 * applied does not depend on how the log was cut into batches: a replay decides as live. */
static int expire_waiting(vg_decider_t *d, vg_state_batch_t *b)
{
    int64_t before = wait_limit(d);
    if (before == INT64_MIN || before <= d->oldest_waiting_ms)
        return 0;
    struct expiring e = {.before = before, .next = INT64_MAX};
    e.keys = vg_xmalloc(EXPIRE_MAX * sizeof(*e.keys));
    int rc = vg_state_scan(d->o.state, VG_STATE_META, "w", 1, collect_expiring, &e);
    size_t dropped = 0;
    for (size_t i = 0; i < e.n && rc == 0; i++) {
        vg_txindex_t x;
        rc = batch_txindex(b, e.keys[i].id, &x);
        if (rc == 0 &&
            (x.tx_offset != VG_NO_OFFSET || x.label_reported_ms != e.keys[i].reported_ms))
            continue; /* taken or relabelled in this batch, which deleted this key already */
        if (rc == 0)
            rc = vg_state_batch_del(b, VG_STATE_TXINDEX, e.keys[i].id, strlen(e.keys[i].id));
        if (rc == 0 || rc == VG_ENOTFOUND) /* without an entry: the key alone goes */
            rc = del_wait(b, e.keys[i].reported_ms, e.keys[i].id);
        dropped += rc == 0;
    }
    d->batch_wait_delta -= (int64_t)dropped;
    if (rc == 0) {
        int64_t oldest = e.n == EXPIRE_MAX ? e.before - 1 : e.next; /* more next batch */
        d->oldest_waiting_ms = oldest < d->batch_oldest_wait_ms ? oldest : d->batch_oldest_wait_ms;
        if (dropped)
            VG_LOG_INFO("waiting labels dropped partition=%u count=%zu older_than_ms=%lld",
                        d->o.partition, dropped, (long long)e.before);
    }
    free(e.keys);
    return rc;
}

static int count_wait_key(void *ctx, vg_bytes_t key, vg_bytes_t value)
{
    (void)value;
    *(uint64_t *)ctx += key.len >= 10 && key.len <= WAIT_KEY_MAX;
    return 0;
}

int vg_decider_count_waiting(vg_decider_t *d)
{
    uint64_t n = 0;
    int rc = vg_state_scan(d->o.state, VG_STATE_META, "w", 1, count_wait_key, &n);
    if (rc == 0)
        atomic_store_explicit(&d->labels_waiting, n, memory_order_relaxed);
    return rc;
}

/* Adds what the committed batch put and deleted to the count of waiting labels. The batch is
 * committed: nothing here may fail it. */
static void count_batch_waits(vg_decider_t *d)
{
    uint64_t waiting = atomic_load_explicit(&d->labels_waiting, memory_order_relaxed);
    if (d->batch_wait_delta < 0 && (uint64_t)-d->batch_wait_delta > waiting) {
        /* a miscount (it once wrapped, and refused every label that had to wait) */
        VG_LOG_ERROR("waiting labels counted below zero partition=%u count=%llu delta=%lld: "
                     "counting them again",
                     d->o.partition, (unsigned long long)waiting, (long long)d->batch_wait_delta);
        if (vg_decider_count_waiting(d) != 0)
            atomic_store_explicit(&d->labels_waiting, 0, memory_order_relaxed);
        return;
    }
    atomic_store_explicit(&d->labels_waiting, waiting + (uint64_t)d->batch_wait_delta,
                          memory_order_relaxed);
}

uint64_t vg_decider_labels_waiting(const vg_decider_t *d)
{
    return atomic_load_explicit(&d->labels_waiting, memory_order_relaxed);
}

/* ---- profiles ---- */

/* Whether profile p is past the account time-to-live at partition time clock_ms. A profile
 * without transactions is: labels made it, before 2026-12-02, for an account swept already. */
static bool idle_too_long(const vg_decider_t *d, uint32_t n, int64_t last_ts_ms, int64_t clock_ms)
{
    int64_t ttl = d->o.account_ttl_ms;
    return ttl > 0 && clock_ms != INT64_MIN && (n == 0 || last_ts_ms < clock_ms - ttl);
}

/* Reads the committed clock once. */
static int load_clock(vg_decider_t *d)
{
    if (d->clock_loaded)
        return 0;
    uint8_t v[8];
    size_t len = 0;
    int rc = vg_state_get(d->o.state, VG_STATE_META, CLOCK_KEY, sizeof(CLOCK_KEY) - 1, v, sizeof(v),
                          &len);
    if (rc == VG_ENOTFOUND) {
        d->clock_committed = INT64_MIN;
        rc = 0;
    } else if (rc == 0 && len != sizeof(v)) {
        rc = VG_ECORRUPT;
    } else if (rc == 0) {
        d->clock_committed = (int64_t)vg_get_le64(v);
    }
    d->clock_loaded = rc == 0;
    return rc;
}

static int load_profile(vg_state_batch_t *b, const char *acct, vg_account_profile_t *p)
{
    vg_bytes_t v;
    int rc = vg_state_batch_get(b, VG_STATE_ACCOUNTS, acct, strlen(acct), &v);
    if (rc == VG_ENOTFOUND) {
        vg_profile_init(p);
        return 0;
    }
    return rc != 0 ? rc : vg_profile_decode(v.ptr, v.len, p);
}

static int store_profile(vg_state_batch_t *b, const char *acct, const vg_account_profile_t *p)
{
    uint8_t buf[VG_PROFILE_BYTES];
    vg_profile_encode(p, buf);
    return vg_state_batch_put(b, VG_STATE_ACCOUNTS, acct, strlen(acct), buf, sizeof(buf));
}

static double amount_major(const Vigil__Transaction *tx)
{
    int e = vg_currency_exponent(tx->currency);
    return (double)tx->amount_minor / vg_currency_unit(e < 0 ? 2 : e);
}

/* ---- log reads ---- */

int vg_log_read_message(vg_seglog_t *log, uint64_t offset, uint16_t type, ProtobufCMessage **out)
{
    vg_seglog_reader_t *r = NULL;
    int rc = vg_seglog_reader_open(log, offset, &r);
    if (rc != 0)
        return rc;
    vg_seglog_view_t v;
    rc = vg_seglog_reader_next(r, &v);
    if (rc == 0 && (v.offset != offset || v.type != type))
        rc = VG_ENOTFOUND; /* retention removed it, or the index points elsewhere */
    if (rc == 0) {
        const ProtobufCMessageDescriptor *desc = type == VG_SEGLOG_TYPE_DECISION
                                                     ? &vigil__decision__descriptor
                                                     : &vigil__transaction__descriptor;
        *out = protobuf_c_message_unpack(desc, NULL, v.len, v.payload);
        if (!*out)
            rc = VG_ECORRUPT;
    }
    vg_seglog_reader_close(r);
    return rc;
}

int vg_log_read_decision(vg_seglog_t *declog, uint64_t offset, vg_decision_t *out)
{
    ProtobufCMessage *m = NULL;
    int rc = offset == VG_NO_OFFSET
                 ? VG_ENOTFOUND
                 : vg_log_read_message(declog, offset, VG_SEGLOG_TYPE_DECISION, &m);
    if (rc != 0)
        return rc;
    vg_decision_from_pb((Vigil__Decision *)m, out);
    protobuf_c_message_free_unpacked(m, NULL);
    out->decision_offset = offset;
    return 0;
}

bool vg_log_tx_names_account(vg_seglog_t *log, uint64_t offset, const char *account_id)
{
    ProtobufCMessage *m = NULL;
    if (vg_log_read_message(log, offset, VG_SEGLOG_TYPE_TRANSACTION, &m) != 0)
        return true;
    bool same = strcmp(((const Vigil__Transaction *)m)->account_id, account_id) == 0;
    protobuf_c_message_free_unpacked(m, NULL);
    return same;
}

/* ---- decisions ---- */

void vg_decision_to_pb(const vg_decision_t *d, const char *transaction_id, Vigil__Decision *out,
                       Vigil__Reason reasons[VG_DECISION_REASONS],
                       Vigil__Reason *rptr[VG_DECISION_REASONS])
{
    vigil__decision__init(out);
    out->transaction_id = vg_unconst(transaction_id);
    out->partition = d->partition;
    out->offset = d->offset;
    out->score = d->score;
    out->level = (Vigil__Level)d->level;
    for (unsigned i = 0; i < d->n_reasons; i++) {
        vigil__reason__init(&reasons[i]);
        reasons[i].feature = vg_unconst(vg_feature_name(d->reasons[i].feature));
        reasons[i].value = d->reasons[i].value;
        reasons[i].contribution = d->reasons[i].contribution;
        rptr[i] = &reasons[i];
    }
    out->n_reasons = d->n_reasons;
    out->reasons = rptr;
    out->model_version = vg_unconst(d->model_version);
    out->n_features = VG_FEATURE_COUNT;
    out->features = vg_unconst(d->features);
    out->decided_ms = d->decided_ms;
    out->replay = d->replay;
}

void vg_decision_from_pb(const Vigil__Decision *pb, vg_decision_t *out)
{
    memset(out, 0, sizeof(*out));
    out->offset = pb->offset;
    out->partition = pb->partition;
    out->score = (float)pb->score;
    out->level = (int)pb->level;
    out->replay = pb->replay;
    out->applied = true;
    for (size_t i = 0; i < pb->n_reasons && out->n_reasons < VG_DECISION_REASONS; i++) {
        int f = vg_feature_index(pb->reasons[i]->feature);
        if (f < 0)
            continue;
        unsigned k = out->n_reasons++;
        out->reasons[k].feature = (uint16_t)f;
        out->reasons[k].value = (float)pb->reasons[i]->value;
        out->reasons[k].contribution = (float)pb->reasons[i]->contribution;
    }
    for (size_t i = 0; i < pb->n_features && i < VG_FEATURE_COUNT; i++)
        out->features[i] = pb->features[i];
    out->decided_ms = pb->decided_ms;
    vg_strlcpy(out->model_version, pb->model_version ? pb->model_version : "",
               sizeof(out->model_version));
}

/* The item before `upto` in this batch that x indexes (a duplicate's original), or NULL. */
static const vg_pipe_item_t *in_batch(const vg_pipe_item_t *items, size_t upto,
                                      const vg_txindex_t *x)
{
    for (size_t i = 0; i < upto; i++)
        if (items[i].offset == x->tx_offset)
            return &items[i];
    return NULL;
}

/* The original decision of a duplicate: `orig`'s when it is in this batch, else from the
 * decision log. */
static void original_decision(vg_decider_t *d, const vg_pipe_item_t *orig, const vg_txindex_t *x,
                              vg_decision_t *out)
{
    memset(out, 0, sizeof(*out));
    if (orig) {
        out->offset = x->tx_offset; /* decided in pass 2; vg_decider_apply copies it */
        out->replay = true;
        return;
    }
    out->offset = x->tx_offset;
    out->decision_offset = x->decision_offset;
    out->partition = d->o.partition;
    out->level = VIGIL__LEVEL__LEVEL_UNSPECIFIED;
    (void)vg_log_read_decision(d->o.declog, x->decision_offset, out); /* else the above stands */
    out->replay = true;
}

static int level_of(const vg_decider_t *d, float score)
{
    if (score >= d->o.threshold_high)
        return VIGIL__LEVEL__LEVEL_HIGH;
    if (score >= d->o.threshold_medium)
        return VIGIL__LEVEL__LEVEL_MEDIUM;
    return VIGIL__LEVEL__LEVEL_LOW;
}

static void grow(vg_decider_t *d, size_t n)
{
    if (n <= d->cap)
        return;
    size_t c = d->cap ? d->cap : 256;
    while (c < n)
        c *= 2;
    d->rows = vg_xrealloc(d->rows, c * VG_FEATURE_COUNT * sizeof(float));
    d->flagged = vg_xrealloc(d->flagged, c * VG_FEATURE_COUNT * sizeof(float));
    d->contribs = vg_xrealloc(d->contribs, c * (VG_FEATURE_COUNT + 1) * sizeof(float));
    d->scores = vg_xrealloc(d->scores, c * sizeof(float));
    d->row_of = vg_xrealloc(d->row_of, c * sizeof(size_t));
    d->flag_row = vg_xrealloc(d->flag_row, c * sizeof(size_t));
    d->drecs = vg_xrealloc(d->drecs, c * sizeof(*d->drecs));
    d->cap = c;
}

/* The label_account of a label naming account_id (NULL or "": none). */
static uint32_t account_tag(const char *account_id)
{
    if (!account_id || !account_id[0])
        return 0;
    uint32_t h = (uint32_t)vg_hash64(account_id, strlen(account_id));
    return h ? h : 1;
}

/* A label on an indexed transaction: record it and move the account's label counts; or, on
 * a label waiting for its transaction, replace it. A label naming another account than its
 * transaction's (the transaction came between ingest's check and this batch) changes
 * nothing. */
static int apply_label(vg_decider_t *d, vg_state_batch_t *b, const vg_pipe_item_t *items,
                       size_t upto, const Vigil__Label *l, vg_txindex_t *x)
{
    uint64_t label_offset = items[upto].offset;
    int now = l->is_fraud ? 2 : 1;
    int before = x->label;
    if (x->tx_offset == VG_NO_OFFSET)
        x->label_account = account_tag(l->account_id);
    if (x->tx_offset == VG_NO_OFFSET || before == now) {
        x->label = now;
        x->label_reported_ms = l->reported_at_ms;
        return 0;
    }
    /* The transaction: from this batch when it is in it, else from the log. */
    const Vigil__Transaction *tx = NULL;
    ProtobufCMessage *m = NULL;
    for (size_t i = 0; i < upto && !tx; i++)
        if (items[i].tx && items[i].offset == x->tx_offset)
            tx = items[i].tx;
    if (!tx) {
        int rc = vg_log_read_message(d->o.log, x->tx_offset, VG_SEGLOG_TYPE_TRANSACTION, &m);
        if (rc != 0) {
            VG_LOG_WARN("labelled transaction not readable partition=%u offset=%llu err=%s",
                        d->o.partition, (unsigned long long)x->tx_offset, vg_strerror(rc));
            return 0; /* retention removed it: the index keeps the label */
        }
        tx = (const Vigil__Transaction *)m;
    }
    const char *acct = tx->account_id;
    if (l->account_id && l->account_id[0] && strcmp(l->account_id, acct) != 0) {
        VG_LOG_WARN("label not applied: it names another account than its transaction's "
                    "partition=%u transaction=%s",
                    d->o.partition, l->transaction_id);
        if (m)
            protobuf_c_message_free_unpacked(m, NULL);
        return 0;
    }
    x->label = now;
    x->label_reported_ms = l->reported_at_ms;
    int fraud_delta = (now == 2) - (before == 2);
    if (fraud_delta && tx->merchant_id && tx->merchant_id[0])
        new_delta(d, label_offset, tx->timestamp_ms, tx->merchant_id)->fraud_delta =
            (int8_t)fraud_delta;
    vg_account_profile_t p;
    int rc = load_profile(b, acct, &p);
    /* An account with no profile started over since (its profile was swept): the label is
     * about its life before, and counts nowhere in it. */
    if (rc == 0 && p.n > 0) {
        if (before == 2 && p.fraud_labels)
            p.fraud_labels--;
        else if (before == 1 && p.genuine_labels)
            p.genuine_labels--;
        vg_profile_label(&p, l->is_fraud, l->reported_at_ms);
        rc = store_profile(b, acct, &p);
    }
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

/* The label that waited for transaction tx (its index entry *x) goes into the account's
 * profile *p, unless it named another account: then the entry forgets it. Its wait key goes
 * either way. */
static int take_waiting_label(vg_decider_t *d, vg_state_batch_t *b, const Vigil__Transaction *tx,
                              vg_txindex_t *x, vg_account_profile_t *p)
{
    int rc = del_wait(b, x->label_reported_ms, tx->transaction_id);
    if (rc != 0)
        return rc;
    d->batch_wait_delta--;
    bool expired = x->label_reported_ms < wait_limit(d);
    bool other = x->label_account && x->label_account != account_tag(tx->account_id);
    if (!expired && !other) {
        vg_profile_label(p, x->label == 2, x->label_reported_ms);
        return 0;
    }
    if (other)
        VG_LOG_WARN("waiting label dropped: it names another account than its transaction's "
                    "partition=%u transaction=%s",
                    d->o.partition, tx->transaction_id);
    else
        d->batch_late_labels++; /* what the sweep would have dropped had it come first */
    x->label = 0;
    x->label_reported_ms = 0;
    x->label_account = 0;
    return 0;
}

/* Pass 1 for one transaction: *added says whether it became feature row `nrows` (a
 * duplicate does not). */
static int apply_tx(vg_decider_t *d, vg_state_batch_t *b, vg_pipe_item_t *items, size_t i,
                    size_t nrows, bool *added)
{
    *added = false;
    vg_pipe_item_t *it = &items[i];
    const Vigil__Transaction *tx = it->tx;
    /* Indexed at once if new, in one walk of the index; else it finds what is there. Its
     * decision goes to the decision log at dbase + nrows (log_decisions appends the rows in
     * order). */
    vg_txindex_t x = {it->offset, d->dbase + nrows, 0, 0, 0};
    int rc = claim_txindex(b, tx->transaction_id, &x);
    if (rc != 0 && rc != VG_EEXISTS)
        return rc;
    bool waiting_label = rc == VG_EEXISTS && x.tx_offset == VG_NO_OFFSET;
    if (rc == VG_EEXISTS && !waiting_label) {
        /* the original's account, from this batch or the log: another's is a conflict */
        const vg_pipe_item_t *orig = in_batch(items, i, &x);
        bool same = orig && orig->tx
                        ? strcmp(orig->tx->account_id, tx->account_id) == 0
                        : vg_log_tx_names_account(d->o.log, x.tx_offset, tx->account_id);
        if (same) {
            original_decision(d, orig, &x, &it->decision);
            return 0;
        }
        memset(&it->decision, 0, sizeof(it->decision)); /* refused: nothing changes */
        it->decision.offset = it->offset;
        it->decision.partition = d->o.partition;
        it->decision.conflict = true;
        it->decision.applied = true;
        return 0;
    }
    vg_account_profile_t p;
    rc = load_profile(b, tx->account_id, &p);
    if (rc != 0)
        return rc;
    if (tx->timestamp_ms > d->clock_ms)
        d->clock_ms = tx->timestamp_ms;
    if (idle_too_long(d, p.n, p.last_ts_ms, d->clock_ms))
        vg_profile_init(&p); /* starts over, as if swept: a sweep used an older clock */
    double amount = amount_major(tx);
    float *row = d->rows + nrows * VG_FEATURE_COUNT;
    vg_features_compute(tx, amount, &p, row);
    merchant_columns(d, tx, row);
    vg_profile_update(&p, tx, amount);
    if (waiting_label) {
        rc = take_waiting_label(d, b, tx, &x, &p);
        if (rc != 0)
            return rc;
    }
    if (tx->merchant_id && tx->merchant_id[0]) {
        vg_mdelta_t *md = new_delta(d, it->offset, tx->timestamp_ms, tx->merchant_id);
        md->tx_delta = 1;
        md->fraud_delta = (int8_t)(x.label == 2); /* a label that waited for it */
    }
    rc = store_profile(b, tx->account_id, &p);
    if (rc != 0)
        return rc;
    d->row_of[nrows] = i;
    memset(&it->decision, 0, sizeof(it->decision));
    it->decision.offset = it->offset;
    it->decision.partition = d->o.partition;
    *added = true;
    if (!waiting_label)
        return 0;             /* claimed above */
    x.tx_offset = it->offset; /* the label waiting for it stays in the entry */
    x.decision_offset = d->dbase + nrows;
    return put_txindex(b, tx->transaction_id, &x);
}

/* Pass 2a: one model call for the batch's rows; exact SHAP reasons for the flagged ones in
 * one more. */
static int score_rows(vg_decider_t *d, vg_pipe_item_t *items, size_t nrows)
{
    const vg_model_t *model = d->o.model;
    int64_t now = vg_clock_wall_ms();
    if (model && nrows) {
        size_t chunk = d->o.batch_max ? d->o.batch_max : 1024;
        for (size_t r = 0; r < nrows; r += chunk) {
            size_t n = nrows - r < chunk ? nrows - r : chunk;
            int rc = vg_model_predict(model, d->rows + r * VG_FEATURE_COUNT, n, VG_FEATURE_COUNT,
                                      d->scores + r);
            if (rc != 0)
                return rc;
        }
    } else {
        memset(d->scores, 0, nrows * sizeof(float));
    }
    size_t nflag = 0;
    for (size_t r = 0; r < nrows; r++) {
        vg_decision_t *dec = &items[d->row_of[r]].decision;
        dec->score = d->scores[r];
        dec->level = model ? level_of(d, d->scores[r]) : VIGIL__LEVEL__LEVEL_LOW;
        dec->decided_ms = now;
        memcpy(dec->features, d->rows + r * VG_FEATURE_COUNT, sizeof(dec->features));
        if (model)
            vg_strlcpy(dec->model_version, vg_model_version(model), sizeof(dec->model_version));
        if (dec->level >= VIGIL__LEVEL__LEVEL_MEDIUM) {
            memcpy(d->flagged + nflag * VG_FEATURE_COUNT, dec->features, sizeof(dec->features));
            d->flag_row[nflag++] = r;
        }
    }
    if (!nflag)
        return 0;
    int rc = vg_model_contributions(model, d->flagged, nflag, VG_FEATURE_COUNT, true, d->contribs);
    if (rc != 0)
        return rc;
    for (size_t k = 0; k < nflag; k++) {
        vg_decision_t *dec = &items[d->row_of[d->flag_row[k]]].decision;
        vg_reason_t rs[VG_DECISION_REASONS];
        size_t nr = vg_model_top_reasons(d->contribs + k * (VG_FEATURE_COUNT + 1), VG_FEATURE_COUNT,
                                         VG_DECISION_REASONS, rs);
        dec->n_reasons = (uint8_t)nr;
        for (size_t j = 0; j < nr; j++) {
            dec->reasons[j].feature = (uint16_t)rs[j].feature;
            dec->reasons[j].value = dec->features[rs[j].feature];
            dec->reasons[j].contribution = rs[j].contribution;
        }
    }
    return 0;
}

/* An upper bound on pb's packed size without walking it as get_packed_size does (a third of
 * the cost of packing): tags and lengths of at most 3 bytes, scalars of at most 10. */
static size_t packed_bound(const Vigil__Decision *pb)
{
    enum { TAGLEN = 3, SCALAR = 11 }; /* a tag and a length; a tag and a scalar */
    size_t n = (size_t)6 * SCALAR + (size_t)3 * TAGLEN + strlen(pb->transaction_id) +
               strlen(pb->model_version) + pb->n_features * sizeof(float);
    for (size_t i = 0; i < pb->n_reasons; i++)
        n += (size_t)2 * TAGLEN + strlen(pb->reasons[i]->feature) + (size_t)2 * SCALAR;
    for (size_t i = 0; i < pb->n_rule_hits; i++)
        n += TAGLEN + strlen(pb->rule_hits[i]);
    return n;
}

/* Pass 2b: the decision records, in one append, at the offsets apply_tx indexed them at. */
static int log_decisions(vg_decider_t *d, vg_pipe_item_t *items, size_t nrows)
{
    /* Packed one after another into one reused buffer: no allocation per decision. A packed
     * decision is bounded (ids <= 128 bytes, 3 reasons, the feature vector). */
    if (nrows * MAX_PACKED_DECISION > d->dbuf_cap) {
        d->dbuf_cap = nrows * MAX_PACKED_DECISION;
        d->dbuf = vg_xrealloc(d->dbuf, d->dbuf_cap);
    }
    size_t used = 0;
    for (size_t r = 0; r < nrows; r++) {
        vg_pipe_item_t *it = &items[d->row_of[r]];
        Vigil__Decision pb;
        Vigil__Reason reasons[VG_DECISION_REASONS];
        Vigil__Reason *rptr[VG_DECISION_REASONS];
        vg_decision_to_pb(&it->decision, it->tx->transaction_id, &pb, reasons, rptr);
        size_t bound = packed_bound(&pb);
        if (bound > MAX_PACKED_DECISION) /* never with validated ids */
            VG_CHECK(vigil__decision__get_packed_size(&pb) <= MAX_PACKED_DECISION);
        size_t len = vigil__decision__pack(&pb, d->dbuf + used);
        VG_CHECK(len <= bound); /* the bound is right (the buffer holds MAX_PACKED_DECISION) */
        d->drecs[r] = (vg_seglog_rec_t){VG_SEGLOG_TYPE_DECISION, it->tx->timestamp_ms,
                                        d->dbuf + used, (uint32_t)len};
        if (it->want_packed) { /* borrowed: the caller copies it before the next batch */
            it->packed = d->dbuf + used;
            it->packed_len = (uint32_t)len;
        }
        used += len;
    }
    uint64_t first = d->dbase;
    int rc = nrows ? vg_seglog_append(d->o.declog, d->drecs, nrows, &first) : 0;
    /* Only this loop appends to the decision log, so the rows land where apply_tx indexed
     * them; anything else would index decisions wrongly. */
    VG_CHECK(rc != 0 || first == d->dbase);
    for (size_t r = 0; r < nrows && rc == 0; r++) {
        vg_pipe_item_t *it = &items[d->row_of[r]];
        it->decision.decision_offset = first + r;
        it->decision.applied = true;
    }
    return rc;
}

/* The batch's merchant deltas as one outbox record per owner; afterwards d->deltas holds them
 * grouped by owner (offset order within each), with their records set. */
static int put_outbox(vg_decider_t *d, vg_state_batch_t *b)
{
    size_t k = 0;
    int rc = 0;
    for (unsigned o = 0; o < d->nreaders && rc == 0; o++) {
        size_t start = k;
        for (size_t i = 0; i < d->ndeltas; i++)
            if (d->deltas[i].owner == o)
                d->by_owner[k++] = d->deltas[i];
        rc = vg_outbox_put(b, d->by_owner + start, k - start);
    }
    vg_mdelta_t *t = d->deltas;
    d->deltas = d->by_owner;
    d->by_owner = t;
    d->ndeltas = k;
    return rc;
}

/* Pass 1 for one label: onto its indexed transaction, or waiting for it. */
static int apply_label_item(vg_decider_t *d, vg_state_batch_t *b, vg_pipe_item_t *items, size_t i)
{
    const Vigil__Label *l = items[i].label;
    vg_txindex_t x;
    int rc = batch_txindex(b, l->transaction_id, &x);
    bool waited = rc == 0 && x.tx_offset == VG_NO_OFFSET;
    int64_t waited_ms = waited ? x.label_reported_ms : 0;
    if (rc == VG_ENOTFOUND) {
        x = (vg_txindex_t){VG_NO_OFFSET, VG_NO_OFFSET, 0, 0, 0};
        rc = 0;
    }
    if (rc == 0)
        rc = apply_label(d, b, items, i, l, &x);
    if (rc == 0 && waited && waited_ms != x.label_reported_ms)
        rc = del_wait(b, waited_ms, l->transaction_id); /* relabelled while waiting */
    if (rc == 0 && x.tx_offset == VG_NO_OFFSET) {
        rc = put_wait(d, b, x.label_reported_ms, l->transaction_id);
        d->batch_wait_delta += !waited; /* a relabel replaces its key */
    }
    if (rc == 0)
        rc = put_txindex(b, l->transaction_id, &x);
    return rc;
}

/* Duplicates of a transaction decided in this batch copy its final decision. */
static void copy_replayed(vg_pipe_item_t *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        vg_pipe_item_t *it = &items[i];
        if (!it->tx || !it->decision.replay || it->decision.applied)
            continue;
        for (size_t j = 0; j < i; j++) {
            if (items[j].offset == it->decision.offset && items[j].decision.applied) {
                it->decision = items[j].decision;
                it->decision.replay = true;
                break;
            }
        }
        it->decision.applied = true;
    }
}

static int put_clock(vg_decider_t *d, vg_state_batch_t *b)
{
    uint8_t v[8];
    vg_put_le64(v, (uint64_t)d->clock_ms);
    return vg_state_batch_put(b, VG_STATE_META, CLOCK_KEY, sizeof(CLOCK_KEY) - 1, v, sizeof(v));
}

/* The batch is about to grow this partition's map, which waits for every reader of it, and
 * another partition growing its own may be waiting for ours. */
static void end_readers(void *ctx)
{
    vg_decider_t *d = ctx;
    vg_state_readers_reset(d->mreaders, d->nreaders);
}

int vg_decider_apply(vg_decider_t *d, vg_pipe_item_t *items, size_t n, uint64_t next_offset)
{
    grow(d, n ? n : 1);
    int rc = load_clock(d);
    if (rc != 0)
        return rc;
    d->clock_ms = d->clock_committed; /* what a failed batch moved is forgotten */
    vg_state_batch_t *b = vg_state_batch_begin(d->o.state);
    vg_state_batch_before_grow(b, end_readers, d);
    d->dbase = vg_seglog_next_offset(d->o.declog);
    size_t nrows = 0;
    d->ndeltas = 0;
    d->batch_oldest_wait_ms = INT64_MAX;
    d->batch_wait_delta = 0;
    d->batch_late_labels = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        vg_pipe_item_t *it = &items[i];
        if (it->rec.type == VG_SEGLOG_TYPE_TRANSACTION && it->tx) {
            bool added = false;
            rc = apply_tx(d, b, items, i, nrows, &added);
            nrows += added;
        } else if (it->rec.type == VG_SEGLOG_TYPE_LABEL && it->label) {
            rc = apply_label_item(d, b, items, i);
        }
    }
    if (rc == 0 && d->o.pending_label_ttl_ms > 0)
        rc = expire_waiting(d, b);
    if (rc == 0 && d->batch_late_labels)
        VG_LOG_INFO("waiting labels dropped partition=%u count=%zu older_than_ms=%lld "
                    "(on their transactions' arrival)",
                    d->o.partition, d->batch_late_labels, (long long)wait_limit(d));
    if (rc == 0 && d->clock_ms != d->clock_committed)
        rc = put_clock(d, b);
    if (rc == 0)
        rc = score_rows(d, items, nrows);
    if (rc == 0)
        rc = log_decisions(d, items, nrows);
    if (rc == 0)
        copy_replayed(items, n);
    end_readers(d); /* the commit may grow the map too */
    if (rc == 0)
        rc = put_outbox(d, b);
    for (size_t i = 0; i < d->nforget && rc == 0; i++)
        rc = vg_outbox_del(b, d->forget[i].owner, d->forget[i].record);
    if (rc == 0 && d->o.before_commit)
        rc = d->o.before_commit(d->o.before_commit_ctx, b);
    if (rc != 0) {
        vg_state_batch_abort(b);
        d->ndeltas = 0;
        return rc;
    }
    rc = vg_state_batch_commit(b, next_offset);
    if (rc == 0) {
        d->nforget = 0;
        d->clock_committed = d->clock_ms;
        count_batch_waits(d);
    } else {
        d->ndeltas = 0;
    }
    return rc;
}

/* ---- sweeps: idle accounts, index entries of transactions gone from the log ---- */

struct sweep {
    const vg_decider_t *d;
    bool (*dead)(const struct sweep *s, vg_bytes_t value);
    int64_t clock_ms; /* accounts: idle past the time-to-live at this clock */
    uint64_t below;   /* index: transactions at offsets below this */
    size_t max;
    size_t checked;
    bool stopped;  /* at max: the key it stopped at is where the next sweep starts */
    uint8_t *keys; /* the dead ones, each as a length byte pair and the bytes */
    size_t len;
    size_t cap;
    uint8_t last[VG_STATE_MAX_KEY];
    size_t last_len;
};

static bool idle_account(const struct sweep *s, vg_bytes_t value)
{
    uint32_t n = 0;
    int64_t last_ts_ms = 0;
    /* a profile of the wrong size or version is not this sweep's to judge */
    return vg_profile_peek_last(value.ptr, value.len, &n, &last_ts_ms) == 0 &&
           idle_too_long(s->d, n, last_ts_ms, s->clock_ms);
}

static bool gone_from_log(const struct sweep *s, vg_bytes_t value)
{
    vg_txindex_t x;
    /* a label waiting for its transaction has its own time-to-live */
    return txindex_decode(value.ptr, value.len, &x) == 0 && x.tx_offset != VG_NO_OFFSET &&
           x.tx_offset < s->below;
}

static int collect_dead(void *ctx, vg_bytes_t key, vg_bytes_t value)
{
    struct sweep *s = ctx;
    if (s->checked == s->max) {
        memcpy(s->last, key.ptr, key.len); /* checked next time */
        s->last_len = key.len;
        s->stopped = true;
        return 1;
    }
    s->checked++;
    if (!s->dead(s, value))
        return 0;
    if (s->len + 2 + key.len > s->cap) {
        s->cap = (s->len + 2 + key.len) * 2;
        s->keys = vg_xrealloc(s->keys, s->cap);
    }
    vg_put_le16(s->keys + s->len, (uint16_t)key.len);
    memcpy(s->keys + s->len + 2, key.ptr, key.len);
    s->len += 2 + key.len;
    return 0;
}

/* Checks s->max keys of `db` from `from` on and deletes the dead ones in a transaction of its
 * own; `from` moves to where the next call goes on (empty: this one reached the last key). */
static int sweep_db(vg_decider_t *d, enum vg_state_db db, struct sweep *s, struct resume *from,
                    size_t *dropped)
{
    int rc = vg_state_scan_from(d->o.state, db, from->key, from->len, collect_dead, s);
    if (rc == 0) {
        memcpy(from->key, s->last, s->last_len);
        from->len = s->stopped ? s->last_len : 0; /* the end: from the first again */
    }
    /* The scan's view is still the state: only this thread writes these, between batches. */
    vg_state_batch_t *b = rc == 0 && s->len ? vg_state_batch_begin(d->o.state) : NULL;
    size_t n = 0;
    for (size_t off = 0; b && rc == 0 && off < s->len; n++) {
        size_t klen = vg_get_le16(s->keys + off);
        rc = vg_state_batch_del(b, db, s->keys + off + 2, klen);
        off += 2 + klen;
    }
    if (b && rc == 0)
        rc = vg_state_batch_commit(b, VG_STATE_KEEP_APPLIED);
    else if (b)
        vg_state_batch_abort(b);
    *dropped = rc == 0 ? n : 0;
    free(s->keys);
    return rc;
}

int vg_decider_sweep(vg_decider_t *d, size_t max, size_t *dropped)
{
    *dropped = 0;
    if (d->o.account_ttl_ms <= 0 || max == 0)
        return 0;
    int rc = load_clock(d);
    if (rc != 0 || d->clock_committed == INT64_MIN)
        return rc;
    struct sweep s = {.d = d, .dead = idle_account, .clock_ms = d->clock_committed, .max = max};
    return sweep_db(d, VG_STATE_ACCOUNTS, &s, &d->accounts_from, dropped);
}

int vg_decider_sweep_index(vg_decider_t *d, size_t max, size_t *dropped)
{
    *dropped = 0;
    uint64_t start = vg_seglog_start_offset(d->o.log);
    if (d->index_below == 0 && start > d->index_swept)
        d->index_below = start; /* retention moved the log's start: a new pass */
    if (d->index_below == 0 || max == 0)
        return 0;
    struct sweep s = {.d = d, .dead = gone_from_log, .below = d->index_below, .max = max};
    int rc = sweep_db(d, VG_STATE_TXINDEX, &s, &d->index_from, dropped);
    if (rc == 0 && d->index_from.len == 0) { /* the pass reached the last key */
        d->index_swept = d->index_below;
        d->index_below = 0;
    }
    return rc;
}

/* Reads up to REPLAY_CHUNK records below `end` into items (unpacking into msgs). OUT: *n,
 * *next (the offset after the last one read). 0, or the read / decode error. */
static int read_chunk(vg_decider_t *d, vg_seglog_reader_t *r, uint64_t end, vg_pipe_item_t *items,
                      ProtobufCMessage **msgs, size_t *n, uint64_t *next)
{
    vg_seglog_view_t v;
    int rc = 0;
    *n = 0;
    while (*n < REPLAY_CHUNK && *next < end && (rc = vg_seglog_reader_next(r, &v)) == 0) {
        vg_pipe_item_t *it = &items[*n];
        memset(it, 0, sizeof(*it));
        it->rec.type = v.type;
        it->offset = v.offset;
        *next = v.offset + 1;
        msgs[*n] = NULL;
        if (v.type == VG_SEGLOG_TYPE_TRANSACTION) {
            msgs[*n] =
                protobuf_c_message_unpack(&vigil__transaction__descriptor, NULL, v.len, v.payload);
            it->tx = (const Vigil__Transaction *)msgs[*n];
        } else if (v.type == VG_SEGLOG_TYPE_LABEL) {
            msgs[*n] = protobuf_c_message_unpack(&vigil__label__descriptor, NULL, v.len, v.payload);
            it->label = (const Vigil__Label *)msgs[*n];
        } else {
            (*n)++; /* another record type: nothing to apply */
            continue;
        }
        if (!msgs[*n]) {
            VG_LOG_ERROR("undecodable record partition=%u offset=%llu", d->o.partition,
                         (unsigned long long)v.offset);
            return VG_ECORRUPT;
        }
        (*n)++;
    }
    return rc == VG_ENOTFOUND ? 0 : rc;
}

int vg_decider_replay(vg_decider_t *d, uint64_t *replayed)
{
    *replayed = 0;
    uint64_t from = 0;
    int rc = vg_state_applied_offset(d->o.state, &from);
    uint64_t end = vg_seglog_next_offset(d->o.log);
    if (rc != 0 || from >= end)
        return rc;
    vg_seglog_reader_t *r = NULL;
    rc = vg_seglog_reader_open(d->o.log, from, &r);
    if (rc != 0)
        return rc;
    vg_pipe_item_t *items = vg_xcalloc(REPLAY_CHUNK, sizeof(*items));
    ProtobufCMessage **msgs = vg_xcalloc(REPLAY_CHUNK, sizeof(ProtobufCMessage *));
    uint64_t next = from;
    while (rc == 0 && next < end) {
        size_t n = 0;
        rc = read_chunk(d, r, end, items, msgs, &n, &next);
        if (rc == 0 && n)
            rc = vg_decider_apply(d, items, n, next);
        for (size_t i = 0; i < n; i++) {
            if (msgs[i])
                protobuf_c_message_free_unpacked(msgs[i], NULL);
            msgs[i] = NULL;
        }
        *replayed += n;
        if (n == 0)
            break;
    }
    free(msgs);
    free(items);
    vg_seglog_reader_close(r);
    return rc;
}

vg_decider_t *vg_decider_new(const vg_decider_opts_t *opts)
{
    vg_decider_t *d = vg_xcalloc(1, sizeof(*d));
    d->o = *opts;
    d->nreaders = d->o.nparts ? d->o.nparts : 1;
    d->mreaders = vg_xcalloc(d->nreaders, sizeof(*d->mreaders));
    d->oldest_waiting_ms = INT64_MIN;
    grow(d, 256);
    return d;
}

void vg_decider_free(vg_decider_t *d)
{
    if (!d)
        return;
    free(d->rows);
    free(d->flagged);
    free(d->contribs);
    free(d->scores);
    free(d->row_of);
    free(d->flag_row);
    free(d->drecs);
    free(d->dbuf);
    free(d->mreaders);
    free(d->deltas);
    free(d->by_owner);
    free(d->forget);
    free(d);
}
