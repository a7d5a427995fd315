/* bench.c — the training benchmark of `vigie bench --train` (vg_train_bench in vigie.h): timed
 * optimizer steps of full fine-tuning (a new 3-class head on the backbone's features, every
 * layer learning, AdamW) on synthetic images, i.e. what `vigie train --train all` spends per
 * batch once the images are decoded. */
#include "model/surgery.h"
#include "train/optim.h"
#include "train/trainer.h"

#include <stdlib.h>
#include <string.h>

vg_status vg_train_bench(const vg_model *bb, const vg_train_bench_opts *bo,
                         vg_train_bench_result *r, vg_err *err) {
    memset(r, 0, sizeof *r);
    if (bo->threads < 1 || bo->batch < 1 || bo->chunk < 1 || bo->runs < 1 || bo->warmup < 0)
        return vg_err_set(err, VG_ERR_ARG, "bench: threads, batch, chunk and runs must be >= 1");
    vg_model *m = NULL;
    static const char *const labels[3] = {"fire", "neutral", "smoke"};
    vg_status st = vg_model_new_classifier(bb, 3, labels, 1, &m, err);
    if (st != VG_OK) return st;
    int H = m->input.h, W = m->input.w, batch = bo->batch, runs = bo->runs;
    int chunk = bo->chunk > batch ? batch : bo->chunk;
    vg_trainer_opts o = {chunk, bo->threads, 0, vg_graph_logits_tensor(&m->g), true, 0.1f};
    vg_trainer *t = NULL;
    vg_optim opt;
    memset(&opt, 0, sizeof opt);
    vg_param_range *ranges = vg_malloc(sizeof(vg_param_range) * (size_t)(2 * m->g.n_nodes + 1));
    size_t img = (size_t)H * W * 3;
    float *x = vg_malloc(sizeof(float) * img * (size_t)batch);
    int *lab = vg_malloc(sizeof(int) * (size_t)batch);
    double *tm = vg_malloc(sizeof(double) * (size_t)runs);
    if (!ranges || !x || !lab || !tm) st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    if (st == VG_OK) st = vg_trainer_init(&t, &m->g, H, W, &o, err);
    if (st == VG_OK) {
        int nr = vg_trainer_param_ranges(&m->g, H, W, 0, false, ranges);
        vg_optim_cfg cfg = {VG_OPT_ADAMW, 0.9f, 0.9f, 0.999f, 1e-8f, 0.05f};
        st = vg_optim_init(&opt, &cfg, m->g.n_params, ranges, nr, err);
    }
    if (st == VG_OK) {
        uint32_t s = 12345; /* the input `vigie bench` uses */
        for (size_t i = 0; i < img * (size_t)batch; i++) {
            s = s * 1664525u + 1013904223u;
            x[i] = (float)(s >> 8) / 8388608.0f - 1.0f;
        }
        for (int i = 0; i < batch; i++)
            lab[i] = i % 3;
        double loss = 0;
        for (int step = 0; step < bo->warmup + runs; step++) {
            double t0 = vg_time_now();
            vg_trainer_zero_grad(t);
            loss = 0;
            for (int i = 0; i < batch; i += chunk) {
                int n = batch - i < chunk ? batch - i : chunk;
                vg_trainer_forward(t, x + (size_t)i * img, n);
                loss += vg_trainer_loss(t, lab + i, n, (double)batch, NULL, 0.1f);
                vg_trainer_backward(t, n);
            }
            vg_optim_step(&opt, m->g.params, vg_trainer_grads(t), 1e-4f);
            if (step >= bo->warmup) tm[step - bo->warmup] = (vg_time_now() - t0) * 1e3;
        }
        vg_sort_doubles(tm, runs);
        r->median_ms = vg_percentile_sorted(tm, runs, 0.5),
        r->p90_ms = vg_percentile_sorted(tm, runs, 0.9);
        r->min_ms = tm[0];
        r->images_per_s = 1e3 * (double)batch / r->median_ms;
        r->loss = loss;
        r->buffers = vg_trainer_buffer_bytes(t);
        r->peak_rss = vg_peak_rss_bytes();
        r->w = W, r->h = H, r->chunk = chunk;
    }
    vg_optim_free(&opt);
    vg_trainer_free(t);
    vg_model_free(m);
    free(ranges), free(x), free(lab), free(tm);
    return st;
}
