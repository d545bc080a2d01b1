/* SPDX-License-Identifier: MIT */
/*
 * The `vigil log` tool; see logtool.h. verify checks every partition's log and decision log
 * with vg_seglog_verify_dir, and that a data directory that records its partition count still
 * has every one of those partitions' logs; inspect opens one partition read-only and prints records
 * as JSON lines, each payload decoded by the caller's renderer (storage does not know the schema)
 * or in hex. Thread: main.
 */
#include "storage/logtool.h"
#include "runtime/cli.h"
#include "runtime/error.h"
#include "runtime/timefmt.h"
#include "storage/datadir.h"
#include "storage/seglog.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_PARTITIONS 4096

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The partition log directories under `dir` (pNN/<sub>: "log" or "decisions"), or `dir`
 * itself when it holds segments. OUT: paths[] (malloc'd), numbers[]. Returns how many. */
static size_t find_logs(const char *dir, const char *sub, char **paths, int *numbers, size_t max)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    bool has_segments = false;
    while ((e = readdir(d)) != NULL && n < max) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".seg") == 0)
            has_segments = true;
        if (e->d_name[0] != 'p' || len < 3 || strspn(e->d_name + 1, "0123456789") != len - 1)
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s/%s", dir, e->d_name, sub);
        if (!is_dir(path))
            continue;
        paths[n] = strdup(path);
        numbers[n] = atoi(e->d_name + 1);
        n++;
    }
    closedir(d);
    if (n == 0 && has_segments) {
        paths[0] = strdup(dir);
        numbers[0] = -1;
        n = 1;
    }
    /* Sort by partition number (few: insertion sort). */
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0 && numbers[j - 1] > numbers[j]; j--) {
            int tn = numbers[j];
            numbers[j] = numbers[j - 1];
            numbers[j - 1] = tn;
            char *tp = paths[j];
            paths[j] = paths[j - 1];
            paths[j - 1] = tp;
        }
    }
    return n;
}

/* Verifies one log directory and prints one line, "<what>: ok ..." or "<what>: DAMAGED: why".
 * Returns whether it is damaged. */
static bool verify_one(const char *what, const char *path)
{
    vg_seglog_verify_t v;
    char err[1024];
    int rc = vg_seglog_verify_dir(path, &v, err, sizeof(err));
    if (rc != 0) {
        printf("%s: DAMAGED: %s\n", what, err);
        return true;
    }
    printf("%s: ok records=%llu offsets=%llu..%llu segments=%llu bytes=%llu bad_indexes=%llu "
           "unacknowledged_tail_bytes=%llu\n",
           what, (unsigned long long)v.records, (unsigned long long)v.first_offset,
           (unsigned long long)v.next_offset, (unsigned long long)v.segments,
           (unsigned long long)v.bytes, (unsigned long long)v.bad_indexes,
           (unsigned long long)v.torn_tail_bytes);
    return v.bad_indexes > 0;
}

/* Partitions below `upto` that the data directory recorded but that are gone (data lost, not
 * a partition never written: the count is recorded only once they all exist). Printed as
 * damage; returns how many. */
static int report_missing(const char *dir, unsigned recorded, unsigned *checked, unsigned upto)
{
    int bad = 0;
    for (; *checked < recorded && *checked < upto; (*checked)++) {
        char missing[PATH_MAX];
        int rc = vg_datadir_check_partition_dirs(dir, *checked, recorded, missing, sizeof(missing));
        if (rc != 0) {
            printf("partition %u: DAMAGED: %s: %s (the data directory holds %u partitions)\n",
                   *checked, missing, rc == -ENOENT ? "missing" : vg_strerror(rc), recorded);
            bad++;
        }
    }
    return bad;
}

/* Each partition's transaction log, then its decision log (pNN/decisions, derived from the
 * transactions but what an audit reads to see why a transaction was decided as it was). */
static int cmd_verify(const char *dir)
{
    unsigned recorded = 0;
    int rc = vg_datadir_read_partitions(dir, &recorded);
    if (rc != 0 && rc != VG_ENOTFOUND) {
        printf("data directory: DAMAGED: %s/partitions: %s\n", dir, vg_strerror(rc));
        return 1;
    }
    char *paths[MAX_PARTITIONS];
    int numbers[MAX_PARTITIONS];
    size_t n = find_logs(dir, "log", paths, numbers, MAX_PARTITIONS);
    if (n == 0 && recorded == 0) {
        fprintf(stderr, "vigil log verify: no log found in %s\n", dir);
        return 1;
    }
    int bad = 0;
    unsigned checked = 0; /* recorded partitions below this have been looked for */
    for (size_t i = 0; i < n; i++) {
        bad += report_missing(dir, recorded, &checked, numbers[i] < 0 ? 0 : (unsigned)numbers[i]);
        if (numbers[i] >= 0 && checked == (unsigned)numbers[i])
            checked++; /* there: verified below */
        char what[64];
        snprintf(what, sizeof(what), "partition %d", numbers[i]);
        bad += verify_one(what, paths[i]);
        size_t len = strlen(paths[i]);
        char dec[PATH_MAX];
        if (numbers[i] >= 0 && len > 4 && strcmp(paths[i] + len - 4, "/log") == 0 &&
            (size_t)snprintf(dec, sizeof(dec), "%.*s/decisions", (int)(len - 4), paths[i]) <
                sizeof(dec) &&
            is_dir(dec)) {
            snprintf(what, sizeof(what), "partition %d decisions", numbers[i]);
            bad += verify_one(what, dec);
        }
        free(paths[i]);
    }
    bad += report_missing(dir, recorded, &checked, recorded);
    return bad ? 1 : 0;
}

struct inspect_opts {
    uint64_t partition;
    bool has_partition;
    uint64_t from;
    bool has_from;
    const char *since;
    uint64_t limit;
    bool has_limit; /* --limit 0 prints none: until 2026-12-03 it printed every record */
    bool decisions; /* pNN/decisions instead of pNN/log */
    bool hex;       /* the payload in hex even when it is rendered */
    vg_log_render_fn render;
};

static void print_record(int partition, const vg_seglog_view_t *v, const struct inspect_opts *io)
{
    printf("{\"partition\":%d,\"offset\":%llu,\"timestamp\":%lld,\"type\":\"%s\",\"size\":%u",
           partition < 0 ? 0 : partition, (unsigned long long)v->offset, (long long)v->timestamp_ms,
           vg_seglog_type_name(v->type), v->len);
    char *json = io->render ? io->render((int)v->type, v->payload, v->len) : NULL;
    if (json)
        printf(",\"record\":%s", json);
    free(json);
    if (!json || io->hex) {
        static const char hex[] = "0123456789abcdef";
        printf(",\"payload_hex\":\"");
        for (uint32_t i = 0; i < v->len; i++) {
            putchar(hex[v->payload[i] >> 4]);
            putchar(hex[v->payload[i] & 15]);
        }
        putchar('"');
    }
    printf("}\n");
}

static int inspect_one(const char *path, int partition, const struct inspect_opts *io,
                       uint64_t *printed)
{
    vg_seglog_opts_t o = {.read_only = true};
    vg_seglog_t *log = NULL;
    char err[1024];
    int rc = vg_seglog_open(path, &o, &log, NULL, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "vigil log inspect: %s\n", err);
        return 1;
    }
    vg_seglog_reader_t *r = NULL;
    rc = vg_seglog_reader_open(log, io->has_from ? io->from : 0, &r);
    int64_t since = 0;
    if (rc == 0 && io->since) {
        rc = vg_time_parse(io->since, &since); /* checked by the caller already */
        if (rc == 0)
            rc = vg_seglog_reader_seek_time(r, since);
    }
    vg_seglog_view_t v;
    while (rc == 0 && (!io->has_limit || *printed < io->limit) &&
           (rc = vg_seglog_reader_next(r, &v)) == 0) {
        print_record(partition, &v, io);
        (*printed)++;
    }
    vg_seglog_reader_close(r);
    vg_seglog_close(log);
    if (rc != 0 && rc != VG_ENOTFOUND) {
        fprintf(stderr, "vigil log inspect: %s: %s\n", path, vg_strerror(rc));
        return 1;
    }
    return 0;
}

static int cmd_inspect(const char *dir, const struct inspect_opts *io)
{
    int64_t t = 0;
    if (io->since && vg_time_parse(io->since, &t) != 0) {
        fprintf(stderr, "vigil log inspect: --since: \"%s\" is not RFC 3339 or epoch ms\n",
                io->since);
        return 2;
    }
    if (io->since && io->has_from) {
        fprintf(stderr, "vigil log inspect: give --from or --since, not both\n");
        return 2;
    }
    char *paths[MAX_PARTITIONS];
    int numbers[MAX_PARTITIONS];
    size_t n = find_logs(dir, io->decisions ? "decisions" : "log", paths, numbers, MAX_PARTITIONS);
    if (n == 0) {
        fprintf(stderr, "vigil log inspect: no %s found in %s\n",
                io->decisions ? "decision log" : "log", dir);
        return 1;
    }
    int rc = 0;
    uint64_t printed = 0;
    bool matched = false;
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && (!io->has_partition || (int64_t)io->partition == numbers[i])) {
            matched = true;
            rc = inspect_one(paths[i], numbers[i], io, &printed);
        }
        free(paths[i]);
    }
    if (!matched) {
        fprintf(stderr, "vigil log inspect: no partition %llu in %s\n",
                (unsigned long long)io->partition, dir);
        return 1;
    }
    return rc;
}

int vg_logtool_run(int argc, char **argv, vg_log_render_fn render)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        FILE *out = argc < 2 ? stderr : stdout;
        fprintf(out, "usage: vigil log verify DIR\n"
                     "       vigil log inspect DIR [--decisions] [--partition P] [--from OFFSET | "
                     "--since TIME]\n                        [--limit N] [--hex]\n\n"
                     "verify checks every record's CRC, offset continuity, segment headers and "
                     "indexes;\nexit 0 when clean, 1 on damage. inspect prints records as JSON "
                     "lines, each payload\ndecoded (\"record\") or in hex. DIR is a data "
                     "directory (pNN/log/ and pNN/decisions/)\nor one log directory.\n");
        return argc < 2 ? 2 : 0;
    }
    struct inspect_opts io = {.render = render};
    const char *pos[1] = {NULL};
    size_t npos = 0;
    if (strcmp(argv[1], "verify") == 0) {
        const vg_cli_t cli = {"vigil log verify", "DIR", "Checks the log in DIR.", NULL, 0, 1, 1};
        int rc = vg_cli_parse(&cli, argc - 1, argv + 1, pos, &npos);
        if (rc != 0)
            return rc == VG_CLI_HELP ? 0 : 2;
        return cmd_verify(pos[0]);
    }
    if (strcmp(argv[1], "inspect") == 0) {
        const vg_cli_opt_t opts[] = {
            {"partition", VG_CLI_UINT, &io.partition, "P", "only this partition", 0, 0,
             &io.has_partition},
            {"from", VG_CLI_UINT, &io.from, "OFFSET", "start at this offset", 0, 0, &io.has_from},
            {"since", VG_CLI_STRING, &io.since, "TIME",
             "start at the first record with event time >= TIME (RFC 3339 or epoch ms)", 0, 0,
             NULL},
            {"limit", VG_CLI_UINT, &io.limit, "N", "print at most N records", 0, 0, &io.has_limit},
            {"decisions", VG_CLI_BOOL, &io.decisions, NULL,
             "the decision logs (pNN/decisions) instead of the transaction logs", 0, 0, NULL},
            {"hex", VG_CLI_BOOL, &io.hex, NULL, "also print each payload in hex", 0, 0, NULL},
        };
        const vg_cli_t cli = {"vigil log inspect",
                              "DIR [flags]",
                              "Prints the records of the log in DIR as JSON lines: each "
                              "payload decoded as \"record\" when its type is known, else in "
                              "hex.",
                              opts,
                              VG_ARRAY_LEN(opts),
                              1,
                              1};
        int rc = vg_cli_parse(&cli, argc - 1, argv + 1, pos, &npos);
        if (rc != 0)
            return rc == VG_CLI_HELP ? 0 : 2;
        return cmd_inspect(pos[0], &io);
    }
    fprintf(stderr, "vigil log: unknown subcommand \"%s\" (verify or inspect)\n", argv[1]);
    return 2;
}
