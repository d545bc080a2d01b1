/* SPDX-License-Identifier: MIT */
/*
 * A full disk, made for the engine alone: a small tmpfs mounted in a user and mount namespace
 * of its own (`unshare -rm`), so no privilege is needed and nothing outside sees it. Skipped
 * where unprivileged namespaces are not allowed.
 */
#include "tests/support/http_client.h"
#include "tests/support/proc.h"
#include "tests/vg_test.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define UNSHARE "/usr/bin/unshare"

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* POST /v1/transactions with 50 transactions "full-<k>-<i>". Returns the status; 0 for a
 * 202 that rejected some of them. */
static int post_batch(int port, int k, long long ts)
{
    char *body = malloc(50 * 256 + 8);
    size_t n = 0;
    body[n++] = '[';
    for (int i = 0; i < 50; i++)
        n += (size_t)snprintf(body + n, 256,
                              "%s{\"transaction_id\":\"full-%d-%d\",\"account_id\":\"acct-%d\","
                              "\"merchant_id\":\"m-%d\",\"amount\":\"12.50\",\"currency\":"
                              "\"EUR\",\"timestamp\":%lld}",
                              i ? "," : "", k, i, (k * 50 + i) % 997, i % 31, ts);
    body[n++] = ']';
    vg_tc_response_t r;
    ASSERT_OK(vg_tc_request(port, "POST", "/v1/transactions", "application/json", body, n, &r));
    int status = r.status == 202 && !strstr(r.body, "\"rejected\":[]") ? 0 : r.status;
    vg_tc_response_free(&r);
    free(body);
    return status;
}

/* Starts the engine on a tmpfs of `size` mounted at dir in a namespace of its own; skips the
 * test where that is refused. OUT: its HTTP port. */
static int start_on_small_disk(vg_tp_t *p, const char *dir, const char *size)
{
    if (access(UNSHARE, X_OK) != 0 ||
        system(UNSHARE " -rm sh -c 'mount -t tmpfs -o size=1m tmpfs /tmp' >/dev/null 2>&1") != 0)
        vg_test_skip("no unprivileged user and mount namespaces here (unshare -rm)");
    ASSERT_EQ(mkdir(dir, 0755), 0);
    char script[2048];
    snprintf(script, sizeof(script),
             "mount -t tmpfs -o size=%s tmpfs '%s' && exec '%s' serve --data '%s/data' "
             "--http-port 0 --tcp-port 0 --partitions 2",
             size, dir, vg_tp_bin(), dir);
    const char *args[] = {"-rm", "sh", "-c", script, NULL};
    ASSERT_OK(vg_tp_spawn_prog(p, UNSHARE, args, NULL));
    char line[512];
    if (vg_tp_wait_line(p, "vigil: serving", line, sizeof(line), 20000) != 0)
        VG_FAIL("engine did not start: %s", vg_tp_stderr(p));
    return atoi(strchr(strstr(line, "http="), ':') + 1);
}

/* Fills what is left of the engine's disk, through its own view of its mounts. */
static void fill_disk(const vg_tp_t *p, const char *dir)
{
    char filler[600];
    snprintf(filler, sizeof(filler), "/proc/%d/root%s/filler", (int)p->pid, dir);
    int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    static char zeros[65536];
    while (write(fd, zeros, sizeof(zeros)) > 0)
        ;
    ASSERT_EQ(errno, ENOSPC);
    (void)close(fd);
}

/* With MDB_WRITEMAP (the default) LMDB writes new pages through a map of a sparse file, and
 * on a full disk that write was a SIGBUS that killed the engine (2026-12-03). Now the state
 * file is allocated ahead of LMDB's writes: the partitions stop with "no space left on
 * device", answer 503, /readyz says why, what was acknowledged is still read, and SIGTERM
 * stops the engine cleanly. */
VG_TEST(a_full_disk_stops_the_partitions_and_the_engine_stays_up)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/small", vg_test_tmpdir());
    vg_tp_t p;
    int port = start_on_small_disk(&p, dir, "48m");
    long long ts = now_ms() - 1000;
    ASSERT_EQ(post_batch(port, 0, ts), 202);
    ASSERT_EQ(post_batch(port, 1, ts), 202);
    /* The logs still have the zeros they write ahead, so the state's next new page is what
     * finds the disk full (without the reservation: a SIGBUS, and the next request's EPIPE). */
    fill_disk(&p, dir);
    int status = 202;
    for (int k = 2; k < 2000 && status == 202; k++)
        status = post_batch(port, k, ts);
    ASSERT_TRUE(status == 503 || status == 0); /* both partitions stopped, or one so far */
    vg_tc_response_t r;
    ASSERT_OK(vg_tc_request(port, "GET", "/readyz", NULL, NULL, 0, &r));
    ASSERT_EQ(r.status, 503);
    ASSERT_STR_CONTAINS(r.body, "no space left on device");
    vg_tc_response_free(&r);
    ASSERT_OK(vg_tc_request(port, "GET", "/v1/transactions/full-0-0", NULL, NULL, 0, &r));
    ASSERT_EQ(r.status, 200);
    vg_tc_response_free(&r);
    vg_tp_signal(&p, SIGTERM);
    int wst = 0;
    ASSERT_OK(vg_tp_wait(&p, 20000, &wst));
    if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0)
        VG_FAIL("engine did not exit cleanly (status %d, signal %d): %s", WEXITSTATUS(wst),
                WIFSIGNALED(wst) ? WTERMSIG(wst) : 0, vg_tp_stderr(&p));
    vg_tp_cleanup(&p);
}
