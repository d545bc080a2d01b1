/* SPDX-License-Identifier: MIT */
/*
 * Shared inside models/ (and with its tests) only: wrapping an in-memory booster (training keeps
 * the model it just built) and turning XGBoost's last error into a one-line message. Thread: any.
 */
#ifndef VG_MODELS_XGB_INT_H
#define VG_MODELS_XGB_INT_H

#include "models/xgb.h"

#include <stdbool.h>
#include <stddef.h>

/* Wraps `booster` (an XGBoost BoosterHandle; takes ownership, also on failure) with feature
 * names (copied) and a version, sets nthread=1 and warms it up. Its exact contributions
 * come from XGBoost (the tables of models/shap.h are built by vg_model_load). OUT: *out.
 * 0 or VG_EMODEL (message in err). */
VG_MUST_CHECK int vg__model_wrap(void *booster, const char *const *names, size_t nfeat,
                                 const char *version, vg_model_t **out, char *err, size_t errlen);

/* Exact contributions through XGBoost itself, never the tables of models/shap.h (the tests
 * compare the two). Same contract as vg_model_contributions with exact = true. */
VG_MUST_CHECK int vg__model_contributions_xgb(const vg_model_t *m, const float *rows, size_t nrows,
                                              size_t ncols, float *out);

/* Whether vg_model_contributions (exact) uses the tables. */
bool vg__model_has_tables(const vg_model_t *m);

/* Writes "<what>: <first line of XGBGetLastError()>" into err (if non-NULL) and returns
 * VG_EMODEL. */
int vg__xgb_error(char *err, size_t errlen, const char *what);

#endif
