/* test_metrics.c — metrics on hand-made predictions whose values are computed by hand, and
 * the backbone -> classifier surgery. */
#include "test.h"

#include "model/runner.h"
#include "model/surgery.h"
#include "train/metrics.h"

#include <string.h>

static void test_alarm_metrics(void) {
    /* classes: fire 0, neutral 1, smoke 2; 6 images */
    const float p[] = {
        0.7f, 0.2f, 0.1f, /* fire   -> fire,    score 0.8 */
        0.3f, 0.1f, 0.6f, /* fire   -> smoke,   score 0.9 */
        0.1f, 0.3f, 0.6f, /* smoke  -> smoke,   score 0.7 */
        0.2f, 0.5f, 0.3f, /* smoke  -> neutral, score 0.5 */
        0.1f, 0.8f, 0.1f, /* neutral-> neutral, score 0.2 */
        0.4f, 0.45f, 0.15f, /* neutral -> neutral, score 0.55 */
    };
    const int y[] = {0, 0, 2, 2, 1, 1};
    vg_metrics m;
    vg_err err;
    CHECK(vg_metrics_compute(6, 3, p, y, 1, 0.52f, &m, &err) == VG_OK, "%s", err.msg);
    CHECK_NEAR(m.accuracy, 4.0 / 6, 1e-9, "accuracy");
    CHECK(m.confusion[0 * 3 + 0] == 1 && m.confusion[0 * 3 + 2] == 1 && m.confusion[2 * 3 + 1] == 1 &&
              m.confusion[1 * 3 + 1] == 2,
          "confusion");
    CHECK_NEAR(m.recall[0], 0.5, 1e-9, "fire recall");
    CHECK_NEAR(m.precision[2], 0.5, 1e-9, "smoke precision");
    CHECK_NEAR(m.precision[1], 2.0 / 3, 1e-9, "neutral precision");
    CHECK_NEAR(m.f1[1], 2 * (2.0 / 3) * 1.0 / (2.0 / 3 + 1.0), 1e-9, "neutral f1");
    /* threshold 0.52: alarms at 0.8, 0.9, 0.7 (pos) and 0.55 (neg); 0.5 (pos) misses */
    CHECK_NEAR(m.alarm_recall, 0.75, 1e-9, "alarm recall");
    CHECK_NEAR(m.false_alarm_rate, 0.5, 1e-9, "false alarm rate");
    CHECK_NEAR(m.alarm_precision, 0.75, 1e-9, "alarm precision");
    /* AUC: positives {0.9 0.8 0.7 0.5}, negatives {0.55 0.2}: pairs ranked right 7 of 8 */
    CHECK_NEAR(m.auc, 7.0 / 8, 1e-6, "AUC");
    vg_metrics_free(&m);
    /* threshold for recall: the k-th positive score, moved halfway to the next lower score of
     * any image. 3 of 4 positives: 0.7, next lower 0.55 (a negative) -> 0.625; 4 of 4: 0.5,
     * next 0.2 -> 0.35; 1 of 4: 0.9, next 0.8 -> 0.85 */
    static const double targets[3] = {0.75, 0.97, 0.2}, want[3] = {0.625, 0.35, 0.85};
    float thr[3] = {-1, -1, -1};
    for (int i = 0; i < 3; i++) {
        CHECK(vg_alarm_threshold_for_recall(6, 3, p, y, 1, targets[i], &thr[i], &err) == VG_OK,
              "thr %g: %s", targets[i], err.msg);
        CHECK_NEAR(thr[i], want[i], 1e-6, "thr %g", targets[i]);
    }
    /* no memory: an error, not a made-up threshold */
    vg_fail_alloc(1);
    float t0 = -1;
    CHECK(vg_alarm_threshold_for_recall(6, 3, p, y, 1, 0.75, &t0, &err) == VG_ERR_NOMEM && t0 == -1,
          "threshold without memory: %s", err.msg);
    vg_fail_alloc(0);
    /* and the recall / false alarms on the samples are those at the k-th positive score */
    vg_metrics_compute(6, 3, p, y, 1, thr[0], &m, &err);
    CHECK_NEAR(m.alarm_recall, 0.75, 1e-9, "recall at the chosen threshold");
    CHECK_NEAR(m.false_alarm_rate, 0.0, 1e-9, "false alarms at the chosen threshold");
    vg_metrics_free(&m);
    /* ROC: perfect separation gives AUC 1; reversed gives 0; ties count half */
    const float q[] = {0.1f, 0.9f, 0.2f, 0.8f, 0.9f, 0.1f, 0.7f, 0.3f}; /* 2 classes, no_alarm 0 */
    const int yq[] = {1, 1, 0, 0};
    float *f, *t, *h;
    int np;
    double auc;
    vg_alarm_roc(4, 2, q, yq, 0, &f, &t, &h, &np, &auc, NULL);
    CHECK_NEAR(auc, 1.0, 1e-9, "perfect AUC");
    CHECK(np == 5 && f[0] == 0 && t[0] == 0 && f[np - 1] == 1 && t[np - 1] == 1, "ROC ends");
    free(f), free(t), free(h);
    const int yr[] = {0, 0, 1, 1};
    vg_alarm_roc(4, 2, q, yr, 0, &f, &t, &h, &np, &auc, NULL);
    CHECK_NEAR(auc, 0.0, 1e-9, "reversed AUC");
    free(f), free(t), free(h);
    const float tie[] = {0.5f, 0.5f, 0.5f, 0.5f};
    const int yt[] = {0, 1};
    vg_alarm_roc(2, 2, tie, yt, 0, &f, &t, &h, &np, &auc, NULL);
    CHECK_NEAR(auc, 0.5, 1e-9, "tied AUC");
    free(f), free(t), free(h);
}

static void test_surgery(void) {
    vg_model *bb = NULL;
    vg_err err;
    if (vg_import_tflite("tests/fixtures/tiny_float.tflite", &bb, &err) != VG_OK) {
        CHECK(false, "import: %s", err.msg);
        return;
    }
    const char *labels[] = {"fire", "neutral", "smoke"};
    vg_model *m = NULL;
    CHECK(vg_model_new_classifier(bb, 3, labels, 7, &m, &err) == VG_OK, "classifier: %s", err.msg);
    if (!m) {
        vg_model_free(bb);
        return;
    }
    int cut = vg_graph_feature_node(&bb->g);
    CHECK(m->g.n_nodes == cut + 3, "nodes %d, cut at %d", m->g.n_nodes, cut);
    CHECK(vg_model_n_outputs(m) == 3 && strcmp(vg_model_label(m, 2), "smoke") == 0, "outputs");
    CHECK(m->g.nodes[m->g.n_nodes - 1].op == VG_OP_SOFTMAX &&
              vg_graph_logits_tensor(&m->g) == m->g.nodes[m->g.n_nodes - 1].in[0],
          "logits tensor");
    /* the feature part computes exactly what the backbone computes */
    vg_runner *rb = NULL, *rm = NULL;
    vg_runner_init_ex(&rb, bb, NULL, true, NULL);
    vg_runner_init_ex(&rm, m, NULL, true, NULL);
    size_t nin = (size_t)bb->input.h * bb->input.w * 3;
    float *x = malloc(nin * 4), o1[1024], o2[8];
    vg_test_fill(x, nin, -1, 1);
    vg_runner_forward(rb, x, o1);
    vg_runner_forward(rm, x, o2);
    vg_model_info ib;
    vg_model_get_info(bb, &ib);
    int feat = m->g.nodes[cut].out;
    vg_shape *sh = malloc(sizeof(vg_shape) * (size_t)m->g.n_tensors);
    vg_graph_infer(&m->g, m->input.h, m->input.w, 3, NULL, sh, NULL);
    CHECK(memcmp(vg_runner_tensor(rb, feat), vg_runner_tensor(rm, feat), sizeof(float) * (size_t)sh[feat].c) == 0,
          "features differ after surgery");
    CHECK(fabsf(o2[0] + o2[1] + o2[2] - 1) < 1e-5f, "probabilities sum to %g", o2[0] + o2[1] + o2[2]);
    /* the arena holds the backbone's used parameters plus the new head, nothing else */
    int64_t head = (int64_t)3 * sh[feat].c + 3;
    CHECK(m->g.n_params <= bb->g.n_params - 1 + head, "arena not compacted: %lld vs %lld",
          (long long)m->g.n_params, (long long)bb->g.n_params);
    free(sh), free(x);
    vg_runner_free(rb), vg_runner_free(rm);
    /* round trip through a file */
    char path[700];
    snprintf(path, sizeof path, "%s/c.vgm", vg_test_tmpdir());
    CHECK(vg_model_save(m, path, &err) == VG_OK, "save: %s", err.msg);
    vg_model_free(m);
    /* too few classes, and a graph without a pool */
    CHECK(vg_model_new_classifier(bb, 1, NULL, 7, &m, &err) == VG_ERR_ARG, "1 class accepted");
    vg_model_free(bb);

    /* blocks of the real MobileNetV2: 17 depthwise convs, the first without expansion */
    const char *p = vg_test_shared("models/mobilenet_v2_1.0_224_quant.tflite");
    if (p && vg_import_tflite(p, &bb, &err) == VG_OK) {
        int starts[32];
        int nb = vg_graph_block_starts(&bb->g, starts, 32);
        CHECK(nb == 17, "%d blocks", nb);
        CHECK(nb == 17 && bb->g.nodes[starts[0]].op == VG_OP_DWCONV &&
                  bb->g.nodes[starts[1]].op == VG_OP_CONV && bb->g.nodes[starts[1]].kh == 1,
              "block starts");
        vg_model_free(bb);
    }
}

void test_metrics(void) {
    test_alarm_metrics();
    test_surgery();
}
