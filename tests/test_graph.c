/* test_graph.c — graph building, shape inference and the validator's refusals. */
#include "test.h"

#include "model/graph.h"
#include "model/plan.h"

#include <stddef.h>
#include <string.h>

static vg_graph small_net(void) {
    vg_graph g;
    vg_graph_init(&g);
    int x = vg_graph_conv(&g, 0, 3, 8, 3, 3, 2, VG_PAD_SAME, NULL, true, VG_ACT_RELU6);
    int y = vg_graph_dwconv(&g, x, 8, 3, 3, 1, VG_PAD_SAME, NULL, true, VG_ACT_RELU6);
    int z = vg_graph_add(&g, x, y, VG_ACT_NONE);
    z = vg_graph_gap(&g, z);
    z = vg_graph_fc(&g, z, 8, 4, true, VG_ACT_NONE);
    vg_graph_softmax(&g, z);
    return g;
}

static bool refused(vg_graph *g, const char *what) {
    vg_err err;
    vg_status st = vg_graph_infer(g, 15, 10, 3, NULL, NULL, &err);
    if (st == VG_OK) printf("  accepted: %s\n", what);
    return st == VG_ERR_FORMAT;
}

/* vg_plan_place: buffers whose lifetimes overlap never share memory, a freed one is reused,
 * dedicated ones are never shared, slices are 64-byte aligned */
static void test_plan_place(void) {
    enum { N = 7 };
    /* steps:          t0 (input, not placed), t1..t6 */
    int birth[N] = {-1, 0, 1, 2, 3, 3, 4}, death[N] = {-1, 1, 2, 3, 4, 5, 5};
    size_t size[N] = {0, 100, 50, 100, 10, 30, 100}, off[N];
    bool ded[N] = {false};
    size_t total = vg_plan_place(N, birth, death, size, ded, off);
    CHECK(total != SIZE_MAX && total % 16 == 0, "total %zu", total);
    for (int i = 1; i < N; i++) {
        CHECK(off[i] % 16 == 0 && off[i] + size[i] <= total, "tensor %d at %zu", i, off[i]);
        for (int j = 1; j < i; j++) {
            bool live = !(death[i] < birth[j] || death[j] < birth[i]);
            bool overlap = off[i] < off[j] + size[j] && off[j] < off[i] + size[i];
            CHECK(!(live && overlap), "tensors %d and %d live together and overlap", i, j);
        }
    }
    /* t3 is born after t1 died: its slice comes back (the total is below the sum) */
    CHECK(off[3] == off[1] && total < 100 + 64 + 100 + 16 + 32 + 112, "t3 reuses t1's slice (%zu, %zu)",
          off[3], off[1]);
    /* dedicated: every tensor its own slice */
    for (int i = 0; i < N; i++) ded[i] = true;
    total = vg_plan_place(N, birth, death, size, ded, off);
    for (int i = 1; i < N; i++)
        for (int j = 1; j < i; j++)
            CHECK(off[i] + size[i] <= off[j] || off[j] + size[j] <= off[i], "dedicated %d and %d share", i, j);
    vg_fail_alloc(1);
    CHECK(vg_plan_place(N, birth, death, size, ded, off) == SIZE_MAX, "allocation failure");
    vg_fail_alloc(0);
}

void test_graph(void) {
    test_plan_place();
    vg_graph g = small_net();
    vg_node_geom geom[6];
    vg_shape sh[7];
    vg_err err;
    CHECK(vg_graph_infer(&g, 15, 10, 3, geom, sh, &err) == VG_OK, "infer: %s", err.msg);
    CHECK(sh[1].h == 8 && sh[1].w == 5 && sh[1].c == 8, "conv out %dx%dx%d", sh[1].h, sh[1].w,
          sh[1].c);
    CHECK(geom[0].conv.pt == 1 && geom[0].conv.pl == 0, "SAME pads for 15x10 s2: %d %d",
          geom[0].conv.pt, geom[0].conv.pl);
    CHECK(sh[4].h == 1 && sh[4].c == 8 && sh[6].c == 4, "head shapes");
    CHECK(geom[0].flops == 2LL * 8 * 5 * 8 * 27, "conv flops %lld", (long long)geom[0].flops);
    CHECK(g.n_params == 8 * 27 + 8 + 9 * 8 + 8 + 32 + 4, "params %lld", (long long)g.n_params);

    vg_graph c;
    CHECK(vg_graph_copy(&c, &g) && c.n_nodes == 6 && memcmp(c.params, g.params, 4 * (size_t)g.n_params) == 0,
          "copy");
    vg_graph_free(&c);

    /* each corruption of a valid graph must be refused */
    struct {
        const char *what;
        int node;
        size_t off;
        int64_t value;
        int size;
    } bad[] = {
        {"unknown op", 0, offsetof(vg_node, op), 99, 1},
        {"unknown activation", 0, offsetof(vg_node, act), 7, 1},
        {"forward reference", 1, offsetof(vg_node, in), 3, 4},
        {"self reference", 1, offsetof(vg_node, in), 2, 4},
        {"negative input", 1, offsetof(vg_node, in), -5, 4},
        {"second input on conv", 0, offsetof(vg_node, in) + 4, 0, 4},
        {"output out of order", 2, offsetof(vg_node, out), 1, 4},
        {"zero kernel", 0, offsetof(vg_node, kh), 0, 4},
        {"huge kernel", 0, offsetof(vg_node, kw), 1000, 4},
        {"zero stride", 1, offsetof(vg_node, sh), 0, 4},
        {"bad pad mode", 0, offsetof(vg_node, pad_mode), 9, 1},
        {"zero channels", 0, offsetof(vg_node, co), 0, 4},
        {"huge channels", 4, offsetof(vg_node, co), 1 << 30, 4},
        {"weights past the arena", 4, offsetof(vg_node, w), 1 << 20, 8},
        {"negative weights", 0, offsetof(vg_node, w), -1, 8},
        {"bias past the arena", 1, offsetof(vg_node, b), (int64_t)1 << 40, 8},
        {"add of different shapes", 2, offsetof(vg_node, in) + 4, 0, 4},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vg_graph h;
        vg_graph_copy(&h, &g);
        uint8_t *p = (uint8_t *)&h.nodes[bad[i].node] + bad[i].off;
        if (bad[i].size == 1) *p = (uint8_t)bad[i].value;
        else if (bad[i].size == 4) {
            int32_t v = (int32_t)bad[i].value;
            memcpy(p, &v, 4);
        } else memcpy(p, &bad[i].value, 8);
        CHECK(refused(&h, bad[i].what), "%s was accepted", bad[i].what);
        vg_graph_free(&h);
    }
    /* explicit padding beyond the kernel, and a kernel larger than the input */
    vg_graph h;
    vg_graph_init(&h);
    int pad[4] = {3, 0, 0, 0};
    vg_graph_conv(&h, 0, 3, 4, 3, 3, 1, VG_PAD_EXPLICIT, pad, false, VG_ACT_NONE);
    CHECK(refused(&h, "pad >= kernel"), "pad >= kernel accepted");
    vg_graph_free(&h);
    vg_graph_init(&h);
    vg_graph_conv(&h, 0, 3, 4, 31, 3, 1, VG_PAD_EXPLICIT, NULL, false, VG_ACT_NONE);
    CHECK(refused(&h, "kernel > input"), "kernel > input accepted");
    vg_graph_free(&h);
    /* a product: same shape or (1, 1, c) channel weights, in either of those only */
    vg_graph_init(&h);
    int t1 = vg_graph_conv(&h, 0, 3, 4, 3, 3, 2, VG_PAD_SAME, NULL, false, VG_ACT_NONE);
    int t2 = vg_graph_gap(&h, t1);
    int t3 = vg_graph_mul(&h, t1, t2, VG_ACT_HSWISH);
    vg_graph_mul(&h, t3, t1, VG_ACT_NONE);
    vg_node_geom mg[4];
    CHECK(vg_graph_infer(&h, 15, 10, 3, mg, NULL, &err) == VG_OK && mg[2].in2.h == 1 &&
              mg[2].in2.c == 4 && mg[3].in2.h == 8 && mg[2].out.h == 8 && mg[2].out.c == 4,
          "mul shapes: %s", err.msg);
    h.nodes[2].in[0] = t2, h.nodes[2].in[1] = t1; /* (1,1,c) * (h,w,c): the big one first */
    CHECK(refused(&h, "mul of channel weights by a map"), "mul (1,1,c) * map accepted");
    h.nodes[2].in[0] = t1, h.nodes[2].in[1] = -1;
    CHECK(refused(&h, "mul without its second input"), "mul with one input accepted");
    vg_graph_free(&h);
    vg_graph_init(&h);
    t1 = vg_graph_conv(&h, 0, 3, 4, 3, 3, 2, VG_PAD_SAME, NULL, false, VG_ACT_NONE);
    t2 = vg_graph_conv(&h, t1, 4, 5, 1, 1, 1, VG_PAD_SAME, NULL, false, VG_ACT_NONE);
    vg_graph_mul(&h, t1, t2, VG_ACT_NONE);
    CHECK(refused(&h, "mul of different channels"), "mul of 4 by 5 channels accepted");
    vg_graph_free(&h);
    /* a BN without its statistics */
    vg_graph_init(&h);
    vg_graph_bn(&h, 0, 3, 1e-3f, VG_ACT_NONE);
    h.nodes[0].b = -1;
    CHECK(refused(&h, "bn without stats"), "BN without stats accepted");
    h.nodes[0].b = 0;
    h.nodes[0].eps = 0;
    CHECK(refused(&h, "bn eps 0"), "BN eps 0 accepted");
    vg_graph_free(&h);
    /* empty graph, wrong input size */
    vg_graph_init(&h);
    CHECK(refused(&h, "empty"), "empty graph accepted");
    vg_graph_free(&h);
    CHECK(vg_graph_infer(&g, 0, 10, 3, NULL, NULL, &err) != VG_OK, "zero input accepted");
    vg_graph_free(&g);
}
