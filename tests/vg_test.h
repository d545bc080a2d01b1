/* SPDX-License-Identifier: MIT */
/*
 * vigil's test harness. A test file defines cases with VG_TEST(name) { ... } (VG_TEST_SLOW for
 * the "slow" label); CMake registers each as its own ctest test, which runs `test_<dir> name`
 * in a process of its own. Assertions print file:line and both values, then abort the case.
 * VG_SKIP() ends the case as skipped (exit 77). Thread: the test's main thread.
 */
#ifndef VG_TESTS_VG_TEST_H
#define VG_TESTS_VG_TEST_H

#include "runtime/compiler.h"
#include "runtime/error.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*vg_test_fn)(void);

void vg_test_register(const char *name, vg_test_fn fn);
VG_NORETURN void vg_test_fail(const char *file, int line, const char *fmt, ...) VG_PRINTF(3, 4);
VG_NORETURN void vg_test_skip(const char *why);

/* A temporary directory for this case, removed when the case passes. Never NULL. */
const char *vg_test_tmpdir(void);

/* A seed for randomised tests: VG_TEST_SEED from the environment, or fresh; always printed. */
uint64_t vg_test_seed(void);

#define VG_TEST(name)                                                                              \
    static void vg_test_##name(void);                                                              \
    VG_CONSTRUCTOR static void vg_test_reg_##name(void)                                            \
    {                                                                                              \
        vg_test_register(#name, vg_test_##name);                                                   \
    }                                                                                              \
    static void vg_test_##name(void)

#define VG_TEST_SLOW(name) VG_TEST(name)

#define VG_FAIL(...) vg_test_fail(__FILE__, __LINE__, __VA_ARGS__)
#define VG_SKIP(why) vg_test_skip(why)

#define VG_ASSERT_CMP_(a, op, b, type, fmt)                                                        \
    do {                                                                                           \
        type va_ = (type)(a);                                                                      \
        type vb_ = (type)(b);                                                                      \
        if (!(va_ op vb_))                                                                         \
            VG_FAIL("expected %s %s %s, got " fmt " vs " fmt, #a, #op, #b, va_, vb_);              \
    } while (0)

#define ASSERT_EQ(a, b)   VG_ASSERT_CMP_(a, ==, b, int64_t, "%" PRId64)
#define ASSERT_NE(a, b)   VG_ASSERT_CMP_(a, !=, b, int64_t, "%" PRId64)
#define ASSERT_LT(a, b)   VG_ASSERT_CMP_(a, <, b, int64_t, "%" PRId64)
#define ASSERT_LE(a, b)   VG_ASSERT_CMP_(a, <=, b, int64_t, "%" PRId64)
#define ASSERT_GT(a, b)   VG_ASSERT_CMP_(a, >, b, int64_t, "%" PRId64)
#define ASSERT_GE(a, b)   VG_ASSERT_CMP_(a, >=, b, int64_t, "%" PRId64)
#define ASSERT_EQ_U(a, b) VG_ASSERT_CMP_(a, ==, b, uint64_t, "%" PRIu64)
#define ASSERT_EQ_DBL(a, b, eps)                                                                   \
    do {                                                                                           \
        double va_ = (a), vb_ = (b);                                                               \
        if (!(va_ - vb_ <= (eps) && vb_ - va_ <= (eps)))                                           \
            VG_FAIL("expected %s == %s (eps %g), got %.9g vs %.9g", #a, #b, (double)(eps), va_,    \
                    vb_);                                                                          \
    } while (0)
#define ASSERT_TRUE(x)                                                                             \
    do {                                                                                           \
        if (!(x))                                                                                  \
            VG_FAIL("expected %s", #x);                                                            \
    } while (0)
#define ASSERT_FALSE(x)                                                                            \
    do {                                                                                           \
        if (x)                                                                                     \
            VG_FAIL("expected not %s", #x);                                                        \
    } while (0)
#define ASSERT_NULL(x)                                                                             \
    do {                                                                                           \
        if ((x) != NULL)                                                                           \
            VG_FAIL("expected %s to be NULL", #x);                                                 \
    } while (0)
#define ASSERT_NOT_NULL(x)                                                                         \
    do {                                                                                           \
        if ((x) == NULL)                                                                           \
            VG_FAIL("expected %s to be non-NULL", #x);                                             \
    } while (0)
#define ASSERT_OK(rc)                                                                              \
    do {                                                                                           \
        int rc_ = (rc);                                                                            \
        if (rc_ != 0)                                                                              \
            VG_FAIL("%s failed: %d %s (%s)", #rc, rc_, vg_err_name(rc_), vg_strerror(rc_));        \
    } while (0)
#define ASSERT_ERR(rc, want)                                                                       \
    do {                                                                                           \
        int rc_ = (rc), want_ = (want);                                                            \
        if (rc_ != want_)                                                                          \
            VG_FAIL("%s: expected %s, got %d %s", #rc, vg_err_name(want_), rc_, vg_err_name(rc_)); \
    } while (0)
#define ASSERT_STR_EQ(a, b)                                                                        \
    do {                                                                                           \
        const char *sa_ = (a), *sb_ = (b);                                                         \
        if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0)                                                 \
            VG_FAIL("expected %s == %s, got \"%s\" vs \"%s\"", #a, #b, sa_ ? sa_ : "(null)",       \
                    sb_ ? sb_ : "(null)");                                                         \
    } while (0)
#define ASSERT_STR_CONTAINS(hay, needle)                                                           \
    do {                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                    \
        if (!h_ || !strstr(h_, n_))                                                                \
            VG_FAIL("expected %s to contain \"%s\", got \"%s\"", #hay, n_, h_ ? h_ : "(null)");    \
    } while (0)
#define ASSERT_MEM_EQ(a, b, n)                                                                     \
    do {                                                                                           \
        if (memcmp((a), (b), (n)) != 0)                                                            \
            VG_FAIL("expected %zu bytes of %s and %s to be equal", (size_t)(n), #a, #b);           \
    } while (0)

#endif
