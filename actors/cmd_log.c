/* SPDX-License-Identifier: MIT */
/*
 * `vigil log`: storage/logtool.c's verify and inspect, with the schema to decode what inspect
 * prints: a transaction as the API shows it (plus when vigil received it), a label, a decision
 * with its reasons, feature vector and time. Thread: main.
 */
#include "actors/commands.h"
#include "actors/txcodec.h"
#include "runtime/timefmt.h"
#include "storage/logtool.h"
#include "storage/seglog.h"
#include "storage/vigil.pb-c.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* text, a JSON object, with `"key":"<time of ms>"` added before its closing brace. */
static char *with_time(char *text, const char *key, int64_t ms)
{
    if (!text || ms == 0)
        return text;
    size_t len = strlen(text);
    if (len < 2 || text[len - 1] != '}')
        return text;
    char when[64];
    vg_time_format(ms, when, sizeof(when));
    size_t add = strlen(key) + strlen(when) + 8;
    char *out = realloc(text, len + add);
    if (!out)
        return text;
    snprintf(out + len - 1, add + 1, "%s\"%s\":\"%s\"}", len > 2 ? "," : "", key, when);
    return out;
}

static char *label_json(const Vigil__Label *l)
{
    json_t *o = json_object();
    json_object_set_new(o, "transaction_id",
                        json_string(l->transaction_id ? l->transaction_id : ""));
    json_object_set_new(o, "is_fraud", json_boolean(l->is_fraud));
    if (l->source && *l->source)
        json_object_set_new(o, "source", json_string(l->source));
    if (l->account_id && *l->account_id)
        json_object_set_new(o, "account_id", json_string(l->account_id));
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return with_time(text, "reported_at", l->reported_at_ms);
}

static char *render(int type, const uint8_t *payload, size_t len)
{
    char *text = NULL;
    if (type == VG_SEGLOG_TYPE_TRANSACTION) {
        Vigil__Transaction *tx = vigil__transaction__unpack(NULL, len, payload);
        if (tx)
            text = with_time(vg_tx_to_json(tx), "received_at", tx->received_ms);
        vigil__transaction__free_unpacked(tx, NULL);
    } else if (type == VG_SEGLOG_TYPE_LABEL) {
        Vigil__Label *l = vigil__label__unpack(NULL, len, payload);
        if (l)
            text = label_json(l);
        vigil__label__free_unpacked(l, NULL);
    } else if (type == VG_SEGLOG_TYPE_DECISION) {
        Vigil__Decision *d = vigil__decision__unpack(NULL, len, payload);
        if (d)
            text = with_time(vg_decision_to_json(d, true), "decided_at", d->decided_ms);
        vigil__decision__free_unpacked(d, NULL);
    }
    return text; /* NULL: an unknown type or bytes that do not decode: hex */
}

int vg_cmd_log(int argc, char **argv)
{
    return vg_logtool_run(argc, argv, render);
}
