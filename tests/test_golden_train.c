/* test_golden_train.c — training against PyTorch (tools/gen_golden_train.py, float64): the
 * small MobileNetV2-shaped network with batch-norm in training mode, cross-entropy with class
 * weights and label smoothing. Checked: the loss and logits, every parameter gradient, the
 * losses of 5 SGD + momentum + weight-decay steps and of 5 AdamW steps from the same start
 * (1e-5 relative), and the BN running statistics after the SGD steps.
 *
 * Gradient tolerance: norm-wise relative error ||g - ref|| / ||ref|| < 1e-4 per tensor.
 * Elementwise ratios are ill-conditioned for the smallest elements (float rounding of the
 * forward, amplified by batch statistics, reaches 1e-4 of a 1e-5 element). Some tensors have
 * an exactly zero true gradient (the bias of a BN followed, through a linear conv, by another
 * BN, which cancels any shift): for those the requirement is ||g|| < 1e-6 of the whole
 * model's gradient norm. */
#include "test.h"

#include "golden_net.h"
#include "train/trainer.h"

#include <string.h>

#define GRAD_TOL 1e-4
#define LOSS_TOL 1e-5

typedef struct {
    vg_fixture fx;
    float eps, momentum, smoothing;
    int steps;
    float sgd_lr, sgd_mom, sgd_wd, ad_lr, ad_b1, ad_b2, ad_eps, ad_wd;
    float class_w[5];
    int labels[16];
    int N, H, W;
    float *x; /* NHWC */
} golden_train;

static bool load(golden_train *G) {
    if (vg_fixture_load("tests/fixtures/golden_train.bin", &G->fx) != 0) return false;
    const vg_fx_tensor *cfg = vg_fixture_get(&G->fx, "config", 12);
    const vg_fx_tensor *cw = vg_fixture_get(&G->fx, "class_weights", 5);
    const vg_fx_tensor *in = vg_fixture_get(&G->fx, "input", 0);
    const vg_fx_tensor *lab = vg_fixture_get(&G->fx, "labels", 0);
    if (!cfg || !cw || !in || !lab || in->ndim != 4 || (int)lab->count != in->dims[0] ||
        lab->count > 16)
        return false;
    const float *c = cfg->data;
    G->eps = c[0], G->momentum = c[1], G->smoothing = c[2], G->steps = (int)c[3];
    G->sgd_lr = c[4], G->sgd_mom = c[5], G->sgd_wd = c[6];
    G->ad_lr = c[7], G->ad_b1 = c[8], G->ad_b2 = c[9], G->ad_eps = c[10], G->ad_wd = c[11];
    memcpy(G->class_w, cw->data, sizeof G->class_w);
    G->N = in->dims[0], G->H = in->dims[2], G->W = in->dims[3];
    for (int i = 0; i < G->N; i++) G->labels[i] = (int)lab->data[i];
    G->x = malloc(in->count * sizeof(float));
    vg_fx_nchw_to_nhwc(in->data, G->N, 3, G->H, G->W, G->x);
    return true;
}

static double batch_weight(const golden_train *G) {
    double s = 0;
    for (int i = 0; i < G->N; i++) s += G->class_w[G->labels[i]];
    return s;
}

static vg_trainer *make_trainer(vg_model *m, const golden_net *net, const golden_train *G) {
    vg_trainer_opts o = {G->N, 1, 0, net->logits, true, G->momentum};
    vg_trainer *t = NULL;
    vg_err err;
    vg_status st = vg_trainer_init(&t, &m->g, G->H, G->W, &o, &err);
    CHECK(st == VG_OK, "trainer: %s", err.msg);
    return t;
}

static double global_norm; /* L2 norm of all reference gradients */

/* Compares a vigie gradient with the fixture's PyTorch gradient (see the tolerance above). */
static void check_grad(const char *what, const float *got, const float *ref, size_t n) {
    double d2 = 0, r2 = 0, g2 = 0;
    for (size_t i = 0; i < n; i++) {
        d2 += ((double)got[i] - ref[i]) * ((double)got[i] - ref[i]);
        r2 += (double)ref[i] * ref[i];
        g2 += (double)got[i] * got[i];
    }
    if (sqrt(r2) < 1e-9 * global_norm) {
        CHECK(sqrt(g2) < 1e-6 * global_norm, "gradient %s: reference is zero, vigie's norm %.3g "
              "(model gradient norm %.3g)", what, sqrt(g2), global_norm);
        return;
    }
    double e = sqrt(d2 / r2);
    CHECK(e < GRAD_TOL, "gradient %s: norm-wise relative error %.3g", what, e);
}

static void run_steps(const golden_train *G, vg_opt_kind kind, const char *name) {
    vg_model *m = vg_model_new();
    golden_net net;
    if (!golden_build(m, &G->fx, G->eps, false, &net)) {
        CHECK(false, "build");
        vg_model_free(m);
        return;
    }
    vg_trainer *t = make_trainer(m, &net, G);
    vg_param_range ranges[64];
    int nr = vg_trainer_param_ranges(&m->g, G->H, G->W, 0, true, ranges);
    vg_optim_cfg cfg = {kind, G->sgd_mom, G->ad_b1, G->ad_b2, G->ad_eps,
                        kind == VG_OPT_SGD ? G->sgd_wd : G->ad_wd};
    vg_optim opt;
    vg_optim_init(&opt, &cfg, m->g.n_params, ranges, nr, NULL);
    char key[64];
    snprintf(key, sizeof key, "%s.losses", name);
    const vg_fx_tensor *ref = vg_fixture_get(&G->fx, key, (size_t)G->steps);
    for (int s = 0; t && ref && s < G->steps; s++) {
        vg_trainer_zero_grad(t);
        vg_trainer_forward(t, G->x, G->N);
        float loss = vg_trainer_loss(t, G->labels, G->N, batch_weight(G), G->class_w, G->smoothing);
        vg_trainer_backward(t, G->N);
        vg_optim_step(&opt, m->g.params, vg_trainer_grads(t), kind == VG_OPT_SGD ? G->sgd_lr : G->ad_lr);
        double rel = fabs(loss - ref->data[s]) / fabs(ref->data[s]);
        CHECK(rel < LOSS_TOL, "%s step %d: loss %.8f vs %.8f (rel %.3g)", name, s, loss,
              ref->data[s], rel);
    }
    /* running statistics after the SGD steps */
    for (int i = 0; kind == VG_OPT_SGD && i < GOLDEN_LAYERS; i++) {
        int c = golden_layer_cout(i);
        const float *bn = m->g.params + m->g.nodes[net.bn_node[i]].b;
        char nm[128];
        snprintf(nm, sizeof nm, "sgd.stats.%s.running_mean", golden_layer_name(i));
        const vg_fx_tensor *rm = vg_fixture_get(&G->fx, nm, (size_t)c);
        snprintf(nm, sizeof nm, "sgd.stats.%s.running_var", golden_layer_name(i));
        const vg_fx_tensor *rv = vg_fixture_get(&G->fx, nm, (size_t)c);
        if (!rm || !rv) continue;
        CHECK(vg_test_max_rel_err(bn + 2 * c, rm->data, (size_t)c, 1e-3, NULL) < GRAD_TOL,
              "%s running mean", golden_layer_name(i));
        CHECK(vg_test_max_rel_err(bn + 3 * c, rv->data, (size_t)c, 1e-3, NULL) < GRAD_TOL,
              "%s running var", golden_layer_name(i));
    }
    vg_optim_free(&opt);
    vg_trainer_free(t);
    vg_model_free(m);
}

void test_golden_train(void) {
    golden_train G;
    memset(&G, 0, sizeof G);
    if (!load(&G)) {
        CHECK(false, "cannot load tests/fixtures/golden_train.bin");
        vg_fixture_free(&G.fx);
        return;
    }
    vg_model *m = vg_model_new();
    golden_net net;
    bool ok = golden_build(m, &G.fx, G.eps, false, &net);
    CHECK(ok, "building the network from the fixture failed");
    vg_trainer *t = ok ? make_trainer(m, &net, &G) : NULL;
    if (t) {
        vg_trainer_zero_grad(t);
        const float *logits = vg_trainer_forward(t, G.x, G.N);
        const vg_fx_tensor *rl = vg_fixture_get(&G.fx, "logits", (size_t)G.N * 5);
        if (rl)
            CHECK(vg_test_max_rel_err(logits, rl->data, rl->count, 1e-2, NULL) < GRAD_TOL,
                  "training-mode logits");
        float loss = vg_trainer_loss(t, G.labels, G.N, batch_weight(&G), G.class_w, G.smoothing);
        const vg_fx_tensor *rloss = vg_fixture_get(&G.fx, "loss", 1);
        if (rloss)
            CHECK(fabs(loss - rloss->data[0]) / rloss->data[0] < LOSS_TOL, "loss %.8f vs %.8f",
                  loss, rloss->data[0]);
        vg_trainer_backward(t, G.N);
        const float *dp = vg_trainer_grads(t);
        double gn = 0;
        for (int i = 0; i < G.fx.n; i++)
            if (strncmp(G.fx.t[i].name, "grad.", 5) == 0)
                for (size_t k = 0; k < G.fx.t[i].count; k++)
                    gn += (double)G.fx.t[i].data[k] * G.fx.t[i].data[k];
        global_norm = sqrt(gn);
        for (int i = 0; i < GOLDEN_LAYERS; i++) {
            const char *nm = golden_layer_name(i);
            int co = golden_layer_cout(i), k = golden_layer_k(i);
            bool dw = golden_layer_depthwise(i);
            int cin = dw ? 1 : golden_layer_cin(i);
            char key[128];
            snprintf(key, sizeof key, "grad.%s.weight", nm);
            const vg_fx_tensor *g = vg_fixture_get(&G.fx, key, (size_t)co * cin * k * k);
            if (g) {
                float *conv = malloc(g->count * sizeof(float));
                if (dw) vg_fx_dw_to_hwc(g->data, co, k, k, conv);
                else vg_fx_oihw_to_ohwi(g->data, co, cin, k, k, conv);
                check_grad(key, dp + m->g.nodes[net.conv_node[i]].w, conv, g->count);
                free(conv);
            }
            static const char *parts[] = {"weight", "bias"};
            for (int p = 0; p < 2; p++) {
                snprintf(key, sizeof key, "grad.%s.bn.%s", nm, parts[p]);
                g = vg_fixture_get(&G.fx, key, (size_t)co);
                if (g) check_grad(key, dp + m->g.nodes[net.bn_node[i]].b + p * co, g->data, g->count);
            }
        }
        const vg_fx_tensor *gw = vg_fixture_get(&G.fx, "grad.fc.weight", 100);
        const vg_fx_tensor *gb = vg_fixture_get(&G.fx, "grad.fc.bias", 5);
        if (gw) check_grad("grad.fc.weight", dp + m->g.nodes[net.fc_node].w, gw->data, 100);
        if (gb) check_grad("grad.fc.bias", dp + m->g.nodes[net.fc_node].b, gb->data, 5);
    }
    vg_trainer_free(t);
    vg_model_free(m);
    run_steps(&G, VG_OPT_SGD, "sgd");
    run_steps(&G, VG_OPT_ADAMW, "adamw");
    free(G.x);
    vg_fixture_free(&G.fx);
}
