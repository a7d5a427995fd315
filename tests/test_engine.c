/* test_engine.c — the engine file (.vge): lossless round trips of float, clustered, sparse and
 * int8 models (same outputs bit for bit), each encoding chosen where it is smallest, and
 * hostile engine files (truncated, flipped bytes, bad segments) refused cleanly. */
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compress/calib.h"
#include "compress/cluster.h"
#include "model/model.h"
#include "model/runner.h"

static vg_model *net(void) {
    vg_model *m = vg_model_new();
    m->input.h = 15, m->input.w = 13;
    vg_graph *g = &m->g;
    int x = vg_graph_conv(g, 0, 3, 16, 3, 3, 2, VG_PAD_SAME, NULL, true, VG_ACT_RELU6);
    int pad[4] = {1, 1, 1, 1};
    int y = vg_graph_conv(g, x, 16, 48, 1, 1, 1, VG_PAD_EXPLICIT, NULL, true, VG_ACT_RELU6);
    y = vg_graph_dwconv(g, y, 48, 3, 3, 1, VG_PAD_EXPLICIT, pad, true, VG_ACT_RELU6);
    y = vg_graph_conv(g, y, 48, 16, 1, 1, 1, VG_PAD_EXPLICIT, NULL, true, VG_ACT_NONE);
    y = vg_graph_add(g, x, y, VG_ACT_NONE);
    y = vg_graph_gap(g, y);
    int l = vg_graph_fc(g, y, 16, 3, true, VG_ACT_NONE);
    vg_graph_softmax(g, l);
    vg_test_seed(8);
    vg_test_fill(g->params, (size_t)g->n_params, -0.5f, 0.5f);
    const char *labels[] = {"fire", "neutral", "smoke"};
    vg_model_set_labels(m, labels, 3, NULL);
    return m;
}

static void outputs(const vg_model *m, int prec, float *y) {
    vg_runner *r = NULL;
    vg_err err;
    vg_runner_opts o = vg_runner_opts_default();
    o.precision = prec;
    if (vg_runner_init(&r, m, &o, &err) != VG_OK) {
        CHECK(false, "runner: %s", err.msg);
        return;
    }
    /* sized by the model: a byte flip can leave a valid model with another input size */
    size_t n = (size_t)m->input.h * m->input.w * m->input.c;
    int C = vg_model_n_outputs(m);
    float *x = malloc(sizeof(float) * n), *o3 = malloc(sizeof(float) * (size_t)(C > 3 ? C : 3));
    for (int i = 0; x && o3 && i < 4; i++) {
        vg_test_seed(100 + (uint64_t)i);
        vg_test_fill(x, n, -1, 1);
        vg_runner_forward(r, x, o3);
        memcpy(y + 3 * i, o3, sizeof(float) * 3);
    }
    free(x), free(o3);
    vg_runner_free(r);
}

static vg_model *round_trip(const vg_model *m, vg_engine_sizes *sz, vg_wr *keep) {
    vg_wr w = {0};
    vg_err err;
    vg_model *l = NULL;
    vg_status st = vg_engine_serialize(m, &w, sz, &err);
    CHECK(st == VG_OK, "engine serialize: %s", err.msg);
    if (st == VG_OK) {
        st = vg_model_parse(w.p, w.n, "t.vge", &l, &err);
        CHECK(st == VG_OK, "engine parse: %s", err.msg);
        CHECK(sz->total == (int64_t)w.n, "size accounting %lld vs %zu bytes", (long long)sz->total, w.n);
        /* the loader counts where the bytes went as the writer did (vigie info) */
        if (st == VG_OK) {
            const vg_engine_sizes *e = &l->eng;
            CHECK(e->total == sz->total && e->f32 == sz->f32 && e->i8 == sz->i8 && e->cluster == sz->cluster &&
                      e->f32_layers == sz->f32_layers && e->i8_layers == sz->i8_layers &&
                      e->cluster_layers == sz->cluster_layers && e->sparse_layers == sz->sparse_layers &&
                      e->huff_layers == sz->huff_layers,
                  "read sizes %lld/%lld/%lld/%lld (layers %d/%d/%d/%d/%d) vs written %lld/%lld/%lld/%lld "
                  "(%d/%d/%d/%d/%d)",
                  (long long)e->total, (long long)e->f32, (long long)e->i8, (long long)e->cluster, e->f32_layers,
                  e->i8_layers, e->cluster_layers, e->sparse_layers, e->huff_layers, (long long)sz->total,
                  (long long)sz->f32, (long long)sz->i8, (long long)sz->cluster, sz->f32_layers, sz->i8_layers,
                  sz->cluster_layers, sz->sparse_layers, sz->huff_layers);
        }
    }
    if (keep) *keep = w;
    else vg_wr_free(&w);
    return l;
}

static vg_status fetch(void *ud, int i, float *in, vg_err *err) {
    vg_test_seed(500 + (uint64_t)i);
    vg_test_fill(in, 15 * 13 * 3, -1, 1);
    return VG_OK;
}

/* A copy of the engine bytes with one bit flipped (checksum fixed, so the parser sees it):
 * true when it still parses, and the model then runs (a flipped weight value is a valid model). */
static bool parse_flipped(const vg_wr *w, size_t at, int bit, float *y) {
    uint8_t *c = malloc(w->n);
    if (!c) return false;
    memcpy(c, w->p, w->n);
    c[at] ^= (uint8_t)(1u << bit);
    uint32_t crc = vg_crc32(c, w->n - 4);
    for (int b = 0; b < 4; b++) c[w->n - 4 + b] = (uint8_t)(crc >> (8 * b));
    vg_model *x = NULL;
    vg_err err;
    bool ok = vg_model_parse(c, w->n, "flip.vge", &x, &err) == VG_OK;
    if (ok) outputs(x, VG_PRECISION_FLOAT, y);
    vg_model_free(x);
    free(c);
    return ok;
}

/* A two-sided geometric draw around the middle of 16 values: how k-means fills clusters
 * (most weights near zero), so the indices are worth entropy-coding. */
static uint8_t skewed16(void) {
    float u = vg_test_uniform(0, 1);
    int v = 8 + (int)((vg_test_uniform(0, 1) < 0.5f ? -1 : 1) * floorf(-logf(1 - u) * 1.5f));
    return (uint8_t)(v < 0 ? 0 : v > 15 ? 15 : v);
}

/* 2b. Huffman-coded indices: a clustered layer (CLUSTER) and a weight-sharing layer with
 * per-channel scales (SHARED), both with unevenly filled clusters: smaller than bit-packed,
 * the same parameters and outputs bit for bit, and flipped stream bytes refused or harmless. */
static void huffman_layers(void) {
    vg_model *m = net();
    const vg_node *ex = &m->g.nodes[1], *pr = &m->g.nodes[3];
    vg_test_seed(91);
    float cb[16];
    for (int c = 0; c < 16; c++) cb[c] = (float)(c - 8) * 0.03f;
    for (int i = 0; i < 48 * 16; i++) m->g.params[ex->w + i] = cb[skewed16()];
    /* the projection (48 -> 16, rows of 48) shares 16 values scaled per output channel */
    vg_shared_layer *L = calloc(1, sizeof *L);
    m->shared = L, m->n_shared = 1;
    L->node = 3, L->k = 16, L->n = 16 * 48, L->row = 48;
    memcpy(L->centroids, cb, sizeof cb);
    L->scale = malloc(sizeof(float) * 16), L->idx = malloc(16 * 48);
    for (int r = 0; r < 16; r++) L->scale[r] = 0.5f + 0.1f * (float)r;
    for (int i = 0; i < 16 * 48; i++) {
        L->idx[i] = skewed16();
        m->g.params[pr->w + i] = L->centroids[L->idx[i]] * L->scale[i / 48];
    }
    float y0[12], y1[12];
    outputs(m, VG_PRECISION_FLOAT, y0);
    vg_engine_sizes sz;
    vg_wr w;
    vg_model *l = round_trip(m, &sz, &w);
    if (l) {
        CHECK(memcmp(l->g.params, m->g.params, sizeof(float) * (size_t)m->g.n_params) == 0,
              "huffman engine: parameters changed");
        CHECK(l->n_shared == 1 && memcmp(l->shared[0].idx, L->idx, 16 * 48) == 0, "shared layer indices lost");
        CHECK(sz.cluster_layers == 2 && sz.huff_layers == 2, "%d clustered layers, %d Huffman-coded",
              sz.cluster_layers, sz.huff_layers);
        /* bit-packed: 2 x (16 centroids + 384 bytes of indices) + 16 scales + 2 headers */
        int64_t packed = 2 * (16 * 4 + 48 * 16 / 2) + 16 * 4 + 8;
        CHECK(sz.cluster < packed * 9 / 10, "Huffman-coded layers take %lld bytes (bit-packed %lld)",
              (long long)sz.cluster, (long long)packed);
        outputs(l, VG_PRECISION_FLOAT, y1);
        CHECK(memcmp(y0, y1, sizeof y0) == 0, "huffman engine: outputs changed");
        vg_model_free(l);
        /* every byte of the file flipped in turn (checksum fixed): refused, or a model that runs.
         * Most bytes are weight values, where a flip is still a valid model, and a flip inside
         * a Huffman stream can turn one code into another of the same length: what this
         * checks is that nothing reads out of bounds or trips UB (make SAN=1) either way. */
        int parsed = 0;
        for (size_t at = 16; at + 4 < w.n; at++) parsed += parse_flipped(&w, at, (int)(at % 8), y1);
        CHECK(parsed > 0 && parsed < (int)w.n - 20, "%d of %zu flipped engines parsed", parsed, w.n);
    }
    vg_wr_free(&w);
    vg_model_free(m);
}

void test_engine(void) {
    vg_engine_sizes sz;
    float y0[12], y1[12];
    /* 1. float model: every weight float, same parameters bit for bit */
    vg_model *m = net(), *l = round_trip(m, &sz, NULL);
    if (l) {
        CHECK(l->engine && l->g.n_params == m->g.n_params &&
                  memcmp(l->g.params, m->g.params, sizeof(float) * (size_t)m->g.n_params) == 0,
              "float engine: parameters changed");
        CHECK(sz.f32_layers == 5 && sz.cluster_layers == 0 && sz.i8_layers == 0, "float engine layers %d/%d/%d",
              sz.f32_layers, sz.cluster_layers, sz.i8_layers);
        CHECK(l->n_labels == 3 && strcmp(vg_model_label(l, 2), "smoke") == 0, "labels lost");
    }
    vg_model_free(l);
    /* 2. clustered (16 values) and sparse (90% zeros) layers */
    const vg_node *ex = &m->g.nodes[1], *pr = &m->g.nodes[3];
    float cb[16];
    uint8_t idx[48 * 16];
    vg_err err;
    CHECK(vg_cluster_fit(m->g.params + ex->w, 48 * 16, 16, VG_CLUSTER_KMEANSPP, 1, false, cb, idx, &err) == VG_OK,
          "fit: %s", err.msg);
    vg_cluster_apply(m->g.params + ex->w, 48 * 16, cb, idx);
    for (int i = 0; i < 16 * 48; i++)
        if (i % 10) m->g.params[pr->w + i] = 0.0f;
    outputs(m, VG_PRECISION_FLOAT, y0);
    vg_wr w;
    l = round_trip(m, &sz, &w);
    if (l) {
        CHECK(memcmp(l->g.params, m->g.params, sizeof(float) * (size_t)m->g.n_params) == 0,
              "clustered / sparse engine: parameters changed");
        CHECK(sz.cluster_layers == 1 && sz.sparse_layers == 1, "encodings: %d clustered, %d sparse",
              sz.cluster_layers, sz.sparse_layers);
        /* 16 values: 4-bit indices + codebook, instead of 4 bytes a weight */
        CHECK(sz.cluster <= 48 * 16 / 2 + 16 * 4 + 24, "clustered layer takes %lld bytes", (long long)sz.cluster);
        outputs(l, VG_PRECISION_FLOAT, y1);
        CHECK(memcmp(y0, y1, sizeof y0) == 0, "clustered / sparse engine: outputs changed");
        vg_model_free(l);
        /* hostile copies: truncations and flipped bytes (checksum fixed, so the parser sees them) */
        int refused = 0, tries = 0;
        for (int k = 0; k < 20; k++) {
            size_t cut = 8 + (w.n - 8) * (size_t)k / 20;
            vg_model *x = NULL;
            tries++;
            if (vg_model_parse(w.p, cut, "cut.vge", &x, &err) != VG_OK) refused++;
            vg_model_free(x);
        }
        CHECK(refused == tries, "%d of %d truncated engines refused", refused, tries);
        int parsed = 0;
        for (int k = 0; k < 300; k++) {
            /* structure (header, graph, the first segments) rather than weight values */
            size_t span = w.n - 20 < 1200 ? w.n - 20 : 1200;
            size_t at = 16 + ((size_t)k * 2654435761u) % span; /* outputs() reseeds the test RNG */
            parsed += parse_flipped(&w, at, k % 8, y1);
        }
        CHECK(parsed < 250, "only %d of 300 flipped engines refused", 300 - parsed);
    }
    vg_wr_free(&w);
    huffman_layers();
    /* 3. int8 model: int8 weights, biases from the int32 ones; integer outputs identical */
    vg_calib_table t;
    vg_status st = vg_calibrate(m, 20, fetch, NULL, VG_CALIB_MINMAX, 0, 1, NULL, NULL, &t, &err);
    if (st == VG_OK) st = vg_model_quantize(m, &t, true, &err);
    CHECK(st == VG_OK, "quantize: %s", err.msg);
    vg_calib_table_free(&t);
    if (st == VG_OK) {
        outputs(m, VG_PRECISION_INT8, y0);
        l = round_trip(m, &sz, NULL);
        if (l) {
            CHECK(l->q && l->q->n_w8 == m->q->n_w8 && memcmp(l->q->w8, m->q->w8, (size_t)m->q->n_w8) == 0 &&
                      memcmp(l->q->b32, m->q->b32, sizeof(int32_t) * (size_t)m->q->n_b32) == 0,
                  "int8 engine: int8 weights or biases changed");
            outputs(l, VG_PRECISION_INT8, y1);
            CHECK(memcmp(y0, y1, sizeof y0) == 0, "int8 engine: integer outputs changed");
            /* the clustered layer stays a codebook (its int8 weights rebuild exactly) */
            CHECK(sz.cluster_layers == 1 && sz.i8_layers == 4, "int8 engine encodings: %d clustered, %d int8",
                  sz.cluster_layers, sz.i8_layers);
            vg_wr f = {0};
            vg_model_serialize(m, &f, &err);
            CHECK(sz.total * 100 < (int64_t)f.n * 40, "int8 engine %lld bytes vs .vgm %zu", (long long)sz.total, f.n);
            vg_wr_free(&f);
            vg_model_free(l);
        }
    }
    vg_model_free(m);
}
