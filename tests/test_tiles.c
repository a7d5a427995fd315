/* test_tiles.c — tiled classification (vigie.h, "tiles"): the layout (views cover every pixel
 * of the frame, neighbours overlap by the documented quarter, tiles stay inside), bad layouts
 * refused with a message, the batched pass equal to classifying each view alone (float, with
 * mirror averaging, and int8), the max rule on constructed probabilities, a small red patch in
 * a corner of a large frame scoring higher through the tiles than through the whole frame, and
 * the whole-frame heat map put together from the views. */
#include "test.h"

#include "compress/calib.h"
#include "model/model.h"
#include "watch/cam.h"

#include <stdlib.h>
#include <string.h>

/* ---- layout ------------------------------------------------------------------------------ */

static int ceil_div(int64_t a, int64_t b) {
    return (int)((a + b - 1) / b);
}

/* checks one layout of a w x h frame; returns false when it was (rightly) refused */
static bool check_layout(int w, int h, int rows, int cols) {
    vg_rect v[1 + VG_TILES_MAX * VG_TILES_MAX];
    int n = -1;
    vg_err err;
    vg_status st = vg_tiles_layout(w, h, rows, cols, v, 65, &n, &err);
    /* the documented sides: ceil(W / (1 + (C-1) 3/4)) = ceil(4W / (3C + 1)) */
    int tw = ceil_div(4 * (int64_t)w, 3 * cols + 1), th = ceil_div(4 * (int64_t)h, 3 * rows + 1);
    bool tiled = rows * cols > 1;
    if (tiled && (tw < VG_TILES_MIN_SIDE || th < VG_TILES_MIN_SIDE)) {
        CHECK(st == VG_ERR_ARG && strstr(err.msg, "minimum"),
              "%dx%d in %dx%d: tiles %dx%d accepted", w, h, rows, cols, tw, th);
        return false;
    }
    CHECK(st == VG_OK, "%dx%d in %dx%d: %s", w, h, rows, cols, err.msg);
    if (st != VG_OK) return false;
    CHECK(n == vg_tiles_count(rows, cols) && n == (tiled ? 1 + rows * cols : 1), "%dx%d: %d views",
          rows, cols, n);
    CHECK(v[0].x == 0 && v[0].y == 0 && v[0].w == w && v[0].h == h, "view 0 is not the frame");
    for (int i = 0; tiled && i < rows; i++)
        for (int j = 0; j < cols; j++) {
            const vg_rect *r = &v[1 + i * cols + j];
            CHECK(r->w == tw && r->h == th, "%dx%d frame, %dx%d: tile %d,%d is %dx%d, wanted %dx%d",
                  w, h, rows, cols, i, j, r->w, r->h, tw, th);
            CHECK(r->x >= 0 && r->y >= 0 && r->x + r->w <= w && r->y + r->h <= h,
                  "tile %d,%d (%dx%d at %d,%d) leaves the %dx%d frame", i, j, r->w, r->h, r->x,
                  r->y, w, h);
            /* rows share their x positions, columns their y positions */
            CHECK(r->x == v[1 + j].x && r->y == v[1 + i * cols].y, "tile %d,%d not on the grid", i,
                  j);
            if (j + 1 < cols) { /* horizontal neighbours: a quarter of the side, -1..+3 px */
                int ov = r->x + r->w - v[1 + i * cols + j + 1].x;
                CHECK(ov >= 0.25 * tw - 1 && ov <= 0.25 * tw + 3,
                      "%dx%d frame, %dx%d: columns %d/%d overlap by %d of %d", w, h, rows, cols, j,
                      j + 1, ov, tw);
            }
            if (i + 1 < rows) {
                int ov = r->y + r->h - v[1 + (i + 1) * cols + j].y;
                CHECK(ov >= 0.25 * th - 1 && ov <= 0.25 * th + 3,
                      "%dx%d frame, %dx%d: rows %d/%d overlap by %d of %d", w, h, rows, cols, i,
                      i + 1, ov, th);
            }
        }
    if (tiled) { /* the first tile starts at 0, the last one ends at the frame's edge */
        const vg_rect *last = &v[rows * cols];
        CHECK(v[1].x == 0 && v[1].y == 0 && last->x + last->w == w && last->y + last->h == h,
              "%dx%d frame, %dx%d: tiles do not reach the edges", w, h, rows, cols);
    }
    /* the tiles alone cover every pixel (view 0 does trivially) */
    if (tiled && (int64_t)w * h <= 700000) {
        uint8_t *seen = calloc((size_t)w * h, 1);
        for (int k = 1; seen && k < n; k++)
            for (int y = v[k].y; y < v[k].y + v[k].h; y++)
                memset(seen + (size_t)y * w + v[k].x, 1, (size_t)v[k].w);
        int64_t missed = 0;
        for (int64_t p = 0; seen && p < (int64_t)w * h; p++)
            missed += !seen[p];
        CHECK(seen && missed == 0, "%dx%d frame, %dx%d: %lld pixels in no tile", w, h, rows, cols,
              (long long)missed);
        free(seen);
    }
    return true;
}

static void test_layout(void) {
    static const int sizes[][2] = {{1920, 1080}, {608, 608}, {640, 480}, {384, 384},  {1281, 719},
                                   {100, 37},    {16, 16},   {129, 130}, {3840, 2160}};
    int accepted = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int r = 1; r <= VG_TILES_MAX; r++)
            for (int c = 1; c <= VG_TILES_MAX; c++)
                accepted += check_layout(sizes[s][0], sizes[s][1], r, c);
    CHECK(accepted > 300, "only %d layouts accepted", accepted);
    /* the example of vigie.h: 1920x1080 in 2x2 */
    vg_rect v[5];
    int n;
    vg_err err;
    CHECK(vg_tiles_layout(1920, 1080, 2, 2, v, 5, &n, &err) == VG_OK, "%s", err.msg);
    CHECK(n == 5 && v[1].w == 1098 && v[1].h == 618 && v[2].x == 822 && v[3].y == 462 &&
              v[4].x == 822 && v[4].y == 462,
          "1920x1080 2x2: %dx%d, x %d, y %d", v[1].w, v[1].h, v[2].x, v[3].y);
}

static void test_bad_layouts(void) {
    vg_rect v[70];
    int n = 7;
    vg_err err;
    static const int bad[][2] = {{0, 2}, {2, 0}, {9, 1}, {1, 9}, {-1, 2}, {0, 0}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(vg_tiles_count(bad[i][0], bad[i][1]) == 0, "count %dx%d", bad[i][0], bad[i][1]);
        CHECK(vg_tiles_layout(640, 480, bad[i][0], bad[i][1], v, 70, &n, &err) == VG_ERR_ARG &&
                  strstr(err.msg, "1..8") && n == 0,
              "layout %dx%d: %s", bad[i][0], bad[i][1], err.msg);
    }
    CHECK(vg_tiles_layout(20, 20, 2, 2, v, 70, &n, &err) == VG_ERR_ARG &&
              strstr(err.msg, "20x20") && strstr(err.msg, "minimum"),
          "tiny frame: %s", err.msg);
    CHECK(vg_tiles_layout(640, 480, 2, 2, v, 4, &n, &err) == VG_ERR_ARG && strstr(err.msg, "5"),
          "room for 4 views: %s", err.msg);
    CHECK(vg_tiles_layout(0, 480, 1, 1, v, 4, &n, &err) == VG_ERR_ARG, "0-wide frame");
    /* parsing */
    static const char *good[] = {"2x2", "1x3", "8x8", "3X1", "1x1"};
    static const int gr[] = {2, 1, 8, 3, 1}, gc[] = {2, 3, 8, 1, 1};
    for (int i = 0; i < 5; i++) {
        int r, c;
        CHECK(vg_tiles_parse(good[i], &r, &c, &err) == VG_OK && r == gr[i] && c == gc[i],
              "parse '%s': %d x %d", good[i], r, c);
    }
    static const char *junk[] = {"abc",   "0x2", "2x",  "x2",  "2x2x", " 2x2", "2x-1",
                                 "100x1", "",    "9x1", "2*2", "2x2 ", "+2x2", "2.0x2"};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        int r = -1, c = -1;
        CHECK(vg_tiles_parse(junk[i], &r, &c, &err) == VG_ERR_ARG && r == 0 && c == 0 &&
                  strstr(err.msg, "tiles"),
              "parse '%s' accepted (%d x %d)", junk[i], r, c);
    }
    int r, c;
    CHECK(vg_tiles_parse(NULL, &r, &c, &err) == VG_ERR_ARG, "NULL parsed");
}

/* ---- a small network ------------------------------------------------------------------- */

#define IN_W 24
#define IN_H 20
#define NC   3

/* 24x20x3 -> conv 3x3/2 (8, ReLU6) -> dw 3x3 (ReLU6) -> conv 1x1 (12, ReLU6) -> GAP -> FC 3 ->
 * softmax, random weights; labels fire, neutral, smoke */
static vg_model *small_net(unsigned seed) {
    vg_model *m = vg_model_new();
    m->input = (vg_input_spec){IN_W, IN_H, 3, {120, 110, 100}, {60, 64, 58}};
    vg_graph *g = &m->g;
    int t = vg_graph_conv(g, 0, 3, 8, 3, 3, 2, VG_PAD_SAME, NULL, true, VG_ACT_RELU6);
    t = vg_graph_dwconv(g, t, 8, 3, 3, 1, VG_PAD_SAME, NULL, true, VG_ACT_RELU6);
    t = vg_graph_conv(g, t, 8, 12, 1, 1, 1, VG_PAD_SAME, NULL, true, VG_ACT_RELU6);
    t = vg_graph_gap(g, t);
    t = vg_graph_fc(g, t, 12, NC, true, VG_ACT_NONE);
    vg_graph_softmax(g, t);
    vg_test_seed(seed);
    vg_test_fill(g->params, (size_t)g->n_params, -0.8f, 0.8f);
    static const char *const labels[NC] = {"fire", "neutral", "smoke"};
    vg_model_set_labels(m, labels, NC, NULL);
    return m;
}

/* a frame with some structure: gradients, noise and a bright block */
static vg_image make_frame(int w, int h, unsigned seed) {
    vg_image f = {w, h, malloc((size_t)w * h * 3)};
    vg_test_seed(seed);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 3; k++) {
                float v = 40.0f +
                          150.0f *
                              (float)(k == 0   ? x
                                      : k == 1 ? y
                                               : x + y) /
                              (float)(w + h) +
                          vg_test_uniform(-40, 40);
                if (x > w / 2 && x < w / 2 + w / 8 && y > h / 3 && y < h / 2) v += 60;
                f.rgb[((size_t)y * w + x) * 3 + k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    return f;
}

static vg_image crop(const vg_image *f, const vg_rect *r) {
    vg_image c = {r->w, r->h, malloc((size_t)r->w * r->h * 3)};
    for (int y = 0; y < r->h; y++)
        memcpy(c.rgb + (size_t)y * r->w * 3, f->rgb + ((size_t)(r->y + y) * f->w + r->x) * 3,
               (size_t)r->w * 3);
    return c;
}

static const uint8_t alarm_fs[NC] = {1, 0, 1}; /* fire and smoke */

/* the batched tiled pass against each view classified alone by a batch-1 runner */
static void compare_one_by_one(const vg_model *m, int precision, const char *what) {
    static const int layouts[][2] = {{2, 2}, {1, 3}, {3, 2}};
    vg_image f = make_frame(157, 113, 9);
    vg_err err;
    vg_runner *r1 = NULL;
    vg_runner_opts o = vg_runner_opts_default();
    o.precision = precision;
    CHECK(vg_runner_init(&r1, m, &o, &err) == VG_OK, "%s: %s", what, err.msg);
    for (size_t l = 0; r1 && l < sizeof layouts / sizeof layouts[0]; l++) {
        int rows = layouts[l][0], cols = layouts[l][1], n = vg_tiles_count(rows, cols);
        vg_runner *rb = NULL;
        o.batch = n;
        CHECK(vg_runner_init(&rb, m, &o, &err) == VG_OK, "%s: %s", what, err.msg);
        if (!rb) continue;
        float per_view[(1 + 6) * NC], probs[NC];
        int best = -1;
        CHECK(vg_runner_classify_tiles(rb, &f, rows, cols, alarm_fs, probs, NC, per_view,
                                       (size_t)n * NC, &best, &err) == VG_OK,
              "%s %dx%d: %s", what, rows, cols, err.msg);
        vg_rect v[7];
        int nv;
        vg_tiles_layout(f.w, f.h, rows, cols, v, 7, &nv, &err);
        /* the same kernels on the same values: differences could only come from a batch-
         * dependent split of the work; 1e-5 on probabilities allows a few float ulps */
        double worst = 0;
        for (int k = 0; k < nv; k++) {
            vg_image c = crop(&f, &v[k]);
            float p1[NC];
            CHECK(vg_runner_classify(r1, &c, p1, NC, &err) == VG_OK, "%s: %s", what, err.msg);
            for (int j = 0; j < NC; j++)
                worst = fmax(worst, fabs(p1[j] - per_view[k * NC + j]));
            vg_image_free(&c);
        }
        CHECK(worst <= 1e-5, "%s %dx%d: batched vs one by one differ by %g", what, rows, cols,
              worst);
        /* the result is the best view's vector, and the best view has the highest score */
        CHECK(best >= 0 && best < nv && memcmp(probs, per_view + best * NC, sizeof probs) == 0,
              "%s: probs are not view %d's", what, best);
        for (int k = 0; k < nv; k++)
            CHECK(per_view[k * NC] + per_view[k * NC + 2] <=
                      per_view[best * NC] + per_view[best * NC + 2],
                  "%s: view %d scores above the best view %d", what, k, best);
        vg_runner_free(rb);
        o.batch = 1;
    }
    /* 1x1 through the tiled call is vg_runner_classify, bit for bit */
    if (r1) {
        float a[NC], b[NC], pv[NC];
        int best = -1;
        vg_runner_classify(r1, &f, a, NC, &err);
        CHECK(vg_runner_classify_tiles(r1, &f, 1, 1, alarm_fs, b, NC, pv, NC, &best, &err) ==
                      VG_OK &&
                  memcmp(a, b, sizeof a) == 0 && memcmp(a, pv, sizeof a) == 0 && best == 0,
              "%s: 1x1 tiles differ from classify", what);
    }
    vg_runner_free(r1);
    vg_image_free(&f);
}

typedef struct {
    size_t n;
} fetch_ctx;

static vg_status fetch_random(void *ud, int i, float *in, vg_err *err) {
    (void)err;
    vg_test_seed(500 + (unsigned)i);
    vg_test_fill(in, ((fetch_ctx *)ud)->n, -2.0f, 2.0f);
    return VG_OK;
}

static void test_batched_equals_single(void) {
    vg_model *m = small_net(21);
    compare_one_by_one(m, VG_PRECISION_FLOAT, "float");
    vg_err err;
    /* mirror averaging applies to every view, as vg_runner_classify applies it */
    CHECK(vg_model_set_meta(m, "tta", "flip", &err) == VG_OK, "%s", err.msg);
    compare_one_by_one(m, VG_PRECISION_FLOAT, "float, tta=flip");
    /* the integer kernels */
    fetch_ctx fc = {(size_t)IN_W * IN_H * 3};
    vg_calib_table t;
    if (vg_calibrate(m, 20, fetch_random, &fc, VG_CALIB_MINMAX, 0, 1, NULL, NULL, &t, &err) ==
            VG_OK &&
        vg_model_quantize(m, &t, false, &err) == VG_OK) {
        compare_one_by_one(m, VG_PRECISION_INT8, "int8, tta=flip");
        vg_calib_table_free(&t);
    } else {
        CHECK(false, "quantize the small net: %s", err.msg);
    }
    /* the runner must be planned for the layout, and the outputs must fit */
    vg_image f = make_frame(157, 113, 9);
    vg_runner *r = NULL;
    vg_runner_opts o = vg_runner_opts_default();
    vg_runner_init(&r, m, &o, &err);
    float probs[NC], pv[5 * NC];
    CHECK(vg_runner_classify_tiles(r, &f, 2, 2, alarm_fs, probs, NC, pv, 5 * NC, NULL, &err) ==
                  VG_ERR_ARG &&
              strstr(err.msg, "batch 5"),
          "batch-1 runner for 2x2: %s", err.msg);
    vg_runner_free(r);
    o.batch = 6;
    vg_runner_init(&r, m, &o, &err);
    CHECK(vg_runner_classify_tiles(r, &f, 2, 2, alarm_fs, probs, NC, pv, 5 * NC, NULL, &err) ==
              VG_ERR_ARG,
          "batch-6 runner for 2x2 accepted");
    vg_runner_free(r);
    o.batch = 5;
    vg_runner_init(&r, m, &o, &err);
    CHECK(vg_runner_classify_tiles(r, &f, 2, 2, alarm_fs, probs, NC, pv, 4 * NC, NULL, &err) ==
              VG_ERR_ARG,
          "short per-view output accepted");
    CHECK(vg_runner_classify_tiles(r, &f, 2, 2, alarm_fs, probs, 2, NULL, 0, NULL, &err) ==
              VG_ERR_ARG,
          "short probs accepted");
    static const uint8_t none[NC] = {0, 0, 0};
    CHECK(vg_runner_classify_tiles(r, &f, 2, 2, none, probs, NC, NULL, 0, NULL, &err) ==
                  VG_ERR_ARG &&
              strstr(err.msg, "alarm class"),
          "no alarm class: %s", err.msg);
    CHECK(vg_runner_classify_tiles(r, &f, 0, 2, alarm_fs, probs, NC, NULL, 0, NULL, &err) ==
              VG_ERR_ARG,
          "0x2 accepted");
    vg_image small = make_frame(20, 20, 3);
    CHECK(vg_runner_classify_tiles(r, &small, 2, 2, alarm_fs, probs, NC, NULL, 0, NULL, &err) ==
                  VG_ERR_ARG &&
              strstr(err.msg, "minimum"),
          "20x20 frame in 2x2: %s", err.msg);
    /* per_view NULL gives the same result as with it */
    float p2[NC];
    int b1 = -1, b2 = -2;
    vg_runner_classify_tiles(r, &f, 2, 2, alarm_fs, probs, NC, pv, 5 * NC, &b1, &err);
    vg_runner_classify_tiles(r, &f, 2, 2, alarm_fs, p2, NC, NULL, 0, &b2, &err);
    CHECK(b1 == b2 && memcmp(probs, p2, sizeof p2) == 0, "per_view NULL changes the result");
    vg_runner_free(r);
    vg_image_free(&small);
    vg_image_free(&f);
    vg_model_free(m);
}

/* ---- the max rule -------------------------------------------------------------------------- */

static void test_max_rule(void) {
    /* views x (fire, neutral, smoke); alarm scores 0.3, 0.8, 0.9, 0.9 */
    const float pv[4 * NC] = {0.2f, 0.7f, 0.1f, 0.5f, 0.2f, 0.3f,
                              0.1f, 0.1f, 0.8f, 0.6f, 0.1f, 0.3f};
    float probs[NC], score = -1;
    int b = vg_tiles_combine(pv, 4, NC, alarm_fs, probs, &score);
    CHECK(b == 2, "best view %d, wanted 2 (first of the two at 0.9)", b);
    CHECK(memcmp(probs, pv + 2 * NC, sizeof probs) == 0, "probs are not view 2's");
    CHECK_NEAR(score, 0.9, 1e-6, "frame score");
    /* the max over views is at least every view's score, and the whole frame's */
    for (int v = 0; v < 4; v++)
        CHECK(score >= pv[v * NC] + pv[v * NC + 2] - 1e-7, "view %d above the max", v);
    /* another set of alarm classes ranks the views otherwise: fire alone -> view 3 */
    static const uint8_t fire_only[NC] = {1, 0, 0};
    b = vg_tiles_combine(pv, 4, NC, fire_only, probs, &score);
    CHECK(b == 3 && fabs(score - 0.6) < 1e-6, "fire only: view %d, score %g", b, score);
    /* ties: the whole frame (view 0) wins */
    const float tie[3 * NC] = {0.3f, 0.4f, 0.3f, 0.5f, 0.4f, 0.1f, 0.1f, 0.4f, 0.5f};
    CHECK(vg_tiles_combine(tie, 3, NC, alarm_fs, probs, NULL) == 0, "a tie is not view 0's");
    /* NaN never wins, and does not block later views */
    const float nan1[3 * NC] = {NAN, 0.5f, 0.1f, 0.2f, 0.6f, 0.2f, 0.1f, NAN, NAN};
    b = vg_tiles_combine(nan1, 3, NC, alarm_fs, probs, &score);
    CHECK(b == 1 && fabs(score - 0.4) < 1e-6, "NaN whole frame: view %d score %g", b, score);
    const float nan2[3 * NC] = {0.1f, 0.8f, 0.1f, NAN, 0.0f, 0.5f, 0.3f, 0.6f, 0.1f};
    b = vg_tiles_combine(nan2, 3, NC, alarm_fs, probs, &score);
    CHECK(b == 2, "NaN tile chosen: view %d", b);
    /* one view: itself */
    CHECK(vg_tiles_combine(pv, 1, NC, alarm_fs, probs, &score) == 0 && fabs(score - 0.3) < 1e-6,
          "one view");
}

/* ---- a small fire in a big frame ----------------------------------------------------------- */

#define RW 32 /* input of the red detector */

/* A "red detector": feature f = ReLU((R - G) / 128) per pixel (1x1 conv), its mean over the
 * image (GAP), logits fire = 600 f, neutral = 3, smoke = -5. On a gray frame (R = G) with a
 * red patch, R - G >= 0 everywhere, resizing (bilinear or area) keeps the mean of R - G, so f
 * averages to 255/128 x the patch's share of the view: a view in which the patch takes a
 * larger share has a larger p(fire). A 2x2 tile holds the whole patch in ~1/3 of the frame's
 * area, so its alarm score is higher than the whole frame's — what tiles are for. */
static vg_model *red_detector(void) {
    vg_model *m = vg_model_new();
    m->input = (vg_input_spec){RW, RW, 3, {128, 128, 128}, {128, 128, 128}};
    vg_graph *g = &m->g;
    int t = vg_graph_conv(g, 0, 3, 1, 1, 1, 1, VG_PAD_SAME, NULL, true, VG_ACT_RELU);
    const vg_node *cv = &g->nodes[g->n_nodes - 1];
    float *w = g->params + cv->w;
    w[0] = 1, w[1] = -1, w[2] = 0;
    g->params[cv->b] = 0;
    t = vg_graph_gap(g, t);
    t = vg_graph_fc(g, t, 1, NC, true, VG_ACT_NONE);
    const vg_node *fc = &g->nodes[g->n_nodes - 1];
    float *fw = g->params + fc->w, *fb = g->params + fc->b;
    fw[0] = 600, fw[1] = 0, fw[2] = 0;
    fb[0] = 0, fb[1] = 3, fb[2] = -5;
    vg_graph_softmax(g, t);
    static const char *const labels[NC] = {"fire", "neutral", "smoke"};
    vg_model_set_labels(m, labels, NC, NULL);
    return m;
}

static void test_small_fire(void) {
    vg_model *m = red_detector();
    const int W = 640, H = 480, P = 24, X0 = W - 8 - P, Y0 = H - 8 - P; /* bottom-right corner */
    vg_image f = {W, H, malloc((size_t)W * H * 3)};
    memset(f.rgb, 128, (size_t)W * H * 3);
    for (int y = Y0; y < Y0 + P; y++)
        for (int x = X0; x < X0 + P; x++) {
            uint8_t *p = f.rgb + ((size_t)y * W + x) * 3;
            p[0] = 255, p[1] = 0, p[2] = 0;
        }
    vg_err err;
    vg_runner *r1 = NULL, *r5 = NULL;
    vg_runner_opts o = vg_runner_opts_default();
    CHECK(vg_runner_init(&r1, m, &o, &err) == VG_OK, "%s", err.msg);
    o.batch = 5;
    CHECK(vg_runner_init(&r5, m, &o, &err) == VG_OK, "%s", err.msg);
    if (r1 && r5) {
        float whole[NC], tiled[NC], pv[5 * NC];
        int best = -1;
        CHECK(vg_runner_classify(r1, &f, whole, NC, &err) == VG_OK, "%s", err.msg);
        CHECK(vg_runner_classify_tiles(r5, &f, 2, 2, alarm_fs, tiled, NC, pv, 5 * NC, &best,
                                       &err) == VG_OK,
              "%s", err.msg);
        double s_whole = whole[0] + whole[2], s_tiled = tiled[0] + tiled[2];
        /* expected from the shares: whole 576/307200 -> p ~0.32; tile 576/(366x275) -> ~0.98 */
        CHECK(s_tiled > s_whole + 0.3, "alarm score through tiles %.4f, whole frame %.4f", s_tiled,
              s_whole);
        CHECK(best == 4, "best view %d, wanted 4 (the bottom-right tile)", best);
        /* the tiles that miss the patch see a plain gray image: the lowest scores */
        for (int v = 1; v <= 3; v++)
            CHECK(pv[v * NC] < whole[0], "tile %d without the patch: p(fire) %.4f >= whole %.4f", v,
                  pv[v * NC], whole[0]);
        printf("  small fire: alarm score %.3f whole frame, %.3f through 2x2 tiles\n", s_whole,
               s_tiled);
    }
    /* the heat map of the whole frame, from the views: hottest where the patch is */
    vg_watch_cam cam;
    CHECK(vg_watch_cam_init(&cam, m, &err) == VG_OK, "%s", err.msg);
    int mh, mw;
    vg_watch_cam_size(&cam, 2, 2, &mh, &mw);
    CHECK(mh == 4 * cam.fh && mw == 4 * cam.fw, "map %dx%d for a %dx%d feature map", mh, mw, cam.fh,
          cam.fw);
    float *map = malloc(sizeof(float) * (size_t)mh * mw);
    bool fire_cls[NC] = {true, false, false};
    CHECK(vg_watch_cam_map_tiles(&cam, &f, 2, 2, fire_cls, map, &err) == VG_OK, "%s", err.msg);
    int hot = 0;
    bool finite = true;
    for (int i = 0; i < mh * mw; i++) {
        finite &= isfinite(map[i]) != 0;
        if (map[i] > map[hot]) hot = i;
    }
    CHECK(finite, "cells of the map no view covered");
    double cx = (hot % mw + 0.5) * W / mw, cy = (hot / mw + 0.5) * H / mh;
    CHECK(cx >= X0 - 10 && cx <= X0 + P + 10 && cy >= Y0 - 10 && cy <= Y0 + P + 10,
          "hottest cell at %.0f,%.0f, the patch at %d..%d, %d..%d", cx, cy, X0, X0 + P, Y0, Y0 + P);
    /* far from the patch (top-left), the map is cold: the gray tile's value */
    CHECK(map[0] < map[hot] * 0.1, "top-left %g vs hottest %g", map[0], map[hot]);
    /* 1x1 is vg_watch_cam_map */
    float *m1 = malloc(sizeof(float) * (size_t)cam.fh * cam.fw);
    float *m2 = malloc(sizeof(float) * (size_t)cam.fh * cam.fw);
    vg_watch_cam_map(&cam, &f, fire_cls, m1, &err);
    vg_watch_cam_map_tiles(&cam, &f, 1, 1, fire_cls, m2, &err);
    CHECK(memcmp(m1, m2, sizeof(float) * (size_t)cam.fh * cam.fw) == 0, "1x1 map differs");
    vg_image small = {20, 20, calloc(20 * 20 * 3, 1)};
    CHECK(vg_watch_cam_map_tiles(&cam, &small, 2, 2, fire_cls, map, &err) == VG_ERR_ARG,
          "20x20 frame in 2x2 tiles accepted by the heat map");
    vg_image_free(&small);
    free(m1);
    free(m2);
    free(map);
    vg_runner_free(r1);
    vg_runner_free(r5);
    vg_image_free(&f);
    vg_model_free(m);
}

void test_tiles(void) {
    test_layout();
    test_bad_layouts();
    test_batched_equals_single();
    test_max_rule();
    test_small_fire();
}
