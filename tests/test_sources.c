/* test_sources.c — datasets of several sources (src/train/sources.c) and detection exports
 * (src/train/yolo.c): the YOLO / Roboflow layout (data.yaml in its list and map forms, split
 * folders and .txt lists, Roboflow's "../" paths, label files next to images), label parsing
 * (boxes, polygons, blank lines) and its errors with file and line, image classes from boxes,
 * background images, files skipped, classes matched by name across a tree and an export,
 * per-source splits, the content hash, and the class a crop gets from the boxes it keeps.
 *
 * Every dataset is written by the test into a temporary folder: tiny PNG images, label files
 * and data.yaml variants, so each rule is exercised on real files. */
#define _POSIX_C_SOURCE 200809L
#include "test.h"

#include "core/core.h"
#include "train/data.h"
#include "vigie.h"

#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void test_sources(void);

static char root[600];

static const char *tp(const char *rel) {
    static char buf[8][900];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, 900, "%s/%s", root, rel);
    return p;
}

static void mkdirs(const char *rel) {
    char p[900];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    for (char *s = p + strlen(root) + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(p, 0755);
            *s = '/';
        }
    mkdir(p, 0755);
}

static void text(const char *rel, const char *t) {
    FILE *f = fopen(tp(rel), "wb");
    CHECK(f != NULL, "cannot create %s", rel);
    if (!f) return;
    fputs(t, f);
    fclose(f);
}

static void png(const char *rel) {
    uint8_t px[8 * 8 * 3];
    for (int i = 0; i < (int)sizeof px; i++)
        px[i] = (uint8_t)(i * 7);
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = 8, pi.height = 8, pi.format = PNG_FORMAT_RGB;
    CHECK(png_image_write_to_file(&pi, tp(rel), 0, px, 0, NULL), "png %s", rel);
}

/* ---- the export used by most tests:
 *   train: a (fire + smoke boxes -> fire), b (smoke -> smoke), c (empty label file), d (no
 *          label file), e (a polygon of class 0 -> fire), x.webp (skipped)
 *   valid: v1 (smoke), v2 (fire)
 *   test:  listed in test.txt: t1 (fire) */
static void make_export(const char *dir, const char *yaml) {
    char p[256];
    static const char *const sub[] = {"train/images", "train/labels", "valid/images",
                                      "valid/labels", "test/images",  "test/labels"};
    for (int i = 0; i < 6; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, sub[i]);
        mkdirs(p);
    }
#define F(rel) (snprintf(p, sizeof p, "%s/%s", dir, rel), p)
    static const char *const imgs[] = {
        "train/images/a.png", "train/images/b.png",  "train/images/c.png",  "train/images/d.png",
        "train/images/e.png", "valid/images/v1.png", "valid/images/v2.png", "test/images/t1.png"};
    for (int i = 0; i < 8; i++)
        png(F(imgs[i]));
    text(F("train/images/x.webp"), "RIFF....WEBP");
    text(F("train/labels/a.txt"), "1 0.5 0.5 0.2 0.2\n0 0.2 0.3 0.1 0.1\n");
    text(F("train/labels/b.txt"), "\n1 0.75 0.25 0.5 0.5\r\n\n");
    text(F("train/labels/c.txt"), "");
    text(F("train/labels/e.txt"), "0 0.1 0.1 0.4 0.2 0.3 0.6\n");
    text(F("valid/labels/v1.txt"), "1 0.5 0.5 1 1\n");
    text(F("valid/labels/v2.txt"), "0 0.5 0.5 0.1 0.1\n");
    text(F("test/labels/t1.txt"), "0 0.5 0.5 0.3 0.3\n");
    text(F("test.txt"), "# the test split\n./test/images/t1.png\n");
    text(F("data.yaml"), yaml);
#undef F
}

static const char *const yaml_list =
    "train: ../train/images\n" /* Roboflow's form: falls back to train/images */
    "val: valid/images\n"
    "test: test.txt\n"
    "\n"
    "nc: 2\n"
    "names: ['fire', 'smoke']\n"
    "roboflow:\n  workspace: x\n  version: 1\n";

static vg_status open1(const char *dir, vg_dataset **ds, vg_err *err) {
    vg_source_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.dir = dir;
    return vg_dataset_open(&sp, 1, NULL, ds, err);
}

static int find(const vg_dataset *ds, const char *name) {
    for (int i = 0; i < ds->n_samples; i++)
        if (strcmp(ds->samples[i].name, name) == 0) return i;
    return -1;
}

static void test_export(void) {
    make_export("det", yaml_list);
    vg_err err;
    vg_dataset *ds = NULL;
    vg_status s = open1(tp("det"), &ds, &err);
    CHECK(s == VG_OK, "open: %s", err.msg);
    if (s != VG_OK) return;
    CHECK(ds->n_classes == 3 && !strcmp(ds->classes[0], "fire") &&
              !strcmp(ds->classes[1], "neutral") && !strcmp(ds->classes[2], "smoke"),
          "classes: %d", ds->n_classes);
    CHECK(ds->n_samples == 8 && ds->n_train == 5 && ds->n_val == 2 && ds->n_test == 1,
          "%d samples, %d / %d / %d", ds->n_samples, ds->n_train, ds->n_val, ds->n_test);
    CHECK(ds->no_alarm == 1, "no-alarm class %d", ds->no_alarm);
    const vg_source *so = &ds->sources[0];
    CHECK(ds->n_sources == 1 && so->detection && so->no_label_file == 1 && so->empty_labels == 1 &&
              so->skipped == 1 && so->skipped_example && strstr(so->skipped_example, "x.webp"),
          "source: det %d, no label %d, empty %d, skipped %d", so->detection, so->no_label_file,
          so->empty_labels, so->skipped);
    static const struct {
        const char *name;
        int label, boxes, split;
    } want[] = {
        {"train/images/a.png", 0, 2, VG_SPLIT_TRAIN}, {"train/images/b.png", 2, 1, VG_SPLIT_TRAIN},
        {"train/images/c.png", 1, 0, VG_SPLIT_TRAIN}, {"train/images/d.png", 1, 0, VG_SPLIT_TRAIN},
        {"train/images/e.png", 0, 1, VG_SPLIT_TRAIN}, {"valid/images/v1.png", 2, 1, VG_SPLIT_VAL},
        {"valid/images/v2.png", 0, 1, VG_SPLIT_VAL},  {"test/images/t1.png", 0, 1, VG_SPLIT_TEST}};
    for (int i = 0; i < 8; i++) {
        int k = find(ds, want[i].name);
        CHECK(k >= 0, "%s not found", want[i].name);
        if (k < 0) continue;
        const vg_sample *x = &ds->samples[k];
        CHECK(x->label == want[i].label && x->n_boxes == want[i].boxes &&
                  x->split == want[i].split && x->boxed,
              "%s: label %d boxes %d split %d", want[i].name, x->label, x->n_boxes, x->split);
    }
    /* boxes: centre/size to corners, class ids to dataset classes; the polygon's bounding box */
    int a = find(ds, "train/images/a.png"), e = find(ds, "train/images/e.png");
    if (a >= 0 && e >= 0) {
        const vg_box *b = &ds->boxes[ds->samples[a].box0];
        CHECK(b[0].cls == 2 && fabs(b[0].x0 - 0.4) < 1e-6 && fabs(b[0].y1 - 0.6) < 1e-6,
              "box a0: %d %g %g", b[0].cls, b[0].x0, b[0].y1);
        CHECK(b[1].cls == 0 && fabs(b[1].x0 - 0.15) < 1e-6 && fabs(b[1].y0 - 0.25) < 1e-6,
              "box a1: %d %g %g", b[1].cls, b[1].x0, b[1].y0);
        const vg_box *p = &ds->boxes[ds->samples[e].box0];
        CHECK(fabs(p->x0 - 0.1) < 1e-6 && fabs(p->x1 - 0.4) < 1e-6 && fabs(p->y0 - 0.1) < 1e-6 &&
                  fabs(p->y1 - 0.6) < 1e-6,
              "polygon box %g %g %g %g", p->x0, p->y0, p->x1, p->y1);
    }
    vg_dataset_free(ds);

    /* names as a map, no nc, extra keys; a folder named directly as a .yaml file */
    make_export("det2", "names:\n  0: fire\n  1: smoke\ntrain: train/images\nval: valid/images\n"
                        "path: .\ndownload: null\n");
    s = open1(tp("det2/data.yaml"), &ds, &err);
    CHECK(s == VG_OK && ds->n_train == 5 && ds->n_val == 2 && ds->n_test == 0, "map names: %s",
          s == VG_OK ? "" : err.msg);
    /* named by its folder, not "data.yaml" (names key the content hash) */
    CHECK(s == VG_OK && strcmp(ds->sources[0].name, "det2") == 0, "name %s",
          s == VG_OK ? ds->sources[0].name : "");
    vg_dataset_free(ds);
    ds = NULL;
    /* the same export as its folder and its yaml: refused, not counted twice */
    vg_source_spec two[2];
    memset(two, 0, sizeof two);
    two[0].dir = tp("det2");
    two[1].dir = tp("det2/data.yaml");
    s = vg_dataset_open(two, 2, NULL, &ds, &err);
    CHECK(s == VG_ERR_ARG && strstr(err.msg, "given twice"), "twice: %s",
          s == VG_OK ? "accepted" : err.msg);
    vg_dataset_free(ds);
    ds = NULL;
    /* a null item in a split list names nothing */
    make_export("det4", "names: [fire, smoke]\ntrain: [train/images, ~]\nval: valid/images\n");
    s = open1(tp("det4"), &ds, &err);
    CHECK(s == VG_OK && ds->n_train == 5, "null list item: %s", s == VG_OK ? "" : err.msg);
    vg_dataset_free(ds);
    ds = NULL;
    /* an entry naming a folder without images, and images none of which has a label file */
    make_export("det5", "names: [fire, smoke]\ntrain: train/images\nval: valid/labels\n");
    s = open1(tp("det5"), &ds, &err);
    CHECK(s == VG_ERR_FORMAT && strstr(err.msg, "its val split") &&
              strstr(err.msg, "holds no image"),
          "empty split: %s", s == VG_OK ? "accepted" : err.msg);
    vg_dataset_free(ds);
    ds = NULL;
    make_export("det6", "names: [fire, smoke]\ntrain: train/images\n");
    static const char *const labs[] = {"a", "b", "c", "e"};
    for (int i = 0; i < 4; i++) {
        char lp[64];
        snprintf(lp, sizeof lp, "det6/train/labels/%s.txt", labs[i]);
        remove(tp(lp));
    }
    s = open1(tp("det6"), &ds, &err);
    CHECK(s == VG_ERR_FORMAT && strstr(err.msg, "none of its 5 images has a label file") &&
              strstr(err.msg, "labels/"),
          "no label file: %s", s == VG_OK ? "accepted" : err.msg);
    vg_dataset_free(ds);
    ds = NULL;

    /* an image in two splits */
    make_export("det3",
                "names: [fire, smoke]\ntrain: [train/images, valid/images]\nval: valid/images\n");
    s = open1(tp("det3"), &ds, &err);
    CHECK(s == VG_ERR_FORMAT && strstr(err.msg, "v1.png is in both its train and val splits"),
          "overlap: %s", s == VG_OK ? "accepted" : err.msg);
    vg_dataset_free(ds);
    ds = NULL;
    /* split lists are for trees */
    vg_source_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.dir = tp("det");
    sp.val_list = tp("det/test.txt");
    s = vg_dataset_open(&sp, 1, NULL, &ds, &err);
    CHECK(s == VG_ERR_ARG && strstr(err.msg, "takes its splits from its data.yaml"), "list: %s",
          s == VG_OK ? "accepted" : err.msg);
    vg_dataset_free(ds);
}

/* data.yaml and label errors: each names the file, the line (and column for YAML) */
static void test_errors(void) {
    static const struct {
        const char *yaml, *want;
    } y[] = {
        {"train: train/images\nval: valid/images\n", "data.yaml:1:1: no 'names' key"},
        {"names: [fire, smoke]\nnc: 3\ntrain: train/images\n",
         "data.yaml:2:5: nc: 3, but 'names' lists 2"},
        {"names: [fire, smoke]\ntrain: nowhere/images\n", "data.yaml:2:8: train: "},
        {"names: [fire, smoke]\ntrain: train/images\nval: [a, {b: c}\n", "not valid YAML"},
        {"names: [fire, fire]\ntrain: train/images\n", "class name 'fire' given twice"},
        {"names: {0: fire, 2: smoke}\ntrain: train/images\n",
         "class id '2' is not an integer in 0..1"},
        {"- a\n- b\n", "expected a mapping"},
        {"names: [fire]\n", "no train, val or test images named"},
    };
    for (size_t i = 0; i < sizeof y / sizeof y[0]; i++) {
        char dir[32];
        snprintf(dir, sizeof dir, "bad%zu", i);
        make_export(dir, y[i].yaml);
        vg_err err;
        vg_dataset *ds = NULL;
        vg_status s = open1(tp(dir), &ds, &err);
        CHECK(s == VG_ERR_FORMAT && strstr(err.msg, y[i].want), "yaml %zu: want '%s', got %s", i,
              y[i].want, s == VG_OK ? "OK" : err.msg);
        vg_dataset_free(ds);
    }
    static const struct {
        const char *label, *want;
    } l[] = {
        {"0 0.5 0.5 0.1\n", "a.txt:1: 4 numbers"},
        {"\n\n2 0.5 0.5 0.1 0.1\n", "a.txt:3: class 2 is not an integer in 0..1"},
        {"0 0.5 0.5 0.1 0.1\n0 abc 0.5 0.1 0.1\n", "a.txt:2: 'abc' is not a number"},
        {"0.5 0.5 0.5 0.1 0.1\n", "class 0.5 is not an integer"},
        {"0 0.5 0.5 0 0.1\n", "a.txt:1: box width / height"},
        {"0 1.5 0.5 0.2 0.2\n", "a.txt:1: box 1.4,0.4..1.6,0.6 is outside the image"},
        {"0 0.1 0.1 0.2 0.1 0.3 0.1\n", "polygon has no area"},
        {"0 nan 0.5 0.1 0.1\n", "'nan' is not a number"},
    };
    for (size_t i = 0; i < sizeof l / sizeof l[0]; i++) {
        char dir[32], lab[64];
        snprintf(dir, sizeof dir, "lab%zu", i);
        make_export(dir, yaml_list);
        snprintf(lab, sizeof lab, "%s/train/labels/a.txt", dir);
        text(lab, l[i].label);
        vg_err err;
        vg_dataset *ds = NULL;
        vg_status s = open1(tp(dir), &ds, &err);
        CHECK(s == VG_ERR_FORMAT && strstr(err.msg, l[i].want) && strstr(err.msg, "labels/a.txt"),
              "label %zu: want '%s', got %s", i, l[i].want, s == VG_OK ? "OK" : err.msg);
        vg_dataset_free(ds);
    }
    /* exporters' rounding just past the edge is clipped, not refused */
    vg_box *b = NULL;
    int nb = 0;
    vg_err err;
    vg_status s = vg_yolo_parse_labels("1 0.995 0.5 0.02 0.2", 20, "r.txt", 2, &b, &nb, &err);
    CHECK(s == VG_OK && nb == 1 && b && b[0].x1 == 1.0f && b[0].cls == 1, "rounding: %s",
          s == VG_OK ? "" : err.msg);
    free(b);
    /* a box wholly past the edge (within the slack) leaves nothing in the picture: no box */
    b = NULL;
    s = vg_yolo_parse_labels("0 1.005 0.5 0.001 0.1\n1 0.5 0.5 0.2 0.2\n", 40, "e.txt", 2, &b, &nb,
                             &err);
    CHECK(s == VG_OK && nb == 1 && b && b[0].cls == 1, "box off the edge: %d boxes: %s", nb,
          s == VG_OK ? "" : err.msg);
    free(b);
    /* label paths: the last images/ folder becomes labels/ */
    char *lp = vg_yolo_label_path("/d/images/train/images/x.y.jpg");
    CHECK(lp && !strcmp(lp, "/d/images/train/labels/x.y.txt"), "label path %s", lp ? lp : "(null)");
    free(lp);
    lp = vg_yolo_label_path("/d/flat/x.png");
    CHECK(lp && !strcmp(lp, "/d/flat/x.txt"), "label path %s", lp ? lp : "(null)");
    free(lp);
}

/* a tree and an export in one dataset: classes by name, each source's own splits */
static void test_mixed(void) {
    static const char *const cls[] = {"fire", "neutral", "smoke"};
    for (int c = 0; c < 3; c++) {
        char p[64];
        snprintf(p, sizeof p, "tree/%s", cls[c]);
        mkdirs(p);
        for (int i = 0; i < 4; i++) {
            snprintf(p, sizeof p, "tree/%s/%d.png", cls[c], i);
            png(p);
        }
    }
    mkdirs("tree/splits");
    text("tree/splits/val.txt", "fire/0.png\nneutral/0.png\n");
    text("tree/splits/test.txt", "smoke/3.png\n");
    mkdirs("neg/neutral");
    png("neg/neutral/n.png");
    vg_source_spec sp[3];
    memset(sp, 0, sizeof sp);
    sp[0].dir = tp("det");
    sp[1].dir = tp("tree/"); /* trailing slash: the same folder */
    sp[2].dir = tp("neg");
    sp[2].extra = true;
    vg_err err;
    vg_dataset *ds = NULL;
    vg_status s = vg_dataset_open(sp, 3, NULL, &ds, &err);
    CHECK(s == VG_OK, "mixed: %s", err.msg);
    if (s != VG_OK) return;
    CHECK(ds->n_classes == 3 && ds->n_sources == 3, "%d classes, %d sources", ds->n_classes,
          ds->n_sources);
    /* tree: 12 images, val 2, test 1, train the other 9 (no train list); export 5 / 2 / 1 */
    CHECK(ds->sources[1].n_split[0] == 9 && ds->sources[1].n_split[1] == 2 &&
              ds->sources[1].n_split[2] == 1 && !ds->sources[1].made_up,
          "tree splits %d %d %d", ds->sources[1].n_split[0], ds->sources[1].n_split[1],
          ds->sources[1].n_split[2]);
    CHECK(ds->n_train == 5 + 9 + 1 && ds->n_val == 2 + 2 && ds->n_test == 1 + 1,
          "union %d / %d / %d", ds->n_train, ds->n_val, ds->n_test);
    CHECK(vg_dataset_find_source(ds, tp("tree")) == 1 && vg_dataset_find_source(ds, "x") == -1,
          "find source");
    int f0 = -1;
    for (int i = ds->sources[1].first; i < ds->sources[1].first + ds->sources[1].count; i++)
        if (!strcmp(ds->samples[i].name, "fire/0.png")) f0 = i;
    CHECK(f0 >= 0 && ds->samples[f0].label == 0 && ds->samples[f0].split == VG_SPLIT_VAL &&
              !ds->samples[f0].boxed,
          "tree sample");
    /* the content hash: same images, same hash, wherever the folders are; another set differs */
    uint64_t h1 = vg_dataset_hash(ds, ds->val, ds->n_val),
             h2 = vg_dataset_hash(ds, ds->train, ds->n_train);
    char d1[256];
    vg_dataset_describe(ds, ds->val, ds->n_val, d1, sizeof d1);
    CHECK(h1 != h2 && strncmp(d1, "det:2:", 6) == 0 && strstr(d1, "; tree:2:"), "describe %s", d1);
    vg_dataset_free(ds);
    /* two trees with lists overlapping */
    text("tree/splits/train.txt", "fire/0.png\nfire/1.png\n");
    s = vg_dataset_open(&sp[1], 1, NULL, &ds, &err);
    CHECK(s == VG_ERR_FORMAT && strstr(err.msg, "fire/0.png is in both the train list"),
          "tree overlap: %s", s == VG_OK ? "accepted" : err.msg);
    vg_dataset_free(ds);
    ds = NULL;
    /* the same folder twice */
    vg_source_spec twice[2] = {sp[1], sp[1]};
    s = vg_dataset_open(twice, 2, NULL, &ds, &err);
    CHECK(s == VG_ERR_ARG && strstr(err.msg, "given twice"), "twice: %s",
          s == VG_OK ? "" : err.msg);
    vg_dataset_free(ds);
}

/* the class of a crop from the boxes it keeps */
static void test_crop_label(void) {
    vg_box b = {0.4f, 0.4f, 0.6f, 0.6f, 0};
    CHECK(vg_box_keep(&b, 0, 0, 1, 1) == 1, "whole image keeps the box");
    CHECK(vg_box_keep(&b, 0.45f, 0.45f, 0.55f, 0.55f) == 1, "crop inside the box: box fills it");
    CHECK(vg_box_keep(&b, 0, 0, 0.3f, 0.3f) == 0, "crop beside the box");
    CHECK(vg_box_keep(&b, 0, 0, 0.52f, 1) == 1, "60 percent of the box: kept (>= 0.5)");
    CHECK(vg_box_keep(&b, 0, 0, 0.45f, 1) == -1, "a quarter of the box: ambiguous");
    CHECK(vg_box_keep(&b, 0, 0, 0.41f, 1) == 0, "a twentieth: cut away");
    vg_err err;
    vg_dataset *ds = NULL;
    if (open1(tp("det"), &ds, &err) != VG_OK) {
        CHECK(0, "open: %s", err.msg);
        return;
    }
    int a = find(ds, "train/images/a.png"), c = find(ds, "train/images/c.png");
    /* a: smoke box 0.4..0.6 square, fire box 0.15..0.25 x 0.25..0.35 */
    bool amb;
    CHECK(vg_dataset_crop_label(ds, a, 0, 0, 1, 1, &amb) == 0 && !amb, "whole: fire");
    CHECK(vg_dataset_crop_label(ds, a, 0.35f, 0.35f, 0.65f, 0.65f, &amb) == 2 && !amb,
          "around the smoke only: smoke");
    CHECK(vg_dataset_crop_label(ds, a, 0.7f, 0.7f, 1, 1, &amb) == ds->no_alarm && !amb,
          "no box kept: neutral");
    CHECK(vg_dataset_crop_label(ds, a, 0.1f, 0.2f, 0.3f, 0.4f, &amb) == 0 && !amb,
          "around the fire only: fire");
    CHECK(vg_dataset_crop_label(ds, a, 0.5f, 0, 1, 1, &amb) == 2 && !amb,
          "half the smoke box kept, the fire cut away: smoke");
    vg_dataset_crop_label(ds, a, 0.55f, 0, 1, 1, &amb);
    CHECK(amb, "a quarter of the smoke box in view: ambiguous");
    vg_dataset_crop_label(ds, a, 0, 0, 0.18f, 1, &amb);
    CHECK(amb, "a third of the fire box in view: ambiguous");
    CHECK(vg_dataset_crop_label(ds, c, 0, 0, 0.5f, 0.5f, &amb) == ds->no_alarm && !amb,
          "background image: neutral");
    vg_dataset_free(ds);
}

/* negative crops keep the margin from every box; zoom-in crops frame their box */
static void test_box_crops(void) {
    vg_augment a = vg_augment_default();
    a.neg_margin = 0.25f;
    const vg_box boxes[2] = {{0.1f, 0.1f, 0.3f, 0.2f, 0}, {0.6f, 0.5f, 0.7f, 0.9f, 1}};
    vg_rng r = vg_rng_make(7, 1, 2);
    int found = 0, bad = 0;
    for (int i = 0; i < 2000; i++) {
        vg_augment_params p;
        vg_augment_draw(NULL, 200, 100, 0, 0, 0, &p);
        if (!vg_augment_negative_crop(&a, 200, 100, boxes, 2, &r, &p)) continue;
        found++;
        double x0 = p.x / 200.0, x1 = (p.x + p.w) / 200.0, y0 = p.y / 100.0,
               y1 = (p.y + p.h) / 100.0;
        for (int b = 0; b < 2; b++) { /* the grown box, computed here on its own */
            const vg_box *q = &boxes[b];
            double m = 0.25 * fmax(q->x1 - q->x0, q->y1 - q->y0);
            bool overlap = x0 < q->x1 + m && x1 > q->x0 - m && y0 < q->y1 + m && y1 > q->y0 - m;
            bad += overlap;
        }
        bad +=
            !(p.w >= 1 && p.h >= 1 && p.x >= 0 && p.y >= 0 && p.x + p.w <= 200 && p.y + p.h <= 100);
    }
    CHECK(found > 1000 && bad == 0, "negative crops: %d found, %d within the margin", found, bad);
    /* nowhere to go: an image covered by a box */
    const vg_box all = {0.05f, 0.05f, 0.95f, 0.95f, 0};
    vg_augment_params p, before;
    vg_augment_draw(NULL, 64, 64, 0, 0, 0, &p);
    before = p;
    bool got = vg_augment_negative_crop(&a, 64, 64, &all, 1, &r, &p);
    CHECK(!got && memcmp(&p, &before, sizeof p) == 0, "covered image: no negative crop");
    /* zoom-in: the box inside the crop, its longer side a share within range where the image
     * leaves room */
    int outside = 0, off_range = 0;
    for (int i = 0; i < 2000; i++) {
        vg_augment_draw(NULL, 400, 300, 0, 0, 0, &p);
        vg_augment_zoom_crop(&a, 400, 300, &boxes[i & 1], &r, &p);
        const vg_box *q = &boxes[i & 1];
        double bx0 = q->x0 * 400, bx1 = q->x1 * 400, by0 = q->y0 * 300, by1 = q->y1 * 300;
        outside += p.x > bx0 + 1 || p.x + p.w < bx1 - 1 || p.y > by0 + 1 || p.y + p.h < by1 - 1;
        double side = fmax(bx1 - bx0, by1 - by0), share = side / sqrt((double)p.w * p.h);
        /* the crop's geometric side, within the aspect range's spread and rounding */
        if (p.w < 400 && p.h < 300 &&
            (share < a.box_zoom_min * 0.8 || share > a.box_zoom_max * 1.6))
            off_range++;
    }
    CHECK(outside == 0 && off_range == 0, "zoom-in crops: %d miss their box, %d off range", outside,
          off_range);
}

/* the loader labels boxed draws by the boxes their crops keep */
static void test_loader_labels(void) {
    vg_err err;
    vg_dataset *ds = NULL;
    if (open1(tp("det"), &ds, &err) != VG_OK) {
        CHECK(0, "open: %s", err.msg);
        return;
    }
    vg_cache_opts co = vg_cache_opts_default();
    co.size = 64;
    vg_cache *c = NULL;
    vg_status s = vg_cache_build(&c, ds, ds->train, ds->n_train, &co, &err);
    CHECK(s == VG_OK, "cache: %s", s == VG_OK ? "" : err.msg);
    if (s != VG_OK) {
        vg_dataset_free(ds);
        return;
    }
    vg_augment a = vg_augment_default();
    vg_loader_opts lo = vg_loader_opts_default();
    lo.spec = (vg_input_spec){16, 16, 3, {0, 0, 0}, {1, 1, 1}};
    lo.batch = 5;
    lo.seed = 3;
    lo.ds = ds;
    int counts[3], want[3] = {0, 0, 0};
    for (int i = 0; i < ds->n_train; i++)
        want[ds->samples[ds->train[i]].label]++;
    /* no augmentation: the images' own labels (a, e fire; b smoke; c, d neutral) */
    vg_loader *l = NULL;
    s = vg_loader_new(&l, c, NULL, 0, &lo, &err);
    CHECK(s == VG_OK, "loader: %s", s == VG_OK ? "" : err.msg);
    if (l) vg_loader_label_counts(l, 0, counts);
    CHECK(l && counts[0] == want[0] && counts[1] == want[1] && counts[2] == want[2] && want[0] == 2,
          "plain: %d %d %d", counts[0], counts[1], counts[2]);
    vg_loader_free(l);
    /* zoom-in on every boxed draw: a box is always kept, so a, b, e never come out neutral */
    a.box_zoom = 1;
    lo.aug = &a;
    for (int ep = 0; ep < 5; ep++) {
        l = NULL;
        if (vg_loader_new(&l, c, NULL, 0, &lo, &err) != VG_OK) break;
        vg_loader_label_counts(l, ep, counts);
        CHECK(counts[1] == 2 && counts[0] + counts[2] == 3, "zoom-in, epoch %d: %d %d %d", ep,
              counts[0], counts[1], counts[2]);
        vg_loader_free(l);
    }
    /* negative crops on every draw: the scenes of a, b and e have room, so every draw is neutral */
    a.box_zoom = 0;
    a.neg_crop = 1;
    l = NULL;
    if (vg_loader_new(&l, c, NULL, 0, &lo, &err) == VG_OK) {
        int neutral = 0;
        for (int ep = 0; ep < 10; ep++) {
            vg_loader_label_counts(l, ep, counts);
            neutral += counts[1];
        }
        CHECK(neutral >= 45, "negative crops: %d of 50 draws neutral", neutral);
        /* and the rendered batch carries the same labels as the counts */
        vg_loader_start(l, 0, 0);
        vg_batch b;
        int n1 = 0;
        while (vg_loader_next(l, &b))
            for (int i = 0; i < b.n; i++)
                n1 += b.labels[i] == 1;
        vg_loader_label_counts(l, 0, counts);
        CHECK(n1 == counts[1], "batch labels %d vs counted %d", n1, counts[1]);
    }
    vg_loader_free(l);
    vg_cache_free(c);
    vg_dataset_free(ds);
}

/* a zoom-out drawn into a scene: the crop in its rectangle, the scene everywhere else */
static void test_zoom_scene(void) {
    enum { S = 40, O = 20 };
    static uint8_t img[S * S * 3], bg[S * S * 3];
    for (int i = 0; i < S * S * 3; i++)
        img[i] = (uint8_t)(50 + i % 7), bg[i] = (uint8_t)(200 - i % 5);
    vg_input_spec spec = {O, O, 3, {10, 20, 30}, {2, 2, 2}};
    vg_augment_params p;
    vg_augment_draw(NULL, S, S, 0, 0, 0, &p);
    static float a[O * O * 3], b[O * O * 3], c[O * O * 3];
    /* no zoom: the scene changes nothing */
    vg_augment_render(img, S, S, &p, &spec, a);
    vg_augment_render_scene(img, S, S, &p, bg, S, S, &spec, b);
    CHECK(memcmp(a, b, sizeof a) == 0, "zoom 1 with a scene = the plain render");
    /* zoom 0.5 at the top left: the quadrant is the crop (the plain render at that size), the
     * rest the scene (the scene's own render) */
    p.zoom = 0.5f, p.zoom_x = 0, p.zoom_y = 0;
    vg_augment_render_scene(img, S, S, &p, bg, S, S, &spec, b);
    vg_augment_render_scene(img, S, S, &p, NULL, 0, 0, &spec, a);
    vg_augment_params whole;
    vg_augment_draw(NULL, S, S, 0, 0, 0, &whole);
    vg_augment_render(bg, S, S, &whole, &spec, c);
    int in_bad = 0, out_bad = 0, grey = 0;
    for (int y = 0; y < O; y++)
        for (int x = 0; x < O; x++)
            for (int k = 0; k < 3; k++) {
                size_t i = ((size_t)y * O + x) * 3 + k;
                if (x < O / 2 && y < O / 2)
                    in_bad += b[i] != a[i];
                else
                    out_bad += b[i] != c[i], grey += a[i] != 0.0f; /* mean -> 0 */
            }
    CHECK(in_bad == 0 && out_bad == 0 && grey == 0,
          "scene: %d crop values and %d scene values differ; %d not the mean without a scene",
          in_bad, out_bad, grey);
}

void test_sources(void) {
    snprintf(root, sizeof root, "%s", vg_test_tmpdir());
    test_export();
    test_errors();
    test_mixed();
    test_crop_label();
    test_box_crops();
    test_loader_labels();
    test_zoom_scene();
}
