/* SPDX-License-Identifier: MIT */
/*
 * The subcommands implemented in actors/ (they wire the runtime, storage, models and HTTP
 * together). Each takes the subcommand's argv (argv[0] is its name) and returns the process
 * exit code: 0 success, 1 failure at run time, 2 bad usage or configuration. Thread: main.
 */
#ifndef VG_ACTORS_COMMANDS_H
#define VG_ACTORS_COMMANDS_H

/* `vigil serve`: runs the engine until SIGINT/SIGTERM, then shuts down cleanly. */
int vg_cmd_serve(int argc, char **argv);

/* `vigil demo`: `serve` on the embedded defaults, for `make demo`. */
int vg_cmd_demo(int argc, char **argv);

/* `vigil gen`: synthetic transactions as JSON lines, labels to a file. */
int vg_cmd_gen(int argc, char **argv);

/* `vigil train`: today, a first model from synthetic data (--synthetic). */
int vg_cmd_train(int argc, char **argv);

/* `vigil log verify|inspect`: storage's log tool, inspect decoding the records it knows. */
int vg_cmd_log(int argc, char **argv);

#endif
