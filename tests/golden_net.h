/* golden_net.h — builds the small MobileNetV2-shaped network of tools/gen_golden_forward.py
 * with vigie's graph builder and loads a fixture's PyTorch-layout weights into it. Shared by
 * the forward and the training golden tests. */
#ifndef VG_GOLDEN_NET_H
#define VG_GOLDEN_NET_H

#include "fixture.h"
#include "model/model.h"

#define GOLDEN_LAYERS 13

typedef struct {
    int layer_out[GOLDEN_LAYERS]; /* tensor after each layer's BN + activation (+ residual) */
    int logits;                   /* FC output */
    int bn_node[GOLDEN_LAYERS];   /* node index of each layer's BN */
    int conv_node[GOLDEN_LAYERS]; /* node index of each layer's convolution */
    int fc_node;
} golden_net;

/* Layer names as in the fixture ("stem", "b1.dw", ...). */
const char *golden_layer_name(int i);
bool golden_layer_depthwise(int i);
int golden_layer_cout(int i);
int golden_layer_k(int i);
int golden_layer_cin(int i);

/* Builds into m->g (input size from the fixture's "input" tensor), loads parameters from the
 * fixture (prefix "" for the initial weights). with_softmax appends a softmax after the FC. */
bool golden_build(vg_model *m, const vg_fixture *fx, float bn_eps, bool with_softmax,
                  golden_net *net);

#endif
