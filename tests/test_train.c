/* test_train.c — properties of the trainer beyond the PyTorch fixture, on a small network
 * without batch-norm (the imported backbones have BN folded): a batch processed in chunks
 * gives the same gradient as in one piece (rel. 1e-5: only the order of float sums changes);
 * 1 and 2 threads give bit-identical gradients; a frozen prefix gets no gradient and leaves
 * the trainable part's gradient unchanged; buffers grow with the chunk, not the batch;
 * MobileNetV3's pieces (hard-swish, squeeze-excitation) against finite differences. */
#include "test.h"

#include "model/model.h"
#include "train/train.h"
#include "train/train_int.h"
#include "train/trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

vg_model *vg_test_small_model(void);

/* conv s2 -> dw -> pointwise -> add -> gap -> fc: every kind of layer the fire models train */
static vg_model *net(int *logits, int *first_block) {
    vg_model *m = vg_model_new();
    m->input.h = 15, m->input.w = 12;
    vg_graph *g = &m->g;
    int x = vg_graph_conv(g, 0, 3, 8, 3, 3, 2, VG_PAD_SAME, NULL, true, VG_ACT_RELU6);
    *first_block = g->n_nodes;
    int pad[4] = {1, 1, 1, 1};
    int y = vg_graph_conv(g, x, 8, 20, 1, 1, 1, VG_PAD_EXPLICIT, NULL, true, VG_ACT_RELU6);
    y = vg_graph_dwconv(g, y, 20, 3, 3, 1, VG_PAD_EXPLICIT, pad, true, VG_ACT_RELU6);
    y = vg_graph_conv(g, y, 20, 8, 1, 1, 1, VG_PAD_EXPLICIT, NULL, true, VG_ACT_NONE);
    y = vg_graph_add(g, x, y, VG_ACT_NONE);
    y = vg_graph_gap(g, y);
    *logits = vg_graph_fc(g, y, 8, 3, true, VG_ACT_NONE);
    vg_graph_softmax(g, *logits);
    vg_test_seed(5);
    vg_test_fill(g->params, (size_t)g->n_params, -0.5f, 0.5f);
    return m;
}

static float *grads(vg_model *m, int logits, int chunk, int threads, int first, const float *x,
                    const int *labels, int n, float *loss) {
    vg_trainer_opts o = {chunk, threads, first, logits, false, 0.1f};
    vg_trainer *t = NULL;
    vg_err err;
    if (vg_trainer_init(&t, &m->g, 15, 12, &o, &err) != VG_OK) {
        CHECK(false, "trainer: %s", err.msg);
        return NULL;
    }
    vg_trainer_zero_grad(t);
    float w[3] = {1.0f, 2.0f, 0.5f};
    double bw = 0;
    for (int i = 0; i < n; i++) bw += w[labels[i]];
    *loss = 0;
    size_t img = 15 * 12 * 3;
    for (int i = 0; i < n; i += chunk) {
        int k = n - i < chunk ? n - i : chunk;
        vg_trainer_forward(t, x + i * img, k);
        *loss += vg_trainer_loss(t, labels + i, k, bw, w, 0.1f);
        vg_trainer_backward(t, k);
    }
    float *g = malloc(sizeof(float) * (size_t)m->g.n_params);
    memcpy(g, vg_trainer_grads(t), sizeof(float) * (size_t)m->g.n_params);
    vg_trainer_free(t);
    return g;
}

/* The trainer's gradient of every parameter of m against central differences of its own loss
 * (eps 1e-3; chunks of 3 + 1, so that what the trainer keeps per chunk is laid out right) */
static void fd_check_model(vg_model *m, int logits, const float *x, const int *labels, int n,
                           const char *what) {
    vg_graph *g = &m->g;
    float loss, lp, lm;
    float *gr = grads(m, logits, 3, 1, 0, x, labels, n, &loss);
    int bad = 0;
    double worst = 0;
    for (int64_t p = 0; gr && p < g->n_params; p++) {
        const float keep = g->params[p], eps = 1e-3f;
        g->params[p] = keep + eps;
        free(grads(m, logits, n, 1, 0, x, labels, n, &lp));
        g->params[p] = keep - eps;
        free(grads(m, logits, n, 1, 0, x, labels, n, &lm));
        g->params[p] = keep;
        double fd = ((double)lp - lm) / (2.0 * eps), err = fabs(fd - gr[p]);
        worst = fmax(worst, err / (2e-3 + 2e-2 * fabs(fd)));
        bad += err > 2e-3 + 2e-2 * fabs(fd);
    }
    CHECK(gr && bad == 0,
          "%s: %d of %lld gradients off their finite differences (worst at %.2f "
          "of the tolerance)",
          what, bad, (long long)g->n_params, worst);
    free(gr);
}

/* MobileNetV3's pieces trained end to end, against finite differences: (a) hard-swish (its
 * derivative from the input the trainer keeps) in a convolution, a depthwise and an FC, a
 * same-shape product with sigmoid, a residual add; (b) squeeze-excitation (pool, 1x1 conv
 * hard-sigmoid, the per-channel product) on its own, where its gradients are large enough for
 * float differences of the loss to resolve (behind a deeper network they are not). */
static void test_v3_grads(const float *x, const int *labels, int n) {
    for (int k = 0; k < 2; k++) {
        vg_model *m = vg_model_new();
        if (!m) return;
        m->input.h = 15, m->input.w = 12;
        vg_graph *g = &m->g;
        int e, c = k == 0 ? 6 : 4;
        if (k == 0) {
            int a = vg_graph_conv(g, 0, 3, 6, 3, 3, 2, VG_PAD_SAME, NULL, true, VG_ACT_HSWISH);
            int d = vg_graph_dwconv(g, a, 6, 3, 3, 1, VG_PAD_SAME, NULL, true, VG_ACT_HSWISH);
            e = vg_graph_mul(g, d, a, VG_ACT_SIGMOID);
            e = vg_graph_add(g, e, d, VG_ACT_NONE);
        } else {
            int a = vg_graph_conv(g, 0, 3, 4, 1, 1, 1, VG_PAD_SAME, NULL, true, VG_ACT_NONE);
            int s = vg_graph_gap(g, a);
            s = vg_graph_conv(g, s, 4, 4, 1, 1, 1, VG_PAD_SAME, NULL, true, VG_ACT_HSIGMOID);
            e = vg_graph_mul(g, a, s, VG_ACT_NONE);
        }
        e = vg_graph_gap(g, e);
        e = vg_graph_fc(g, e, c, 5, true, VG_ACT_HSWISH);
        int logits = vg_graph_fc(g, e, 5, 3, true, VG_ACT_NONE);
        vg_test_seed(9 + (uint64_t)k);
        vg_test_fill(g->params, (size_t)g->n_params, -1, 1);
        fd_check_model(m, logits, x, labels, n, k ? "squeeze-excitation" : "hard-swish, products");
        vg_model_free(m);
    }
}

/* The training configuration as text: every field set away from its default comes back
 * (text -> parse -> text is the same text, and spot values are the ones set), a checkpoint of
 * the older grouped format ("aug=...") is still read, and an incomplete text is refused. */
static void test_cfg_text(void) {
    vg_train_cfg c = vg_train_cfg_default(), d;
    vg_err err;
    c.n_data = 2;
    c.data[0] = (vg_source_spec){.dir = "a", .train_list = "t.txt", .val_list = "v.txt"};
    c.data[1] = (vg_source_spec){.dir = "b", .test_list = "x.txt", .extra = true};
    c.default_lists = false, c.val_fraction = 0.125f, c.backbone = "bb.vgm", c.out = "o.vgm";
    c.mode = VG_TRAIN_ALL, c.last_n = 7, c.size = 160, c.epochs = 13, c.batch = 24;
    c.lr = 0.0123f, c.weight_decay = 3e-5f, c.momentum = 0.85f, c.label_smoothing = 0.07f;
    c.warmup_epochs = 1.5f, c.final_lr_frac = 0.02f, c.optimizer = VG_OPT_SGD;
    c.balanced = true, c.class_weights = false, c.patience = 4, c.augment = false;
    c.keep_last = true, c.aug.scale_min = 0.4f, c.aug.hue = 0.03f, c.aug.zoom_prob = 0.3f;
    c.aug.box_zoom = 0.25f, c.aug.neg_margin = 0.123f, c.aug.neg_scale_min = 0.06f;
    c.aug.zoom_scene = true, c.tta_flip = true, c.mixup = 0.2f, c.ema = 0.995f;
    c.backbone_lr_mult = 0.3f, c.pool = 2, c.alarm_recall = 0.9731, c.threshold_union = true;
    c.no_alarm = "calm", c.seed = 18446744073709551557ull, c.refit = false;
    vg_train_phase ph = {2, 9, 0.4321f, "n=5 accuracy=0.8"}, dp;
    char *t1 = NULL, *t2 = NULL;
    CHECK(vg_train_cfg_text(&c, &ph, &t1, &err) == VG_OK, "text: %s", err.msg);
    char *copy = t1 ? strdup(t1) : NULL;
    d = vg_train_cfg_default();
    CHECK(copy && vg_train_cfg_parse(copy, &d, &dp, &err) == VG_OK, "parse: %s", err.msg);
    CHECK(vg_train_cfg_text(&d, &dp, &t2, &err) == VG_OK && t1 && t2 && strcmp(t1, t2) == 0,
          "text -> parse -> text differs:\n%s\n---\n%s", t1 ? t1 : "", t2 ? t2 : "");
    CHECK(d.n_data == 2 && d.data[1].extra && !strcmp(d.data[1].test_list, "x.txt") &&
              !d.default_lists && d.mode == VG_TRAIN_ALL && d.optimizer == VG_OPT_SGD && d.aug.neg_margin == 0.123f &&
              d.aug.zoom_scene && d.alarm_recall == 0.9731 && d.seed == 18446744073709551557ull &&
              !strcmp(d.no_alarm, "calm") && dp.fixed_threshold == 0.4321f && !d.refit &&
              dp.phase == 2 && dp.stop_epoch == 9 && !strcmp(dp.select_note, "n=5 accuracy=0.8"),
          "values after the round trip");
    free(t1), free(t2), free(copy);
    /* older checkpoints: data= and grouped aug lines */
    char old[] = "data=dir\ntrain_list=tr.txt\nbackbone=b\nout=o\nepochs=3\n"
                 "aug=0.5 1 0.75 1.33 0.5 0.1 0.2 0.3 0.04\naug_boxes=0.1 0.2 0.3 0.4 0.5 0.6\n";
    d = vg_train_cfg_default();
    CHECK(vg_train_cfg_parse(old, &d, &dp, &err) == VG_OK && d.n_data == 1 && !strcmp(d.data[0].dir, "dir") &&
              !strcmp(d.data[0].train_list, "tr.txt") && d.aug.hue == 0.04f &&
              d.aug.neg_scale_min == 0.6f && d.epochs == 3 && dp.phase == 0 &&
              dp.fixed_threshold == -1.0f,
          "older checkpoint: %s", err.msg);
    char incomplete[] = "epochs=3\n";
    CHECK(vg_train_cfg_parse(incomplete, &d, &dp, &err) == VG_ERR_FORMAT, "incomplete text accepted");
}

/* vg_optimize_cfg_check: the settings a caller may get wrong, each refused with its name */
static void test_optimize_check(void) {
    vg_err err;
    vg_optimize_cfg c = vg_optimize_cfg_default();
    CHECK(vg_optimize_cfg_check(&c, &err) == VG_ERR_ARG && strstr(err.msg, "output"), "no output: %s", err.msg);
    c.out = "x.vge";
    CHECK(vg_optimize_cfg_check(&c, &err) == VG_OK, "defaults + output: %s", err.msg);
    c.clusters = 1;
    CHECK(vg_optimize_cfg_check(&c, &err) == VG_ERR_ARG && strstr(err.msg, "clusters"), "1 cluster: %s", err.msg);
    c.clusters = 16, c.prune = 1.0f;
    CHECK(vg_optimize_cfg_check(&c, &err) == VG_ERR_ARG && strstr(err.msg, "pruning"), "prune 1: %s", err.msg);
    c.prune = 0.5f, c.distill = 2;
    CHECK(vg_optimize_cfg_check(&c, &err) == VG_ERR_ARG && strstr(err.msg, "distill"), "distill 2: %s", err.msg);
    c.distill = 0.5f, c.int8 = true;
    CHECK(vg_optimize_cfg_check(&c, &err) == VG_ERR_ARG && strstr(err.msg, "calibration images"),
          "int8 without calibration data: %s", err.msg);
    c.finetune[0].dir = "data", c.n_finetune = 1; /* its training split calibrates by default */
    CHECK(vg_optimize_cfg_check(&c, &err) == VG_OK, "int8 calibrated on the fine-tuning data: %s", err.msg);
    c.finetune[0].extra = true; /* but not a training-only source */
    CHECK(vg_optimize_cfg_check(&c, &err) == VG_ERR_ARG, "int8 with only an extra source accepted");
    vg_optimize_report rep;
    c.n_finetune = 0;
    CHECK(vg_optimize_run("none.vgm", &c, NULL, &rep, &err) == VG_ERR_ARG && rep.n_steps == 0,
          "run checks the settings first: %s", err.msg);
}

/* mixup targets (targets.c): blended images, targets and weights, keyed by the batch */
static void test_mixup_targets(void) {
    enum { N = 5, IMG = 3, C = 3 };
    vg_train_cfg c = vg_train_cfg_default();
    c.mixup = 0.4f, c.label_smoothing = 0.1f, c.seed = 7;
    float x[N * IMG], xm[N * IMG], tg[N * C], sw[N], xm2[N * IMG], tg2[N * C], sw2[N];
    int labels[N] = {0, 1, 2, 1, 0}, perm[N], perm2[N];
    float cw[C] = {1.0f, 2.0f, 0.5f};
    for (int i = 0; i < N * IMG; i++) x[i] = (float)(i % 7) - 3.0f;
    float lam = vg_targets_mixup(&c, 2, 9, x, labels, N, IMG, C, cw, perm, xm, tg, sw);
    CHECK(lam > 0 && lam < 1, "lambda %g", (double)lam);
    int seen[N] = {0};
    for (int i = 0; i < N; i++) {
        CHECK(perm[i] >= 0 && perm[i] < N && !seen[perm[i]]++, "perm is a permutation");
        for (int k = 0; k < IMG; k++)
            CHECK(xm[i * IMG + k] == lam * x[i * IMG + k] + (1 - lam) * x[perm[i] * IMG + k], "blend %d", i);
        double sum = 0;
        for (int k = 0; k < C; k++) sum += tg[i * C + k];
        CHECK(fabs(sum - 1) < 1e-6, "targets of %d sum to %g", i, sum);
        float want = 0.1f / C + lam * 0.9f;
        if (labels[perm[i]] == labels[i]) want += (1 - lam) * 0.9f;
        CHECK(fabsf(tg[i * C + labels[i]] - want) < 1e-6f, "target of the label of %d", i);
        CHECK(fabsf(sw[i] - (lam * cw[labels[i]] + (1 - lam) * cw[labels[perm[i]]])) < 1e-6f, "weight %d", i);
    }
    /* the same batch gives the same draw (resume-exact); another batch another one */
    float lam2 = vg_targets_mixup(&c, 2, 9, x, labels, N, IMG, C, cw, perm2, xm2, tg2, sw2);
    CHECK(lam2 == lam && !memcmp(perm, perm2, sizeof perm) && !memcmp(tg, tg2, sizeof tg), "keyed");
    CHECK(vg_targets_mixup(&c, 2, 10, x, labels, N, IMG, C, cw, perm2, xm2, tg2, sw2) != lam ||
              memcmp(perm, perm2, sizeof perm),
          "another batch, another draw");
}

void test_train(void) {
    test_cfg_text();
    test_mixup_targets();
    test_optimize_check();
    int logits, first_block;
    vg_model *m = net(&logits, &first_block);
    enum { N = 4 };
    float *x = malloc(sizeof(float) * N * 15 * 12 * 3);
    vg_test_fill(x, N * 15 * 12 * 3, -1, 1);
    int labels[N] = {0, 2, 1, 2};
    size_t np = (size_t)m->g.n_params;
    test_v3_grads(x, labels, N);

    float l1, l2, l3, l4;
    float *g1 = grads(m, logits, N, 1, 0, x, labels, N, &l1);   /* one batch */
    float *g2 = grads(m, logits, 2, 1, 0, x, labels, N, &l2);   /* chunks of 2 */
    float *g3 = grads(m, logits, 3, 2, 0, x, labels, N, &l3);   /* chunks of 3 + 1, 2 threads */
    float *g4 = grads(m, logits, 3, 1, 0, x, labels, N, &l4);   /* the same, 1 thread */
    if (g1 && g2 && g3 && g4) {
        CHECK(fabsf(l1 - l2) < 1e-6f * fabsf(l1) && fabsf(l1 - l3) < 1e-6f * fabsf(l1),
              "losses differ: %.8f %.8f %.8f", l1, l2, l3);
        size_t wi;
        double e = vg_test_max_rel_err(g2, g1, np, 1e-3, &wi);
        CHECK(e < 1e-5, "chunks of 2 vs one batch: rel err %.3g at %zu", e, wi);
        e = vg_test_max_rel_err(g3, g1, np, 1e-3, &wi);
        CHECK(e < 1e-5, "chunks of 3+1 vs one batch: rel err %.3g at %zu", e, wi);
        CHECK(memcmp(g3, g4, np * sizeof(float)) == 0, "1 and 2 threads give different gradients");
        double norm = 0;
        for (size_t i = 0; i < np; i++) norm += fabs(g1[i]);
        CHECK(norm > 1e-3, "gradient is zero");
    }
    /* frozen stem: no gradient there, the rest unchanged */
    float lf;
    float *gf = grads(m, logits, N, 1, first_block, x, labels, N, &lf);
    if (gf && g1) {
        const vg_node *stem = &m->g.nodes[0];
        int64_t stem_end = stem->b + 8;
        bool zero = true;
        for (int64_t i = 0; i < stem_end; i++) zero &= gf[i] == 0.0f;
        CHECK(zero, "frozen stem received a gradient");
        CHECK(vg_test_max_rel_err(gf + stem_end, g1 + stem_end, np - (size_t)stem_end, 1e-3, NULL) < 1e-6,
              "freezing the stem changed the other gradients");
        CHECK(fabsf(lf - l1) < 1e-6f * fabsf(l1), "freezing changed the loss");
    }
    free(g1), free(g2), free(g3), free(g4), free(gf);

    /* buffers scale with the chunk */
    vg_trainer_opts o1 = {1, 1, 0, logits, false, 0.1f}, o8 = {8, 1, 0, logits, false, 0.1f};
    size_t b1 = vg_trainer_estimate_bytes(&m->g, 15, 12, &o1);
    size_t b8 = vg_trainer_estimate_bytes(&m->g, 15, 12, &o8);
    CHECK(b1 > 0 && b8 > 6 * b1 && b8 < 9 * b1, "buffer estimate: chunk 1 %zu, chunk 8 %zu", b1, b8);
    vg_trainer *t = NULL;
    CHECK(vg_trainer_init(&t, &m->g, 15, 12, &o8, NULL) == VG_OK && vg_trainer_buffer_bytes(t) == b8,
          "estimate differs from the trainer's buffers");
    vg_trainer_free(t);

    /* a few AdamW steps on this batch drive the loss down (memorisation) */
    vg_trainer_opts o = {N, 1, 0, logits, false, 0.1f};
    vg_trainer_init(&t, &m->g, 15, 12, &o, NULL);
    vg_param_range ranges[32];
    int nr = vg_trainer_param_ranges(&m->g, 15, 12, 0, false, ranges);
    vg_optim_cfg cfg = {VG_OPT_ADAMW, 0.9f, 0.9f, 0.999f, 1e-8f, 1e-4f};
    vg_optim opt;
    vg_optim_init(&opt, &cfg, m->g.n_params, ranges, nr, NULL);
    float first = 0, last = 0;
    for (int s = 0; s < 30 && t; s++) {
        vg_trainer_zero_grad(t);
        vg_trainer_forward(t, x, N);
        float l = vg_trainer_loss(t, labels, N, N, NULL, 0.0f);
        vg_trainer_backward(t, N);
        vg_optim_step(&opt, m->g.params, vg_trainer_grads(t), 0.01f);
        if (s == 0) first = l;
        last = l;
        if (getenv("VG_TRACE")) printf("  step %d loss %.4f\n", s, l);
    }
    CHECK(last < 0.5f * first, "loss did not fall: %.4f -> %.4f", first, last);
    vg_optim_free(&opt);
    vg_trainer_free(t);
    free(x);
    vg_model_free(m);
}
