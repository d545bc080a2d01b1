/* SPDX-License-Identifier: MIT */
/*
 * `vigil gen`: synthetic transactions (models/gen.h) as JSON lines on stdout, each line a body
 * the HTTP API accepts, in event-time order; the late labels go to --labels FILE as JSON lines
 * in reported_at order. Thread: main.
 */
#include "actors/commands.h"
#include "actors/txcodec.h"
#include "models/gen.h"
#include "runtime/cli.h"
#include "runtime/error.h"
#include "runtime/timefmt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Not const: protobuf-c's string fields are char *. */
static char scenario_names[VG_GEN_NSCENARIOS][24] = {
    "genuine", "card_testing",      "account_takeover",
    "burst",   "impossible_travel", "compromised_merchant",
    "mule"};

/* Prints one transaction line; with `truth`, its scenario goes in attributes. */
static int print_tx(const vg_gen_event_t *ev, bool truth, FILE *out)
{
    static char scenario_key[] = "scenario";
    Vigil__Transaction tx = ev->tx; /* a copy: the attribute below lives on this stack */
    Vigil__Transaction__AttributesEntry entry = VIGIL__TRANSACTION__ATTRIBUTES_ENTRY__INIT;
    Vigil__Transaction__AttributesEntry *entries[1] = {&entry};
    if (truth) {
        entry.key = scenario_key;
        entry.value = scenario_names[ev->scenario];
        tx.n_attributes = 1;
        tx.attributes = entries;
    }
    char *line = vg_tx_to_json(&tx);
    if (!line)
        return -ENOMEM;
    int rc = fprintf(out, "%s\n", line) < 0 ? -EIO : 0;
    free(line);
    return rc;
}

static int print_label(const vg_gen_event_t *ev, FILE *out)
{
    char ts[40];
    return fprintf(out,
                   "{\"transaction_id\":\"%s\",\"is_fraud\":true,\"reported_at\":\"%s\","
                   "\"source\":\"%s\"}\n",
                   ev->label.transaction_id,
                   vg_time_format(ev->label.reported_at_ms, ts, sizeof(ts)), ev->label.source) < 0
               ? -EIO
               : 0;
}

int vg_cmd_gen(int argc, char **argv)
{
    uint64_t seed = 1;
    uint64_t accounts = 1000;
    uint64_t merchants = 500;
    uint64_t days = 30;
    double tx_per_day = 2.0;
    double fraud_scale = 1.0;
    const char *labels_path = NULL;
    const char *start = NULL;
    bool truth = false;
    const vg_cli_opt_t opts[] = {
        {"seed", VG_CLI_UINT, &seed, "N", "random seed (the same seed gives the same data)", 0, 0,
         NULL},
        {"accounts", VG_CLI_UINT, &accounts, "N", "accounts", 1, 100000000, NULL},
        {"merchants", VG_CLI_UINT, &merchants, "N", "merchants", 1, 10000000, NULL},
        {"days", VG_CLI_UINT, &days, "N", "days of activity", 1, 3650, NULL},
        {"start", VG_CLI_STRING, &start, "TIME", "first day (RFC 3339; default 2026-01-01)", 0, 0,
         NULL},
        {"tx-per-day", VG_CLI_DOUBLE, &tx_per_day, "X", "mean transactions per account per day",
         0.01, 1000, NULL},
        {"fraud-scale", VG_CLI_DOUBLE, &fraud_scale, "X", "multiplies every fraud scenario's rate",
         0.01, 1000, NULL},
        {"labels", VG_CLI_STRING, &labels_path, "FILE", "write the chargeback labels here", 0, 0,
         NULL},
        {"truth", VG_CLI_BOOL, &truth, NULL,
         "put each transaction's scenario in attributes.scenario (for evaluation)", 0, 0, NULL},
    };
    const vg_cli_t cli = {
        "vigil gen",
        "[flags]",
        "Writes synthetic transactions as JSON lines (each a body POST /v1/transactions takes),\n"
        "with labelled fraud scenarios: card testing, account takeover, burst spending,\n"
        "impossible travel, compromised merchant and mule transfers (about 1% fraud).\n"
        "A summary goes to stderr.",
        opts,
        VG_ARRAY_LEN(opts),
        0,
        0};
    int rc = vg_cli_parse(&cli, argc, argv, NULL, NULL);
    if (rc != 0)
        return rc == VG_CLI_HELP ? 0 : 2;
    vg_gen_opts_t go = {.seed = seed,
                        .accounts = (uint32_t)accounts,
                        .merchants = (uint32_t)merchants,
                        .days = (uint32_t)days,
                        .tx_per_day = tx_per_day,
                        .fraud_scale = fraud_scale};
    if (start && vg_time_parse(start, &go.start_ms) != 0) {
        fprintf(stderr, "vigil gen: --start: \"%s\" is not RFC 3339 or epoch ms\n", start);
        return 2;
    }
    FILE *labels = NULL;
    if (labels_path && !(labels = fopen(labels_path, "w"))) {
        fprintf(stderr, "vigil gen: cannot write %s: %s\n", labels_path, vg_strerror(-errno));
        return 1;
    }
    vg_gen_t *g = NULL;
    rc = vg_gen_new(&go, &g);
    vg_gen_event_t ev;
    while (rc == 0 && (rc = vg_gen_next(g, &ev)) == 0) {
        if (ev.kind == VG_GEN_TX)
            rc = print_tx(&ev, truth, stdout);
        else if (labels)
            rc = print_label(&ev, labels);
    }
    if (rc == VG_ENOTFOUND)
        rc = 0;
    if (labels && fclose(labels) != 0 && rc == 0)
        rc = -errno;
    if (fflush(stdout) != 0 && rc == 0)
        rc = -EIO;
    if (rc == 0) {
        vg_gen_stats_t st;
        vg_gen_stats(g, &st);
        uint64_t frauds = 0;
        for (int s = 1; s < VG_GEN_NSCENARIOS; s++)
            frauds += st.frauds[s];
        fprintf(stderr, "vigil gen: %llu transactions, %llu fraud (%.2f%%), %llu labels\n",
                (unsigned long long)st.transactions, (unsigned long long)frauds,
                st.transactions ? 100.0 * (double)frauds / (double)st.transactions : 0.0,
                (unsigned long long)st.labels);
    } else {
        fprintf(stderr, "vigil gen: %s\n", vg_strerror(rc));
    }
    vg_gen_free(g);
    return rc == 0 ? 0 : 1;
}
