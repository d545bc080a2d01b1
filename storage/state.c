/* SPDX-License-Identifier: MIT */
/*
 * The LMDB state store; see state.h. MDB_* codes are translated here and nowhere else.
 * A batch is one LMDB write transaction, begun by its first operation: gets read through it
 * (so they see the batch's own puts) and puts go straight into it, so the put that follows a
 * get of the same key finds the pages the get just brought into the cache. Every operation
 * is also recorded, because MDB_MAP_FULL leaves the transaction unusable: the map is then
 * doubled under the write side of a rwlock (no transaction of this process may be open
 * across mdb_env_set_mapsize) and the recorded operations are applied again.
 * Thread: batches on the owner; everything else any.
 */
#define VG_LOG_MODULE "state"
#include "storage/state.h"
#include "runtime/alloc.h"
#include "runtime/compiler.h"
#include "runtime/error.h"
#include "runtime/io.h"
#include "runtime/logging.h"

#include <lmdb.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_MAP     ((uint64_t)64 << 20)
#define DEFAULT_MAX_MAP ((uint64_t)1 << 40)
/* Disk reserved ahead of what a write transaction could have written (see reserve): that,
 * plus a step of 1/16 of it within these limits, so that few calls are needed. */
#define RESERVE_MIN_STEP ((uint64_t)1 << 20)
#define RESERVE_MAX_STEP ((uint64_t)64 << 20)
#define COMMIT_PAGES     256 /* the commit's own pages: the free list's records */
#define APPLIED_KEY      "applied_offset"

static const char *const db_names[VG_STATE_NDBS] = {"accounts", "merchants", "txindex", "alerts",
                                                    "meta"};

struct op {
    uint8_t db;
    bool del;
    uint32_t klen;
    uint32_t vlen;
    uint8_t *key;
    uint8_t *val;
};

struct vg_state_batch {
    vg_state_t *st;
    MDB_txn *txn;      /* the write transaction, from the first operation to the commit */
    uint64_t bound;    /* with txn: the most bytes of the file it can have written (reserve) */
    uint64_t op_bound; /* the most one operation adds to it, values aside */
    int err;           /* VG_* code of a failed operation: the batch can only be aborted */
    struct op *ops;    /* every operation in the order recorded, to redo after growing the map */
    size_t n;
    size_t cap;
    vg_arena_t arena; /* their keys and values */
    void (*before_grow)(void *ctx);
    void *before_grow_ctx;
    /* The gets read through one cursor per database (LMDB frees them with the transaction).
     * When the next operation is a put of the key the last get found, it is written through
     * that cursor (MDB_CURRENT) without walking the tree again: an account's or a merchant's
     * read-modify-write costs one descent. at_db -1: no cursor sits on a key read. */
    MDB_cursor *cur[VG_STATE_NDBS];
    int at_db;
    size_t at_klen;
    uint8_t at_key[VG_STATE_MAX_KEY];
};

struct vg_state {
    MDB_env *env;
    MDB_dbi dbi[VG_STATE_NDBS];
    pthread_rwlock_t resize; /* read: any transaction; write: mdb_env_set_mapsize */
    uint64_t map_size;
    uint64_t max_map;
    uint64_t resizes;
    int fd;                 /* the data file; -1 without MDB_WRITEMAP (nothing to reserve) */
    uint64_t psize;         /* LMDB's page size */
    uint64_t reserved;      /* bytes from the file's start known to be allocated */
    vg_state_batch_t batch; /* the one batch, reused */
    bool batch_open;
};

static int mdb_err(int rc, const char *what)
{
    if (rc == 0)
        return 0;
    if (rc == MDB_NOTFOUND)
        return VG_ENOTFOUND;
    if (rc > 0) /* an errno value */
        return -rc;
    VG_LOG_ERROR("lmdb %s failed err=%s", what, mdb_strerror(rc));
    return VG_ESTATE;
}

/* ---- lifecycle ---- */

/* LMDB maps its lock file too and writes reader slots through the map: allocated now, a
 * reader slot on its second page cannot find the disk full later (see reserve). */
static int reserve_lock_file(const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/lock.mdb", dir) >= (int)sizeof(path))
        return VG_EINVAL;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat sb;
    int rc = fstat(fd, &sb) == 0 ? posix_fallocate(fd, 0, sb.st_size) : errno;
    (void)close(fd); /* nothing written through this descriptor */
    if (rc != 0)
        VG_LOG_ERROR("state lock file not allocated path=%s err=%s", path, vg_strerror(-rc));
    return -rc;
}

int vg_state_open(const char *dir, const vg_state_opts_t *opts, vg_state_t **out)
{
    vg_state_opts_t def = {0};
    if (!opts)
        opts = &def;
    int rc = vg_io_mkdirs(dir, 0755);
    if (rc != 0)
        return rc;
    vg_state_t *st = vg_xcalloc(1, sizeof(*st));
    st->map_size = opts->map_size ? opts->map_size : DEFAULT_MAP;
    st->max_map = opts->max_map_size ? opts->max_map_size : DEFAULT_MAX_MAP;
    /* Readers first: a thread may hold readers of several environments in any order (a TCP
     * read looks up every partition's index; a batch reads every merchant owner). That cannot
     * deadlock because readers never wait for readers, and the only writer (a map resize in
     * the owner's commit) holds no reader while it waits. A writer-preferring lock would let
     * a waiting resize block new readers, and two threads each holding one reader and
     * wanting the other's could then deadlock. */
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_READER_NP);
    pthread_rwlock_init(&st->resize, &attr);
    pthread_rwlockattr_destroy(&attr);
    unsigned flags = MDB_NOSYNC | MDB_NOTLS | (opts->writemap ? MDB_WRITEMAP : 0);
    rc = mdb_err(mdb_env_create(&st->env), "env_create");
    if (rc == 0)
        rc = mdb_err(mdb_env_set_maxdbs(st->env, VG_STATE_NDBS), "set_maxdbs");
    if (rc == 0)
        rc = mdb_err(mdb_env_set_mapsize(st->env, st->map_size), "set_mapsize");
    if (rc == 0)
        rc = mdb_err(mdb_env_open(st->env, dir, flags, 0644), "env_open");
    MDB_txn *txn = NULL;
    if (rc == 0)
        rc = mdb_err(mdb_txn_begin(st->env, NULL, 0, &txn), "txn_begin");
    for (int i = 0; rc == 0 && i < VG_STATE_NDBS; i++)
        rc = mdb_err(mdb_dbi_open(txn, db_names[i], MDB_CREATE, &st->dbi[i]), "dbi_open");
    if (rc == 0)
        rc = mdb_err(mdb_txn_commit(txn), "txn_commit");
    else if (txn)
        mdb_txn_abort(txn);
    if (rc == 0) {
        MDB_envinfo info;
        if (mdb_env_info(st->env, &info) == 0 && info.me_mapsize > st->map_size)
            st->map_size = info.me_mapsize; /* an existing, larger environment */
        MDB_stat ms;
        st->psize = mdb_env_stat(st->env, &ms) == 0 ? ms.ms_psize : 4096;
        st->fd = -1;
        if (opts->writemap)
            rc = mdb_err(mdb_env_get_fd(st->env, &st->fd), "get_fd");
        if (rc == 0)
            rc = reserve_lock_file(dir);
    }
    if (rc != 0) {
        if (st->env)
            mdb_env_close(st->env);
        pthread_rwlock_destroy(&st->resize);
        free(st);
        return rc;
    }
    vg_arena_init(&st->batch.arena, 0);
    *out = st;
    return 0;
}

void vg_state_close(vg_state_t *st)
{
    if (!st)
        return;
    if (mdb_env_sync(st->env, 1) != 0)
        VG_LOG_WARN("state sync at close failed");
    mdb_env_close(st->env);
    vg_arena_close(&st->batch.arena);
    free(st->batch.ops);
    pthread_rwlock_destroy(&st->resize);
    free(st);
}

int vg_state_sync(vg_state_t *st)
{
    pthread_rwlock_rdlock(&st->resize);
    int rc = mdb_err(mdb_env_sync(st->env, 1), "env_sync");
    pthread_rwlock_unlock(&st->resize);
    return rc;
}

/* ---- reads ---- */

static bool key_ok(const void *key, size_t klen)
{
    return key && klen > 0 && klen <= VG_STATE_MAX_KEY;
}

/* A read transaction under the read side of the resize lock. */
static int read_begin(vg_state_t *st, MDB_txn **txn)
{
    pthread_rwlock_rdlock(&st->resize);
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, txn);
    if (rc == MDB_MAP_RESIZED) {
        /* Another process grew the map: adopt its size (no transaction is active here). */
        (void)mdb_env_set_mapsize(st->env, 0);
        rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, txn);
    }
    if (rc != 0)
        pthread_rwlock_unlock(&st->resize);
    return mdb_err(rc, "read txn_begin");
}

static void read_end(vg_state_t *st, MDB_txn *txn)
{
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&st->resize);
}

int vg_state_reader_get(vg_state_reader_t *r, enum vg_state_db db, const void *key, size_t klen,
                        vg_bytes_t *val)
{
    if (!key_ok(key, klen) || (unsigned)db >= VG_STATE_NDBS)
        return VG_EINVAL;
    if (!r->txn) {
        MDB_txn *txn = NULL;
        int rc = read_begin(r->st, &txn);
        if (rc != 0)
            return rc;
        r->txn = txn;
    }
    MDB_val k = {klen, vg_unconst(key)};
    MDB_val v;
    int rc = mdb_err(mdb_get(r->txn, r->st->dbi[db], &k, &v), "get");
    if (rc == 0) {
        val->ptr = v.mv_data;
        val->len = v.mv_size;
    }
    return rc;
}

void vg_state_reader_end(vg_state_reader_t *r)
{
    if (r->txn) {
        read_end(r->st, r->txn);
        r->txn = NULL;
    }
}

void vg_state_readers_reset(vg_state_reader_t *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        vg_state_reader_end(&r[i]);
        r[i].st = NULL;
    }
}

int vg_state_get(vg_state_t *st, enum vg_state_db db, const void *key, size_t klen, void *buf,
                 size_t cap, size_t *len)
{
    vg_state_reader_t r = {.st = st};
    vg_bytes_t v;
    int rc = vg_state_reader_get(&r, db, key, klen, &v);
    if (rc == 0) {
        *len = v.len;
        if (v.len > cap)
            rc = VG_ETOOBIG;
        else if (v.len)
            memcpy(buf, v.ptr, v.len);
    }
    vg_state_reader_end(&r);
    return rc;
}

/* Keys from `start` (slen 0: the first) in key order, while they begin with its first plen
 * bytes. */
static int scan(vg_state_t *st, enum vg_state_db db, const void *start, size_t slen, size_t plen,
                vg_state_scan_fn fn, void *ctx)
{
    if ((unsigned)db >= VG_STATE_NDBS || (slen && !key_ok(start, slen)))
        return VG_EINVAL;
    MDB_txn *txn = NULL;
    int rc = read_begin(st, &txn);
    if (rc != 0)
        return rc;
    MDB_cursor *cur = NULL;
    rc = mdb_err(mdb_cursor_open(txn, st->dbi[db], &cur), "cursor_open");
    MDB_val k = {slen, vg_unconst(start)};
    MDB_val v;
    int op = slen ? MDB_SET_RANGE : MDB_FIRST;
    while (rc == 0) {
        int mrc = mdb_cursor_get(cur, &k, &v, (MDB_cursor_op)op);
        op = MDB_NEXT;
        if (mrc == MDB_NOTFOUND)
            break;
        rc = mdb_err(mrc, "cursor_get");
        if (rc != 0 || k.mv_size < plen || (plen && memcmp(k.mv_data, start, plen) != 0))
            break;
        vg_bytes_t key = {k.mv_data, k.mv_size};
        vg_bytes_t val = {v.mv_data, v.mv_size};
        if (fn(ctx, key, val) != 0)
            break;
    }
    if (cur)
        mdb_cursor_close(cur);
    read_end(st, txn);
    return rc;
}

int vg_state_scan(vg_state_t *st, enum vg_state_db db, const void *prefix, size_t plen,
                  vg_state_scan_fn fn, void *ctx)
{
    return scan(st, db, prefix, plen, plen, fn, ctx);
}

int vg_state_scan_from(vg_state_t *st, enum vg_state_db db, const void *start, size_t slen,
                       vg_state_scan_fn fn, void *ctx)
{
    return scan(st, db, start, slen, 0, fn, ctx);
}

int vg_state_applied_offset(vg_state_t *st, uint64_t *out)
{
    uint8_t b[8];
    size_t len = 0;
    int rc =
        vg_state_get(st, VG_STATE_META, APPLIED_KEY, sizeof(APPLIED_KEY) - 1, b, sizeof(b), &len);
    if (rc == VG_ENOTFOUND) {
        *out = 0;
        return 0;
    }
    if (rc != 0)
        return rc;
    if (len != 8)
        return VG_ECORRUPT;
    *out = vg_get_le64(b);
    return 0;
}

int vg_state_stats(vg_state_t *st, vg_state_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    MDB_txn *txn = NULL;
    int rc = read_begin(st, &txn);
    if (rc != 0)
        return rc;
    for (int i = 0; i < VG_STATE_NDBS && rc == 0; i++) {
        MDB_stat s;
        rc = mdb_err(mdb_stat(txn, st->dbi[i], &s), "stat");
        if (rc == 0)
            out->entries[i] = s.ms_entries;
    }
    MDB_envinfo info;
    MDB_stat es;
    if (rc == 0 && mdb_env_info(st->env, &info) == 0 && mdb_env_stat(st->env, &es) == 0) {
        out->map_size = info.me_mapsize;
        out->used_bytes = (uint64_t)(info.me_last_pgno + 1) * es.ms_psize;
    }
    out->resizes = st->resizes;
    read_end(st, txn);
    return rc;
}

/* ---- batches ---- */

/* With MDB_WRITEMAP the data file is sparse: it is made as long as the map, and LMDB writes
 * each new page through the map. When the disk is full, the write of a page the filesystem
 * cannot back is a SIGBUS, not an error (LMDB's documented hazard of MDB_WRITEMAP; vigil
 * died of it until 2026-12-03). So the file is kept allocated (posix_fallocate) up to what
 * the open write transaction could have written by its next operation, and a full disk is
 * ENOSPC from that operation, before LMDB touches the page. Pages beyond the map are never
 * written (MDB_MAP_FULL comes first), so the reservation stops at the map's end. 0 or an
 * errno value (an MDB_* code, as the callers expect). */
static int reserve(vg_state_t *st, uint64_t need)
{
    if (st->fd < 0)
        return 0;
    if (need > st->map_size)
        need = st->map_size;
    if (need <= st->reserved)
        return 0;
    uint64_t step = need / 16;
    if (step < RESERVE_MIN_STEP)
        step = RESERVE_MIN_STEP;
    if (step > RESERVE_MAX_STEP)
        step = RESERVE_MAX_STEP;
    uint64_t to = need + step < st->map_size ? need + step : st->map_size;
    int rc = posix_fallocate(st->fd, 0, (off_t)to);
    if (rc != 0 && to > need) /* a disk nearly full: the step may not fit where need does */
        rc = posix_fallocate(st->fd, 0, (off_t)(to = need));
    if (rc != 0) {
        VG_LOG_ERROR("state file not extended to=%llu err=%s", (unsigned long long)to,
                     vg_strerror(-rc));
        return rc;
    }
    st->reserved = to;
    return 0;
}

/* Adds one operation of vlen bytes to the transaction's bound and reserves the disk for it. */
static int reserve_op(vg_state_batch_t *b, size_t vlen)
{
    b->bound += b->op_bound + vlen;
    return reserve(b->st, b->bound);
}

/* What one put or delete can add to the file at most: every page on its path copied, a split
 * at every level and a new root, for trees one level deeper than the deepest now. */
static uint64_t op_bound(vg_state_t *st, MDB_txn *txn)
{
    unsigned depth = 1;
    for (int i = 0; i < VG_STATE_NDBS; i++) {
        MDB_stat ms;
        if (mdb_stat(txn, st->dbi[i], &ms) == 0 && ms.ms_depth > depth)
            depth = ms.ms_depth;
    }
    return (2 * (uint64_t)(depth + 1) + 1) * st->psize;
}

/* Takes the read side of the resize lock and begins the write transaction. MDB_* code. */
static int write_begin(vg_state_batch_t *b)
{
    vg_state_t *st = b->st;
    pthread_rwlock_rdlock(&st->resize);
    int rc = mdb_txn_begin(st->env, NULL, 0, &b->txn);
    if (rc == MDB_MAP_RESIZED) {
        (void)mdb_env_set_mapsize(st->env, 0); /* another process grew it: adopt its size */
        rc = mdb_txn_begin(st->env, NULL, 0, &b->txn);
    }
    MDB_envinfo info;
    if (rc == 0 && st->fd >= 0) /* MDB_WRITEMAP: reserve ahead (see reserve) */
        rc = mdb_env_info(st->env, &info);
    if (rc == 0 && st->fd >= 0) {
        /* the pages in use, then the commit's own (each operation adds its bound) */
        b->bound = ((uint64_t)info.me_last_pgno + 1 + COMMIT_PAGES) * st->psize;
        b->op_bound = op_bound(st, b->txn);
        rc = reserve(st, b->bound);
    }
    if (rc != 0) {
        if (b->txn)
            mdb_txn_abort(b->txn);
        b->txn = NULL;
        pthread_rwlock_unlock(&st->resize);
    }
    return rc;
}

/* Ends the write transaction without committing, if one is open. */
static void write_abort(vg_state_batch_t *b)
{
    if (b->txn) {
        mdb_txn_abort(b->txn);
        b->txn = NULL;
        pthread_rwlock_unlock(&b->st->resize);
    }
    memset(b->cur, 0, sizeof(b->cur)); /* gone with the transaction */
    b->at_db = -1;
}

/* One operation on the open transaction. MDB_* code. */
static int apply_op(vg_state_batch_t *b, const struct op *o)
{
    MDB_val k = {o->klen, o->key};
    if (o->del) {
        int rc = mdb_del(b->txn, b->st->dbi[o->db], &k, NULL);
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    MDB_val v = {o->vlen, o->val};
    return mdb_put(b->txn, b->st->dbi[o->db], &k, &v, 0);
}

/* Doubles the map. MDB_* code, or ENOSPC past the limit. Called with no transaction of this
 * process open on the environment: it waits for the write side of the lock. */
static int grow_map(vg_state_t *st)
{
    if (st->map_size >= st->max_map)
        return ENOSPC;
    uint64_t size = st->map_size * 2 > st->max_map ? st->max_map : st->map_size * 2;
    pthread_rwlock_wrlock(&st->resize);
    int rc = mdb_env_set_mapsize(st->env, size);
    pthread_rwlock_unlock(&st->resize);
    if (rc == 0) {
        VG_LOG_INFO("state map grown from=%llu to=%llu", (unsigned long long)st->map_size,
                    (unsigned long long)size);
        st->map_size = size;
        st->resizes++;
    }
    return rc;
}

/* The map was full (the transaction is gone or useless): grow it, begin again and redo every
 * operation recorded so far. MDB_* code; MDB_MAP_FULL never comes back from here. */
static int grow_and_redo(vg_state_batch_t *b)
{
    write_abort(b);
    if (b->before_grow)
        b->before_grow(b->before_grow_ctx); /* this thread's readers would block the resize */
    for (;;) {
        int rc = grow_map(b->st);
        if (rc == 0)
            rc = write_begin(b);
        for (size_t i = 0; rc == 0 && i < b->n; i++) {
            rc = reserve_op(b, b->ops[i].vlen);
            if (rc == 0)
                rc = apply_op(b, &b->ops[i]);
        }
        if (rc != MDB_MAP_FULL)
            return rc;
        write_abort(b);
    }
}

enum op_kind { OP_PUT, OP_DEL, OP_PUT_NEW };

/* Records the operation for a redo and applies it. VG_* code; OP_PUT_NEW of a key present:
 * VG_EEXISTS with its value in *existing, and nothing recorded or written. */
static int record(vg_state_batch_t *b, enum vg_state_db db, const void *key, size_t klen,
                  const void *val, size_t vlen, enum op_kind kind, vg_bytes_t *existing)
{
    bool del = kind == OP_DEL;
    if (!key_ok(key, klen) || (unsigned)db >= VG_STATE_NDBS || vlen > UINT32_MAX)
        return VG_EINVAL;
    if (b->err != 0)
        return b->err;
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        b->ops = vg_xrealloc(b->ops, b->cap * sizeof(*b->ops));
    }
    struct op *o = &b->ops[b->n++];
    o->db = (uint8_t)db;
    o->del = del;
    o->klen = (uint32_t)klen;
    o->vlen = (uint32_t)vlen;
    o->key = vg_arena_alloc(&b->arena, klen);
    memcpy(o->key, key, klen);
    o->val = vlen ? vg_arena_alloc(&b->arena, vlen) : NULL;
    if (vlen)
        memcpy(o->val, val, vlen);
    int rc = b->txn ? 0 : write_begin(b);
    if (rc == 0)
        rc = reserve_op(b, vlen);
    MDB_val k = {klen, o->key};
    MDB_val v = {vlen, o->val};
    if (rc == 0 && kind == OP_PUT_NEW) {
        /* LMDB finds a present key before it writes anything, so MDB_MAP_FULL means it was
         * absent, and the redo's plain put does the same. */
        b->at_db = -1;
        rc = mdb_put(b->txn, b->st->dbi[db], &k, &v, MDB_NOOVERWRITE);
        if (rc == MDB_KEYEXIST) {
            b->n--; /* a read after all: nothing to redo (its copies stay in the arena) */
            existing->ptr = v.mv_data;
            existing->len = v.mv_size;
            return VG_EEXISTS;
        }
    } else if (rc == 0 && !del && b->at_db == (int)db && b->at_klen == klen &&
               memcmp(b->at_key, key, klen) == 0) {
        rc = mdb_cursor_put(b->cur[db], &k, &v, MDB_CURRENT); /* the cursor stays on it */
    } else if (rc == 0) {
        b->at_db = -1; /* another write may move the pages under the cursor */
        rc = apply_op(b, o);
    }
    if (rc == MDB_MAP_FULL)
        rc = grow_and_redo(b);
    if (rc != 0) {
        write_abort(b);
        b->err = mdb_err(rc, "put"); /* ENOSPC: -ENOSPC */
    }
    return b->err;
}

vg_state_batch_t *vg_state_batch_begin(vg_state_t *st)
{
    VG_CHECK(!st->batch_open);
    vg_state_batch_t *b = &st->batch;
    b->st = st;
    b->txn = NULL; /* begun by the first operation */
    memset(b->cur, 0, sizeof(b->cur));
    b->at_db = -1;
    b->err = 0;
    b->n = 0;
    b->before_grow = NULL;
    b->before_grow_ctx = NULL;
    vg_arena_reset(&b->arena);
    st->batch_open = true;
    return b;
}

void vg_state_batch_before_grow(vg_state_batch_t *b, void (*fn)(void *ctx), void *ctx)
{
    b->before_grow = fn;
    b->before_grow_ctx = ctx;
}

int vg_state_batch_put(vg_state_batch_t *b, enum vg_state_db db, const void *key, size_t klen,
                       const void *val, size_t vlen)
{
    return record(b, db, key, klen, val, vlen, OP_PUT, NULL);
}

int vg_state_batch_put_new(vg_state_batch_t *b, enum vg_state_db db, const void *key, size_t klen,
                           const void *val, size_t vlen, vg_bytes_t *existing)
{
    return record(b, db, key, klen, val, vlen, OP_PUT_NEW, existing);
}

int vg_state_batch_del(vg_state_batch_t *b, enum vg_state_db db, const void *key, size_t klen)
{
    return record(b, db, key, klen, NULL, 0, OP_DEL, NULL);
}

int vg_state_batch_get(vg_state_batch_t *b, enum vg_state_db db, const void *key, size_t klen,
                       vg_bytes_t *val)
{
    if (!key_ok(key, klen) || (unsigned)db >= VG_STATE_NDBS)
        return VG_EINVAL;
    if (b->err != 0)
        return b->err;
    if (!b->txn) {
        int rc = write_begin(b);
        if (rc != 0)
            return b->err = mdb_err(rc, "txn_begin");
    }
    int rc = 0;
    if (!b->cur[db])
        rc = mdb_cursor_open(b->txn, b->st->dbi[db], &b->cur[db]);
    MDB_val k = {klen, vg_unconst(key)};
    MDB_val v;
    b->at_db = -1;
    if (rc == 0)
        rc = mdb_cursor_get(b->cur[db], &k, &v, MDB_SET);
    if (rc == 0) {
        b->at_db = (int)db;
        b->at_klen = klen;
        memcpy(b->at_key, key, klen);
        val->ptr = v.mv_data;
        val->len = v.mv_size;
        return 0;
    }
    if (rc == MDB_NOTFOUND)
        return VG_ENOTFOUND;
    write_abort(b);
    return b->err = mdb_err(rc, "get");
}

size_t vg_state_batch_size(const vg_state_batch_t *b)
{
    return b->n;
}

int vg_state_batch_commit(vg_state_batch_t *b, uint64_t applied_offset)
{
    vg_state_t *st = b->st;
    int rc = b->err;
    if (rc == 0 && applied_offset != VG_STATE_KEEP_APPLIED) {
        uint8_t v[8];
        vg_put_le64(v, applied_offset);
        rc = record(b, VG_STATE_META, APPLIED_KEY, sizeof(APPLIED_KEY) - 1, v, sizeof(v), OP_PUT,
                    NULL);
    }
    while (rc == 0 && b->txn) { /* no transaction: nothing recorded or read, nothing to do */
        int mrc = mdb_txn_commit(b->txn); /* frees the transaction, whatever it returns */
        b->txn = NULL;
        pthread_rwlock_unlock(&st->resize);
        if (mrc == MDB_MAP_FULL) /* saving the free list needed pages */
            mrc = grow_and_redo(b);
        else if (mrc == 0)
            break;
        if (mrc != 0)
            rc = mdb_err(mrc, "commit");
    }
    write_abort(b);
    st->batch_open = false;
    return rc;
}

void vg_state_batch_abort(vg_state_batch_t *b)
{
    write_abort(b);
    b->st->batch_open = false;
}
