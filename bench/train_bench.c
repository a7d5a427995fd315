/* train_bench.c — full fine-tuning throughput of MobileNetV2 224 (the imported backbone with a
 * new 3-class head), batch 32 processed in chunks, synthetic data: images/s and peak RSS.
 * Usage: train_bench MODEL.tflite|vgm [threads] [chunk] [steps] [first_trainable|-1=all] */
#include "model/surgery.h"
#include "train/trainer.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL [threads] [chunk] [steps]\n", argv[0]);
        return 2;
    }
    int threads = argc > 2 ? atoi(argv[2]) : 1, chunk = argc > 3 ? atoi(argv[3]) : 8;
    int steps = argc > 4 ? atoi(argv[4]) : 3, batch = 32;
    vg_err err;
    vg_model *bb = NULL, *m = NULL;
    if ((strstr(argv[1], ".tflite") ? vg_import_tflite(argv[1], &bb, &err)
                                    : vg_model_load(argv[1], &bb, &err)) != VG_OK ||
        vg_model_new_classifier(bb, 3, NULL, 1, &m, &err) != VG_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    vg_model_free(bb);
    int H = m->input.h, W = m->input.w;
    int logits = vg_graph_logits_tensor(&m->g);
    vg_trainer_opts o = {chunk, threads, 0, logits, false, 0.1f};
    vg_trainer *t = NULL;
    if (vg_trainer_init(&t, &m->g, H, W, &o, &err) != VG_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    vg_param_range ranges[256];
    int nr = vg_trainer_param_ranges(&m->g, H, W, 0, false, ranges);
    vg_optim_cfg cfg = {VG_OPT_ADAMW, 0.9f, 0.9f, 0.999f, 1e-8f, 1e-4f};
    vg_optim opt;
    vg_optim_init(&opt, &cfg, m->g.n_params, ranges, nr, NULL);
    size_t img = (size_t)H * W * 3;
    float *x = malloc(sizeof(float) * img * batch);
    int labels[32];
    for (size_t i = 0; i < img * batch; i++) x[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1;
    for (int i = 0; i < batch; i++) labels[i] = i % 3;
    double tf = 0, tb = 0, t0 = 0;
    for (int s = 0; s <= steps; s++) {
        if (s == 1) t0 = vg_time_now(), tf = tb = 0, vg_trainer_profile(t, true); /* step 0 warms up */
        vg_trainer_zero_grad(t);
        for (int i = 0; i < batch; i += chunk) {
            int n = batch - i < chunk ? batch - i : chunk;
            double a = vg_time_now();
            vg_trainer_forward(t, x + i * img, n);
            vg_trainer_loss(t, labels + i, n, batch, NULL, 0.0f);
            double b = vg_time_now();
            vg_trainer_backward(t, n);
            double c = vg_time_now();
            tf += b - a, tb += c - b;
        }
        vg_optim_step(&opt, m->g.params, vg_trainer_grads(t), 1e-4f);
    }
    double el = vg_time_now() - t0;
    printf("full fine-tune 224, batch %d (chunk %d), %d thread%s: %.1f images/s "
           "(forward %.1f ms/img, backward %.1f ms/img), buffers %.0f MB, peak RSS %.0f MB\n",
           batch, chunk, threads, threads > 1 ? "s" : "", steps * batch / el,
           tf * 1e3 / (steps * batch), tb * 1e3 / (steps * batch),
           (double)vg_trainer_buffer_bytes(t) / 1e6, (double)vg_peak_rss_bytes() / 1e6);
    if (getenv("PROFILE")) {
        printf("%4s %-10s %-22s %9s %9s\n", "node", "op", "shape", "fwd ms", "bwd ms");
        vg_node_geom *geom = calloc((size_t)m->g.n_nodes, sizeof *geom);
        vg_graph_infer(&m->g, H, W, 3, geom, NULL, NULL);
        for (int j = 0; j < m->g.n_nodes; j++) {
            double f, b;
            vg_trainer_node_times(t, j, &f, &b);
            if (f + b < 1e-4 * steps) continue;
            const vg_node *nd = &m->g.nodes[j];
            char shape[64];
            snprintf(shape, sizeof shape, "%dx%dx%d->%d", geom[j].in.h, geom[j].in.w, geom[j].in.c, geom[j].out.c);
            printf("%4d %-10s %-22s %9.2f %9.2f\n", j, nd->op == 1 ? (nd->kh == 1 ? "pw" : "conv") : nd->op == 2 ? "dw" : "other",
                   shape, f * 1e3 / steps, b * 1e3 / steps);
        }
        free(geom);
    }
    vg_optim_free(&opt);
    vg_trainer_free(t);
    vg_model_free(m);
    free(x);
    return 0;
}
