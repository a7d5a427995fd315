/* test_tflite.c — importing the shared TFLite MobileNetV2 files: ops mapped, weights
 * dequantized as documented, input normalisation from the input quantization; the whole
 * network's results independent of the thread count (float and int8). The ImageNet
 * predictions on the test images are checked end to end in tests/cli_test.sh. */
#include "test.h"

#include "model/model.h"
#include "model/runner.h"

#include <string.h>

/* The whole int8 network on the fast kernels (1 thread, and 2 threads with a batch of 2)
 * gives the same bytes as on the portable ones: every layer shape of MobileNetV2 at once. */
static void check_q8_paths(const vg_model *m, const char *what) {
    vg_err err;
    size_t in = (size_t)m->input.h * m->input.w * m->input.c;
    int no = vg_model_n_outputs(m);
    float *x = malloc(sizeof(float) * 2 * in), *y0 = malloc(sizeof(float) * no);
    float *y1 = malloc(sizeof(float) * no), *y2 = malloc(sizeof(float) * 2 * no);
    vg_test_seed(31);
    vg_test_fill(x, 2 * in, -1.0f, 1.0f);
    vg_runner_opts o1 = vg_runner_opts_default(), o2 = o1;
    o1.precision = o2.precision = VG_PRECISION_INT8;
    o2.threads = 2, o2.batch = 2;
    vg_runner *rp = NULL, *r1 = NULL, *r2 = NULL;
    CHECK(vg_runner_init_portable(&rp, m, &o1, &err) == VG_OK && vg_runner_init(&r1, m, &o1, &err) == VG_OK &&
              vg_runner_init(&r2, m, &o2, &err) == VG_OK,
          "%s: int8 runners: %s", what, err.msg);
    if (rp && r1 && r2) {
        vg_runner_forward(rp, x + in, y0); /* the second image */
        vg_runner_forward(r1, x + in, y1);
        vg_runner_forward(r2, x, y2);
        CHECK(memcmp(y0, y1, sizeof(float) * no) == 0, "%s: fast int8 kernels differ from the portable ones", what);
        CHECK(memcmp(y0, y2 + no, sizeof(float) * no) == 0, "%s: 2 threads, batch 2 differ", what);
    }
    vg_runner_free(rp), vg_runner_free(r1), vg_runner_free(r2);
    free(x), free(y0), free(y1), free(y2);
}

/* The float network gives the same bits whatever the thread count (1, 2, 3) and batch (the
 * second image of a batch of 2): kernels split work in ways that never change what is
 * computed for one output. At 224x224 and at an odd size (row tiles, bands and channel groups
 * cut unevenly everywhere). */
static void check_float_threads(vg_model *m) {
    const int sizes[][2] = {{224, 224}, {75, 61}};
    int h0 = m->input.h, w0 = m->input.w;
    for (int s = 0; s < 2; s++) {
        m->input.h = sizes[s][0], m->input.w = sizes[s][1];
        size_t in = (size_t)m->input.h * m->input.w * m->input.c;
        int no = vg_model_n_outputs(m);
        float *x = malloc(sizeof(float) * 2 * in), *y1 = malloc(sizeof(float) * no);
        float *yt = malloc(sizeof(float) * 2 * no);
        vg_test_seed(32 + s);
        vg_test_fill(x, 2 * in, -1.0f, 1.0f);
        const int runs[][2] = {{1, 1}, {2, 1}, {3, 1}, {2, 2}, {3, 2}}; /* threads, batch */
        for (int k = 0; k < 5; k++) {
            vg_runner_opts o = vg_runner_opts_default();
            o.precision = VG_PRECISION_FLOAT;
            o.threads = runs[k][0], o.batch = runs[k][1];
            vg_runner *r = NULL;
            vg_err err;
            if (vg_runner_init(&r, m, &o, &err) != VG_OK) {
                CHECK(false, "float runner %d threads: %s", o.threads, err.msg);
                continue;
            }
            /* image 1 of x, alone or as the second of the batch */
            vg_runner_forward(r, o.batch == 1 ? x + in : x, k == 0 ? y1 : yt);
            if (k > 0)
                CHECK(memcmp(y1, yt + (size_t)(o.batch - 1) * no, sizeof(float) * no) == 0,
                      "%dx%d float: %d threads, batch %d differ from 1 thread", m->input.h,
                      m->input.w, o.threads, o.batch);
            vg_runner_free(r);
        }
        free(x), free(y1), free(yt);
    }
    m->input.h = h0, m->input.w = w0;
}

static void count_ops(const vg_model *m, int *counts) {
    memset(counts, 0, sizeof(int) * VG_OP_COUNT_);
    for (int i = 0; i < m->g.n_nodes; i++) counts[m->g.nodes[i].op]++;
}

void test_tflite(void) {
    vg_err err;
    const char *p = vg_test_shared("models/mobilenet_v2_1.0_224_quant.tflite");
    if (p) {
        vg_model *m = NULL;
        CHECK(vg_import_tflite(p, &m, &err) == VG_OK, "import: %s", err.msg);
        if (m) {
            int c[VG_OP_COUNT_];
            count_ops(m, c);
            /* DATA.md: CONV_2D 36, DEPTHWISE_CONV_2D 17, ADD 10, AVERAGE_POOL_2D, SOFTMAX */
            CHECK(c[VG_OP_CONV] == 36 && c[VG_OP_DWCONV] == 17 && c[VG_OP_ADD] == 10 &&
                      c[VG_OP_GAP] == 1 && c[VG_OP_SOFTMAX] == 1,
                  "op counts conv %d dw %d add %d gap %d softmax %d", c[VG_OP_CONV],
                  c[VG_OP_DWCONV], c[VG_OP_ADD], c[VG_OP_GAP], c[VG_OP_SOFTMAX]);
            CHECK(m->input.w == 224 && m->input.h == 224, "input %dx%d", m->input.w, m->input.h);
            CHECK(m->input.mean[0] == 128 && m->input.std[0] == 128, "uint8 input: mean %g std %g",
                  m->input.mean[0], m->input.std[0]);
            CHECK(vg_model_n_outputs(m) == 1001, "outputs %d", vg_model_n_outputs(m));
            /* stem: SAME padding, stride 2, ReLU6 fused, 32 outputs */
            const vg_node *n0 = &m->g.nodes[0];
            CHECK(n0->op == VG_OP_CONV && n0->pad_mode == VG_PAD_SAME && n0->sh == 2 &&
                      n0->co == 32 && n0->act == VG_ACT_RELU6,
                  "stem node");
            /* dequantized weights: finite, not all zero, small */
            double sum = 0;
            int bad = 0;
            for (int64_t i = 0; i < m->g.n_params; i++) {
                float v = m->g.params[i];
                bad += !isfinite(v) || fabsf(v) > 1000;
                sum += fabs(v);
            }
            CHECK(bad == 0 && sum > 0, "weights: %d bad, sum %g", bad, sum);
            CHECK(m->g.n_params > 3400000 && m->g.n_params < 3600000, "params %lld",
                  (long long)m->g.n_params);
            const char *src = vg_model_get_meta(m, "source");
            CHECK(src && strcmp(src, "mobilenet_v2_1.0_224_quant.tflite") == 0, "source meta");
            check_float_threads(m);
            const char *lp = vg_test_shared("models/imagenet_labels.txt");
            if (lp) {
                CHECK(vg_model_set_labels_file(m, lp, &err) == VG_OK, "labels: %s", err.msg);
                CHECK(strcmp(vg_model_label(m, 0), "background") == 0 &&
                          strcmp(vg_model_label(m, 1000), "toilet tissue, toilet paper, bathroom tissue") == 0,
                      "label text: '%s' '%s'", vg_model_label(m, 0), vg_model_label(m, 1000));
            }
            /* a label file with the wrong count is refused */
            char bad_labels[700];
            snprintf(bad_labels, sizeof bad_labels, "%s/l.txt", vg_test_tmpdir());
            FILE *f = fopen(bad_labels, "w");
            fputs("fire\nsmoke\n", f);
            fclose(f);
            CHECK(vg_model_set_labels_file(m, bad_labels, &err) == VG_ERR_ARG &&
                      strstr(err.msg, "1001 outputs"),
                  "%s", err.msg);
        }
        vg_model_free(m);
    }
    p = vg_test_shared("models/tf2_mobilenet_v2_1.0_224_ptq.tflite");
    if (p) {
        vg_model *m = NULL;
        CHECK(vg_import_tflite(p, &m, &err) == VG_OK, "import tf2: %s", err.msg);
        if (m) {
            int c[VG_OP_COUNT_];
            count_ops(m, c);
            CHECK(c[VG_OP_DWCONV] == 17 && c[VG_OP_ADD] == 10 && c[VG_OP_GAP] == 1,
                  "tf2 op counts dw %d add %d gap %d", c[VG_OP_DWCONV], c[VG_OP_ADD], c[VG_OP_GAP]);
            /* uint8 input, scale 1/127.5, zero point 127 */
            CHECK(m->input.mean[0] == 127 && fabsf(m->input.std[0] - 127.5f) < 1e-3f,
                  "tf2 input: mean %g std %g", m->input.mean[0], m->input.std[0]);
            check_q8_paths(m, "tf2");
        }
        vg_model_free(m);
    }
    /* not a tflite file */
    vg_model *m = NULL;
    CHECK(vg_import_tflite_mem("0123456789abcdef", 16, "x.tflite", &m, &err) == VG_ERR_FORMAT &&
              strstr(err.msg, "TFL3"),
          "%s", err.msg);
}
