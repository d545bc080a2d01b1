/* SPDX-License-Identifier: MIT */
/*
 * RFC 3339 timestamps <-> milliseconds since the Unix epoch (UTC), without the C library's
 * time zone machinery (timegm is not POSIX): civil-date arithmetic only. Thread: any.
 */
#ifndef VG_RUNTIME_TIMEFMT_H
#define VG_RUNTIME_TIMEFMT_H

#include "runtime/compiler.h"

#include <stddef.h>
#include <stdint.h>

/* Parses "2026-11-24T07:40:01Z", with optional fraction (milliseconds kept, more digits
 * allowed and truncated) and "Z" or "+hh:mm"/"-hh:mm". 0, or VG_EINVAL. */
VG_MUST_CHECK int vg_time_parse_rfc3339(const char *s, int64_t *out_ms);

/* Parses RFC 3339 or a plain integer of epoch milliseconds. 0, or VG_EINVAL. */
VG_MUST_CHECK int vg_time_parse(const char *s, int64_t *out_ms);

/* Formats as "2026-11-24T07:40:01.123Z" (UTC). buf needs 25 bytes. Returns buf. */
const char *vg_time_format(int64_t ms, char *buf, size_t len);

#endif
