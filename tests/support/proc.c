/* SPDX-License-Identifier: MIT */
/*
 * Child-process helpers for integration tests; see proc.h. Thread: test main.
 */
#include "tests/support/proc.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/io.h"
#include "tests/vg_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

const char *vg_tp_bin(void)
{
    const char *bin = getenv("VIGIL_BIN");
    if (!bin || !*bin)
        VG_SKIP("VIGIL_BIN is not set (run through ctest)");
    return bin;
}

static char **build_env(const char *const *extra)
{
    size_t n = 0;
    size_t m = 0;
    while (environ[n])
        n++;
    while (extra && extra[m])
        m++;
    char **env = vg_xcalloc(n + m + 1, sizeof(*env));
    for (size_t i = 0; i < n; i++)
        env[i] = environ[i];
    for (size_t i = 0; i < m; i++)
        env[n + i] = (char *)(uintptr_t)extra[i]; /* execve takes char *const[] */
    return env;
}

int vg_tp_spawn(vg_tp_t *p, const char *const *args, const char *const *env)
{
    return vg_tp_spawn_prog(p, vg_tp_bin(), args, env);
}

int vg_tp_spawn_prog(vg_tp_t *p, const char *bin, const char *const *args, const char *const *env)
{
    memset(p, 0, sizeof(*p));
    p->pid = -1;
    p->out_fd = -1;
    static unsigned counter;
    snprintf(p->err_path, sizeof(p->err_path), "%s/child-%d-%u.stderr", vg_test_tmpdir(),
             (int)getpid(), counter++);
    int pipefd[2];
    if (pipe(pipefd) < 0)
        return -errno;
    size_t nargs = 0;
    while (args[nargs])
        nargs++;
    char **argv = vg_xcalloc(nargs + 2, sizeof(*argv));
    argv[0] = (char *)(uintptr_t)bin;
    for (size_t i = 0; i < nargs; i++)
        argv[i + 1] = (char *)(uintptr_t)args[i];
    char **envp = build_env(env);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int rc = -errno;
        free(argv);
        free(envp);
        return rc;
    }
    if (pid == 0) {
        /* A test that fails exits without stopping its engine: the engine goes with it (an
         * engine stuck in a loop would otherwise outlive the test run). */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
            _exit(127);
        int errfd = open(p->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(pipefd[1], STDOUT_FILENO);
        if (errfd >= 0)
            dup2(errfd, STDERR_FILENO);
        close(pipefd[0]);
        close(pipefd[1]);
        execve(bin, argv, envp);
        _exit(127);
    }
    free(argv);
    free(envp);
    close(pipefd[1]);
    p->pid = pid;
    p->out_fd = pipefd[0];
    return 0;
}

static int take_line(vg_tp_t *p, char *line, size_t len)
{
    char *nl = memchr(p->outbuf, '\n', p->outlen);
    if (!nl)
        return -EAGAIN;
    size_t n = (size_t)(nl - p->outbuf);
    size_t c = n < len - 1 ? n : len - 1;
    memcpy(line, p->outbuf, c);
    line[c] = '\0';
    memmove(p->outbuf, nl + 1, p->outlen - n - 1);
    p->outlen -= n + 1;
    return 0;
}

int vg_tp_read_line(vg_tp_t *p, char *line, size_t len, int timeout_ms)
{
    uint64_t deadline = vg_clock_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
    for (;;) {
        if (take_line(p, line, len) == 0)
            return 0;
        uint64_t now = vg_clock_mono_ns();
        if (now >= deadline)
            return -ETIMEDOUT;
        struct pollfd pfd = {.fd = p->out_fd, .events = POLLIN};
        int r = poll(&pfd, 1, (int)((deadline - now) / 1000000ull) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        if (p->outlen == sizeof(p->outbuf))
            p->outlen = 0; /* an absurdly long line: drop it rather than stall */
        ssize_t got = read(p->out_fd, p->outbuf + p->outlen, sizeof(p->outbuf) - p->outlen);
        if (got == 0)
            return -EPIPE;
        if (got > 0)
            p->outlen += (size_t)got;
    }
}

int vg_tp_wait_line(vg_tp_t *p, const char *needle, char *line, size_t len, int timeout_ms)
{
    uint64_t deadline = vg_clock_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
    for (;;) {
        uint64_t now = vg_clock_mono_ns();
        if (now >= deadline)
            return -ETIMEDOUT;
        int rc = vg_tp_read_line(p, line, len, (int)((deadline - now) / 1000000ull) + 1);
        if (rc != 0)
            return rc;
        if (strstr(line, needle))
            return 0;
    }
}

void vg_tp_signal(vg_tp_t *p, int sig)
{
    if (p->pid > 0 && !p->reaped)
        kill(p->pid, sig);
}

int vg_tp_wait(vg_tp_t *p, int timeout_ms, int *status)
{
    uint64_t deadline = vg_clock_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
    while (!p->reaped) {
        pid_t r = waitpid(p->pid, &p->status, WNOHANG);
        if (r == p->pid) {
            p->reaped = true;
            break;
        }
        if (vg_clock_mono_ns() >= deadline) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &p->status, 0);
            p->reaped = true;
            if (status)
                *status = p->status;
            return -ETIMEDOUT;
        }
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    if (status)
        *status = p->status;
    return 0;
}

char *vg_tp_stderr(const vg_tp_t *p)
{
    char *buf = NULL;
    size_t len = 0;
    if (vg_io_read_file(p->err_path, &buf, &len) != 0)
        return vg_xstrdup("");
    return buf;
}

void vg_tp_cleanup(vg_tp_t *p)
{
    if (p->pid > 0 && !p->reaped) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &p->status, 0);
        p->reaped = true;
    }
    if (p->out_fd >= 0)
        close(p->out_fd);
    p->out_fd = -1;
    if (p->err_path[0])
        unlink(p->err_path);
}

static char *drain_fd(int fd)
{
    size_t cap = 4096;
    size_t len = 0;
    char *buf = vg_xmalloc(cap);
    for (;;) {
        if (len + 1 >= cap) {
            cap *= 2;
            buf = vg_xrealloc(buf, cap);
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return buf;
}

int vg_tp_run(const char *const *args, const char *const *env, int timeout_ms, int *exit_code,
              char **out, char **err)
{
    vg_tp_t p;
    int rc = vg_tp_spawn(&p, args, env);
    if (rc != 0)
        return rc;
    /* Commands under test print little: reading stdout to EOF first cannot deadlock. */
    char *o = drain_fd(p.out_fd);
    int status = 0;
    rc = vg_tp_wait(&p, timeout_ms, &status);
    if (rc == 0)
        *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (out)
        *out = o;
    else
        free(o);
    if (err)
        *err = vg_tp_stderr(&p);
    vg_tp_cleanup(&p);
    return rc;
}

int vg_tp_wait_clean_exit(vg_tp_t *p, int timeout_ms)
{
    int status = 0;
    int rc = vg_tp_wait(p, timeout_ms, &status);
    vg_tp_cleanup(p);
    if (rc != 0)
        return rc;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

long vg_tp_logged(const char *data, const char *prefix)
{
    const char *args[] = {"log", "inspect", data, NULL};
    int code = -1;
    char *out = NULL;
    if (vg_tp_run(args, NULL, 30000, &code, &out, NULL) != 0 || code != 0) {
        free(out);
        return -1;
    }
    char needle[160];
    snprintf(needle, sizeof(needle), "\"transaction_id\":\"%s", prefix);
    long n = 0;
    for (const char *at = out; (at = strstr(at, needle)); at++)
        n++;
    free(out);
    return n;
}

int vg_tp_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}
