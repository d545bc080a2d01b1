/* SPDX-License-Identifier: MIT */
/*
 * The synthetic transaction generator behind `vigil gen`: a population of accounts and
 * merchants in real cities, genuine spending with daily and weekly rhythm, and labelled fraud
 * scenarios, emitted in event-time order together with the late labels (chargebacks) that
 * reveal the fraud days later. Deterministic for a seed, so tests and benchmarks repeat.
 *
 * Scenarios (vg_gen_event_t.scenario):
 *   1 card testing       a burst of tiny e-commerce payments at digital merchants, then large
 *   2 account takeover   a new device in a foreign country, new merchants, 3-8x amounts
 *   3 burst spending     10-25 payments of ordinary size within about an hour
 *   4 impossible travel  a card-present payment thousands of km away minutes after a genuine
 *   5 compromised merchant  for 14 days a third of a merchant's card-present payments are
 *                        fraud (skimming; as in the Fraud Detection Handbook)
 *   6 mule account       many rapid transfers of large round amounts to new payees
 * Labels: every fraud transaction gets a label 1-14 days later (source "chargeback").
 *
 * Thread: one generator per thread.
 */
#ifndef VG_MODELS_GEN_H
#define VG_MODELS_GEN_H

#include "runtime/compiler.h"

#include "storage/vigil.pb-c.h"

#include <stdbool.h>
#include <stdint.h>

enum vg_gen_scenario {
    VG_GEN_GENUINE = 0,
    VG_GEN_CARD_TESTING = 1,
    VG_GEN_ACCOUNT_TAKEOVER = 2,
    VG_GEN_BURST = 3,
    VG_GEN_IMPOSSIBLE_TRAVEL = 4,
    VG_GEN_COMPROMISED_MERCHANT = 5,
    VG_GEN_MULE = 6,
    VG_GEN_NSCENARIOS = 7,
};

typedef struct vg_gen_opts {
    uint64_t seed;
    uint32_t accounts;  /* 0 = 1000 */
    uint32_t merchants; /* 0 = 500 */
    uint32_t days;      /* 0 = 30 */
    int64_t start_ms;   /* 0 = 2026-01-01T00:00:00Z */
    double tx_per_day;  /* mean genuine transactions per account per day; 0 = 2 */
    double fraud_scale; /* multiplies every scenario's rate; 0 = 1 (about 1% fraud) */
} vg_gen_opts_t;

enum vg_gen_kind { VG_GEN_TX = 1, VG_GEN_LABEL = 2 };

typedef struct vg_gen_event {
    enum vg_gen_kind kind;
    Vigil__Transaction tx; /* when kind == VG_GEN_TX; strings owned by the generator */
    Vigil__Label label;    /* when kind == VG_GEN_LABEL */
    bool is_fraud;         /* ground truth of tx */
    enum vg_gen_scenario scenario;
} vg_gen_event_t;

typedef struct vg_gen vg_gen_t;

/* OUT: *out. 0, or VG_EINVAL for absurd options. */
VG_MUST_CHECK int vg_gen_new(const vg_gen_opts_t *opts, vg_gen_t **out);

/* The next event in event-time order (labels ordered by reported_at). Its strings stay valid
 * until the next call. 0, or VG_ENOTFOUND when the generated period is over. */
VG_MUST_CHECK int vg_gen_next(vg_gen_t *gen, vg_gen_event_t *ev);

/* Counters so far: transactions, frauds per scenario. */
typedef struct vg_gen_stats {
    uint64_t transactions;
    uint64_t labels;
    uint64_t frauds[VG_GEN_NSCENARIOS];
} vg_gen_stats_t;

void vg_gen_stats(const vg_gen_t *gen, vg_gen_stats_t *out);

void vg_gen_free(vg_gen_t *gen);

#endif
