/* SPDX-License-Identifier: MIT */
/*
 * Command-line flag parsing for the vigil subcommands: `--name VALUE`, `--name=VALUE`, boolean
 * `--name`, `--help`/`-h`, and positional arguments. A bad flag or value prints one line on
 * stderr naming the command and the flag; the caller exits 2. Thread: main.
 */
#ifndef VG_RUNTIME_CLI_H
#define VG_RUNTIME_CLI_H

#include "runtime/compiler.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum vg_cli_kind {
    VG_CLI_STRING, /* out: const char ** (points into argv) */
    VG_CLI_UINT,   /* out: uint64_t *, decimal, within [min, max] */
    VG_CLI_DOUBLE, /* out: double *, within [min, max] */
    VG_CLI_BOOL,   /* out: bool *, set to true when present; takes no value */
};

typedef struct vg_cli_opt {
    const char *name; /* without the dashes: "http-port" */
    enum vg_cli_kind kind;
    void *out;
    const char *metavar; /* "N", "FILE"; NULL for VG_CLI_BOOL */
    const char *help;
    double min; /* VG_CLI_UINT / VG_CLI_DOUBLE; min == max == 0: no range check */
    double max;
    bool *seen; /* optional: set to true when the flag was given */
} vg_cli_opt_t;

typedef struct vg_cli {
    const char *command; /* "vigil serve" */
    const char *usage;   /* "[flags]" or "DIR [flags]" */
    const char *summary; /* one paragraph for --help */
    const vg_cli_opt_t *opts;
    size_t nopts;
    size_t min_positional;
    size_t max_positional;
} vg_cli_t;

#define VG_CLI_HELP 1 /* vg_cli_parse printed --help: exit 0 */

/* Parses argv[1..argc-1] (argv[0] is the subcommand). Positional arguments are stored in
 * `positional` (at most max_positional), their count in *npositional.
 * Returns 0, VG_CLI_HELP (usage printed on stdout), or VG_EUSAGE (one line on stderr). */
VG_MUST_CHECK int vg_cli_parse(const vg_cli_t *cli, int argc, char **argv, const char **positional,
                               size_t *npositional);

/* Prints the usage and flags of `cli` to stdout. */
void vg_cli_print_help(const vg_cli_t *cli);

#endif
