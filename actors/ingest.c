/* SPDX-License-Identifier: MIT */
/*
 * The HTTP ingest actor; see ingest.h. One request becomes at most one append message per
 * partition (the elements that go there, in request order), each a request to that
 * partition's actor; the HTTP answer is built when the last reply is in. All memory of a
 * request (items, packed payloads, messages) belongs to its `struct job` until then.
 * Thread: its loop (the API's); the lookups read partition state, which is thread-safe.
 */
#define VG_LOG_MODULE "ingest"
#include "actors/ingest.h"
#include "actors/http.h"
#include "actors/route.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/error.h"
#include "runtime/hash.h"
#include "runtime/logging.h"
#include "runtime/timefmt.h"
#include "storage/seglog.h"

#include <jansson.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct vg_ingest {
    vg_actor_t actor;
    vg_partition_t **parts;
    unsigned nparts;
    vg_tx_limits_t limits;
};

enum job_kind { JOB_TRANSACTIONS, JOB_SCORE, JOB_LABELS };

/* The elements of one request that go to one partition. */
struct part_job {
    vg_append_msg_t msg;
    vg_pipe_item_t *items;
    size_t *elem; /* element index of each item */
    size_t n;
    struct job *job;
};

/* Per element of the request body. */
struct elem {
    bool ok;            /* parsed and valid */
    const char *fail;   /* NULL, or "overloaded" / "unavailable" */
    unsigned partition; /* transactions: where it went */
    vg_decision_t dec;  /* transactions: the decision (replay when a duplicate) */
    bool pending;       /* labels: its transaction was not found (yet): the label waits */
    uint8_t *payload;   /* packed record */
    size_t len;
    const vg_tx_error_t *error;
    size_t dup_of; /* transactions: an earlier element of this request with its id; SIZE_MAX */
};

/* One request's work: allocated with its elements and per-partition parts in one block; the
 * packed records and the parts' item arrays come from its arena (one more allocation for a
 * request of a few transactions, not one per record and per part). */
struct job {
    enum job_kind kind;
    vg_http_req_t *req;
    vg_tx_item_t *txs;
    vg_label_item_t *labels;
    size_t n;
    struct elem *e;
    struct part_job *pj; /* per partition */
    unsigned outstanding;
    bool features; /* /v1/score?features=true: the answer carries the feature vector */
    vg_arena_t arena;
};

#define JOB_ARENA_BLOCK 4096u

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

static void job_free(struct job *j)
{
    if (j->txs)
        vg_tx_items_free(j->txs, j->n);
    if (j->labels)
        vg_label_items_free(j->labels, j->n);
    vg_arena_close(&j->arena);
    free(j);
}

static const char *elem_id(const struct job *j, size_t i)
{
    return j->txs ? j->txs[i].tx.pb.transaction_id : j->labels[i].pb.transaction_id;
}

static json_t *error_obj(const char *code, const char *message, const char *field)
{
    return json_pack("{s:s, s:s, s:o}", "code", code, "message", message, "field",
                     field && *field ? json_string(field) : json_null());
}

static const char *level_name(int level)
{
    return level == VIGIL__LEVEL__LEVEL_HIGH     ? "HIGH"
           : level == VIGIL__LEVEL__LEVEL_MEDIUM ? "MEDIUM"
                                                 : "LOW";
}

static void respond_json(vg_http_req_t *req, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(body);
    vg_http_respond(req, status, "application/json", text, strlen(text),
                    status == 429 ? "Retry-After: 1\r\n" : NULL);
    free(text);
}

/* The decision as the API shows it. */
static char *decision_json(const vg_decision_t *d, const char *transaction_id, bool features)
{
    Vigil__Decision pb;
    Vigil__Reason reasons[VG_DECISION_REASONS];
    Vigil__Reason *rptr[VG_DECISION_REASONS];
    vg_decision_to_pb(d, transaction_id, &pb, reasons, rptr);
    return vg_decision_to_json(&pb, features);
}

/* Marks element e and its item (whose ok flag is *item_ok) refused; e->error is the item's. */
static void refuse(struct elem *e, bool *item_ok)
{
    e->ok = *item_ok = false;
}

/* The HTTP status of a refused element: 409 for a transaction_id that is another account's, 503
 * for a label the partitions have no room for, 400 for the rest (bad input). */
static int refusal_status(const vg_tx_error_t *err)
{
    if (strcmp(err->code, "transaction_id_conflict") == 0)
        return 409;
    return strcmp(err->code, "too_many_waiting_labels") == 0 ? 503 : 400;
}

/* POST /v1/score: the decision, 200; or the one error. */
static void finish_score(struct job *j)
{
    struct elem *e = &j->e[0];
    if (!e->ok) {
        vg_http_respond_error(j->req, refusal_status(e->error), e->error->code, e->error->message,
                              e->error->field[0] ? e->error->field : NULL);
        return;
    }
    if (e->fail) {
        bool busy = strcmp(e->fail, "overloaded") == 0;
        vg_http_respond_error(
            j->req, busy ? 429 : 503, e->fail,
            busy ? "partition is busy: retry later" : "partition cannot store transactions", NULL);
        return;
    }
    char *text = decision_json(&e->dec, elem_id(j, 0), j->features);
    vg_http_respond(j->req, 200, "application/json", text, strlen(text), NULL);
    free(text);
}

static void answer_repeats(struct job *j);

/* All replies are in: 202 with what was accepted, or the right error status. */
static void finish(struct job *j)
{
    answer_repeats(j);
    if (j->kind == JOB_SCORE) {
        finish_score(j);
        job_free(j);
        return;
    }
    json_t *accepted = json_array();
    json_t *rejected = json_array();
    size_t n_ok = 0;
    size_t n_overload = 0;
    size_t n_invalid = 0;
    size_t n_full = 0;
    for (size_t i = 0; i < j->n; i++) {
        const struct elem *e = &j->e[i];
        json_t *err = NULL;
        if (!e->ok) {
            n_invalid++;
            n_full += refusal_status(e->error) == 503;
            err = error_obj(e->error->code, e->error->message, e->error->field);
        } else if (e->fail) {
            n_overload += strcmp(e->fail, "overloaded") == 0;
            err = error_obj(e->fail,
                            strcmp(e->fail, "overloaded") == 0
                                ? "partition is busy: retry later"
                                : "partition cannot store transactions",
                            NULL);
        }
        if (err) {
            json_array_append_new(rejected,
                                  json_pack("{s:I, s:o}", "index", (json_int_t)i, "error", err));
            continue;
        }
        n_ok++;
        json_t *a =
            json_pack("{s:I, s:s}", "index", (json_int_t)i, "transaction_id", elem_id(j, i));
        if (j->kind == JOB_TRANSACTIONS) {
            json_object_set_new(a, "partition", json_integer(e->dec.partition));
            json_object_set_new(a, "offset", json_integer((json_int_t)e->dec.offset));
            json_object_set_new(a, "score", json_real(e->dec.score));
            json_object_set_new(a, "level", json_string(level_name(e->dec.level)));
            json_object_set_new(a, "replay", json_boolean(e->dec.replay));
        } else {
            json_object_set_new(a, "pending", json_boolean(e->pending));
        }
        json_array_append_new(accepted, a);
    }
    int status = n_ok ? 202 : n_overload ? 429 : n_invalid == j->n && !n_full ? 400 : 503;
    respond_json(j->req, status,
                 json_pack("{s:o, s:o}", "accepted", accepted, "rejected", rejected));
    job_free(j);
}

static void on_appended(vg_actor_t *self, vg_msg_t *reply, void *ctx)
{
    (void)self;
    struct part_job *pj = ctx;
    struct job *j = pj->job;
    vg_append_msg_t *m = (vg_append_msg_t *)reply;
    for (size_t k = 0; k < pj->n; k++) {
        struct elem *e = &j->e[pj->elem[k]];
        if (m->status != 0) {
            e->fail = "unavailable";
        } else if (j->kind != JOB_LABELS) {
            e->dec = pj->items[k].decision;
            if (e->dec.conflict) { /* found by the apply step */
                vg_tx_item_t *it = &j->txs[pj->elem[k]];
                vg_route_conflict_error(it->tx.pb.transaction_id, &it->error);
                refuse(e, &it->ok);
            }
        }
    }
    if (--j->outstanding == 0)
        finish(j);
}

static void add_to_partition(struct job *j, unsigned p, size_t i, uint16_t type, int64_t ts)
{
    struct part_job *pj = &j->pj[p];
    if (!pj->items) {
        pj->items = vg_arena_alloc(&j->arena, j->n * sizeof(*pj->items));
        memset(pj->items, 0, j->n * sizeof(*pj->items));
        pj->elem = vg_arena_alloc(&j->arena, j->n * sizeof(*pj->elem));
    }
    vg_pipe_item_t *it = &pj->items[pj->n];
    it->rec = (vg_seglog_rec_t){type, ts, j->e[i].payload, (uint32_t)j->e[i].len};
    if (type == VG_SEGLOG_TYPE_TRANSACTION)
        it->tx = &j->txs[i].tx.pb;
    else
        it->label = &j->labels[i].pb;
    pj->elem[pj->n++] = i;
}

/* The earlier new element of this request with element i's transaction_id, else SIZE_MAX;
 * i goes into the table (`cap` slots, a power of two, SIZE_MAX when free) either way. */
static size_t first_with_id(struct job *j, size_t *table, size_t cap, size_t i)
{
    const char *id = j->txs[i].tx.pb.transaction_id;
    for (size_t h = (size_t)vg_hash64(id, strlen(id));; h++) {
        size_t *slot = &table[h & (cap - 1)];
        if (*slot == SIZE_MAX) {
            *slot = i;
            return SIZE_MAX;
        }
        if (strcmp(j->txs[*slot].tx.pb.transaction_id, id) == 0)
            return *slot;
    }
}

/* Element i repeats element k's transaction_id within the request: the same account's is
 * answered as k is, a replay, without a record of its own; another account's is a conflict.
 * Until 2026-12-03 each repeat was logged (1,000 records for one id in one array). */
static void plan_repeat(struct job *j, size_t i, size_t k)
{
    vg_tx_item_t *it = &j->txs[i];
    if (strcmp(j->txs[k].tx.pb.account_id, it->tx.pb.account_id) != 0) {
        vg_route_conflict_error(it->tx.pb.transaction_id, &it->error);
        refuse(&j->e[i], &it->ok);
        return;
    }
    j->e[i].dup_of = k;
}

/* A repeat within the request takes its original's outcome, marked as a replay. */
static void answer_repeats(struct job *j)
{
    for (size_t i = 0; j->kind != JOB_LABELS && i < j->n; i++) {
        struct elem *e = &j->e[i];
        if (e->dup_of == SIZE_MAX)
            continue;
        const struct elem *o = &j->e[e->dup_of];
        e->ok = o->ok;
        e->error = o->error;
        e->fail = o->fail;
        e->partition = o->partition;
        e->dec = o->dec;
        e->dec.replay = true;
    }
}

/* Packs each good transaction and groups them by partition; a transaction_id already decided
 * is answered from the index and not appended again, nor one repeated within the request. */
static void plan_transactions(vg_ingest_t *ing, struct job *j)
{
    int64_t now = vg_clock_wall_ms();
    size_t cap = 16;
    while (cap < 2 * j->n)
        cap *= 2;
    size_t *seen = j->n > 1 ? vg_arena_alloc(&j->arena, cap * sizeof(*seen)) : NULL;
    if (seen)
        memset(seen, 0xff, cap * sizeof(*seen)); /* SIZE_MAX: free */
    for (size_t i = 0; i < j->n; i++) {
        vg_tx_item_t *it = &j->txs[i];
        struct elem *e = &j->e[i];
        e->ok = it->ok;
        e->error = &it->error;
        e->dup_of = SIZE_MAX;
        if (!it->ok)
            continue;
        unsigned p = 0;
        enum vg_route_verdict v =
            vg_route_transaction(ing->parts, ing->nparts, NULL, &it->tx.pb, &p, &e->dec);
        e->partition = p;
        if (v == VG_ROUTE_CONFLICT) {
            vg_route_conflict_error(it->tx.pb.transaction_id, &it->error);
            refuse(e, &it->ok);
        }
        if (v != VG_ROUTE_NEW)
            continue;
        size_t k = seen ? first_with_id(j, seen, cap, i) : SIZE_MAX;
        if (k != SIZE_MAX) {
            plan_repeat(j, i, k);
            continue;
        }
        it->tx.pb.received_ms = now;
        e->len = vigil__transaction__get_packed_size(&it->tx.pb);
        e->payload = vg_arena_alloc(&j->arena, e->len ? e->len : 1);
        vigil__transaction__pack(&it->tx.pb, e->payload);
        add_to_partition(j, p, i, VG_SEGLOG_TYPE_TRANSACTION, it->tx.pb.timestamp_ms);
    }
}

/* Labels go to their account's partition: the given account_id, else the partition whose
 * index holds the transaction, else (not seen yet) every partition, where each keeps it
 * until the transaction arrives. */
static void plan_labels(vg_ingest_t *ing, struct job *j)
{
    for (size_t i = 0; i < j->n; i++) {
        vg_label_item_t *it = &j->labels[i];
        struct elem *e = &j->e[i];
        e->ok = it->ok;
        e->error = &it->error;
        if (!it->ok)
            continue;
        bool known = false;
        unsigned to = vg_route_label(ing->parts, ing->nparts, &it->pb, &known, &it->error);
        e->pending = !known;
        if (to == VG_ROUTE_REFUSED) {
            refuse(e, &it->ok);
            continue;
        }
        e->len = vigil__label__get_packed_size(&it->pb);
        e->payload = vg_arena_alloc(&j->arena, e->len ? e->len : 1);
        vigil__label__pack(&it->pb, e->payload);
        int64_t ts = it->pb.reported_at_ms;
        if (to < ing->nparts) {
            add_to_partition(j, to, i, VG_SEGLOG_TYPE_LABEL, ts);
            continue;
        }
        for (unsigned p = 0; p < ing->nparts; p++)
            add_to_partition(j, p, i, VG_SEGLOG_TYPE_LABEL, ts);
    }
}

static void send_job(vg_ingest_t *ing, struct job *j)
{
    j->outstanding = 1; /* held while sending, so no reply can finish the job early */
    for (unsigned p = 0; p < ing->nparts; p++) {
        struct part_job *pj = &j->pj[p];
        if (!pj->n)
            continue;
        pj->job = j;
        pj->msg.items = pj->items;
        pj->msg.n = pj->n;
        int rc = vg_actor_request(&ing->actor, vg_partition_actor(ing->parts[p]), &pj->msg.hdr,
                                  on_appended, pj);
        if (rc == 0) {
            j->outstanding++;
            continue;
        }
        for (size_t k = 0; k < pj->n; k++)
            j->e[pj->elem[k]].fail = rc == VG_EMAILBOX_FULL ? "overloaded" : "unavailable";
    }
    if (--j->outstanding == 0)
        finish(j);
}

static bool json_body(vg_http_req_t *req)
{
    if (vg_http_is_json(vg_http_req_header(req, "content-type")))
        return true;
    vg_http_respond_error(req, 415, "unsupported_media_type",
                          "send the body as Content-Type: application/json", NULL);
    return false;
}

static size_t align_up(size_t n, size_t a)
{
    return (n + a - 1) / a * a;
}

static struct job *new_job(vg_ingest_t *ing, vg_http_req_t *req, enum job_kind kind, size_t n)
{
    size_t e_at = align_up(sizeof(struct job), _Alignof(struct elem));
    size_t pj_at = align_up(e_at + n * sizeof(struct elem), _Alignof(struct part_job));
    struct job *j = vg_xcalloc(1, pj_at + ing->nparts * sizeof(struct part_job));
    j->kind = kind;
    j->req = req;
    j->n = n;
    j->e = (struct elem *)((char *)j + e_at);
    j->pj = (struct part_job *)((char *)j + pj_at);
    vg_arena_init(&j->arena, JOB_ARENA_BLOCK);
    return j;
}

/* /v1/score's ?features= into *features: true or false, or absent (false). Anything else is
 * answered 400 here, before the transaction is logged (the answer is made only after), and
 * false is returned. */
static bool features_query(vg_http_req_t *req, bool *features)
{
    char q[8];
    const char *v = vg_http_req_query(req, "features", q, sizeof(q));
    *features = v && strcmp(v, "true") == 0;
    if (!v || *features || strcmp(v, "false") == 0)
        return true;
    vg_http_respond_error(req, 400, "invalid_query", "features must be true or false", "features");
    return false;
}

static void handle_tx(vg_http_req_t *req, vg_ingest_t *ing, enum job_kind kind)
{
    bool features = false;
    if (!json_body(req) || (kind == JOB_SCORE && !features_query(req, &features)))
        return;
    vg_bytes_t body = vg_http_req_body(req);
    vg_tx_limits_t lim = ing->limits;
    lim.now_ms = vg_clock_wall_ms();
    if (kind == JOB_SCORE)
        lim.max_batch = 1;
    vg_tx_error_t err;
    vg_tx_item_t *items = NULL;
    size_t n = 0;
    if (vg_tx_parse_json((const char *)body.ptr, body.len, &lim, &items, &n, &err) != 0) {
        if (kind == JOB_SCORE && strcmp(err.code, "batch_too_large") == 0)
            snprintf(err.message, sizeof(err.message),
                     "POST /v1/score takes one transaction "
                     "object; send batches to /v1/transactions");
        vg_http_respond_error(req, 400, err.code, err.message, err.field[0] ? err.field : NULL);
        return;
    }
    struct job *j = new_job(ing, req, kind, n);
    j->txs = items;
    j->features = features;
    plan_transactions(ing, j);
    send_job(ing, j);
}

static void handle_transactions(vg_http_req_t *req, void *ctx)
{
    handle_tx(req, ctx, JOB_TRANSACTIONS);
}

static void handle_score(vg_http_req_t *req, void *ctx)
{
    handle_tx(req, ctx, JOB_SCORE);
}

static void handle_labels(vg_http_req_t *req, void *ctx)
{
    vg_ingest_t *ing = ctx;
    if (!json_body(req))
        return;
    vg_bytes_t body = vg_http_req_body(req);
    vg_tx_limits_t lim = ing->limits;
    lim.now_ms = vg_clock_wall_ms();
    vg_tx_error_t err;
    vg_label_item_t *items = NULL;
    size_t n = 0;
    if (vg_label_parse_json((const char *)body.ptr, body.len, &lim, &items, &n, &err) != 0) {
        vg_http_respond_error(req, 400, err.code, err.message, err.field[0] ? err.field : NULL);
        return;
    }
    struct job *j = new_job(ing, req, JOB_LABELS, n);
    j->labels = items;
    plan_labels(ing, j);
    send_job(ing, j);
}

/* ---- reads ---- */

#define TEXT_OF_(x) #x
#define TEXT_OF(x)  TEXT_OF_(x)
#define ID_MAX_TEXT TEXT_OF(VG_TX_MAX_ID)

/* The id a GET names into buf (VG_TX_MAX_ID + 1 bytes): after `prefix` (which ends in '/') in
 * the path, or, on the path without that '/', in `?id=`. libwebsockets has already decoded the
 * %-escapes of both (and answers a malformed one with 403 itself), so a '/' in an id, %2F
 * included, cannot be told from a further segment of the path; in ?id= it can, as can any
 * other byte. On a request without a usable id, answers 400 invalid_id saying why, and
 * returns false. */
static bool request_id(vg_http_req_t *req, const char *prefix, const char *what, char *buf)
{
    const char *path = vg_http_req_path(req);
    bool by_query = strlen(path) < strlen(prefix); /* the route without the '/' */
    char q[VG_TX_MAX_ID + 2];
    const char *s = by_query ? vg_http_req_query(req, "id", q, sizeof(q)) : path + strlen(prefix);
    size_t n = s ? strlen(s) : 0;
    const char *why = NULL;
    if (n == 0)
        why = "is missing";
    else if (!by_query && memchr(s, '/', n))
        why = "holds a '/' (read such an id with ?id=, %2F-escaped)";
    else if (n > VG_TX_MAX_ID)
        why = "is longer than " ID_MAX_TEXT " bytes";
    if (why) {
        char msg[128];
        snprintf(msg, sizeof(msg), "the %s id %s %s", what, by_query ? "in ?id=" : "in the path",
                 why);
        vg_http_respond_error(req, 400, "invalid_id", msg, by_query ? "id" : NULL);
        return false;
    }
    memcpy(buf, s, n + 1);
    return true;
}

static json_t *json_of_text(char *text)
{
    json_t *v = json_loads(text, 0, NULL);
    free(text);
    return v ? v : json_null();
}

static json_t *time_json(int64_t ms)
{
    char buf[40];
    return json_string(vg_time_format(ms, buf, sizeof(buf)));
}

static json_t *label_json(const vg_txindex_t *x)
{
    if (!x->label)
        return json_null();
    return json_pack("{s:b, s:o}", "is_fraud", x->label == 2, "reported_at",
                     time_json(x->label_reported_ms));
}

/* GET /v1/transactions/{id}: the transaction, its decision and its label. */
static void handle_get_tx(vg_http_req_t *req, void *ctx)
{
    vg_ingest_t *ing = ctx;
    char id[VG_TX_MAX_ID + 1];
    if (!request_id(req, "/v1/transactions/", "transaction", id))
        return;
    vg_txindex_t x;
    unsigned p = vg_route_find_tx(ing->parts, ing->nparts, id, &x);
    if (p == ing->nparts) {
        vg_http_respond_error(req, 404, "not_found", "no transaction with this id", NULL);
        return;
    }
    ProtobufCMessage *m = NULL;
    json_t *tx = json_null();
    if (vg_log_read_message(vg_partition_log(ing->parts[p]), x.tx_offset,
                            VG_SEGLOG_TYPE_TRANSACTION, &m) == 0) {
        tx = json_of_text(vg_tx_to_json((Vigil__Transaction *)m));
        protobuf_c_message_free_unpacked(m, NULL);
    }
    json_t *dec = json_null();
    if (x.decision_offset != VG_NO_OFFSET &&
        vg_log_read_message(vg_partition_decisions(ing->parts[p]), x.decision_offset,
                            VG_SEGLOG_TYPE_DECISION, &m) == 0) {
        dec = json_of_text(vg_decision_to_json((Vigil__Decision *)m, true));
        protobuf_c_message_free_unpacked(m, NULL);
    }
    respond_json(req, 200,
                 json_pack("{s:s, s:I, s:I, s:o, s:o, s:o}", "transaction_id", id, "partition",
                           (json_int_t)p, "offset", (json_int_t)x.tx_offset, "transaction", tx,
                           "decision", dec, "label", label_json(&x)));
}

static json_t *num_or_null(float v)
{
    return isnan(v) ? json_null() : json_real(v);
}

/* GET /v1/accounts/{id}: the profile and the window features as of its latest event. */
static void handle_get_account(vg_http_req_t *req, void *ctx)
{
    vg_ingest_t *ing = ctx;
    char id[VG_TX_MAX_ID + 1];
    if (!request_id(req, "/v1/accounts/", "account", id))
        return;
    unsigned p = vg_route_account(ing->nparts, id);
    vg_state_t *st = vg_partition_state(ing->parts[p]);
    uint8_t buf[VG_PROFILE_BYTES];
    size_t len = 0;
    int rc = st ? vg_state_get(st, VG_STATE_ACCOUNTS, id, strlen(id), buf, sizeof(buf), &len)
                : VG_EREADONLY;
    vg_account_profile_t prof;
    if (rc == 0)
        rc = vg_profile_decode(buf, len, &prof);
    if (rc == VG_ENOTFOUND) {
        vg_http_respond_error(req, 404, "not_found", "no transaction seen for this account", NULL);
        return;
    }
    if (rc != 0) {
        vg_http_respond_error(req, 503, "unavailable", vg_strerror(rc), NULL);
        return;
    }
    /* The windows as a transaction at the account's latest event time would see them. */
    Vigil__Transaction probe = VIGIL__TRANSACTION__INIT;
    probe.timestamp_ms = prof.last_ts_ms;
    float f[VG_FEATURE_COUNT];
    vg_features_compute(&probe, 0.0, &prof, f);
    static const int shown[] = {
        VG_FEATURE_tx_count_1h,     VG_FEATURE_tx_count_1d,    VG_FEATURE_tx_count_7d,
        VG_FEATURE_tx_count_30d,    VG_FEATURE_amount_sum_1d,  VG_FEATURE_amount_sum_7d,
        VG_FEATURE_amount_sum_30d,  VG_FEATURE_mean_amount_1d, VG_FEATURE_mean_amount_7d,
        VG_FEATURE_mean_amount_30d,
    };
    json_t *feats = json_object();
    for (size_t i = 0; i < VG_ARRAY_LEN(shown); i++)
        json_object_set_new(feats, vg_feature_name((size_t)shown[i]), num_or_null(f[shown[i]]));
    json_t *labels = json_pack("{s:I, s:I, s:o}", "fraud", (json_int_t)prof.fraud_labels, "genuine",
                               (json_int_t)prof.genuine_labels, "last_fraud_reported_at",
                               prof.last_fraud_ms ? time_json(prof.last_fraud_ms) : json_null());
    respond_json(req, 200,
                 json_pack("{s:s, s:I, s:I, s:I, s:o, s:o, s:o}", "account_id", id, "partition",
                           (json_int_t)p, "transactions", (json_int_t)prof.n, "late_transactions",
                           (json_int_t)prof.late, "last_transaction_at",
                           prof.n ? time_json(prof.last_ts_ms) : json_null(), "features", feats,
                           "labels", labels));
}

/* GET /v1/merchants/{id}: the merchant's profile and features as of the end of its newest
 * day (what a transaction late that day would see), from its owner partition. */
static void handle_get_merchant(vg_http_req_t *req, void *ctx)
{
    vg_ingest_t *ing = ctx;
    char id[VG_TX_MAX_ID + 1];
    if (!request_id(req, "/v1/merchants/", "merchant", id))
        return;
    unsigned p = vg_merchant_owner(id, ing->nparts);
    vg_state_reader_t r = {.st = vg_partition_state(ing->parts[p])};
    vg_merchant_profile_t m;
    int rc = r.st ? vg_merchant_get(&r, id, &m) : VG_EREADONLY;
    vg_state_reader_end(&r);
    if (rc == VG_ENOTFOUND) {
        vg_http_respond_error(req, 404, "not_found", "no transaction seen for this merchant", NULL);
        return;
    }
    if (rc != 0) {
        vg_http_respond_error(req, 503, "unavailable", vg_strerror(rc), NULL);
        return;
    }
    float f[VG_FEATURE_COUNT];
    vg_merchant_features(&m, (m.newest_day + 1) * 86400000LL - 1, f);
    json_t *feats = json_object();
    for (size_t i = VG_FEATURE_merchant_tx_count_1d; i <= VG_FEATURE_merchant_risk_30d; i++)
        json_object_set_new(feats, vg_feature_name(i), num_or_null(f[i]));
    respond_json(req, 200,
                 json_pack("{s:s, s:I, s:I, s:I, s:o}", "merchant_id", id, "partition",
                           (json_int_t)p, "transactions", (json_int_t)m.n, "fraud_labels",
                           (json_int_t)m.frauds, "features", feats));
}

int vg_ingest_new(vg_loop_t *loop, vg_api_t *api, vg_partition_t **parts, unsigned n,
                  const vg_tx_limits_t *limits, vg_ingest_t **out)
{
    vg_ingest_t *ing = vg_xcalloc(1, sizeof(*ing));
    ing->parts = parts;
    ing->nparts = n;
    ing->limits = *limits;
    vg_actor_init(&ing->actor, loop, &ingest_ops, "ingest-http", 0);
    const struct {
        const char *method;
        const char *path;
        int prefix;
        const char *params;
        void (*fn)(vg_http_req_t *, void *);
    } routes[] = {
        {"POST", "/v1/transactions", 0, NULL, handle_transactions},
        {"POST", "/v1/score", 0, "features", handle_score},
        {"POST", "/v1/labels", 0, NULL, handle_labels},
        {"GET", "/v1/transactions/", 1, NULL, handle_get_tx},
        {"GET", "/v1/accounts/", 1, NULL, handle_get_account},
        {"GET", "/v1/merchants/", 1, NULL, handle_get_merchant},
        {"GET", "/v1/transactions", 0, "id", handle_get_tx}, /* any id: ?id=, %-escaped */
        {"GET", "/v1/accounts", 0, "id", handle_get_account},
        {"GET", "/v1/merchants", 0, "id", handle_get_merchant},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(routes); i++) {
        int rc = vg_api_route(api, routes[i].method, routes[i].path, routes[i].prefix,
                              routes[i].params, routes[i].fn, ing);
        if (rc != 0) {
            vg_actor_stop(&ing->actor);
            return rc;
        }
    }
    *out = ing;
    return 0;
}

void vg_ingest_stop(vg_ingest_t *ing)
{
    vg_actor_stop(&ing->actor);
}
