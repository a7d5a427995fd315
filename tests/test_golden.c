/* test_golden.c — the forward pass against PyTorch: tools/gen_golden_forward.py wrote the
 * input, weights, per-layer activations and outputs of a small MobileNetV2-shaped network
 * (computed in float64). vigie rebuilds the network with its graph builder
 * (tests/golden_net.c), converts the layouts, and must match every layer's activation and the
 * outputs to 1e-4 relative error: float32 accumulation over at most a few hundred terms stays
 * orders of magnitude below that, while any layout, padding or BN mistake is far above it. */
#include "test.h"

#include "golden_net.h"
#include "model/runner.h"

#include <string.h>

#define GOLDEN_TOL 1e-4
#define GOLDEN_FLOOR 1e-2 /* relative error is measured against max(|ref|, this) */

void test_golden(void) {
    vg_fixture fx;
    if (vg_fixture_load("tests/fixtures/golden_forward.bin", &fx) != 0) {
        CHECK(false, "cannot load the golden fixture");
        return;
    }
    const vg_fx_tensor *in = vg_fixture_get(&fx, "input", 0);
    const vg_fx_tensor *eps_t = vg_fixture_get(&fx, "config.bn_eps", 1);
    vg_model *m = vg_model_new();
    golden_net net;
    bool ok = in && eps_t && golden_build(m, &fx, eps_t->data[0], true, &net);
    CHECK(ok, "building the network from the fixture failed");
    if (!ok) {
        vg_model_free(m);
        vg_fixture_free(&fx);
        return;
    }
    int N = in->dims[0], H = in->dims[2], W = in->dims[3];
    vg_graph *g = &m->g;
    vg_err err;
    CHECK(vg_model_validate(m, &err) == VG_OK, "validate: %s", err.msg);
    vg_runner *r = NULL;
    vg_runner_opts ro = {1, N, VG_PRECISION_FLOAT, 0, NULL};
    vg_status st = vg_runner_init_ex(&r, m, &ro, true, &err);
    CHECK(st == VG_OK, "runner: %s", err.msg);
    if (st == VG_OK) {
        float *xin = malloc(in->count * sizeof(float));
        float *probs = malloc((size_t)N * 5 * sizeof(float));
        vg_fx_nchw_to_nhwc(in->data, N, 3, H, W, xin);
        vg_runner_forward(r, xin, probs);
        vg_shape *sh = malloc(sizeof(vg_shape) * (size_t)g->n_tensors);
        vg_graph_infer(g, H, W, 3, NULL, sh, NULL);
        for (int i = 0; i < GOLDEN_LAYERS; i++) {
            char nm[128];
            snprintf(nm, sizeof nm, "act.%s", golden_layer_name(i));
            const vg_fx_tensor *ref = vg_fixture_get(&fx, nm, 0);
            vg_shape s = sh[net.layer_out[i]];
            if (!ref || ref->ndim != 4 || ref->dims[1] != s.c || ref->dims[2] != s.h ||
                ref->dims[3] != s.w) {
                CHECK(false, "%s: shape %dx%dx%d differs from PyTorch's", golden_layer_name(i),
                      s.h, s.w, s.c);
                continue;
            }
            float *refh = malloc(ref->count * sizeof(float));
            vg_fx_nchw_to_nhwc(ref->data, N, s.c, s.h, s.w, refh);
            size_t wi;
            const float *got = vg_runner_tensor(r, net.layer_out[i]);
            double e = vg_test_max_rel_err(got, refh, ref->count, GOLDEN_FLOOR, &wi);
            CHECK(e < GOLDEN_TOL, "activation %s: max rel err %.3g at %zu (%g vs %g)",
                  golden_layer_name(i), e, wi, got[wi], refh[wi]);
            free(refh);
        }
        const vg_fx_tensor *rl = vg_fixture_get(&fx, "logits", (size_t)N * 5);
        const vg_fx_tensor *rp = vg_fixture_get(&fx, "probs", (size_t)N * 5);
        size_t wi;
        if (rl) {
            double e = vg_test_max_rel_err(vg_runner_tensor(r, net.logits), rl->data, rl->count,
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
