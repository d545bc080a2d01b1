/* SPDX-License-Identifier: MIT */
/* Exact TreeSHAP from per-leaf tables; see shap.h. */
#include "models/shap.h"
#include "runtime/alloc.h"
#include "runtime/compiler.h"
#include "runtime/error.h"
#include "runtime/logging.h"

#include <jansson.h>

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_D          16                /* distinct features on one path */
#define MAX_PATH       64                /* splits on one path */
#define TABLE_BUDGET   ((size_t)8 << 20) /* floats over all leaves (32 MiB) */
#define STACK_FEATURES 256
#define NO_PAIR        UINT32_MAX

/* A leaf, or two sibling leaves taken together (a pair): the leaves below one split have the
 * same d features, so their two tables become one of 2^(d+1) rows, indexed by the pattern that
 * reaches the split and the side the row takes. A row then costs one lookup and d additions
 * per pair instead of two each: at the bottom of a tree most leaves have a leaf sibling. */
struct leaf {
    size_t table;  /* into s->table: 2^d rows of d values (a pair: 2^(d+1)) */
    uint32_t feat; /* into s->feat: d feature columns */
    uint8_t d;
};

struct tree {
    uint32_t node0; /* into the node arrays */
    uint32_t nnodes;
    uint32_t leaf0; /* into s->leaves */
    uint32_t nleaves;
};

struct vg_shap {
    size_t nfeat;
    float bias;
    struct tree *trees;
    size_t ntrees;
    /* nodes of every tree, tree-local child indices */
    int32_t *left;
    int32_t *right;
    uint32_t *split;
    float *cond_value;
    uint8_t *default_left;
    float *cover;
    /* A split's feature is feature k of every leaf below it (features are numbered in order
     * of first appearance on the path, which the leaves below share): kbit = 1 << k. A
     * leaf node's index into s->leaves; a split whose children are both leaves, the index of
     * their pair (below); any other split, NO_PAIR. */
    uint16_t *kbit;
    uint32_t *leaf_of;
    size_t nnodes;
    struct leaf *leaves;
    size_t nleaves;
    size_t cap_leaves;
    uint32_t *feat;
    size_t nfeat_ids;
    size_t cap_feat;
    float *table;
    size_t ntable;
    size_t cap_table;
};

static int fail(char *err, size_t errlen, const char *fmt, ...) VG_PRINTF(3, 4);

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return VG_EMODEL;
}

/* k! (d-1-k)! / d!: the Shapley weight of a coalition of k of the other d-1 players. */
static double shapley_weight(unsigned k, unsigned d)
{
    double w = 1.0 / d;
    for (unsigned i = 1; i <= k; i++)
        w *= (double)i / (double)(d - k - 1 + i); /* k! (d-1-k)! / (d-1)! built up stably */
    return w;
}

/* Fills the leaf's table: for every pattern P of satisfied features and every feature i,
 * v (o_i - z_i) sum_k w(k, d) c_k, where c is the polynomial prod_{j != i} (z_j + o_j t). */
static void fill_table(float *t, unsigned d, const double *z, double v)
{
    double w[MAX_D];
    for (unsigned k = 0; k < d; k++)
        w[k] = shapley_weight(k, d);
    for (uint32_t p = 0; p < (1u << d); p++) {
        for (unsigned i = 0; i < d; i++) {
            double c[MAX_D + 1] = {1.0};
            unsigned deg = 0;
            for (unsigned j = 0; j < d; j++) {
                if (j == i)
                    continue;
                bool o = (p >> j) & 1u;
                c[deg + 1] = 0.0;
                for (unsigned m = deg + 1; m > 0; m--)
                    c[m] = c[m] * z[j] + (o ? c[m - 1] : 0.0);
                c[0] *= z[j];
                deg++;
            }
            double g = 0.0;
            for (unsigned m = 0; m <= deg; m++)
                g += w[m] * c[m];
            double oi = (double)((p >> i) & 1u);
            t[(size_t)p * d + i] = (float)(v * (oi - z[i]) * g);
        }
    }
}

struct step {
    uint32_t node;
    bool left;
};

static void *grow_array(void *a, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return a;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    *cap = c;
    return vg_xrealloc(a, c * elem);
}

/* One leaf at the end of `path` (n steps) in tree t. */
static int add_leaf(vg_shap_t *s, const struct tree *t, uint32_t leaf, const struct step *path,
                    unsigned n, char *err, size_t errlen)
{
    uint32_t ufeat[MAX_D];
    double z[MAX_D];
    unsigned d = 0;
    s->leaves = grow_array(s->leaves, &s->cap_leaves, s->nleaves + 1, sizeof(*s->leaves));
    struct leaf *l = &s->leaves[s->nleaves];
    for (unsigned i = 0; i < n; i++) {
        uint32_t node = t->node0 + path[i].node;
        uint32_t f = s->split[node];
        unsigned k = 0;
        while (k < d && ufeat[k] != f)
            k++;
        if (k == d) {
            if (d == MAX_D)
                return fail(err, errlen, "a path splits on more than %d features", MAX_D);
            ufeat[d] = f;
            z[d++] = 1.0;
        }
        int32_t child = path[i].left ? s->left[node] : s->right[node];
        double parent_cover = s->cover[node];
        if (!(parent_cover > 0.0))
            return fail(err, errlen, "a split has no training cover");
        z[k] *= (double)s->cover[t->node0 + (uint32_t)child] / parent_cover;
        s->kbit[node] = (uint16_t)(1u << k); /* the same k for every leaf below */
    }
    size_t cells = ((size_t)1 << d) * d;
    if (s->ntable + cells > TABLE_BUDGET)
        return fail(err, errlen, "tables over the %zu-value budget", TABLE_BUDGET);
    s->feat = grow_array(s->feat, &s->cap_feat, s->nfeat_ids + d, sizeof(*s->feat));
    s->table = grow_array(s->table, &s->cap_table, s->ntable + cells, sizeof(*s->table));
    l->feat = (uint32_t)s->nfeat_ids;
    memcpy(s->feat + s->nfeat_ids, ufeat, d * sizeof(*ufeat));
    s->nfeat_ids += d;
    l->d = (uint8_t)d;
    l->table = s->ntable;
    s->leaf_of[t->node0 + leaf] = (uint32_t)s->nleaves;
    fill_table(s->table + s->ntable, d, z, (double)s->cond_value[t->node0 + leaf]);
    s->ntable += cells;
    s->nleaves++;
    return 0;
}

/* The last two leaves tabulated are the children of split q: their tables (adjacent, left
 * first, the same d features in the same order) become their pair's, in place, and q points
 * at it. Row (P << 1 | left) is the sum of the rows the two leaves would take when the pattern
 * P reaches q and the row goes left or not: the side not taken loses q's feature. */
static void pair_up(vg_shap_t *s, uint32_t q)
{
    struct leaf *l = &s->leaves[s->nleaves - 2];
    unsigned d = l->d;
    VG_CHECK(s->leaves[s->nleaves - 1].d == d); /* the same path but for q's side */
    size_t rows = (size_t)1 << d;
    uint32_t kq = s->kbit[q];
    float *tl = s->table + l->table;
    const float *tr = tl + rows * d;
    float *pair = vg_xmalloc(2 * rows * d * sizeof(*pair));
    for (uint32_t p = 0; p < rows; p++)
        for (unsigned left = 0; left < 2; left++) {
            size_t pl = left ? p : p & ~kq;
            size_t pr = left ? p & ~kq : p;
            float *out = pair + ((size_t)p * 2 + left) * d;
            for (unsigned i = 0; i < d; i++)
                out[i] = (float)((double)tl[pl * d + i] + (double)tr[pr * d + i]);
        }
    memcpy(tl, pair, 2 * rows * d * sizeof(*pair));
    free(pair);
    s->nleaves--; /* the right leaf is folded into the left one's entry */
    s->nfeat_ids -= d;
    s->leaf_of[q] = (uint32_t)(s->nleaves - 1);
}

/* Every leaf of tree t, depth first, left before right (iterative: the depth is data). */
static int walk(vg_shap_t *s, const struct tree *t, char *err, size_t errlen)
{
    struct step path[MAX_PATH];
    unsigned n = 0;
    uint32_t node = 0;
    size_t leaves = 0;
    for (;;) {
        uint32_t g = t->node0 + node;
        if (s->left[g] >= 0) {
            if (n == MAX_PATH)
                return fail(err, errlen, "a tree deeper than %d", MAX_PATH);
            path[n++] = (struct step){node, true};
            node = (uint32_t)s->left[g];
            continue;
        }
        if (++leaves > t->nnodes)
            return fail(err, errlen, "a tree whose nodes are shared"); /* not a tree */
        int rc = add_leaf(s, t, node, path, n, err, errlen);
        if (rc != 0)
            return rc;
        uint32_t q = n > 0 ? t->node0 + path[n - 1].node : 0;
        if (n > 0 && !path[n - 1].left && s->left[t->node0 + (uint32_t)s->left[q]] < 0)
            pair_up(s, q); /* the right child of q, whose left child is a leaf too */
        while (n > 0 && !path[n - 1].left)
            n--; /* back to the deepest split whose right side is not done */
        if (n == 0)
            return 0;
        path[n - 1].left = false;
        node = (uint32_t)s->right[t->node0 + path[n - 1].node];
    }
}

/* The arrays of one tree, checked. */
static int load_tree(vg_shap_t *s, json_t *jt, size_t ti, char *err, size_t errlen)
{
    json_t *lc = json_object_get(jt, "left_children");
    json_t *rch = json_object_get(jt, "right_children");
    json_t *si = json_object_get(jt, "split_indices");
    json_t *sc = json_object_get(jt, "split_conditions");
    json_t *dl = json_object_get(jt, "default_left");
    json_t *sh = json_object_get(jt, "sum_hessian");
    json_t *st = json_object_get(jt, "split_type");
    size_t n = json_array_size(lc);
    if (n == 0 || json_array_size(rch) != n || json_array_size(si) != n ||
        json_array_size(sc) != n || json_array_size(dl) != n || json_array_size(sh) != n)
        return fail(err, errlen, "tree %zu: node arrays missing or of different lengths", ti);
    struct tree *t = &s->trees[ti];
    t->node0 = (uint32_t)s->nnodes;
    t->nnodes = (uint32_t)n;
    size_t total = s->nnodes + n;
    s->left = vg_xrealloc(s->left, total * sizeof(*s->left));
    s->right = vg_xrealloc(s->right, total * sizeof(*s->right));
    s->split = vg_xrealloc(s->split, total * sizeof(*s->split));
    s->cond_value = vg_xrealloc(s->cond_value, total * sizeof(*s->cond_value));
    s->default_left = vg_xrealloc(s->default_left, total * sizeof(*s->default_left));
    s->cover = vg_xrealloc(s->cover, total * sizeof(*s->cover));
    s->kbit = vg_xrealloc(s->kbit, total * sizeof(*s->kbit));
    s->leaf_of = vg_xrealloc(s->leaf_of, total * sizeof(*s->leaf_of));
    for (size_t i = 0; i < n; i++) {
        size_t g = s->nnodes + i;
        json_int_t l = json_integer_value(json_array_get(lc, i));
        json_int_t r = json_integer_value(json_array_get(rch, i));
        json_int_t f = json_integer_value(json_array_get(si, i));
        json_t *d = json_array_get(dl, i);
        bool leaf = l == -1;
        if ((!leaf && (l <= 0 || r <= 0 || (size_t)l >= n || (size_t)r >= n)) || f < 0 ||
            (!leaf && (size_t)f >= s->nfeat))
            return fail(err, errlen, "tree %zu node %zu: bad children or split feature", ti, i);
        if (!leaf && json_integer_value(json_array_get(st, i)) != 0)
            return fail(err, errlen, "tree %zu: categorical splits", ti);
        s->left[g] = (int32_t)l;
        s->right[g] = (int32_t)r;
        s->split[g] = (uint32_t)f;
        s->cond_value[g] = (float)json_number_value(json_array_get(sc, i));
        s->default_left[g] = json_is_true(d) || json_integer_value(d) != 0;
        s->cover[g] = (float)json_number_value(json_array_get(sh, i));
        s->kbit[g] = 0;
        s->leaf_of[g] = NO_PAIR;
    }
    s->nnodes = total;
    t->leaf0 = (uint32_t)s->nleaves;
    int rc = walk(s, t, err, errlen);
    t->nleaves = (uint32_t)(s->nleaves - t->leaf0);
    return rc;
}

int vg_shap_new(const char *text, size_t len, size_t nfeat, vg_shap_t **out, char *err,
                size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    json_t *learner = json_object_get(root, "learner");
    json_t *gb = json_object_get(learner, "gradient_booster");
    json_t *model = json_object_get(gb, "model");
    json_t *trees = json_object_get(model, "trees");
    json_t *info = json_object_get(model, "tree_info");
    json_t *mparam = json_object_get(model, "gbtree_model_param");
    const char *name = json_string_value(json_object_get(gb, "name"));
    const char *npt = json_string_value(json_object_get(mparam, "num_parallel_tree"));
    int rc = 0;
    if (!root)
        rc = fail(err, errlen, "model JSON: line %d: %s", jerr.line, jerr.text);
    else if (!name || strcmp(name, "gbtree") != 0)
        rc = fail(err, errlen, "booster %s is not gbtree", name ? name : "(none)");
    else if (!json_is_array(trees) || json_array_size(trees) == 0 ||
             json_array_size(info) != json_array_size(trees))
        rc = fail(err, errlen, "model JSON has no trees");
    else if (npt && strcmp(npt, "1") != 0)
        rc = fail(err, errlen, "%s parallel trees per round", npt);
    for (size_t i = 0; rc == 0 && i < json_array_size(info); i++)
        if (json_integer_value(json_array_get(info, i)) != 0)
            rc = fail(err, errlen, "more than one output group");
    if (rc != 0) {
        json_decref(root);
        return rc;
    }
    vg_shap_t *s = vg_xcalloc(1, sizeof(*s));
    s->nfeat = nfeat;
    s->ntrees = json_array_size(trees);
    s->trees = vg_xcalloc(s->ntrees, sizeof(*s->trees));
    for (size_t i = 0; i < s->ntrees && rc == 0; i++)
        rc = load_tree(s, json_array_get(trees, i), i, err, errlen);
    json_decref(root);
    if (rc != 0) {
        vg_shap_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void vg_shap_free(vg_shap_t *s)
{
    if (!s)
        return;
    free(s->trees);
    free(s->left);
    free(s->right);
    free(s->split);
    free(s->cond_value);
    free(s->default_left);
    free(s->cover);
    free(s->kbit);
    free(s->leaf_of);
    free(s->leaves);
    free(s->feat);
    free(s->table);
    free(s);
}

void vg_shap_set_bias(vg_shap_t *s, float bias)
{
    s->bias = bias;
}

/* Adds one row of a leaf's or pair's table to phi. */
static inline void add_row(double *phi, const vg_shap_t *s, const struct leaf *l, size_t row)
{
    const float *v = s->table + l->table + row * l->d;
    const uint32_t *f = s->feat + l->feat;
    for (unsigned k = 0; k < l->d; k++)
        phi[f[k]] += v[k];
}

/* Adds one tree's contributions to phi. Depth first, left before right: the leaves come in
 * the order walk() tabulated them. p carries the pattern down: a split the row does not follow
 * clears its feature's bit on that side. A split with two leaf children adds their pair's row
 * instead of going down. */
static void tree_row(const vg_shap_t *s, const struct tree *t, const float *row, double *phi)
{
    struct {
        uint32_t node;
        uint32_t p;
    } stack[MAX_PATH + 1];
    unsigned sp = 0;
    uint32_t node = 0;
    uint32_t p = UINT32_MAX;
    for (;;) {
        size_t g = t->node0 + node;
        const struct leaf *l = NULL;
        if (s->left[g] >= 0) {
            float x = row[s->split[g]];
            bool left = isnan(x) ? s->default_left[g] : x < s->cond_value[g];
            if (s->leaf_of[g] != NO_PAIR) {
                l = &s->leaves[s->leaf_of[g]];
                add_row(phi, s, l, ((size_t)(p & ((1u << l->d) - 1)) << 1) | left);
            } else {
                uint32_t off = p & ~(uint32_t)s->kbit[g];
                stack[sp].node = (uint32_t)s->right[g];
                stack[sp++].p = left ? off : p;
                node = (uint32_t)s->left[g];
                p = left ? p : off;
                continue;
            }
        } else {
            l = &s->leaves[s->leaf_of[g]];
            add_row(phi, s, l, p & ((1u << l->d) - 1));
        }
        if (sp == 0)
            return;
        sp--;
        node = stack[sp].node;
        p = stack[sp].p;
    }
}

void vg_shap_row(const vg_shap_t *s, const float *row, float *out)
{
    double stack_phi[STACK_FEATURES] = {0};
    double *phi = s->nfeat <= STACK_FEATURES ? stack_phi : vg_xcalloc(s->nfeat, sizeof(*phi));
    for (size_t ti = 0; ti < s->ntrees; ti++)
        tree_row(s, &s->trees[ti], row, phi);
    for (size_t i = 0; i < s->nfeat; i++)
        out[i] = (float)phi[i];
    out[s->nfeat] = s->bias;
    if (phi != stack_phi)
        free(phi);
}

static uint64_t next_random(uint64_t *seed)
{
    uint64_t x = *seed += 0x9e3779b97f4a7c15ull; /* splitmix64 */
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void vg_shap_sample_row(const vg_shap_t *s, uint64_t *seed, float *row)
{
    for (size_t f = 0; f < s->nfeat; f++) {
        uint64_t r = next_random(seed);
        if (r % 10 == 0) {
            row[f] = NAN;
            continue;
        }
        /* One of the model's splits on f, picked by walking from a random node. */
        float v = (float)(r % 1000) - 500.0f;
        size_t start = s->nnodes ? (size_t)(next_random(seed) % s->nnodes) : 0;
        for (size_t i = 0; i < s->nnodes; i++) {
            size_t g = (start + i) % s->nnodes;
            if (s->left[g] >= 0 && s->split[g] == f) {
                v = s->cond_value[g];
                break;
            }
        }
        /* exactly on the split (goes right), or just below it (goes left) */
        row[f] = (r >> 32) & 1u ? v : nextafterf(v, -INFINITY);
    }
}

size_t vg_shap_bytes(const vg_shap_t *s)
{
    return s->ntable * sizeof(float) + s->nleaves * sizeof(struct leaf) + s->nnodes * 27;
}
