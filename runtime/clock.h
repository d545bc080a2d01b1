/* SPDX-License-Identifier: MIT */
/*
 * Clocks. Monotonic time for measuring; wall time only for stamping records on arrival.
 * Features never read either: they use the transaction's own event time. Thread: any.
 */
#ifndef VG_RUNTIME_CLOCK_H
#define VG_RUNTIME_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Monotonic nanoseconds (arbitrary origin). */
static inline uint64_t vg_clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Wall-clock milliseconds since the Unix epoch. */
static inline int64_t vg_clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
