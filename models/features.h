/* SPDX-License-Identifier: MIT */
/*
 * THE feature table, and the per-account profile it is computed from: one definition for
 * serving, replay and training, so there is no train/serve skew. Plain functions over a
 * decoded transaction and the profile as it was BEFORE that transaction; then the profile is
 * updated with it, in O(1) (daily buckets, a small ring of recent events, small sets of
 * recently seen merchants, devices and countries). Event time only, never the wall clock.
 *
 * Windows (UTC days): "N days" means the transaction's own day and the N-1 days before it,
 * counting the account's earlier transactions only (so tx_count_1d at 10:00 counts that
 * day's transactions before it). "1 hour" is exact: events in (t - 1 h, t], from the ring of
 * the last 8 events (a burst of more than 8 in an hour reads as 8). Out-of-order events
 * update the day they belong to if it is still in the 32 kept days, else they are counted in
 * `late` only. Missing values are NaN (XGBoost treats NaN as missing).
 *
 * Merchant features, as the Fraud Detection Handbook's terminal features: the merchant's
 * transaction count over 1/7/30 days, and its "risk", the share of those transactions
 * labelled fraud, over 1/7/30-day windows that end VG_MERCHANT_DELAY_DAYS before the
 * transaction (labels arrive late; a window that recent would look clean). They come from a
 * vg_merchant_profile_t (daily buckets) through vg_merchant_features. Not in the table:
 * features from the account's label history (kept in the profile, below, but not scored).
 * Thread: any (no shared state).
 */
#ifndef VG_MODELS_FEATURES_H
#define VG_MODELS_FEATURES_H

#include "runtime/compiler.h"

#include "storage/vigil.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VG_PROFILE_DAYS   32
#define VG_PROFILE_RECENT 8
#define VG_PROFILE_SEEN   8
#define VG_PROFILE_BYTES  480 /* encoded size, fixed; <= 512 bytes per account at rest */

typedef struct vg_account_profile {
    uint32_t n;         /* transactions seen */
    uint32_t late;      /* older than the kept days: counted nowhere else */
    int64_t last_ts_ms; /* the latest event time seen */
    double last_lat;
    double last_lon;
    bool has_loc;
    double mean_log; /* Welford over log1p(amount) */
    double m2_log;
    int64_t newest_day;                  /* day number (ms / 86400000) of day_count[0] */
    uint16_t day_count[VG_PROFILE_DAYS]; /* [0] = newest_day, [i] = newest_day - i */
    float day_sum[VG_PROFILE_DAYS];
    int64_t recent_ts[VG_PROFILE_RECENT]; /* ring of the latest events */
    float recent_amt[VG_PROFILE_RECENT];
    uint8_t recent_len;
    uint8_t recent_head;
    uint32_t seen_merchant[VG_PROFILE_SEEN]; /* rings of hashes; 0 = empty */
    uint32_t seen_device[VG_PROFILE_SEEN];
    uint32_t seen_country[VG_PROFILE_SEEN];
    uint8_t seen_pos[3];
    uint32_t fraud_labels; /* labels received for the account's transactions, by kind */
    uint32_t genuine_labels;
    int64_t last_fraud_ms; /* reported_at of the latest fraud label; 0 = none */
    int64_t last_loc_ms;   /* the time of last_lat/last_lon; 0: written before 2026-12-03, when
                            * speed_kmh took last_ts_ms (see vg_features_compute) */
} vg_account_profile_t;

/* X(name, description) in column order. */
#define VG_FEATURES(X)                                                                             \
    X(amount, "amount in major units")                                                             \
    X(log_amount, "log1p(amount)")                                                                 \
    X(hour_of_day, "UTC hour of the event, 0..23")                                                 \
    X(day_of_week, "0 = Monday .. 6 = Sunday")                                                     \
    X(is_weekend, "1 on Saturday and Sunday")                                                      \
    X(is_night, "1 from 00:00 to 05:59 UTC")                                                       \
    X(seconds_since_last, "since the account's previous transaction; NaN for the first")           \
    X(tx_count_1h, "account transactions in the hour before (exact up to 8)")                      \
    X(tx_count_1d, "account transactions earlier the same day")                                    \
    X(tx_count_7d, "account transactions in the 7-day window")                                     \
    X(tx_count_30d, "account transactions in the 30-day window")                                   \
    X(amount_sum_1d, "sum of those amounts, 1 day")                                                \
    X(amount_sum_7d, "sum of those amounts, 7 days")                                               \
    X(amount_sum_30d, "sum of those amounts, 30 days")                                             \
    X(mean_amount_1d, "mean amount in the 1-day window; NaN when empty")                           \
    X(mean_amount_7d, "mean amount in the 7-day window; NaN when empty")                           \
    X(mean_amount_30d, "mean amount in the 30-day window; NaN when empty")                         \
    X(amount_zscore, "(log_amount - mean) / stddev over the account's history; NaN under 2")       \
    X(is_new_merchant, "merchant not among the account's last 8 distinct merchants")               \
    X(is_new_device, "device not among the last 8 distinct devices; NaN when no device")           \
    X(is_new_country, "country not among the last 8 distinct countries; NaN when none")            \
    X(distance_km, "great-circle distance from the previous located transaction")                  \
    X(speed_kmh, "distance / time since that transaction; NaN when no time passed")                \
    X(channel, "the channel enum (0 unspecified .. 5 mobile)")                                     \
    X(mcc_group, "MCC group: 0 other, 1 travel, 2 gambling, 3 digital, 4 cash, 5 retail")          \
    X(merchant_tx_count_1d, "merchant's transactions that day before this one; NaN: no merchant")  \
    X(merchant_tx_count_7d, "merchant's transactions in the 7-day window")                         \
    X(merchant_tx_count_30d, "merchant's transactions in the 30-day window")                       \
    X(merchant_risk_1d, "fraud share of the merchant's transactions 7 days back (1-day window)")   \
    X(merchant_risk_7d, "same over the 7 days ending 7 days back; NaN when none")                  \
    X(merchant_risk_30d, "same over the 30 days ending 7 days back; NaN when none")

#define VG_FEATURE_ENUM(name, doc) VG_FEATURE_##name,
enum vg_feature { VG_FEATURES(VG_FEATURE_ENUM) VG_FEATURE_COUNT };
#undef VG_FEATURE_ENUM

#define VG_MERCHANT_DAYS       40 /* 30-day window + 7-day delay + margin */
#define VG_MERCHANT_DELAY_DAYS 7
#define VG_MERCHANT_BYTES      264

typedef struct vg_merchant_profile {
    int64_t newest_day;            /* day number of tx[0] */
    uint32_t n;                    /* transactions seen */
    uint32_t frauds;               /* fraud labels net of relabels */
    uint32_t late;                 /* older than the kept days */
    uint32_t tx[VG_MERCHANT_DAYS]; /* [i] = newest_day - i */
    uint16_t fraud[VG_MERCHANT_DAYS];
} vg_merchant_profile_t;

void vg_merchant_init(vg_merchant_profile_t *m);

/* Counts `tx_delta` transactions and `fraud_delta` fraud labels (+1, or -1 for a relabel) on
 * the day of ts_ms. */
void vg_merchant_add(vg_merchant_profile_t *m, int64_t ts_ms, int tx_delta, int fraud_delta);

/* Fills the merchant columns of out[VG_FEATURE_COUNT] for a transaction at ts_ms from the
 * merchant's profile before it; m == NULL (no merchant id) gives NaN. A merchant not seen yet
 * is an empty profile, not NULL. */
void vg_merchant_features(const vg_merchant_profile_t *m, int64_t ts_ms, float *out);

void vg_merchant_encode(const vg_merchant_profile_t *m, uint8_t *out);
VG_MUST_CHECK int vg_merchant_decode(const uint8_t *in, size_t len, vg_merchant_profile_t *m);

/* vg_merchant_features of an encoded profile, without decoding it: the same values. 0, or
 * VG_ECORRUPT for a blob of the wrong size or version. */
VG_MUST_CHECK int vg_merchant_features_encoded(const uint8_t *in, size_t len, int64_t ts_ms,
                                               float *out);

/* vg_merchant_add on an encoded profile (enc[VG_MERCHANT_BYTES]), in place, for the common
 * case: a profile that has counts, and a day that is not newer than its newest. Gives the
 * bytes vg_merchant_decode + vg_merchant_add + vg_merchant_encode give, and true; false (enc
 * untouched) when the days must move or the blob is not of this version: decode then. */
bool vg_merchant_add_encoded(uint8_t *enc, int64_t ts_ms, int tx_delta, int fraud_delta);

const char *vg_feature_name(size_t i);
/* The column of `name`, or -1. */
int vg_feature_index(const char *name);

/* A new, empty profile. */
void vg_profile_init(vg_account_profile_t *p);

/* Computes every account feature of `tx` from the profile before it. out[VG_FEATURE_COUNT];
 * the merchant columns are set to NaN (vg_merchant_features fills them). */
void vg_features_compute(const Vigil__Transaction *tx, double amount_major,
                         const vg_account_profile_t *before, float *out);

/* Adds `tx` to the profile. */
void vg_profile_update(vg_account_profile_t *p, const Vigil__Transaction *tx, double amount_major);

/* Records a label on one of the account's transactions (fraud history; not a feature yet:
 * training would have to apply labels in the same order as the log). */
void vg_profile_label(vg_account_profile_t *p, bool is_fraud, int64_t reported_ms);

/* Fixed-size little-endian encoding with a version byte. out[VG_PROFILE_BYTES]. */
void vg_profile_encode(const vg_account_profile_t *p, uint8_t *out);
/* 0, or VG_ECORRUPT for a blob of the wrong size or version. */
VG_MUST_CHECK int vg_profile_decode(const uint8_t *in, size_t len, vg_account_profile_t *p);
/* The transaction count and the newest event time alone (what the idle-account sweep reads
 * of thousands of profiles a second, a twentieth of a decode). 0, or VG_ECORRUPT as
 * vg_profile_decode; the rest of the blob is not checked. */
VG_MUST_CHECK int vg_profile_peek_last(const uint8_t *in, size_t len, uint32_t *n,
                                       int64_t *last_ts_ms);

#endif
