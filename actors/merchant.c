/* SPDX-License-Identifier: MIT */
/* Merchant outbox and owner side; see merchant.h. */
#include "actors/merchant.h"
#include "runtime/alloc.h"
#include "runtime/bytes.h"
#include "runtime/error.h"
#include "runtime/hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUTBOX_KEY 13 /* 'o' + owner + offset */
#define HW_KEY     5  /* 'h' + source */

unsigned vg_merchant_owner(const char *merchant_id, unsigned nparts)
{
    return nparts ? (unsigned)(vg_hash64(merchant_id, strlen(merchant_id)) % nparts) : 0;
}

static void outbox_key(uint8_t *k, unsigned owner, uint64_t offset)
{
    k[0] = 'o';
    vg_put_be32(k + 1, owner);
    vg_put_be64(k + 5, offset);
}

/* offset(8) ts(8) tx(1) fraud(1) idlen(1), then the id */
#define DELTA_HEAD 19

int vg_outbox_put(vg_state_batch_t *b, vg_mdelta_t *d, size_t n)
{
    if (n == 0)
        return 0;
    uint8_t k[OUTBOX_KEY];
    outbox_key(k, d[0].owner, d[0].offset);
    size_t cap = n * (DELTA_HEAD + VG_MERCHANT_ID_MAX);
    uint8_t stackbuf[16 * (DELTA_HEAD + VG_MERCHANT_ID_MAX)];
    uint8_t *v = cap <= sizeof(stackbuf) ? stackbuf : vg_xmalloc(cap);
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t idlen = strnlen(d[i].merchant_id, VG_MERCHANT_ID_MAX);
        uint8_t *p = v + len;
        vg_put_le64(p, d[i].offset);
        vg_put_le64(p + 8, (uint64_t)d[i].ts_ms);
        p[16] = (uint8_t)d[i].tx_delta;
        p[17] = (uint8_t)d[i].fraud_delta;
        p[18] = (uint8_t)idlen;
        memcpy(p + DELTA_HEAD, d[i].merchant_id, idlen);
        len += DELTA_HEAD + idlen;
        d[i].record = d[0].offset;
    }
    int rc = vg_state_batch_put(b, VG_STATE_META, k, sizeof(k), v, len);
    if (v != stackbuf)
        free(v);
    return rc;
}

int vg_outbox_del(vg_state_batch_t *b, unsigned owner, uint64_t record)
{
    uint8_t k[OUTBOX_KEY];
    outbox_key(k, owner, record);
    return vg_state_batch_del(b, VG_STATE_META, k, sizeof(k));
}

struct load {
    vg_mdelta_t *v;
    size_t n;
    size_t cap;
    int rc;
};

static int load_one(void *ctx, vg_bytes_t key, vg_bytes_t val)
{
    struct load *l = ctx;
    if (key.len != OUTBOX_KEY)
        return 0; /* not an outbox record */
    unsigned owner = (unsigned)vg_get_be(key.ptr + 1, 4);
    uint64_t record = vg_get_be(key.ptr + 5, 8);
    for (size_t at = 0; at < val.len;) {
        const uint8_t *p = val.ptr + at;
        if (val.len - at < DELTA_HEAD || p[18] > VG_MERCHANT_ID_MAX ||
            val.len - at - DELTA_HEAD < p[18]) {
            l->rc = VG_ECORRUPT;
            return 1; /* stops the scan */
        }
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 64;
            l->v = vg_xrealloc(l->v, l->cap * sizeof(*l->v));
        }
        vg_mdelta_t *d = &l->v[l->n++];
        memset(d, 0, sizeof(*d));
        d->owner = owner;
        d->record = record;
        d->offset = vg_get_le64(p);
        d->ts_ms = (int64_t)vg_get_le64(p + 8);
        d->tx_delta = (int8_t)p[16];
        d->fraud_delta = (int8_t)p[17];
        memcpy(d->merchant_id, p + DELTA_HEAD, p[18]);
        at += DELTA_HEAD + p[18];
    }
    return 0;
}

int vg_outbox_load(vg_state_t *st, vg_mdelta_t **out, size_t *n)
{
    struct load l = {0};
    int rc = vg_state_scan(st, VG_STATE_META, "o", 1, load_one, &l);
    if (rc == 0)
        rc = l.rc;
    if (rc != 0) {
        free(l.v);
        return rc;
    }
    *out = l.v;
    *n = l.n;
    return 0;
}

int vg_merchant_get(vg_state_reader_t *r, const char *merchant_id, vg_merchant_profile_t *out)
{
    vg_bytes_t v;
    int rc = vg_state_reader_get(r, VG_STATE_MERCHANTS, merchant_id, strlen(merchant_id), &v);
    return rc != 0 ? rc : vg_merchant_decode(v.ptr, v.len, out);
}

int vg_merchant_apply_batch(vg_state_batch_t *b, unsigned src, const vg_mdelta_t *deltas, size_t n,
                            size_t *applied)
{
    uint8_t hk[HW_KEY] = {'h'};
    vg_put_be32(hk + 1, src);
    vg_bytes_t v;
    uint64_t hw = 0;
    int rc = vg_state_batch_get(b, VG_STATE_META, hk, sizeof(hk), &v);
    if (rc == 0 && v.len == 8)
        hw = vg_get_le64(v.ptr);
    else if (rc == 0 || rc == VG_ENOTFOUND)
        rc = 0;
    size_t done = 0;
    uint64_t next = hw;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const vg_mdelta_t *d = &deltas[i];
        if (d->offset < hw)
            continue; /* applied before: a resend */
        const char *id = d->merchant_id;
        uint8_t enc[VG_MERCHANT_BYTES];
        rc = vg_state_batch_get(b, VG_STATE_MERCHANTS, id, strlen(id), &v);
        bool in_place = rc == 0 && v.len == sizeof(enc);
        if (in_place) { /* the usual day: counted in the encoded bytes, no decode */
            memcpy(enc, v.ptr, sizeof(enc));
            in_place = vg_merchant_add_encoded(enc, d->ts_ms, d->tx_delta, d->fraud_delta);
        }
        if (!in_place) {
            vg_merchant_profile_t m;
            if (rc == VG_ENOTFOUND) {
                vg_merchant_init(&m);
                rc = 0;
            } else if (rc == 0) {
                rc = vg_merchant_decode(v.ptr, v.len, &m);
            }
            if (rc != 0)
                break;
            vg_merchant_add(&m, d->ts_ms, d->tx_delta, d->fraud_delta);
            vg_merchant_encode(&m, enc);
        }
        rc = vg_state_batch_put(b, VG_STATE_MERCHANTS, id, strlen(id), enc, sizeof(enc));
        next = d->offset + 1 > next ? d->offset + 1 : next;
        done++;
    }
    if (rc == 0 && done) {
        uint8_t hv[8];
        vg_put_le64(hv, next);
        rc = vg_state_batch_put(b, VG_STATE_META, hk, sizeof(hk), hv, sizeof(hv));
    }
    if (applied)
        *applied = rc == 0 ? done : 0;
    return rc;
}

int vg_merchant_apply(vg_state_t *st, unsigned src, const vg_mdelta_t *deltas, size_t n,
                      size_t *applied)
{
    vg_state_batch_t *b = vg_state_batch_begin(st);
    int rc = vg_merchant_apply_batch(b, src, deltas, n, applied);
    if (rc != 0) {
        vg_state_batch_abort(b);
        return rc;
    }
    return vg_state_batch_commit(b, VG_STATE_KEEP_APPLIED);
}
