/* SPDX-License-Identifier: MIT */
/*
 * Diagnostic logging: one line per record on stderr, written with a single write(2) so lines
 * from different threads never interleave:
 *
 *   2026-11-24T06:40:01.123456Z INFO  seglog: segment rolled base=128 file=...
 *
 * time (UTC, microseconds), level, module, then a short lowercase message and key=value pairs.
 * A file names its module by defining VG_LOG_MODULE before including this header. The macros
 * test the level before evaluating their arguments. Thread: any.
 */
#ifndef VG_RUNTIME_LOGGING_H
#define VG_RUNTIME_LOGGING_H

#include "runtime/compiler.h"

#include <stdatomic.h>

#ifndef VG_LOG_MODULE
#define VG_LOG_MODULE "vigil"
#endif

enum vg_log_level {
    VG_LOG_LEVEL_DEBUG = 0,
    VG_LOG_LEVEL_INFO = 1,
    VG_LOG_LEVEL_WARN = 2,
    VG_LOG_LEVEL_ERROR = 3,
    VG_LOG_LEVEL_OFF = 4,
};

extern atomic_int vg_log_level_current;

/* Sets the lowest level that is printed. */
void vg_log_set_level(enum vg_log_level level);

/* Parses "debug", "info", "warn", "error" or "off". Returns 0, or VG_EINVAL. */
VG_MUST_CHECK int vg_log_parse_level(const char *name, enum vg_log_level *out);

/* Formats and writes one record. Use the macros below instead. */
void vg_log_write(enum vg_log_level level, const char *module, const char *fmt, ...)
    VG_PRINTF(3, 4);

#define VG_LOG_AT(level, ...)                                                                      \
    do {                                                                                           \
        if ((int)(level) >= atomic_load_explicit(&vg_log_level_current, memory_order_relaxed))     \
            vg_log_write((level), VG_LOG_MODULE, __VA_ARGS__);                                     \
    } while (0)

#define VG_LOG_DEBUG(...) VG_LOG_AT(VG_LOG_LEVEL_DEBUG, __VA_ARGS__)
#define VG_LOG_INFO(...)  VG_LOG_AT(VG_LOG_LEVEL_INFO, __VA_ARGS__)
#define VG_LOG_WARN(...)  VG_LOG_AT(VG_LOG_LEVEL_WARN, __VA_ARGS__)
#define VG_LOG_ERROR(...) VG_LOG_AT(VG_LOG_LEVEL_ERROR, __VA_ARGS__)

/* Logs file:line and the formatted message at ERROR, then aborts. */
VG_NORETURN void vg_panic(const char *file, int line, const char *fmt, ...) VG_PRINTF(3, 4);

#define VG_PANIC(...) vg_panic(__FILE__, __LINE__, __VA_ARGS__)

/* Stays on in release builds: for cheap checks whose failure would corrupt data. */
#define VG_CHECK(expr)                                                                             \
    do {                                                                                           \
        if (VG_UNLIKELY(!(expr)))                                                                  \
            vg_panic(__FILE__, __LINE__, "check failed: %s", #expr);                               \
    } while (0)

#endif
