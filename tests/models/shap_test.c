/* SPDX-License-Identifier: MIT */
/*
 * Tests for models/shap.c: Shapley values of a hand-built tree computed by hand, the
 * explainer against XGBoost's own exact contributions on trained models (shallow and deep
 * trees, features repeated along a path, missing values), and the models it refuses.
 * Thread: the test's main thread.
 */
#include "models/shap.h"
#include "models/train.h"
#include "models/xgb.h"
#include "models/xgb_int.h"
#include "runtime/alloc.h"
#include "runtime/error.h"
#include "tests/vg_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One tree over two features, covers in brackets:
 *   0: f0 < 0.5 [100]  -> yes 1, no 2
 *   1: f1 < 0.5 [40]   -> yes 3, no 4
 *   2: leaf -1 [60]    3: leaf 2 [10]    4: leaf 0 [30]
 * Missing f0 goes right (default_left 0), missing f1 goes left. */
static const char tree_json[] =
    "{\"learner\":{\"gradient_booster\":{\"name\":\"gbtree\",\"model\":{"
    "\"gbtree_model_param\":{\"num_parallel_tree\":\"1\"},\"tree_info\":[0],\"trees\":[{"
    "\"left_children\":[1,3,-1,-1,-1],\"right_children\":[2,4,-1,-1,-1],"
    "\"split_indices\":[0,1,0,0,0],\"split_conditions\":[0.5,0.5,-1,2,0],"
    "\"default_left\":[0,1,0,0,0],\"sum_hessian\":[100,40,60,10,30],"
    "\"split_type\":[0,0,0,0,0]}]}}}}";

VG_TEST(shap_hand_built_tree_matches_hand_computed_values)
{
    vg_shap_t *s = NULL;
    char err[256] = "";
    ASSERT_OK(vg_shap_new(tree_json, strlen(tree_json), 3, &s, err, sizeof(err)));
    vg_shap_set_bias(s, -0.4f); /* E[f] = (10*2 + 30*0 + 60*-1) / 100 */
    float out[4];
    /* x = (0.2, 0.2) reaches the leaf 2. f({}) = -0.4, f({0}) = 0.5, f({1}) = 0.4*2 + 0.6*-1
     * = 0.2, f({0,1}) = 2: phi0 = ((0.5+0.4) + (2-0.2)) / 2 = 1.35, phi1 = ((0.2+0.4) +
     * (2-0.5)) / 2 = 1.05. Feature 2 is never split on. */
    float x[3] = {0.2f, 0.2f, 7.0f};
    vg_shap_row(s, x, out);
    ASSERT_EQ_DBL(out[0], 1.35, 1e-6);
    ASSERT_EQ_DBL(out[1], 1.05, 1e-6);
    ASSERT_EQ_DBL(out[2], 0.0, 0.0);
    ASSERT_EQ_DBL(out[3], -0.4, 1e-7);
    /* x = (0.2, 0.9) reaches the leaf 0. f({1}) = 0.4*0 + 0.6*-1 = -0.6, f({0}) = 0.5,
     * f({0,1}) = 0: phi0 = ((0.5+0.4) + (0+0.6)) / 2 = 0.75, phi1 = ((-0.6+0.4) + (0-0.5)) / 2
     * = -0.35. */
    x[1] = 0.9f;
    vg_shap_row(s, x, out);
    ASSERT_EQ_DBL(out[0], 0.75, 1e-6);
    ASSERT_EQ_DBL(out[1], -0.35, 1e-6);
    vg_shap_free(s);
}

VG_TEST(shap_hand_built_tree_follows_missing_values_and_split_points)
{
    vg_shap_t *s = NULL;
    char err[256] = "";
    ASSERT_OK(vg_shap_new(tree_json, strlen(tree_json), 3, &s, err, sizeof(err)));
    float out[4];
    float x[3] = {0.2f, 0.9f, 7.0f};
    /* x = (missing, 0.9): f0 missing goes right, to the leaf -1. f({0}) = -1, f({1}) = 0.4*0 +
     * 0.6*-1 = -0.6, f({0,1}) = -1: phi0 = ((-1+0.4) + (-1+0.6)) / 2 = -0.5, phi1 =
     * ((-0.6+0.4) + (-1+1)) / 2 = -0.1. On the split value itself a row goes right too
     * (XGBoost's test is value < condition). */
    x[0] = NAN;
    vg_shap_row(s, x, out);
    ASSERT_EQ_DBL(out[0], -0.5, 1e-6);
    ASSERT_EQ_DBL(out[1], -0.1, 1e-6);
    x[0] = 0.5f;
    vg_shap_row(s, x, out);
    ASSERT_EQ_DBL(out[0], -0.5, 1e-6);
    ASSERT_EQ_DBL(out[1], -0.1, 1e-6);
    /* f1 missing goes left, as if f1 < 0.5. */
    x[0] = 0.2f;
    x[1] = NAN;
    vg_shap_row(s, x, out);
    ASSERT_EQ_DBL(out[1], 1.05, 1e-6);
    vg_shap_free(s);
}

VG_TEST(shap_refuses_what_it_does_not_cover)
{
    static const struct {
        const char *from;
        const char *to;
        const char *why;
    } bad[] = {
        {"\"gbtree\"", "\"dart\"", "not gbtree"},
        {"\"tree_info\":[0]", "\"tree_info\":[1]", "output group"},
        {"\"num_parallel_tree\":\"1\"", "\"num_parallel_tree\":\"2\"", "parallel trees"},
        {"\"split_type\":[0,0,0,0,0]", "\"split_type\":[1,0,0,0,0]", "categorical"},
        {"\"split_indices\":[0,1,0,0,0]", "\"split_indices\":[0,9,0,0,0]", "split feature"},
        {"\"sum_hessian\":[100,40,60,10,30]", "\"sum_hessian\":[100,40]", "lengths"},
        {"\"sum_hessian\":[100,40,60,10,30]", "\"sum_hessian\":[0,40,60,10,30]", "cover"},
        {"\"trees\":[{", "\"trees\":[],\"x\":[{", "no trees"},
        {"{\"learner\"", "[{\"learner\"", "model JSON"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char json[sizeof(tree_json) + 64];
        const char *at = strstr(tree_json, bad[i].from);
        ASSERT_NOT_NULL(at);
        snprintf(json, sizeof(json), "%.*s%s%s", (int)(at - tree_json), tree_json, bad[i].to,
                 at + strlen(bad[i].from));
        vg_shap_t *s = NULL;
        char err[256] = "";
        ASSERT_ERR(vg_shap_new(json, strlen(json), 3, &s, err, sizeof(err)), VG_EMODEL);
        ASSERT_NULL(s);
        ASSERT_STR_CONTAINS(err, bad[i].why);
    }
}

#define NF 6

/* label from x0, x1 and x2 with interactions, so deep trees split on one feature many times
 * along a path; x5 is missing one time in five. */
static void make_rows(float *xs, float *ys, size_t n, uint64_t seed)
{
    uint64_t s = seed | 1;
    for (size_t i = 0; i < n; i++) {
        float *r = xs + i * NF;
        for (size_t j = 0; j < NF; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            r[j] = (float)(s >> 40) / (float)(1u << 24);
        }
        if (((s >> 13) % 5) == 0)
            r[5] = NAN;
        if (ys)
            ys[i] = (r[0] * r[1] > 0.3f) != (r[2] > 0.7f) ? 1.0f : 0.0f;
    }
}

static void check_against_xgboost(unsigned depth, unsigned rounds)
{
    static const char *const names[NF] = {"a", "b", "c", "d", "e", "f"};
    size_t n = 3000;
    float *xs = vg_xmalloc(n * NF * sizeof(float));
    float *ys = vg_xmalloc(n * sizeof(float));
    make_rows(xs, ys, n, vg_test_seed());
    vg_train_opts_t o;
    vg_train_opts_default(&o);
    o.n_rounds = rounds;
    o.max_depth = depth;
    o.seed = vg_test_seed();
    o.keep_model = true;
    char path[4096];
    snprintf(path, sizeof(path), "%s/d%u.json", vg_test_tmpdir(), depth);
    vg_train_report_t rep;
    char err[256] = "";
    ASSERT_OK(vg_train(&o, xs, ys, n, NF, names, path, &rep, err, sizeof(err)));
    vg_model_t *m = NULL;
    ASSERT_OK(vg_model_load(path, &m, err, sizeof(err)));
    ASSERT_TRUE(vg__model_has_tables(m));
    size_t rows = 200;
    make_rows(xs, NULL, rows, vg_test_seed() + 1); /* rows the model did not see */
    float *fast = vg_xmalloc(rows * (NF + 1) * sizeof(float));
    float *xgb = vg_xmalloc(rows * (NF + 1) * sizeof(float));
    ASSERT_OK(vg_model_contributions(m, xs, rows, NF, true, fast));
    ASSERT_OK(vg__model_contributions_xgb(m, xs, rows, NF, xgb));
    double worst = 0.0;
    for (size_t i = 0; i < rows * (NF + 1); i++) {
        double d = fabs((double)fast[i] - (double)xgb[i]) / (1.0 + fabs((double)xgb[i]));
        worst = d > worst ? d : worst;
    }
    ASSERT_TRUE(worst < 1e-5);
    free(fast);
    free(xgb);
    vg_model_free(m);
    vg_model_free(rep.model);
    free(xs);
    free(ys);
}

VG_TEST(shap_tables_match_xgboost_on_shallow_trees)
{
    check_against_xgboost(3, 40);
}

VG_TEST(shap_tables_match_xgboost_on_deep_trees_with_repeated_features)
{
    check_against_xgboost(10, 15);
}
