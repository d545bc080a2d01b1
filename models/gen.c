/* SPDX-License-Identifier: MIT */
/*
 * The synthetic generator; see gen.h. Each simulated day is built as compact records in a
 * buffer, sorted by event time, then handed out one by one; fraud labels wait in a min-heap
 * keyed by reported_at and are interleaved as their time comes. Strings are materialised only
 * for the event being returned. The random source is xoshiro256** seeded by splitmix64.
 * Thread: one generator per thread.
 */
#include "models/gen.h"
#include "runtime/alloc.h"
#include "runtime/error.h"
#include "runtime/hash.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS          86400000ll
#define MINUTE_MS       60000ll
#define DEFAULT_START   1767225600000ll /* 2026-01-01T00:00:00Z */
#define FAV_MERCHANTS   8
#define NO_MERCHANT     UINT32_MAX
#define BASE_RATE       0.0004 /* per account per day per account scenario, fraud_scale 1 */
#define MERCHANT_RATE   0.002  /* per day: a merchant gets compromised */
#define COMPROMISE_DAYS 14

struct city {
    const char *country;
    double lat;
    double lon;
};

/* Home cities (euro area) and far-away places for takeovers and impossible travel. */
static const struct city homes[] = {
    {"BE", 50.85, 4.35},  {"FR", 48.86, 2.35},  {"DE", 52.52, 13.40}, {"ES", 40.42, -3.70},
    {"IT", 41.90, 12.50}, {"NL", 52.37, 4.90},  {"PT", 38.72, -9.14}, {"AT", 48.21, 16.37},
    {"IE", 53.35, -6.26}, {"FI", 60.17, 24.94},
};
static const struct city aways[] = {
    {"NG", 6.52, 3.38},    {"PH", 14.60, 120.98}, {"BR", -23.55, -46.63},
    {"ID", -6.21, 106.85}, {"TH", 13.76, 100.50}, {"US", 40.71, -74.01},
};

/* Merchant categories: MCC, online share (0..1). */
static const struct {
    uint16_t mcc;
    double online;
} categories[] = {
    {5411, 0.05}, {5812, 0.0}, {5541, 0.0}, {5651, 0.3}, {5732, 0.5},
    {5815, 1.0},  {5816, 1.0}, {7995, 1.0}, {4511, 0.8}, {7011, 0.6},
};
#define DIGITAL_FIRST 5 /* categories from here on are digital goods */

struct rng {
    uint64_t s[4];
};

struct account {
    uint16_t city;
    uint8_t nfav;
    uint32_t fav[FAV_MERCHANTS];
    double mu; /* log of the typical amount in major units */
    double sigma;
};

struct merchant {
    uint16_t city;
    uint16_t category;
    bool online;
    int64_t compromised_until_ms; /* card-present fraud until then (0: never) */
};

struct gtx {
    int64_t ts_ms;
    uint64_t seq;
    uint32_t account;
    uint32_t merchant; /* NO_MERCHANT for transfers: payee in `payee` */
    uint32_t payee;
    int64_t amount_minor;
    uint32_t device;
    uint8_t channel;
    uint8_t scenario;
    uint16_t mcc;
    int8_t away; /* index into aways, or -1: at home / the merchant's city */
};

struct label {
    int64_t reported_ms;
    uint64_t seq;
};

struct vg_gen {
    vg_gen_opts_t o;
    struct rng rng;
    struct account *accounts;
    struct merchant *merchants;
    uint32_t day;
    struct gtx *buf;
    size_t nbuf;
    size_t capbuf;
    size_t next;
    struct gtx *carry; /* built for a day but falling after midnight: go into the next */
    size_t ncarry;
    size_t capcarry;
    struct label *heap;
    size_t nheap;
    size_t capheap;
    uint64_t seq;
    vg_gen_stats_t stats;
    char s_tx[32], s_acct[16], s_card[24], s_merch[16], s_cur[4], s_dev[24], s_ip[20], s_country[3],
        s_label_tx[32];
};

/* ---- randomness ---- */

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rnd(struct rng *r)
{
    uint64_t result = rotl(r->s[1] * 5, 7) * 9;
    uint64_t t = r->s[1] << 17;
    r->s[2] ^= r->s[0];
    r->s[3] ^= r->s[1];
    r->s[1] ^= r->s[2];
    r->s[0] ^= r->s[3];
    r->s[2] ^= t;
    r->s[3] = rotl(r->s[3], 45);
    return result;
}

static double unif(struct rng *r)
{
    return (double)(rnd(r) >> 11) * 0x1.0p-53;
}

static uint32_t below(struct rng *r, uint32_t n)
{
    return (uint32_t)(unif(r) * n);
}

static double gauss(struct rng *r)
{
    double u = unif(r);
    double v = unif(r);
    return sqrt(-2.0 * log(u > 1e-300 ? u : 1e-300)) * cos(2.0 * 3.14159265358979323846 * v);
}

static uint32_t poisson(struct rng *r, double mean)
{
    double l = exp(-mean);
    double p = 1.0;
    uint32_t k = 0;
    do {
        k++;
        p *= unif(r);
    } while (p > l && k < 1000);
    return k - 1;
}

/* A time of day weighted to waking hours (a few transactions at night). */
static int64_t time_of_day(struct rng *r)
{
    double h = unif(r) < 0.06 ? unif(r) * 7.0 : 7.0 + unif(r) * 16.5;
    return (int64_t)(h * 3600000.0);
}

/* ---- population ---- */

static void build_population(vg_gen_t *g)
{
    uint32_t nm = g->o.merchants;
    g->merchants = vg_xcalloc(nm, sizeof(*g->merchants));
    for (uint32_t i = 0; i < nm; i++) {
        struct merchant *m = &g->merchants[i];
        m->city = (uint16_t)below(&g->rng, VG_ARRAY_LEN(homes));
        m->category = (uint16_t)below(&g->rng, VG_ARRAY_LEN(categories));
        m->online = unif(&g->rng) < categories[m->category].online;
    }
    g->accounts = vg_xcalloc(g->o.accounts, sizeof(*g->accounts));
    for (uint32_t i = 0; i < g->o.accounts; i++) {
        struct account *a = &g->accounts[i];
        a->city = (uint16_t)below(&g->rng, VG_ARRAY_LEN(homes));
        a->mu = log(15.0 + unif(&g->rng) * 60.0);
        a->sigma = 0.4 + unif(&g->rng) * 0.5;
        /* Favourites: merchants of the home city, or online ones. */
        for (uint32_t tries = 0; a->nfav < FAV_MERCHANTS && tries < 200; tries++) {
            uint32_t m = below(&g->rng, nm);
            if (g->merchants[m].city == a->city || g->merchants[m].online)
                a->fav[a->nfav++] = m;
        }
        if (a->nfav == 0)
            a->fav[a->nfav++] = 0;
    }
}

/* ---- building a day ---- */

static struct gtx *push(vg_gen_t *g)
{
    if (g->nbuf == g->capbuf) {
        g->capbuf = g->capbuf ? g->capbuf * 2 : 4096;
        g->buf = vg_xrealloc(g->buf, g->capbuf * sizeof(*g->buf));
    }
    struct gtx *t = &g->buf[g->nbuf++];
    memset(t, 0, sizeof(*t));
    t->away = -1;
    return t;
}

static int64_t amount_minor(double major)
{
    if (major < 0.01)
        major = 0.01;
    return (int64_t)llround(major * 100.0);
}

static void fill_purchase(vg_gen_t *g, struct gtx *t, uint32_t acct, uint32_t merch, double amount)
{
    const struct merchant *m = &g->merchants[merch];
    t->account = acct;
    t->merchant = merch;
    t->mcc = categories[m->category].mcc;
    t->channel =
        m->online ? VIGIL__CHANNEL__CHANNEL_ECOMMERCE : VIGIL__CHANNEL__CHANNEL_CARD_PRESENT;
    t->amount_minor = amount_minor(amount);
    t->device = m->online ? (uint32_t)(vg_hash_u64(acct) & 0xffffff) : 0;
}

static void genuine(vg_gen_t *g, uint32_t acct, int64_t day_ms)
{
    const struct account *a = &g->accounts[acct];
    struct gtx *t = push(g);
    uint32_t merch =
        unif(&g->rng) < 0.8 ? a->fav[below(&g->rng, a->nfav)] : below(&g->rng, g->o.merchants);
    fill_purchase(g, t, acct, merch, exp(a->mu + a->sigma * gauss(&g->rng)));
    t->ts_ms = day_ms + time_of_day(&g->rng);
    struct merchant *m = &g->merchants[merch];
    if (!m->online && m->compromised_until_ms > t->ts_ms && unif(&g->rng) < 1.0 / 3.0)
        t->scenario = VG_GEN_COMPROMISED_MERCHANT;
}

static uint32_t digital_merchant(vg_gen_t *g)
{
    for (int tries = 0; tries < 100; tries++) {
        uint32_t m = below(&g->rng, g->o.merchants);
        if (g->merchants[m].category >= DIGITAL_FIRST)
            return m;
    }
    return below(&g->rng, g->o.merchants);
}

static void inject(vg_gen_t *g, enum vg_gen_scenario s, uint32_t acct, int64_t day_ms)
{
    const struct account *a = &g->accounts[acct];
    int64_t t0 = day_ms + time_of_day(&g->rng);
    uint32_t n = 0;
    switch (s) {
    case VG_GEN_CARD_TESTING: {
        n = 5 + below(&g->rng, 11);
        uint32_t big = 1 + below(&g->rng, 3);
        for (uint32_t i = 0; i < n + big; i++) {
            struct gtx *t = push(g);
            double amt = i < n ? 0.5 + unif(&g->rng) * 2.5 : 200.0 + unif(&g->rng) * 1300.0;
            fill_purchase(g, t, acct, digital_merchant(g), amt);
            t->ts_ms = t0 + (int64_t)(i * (20000 + below(&g->rng, 40000)));
            t->device = 0xF00000 | below(&g->rng, 0xFFFFF);
            t->scenario = (uint8_t)s;
        }
        break;
    }
    case VG_GEN_ACCOUNT_TAKEOVER: {
        n = 2 + below(&g->rng, 4);
        int8_t away = (int8_t)below(&g->rng, VG_ARRAY_LEN(aways));
        uint32_t dev = 0xE00000 | below(&g->rng, 0xFFFFF);
        for (uint32_t i = 0; i < n; i++) {
            struct gtx *t = push(g);
            double amt = exp(a->mu) * (3.0 + unif(&g->rng) * 5.0);
            fill_purchase(g, t, acct, digital_merchant(g), amt);
            t->channel = VIGIL__CHANNEL__CHANNEL_MOBILE;
            t->device = dev;
            t->away = away;
            t->ts_ms = t0 + (int64_t)i * (5 + below(&g->rng, 20)) * MINUTE_MS;
            t->scenario = (uint8_t)s;
        }
        break;
    }
    case VG_GEN_BURST:
        n = 10 + below(&g->rng, 16);
        for (uint32_t i = 0; i < n; i++) {
            struct gtx *t = push(g);
            fill_purchase(g, t, acct, below(&g->rng, g->o.merchants),
                          exp(a->mu + a->sigma * gauss(&g->rng)) * 1.5);
            t->ts_ms = t0 + (int64_t)(unif(&g->rng) * 3600000.0);
            t->scenario = (uint8_t)s;
        }
        break;
    case VG_GEN_IMPOSSIBLE_TRAVEL: {
        struct gtx *home = push(g);
        fill_purchase(g, home, acct, a->fav[0], exp(a->mu));
        home->channel = VIGIL__CHANNEL__CHANNEL_CARD_PRESENT;
        home->device = 0;
        home->ts_ms = t0;
        struct gtx *t = push(g);
        fill_purchase(g, t, acct, below(&g->rng, g->o.merchants), exp(a->mu) * 4.0);
        t->channel = VIGIL__CHANNEL__CHANNEL_CARD_PRESENT;
        t->device = 0;
        t->away = (int8_t)below(&g->rng, VG_ARRAY_LEN(aways));
        t->ts_ms = t0 + (20 + below(&g->rng, 40)) * MINUTE_MS;
        t->scenario = (uint8_t)s;
        break;
    }
    case VG_GEN_MULE:
        n = 6 + below(&g->rng, 10);
        for (uint32_t i = 0; i < n; i++) {
            struct gtx *t = push(g);
            t->account = acct;
            t->merchant = NO_MERCHANT;
            t->payee = below(&g->rng, 10000000);
            t->mcc = 4829;
            t->channel = VIGIL__CHANNEL__CHANNEL_TRANSFER;
            t->amount_minor = (int64_t)(500 + 100 * below(&g->rng, 45)) * 100;
            t->device = (uint32_t)(vg_hash_u64(acct) & 0xffffff);
            t->ts_ms = t0 + (int64_t)(unif(&g->rng) * 4.0 * 3600000.0);
            t->scenario = (uint8_t)s;
        }
        break;
    default:
        break;
    }
}

static int cmp_gtx(const void *a, const void *b)
{
    const struct gtx *x = a;
    const struct gtx *y = b;
    if (x->ts_ms != y->ts_ms)
        return x->ts_ms < y->ts_ms ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void build_day(vg_gen_t *g)
{
    g->nbuf = 0;
    g->next = 0;
    for (size_t i = 0; i < g->ncarry; i++)
        *push(g) = g->carry[i];
    g->ncarry = 0;
    size_t carried = g->nbuf;
    int64_t day_ms = g->o.start_ms + (int64_t)g->day * DAY_MS;
    int weekday = (int)(((day_ms / DAY_MS) + 4) % 7); /* 0 = Sunday */
    double rate = g->o.tx_per_day * (weekday == 0 || weekday == 6 ? 1.2 : 1.0);
    double p = BASE_RATE * g->o.fraud_scale;
    for (uint32_t i = 0; i < g->o.merchants; i++) {
        struct merchant *m = &g->merchants[i];
        if (!m->online && m->compromised_until_ms <= day_ms &&
            unif(&g->rng) < MERCHANT_RATE * g->o.fraud_scale)
            m->compromised_until_ms = day_ms + COMPROMISE_DAYS * DAY_MS;
    }
    for (uint32_t acct = 0; acct < g->o.accounts; acct++) {
        for (uint32_t k = poisson(&g->rng, rate); k > 0; k--)
            genuine(g, acct, day_ms);
        for (int s = VG_GEN_CARD_TESTING; s < VG_GEN_NSCENARIOS; s++) {
            if (s != VG_GEN_COMPROMISED_MERCHANT && unif(&g->rng) < p)
                inject(g, (enum vg_gen_scenario)s, acct, day_ms);
        }
    }
    qsort(g->buf + carried, g->nbuf - carried, sizeof(*g->buf), cmp_gtx);
    for (size_t i = carried; i < g->nbuf; i++)
        g->buf[i].seq = g->seq++; /* ids follow event time within a day */
    qsort(g->buf, g->nbuf, sizeof(*g->buf), cmp_gtx);
    g->day++;
    /* Keep what falls after midnight for the next day, so time never goes backwards. */
    int64_t end_ms = day_ms + DAY_MS;
    size_t keep = g->nbuf;
    while (keep > 0 && g->buf[keep - 1].ts_ms >= end_ms && g->day < g->o.days)
        keep--;
    size_t extra = g->nbuf - keep;
    if (extra > g->capcarry) {
        g->capcarry = extra * 2;
        g->carry = vg_xrealloc(g->carry, g->capcarry * sizeof(*g->carry));
    }
    if (extra)
        memcpy(g->carry, g->buf + keep, extra * sizeof(*g->buf));
    g->ncarry = extra;
    g->nbuf = keep;
}

/* ---- label heap ---- */

static void heap_push(vg_gen_t *g, struct label l)
{
    if (g->nheap == g->capheap) {
        g->capheap = g->capheap ? g->capheap * 2 : 1024;
        g->heap = vg_xrealloc(g->heap, g->capheap * sizeof(*g->heap));
    }
    size_t i = g->nheap++;
    while (i > 0 && g->heap[(i - 1) / 2].reported_ms > l.reported_ms) {
        g->heap[i] = g->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    g->heap[i] = l;
}

static struct label heap_pop(vg_gen_t *g)
{
    struct label top = g->heap[0];
    struct label last = g->heap[--g->nheap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= g->nheap)
            break;
        if (c + 1 < g->nheap && g->heap[c + 1].reported_ms < g->heap[c].reported_ms)
            c++;
        if (g->heap[c].reported_ms >= last.reported_ms)
            break;
        g->heap[i] = g->heap[c];
        i = c;
    }
    if (g->nheap > 0)
        g->heap[i] = last;
    return top;
}

/* ---- public ---- */

int vg_gen_new(const vg_gen_opts_t *opts, vg_gen_t **out)
{
    vg_gen_t *g = vg_xcalloc(1, sizeof(*g));
    g->o = *opts;
    if (!g->o.accounts)
        g->o.accounts = 1000;
    if (!g->o.merchants)
        g->o.merchants = 500;
    if (!g->o.days)
        g->o.days = 30;
    if (!g->o.start_ms)
        g->o.start_ms = DEFAULT_START;
    if (g->o.tx_per_day <= 0)
        g->o.tx_per_day = 2.0;
    if (g->o.fraud_scale <= 0)
        g->o.fraud_scale = 1.0;
    if (g->o.accounts > 100000000 || g->o.merchants > 10000000 || g->o.days > 3650 ||
        g->o.tx_per_day > 1000 || g->o.fraud_scale > 1000) {
        free(g);
        return VG_EINVAL;
    }
    uint64_t x = opts->seed;
    for (int i = 0; i < 4; i++) {
        x += 0x9e3779b97f4a7c15ull;
        g->rng.s[i] = vg_hash_u64(x);
    }
    build_population(g);
    *out = g;
    return 0;
}

static void emit_label(vg_gen_t *g, vg_gen_event_t *ev)
{
    struct label l = heap_pop(g);
    snprintf(g->s_label_tx, sizeof(g->s_label_tx), "tx-%010llu", (unsigned long long)l.seq);
    Vigil__Label init = VIGIL__LABEL__INIT;
    ev->kind = VG_GEN_LABEL;
    ev->label = init;
    ev->label.transaction_id = g->s_label_tx;
    ev->label.is_fraud = 1;
    ev->label.reported_at_ms = l.reported_ms;
    static char chargeback[] = "chargeback"; /* protobuf-c strings are not const */
    ev->label.source = chargeback;
    g->stats.labels++;
}

static void emit_tx(vg_gen_t *g, const struct gtx *t, vg_gen_event_t *ev)
{
    Vigil__Transaction init = VIGIL__TRANSACTION__INIT;
    ev->kind = VG_GEN_TX;
    ev->tx = init;
    const struct account *a = &g->accounts[t->account];
    snprintf(g->s_tx, sizeof(g->s_tx), "tx-%010llu", (unsigned long long)t->seq);
    snprintf(g->s_acct, sizeof(g->s_acct), "A%06u", t->account);
    snprintf(g->s_card, sizeof(g->s_card), "A%06u-c1", t->account);
    if (t->merchant == NO_MERCHANT)
        snprintf(g->s_merch, sizeof(g->s_merch), "P%07u", t->payee);
    else
        snprintf(g->s_merch, sizeof(g->s_merch), "M%05u", t->merchant);
    memcpy(g->s_cur, "EUR", 4);
    const struct city *c = t->away >= 0 ? &aways[t->away]
                           : t->merchant != NO_MERCHANT && !g->merchants[t->merchant].online
                               ? &homes[g->merchants[t->merchant].city]
                               : &homes[a->city];
    memcpy(g->s_country, c->country, 3);
    ev->tx.transaction_id = g->s_tx;
    ev->tx.account_id = g->s_acct;
    ev->tx.card_id = g->s_card;
    ev->tx.merchant_id = g->s_merch;
    ev->tx.mcc = t->mcc;
    ev->tx.amount_minor = t->amount_minor;
    ev->tx.currency = g->s_cur;
    ev->tx.channel = (Vigil__Channel)t->channel;
    if (t->device) {
        snprintf(g->s_dev, sizeof(g->s_dev), "dev-%06x", t->device);
        ev->tx.device_id = g->s_dev;
        uint64_t h = vg_hash_u64(t->device);
        snprintf(g->s_ip, sizeof(g->s_ip), "10.%u.%u.%u", (unsigned)(h & 0xff),
                 (unsigned)((h >> 8) & 0xff), (unsigned)((h >> 16) & 0xff));
        ev->tx.ip = g->s_ip;
    }
    ev->tx.country = g->s_country;
    ev->tx.has_location = 1;
    ev->tx.lat = c->lat + (unif(&g->rng) - 0.5) * 0.1;
    ev->tx.lon = c->lon + (unif(&g->rng) - 0.5) * 0.1;
    ev->tx.timestamp_ms = t->ts_ms;
    ev->is_fraud = t->scenario != VG_GEN_GENUINE;
    ev->scenario = (enum vg_gen_scenario)t->scenario;
    g->stats.transactions++;
    if (ev->is_fraud) {
        g->stats.frauds[t->scenario]++;
        struct label l = {t->ts_ms + DAY_MS + (int64_t)(unif(&g->rng) * 13.0 * DAY_MS), t->seq};
        heap_push(g, l);
    }
}

int vg_gen_next(vg_gen_t *g, vg_gen_event_t *ev)
{
    while (g->next == g->nbuf && g->day < g->o.days)
        build_day(g);
    bool have_tx = g->next < g->nbuf;
    if (g->nheap > 0 && (!have_tx || g->heap[0].reported_ms <= g->buf[g->next].ts_ms)) {
        emit_label(g, ev);
        return 0;
    }
    if (!have_tx)
        return VG_ENOTFOUND;
    emit_tx(g, &g->buf[g->next++], ev);
    return 0;
}

void vg_gen_stats(const vg_gen_t *gen, vg_gen_stats_t *out)
{
    *out = gen->stats;
}

void vg_gen_free(vg_gen_t *gen)
{
    if (!gen)
        return;
    free(gen->accounts);
    free(gen->merchants);
    free(gen->buf);
    free(gen->carry);
    free(gen->heap);
    free(gen);
}
