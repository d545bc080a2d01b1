/* SPDX-License-Identifier: MIT */
/*
 * Tests of the ingest codec: a full transaction round trip, every bad-input case with its
 * code and field, exact amounts per currency, timestamps, arrays with good and bad elements,
 * and the same verdicts for protobuf input.
 */
#include "actors/txcodec.h"
#include "models/features.h"
#include "runtime/compiler.h"
#include "tests/vg_test.h"

#include <cJSON.h>
#include <jansson.h>
#include <math.h>

static const vg_tx_limits_t lim = {
    .now_ms = 1795502401000ll, /* 2026-11-24T06:40:01Z */
    .max_future_skew_ms = 300000,
    .max_age_ms = 400ll * 86400000,
    .max_batch = 100,
};

/* Parses one object; returns the item (caller frees via vg_tx_items_free). */
static vg_tx_item_t *one(const char *json, size_t *n)
{
    vg_tx_item_t *items = NULL;
    vg_tx_error_t err;
    int rc = vg_tx_parse_json(json, strlen(json), &lim, &items, n, &err);
    if (rc != 0)
        VG_FAIL("body refused: %s %s", err.code, err.message);
    return items;
}

#define BASE                                                                                       \
    "\"transaction_id\":\"t1\",\"account_id\":\"A1\",\"currency\":\"EUR\",\"timestamp\":\"2026-"   \
    "11-24T06:00:00Z\""

VG_TEST(codec_full_transaction_round_trip)
{
    const char *json =
        "{\"transaction_id\":\"t-42\",\"account_id\":\"A1\",\"card_id\":\"c9\","
        "\"merchant_id\":\"M7\",\"mcc\":5411,\"amount\":\"12.34\",\"currency\":"
        "\"EUR\",\"channel\":\"ecommerce\",\"device_id\":\"d1\",\"ip\":\"2001:db8::1\","
        "\"country\":\"BE\",\"lat\":50.85,\"lon\":4.35,\"timestamp\":"
        "\"2026-11-24T07:40:01.250+01:00\",\"attributes\":{\"k\":\"v\"}}";
    size_t n = 0;
    vg_tx_item_t *it = one(json, &n);
    ASSERT_EQ(n, 1);
    ASSERT_TRUE(it[0].ok);
    const Vigil__Transaction *tx = &it[0].tx.pb;
    ASSERT_EQ(tx->amount_minor, 1234);
    ASSERT_EQ(tx->timestamp_ms, 1795502401250ll);
    ASSERT_EQ(tx->channel, VIGIL__CHANNEL__CHANNEL_ECOMMERCE);
    ASSERT_EQ(tx->mcc, 5411);
    ASSERT_TRUE(tx->has_location);
    ASSERT_EQ(tx->n_attributes, 1);
    char *back = vg_tx_to_json(tx);
    ASSERT_STR_EQ(back, "{\"transaction_id\":\"t-42\",\"account_id\":\"A1\",\"card_id\":\"c9\","
                        "\"merchant_id\":\"M7\",\"mcc\":5411,\"amount\":\"12.34\",\"currency\":"
                        "\"EUR\",\"channel\":\"ecommerce\",\"device_id\":\"d1\",\"ip\":"
                        "\"2001:db8::1\",\"country\":\"BE\",\"lat\":50.850000000000001,\"lon\":"
                        "4.3499999999999996,\"timestamp\":\"2026-11-24T06:40:01.250Z\","
                        "\"attributes\":{\"k\":\"v\"}}");
    /* And the JSON we print parses back to the same transaction. */
    size_t n2 = 0;
    vg_tx_item_t *again = one(back, &n2);
    ASSERT_TRUE(again[0].ok);
    ASSERT_EQ(again[0].tx.pb.amount_minor, 1234);
    ASSERT_EQ(again[0].tx.pb.timestamp_ms, tx->timestamp_ms);
    free(back);
    vg_tx_items_free(again, n2);
    vg_tx_items_free(it, n);
}

struct bad_case {
    const char *json;
    const char *code;
    const char *field;
};

VG_TEST(codec_every_bad_input_has_code_and_field)
{
    const struct bad_case cases[] = {
        {"{\"account_id\":\"A1\",\"amount\":1,\"currency\":\"EUR\",\"timestamp\":1795502400000}",
         "missing_field", "transaction_id"},
        {"{" BASE ",\"transaction_id\":\"\"}", "invalid_json", "transaction_id"}, /* twice */
        {"{\"transaction_id\":\"\",\"account_id\":\"A1\",\"amount\":1,\"currency\":\"EUR\","
         "\"timestamp\":1795502400000}",
         "missing_field", "transaction_id"},
        {"{" BASE "}", "missing_field", "amount"},
        {"{" BASE ",\"amount\":-5}", "invalid_amount", "amount"},
        {"{" BASE ",\"amount\":0}", "invalid_amount", "amount"},
        {"{" BASE ",\"amount\":\"12,50\"}", "invalid_amount", "amount"},
        {"{" BASE ",\"amount\":\"\"}", "invalid_amount", "amount"},
        {"{" BASE ",\"amount\":\"1e3\"}", "invalid_amount", "amount"},
        {"{" BASE ",\"amount\":1e13}", "invalid_amount", "amount"},
        {"{" BASE ",\"amount\":\"12.345\"}", "too_many_decimals", "amount"},
        {"{" BASE ",\"amount\":12.345}", "too_many_decimals", "amount"},
        {"{" BASE ",\"amount\":true}", "invalid_type", "amount"},
        {"{\"transaction_id\":\"t1\",\"account_id\":\"A1\",\"currency\":\"EUX\",\"timestamp\":1,"
         "\"amount\":1}",
         "unknown_currency", "currency"},
        {"{\"transaction_id\":\"t1\",\"account_id\":\"A1\",\"currency\":\"EUR\",\"amount\":1,"
         "\"timestamp\":\"2026-11-24T06:50:01Z\"}",
         "timestamp_in_future", "timestamp"},
        {"{\"transaction_id\":\"t1\",\"account_id\":\"A1\",\"currency\":\"EUR\",\"amount\":1,"
         "\"timestamp\":\"2020-01-01T00:00:00Z\"}",
         "timestamp_too_old", "timestamp"},
        {"{\"transaction_id\":\"t1\",\"account_id\":\"A1\",\"currency\":\"EUR\",\"amount\":1,"
         "\"timestamp\":\"yesterday\"}",
         "invalid_timestamp", "timestamp"},
        {"{" BASE ",\"amount\":1,\"colour\":\"red\"}", "unknown_field", "colour"},
        {"{" BASE ",\"amount\":1,\"account_id\":5}", "invalid_json", "account_id"},
        {"{" BASE ",\"amount\":1,\"mcc\":\"5411\"}", "invalid_mcc", "mcc"},
        {"{" BASE ",\"amount\":1,\"channel\":\"pigeon\"}", "invalid_channel", "channel"},
        {"{" BASE ",\"amount\":1,\"ip\":\"300.1.1.1\"}", "invalid_ip", "ip"},
        {"{" BASE ",\"amount\":1,\"country\":\"QQ\"}", "unknown_country", "country"},
        {"{" BASE ",\"amount\":1,\"lat\":91,\"lon\":0}", "invalid_location", "lat"},
        {"{" BASE ",\"amount\":1,\"lat\":50}", "invalid_location", "lon"},
        {"{" BASE ",\"amount\":1,\"attributes\":{\"a\":1}}", "invalid_type", "attributes.a"},
        {"{" BASE ",\"amount\":1,\"card_id\":\"a\\u0001b\"}", "invalid_id", "card_id"},
        {"[1]", "invalid_type", ""},
        /* What cJSON would take and JSON does not (see "what cJSON lets through"). */
        {"{" BASE ",\"amount\":1,\"card_id\":\"a\\u0000b\"}", "invalid_json", ""},
        {"{" BASE ",\"amount\":1,\"card_id\":\"a\tb\"}", "invalid_json", ""},
        {"{" BASE ",\"amount\":1,\"card_id\":\"a\xff\"}", "invalid_json", ""},
        {"{" BASE ",\"amount\":1,\"card_id\":\"a\xc3\"}", "invalid_json", ""},
        {"{" BASE ",\"amount\":01}", "invalid_json", ""},
        {"{" BASE ",\"amount\":1.}", "invalid_json", ""},
        {"{" BASE ",\"amount\":1e}", "invalid_json", ""},
        {"{" BASE ",\"amount\":-}", "invalid_json", ""},
        {"{" BASE ",\"amount\":1} x", "invalid_json", ""},
        {"{" BASE ",\"amount\":1,\"card_id\":\"abc}", "invalid_json", ""},
        {"{" BASE ",\"amount\":1,\"card_id\":\"a\\u00e;\"}", "invalid_json", ""},
        {"{" BASE ",\"amount\":1,\"card_id\":\"a\\u00\"}", "invalid_json", ""},
        {"{" BASE ",\"amount\":1,\"card_id\":\"a\\x\"}", "invalid_json", ""},
        {"{" BASE ",\"amount\":\x01"
         "1}",
         "invalid_json", ""},
        {"{" BASE ",\"amount\":1}\x0b", "invalid_json", ""},
        {"{" BASE ",\"amount\":1,\"mcc\":54.5}", "invalid_mcc", "mcc"},
        {"{" BASE ",\"amount\":1,\"attributes\":{\"a\":\"1\",\"a\":\"2\"}}", "invalid_attribute",
         "attributes.a"},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        vg_tx_item_t *items = NULL;
        size_t n = 0;
        vg_tx_error_t err;
        memset(&err, 0, sizeof(err));
        int rc = vg_tx_parse_json(cases[i].json, strlen(cases[i].json), &lim, &items, &n, &err);
        const vg_tx_error_t *got = rc != 0 ? &err : &items[0].error;
        if (rc == 0 && items[0].ok)
            VG_FAIL("case %zu accepted: %s", i, cases[i].json);
        if (strcmp(got->code, cases[i].code) != 0 || strcmp(got->field, cases[i].field) != 0)
            VG_FAIL("case %zu: want %s/%s, got %s/%s (%s)", i, cases[i].code, cases[i].field,
                    got->code, got->field, got->message);
        vg_tx_items_free(items, n);
    }
    vg_tx_items_free(NULL, 0);
}

static int64_t amount_of(const char *amount, const char *currency, const char **code)
{
    char json[512];
    snprintf(json, sizeof(json),
             "{\"transaction_id\":\"t\",\"account_id\":\"a\",\"timestamp\":1795502400000,"
             "\"currency\":\"%s\",\"amount\":%s}",
             currency, amount);
    size_t n = 0;
    vg_tx_item_t *it = one(json, &n);
    int64_t v = it[0].ok ? it[0].tx.pb.amount_minor : -1;
    static char last[32];
    snprintf(last, sizeof(last), "%s", it[0].error.code);
    *code = last;
    vg_tx_items_free(it, n);
    return v;
}

VG_TEST(codec_amounts_are_exact_per_currency)
{
    static const struct {
        const char *amount, *currency;
        int64_t minor;
    } taken[] = {
        {"\"12.34\"", "EUR", 1234},
        {"12.34", "EUR", 1234},
        {"0.1", "EUR", 10},
        {"\"0.10\"", "EUR", 10},
        {"\"12.340\"", "EUR", 1234}, /* trailing zeros are exact */
        {"\"1\"", "JPY", 1},
        {"\"0.001\"", "KWD", 1},
        {"1e3", "USD", 100000},
        {"\"999999999999.99\"", "USD", 99999999999999ll},
        {"\"007.50\"", "EUR", 750}, /* leading zeros are allowed */
        {"\"0000000000000000000000001.000000000000000000000\"", "EUR", 100},
        {"123456789.5", "EUR", 12345678950ll},
        {"999999999999.99", "USD", 99999999999999ll},
        {"1.5E+2", "EUR", 15000},
        {"1234e-2", "EUR", 1234},
        {"12.3400", "EUR", 1234},
        {"0.001", "KWD", 1},
        {"1.000000000000000000000000000000", "EUR", 100},
        /* the literal found is this field's, past the numbers before it in the body */
        {"7.25,\"mcc\":5411,\"lat\":1.5,\"lon\":2.25", "EUR", 725},
    };
    static const struct {
        const char *amount, *currency, *code;
    } refused[] = {
        {"\"1.5\"", "JPY", "too_many_decimals"},
        /* A string that is not a decimal is that, whatever else is wrong with it. */
        {"\"1.234x\"", "EUR", "invalid_amount"},
        {"\"12.\"", "EUR", "invalid_amount"},
        {"\".5\"", "EUR", "invalid_amount"},
        {"\"1e3\"", "EUR", "invalid_amount"},
        {"\"1 \"", "EUR", "invalid_amount"},
        {"\"\"", "EUR", "invalid_amount"},
        {"\"+5\"", "EUR", "invalid_amount"},
        {"\"-5\"", "EUR", "invalid_amount"},
        {"\"0.00\"", "EUR", "invalid_amount"},
        {"\"10000000000000\"", "EUR", "invalid_amount"},
        /* A number is read from its literal, not from the double cJSON makes of it: these are
         * all within a double's rounding of an amount with the currency's decimals. */
        {"123456789.5", "JPY", "too_many_decimals"},
        {"1000000.001", "EUR", "too_many_decimals"},
        {"12.3400000001", "EUR", "too_many_decimals"},
        {"1.000000000000000000000000000001", "EUR", "too_many_decimals"},
        {"1e-400", "EUR", "too_many_decimals"},
        {"1e400", "EUR", "invalid_amount"}, /* a double's infinity */
        {"-0.0", "EUR", "invalid_amount"},
        {"0e9", "EUR", "invalid_amount"},
    };
    const char *code = NULL;
    for (size_t i = 0; i < VG_ARRAY_LEN(taken); i++) {
        int64_t got = amount_of(taken[i].amount, taken[i].currency, &code);
        if (got != taken[i].minor)
            VG_FAIL("%s %s: %lld minor units, want %lld (%s)", taken[i].amount, taken[i].currency,
                    (long long)got, (long long)taken[i].minor, code);
    }
    for (size_t i = 0; i < VG_ARRAY_LEN(refused); i++) {
        int64_t got = amount_of(refused[i].amount, refused[i].currency, &code);
        if (got != -1 || strcmp(code, refused[i].code) != 0)
            VG_FAIL("%s %s: %lld (%s), want %s", refused[i].amount, refused[i].currency,
                    (long long)got, code, refused[i].code);
    }
    ASSERT_EQ(vg_currency_exponent("EUR"), 2);
    ASSERT_EQ(vg_currency_exponent("JPY"), 0);
    ASSERT_EQ(vg_currency_exponent("BHD"), 3);
    ASSERT_EQ(vg_currency_exponent("eur"), -1);
    ASSERT_EQ(vg_currency_exponent("EU"), -1);
}

VG_TEST(codec_array_reports_bad_elements_by_index)
{
    const char *json = "[{\"transaction_id\":\"a\",\"account_id\":\"A\",\"amount\":1,"
                       "\"currency\":\"EUR\",\"timestamp\":1795502400000},"
                       "{\"transaction_id\":\"b\",\"account_id\":\"A\",\"amount\":-1,"
                       "\"currency\":\"EUR\",\"timestamp\":1795502400000},"
                       "{\"transaction_id\":\"c\",\"account_id\":\"A\",\"amount\":2,"
                       "\"currency\":\"EUR\",\"timestamp\":1795502400000}]";
    size_t n = 0;
    vg_tx_item_t *it = one(json, &n);
    ASSERT_EQ(n, 3);
    ASSERT_TRUE(it[0].ok);
    ASSERT_FALSE(it[1].ok);
    ASSERT_EQ(it[1].index, 1);
    ASSERT_STR_EQ(it[1].error.code, "invalid_amount");
    ASSERT_TRUE(it[2].ok);
    ASSERT_STR_EQ(it[2].tx.pb.transaction_id, "c");
    vg_tx_items_free(it, n);
    vg_tx_limits_t small = lim;
    small.max_batch = 2;
    vg_tx_error_t err;
    vg_tx_item_t *items = NULL;
    ASSERT_ERR(vg_tx_parse_json(json, strlen(json), &small, &items, &n, &err), VG_EINVAL);
    ASSERT_STR_EQ(err.code, "batch_too_large");
    ASSERT_ERR(vg_tx_parse_json("[]", 2, &lim, &items, &n, &err), VG_EINVAL);
    ASSERT_ERR(vg_tx_parse_json("{nope", 5, &lim, &items, &n, &err), VG_EINVAL);
    ASSERT_STR_EQ(err.code, "invalid_json");
    char *ej = vg_tx_error_json(&err);
    ASSERT_STR_CONTAINS(ej, "{\"error\":{\"code\":\"invalid_json\",\"message\":\"invalid JSON");
    ASSERT_STR_CONTAINS(ej, "\"field\":null}}");
    free(ej);
}

/* cJSON's memory during a parse comes from a region of the thread's that the next parse
 * reuses: what the items keep must be their own copies, a body far bigger than one region
 * block parses (every other amount a number, read from its literal among 3,000 numbers), and
 * cJSON outside a parse, like jansson (an error's JSON, freed with free), has malloc's. */
VG_TEST(codec_parse_keeps_nothing_of_the_parsers_memory)
{
    enum { N = 1000 };
    size_t cap = (size_t)N * 200 + 16;
    char *big = vg_xmalloc(cap);
    size_t len = 0;
    big[len++] = '[';
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(big + len, cap - len,
                                "%s{\"transaction_id\":\"big-%d\",\"account_id\":\"acct-%d\","
                                "\"mcc\":%d,\"amount\":%s%d.25%s,\"currency\":\"EUR\","
                                "\"timestamp\":1795502400000,\"attributes\":{\"k\":\"v%d\"}}",
                                i ? "," : "", i, i, i % 10000, i % 2 ? "" : "\"", i + 1,
                                i % 2 ? "" : "\"", i);
    big[len++] = ']';
    vg_tx_limits_t many = lim;
    many.max_batch = N;
    vg_tx_item_t *items = NULL;
    size_t n = 0;
    vg_tx_error_t err;
    ASSERT_OK(vg_tx_parse_json(big, len, &many, &items, &n, &err));
    ASSERT_EQ(n, N);
    memset(big, ' ', len); /* the items must not point into the body either */
    free(big);
    size_t n2 = 0;
    vg_tx_item_t *other = one("{" BASE ",\"amount\":\"1.00\"}", &n2); /* reuses the region */
    for (int i = 0; i < N; i += 37) {
        char want[32];
        ASSERT_TRUE(items[i].ok);
        snprintf(want, sizeof(want), "big-%d", i);
        ASSERT_STR_EQ(items[i].tx.pb.transaction_id, want);
        snprintf(want, sizeof(want), "acct-%d", i);
        ASSERT_STR_EQ(items[i].tx.pb.account_id, want);
        ASSERT_EQ(items[i].tx.pb.amount_minor, (int64_t)(i + 1) * 100 + 25);
        ASSERT_EQ(items[i].tx.pb.n_attributes, 1);
        snprintf(want, sizeof(want), "v%d", i);
        ASSERT_STR_EQ(items[i].tx.pb.attributes[0]->value, want);
    }
    vg_tx_items_free(other, n2);
    vg_tx_items_free(items, n);
    Vigil__Transaction tx = VIGIL__TRANSACTION__INIT;
    tx.transaction_id = "after";
    char *j = vg_tx_to_json(&tx);
    ASSERT_STR_CONTAINS(j, "\"after\"");
    free(j); /* malloc's memory: a region's would make free() abort */
    cJSON *c = cJSON_Parse("{\"k\":\"v\"}");
    ASSERT_TRUE(c != NULL);
    cJSON_Delete(c); /* the same for cJSON's hooks */
}

VG_TEST(codec_labels_parse_and_refuse_a_key_twice)
{
    const char *json = "[{\"transaction_id\":\"t1\",\"is_fraud\":true,\"source\":\"chargeback\","
                       "\"reported_at\":1795502400000},"
                       "{\"transaction_id\":\"t2\",\"is_fraud\":false,\"is_fraud\":true},"
                       "{\"transaction_id\":\"t3\"},{\"transaction_id\":\"t4\",\"is_fraud\":1}]";
    vg_label_item_t *items = NULL;
    size_t n = 0;
    vg_tx_error_t err;
    ASSERT_OK(vg_label_parse_json(json, strlen(json), &lim, &items, &n, &err));
    ASSERT_EQ(n, 4);
    ASSERT_TRUE(items[0].ok);
    ASSERT_STR_EQ(items[0].pb.transaction_id, "t1");
    ASSERT_STR_EQ(items[0].pb.source, "chargeback");
    ASSERT_TRUE(items[0].pb.is_fraud);
    ASSERT_EQ(items[0].pb.reported_at_ms, 1795502400000);
    ASSERT_FALSE(items[1].ok);
    ASSERT_STR_EQ(items[1].error.code, "invalid_json");
    ASSERT_STR_EQ(items[1].error.field, "is_fraud");
    ASSERT_FALSE(items[2].ok);
    ASSERT_STR_EQ(items[2].error.code, "missing_field");
    ASSERT_STR_EQ(items[2].error.field, "is_fraud");
    ASSERT_FALSE(items[3].ok);
    ASSERT_STR_EQ(items[3].error.code, "invalid_type");
    vg_label_items_free(items, n);
    const char *nul = "[{\"transaction_id\":\"a\\u0000\",\"is_fraud\":true}]";
    ASSERT_ERR(vg_label_parse_json(nul, strlen(nul), &lim, &items, &n, &err), VG_EINVAL);
    ASSERT_STR_EQ(err.code, "invalid_json");
}

/* The body is checked before cJSON parses it, strings 8 bytes at a time: a raw control
 * character, a byte that is not UTF-8 or \\u0000 is found wherever it sits in a string, and
 * what is fine there (UTF-8, an escaped quote, the printable range's edges) passes anywhere. */
VG_TEST(codec_body_faults_are_found_at_every_position)
{
    static const struct {
        const char *put;
        const char *why; /* NULL: accepted */
    } cases[] = {{"\x01", "control character"},
                 {"\x1f", "control character"},
                 {"\xff", "not UTF-8"},
                 {"\xc3(", "not UTF-8"},
                 {"\\u0000", "NUL"},
                 {"\xc3\xa9", NULL},
                 {"\\u00e;", "four hex digits"},
                 {"\\\"", NULL},
                 {"\\u00E9\\n", NULL},
                 {"\\\\", NULL},
                 {" ~\x7f", NULL}};
    for (size_t at = 0; at < 20; at++) {
        for (size_t c = 0; c < VG_ARRAY_LEN(cases); c++) {
            char id[40];
            memset(id, 'x', at);
            snprintf(id + at, sizeof(id) - at, "%s%.*s", cases[c].put, (int)(20 - at),
                     "yyyyyyyyyyyyyyyyyyyy");
            char json[256];
            snprintf(json, sizeof(json), "{" BASE ",\"amount\":1,\"attributes\":{\"k\":\"%s\"}}",
                     id);
            vg_tx_item_t *items = NULL;
            size_t n = 0;
            vg_tx_error_t err;
            int rc = vg_tx_parse_json(json, strlen(json), &lim, &items, &n, &err);
            if (!cases[c].why) {
                if (rc != 0 || !items[0].ok)
                    VG_FAIL("at %zu case %zu refused: %s (%s)", at, c, json,
                            rc ? err.message : items[0].error.message);
                vg_tx_items_free(items, n);
                continue;
            }
            if (rc == 0)
                VG_FAIL("at %zu case %zu accepted: %s", at, c, json);
            ASSERT_STR_EQ(err.code, "invalid_json");
            ASSERT_STR_CONTAINS(err.message, cases[c].why);
            char col[32]; /* the fault's own column, 1-based */
            snprintf(col, sizeof(col), "column %zu:",
                     strlen("{" BASE ",\"amount\":1,\"attributes\":{\"k\":\"") + at + 1);
            ASSERT_STR_CONTAINS(err.message, col);
        }
    }
}

/* A timestamp outside the window is said as a date; epoch seconds or microseconds, the
 * likeliest mistakes, are named as such. */
VG_TEST(codec_timestamp_errors_say_the_date_and_the_unit_mixed_up)
{
    static const struct {
        int64_t ms;
        const char *code;
        const char *message;
    } cases[] = {
        {1577836800000ll, "timestamp_too_old",
         "timestamp 2020-01-01T00:00:00.000Z is more than 400 days old"},
        {1795502400ll, "timestamp_too_old",
         "timestamp 1970-01-21T18:45:02.400Z is more than 400 days old (an epoch timestamp is in "
         "milliseconds, not seconds)"},
        {1795502400000000ll, "timestamp_in_future",
         "timestamp 1795502400000000 is more than 300 s in the future (an epoch "
         "timestamp is in milliseconds, not microseconds)"},
        {1795502400000ll + 86400000, "timestamp_in_future",
         "timestamp 2026-11-25T06:40:00.000Z is more than 300 s in the future"},
        {INT64_MIN, "timestamp_too_old",
         "timestamp -9223372036854775808 is more than 400 days old"},
        {INT64_MAX, "timestamp_in_future",
         "timestamp 9223372036854775807 is more than 300 s in the future"},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        Vigil__Transaction tx = VIGIL__TRANSACTION__INIT;
        tx.transaction_id = "t1";
        tx.account_id = "A1";
        tx.currency = "EUR";
        tx.amount_minor = 100;
        tx.timestamp_ms = cases[i].ms;
        vg_tx_error_t err;
        ASSERT_ERR(vg_tx_validate(&tx, &lim, &err), VG_EINVAL);
        ASSERT_STR_EQ(err.code, cases[i].code);
        ASSERT_STR_EQ(err.field, "timestamp");
        ASSERT_STR_EQ(err.message, cases[i].message);
    }
}

VG_TEST(codec_protobuf_gets_the_same_verdicts)
{
    Vigil__Transaction tx = VIGIL__TRANSACTION__INIT;
    tx.transaction_id = "t1";
    tx.account_id = "A1";
    tx.currency = "EUR";
    tx.amount_minor = 100;
    tx.timestamp_ms = 1795502400000ll;
    vg_tx_error_t err;
    ASSERT_OK(vg_tx_validate(&tx, &lim, &err));
    tx.amount_minor = -1;
    ASSERT_ERR(vg_tx_validate(&tx, &lim, &err), VG_EINVAL);
    ASSERT_STR_EQ(err.code, "invalid_amount");
    tx.amount_minor = 100;
    tx.currency = "XYZ";
    ASSERT_ERR(vg_tx_validate(&tx, &lim, &err), VG_EINVAL);
    ASSERT_STR_EQ(err.code, "unknown_currency");
    tx.currency = "EUR";
    tx.timestamp_ms = lim.now_ms + 600000;
    ASSERT_ERR(vg_tx_validate(&tx, &lim, &err), VG_EINVAL);
    ASSERT_STR_EQ(err.code, "timestamp_in_future");
    tx.timestamp_ms = 1795502400000ll;
    /* proto3 cannot tell lat 0 from none: a location without has_location would go unused */
    tx.lat = 50.5;
    ASSERT_ERR(vg_tx_validate(&tx, &lim, &err), VG_EINVAL);
    ASSERT_STR_EQ(err.code, "invalid_location");
    ASSERT_STR_EQ(err.field, "has_location");
    tx.has_location = 1;
    ASSERT_OK(vg_tx_validate(&tx, &lim, &err));
    tx.has_location = 0;
    tx.lat = 0;
    tx.account_id = "";
    ASSERT_ERR(vg_tx_validate(&tx, &lim, &err), VG_EINVAL);
    ASSERT_STR_EQ(err.field, "account_id");
    /* A protobuf string is not checked for UTF-8 by protobuf-c: ids are, here. */
    tx.account_id = "caf\xc3\xa9-\xe2\x82\xac";
    ASSERT_OK(vg_tx_validate(&tx, &lim, &err));
    static const char *const bad[] = {"a\xff", "a\xc3", "\xc0\xaf", "\xed\xa0\x80",
                                      "\xf4\x90\x80\x80"};
    for (size_t i = 0; i < VG_ARRAY_LEN(bad); i++) {
        tx.account_id = vg_unconst(bad[i]);
        ASSERT_ERR(vg_tx_validate(&tx, &lim, &err), VG_EINVAL);
        ASSERT_STR_EQ(err.code, "invalid_id");
        ASSERT_STR_CONTAINS(err.message, "UTF-8");
    }
    /* A bad byte is found wherever it sits (ids are scanned 8 bytes at a time), and the
     * printable range's edges and UTF-8 pass everywhere. */
    static const struct {
        unsigned char byte;
        const char *why;
    } faults[] = {{0x01, "control"}, {0x1f, "control"}, {0x7f, "control"}, {0xff, "UTF-8"}};
    char id[24];
    for (size_t at = 0; at < 20; at++) {
        for (size_t f = 0; f < VG_ARRAY_LEN(faults); f++) {
            memset(id, 'x', 20);
            id[20] = '\0';
            id[at] = (char)faults[f].byte;
            tx.account_id = id;
            ASSERT_ERR(vg_tx_validate(&tx, &lim, &err), VG_EINVAL);
            ASSERT_STR_EQ(err.code, "invalid_id");
            ASSERT_STR_CONTAINS(err.message, faults[f].why);
        }
        memset(id, ' ', 20);
        memcpy(id + (at < 18 ? at : 17), "\x7e\xc3\xa9", 3);
        id[20] = '\0';
        tx.account_id = id;
        ASSERT_OK(vg_tx_validate(&tx, &lim, &err));
    }
}

VG_TEST(codec_decision_json)
{
    Vigil__Reason r = VIGIL__REASON__INIT;
    r.feature = "amount_zscore";
    r.value = 4.5;
    r.contribution = 1.25;
    Vigil__Reason *rs[] = {&r};
    char *hits[] = {"r-big"};
    Vigil__Decision d = VIGIL__DECISION__INIT;
    d.transaction_id = "t1";
    d.score = 0.5;
    d.level = VIGIL__LEVEL__LEVEL_HIGH;
    d.n_reasons = 1;
    d.reasons = rs;
    d.n_rule_hits = 1;
    d.rule_hits = hits;
    d.model_version = "xgb-1";
    d.partition = 3;
    d.offset = 77;
    float feats[] = {12.5f, NAN}; /* amount, log_amount (NaN: missing, shown as null) */
    d.n_features = 2;
    d.features = feats;
    char *j = vg_decision_to_json(&d, true);
    ASSERT_STR_EQ(j, "{\"transaction_id\":\"t1\",\"score\":0.5,\"level\":\"HIGH\",\"reasons\":[{"
                     "\"feature\":\"amount_zscore\",\"value\":4.5,\"contribution\":1.25}],"
                     "\"rules\":[\"r-big\"],\"model_version\":\"xgb-1\",\"partition\":3,"
                     "\"offset\":77,\"replay\":false,"
                     "\"features\":{\"amount\":12.5,\"log_amount\":null}}");
    free(j);
    j = vg_decision_to_json(&d, false); /* the vector only when asked for */
    ASSERT_FALSE(strstr(j, "features") != NULL);
    free(j);
}

/* The decision JSON as jansson dumps it: the reference vg_decision_to_json must equal.
 * Non-finite reals are null (jansson itself refuses them: the key would be missing). */
static json_t *real_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static char *jansson_decision(const Vigil__Decision *d, bool with_features)
{
    static const char *const levels[] = {"LOW", "LOW", "MEDIUM", "HIGH"};
    json_t *o = json_object();
    json_object_set_new(o, "transaction_id", json_string(d->transaction_id));
    json_object_set_new(o, "score", json_real(d->score));
    json_object_set_new(o, "level", json_string(levels[d->level]));
    json_t *reasons = json_array();
    for (size_t i = 0; i < d->n_reasons; i++) {
        json_t *r = json_object();
        json_object_set_new(r, "feature", json_string(d->reasons[i]->feature));
        json_object_set_new(r, "value", real_or_null(d->reasons[i]->value));
        json_object_set_new(r, "contribution", real_or_null(d->reasons[i]->contribution));
        json_array_append_new(reasons, r);
    }
    json_object_set_new(o, "reasons", reasons);
    json_t *rules = json_array();
    for (size_t i = 0; i < d->n_rule_hits; i++)
        json_array_append_new(rules, json_string(d->rule_hits[i]));
    json_object_set_new(o, "rules", rules);
    json_object_set_new(o, "model_version", json_string(d->model_version));
    json_object_set_new(o, "partition", json_integer(d->partition));
    json_object_set_new(o, "offset", json_integer((json_int_t)d->offset));
    json_object_set_new(o, "replay", json_boolean(d->replay));
    if (with_features) {
        json_t *feats = json_object();
        for (size_t i = 0; i < d->n_features; i++)
            json_object_set_new(feats, vg_feature_name(i), real_or_null(d->features[i]));
        json_object_set_new(o, "features", feats);
    }
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(o);
    return text;
}

static uint64_t rnd(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* A double of any sign and magnitude, or a small integer, or zero of either sign. */
static double any_double(uint64_t *x)
{
    switch (rnd(x) % 6) {
    case 0:
        return (double)(int64_t)(rnd(x) % 2001) - 1000.0;
    case 1:
        return rnd(x) % 2 ? 0.0 : -0.0;
    case 2:
        return ldexp((double)(rnd(x) % 1000000), (int)(rnd(x) % 2000) - 1000);
    case 3:
        return -ldexp((double)(rnd(x) % 1000000), (int)(rnd(x) % 200) - 100);
    case 4:
        return (float)((double)(rnd(x) % 1000000) / 1000.0);
    default: {
        double v;
        uint64_t bits = rnd(x);
        memcpy(&v, &bits, sizeof(v));
        return isfinite(v) ? v : 1.5;
    }
    }
}

/* Byte for byte what jansson dumps, over decisions with odd strings (quotes, backslashes,
 * escapes, multi-byte UTF-8) and reals of every shape (exponents, integers, negative zero). */
VG_TEST(codec_decision_json_is_what_jansson_dumps)
{
    static const char *const ids[] = {"t1",
                                      "with \"quotes\" and \\ back",
                                      "tab\there\nnew\rline\b\f",
                                      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x92\xb3",
                                      "ctl\x01\x1f end",
                                      "",
                                      "/slash/ok",
                                      "\x7f del"};
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int round = 0; round < 2000; round++) {
        Vigil__Reason rv[3];
        Vigil__Reason *rp[3];
        for (int i = 0; i < 3; i++) {
            vigil__reason__init(&rv[i]);
            rv[i].feature = vg_unconst(vg_feature_name(rnd(&x) % VG_FEATURE_COUNT));
            rv[i].value = rnd(&x) % 5 == 0 ? NAN : any_double(&x);
            rv[i].contribution = any_double(&x);
            rp[i] = &rv[i];
        }
        char *hits[] = {"rule-1", "r\"2"};
        float feats[VG_FEATURE_COUNT];
        for (size_t i = 0; i < VG_FEATURE_COUNT; i++)
            feats[i] = rnd(&x) % 7 == 0 ? NAN : (float)any_double(&x);
        Vigil__Decision d = VIGIL__DECISION__INIT;
        d.transaction_id = vg_unconst(ids[rnd(&x) % VG_ARRAY_LEN(ids)]);
        d.score = (float)((double)(rnd(&x) % 1000001) / 1e6);
        d.level = (Vigil__Level)(rnd(&x) % 4);
        d.n_reasons = rnd(&x) % 4;
        d.reasons = rp;
        d.n_rule_hits = rnd(&x) % 3;
        d.rule_hits = hits;
        d.model_version = rnd(&x) % 2 ? "xgb-36e5a3beb2133ffa" : "";
        d.partition = (uint32_t)(rnd(&x) % 64);
        d.offset = rnd(&x) % 3 ? rnd(&x) % 100000 : (uint64_t)INT64_MAX;
        d.replay = rnd(&x) % 2;
        d.n_features = VG_FEATURE_COUNT;
        d.features = feats;
        bool with = rnd(&x) % 2;
        char *want = jansson_decision(&d, with);
        char *got = vg_decision_to_json(&d, with);
        ASSERT_NOT_NULL(want);
        if (strcmp(want, got) != 0)
            VG_FAIL("round %d:\n jansson %s\n vigil   %s", round, want, got);
        free(want);
        free(got);
    }
    /* Bytes that are not UTF-8 (jansson would have dropped the field) come out as U+FFFD. */
    Vigil__Decision d = VIGIL__DECISION__INIT;
    d.transaction_id = "bad\xff\xc3(";
    d.model_version = "";
    char *got = vg_decision_to_json(&d, false);
    ASSERT_STR_CONTAINS(got, "\"bad\xef\xbf\xbd\xef\xbf\xbd(\"");
    json_error_t jerr;
    json_t *back = json_loads(got, 0, &jerr);
    ASSERT_NOT_NULL(back);
    json_decref(back);
    free(got);
}
