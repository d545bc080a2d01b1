/* SPDX-License-Identifier: MIT */
/*
 * The HTTP ingest actor: POST /v1/transactions takes one transaction or an array, validates
 * each with the ingest codec, appends the good ones to their partitions (partition =
 * hash(account_id) % P) and answers 202 once every one of them is durable, with its partition
 * and offset; bad elements are reported by index and never reach the log. A partition whose
 * mailbox is full is backpressure: its elements get "overloaded", and a request with nothing
 * accepted for that reason gets 429 with Retry-After.
 *
 * Not yet (issue 4): scoring and POST /v1/score, idempotency on transaction_id, labels,
 * reads. Thread: its loop (the API's).
 */
#ifndef VG_ACTORS_INGEST_H
#define VG_ACTORS_INGEST_H

#include "actors/api.h"
#include "actors/partition.h"
#include "actors/txcodec.h"
#include "runtime/actor.h"

typedef struct vg_ingest vg_ingest_t;

/* Creates the actor on `loop` (the API's) and registers its routes on `api`. `parts` (n of
 * them) must outlive it. Thread: `loop`'s. */
VG_MUST_CHECK int vg_ingest_new(vg_loop_t *loop, vg_api_t *api, vg_partition_t **parts, unsigned n,
                                const vg_tx_limits_t *limits, vg_ingest_t **out);

/* Thread: any. The actor frees itself. */
void vg_ingest_stop(vg_ingest_t *ing);

#endif
