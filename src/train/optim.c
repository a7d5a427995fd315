/* optim.c — SGD with momentum and AdamW (see optim.h). */
#include "train/optim.h"

#include <math.h>
#include <string.h>

vg_status vg_optim_init(vg_optim *o, const vg_optim_cfg *cfg, int64_t n_params,
                        const vg_param_range *ranges, int n_ranges, vg_err *err) {
    memset(o, 0, sizeof *o);
    o->cfg = *cfg;
    o->n_params = n_params;
    o->ranges = vg_malloc(sizeof(vg_param_range) * (size_t)(n_ranges ? n_ranges : 1));
    o->m = vg_calloc((size_t)n_params + 1, sizeof(float));
    if (cfg->kind == VG_OPT_ADAMW) o->v = vg_calloc((size_t)n_params + 1, sizeof(float));
    if (!o->ranges || !o->m || (cfg->kind == VG_OPT_ADAMW && !o->v)) {
        vg_optim_free(o);
        return vg_err_set(err, VG_ERR_NOMEM, "optimizer: cannot allocate state for %lld parameters",
                          (long long)n_params);
    }
    for (int i = 0; i < n_ranges; i++) {
        VG_ASSERT(ranges[i].off >= 0 && ranges[i].len >= 0 &&
                  ranges[i].off + ranges[i].len <= n_params);
        o->ranges[i] = ranges[i];
    }
    o->n_ranges = n_ranges;
    return VG_OK;
}

void vg_optim_free(vg_optim *o) {
    free(o->ranges);
    free(o->m);
    free(o->v);
    memset(o, 0, sizeof *o);
}

void vg_optim_step(vg_optim *o, float *params, const float *grads, float lr) {
    const vg_optim_cfg *c = &o->cfg;
    o->step++;
    if (c->kind == VG_OPT_SGD) {
        bool first = o->step == 1;
        for (int r = 0; r < o->n_ranges; r++) {
            float lr_r = lr * (o->ranges[r].lr_mult > 0 ? o->ranges[r].lr_mult : 1.0f);
            float wd = o->ranges[r].decay ? c->weight_decay : 0.0f;
            float *p = params + o->ranges[r].off, *m = o->m + o->ranges[r].off;
            const float *g = grads + o->ranges[r].off;
            for (int64_t i = 0; i < o->ranges[r].len; i++) {
                float gi = g[i] + wd * p[i];
                m[i] = first || c->momentum == 0.0f ? gi : c->momentum * m[i] + gi;
                p[i] -= lr_r * m[i];
            }
        }
        return;
    }
    double bc1 = 1.0 - pow(c->beta1, (double)o->step);
    double bc2 = 1.0 - pow(c->beta2, (double)o->step);
    float sqrt_bc2 = (float)sqrt(bc2);
    for (int r = 0; r < o->n_ranges; r++) {
        float lr_r = lr * (o->ranges[r].lr_mult > 0 ? o->ranges[r].lr_mult : 1.0f);
        float step_size = (float)(lr_r / bc1);
        float decay = o->ranges[r].decay ? 1.0f - lr_r * c->weight_decay : 1.0f;
        float *p = params + o->ranges[r].off;
        float *m = o->m + o->ranges[r].off, *v = o->v + o->ranges[r].off;
        const float *g = grads + o->ranges[r].off;
        for (int64_t i = 0; i < o->ranges[r].len; i++) {
            p[i] *= decay;
            m[i] = c->beta1 * m[i] + (1.0f - c->beta1) * g[i];
            v[i] = c->beta2 * v[i] + (1.0f - c->beta2) * g[i] * g[i];
            float denom = sqrtf(v[i]) / sqrt_bc2 + c->eps;
            p[i] -= step_size * m[i] / denom;
        }
    }
}

float vg_lr_schedule(float lr, int64_t s, int64_t total, int64_t warmup, float final_frac) {
    if (warmup > 0 && s < warmup) return lr * (float)(s + 1) / (float)warmup;
    int64_t span = total - warmup;
    if (span <= 0) return lr;
    double t = (double)(s - warmup) / (double)span;
    if (t > 1) t = 1;
    double cosv = 0.5 * (1.0 + cos(3.14159265358979323846 * t));
    return (float)(lr * (final_frac + (1.0 - final_frac) * cosv));
}
