/* golden_net.c — the golden network builder (see golden_net.h). */
#include "golden_net.h"

#include <stdio.h>
#include <string.h>

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
#define N_LAYERS GOLDEN_LAYERS

static bool golden_copy_param(const vg_fixture *fx, const char *name, size_t n, float *dst) {
    const vg_fx_tensor *t = vg_fixture_get(fx, name, n);
    if (!t) return false;
    memcpy(dst, t->data, n * sizeof(float));
    return true;
}


const char *golden_layer_name(int i) { return layers[i].name; }
bool golden_layer_depthwise(int i) { return layers[i].depthwise; }
int golden_layer_cout(int i) { return layers[i].cout; }
int golden_layer_cin(int i) { return layers[i].cin; }
int golden_layer_k(int i) { return layers[i].k; }

bool golden_build(vg_model *m, const vg_fixture *fx, float eps, bool with_softmax,
                  golden_net *net) {
    const vg_fx_tensor *in = vg_fixture_get(fx, "input", 0);
    if (!in || in->ndim != 4) return false;
    m->input.h = in->dims[2];
    m->input.w = in->dims[3];
    vg_graph *g = &m->g;
    int x = 0, skip = -1;
    for (int i = 0; i < N_LAYERS; i++) {
        const layer *L = &layers[i];
        int pad[4] = {L->pad, L->pad, L->pad, L->pad};
        vg_pad_mode pm = L->pad < 0 ? VG_PAD_SAME : VG_PAD_EXPLICIT;
        char nm[128];
        snprintf(nm, sizeof nm, "%s.weight", L->name);
        const vg_fx_tensor *wt =
            vg_fixture_get(fx, nm, (size_t)L->cout * (L->depthwise ? 1 : L->cin) * L->k * L->k);
        if (!wt) return false;
        net->conv_node[i] = g->n_nodes;
        if (L->depthwise) {
            x = vg_graph_dwconv(g, x, L->cin, L->k, L->k, L->stride, pm, pad, false, VG_ACT_NONE);
            vg_fx_dw_to_hwc(wt->data, L->cin, L->k, L->k, g->params + g->nodes[g->n_nodes - 1].w);
        } else {
            x = vg_graph_conv(g, x, L->cin, L->cout, L->k, L->k, L->stride, pm, pad, false,
                              VG_ACT_NONE);
            vg_fx_oihw_to_ohwi(wt->data, L->cout, L->cin, L->k, L->k,
                               g->params + g->nodes[g->n_nodes - 1].w);
        }
        net->bn_node[i] = g->n_nodes;
        x = vg_graph_bn(g, x, L->cout, eps, L->relu6 ? VG_ACT_RELU6 : VG_ACT_NONE);
        float *bn = g->params + g->nodes[g->n_nodes - 1].b;
        static const char *parts[] = {"weight", "bias", "running_mean", "running_var"};
        for (int p = 0; p < 4; p++) {
            snprintf(nm, sizeof nm, "%s.bn.%s", L->name, parts[p]);
            if (!golden_copy_param(fx, nm, (size_t)L->cout, bn + p * L->cout)) return false;
        }
        if (strcmp(L->name, "b2.project") == 0) skip = x;
        if (strcmp(L->name, "b3.project") == 0) x = vg_graph_add(g, x, skip, VG_ACT_NONE);
        net->layer_out[i] = x;
    }
    x = vg_graph_gap(g, x);
    net->fc_node = g->n_nodes;
    net->logits = vg_graph_fc(g, x, 20, 5, true, VG_ACT_NONE);
    const vg_node *fc = &g->nodes[g->n_nodes - 1];
    if (!golden_copy_param(fx, "fc.weight", 100, g->params + fc->w) ||
        !golden_copy_param(fx, "fc.bias", 5, g->params + fc->b))
        return false;
    if (with_softmax) vg_graph_softmax(g, net->logits);
    return true;
}
