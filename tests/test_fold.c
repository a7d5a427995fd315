/* test_fold.c — batch-norm folding, the fused 1x1-conv + residual-add path of the float
 * runner, and the GEMM residual epilogue under it.
 *
 * Folding: the folded graph must compute what the graph with its BNs computes. Folded weights
 * are rounded once from double, while the BN layer rounds at every step, so the two differ by a
 * few float ulps per layer: 1e-5 relative error (against max(|ref|, 1e-3), so that values that
 * cancel to near zero do not dominate) is two orders above that after a dozen layers, and a
 * wrong channel, layout or formula is far above it. The folded golden net must also still
 * match PyTorch to the golden test's 1e-4.
 *
 * Fusion: the fused epilogue adds in the order of the separate layers (bias, then residual,
 * then activation), so fused and unfused runners are held to 1e-5 and, beyond that, must agree
 * bit for bit. The GEMM residual epilogue is checked against the product computed in double
 * with test_gemm.c's bound, (k + 3) * 2^-24 * (sum |a b| + |c_old| + |bias| + |res|), and bit for
 * bit against vg_gemm followed by vg_add_ref. */
#include "test.h"

#include "compress/fold.h"
#include "cpu/backend.h"
#include "golden_net.h"
#include "model/runner.h"

#include <stdlib.h>
#include <string.h>

#define FOLD_TOL 1e-5
#define FOLD_FLOOR 1e-3

/* ---------------------------------------------------------------- helpers */

static int count_op(const vg_graph *g, vg_op op) {
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) n += g->nodes[i].op == op;
    return n;
}

/* random BN statistics for every BN of g (gamma and var kept away from 0) */
static void randomize_bns(vg_graph *g, const vg_shape *sh) {
    for (int i = 0; i < g->n_nodes; i++) {
        const vg_node *n = &g->nodes[i];
        if (n->op != VG_OP_BN) continue;
        int c = sh[n->in[0]].c;
        float *p = g->params + n->b;
        vg_test_fill(p, (size_t)c, 0.5f, 1.5f);         /* gamma */
        vg_test_fill(p + c, (size_t)c, -0.5f, 0.5f);    /* beta */
        vg_test_fill(p + 2 * c, (size_t)c, -0.5f, 0.5f); /* mean */
        vg_test_fill(p + 3 * c, (size_t)c, 0.2f, 2.0f);  /* var */
    }
}

/* Forward of m on x (batch images); out gets batch * n_out floats. keep_all = unfused. Returns
 * the number of fused ADDs the runner reports (from its layer statistics), or -1 on error. */
static int run_unfused; /* vg_runner_opts.unfused of the runners run() makes */

static int run(const vg_model *m, int batch, int threads, bool keep_all, const float *x,
               float *out) {
    vg_runner *r = NULL;
    vg_err err;
    vg_runner_opts ro = {threads, batch, VG_PRECISION_FLOAT, run_unfused, NULL};
    if (vg_runner_init_ex(&r, m, &ro, keep_all, &err) != VG_OK) {
        CHECK(false, "runner: %s", err.msg);
        return -1;
    }
    vg_runner_forward(r, x, out);
    int n = vg_runner_layer_stats(r, NULL, 0), fused = 0;
    vg_layer_stat *st = calloc((size_t)n, sizeof *st);
    vg_runner_layer_stats(r, st, n);
    for (int i = 0; i < n; i++) fused += strcmp(st[i].kind, "add (fused)") == 0;
    free(st);
    vg_runner_free(r);
    return fused;
}

static size_t n_out(const vg_model *m) { return (size_t)vg_model_n_outputs(m); }

/* fused (default runner) against unfused (keep_all), batches 1 and 3, threads 1 and 2 */
static void check_fused_vs_unfused(const char *what, const vg_model *m, int expect_fused) {
    const int batches[] = {1, 3};
    size_t in1 = (size_t)m->input.h * m->input.w * m->input.c, no = n_out(m);
    for (int bi = 0; bi < 2; bi++) {
        int b = batches[bi];
        float *x = malloc(sizeof(float) * in1 * b), *ref = malloc(sizeof(float) * no * b);
        float *got = malloc(sizeof(float) * no * b);
        vg_test_fill(x, in1 * b, -1, 1);
        int f0 = run(m, b, 1, true, x, ref);
        CHECK(f0 == 0, "%s: keep_all runner fused %d adds", what, f0);
        for (int threads = 1; threads <= 2; threads++) {
            int f = run(m, b, threads, false, x, got);
            CHECK(f == expect_fused, "%s batch %d threads %d: %d adds fused, expected %d", what, b,
                  threads, f, expect_fused);
            size_t wi;
            double e = vg_test_max_rel_err(got, ref, no * b, FOLD_FLOOR, &wi);
            CHECK(e <= FOLD_TOL, "%s batch %d threads %d: fused vs unfused rel err %.3g at %zu "
                  "(%g vs %g)", what, b, threads, e, wi, got[wi], ref[wi]);
            CHECK(memcmp(got, ref, sizeof(float) * no * b) == 0,
                  "%s batch %d threads %d: fused and unfused differ in the last bits", what, b,
                  threads);
        }
        free(x), free(ref), free(got);
    }
}

/* ---------------------------------------------------------------- the golden net */

static void test_fold_golden(void) {
    vg_fixture fx;
    if (vg_fixture_load("tests/fixtures/golden_forward.bin", &fx) != 0) {
        CHECK(false, "cannot load the golden fixture");
        return;
    }
    const vg_fx_tensor *in = vg_fixture_get(&fx, "input", 0);
    const vg_fx_tensor *eps_t = vg_fixture_get(&fx, "config.bn_eps", 1);
    const vg_fx_tensor *rp = vg_fixture_get(&fx, "probs", 0);
    vg_model *m = vg_model_new(), *f = vg_model_new();
    golden_net net, net2;
    bool ok = in && eps_t && rp && golden_build(m, &fx, eps_t->data[0], true, &net) &&
              golden_build(f, &fx, eps_t->data[0], true, &net2);
    CHECK(ok, "building the golden network failed");
    if (!ok) goto out;
    int N = in->dims[0], H = in->dims[2], W = in->dims[3];
    f->q = calloc(1, sizeof(vg_qgraph)); /* a stand-in int8 form: folding must drop it */
    int folded = -1;
    vg_err err;
    vg_status st = vg_model_fold(f, &folded, &err);
    CHECK(st == VG_OK, "vg_model_fold: %s", err.msg);
    if (st != VG_OK) goto out;
    CHECK(folded == GOLDEN_LAYERS, "%d BNs folded, expected %d", folded, GOLDEN_LAYERS);
    CHECK(count_op(&f->g, VG_OP_BN) == 0, "%d BNs left", count_op(&f->g, VG_OP_BN));
    CHECK(f->g.n_nodes == m->g.n_nodes - GOLDEN_LAYERS, "%d nodes after folding (from %d)",
          f->g.n_nodes, m->g.n_nodes);
    CHECK(f->g.n_params < m->g.n_params, "params %lld -> %lld", (long long)m->g.n_params,
          (long long)f->g.n_params);
    CHECK(f->q == NULL, "the int8 form survived folding");
    CHECK(vg_model_validate(f, &err) == VG_OK, "folded model invalid: %s", err.msg);
    /* each conv now carries its BN's activation and a bias */
    for (int i = 0; i < f->g.n_nodes; i++) {
        const vg_node *n = &f->g.nodes[i];
        if (n->op == VG_OP_CONV || n->op == VG_OP_DWCONV)
            CHECK(n->b >= 0, "folded node %d has no bias", i);
    }

    /* folded vs unfolded (both unfused) on the fixture's batch, and still vs PyTorch */
    size_t no = (size_t)N * 5;
    float *x = malloc(in->count * sizeof(float));
    float *p0 = malloc(no * sizeof(float)), *p1 = malloc(no * sizeof(float));
    vg_fx_nchw_to_nhwc(in->data, N, 3, H, W, x);
    run(m, N, 1, true, x, p0);
    run(f, N, 1, true, x, p1);
    size_t wi;
    /* (probabilities under 1e-4 only carry the logits' error, amplified: floor there) */
    double e = vg_test_max_rel_err(p1, p0, no, 1e-4, &wi);
    CHECK(e <= FOLD_TOL, "golden folded vs unfolded probs: rel err %.3g at %zu (%g vs %g)", e, wi,
          p1[wi], p0[wi]);
    e = vg_test_max_rel_err(p1, rp->data, no, 1e-6, &wi);
    CHECK(e < 1e-4, "golden folded vs PyTorch probs: rel err %.3g at %zu", e, wi);
    /* logits: the softmax input */
    {
        vg_runner *r0 = NULL, *r1 = NULL;
        vg_runner_opts ro = {1, N, VG_PRECISION_FLOAT, 0, NULL};
        if (vg_runner_init_ex(&r0, m, &ro, true, &err) == VG_OK &&
            vg_runner_init_ex(&r1, f, &ro, true, &err) == VG_OK) {
            vg_runner_forward(r0, x, p0);
            vg_runner_forward(r1, x, p1);
            int lt = f->g.nodes[f->g.n_nodes - 1].in[0];
            e = vg_test_max_rel_err(vg_runner_tensor(r1, lt), vg_runner_tensor(r0, net.logits), no,
                                    FOLD_FLOOR, &wi);
            CHECK(e <= FOLD_TOL, "golden folded vs unfolded logits: rel err %.3g at %zu", e, wi);
        } else {
            CHECK(false, "runner: %s", err.msg);
        }
        vg_runner_free(r0);
        vg_runner_free(r1);
    }
    free(x), free(p0), free(p1);
    /* the folded net has one 1x1 conv + residual add: the fused runner agrees */
    check_fused_vs_unfused("golden folded", f, 1);
    /* the unfolded one has a BN between them: nothing fuses */
    check_fused_vs_unfused("golden unfolded", m, 0);
out:
    vg_model_free(m);
    vg_model_free(f);
    vg_fixture_free(&fx);
}

/* ---------------------------------------------------------------- hand-built cases */

/* Every kind of BN placement. Returns the graph's BN count that must fold in *must_fold. */
static bool build_cases(vg_model *m, int *must_fold) {
    vg_graph *g = &m->g;
    m->input = (vg_input_spec){.h = 9, .w = 7, .c = 3, .std = {1, 1, 1}};
    bool ok = true;
    int x = vg_graph_bn(g, 0, 3, 1e-3f, VG_ACT_NONE); /* on the input: stays */
    x = vg_graph_conv(g, x, 3, 8, 3, 3, 2, VG_PAD_SAME, NULL, true, VG_ACT_NONE);
    x = vg_graph_bn(g, x, 8, 1e-5f, VG_ACT_RELU6); /* conv with bias: folds */
    x = vg_graph_conv(g, x, 8, 12, 1, 1, 1, VG_PAD_EXPLICIT, NULL, false, VG_ACT_NONE);
    x = vg_graph_bn(g, x, 12, 1e-3f, VG_ACT_RELU); /* conv without bias: folds */
    int pad[4] = {1, 0, 2, 1};
    x = vg_graph_dwconv(g, x, 12, 3, 2, 1, VG_PAD_EXPLICIT, pad, false, VG_ACT_NONE);
    x = vg_graph_bn(g, x, 12, 1e-3f, VG_ACT_NONE); /* depthwise: folds */
    int y = vg_graph_conv(g, x, 12, 12, 1, 1, 1, VG_PAD_EXPLICIT, NULL, true, VG_ACT_RELU);
    y = vg_graph_bn(g, y, 12, 1e-3f, VG_ACT_NONE); /* conv with its own activation: stays */
    int z = vg_graph_conv(g, y, 12, 12, 1, 1, 1, VG_PAD_EXPLICIT, NULL, false, VG_ACT_NONE);
    int zb = vg_graph_bn(g, z, 12, 1e-3f, VG_ACT_NONE); /* z is also read by the add: stays */
    int s = vg_graph_add(g, z, zb, VG_ACT_NONE);
    s = vg_graph_add(g, s, x, VG_ACT_RELU);
    s = vg_graph_bn(g, s, 12, 1e-3f, VG_ACT_RELU6); /* after an add: stays */
    s = vg_graph_gap(g, s);
    s = vg_graph_fc(g, s, 12, 6, true, VG_ACT_NONE);
    s = vg_graph_bn(g, s, 6, 1e-3f, VG_ACT_NONE); /* FC: folds; and it is the output */
    ok = s > 0 && g->output == s;
    *must_fold = 4;
    if (!ok) return false;
    vg_test_fill(g->params, (size_t)g->n_params, -1, 1);
    vg_shape *sh = malloc(sizeof(vg_shape) * (size_t)g->n_tensors);
    vg_err err;
    ok = vg_graph_infer(g, 9, 7, 3, NULL, sh, &err) == VG_OK;
    CHECK(ok, "cases graph: %s", err.msg);
    if (ok) randomize_bns(g, sh);
    free(sh);
    return ok;
}

static void test_fold_cases(void) {
    vg_model *m = vg_model_new();
    int must = 0;
    if (!build_cases(m, &must)) {
        CHECK(false, "building the test graph failed");
        vg_model_free(m);
        return;
    }
    vg_graph f;
    int folded = -1;
    vg_err err;
    vg_status st = vg_graph_fold_bn(&m->g, 9, 7, 3, &f, &folded, &err);
    CHECK(st == VG_OK, "fold: %s", err.msg);
    if (st != VG_OK) {
        vg_model_free(m);
        return;
    }
    CHECK(folded == must, "%d BNs folded, expected %d", folded, must);
    int bn0 = count_op(&m->g, VG_OP_BN), bn1 = count_op(&f, VG_OP_BN);
    CHECK(bn1 == bn0 - must, "%d BNs left of %d", bn1, bn0);
    CHECK(f.n_nodes == m->g.n_nodes - must && f.n_tensors == f.n_nodes + 1,
          "%d nodes / %d tensors after folding %d of %d nodes", f.n_nodes, f.n_tensors, must,
          m->g.n_nodes);
    CHECK(vg_graph_infer(&f, 9, 7, 3, NULL, NULL, &err) == VG_OK, "folded graph invalid: %s",
          err.msg);
    CHECK(f.output == f.n_tensors - 1 && f.nodes[f.n_nodes - 1].op == VG_OP_FC,
          "output %d should be the folded FC's (tensor %d)", f.output, f.n_tensors - 1);
    /* parameters: each folded BN takes 4c away; the 1x1 conv and the depthwise had no bias
     * and gain one of 12 */
    int64_t expect = m->g.n_params - 4 * (8 + 12 + 12 + 6) + 2 * 12;
    CHECK(f.n_params == expect, "%lld params, expected %lld", (long long)f.n_params,
          (long long)expect);
    /* the structure, node by node: BN, conv+relu6, conv+relu (bias added), dw, conv relu, BN,
     * conv, BN, add, add, BN, gap, fc */
    static const vg_op ops[] = {VG_OP_BN,   VG_OP_CONV, VG_OP_CONV, VG_OP_DWCONV, VG_OP_CONV,
                                VG_OP_BN,   VG_OP_CONV, VG_OP_BN,   VG_OP_ADD,    VG_OP_ADD,
                                VG_OP_BN,   VG_OP_GAP,  VG_OP_FC};
    bool shape_ok = f.n_nodes == (int)(sizeof ops / sizeof ops[0]);
    for (int i = 0; shape_ok && i < f.n_nodes; i++) shape_ok = f.nodes[i].op == ops[i];
    CHECK(shape_ok, "folded node sequence differs from the expected one");
    if (shape_ok) {
        CHECK(f.nodes[1].act == VG_ACT_RELU6 && f.nodes[2].act == VG_ACT_RELU &&
                  f.nodes[3].act == VG_ACT_NONE,
              "activations did not move with the BNs (%d %d %d)", f.nodes[1].act, f.nodes[2].act,
              f.nodes[3].act);
        CHECK(f.nodes[2].b >= 0 && f.nodes[3].b >= 0, "folded layers without bias");
        /* the kept BN after the shared conv still reads it, and the add reads both */
        CHECK(f.nodes[7].in[0] == f.nodes[6].out && f.nodes[8].in[0] == f.nodes[6].out &&
                  f.nodes[8].in[1] == f.nodes[7].out,
              "renumbering broke the shared-output pattern");
        CHECK(f.nodes[9].in[1] == f.nodes[3].out, "the long skip does not read the folded dw");
    }
    /* same function */
    vg_model *fm = vg_model_new();
    vg_graph_free(&fm->g);
    fm->g = f;
    fm->input = m->input;
    size_t in1 = 9 * 7 * 3, no = 6;
    float x[3 * 9 * 7 * 3], y0[3 * 6], y1[3 * 6];
    vg_test_fill(x, 3 * in1, -2, 2);
    run(m, 3, 1, true, x, y0);
    run(fm, 3, 2, false, x, y1);
    size_t wi;
    double e = vg_test_max_rel_err(y1, y0, 3 * no, FOLD_FLOOR, &wi);
    CHECK(e <= FOLD_TOL, "folded vs unfolded: rel err %.3g at %zu (%g vs %g)", e, wi, y1[wi],
          y0[wi]);

    /* a graph without anything to fold: vg_model_fold leaves it alone */
    vg_model *plain = vg_model_new();
    plain->input = (vg_input_spec){.h = 8, .w = 8, .c = 3, .std = {1, 1, 1}};
    int t = vg_graph_conv(&plain->g, 0, 3, 3, 1, 1, 1, VG_PAD_EXPLICIT, NULL, true, VG_ACT_RELU);
    vg_graph_bn(&plain->g, t, 3, 1e-3f, VG_ACT_NONE);
    int64_t np = plain->g.n_params;
    st = vg_model_fold(plain, &folded, &err);
    CHECK(st == VG_OK && folded == 0 && plain->g.n_nodes == 2 && plain->g.n_params == np,
          "nothing to fold: status %d, %d folded, %d nodes", st, folded, plain->g.n_nodes);
    /* an invalid graph is refused, with the model unchanged */
    plain->g.nodes[1].in[0] = 5;
    st = vg_model_fold(plain, &folded, &err);
    CHECK(st == VG_ERR_FORMAT && plain->g.n_nodes == 2, "invalid graph: status %d", st);
    vg_model_free(plain);
    vg_model_free(fm);
    vg_model_free(m);
}

/* ---------------------------------------------------------------- fused residual adds */

/* 1x1 convs followed by adds in every arrangement the planner must get right; *expect = the
 * number of pairs that fuse */
static bool build_residual(vg_model *m, int *expect) {
    vg_graph *g = &m->g;
    m->input = (vg_input_spec){.h = 9, .w = 8, .c = 3, .std = {1, 1, 1}};
    int n = 0;
    /* conv on the input, residual = the input itself (tensor 0, the caller's buffer) */
    int a = vg_graph_conv(g, 0, 3, 3, 1, 1, 1, VG_PAD_EXPLICIT, NULL, true, VG_ACT_NONE);
    a = vg_graph_add(g, 0, a, VG_ACT_RELU); /* the conv's output as the second input */
    n++;
    a = vg_graph_conv(g, a, 3, 16, 1, 1, 1, VG_PAD_EXPLICIT, NULL, true, VG_ACT_NONE);
    /* an inverted residual block: expand, depthwise, project + add (relu6 on the add) */
    int e = vg_graph_conv(g, a, 16, 40, 1, 1, 1, VG_PAD_EXPLICIT, NULL, true, VG_ACT_RELU6);
    int d = vg_graph_dwconv(g, e, 40, 3, 3, 1, VG_PAD_SAME, NULL, true, VG_ACT_RELU6);
    int p = vg_graph_conv(g, d, 40, 16, 1, 1, 1, VG_PAD_EXPLICIT, NULL, false, VG_ACT_NONE);
    int b = vg_graph_add(g, p, a, VG_ACT_RELU6);
    n++;
    /* K beyond one GEMM block (300 > 256): the residual only in the last block */
    e = vg_graph_conv(g, b, 16, 300, 1, 1, 1, VG_PAD_EXPLICIT, NULL, true, VG_ACT_RELU);
    p = vg_graph_conv(g, e, 300, 16, 1, 1, 1, VG_PAD_EXPLICIT, NULL, true, VG_ACT_NONE);
    int c = vg_graph_add(g, b, p, VG_ACT_NONE);
    n++;
    /* not fused: the conv has an activation */
    p = vg_graph_conv(g, c, 16, 16, 1, 1, 1, VG_PAD_EXPLICIT, NULL, true, VG_ACT_RELU);
    c = vg_graph_add(g, c, p, VG_ACT_NONE);
    /* not fused: the conv's output is read again later */
    int q = vg_graph_conv(g, c, 16, 16, 1, 1, 1, VG_PAD_EXPLICIT, NULL, true, VG_ACT_NONE);
    int s = vg_graph_add(g, q, c, VG_ACT_NONE);
    s = vg_graph_add(g, s, q, VG_ACT_NONE);
    /* not fused: a 1x1 conv with stride 2 is no GEMM over the same pixels */
    int dn = vg_graph_conv(g, s, 16, 16, 3, 3, 2, VG_PAD_SAME, NULL, true, VG_ACT_NONE);
    int s2 = vg_graph_conv(g, s, 16, 16, 1, 1, 2, VG_PAD_EXPLICIT, NULL, true, VG_ACT_NONE);
    s = vg_graph_add(g, s2, dn, VG_ACT_NONE);
    /* not fused: both inputs of the add are the conv's output */
    q = vg_graph_conv(g, s, 16, 16, 1, 1, 1, VG_PAD_EXPLICIT, NULL, true, VG_ACT_NONE);
    s = vg_graph_add(g, q, q, VG_ACT_NONE);
    /* two fused blocks back to back (buffer reuse between them), the last one the output */
    q = vg_graph_conv(g, s, 16, 24, 1, 1, 1, VG_PAD_EXPLICIT, NULL, true, VG_ACT_RELU6);
    q = vg_graph_conv(g, q, 24, 16, 1, 1, 1, VG_PAD_EXPLICIT, NULL, true, VG_ACT_NONE);
    s = vg_graph_add(g, s, q, VG_ACT_RELU);
    n++;
    q = vg_graph_conv(g, s, 16, 16, 1, 1, 1, VG_PAD_EXPLICIT, NULL, false, VG_ACT_NONE);
    s = vg_graph_add(g, q, s, VG_ACT_NONE);
    n++;
    *expect = n;
    if (s < 0) return false;
    vg_test_fill(g->params, (size_t)g->n_params, -0.3f, 0.3f);
    return true;
}

static void test_fold_fused_runner(void) {
    vg_model *m = vg_model_new();
    int expect = 0;
    bool ok = build_residual(m, &expect);
    vg_err err;
    CHECK(ok && vg_model_validate(m, &err) == VG_OK, "residual test graph: %s",
          ok ? err.msg : "build failed");
    if (ok) check_fused_vs_unfused("residual net", m, expect);
    /* the switch for A/B runs */
    run_unfused = 1;
    size_t in1 = (size_t)9 * 8 * 3, no = n_out(m);
    float *x = malloc(sizeof(float) * in1), *y = malloc(sizeof(float) * no);
    vg_test_fill(x, in1, -1, 1);
    int f = run(m, 1, 1, false, x, y);
    CHECK(f == 0, "vg_runner_opts.unfused: %d adds fused", f);
    run_unfused = 0;
    free(x), free(y);
    vg_model_free(m);
}

/* ---------------------------------------------------------------- GEMM residual epilogue */

static bool cpu_has(const char *name) {
#if defined(__x86_64__)
    if (strcmp(name, "avx512") == 0) return __builtin_cpu_supports("avx512f");
    if (strcmp(name, "avx2") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    (void)name;
    return true;
}

static void gemm_res_case(const vg_ukernel *uk, vg_pool *p1, vg_pool *p2, vg_gemm_ws *ws, int m,
                          int n, int k, bool ta, bool packed, bool acc, bool use_bias,
                          vg_act act) {
    int ldr = n + 3; /* a residual with its own row stride */
    size_t na = (size_t)m * k, nb = (size_t)k * n, nc = (size_t)m * n, nr = (size_t)m * ldr;
    float *a = malloc(na * 4 + 4), *b = malloc(nb * 4 + 4), *bias = malloc((size_t)n * 4);
    float *res = malloc(nr * 4), *c0 = malloc(nc * 4), *c1 = malloc(nc * 4), *c2 = malloc(nc * 4);
    float *cu = malloc(nc * 4), *resc = malloc(nc * 4);
    float *bp = packed ? aligned_alloc(64, ((vg_gemm_packed_floats(uk, n, k) * 4 + 63) / 64) * 64)
                       : NULL;
    double *x = malloc(nc * 8), *bound = malloc(nc * 8);
    vg_test_fill(a, na, -1, 1);
    vg_test_fill(b, nb, -1, 1);
    vg_test_fill(bias, (size_t)n, -1, 1);
    vg_test_fill(res, nr, -2, 2);
    vg_test_fill(c0, nc, -1, 1);
    memcpy(c1, c0, nc * 4), memcpy(c2, c0, nc * 4), memcpy(cu, c0, nc * 4);
    for (int i = 0; i < m; i++) memcpy(resc + (size_t)i * n, res + (size_t)i * ldr, (size_t)n * 4);
    int lda = ta ? m : k; /* B is (n, k): the weights' layout */
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0, mag = 0;
            for (int p = 0; p < k; p++) {
                double t = (double)(ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p]) *
                           b[(size_t)j * k + p];
                s += t, mag += fabs(t);
            }
            if (acc) s += c0[(size_t)i * n + j], mag += fabs(c0[(size_t)i * n + j]);
            if (use_bias) s += bias[j], mag += fabs(bias[j]);
            s += res[(size_t)i * ldr + j], mag += fabs(res[(size_t)i * ldr + j]);
            if (act != VG_ACT_NONE) s = s < 0 ? 0 : (act == VG_ACT_RELU6 && s > 6 ? 6 : s);
            x[(size_t)i * n + j] = s;
            bound[(size_t)i * n + j] = (k + 3) * ldexp(1.0, -24) * mag;
        }
    vg_gemm_epi epi = {use_bias ? bias : NULL, act, acc};
    if (packed) {
        vg_gemm_pack_b(uk, n, k, b, bp);
        vg_gemm_packed_res(uk, p1, ws, m, n, k, a, k, bp, c1, n, &epi, res, ldr);
        vg_gemm_packed_res(uk, p2, ws, m, n, k, a, k, bp, c2, n, &epi, res, ldr);
    } else {
        vg_gemm_res(uk, p1, ws, ta, true, m, n, k, a, lda, b, k, c1, n, &epi, res, ldr);
        vg_gemm_res(uk, p2, ws, ta, true, m, n, k, a, lda, b, k, c2, n, &epi, res, ldr);
    }
    int bad = 0;
    double worst = 0;
    for (size_t i = 0; i < nc; i++) {
        double err = fabs(c1[i] - x[i]);
        if (!(err <= bound[i])) bad++;
        if (bound[i] > 0 && err / bound[i] > worst) worst = err / bound[i];
    }
    CHECK(bad == 0, "%s m%d n%d k%d ta%d packed%d acc%d bias%d act%d: %d elements beyond the "
          "bound (worst %.2fx)", uk->name, m, n, k, ta, packed, acc, use_bias, act, bad, worst);
    CHECK(memcmp(c1, c2, nc * 4) == 0, "%s m%d n%d k%d: 1 and 2 threads differ", uk->name, m, n,
          k);
    /* unfused: the plain GEMM, then the add with the activation */
    vg_gemm_epi e0 = {use_bias ? bias : NULL, VG_ACT_NONE, acc};
    vg_gemm(uk, p1, ws, ta, true, m, n, k, a, lda, b, k, cu, n, &e0);
    vg_add_ref(nc, cu, resc, act, cu);
    CHECK(memcmp(c1, cu, nc * 4) == 0, "%s m%d n%d k%d ta%d packed%d: fused epilogue differs "
          "from gemm + add", uk->name, m, n, k, ta, packed);
    free(a), free(b), free(bias), free(res), free(c0), free(c1), free(c2), free(cu), free(resc);
    free(bp), free(x), free(bound);
}

static void test_fold_gemm_res(void) {
    const vg_ukernel *uks[] = {vg_ukernel_scalar(), vg_ukernel_avx2(), vg_ukernel_avx512(),
                               vg_ukernel_neon()};
    vg_pool *p1 = vg_pool_new(1), *p2 = vg_pool_new(2);
    vg_gemm_ws *ws = vg_gemm_ws_new(2);
    /* odd shapes: tails in M (small tiles of 1..4 rows too), N and K, K over one block */
    static const int shapes[][3] = {{1, 1, 1},    {3, 5, 7},    {13, 33, 17}, {7, 45, 3},
                                    {300, 17, 9}, {5, 101, 64}, {37, 70, 600}, {50, 24, 144}};
    int ns = (int)(sizeof shapes / sizeof shapes[0]);
    for (size_t u = 0; u < sizeof uks / sizeof uks[0]; u++) {
        const vg_ukernel *uk = uks[u];
        if (!uk || !cpu_has(uk->name)) continue;
        for (int s = 0; s < ns; s++)
            for (int v = 0; v < 3; v++) /* plain (direct A where the kernel has it), packed A
                                          (transposed), pre-packed B */
                gemm_res_case(uk, p1, p2, ws, shapes[s][0], shapes[s][1], shapes[s][2], v == 1,
                              v == 2, s % 3 == 1, s % 2 == 0, (vg_act)((s + v) % 3));
        gemm_res_case(uk, p1, p2, ws, 4, 6, 0, false, false, true, true, VG_ACT_RELU6); /* k=0 */
    }
    /* the backend entry, every kernel table (the reference one adds separately) */
    const vg_kernels *const *tabs = vg_kernels_all();
    int m = 29, n = 19, k = 40;
    float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * n * k);
    float *bias = malloc(sizeof(float) * n), *res = malloc(sizeof(float) * m * n);
    float *y = malloc(sizeof(float) * m * n), *ref = malloc(sizeof(float) * m * n);
    vg_test_fill(a, (size_t)m * k, -1, 1);
    vg_test_fill(b, (size_t)n * k, -1, 1);
    vg_test_fill(bias, (size_t)n, -1, 1);
    vg_test_fill(res, (size_t)m * n, -1, 1);
    vg_matmul_ref(m, n, k, a, b, bias, VG_ACT_NONE, ref);
    vg_add_ref((size_t)m * n, ref, res, VG_ACT_RELU6, ref);
    /* both within the float-sum bound of the exact value, so within twice it of each other
     * (the summation orders differ between tables) */
    double *bound = malloc(sizeof(double) * m * n);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double mag = fabs(bias[j]) + fabs(res[i * n + j]);
            for (int p = 0; p < k; p++) mag += fabs((double)a[i * k + p] * b[j * k + p]);
            bound[i * n + j] = 2 * (k + 3) * ldexp(1.0, -24) * mag;
        }
    for (int t = 0; tabs[t]; t++) {
        vg_cpu *c = vg_cpu_new(tabs[t], 2);
        float *bp = vg_cpu_pack_weights(c, n, k, b);
        for (int pk = 0; pk < 2; pk++) {
            vg_cpu_matmul_res(c, m, n, k, a, b, pk ? bp : NULL, bias, res, VG_ACT_RELU6, y);
            int bad = 0;
            for (int i = 0; i < m * n; i++) bad += !(fabs(y[i] - ref[i]) <= bound[i]);
            CHECK(bad == 0, "vg_cpu_matmul_res %s packed %d: %d elements beyond the bound",
                  tabs[t]->name, pk, bad);
        }
        free(bp);
        vg_cpu_free(c);
    }
    free(a), free(b), free(bias), free(res), free(y), free(ref), free(bound);
    vg_gemm_ws_free(ws);
    vg_pool_free(p1);
    vg_pool_free(p2);
}

void test_fold(void) {
    vg_test_seed(11);
    test_fold_gemm_res();
    test_fold_cases();
    test_fold_golden();
    test_fold_fused_runner();
}
