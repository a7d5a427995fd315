/* test_plot.c — the PNG figures of src/train/plot.c (training curves, confusion matrix, ROC).
 *
 * Each figure is written into a fresh directory, read back with libpng's simplified API and
 * checked for its size and for pixels where content must be: the curve colours in both panels,
 * a dark cell where the matrix is diagonal and a light one beside it, shading that follows the
 * row fraction, the red operating point of the ROC only when asked for. Awkward data (one
 * point, flat curves, 1e30, 1e-30, NaN, +-FLT_MAX, 20 classes with long names, invalid UTF-8)
 * must still give a figure; bad arguments must give VG_ERR_ARG; a write that fails (missing
 * directory, or a file-size limit that makes write() fail, which works even as root) must give
 * VG_ERR_IO and leave an existing file as it was.
 *
 * With VIGIE_PLOT_DIR set, sample figures are also written there, to look at. */
#include "test.h"

#include "core/core.h"
#include "train/plot.h"

#include <dirent.h>
#include <float.h>
#include <limits.h>
#include <png.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

void test_plot(void);

typedef struct {
    int w, h;
    uint8_t *px; /* RGB */
} rgb_image;

static char *join(const char *dir, const char *name) {
    static char buf[8][1024];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, 1024, "%s/%s", dir, name);
    return p;
}

/* Reads path as RGB: checks the PNG signature, then decodes with the simplified API. */
static bool read_png(const char *path, rgb_image *im) {
    im->px = NULL;
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL, "%s does not exist", path);
    if (!f) return false;
    uint8_t sig[8] = {0};
    size_t got = fread(sig, 1, 8, f);
    fclose(f);
    CHECK(got == 8 && memcmp(sig, "\x89PNG\r\n\x1a\n", 8) == 0, "%s: no PNG signature", path);
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    bool ok = png_image_begin_read_from_file(&pi, path) != 0;
    CHECK(ok, "%s: libpng: %s", path, pi.message);
    if (!ok) return false;
    pi.format = PNG_FORMAT_RGB;
    im->w = (int)pi.width;
    im->h = (int)pi.height;
    im->px = malloc(PNG_IMAGE_SIZE(pi));
    ok = im->px && png_image_finish_read(&pi, NULL, im->px, 0, NULL) != 0;
    CHECK(ok, "%s: libpng: %s", path, pi.message);
    if (!ok) {
        png_image_free(&pi);
        free(im->px);
        im->px = NULL;
    }
    return ok;
}

/* Decodes path and checks its size; the caller frees im->px when it returns true. */
static bool expect_png(const char *path, int w, int h, rgb_image *im) {
    if (!read_png(path, im)) return false;
    CHECK(im->w == w && im->h == h, "%s: %dx%d, expected %dx%d", path, im->w, im->h, w, h);
    if (im->w == w && im->h == h) return true;
    free(im->px);
    return false;
}

static const uint8_t *pix(const rgb_image *im, int x, int y) {
    return im->px + ((size_t)y * (size_t)im->w + (size_t)x) * 3;
}

static double lum(const rgb_image *im, int x, int y) {
    const uint8_t *p = pix(im, x, y);
    return 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
}

/* Pixels of the column range [x0, x1) within `tol` (per channel) of colour c. */
static int count_colour(const rgb_image *im, int x0, int x1, const int c[3], int tol) {
    int n = 0;
    for (int y = 0; y < im->h; y++)
        for (int x = x0; x < x1; x++) {
            const uint8_t *p = pix(im, x, y);
            n += abs(p[0] - c[0]) <= tol && abs(p[1] - c[1]) <= tol && abs(p[2] - c[2]) <= tol;
        }
    return n;
}

static int count_not_white(const rgb_image *im) {
    int n = 0;
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++)
            n += lum(im, x, y) < 250;
    return n;
}

/* Writes the sample figures here too when VIGIE_PLOT_DIR is set. */
static const char *sample_dir(const char *tmp) {
    const char *d = getenv("VIGIE_PLOT_DIR");
    return d ? d : tmp;
}

static const int BLUE[3] = {31, 119, 180}, ORANGE[3] = {255, 127, 14}, RED[3] = {214, 38, 41};

static void check_curves(const char *dir) {
    enum { E = 20 };
    float tl[E], vl[E], ta[E], va[E];
    for (int i = 0; i < E; i++) {
        double t = i / (double)(E - 1);
        tl[i] = (float)(1.9 * exp(-3.5 * t) + 0.08);
        vl[i] = (float)(1.7 * exp(-2.5 * t) + 0.22 + 0.03 * sin(i * 1.7));
        ta[i] = (float)(0.97 - 0.6 * exp(-4 * t));
        va[i] = (float)(0.91 - 0.5 * exp(-3 * t) + 0.01 * cos(i * 1.3));
    }
    vl[4] = va[4] = NAN; /* an epoch without validation */
    vl[9] = va[9] = NAN;
    vg_curve c[4] = {
        {"train", 0, E, NULL, tl},
        {"val", 0, E, NULL, vl},
        {"train", 1, E, NULL, ta},
        {"val", 1, E, NULL, va},
    };
    vg_err err = {0};
    const char *path = join(sample_dir(dir), "curves.png");
    vg_status st =
        vg_plot_curves(path, "mobilenet-v2 fire/smoke/neutral, 20 epochs", c, 4, NULL, 0, &err);
    CHECK(st == VG_OK, "curves: %s", err.msg);
    rgb_image im;
    if (st == VG_OK && expect_png(path, 2 * VG_PLOT_PANEL_W, VG_PLOT_PANEL_H, &im)) {
        int half = im.w / 2;
        int b0 = count_colour(&im, 0, half, BLUE, 30), b1 = count_colour(&im, half, im.w, BLUE, 30);
        int o0 = count_colour(&im, 0, half, ORANGE, 30),
            o1 = count_colour(&im, half, im.w, ORANGE, 30);
        CHECK(b0 > 200 && b1 > 200, "train curve pixels: %d left, %d right", b0, b1);
        CHECK(o0 > 200 && o1 > 200, "val curve pixels: %d left, %d right", o0, o1);
        int nw = count_not_white(&im);
        CHECK(nw > im.w * im.h / 50, "only %d of %d pixels are not white", nw, im.w * im.h);
        /* corners are background */
        CHECK(lum(&im, 0, 0) > 254 && lum(&im, im.w - 1, im.h - 1) > 254, "corner %.0f %.0f",
              lum(&im, 0, 0), lum(&im, im.w - 1, im.h - 1));
        free(im.px);
    }

    /* awkward data: each still gives a figure of the expected size */
    float one[1] = {0.5f}, flat[5] = {2, 2, 2, 2, 2}, huge[4] = {1e30f, 3e30f, 2e30f, 2.5e30f};
    float tiny[4] = {1e-30f, 3e-30f, 2e-30f, 0}, nan3[3] = {NAN, NAN, NAN};
    float extreme[3] = {FLT_MAX, -FLT_MAX, 0}, infs[4] = {1, INFINITY, -INFINITY, 2};
    float xs[5] = {0.5f, 1, 1.5f, 2, 2.5f}, ulp[2] = {1.0f, 1.0000001f};
    float zero5[5] = {0, 0, 0, 0, 0};
    static float many[300];
    for (int i = 0; i < 300; i++)
        many[i] = (float)(1 / (1 + 0.05 * i) + 0.02 * sin(i));
    struct {
        const char *name;
        vg_curve c[2];
        int n;
    } cases[] = {
        {"one point", {{"train", 0, 1, NULL, one}, {"val", 1, 1, NULL, one}}, 2},
        {"flat", {{"train", 0, 5, NULL, flat}, {"val", 1, 5, NULL, zero5}}, 2},
        {"huge", {{"train", 0, 4, NULL, huge}, {"val", 1, 4, NULL, tiny}}, 2},
        {"no data", {{"train", 0, 3, NULL, nan3}, {"val", 1, 0, NULL, NULL}}, 2},
        {"extreme", {{"a", 0, 3, NULL, extreme}, {"b", 1, 4, NULL, infs}}, 2},
        {"x given", {{"train", 0, 5, xs, flat}, {NULL, 1, 5, xs, xs}}, 2},
        {"ulp apart", {{"train", 0, 2, NULL, ulp}, {"val", 1, 300, NULL, many}}, 2},
        {"nothing", {{0}}, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char name[64];
        snprintf(name, sizeof name, "curves_case%zu.png", k);
        path = join(sample_dir(dir), name);
        st = vg_plot_curves(path, cases[k].name, cases[k].c, cases[k].n, NULL, 0, &err);
        CHECK(st == VG_OK, "curves case %s: %s", cases[k].name, err.msg);
        if (st == VG_OK && expect_png(path, 2 * VG_PLOT_PANEL_W, VG_PLOT_PANEL_H, &im)) {
            CHECK(count_not_white(&im) > 1000, "case %s: figure is empty", cases[k].name);
            free(im.px);
        }
    }

    /* custom panels: three, one with a fixed range and points outside it; a name that is not
     * UTF-8 and a title far too long */
    float lr[E];
    for (int i = 0; i < E; i++)
        lr[i] = (float)(1e-3 * 0.5 * (1 + cos(3.14159 * i / (E - 1))));
    vg_plot_panel pn[3] = {
        {"loss", "epoch", "cross-entropy", 0, 0},
        {"accuracy (fixed 0.5..0.9)", "epoch", "accuracy", 0.5f, 0.9f},
        {"learning rate", "epoch", NULL, 0, 0},
    };
    vg_curve c3[5] = {
        {"train", 0, E, NULL, tl}, {"val", 0, E, NULL, vl}, {"train \xff\xfe", 1, E, NULL, ta},
        {"val", 1, E, NULL, va},   {"lr", 2, E, NULL, lr},
    };
    char long_title[600];
    memset(long_title, 'W', sizeof long_title - 1);
    long_title[sizeof long_title - 1] = 0;
    path = join(sample_dir(dir), "curves3.png");
    st = vg_plot_curves(path, long_title, c3, 5, pn, 3, &err);
    CHECK(st == VG_OK, "three panels: %s", err.msg);
    if (st == VG_OK && expect_png(path, 3 * VG_PLOT_PANEL_W, VG_PLOT_PANEL_H, &im)) {
        int g = count_colour(&im, 2 * VG_PLOT_PANEL_W, im.w, BLUE, 30);
        CHECK(g > 200, "third panel's curve: %d pixels", g);
        free(im.px);
    }

    /* bad arguments */
    path = join(dir, "bad.png");
    vg_curve bad = {"x", 2, E, NULL, tl};
    CHECK(vg_plot_curves(path, NULL, &bad, 1, NULL, 0, &err) == VG_ERR_ARG, "panel 2 of 2");
    CHECK(strstr(err.msg, "bad.png") != NULL, "message without the path: %s", err.msg);
    bad.panel = 0;
    bad.n = -1;
    CHECK(vg_plot_curves(path, NULL, &bad, 1, NULL, 0, &err) == VG_ERR_ARG, "n = -1");
    bad.n = 3;
    bad.y = NULL;
    CHECK(vg_plot_curves(path, NULL, &bad, 1, NULL, 0, &err) == VG_ERR_ARG, "y NULL");
    CHECK(vg_plot_curves(path, NULL, c, 4, pn, 5, &err) == VG_ERR_ARG, "5 panels");
    CHECK(vg_plot_curves(path, NULL, NULL, 2, NULL, 0, &err) == VG_ERR_ARG, "curves NULL");
    CHECK(vg_plot_curves(NULL, NULL, c, 4, NULL, 0, &err) == VG_ERR_ARG, "path NULL");
    FILE *f = fopen(path, "rb");
    CHECK(f == NULL, "a failed plot left %s behind", path);
    if (f) fclose(f);
}

/* First row (from the top) with a run of >= 40 pixels darker than 140: the top edge of the
 * matrix's first dark cell. */
static bool find_dark_run(const rgb_image *im, int *x0, int *x1, int *y) {
    for (int yy = 0; yy < im->h; yy++) {
        int run = 0;
        for (int x = 0; x <= im->w; x++) {
            if (x < im->w && lum(im, x, yy) < 140) {
                run++;
                continue;
            }
            if (run >= 40) {
                *x0 = x - run;
                *x1 = x;
                *y = yy;
                return true;
            }
            run = 0;
        }
    }
    return false;
}

static void check_confusion(const char *dir) {
    const char *cls2[2] = {"fire", "neutral"};
    const int diag[4] = {100, 0, 0, 100};
    vg_err err = {0};
    const char *path = join(dir, "diag.png");
    vg_status st = vg_plot_confusion(path, "diagonal", cls2, 2, diag, &err);
    CHECK(st == VG_OK, "confusion: %s", err.msg);
    rgb_image im, im2;
    const int S = vg_plot_confusion_size(2);
    CHECK(S == 600, "size for 2 classes: %d", S);
    if (st != VG_OK || !expect_png(path, S, S, &im)) return;
    int x0 = 0, x1 = 0, y = 0;
    bool found = find_dark_run(&im, &x0, &x1, &y);
    CHECK(found, "no dark cell in the diagonal matrix");
    if (found) {
        int cell = x1 - x0, d = cell / 6;
        /* cell (0,0) dark, (0,1) light, (1,1) dark, (1,0) light; away from the cell text */
        int px[4] = {x0 + d, x0 + cell + d, x0 + cell + d, x0 + d};
        int py[4] = {y + d, y + d, y + cell + d, y + cell + d};
        double l[4];
        for (int k = 0; k < 4; k++)
            l[k] = lum(&im, px[k], py[k]);
        CHECK(l[0] < 100 && l[2] < 100, "diagonal cells: luminance %.0f %.0f", l[0], l[2]);
        CHECK(l[1] > 230 && l[3] > 230, "off-diagonal cells: luminance %.0f %.0f", l[1], l[3]);
        /* the same layout with fractions 0.9 / 0.1 and 0.3 / 0.7: shading follows them */
        const int graded[4] = {90, 10, 30, 70};
        path = join(sample_dir(dir), "confusion2.png");
        st = vg_plot_confusion(path, "fire vs neutral", cls2, 2, graded, &err);
        CHECK(st == VG_OK, "confusion: %s", err.msg);
        if (st == VG_OK && expect_png(path, S, S, &im2)) {
            for (int k = 0; k < 4; k++)
                l[k] = lum(&im2, px[k], py[k]);
            /* fractions: (0,0) 0.9, (1,1) 0.7, (1,0) 0.3, (0,1) 0.1 */
            CHECK(l[0] < l[2] && l[2] < l[3] && l[3] < l[1],
                  "luminance should rise as the fraction falls: 0.9 %.0f, 0.7 %.0f, 0.3 %.0f, "
                  "0.1 %.0f",
                  l[0], l[2], l[3], l[1]);
            free(im2.px);
        }
    }
    free(im.px);

    /* three classes, the usual case */
    const char *cls3[3] = {"fire", "smoke", "neutral"};
    const int c3[9] = {412, 23, 9, 31, 377, 40, 6, 18, 1310};
    path = join(sample_dir(dir), "confusion3.png");
    st = vg_plot_confusion(path, "validation, epoch 20", cls3, 3, c3, &err);
    CHECK(st == VG_OK, "confusion 3: %s", err.msg);
    if (st == VG_OK && expect_png(path, 600, 600, &im)) free(im.px);

    /* 20 classes with long names, one empty row and one huge count */
    enum { N = 20 };
    char names[N][64];
    const char *cls[N];
    int cn[N * N];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], i % 3 ? "class %d" : "a rather long class name %d", i);
        cls[i] = names[i];
        for (int j = 0; j < N; j++)
            cn[i * N + j] = i == j ? 50 + 7 * i : (i * 7 + j * 3) % 11;
    }
    for (int j = 0; j < N; j++)
        cn[5 * N + j] = 0;
    cn[7 * N + 7] = INT_MAX;
    path = join(sample_dir(dir), "confusion20.png");
    st = vg_plot_confusion(path, "20 classes", cls, N, cn, &err);
    CHECK(st == VG_OK, "confusion 20: %s", err.msg);
    const int S20 = vg_plot_confusion_size(N);
    CHECK(S20 == 200 + 50 * N, "size for 20 classes: %d", S20);
    if (st == VG_OK && expect_png(path, S20, S20, &im)) free(im.px);

    /* the most classes there can be: cells of ~10 pixels, colour only */
    static int c100[100 * 100];
    static const char *cls100[100];
    for (int i = 0; i < 100; i++) {
        cls100[i] = i % 2 ? "smoke"
                          : "a long class name that will be shortened, as it is far "
                            "too long for the margin of the figure";
        for (int j = 0; j < 100; j++)
            c100[i * 100 + j] = i == j ? 1000 : (i + j) % 3;
    }
    path = join(sample_dir(dir), "confusion100.png");
    st = vg_plot_confusion(path, "100 classes", cls100, 100, c100, &err);
    CHECK(st == VG_OK, "confusion 100: %s", err.msg);
    CHECK(vg_plot_confusion_size(100) == 1600, "size for 100: %d", vg_plot_confusion_size(100));
    if (st == VG_OK && expect_png(path, 1600, 1600, &im)) free(im.px);

    /* one class; nothing at all; a name that is not UTF-8 */
    const char *cls1[1] = {"fire\xc3"};
    const int zero[1] = {0};
    path = join(dir, "one.png");
    st = vg_plot_confusion(path, NULL, cls1, 1, zero, &err);
    CHECK(st == VG_OK, "confusion 1: %s", err.msg);
    if (st == VG_OK && expect_png(path, 600, 600, &im)) free(im.px);

    /* bad arguments */
    path = join(dir, "bad.png");
    CHECK(vg_plot_confusion(path, NULL, cls2, 0, diag, &err) == VG_ERR_ARG, "0 classes");
    CHECK(strstr(err.msg, "bad.png") != NULL, "message without the path: %s", err.msg);
    CHECK(vg_plot_confusion(path, NULL, cls2, -3, diag, &err) == VG_ERR_ARG, "-3 classes");
    const int neg[4] = {1, 2, -1, 4};
    CHECK(vg_plot_confusion(path, NULL, cls2, 2, neg, &err) == VG_ERR_ARG, "negative count");
    CHECK(strstr(err.msg, "-1") != NULL, "message without the count: %s", err.msg);
    const char *nul[2] = {"fire", NULL};
    CHECK(vg_plot_confusion(path, NULL, nul, 2, diag, &err) == VG_ERR_ARG, "NULL name");
    CHECK(vg_plot_confusion(path, NULL, cls2, 2, NULL, &err) == VG_ERR_ARG, "NULL counts");
    static int big[101 * 101];
    static const char *many[101];
    for (int i = 0; i < 101; i++)
        many[i] = "c";
    CHECK(vg_plot_confusion(path, NULL, many, 101, big, &err) == VG_ERR_UNSUPPORTED,
          "101 classes: %d", err.status);
}

static void check_roc(const char *dir) {
    enum { P = 60 };
    float fpr[P], tpr[P];
    for (int i = 0; i < P; i++) {
        double t = i / (double)(P - 1);
        fpr[i] = (float)(t * t);
        tpr[i] = (float)pow(t, 0.25);
    }
    fpr[P - 1] = tpr[P - 1] = 1;
    vg_err err = {0};
    const char *path = join(sample_dir(dir), "roc.png");
    vg_status st =
        vg_plot_roc(path, "alarm ROC (validation)", fpr, tpr, P, 0.912f, 0.0484f, 0.685f, &err);
    CHECK(st == VG_OK, "roc: %s", err.msg);
    rgb_image im;
    if (st == VG_OK && expect_png(path, VG_PLOT_ROC_SIZE, VG_PLOT_ROC_SIZE, &im)) {
        int red = count_colour(&im, 0, im.w, RED, 25), blue = count_colour(&im, 0, im.w, BLUE, 30);
        CHECK(red > 60, "operating point: %d red pixels", red);
        CHECK(blue > 300, "curve: %d blue pixels", blue);
        free(im.px);
    }
    path = join(dir, "roc_noop.png");
    st = vg_plot_roc(path, NULL, fpr, tpr, P, NAN, -1, -1, &err);
    CHECK(st == VG_OK, "roc without operating point: %s", err.msg);
    if (st == VG_OK && expect_png(path, VG_PLOT_ROC_SIZE, VG_PLOT_ROC_SIZE, &im)) {
        int red = count_colour(&im, 0, im.w, RED, 25);
        CHECK(red == 0, "no operating point, yet %d red pixels", red);
        free(im.px);
    }
    /* one point; points not sorted (no shading, still drawn) */
    float f1[1] = {0.2f}, t1[1] = {0.7f}, fu[3] = {0.5f, 0.1f, 1}, tu[3] = {0.5f, 0.9f, 1};
    path = join(dir, "roc1.png");
    CHECK(vg_plot_roc(path, "one", f1, t1, 1, 0.75f, 0.2f, 0.7f, &err) == VG_OK, "%s", err.msg);
    path = join(dir, "roc_unsorted.png");
    CHECK(vg_plot_roc(path, "unsorted", fu, tu, 3, 2.0f, 1, 1, &err) == VG_OK, "%s", err.msg);
    if (expect_png(path, VG_PLOT_ROC_SIZE, VG_PLOT_ROC_SIZE, &im)) free(im.px);

    path = join(dir, "bad.png");
    CHECK(vg_plot_roc(path, NULL, fpr, tpr, 0, 0.5f, -1, -1, &err) == VG_ERR_ARG, "n = 0");
    CHECK(strstr(err.msg, "bad.png") != NULL, "message without the path: %s", err.msg);
    float fb[2] = {0, 1.5f};
    CHECK(vg_plot_roc(path, NULL, fb, tpr, 2, 0.5f, -1, -1, &err) == VG_ERR_ARG, "fpr 1.5");
    fb[1] = NAN;
    CHECK(vg_plot_roc(path, NULL, fb, tpr, 2, 0.5f, -1, -1, &err) == VG_ERR_ARG, "fpr NaN");
    CHECK(vg_plot_roc(path, NULL, fpr, tpr, P, 0.5f, 0.5f, 1.5f, &err) == VG_ERR_ARG, "op 1.5");
    CHECK(vg_plot_roc(path, NULL, NULL, tpr, P, 0.5f, -1, -1, &err) == VG_ERR_ARG, "fpr NULL");
}

static bool file_is(const char *path, const char *content) {
    uint8_t *d = NULL;
    size_t n = 0;
    vg_err err;
    if (vg_file_read(path, 1 << 20, &d, &n, &err) != VG_OK) return false;
    bool same = n == strlen(content) && memcmp(d, content, n) == 0;
    free(d);
    return same;
}

static int dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static void check_io(void) {
    const char *dir = vg_test_tmpdir();
    vg_err err = {0};
    const char *cls[2] = {"fire", "neutral"};
    const int cm[4] = {5, 1, 2, 9};
    float fpr[2] = {0, 1}, tpr[2] = {0, 1};

    /* missing directory */
    const char *path = join(dir, "no/such/dir/roc.png");
    vg_status st = vg_plot_roc(path, NULL, fpr, tpr, 2, 0.5f, -1, -1, &err);
    CHECK(st == VG_ERR_IO, "missing directory: %s (%s)", vg_status_name(st), err.msg);
    CHECK(strstr(err.msg, path) != NULL, "message without the path: %s", err.msg);
    path = join(dir, "no/such/dir/cm.png");
    st = vg_plot_confusion(path, NULL, cls, 2, cm, &err);
    CHECK(st == VG_ERR_IO && strstr(err.msg, path), "confusion: %s", err.msg);
    vg_curve c = {"train", 0, 2, NULL, fpr};
    path = join(dir, "no/such/dir/curves.png");
    st = vg_plot_curves(path, NULL, &c, 1, NULL, 0, &err);
    CHECK(st == VG_ERR_IO && strstr(err.msg, path), "curves: %s", err.msg);

    /* an existing file survives a failed plot: bad arguments, then a failed write */
    const char *old = "previous figure";
    path = join(dir, "kept.png");
    CHECK(vg_file_write_atomic(path, old, strlen(old), &err) == VG_OK, "%s", err.msg);
    const int neg[4] = {1, -2, 3, 4};
    st = vg_plot_confusion(path, NULL, cls, 2, neg, &err);
    CHECK(st == VG_ERR_ARG && file_is(path, old), "bad arguments: %s", vg_status_name(st));

    /* RLIMIT_FSIZE: write() past 100 bytes fails with EFBIG (SIGXFSZ ignored); even root is
     * bound by it. Nothing is printed while the limit holds. */
    struct rlimit saved;
    if (getrlimit(RLIMIT_FSIZE, &saved) == 0) {
        fflush(stdout);
        fflush(stderr);
        void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = saved;
        lim.rlim_cur = 100;
        bool limited = setrlimit(RLIMIT_FSIZE, &lim) == 0;
        vg_status s1 = vg_plot_confusion(path, "t", cls, 2, cm, &err);
        char m1[VG_ERR_MSG_SIZE];
        snprintf(m1, sizeof m1, "%s", err.msg);
        vg_status s2 = vg_plot_roc(path, "t", fpr, tpr, 2, 0.5f, 0.1f, 0.2f, &err);
        char m2[VG_ERR_MSG_SIZE];
        snprintf(m2, sizeof m2, "%s", err.msg);
        vg_status s3 = vg_plot_curves(path, "t", &c, 1, NULL, 0, &err);
        if (limited) setrlimit(RLIMIT_FSIZE, &saved);
        signal(SIGXFSZ, prev);
        if (limited) {
            CHECK(s1 == VG_ERR_IO && strstr(m1, path), "confusion, write fails: %s", m1);
            CHECK(s2 == VG_ERR_IO && strstr(m2, path), "roc, write fails: %s", m2);
            CHECK(s3 == VG_ERR_IO && strstr(err.msg, path), "curves, write fails: %s", err.msg);
            CHECK(file_is(path, old), "%s changed by a failed write", path);
            int n = dir_entries(dir);
            CHECK(n == 1, "%d entries in %s after failed writes (temporary files left?)", n, dir);
        } else {
            printf("SKIP %s: cannot set RLIMIT_FSIZE\n", vg_test_current);
            vg_test_skipped++;
        }
    }
    /* and a successful one replaces it */
    st = vg_plot_confusion(path, NULL, cls, 2, cm, &err);
    rgb_image im;
    if (st == VG_OK && expect_png(path, 600, 600, &im)) free(im.px);
    CHECK(st == VG_OK, "%s", err.msg);
}

void test_plot(void) {
    const char *dir = vg_test_tmpdir();
    check_curves(dir);
    check_confusion(dir);
    check_roc(dir);
    check_io();
}
