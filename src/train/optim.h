/* optim.h — optimizers over parameter ranges of a graph's arena, with PyTorch's semantics so
 * the golden fixture can check them step by step:
 *   SGD:   g += wd * p;  buf = g (first step) or momentum * buf + g;  p -= lr * buf
 *   AdamW: p -= lr * wd * p;  m, v moving averages;  p -= lr / (1 - b1^t) * m /
 *          (sqrt(v) / sqrt(1 - b2^t) + eps)
 * and the learning-rate schedule used by `vigie train` (linear warm-up, then cosine). */
#ifndef VG_OPTIM_H
#define VG_OPTIM_H

#include "core/core.h"

/* vg_opt_kind (VG_OPT_SGD, VG_OPT_ADAMW) is in vigie.h. */

typedef struct {
    vg_opt_kind kind;
    float momentum;    /* SGD */
    float beta1, beta2; /* AdamW */
    float eps;
    float weight_decay;
} vg_optim_cfg;

/* a contiguous run of parameters [off, off + len) that learns, decayed or not */
typedef struct {
    int64_t off, len;
    bool decay;
    float lr_mult; /* this range learns at lr * lr_mult (0 is read as 1) */
} vg_param_range;

typedef struct {
    vg_optim_cfg cfg;
    vg_param_range *ranges;
    int n_ranges;
    int64_t n_params;
    float *m, *v; /* state, same offsets as the parameters (allocated for the whole arena) */
    int64_t step;
} vg_optim;

vg_status vg_optim_init(vg_optim *o, const vg_optim_cfg *cfg, int64_t n_params,
                        const vg_param_range *ranges, int n_ranges, vg_err *err);
void vg_optim_free(vg_optim *o);
/* One update of params from grads with learning rate lr. */
void vg_optim_step(vg_optim *o, float *params, const float *grads, float lr);

/* Learning rate at step s of total: linear warm-up over `warmup` steps from lr/warmup to lr,
 * then cosine decay to lr * final_frac. */
float vg_lr_schedule(float lr, int64_t s, int64_t total, int64_t warmup, float final_frac);

#endif
