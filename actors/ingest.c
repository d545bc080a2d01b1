/* SPDX-License-Identifier: MIT */
/*
 * The HTTP ingest actor; see ingest.h. One request becomes at most one append message per
 * partition (the elements that hash there, in request order), each a request to that
 * partition's actor; the HTTP answer is built when the last reply is in. All memory of a
 * request (items, packed payloads, messages) belongs to its `struct job` until then.
 * Thread: its loop.
 */
#define VG_LOG_MODULE "ingest"
#include "actors/ingest.h"
#include "actors/http.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/error.h"
#include "runtime/hash.h"
#include "runtime/logging.h"
#include "storage/seglog.h"

#include <jansson.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct vg_ingest {
    vg_actor_t actor;
    vg_partition_t **parts;
    unsigned nparts;
    vg_tx_limits_t limits;
};

struct part_job {
    vg_append_msg_t msg;
    vg_seglog_rec_t *recs;
    size_t *items; /* indexes into job->items, in append order */
    size_t n;
    struct job *job;
};

struct job {
    vg_http_req_t *req;
    vg_tx_item_t *items;
    size_t nitems;
    unsigned *partition; /* per item */
    uint64_t *offset;    /* per item, once durable */
    const char **fail;   /* per item: NULL, or an error code from storage/backpressure */
    struct part_job *pj; /* per partition */
    unsigned outstanding;
    uint8_t **payloads;
};

static void ingest_receive(vg_actor_t *self, vg_msg_t *msg)
{
    (void)self;
    free(msg); /* only replies come here, through on_reply */
}

static void ingest_on_stop(vg_actor_t *self)
{
    free(vg_container_of(self, vg_ingest_t, actor));
}

static const vg_actor_ops_t ingest_ops = {"ingest-http", ingest_receive, ingest_on_stop};

static void job_free(struct job *j, unsigned nparts)
{
    for (size_t i = 0; i < j->nitems; i++)
        free(j->payloads[i]);
    for (unsigned p = 0; p < nparts; p++) {
        free(j->pj[p].recs);
        free(j->pj[p].items);
    }
    vg_tx_items_free(j->items, j->nitems);
    free(j->payloads);
    free(j->partition);
    free(j->offset);
    free(j->fail);
    free(j->pj);
    free(j);
}

static json_t *error_obj(const char *code, const char *message, const char *field)
{
    return json_pack("{s:s, s:s, s:o}", "code", code, "message", message, "field",
                     field && *field ? json_string(field) : json_null());
}

/* All replies are in: 202 with what was accepted, or the right error status. */
static void finish(vg_ingest_t *ing, struct job *j)
{
    json_t *accepted = json_array();
    json_t *rejected = json_array();
    size_t n_ok = 0;
    size_t n_overload = 0;
    size_t n_invalid = 0;
    for (size_t i = 0; i < j->nitems; i++) {
        const vg_tx_item_t *it = &j->items[i];
        json_t *e = NULL;
        if (!it->ok) {
            n_invalid++;
            e = error_obj(it->error.code, it->error.message, it->error.field);
        } else if (j->fail[i]) {
            n_overload += strcmp(j->fail[i], "overloaded") == 0;
            e = error_obj(j->fail[i],
                          strcmp(j->fail[i], "overloaded") == 0
                              ? "partition is busy: retry later"
                              : "partition cannot store transactions",
                          NULL);
        }
        if (e) {
            json_array_append_new(rejected,
                                  json_pack("{s:I, s:o}", "index", (json_int_t)i, "error", e));
            continue;
        }
        n_ok++;
        json_array_append_new(accepted, json_pack("{s:I, s:s, s:I, s:I}", "index", (json_int_t)i,
                                                  "transaction_id", it->tx.pb.transaction_id,
                                                  "partition", (json_int_t)j->partition[i],
                                                  "offset", (json_int_t)j->offset[i]));
    }
    int status = n_ok ? 202 : n_overload ? 429 : n_invalid == j->nitems ? 400 : 503;
    json_t *body = json_pack("{s:o, s:o}", "accepted", accepted, "rejected", rejected);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    vg_http_respond(j->req, status, "application/json", text, strlen(text),
                    status == 429 ? "Retry-After: 1\r\n" : NULL);
    free(text);
    job_free(j, ing->nparts);
}

static void on_appended(vg_actor_t *self, vg_msg_t *reply, void *ctx)
{
    vg_ingest_t *ing = vg_container_of(self, vg_ingest_t, actor);
    struct part_job *pj = ctx;
    struct job *j = pj->job;
    vg_append_msg_t *m = (vg_append_msg_t *)reply;
    for (size_t k = 0; k < pj->n; k++) {
        if (m->status == 0)
            j->offset[pj->items[k]] = m->first_offset + k;
        else
            j->fail[pj->items[k]] = "unavailable";
    }
    if (--j->outstanding == 0)
        finish(ing, j);
}

/* Packs each good item and groups them by partition. */
static void plan(vg_ingest_t *ing, struct job *j)
{
    int64_t now = vg_clock_wall_ms();
    for (size_t i = 0; i < j->nitems; i++) {
        vg_tx_item_t *it = &j->items[i];
        if (!it->ok)
            continue;
        const char *acct = it->tx.pb.account_id;
        unsigned p = (unsigned)(vg_hash64(acct, strlen(acct)) % ing->nparts);
        j->partition[i] = p;
        it->tx.pb.received_ms = now;
        size_t len = vigil__transaction__get_packed_size(&it->tx.pb);
        j->payloads[i] = vg_xmalloc(len ? len : 1);
        vigil__transaction__pack(&it->tx.pb, j->payloads[i]);
        struct part_job *pj = &j->pj[p];
        if (!pj->recs) {
            pj->recs = vg_xmalloc(j->nitems * sizeof(*pj->recs));
            pj->items = vg_xmalloc(j->nitems * sizeof(*pj->items));
        }
        pj->recs[pj->n] = (vg_seglog_rec_t){VG_SEGLOG_TYPE_TRANSACTION, it->tx.pb.timestamp_ms,
                                            j->payloads[i], (uint32_t)len};
        pj->items[pj->n++] = i;
    }
}

static void handle_transactions(vg_http_req_t *req, void *ctx)
{
    vg_ingest_t *ing = ctx;
    const char *ct = vg_http_req_header(req, "content-type");
    if (!ct || strncasecmp(ct, "application/json", 16) != 0) {
        vg_http_respond_error(req, 415, "unsupported_media_type",
                              "send the body as Content-Type: application/json", NULL);
        return;
    }
    vg_bytes_t body = vg_http_req_body(req);
    struct job *j = vg_xcalloc(1, sizeof(*j));
    vg_tx_limits_t lim = ing->limits;
    lim.now_ms = vg_clock_wall_ms();
    vg_tx_error_t err;
    if (vg_tx_parse_json((const char *)body.ptr, body.len, &lim, &j->items, &j->nitems, &err) !=
        0) {
        vg_http_respond_error(req, 400, err.code, err.message, err.field[0] ? err.field : NULL);
        free(j);
        return;
    }
    j->req = req;
    j->partition = vg_xcalloc(j->nitems, sizeof(*j->partition));
    j->offset = vg_xcalloc(j->nitems, sizeof(*j->offset));
    j->fail = vg_xcalloc(j->nitems, sizeof(*j->fail));
    j->payloads = vg_xcalloc(j->nitems, sizeof(*j->payloads));
    j->pj = vg_xcalloc(ing->nparts, sizeof(*j->pj));
    plan(ing, j);
    j->outstanding = 1; /* held while sending, so no reply can finish the job early */
    for (unsigned p = 0; p < ing->nparts; p++) {
        struct part_job *pj = &j->pj[p];
        if (!pj->n)
            continue;
        pj->job = j;
        pj->msg.recs = pj->recs;
        pj->msg.n = pj->n;
        int rc = vg_actor_request(&ing->actor, vg_partition_actor(ing->parts[p]), &pj->msg.hdr,
                                  on_appended, pj);
        if (rc == 0) {
            j->outstanding++;
            continue;
        }
        for (size_t k = 0; k < pj->n; k++)
            j->fail[pj->items[k]] = rc == VG_EMAILBOX_FULL ? "overloaded" : "unavailable";
    }
    if (--j->outstanding == 0)
        finish(ing, j);
}

int vg_ingest_new(vg_loop_t *loop, vg_api_t *api, vg_partition_t **parts, unsigned n,
                  const vg_tx_limits_t *limits, vg_ingest_t **out)
{
    vg_ingest_t *ing = vg_xcalloc(1, sizeof(*ing));
    ing->parts = parts;
    ing->nparts = n;
    ing->limits = *limits;
    vg_actor_init(&ing->actor, loop, &ingest_ops, "ingest-http", 0);
    int rc = vg_api_route(api, "POST", "/v1/transactions", 0, handle_transactions, ing);
    if (rc != 0) {
        vg_actor_stop(&ing->actor);
        return rc;
    }
    *out = ing;
    return 0;
}

void vg_ingest_stop(vg_ingest_t *ing)
{
    vg_actor_stop(&ing->actor);
}
