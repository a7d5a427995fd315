/* test_golden.c — the forward pass against PyTorch: tools/gen_golden_forward.py wrote the
 * input, weights, per-layer activations and outputs of a small MobileNetV2-shaped network
 * (computed in float64). vigie rebuilds the network with its graph builder, converts the
 * layouts, and must match every checked activation and the outputs to 1e-4 relative error:
 * float32 accumulation over at most a few hundred terms stays orders of magnitude below that,
 * while any layout, padding or BN mistake is far above it. */
#include "test.h"

#include "fixture.h"
#include "model/model.h"
#include "model/runner.h"

#include <string.h>

#define GOLDEN_TOL 1e-4
#define GOLDEN_FLOOR 1e-2 /* relative error is measured against max(|ref|, this) */

typedef struct {
    const char *name;
    bool depthwise;
    int cin, cout, k, stride, pad; /* pad < 0: TF SAME */
    bool relu6;
} layer;

static const layer layers[] = {
    {"stem", false, 3, 10, 3, 2, -1, true},
    {"b1.dw", true, 10, 10, 3, 1, 1, true},
    {"b1.project", false, 10, 7, 1, 1, 0, false},
    {"b2.expand", false, 7, 30, 1, 1, 0, true},
    {"b2.dw", true, 30, 30, 3, 2, -1, true},
    {"b2.project", false, 30, 12, 1, 1, 0, false},
    {"b3.expand", false, 12, 36, 1, 1, 0, true},
    {"b3.dw", true, 36, 36, 3, 1, 1, true},
    {"b3.project", false, 36, 12, 1, 1, 0, false},
    {"b4.expand", false, 12, 21, 1, 1, 0, true},
    {"b4.dw", true, 21, 21, 5, 2, 2, true},
    {"b4.project", false, 21, 9, 1, 1, 0, false},
    {"head", false, 9, 20, 1, 1, 0, true},
};
#define N_LAYERS (int)(sizeof layers / sizeof layers[0])

static bool copy_param(const vg_fixture *fx, const char *name, size_t n, float *dst) {
    const vg_fx_tensor *t = vg_fixture_get(fx, name, n);
    if (!t) return false;
    memcpy(dst, t->data, n * sizeof(float));
    return true;
}

void test_golden(void) {
    vg_fixture fx;
    if (vg_fixture_load("tests/fixtures/golden_forward.bin", &fx) != 0) {
        CHECK(false, "cannot load the golden fixture");
        return;
    }
    const vg_fx_tensor *in = vg_fixture_get(&fx, "input", 0);
    const vg_fx_tensor *eps_t = vg_fixture_get(&fx, "config.bn_eps", 1);
    if (!in || !eps_t || in->ndim != 4) {
        CHECK(false, "fixture lacks input / config");
        vg_fixture_free(&fx);
        return;
    }
    int N = in->dims[0], H = in->dims[2], W = in->dims[3];
    float eps = eps_t->data[0];

    vg_model *m = vg_model_new();
    m->input.h = H;
    m->input.w = W;
    vg_graph *g = &m->g;
    int x = 0, skip = -1, act_t[N_LAYERS];
    bool ok = true;
    for (int i = 0; i < N_LAYERS && ok; i++) {
        const layer *L = &layers[i];
        int pad[4] = {L->pad, L->pad, L->pad, L->pad};
        vg_pad_mode pm = L->pad < 0 ? VG_PAD_SAME : VG_PAD_EXPLICIT;
        char nm[128];
        snprintf(nm, sizeof nm, "%s.weight", L->name);
        const vg_fx_tensor *wt =
            vg_fixture_get(&fx, nm, (size_t)L->cout * (L->depthwise ? 1 : L->cin) * L->k * L->k);
        if (!wt) {
            ok = false;
            break;
        }
        if (L->depthwise) {
            x = vg_graph_dwconv(g, x, L->cin, L->k, L->k, L->stride, pm, pad, false, VG_ACT_NONE);
            vg_fx_dw_to_hwc(wt->data, L->cin, L->k, L->k, g->params + g->nodes[g->n_nodes - 1].w);
        } else {
            x = vg_graph_conv(g, x, L->cin, L->cout, L->k, L->k, L->stride, pm, pad, false,
                              VG_ACT_NONE);
            vg_fx_oihw_to_ohwi(wt->data, L->cout, L->cin, L->k, L->k,
                               g->params + g->nodes[g->n_nodes - 1].w);
        }
        x = vg_graph_bn(g, x, L->cout, eps, L->relu6 ? VG_ACT_RELU6 : VG_ACT_NONE);
        float *bn = g->params + g->nodes[g->n_nodes - 1].b;
        static const char *parts[] = {"weight", "bias", "running_mean", "running_var"};
        for (int p = 0; p < 4; p++) {
            snprintf(nm, sizeof nm, "%s.bn.%s", L->name, parts[p]);
            ok = ok && copy_param(&fx, nm, (size_t)L->cout, bn + p * L->cout);
        }
        if (strcmp(L->name, "b2.project") == 0) skip = x;
        if (strcmp(L->name, "b3.project") == 0) x = vg_graph_add(g, x, skip, VG_ACT_NONE);
        act_t[i] = x;
    }
    x = vg_graph_gap(g, x);
    int logits = vg_graph_fc(g, x, 20, 5, true, VG_ACT_NONE);
    const vg_node *fc = &g->nodes[g->n_nodes - 1];
    ok = ok && copy_param(&fx, "fc.weight", 100, g->params + fc->w) &&
         copy_param(&fx, "fc.bias", 5, g->params + fc->b);
    vg_graph_softmax(g, logits);
    CHECK(ok, "building the network from the fixture failed");

    vg_err err;
    CHECK(vg_model_validate(m, &err) == VG_OK, "validate: %s", err.msg);
    vg_runner *r = NULL;
    vg_runner_opts ro = {1, N};
    vg_status st = vg_runner_init_ex(&r, m, &ro, true, &err);
    CHECK(st == VG_OK, "runner: %s", err.msg);
    if (ok && st == VG_OK) {
        float *xin = malloc(in->count * sizeof(float));
        float *probs = malloc((size_t)N * 5 * sizeof(float));
        vg_fx_nchw_to_nhwc(in->data, N, 3, H, W, xin);
        vg_runner_forward(r, xin, probs);
        vg_shape *sh = malloc(sizeof(vg_shape) * (size_t)g->n_tensors);
        vg_graph_infer(g, H, W, 3, NULL, sh, NULL);
        for (int i = 0; i < N_LAYERS; i++) {
            char nm[128];
            snprintf(nm, sizeof nm, "act.%s", layers[i].name);
            const vg_fx_tensor *ref = vg_fixture_get(&fx, nm, 0);
            vg_shape s = sh[act_t[i]];
            if (!ref || ref->ndim != 4 || ref->dims[1] != s.c || ref->dims[2] != s.h ||
                ref->dims[3] != s.w) {
                CHECK(false, "%s: shape %dx%dx%d differs from PyTorch's", layers[i].name, s.h,
                      s.w, s.c);
                continue;
            }
            float *refh = malloc(ref->count * sizeof(float));
            vg_fx_nchw_to_nhwc(ref->data, N, s.c, s.h, s.w, refh);
            size_t wi;
            double e = vg_test_max_rel_err(vg_runner_tensor(r, act_t[i]), refh, ref->count,
                                           GOLDEN_FLOOR, &wi);
            CHECK(e < GOLDEN_TOL, "activation %s: max rel err %.3g at %zu (%g vs %g)",
                  layers[i].name, e, wi, vg_runner_tensor(r, act_t[i])[wi], refh[wi]);
            free(refh);
        }
        const vg_fx_tensor *rl = vg_fixture_get(&fx, "logits", (size_t)N * 5);
        const vg_fx_tensor *rp = vg_fixture_get(&fx, "probs", (size_t)N * 5);
        size_t wi;
        if (rl) {
            double e = vg_test_max_rel_err(vg_runner_tensor(r, logits), rl->data, rl->count,
                                           GOLDEN_FLOOR, &wi);
            CHECK(e < GOLDEN_TOL, "logits: max rel err %.3g at %zu", e, wi);
        }
        if (rp) {
            double e = vg_test_max_rel_err(probs, rp->data, rp->count, 1e-6, &wi);
            CHECK(e < GOLDEN_TOL, "probs: max rel err %.3g at %zu (%g vs %g)", e, wi, probs[wi],
                  rp->data[wi]);
        }
        free(sh);
        free(xin);
        free(probs);
    }
    vg_runner_free(r);
    vg_model_free(m);
    vg_fixture_free(&fx);
}
