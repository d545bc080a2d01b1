/* SPDX-License-Identifier: MIT */
/*
 * The only place compiler extensions appear. Everything else in vigil is plain C11; it reaches
 * GCC/Clang attributes and builtins through these macros. Header-only, any thread.
 */
#ifndef VG_RUNTIME_COMPILER_H
#define VG_RUNTIME_COMPILER_H

#include <stddef.h>

#if defined(__GNUC__) || defined(__clang__)
#define VG_MUST_CHECK         __attribute__((warn_unused_result))
#define VG_PRINTF(fmt, args)  __attribute__((format(printf, fmt, args)))
#define VG_NORETURN           __attribute__((noreturn))
#define VG_UNUSED             __attribute__((unused))
#define VG_LIKELY(x)          __builtin_expect(!!(x), 1)
#define VG_UNLIKELY(x)        __builtin_expect(!!(x), 0)
#define VG_CONSTRUCTOR        __attribute__((constructor))
#define VG_TARGET(isa)        __attribute__((target(isa)))
#define VG_CACHELINE_ALIGNED  __attribute__((aligned(64)))
#define VG_CPU_HAS(feature)   __builtin_cpu_supports(feature)
#define VG_CRC32C_U64(crc, v) __builtin_ia32_crc32di((crc), (v))
#define VG_CRC32C_U8(crc, v)  __builtin_ia32_crc32qi((crc), (v))
#define VG_CPU_RELAX()        __builtin_ia32_pause()
#define VG_FALLTHROUGH        __attribute__((fallthrough))
__extension__ typedef unsigned __int128 vg_u128_t;
#else
#error "vigil needs GCC or Clang"
#endif

/* The struct that embeds `member` at address `ptr`. */
#define vg_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#define VG_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A mutable pointer to hand to an API that only reads through it but is declared with a
 * non-const one (LMDB's MDB_val, protobuf-c's message structs), without a cast warning. */
static inline void *vg_unconst(const void *p)
{
    union {
        const void *c;
        void *m;
    } u = {.c = p};
    return u.m;
}

#endif
