/* runner.h — internal extras of the runner for tests and tools: keep every activation (no
 * buffer reuse), read any tensor after a forward pass, run the int8 path on the portable
 * kernels. */
#ifndef VG_RUNNER_H
#define VG_RUNNER_H

#include "model/model.h"

vg_status vg_runner_init_ex(vg_runner **out, const vg_model *m, const vg_runner_opts *opts,
                            bool keep_all, vg_err *err);
/* A runner whose int8 layers use the portable kernels only (tests compare the fast ones with
 * them, whole networks at once). */
vg_status vg_runner_init_portable(vg_runner **out, const vg_model *m, const vg_runner_opts *opts,
                                  vg_err *err);
/* Tensor t of the last forward pass, (batch, h, w, c); valid for every t only with keep_all,
 * otherwise only for the output. */
const float *vg_runner_tensor(const vg_runner *r, int t);

/* Probabilities of a batch of prepared inputs: input (batch, h, w, c) as for
 * vg_runner_forward, probs (batch, n_classes); the softmax applied when the graph does not end
 * in one, and each image averaged with its mirror when the model asks for it (meta tta=flip),
 * exactly as vg_runner_classify does for one image (which calls it). */
void vg_runner_probs(vg_runner *r, const float *input, float *probs);
/* The model the runner was planned for, and its batch size. */
const vg_model *vg_runner_model(const vg_runner *r);
int vg_runner_batch(const vg_runner *r);

#endif
