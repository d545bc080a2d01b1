/* SPDX-License-Identifier: MIT */
/*
 * CRC32C (Castagnoli), as used by every record on disk. Uses the SSE4.2 crc32 instruction when
 * the CPU has it, a slicing-by-8 table otherwise; both give the same value. Thread: any.
 */
#ifndef VG_RUNTIME_CRC32C_H
#define VG_RUNTIME_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends `crc` (0 to start) over `len` bytes. crc32c("123456789") == 0xE3069283. */
uint32_t vg_crc32c(uint32_t crc, const void *data, size_t len);

/* The portable implementation, exposed so tests can compare it with the hardware one. */
uint32_t vg_crc32c_sw(uint32_t crc, const void *data, size_t len);

#endif
