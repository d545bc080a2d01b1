/* SPDX-License-Identifier: MIT */
/*
 * Shared inside models/ only: wrapping an in-memory booster (training keeps the model it just
 * built) and turning XGBoost's last error into a one-line message. Thread: any.
 */
#ifndef VG_MODELS_XGB_INT_H
#define VG_MODELS_XGB_INT_H

#include "models/xgb.h"

#include <stddef.h>

/* Wraps `booster` (an XGBoost BoosterHandle; takes ownership, also on failure) with feature
 * names (copied) and a version, sets nthread=1 and warms it up. OUT: *out.
 * 0 or VG_EMODEL (message in err). */
VG_MUST_CHECK int vg__model_wrap(void *booster, const char *const *names, size_t nfeat,
                                 const char *version, vg_model_t **out, char *err, size_t errlen);

/* Writes "<what>: <first line of XGBGetLastError()>" into err (if non-NULL) and returns
 * VG_EMODEL. */
int vg__xgb_error(char *err, size_t errlen, const char *what);

#endif
