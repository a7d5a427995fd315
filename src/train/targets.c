/* targets.c — the soft targets of a training batch, apart from the epoch loop: mixup (image
 * pairs blended, labels blended alike) and knowledge distillation (a teacher's probabilities
 * blended with the smoothed label). Both fill per-image targets and loss weights that the
 * trainer's soft loss takes (vg_trainer_loss_soft). */
#include "train/train_int.h"

#include "core/rng.h"

#include <math.h>

/* Beta(a, a) by Johnk's method (fine for the small a mixup uses) */
static float beta_sample(vg_rng *r, float a) {
    for (int tries = 0; tries < 1000; tries++) {
        double u = vg_rng_uniform(r), v = vg_rng_uniform(r);
        double x = pow(u, 1.0 / a), y = pow(v, 1.0 / a);
        if (x + y <= 1.0 && x + y > 0) return (float)(x / (x + y));
    }
    return 0.5f;
}

float vg_targets_mixup(const vg_train_cfg *c, int epoch, int batch_index, const float *x,
                       const int *labels, int n, size_t img, int C, const float *class_w, int *perm,
                       float *xmix, float *targets, float *sw) {
    /* one lambda per batch, a shuffled partner per image; keyed: resume-exact */
    vg_rng mr = vg_rng_make(c->seed, (uint64_t)epoch, 0x4D495850000000ull + (uint64_t)batch_index);
    float lam = beta_sample(&mr, c->mixup);
    for (int i = 0; i < n; i++)
        perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)vg_rng_below(&mr, (uint32_t)i + 1), tmp = perm[i];
        perm[i] = perm[j], perm[j] = tmp;
    }
    for (int i = 0; i < n; i++) {
        const float *p = x + i * img, *q = x + (size_t)perm[i] * img;
        float *om = xmix + i * img;
        for (size_t k = 0; k < img; k++)
            om[k] = lam * p[k] + (1 - lam) * q[k];
        float *tg = targets + (size_t)i * C;
        for (int cc = 0; cc < C; cc++)
            tg[cc] = c->label_smoothing / C;
        tg[labels[i]] += lam * (1 - c->label_smoothing);
        tg[labels[perm[i]]] += (1 - lam) * (1 - c->label_smoothing);
        sw[i] = class_w ? lam * class_w[labels[i]] + (1 - lam) * class_w[labels[perm[i]]] : 1.0f;
    }
    return lam;
}

void vg_targets_distill(const vg_train_cfg *c, vg_runner *teacher, const float *x,
                        const int *labels, int n, size_t img, int C, const float *class_w,
                        float *targets, float *sw) {
    for (int i = 0; i < n; i++) {
        float *tg = targets + (size_t)i * C;
        vg_runner_forward(teacher, x + i * img, tg);
        for (int cc = 0; cc < C; cc++)
            tg[cc] = c->distill * tg[cc] + (1 - c->distill) * c->label_smoothing / C;
        tg[labels[i]] += (1 - c->distill) * (1 - c->label_smoothing);
        sw[i] = class_w ? class_w[labels[i]] : 1.0f;
    }
}
