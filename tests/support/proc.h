/* SPDX-License-Identifier: MIT */
/*
 * Test support: runs the real vigil binary (path from $VIGIL_BIN, which ctest sets) as a child
 * process, reads its stdout line by line, captures its stderr to a file, signals it and waits
 * for it with a timeout. Only processes started here are ever signalled. Thread: test main.
 */
#ifndef VG_TESTS_SUPPORT_PROC_H
#define VG_TESTS_SUPPORT_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct vg_tp {
    pid_t pid;
    int out_fd;        /* child's stdout */
    char outbuf[8192]; /* bytes read but not yet returned as lines */
    size_t outlen;
    char err_path[512]; /* child's stderr */
    bool reaped;
    int status; /* wait status once reaped */
} vg_tp_t;

/* The binary under test ($VIGIL_BIN); skips the test (exit 77) when unset. */
const char *vg_tp_bin(void);

/* Starts `vigil args...` (args NULL-terminated, without the binary) with `env` (NULL-terminated
 * "K=V" strings) added to the environment. 0 or -errno. */
int vg_tp_spawn(vg_tp_t *p, const char *const *args, const char *const *env);

/* The same for another program (an absolute path), which may exec vigil in turn. */
int vg_tp_spawn_prog(vg_tp_t *p, const char *bin, const char *const *args, const char *const *env);

/* Reads one stdout line (without the newline) within timeout_ms. 0, -ETIMEDOUT or -EPIPE
 * (the child closed stdout). */
int vg_tp_read_line(vg_tp_t *p, char *line, size_t len, int timeout_ms);

/* Reads lines until one contains `needle`; copies it to `line`. 0, -ETIMEDOUT or -EPIPE. */
int vg_tp_wait_line(vg_tp_t *p, const char *needle, char *line, size_t len, int timeout_ms);

/* Sends `sig` to the child if it is still running. */
void vg_tp_signal(vg_tp_t *p, int sig);

/* Waits for the child to exit within timeout_ms; on timeout kills it with SIGKILL, reaps it and
 * returns -ETIMEDOUT. OUT: *status (wait status). */
int vg_tp_wait(vg_tp_t *p, int timeout_ms, int *status);

/* The child's stderr so far, malloc'd and NUL-terminated (caller frees). */
char *vg_tp_stderr(const vg_tp_t *p);

/* Kills (SIGKILL) and reaps the child if it is still running, closes pipes, removes files. */
void vg_tp_cleanup(vg_tp_t *p);

/* Runs `vigil args...` to completion within timeout_ms. OUT: *exit_code (128+signal when
 * killed), *out and *err (malloc'd, NUL-terminated; may be NULL to discard). 0 or -errno. */
int vg_tp_run(const char *const *args, const char *const *env, int timeout_ms, int *exit_code,
              char **out, char **err);

/* Waits for the child's exit 0 (after a SIGTERM, say), then cleans up. 0, or -ECHILD when it
 * exited otherwise, or vg_tp_wait's error. */
int vg_tp_wait_clean_exit(vg_tp_t *p, int timeout_ms);

/* How many records of `vigil log inspect DATA` name a transaction_id starting with `prefix`;
 * -1 when the command fails. */
long vg_tp_logged(const char *data, const char *prefix);

/* A TCP port on 127.0.0.1 that was free a moment ago. */
int vg_tp_free_port(void);

#endif
