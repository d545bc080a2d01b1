/* SPDX-License-Identifier: MIT */
/*
 * `vigil bench model`: trains a synthetic XGBoost model (default 100 trees, depth 6, 30
 * features) through models/train.h, loads it back through models/xgb.h, then measures
 * prediction cost per row and per call for batch sizes 1, 16, 64, 256 and 1024, and the cost
 * of exact versus approximate SHAP contributions. Thread: main.
 */
#ifndef VG_BENCH_BENCH_MODEL_H
#define VG_BENCH_BENCH_MODEL_H

/* argv[0] is "model". Returns an exit code (0, 1 on failure, 2 on a usage error). */
int vg_bench_model(int argc, char **argv);

#endif
