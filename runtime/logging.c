/* SPDX-License-Identifier: MIT */
/*
 * The log record formatter. Each record is built in a stack buffer and written with one
 * write(2) to stderr, so concurrent threads produce whole lines. Thread: any.
 */
#include "runtime/logging.h"
#include "runtime/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048

atomic_int vg_log_level_current = VG_LOG_LEVEL_INFO;

static const char *const level_names[] = {"DEBUG", "INFO ", "WARN ", "ERROR", "OFF  "};

void vg_log_set_level(enum vg_log_level level)
{
    atomic_store(&vg_log_level_current, (int)level);
}

int vg_log_parse_level(const char *name, enum vg_log_level *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error", "off"};
    for (size_t i = 0; i < VG_ARRAY_LEN(names); i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (enum vg_log_level)i;
            return 0;
        }
    }
    return VG_EINVAL;
}

static void log_vwrite(enum vg_log_level level, const char *module, const char *fmt, va_list ap)
{
    char line[LOG_LINE_MAX];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line),
                     "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ %s %s: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000,
                     level_names[level], module);
    if (n < 0)
        return;
    size_t len = (size_t)n;
    int m = vsnprintf(line + len, sizeof(line) - len - 1, fmt, ap);
    if (m > 0)
        len += (size_t)m < sizeof(line) - len - 1 ? (size_t)m : sizeof(line) - len - 2;
    line[len++] = '\n';
    /* A failed write to stderr has nowhere better to be reported. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void vg_log_write(enum vg_log_level level, const char *module, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, module, fmt, ap);
    va_end(ap);
}

void vg_panic(const char *file, int line, const char *fmt, ...)
{
    char msg[LOG_LINE_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    vg_log_write(VG_LOG_LEVEL_ERROR, "panic", "%s at=%s:%d", msg, file, line);
    abort();
}
