/* SPDX-License-Identifier: MIT */
/*
 * The transaction pipeline through the real binary over loopback: POST /v1/score decides with
 * a model trained by `vigil train` (reasons for flagged ones), every bad-input case gets its
 * 4xx error and stays out of the log, a repeated transaction_id gets the original decision
 * and changes no state, labels before and after their transaction, and the feature values of
 * a scripted account history checked against numbers computed by hand.
 */
#include "actors/merchant.h"
#include "actors/route.h"
#include "runtime/io.h"
#include "tests/support/accounts.h"
#include "tests/support/http_client.h"
#include "tests/support/proc.h"
#include "tests/vg_test.h"

#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define DAY_MS 86400000LL

struct engine {
    vg_tp_t proc;
    int port;
    char data[512];
    char model[512];
    const char *const *env; /* extra VIGIL_* settings, or NULL */
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define PARTITIONS 4 /* the engine's --partitions */

/* Starts (or restarts) the engine on e->data with e->model. */
static void engine_spawn(struct engine *e)
{
    char parts[16];
    snprintf(parts, sizeof(parts), "%d", PARTITIONS);
    const char *args[] = {"serve", "--data",       e->data, "--http-port", "0",      "--tcp-port",
                          "0",     "--partitions", parts,   "--model",     e->model, NULL};
    ASSERT_OK(vg_tp_spawn(&e->proc, args, e->env));
    char line[512];
    if (vg_tp_wait_line(&e->proc, "vigil: serving", line, sizeof(line), 30000) != 0)
        VG_FAIL("engine did not start: %s", vg_tp_stderr(&e->proc));
    e->port = atoi(strchr(strstr(line, "http="), ':') + 1);
}

/* Trains a small model with the project's own trainer, then starts the engine with it. */
static void engine_start(struct engine *e)
{
    snprintf(e->data, sizeof(e->data), "%s/data", vg_test_tmpdir());
    snprintf(e->model, sizeof(e->model), "%s/model.json", vg_test_tmpdir());
    const char *train[] = {"train",  "--synthetic", "--out",   e->model, "--accounts", "500",
                           "--days", "30",          "--trees", "30",     NULL};
    int code = -1;
    char *err = NULL;
    ASSERT_OK(vg_tp_run(train, NULL, 120000, &code, NULL, &err));
    if (code != 0)
        VG_FAIL("vigil train failed: %s", err);
    free(err);
    engine_spawn(e);
}

static void engine_stop(struct engine *e)
{
    vg_tp_signal(&e->proc, SIGTERM);
    int status = 0;
    ASSERT_OK(vg_tp_wait(&e->proc, 20000, &status));
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    vg_tp_cleanup(&e->proc);
}

/* One request; returns the status, the body in *body (caller frees). */
static int call(struct engine *e, const char *method, const char *path, const char *ctype,
                const char *payload, char **body)
{
    vg_tc_response_t r;
    ASSERT_OK(
        vg_tc_request(e->port, method, path, ctype, payload, payload ? strlen(payload) : 0, &r));
    *body = r.body;
    return r.status;
}

static int score(struct engine *e, const char *payload, char **body)
{
    return call(e, "POST", "/v1/score?features=true", "application/json", payload, body);
}

/* The number after "key": in json (the first occurrence), or NAN. */
static double num(const char *json, const char *key)
{
    char pat[96];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(json, pat);
    if (!p || strncmp(p + strlen(pat), "null", 4) == 0)
        return NAN;
    return strtod(p + strlen(pat), NULL);
}

/* Waits (up to 10 s: housekeeping runs every second) until every path answers 404. */
static void wait_gone(struct engine *e, const char *const *paths, size_t n)
{
    int status = 0;
    for (int i = 0; i < 100; i++) {
        status = 404;
        for (size_t g = 0; g < n && status == 404; g++) {
            char *resp = NULL;
            status = call(e, "GET", paths[g], NULL, NULL, &resp);
            free(resp);
        }
        if (status == 404)
            return;
        struct timespec pause = {0, 100000000};
        nanosleep(&pause, NULL);
    }
    ASSERT_EQ(status, 404);
}

/* Bytes of the decision logs' segments, every partition's. */
static uint64_t decision_bytes(const struct engine *e)
{
    uint64_t total = 0;
    for (int p = 0; p < PARTITIONS; p++) {
        char dir[600];
        snprintf(dir, sizeof(dir), "%s/p%02d/decisions", e->data, p);
        DIR *d = opendir(dir);
        for (struct dirent *de; d && (de = readdir(d));) {
            size_t n = strlen(de->d_name);
            char path[900];
            struct stat st;
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
            if (n > 4 && strcmp(de->d_name + n - 4, ".seg") == 0 && stat(path, &st) == 0)
                total += (uint64_t)st.st_size;
        }
        if (d)
            closedir(d);
    }
    return total;
}

static void tx_json(char *buf, size_t len, const char *id, const char *acct, const char *amount,
                    long long ts, const char *extra)
{
    snprintf(buf, len,
             "{\"transaction_id\":\"%s\",\"account_id\":\"%s\",\"amount\":\"%s\","
             "\"currency\":\"EUR\",\"timestamp\":%lld%s%s}",
             id, acct, amount, ts, extra ? "," : "", extra ? extra : "");
}

VG_TEST(score_decides_with_the_model_and_explains_flagged_ones)
{
    struct engine e = {0};
    engine_start(&e);
    long long t = now_ms() - 60000;
    char body[512];
    char *resp = NULL;
    tx_json(body, sizeof(body), "s1", "acct-s", "12.50", t, "\"merchant_id\":\"m1\"");
    ASSERT_EQ(score(&e, body, &resp), 200);
    ASSERT_STR_CONTAINS(resp, "\"transaction_id\":\"s1\"");
    ASSERT_STR_CONTAINS(resp, "\"level\":\"LOW\"");
    ASSERT_STR_CONTAINS(resp, "\"model_version\":\"xgb-");
    ASSERT_STR_CONTAINS(resp, "\"replay\":false");
    ASSERT_STR_CONTAINS(resp, "\"reasons\":[]"); /* LOW: no reasons computed */
    double s = num(resp, "score");
    ASSERT_TRUE(s >= 0 && s < 0.5);
    ASSERT_EQ_DBL(num(resp, "amount"), 12.5, 1e-6);
    free(resp);
    /* A burst of large e-commerce payments abroad within seconds: the trained model flags it,
     * and a flagged decision carries up to 3 reasons with positive contributions. */
    int flagged = 0;
    for (int i = 0; i < 10; i++) {
        char id[16];
        snprintf(id, sizeof(id), "s-burst-%d", i);
        tx_json(body, sizeof(body), id, "acct-s", "950.00", t + 1000 + i,
                "\"channel\":\"ecommerce\",\"country\":\"BR\"");
        ASSERT_EQ(score(&e, body, &resp), 200);
        if (!strstr(resp, "\"level\":\"LOW\"")) {
            flagged++;
            ASSERT_STR_CONTAINS(resp, "\"reasons\":[{\"feature\":\"");
            ASSERT_TRUE(num(resp, "contribution") > 0);
            ASSERT_TRUE(num(resp, "score") >= 0.5);
        }
        free(resp);
    }
    ASSERT_GT(flagged, 3);
    /* The decision is kept: GET shows the transaction, the same decision and no label. */
    ASSERT_EQ(call(&e, "GET", "/v1/transactions/s-burst-9", NULL, NULL, &resp), 200);
    ASSERT_STR_CONTAINS(resp, "\"transaction\":{\"transaction_id\":\"s-burst-9\"");
    ASSERT_STR_CONTAINS(resp, "\"amount\":\"950.00\"");
    ASSERT_STR_CONTAINS(resp, "\"decision\":{\"transaction_id\":\"s-burst-9\"");
    ASSERT_STR_CONTAINS(resp, "\"label\":null");
    free(resp);
    ASSERT_EQ(call(&e, "GET", "/v1/transactions/nope", NULL, NULL, &resp), 404);
    free(resp);
    engine_stop(&e);
}

VG_TEST(score_rejects_every_bad_input_and_logs_none_of_it)
{
    struct engine e = {0};
    engine_start(&e);
    long long t = now_ms();
    char future[64];
    snprintf(future, sizeof(future), "%lld", t + 2 * DAY_MS);
    static const struct {
        const char *json; /* the fields after transaction_id */
        const char *code;
        const char *field;
    } cases[] = {
        {"\"account_id\":\"a\",\"amount\":\"1\",\"currency\":\"EUR\"", "missing_field",
         "timestamp"},
        {"\"account_id\":\"\",\"amount\":\"1\",\"currency\":\"EUR\",\"timestamp\":1",
         "missing_field", "account_id"},
        {"\"account_id\":\"a\",\"amount\":\"-5\",\"currency\":\"EUR\",\"timestamp\":T",
         "invalid_amount", "amount"},
        {"\"account_id\":\"a\",\"amount\":\"\",\"currency\":\"EUR\",\"timestamp\":T",
         "invalid_amount", "amount"},
        {"\"account_id\":\"a\",\"amount\":\"12abc\",\"currency\":\"EUR\",\"timestamp\":T",
         "invalid_amount", "amount"},
        {"\"account_id\":\"a\",\"amount\":1e15,\"currency\":\"EUR\",\"timestamp\":T",
         "invalid_amount", "amount"},
        {"\"account_id\":\"a\",\"amount\":\"0\",\"currency\":\"EUR\",\"timestamp\":T",
         "invalid_amount", "amount"},
        {"\"account_id\":\"a\",\"amount\":\"1.234\",\"currency\":\"EUR\",\"timestamp\":T",
         "too_many_decimals", "amount"},
        /* a number is read as written, not as the nearest double: 123456789.5 is within a
         * double's rounding of 123456790 */
        {"\"account_id\":\"a\",\"amount\":123456789.5,\"currency\":\"JPY\",\"timestamp\":T",
         "too_many_decimals", "amount"},
        {"\"account_id\":\"a\",\"amount\":1e400,\"currency\":\"EUR\",\"timestamp\":T",
         "invalid_amount", "over 10^12"},
        {"\"account_id\":\"a\",\"amount\":\"1\",\"currency\":\"XXQ\",\"timestamp\":T",
         "unknown_currency", "currency"},
        {"\"account_id\":\"a\",\"amount\":\"1\",\"currency\":\"EUR\",\"timestamp\":\"soon\"",
         "invalid_timestamp", "timestamp"},
        {"\"account_id\":\"a\",\"amount\":\"1\",\"currency\":\"EUR\",\"timestamp\":true",
         "invalid_type", "timestamp"},
        {"\"account_id\":\"a\",\"amount\":\"1\",\"currency\":\"\",\"timestamp\":T", "missing_field",
         "currency"},
        {"\"account_id\":\"a\",\"amount\":\"1\",\"currency\":\"EUR\",\"timestamp\":T,"
         "\"country\":\"\"",
         "unknown_country", "country"},
        {"\"account_id\":\"   \",\"amount\":\"1\",\"currency\":\"EUR\",\"timestamp\":T",
         "invalid_id", "blank"},
        {"\"account_id\":\"a\",\"amount\":\"1\",\"currency\":\"EUR\",\"timestamp\":F",
         "timestamp_in_future", "timestamp"},
        {"\"account_id\":7,\"amount\":\"1\",\"currency\":\"EUR\",\"timestamp\":T", "invalid_type",
         "account_id"},
        {"\"account_id\":\"a\",\"amount\":\"1\",\"currency\":\"EUR\",\"timestamp\":T,\"colour\":"
         "\"red\"",
         "unknown_field", "colour"},
        /* what the JSON parser (cJSON) would take and JSON does not: see docs/pipeline.md */
        {"\"account_id\":\"a\",\"amount\":\"1\",\"currency\":\"EUR\",\"timestamp\":T,\"account_"
         "id\":"
         "\"b\"",
         "invalid_json", "account_id"},
        {"\"account_id\":\"a\\u0000b\",\"amount\":\"1\",\"currency\":\"EUR\",\"timestamp\":T",
         "invalid_json", "NUL"},
        {"\"account_id\":\"a\\u00e;\",\"amount\":\"1\",\"currency\":\"EUR\",\"timestamp\":T",
         "invalid_json", "hex digits"},
        {"\"account_id\":\"a\",\"amount\":01,\"currency\":\"EUR\",\"timestamp\":T", "invalid_json",
         "number"},
    };
    char *resp = NULL;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char fields[512];
        char ts[32];
        snprintf(ts, sizeof(ts), "%lld", t);
        /* substitute T (now) and F (the far future) */
        size_t k = 0;
        for (const char *c = cases[i].json; *c && k < sizeof(fields) - 40; c++) {
            if ((*c == 'T' || *c == 'F') && c[-1] == ':') {
                k +=
                    (size_t)snprintf(fields + k, sizeof(fields) - k, "%s", *c == 'T' ? ts : future);
            } else {
                fields[k++] = *c;
            }
        }
        fields[k] = '\0';
        char body[700];
        snprintf(body, sizeof(body), "{\"transaction_id\":\"bad-%zu\",%s}", i, fields);
        int status = score(&e, body, &resp);
        if (status != 400 || !strstr(resp, cases[i].code) || !strstr(resp, cases[i].field))
            VG_FAIL("case %zu (%s): got %d %s, want 400 %s on %s", i, body, status, resp,
                    cases[i].code, cases[i].field);
        ASSERT_STR_CONTAINS(resp, "{\"error\":{\"code\":\"");
        free(resp);
    }
    /* Body-level errors. */
    ASSERT_EQ(score(&e, "{\"transaction_id\":", &resp), 400);
    ASSERT_STR_CONTAINS(resp, "\"code\":\"invalid_json\"");
    ASSERT_STR_CONTAINS(resp, "the body ends before its JSON value does");
    free(resp);
    ASSERT_EQ(score(&e, " \n", &resp), 400);
    ASSERT_STR_CONTAINS(resp, "the body is empty");
    free(resp);
    ASSERT_EQ(score(&e, "[{},{}]", &resp), 400); /* /v1/score takes one transaction */
    ASSERT_STR_CONTAINS(resp, "one transaction");
    free(resp);
    ASSERT_EQ(call(&e, "POST", "/v1/score", "text/plain", "{}", &resp), 415);
    free(resp);
    /* The media type is application/json, parameters allowed; a bad ?features= is refused
     * before anything is logged (the answer is made after). */
    char good[512];
    tx_json(good, sizeof(good), "media-1", "media-acct", "1", t, NULL);
    ASSERT_EQ(call(&e, "POST", "/v1/score", "application/jsonx", good, &resp), 415);
    free(resp);
    static const char *const bad_queries[] = {"?features=1", "?feature=true",
                                              "?features=true&features=false"};
    for (size_t i = 0; i < VG_ARRAY_LEN(bad_queries); i++) {
        char path[64];
        snprintf(path, sizeof(path), "/v1/score%s", bad_queries[i]);
        ASSERT_EQ(call(&e, "POST", path, "application/json", good, &resp), 400);
        ASSERT_STR_CONTAINS(resp, "\"code\":\"invalid_query\"");
        free(resp);
    }
    ASSERT_EQ(call(&e, "POST", "/v1/transactions?features=true", "application/json", good, &resp),
              400);
    ASSERT_STR_CONTAINS(resp, "\"field\":\"features\"");
    free(resp);
    ASSERT_EQ(call(&e, "GET", "/v1/transactions/media-1", NULL, NULL, &resp), 404);
    free(resp);
    ASSERT_EQ(call(&e, "POST", "/v1/score?features=false", "application/json; charset=utf-8", good,
                   &resp),
              200);
    ASSERT_TRUE(strstr(resp, "\"features\"") == NULL);
    free(resp);
    size_t big_len = 2u << 20;
    char *big = malloc(big_len + 1);
    memset(big, ' ', big_len);
    big[0] = '{';
    big[big_len - 1] = '}';
    big[big_len] = '\0';
    ASSERT_EQ(score(&e, big, &resp), 413);
    ASSERT_STR_CONTAINS(resp, "body_too_large");
    free(resp);
    free(big);
    /* In an array, each bad element is reported by index and the good ones are accepted. */
    char arr[1024];
    snprintf(arr, sizeof(arr),
             "[{\"transaction_id\":\"arr-ok\",\"account_id\":\"a\",\"amount\":\"3\","
             "\"currency\":\"EUR\",\"timestamp\":%lld},{\"transaction_id\":\"arr-bad\","
             "\"account_id\":\"a\",\"amount\":\"3\",\"currency\":\"EURO\",\"timestamp\":%lld}]",
             t, t);
    ASSERT_EQ(call(&e, "POST", "/v1/transactions", "application/json", arr, &resp), 202);
    ASSERT_STR_CONTAINS(resp, "\"accepted\":[{\"index\":0,\"transaction_id\":\"arr-ok\"");
    ASSERT_STR_CONTAINS(resp,
                        "\"rejected\":[{\"index\":1,\"error\":{\"code\":\"unknown_currency\"");
    free(resp);
    /* None of the bad ones reached the log or the index. */
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[64];
        snprintf(path, sizeof(path), "/v1/transactions/bad-%zu", i);
        ASSERT_EQ(call(&e, "GET", path, NULL, NULL, &resp), 404);
        free(resp);
    }
    ASSERT_EQ(call(&e, "GET", "/v1/transactions/arr-bad", NULL, NULL, &resp), 404);
    free(resp);
    ASSERT_EQ(call(&e, "GET", "/v1/accounts/a", NULL, NULL, &resp), 200);
    ASSERT_STR_CONTAINS(resp, "\"transactions\":1,");
    free(resp);
    engine_stop(&e);
}

/* libwebsockets hands over the path %-decoded: decoding it again read "p%41" as "pA" and
 * refused "p%q" until 2026-12-03. An id with a '/' (or any other byte) is read with ?id=. */
VG_TEST(get_by_id_takes_the_path_as_decoded_once)
{
    struct engine e = {0};
    engine_start(&e);
    long long t = now_ms() - 60000;
    char body[512];
    char *resp = NULL;
    static const char *const ids[] = {"p%41", "pA", "p%q", "p q", "p/q&r=s"};
    for (size_t i = 0; i < VG_ARRAY_LEN(ids); i++) {
        tx_json(body, sizeof(body), ids[i], "acct-p", "1.00", t, NULL);
        ASSERT_EQ(score(&e, body, &resp), 200);
        free(resp);
    }
    static const struct {
        const char *path, *id;
    } gets[] = {{"/v1/transactions/p%2541", "p%41"},
                {"/v1/transactions/p%41", "pA"},
                {"/v1/transactions/p%25q", "p%q"},
                {"/v1/transactions/p%20q", "p q"},
                {"/v1/transactions?id=p%2Fq%26r%3Ds", "p/q&r=s"},
                {"/v1/transactions?id=p%2541", "p%41"},
                {"/v1/accounts?id=acct-p", "acct-p"}};
    for (size_t i = 0; i < VG_ARRAY_LEN(gets); i++) {
        char want[64];
        snprintf(want, sizeof(want), "{\"%s_id\":\"%s\"",
                 strstr(gets[i].path, "accounts") ? "account" : "transaction", gets[i].id);
        ASSERT_EQ(call(&e, "GET", gets[i].path, NULL, NULL, &resp), 200);
        ASSERT_STR_CONTAINS(resp, want);
        free(resp);
    }
    char longest[200];
    snprintf(longest, sizeof(longest), "/v1/accounts/%0129d", 7);
    ASSERT_EQ(call(&e, "GET", longest, NULL, NULL, &resp), 400);
    ASSERT_STR_CONTAINS(resp, "\"the account id in the path is longer than 128 bytes\"");
    free(resp);
    ASSERT_EQ(call(&e, "GET", "/v1/merchants/", NULL, NULL, &resp), 400);
    ASSERT_STR_CONTAINS(resp, "\"the merchant id in the path is missing\"");
    free(resp);
    ASSERT_EQ(call(&e, "GET", "/v1/transactions/p%2Fq", NULL, NULL, &resp), 400);
    ASSERT_STR_CONTAINS(resp, "holds a '/' (read such an id with ?id=");
    free(resp);
    ASSERT_EQ(call(&e, "GET", "/v1/transactions", NULL, NULL, &resp), 400);
    ASSERT_STR_CONTAINS(resp, "\"the transaction id in ?id= is missing\",\"field\":\"id\"");
    free(resp);
    engine_stop(&e);
}

static char *inspect(struct engine *e, const char *flag);

VG_TEST(repeated_transaction_id_returns_the_original_decision)
{
    struct engine e = {0};
    engine_start(&e);
    long long t = now_ms() - 1000;
    char body[512];
    char *first = NULL;
    char *again = NULL;
    tx_json(body, sizeof(body), "dup-1", "acct-d", "40.00", t, NULL);
    ASSERT_EQ(score(&e, body, &first), 200);
    /* The retry may even differ in amount: the id decides, and nothing changes. */
    tx_json(body, sizeof(body), "dup-1", "acct-d", "99.00", t + 5, NULL);
    ASSERT_EQ(score(&e, body, &again), 200);
    ASSERT_STR_CONTAINS(again, "\"replay\":true");
    ASSERT_TRUE(num(first, "score") == num(again, "score"));
    ASSERT_TRUE(num(first, "offset") == num(again, "offset"));
    ASSERT_EQ_DBL(num(again, "amount"), 40.0, 1e-6);
    free(first);
    free(again);
    /* Twice in one array: the second is a replay of the first, and takes no place in the
     * log (until 2026-12-03 both were logged, and the apply step answered the second). */
    char arr[1024];
    snprintf(arr, sizeof(arr),
             "[{\"transaction_id\":\"dup-2\",\"account_id\":\"acct-d\",\"amount\":\"5\","
             "\"currency\":\"EUR\",\"timestamp\":%lld},{\"transaction_id\":\"dup-2\","
             "\"account_id\":\"acct-d\",\"amount\":\"5\",\"currency\":\"EUR\",\"timestamp\":%lld}]",
             t + 10, t + 10);
    char *resp = NULL;
    ASSERT_EQ(call(&e, "POST", "/v1/transactions", "application/json", arr, &resp), 202);
    ASSERT_STR_CONTAINS(resp, "\"replay\":false");
    ASSERT_STR_CONTAINS(resp, "\"replay\":true");
    const char *second = strstr(resp, "\"index\":1,");
    ASSERT_NOT_NULL(second);
    ASSERT_TRUE(num(resp, "offset") == num(second, "offset")); /* the first's */
    free(resp);
    ASSERT_EQ(call(&e, "GET", "/v1/accounts/acct-d", NULL, NULL, &resp), 200);
    ASSERT_STR_CONTAINS(resp, "\"transactions\":2,"); /* dup-1 and dup-2, once each */
    ASSERT_EQ_DBL(num(resp, "amount_sum_1d"), 45.0, 1e-6);
    free(resp);
    /* After a restart the index still knows them. */
    engine_stop(&e);
    engine_spawn(&e);
    tx_json(body, sizeof(body), "dup-1", "acct-d", "40.00", t, NULL);
    ASSERT_EQ(score(&e, body, &again), 200);
    ASSERT_STR_CONTAINS(again, "\"replay\":true");
    free(again);
    ASSERT_EQ(call(&e, "GET", "/v1/accounts/acct-d", NULL, NULL, &resp), 200);
    ASSERT_STR_CONTAINS(resp, "\"transactions\":2,");
    free(resp);
    engine_stop(&e);
    char *log = inspect(&e, NULL);
    size_t records = 0;
    for (const char *at = log; (at = strstr(at, "\"transaction_id\":\"dup-2\"")); at++)
        records++;
    ASSERT_EQ_U(records, 1);
    free(log);
}

/* Scores one transaction of account acct-r, which must get 200; returns the answer's
 * "offset" and whether it was a replay. */
static double scored_offset(struct engine *e, const char *id, const char *amount, long long t,
                            bool *replay)
{
    char body[512];
    char *resp = NULL;
    tx_json(body, sizeof(body), id, "acct-r", amount, t, NULL);
    ASSERT_EQ(score(e, body, &resp), 200);
    *replay = strstr(resp, "\"replay\":true") != NULL;
    double offset = num(resp, "offset");
    free(resp);
    return offset;
}

/* A repeat of a transaction decided lately is answered from the index before it reaches the
 * log (the partition's filter of recent ids says it may be there), after a restart or a kill
 * -9 too: the filter is refilled from the decision log's tail (until 2026-12-03 it started
 * empty, so a client retrying after a crash had its transaction logged again). It is decided
 * once. */
VG_TEST(a_recent_repeat_takes_no_place_in_the_log)
{
    struct engine e = {0};
    engine_start(&e);
    long long t = now_ms() - 1000;
    bool replay = true;
    double at = scored_offset(&e, "rep-1", "10.00", t, &replay);
    ASSERT_FALSE(replay);
    ASSERT_TRUE(scored_offset(&e, "rep-1", "10.00", t, &replay) == at);
    ASSERT_TRUE(replay);
    /* The account's next transaction (same partition) comes right after the first. */
    ASSERT_TRUE(scored_offset(&e, "rep-2", "11.00", t + 1, &replay) == at + 1);
    engine_stop(&e);
    engine_spawn(&e);
    ASSERT_TRUE(scored_offset(&e, "rep-1", "10.00", t, &replay) == at);
    ASSERT_TRUE(replay);
    /* The repeat after the restart was not logged: the next one comes right after rep-2. */
    ASSERT_TRUE(scored_offset(&e, "rep-3", "12.00", t + 2, &replay) == at + 2);
    vg_tp_signal(&e.proc, SIGKILL);
    int status = 0;
    ASSERT_OK(vg_tp_wait(&e.proc, 20000, &status));
    vg_tp_cleanup(&e.proc);
    engine_spawn(&e);
    ASSERT_TRUE(scored_offset(&e, "rep-3", "12.00", t + 2, &replay) == at + 2);
    ASSERT_TRUE(replay);
    ASSERT_TRUE(scored_offset(&e, "rep-4", "13.00", t + 3, &replay) == at + 3);
    char *resp = NULL;
    ASSERT_EQ(call(&e, "GET", "/v1/accounts/acct-r", NULL, NULL, &resp), 200);
    ASSERT_STR_CONTAINS(resp, "\"transactions\":4,");
    free(resp);
    engine_stop(&e);
}

/* Scores one transaction (EUR), expecting 200. */
static void score_ok(struct engine *e, const char *id, const char *acct, const char *amount,
                     long long ts)
{
    char body[512];
    char *resp = NULL;
    tx_json(body, sizeof(body), id, acct, amount, ts, NULL);
    ASSERT_EQ(score(e, body, &resp), 200);
    free(resp);
}

/* GET `path` answers 200 and holds `want`. */
static void expect_get(struct engine *e, const char *path, const char *want)
{
    char *resp = NULL;
    ASSERT_EQ(call(e, "GET", path, NULL, NULL, &resp), 200);
    ASSERT_STR_CONTAINS(resp, want);
    free(resp);
}

/* POST /v1/score of `id` for `acct`: 409 transaction_id_conflict, on account_id. */
static void expect_conflict(struct engine *e, const char *id, const char *acct, long long ts)
{
    char body[512];
    char *resp = NULL;
    tx_json(body, sizeof(body), id, acct, "10.00", ts, NULL);
    ASSERT_EQ(score(e, body, &resp), 409);
    ASSERT_STR_CONTAINS(resp, "\"code\":\"transaction_id_conflict\"");
    ASSERT_STR_CONTAINS(resp, "\"field\":\"account_id\"");
    free(resp);
}

/* GET /v1/accounts/{acct} answers 404: nothing of the account was kept. */
static void expect_no_account(struct engine *e, const char *acct)
{
    char path[128];
    char *resp = NULL;
    snprintf(path, sizeof(path), "/v1/accounts/%s", acct);
    ASSERT_EQ(call(e, "GET", path, NULL, NULL, &resp), 404);
    free(resp);
}

/* A transaction_id is one account's: sent again for another account it is refused, whether
 * that account shares the original's partition or not, found before logging or by the apply
 * step, and nothing of the other account is kept. Until 2026-12-03 an account of the same
 * partition got the original's decision as a replay, and one of another partition had the id
 * taken as new. */
VG_TEST(a_transaction_id_is_one_accounts)
{
    struct engine e = {0};
    engine_start(&e);
    long long t = now_ms() - 1000;
    char same[64], other[64], body[1024];
    vg_ta_account_near(PARTITIONS, "acct-r", true, same,
                       sizeof(same)); /* scored_offset's account */
    vg_ta_account_near(PARTITIONS, "acct-r", false, other, sizeof(other));
    bool replay = false;
    double at = scored_offset(&e, "dup-1", "10.00", t, &replay);
    expect_conflict(&e, "dup-1", same, t);  /* found in the partition's index */
    expect_conflict(&e, "dup-1", other, t); /* found in another partition's index */
    expect_no_account(&e, same);
    expect_no_account(&e, other);
    /* Both in one request: ingest refuses the second (until 2026-12-03 both reached the log,
     * and the apply step refused it). */
    snprintf(body, sizeof(body),
             "[{\"transaction_id\":\"dup-2\",\"account_id\":\"acct-r\",\"amount\":\"1\","
             "\"currency\":\"EUR\",\"timestamp\":%lld},{\"transaction_id\":\"dup-2\","
             "\"account_id\":\"%s\",\"amount\":\"1\",\"currency\":\"EUR\",\"timestamp\":%lld}]",
             t, same, t);
    char *resp = NULL;
    ASSERT_EQ(call(&e, "POST", "/v1/transactions", "application/json", body, &resp), 202);
    ASSERT_STR_CONTAINS(resp, "\"accepted\":[{\"index\":0,\"transaction_id\":\"dup-2\"");
    ASSERT_STR_CONTAINS(resp, "\"rejected\":[{\"index\":1,\"error\":{\"code\":"
                              "\"transaction_id_conflict\"");
    free(resp);
    expect_no_account(&e, same);
    expect_get(&e, "/v1/accounts/acct-r", "\"transactions\":2,");
    /* After a restart too, in either partition (the recent ids are refilled from the
     * decision log; until 2026-12-03 another partition's was not caught). */
    engine_stop(&e);
    engine_spawn(&e);
    expect_conflict(&e, "dup-1", other, t); /* first: a conflict puts the id in the filter */
    expect_no_account(&e, other);
    expect_conflict(&e, "dup-1", same, t);
    ASSERT_TRUE(scored_offset(&e, "dup-1", "10.00", t, &replay) == at);
    ASSERT_TRUE(replay);
    expect_get(&e, "/v1/accounts/acct-r", "\"transactions\":2,");
    expect_no_account(&e, same);
    engine_stop(&e);
}

VG_TEST(labels_before_and_after_their_transaction)
{
    struct engine e = {0};
    engine_start(&e);
    long long t = now_ms() - 1000;
    char *resp = NULL;
    /* Before: kept, applied when the transaction arrives. */
    ASSERT_EQ(call(&e, "POST", "/v1/labels", "application/json",
                   "{\"transaction_id\":\"lab-1\",\"is_fraud\":true,\"source\":\"chargeback\"}",
                   &resp),
              202);
    ASSERT_STR_CONTAINS(resp, "\"pending\":true");
    free(resp);
    score_ok(&e, "lab-1", "acct-l", "10.00", t);
    expect_get(&e, "/v1/accounts/acct-l", "\"labels\":{\"fraud\":1,\"genuine\":0,");
    expect_get(&e, "/v1/transactions/lab-1", "\"label\":{\"is_fraud\":true,");
    /* After: found through the index, applied at once. */
    score_ok(&e, "lab-2", "acct-l", "11.00", t + 1);
    ASSERT_EQ(call(&e, "POST", "/v1/labels", "application/json",
                   "[{\"transaction_id\":\"lab-2\",\"is_fraud\":true},{\"transaction_id\":\"\","
                   "\"is_fraud\":true},{\"transaction_id\":\"x\",\"is_fraud\":\"yes\"}]",
                   &resp),
              202);
    ASSERT_STR_CONTAINS(resp, "\"accepted\":[{\"index\":0,\"transaction_id\":\"lab-2\","
                              "\"pending\":false}]");
    ASSERT_STR_CONTAINS(resp, "{\"index\":1,\"error\":{\"code\":\"missing_field\"");
    ASSERT_STR_CONTAINS(resp, "{\"index\":2,\"error\":{\"code\":\"invalid_type\"");
    free(resp);
    expect_get(&e, "/v1/accounts/acct-l", "\"labels\":{\"fraud\":2,\"genuine\":0,");
    /* A relabel moves the count; the same label again changes nothing. */
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ(
            call(&e, "POST", "/v1/labels", "application/json",
                 "{\"transaction_id\":\"lab-2\",\"is_fraud\":false,\"account_id\":\"acct-l\"}",
                 &resp),
            202);
        free(resp);
    }
    expect_get(&e, "/v1/accounts/acct-l", "\"labels\":{\"fraud\":1,\"genuine\":1,");
    /* Naming another account than the transaction's is refused, whether that account lives in
     * another partition (the label waited there for ever, answered "pending":false) or in the
     * transaction's own (the label was applied to the transaction's account regardless). */
    char body[512];
    tx_json(body, sizeof(body), "lab-3", "acct-l", "12.00", t + 2, NULL);
    ASSERT_EQ(score(&e, body, &resp), 200);
    double mine = num(resp, "partition");
    free(resp);
    ASSERT_TRUE(mine == vg_route_account(PARTITIONS, "acct-l"));
    for (int k = 0; k < 2; k++) { /* another partition's account, then one of the same */
        char acct[32], label[256];
        vg_ta_account_near(PARTITIONS, "acct-l", k == 1, acct, sizeof(acct));
        snprintf(label, sizeof(label),
                 "{\"transaction_id\":\"lab-3\",\"is_fraud\":true,\"account_id\":\"%s\"}", acct);
        ASSERT_EQ(call(&e, "POST", "/v1/labels", "application/json", label, &resp), 400);
        ASSERT_STR_CONTAINS(resp, "\"accepted\":[]");
        ASSERT_STR_CONTAINS(resp, "\"code\":\"account_mismatch\"");
        ASSERT_STR_CONTAINS(resp, "\"field\":\"account_id\"");
        free(resp);
    }
    /* Naming its account before the transaction: waits there, and says so. */
    ASSERT_EQ(call(&e, "POST", "/v1/labels", "application/json",
                   "{\"transaction_id\":\"lab-4\",\"is_fraud\":true,\"account_id\":\"acct-l\"}",
                   &resp),
              202);
    ASSERT_STR_CONTAINS(resp, "\"pending\":true");
    free(resp);
    score_ok(&e, "lab-4", "acct-l", "13.00", t + 3);
    expect_get(&e, "/v1/transactions/lab-4", "\"label\":{\"is_fraud\":true,");
    expect_get(&e, "/v1/transactions/lab-3", "\"label\":null");
    /* A label naming acct-l waits there; a transaction under that id for another account of
     * the same partition does not take it (until 2026-12-03 it did). */
    ASSERT_EQ(call(&e, "POST", "/v1/labels", "application/json",
                   "{\"transaction_id\":\"lab-5\",\"is_fraud\":true,\"account_id\":\"acct-l\"}",
                   &resp),
              202);
    ASSERT_STR_CONTAINS(resp, "\"pending\":true");
    free(resp);
    char same[32];
    char path[64];
    vg_ta_account_near(PARTITIONS, "acct-l", true, same, sizeof(same));
    score_ok(&e, "lab-5", same, "14.00", t + 4);
    expect_get(&e, "/v1/transactions/lab-5", "\"label\":null");
    snprintf(path, sizeof(path), "/v1/accounts/%s", same);
    expect_get(&e, path, "\"labels\":{\"fraud\":0,\"genuine\":0,");
    engine_stop(&e);
}

/* `vigil log inspect` over a data directory. OUT: its stdout (caller frees). */
static char *inspect(struct engine *e, const char *flag)
{
    const char *args[] = {"log", "inspect", e->data, flag, NULL};
    int code = -1;
    char *out = NULL;
    char *err = NULL;
    ASSERT_OK(vg_tp_run(args, NULL, 30000, &code, &out, &err));
    if (code != 0)
        VG_FAIL("vigil log inspect failed: %s", err);
    free(err);
    return out;
}

/* An auditor reads the logs without the API: `vigil log inspect` decodes a transaction as the
 * API shows it, with when vigil received it; a label with its source; `--decisions`, the
 * decision with its feature vector and time. `--hex` adds the raw payload. */
VG_TEST(log_inspect_decodes_transactions_labels_and_decisions)
{
    struct engine e = {0};
    engine_start(&e);
    char body[512];
    tx_json(body, sizeof(body), "audit-1", "acct-a", "12.50", now_ms() - 1000,
            "\"merchant_id\":\"m-a\",\"attributes\":{\"terminal\":\"T-1\"}");
    char *resp = NULL;
    ASSERT_EQ(score(&e, body, &resp), 200);
    free(resp);
    ASSERT_EQ(call(&e, "POST", "/v1/labels", "application/json",
                   "{\"transaction_id\":\"audit-1\",\"is_fraud\":true,\"source\":\"chargeback\","
                   "\"reported_at\":\"2026-01-02T03:04:05Z\",\"account_id\":\"acct-a\"}",
                   &resp),
              202);
    free(resp);
    engine_stop(&e);
    char *out = inspect(&e, NULL);
    ASSERT_STR_CONTAINS(out, "\"type\":\"transaction\"");
    ASSERT_STR_CONTAINS(out, "\"record\":{\"transaction_id\":\"audit-1\",\"account_id\":\"acct-a\","
                             "\"merchant_id\":\"m-a\",\"amount\":\"12.50\",\"currency\":\"EUR\",");
    ASSERT_STR_CONTAINS(out, "\"attributes\":{\"terminal\":\"T-1\"},\"received_at\":\"20");
    ASSERT_STR_CONTAINS(out, "\"type\":\"label\"");
    ASSERT_STR_CONTAINS(out, "\"record\":{\"transaction_id\":\"audit-1\",\"is_fraud\":true,"
                             "\"source\":\"chargeback\",\"account_id\":\"acct-a\","
                             "\"reported_at\":\"2026-01-02T03:04:05");
    ASSERT_TRUE(strstr(out, "payload_hex") == NULL);
    free(out);
    out = inspect(&e, "--decisions");
    ASSERT_STR_CONTAINS(out, "\"type\":\"decision\"");
    ASSERT_STR_CONTAINS(out, "\"record\":{\"transaction_id\":\"audit-1\",\"score\":");
    ASSERT_STR_CONTAINS(out, "\"features\":{\"amount\":12.5,");
    ASSERT_STR_CONTAINS(out, "},\"decided_at\":\"20");
    free(out);
    out = inspect(&e, "--hex");
    ASSERT_STR_CONTAINS(out, "\"record\":{\"transaction_id\":\"audit-1\"");
    ASSERT_STR_CONTAINS(out, "\"payload_hex\":\"0a0761756469742d31"); /* field 1, "audit-1" */
    free(out);
}

/* A label whose transaction has not come to a partition is dropped there once that partition
 * applies a transaction pending_label_ttl_days newer than the label: one remembered from this run
 * and one found by a scan after a restart. Younger ones are still applied when their
 * transactions come. */
static void post_label(struct engine *e, const char *id, long long reported_ms)
{
    char body[256];
    char *resp = NULL;
    snprintf(body, sizeof(body),
             "{\"transaction_id\":\"%s\",\"is_fraud\":true,\"reported_at\":%lld}", id, reported_ms);
    ASSERT_EQ(call(e, "POST", "/v1/labels", "application/json", body, &resp), 202);
    ASSERT_STR_CONTAINS(resp, "\"pending\":true");
    free(resp);
}

/* Scores transaction `id` of acct-ttl at ts. */
static void send_tx(struct engine *e, const char *id, long long ts)
{
    char body[512];
    char *resp = NULL;
    tx_json(body, sizeof(body), id, "acct-ttl", "5.00", ts, NULL);
    ASSERT_EQ(score(e, body, &resp), 200);
    free(resp);
}

/* Whether transaction `id` carries its label. */
static void check_label(struct engine *e, const char *id, bool labelled)
{
    char path[64];
    char *resp = NULL;
    snprintf(path, sizeof(path), "/v1/transactions/%s", id);
    ASSERT_EQ(call(e, "GET", path, NULL, NULL, &resp), 200);
    if ((strstr(resp, "\"label\":{\"is_fraud\":true,") != NULL) != labelled)
        VG_FAIL("%s: expected its label %s: %s", id, labelled ? "applied" : "dropped", resp);
    free(resp);
}

/* Waiting labels live 30 days; accounts for ever, or one given a transaction long before
 * the others would start over (accounts_idle_past_their_ttl_start_over). */
static const char *const ttl_env[] = {"VIGIL_STATE_PENDING_LABEL_TTL_DAYS=30",
                                      "VIGIL_STATE_ACCOUNT_TTL_DAYS=0", NULL};

/* Sends transaction `id` for acct-ttl at ts; checks whether it was given a waiting label. */
static void expect_label(struct engine *e, const char *id, long long ts, bool labelled)
{
    send_tx(e, id, ts);
    check_label(e, id, labelled);
}

VG_TEST(labels_waiting_past_their_ttl_are_dropped)
{
    /* Its account gets a transaction 101 days before the others (see ttl_env). */
    struct engine e = {.env = ttl_env};
    engine_start(&e);
    long long t = now_ms() - 60000;
    long long day = 86400000;
    /* A backfill: old labels before their transactions; later labels do not expire them. */
    post_label(&e, "old-1", t - 100 * day);
    post_label(&e, "stale-1", t - 40 * day);
    post_label(&e, "edge-1", t - 29 * day);
    post_label(&e, "fresh-1", t - day);
    expect_label(&e, "old-1", t - 101 * day, true);
    char body[512];
    char *resp = NULL;
    tx_json(body, sizeof(body), "trigger-1", "acct-ttl", "5.00", t, NULL);
    ASSERT_EQ(score(&e, body, &resp), 200);
    free(resp);
    expect_label(&e, "stale-1", t + 1, false);
    expect_label(&e, "edge-1", t + 2, true);
    expect_label(&e, "fresh-1", t + 3, true);
    /* Waiting across a restart: found by the scan the first batch makes. */
    post_label(&e, "stale-2", t - 31 * day);
    engine_stop(&e);
    engine_spawn(&e);
    tx_json(body, sizeof(body), "trigger-2", "acct-ttl", "5.00", t + 10, NULL);
    ASSERT_EQ(score(&e, body, &resp), 200);
    free(resp);
    expect_label(&e, "stale-2", t + 11, false);
    ASSERT_EQ(call(&e, "GET", "/v1/accounts/acct-ttl", NULL, NULL, &resp), 200);
    ASSERT_STR_CONTAINS(resp, "\"labels\":{\"fraud\":3,\"genuine\":0,");
    free(resp);
    engine_stop(&e);
}

/* A label for acct-ttl reported at `reported_ms`, before its transaction. */
static void post_label_for(struct engine *e, const char *id, long long reported_ms)
{
    char body[256];
    char *resp = NULL;
    snprintf(body, sizeof(body),
             "{\"transaction_id\":\"%s\",\"is_fraud\":true,\"account_id\":\"acct-ttl\","
             "\"reported_at\":%lld}",
             id, reported_ms);
    ASSERT_EQ(call(e, "POST", "/v1/labels", "application/json", body, &resp), 202);
    ASSERT_STR_CONTAINS(resp, "\"pending\":true");
    free(resp);
}

/* Whether a waiting label is applied does not depend on how the log was cut into batches:
 * rebuilding the state from the log gives what the live run gave. Until 2026-12-03 the
 * time-to-live was only enforced by the sweep at the end of a batch, after the batch's
 * transactions had taken their labels: a label 40 days old was applied when its transaction
 * came right after it, and not when another transaction came in between; a replay, in one
 * batch, applied both. That same case counted the taken label twice out of the partition's
 * waiting labels, whose count went below zero and wrapped: every label that had to wait was
 * then refused as too_many_waiting_labels until a restart. */
VG_TEST(waiting_labels_decide_the_same_live_and_replayed)
{
    struct engine e = {.env = ttl_env};
    engine_start(&e);
    long long t = now_ms() - 60000;
    long long day = 86400000;
    char *resp = NULL;
    send_tx(&e, "seed", t);
    post_label_for(&e, "late-1", t - 40 * day);
    send_tx(&e, "late-1", t + 1); /* right after its label */
    post_label_for(&e, "late-2", t - 40 * day);
    send_tx(&e, "other-1", t + 2); /* another transaction in between */
    send_tx(&e, "late-2", t + 3);
    post_label_for(&e, "ok-1", t - day);
    send_tx(&e, "ok-1", t + 4);
    for (int pass = 0; pass < 2; pass++) {
        check_label(&e, "late-1", false);
        check_label(&e, "late-2", false);
        check_label(&e, "ok-1", true);
        ASSERT_EQ(call(&e, "GET", "/v1/accounts/acct-ttl", NULL, NULL, &resp), 200);
        ASSERT_STR_CONTAINS(resp, "\"labels\":{\"fraud\":1,\"genuine\":0,");
        free(resp);
        post_label_for(&e, pass ? "after-2" : "after-1", t); /* still room to wait */
        engine_stop(&e);
        for (int p = 0; p < PARTITIONS && pass == 0; p++) {
            char state[600];
            snprintf(state, sizeof(state), "%s/p%02d/state", e.data, p);
            ASSERT_OK(vg_io_remove_tree(state));
        }
        if (pass == 0)
            engine_spawn(&e); /* the state rebuilt from the log */
    }
}

/* POST /v1/labels of one label: the status; `want` in the answer. */
static void label_status(struct engine *e, const char *id, const char *acct, int status,
                         const char *want)
{
    char body[256];
    char *resp = NULL;
    snprintf(body, sizeof(body), "{\"transaction_id\":\"%s\",\"is_fraud\":true%s%s%s}", id,
             acct ? ",\"account_id\":\"" : "", acct ? acct : "", acct ? "\"" : "");
    int got = call(e, "POST", "/v1/labels", "application/json", body, &resp);
    if (got != status || !strstr(resp, want))
        VG_FAIL("label %s: %d, expected %d with %s: %s", id, got, status, want, resp);
    free(resp);
}

/* Labels waiting for their transaction are bounded per partition
 * (state.max_waiting_labels): beyond it a label that would wait is refused, not logged, while
 * labels for known transactions are still taken; a transaction that arrives frees its label's
 * place; the count survives a restart. Until 2026-12-03 a client sending labels for ids that
 * never come grew every partition's state for pending_label_ttl_days of event time. */
VG_TEST(labels_waiting_are_bounded_per_partition)
{
    static const char *const env[] = {"VIGIL_STATE_MAX_WAITING_LABELS=2", NULL};
    struct engine e = {.env = env};
    engine_start(&e);
    long long t = now_ms() - 60000;
    const char *full = "\"code\":\"too_many_waiting_labels\"";
    label_status(&e, "wait-a", NULL, 202, "\"pending\":true"); /* in every partition */
    post_label(&e, "stale-a", t - 40 * DAY_MS);                /* past the 30-day TTL */
    label_status(&e, "wait-c", NULL, 503, full);
    label_status(&e, "wait-c", NULL, 503, "\"field\":\"transaction_id\"");
    /* A transaction in acct-w's partition drops stale-a there; the others keep theirs. */
    score_ok(&e, "known-1", "acct-w", "5.00", t);
    char *resp = NULL;
    ASSERT_EQ(call(&e, "POST", "/v1/labels", "application/json",
                   "[{\"transaction_id\":\"wait-c\",\"is_fraud\":true},"
                   "{\"transaction_id\":\"known-1\",\"is_fraud\":true}]",
                   &resp),
              202);
    ASSERT_STR_CONTAINS(resp, "\"accepted\":[{\"index\":1,\"transaction_id\":\"known-1\","
                              "\"pending\":false}]");
    ASSERT_STR_CONTAINS(resp, "\"rejected\":[{\"index\":0,\"error\":{\"code\":"
                              "\"too_many_waiting_labels\"");
    free(resp);
    /* wait-a's transaction takes its label: its partition has room for two again. */
    score_ok(&e, "wait-a", "acct-w", "6.00", t + 1);
    expect_get(&e, "/v1/transactions/wait-a", "\"label\":{\"is_fraud\":true,");
    char other[32];
    vg_ta_account_near(PARTITIONS, "acct-w", false, other, sizeof(other));
    label_status(&e, "wait-d", "acct-w", 202, "\"pending\":true");
    label_status(&e, "wait-e", "acct-w", 202, "\"pending\":true");
    label_status(&e, "wait-f", "acct-w", 503, full);
    label_status(&e, "wait-f", other, 503, full);
    label_status(&e, "wait-f", NULL, 503, full);
    /* Six refusals so far; the operator is told once a minute at most per partition. */
    char *log = vg_tp_stderr(&e.proc);
    int lines = 0;
    for (const char *at = log; (at = strstr(at, "labels refused partition=")) != NULL; at++)
        lines++;
    ASSERT_GE(lines, 1);
    ASSERT_LE(lines, 3); /* partition 0 (the first full one for the others), acct-w's, other's */
    free(log);
    /* After a kill -9 the partitions count their waiting labels again (a scan of the committed
     * state; a replay, if any, adds what it puts and deletes). */
    vg_tp_signal(&e.proc, SIGKILL);
    int status = 0;
    ASSERT_OK(vg_tp_wait(&e.proc, 20000, &status));
    vg_tp_cleanup(&e.proc);
    engine_spawn(&e);
    label_status(&e, "wait-f", "acct-w", 503, full);
    score_ok(&e, "wait-d", "acct-w", "7.00", t + 2);
    expect_get(&e, "/v1/transactions/wait-d", "\"label\":{\"is_fraud\":true,");
    label_status(&e, "wait-f", "acct-w", 202, "\"pending\":true");
    engine_stop(&e);
    char *out = inspect(&e, NULL); /* the refused labels were not logged */
    ASSERT_STR_CONTAINS(out, "\"transaction_id\":\"wait-e\"");
    ASSERT_TRUE(strstr(out, "\"transaction_id\":\"wait-c\"") == NULL);
    free(out);
}

/* An account idle past state.account_ttl_days starts over: its next transaction sees a new
 * account whether or not the background sweep has deleted its profile yet, and the sweep
 * deletes it once its partition's clock (the newest transaction time it applied) has moved
 * on. An account seen within the time-to-live keeps its history. */
VG_TEST(accounts_idle_past_their_ttl_start_over)
{
    static const char *const env[] = {"VIGIL_STATE_ACCOUNT_TTL_DAYS=2", NULL};
    struct engine e = {.env = env};
    engine_start(&e);
    long long t = now_ms() - 60000;
    char body[512];
    char *resp = NULL;
    const char *const old[] = {"idle-a", "idle-b"};
    for (int i = 0; i < 2; i++) {
        char id[32];
        snprintf(id, sizeof(id), "idle-old-%d", i);
        tx_json(body, sizeof(body), id, old[i], "5.00", t - 10 * DAY_MS, NULL);
        ASSERT_EQ(score(&e, body, &resp), 200);
        free(resp);
    }
    tx_json(body, sizeof(body), "kept-old", "kept", "5.00", t - DAY_MS, NULL);
    ASSERT_EQ(score(&e, body, &resp), 200);
    free(resp);
    /* Its own next transaction 10 days later: a new account (it had one in 30 days). */
    tx_json(body, sizeof(body), "idle-new-0", "idle-a", "5.00", t, NULL);
    ASSERT_EQ(score(&e, body, &resp), 200);
    ASSERT_EQ_DBL(num(resp, "tx_count_30d"), 0.0, 1e-9);
    ASSERT_TRUE(isnan(num(resp, "seconds_since_last")));
    free(resp);
    tx_json(body, sizeof(body), "kept-new", "kept", "5.00", t, NULL);
    ASSERT_EQ(score(&e, body, &resp), 200);
    ASSERT_EQ_DBL(num(resp, "tx_count_30d"), 1.0, 1e-9);
    free(resp);
    /* Every partition's clock moves to t (40 accounts cover the 4 partitions): the sweep
     * deletes idle-b, whose own clock never moved, and keeps the others. */
    for (int i = 0; i < 40; i++) {
        char id[32];
        char acct[32];
        snprintf(id, sizeof(id), "clock-%d", i);
        snprintf(acct, sizeof(acct), "clock-acct-%d", i);
        tx_json(body, sizeof(body), id, acct, "5.00", t, NULL);
        ASSERT_EQ(score(&e, body, &resp), 200);
        free(resp);
    }
    static const char *const swept[] = {"/v1/accounts/idle-b"};
    wait_gone(&e, swept, VG_ARRAY_LEN(swept));
    /* A late label for idle-b's old transaction: about its life before, it counts nowhere
     * (it used to make a profile of labels alone that no sweep deleted). */
    const char *label = "{\"transaction_id\":\"idle-old-1\",\"is_fraud\":true}";
    ASSERT_EQ(call(&e, "POST", "/v1/labels", "application/json", label, &resp), 202);
    ASSERT_STR_CONTAINS(resp, "\"pending\":false");
    free(resp);
    ASSERT_EQ(call(&e, "GET", "/v1/accounts/idle-b", NULL, NULL, &resp), 404);
    free(resp);
    ASSERT_EQ(call(&e, "GET", "/v1/accounts/kept", NULL, NULL, &resp), 200);
    free(resp);
    ASSERT_EQ(call(&e, "GET", "/v1/accounts/idle-a", NULL, NULL, &resp), 200);
    free(resp);
    /* Swept or not, the same features: idle-b's next transaction sees a new account too. */
    tx_json(body, sizeof(body), "idle-new-1", "idle-b", "5.00", t + 1, NULL);
    ASSERT_EQ(score(&e, body, &resp), 200);
    ASSERT_EQ_DBL(num(resp, "tx_count_30d"), 0.0, 1e-9);
    free(resp);
    engine_stop(&e);
}

/* Retention deletes the log's oldest segments; the index entries of their transactions go
 * with them, so the index does not outgrow the log. A transaction sent again after that is
 * new (the window for repeats is the log's); one still in the log is a repeat. */
VG_TEST(index_entries_go_with_the_segments_retention_deletes)
{
    static const char *const keep[] = {"VIGIL_LOG_SEGMENT_BYTES=4096", NULL};
    static const char *const retain[] = {"VIGIL_LOG_SEGMENT_BYTES=4096",
                                         "VIGIL_LOG_RETENTION_BYTES=300000", NULL};
    struct engine e = {.env = keep};
    engine_start(&e);
    long long t = now_ms() - 60000;
    /* 34,000 transactions of one account, so one partition, without retention. The oldest
     * have the last ids in key order, the order of the sweep. */
    size_t cap = 1000 * 160;
    char *arr = malloc(cap);
    ASSERT_TRUE(arr != NULL);
    char *resp = NULL;
    for (int k = 0; k < 34; k++) {
        size_t len = 0;
        for (int j = 0; j < 1000; j++) {
            int i = k * 1000 + j;
            len += (size_t)snprintf(arr + len, cap - len,
                                    "%c{\"transaction_id\":\"ret-%05d\",\"account_id\":"
                                    "\"acct-ret\",\"amount\":\"1\",\"currency\":\"EUR\","
                                    "\"timestamp\":%lld}",
                                    j ? ',' : '[', 99999 - i, t + i / 100);
        }
        snprintf(arr + len, cap - len, "]");
        ASSERT_EQ(call(&e, "POST", "/v1/transactions", "application/json", arr, &resp), 202);
        free(resp);
    }
    free(arr);
    /* With retention from the restart on: it keeps the last 300 KB (4 segments of 1,000
     * transactions: one segment per request here). The sweep checks at most 32,768 index
     * entries a second: two passes of the housekeeping here. */
    engine_stop(&e);
    e.env = retain;
    engine_spawn(&e);
    static const char *const gone[] = {"/v1/transactions/ret-70000", "/v1/transactions/ret-80000",
                                       "/v1/transactions/ret-90000", "/v1/transactions/ret-99999"};
    uint64_t decisions_before = decision_bytes(&e);
    wait_gone(&e, gone, VG_ARRAY_LEN(gone));
    ASSERT_EQ(call(&e, "GET", "/v1/transactions/ret-66000", NULL, NULL, &resp), 200);
    ASSERT_STR_CONTAINS(resp, "\"transaction\":{");
    ASSERT_STR_CONTAINS(resp, "\"decision\":{"); /* a kept transaction keeps its decision */
    free(resp);
    /* The decisions of the deleted transactions go too: until 2026-12-03 the decision log
     * kept every one (34,000 here) while the transaction log kept 300 KB. */
    uint64_t decisions_after = decision_bytes(&e);
    for (int i = 0; i < 100 && decisions_after * 4 > decisions_before; i++) {
        struct timespec pause = {0, 100000000};
        nanosleep(&pause, NULL);
        decisions_after = decision_bytes(&e);
    }
    if (decisions_after * 4 > decisions_before)
        VG_FAIL("decision logs: %llu bytes, %llu before retention",
                (unsigned long long)decisions_after, (unsigned long long)decisions_before);
    char body[512];
    tx_json(body, sizeof(body), "ret-99999", "acct-ret", "1", t + 400, NULL);
    ASSERT_EQ(score(&e, body, &resp), 200);
    ASSERT_STR_CONTAINS(resp, "\"replay\":false");
    free(resp);
    tx_json(body, sizeof(body), "ret-66000", "acct-ret", "1", t + 339, NULL);
    ASSERT_EQ(score(&e, body, &resp), 200);
    ASSERT_STR_CONTAINS(resp, "\"replay\":true");
    free(resp);
    ASSERT_EQ(call(&e, "GET", "/v1/accounts/acct-ret", NULL, NULL, &resp), 200);
    ASSERT_STR_CONTAINS(resp, "\"transactions\":34001,"); /* the one sent again is new */
    free(resp);
    engine_stop(&e);
}

/* Hand-computed from the feature table's definitions (models/features.h). */
VG_TEST(scripted_account_history_gives_hand_computed_features)
{
    struct engine e = {0};
    engine_start(&e);
    /* Day D = 5 days ago at 00:00 UTC. History: 100.00 at D-8d (outside 7 days, inside 30),
     * then 10.00 at D+10:00, 20.00 at D+10:30, 30.00 at D+12:30 in Paris, and the probe:
     * 40.00 at D+13:00 in London, same merchant as before. */
    long long d = (now_ms() / DAY_MS - 5) * DAY_MS;
    long long h = 3600000;
    struct {
        const char *id;
        const char *amount;
        long long ts;
        const char *extra;
    } hist[] = {
        {"h0", "100.00", d - 8 * DAY_MS + 10 * h, "\"merchant_id\":\"m-a\""},
        {"h1", "10.00", d + 10 * h, "\"merchant_id\":\"m-b\""},
        {"h2", "20.00", d + 10 * h + h / 2, "\"merchant_id\":\"m-b\""},
        {"h3", "30.00", d + 12 * h + h / 2,
         "\"merchant_id\":\"m-b\",\"lat\":48.8566,\"lon\":2.3522,\"country\":\"FR\""},
        {"h4", "40.00", d + 13 * h,
         "\"merchant_id\":\"m-b\",\"lat\":51.5074,\"lon\":-0.1278,\"country\":\"GB\""},
    };
    char *resp = NULL;
    for (size_t i = 0; i < sizeof(hist) / sizeof(hist[0]); i++) {
        char body[512];
        tx_json(body, sizeof(body), hist[i].id, "acct-f", hist[i].amount, hist[i].ts,
                hist[i].extra);
        ASSERT_EQ(score(&e, body, &resp), 200);
        if (i + 1 < sizeof(hist) / sizeof(hist[0]))
            free(resp);
    }
    /* resp: h4's decision and its feature vector. */
    ASSERT_EQ_DBL(num(resp, "amount"), 40.0, 1e-6);
    ASSERT_EQ_DBL(num(resp, "log_amount"), 3.713572, 1e-5); /* log1p(40) */
    ASSERT_EQ_DBL(num(resp, "hour_of_day"), 13.0, 1e-6);
    ASSERT_EQ_DBL(num(resp, "seconds_since_last"), 1800.0, 1e-6);
    ASSERT_EQ_DBL(num(resp, "tx_count_1h"), 1.0, 1e-6);  /* h3, 30 min before */
    ASSERT_EQ_DBL(num(resp, "tx_count_1d"), 3.0, 1e-6);  /* h1, h2, h3 */
    ASSERT_EQ_DBL(num(resp, "tx_count_7d"), 3.0, 1e-6);  /* h0 is 8 days back */
    ASSERT_EQ_DBL(num(resp, "tx_count_30d"), 4.0, 1e-6); /* ... but inside 30 */
    ASSERT_EQ_DBL(num(resp, "amount_sum_1d"), 60.0, 1e-6);
    ASSERT_EQ_DBL(num(resp, "amount_sum_30d"), 160.0, 1e-6);
    ASSERT_EQ_DBL(num(resp, "mean_amount_1d"), 20.0, 1e-6);
    ASSERT_EQ_DBL(num(resp, "mean_amount_30d"), 40.0, 1e-6);
    /* log1p of 100, 10, 20, 30: mean 3.372881, sample stddev 0.931899;
     * (log1p(40) - mean) / sd = 0.365587 */
    ASSERT_EQ_DBL(num(resp, "amount_zscore"), 0.365587, 1e-4);
    ASSERT_EQ_DBL(num(resp, "is_new_merchant"), 0.0, 1e-6);
    ASSERT_EQ_DBL(num(resp, "is_new_country"), 1.0, 1e-6);
    ASSERT_EQ_DBL(num(resp, "distance_km"), 343.56, 0.5); /* Paris to London, haversine */
    ASSERT_EQ_DBL(num(resp, "speed_kmh"), 687.1, 1.0);    /* in 30 minutes */
    free(resp);
    /* The account as the API shows it after h4, at h4's event time. */
    ASSERT_EQ(call(&e, "GET", "/v1/accounts/acct-f", NULL, NULL, &resp), 200);
    ASSERT_STR_CONTAINS(resp, "\"transactions\":5,");
    ASSERT_EQ_DBL(num(resp, "tx_count_1d"), 4.0, 1e-6);
    ASSERT_EQ_DBL(num(resp, "amount_sum_30d"), 200.0, 1e-6);
    free(resp);
    engine_stop(&e);
}

/* GET path until its body contains `want` (the merchant state is eventually consistent: the
 * deltas travel from the accounts' partitions to the merchant's). */
static char *poll_for(struct engine *e, const char *path, const char *want)
{
    for (int i = 0; i < 500; i++) {
        char *resp = NULL;
        if (call(e, "GET", path, NULL, NULL, &resp) == 200 && strstr(resp, want))
            return resp;
        free(resp);
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    VG_FAIL("%s never showed %s", path, want);
    return NULL;
}

/* A merchant's transactions come from accounts in every partition; its features come from
 * the partition that owns it, with fraud labels counted after the 7-day delay, exactly once
 * across a kill -9. */
VG_TEST(merchant_features_gather_every_partition_and_survive_kill9)
{
    struct engine e = {0};
    engine_start(&e);
    long long t_now = now_ms() - 1000;
    long long d = (t_now / DAY_MS) * DAY_MS; /* today 00:00 UTC */
    char body[512];
    char *resp = NULL;
    int n = 0;
    /* 6 transactions 10 days ago, 4 nine days ago, 3 today, from 13 accounts. */
    const struct {
        long long day;
        int count;
    } plan[] = {{-10, 6}, {-9, 4}, {0, 3}};
    for (size_t k = 0; k < 3; k++) {
        for (int i = 0; i < plan[k].count; i++, n++) {
            char id[32];
            char acct[32];
            snprintf(id, sizeof(id), "mx-%d", n);
            snprintf(acct, sizeof(acct), "mx-acct-%d", n);
            long long ts = plan[k].day ? d + plan[k].day * DAY_MS + 3600000LL * (i + 1)
                                       : d + (t_now - d) * (i + 1) / (plan[k].count + 1);
            tx_json(body, sizeof(body), id, acct, "20.00", ts, "\"merchant_id\":\"mx\"");
            ASSERT_EQ(score(&e, body, &resp), 200);
            free(resp);
        }
    }
    /* Two of the oldest turn out to be fraud. */
    ASSERT_EQ(call(&e, "POST", "/v1/labels", "application/json",
                   "[{\"transaction_id\":\"mx-0\",\"is_fraud\":true},"
                   "{\"transaction_id\":\"mx-1\",\"is_fraud\":true}]",
                   &resp),
              202);
    free(resp);
    resp = poll_for(&e, "/v1/merchants/mx", "\"transactions\":13,\"fraud_labels\":2,");
    free(resp);
    /* The next transaction there sees: 3 today, 3 in 7 days, 13 in 30; risk over the 7
     * (and 30) days ending 7 days ago: 2 frauds of 10; nothing exactly 7 days ago (1d). */
    tx_json(body, sizeof(body), "mx-probe", "mx-acct-probe", "20.00", t_now,
            "\"merchant_id\":\"mx\"");
    ASSERT_EQ(score(&e, body, &resp), 200);
    ASSERT_EQ_DBL(num(resp, "merchant_tx_count_1d"), 3.0, 1e-6);
    ASSERT_EQ_DBL(num(resp, "merchant_tx_count_7d"), 3.0, 1e-6);
    ASSERT_EQ_DBL(num(resp, "merchant_tx_count_30d"), 13.0, 1e-6);
    ASSERT_TRUE(isnan(num(resp, "merchant_risk_1d")));
    ASSERT_EQ_DBL(num(resp, "merchant_risk_7d"), 0.2, 1e-6);
    ASSERT_EQ_DBL(num(resp, "merchant_risk_30d"), 0.2, 1e-6);
    free(resp);
    resp = poll_for(&e, "/v1/merchants/mx", "\"transactions\":14,");
    free(resp);
    /* kill -9 and restart: the outboxes resend what was not acknowledged, the merchant's
     * high-water marks drop what was applied: still 14 and 2. */
    vg_tp_signal(&e.proc, SIGKILL);
    int status = 0;
    ASSERT_OK(vg_tp_wait(&e.proc, 20000, &status));
    vg_tp_cleanup(&e.proc);
    engine_spawn(&e);
    struct timespec pause = {1, 200000000}; /* a housekeeping tick: resends are done */
    nanosleep(&pause, NULL);
    ASSERT_EQ(call(&e, "GET", "/v1/merchants/mx", NULL, NULL, &resp), 200);
    ASSERT_STR_CONTAINS(resp, "\"transactions\":14,\"fraud_labels\":2,");
    free(resp);
    engine_stop(&e);
}

/* Whether the decision in a GET /v1/transactions answer has a number for `feature`. */
static bool feature_known(const char *resp, const char *feature)
{
    char key[96];
    snprintf(key, sizeof(key), "\"%s\":", feature);
    const char *p = strstr(resp, key);
    return p && strncmp(p + strlen(key), "null", 4) != 0;
}

/* A partition whose state is lost replays its whole log at start-up once every partition is
 * open, so its transactions get their merchant's features from the owning partition, as live
 * ones do (they were NaN when the owner opened after it), and the owner counts them once. */
VG_TEST(replay_reads_merchant_features_from_their_owner)
{
    struct engine e = {0};
    engine_start(&e); /* 4 partitions, opened in order */
    char acct[32] = "";
    char merch[32] = "";
    for (unsigned i = 0; i < 1000 && !acct[0]; i++) {
        char a[32];
        snprintf(a, sizeof(a), "acct-rp%u", i);
        if (vg_route_account(4, a) == 0)
            snprintf(acct, sizeof(acct), "%s", a);
    }
    for (unsigned i = 0; i < 1000 && !merch[0]; i++) {
        char m[32];
        snprintf(m, sizeof(m), "merch-rp%u", i);
        if (vg_merchant_owner(m, 4) == 3)
            snprintf(merch, sizeof(merch), "%s", m);
    }
    ASSERT_TRUE(acct[0] && merch[0]);
    long long t = now_ms() - 60000;
    char extra[64];
    snprintf(extra, sizeof(extra), "\"merchant_id\":\"%s\"", merch);
    char body[512];
    char *resp = NULL;
    for (int k = 0; k < 5; k++) {
        char id[32];
        snprintf(id, sizeof(id), "rp-%d", k);
        tx_json(body, sizeof(body), id, acct, "7.00", t + k, extra);
        ASSERT_EQ(score(&e, body, &resp), 200);
        free(resp);
    }
    char mpath[64];
    snprintf(mpath, sizeof(mpath), "/v1/merchants/%s", merch);
    resp = poll_for(&e, mpath, "\"transactions\":5,");
    free(resp);
    engine_stop(&e);
    char state[600];
    snprintf(state, sizeof(state), "%s/p00/state", e.data);
    ASSERT_OK(vg_io_remove_tree(state));
    engine_spawn(&e);
    ASSERT_EQ(call(&e, "GET", "/v1/transactions/rp-4", NULL, NULL, &resp), 200);
    if (!feature_known(resp, "merchant_tx_count_1d") || !feature_known(resp, "tx_count_1d"))
        VG_FAIL("replayed decision without merchant features: %s", resp);
    ASSERT_STR_CONTAINS(resp, "\"tx_count_1d\":4.0"); /* the account as before rp-4, as live */
    free(resp);
    resp = poll_for(&e, mpath, "\"transactions\":5,"); /* the replay's deltas: not again */
    free(resp);
    ASSERT_EQ(call(&e, "GET", mpath, NULL, NULL, &resp), 200);
    ASSERT_STR_CONTAINS(resp, "\"transactions\":5,");
    free(resp);
    engine_stop(&e);
}
