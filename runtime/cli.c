/* SPDX-License-Identifier: MIT */
/*
 * The flag parser behind every vigil subcommand; see cli.h. Thread: main.
 */
#include "runtime/cli.h"
#include "runtime/error.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vg_cli_print_help(const vg_cli_t *cli)
{
    printf("usage: %s %s\n\n%s\n", cli->command, cli->usage, cli->summary);
    if (cli->nopts)
        printf("\nflags:\n");
    for (size_t i = 0; i < cli->nopts; i++) {
        const vg_cli_opt_t *o = &cli->opts[i];
        char left[64];
        snprintf(left, sizeof(left), "--%s%s%s", o->name, o->metavar ? " " : "",
                 o->metavar ? o->metavar : "");
        printf("  %-26s %s\n", left, o->help);
    }
    printf("  %-26s %s\n", "--help", "show this help");
}

static const vg_cli_opt_t *find_opt(const vg_cli_t *cli, const char *name, size_t len)
{
    for (size_t i = 0; i < cli->nopts; i++) {
        if (strlen(cli->opts[i].name) == len && strncmp(cli->opts[i].name, name, len) == 0)
            return &cli->opts[i];
    }
    return NULL;
}

static int set_value(const vg_cli_t *cli, const vg_cli_opt_t *o, const char *val)
{
    char *end = NULL;
    bool ranged = !(o->min == 0 && o->max == 0);
    errno = 0;
    switch (o->kind) {
    case VG_CLI_STRING:
        if (*val == '\0') {
            fprintf(stderr, "%s: --%s needs a non-empty value\n", cli->command, o->name);
            return VG_EUSAGE;
        }
        *(const char **)o->out = val;
        return 0;
    case VG_CLI_UINT: {
        unsigned long long v = strtoull(val, &end, 10);
        if (errno || end == val || *end != '\0' || *val == '-' ||
            (ranged && ((double)v < o->min || (double)v > o->max))) {
            if (ranged)
                fprintf(stderr, "%s: --%s: \"%s\" is not an integer in %.0f..%.0f\n", cli->command,
                        o->name, val, o->min, o->max);
            else
                fprintf(stderr, "%s: --%s: \"%s\" is not a non-negative integer\n", cli->command,
                        o->name, val);
            return VG_EUSAGE;
        }
        *(uint64_t *)o->out = (uint64_t)v;
        return 0;
    }
    case VG_CLI_DOUBLE: {
        double v = strtod(val, &end);
        if (errno || end == val || *end != '\0' || isnan(v) || /* NaN passed every range */
            (ranged && (v < o->min || v > o->max))) {
            fprintf(stderr, "%s: --%s: \"%s\" is not a number in %g..%g\n", cli->command, o->name,
                    val, o->min, o->max);
            return VG_EUSAGE;
        }
        *(double *)o->out = v;
        return 0;
    }
    case VG_CLI_BOOL:
        *(bool *)o->out = true;
        return 0;
    }
    return VG_EUSAGE;
}

static int parse_flag(const vg_cli_t *cli, int argc, char **argv, int *i)
{
    const char *arg = argv[*i] + 2;
    const char *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    const vg_cli_opt_t *o = find_opt(cli, arg, len);
    if (!o) {
        fprintf(stderr, "%s: unknown flag --%.*s (see %s --help)\n", cli->command, (int)len, arg,
                cli->command);
        return VG_EUSAGE;
    }
    const char *val = NULL;
    if (o->kind == VG_CLI_BOOL) {
        if (eq) {
            fprintf(stderr, "%s: --%s takes no value\n", cli->command, o->name);
            return VG_EUSAGE;
        }
    } else if (eq) {
        val = eq + 1;
    } else if (*i + 1 < argc) {
        val = argv[++*i];
    } else {
        fprintf(stderr, "%s: --%s needs a value %s\n", cli->command, o->name, o->metavar);
        return VG_EUSAGE;
    }
    if (o->seen)
        *o->seen = true;
    return set_value(cli, o, val);
}

int vg_cli_parse(const vg_cli_t *cli, int argc, char **argv, const char **positional,
                 size_t *npositional)
{
    size_t npos = 0;
    bool only_positional = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!only_positional && (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)) {
            vg_cli_print_help(cli);
            return VG_CLI_HELP;
        }
        if (!only_positional && strcmp(arg, "--") == 0) {
            only_positional = true;
            continue;
        }
        if (!only_positional && arg[0] == '-' && arg[1] != '\0') {
            if (arg[1] != '-') {
                fprintf(stderr, "%s: unknown flag %s (see %s --help)\n", cli->command, arg,
                        cli->command);
                return VG_EUSAGE;
            }
            int rc = parse_flag(cli, argc, argv, &i);
            if (rc != 0)
                return rc;
            continue;
        }
        if (npos == cli->max_positional) {
            fprintf(stderr, "%s: unexpected argument \"%s\" (see %s --help)\n", cli->command, arg,
                    cli->command);
            return VG_EUSAGE;
        }
        positional[npos++] = arg;
    }
    if (npos < cli->min_positional) {
        fprintf(stderr, "%s: missing argument: usage: %s %s\n", cli->command, cli->command,
                cli->usage);
        return VG_EUSAGE;
    }
    if (npositional)
        *npositional = npos;
    return 0;
}
