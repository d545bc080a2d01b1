/* SPDX-License-Identifier: MIT */
/*
 * Tests of the LMDB state store: databases, batches that read their own writes, the applied
 * offset moving only with its data, reopen, map growth under load, concurrent readers, bad
 * keys and stats.
 */
#include "runtime/alloc.h"
#include "storage/state.h"
#include "tests/vg_test.h"

#include <pthread.h>
#include <stdatomic.h>

static vg_state_t *open_state(const char *sub, uint64_t map)
{
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/%s", vg_test_tmpdir(), sub);
    vg_state_opts_t o = {.map_size = map};
    vg_state_t *st = NULL;
    ASSERT_OK(vg_state_open(dir, &o, &st));
    return st;
}

VG_TEST(state_put_get_delete_across_databases)
{
    vg_state_t *st = open_state("s", 0);
    uint64_t applied = 99;
    ASSERT_OK(vg_state_applied_offset(st, &applied));
    ASSERT_EQ_U(applied, 0);
    vg_state_batch_t *b = vg_state_batch_begin(st);
    ASSERT_OK(vg_state_batch_put(b, VG_STATE_ACCOUNTS, "a1", 2, "acct", 4));
    ASSERT_OK(vg_state_batch_put(b, VG_STATE_MERCHANTS, "a1", 2, "merch", 5));
    ASSERT_OK(vg_state_batch_put(b, VG_STATE_TXINDEX, "t1", 2, "idx", 3));
    ASSERT_OK(vg_state_batch_commit(b, 10));
    char buf[16];
    size_t len = 0;
    ASSERT_OK(vg_state_get(st, VG_STATE_ACCOUNTS, "a1", 2, buf, sizeof(buf), &len));
    ASSERT_EQ(len, 4);
    ASSERT_MEM_EQ(buf, "acct", 4);
    ASSERT_OK(vg_state_get(st, VG_STATE_MERCHANTS, "a1", 2, buf, sizeof(buf), &len));
    ASSERT_MEM_EQ(buf, "merch", 5);
    ASSERT_ERR(vg_state_get(st, VG_STATE_ALERTS, "a1", 2, buf, sizeof(buf), &len), VG_ENOTFOUND);
    ASSERT_ERR(vg_state_get(st, VG_STATE_ACCOUNTS, "a1", 2, buf, 2, &len), VG_ETOOBIG);
    ASSERT_EQ(len, 4);
    ASSERT_OK(vg_state_applied_offset(st, &applied));
    ASSERT_EQ_U(applied, 10);
    b = vg_state_batch_begin(st);
    ASSERT_OK(vg_state_batch_del(b, VG_STATE_ACCOUNTS, "a1", 2));
    ASSERT_OK(vg_state_batch_del(b, VG_STATE_ACCOUNTS, "never", 5)); /* absent: fine */
    ASSERT_OK(vg_state_batch_commit(b, 11));
    ASSERT_ERR(vg_state_get(st, VG_STATE_ACCOUNTS, "a1", 2, buf, sizeof(buf), &len), VG_ENOTFOUND);
    vg_state_close(st);
}

VG_TEST(state_batch_reads_its_own_writes)
{
    vg_state_t *st = open_state("s", 0);
    vg_state_batch_t *b = vg_state_batch_begin(st);
    uint64_t one = 1;
    ASSERT_OK(vg_state_batch_put(b, VG_STATE_ACCOUNTS, "k", 1, &one, 8));
    ASSERT_OK(vg_state_batch_commit(b, 1));
    b = vg_state_batch_begin(st);
    /* Read-modify-write the same key 1000 times in one batch. */
    for (int i = 0; i < 1000; i++) {
        vg_bytes_t v;
        ASSERT_OK(vg_state_batch_get(b, VG_STATE_ACCOUNTS, "k", 1, &v));
        uint64_t n = 0;
        memcpy(&n, v.ptr, 8);
        n++;
        ASSERT_OK(vg_state_batch_put(b, VG_STATE_ACCOUNTS, "k", 1, &n, 8));
    }
    ASSERT_EQ(vg_state_batch_size(b), 1000); /* every operation is recorded, for a redo */
    vg_bytes_t v;
    ASSERT_OK(vg_state_batch_del(b, VG_STATE_ACCOUNTS, "gone", 4));
    ASSERT_ERR(vg_state_batch_get(b, VG_STATE_ACCOUNTS, "gone", 4, &v), VG_ENOTFOUND);
    ASSERT_OK(vg_state_batch_commit(b, 2));
    uint64_t n = 0;
    size_t len = 0;
    ASSERT_OK(vg_state_get(st, VG_STATE_ACCOUNTS, "k", 1, &n, sizeof(n), &len));
    ASSERT_EQ_U(n, 1001);
    vg_state_close(st);
}

/* Random gets, puts (of changing sizes) and deletes over a few keys of two databases,
 * against a plain array: a put right after a get of the same key goes through the get's
 * cursor, any other through a fresh descent; both must leave exactly the model. */
#define MODEL_KEYS 24

struct model {
    bool present[2][MODEL_KEYS];
    uint8_t val[2][MODEL_KEYS][700];
    size_t len[2][MODEL_KEYS];
};

static void check_model(vg_state_t *st, const struct model *m)
{
    for (int d = 0; d < 2; d++) {
        for (uint32_t k = 0; k < MODEL_KEYS; k++) {
            uint8_t got[700];
            size_t len = 0;
            int rc = vg_state_get(st, d ? VG_STATE_MERCHANTS : VG_STATE_ACCOUNTS, &k, sizeof(k),
                                  got, sizeof(got), &len);
            ASSERT_EQ(rc, m->present[d][k] ? 0 : VG_ENOTFOUND);
            if (rc == 0) {
                ASSERT_EQ(len, m->len[d][k]);
                ASSERT_MEM_EQ(got, m->val[d][k], len);
            }
        }
    }
}

VG_TEST(state_batch_read_modify_write_matches_a_model)
{
    vg_state_t *st = open_state("s", 256 * 1024); /* small: some batches grow it midway */
    struct model *m = vg_xcalloc(1, sizeof(*m));
    uint64_t seed = 42;
    for (int batch = 0; batch < 40; batch++) {
        struct model before = *m;
        vg_state_batch_t *b = vg_state_batch_begin(st);
        for (int i = 0; i < 300; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            uint32_t r = (uint32_t)(seed >> 33);
            int d = (int)(r & 1);
            uint32_t k = (r >> 1) % MODEL_KEYS;
            enum vg_state_db db = d ? VG_STATE_MERCHANTS : VG_STATE_ACCOUNTS;
            vg_bytes_t v;
            int rc = vg_state_batch_get(b, db, &k, sizeof(k), &v);
            ASSERT_EQ(rc, m->present[d][k] ? 0 : VG_ENOTFOUND);
            if (rc == 0) {
                ASSERT_EQ(v.len, m->len[d][k]);
                ASSERT_MEM_EQ(v.ptr, m->val[d][k], v.len);
            }
            uint32_t what = (r >> 8) % 10;
            if (what == 0) { /* delete it */
                ASSERT_OK(vg_state_batch_del(b, db, &k, sizeof(k)));
                m->present[d][k] = false;
                continue;
            }
            if (what == 3) { /* a put of another key only if it is absent */
                uint32_t k2 = (k + 3) % MODEL_KEYS;
                uint8_t nv[8];
                memset(nv, (int)(r & 0xff), sizeof(nv));
                rc = vg_state_batch_put_new(b, db, &k2, sizeof(k2), nv, sizeof(nv), &v);
                if (m->present[d][k2]) {
                    ASSERT_EQ(rc, VG_EEXISTS);
                    ASSERT_EQ(v.len, m->len[d][k2]);
                    ASSERT_MEM_EQ(v.ptr, m->val[d][k2], v.len);
                } else {
                    ASSERT_OK(rc);
                    memcpy(m->val[d][k2], nv, sizeof(nv));
                    m->len[d][k2] = sizeof(nv);
                    m->present[d][k2] = true;
                }
                continue;
            }
            if (what == 1) /* write another key of the same database in between */
                k = (k + 1) % MODEL_KEYS;
            size_t len = what == 2 ? 1 + (r >> 12) % 699 : (m->len[d][k] ? m->len[d][k] : 480);
            for (size_t j = 0; j < len; j++)
                m->val[d][k][j] = (uint8_t)(r + j * 7 + (uint32_t)i);
            m->len[d][k] = len;
            m->present[d][k] = true;
            ASSERT_OK(vg_state_batch_put(b, db, &k, sizeof(k), m->val[d][k], len));
        }
        if (batch % 5 == 4) {
            vg_state_batch_abort(b);
            *m = before;
        } else {
            ASSERT_OK(vg_state_batch_commit(b, (uint64_t)batch + 1));
        }
        check_model(st, m);
    }
    free(m);
    vg_state_close(st);
}

/* A batch that grew its table, then small batches after it: nothing a finished (committed or
 * aborted) batch recorded is seen by the next one, and every op of a grown batch is applied. */
VG_TEST(state_batches_after_a_large_one_start_empty)
{
    vg_state_t *st = open_state("s", 0);
    vg_state_batch_t *b = vg_state_batch_begin(st);
    for (uint32_t i = 0; i < 5000; i++) {
        char key[16];
        int klen = snprintf(key, sizeof(key), "k%u", i);
        ASSERT_OK(vg_state_batch_put(b, VG_STATE_ACCOUNTS, key, (size_t)klen, &i, sizeof(i)));
    }
    ASSERT_EQ(vg_state_batch_size(b), 5000);
    ASSERT_OK(vg_state_batch_commit(b, 1));
    b = vg_state_batch_begin(st);
    ASSERT_EQ(vg_state_batch_size(b), 0);
    uint32_t big = 99999;
    ASSERT_OK(vg_state_batch_put(b, VG_STATE_ACCOUNTS, "k7", 2, &big, sizeof(big)));
    ASSERT_OK(vg_state_batch_del(b, VG_STATE_ACCOUNTS, "k8", 2));
    vg_state_batch_abort(b);
    b = vg_state_batch_begin(st);
    ASSERT_EQ(vg_state_batch_size(b), 0);
    vg_bytes_t v;
    ASSERT_OK(vg_state_batch_get(b, VG_STATE_ACCOUNTS, "k7", 2, &v)); /* committed, not aborted */
    uint32_t got = 0;
    memcpy(&got, v.ptr, sizeof(got));
    ASSERT_EQ_U(got, 7);
    ASSERT_OK(vg_state_batch_get(b, VG_STATE_ACCOUNTS, "k8", 2, &v));
    ASSERT_OK(vg_state_batch_commit(b, 2));
    for (uint32_t i = 0; i < 5000; i += 499) {
        char key[16];
        int klen = snprintf(key, sizeof(key), "k%u", i);
        size_t len = 0;
        ASSERT_OK(vg_state_get(st, VG_STATE_ACCOUNTS, key, (size_t)klen, &got, sizeof(got), &len));
        ASSERT_EQ_U(got, i);
    }
    vg_state_close(st);
}

VG_TEST(state_offset_moves_only_with_its_data)
{
    vg_state_t *st = open_state("s", 0);
    vg_state_batch_t *b = vg_state_batch_begin(st);
    ASSERT_OK(vg_state_batch_put(b, VG_STATE_ACCOUNTS, "x", 1, "1", 1));
    ASSERT_OK(vg_state_batch_commit(b, 5));
    b = vg_state_batch_begin(st);
    ASSERT_OK(vg_state_batch_put(b, VG_STATE_ACCOUNTS, "x", 1, "2", 1));
    ASSERT_OK(vg_state_batch_put(b, VG_STATE_ACCOUNTS, "y", 1, "2", 1));
    vg_state_batch_abort(b);
    uint64_t applied = 0;
    ASSERT_OK(vg_state_applied_offset(st, &applied));
    ASSERT_EQ_U(applied, 5);
    char c = 0;
    size_t len = 0;
    ASSERT_OK(vg_state_get(st, VG_STATE_ACCOUNTS, "x", 1, &c, 1, &len));
    ASSERT_EQ(c, '1');
    ASSERT_ERR(vg_state_get(st, VG_STATE_ACCOUNTS, "y", 1, &c, 1, &len), VG_ENOTFOUND);
    vg_state_close(st);
    /* Reopen keeps both. */
    st = open_state("s", 0);
    ASSERT_OK(vg_state_applied_offset(st, &applied));
    ASSERT_EQ_U(applied, 5);
    ASSERT_OK(vg_state_get(st, VG_STATE_ACCOUNTS, "x", 1, &c, 1, &len));
    ASSERT_EQ(c, '1');
    vg_state_close(st);
}

/* A batch that applies no log records of its own keeps the applied offset. */
VG_TEST(state_batch_can_leave_the_applied_offset)
{
    vg_state_t *st = open_state("s", 0);
    vg_state_batch_t *b = vg_state_batch_begin(st);
    ASSERT_OK(vg_state_batch_put(b, VG_STATE_MERCHANTS, "m", 1, "1", 1));
    ASSERT_OK(vg_state_batch_commit(b, 5));
    b = vg_state_batch_begin(st);
    ASSERT_OK(vg_state_batch_put(b, VG_STATE_MERCHANTS, "m", 1, "2", 1));
    ASSERT_OK(vg_state_batch_commit(b, VG_STATE_KEEP_APPLIED));
    uint64_t applied = 0;
    ASSERT_OK(vg_state_applied_offset(st, &applied));
    ASSERT_EQ_U(applied, 5);
    char c = 0;
    size_t len = 0;
    ASSERT_OK(vg_state_get(st, VG_STATE_MERCHANTS, "m", 1, &c, 1, &len));
    ASSERT_EQ(c, '2');
    vg_state_close(st);
}

struct grow_ctx {
    vg_state_reader_t reader;
    int calls;
};

static void on_grow(void *ctx)
{
    struct grow_ctx *g = ctx;
    vg_state_reader_end(&g->reader); /* held across the batch: the resize would wait for it */
    g->calls++;
}

VG_TEST(state_map_grows_when_full)
{
    vg_state_t *st = open_state("s", 256 * 1024); /* far too small */
    uint8_t val[200];
    memset(val, 7, sizeof(val));
    struct grow_ctx g = {.reader = {.st = st}};
    for (uint32_t batch = 0; batch < 20; batch++) {
        vg_state_batch_t *b = vg_state_batch_begin(st);
        vg_state_batch_before_grow(b, on_grow, &g);
        vg_bytes_t v;
        uint32_t k0 = 0; /* a reader of the same environment, held across the batch */
        int rc = vg_state_reader_get(&g.reader, VG_STATE_ACCOUNTS, &k0, sizeof(k0), &v);
        ASSERT_TRUE(rc == 0 || (rc == VG_ENOTFOUND && batch == 0));
        for (uint32_t i = 0; i < 1000; i++) {
            uint32_t k = batch * 1000 + i;
            val[0] = (uint8_t)k;
            ASSERT_OK(vg_state_batch_put(b, VG_STATE_ACCOUNTS, &k, sizeof(k), val, sizeof(val)));
            /* The batch's own puts stay visible across the grows (they are applied again). */
            uint32_t first = batch * 1000;
            ASSERT_OK(vg_state_batch_get(b, VG_STATE_ACCOUNTS, &first, sizeof(first), &v));
            ASSERT_EQ(v.len, sizeof(val));
            ASSERT_EQ(((const uint8_t *)v.ptr)[0], (uint8_t)first);
        }
        ASSERT_OK(vg_state_batch_commit(b, batch + 1));
        vg_state_reader_end(&g.reader);
    }
    vg_state_stats_t s;
    ASSERT_OK(vg_state_stats(st, &s));
    ASSERT_EQ_U(s.entries[VG_STATE_ACCOUNTS], 20000);
    ASSERT_GT(s.resizes, 0);
    ASSERT_EQ_U(s.resizes, (uint64_t)g.calls); /* each grow first let the reader go */
    ASSERT_GE(s.map_size, s.used_bytes);
    for (uint32_t k = 0; k < 20000; k += 997) {
        uint8_t got[200];
        size_t len = 0;
        ASSERT_OK(vg_state_get(st, VG_STATE_ACCOUNTS, &k, sizeof(k), got, sizeof(got), &len));
        ASSERT_EQ(got[0], (uint8_t)k);
    }
    uint64_t applied = 0;
    ASSERT_OK(vg_state_applied_offset(st, &applied));
    ASSERT_EQ_U(applied, 20);
    vg_state_close(st);
}

struct reader_arg {
    vg_state_t *st;
    atomic_bool stop;
    atomic_uint_fast64_t reads;
    bool bad;
};

static void *reader(void *arg)
{
    struct reader_arg *r = arg;
    while (!atomic_load(&r->stop)) {
        uint64_t v[2] = {0, 0};
        size_t len = 0;
        int rc = vg_state_get(r->st, VG_STATE_ACCOUNTS, "pair", 4, v, sizeof(v), &len);
        /* Both halves are written in the same commit: a reader never sees them differ. */
        if (rc == 0 && v[0] != v[1])
            r->bad = true;
        atomic_fetch_add(&r->reads, 1);
    }
    return NULL;
}

VG_TEST(state_readers_see_whole_commits_and_never_block)
{
    vg_state_t *st = open_state("s", 1 << 20);
    struct reader_arg r = {.st = st};
    atomic_init(&r.stop, false);
    atomic_init(&r.reads, 0);
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, reader, &r), 0);
    uint8_t filler[300] = {0};
    /* Commit until the reader has read a good while alongside (bounded). */
    for (uint64_t i = 1; i <= 300 || (atomic_load(&r.reads) < 2000 && i <= 200000); i++) {
        vg_state_batch_t *b = vg_state_batch_begin(st);
        uint64_t v[2] = {i, i};
        ASSERT_OK(vg_state_batch_put(b, VG_STATE_ACCOUNTS, "pair", 4, v, sizeof(v)));
        ASSERT_OK(vg_state_batch_put(b, VG_STATE_ALERTS, &i, sizeof(i), filler, sizeof(filler)));
        ASSERT_OK(vg_state_batch_commit(b, i)); /* also grows the map now and then */
    }
    atomic_store(&r.stop, true);
    pthread_join(th, NULL);
    ASSERT_FALSE(r.bad);
    ASSERT_GE(atomic_load(&r.reads), 2000);
    vg_state_close(st);
}

struct collected {
    char keys[8][8];
    int n;
    int stop_after;
};

static int collect_keys(void *ctx, vg_bytes_t key, vg_bytes_t value)
{
    (void)value;
    struct collected *c = ctx;
    snprintf(c->keys[c->n], sizeof(c->keys[0]), "%.*s", (int)key.len, (const char *)key.ptr);
    return ++c->n == c->stop_after;
}

/* A scan from a key: that key or the next, in order, to the end (or until told to stop). */
VG_TEST(state_scan_from_a_key_goes_on_in_key_order)
{
    vg_state_t *st = open_state("s", 0);
    vg_state_batch_t *b = vg_state_batch_begin(st);
    const char *const keys[] = {"d", "a", "c", "e"};
    for (int i = 0; i < 4; i++)
        ASSERT_OK(vg_state_batch_put(b, VG_STATE_ACCOUNTS, keys[i], 1, "v", 1));
    ASSERT_OK(vg_state_batch_commit(b, 1));
    struct collected c = {.stop_after = 8};
    ASSERT_OK(vg_state_scan_from(st, VG_STATE_ACCOUNTS, "b", 1, collect_keys, &c));
    ASSERT_EQ(c.n, 3);
    ASSERT_STR_EQ(c.keys[0], "c");
    ASSERT_STR_EQ(c.keys[2], "e");
    c = (struct collected){.stop_after = 2};
    ASSERT_OK(vg_state_scan_from(st, VG_STATE_ACCOUNTS, NULL, 0, collect_keys, &c));
    ASSERT_EQ(c.n, 2);
    ASSERT_STR_EQ(c.keys[0], "a");
    ASSERT_STR_EQ(c.keys[1], "c");
    c = (struct collected){.stop_after = 8};
    ASSERT_OK(vg_state_scan_from(st, VG_STATE_ACCOUNTS, "f", 1, collect_keys, &c));
    ASSERT_EQ(c.n, 0);
    vg_state_close(st);
}

VG_TEST(state_bad_keys_are_refused)
{
    vg_state_t *st = open_state("s", 0);
    char big[VG_STATE_MAX_KEY + 1];
    memset(big, 'k', sizeof(big));
    vg_state_batch_t *b = vg_state_batch_begin(st);
    ASSERT_ERR(vg_state_batch_put(b, VG_STATE_ACCOUNTS, "", 0, "v", 1), VG_EINVAL);
    ASSERT_ERR(vg_state_batch_put(b, VG_STATE_ACCOUNTS, big, sizeof(big), "v", 1), VG_EINVAL);
    ASSERT_OK(vg_state_batch_put(b, VG_STATE_ACCOUNTS, big, VG_STATE_MAX_KEY, "v", 1));
    ASSERT_ERR(vg_state_batch_put(b, (enum vg_state_db)9, "k", 1, "v", 1), VG_EINVAL);
    ASSERT_OK(vg_state_batch_commit(b, 1));
    char c;
    size_t len = 0;
    ASSERT_ERR(vg_state_get(st, VG_STATE_ACCOUNTS, NULL, 0, &c, 1, &len), VG_EINVAL);
    ASSERT_OK(vg_state_sync(st));
    vg_state_close(st);
    vg_state_close(NULL);
}
