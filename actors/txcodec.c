/* SPDX-License-Identifier: MIT */
/*
 * The ingest codec; see txcodec.h. Request bodies are parsed with cJSON (why, and what is
 * checked around it: "what cJSON lets through" below); JSON is written with jansson or by
 * hand. Parsing fills the protobuf struct with strings from the transaction's arena;
 * vg_tx_validate then applies the rules shared with the protobuf path. Thread: any.
 */
#include "actors/txcodec.h"
#include "models/features.h"
#include "runtime/error.h"
#include "runtime/logging.h"
#include "runtime/numfmt.h"
#include "runtime/timefmt.h"

#include <cJSON.h>
#include <jansson.h>

#include <arpa/inet.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ID       VG_TX_MAX_ID
#define MAX_ATTRS    32
#define MAX_ATTR_KEY 64
#define MAX_ATTR_VAL 256
#define MAX_MAJOR    1e12

/* ISO 4217: currencies whose minor unit is not 2 digits, then the 2-digit ones. */
static const char cur0[] = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF";
static const char cur3[] = "BHD IQD JOD KWD LYD OMR TND";
static const char cur4[] = "CLF UYW";
static const char cur2[] =
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN "
    "BZD CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS "
    "GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR "
    "LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD "
    "PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP "
    "STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS VES WST XCD YER ZAR ZMW "
    "ZWL";

static const char countries[] =
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ "
    "BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM "
    "DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS "
    "GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN "
    "KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ "
    "MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM "
    "PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV "
    "SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI "
    "VN VU WF WS XK YE YT ZA ZM ZW";

static const char *const channels[] = {"",    "card_present", "ecommerce",
                                       "atm", "transfer",     "mobile"};

/* Codes of two or three upper-case letters, numbered base 26. The lists above are turned once
 * into tables indexed by that number: a lookup per field instead of a search of the list. */
#define CODE2_N (26 * 26)
#define CODE3_N (26 * 26 * 26)

static uint8_t currency_exp1[CODE3_N]; /* exponent + 1; 0: not a currency */
static uint8_t country_ok[CODE2_N];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

/* The code's number, or -1 unless it is exactly n letters A-Z. */
static int code_index(const char *code, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (code[i] < 'A' || code[i] > 'Z')
            return -1;
        v = v * 26 + (code[i] - 'A');
    }
    return code[n] == '\0' ? v : -1;
}

static void mark(uint8_t *table, const char *list, size_t n, uint8_t value)
{
    for (const char *p = list; *p; p += p[n] ? n + 1 : n) {
        char code[4] = {0};
        memcpy(code, p, n);
        int i = code_index(code, n);
        VG_CHECK(i >= 0 && (p[n] == ' ' || p[n] == '\0'));
        table[i] = value;
    }
}

static void build_tables(void)
{
    mark(currency_exp1, cur0, 3, 1);
    mark(currency_exp1, cur2, 3, 3);
    mark(currency_exp1, cur3, 3, 4);
    mark(currency_exp1, cur4, 3, 5);
    mark(country_ok, countries, 2, 1);
}

int vg_currency_exponent(const char *code)
{
    pthread_once(&tables_once, build_tables);
    int i = code_index(code, 3);
    return i < 0 ? -1 : (int)currency_exp1[i] - 1;
}

double vg_currency_unit(int exp)
{
    static const double unit[] = {1.0, 10.0, 100.0, 1000.0, 10000.0};
    return exp >= 0 && exp < (int)VG_ARRAY_LEN(unit) ? unit[exp] : pow(10.0, exp);
}

bool vg_country_known(const char *code)
{
    pthread_once(&tables_once, build_tables);
    int i = code_index(code, 2);
    return i >= 0 && country_ok[i];
}

static int fail(vg_tx_error_t *err, const char *code, const char *field, const char *fmt, ...)
    VG_PRINTF(4, 5);

static int fail(vg_tx_error_t *err, const char *code, const char *field, const char *fmt, ...)
{
    snprintf(err->code, sizeof(err->code), "%s", code);
    snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return VG_EINVAL;
}

/* ---- semantic checks (shared with the protobuf path) ---- */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len = c < 0x80                 ? 1
                 : c >= 0xc2 && c <= 0xdf ? 2
                 : c >= 0xe0 && c <= 0xef ? 3
                 : c >= 0xf0 && c <= 0xf4 ? 4
                                          : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) || /* overlong, surrogate */
        (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))   /* overlong, > U+10FFFF */
        return 0;
    return len;
}

enum text_fault { TEXT_OK, TEXT_CONTROL, TEXT_NOT_UTF8 };

/* Eight bytes at a time: a byte's test result is its high bit in the word. */
#define ONES8  0x0101010101010101ull
#define HIGHS8 0x8080808080808080ull

static uint64_t load8(const void *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof(w));
    return w;
}

/* The bytes of w below c. Exact while no byte is >= 0x80, and for the lowest one marked
 * whatever the others hold: a borrow only ever marks bytes above a true one. */
static uint64_t bytes_below8(uint64_t w, unsigned char c)
{
    return (w - c * ONES8) & ~w & HIGHS8;
}

/* The bytes of w equal to c (the same exactness). */
static uint64_t bytes_equal8(uint64_t w, unsigned char c)
{
    return bytes_below8(w ^ (c * ONES8), 1);
}

/* Whether the 8 bytes at v are all printable ASCII (0x20..0x7e). */
static bool printable8(const char *v)
{
    uint64_t w = load8(v);
    return ((w & HIGHS8) | bytes_below8(w, 0x20) | bytes_equal8(w, 0x7f)) == 0;
}

/* Walks the n bytes at v: valid UTF-8 (what JSON can carry; protobuf-c does not check it),
 * and, unless controls are allowed, no control character. Printable ASCII, most text, is
 * taken 8 bytes at a time, then one comparison a byte. */
static enum text_fault text_scan(const char *v, size_t n, bool controls_ok)
{
    size_t i = 0;
    while (i + 8 <= n && printable8(v + i))
        i += 8;
    while (i < n) {
        unsigned char ch = (unsigned char)v[i];
        if (ch >= 0x20 && ch < 0x7f) {
            i++;
            continue;
        }
        if (ch < 0x20 || ch == 0x7f) {
            if (!controls_ok)
                return TEXT_CONTROL;
            i++;
            continue;
        }
        size_t len = utf8_len((const unsigned char *)v + i, n - i);
        if (len == 0)
            return TEXT_NOT_UTF8;
        i += len;
    }
    return TEXT_OK;
}

static int check_id(const char *v, const char *field, bool required, vg_tx_error_t *err)
{
    size_t n = v ? strlen(v) : 0;
    if (n == 0)
        return required ? fail(err, "missing_field", field, "%s is required", field) : 0;
    if (n > MAX_ID)
        return fail(err, "invalid_id", field, "%s is longer than %d bytes", field, MAX_ID);
    if (strspn(v, " ") == n) /* " " is no one's id: a client's blank, not a value */
        return fail(err, "invalid_id", field, "%s is blank", field);
    switch (text_scan(v, n, false)) {
    case TEXT_CONTROL:
        return fail(err, "invalid_id", field, "%s contains a control character", field);
    case TEXT_NOT_UTF8:
        return fail(err, "invalid_id", field, "%s is not valid UTF-8", field);
    case TEXT_OK:
        break;
    }
    return 0;
}

static bool utf8_ok(const char *v)
{
    return text_scan(v, strlen(v), true) == TEXT_OK;
}

/* The limits on attributes, for a transaction that came as JSON or as protobuf: a count, key
 * and value lengths, UTF-8 (they come back out as JSON), no key twice. */
static int check_attributes(const Vigil__Transaction *tx, vg_tx_error_t *err)
{
    if (tx->n_attributes > MAX_ATTRS)
        return fail(err, "too_many_attributes", "attributes", "at most %d attributes", MAX_ATTRS);
    for (size_t i = 0; i < tx->n_attributes; i++) {
        const char *k = tx->attributes[i]->key ? tx->attributes[i]->key : "";
        const char *v = tx->attributes[i]->value ? tx->attributes[i]->value : "";
        size_t klen = strlen(k);
        bool named = klen > 0 && klen <= MAX_ATTR_KEY && utf8_ok(k);
        char field[96] = "attributes";
        if (named)
            snprintf(field, sizeof(field), "attributes.%s", k);
        if (!named || strlen(v) > MAX_ATTR_VAL)
            return fail(err, "invalid_attribute", field,
                        "attribute keys are 1..%d bytes, values up to %d", MAX_ATTR_KEY,
                        MAX_ATTR_VAL);
        if (!utf8_ok(v))
            return fail(err, "invalid_attribute", field, "attribute values must be UTF-8");
        for (size_t j = 0; j < i; j++)
            if (tx->attributes[j]->key && strcmp(tx->attributes[j]->key, k) == 0)
                return fail(err, "invalid_attribute", field, "attribute \"%s\" is given twice", k);
    }
    return 0;
}

int vg_pb_check_unknown(const ProtobufCMessage *m, vg_tx_error_t *err)
{
    if (m->n_unknown_fields == 0)
        return 0;
    unsigned tag = (unsigned)m->unknown_fields[0].tag;
    char field[16];
    snprintf(field, sizeof(field), "%u", tag);
    return fail(err, "unknown_field", field,
                "unknown field number %u in %s (free-form data goes in \"attributes\")", tag,
                m->descriptor->short_name);
}

/* Reads a varint at p[*i] (n bytes in all). False past the end or past 10 bytes. */
static bool wire_varint_long(const uint8_t *p, size_t n, size_t *i, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; *i < n && shift < 70; shift += 7) {
        uint8_t b = p[(*i)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* The same, a one-byte varint (most tags and lengths) without a call. */
static inline bool wire_varint(const uint8_t *p, size_t n, size_t *i, uint64_t *out)
{
    if (*i < n && p[*i] < 0x80) {
        *out = p[(*i)++];
        return true;
    }
    return wire_varint_long(p, n, i, out);
}

/* The code for a bad string in field `name`: an id's or an attribute's own, else
 * invalid_string. */
static const char *string_code(const char *name)
{
    size_t n = strlen(name);
    if (strcmp(name, "attributes") == 0)
        return "invalid_attribute";
    return n >= 3 && strcmp(name + n - 3, "_id") == 0 ? "invalid_id" : "invalid_string";
}

/* One string field's bytes: no NUL, valid UTF-8 (an attribute's, `in_attr`, is checked for
 * UTF-8 with its key's name by check_attributes). Printable ASCII, most ids, goes 8 bytes at
 * a time, with nothing else to look at. */
static int check_wire_string(const char *name, bool in_attr, const uint8_t *v, size_t len,
                             vg_tx_error_t *err)
{
    size_t i = 0;
    while (i + 8 <= len && printable8((const char *)v + i))
        i += 8;
    for (; i < len; i++) {
        if (v[i] >= 0x80)
            break;
        if (v[i] == 0)
            return fail(err, string_code(name), name, "%s contains a NUL byte", name);
    }
    if (i == len)
        return 0;
    if (memchr(v + i, 0, len - i))
        return fail(err, string_code(name), name, "%s contains a NUL byte", name);
    if (!in_attr && text_scan((const char *)v + i, len - i, true) != TEXT_OK)
        return fail(err, string_code(name), name, "%s is not valid UTF-8", name);
    return 0;
}

/* Field `num` of message d: by its place when the fields are numbered 1, 2, ... up to it (as
 * vigil's are), else by protobuf-c's search. */
static const ProtobufCFieldDescriptor *wire_field_desc(const ProtobufCMessageDescriptor *d,
                                                       unsigned num)
{
    if (num >= 1 && num <= d->n_fields && d->fields[num - 1].id == num)
        return &d->fields[num - 1];
    return protobuf_c_message_descriptor_get_field(d, num);
}

/* One field's tag and value at p[*i]: its number, wire type and, for a length-delimited
 * one, its length (a varint's value for a varint, else 0). False when cut short or of no known wire
 * type. */
static bool wire_field(const uint8_t *p, size_t n, size_t *i, uint64_t *key, uint64_t *len)
{
    *len = 0;
    if (!wire_varint(p, n, i, key))
        return false;
    uint64_t skip = 0;
    switch (*key & 7) {
    case 0:
        return wire_varint(p, n, i, len); /* a varint's value, in len */
    case 1:
        skip = 8;
        break;
    case 5:
        skip = 4;
        break;
    case 2:
        return wire_varint(p, n, i, len) && *len <= n - *i;
    default:
        return false;
    }
    if (n - *i < skip)
        return false;
    *i += (size_t)skip;
    return true;
}

#define WIRE_DEPTH 4 /* request, transaction or label, attribute entry: one to spare */

int vg_pb_check_wire(const ProtobufCMessageDescriptor *d, vg_bytes_t bytes, vg_tx_error_t *err)
{
    /* The messages being walked, outermost first; `outer` is the field a nested one's faults
     * are reported as (NULL in the request and in its transaction or label). */
    struct {
        const ProtobufCMessageDescriptor *d;
        const uint8_t *p;
        size_t n;
        size_t i;
        const char *outer;
    } st[WIRE_DEPTH] = {{d, bytes.ptr, bytes.len, 0, NULL}};
    unsigned top = 0;
    for (;;) {
        if (st[top].i >= st[top].n) {
            if (top == 0)
                return 0;
            top--;
            continue;
        }
        uint64_t key;
        uint64_t len;
        const char *outer = st[top].outer;
        if (!wire_field(st[top].p, st[top].n, &st[top].i, &key, &len))
            return fail(err, "invalid_protobuf", outer ? outer : "",
                        "a field is cut short or of no known wire type");
        unsigned num = key >> 3 <= UINT32_MAX ? (unsigned)(key >> 3) : 0;
        const ProtobufCFieldDescriptor *f = wire_field_desc(st[top].d, num);
        if (!f) {
            char field[16];
            snprintf(field, sizeof(field), "%u", num);
            return fail(err, "unknown_field", outer ? outer : field,
                        "unknown field number %u in %s (free-form data goes in \"attributes\")",
                        num, st[top].d->short_name);
        }
        if ((key & 7) == 0 && f->type == PROTOBUF_C_TYPE_UINT32 && len > UINT32_MAX) {
            /* protobuf-c keeps the low 32 bits: mcc 2^32 + 5411 read as 5411 */
            char code[40];
            snprintf(code, sizeof(code), "invalid_%s", f->name);
            return fail(err, code, f->name, "%s is over 2^32 - 1", f->name);
        }
        if ((key & 7) != 2)
            continue;
        const uint8_t *v = st[top].p + st[top].i;
        st[top].i += (size_t)len;
        const char *name = outer ? outer : f->name;
        if (f->type == PROTOBUF_C_TYPE_STRING) {
            int rc = check_wire_string(name, outer != NULL, v, (size_t)len, err);
            if (rc != 0)
                return rc;
        } else if (f->type == PROTOBUF_C_TYPE_MESSAGE && top + 1 < WIRE_DEPTH) {
            top++;
            st[top].d = f->descriptor;
            st[top].p = v;
            st[top].n = (size_t)len;
            st[top].i = 0;
            st[top].outer = top >= 2 && !outer ? f->name : outer;
        }
    }
}

bool vg_pb_peek_varint(vg_bytes_t bytes, unsigned field, uint64_t *out)
{
    size_t i = 0;
    uint64_t key;
    uint64_t v;
    while (i < bytes.len && wire_field(bytes.ptr, bytes.len, &i, &key, &v)) {
        if ((key & 7) == 0 && key >> 3 == field) {
            *out = v;
            return true;
        }
        if ((key & 7) == 2)
            i += (size_t)v; /* wire_field checked it fits */
    }
    return false;
}

/* Whether ms falls in the window the limits accept. */
static bool time_in_window(int64_t ms, const vg_tx_limits_t *lim)
{
    return (lim->max_age_ms <= 0 || ms >= lim->now_ms - lim->max_age_ms) &&
           (lim->max_future_skew_ms < 0 || ms <= lim->now_ms + lim->max_future_skew_ms);
}

/* A timestamp outside the window, said as a date, with a hint when it would be inside it read
 * in the unit clients most often mix up with milliseconds: seconds, or microseconds. */
static int time_fail(int64_t ts, const vg_tx_limits_t *lim, vg_tx_error_t *err, bool future)
{
    char when[40];
    if (ts >= -62135596800000 && ts <= 253402300799999) /* years 1..9999 */
        vg_time_format(ts, when, sizeof(when));
    else
        snprintf(when, sizeof(when), "%lld", (long long)ts);
    const char *hint = "";
    if (!future && ts > 0 && ts < INT64_MAX / 1000 && time_in_window(ts * 1000, lim))
        hint = " (an epoch timestamp is in milliseconds, not seconds)";
    if (future && time_in_window(ts / 1000, lim))
        hint = " (an epoch timestamp is in milliseconds, not microseconds)";
    if (future)
        return fail(err, "timestamp_in_future", "timestamp",
                    "timestamp %s is more than %lld s in the future%s", when,
                    (long long)(lim->max_future_skew_ms / 1000), hint);
    return fail(err, "timestamp_too_old", "timestamp", "timestamp %s is more than %lld days old%s",
                when, (long long)(lim->max_age_ms / 86400000), hint);
}

static int check_time(int64_t ts, const vg_tx_limits_t *lim, vg_tx_error_t *err)
{
    if (lim->max_future_skew_ms >= 0 && ts > lim->now_ms + lim->max_future_skew_ms)
        return time_fail(ts, lim, err, true);
    if (lim->max_age_ms > 0 && ts < lim->now_ms - lim->max_age_ms)
        return time_fail(ts, lim, err, false);
    return 0;
}

int vg_tx_validate(const Vigil__Transaction *tx, const vg_tx_limits_t *lim, vg_tx_error_t *err)
{
    int rc = check_id(tx->transaction_id, "transaction_id", true, err);
    if (rc == 0)
        rc = check_id(tx->account_id, "account_id", true, err);
    if (rc == 0)
        rc = check_id(tx->card_id, "card_id", false, err);
    if (rc == 0)
        rc = check_id(tx->merchant_id, "merchant_id", false, err);
    if (rc == 0)
        rc = check_id(tx->device_id, "device_id", false, err);
    if (rc != 0)
        return rc;
    if (!tx->currency || !*tx->currency)
        return fail(err, "missing_field", "currency", "currency is required");
    int exp = vg_currency_exponent(tx->currency);
    if (exp < 0)
        return fail(err, "unknown_currency", "currency", "\"%s\" is not an ISO 4217 currency",
                    tx->currency);
    if (tx->amount_minor <= 0)
        return fail(err, "invalid_amount", "amount", "amount must be greater than zero");
    if ((double)tx->amount_minor / vg_currency_unit(exp) > MAX_MAJOR)
        return fail(err, "invalid_amount", "amount", "amount is over 10^12");
    if (tx->mcc > 9999)
        return fail(err, "invalid_mcc", "mcc", "mcc must be 0..9999");
    if ((unsigned)tx->channel >= VG_ARRAY_LEN(channels))
        return fail(err, "invalid_channel", "channel", "unknown channel");
    if (tx->country && *tx->country && !vg_country_known(tx->country))
        return fail(err, "unknown_country", "country",
                    "\"%s\" is not an ISO 3166-1 alpha-2 country code", tx->country);
    if (tx->ip && *tx->ip) {
        unsigned char buf[16];
        if (inet_pton(AF_INET, tx->ip, buf) != 1 && inet_pton(AF_INET6, tx->ip, buf) != 1)
            return fail(err, "invalid_ip", "ip", "\"%s\" is not an IPv4 or IPv6 address", tx->ip);
    }
    if (tx->has_location &&
        (!(tx->lat >= -90 && tx->lat <= 90) || !(tx->lon >= -180 && tx->lon <= 180)))
        return fail(err, "invalid_location", "lat", "lat must be -90..90 and lon -180..180");
    if (!tx->has_location && (tx->lat != 0 || tx->lon != 0)) /* protobuf: else silently unused */
        return fail(err, "invalid_location", "has_location",
                    "lat and lon were given without has_location");
    if (tx->timestamp_ms == 0)
        return fail(err, "missing_field", "timestamp", "timestamp is required");
    rc = check_attributes(tx, err);
    if (rc == 0)
        rc = vg_pb_check_unknown(&tx->base, err);
    return rc != 0 ? rc : check_time(tx->timestamp_ms, lim, err);
}

/* ---- JSON to protobuf ---- */

static char *arena_str(vg_arena_t *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = vg_arena_alloc(a, n);
    memcpy(d, s, n);
    return d;
}

/* A request body while it is parsed: its text, and the offset of each of its numbers in the
 * order they come (lex_check notes them; number_ordinals gives each number item of cJSON's
 * tree its index here), so an amount is read from its literal, not from cJSON's double. */
struct json_text {
    const char *s;
    size_t len;
    vg_arena_t *arena; /* num_at's memory */
    size_t *num_at;
    size_t nnum;
    size_t cap;
};

static void note_number(struct json_text *jt, size_t at)
{
    if (jt->nnum == jt->cap) {
        size_t cap = jt->cap ? jt->cap * 2 : 16;
        size_t *grown = vg_arena_alloc(jt->arena, cap * sizeof(*grown));
        if (jt->nnum)
            memcpy(grown, jt->num_at, jt->nnum * sizeof(*grown));
        jt->num_at = grown;
        jt->cap = cap;
    }
    jt->num_at[jt->nnum++] = at;
}

static size_t lex_number(const unsigned char *s, size_t len, size_t i);

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* The number literal s[0..n), in JSON's form (lex_number checked it), -> minor units, exactly
 * as written: 1.5e2 is 150, and 1000000.001 has three decimals, though a double holds neither
 * that nor 123456789.5 JPY apart from its neighbours (the double's nearest cents were taken
 * before 2026-12-03). Each digit's place is its power of ten once the exponent is applied. */
static int amount_from_literal(const char *s, size_t n, int exp, int64_t *out, vg_tx_error_t *err)
{
    size_t i = s[0] == '-', int_end = i, frac_end;
    while (int_end < n && is_digit((unsigned char)s[int_end]))
        int_end++;
    frac_end = int_end;
    if (frac_end < n && s[frac_end] == '.')
        for (frac_end++; frac_end < n && is_digit((unsigned char)s[frac_end]); frac_end++)
            ;
    int64_t e10 = 0; /* the exponent, saturated: far beyond any place that can matter */
    size_t k = frac_end + (frac_end < n); /* past the 'e' */
    bool e_neg = k < n && s[k] == '-';
    for (k += k < n && (s[k] == '-' || s[k] == '+'); k < n; k++)
        e10 = e10 < 1000000 ? e10 * 10 + (s[k] - '0') : e10;
    e10 = e_neg ? -e10 : e10;
    int64_t hi = INT64_MIN, lo = INT64_MAX; /* places of the first and last non-zero digits */
    int64_t place = (int64_t)(int_end - i) - 1 + e10;
    for (size_t j = i; j < frac_end; j++) {
        if (s[j] == '.')
            continue;
        if (s[j] != '0') {
            hi = hi == INT64_MIN ? place : hi;
            lo = place;
        }
        place--;
    }
    if (s[0] == '-' || hi == INT64_MIN)
        return fail(err, "invalid_amount", "amount", "amount must be greater than zero");
    if (hi >= 13)
        return fail(err, "invalid_amount", "amount", "amount is over 10^12");
    if (lo < -exp)
        return fail(err, "too_many_decimals", "amount",
                    "amount has more decimals than the currency's %d", exp);
    int64_t minor = 0;
    place = (int64_t)(int_end - i) - 1 + e10;
    for (size_t j = i; j < frac_end && place >= lo; j++) {
        if (s[j] == '.')
            continue;
        if (place <= hi)
            minor = minor * 10 + (s[j] - '0');
        place--;
    }
    for (int64_t p = lo; p > -exp; p--) /* 15e2 EUR: the places below the last digit */
        minor *= 10;
    *out = minor;
    return 0;
}

/* A decimal string, "12.34": digits, then a '.' and digits or nothing; no sign, no exponent,
 * leading zeros allowed. Checked for that form, then read as a number literal's digits are.
 * (Until 2026-12-03 it had a reader of its own, which reported "1.234x" in EUR as
 * too_many_decimals.) */
static int amount_from_string(const char *s, int exp, int64_t *out, vg_tx_error_t *err)
{
    if (*s == '-' || *s == '+')
        return fail(err, "invalid_amount", "amount", "amount must be a positive decimal");
    size_t nd = strspn(s, "0123456789");
    size_t nf = s[nd] == '.' ? strspn(s + nd + 1, "0123456789") : 0;
    size_t len = s[nd] == '.' ? nd + 1 + nf : nd;
    if (nd == 0 || (s[nd] == '.' && nf == 0) || s[len] != '\0')
        return fail(err, "invalid_amount", "amount", "\"%s\" is not a decimal amount", s);
    return amount_from_literal(s, len, exp, out, err);
}

static int get_string(const cJSON *v, const char *field, const char **out, vg_tx_error_t *err)
{
    if (!cJSON_IsString(v) || !v->valuestring)
        return fail(err, "invalid_type", field, "%s must be a string", field);
    *out = v->valuestring;
    return 0;
}

/* cJSON keeps every number as a double: an integer here is one without a fraction, within the
 * range a double holds exactly (jansson refused 1.0 and 1e3 as integers; they are taken now). */
static bool get_int(const cJSON *v, int64_t *out)
{
    if (!cJSON_IsNumber(v))
        return false;
    double d = v->valuedouble;
    if (!(d >= -9007199254740992.0 && d <= 9007199254740992.0) || d != floor(d))
        return false;
    *out = (int64_t)d;
    return true;
}

static int parse_channel(const cJSON *v, Vigil__Channel *out, vg_tx_error_t *err)
{
    const char *s = "";
    int rc = get_string(v, "channel", &s, err);
    for (size_t i = 1; rc == 0 && i < VG_ARRAY_LEN(channels); i++) {
        if (strcmp(s, channels[i]) == 0) {
            *out = (Vigil__Channel)i;
            return 0;
        }
    }
    return rc ? rc
              : fail(err, "invalid_channel", "channel",
                     "channel must be card_present, ecommerce, atm, transfer or mobile");
}

/* Keys twice in attributes are left to vg_tx_validate's check_attributes. */
static int parse_attributes(const cJSON *v, vg_tx_t *t, vg_tx_error_t *err)
{
    if (!cJSON_IsObject(v))
        return fail(err, "invalid_type", "attributes", "attributes must be an object");
    size_t n = 0;
    for (const cJSON *c = v->child; c; c = c->next)
        n++;
    if (n > MAX_ATTRS)
        return fail(err, "too_many_attributes", "attributes", "at most %d attributes", MAX_ATTRS);
    t->pb.attributes =
        vg_arena_alloc(&t->arena, (n ? n : 1) * sizeof(Vigil__Transaction__AttributesEntry *));
    for (const cJSON *c = v->child; c; c = c->next) {
        char field[96];
        snprintf(field, sizeof(field), "attributes.%s", c->string);
        if (!cJSON_IsString(c) || !c->valuestring)
            return fail(err, "invalid_type", field, "attribute values must be strings");
        if (strlen(c->string) == 0 || strlen(c->string) > MAX_ATTR_KEY ||
            strlen(c->valuestring) > MAX_ATTR_VAL)
            return fail(err, "invalid_attribute", field,
                        "attribute keys are 1..%d bytes, values up to %d", MAX_ATTR_KEY,
                        MAX_ATTR_VAL);
        Vigil__Transaction__AttributesEntry *e = vg_arena_alloc(&t->arena, sizeof(*e));
        Vigil__Transaction__AttributesEntry init = VIGIL__TRANSACTION__ATTRIBUTES_ENTRY__INIT;
        *e = init;
        e->key = arena_str(&t->arena, c->string);
        e->value = arena_str(&t->arena, c->valuestring);
        t->pb.attributes[t->pb.n_attributes++] = e;
    }
    return 0;
}

static int parse_timestamp(const cJSON *v, int64_t *out, vg_tx_error_t *err)
{
    if (get_int(v, out))
        return 0;
    if (!cJSON_IsString(v) && !cJSON_IsNumber(v))
        return fail(err, "invalid_type", "timestamp",
                    "timestamp must be a string (RFC 3339) or a number (epoch milliseconds)");
    if (cJSON_IsString(v) && vg_time_parse_rfc3339(v->valuestring, out) == 0)
        return 0;
    return fail(err, "invalid_timestamp", "timestamp",
                "timestamp must be RFC 3339 or epoch milliseconds");
}

static int parse_coord(const cJSON *v, const char *field, double *out, vg_tx_error_t *err)
{
    if (!cJSON_IsNumber(v))
        return fail(err, "invalid_type", field, "%s must be a number", field);
    *out = v->valuedouble;
    return 0;
}

/* A transaction's fields; the first eight are strings kept as they are. */
enum tx_field {
    F_TRANSACTION_ID,
    F_ACCOUNT_ID,
    F_CARD_ID,
    F_MERCHANT_ID,
    F_CURRENCY,
    F_DEVICE_ID,
    F_IP,
    F_COUNTRY,
    F_AMOUNT,
    F_MCC,
    F_CHANNEL,
    F_TIMESTAMP,
    F_LAT,
    F_LON,
    F_ATTRIBUTES,
    F_COUNT
};

static const char *const tx_fields[F_COUNT] = {
    "transaction_id", "account_id", "card_id", "merchant_id", "currency",
    "device_id",      "ip",         "country", "amount",      "mcc",
    "channel",        "timestamp",  "lat",     "lon",         "attributes"};

/* The index of `key` in names[0..n), or -1. */
static int field_index(const char *key, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(key, names[i]) == 0)
            return i;
    return -1;
}

/* The code for an empty string in text field f. */
static const char *empty_code(int f)
{
    switch ((enum tx_field)f) {
    case F_TRANSACTION_ID:
    case F_ACCOUNT_ID:
    case F_CURRENCY:
        return "missing_field";
    case F_IP:
        return "invalid_ip";
    case F_COUNTRY:
        return "unknown_country";
    default:
        return "invalid_id";
    }
}

/* Field f (its value v) into t. */
static int parse_field(int f, const cJSON *v, vg_tx_t *t, const cJSON **amount, vg_tx_error_t *err)
{
    const char *key = tx_fields[f];
    if (f <= F_COUNTRY) {
        char **slots[] = {
            &t->pb.transaction_id, &t->pb.account_id, &t->pb.card_id, &t->pb.merchant_id,
            &t->pb.currency,       &t->pb.device_id,  &t->pb.ip,      &t->pb.country};
        const char *s = "";
        int rc = get_string(v, key, &s, err);
        if (rc == 0 && *s == '\0') /* a required one is missing; else its own code */
            rc = fail(err, empty_code(f), key, "%s is empty", key);
        if (rc == 0)
            *slots[f] = arena_str(&t->arena, s);
        return rc;
    }
    int64_t mcc = 0;
    switch ((enum tx_field)f) {
    case F_AMOUNT:
        *amount = v; /* converted once the currency is known */
        return 0;
    case F_MCC:
        if (!get_int(v, &mcc) || mcc < 0 || mcc > 9999)
            return fail(err, "invalid_mcc", key, "mcc must be an integer 0..9999");
        t->pb.mcc = (uint32_t)mcc;
        return 0;
    case F_CHANNEL:
        return parse_channel(v, &t->pb.channel, err);
    case F_TIMESTAMP:
        return parse_timestamp(v, &t->pb.timestamp_ms, err);
    case F_LAT:
    case F_LON:
        t->pb.has_location = 1;
        return parse_coord(v, key, f == F_LAT ? &t->pb.lat : &t->pb.lon, err);
    default:
        return parse_attributes(v, t, err);
    }
}

static int parse_amount(const cJSON *v, const struct json_text *jt, vg_tx_t *t, vg_tx_error_t *err)
{
    if (!v)
        return fail(err, "missing_field", "amount", "amount is required");
    if (!t->pb.currency || !*t->pb.currency)
        return fail(err, "missing_field", "currency", "currency is required");
    int exp = vg_currency_exponent(t->pb.currency);
    if (exp < 0)
        return fail(err, "unknown_currency", "currency", "\"%s\" is not an ISO 4217 currency",
                    t->pb.currency);
    if (cJSON_IsString(v))
        return amount_from_string(v->valuestring, exp, &t->pb.amount_minor, err);
    if (cJSON_IsNumber(v) && v->valueint >= 0 && (size_t)v->valueint < jt->nnum) {
        size_t at = jt->num_at[v->valueint];
        size_t end = lex_number((const unsigned char *)jt->s, jt->len, at);
        return amount_from_literal(jt->s + at, end - at, exp, &t->pb.amount_minor, err);
    }
    return fail(err, "invalid_type", "amount", "amount must be a number or a decimal string");
}

/* Marks field f (named key) as given: invalid_json if it already was. */
static int claim_field(uint32_t *seen, int f, const char *key, vg_tx_error_t *err)
{
    if (*seen & (1u << f))
        return fail(err, "invalid_json", key, "invalid JSON: \"%s\" appears twice", key);
    *seen |= 1u << f;
    return 0;
}

/* missing_field for the first of the n fields in required (indexes into names) not seen. */
static int check_required(uint32_t seen, const int *required, size_t n, const char *const *names,
                          vg_tx_error_t *err)
{
    for (size_t i = 0; i < n; i++) {
        if (!(seen & (1u << required[i])))
            return fail(err, "missing_field", names[required[i]], "%s is required",
                        names[required[i]]);
    }
    return 0;
}

static int parse_one(const cJSON *obj, const struct json_text *jt, const vg_tx_limits_t *lim,
                     vg_tx_t *t, vg_tx_error_t *err)
{
    Vigil__Transaction init = VIGIL__TRANSACTION__INIT;
    t->pb = init;
    vg_arena_init(&t->arena, 1024);
    if (!cJSON_IsObject(obj))
        return fail(err, "invalid_type", "", "a transaction must be a JSON object");
    const cJSON *amount = NULL;
    uint32_t seen = 0;
    for (const cJSON *c = obj->child; c; c = c->next) {
        int f = field_index(c->string, tx_fields, F_COUNT);
        if (f < 0)
            return fail(err, "unknown_field", c->string,
                        "unknown field \"%s\" (free-form data goes in \"attributes\")", c->string);
        int rc = claim_field(&seen, f, c->string, err);
        if (rc == 0)
            rc = parse_field(f, c, t, &amount, err);
        if (rc != 0)
            return rc;
    }
    const uint32_t lat = 1u << F_LAT, lon = 1u << F_LON;
    if (t->pb.has_location && (seen & (lat | lon)) != (lat | lon))
        return fail(err, "invalid_location", seen & lat ? "lon" : "lat", "lat and lon go together");
    static const int required[] = {F_TRANSACTION_ID, F_ACCOUNT_ID, F_CURRENCY, F_TIMESTAMP};
    int rc = check_required(seen, required, VG_ARRAY_LEN(required), tx_fields, err);
    if (rc == 0)
        rc = parse_amount(amount, jt, t, err);
    if (rc == 0)
        rc = vg_tx_validate(&t->pb, lim, err);
    return rc;
}

/* ---- what cJSON lets through ----
 *
 * Request bodies are parsed with cJSON, not jansson: 10,600 instructions for the bench's
 * transaction against 36,600 (callgrind; jansson copies each character into its token buffer
 * with a call of its own). cJSON is lenient where RFC 8259 is not, so the raw body is
 * checked first for what it would let through: a raw control character or bytes that are not
 * UTF-8 in a string, \u0000 (which cJSON turns into a NUL that silently cuts the string
 * short: "a\u0000b" would become the id "a"; a \u without four hex digits is read as \u0000),
 * numbers outside JSON's grammar ("01", "1."), and control characters between values (cJSON
 * skips every byte up to the space as white space).
 * Duplicate keys are refused where the fields are read. Structure is cJSON's to check. */

/* The bytes of the 8 at s that a string cannot simply pass over (a control, non-ASCII, a quote
 * or a backslash), as the high bit of each; the lowest one set is exact. */
static uint64_t special8(const unsigned char *s)
{
    uint64_t w = load8(s);
    return (w & HIGHS8) | bytes_below8(w, 0x20) | bytes_equal8(w, '"') | bytes_equal8(w, '\\');
}

static bool is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* The length of the escape at s[i] (a backslash), or 0 with *why set. cJSON reads a \u
 * whose four hex digits are not all there as U+0000, and U+0000 itself becomes a NUL that
 * ends its C string early: both are refused here. */
static size_t lex_escape(const unsigned char *s, size_t len, size_t i, const char **why)
{
    unsigned char e = i + 1 < len ? s[i + 1] : 0;
    if (e != 0 && strchr("\"\\/bfnrt", e))
        return 2;
    if (e == 'u') {
        bool hex = i + 6 <= len && is_hex(s[i + 2]) && is_hex(s[i + 3]) && is_hex(s[i + 4]) &&
                   is_hex(s[i + 5]);
        if (hex && memcmp(s + i + 2, "0000", 4) != 0)
            return 6;
        *why = hex ? "\\u0000 (NUL) in a string" : "\\u without four hex digits";
        return 0;
    }
    *why = "an unknown escape in a string";
    return 0;
}

/* From just after a string's opening quote: the offset just after its closing quote, or the
 * offset of a fault with *why set. Plain text is passed over 8 bytes at a time, straight to
 * the first byte that needs a look (x86-64 and the other little-endian targets). */
static size_t lex_string(const unsigned char *s, size_t len, size_t i, const char **why)
{
    for (;;) {
        while (i + 8 <= len) {
            uint64_t m = special8(s + i);
            if (m) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
                i += (size_t)__builtin_ctzll(m) / 8;
#endif /* else a byte at a time from here: still right */
                break;
            }
            i += 8;
        }
        if (i >= len)
            break;
        unsigned char c = s[i];
        size_t n = 1;
        if (c == '"')
            return i + 1;
        if (c == '\\')
            n = lex_escape(s, len, i, why); /* an escaped quote does not end the string */
        else if (c < 0x20)
            *why = "control character in a string (escape it)";
        else if (c >= 0x80 && (n = utf8_len(s + i, len - i)) == 0)
            *why = "bytes that are not UTF-8";
        if (*why)
            return i;
        i += n;
    }
    *why = "unterminated string";
    return len;
}

/* The offset just after the JSON number at i, or i if it has not JSON's form. */
static size_t lex_number(const unsigned char *s, size_t len, size_t i)
{
    size_t p = i + (s[i] == '-');
    if (p < len && s[p] == '0')
        p++;
    else if (p < len && is_digit(s[p]))
        while (p < len && is_digit(s[p]))
            p++;
    else
        return i;
    if (p < len && s[p] == '.') {
        if (++p >= len || !is_digit(s[p]))
            return i;
        while (p < len && is_digit(s[p]))
            p++;
    }
    if (p < len && (s[p] == 'e' || s[p] == 'E')) {
        p += p + 1 < len && (s[p + 1] == '+' || s[p + 1] == '-') ? 2 : 1;
        if (p >= len || !is_digit(s[p]))
            return i;
        while (p < len && is_digit(s[p]))
            p++;
    }
    return p < len && is_digit(s[p]) ? i : p; /* "01" */
}

/* The offset of the first fault in the body (*why says what), or len with *why NULL. Notes
 * where each number starts in jt. */
static size_t lex_check(struct json_text *jt, const char **why)
{
    const unsigned char *s = (const unsigned char *)jt->s;
    size_t len = jt->len;
    *why = NULL;
    size_t i = 0;
    while (i < len && !*why) {
        unsigned char c = s[i];
        if (c == '"') {
            i = lex_string(s, len, i + 1, why);
        } else if (c == '-' || is_digit(c)) {
            size_t end = lex_number(s, len, i);
            if (end == i)
                *why = "a number not in JSON's form";
            else
                note_number(jt, i);
            i = end;
        } else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
            *why = "a control character"; /* cJSON would skip it as white space */
        } else {
            i++;
        }
    }
    return *why ? i : len;
}

/* ---- cJSON's memory while a request body is parsed ----
 *
 * cJSON makes an allocation for every value, key and string of the body, all freed again when
 * the parse is done. While this thread parses a body, they come from a region of its own that
 * is emptied at the end instead (the tree is not walked to free it): nothing of the parse
 * outlives it (parse_one copies what it keeps into the item's arena). At other times, and on
 * other threads, cJSON gets malloc and free as before. */

#define BODY_REGION_BLOCK ((size_t)32 * 1024)

static _Thread_local vg_arena_t body_region;
static _Thread_local bool body_region_open;
static pthread_once_t body_alloc_once = PTHREAD_ONCE_INIT;
static pthread_key_t body_region_key; /* frees a thread's region when the thread exits */

static void *body_malloc(size_t size)
{
    return body_region_open ? vg_arena_alloc(&body_region, size) : malloc(size);
}

static void body_free(void *p)
{
    if (!body_region_open) /* the region's own memory goes when it is emptied */
        free(p);
}

static void body_region_close(void *region)
{
    vg_arena_close(region);
}

static void body_alloc_install(void)
{
    VG_CHECK(pthread_key_create(&body_region_key, body_region_close) == 0);
    cJSON_Hooks hooks = {.malloc_fn = body_malloc, .free_fn = body_free};
    cJSON_InitHooks(&hooks);
}

static void body_region_begin(void)
{
    pthread_once(&body_alloc_once, body_alloc_install);
    if (!body_region.block_bytes) {
        vg_arena_init(&body_region, BODY_REGION_BLOCK);
        VG_CHECK(pthread_setspecific(body_region_key, &body_region) == 0);
    }
    body_region_open = true;
}

/* Ends what load_body returned: the tree lived in the region. */
static void body_region_end(void)
{
    body_region_open = false;
    vg_arena_reset(&body_region); /* keeps one block for the next body */
}

/* "invalid JSON at line L column C: why (near `...`)" for the fault at offset at. */
static int json_fault(vg_tx_error_t *err, const char *body, size_t len, size_t at, const char *why)
{
    int line = 1;
    size_t line_start = 0;
    for (size_t i = 0; i < at && i < len; i++) {
        if (body[i] == '\n') {
            line++;
            line_start = i + 1;
        }
    }
    char near[24];
    size_t n = 0;
    while (at + n < len && n + 1 < sizeof(near) && body[at + n] >= 0x20 && body[at + n] < 0x7f)
        n++;
    memcpy(near, body + (at < len ? at : len), n);
    near[n] = '\0';
    return fail(err, "invalid_json", "", "invalid JSON at line %d column %zu: %s%s%s%s", line,
                at - line_start + 1, why, n ? " (near `" : "", near, n ? "`)" : "");
}

/* Gives each number item of the tree its index among the body's numbers in document order,
 * which is the order lex_check noted them in, in valueint (cJSON's int copy of the value,
 * which nothing here reads; the tree never leaves the parse). */
static void number_ordinals(cJSON *root)
{
    cJSON **next = vg_arena_alloc(&body_region, (CJSON_NESTING_LIMIT + 1) * sizeof(cJSON *));
    size_t depth = 0; /* next[0..depth): where to go on once a container's items are done */
    int ordinal = 0;
    cJSON *it = root;
    while (it) {
        if (cJSON_IsNumber(it))
            it->valueint = ordinal++;
        if (it->child && depth <= CJSON_NESTING_LIMIT) { /* cJSON refuses deeper */
            next[depth++] = it->next;
            it = it->child;
            continue;
        }
        it = it->next;
        while (!it && depth > 0)
            it = next[--depth];
    }
}

/* Whether a body that does not parse stops inside its value: in a string, inside an array
 * or object, or right after a ':' or ','. (A cut request, or a Content-Length too short.) */
static bool ends_early(const char *s, size_t len)
{
    int depth = 0;
    char last = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '"') {
            for (i++; i < len && s[i] != '"'; i++)
                i += s[i] == '\\';
            if (i >= len)
                return true;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            depth--;
        }
        if (!strchr(" \t\r\n", c))
            last = c;
    }
    return depth > 0 || last == ':' || last == ',';
}

/* The body: one object or a non-empty array of at most lim->max_batch, parsed in this
 * thread's region, with its text and numbers in *jt; body_region_end() ends both. NULL with
 * err set (the region ended). */
static const cJSON *load_body(const char *body, size_t len, const vg_tx_limits_t *lim,
                              struct json_text *jt, size_t *count, vg_tx_error_t *err)
{
    body_region_begin();
    *jt = (struct json_text){.s = body, .len = len, .arena = &body_region};
    const char *why = NULL;
    size_t at = lex_check(jt, &why);
    if (why) {
        body_region_end();
        json_fault(err, body, len, at, why);
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, false);
    while (root && end < body + len && *end != '\0' && strchr(" \t\r\n", *end))
        end++;
    if (!root || end < body + len) {
        body_region_end();
        at = end ? (size_t)(end - body) : 0;
        size_t lead = 0;
        while (lead < len && strchr(" \t\r\n", body[lead]))
            lead++;
        json_fault(err, body, len, at,
                   root                    ? "text after the value"
                   : lead == len           ? "the body is empty"
                   : ends_early(body, len) ? "the body ends before its JSON value does"
                                           : "not JSON here");
        return NULL;
    }
    if (jt->nnum)
        number_ordinals(root);
    *count = cJSON_IsArray(root) ? (size_t)cJSON_GetArraySize(root) : 1;
    int rc = 0;
    if (!cJSON_IsArray(root) && !cJSON_IsObject(root))
        rc = fail(err, "invalid_type", "", "the body must be an object or an array of them");
    else if (*count == 0)
        rc = fail(err, "invalid_type", "", "the array is empty");
    else if (lim->max_batch && *count > lim->max_batch)
        rc = fail(err, "batch_too_large", "", "at most %zu elements per request", lim->max_batch);
    if (rc != 0) {
        body_region_end();
        return NULL;
    }
    return root;
}

/* The elements of the body load_body returned: its array's, or the one object. */
static const cJSON *first_element(const cJSON *root)
{
    return cJSON_IsArray(root) ? root->child : root;
}

int vg_tx_parse_json(const char *body, size_t len, const vg_tx_limits_t *lim, vg_tx_item_t **items,
                     size_t *n, vg_tx_error_t *err)
{
    size_t count = 0;
    struct json_text jt;
    const cJSON *root = load_body(body, len, lim, &jt, &count, err);
    if (!root)
        return VG_EINVAL;
    vg_tx_item_t *out = vg_xcalloc(count, sizeof(*out));
    const cJSON *obj = first_element(root);
    for (size_t i = 0; i < count; i++, obj = obj->next) {
        out[i].index = i;
        out[i].ok = parse_one(obj, &jt, lim, &out[i].tx, &out[i].error) == 0;
    }
    body_region_end();
    *items = out;
    *n = count;
    return 0;
}

/* ---- labels ---- */

int vg_label_validate(const Vigil__Label *l, const vg_tx_limits_t *lim, vg_tx_error_t *err)
{
    int rc = check_id(l->transaction_id, "transaction_id", true, err);
    if (rc == 0 && lim->max_future_skew_ms >= 0 &&
        l->reported_at_ms > lim->now_ms + lim->max_future_skew_ms)
        rc = fail(err, "timestamp_in_future", "reported_at", "reported_at is in the future");
    if (rc == 0)
        rc = check_id(l->source, "source", false, err);
    if (rc == 0)
        rc = check_id(l->account_id, "account_id", false, err);
    if (rc == 0)
        rc = vg_pb_check_unknown(&l->base, err);
    return rc;
}

enum label_field { L_TRANSACTION_ID, L_SOURCE, L_ACCOUNT_ID, L_IS_FRAUD, L_REPORTED_AT, L_COUNT };

static const char *const label_fields[L_COUNT] = {"transaction_id", "source", "account_id",
                                                  "is_fraud", "reported_at"};

/* Field f (its value v) into the label. */
static int parse_label_field(int f, const cJSON *v, vg_label_item_t *it)
{
    vg_tx_error_t *err = &it->error;
    const char *key = label_fields[f];
    const char *sv = "";
    int rc = 0;
    switch ((enum label_field)f) {
    case L_IS_FRAUD:
        if (!cJSON_IsBool(v))
            return fail(err, "invalid_type", key, "is_fraud must be true or false");
        it->pb.is_fraud = cJSON_IsTrue(v);
        return 0;
    case L_REPORTED_AT:
        rc = parse_timestamp(v, &it->pb.reported_at_ms, err);
        if (rc != 0)
            snprintf(err->field, sizeof(err->field), "reported_at");
        return rc;
    default:
        rc = get_string(v, key, &sv, err);
        if (rc != 0)
            return rc;
        char *copy = arena_str(&it->arena, sv);
        if (f == L_TRANSACTION_ID)
            it->pb.transaction_id = copy;
        else if (f == L_SOURCE)
            it->pb.source = copy;
        else
            it->pb.account_id = copy;
        return rc;
    }
}

static int parse_label(const cJSON *obj, const vg_tx_limits_t *lim, vg_label_item_t *it)
{
    Vigil__Label init = VIGIL__LABEL__INIT;
    it->pb = init;
    vg_arena_init(&it->arena, 256);
    vg_tx_error_t *err = &it->error;
    if (!cJSON_IsObject(obj))
        return fail(err, "invalid_type", "", "a label must be a JSON object");
    uint32_t seen = 0;
    for (const cJSON *c = obj->child; c; c = c->next) {
        int f = field_index(c->string, label_fields, L_COUNT);
        if (f < 0)
            return fail(err, "unknown_field", c->string, "unknown field %s", c->string);
        int rc = claim_field(&seen, f, c->string, err);
        if (rc == 0)
            rc = parse_label_field(f, c, it);
        if (rc != 0)
            return rc;
    }
    static const int required[] = {L_TRANSACTION_ID, L_IS_FRAUD};
    int rc = check_required(seen, required, VG_ARRAY_LEN(required), label_fields, err);
    if (rc != 0)
        return rc;
    if (!(seen & (1u << L_REPORTED_AT)))
        it->pb.reported_at_ms = lim->now_ms;
    return vg_label_validate(&it->pb, lim, err);
}

int vg_label_parse_json(const char *body, size_t len, const vg_tx_limits_t *lim,
                        vg_label_item_t **items, size_t *n, vg_tx_error_t *err)
{
    size_t count = 0;
    struct json_text jt;
    const cJSON *root = load_body(body, len, lim, &jt, &count, err);
    if (!root)
        return VG_EINVAL;
    vg_label_item_t *out = vg_xcalloc(count, sizeof(*out));
    const cJSON *obj = first_element(root);
    for (size_t i = 0; i < count; i++, obj = obj->next) {
        out[i].index = i;
        out[i].ok = parse_label(obj, lim, &out[i]) == 0;
    }
    body_region_end();
    *items = out;
    *n = count;
    return 0;
}

void vg_label_items_free(vg_label_item_t *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        vg_arena_close(&items[i].arena);
    free(items);
}

void vg_tx_items_free(vg_tx_item_t *items, size_t n)
{
    for (size_t i = 0; items && i < n; i++)
        vg_arena_close(&items[i].tx.arena);
    free(items);
}

/* ---- to JSON ---- */

static void amount_text(int64_t minor, int exp, char *buf, size_t len)
{
    int64_t scale = 1;
    for (int i = 0; i < exp; i++)
        scale *= 10;
    if (exp == 0)
        snprintf(buf, len, "%lld", (long long)minor);
    else
        snprintf(buf, len, "%lld.%0*lld", (long long)(minor / scale), exp & 7,
                 (long long)(minor % scale)); /* exp <= 4 */
}

static void set_str(json_t *o, const char *key, const char *v)
{
    if (v && *v)
        json_object_set_new(o, key, json_string(v));
}

char *vg_tx_to_json(const Vigil__Transaction *tx)
{
    json_t *o = json_object();
    set_str(o, "transaction_id", tx->transaction_id);
    set_str(o, "account_id", tx->account_id);
    set_str(o, "card_id", tx->card_id);
    set_str(o, "merchant_id", tx->merchant_id);
    if (tx->mcc)
        json_object_set_new(o, "mcc", json_integer(tx->mcc));
    char buf[64];
    int exp = vg_currency_exponent(tx->currency);
    amount_text(tx->amount_minor, exp < 0 ? 2 : exp, buf, sizeof(buf));
    json_object_set_new(o, "amount", json_string(buf));
    set_str(o, "currency", tx->currency);
    if ((unsigned)tx->channel > 0 && (unsigned)tx->channel < VG_ARRAY_LEN(channels))
        json_object_set_new(o, "channel", json_string(channels[tx->channel]));
    set_str(o, "device_id", tx->device_id);
    set_str(o, "ip", tx->ip);
    set_str(o, "country", tx->country);
    if (tx->has_location) {
        json_object_set_new(o, "lat", json_real(tx->lat));
        json_object_set_new(o, "lon", json_real(tx->lon));
    }
    json_object_set_new(o, "timestamp",
                        json_string(vg_time_format(tx->timestamp_ms, buf, sizeof(buf))));
    if (tx->n_attributes) {
        json_t *a = json_object();
        for (size_t i = 0; i < tx->n_attributes; i++)
            json_object_set_new(a, tx->attributes[i]->key, json_string(tx->attributes[i]->value));
        json_object_set_new(o, "attributes", a);
    }
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return text;
}

/* ---- the decision's JSON, written directly ----
 *
 * A decision goes out with every /v1/score answer, and building it as jansson values to dump
 * them cost about 33,000 instructions per answer (a malloc per value, a hash table per object,
 * the dump's callbacks): more than the rest of the answer. Its shape is fixed, so it is
 * written straight into one buffer, byte for byte what json_dumps gave with JSON_COMPACT,
 * JSON_PRESERVE_ORDER and JSON_REAL_PRECISION(9) (the test keeps the jansson version and
 * compares). Requests are still parsed by jansson. */

struct jbuf {
    char *p;
    size_t len;
    size_t cap;
};

static void jb_need(struct jbuf *b, size_t n)
{
    if (b->len + n + 1 <= b->cap)
        return;
    while (b->len + n + 1 > b->cap)
        b->cap = b->cap ? b->cap * 2 : 512;
    b->p = vg_xrealloc(b->p, b->cap);
}

static void jb_raw(struct jbuf *b, const char *s, size_t n)
{
    jb_need(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void jb_lit(struct jbuf *b, const char *s)
{
    jb_raw(b, s, strlen(s));
}

/* A JSON string, escaped as jansson escapes (no JSON_ESCAPE_SLASH, no JSON_ENSURE_ASCII).
 * Bytes that are not UTF-8 (which jansson would not have taken) become U+FFFD. */
static void jb_str(struct jbuf *b, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strlen(str);
    jb_raw(b, "\"", 1);
    size_t run = 0; /* bytes copied as they are, pending */
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        const char *esc = NULL;
        char u[8];
        size_t len = c < 0x80 ? 1 : utf8_len(s + i, n - i);
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\b')
            esc = "\\b";
        else if (c == '\f')
            esc = "\\f";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c < 0x20) {
            snprintf(u, sizeof(u), "\\u%04X", c);
            esc = u;
        } else if (len == 0) {
            esc = "\xef\xbf\xbd"; /* U+FFFD */
            len = 1;
        }
        if (!esc) {
            i += len;
            run += len;
            continue;
        }
        jb_raw(b, str + i - run, run);
        run = 0;
        jb_lit(b, esc);
        i += len;
    }
    jb_raw(b, str + n - run, run);
    jb_raw(b, "\"", 1);
}

/* A real as jansson's jsonp_dtostr writes it with precision 9: "%.9g", then ".0" when it
 * would read back as an integer, and the exponent without '+' or leading zeros. JSON has no
 * infinity or NaN: those are null (jansson would have dropped the key). */
static void jb_real(struct jbuf *b, double v)
{
    if (!isfinite(v)) {
        jb_lit(b, "null");
        return;
    }
    char t[40];
    int n = vg_fmt_g9(v, t, sizeof(t));
    if (n <= 0 || (size_t)n >= sizeof(t) - 3)
        return;
    size_t len = (size_t)n;
    if (!strchr(t, '.') && !strchr(t, 'e')) {
        memcpy(t + len, ".0", 3);
        len += 2;
    }
    char *e = strchr(t, 'e');
    if (e) {
        char *start = e + 1;
        char *end = start + 1;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        if (end != start) {
            memmove(start, end, len - (size_t)(end - t) + 1);
            len -= (size_t)(end - start);
        }
    }
    jb_raw(b, t, len);
}

static void jb_int(struct jbuf *b, long long v)
{
    char t[24];
    char *p = t + sizeof(t);
    /* digits from the right, without snprintf's 700 instructions (two per answer) */
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    jb_raw(b, p, (size_t)(t + sizeof(t) - p));
}

/* "key": (keys here are plain ASCII). */
static void jb_key(struct jbuf *b, const char *key)
{
    jb_raw(b, "\"", 1);
    jb_lit(b, key);
    jb_raw(b, "\":", 2);
}

char *vg_decision_to_json(const Vigil__Decision *d, bool with_features)
{
    static const char *const levels[] = {"LOW", "LOW", "MEDIUM", "HIGH"};
    struct jbuf b = {0};
    jb_need(&b, 256);
    jb_lit(&b, "{");
    jb_key(&b, "transaction_id");
    jb_str(&b, d->transaction_id ? d->transaction_id : "");
    jb_lit(&b, ",");
    jb_key(&b, "score");
    jb_real(&b, d->score);
    jb_lit(&b, ",\"level\":\"");
    jb_lit(&b, levels[(unsigned)d->level < VG_ARRAY_LEN(levels) ? d->level : 0]);
    jb_lit(&b, "\",\"reasons\":[");
    for (size_t i = 0; i < d->n_reasons; i++) {
        jb_lit(&b, i ? ",{" : "{");
        jb_key(&b, "feature");
        jb_str(&b, d->reasons[i]->feature ? d->reasons[i]->feature : "");
        jb_lit(&b, ",\"value\":");
        jb_real(&b, d->reasons[i]->value); /* NaN (missing): null */
        jb_lit(&b, ",\"contribution\":");
        jb_real(&b, d->reasons[i]->contribution);
        jb_lit(&b, "}");
    }
    jb_lit(&b, "],\"rules\":[");
    for (size_t i = 0; i < d->n_rule_hits; i++) {
        if (i)
            jb_lit(&b, ",");
        jb_str(&b, d->rule_hits[i] ? d->rule_hits[i] : "");
    }
    jb_lit(&b, "],");
    jb_key(&b, "model_version");
    jb_str(&b, d->model_version ? d->model_version : "");
    jb_lit(&b, ",\"partition\":");
    jb_int(&b, (long long)d->partition);
    jb_lit(&b, ",\"offset\":");
    jb_int(&b, (long long)d->offset);
    jb_lit(&b, d->replay ? ",\"replay\":true" : ",\"replay\":false");
    if (with_features) {
        jb_lit(&b, ",\"features\":{");
        for (size_t i = 0; i < d->n_features && i < VG_FEATURE_COUNT; i++) {
            if (i)
                jb_lit(&b, ",");
            jb_key(&b, vg_feature_name(i));
            jb_real(&b, d->features[i]);
        }
        jb_lit(&b, "}");
    }
    jb_lit(&b, "}");
    return b.p;
}

char *vg_tx_error_json(const vg_tx_error_t *err)
{
    json_t *e = json_object();
    json_object_set_new(e, "code", json_string(err->code));
    json_object_set_new(e, "message", json_string(err->message));
    json_object_set_new(e, "field", err->field[0] ? json_string(err->field) : json_null());
    json_t *o = json_object();
    json_object_set_new(o, "error", e);
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return text;
}
