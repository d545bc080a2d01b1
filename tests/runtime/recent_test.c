/* SPDX-License-Identifier: MIT */
/*
 * Tests of the recent-keys filter: every key among the last n answers "perhaps", keys never
 * added mostly answer "no", and keys far enough back are forgotten.
 */
#include "runtime/recent.h"
#include "tests/vg_test.h"

#include <stdio.h>
#include <string.h>

static size_t key(char *buf, size_t cap, const char *kind, unsigned i)
{
    return (size_t)snprintf(buf, cap, "%s-%08x-%u", kind, i * 2654435761u, i);
}

VG_TEST(recent_keeps_the_last_n_and_says_no_to_others)
{
    const unsigned n = 100000;
    vg_recent_t *r = vg_recent_new(n);
    ASSERT_NOT_NULL(r);
    char k[64];
    /* 2.25 n keys: the last n span both generations, and all of them are there. */
    unsigned added = n * 9 / 4;
    for (unsigned i = 0; i < added; i++)
        vg_recent_add(r, k, key(k, sizeof(k), "tx", i));
    for (unsigned i = added - n; i < added; i++)
        ASSERT_TRUE(vg_recent_may_have(r, k, key(k, sizeof(k), "tx", i)));
    /* The first n were added more than 2n keys ago... almost: they are forgotten, but for
     * false positives. */
    unsigned old = 0;
    for (unsigned i = 0; i < n; i++)
        old += vg_recent_may_have(r, k, key(k, sizeof(k), "tx", i));
    ASSERT_LT(old, n / 200);
    /* Both generations full: keys never added say "perhaps" at most 1 in 200 (the design's
     * rate is about 1 in 370). */
    for (unsigned i = added; i < 3 * n; i++)
        vg_recent_add(r, k, key(k, sizeof(k), "tx", i));
    unsigned fp = 0;
    for (unsigned i = 0; i < n; i++)
        fp += vg_recent_may_have(r, k, key(k, sizeof(k), "other", i));
    ASSERT_LT(fp, n / 200);
    vg_recent_free(r);
}

VG_TEST(recent_add_many_is_add_one_by_one)
{
    enum { N = 100 }; /* more than one chunk of add_many's look-ahead */
    char bufs[N][32];
    const char *keys[N];
    for (unsigned i = 0; i < N; i++) {
        key(bufs[i], sizeof(bufs[i]), "many", i);
        keys[i] = bufs[i];
    }
    vg_recent_t *a = vg_recent_new(40); /* rotates twice: the last 40 are kept */
    vg_recent_t *b = vg_recent_new(40);
    vg_recent_add_many(a, keys, N);
    for (unsigned i = 0; i < N; i++)
        vg_recent_add(b, keys[i], strlen(keys[i]));
    for (unsigned i = 0; i < N; i++) {
        ASSERT_EQ(vg_recent_may_have(a, keys[i], strlen(keys[i])),
                  vg_recent_may_have(b, keys[i], strlen(keys[i])));
        if (i >= N - 40)
            ASSERT_TRUE(vg_recent_may_have(a, keys[i], strlen(keys[i])));
    }
    vg_recent_free(a);
    vg_recent_free(b);
}

/* One key made once answers as the key itself does, in filters of any size. */
VG_TEST(recent_key_made_once_serves_every_filter)
{
    vg_recent_t *small = vg_recent_new(50);
    vg_recent_t *big = vg_recent_new(5000);
    char k[32];
    for (unsigned i = 0; i < 400; i++) {
        vg_recent_add(small, k, key(k, sizeof(k), "tx", i));
        if (i % 3 == 0)
            vg_recent_add(big, k, key(k, sizeof(k), "tx", i));
    }
    unsigned yes = 0;
    for (unsigned i = 0; i < 800; i++) {
        size_t n = key(k, sizeof(k), "tx", i);
        vg_recent_key_t id;
        vg_recent_key(k, n, &id);
        ASSERT_EQ(vg_recent_may_have_key(small, &id), vg_recent_may_have(small, k, n));
        ASSERT_EQ(vg_recent_may_have_key(big, &id), vg_recent_may_have(big, k, n));
        ASSERT_TRUE(vg_recent_may_have_key(NULL, &id));
        yes += vg_recent_may_have_key(big, &id);
    }
    ASSERT_GE(yes, 134); /* every third of the first 400, at least */
    vg_recent_free(small);
    vg_recent_free(big);
}

VG_TEST(recent_off_says_perhaps_to_everything)
{
    vg_recent_t *r = vg_recent_new(0);
    ASSERT_NULL(r);
    vg_recent_add(r, "a", 1); /* no effect, no crash */
    ASSERT_TRUE(vg_recent_may_have(r, "anything", 8));
    vg_recent_free(r);
}
