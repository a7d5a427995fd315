/* test_tflite_synth.c — the TFLite importer on small synthetic files written by
 * tools/gen_tflite_fixtures.py (see its header for the exact networks). They cover what the two
 * real MobileNetV2 files in test_tflite.c do not: float32 weights, FULLY_CONNECTED, MEAN, VALID
 * padding, non-square inputs and strides, int8 per-channel weights along dimension 0 (conv) and
 * 3 (depthwise), RESHAPE / SQUEEZE / QUANTIZE / DEQUANTIZE aliases, fused RELU, an int8 graph
 * input; and files that must be refused with a message naming the problem.
 *
 * The expected outputs were computed in float64 numpy from the weights as stored in the files
 * (int8 ones dequantized), so they check the importer's mapping and dequantization end to end
 * through vigie's float forward pass. Tolerance: relative error < 1e-4, as for the PyTorch golden
 * test: float32 accumulation over at most ~100 terms stays far below it, while a wrong scale,
 * channel axis, padding side or stride direction is far above it. Probabilities are compared
 * with a floor of 1e-6, logits with a floor of 1e-2 (a logit near 0 carries the absolute error
 * of its neighbours); logits are checked too because softmax hides an error shared by all
 * classes. */
#include "test.h"

#include "fixture.h"
#include "model/model.h"

#include <string.h>

#define SYNTH_DIR   "tests/fixtures/"
#define SYNTH_TOL   1e-4
#define PROB_FLOOR  1e-6
#define LOGIT_FLOOR 1e-2

static void count_ops(const vg_model *m, int *counts) {
    memset(counts, 0, sizeof(int) * VG_OP_COUNT_);
    for (int i = 0; i < m->g.n_nodes; i++)
        counts[m->g.nodes[i].op]++;
}

/* The node producing tensor t (node i produces tensor i + 1). */
static const vg_node *producer(const vg_model *m, int t) {
    return t >= 1 && t <= m->g.n_nodes ? &m->g.nodes[t - 1] : NULL;
}

/* Runs `m` (batch 1) on the fixture's "<net>.input" and compares "<net>.output"; then, with the
 * graph output moved to the softmax's input, "<net>.logits". */
static void check_forward(vg_model *m, const vg_fixture *fx, const char *net) {
    char name[64];
    snprintf(name, sizeof name, "%s.input", net);
    size_t n_in = (size_t)m->input.h * m->input.w * m->input.c;
    const vg_fx_tensor *in = vg_fixture_get(fx, name, n_in);
    snprintf(name, sizeof name, "%s.output", net);
    int n_out = vg_model_n_outputs(m);
    const vg_fx_tensor *want = vg_fixture_get(fx, name, (size_t)n_out);
    snprintf(name, sizeof name, "%s.logits", net);
    const vg_fx_tensor *want_logits = vg_fixture_get(fx, name, (size_t)n_out);
    CHECK(in && want && want_logits, "%s: fixture tensors missing or of the wrong size", net);
    if (!in || !want || !want_logits) return;
    CHECK(in->ndim == 4 && in->dims[1] == m->input.h && in->dims[2] == m->input.w,
          "%s: fixture input is not (1, %d, %d, 3)", net, m->input.h, m->input.w);

    vg_err err;
    vg_runner_opts ro = vg_runner_opts_default();
    ro.batch = 1;
    float out[16];
    VG_ASSERT(n_out <= 16);
    int output = m->g.output;
    for (int pass = 0; pass < 2; pass++) {
        const vg_fx_tensor *ref = pass == 0 ? want : want_logits;
        if (pass == 1) {
            /* logits: stop at the softmax's input (a model is plain data; restore it after) */
            const vg_node *sm = producer(m, m->g.output);
            CHECK(sm && sm->op == VG_OP_SOFTMAX, "%s: output is not a softmax", net);
            if (!sm || sm->op != VG_OP_SOFTMAX) return;
            m->g.output = sm->in[0];
        }
        vg_runner *r = NULL;
        vg_status st = vg_runner_init(&r, m, &ro, &err);
        CHECK(st == VG_OK, "%s: runner: %s", net, err.msg);
        if (st == VG_OK) {
            memset(out, 0, sizeof out);
            vg_runner_forward(r, in->data, out);
            size_t worst;
            double rel_floor = pass == 0 ? PROB_FLOOR : LOGIT_FLOOR;
            double e = vg_test_max_rel_err(out, ref->data, (size_t)n_out, rel_floor, &worst);
            CHECK(e < SYNTH_TOL, "%s %s: max rel err %.3g at %zu: %.9g vs %.9g", net,
                  pass == 0 ? "probs" : "logits", e, worst, out[worst], ref->data[worst]);
        }
        vg_runner_free(r);
        m->g.output = output;
    }
}

static vg_model *import_ok(const char *file) {
    vg_err err;
    vg_model *m = NULL;
    vg_status st = vg_import_tflite(file, &m, &err);
    CHECK(st == VG_OK && m, "%s: %s", file, err.msg);
    return st == VG_OK ? m : NULL;
}

static void check_tiny_float(const vg_fixture *fx) {
    vg_model *m = import_ok(SYNTH_DIR "tiny_float.tflite");
    if (!m) return;
    int c[VG_OP_COUNT_];
    count_ops(m, c);
    /* CONV, DW, CONV 1x1, ADD, CONV 1x1, MEAN -> GAP, RESHAPE (alias), FC, SOFTMAX */
    CHECK(m->g.n_nodes == 8 && c[VG_OP_CONV] == 3 && c[VG_OP_DWCONV] == 1 && c[VG_OP_ADD] == 1 &&
              c[VG_OP_GAP] == 1 && c[VG_OP_FC] == 1 && c[VG_OP_SOFTMAX] == 1,
          "tiny_float: %d nodes: conv %d dw %d add %d gap %d fc %d softmax %d", m->g.n_nodes,
          c[VG_OP_CONV], c[VG_OP_DWCONV], c[VG_OP_ADD], c[VG_OP_GAP], c[VG_OP_FC],
          c[VG_OP_SOFTMAX]);
    CHECK(m->input.h == 11 && m->input.w == 9 && m->input.c == 3, "tiny_float input %dx%dx%d",
          m->input.h, m->input.w, m->input.c);
    /* float input: pixels map to [-1, 1] */
    CHECK(m->input.mean[0] == 127.5f && m->input.std[2] == 127.5f, "tiny_float: mean %g std %g",
          m->input.mean[0], m->input.std[2]);
    CHECK(vg_model_n_outputs(m) == 5, "tiny_float outputs %d", vg_model_n_outputs(m));
    if (m->g.n_nodes == 8) {
        const vg_node *stem = &m->g.nodes[0], *dw = &m->g.nodes[1], *add = &m->g.nodes[3];
        CHECK(stem->op == VG_OP_CONV && stem->pad_mode == VG_PAD_SAME && stem->sh == 2 &&
                  stem->sw == 2 && stem->co == 7 && stem->act == VG_ACT_RELU6,
              "tiny_float stem: op %d pad %d stride %dx%d co %d act %d", stem->op, stem->pad_mode,
              stem->sh, stem->sw, stem->co, stem->act);
        /* VALID is explicit zero padding */
        CHECK(dw->op == VG_OP_DWCONV && dw->pad_mode == VG_PAD_EXPLICIT && dw->pad[0] == 0 &&
                  dw->pad[1] == 0 && dw->pad[2] == 0 && dw->pad[3] == 0 && dw->act == VG_ACT_RELU,
              "tiny_float dw: op %d pad mode %d act %d", dw->op, dw->pad_mode, dw->act);
        /* the residual reads the depthwise output (tensor 2) and the 1x1 conv (tensor 3) */
        CHECK(add->op == VG_OP_ADD && add->act == VG_ACT_RELU &&
                  ((add->in[0] == 3 && add->in[1] == 2) || (add->in[0] == 2 && add->in[1] == 3)),
              "tiny_float add: op %d act %d inputs %d %d", add->op, add->act, add->in[0],
              add->in[1]);
    }
    check_forward(m, fx, "tiny_float");
    vg_model_free(m);
}

/* Both int8 files hold the same network: uint8 input + QUANTIZE, or an int8 input directly. */
static void check_tiny_int8(const vg_fixture *fx, const char *file) {
    vg_model *m = import_ok(file);
    if (!m) return;
    int c[VG_OP_COUNT_];
    count_ops(m, c);
    /* QUANTIZE, SQUEEZE, DEQUANTIZE and the final QUANTIZE are aliases */
    CHECK(m->g.n_nodes == 8 && c[VG_OP_CONV] == 3 && c[VG_OP_DWCONV] == 1 && c[VG_OP_ADD] == 1 &&
              c[VG_OP_GAP] == 1 && c[VG_OP_FC] == 1 && c[VG_OP_SOFTMAX] == 1,
          "%s: %d nodes: conv %d dw %d add %d gap %d fc %d softmax %d", file, m->g.n_nodes,
          c[VG_OP_CONV], c[VG_OP_DWCONV], c[VG_OP_ADD], c[VG_OP_GAP], c[VG_OP_FC],
          c[VG_OP_SOFTMAX]);
    CHECK(m->input.h == 10 && m->input.w == 13, "%s input %dx%d", file, m->input.h, m->input.w);
    /* uint8 input: scale 1/64, zero 120 -> mean 120, std 64. int8 input: zero -8, and vigie
     * feeds q = p - 128, so the mean is -8 + 128 = 120 again. Both exact in float. */
    CHECK(m->input.mean[0] == 120.0f && m->input.mean[2] == 120.0f && m->input.std[1] == 64.0f,
          "%s: mean %g std %g (expected 120, 64)", file, m->input.mean[0], m->input.std[1]);
    CHECK(vg_model_n_outputs(m) == 4, "%s outputs %d", file, vg_model_n_outputs(m));
    if (m->g.n_nodes == 8) {
        const vg_node *stem = &m->g.nodes[0], *dw = &m->g.nodes[1];
        /* non-square stride: height 1, width 2 */
        CHECK(stem->op == VG_OP_CONV && stem->sh == 1 && stem->sw == 2 && stem->co == 6 &&
                  stem->pad_mode == VG_PAD_SAME,
              "%s stem: stride %dx%d co %d", file, stem->sh, stem->sw, stem->co);
        CHECK(dw->op == VG_OP_DWCONV && dw->sh == 2 && dw->sw == 2 && dw->act == VG_ACT_RELU6,
              "%s dw: stride %dx%d act %d", file, dw->sh, dw->sw, dw->act);
    }
    check_forward(m, fx, "tiny_int8");

    /* the uint8 pixels, normalised by the imported spec, are the network's int8 input
     * dequantized: scale * (p - zero). Exact with these values. */
    const vg_fx_tensor *px = vg_fixture_get(fx, "tiny_int8.pixels", 10 * 13 * 3);
    const vg_fx_tensor *in = vg_fixture_get(fx, "tiny_int8.input", 10 * 13 * 3);
    vg_image img = {13, 10, malloc(10 * 13 * 3)};
    float x[10 * 13 * 3];
    if (px && in && img.rgb) {
        for (int i = 0; i < 10 * 13 * 3; i++)
            img.rgb[i] = (uint8_t)px->data[i];
        vg_err err;
        vg_status st = vg_image_to_input(&img, &m->input, x, (size_t)m->input.w * m->input.h * 3, &err);
        CHECK(st == VG_OK, "%s: image to input: %s", file, err.msg);
        size_t worst;
        double e = vg_test_max_rel_err(x, in->data, 10 * 13 * 3, 1.0, &worst);
        CHECK(st != VG_OK || e < 1e-6, "%s: normalised pixels differ by %.3g at %zu", file, e,
              worst);
    }
    free(img.rgb);
    vg_model_free(m);
}

/* file, expected status, a phrase the message must contain */
static const struct {
    const char *file;
    vg_status status;
    const char *needle;
} refusals[] = {
    {"bad_maxpool.tflite", VG_ERR_UNSUPPORTED, "MAX_POOL_2D"},
    {"bad_dilation.tflite", VG_ERR_UNSUPPORTED, "dilat"},
    {"bad_multiplier.tflite", VG_ERR_UNSUPPORTED, "multiplier 2"},
    {"bad_conv_channels.tflite", VG_ERR_FORMAT, "expects 5 input channels, not 3"},
    {"bad_two_subgraphs.tflite", VG_ERR_UNSUPPORTED, "2 subgraphs"},
    {"bad_mean_axes.tflite", VG_ERR_UNSUPPORTED, "MEAN"},
    {"bad_reshape_spatial.tflite", VG_ERR_UNSUPPORTED, "RESHAPE of a spatial tensor"},
};

static void check_refusals(void) {
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, SYNTH_DIR "%s", refusals[i].file);
        vg_err err;
        memset(&err, 0, sizeof err);
        vg_model *m = NULL;
        vg_status st = vg_import_tflite(path, &m, &err);
        CHECK(st == refusals[i].status && m == NULL, "%s: status %s (expected %s), message: %s",
              refusals[i].file, vg_status_name(st), vg_status_name(refusals[i].status), err.msg);
        CHECK(strstr(err.msg, refusals[i].needle) && strstr(err.msg, refusals[i].file),
              "%s: message lacks '%s' or the file name: %s", refusals[i].file, refusals[i].needle,
              err.msg);
        if (st == VG_OK) vg_model_free(m);
    }
}

/* Every prefix of a tiny file is refused as corrupt (the real files in test_corrupt.c get 23
 * cut points; these are small enough for all of them), and every single-byte flip either
 * imports into a model that runs or is refused with a message; under make SAN=1 neither may
 * touch memory it should not. */
static void check_damage(const char *file) {
    uint8_t *data;
    size_t size;
    vg_err err;
    if (vg_file_read(file, 1 << 20, &data, &size, &err) != VG_OK) {
        CHECK(false, "%s", err.msg);
        return;
    }
    uint8_t *copy = malloc(size);
    VG_ASSERT(copy);
    size_t cut_bad = 0;
    for (size_t k = 0; k < size; k++) {
        memcpy(copy, data, k);
        vg_model *m = NULL;
        err.msg[0] = 0;
        vg_status st = vg_import_tflite_mem(copy, k, "cut.tflite", &m, &err);
        if (st != VG_ERR_FORMAT || m || !strstr(err.msg, "TFL")) {
            /* one line for the first offender, a count for the rest */
            if (cut_bad++ == 0)
                CHECK(false, "%s cut to %zu bytes: %s: %s", file, k, vg_status_name(st), err.msg);
        }
        vg_model_free(m);
    }
    CHECK(cut_bad == 0, "%s: %zu of %zu truncations not refused as corrupt", file, cut_bad, size);
    int refused = 0, silent = 0;
    for (size_t k = 0; k < size; k++) {
        memcpy(copy, data, size);
        copy[k] ^= 0xA5;
        vg_model *m = NULL;
        err.msg[0] = 0;
        vg_status st = vg_import_tflite_mem(copy, size, "flip.tflite", &m, &err);
        if (st == VG_OK) {
            vg_runner *r = NULL;
            if (vg_runner_init(&r, m, NULL, &err) == VG_OK) {
                size_t n = (size_t)m->input.h * m->input.w * m->input.c;
                float *in = calloc(n, sizeof(float));
                float *out = calloc((size_t)vg_model_n_outputs(m), sizeof(float));
                if (in && out) vg_runner_forward(r, in, out);
                free(in);
                free(out);
            }
            vg_runner_free(r);
        } else {
            refused++;
            silent += m != NULL || err.msg[0] == 0;
        }
        vg_model_free(m);
    }
    printf("  %s: %d of %zu byte flips refused\n", file, refused, size);
    CHECK(silent == 0, "%s: %d byte flips refused without a message", file, silent);
    free(copy);
    free(data);
}

void test_tflite_synth(void) {
    vg_fixture fx;
    if (vg_fixture_load(SYNTH_DIR "tflite_synth_expected.bin", &fx) != 0) {
        CHECK(false, "cannot load " SYNTH_DIR "tflite_synth_expected.bin");
        return;
    }
    check_tiny_float(&fx);
    check_tiny_int8(&fx, SYNTH_DIR "tiny_int8.tflite");
    check_tiny_int8(&fx, SYNTH_DIR "tiny_int8_in.tflite");
    check_refusals();
    check_damage(SYNTH_DIR "tiny_float.tflite");
    check_damage(SYNTH_DIR "tiny_int8.tflite");
    vg_fixture_free(&fx);
}

/* tiny_q8.tflite: the int8 network entirely in int8 (int8 softmax), so vigie keeps its int8 form.
 * The integer path must reproduce the float64 reference of the dequantized network closely
 * (int8 rounding of every activation: probabilities within 0.05, the same top class), survive
 * a .vgm round trip bit for bit, and a damaged int8 chunk (valid CRC) must be refused. */
void test_tflite_q8(void);
void test_tflite_q8(void) {
    vg_err err;
    vg_model *m = NULL;
    if (vg_import_tflite("tests/fixtures/tiny_q8.tflite", &m, &err) != VG_OK) {
        CHECK(false, "import tiny_q8: %s", err.msg);
        return;
    }
    CHECK(m->q != NULL, "tiny_q8 has no int8 form");
    vg_fixture fx;
    if (!m->q || vg_fixture_load("tests/fixtures/tflite_synth_expected.bin", &fx) != 0) {
        vg_model_free(m);
        return;
    }
    const vg_fx_tensor *in = vg_fixture_get(&fx, "tiny_int8.input", 0);
    const vg_fx_tensor *want = vg_fixture_get(&fx, "tiny_int8.output", 0);
    int nc = vg_model_n_outputs(m);
    if (in && want && (int)want->count == nc) {
        vg_runner_opts o8 = {1, 1, VG_PRECISION_INT8, 0, NULL}, of = {1, 1, VG_PRECISION_FLOAT, 0, NULL};
        vg_runner *r8 = NULL, *rf = NULL;
        CHECK(vg_runner_init(&r8, m, &o8, &err) == VG_OK && vg_runner_is_int8(r8), "int8 runner: %s", err.msg);
        CHECK(vg_runner_init(&rf, m, &of, &err) == VG_OK && !vg_runner_is_int8(rf), "float runner");
        float p8[16], pf[16];
        vg_runner_forward(r8, in->data, p8);
        vg_runner_forward(rf, in->data, pf);
        int a8 = 0, aw = 0;
        double worst = 0;
        for (int i = 0; i < nc; i++) {
            worst = fmax(worst, fabs(p8[i] - want->data[i]));
            if (p8[i] > p8[a8]) a8 = i;
            if (want->data[i] > want->data[aw]) aw = i;
        }
        CHECK(worst < 0.05 && a8 == aw, "int8 path: max prob error %.3f, top class %d vs %d", worst, a8, aw);
        CHECK(vg_test_max_rel_err(pf, want->data, (size_t)nc, 1e-6, NULL) < 1e-4, "float path of tiny_q8");
        /* round trip through a .vgm keeps the int8 form and its outputs exactly */
        char path[700];
        snprintf(path, sizeof path, "%s/q8.vgm", vg_test_tmpdir());
        vg_model *l = NULL;
        CHECK(vg_model_save(m, path, &err) == VG_OK && vg_model_load(path, &l, &err) == VG_OK && l->q,
              "int8 round trip: %s", err.msg);
        if (l) {
            vg_runner *rl = NULL;
            float pl[16];
            vg_runner_init(&rl, l, &o8, NULL);
            vg_runner_forward(rl, in->data, pl);
            CHECK(memcmp(pl, p8, sizeof(float) * (size_t)nc) == 0, "int8 outputs changed by the round trip");
            vg_runner_free(rl);
            vg_model_free(l);
        }
        /* a hostile int8 chunk behind a valid checksum is refused */
        vg_wr w = {0};
        vg_model_serialize(m, &w, NULL);
        size_t at = 0;
        for (size_t i = 16; i + 20 < w.n; i++)
            if (memcmp(w.p + i, "QGRF", 4) == 0) at = i + 16;
        CHECK(at > 0, "QGRF chunk written");
        if (at) {
            /* first node's weight offset (after 2 counts and the tensor params) -> far away */
            uint32_t nt = vg_load_u32(w.p + at);
            size_t off = at + 8 + (size_t)nt * 8;
            for (int k = 0; k < 8; k++) w.p[off + k] = k == 3 ? 0x7f : 0;
            uint32_t crc = vg_crc32(w.p, w.n - 4);
            for (int k = 0; k < 4; k++) w.p[w.n - 4 + k] = (uint8_t)(crc >> (8 * k));
            vg_model *h = NULL;
            CHECK(vg_model_parse(w.p, w.n, "h.vgm", &h, &err) == VG_ERR_FORMAT && strstr(err.msg, "int8"),
                  "hostile int8 chunk: %s", err.msg);
            vg_model_free(h);
        }
        vg_wr_free(&w);
        vg_runner_free(r8);
        vg_runner_free(rf);
    }
    vg_fixture_free(&fx);
    vg_model_free(m);
}
