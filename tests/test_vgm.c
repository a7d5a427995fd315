/* test_vgm.c — the .vgm format: a round trip keeps everything bit-exact, and files whose
 * checksum is right but whose contents are hostile are still refused. */
#include "test.h"

#include "model/model.h"

#include <string.h>

/* A small valid model with random weights, labels and metadata. */
vg_model *vg_test_small_model(void);
vg_model *vg_test_small_model(void) {
    vg_model *m = vg_model_new();
    m->input = (vg_input_spec){19, 13, 3, {120, 121, 122}, {60, 61, 62}};
    vg_graph *g = &m->g;
    int x = vg_graph_conv(g, 0, 3, 8, 3, 3, 2, VG_PAD_SAME, NULL, true, VG_ACT_RELU6);
    int pad[4] = {1, 1, 1, 1};
    int y = vg_graph_dwconv(g, x, 8, 3, 3, 1, VG_PAD_EXPLICIT, pad, false, VG_ACT_RELU6);
    y = vg_graph_bn(g, y, 8, 1e-3f, VG_ACT_NONE);
    int z = vg_graph_add(g, x, y, VG_ACT_RELU);
    z = vg_graph_gap(g, z);
    z = vg_graph_fc(g, z, 8, 3, true, VG_ACT_NONE);
    vg_graph_softmax(g, z);
    vg_test_seed(42);
    vg_test_fill(g->params, (size_t)g->n_params, -1, 1);
    /* BN variances must stay positive */
    float *bn = g->params + g->nodes[2].b;
    for (int i = 0; i < 8; i++) bn[24 + i] = 0.5f + fabsf(bn[24 + i]);
    const char *labels[] = {"fire", "smoke", "neutral"};
    vg_model_set_labels(m, labels, 3, NULL);
    vg_model_set_meta(m, "source", "unit test", NULL);
    vg_model_set_meta(m, "alarm_threshold", "0.42", NULL);
    return m;
}

static vg_status parse(const vg_wr *w, vg_model **m, vg_err *err) {
    return vg_model_parse(w->p, w->n, "t.vgm", m, err);
}

static void fix_crc(vg_wr *w) {
    uint32_t c = vg_crc32(w->p, w->n - 4);
    for (int i = 0; i < 4; i++) w->p[w->n - 4 + i] = (uint8_t)(c >> (8 * i));
}

/* offset of a chunk's payload */
static size_t find_chunk(const vg_wr *w, const char *tag) {
    for (size_t i = 16; i + 16 <= w->n; i++)
        if (memcmp(w->p + i, tag, 4) == 0) return i + 16;
    return 0;
}

void test_vgm(void) {
    vg_model *m = vg_test_small_model();
    vg_err err;
    char path[700];
    snprintf(path, sizeof path, "%s/m.vgm", vg_test_tmpdir());
    CHECK(vg_model_save(m, path, &err) == VG_OK, "save: %s", err.msg);
    vg_model *l = NULL;
    CHECK(vg_model_load(path, &l, &err) == VG_OK, "load: %s", err.msg);
    if (!l) {
        vg_model_free(m);
        return;
    }
    CHECK(l->g.n_nodes == m->g.n_nodes && memcmp(l->g.nodes, m->g.nodes,
                                                 sizeof(vg_node) * (size_t)m->g.n_nodes) == 0,
          "nodes differ after round trip");
    CHECK(l->g.n_params == m->g.n_params &&
              memcmp(l->g.params, m->g.params, 4 * (size_t)m->g.n_params) == 0,
          "params differ after round trip");
    CHECK(memcmp(&l->input, &m->input, sizeof m->input) == 0, "input spec differs");
    CHECK(l->n_labels == 3 && strcmp(vg_model_label(l, 1), "smoke") == 0, "labels");
    CHECK(vg_model_get_meta(l, "alarm_threshold") &&
              strcmp(vg_model_get_meta(l, "alarm_threshold"), "0.42") == 0,
          "metadata");
    vg_model_info info;
    vg_model_get_info(l, &info);
    CHECK(info.file_bytes > 0 && info.n_classes == 3 && info.n_layers == 7, "info");

    /* same outputs, bit for bit */
    vg_runner *r1 = NULL, *r2 = NULL;
    vg_runner_init(&r1, m, NULL, NULL);
    vg_runner_init(&r2, l, NULL, NULL);
    float in[19 * 13 * 3], o1[3], o2[3];
    vg_test_fill(in, sizeof in / 4, -2, 2);
    vg_runner_forward(r1, in, o1);
    vg_runner_forward(r2, in, o2);
    CHECK(memcmp(o1, o2, sizeof o1) == 0, "outputs differ after round trip");
    CHECK(fabsf(o1[0] + o1[1] + o1[2] - 1) < 1e-5f, "softmax output sums to %g", o1[0] + o1[1] + o1[2]);
    vg_runner_free(r1);
    vg_runner_free(r2);
    vg_model_free(l);

    /* refusals with a valid checksum */
    vg_wr w = {0};
    CHECK(vg_model_serialize(m, &w, &err) == VG_OK, "serialize");
    size_t g = find_chunk(&w, "GRPH"), p = find_chunk(&w, "PARM");
    CHECK(g && p, "chunks found");
    struct {
        const char *what;
        size_t at;
        uint32_t value;
    } hostile[] = {
        {"node input out of range", g + 8 + 4, 99},
        {"node op unknown", g + 8, 0x000000ff},
        {"node count too large", g, 5000},
        {"output tensor 0", g + 4, 0},
        {"parameter count lies", p, 7},
        {"chunk length beyond the file", p - 8, 0x7fffffff},
        {"version", 8, 2},
        {"kernel size", g + 8 + 16, 0x10000},
    };
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        vg_wr h = {0};
        vg_wr_bytes(&h, w.p, w.n);
        for (int k = 0; k < 4; k++) h.p[hostile[i].at + k] = (uint8_t)(hostile[i].value >> (8 * k));
        fix_crc(&h);
        vg_model *x = NULL;
        vg_status st = parse(&h, &x, &err);
        CHECK(st != VG_OK && x == NULL && strstr(err.msg, "t.vgm"), "%s: accepted (%s)",
              hostile[i].what, err.msg);
        vg_model_free(x);
        vg_wr_free(&h);
    }
    /* an unknown chunk is skipped (forward compatibility) */
    {
        vg_wr h = {0};
        vg_wr_bytes(&h, w.p, w.n - 4);
        vg_wr_bytes(&h, "XTRA", 4);
        vg_wr_u32(&h, 0);
        vg_wr_u64(&h, 3);
        vg_wr_bytes(&h, "abc", 3);
        vg_wr_u32(&h, 0);
        fix_crc(&h);
        vg_model *x = NULL;
        CHECK(parse(&h, &x, &err) == VG_OK, "unknown chunk refused: %s", err.msg);
        vg_model_free(x);
        vg_wr_free(&h);
    }
    /* the wrong kind of file */
    vg_model *x = NULL;
    CHECK(vg_model_parse((const uint8_t *)"hello world, not a model", 24, "t.vgm", &x, &err) ==
                  VG_ERR_FORMAT &&
              strstr(err.msg, "not a vigie model"),
          "%s", err.msg);
    /* labels that do not match the outputs are refused at save time */
    const char *two[] = {"a", "b"};
    vg_model_set_labels(m, two, 2, NULL);
    CHECK(vg_model_save(m, path, &err) == VG_ERR_FORMAT, "mismatched labels saved");
    CHECK(vg_model_load(path, &l, &err) == VG_OK, "failed save damaged the old file: %s", err.msg);
    vg_model_free(l);
    vg_wr_free(&w);
    vg_model_free(m);
}
