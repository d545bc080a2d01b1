/* SPDX-License-Identifier: MIT */
/*
 * vigil's configuration: one table of keys (VG_CONFIG_<SECTION> below) generates the typed
 * struct, the parser, the validation, the printer and the documentation check. Values come
 * from, in order of precedence: command-line flags, VIGIL_<SECTION>_<KEY> environment
 * variables, an INI file (libinih), the embedded defaults. config/vigil.conf documents every
 * key with its default; a test checks that file and table never drift apart.
 *
 * Every value remembers where it came from (default, file:line, env NAME, flag NAME), so
 * start-up errors and `vigil serve --print-config` can say so. Strings are owned by the
 * config and freed by vg_config_free. Thread: main (read-only afterwards: any).
 */
#ifndef VG_CONFIG_CONFIG_H
#define VG_CONFIG_CONFIG_H

#include "runtime/compiler.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Value types. INT and SIZE are int64_t (SIZE accepts K, M, G suffixes, powers of 1024);
 * DOUBLE is double; BOOL accepts true/false/yes/no/on/off/1/0; ENUM is an int index into the
 * "a|b|c" list; STRING is a char * owned by the config. */
#define VG_CFG_CTYPE_INT    int64_t
#define VG_CFG_CTYPE_SIZE   int64_t
#define VG_CFG_CTYPE_DOUBLE double
#define VG_CFG_CTYPE_BOOL   bool
#define VG_CFG_CTYPE_ENUM   int
#define VG_CFG_CTYPE_STRING char *

/* X(section, key, TYPE, default, min, max, enum values, doc) */
#define VG_CONFIG_SERVER(X)                                                                        \
    X(server, data_dir, STRING, "./data", 0, 0, NULL,                                              \
      "Directory holding the log, the state and the lock file.")                                   \
    X(server, bind, STRING, "127.0.0.1", 0, 0, "address",                                          \
      "Address the HTTP and TCP listeners bind to (IPv4 or IPv6, numeric).")                       \
    X(server, http_port, INT, "8080", 0, 65535, NULL,                                              \
      "HTTP, WebSocket and dashboard port; 0 picks a free port.")                                  \
    X(server, tcp_port, INT, "7070", 0, 65535, NULL,                                               \
      "TCP (protobuf frames) ingest port; 0 picks a free port.")                                   \
    X(server, workers, INT, "0", 0, 64, NULL, "Event-loop threads; 0 means one per CPU core.")     \
    X(server, log_level, ENUM, "info", 0, 0, "debug|info|warn|error",                              \
      "Lowest level of diagnostic log lines written to stderr.")                                   \
    X(server, shutdown_timeout_ms, INT, "10000", 0, 600000, NULL,                                  \
      "How long shutdown waits for queued messages to drain, in milliseconds.")

#define VG_CONFIG_RUNTIME(X)                                                                       \
    X(runtime, mailbox_capacity, INT, "1024", 1, 16777216, NULL,                                   \
      "Append requests a partition may have queued; beyond that HTTP ingest answers 429 with "     \
      "Retry-After and TCP ingest answers overloaded.")                                            \
    X(runtime, drain_batch, INT, "1024", 1, 1048576, NULL,                                         \
      "Messages a loop handles per wake-up before it polls for I/O again.")

#define VG_CONFIG_LOG(X)                                                                           \
    X(log, partitions, INT, "2", 1, 1024, NULL,                                                    \
      "Log partitions; an account's partition is hash(account_id) % partitions. Fixed for a "      \
      "data directory once written. Each partition fsyncs its own log: more partitions than "      \
      "disks x cores made fsyncs queue behind each other (BENCHMARKS.md).")                        \
    X(log, durability, ENUM, "fsync", 0, 0, "fsync|os|none",                                       \
      "fsync: acknowledge after group commit to disk; os: after write to the page cache; none: "   \
      "benchmarks only.")                                                                          \
    X(log, group_commit_bytes, SIZE, "1M", 4096, 1073741824, NULL,                                 \
      "A group commit closes once this many bytes are waiting.")                                   \
    X(log, group_commit_us, INT, "500", 0, 1000000, NULL,                                          \
      "A group commit closes this many microseconds after its first request (requests that "       \
      "come while a sync runs join the next one anyway), or at once while that wait is "           \
      "expected to bring fewer than two records, or 64 are waiting already.")                      \
    X(log, segment_bytes, SIZE, "128M", 4096, 68719476736, NULL,                                   \
      "A segment rolls once it reaches this size.")                                                \
    X(log, segment_age_s, INT, "0", 0, 31536000, NULL,                                             \
      "A segment rolls once it is this old, in seconds; 0 rolls by size only.")                    \
    X(log, index_interval_bytes, SIZE, "4K", 64, 16777216, NULL,                                   \
      "One sparse index entry per this many bytes of log.")                                        \
    X(log, retention_bytes, SIZE, "0", 0, INT64_MAX, NULL,                                         \
      "Delete the oldest segments beyond this size per partition; 0 keeps everything. The "        \
      "transaction index forgets their transactions too (sent again, they are new), and the "      \
      "decision log's segments go once all their decisions are of deleted transactions.")          \
    X(log, retention_age_s, INT, "0", 0, INT64_MAX, NULL,                                          \
      "Delete segments older than this, in seconds; 0 keeps everything. The same holds for "       \
      "the index.")

#define VG_CONFIG_STATE(X)                                                                         \
    X(state, map_size, SIZE, "64M", 1048576, 1099511627776, NULL,                                  \
      "Initial LMDB map size per partition; it grows on demand.")                                  \
    X(state, writemap, BOOL, "true", 0, 0, NULL,                                                   \
      "LMDB MDB_WRITEMAP: about 2x faster random updates; a power loss may then damage the "       \
      "state, which is rebuilt from the log.")                                                     \
    X(state, sync_interval_ms, INT, "30000", 1, 3600000, NULL,                                     \
      "How often the state is synced to disk, in milliseconds. The log is the source of truth: "   \
      "a power loss replays at most this much of it. Each sync delays the log's fsyncs behind "    \
      "it, so syncing every second tripled the HTTP p99 (BENCHMARKS.md).")                         \
    X(state, pending_label_ttl_days, INT, "30", 0, 3650, NULL,                                     \
      "A label whose transaction has not arrived is dropped once its partition applies a "         \
      "transaction this many days newer than the label's reported_at (event time), its own "       \
      "transaction included; 0 keeps them forever.")                                               \
    X(state, max_waiting_labels, INT, "1000000", 0, 1000000000, NULL,                              \
      "Most labels each partition keeps waiting for their transaction (about 90 bytes of state "   \
      "each; a label for an unknown transaction without account_id waits in every partition). "    \
      "Beyond it such labels are refused with too_many_waiting_labels (HTTP 503) until "           \
      "transactions arrive or pending_label_ttl_days drops some; 0: no limit.")                    \
    X(state, account_ttl_days, INT, "90", 0, 3650, NULL,                                           \
      "An account whose latest transaction is this many days older than the newest transaction "   \
      "its partition has applied (event time) starts over: its next transaction sees a new "       \
      "account, and a background sweep (4096 profiles per partition per second) deletes the "      \
      "profile meanwhile. 0 keeps accounts forever.")                                              \
    X(state, cache_accounts, INT, "100000", 0, 100000000, NULL,                                    \
      "Not built yet (ignored): hot account profiles to keep in memory per partition.")

#define VG_CONFIG_INGEST(X)                                                                        \
    X(ingest, max_body_bytes, SIZE, "1M", 1024, 268435456, NULL,                                   \
      "Largest HTTP request body accepted; larger ones get 413.")                                  \
    X(ingest, max_body_memory, SIZE, "256M", 1048576, 68719476736, NULL,                           \
      "Most memory the HTTP request bodies being received may hold at once, over all "             \
      "connections; a body that needs more is answered 503 with Retry-After. Small bodies (up to " \
      "about 1 KiB, read into the request itself) do not count.")                                  \
    X(ingest, max_frame_bytes, SIZE, "64K", 256, 16777216, NULL,                                   \
      "Largest TCP protobuf frame accepted.")                                                      \
    X(ingest, max_batch, INT, "1000", 1, 100000, NULL, "Most transactions in one JSON array.")     \
    X(ingest, max_future_skew_s, INT, "300", 0, 86400, NULL,                                       \
      "Transactions more than this many seconds in the future are rejected.")                      \
    X(ingest, max_event_age_days, INT, "400", 1, 36500, NULL,                                      \
      "Transactions older than this many days are rejected.")                                      \
    X(ingest, recent_ids, INT, "500000", 0, 100000000, NULL,                                       \
      "Transaction ids each partition keeps in a filter (4 bytes each, in memory), so that a new " \
      "id skips the index lookup that answers a repeat without logging it again; a repeat of an "  \
      "older id may be logged, then answered as a replay by its partition. Refilled at start "     \
      "from the decision log, all partitions at once (about 0.5 s per million ids each). 0 looks " \
      "every id up.")

#define VG_CONFIG_SCORING(X)                                                                       \
    X(scoring, model, STRING, "", 0, 0, NULL,                                                      \
      "Path of the XGBoost model file; empty means rules alone decide.")                           \
    X(scoring, threshold_medium, DOUBLE, "0.5", 0, 1, NULL,                                        \
      "Score from which a transaction is MEDIUM risk.")                                            \
    X(scoring, threshold_high, DOUBLE, "0.9", 0, 1, NULL,                                          \
      "Score from which a transaction is HIGH risk and raises an alert.")                          \
    X(scoring, batch_max, INT, "1024", 1, 65536, NULL,                                             \
      "Most transactions scored in one model call; a bigger commit group is scored in chunks.")

#define VG_CONFIG_SECTIONS(X)                                                                      \
    X(server, VG_CONFIG_SERVER)                                                                    \
    X(runtime, VG_CONFIG_RUNTIME)                                                                  \
    X(log, VG_CONFIG_LOG)                                                                          \
    X(state, VG_CONFIG_STATE)                                                                      \
    X(ingest, VG_CONFIG_INGEST)                                                                    \
    X(scoring, VG_CONFIG_SCORING)

/* Enum values, in the order of their "a|b|c" lists. */
enum vg_durability { VG_DURABILITY_FSYNC = 0, VG_DURABILITY_OS = 1, VG_DURABILITY_NONE = 2 };

#define VG_CFG_FIELD(sec, key, type, def, min, max, values, doc) VG_CFG_CTYPE_##type key;
#define VG_CFG_SECTION_STRUCT(sec, keys)                                                           \
    struct {                                                                                       \
        keys(VG_CFG_FIELD)                                                                         \
    } sec;
#define VG_CFG_COUNT_ONE(sec, key, type, def, min, max, values, doc) +1
#define VG_CFG_COUNT_SECTION(sec, keys)                              keys(VG_CFG_COUNT_ONE)

#define VG_CONFIG_NKEYS (0 VG_CONFIG_SECTIONS(VG_CFG_COUNT_SECTION))

enum vg_config_src_kind {
    VG_CONFIG_SRC_DEFAULT = 0,
    VG_CONFIG_SRC_FILE = 1,
    VG_CONFIG_SRC_ENV = 2,
    VG_CONFIG_SRC_FLAG = 3,
};

typedef struct vg_config_src {
    enum vg_config_src_kind kind;
    char where[160]; /* "config/vigil.conf:12", "VIGIL_SERVER_HTTP_PORT", "--http-port" */
} vg_config_src_t;

typedef struct vg_config {
    VG_CONFIG_SECTIONS(VG_CFG_SECTION_STRUCT)
    vg_config_src_t src[VG_CONFIG_NKEYS];
} vg_config_t;

/* Sets every key to its embedded default. */
void vg_config_init_defaults(vg_config_t *cfg);

/* Applies an INI file. Refuses (VG_ECONFIG, message in err) an unknown section or key, a bad
 * value, a key set twice, a syntax error or an unreadable file, naming file, line and key. */
VG_MUST_CHECK int vg_config_load_file(vg_config_t *cfg, const char *path, char *err, size_t errlen);

/* Applies INI text, reporting errors against `name` (for tests and embedded configs). */
VG_MUST_CHECK int vg_config_load_string(vg_config_t *cfg, const char *text, const char *name,
                                        char *err, size_t errlen);

/* Applies every VIGIL_<SECTION>_<KEY>=value in envp. A variable whose prefix names a known
 * section but no known key is refused (a typo); other VIGIL_* variables are ignored. */
VG_MUST_CHECK int vg_config_load_env(vg_config_t *cfg, char *const *envp, char *err, size_t errlen);

/* Sets "section.key" to `value` from `kind`/`where` (e.g. VG_CONFIG_SRC_FLAG, "--http-port"),
 * with the same validation as the file. VG_ECONFIG with a message naming `where`. */
VG_MUST_CHECK int vg_config_set(vg_config_t *cfg, const char *name, const char *value,
                                enum vg_config_src_kind kind, const char *where, char *err,
                                size_t errlen);

/* Checks rules that span keys (threshold_medium <= threshold_high). */
VG_MUST_CHECK int vg_config_validate(const vg_config_t *cfg, char *err, size_t errlen);

/* Describes where "section.key" came from: "default", "config/vigil.conf:4",
 * "env VIGIL_SERVER_HTTP_PORT", "flag --http-port". Unknown names give "unknown key". */
void vg_config_source(const vg_config_t *cfg, const char *name, char *buf, size_t len);

/* Whether "section.key" still holds its default (no file, variable or flag set it). */
bool vg_config_is_default(const vg_config_t *cfg, const char *name);

/* Prints the effective configuration as INI, each value followed by "; from <source>". */
void vg_config_print(const vg_config_t *cfg, FILE *out);

/* Frees the strings. The struct may be reused after vg_config_init_defaults. */
void vg_config_free(vg_config_t *cfg);

/* For the documentation check: the number of keys, and key i's "section.key" and default. */
size_t vg_config_nkeys(void);
const char *vg_config_key_name(size_t i, char *buf, size_t len);
const char *vg_config_key_default(size_t i);

#endif
