/* SPDX-License-Identifier: MIT */
/*
 * The feature table and account profile; see features.h. Thread: any.
 */
#include "models/features.h"
#include "runtime/bytes.h"
#include "runtime/error.h"
#include "runtime/hash.h"
#include "runtime/logging.h"

#include <math.h>
#include <string.h>

#define DAY_MS      86400000ll
#define HOUR_MS     3600000ll
#define EARTH_KM    6371.0088
#define PROFILE_VER 1

#define VG_FEATURE_NAME(name, doc) #name,
static const char *const names[VG_FEATURE_COUNT] = {VG_FEATURES(VG_FEATURE_NAME)};
#undef VG_FEATURE_NAME

const char *vg_feature_name(size_t i)
{
    return i < VG_FEATURE_COUNT ? names[i] : NULL;
}

int vg_feature_index(const char *name)
{
    for (size_t i = 0; i < VG_FEATURE_COUNT; i++) {
        if (strcmp(names[i], name) == 0)
            return (int)i;
    }
    return -1;
}

void vg_profile_init(vg_account_profile_t *p)
{
    memset(p, 0, sizeof(*p));
}

static int64_t day_of(int64_t ms)
{
    return ms >= 0 ? ms / DAY_MS : -((-ms + DAY_MS - 1) / DAY_MS);
}

static uint32_t hash32(const char *s)
{
    if (!s || !*s)
        return 0;
    uint32_t h = (uint32_t)vg_hash64(s, strlen(s));
    return h ? h : 1;
}

static bool seen(const uint32_t *set, uint32_t h)
{
    for (int i = 0; i < VG_PROFILE_SEEN; i++) {
        if (set[i] == h)
            return true;
    }
    return false;
}

static double haversine_km(double lat1, double lon1, double lat2, double lon2)
{
    double r = 3.14159265358979323846 / 180.0;
    double dlat = (lat2 - lat1) * r;
    double dlon = (lon2 - lon1) * r;
    double a = sin(dlat / 2) * sin(dlat / 2) +
               cos(lat1 * r) * cos(lat2 * r) * sin(dlon / 2) * sin(dlon / 2);
    return 2 * EARTH_KM * asin(sqrt(a < 1 ? a : 1));
}

static int mcc_group(uint32_t mcc)
{
    if ((mcc >= 3000 && mcc <= 3999) || mcc == 4511 || mcc == 4722 || mcc == 7011)
        return 1; /* airlines, travel, hotels */
    if (mcc == 7995 || mcc == 7800 || mcc == 7801 || mcc == 7802)
        return 2; /* gambling */
    if (mcc >= 5815 && mcc <= 5818)
        return 3; /* digital goods */
    if (mcc == 6010 || mcc == 6011 || mcc == 6051 || mcc == 4829)
        return 4; /* cash, quasi-cash, transfers */
    if (mcc >= 5000 && mcc <= 5999)
        return 5; /* retail */
    return 0;
}

/* Count and sum over the window of `days` days ending on day `d`: the kept days
 * newest_day - i for i in [lo, hi), added in order of i. */
static void window(const vg_account_profile_t *p, int64_t d, int days, double *count, double *sum)
{
    int64_t lo = p->newest_day - d; /* day d */
    int64_t hi = lo + days;         /* one past day d - days + 1 */
    lo = lo < 0 ? 0 : lo;
    hi = hi > VG_PROFILE_DAYS ? VG_PROFILE_DAYS : hi;
    *count = 0;
    *sum = 0;
    for (int64_t i = lo; i < hi; i++) {
        *count += p->day_count[i];
        *sum += p->day_sum[i];
    }
}

void vg_features_compute(const Vigil__Transaction *tx, double amount, const vg_account_profile_t *p,
                         float *out)
{
    int64_t t = tx->timestamp_ms;
    int64_t d = day_of(t);
    int64_t in_day = t - d * DAY_MS;
    int hour = (int)(in_day / HOUR_MS);
    int dow = (int)(((d % 7) + 7 + 3) % 7); /* 1970-01-01 was a Thursday (3) */
    out[VG_FEATURE_amount] = (float)amount;
    out[VG_FEATURE_log_amount] = (float)log1p(amount);
    out[VG_FEATURE_hour_of_day] = (float)hour;
    out[VG_FEATURE_day_of_week] = (float)dow;
    out[VG_FEATURE_is_weekend] = dow >= 5 ? 1.0f : 0.0f;
    out[VG_FEATURE_is_night] = hour < 6 ? 1.0f : 0.0f;
    /* A late event (older than the account's newest) counts what came before it only: the
     * recent events after it, on its own day, come out of the windows (exact up to 8 of
     * them, as the hour is), and its gap is to the latest recent event before it (NaN when
     * none of the 8 is). Until 2026-12-03 its gap was negative, and its day counted events
     * of later that day. */
    int in_hour = 0;
    int64_t prev_ms = INT64_MIN;
    double after_count = 0;
    double after_sum = 0;
    for (int i = 0; i < p->recent_len; i++) {
        int64_t rt = p->recent_ts[i];
        in_hour += rt <= t && rt > t - HOUR_MS;
        if (rt <= t && rt > prev_ms)
            prev_ms = rt;
        if (rt > t && day_of(rt) == d) {
            after_count++;
            after_sum += p->recent_amt[i];
        }
    }
    if (!p->n)
        out[VG_FEATURE_seconds_since_last] = NAN;
    else if (t >= p->last_ts_ms)
        out[VG_FEATURE_seconds_since_last] = (float)((double)(t - p->last_ts_ms) / 1000.0);
    else
        out[VG_FEATURE_seconds_since_last] =
            prev_ms != INT64_MIN ? (float)((double)(t - prev_ms) / 1000.0) : NAN;
    out[VG_FEATURE_tx_count_1h] = (float)in_hour;
    const int spans[3] = {1, 7, 30};
    for (int k = 0; k < 3; k++) {
        double c = 0;
        double s = 0;
        window(p, d, spans[k], &c, &s);
        if (c > 0) { /* the day is kept: the later events are in it */
            c = c > after_count ? c - after_count : 0;
            s = c > 0 ? s - after_sum : 0;
        }
        out[VG_FEATURE_tx_count_1d + k] = (float)c;
        out[VG_FEATURE_amount_sum_1d + k] = (float)s;
        out[VG_FEATURE_mean_amount_1d + k] = c > 0 ? (float)(s / c) : NAN;
    }
    double var = p->n >= 2 ? p->m2_log / (p->n - 1) : 0;
    out[VG_FEATURE_amount_zscore] =
        p->n >= 2 && var > 0 ? (float)((log1p(amount) - p->mean_log) / sqrt(var)) : NAN;
    uint32_t hm = hash32(tx->merchant_id);
    uint32_t hd = hash32(tx->device_id);
    uint32_t hc = hash32(tx->country);
    out[VG_FEATURE_is_new_merchant] = hm ? (seen(p->seen_merchant, hm) ? 0.0f : 1.0f) : NAN;
    out[VG_FEATURE_is_new_device] = hd ? (seen(p->seen_device, hd) ? 0.0f : 1.0f) : NAN;
    out[VG_FEATURE_is_new_country] = hc ? (seen(p->seen_country, hc) ? 0.0f : 1.0f) : NAN;
    out[VG_FEATURE_distance_km] = NAN;
    out[VG_FEATURE_speed_kmh] = NAN;
    if (tx->has_location && p->has_loc) {
        double km = haversine_km(p->last_lat, p->last_lon, tx->lat, tx->lon);
        out[VG_FEATURE_distance_km] = (float)km;
        /* since the located transaction, not the latest one (which may have had no place):
         * until 2026-12-03 264 km over an hour, with an unlocated payment 10 minutes before,
         * read as 1,583 km/h */
        int64_t since = p->last_loc_ms ? p->last_loc_ms : p->last_ts_ms;
        double hours = (double)(t - since) / (double)HOUR_MS;
        out[VG_FEATURE_speed_kmh] = hours > 0 ? (float)(km / hours) : NAN;
    }
    out[VG_FEATURE_channel] = (float)tx->channel;
    out[VG_FEATURE_mcc_group] = (float)mcc_group(tx->mcc);
    vg_merchant_features(NULL, t, out);
}

/* ---- merchants ---- */

#define MERCHANT_VER 1

void vg_merchant_init(vg_merchant_profile_t *m)
{
    memset(m, 0, sizeof(*m));
}

/* A count moved by delta, never below zero (a relabel of a count already at zero). */
static uint32_t add_floor0(uint32_t v, int delta)
{
    int64_t x = (int64_t)v + delta;
    return (uint32_t)(x < 0 ? 0 : x);
}

/* The same for a 16-bit count, which also stops at its ceiling. */
static uint16_t add_clamp16(uint16_t v, int delta)
{
    int64_t x = (int64_t)v + delta;
    return (uint16_t)(x < 0 ? 0 : x > UINT16_MAX ? UINT16_MAX : x);
}

void vg_merchant_add(vg_merchant_profile_t *m, int64_t ts_ms, int tx_delta, int fraud_delta)
{
    int64_t d = day_of(ts_ms);
    if (m->n == 0 && m->late == 0 && m->frauds == 0) {
        m->newest_day = d;
    } else if (d > m->newest_day) {
        int64_t shift = d - m->newest_day;
        if (shift >= VG_MERCHANT_DAYS) {
            memset(m->tx, 0, sizeof(m->tx));
            memset(m->fraud, 0, sizeof(m->fraud));
        } else {
            memmove(m->tx + shift, m->tx, (size_t)(VG_MERCHANT_DAYS - shift) * sizeof(m->tx[0]));
            memmove(m->fraud + shift, m->fraud,
                    (size_t)(VG_MERCHANT_DAYS - shift) * sizeof(m->fraud[0]));
            memset(m->tx, 0, (size_t)shift * sizeof(m->tx[0]));
            memset(m->fraud, 0, (size_t)shift * sizeof(m->fraud[0]));
        }
        m->newest_day = d;
    }
    m->n += (uint32_t)(tx_delta > 0 ? tx_delta : 0);
    m->frauds = add_floor0(m->frauds, fraud_delta);
    int64_t idx = m->newest_day - d;
    if (idx >= VG_MERCHANT_DAYS) {
        m->late += tx_delta > 0;
        return;
    }
    m->tx[idx] = add_floor0(m->tx[idx], tx_delta);
    m->fraud[idx] = add_clamp16(m->fraud[idx], fraud_delta);
}

/* Running sums of a merchant's kept days: [i] holds days 0..i-1 (newest first), so a window
 * is one subtraction. Integer sums: the same values as adding the days up one by one. */
struct merchant_sums {
    uint64_t tx[VG_MERCHANT_DAYS + 1];
    uint64_t fraud[VG_MERCHANT_DAYS + 1];
};

/* Sums of the days [d - from - span + 1, d - from] that the profile (newest day `newest`)
 * still holds. */
static void merchant_window(int64_t newest, const struct merchant_sums *s, int64_t d, int from,
                            int span, double *tx, double *fraud)
{
    int64_t lo = newest - d + from; /* index of day d - from */
    int64_t hi = lo + span;         /* one past the oldest day of the window */
    lo = lo < 0 ? 0 : lo > VG_MERCHANT_DAYS ? VG_MERCHANT_DAYS : lo;
    hi = hi < 0 ? 0 : hi > VG_MERCHANT_DAYS ? VG_MERCHANT_DAYS : hi;
    *tx = (double)(s->tx[hi] - s->tx[lo]);
    *fraud = (double)(s->fraud[hi] - s->fraud[lo]);
}

/* The merchant columns from a profile's running sums; s == NULL: no merchant (NaN). */
static void merchant_columns_of(int64_t newest, const struct merchant_sums *s, int64_t ts_ms,
                                float *out)
{
    const int spans[3] = {1, 7, 30};
    int64_t d = day_of(ts_ms);
    for (int k = 0; k < 3; k++) {
        out[VG_FEATURE_merchant_tx_count_1d + k] = NAN;
        out[VG_FEATURE_merchant_risk_1d + k] = NAN;
        if (!s)
            continue;
        double tx = 0;
        double fraud = 0;
        merchant_window(newest, s, d, 0, spans[k], &tx, &fraud);
        out[VG_FEATURE_merchant_tx_count_1d + k] = (float)tx;
        merchant_window(newest, s, d, VG_MERCHANT_DELAY_DAYS, spans[k], &tx, &fraud);
        out[VG_FEATURE_merchant_risk_1d + k] = tx > 0 ? (float)(fraud / tx) : NAN;
    }
}

void vg_merchant_features(const vg_merchant_profile_t *m, int64_t ts_ms, float *out)
{
    if (!m) {
        merchant_columns_of(0, NULL, ts_ms, out);
        return;
    }
    struct merchant_sums s;
    s.tx[0] = s.fraud[0] = 0;
    for (int i = 0; i < VG_MERCHANT_DAYS; i++) {
        s.tx[i + 1] = s.tx[i] + m->tx[i];
        s.fraud[i + 1] = s.fraud[i] + m->fraud[i];
    }
    merchant_columns_of(m->newest_day, &s, ts_ms, out);
}

static void remember(uint32_t *set, uint8_t *pos, uint32_t h)
{
    if (!h || seen(set, h))
        return;
    set[*pos] = h;
    *pos = (uint8_t)((*pos + 1) % VG_PROFILE_SEEN);
}

void vg_profile_update(vg_account_profile_t *p, const Vigil__Transaction *tx, double amount)
{
    int64_t t = tx->timestamp_ms;
    int64_t d = day_of(t);
    if (p->n == 0 && p->late == 0) {
        p->newest_day = d;
    } else if (d > p->newest_day) {
        /* Shift the buckets to make `d` the newest day. */
        int64_t shift = d - p->newest_day;
        if (shift >= VG_PROFILE_DAYS) {
            memset(p->day_count, 0, sizeof(p->day_count));
            memset(p->day_sum, 0, sizeof(p->day_sum));
        } else {
            memmove(p->day_count + shift, p->day_count,
                    (size_t)(VG_PROFILE_DAYS - shift) * sizeof(p->day_count[0]));
            memmove(p->day_sum + shift, p->day_sum,
                    (size_t)(VG_PROFILE_DAYS - shift) * sizeof(p->day_sum[0]));
            memset(p->day_count, 0, (size_t)shift * sizeof(p->day_count[0]));
            memset(p->day_sum, 0, (size_t)shift * sizeof(p->day_sum[0]));
        }
        p->newest_day = d;
    }
    int64_t idx = p->newest_day - d;
    if (idx >= VG_PROFILE_DAYS) {
        p->late++;
        return;
    }
    if (p->day_count[idx] < UINT16_MAX)
        p->day_count[idx]++;
    p->day_sum[idx] += (float)amount;
    p->recent_ts[p->recent_head] = t;
    p->recent_amt[p->recent_head] = (float)amount;
    p->recent_head = (uint8_t)((p->recent_head + 1) % VG_PROFILE_RECENT);
    if (p->recent_len < VG_PROFILE_RECENT)
        p->recent_len++;
    p->n++;
    double x = log1p(amount);
    double delta = x - p->mean_log;
    p->mean_log += delta / p->n;
    p->m2_log += delta * (x - p->mean_log);
    if (t >= p->last_ts_ms || p->n == 1) {
        p->last_ts_ms = t;
        if (tx->has_location) {
            p->last_loc_ms = t;
            p->last_lat = tx->lat;
            p->last_lon = tx->lon;
            p->has_loc = true;
        }
    }
    remember(p->seen_merchant, &p->seen_pos[0], hash32(tx->merchant_id));
    remember(p->seen_device, &p->seen_pos[1], hash32(tx->device_id));
    remember(p->seen_country, &p->seen_pos[2], hash32(tx->country));
}

/* ---- encoding ---- */

struct writer {
    uint8_t *p;
};

static void w64(struct writer *w, uint64_t v)
{
    vg_put_le64(w->p, v);
    w->p += 8;
}

static void w16(struct writer *w, uint16_t v)
{
    vg_put_le16(w->p, v);
    w->p += 2;
}

static void w32(struct writer *w, uint32_t v)
{
    vg_put_le32(w->p, v);
    w->p += 4;
}

static void wdbl(struct writer *w, double d)
{
    uint64_t v;
    memcpy(&v, &d, 8);
    w64(w, v);
}

static void wflt(struct writer *w, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    w32(w, v);
}

static uint64_t r64(const uint8_t **p)
{
    uint64_t v = vg_get_le64(*p);
    *p += 8;
    return v;
}

static uint32_t r32(const uint8_t **p)
{
    uint32_t v = vg_get_le32(*p);
    *p += 4;
    return v;
}

static double rdbl(const uint8_t **p)
{
    uint64_t v = r64(p);
    double d;
    memcpy(&d, &v, 8);
    return d;
}

static float rflt(const uint8_t **p)
{
    uint32_t v = r32(p);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

void vg_profile_label(vg_account_profile_t *p, bool is_fraud, int64_t reported_ms)
{
    if (!is_fraud) {
        p->genuine_labels++;
        return;
    }
    p->fraud_labels++;
    if (reported_ms > p->last_fraud_ms)
        p->last_fraud_ms = reported_ms;
}

void vg_profile_encode(const vg_account_profile_t *p, uint8_t *out)
{
    memset(out, 0, VG_PROFILE_BYTES);
    struct writer w = {out};
    *w.p++ = PROFILE_VER;
    w32(&w, p->n);
    w32(&w, p->late);
    w64(&w, (uint64_t)p->last_ts_ms);
    wdbl(&w, p->last_lat);
    wdbl(&w, p->last_lon);
    *w.p++ = p->has_loc;
    wdbl(&w, p->mean_log);
    wdbl(&w, p->m2_log);
    w64(&w, (uint64_t)p->newest_day);
    for (int i = 0; i < VG_PROFILE_DAYS; i++) {
        w16(&w, p->day_count[i]);
        wflt(&w, p->day_sum[i]);
    }
    for (int i = 0; i < VG_PROFILE_RECENT; i++) {
        w64(&w, (uint64_t)p->recent_ts[i]);
        wflt(&w, p->recent_amt[i]);
    }
    *w.p++ = p->recent_len;
    *w.p++ = p->recent_head;
    for (int i = 0; i < VG_PROFILE_SEEN; i++) {
        w32(&w, p->seen_merchant[i]);
        w32(&w, p->seen_device[i]);
        w32(&w, p->seen_country[i]);
    }
    for (int i = 0; i < 3; i++)
        *w.p++ = p->seen_pos[i];
    w32(&w, p->fraud_labels);
    w32(&w, p->genuine_labels);
    w64(&w, (uint64_t)p->last_fraud_ms);
    w64(&w, (uint64_t)p->last_loc_ms);       /* in what was zero padding: older profiles read 0 */
    VG_CHECK(w.p - out <= VG_PROFILE_BYTES); /* the layout fits the fixed size */
}

int vg_profile_peek_last(const uint8_t *in, size_t len, uint32_t *n, int64_t *last_ts_ms)
{
    if (len != VG_PROFILE_BYTES || in[0] != PROFILE_VER)
        return VG_ECORRUPT;
    const uint8_t *r = in + 1; /* n, late, last_ts_ms: the order vg_profile_encode writes */
    *n = r32(&r);
    (void)r32(&r);
    *last_ts_ms = (int64_t)r64(&r);
    return 0;
}

int vg_profile_decode(const uint8_t *in, size_t len, vg_account_profile_t *p)
{
    if (len != VG_PROFILE_BYTES || in[0] != PROFILE_VER)
        return VG_ECORRUPT;
    const uint8_t *r = in + 1;
    vg_account_profile_t q;
    memset(&q, 0, sizeof(q));
    q.n = r32(&r);
    q.late = r32(&r);
    q.last_ts_ms = (int64_t)r64(&r);
    q.last_lat = rdbl(&r);
    q.last_lon = rdbl(&r);
    q.has_loc = *r++ != 0;
    q.mean_log = rdbl(&r);
    q.m2_log = rdbl(&r);
    q.newest_day = (int64_t)r64(&r);
    for (int i = 0; i < VG_PROFILE_DAYS; i++) {
        q.day_count[i] = vg_get_le16(r);
        r += 2;
        q.day_sum[i] = rflt(&r);
    }
    for (int i = 0; i < VG_PROFILE_RECENT; i++) {
        q.recent_ts[i] = (int64_t)r64(&r);
        q.recent_amt[i] = rflt(&r);
    }
    q.recent_len = *r++;
    q.recent_head = *r++;
    for (int i = 0; i < VG_PROFILE_SEEN; i++) {
        q.seen_merchant[i] = r32(&r);
        q.seen_device[i] = r32(&r);
        q.seen_country[i] = r32(&r);
    }
    for (int i = 0; i < 3; i++)
        q.seen_pos[i] = *r++;
    q.fraud_labels = r32(&r);
    q.genuine_labels = r32(&r);
    q.last_fraud_ms = (int64_t)r64(&r);
    q.last_loc_ms = (int64_t)r64(&r);
    if (q.recent_len > VG_PROFILE_RECENT || q.recent_head >= VG_PROFILE_RECENT ||
        q.seen_pos[0] >= VG_PROFILE_SEEN || q.seen_pos[1] >= VG_PROFILE_SEEN ||
        q.seen_pos[2] >= VG_PROFILE_SEEN || (size_t)(r - in) > VG_PROFILE_BYTES)
        return VG_ECORRUPT;
    *p = q;
    return 0;
}

void vg_merchant_encode(const vg_merchant_profile_t *m, uint8_t *out)
{
    memset(out, 0, VG_MERCHANT_BYTES);
    struct writer w = {out};
    *w.p++ = MERCHANT_VER;
    w64(&w, (uint64_t)m->newest_day);
    w32(&w, m->n);
    w32(&w, m->frauds);
    w32(&w, m->late);
    for (int i = 0; i < VG_MERCHANT_DAYS; i++) {
        w32(&w, m->tx[i]);
        w16(&w, m->fraud[i]);
    }
    VG_CHECK(w.p - out <= VG_MERCHANT_BYTES);
}

int vg_merchant_decode(const uint8_t *in, size_t len, vg_merchant_profile_t *m)
{
    if (len != VG_MERCHANT_BYTES || in[0] != MERCHANT_VER)
        return VG_ECORRUPT;
    memset(m, 0, sizeof(*m));
    const uint8_t *r = in + 1;
    m->newest_day = (int64_t)r64(&r);
    m->n = r32(&r);
    m->frauds = r32(&r);
    m->late = r32(&r);
    for (int i = 0; i < VG_MERCHANT_DAYS; i++) {
        m->tx[i] = r32(&r);
        m->fraud[i] = vg_get_le16(r);
        r += 2;
    }
    return 0;
}

/* Where vg_merchant_encode puts the fields; the days follow as VG_MERCHANT_DAYS pairs of a
 * u32 transaction count and a u16 fraud count. */
#define MERCHANT_AT_NEWEST 1
#define MERCHANT_AT_N      9
#define MERCHANT_AT_FRAUDS 13
#define MERCHANT_AT_LATE   17
#define MERCHANT_AT_DAYS   21
#define MERCHANT_DAY_BYTES 6

int vg_merchant_features_encoded(const uint8_t *in, size_t len, int64_t ts_ms, float *out)
{
    if (len != VG_MERCHANT_BYTES || in[0] != MERCHANT_VER)
        return VG_ECORRUPT;
    struct merchant_sums s;
    s.tx[0] = s.fraud[0] = 0;
    const uint8_t *day = in + MERCHANT_AT_DAYS;
    for (int i = 0; i < VG_MERCHANT_DAYS; i++, day += MERCHANT_DAY_BYTES) {
        s.tx[i + 1] = s.tx[i] + vg_get_le32(day);
        s.fraud[i + 1] = s.fraud[i] + vg_get_le16(day + 4);
    }
    merchant_columns_of((int64_t)vg_get_le64(in + MERCHANT_AT_NEWEST), &s, ts_ms, out);
    return 0;
}

bool vg_merchant_add_encoded(uint8_t *enc, int64_t ts_ms, int tx_delta, int fraud_delta)
{
    if (enc[0] != MERCHANT_VER)
        return false;
    int64_t newest = (int64_t)vg_get_le64(enc + MERCHANT_AT_NEWEST);
    uint32_t n = vg_get_le32(enc + MERCHANT_AT_N);
    uint32_t frauds = vg_get_le32(enc + MERCHANT_AT_FRAUDS);
    uint32_t late = vg_get_le32(enc + MERCHANT_AT_LATE);
    int64_t d = day_of(ts_ms);
    if ((n == 0 && late == 0 && frauds == 0) || d > newest)
        return false; /* a first count or a new day: vg_merchant_add moves the days */
    n += (uint32_t)(tx_delta > 0 ? tx_delta : 0);
    vg_put_le32(enc + MERCHANT_AT_N, n);
    vg_put_le32(enc + MERCHANT_AT_FRAUDS, add_floor0(frauds, fraud_delta));
    int64_t idx = newest - d;
    if (idx >= VG_MERCHANT_DAYS) {
        vg_put_le32(enc + MERCHANT_AT_LATE, late + (tx_delta > 0));
        return true;
    }
    uint8_t *day = enc + MERCHANT_AT_DAYS + (size_t)idx * MERCHANT_DAY_BYTES;
    vg_put_le32(day, add_floor0(vg_get_le32(day), tx_delta));
    vg_put_le16(day + 4, add_clamp16(vg_get_le16(day + 4), fraud_delta));
    return true;
}
