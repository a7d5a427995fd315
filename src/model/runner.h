/* runner.h — internal extras of the runner for tests and tools: keep every activation (no
 * buffer reuse) and read any tensor after a forward pass. */
#ifndef VG_RUNNER_H
#define VG_RUNNER_H

#include "model/model.h"

vg_status vg_runner_init_ex(vg_runner **out, const vg_model *m, const vg_runner_opts *opts,
                            bool keep_all, vg_err *err);
/* Tensor t of the last forward pass, (batch, h, w, c); valid for every t only with keep_all,
 * otherwise only for the output. */
const float *vg_runner_tensor(const vg_runner *r, int t);

#endif
