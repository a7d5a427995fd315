/* test_calib.c — post-training int8 quantization: calibrators, the calibration table (save,
 * reload, refused for another model), bias correction, and a quantized model against its float
 * original. */
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compress/calib.h"
#include "model/runner.h"

/* a small MobileNetV2-shaped classifier: stem, one inverted residual block, head */
static vg_model *small_net(uint64_t seed) {
    vg_model *m = vg_model_new();
    m->input.h = 17, m->input.w = 14;
    vg_graph *g = &m->g;
    int x = vg_graph_conv(g, 0, 3, 8, 3, 3, 2, VG_PAD_SAME, NULL, true, VG_ACT_RELU6);
    int pad[4] = {1, 1, 1, 1};
    int y = vg_graph_conv(g, x, 8, 24, 1, 1, 1, VG_PAD_EXPLICIT, NULL, true, VG_ACT_RELU6);
    y = vg_graph_dwconv(g, y, 24, 3, 3, 1, VG_PAD_EXPLICIT, pad, true, VG_ACT_RELU6);
    y = vg_graph_conv(g, y, 24, 8, 1, 1, 1, VG_PAD_EXPLICIT, NULL, true, VG_ACT_NONE);
    y = vg_graph_add(g, x, y, VG_ACT_NONE);
    y = vg_graph_conv(g, y, 8, 40, 1, 1, 1, VG_PAD_EXPLICIT, NULL, true, VG_ACT_RELU6);
    y = vg_graph_gap(g, y);
    int logits = vg_graph_fc(g, y, 40, 5, true, VG_ACT_NONE);
    vg_graph_softmax(g, logits);
    vg_test_seed(seed);
    vg_test_fill(g->params, (size_t)g->n_params, -0.4f, 0.4f);
    /* a decisive head, so that top-1 is not a near tie on most inputs */
    const vg_node *fc = &g->nodes[g->n_nodes - 2];
    for (int i = 0; i < 40 * 5; i++) g->params[fc->w + i] *= 12.0f;
    return m;
}

typedef struct {
    size_t n;
    uint64_t seed;
    float lo, hi;
} fetch_ctx;

static vg_status fetch(void *ud, int i, float *input, vg_err *err) {
    fetch_ctx *c = ud;
    vg_test_seed(c->seed + (uint64_t)i);
    vg_test_fill(input, c->n, c->lo, c->hi);
    return VG_OK;
}

static void check_entropy(void) {
    /* a half-normal bulk with a few far outliers: the threshold clips the outliers, keeps the
     * bulk */
    enum { B = 2048 };
    double h[B] = {0};
    for (int i = 0; i < B; i++) {
        double x = (i + 0.5) / B * 20.0; /* amax = 20 */
        h[i] = 1e6 * exp(-0.5 * x * x);
    }
    h[B - 1] += 3; /* three values at 20 */
    float t = vg_calib_entropy_threshold(h, B, 20.0f, 128);
    CHECK(t > 2.5f && t < 10.0f, "entropy threshold %g outside (2.5, 10) for a unit half-normal", t);
    /* uniform data: nothing to clip */
    for (int i = 0; i < B; i++) h[i] = 100;
    t = vg_calib_entropy_threshold(h, B, 5.0f, 128);
    CHECK(t > 4.9f, "uniform histogram: threshold %g should keep the full range 5", t);
}

static void check_round_trip(void) {
    /* quantize/dequantize of values inside the range: within half a step */
    vg_qparam p = {0.0371f, -17};
    double worst = 0;
    for (int i = 0; i < 2000; i++) {
        float x = p.scale * (-128 - p.zp) + (float)i / 1999.0f * 255.0f * p.scale;
        double e = fabs(vg_dequantize1(vg_quantize1(x, p), p) - x);
        if (e > worst) worst = e;
    }
    CHECK(worst <= 0.5 * p.scale * (1 + 1e-5), "round trip error %g > half a step %g", worst,
          0.5 * p.scale);
}

static double run_error(vg_model *m, fetch_ctx *fc, int n_img, double *top1_agree) {
    vg_runner *rf = NULL, *rq = NULL;
    vg_err err;
    vg_runner_opts of = vg_runner_opts_default(), oq = of;
    of.precision = VG_PRECISION_FLOAT;
    oq.precision = VG_PRECISION_INT8;
    if (vg_runner_init(&rf, m, &of, &err) != VG_OK || vg_runner_init(&rq, m, &oq, &err) != VG_OK) {
        CHECK(false, "runner: %s", err.msg);
        vg_runner_free(rf);
        return INFINITY;
    }
    float *in = malloc(sizeof(float) * fc->n), pf[5], pq[5];
    double worst = 0;
    int agree = 0, decided = 0;
    for (int i = 0; i < n_img; i++) {
        fetch(fc, 1000 + i, in, &err); /* images not used for calibration */
        vg_runner_forward(rf, in, pf);
        vg_runner_forward(rq, in, pq);
        int bf = 0, bq = 0;
        for (int k = 0; k < 5; k++) {
            double e = fabs(pf[k] - pq[k]);
            if (e > worst) worst = e;
            if (pf[k] > pf[bf]) bf = k;
            if (pq[k] > pq[bq]) bq = k;
        }
        /* agreement where the float model is not near a tie (random nets often are) */
        float second = -1;
        for (int k = 0; k < 5; k++)
            if (k != bf && pf[k] > second) second = pf[k];
        if (pf[bf] - second >= 0.05f) agree += bf == bq, decided++;
    }
    free(in);
    vg_runner_free(rf), vg_runner_free(rq);
    *top1_agree = decided ? (double)agree / decided : 1;
    CHECK(decided >= n_img / 4, "only %d of %d images decided", decided, n_img);
    return worst;
}

static void check_quantized_net(void) {
    for (int kind = 0; kind <= VG_CALIB_ENTROPY; kind++) {
        vg_model *m = small_net(3);
        fetch_ctx fc = {(size_t)17 * 14 * 3, 77, -1.0f, 1.0f};
        vg_calib_table t;
        vg_err err;
        vg_status st = vg_calibrate(m, 100, fetch, &fc, (vg_calibrator)kind, 99.99f, 1, NULL, NULL, &t, &err);
        CHECK(st == VG_OK, "calibrate %s: %s", vg_calibrator_name((vg_calibrator)kind), err.msg);
        if (st != VG_OK) {
            vg_model_free(m);
            continue;
        }
        for (int i = 0; i < t.n_tensors; i++)
            CHECK(t.lo[i] <= 0 && t.hi[i] > 0 && t.lo[i] >= fminf(t.min[i], 0) - 1e-6f && t.hi[i] <= fmaxf(t.max[i], 0) + 1e-6f,
                  "%s: tensor %d range [%g, %g] vs observed [%g, %g]",
                  vg_calibrator_name((vg_calibrator)kind), i, t.lo[i], t.hi[i], t.min[i], t.max[i]);
        if (kind == VG_CALIB_MINMAX)
            CHECK(t.lo[1] == 0 && t.hi[1] == t.max[1], "minmax: ReLU6 tensor range [%g, %g], max %g",
                  t.lo[1], t.hi[1], t.max[1]);
        st = vg_model_quantize(m, &t, true, &err);
        CHECK(st == VG_OK, "quantize: %s", err.msg);
        if (st == VG_OK) {
            double agree = 0;
            double worst = run_error(m, &fc, 40, &agree);
            CHECK(worst < 0.12, "%s: int8 probabilities differ from float by %g",
                  vg_calibrator_name((vg_calibrator)kind), worst);
            CHECK(agree >= 0.95, "%s: top-1 agreement %.2f", vg_calibrator_name((vg_calibrator)kind), agree);
            /* weights within half a step of the float ones, per channel */
            const vg_qgraph *q = m->q;
            const vg_node *nd = &m->g.nodes[1]; /* 1x1 expand conv 8 -> 24 */
            double wworst = 0;
            for (int i = 0; i < 24 * 8; i++) {
                float s = q->ws[q->s_off[1] + i / 8];
                double e = fabs(q->w8[q->w_off[1] + i] * s - m->g.params[nd->w + i]) / s;
                if (e > wworst) wworst = e;
            }
            CHECK(wworst <= 0.5 + 1e-4, "weight rounding error %g steps", wworst);
        }
        vg_calib_table_free(&t);
        vg_model_free(m);
    }
}

static void check_table_file(void) {
    vg_model *m = small_net(4), *other = small_net(5);
    fetch_ctx fc = {(size_t)17 * 14 * 3, 9, -1.0f, 1.0f};
    vg_calib_table t, u;
    vg_err err;
    if (vg_calibrate(m, 8, fetch, &fc, VG_CALIB_ENTROPY, 0, 1, NULL, NULL, &t, &err) != VG_OK) {
        CHECK(false, "calibrate: %s", err.msg);
        return;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/m.calib", vg_test_tmpdir());
    CHECK(vg_calib_table_save(&t, path, &err) == VG_OK, "save: %s", err.msg);
    vg_status st = vg_calib_table_load(path, vg_model_hash(m), &u, &err);
    CHECK(st == VG_OK, "load: %s", err.msg);
    if (st == VG_OK) {
        bool same = u.n_tensors == t.n_tensors && u.n_mean == t.n_mean;
        for (int i = 0; same && i < t.n_tensors; i++)
            same = u.lo[i] == t.lo[i] && u.hi[i] == t.hi[i] && u.mean_off[i] == t.mean_off[i];
        for (int64_t i = 0; same && i < t.n_mean; i++) same = fabs(u.mean[i] - t.mean[i]) <= 1e-7 * (1 + fabs(t.mean[i]));
        CHECK(same, "table differs after save + load");
        vg_calib_table_free(&u);
    }
    CHECK(vg_model_hash(m) != vg_model_hash(other), "two models hash alike");
    st = vg_calib_table_load(path, vg_model_hash(other), &u, &err);
    CHECK(st == VG_ERR_ARG && strstr(err.msg, "another model"), "table accepted for another model: %s",
          st == VG_OK ? "ok" : err.msg);
    /* damaged: truncated at several places, a bad number */
    uint8_t *data;
    size_t size;
    if (vg_file_read(path, 1 << 24, &data, &size, &err) == VG_OK) {
        int clean = 0, tries = 0;
        for (size_t cut = 5; cut < size; cut += size / 13 + 1) {
            vg_file_write_atomic(path, data, cut, &err);
            tries++;
            st = vg_calib_table_load(path, 0, &u, &err);
            if (st == VG_ERR_FORMAT) clean++;
            else if (st == VG_OK) vg_calib_table_free(&u);
        }
        CHECK(clean == tries, "%d of %d truncated tables refused", clean, tries);
        free(data);
    }
    vg_calib_table_free(&t);
    vg_model_free(m), vg_model_free(other);
}

/* one conv layer fed by inputs with a large mean: the weight-rounding shift is then mostly
 * E[x] x dw, which bias correction removes */
static void check_bias_correction(void) {
    double err_bc[2];
    for (int bc = 0; bc < 2; bc++) {
        vg_model *m = vg_model_new();
        m->input.h = 9, m->input.w = 9;
        vg_graph *g = &m->g;
        int y = vg_graph_conv(g, 0, 3, 16, 1, 1, 1, VG_PAD_EXPLICIT, NULL, true, VG_ACT_NONE);
        (void)y;
        vg_test_seed(21);
        vg_test_fill(g->params, (size_t)g->n_params, -1.0f, 1.0f);
        /* weights of very different sizes per channel: the small ones round coarsely */
        for (int i = 0; i < 16 * 3; i++)
            if (i % 3 != 0) g->params[i] *= 0.02f;
        fetch_ctx fc = {9 * 9 * 3, 31, 20.0f, 21.0f};
        vg_calib_table t;
        vg_err err;
        if (vg_calibrate(m, 16, fetch, &fc, VG_CALIB_MINMAX, 0, 1, NULL, NULL, &t, &err) != VG_OK ||
            vg_model_quantize(m, &t, bc == 1, &err) != VG_OK) {
            CHECK(false, "calibrate/quantize: %s", err.msg);
            vg_model_free(m);
            return;
        }
        vg_runner *rf = NULL, *rq = NULL;
        vg_runner_opts of = vg_runner_opts_default(), oq = of;
        of.precision = VG_PRECISION_FLOAT, oq.precision = VG_PRECISION_INT8;
        vg_runner_init(&rf, m, &of, &err);
        vg_runner_init(&rq, m, &oq, &err);
        float in[243], yf[9 * 9 * 16], yq[9 * 9 * 16];
        double mean_err[16] = {0};
        for (int i = 0; i < 16; i++) {
            fetch(&fc, i, in, &err);
            vg_runner_forward(rf, in, yf);
            vg_runner_forward(rq, in, yq);
            for (int k = 0; k < 81 * 16; k++) mean_err[k % 16] += (yq[k] - yf[k]) / (81.0 * 16);
        }
        double s = 0;
        for (int c = 0; c < 16; c++) s += fabs(mean_err[c]);
        err_bc[bc] = s / 16;
        vg_runner_free(rf), vg_runner_free(rq);
        vg_calib_table_free(&t);
        vg_model_free(m);
    }
    CHECK(err_bc[1] < 0.5 * err_bc[0], "bias correction: mean output shift %g with, %g without",
          err_bc[1], err_bc[0]);
}

/* int8 outputs of m for one input: fast kernels or portable ones */
static void forward_q8(const vg_model *m, bool portable, const float *in, float *out) {
    vg_runner *r = NULL;
    vg_runner_opts o = vg_runner_opts_default();
    o.precision = VG_PRECISION_INT8;
    vg_err err;
    vg_status st = portable ? vg_runner_init_portable(&r, m, &o, &err) : vg_runner_init(&r, m, &o, &err);
    CHECK(st == VG_OK, "int8 runner: %s", err.msg);
    if (st == VG_OK) vg_runner_forward(r, in, out);
    vg_runner_free(r);
}

/* vigie's quantizer picks the single rounding; the rule is kept by .vgm and .vge files, a file
 * without it (as earlier versions wrote) means TFLite's, and a foreign value is refused */
static void check_rounding_rule(void) {
    vg_model *m = small_net(6);
    fetch_ctx fc = {(size_t)17 * 14 * 3, 41, -1.0f, 1.0f};
    vg_calib_table t;
    vg_err err;
    if (vg_calibrate(m, 8, fetch, &fc, VG_CALIB_MINMAX, 0, 1, NULL, NULL, &t, &err) != VG_OK ||
        vg_model_quantize(m, &t, true, &err) != VG_OK) {
        CHECK(false, "calibrate/quantize: %s", err.msg);
        vg_model_free(m);
        return;
    }
    vg_calib_table_free(&t);
    CHECK(m->q->rounding == VG_Q8_ROUND_SINGLE, "quantizer rounding %d", m->q->rounding);
    float in[17 * 14 * 3], y0[5], y1[5];
    fetch(&fc, 500, in, &err);
    forward_q8(m, false, in, y0);
    forward_q8(m, true, in, y1);
    CHECK(memcmp(y0, y1, sizeof y0) == 0, "single rounding: fast int8 kernels differ from the portable ones");
    for (int eng = 0; eng < 2; eng++) {
        vg_wr w = {0};
        CHECK((eng ? vg_engine_serialize(m, &w, NULL, &err) : vg_model_serialize(m, &w, &err)) == VG_OK,
              "serialize: %s", err.msg);
        size_t at = 0; /* the int8 chunk's tag */
        for (size_t i = 16; i + 16 <= w.n; i++)
            if (memcmp(w.p + i, eng ? "QENG" : "QGRF", 4) == 0) at = i;
        CHECK(at > 0, "int8 chunk written");
        if (!at) {
            vg_wr_free(&w);
            continue;
        }
        size_t end = at + 16 + (size_t)vg_load_u64(w.p + at + 8);
        CHECK(vg_load_u32(w.p + end - 4) == VG_Q8_ROUND_SINGLE, "rounding rule not at the chunk's end");
        vg_model *l = NULL;
        CHECK(vg_model_parse(w.p, w.n, "r.vgm", &l, &err) == VG_OK && l->q && l->q->rounding == VG_Q8_ROUND_SINGLE,
              "round trip (engine %d): %s", eng, err.msg);
        if (l) {
            forward_q8(l, false, in, y1);
            CHECK(memcmp(y0, y1, sizeof y0) == 0, "int8 outputs changed by the round trip (engine %d)", eng);
        }
        vg_model_free(l);
        /* a foreign rule value is refused */
        for (uint32_t bad = 0; bad < 3; bad += 2) {
            vg_wr h = {0};
            vg_wr_bytes(&h, w.p, w.n);
            for (int k = 0; k < 4; k++) h.p[end - 4 + k] = (uint8_t)(bad >> (8 * k));
            uint32_t crc = vg_crc32(h.p, h.n - 4);
            for (int k = 0; k < 4; k++) h.p[h.n - 4 + k] = (uint8_t)(crc >> (8 * k));
            l = NULL;
            CHECK(vg_model_parse(h.p, h.n, "r.vgm", &l, &err) == VG_ERR_FORMAT && strstr(err.msg, "rounding"),
                  "rounding rule %u accepted: %s", bad, err.msg);
            vg_model_free(l);
            vg_wr_free(&h);
        }
        /* without the field: an earlier version's file, TFLite's rule */
        vg_wr h = {0};
        vg_wr_bytes(&h, w.p, end - 4);
        vg_wr_bytes(&h, w.p + end, w.n - end);
        uint64_t len = vg_load_u64(w.p + at + 8) - 4;
        for (int k = 0; k < 8; k++) h.p[at + 8 + k] = (uint8_t)(len >> (8 * k));
        uint32_t crc = vg_crc32(h.p, h.n - 4);
        for (int k = 0; k < 4; k++) h.p[h.n - 4 + k] = (uint8_t)(crc >> (8 * k));
        l = NULL;
        CHECK(vg_model_parse(h.p, h.n, "r.vgm", &l, &err) == VG_OK && l->q && l->q->rounding == VG_Q8_ROUND_TFLITE,
              "file without a rounding rule (engine %d): %s", eng, err.msg);
        vg_model_free(l);
        vg_wr_free(&h);
        vg_wr_free(&w);
    }
    vg_model_free(m);
}

static void check_refusals(void) {
    vg_model *m = vg_model_new();
    m->input.h = 8, m->input.w = 8;
    int y = vg_graph_conv(&m->g, 0, 3, 4, 1, 1, 1, VG_PAD_EXPLICIT, NULL, false, VG_ACT_NONE);
    vg_graph_bn(&m->g, y, 4, 1e-3f, VG_ACT_RELU);
    for (int i = 0; i < m->g.n_params; i++) m->g.params[i] = 1.0f;
    fetch_ctx fc = {8 * 8 * 3, 1, 0, 1};
    vg_calib_table t;
    vg_err err;
    vg_status st = vg_calibrate(m, 2, fetch, &fc, VG_CALIB_MINMAX, 0, 1, NULL, NULL, &t, &err);
    CHECK(st == VG_OK, "calibrate: %s", err.msg);
    if (st == VG_OK) {
        st = vg_model_quantize(m, &t, true, &err);
        CHECK(st == VG_ERR_UNSUPPORTED && strstr(err.msg, "fold"), "BN graph quantized: %s",
              st == VG_OK ? "ok" : err.msg);
        CHECK(m->q == NULL, "failed quantization left an int8 form");
        vg_calib_table_free(&t);
    }
    st = vg_calibrate(m, 2, fetch, &fc, VG_CALIB_PERCENTILE, 20.0f, 1, NULL, NULL, &t, &err);
    CHECK(st == VG_ERR_ARG, "percentile 20 accepted");
    vg_model_free(m);
}

void test_calib(void) {
    check_entropy();
    check_round_trip();
    check_quantized_net();
    check_table_file();
    check_bias_correction();
    check_rounding_rule();
    check_refusals();
}
