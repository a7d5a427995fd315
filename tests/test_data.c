/* test_data.c — the training data pipeline (src/train/data.h): dataset scanning, split lists,
 * the made-up stratified split, extra training trees, class weights, the decoded-image cache
 * (RAM and disk, reuse, rebuild), augmentation and the background batch loader.
 *
 * A tiny dataset is written to a temporary folder: 3 classes of 4 small images (PNG via
 * libpng, JPEG via libjpeg, BMP by hand, one with an upper-case .JPG extension), one corrupt
 * image, a hidden file, non-image files and a non-class folder, so every rule of the scanner is
 * exercised on real files. Pixel expectations are derived from the decoder and the resizer
 * (vg_image_load, vg_image_resize, vg_image_to_input), which test_image checks on their own. */
#define _POSIX_C_SOURCE 200809L
#include "test.h"

#include "core/core.h"
#include "model/model.h"
#include "train/data.h"
#include "train/eval.h"
#include "train/metrics.h"
#include "vigie.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>

void test_data(void);

/* ---- writing test files ------------------------------------------------------------------- */

static char root_dir[600]; /* the test's temporary folder */

static const char *tpath(const char *rel) {
    static char buf[8][900];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, 900, "%s/%s", root_dir, rel);
    return p;
}

static void mkdirs(const char *rel) {
    char p[900];
    snprintf(p, sizeof p, "%s/%s", root_dir, rel);
    for (char *s = p + strlen(root_dir) + 1; *s; s++) {
        if (*s == '/') {
            *s = 0;
            mkdir(p, 0755);
            *s = '/';
        }
    }
    mkdir(p, 0755);
}

static void write_bytes(const char *rel, const void *data, size_t n) {
    FILE *f = fopen(tpath(rel), "wb");
    CHECK(f != NULL, "cannot create %s", rel);
    if (!f) return;
    CHECK(fwrite(data, 1, n, f) == n, "short write %s", rel);
    fclose(f);
}
static void write_text(const char *rel, const char *text) {
    write_bytes(rel, text, strlen(text));
}

/* w x h RGB pixels, a smooth pattern plus noise that depends on `seed` */
static uint8_t *pattern(int w, int h, unsigned seed) {
    uint8_t *px = malloc((size_t)w * (size_t)h * 3);
    if (!px) return NULL;
    vg_test_seed(seed);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                px[((size_t)y * (size_t)w + (size_t)x) * 3 + (size_t)c] =
                    (uint8_t)((x * 23 + y * 11 + c * 70 + (int)seed * 37) % 200 +
                              (int)vg_test_uniform(0, 55));
    return px;
}

static void write_png(const char *rel, int w, int h, unsigned seed) {
    uint8_t *px = pattern(w, h, seed);
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = (png_uint_32)w;
    pi.height = (png_uint_32)h;
    pi.format = PNG_FORMAT_RGB;
    CHECK(px && png_image_write_to_file(&pi, tpath(rel), 0, px, 0, NULL), "png %s", rel);
    free(px);
}

static void write_jpeg(const char *rel, int w, int h, unsigned seed) {
    uint8_t *px = pattern(w, h, seed);
    FILE *f = fopen(tpath(rel), "wb");
    CHECK(px && f, "jpeg %s", rel);
    if (px && f) {
        struct jpeg_compress_struct ci;
        struct jpeg_error_mgr jerr;
        ci.err = jpeg_std_error(&jerr);
        jpeg_create_compress(&ci);
        jpeg_stdio_dest(&ci, f);
        ci.image_width = (JDIMENSION)w;
        ci.image_height = (JDIMENSION)h;
        ci.input_components = 3;
        ci.in_color_space = JCS_RGB;
        jpeg_set_defaults(&ci);
        jpeg_set_quality(&ci, 90, TRUE);
        jpeg_start_compress(&ci, TRUE);
        while (ci.next_scanline < ci.image_height) {
            JSAMPROW row = px + (size_t)ci.next_scanline * (size_t)w * 3;
            jpeg_write_scanlines(&ci, &row, 1);
        }
        jpeg_finish_compress(&ci);
        jpeg_destroy_compress(&ci);
    }
    if (f) fclose(f);
    free(px);
}

static void put_le(uint8_t *p, uint32_t v, int n) {
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* 24-bit bottom-up BMP written by hand */
static void write_bmp(const char *rel, int w, int h, unsigned seed) {
    uint8_t *px = pattern(w, h, seed);
    size_t stride = ((size_t)w * 3 + 3) & ~(size_t)3, n = 54 + stride * (size_t)h;
    uint8_t *b = calloc(n, 1);
    CHECK(px && b, "bmp %s", rel);
    if (px && b) {
        b[0] = 'B';
        b[1] = 'M';
        put_le(b + 2, (uint32_t)n, 4);
        put_le(b + 10, 54, 4);
        put_le(b + 14, 40, 4);
        put_le(b + 18, (uint32_t)w, 4);
        put_le(b + 22, (uint32_t)h, 4);
        put_le(b + 26, 1, 2);
        put_le(b + 28, 24, 2);
        put_le(b + 34, (uint32_t)(stride * (size_t)h), 4);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const uint8_t *s = px + ((size_t)(h - 1 - y) * (size_t)w + (size_t)x) * 3;
                uint8_t *d = b + 54 + (size_t)y * stride + (size_t)x * 3;
                d[0] = s[2];
                d[1] = s[1];
                d[2] = s[0];
            }
        write_bytes(rel, b, n);
    }
    free(b);
    free(px);
}

/* The test tree. Main samples in order: fire/{a.png,b.png,c.bmp,d.JPG} = 0..3,
 * neutral/{n1.png,n2.bmp,n3.png,zbad.png} = 4..7, smoke/{s1.png,s2.png,s3.jpeg,s4.bmp} = 8..11. */
static void make_tree(void) {
    mkdirs("data/fire");
    mkdirs("data/neutral");
    mkdirs("data/smoke");
    mkdirs("data/splits");
    write_png("data/fire/a.png", 20, 14, 1);
    write_png("data/fire/b.png", 12, 12, 2);
    write_bmp("data/fire/c.bmp", 16, 10, 3);
    write_jpeg("data/fire/d.JPG", 16, 16, 4);
    write_png("data/fire/.hidden.png", 8, 8, 5);
    write_text("data/fire/notes.txt", "not an image\n");
    write_png("data/neutral/n1.png", 10, 18, 6);
    write_bmp("data/neutral/n2.bmp", 9, 9, 7);
    write_png("data/neutral/n3.png", 24, 8, 8);
    write_text("data/neutral/zbad.png", "\x89PNG\r\n\x1a\nthis is not really a png file");
    write_png("data/smoke/s1.png", 14, 14, 9);
    write_png("data/smoke/s2.png", 11, 13, 10);
    write_jpeg("data/smoke/s3.jpeg", 12, 20, 11);
    write_bmp("data/smoke/s4.bmp", 8, 8, 12);
    write_text("data/splits/train.txt", "fire/a.png\n");
    write_text("data/readme.txt", "a file at the root\n");

    mkdirs("extra/neutral");
    mkdirs("extra/copyright");
    write_png("extra/neutral/x1.png", 16, 12, 13);
    write_bmp("extra/neutral/x2.bmp", 10, 10, 14);
    write_text("extra/copyright/COPYING", "licence text\n");

    mkdirs("extra_bad/dog");
    mkdirs("extra_bad/neutral");
    write_png("extra_bad/dog/d.png", 8, 8, 15);
    write_png("extra_bad/neutral/y.png", 8, 8, 16);

    mkdirs("empty_root/fire");
    mkdirs("empty_root/smoke");
    write_png("empty_root/fire/a.png", 8, 8, 17);

    mkdirs("webp_root/fire");
    mkdirs("webp_root/smoke");
    write_png("webp_root/fire/a.png", 8, 8, 18);
    write_text("webp_root/smoke/x.webp", "RIFF....WEBP");

    mkdirs("flat_root");
    write_png("flat_root/a.png", 8, 8, 19);

    mkdirs("lists");
    write_text("lists/train.txt", "# training images\r\nfire/a.png\r\n\r\nfire/b.png\r\n"
                                  "  fire/c.bmp\t\r\nneutral/n1.png\r\nneutral/n2.bmp\r\n"
                                  "neutral/zbad.png\r\nsmoke/s1.png\r\nsmoke/s2.png\r\n"
                                  "smoke/s3.jpeg\r\n");
    write_text("lists/val.txt", "smoke/s4.bmp\nneutral/n3.png\nfire/d.JPG"); /* no final \n */
    write_text("lists/missing.txt", "fire/a.png\nsmoke/nothere.png\n");
    write_text("lists/unknown.txt", "fire/a.png\ndog/x.png\n");
    write_text("lists/dup.txt", "fire/a.png\nfire/b.png\n  fire/a.png  \n");
    write_text("lists/hidden.txt", "fire/.hidden.png\n");
    write_text("lists/noslash.txt", "a.png\n");
    write_text("lists/many.txt", "fire/m1.png\nfire/m2.png\nfire/m3.png\nfire/m4.png\n"
                                 "fire/m5.png\n");
    write_text("lists/empty.txt", "# nothing\n\n");
    write_text("lists/overlap_val.txt", "fire/a.png\nsmoke/s4.bmp\n");
}

static bool contains(const char *s, const char *part) {
    return strstr(s, part) != NULL;
}

/* ---- datasets ----------------------------------------------------------------------------- */

static void test_scan(void) {
    vg_err err;
    vg_dataset *ds = NULL;
    vg_status s = vg_dataset_scan(tpath("data/"), &ds, &err);
    CHECK(s == VG_OK, "scan: %s", err.msg);
    if (s != VG_OK) return;
    CHECK(ds->n_classes == 3, "%d classes", ds->n_classes);
    const char *names[3] = {"fire", "neutral", "smoke"};
    for (int c = 0; c < 3 && c < ds->n_classes; c++)
        CHECK(strcmp(ds->classes[c], names[c]) == 0, "class %d is %s", c, ds->classes[c]);
    CHECK(ds->n_samples == 12 && ds->n_main == 12, "%d samples", ds->n_samples);
    const char *expect[12] = {"fire/a.png",     "fire/b.png",       "fire/c.bmp",
                              "fire/d.JPG",     "neutral/n1.png",   "neutral/n2.bmp",
                              "neutral/n3.png", "neutral/zbad.png", "smoke/s1.png",
                              "smoke/s2.png",   "smoke/s3.jpeg",    "smoke/s4.bmp"};
    for (int i = 0; i < 12 && i < ds->n_samples; i++) {
        CHECK(strcmp(ds->samples[i].name, expect[i]) == 0, "sample %d: %s", i, ds->samples[i].name);
        CHECK(ds->samples[i].label == i / 4, "sample %d label %d", i, ds->samples[i].label);
        CHECK(!ds->samples[i].extra, "sample %d extra", i);
        CHECK(strcmp(ds->samples[i].path, tpath("data")) > 0 &&
                  strncmp(ds->samples[i].path, tpath("data/"), strlen(tpath("data/"))) == 0,
              "path %s (root without trailing slash)", ds->samples[i].path);
    }
    CHECK(ds->n_train == 12 && ds->n_val == 0, "after scan: %d train, %d val", ds->n_train,
          ds->n_val);
    CHECK(ds->n_ignored == 1 && contains(ds->ignored[0], "splits"), "%d ignored folders",
          ds->n_ignored);
    CHECK(vg_dataset_find_class(ds, "neutral") == 1 && vg_dataset_find_class(ds, "dog") == -1,
          "find_class");
    CHECK(!vg_dataset_split_made_up(ds), "no made-up split after a scan");
    vg_dataset_free(ds);
    vg_dataset_free(NULL);

    /* errors */
    s = vg_dataset_scan(tpath("nope"), &ds, &err);
    CHECK(s == VG_ERR_IO && ds == NULL && contains(err.msg, "nope") &&
              contains(err.msg, "cannot open"),
          "missing root: %s", err.msg);
    s = vg_dataset_scan(tpath("data/readme.txt"), &ds, &err);
    CHECK(s == VG_ERR_IO && ds == NULL, "root is a file: %s", err.msg);
    s = vg_dataset_scan(tpath("empty_root"), &ds, &err);
    CHECK(s == VG_ERR_FORMAT && ds == NULL && contains(err.msg, "empty_root/smoke") &&
              contains(err.msg, "no image"),
          "empty class folder: %s", err.msg);
    s = vg_dataset_scan(tpath("webp_root"), &ds, &err);
    CHECK(s == VG_ERR_UNSUPPORTED && ds == NULL && contains(err.msg, "x.webp"),
          "unsupported images: %s", err.msg);
    s = vg_dataset_scan(tpath("flat_root"), &ds, &err);
    CHECK(s == VG_ERR_FORMAT && ds == NULL && contains(err.msg, "one folder per class"),
          "images at the root: %s", err.msg);
}

static void test_lists(void) {
    vg_err err;
    vg_dataset *ds = NULL;
    if (vg_dataset_scan(tpath("data"), &ds, &err) != VG_OK) {
        CHECK(0, "scan: %s", err.msg);
        return;
    }
    vg_status s =
        vg_dataset_split_lists(ds, tpath("lists/train.txt"), tpath("lists/val.txt"), &err);
    CHECK(s == VG_OK, "good lists: %s", err.msg);
    const int tr[9] = {0, 1, 2, 4, 5, 7, 8, 9, 10}, va[3] = {3, 6, 11};
    CHECK(ds->n_train == 9 && ds->n_val == 3, "%d train %d val", ds->n_train, ds->n_val);
    for (int i = 0; i < 9 && i < ds->n_train; i++)
        CHECK(ds->train[i] == tr[i], "train[%d] = %d", i, ds->train[i]);
    for (int i = 0; i < 3 && i < ds->n_val; i++)
        CHECK(ds->val[i] == va[i], "val[%d] = %d (sorted)", i, ds->val[i]);
    CHECK(!vg_dataset_split_made_up(ds), "lists are not made up");

    int *idx = NULL, n = 0;
    s = vg_dataset_read_list(ds, tpath("lists/missing.txt"), &idx, &n, &err);
    CHECK(s == VG_ERR_FORMAT && !idx &&
              contains(err.msg, "missing.txt:2: smoke/nothere.png: "
                                "no such file"),
          "missing: %s", err.msg);
    s = vg_dataset_read_list(ds, tpath("lists/unknown.txt"), &idx, &n, &err);
    CHECK(s == VG_ERR_FORMAT && contains(err.msg, "unknown.txt:2:") &&
              contains(err.msg, "unknown class 'dog'") &&
              contains(err.msg, "classes: fire, neutral, smoke"),
          "unknown class: %s", err.msg);
    s = vg_dataset_read_list(ds, tpath("lists/dup.txt"), &idx, &n, &err);
    CHECK(s == VG_ERR_FORMAT && contains(err.msg, "dup.txt:3: fire/a.png: duplicate of line 1"),
          "duplicate: %s", err.msg);
    s = vg_dataset_read_list(ds, tpath("lists/hidden.txt"), &idx, &n, &err);
    CHECK(s == VG_ERR_FORMAT && contains(err.msg, "not an image of the dataset"), "hidden file: %s",
          err.msg);
    s = vg_dataset_read_list(ds, tpath("lists/noslash.txt"), &idx, &n, &err);
    CHECK(s == VG_ERR_FORMAT && contains(err.msg, "expected class/file"), "no slash: %s", err.msg);
    s = vg_dataset_read_list(ds, tpath("lists/many.txt"), &idx, &n, &err);
    CHECK(s == VG_ERR_FORMAT && contains(err.msg, "many.txt:3:") &&
              !contains(err.msg, "many.txt:4:") && contains(err.msg, "5 problems in all"),
          "many problems: %s", err.msg);
    s = vg_dataset_read_list(ds, tpath("lists/empty.txt"), &idx, &n, &err);
    CHECK(s == VG_ERR_FORMAT && contains(err.msg, "names no image"), "empty list: %s", err.msg);
    s = vg_dataset_read_list(ds, tpath("lists/none.txt"), &idx, &n, &err);
    CHECK(s == VG_ERR_IO && contains(err.msg, "none.txt"), "absent list: %s", err.msg);
    s = vg_dataset_read_list(ds, tpath("lists/val.txt"), &idx, &n, &err);
    CHECK(s == VG_OK && n == 3, "val list: %s", err.msg);
    free(idx);

    /* a failed split leaves the previous one */
    s = vg_dataset_split_lists(ds, tpath("lists/train.txt"), tpath("lists/overlap_val.txt"), &err);
    CHECK(s == VG_ERR_FORMAT && contains(err.msg, "fire/a.png: in both"), "overlap: %s", err.msg);
    CHECK(ds->n_train == 9 && ds->n_val == 3, "split kept after a failure");
    s = vg_dataset_split_lists(ds, tpath("lists/train.txt"), NULL, &err);
    CHECK(s == VG_OK && ds->n_train == 9 && ds->n_val == 0, "no val list: %s", err.msg);
    vg_dataset_free(ds);
}

static void test_stratified(void) {
    vg_err err;
    vg_dataset *a = NULL, *b = NULL;
    if (vg_dataset_scan(tpath("data"), &a, &err) != VG_OK ||
        vg_dataset_scan(tpath("data"), &b, &err) != VG_OK) {
        CHECK(0, "scan: %s", err.msg);
        vg_dataset_free(a);
        return;
    }
    vg_status s = vg_dataset_split_stratified(a, 0.15f, 42, &err);
    CHECK(s == VG_OK && vg_dataset_split_made_up(a), "split: %s", err.msg);
    /* round(0.15 * 4) = 1: one per class */
    CHECK(a->n_val == 3 && a->n_train == 9, "%d val %d train", a->n_val, a->n_train);
    int counts[3];
    vg_dataset_count(a, a->train, a->n_train, counts);
    for (int c = 0; c < 3; c++)
        CHECK(counts[c] == 3, "class %d: %d in train", c, counts[c]);
    vg_dataset_count(a, a->val, a->n_val, counts);
    for (int c = 0; c < 3; c++)
        CHECK(counts[c] == 1, "class %d: %d in val", c, counts[c]);

    s = vg_dataset_split_stratified(b, 0.15f, 42, &err);
    bool same = s == VG_OK && a->n_val == b->n_val;
    for (int i = 0; same && i < a->n_val; i++)
        same = a->val[i] == b->val[i];
    CHECK(same, "same seed, same split");
    int differ = 0;
    for (uint64_t seed = 1; seed <= 8; seed++) {
        vg_dataset_split_stratified(b, 0.15f, seed, &err);
        for (int i = 0; i < a->n_val && i < b->n_val; i++)
            differ += a->val[i] != b->val[i];
    }
    CHECK(differ > 0, "other seeds give other splits");

    s = vg_dataset_split_stratified(b, 0.6f, 7, &err); /* round(2.4) = 2 per class */
    CHECK(s == VG_OK && b->n_val == 6, "%d val at 0.6", b->n_val);
    s = vg_dataset_split_stratified(b, 0.99f, 7, &err); /* never a whole class */
    vg_dataset_count(b, b->train, b->n_train, counts);
    CHECK(s == VG_OK && counts[0] == 1 && counts[1] == 1 && counts[2] == 1,
          "0.99 keeps one per class in train: %d %d %d", counts[0], counts[1], counts[2]);
    s = vg_dataset_split_stratified(b, 0.0f, 7, &err);
    CHECK(s == VG_OK && b->n_val == 0 && b->n_train == 12, "fraction 0");
    s = vg_dataset_split_stratified(b, 1.0f, 7, &err);
    CHECK(s == VG_ERR_ARG, "fraction 1 refused");
    vg_dataset_free(a);
    vg_dataset_free(b);
}

static void test_extra_and_weights(void) {
    vg_err err;
    vg_dataset *ds = NULL;
    if (vg_dataset_scan(tpath("data"), &ds, &err) != VG_OK) {
        CHECK(0, "scan: %s", err.msg);
        return;
    }
    vg_status s =
        vg_dataset_split_lists(ds, tpath("lists/train.txt"), tpath("lists/val.txt"), &err);
    CHECK(s == VG_OK, "lists: %s", err.msg);
    s = vg_dataset_add_extra_train(ds, tpath("extra"), &err);
    CHECK(s == VG_OK, "extra: %s", err.msg);
    CHECK(ds->n_samples == 14 && ds->n_main == 12 && ds->n_train == 11 && ds->n_val == 3,
          "%d samples, %d train", ds->n_samples, ds->n_train);
    for (int i = 12; i < ds->n_samples; i++)
        CHECK(ds->samples[i].extra && ds->samples[i].label == 1 &&
                  contains(ds->samples[i].path, "extra/neutral/"),
              "extra sample %d: %s label %d", i, ds->samples[i].path, ds->samples[i].label);
    CHECK(ds->n_ignored == 2 && contains(ds->ignored[1], "copyright"), "ignored %d", ds->n_ignored);

    s = vg_dataset_add_extra_train(ds, tpath("extra_bad"), &err);
    CHECK(s == VG_ERR_FORMAT && contains(err.msg, "extra_bad/dog") &&
              contains(err.msg, "fire, neutral, smoke"),
          "unknown folder: %s", err.msg);
    CHECK(ds->n_samples == 14 && ds->n_train == 11, "nothing added on error");

    /* the refit's merge: every main sample once, ascending, extras last, val empty */
    {
        int before[16], nb = ds->n_train, vb[16], nvb = ds->n_val;
        memcpy(before, ds->train, sizeof(int) * (size_t)nb);
        memcpy(vb, ds->val, sizeof(int) * (size_t)nvb);
        s = vg_dataset_merge_val(ds, &err);
        CHECK(s == VG_OK && ds->n_train == 14 && ds->n_val == 0, "merge: %d train, %d val",
              ds->n_train, ds->n_val);
        for (int i = 0; i < ds->n_train && i < 14; i++)
            CHECK(ds->train[i] == i, "merged train[%d] = %d", i, ds->train[i]);
        int seen = 0;
        for (int i = 0; i < nvb; i++)
            for (int j = 0; j < ds->n_train; j++)
                seen += ds->train[j] == vb[i];
        CHECK(seen == nvb && nb + nvb == ds->n_train, "every val sample moved once");
        s = vg_dataset_merge_val(ds, &err); /* nothing left to merge */
        CHECK(s == VG_OK && ds->n_train == 14 && ds->n_val == 0, "second merge");
    }

    /* extras survive a new split */
    s = vg_dataset_split_stratified(ds, 0.25f, 3, &err);
    CHECK(s == VG_OK && ds->n_train == 9 + 2 && ds->train[ds->n_train - 1] == 13,
          "extras stay in train: %d", ds->n_train);
    s = vg_dataset_split_lists(ds, tpath("lists/train.txt"), tpath("lists/val.txt"), &err);

    int counts[3];
    float w[3];
    vg_dataset_count(ds, ds->train, ds->n_train, counts);
    CHECK(counts[0] == 3 && counts[1] == 5 && counts[2] == 3, "counts %d %d %d", counts[0],
          counts[1], counts[2]);
    s = vg_class_weights(counts, 3, ds->classes, w, &err);
    CHECK(s == VG_OK, "weights: %s", err.msg);
    /* w_c = N / (C n_c), N = 11 */
    CHECK_NEAR(w[0], 11.0 / 9.0, 1e-6, "fire weight");
    CHECK_NEAR(w[1], 11.0 / 15.0, 1e-6, "neutral weight");
    CHECK_NEAR(w[2], 11.0 / 9.0, 1e-6, "smoke weight");
    CHECK_NEAR((counts[0] * w[0] + counts[1] * w[1] + counts[2] * w[2]) / 11.0, 1.0, 1e-6,
               "weights average 1 over the samples");
    int zero[3] = {4, 0, 2};
    s = vg_class_weights(zero, 3, ds->classes, w, &err);
    CHECK(s == VG_ERR_FORMAT && contains(err.msg, "'neutral'"), "empty class: %s", err.msg);
    s = vg_class_weights(zero, 3, NULL, w, &err);
    CHECK(s == VG_ERR_FORMAT && contains(err.msg, "class 1"), "empty class, no names: %s", err.msg);
    vg_dataset_free(ds);
}

/* ---- cache -------------------------------------------------------------------------------- */

typedef struct {
    int bad, progress_calls, last_done, last_total;
    bool monotone;
    char bad_path[900];
} cb_log;

static void on_bad(void *ud, const char *path, const char *msg) {
    cb_log *l = ud;
    l->bad++;
    snprintf(l->bad_path, sizeof l->bad_path, "%s", path);
    CHECK(msg && msg[0], "bad image without a message");
}
static void on_progress(void *ud, int done, int total) {
    cb_log *l = ud;
    if (done < l->last_done) l->monotone = false;
    l->progress_calls++;
    l->last_done = done;
    l->last_total = total;
}

static vg_cache *build(const vg_dataset *ds, const int *idx, int n, int size, size_t budget,
                       const char *dir, int threads, cb_log *log, vg_err *err) {
    memset(log, 0, sizeof *log);
    log->monotone = true;
    vg_cache_opts o = vg_cache_opts_default();
    o.size = size;
    o.threads = threads;
    o.ram_budget = budget;
    o.dir = dir;
    o.require_every_class = true;
    o.on_bad = on_bad;
    o.on_progress = on_progress;
    o.ud = log;
    vg_cache *c = NULL;
    vg_status s = vg_cache_build(&c, ds, idx, n, &o, err);
    CHECK(s == VG_OK, "cache build (budget %zu): %s", budget, err->msg);
    return c;
}

/* every good entry equals decode + vg_image_resize; bad entries have no pixels */
static void check_cache_pixels(const vg_cache *c, const vg_dataset *ds, const char *what) {
    int S = vg_cache_size(c), mismatches = 0;
    for (int i = 0; i < vg_cache_count(c); i++) {
        vg_image img, sm;
        vg_err err;
        const char *path = ds->samples[vg_cache_sample(c, i)].path;
        if (vg_image_load(path, &img, &err) != VG_OK) {
            CHECK(!vg_cache_ok(c, i) && vg_cache_pixels(c, i) == NULL, "%s: bad entry %d", what, i);
            continue;
        }
        if (vg_image_resize(&img, S, S, &sm, &err) == VG_OK) {
            const uint8_t *p = vg_cache_pixels(c, i);
            if (!p || memcmp(p, sm.rgb, (size_t)S * S * 3) != 0) mismatches++;
            vg_image_free(&sm);
        }
        vg_image_free(&img);
    }
    CHECK(mismatches == 0, "%s: %d entries differ from decode + resize", what, mismatches);
}

static bool same_pixels(const vg_cache *a, const vg_cache *b) {
    if (vg_cache_count(a) != vg_cache_count(b) || vg_cache_size(a) != vg_cache_size(b))
        return false;
    size_t n = (size_t)vg_cache_size(a) * (size_t)vg_cache_size(a) * 3;
    for (int i = 0; i < vg_cache_count(a); i++) {
        const uint8_t *p = vg_cache_pixels(a, i), *q = vg_cache_pixels(b, i);
        if ((p == NULL) != (q == NULL) || (p && memcmp(p, q, n) != 0)) return false;
    }
    return true;
}

static void test_cache(void) {
    vg_err err;
    vg_dataset *ds = NULL;
    if (vg_dataset_scan(tpath("data"), &ds, &err) != VG_OK ||
        vg_dataset_split_lists(ds, tpath("lists/train.txt"), NULL, &err) != VG_OK ||
        vg_dataset_add_extra_train(ds, tpath("extra"), &err) != VG_OK) {
        CHECK(0, "dataset: %s", err.msg);
        vg_dataset_free(ds);
        return;
    }
    const int S = 8;
    cb_log log;
    vg_cache *ram = build(ds, ds->train, ds->n_train, S, (size_t)1 << 30, NULL, 2, &log, &err);
    if (!ram) {
        vg_dataset_free(ds);
        return;
    }
    CHECK(vg_cache_count(ram) == 11 && vg_cache_good(ram) == 10, "%d entries, %d good",
          vg_cache_count(ram), vg_cache_good(ram));
    CHECK(log.bad == 1 && contains(log.bad_path, "neutral/zbad.png"), "%d bad reports (%s)",
          log.bad, log.bad_path);
    CHECK(log.progress_calls >= 1 && log.monotone && log.last_done == 11 && log.last_total == 11,
          "progress: %d calls, last %d/%d", log.progress_calls, log.last_done, log.last_total);
    CHECK(vg_cache_ram_bytes(ram) == 11u * S * S * 3 && vg_cache_disk_bytes(ram) == 0 &&
              vg_cache_file(ram) == NULL,
          "RAM cache: %zu bytes", vg_cache_ram_bytes(ram));
    int counts[3];
    vg_cache_class_counts(ram, counts);
    CHECK(counts[0] == 3 && counts[1] == 4 && counts[2] == 3, "good counts %d %d %d", counts[0],
          counts[1], counts[2]);
    CHECK(vg_cache_sample(ram, 10) == 13 && vg_cache_label(ram, 10) == 1, "entry 10 is x2.bmp");
    check_cache_pixels(ram, ds, "RAM");

    /* a budget of 0 forces the disk cache */
    const char *dir = tpath("cache");
    vg_cache *disk = build(ds, ds->train, ds->n_train, S, 0, dir, 1, &log, &err);
    if (disk) {
        CHECK(!vg_cache_reused(disk) && vg_cache_ram_bytes(disk) == 0 &&
                  vg_cache_disk_bytes(disk) >= 11u * S * S * 3 && vg_cache_file(disk),
              "disk cache: %zu bytes", vg_cache_disk_bytes(disk));
        CHECK(vg_cache_good(disk) == 10 && log.bad == 1, "disk: %d good, %d bad",
              vg_cache_good(disk), log.bad);
        CHECK(same_pixels(ram, disk), "disk cache pixels equal RAM cache pixels");
    }
    char file[900] = "";
    if (disk) snprintf(file, sizeof file, "%s", vg_cache_file(disk));
    vg_cache_free(disk);

    /* a second build reuses the file, and still reports the bad image */
    disk = build(ds, ds->train, ds->n_train, S, 0, dir, 2, &log, &err);
    if (disk) {
        CHECK(vg_cache_reused(disk) && strcmp(vg_cache_file(disk), file) == 0, "reused");
        CHECK(log.bad == 1 && log.last_done == 11, "reused: %d bad, progress %d", log.bad,
              log.last_done);
        CHECK(same_pixels(ram, disk), "reused cache pixels");
    }
    vg_cache_free(disk);

    /* a damaged header, a truncated file, an edited image: rebuilt, same pixels */
    int fd = open(file, O_WRONLY);
    CHECK(fd >= 0, "open %s", file);
    if (fd >= 0) {
        CHECK(pwrite(fd, "\x7f", 1, 21) == 1, "damage the header");
        close(fd);
    }
    disk = build(ds, ds->train, ds->n_train, S, 0, dir, 1, &log, &err);
    CHECK(disk && !vg_cache_reused(disk) && same_pixels(ram, disk), "rebuilt after damage");
    vg_cache_free(disk);
    struct stat st;
    CHECK(stat(file, &st) == 0 && truncate(file, st.st_size - 1) == 0, "truncate");
    disk = build(ds, ds->train, ds->n_train, S, 0, dir, 1, &log, &err);
    CHECK(disk && !vg_cache_reused(disk) && same_pixels(ram, disk), "rebuilt after truncation");
    vg_cache_free(disk);
    struct timespec times[2] = {{1000000000, 0}, {1000000000, 0}};
    CHECK(utimensat(AT_FDCWD, ds->samples[0].path, times, 0) == 0, "touch");
    disk = build(ds, ds->train, ds->n_train, S, 0, dir, 1, &log, &err);
    CHECK(disk && !vg_cache_reused(disk), "rebuilt after an image changed");
    vg_cache_free(disk);
    /* another size is another file */
    disk = build(ds, ds->train, ds->n_train, S + 1, 0, dir, 1, &log, &err);
    CHECK(disk && !vg_cache_reused(disk) && strcmp(vg_cache_file(disk), file) != 0,
          "size in the key");
    if (disk) check_cache_pixels(disk, ds, "disk S=9");
    vg_cache_free(disk);

    /* errors */
    vg_cache_opts o = vg_cache_opts_default();
    o.size = S;
    o.ram_budget = 0;
    vg_cache *c = NULL;
    vg_status s = vg_cache_build(&c, ds, ds->train, ds->n_train, &o, &err);
    CHECK(s == VG_ERR_NOMEM && !c && contains(err.msg, "no cache folder"), "no dir: %s", err.msg);
    o.ram_budget = (size_t)1 << 30;
    o.require_every_class = true;
    int only_bad_neutral[3] = {0, 7, 8}; /* fire/a.png, neutral/zbad.png, smoke/s1.png */
    s = vg_cache_build(&c, ds, only_bad_neutral, 3, &o, &err);
    CHECK(s == VG_ERR_FORMAT && !c && contains(err.msg, "'neutral'") &&
              contains(err.msg, "failed to decode"),
          "class without a good image: %s", err.msg);
    o.require_every_class = false;
    s = vg_cache_build(&c, ds, only_bad_neutral, 3, &o, &err);
    CHECK(s == VG_OK && c && vg_cache_good(c) == 2, "without require_every_class: %s", err.msg);
    vg_cache_free(c);
    o.size = 0;
    s = vg_cache_build(&c, ds, ds->train, ds->n_train, &o, &err);
    CHECK(s == VG_ERR_ARG, "size 0 refused");

    vg_cache_free(ram);
    vg_cache_free(NULL);
    vg_dataset_free(ds);
}

/* ---- augmentation ------------------------------------------------------------------------- */

static vg_input_spec make_spec(int w, int h) {
    vg_input_spec sp = {w, h, 3, {120.0f, 110.0f, 100.0f}, {60.0f, 50.0f, 70.0f}};
    return sp;
}

static void test_augment(void) {
    const int S = 16;
    uint8_t *img = pattern(S, S, 99);
    vg_input_spec sp = make_spec(12, 10);
    size_t nf = 12 * 10 * 3;
    float *a = malloc(nf * sizeof *a), *b = malloc(nf * sizeof *b), *r = malloc(nf * sizeof *r);
    if (!img || !a || !b || !r) {
        CHECK(0, "out of memory");
        goto done;
    }
    vg_err err;
    vg_augment aug = vg_augment_default();
    CHECK(vg_augment_check(&aug, &err) == VG_OK, "default config: %s", err.msg);

    vg_augment_image(img, S, S, &aug, &sp, 5, 3, 17, a);
    vg_augment_image(img, S, S, &aug, &sp, 5, 3, 17, b);
    CHECK(memcmp(a, b, nf * sizeof *a) == 0, "same (seed, epoch, key), same floats");
    vg_augment_image(img, S, S, &aug, &sp, 5, 4, 17, b);
    CHECK(memcmp(a, b, nf * sizeof *a) != 0, "another epoch, other floats");
    vg_augment_image(img, S, S, &aug, &sp, 5, 3, 18, b);
    CHECK(memcmp(a, b, nf * sizeof *a) != 0, "another sample, other floats");

    /* no augmentation = vg_image_to_input, enlarging (16 -> 12x10 is < 3x) and shrinking */
    vg_image im = {S, S, img};
    const int sizes[3][2] = {{12, 10}, {16, 16}, {24, 20}};
    for (int k = 0; k < 3; k++) {
        vg_input_spec s2 = make_spec(sizes[k][0], sizes[k][1]);
        size_t m = (size_t)s2.w * (size_t)s2.h * 3;
        float *x = malloc(m * sizeof *x), *y = malloc(m * sizeof *y);
        if (x && y && vg_image_to_input(&im, &s2, y, m, &err) == VG_OK) {
            vg_augment_image(img, S, S, NULL, &s2, 5, 3, 17, x);
            size_t worst;
            double e = vg_test_max_rel_err(x, y, m, 1.0, &worst);
            CHECK(e <= 1e-4, "no augmentation vs vg_image_to_input at %dx%d: error %g at %zu", s2.w,
                  s2.h, e, worst);
        } else {
            CHECK(0, "vg_image_to_input: %s", err.msg);
        }
        free(x);
        free(y);
    }

    /* forced flip without crop or jitter mirrors the plain render */
    vg_augment flip = {1, 1, 1, 1, 1.0f, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, false};
    CHECK(vg_augment_check(&flip, &err) == VG_OK, "flip config: %s", err.msg);
    vg_augment_params p;
    vg_augment_draw(&flip, S, S, 1, 2, 3, &p);
    CHECK(p.x == 0 && p.y == 0 && p.w == S && p.h == S && p.flip && p.brightness == 1.0f &&
              p.contrast == 1.0f && p.saturation == 1.0f && p.hue == 0.0f,
          "flip params: %d,%d %dx%d flip %d", p.x, p.y, p.w, p.h, p.flip);
    vg_augment_image(img, S, S, &flip, &sp, 1, 2, 3, a);
    vg_augment_image(img, S, S, NULL, &sp, 1, 2, 3, b);
    int bad = 0;
    for (int y = 0; y < sp.h; y++)
        for (int x = 0; x < sp.w; x++)
            for (int c = 0; c < 3; c++)
                bad += a[((size_t)y * 12 + (size_t)x) * 3 + (size_t)c] !=
                       b[((size_t)y * 12 + (size_t)(11 - x)) * 3 + (size_t)c];
    CHECK(bad == 0, "flip: %d values are not mirrored", bad);
    flip.flip_prob = 0;
    vg_augment_image(img, S, S, &flip, &sp, 1, 2, 3, a);
    CHECK(memcmp(a, b, nf * sizeof *a) == 0, "flip_prob 0 without jitter = no augmentation");

    /* crop boxes stay inside, cover the requested area and ratio; flips are ~half */
    int flips = 0, out_of_range = 0;
    for (int k = 0; k < 2000; k++) {
        vg_augment_draw(&aug, 256, 256, 9, 1, (uint64_t)k, &p);
        flips += p.flip;
        double area = (double)p.w * p.h / (256.0 * 256.0), ratio = (double)p.w / p.h;
        /* the box sides are rounded to whole pixels: allow for that */
        bool ok = p.x >= 0 && p.y >= 0 && p.x + p.w <= 256 && p.y + p.h <= 256 &&
                  area >= aug.scale_min - 0.01 && area <= aug.scale_max + 1e-9 &&
                  ratio >= aug.ratio_min * 0.98 && ratio <= aug.ratio_max * 1.02 &&
                  p.brightness >= 0.7f && p.brightness <= 1.3f && fabsf(p.hue) <= aug.hue;
        out_of_range += !ok;
    }
    CHECK(out_of_range == 0, "%d crops out of range", out_of_range);
    CHECK(flips > 900 && flips < 1100, "%d flips in 2000", flips);
    /* no crop fits: torchvision's fallback, the largest centred crop within the ratio range */
    vg_augment wide = {1, 1, 2, 3, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, false};
    vg_augment_draw(&wide, 64, 64, 1, 1, 1, &p);
    CHECK(p.w == 64 && p.h == 32 && p.x == 0 && p.y == 16, "fallback %d,%d %dx%d", p.x, p.y, p.w,
          p.h);

    /* colour jitter on known pixels, through the parameters (mean 0, std 1: raw values) */
    {
        vg_input_spec raw = {2, 1, 3, {0, 0, 0}, {1, 1, 1}};
        const uint8_t px[6] = {255, 0, 0, 100, 150, 200};
        float o[6];
        vg_augment_params q;
        vg_augment_draw(NULL, 2, 1, 0, 0, 0, &q);
        q.hue = 1.0f / 3.0f; /* red -> green */
        vg_augment_render(px, 2, 1, &q, &raw, o);
        CHECK_NEAR(o[0], 0, 1e-3, "hue: r");
        CHECK_NEAR(o[1], 255, 1e-3, "hue: g");
        CHECK_NEAR(o[2], 0, 1e-3, "hue: b");
        vg_augment_draw(NULL, 2, 1, 0, 0, 0, &q);
        q.brightness = 1.5f; /* 255 * 1.5 clamps */
        vg_augment_render(px, 2, 1, &q, &raw, o);
        CHECK(o[0] == 255.0f && o[3] == 150.0f && o[4] == 225.0f && o[5] == 255.0f,
              "brightness: %g %g %g %g", (double)o[0], (double)o[3], (double)o[4], (double)o[5]);
        vg_augment_draw(NULL, 2, 1, 0, 0, 0, &q);
        q.saturation = 0.0f; /* grey */
        vg_augment_render(px, 2, 1, &q, &raw, o);
        double g1 = 0.2989 * 100 + 0.587 * 150 + 0.114 * 200;
        CHECK_NEAR(o[3], g1, 1e-3, "saturation 0: r");
        CHECK_NEAR(o[5], g1, 1e-3, "saturation 0: b");
        vg_augment_draw(NULL, 2, 1, 0, 0, 0, &q);
        q.contrast = 0.0f; /* the mean grey of the image */
        vg_augment_render(px, 2, 1, &q, &raw, o);
        double mean = (0.2989 * 255 + g1) / 2;
        for (int i = 0; i < 6; i++)
            CHECK_NEAR(o[i], mean, 1e-3, "contrast 0: value %d", i);
    }

    /* strong jitter stays within the normalised [0, 255] range */
    vg_augment strong = {0.1f, 1, 0.5f, 2, 0.5f, 2, 2, 2, 0.5f, 0, 1, 0, 0, 0, 0, 0, 0, false};
    CHECK(vg_augment_check(&strong, &err) == VG_OK, "strong config: %s", err.msg);
    int outside = 0;
    for (int k = 0; k < 50; k++) {
        vg_augment_image(img, S, S, &strong, &sp, 3, 3, (uint64_t)k, a);
        for (size_t i = 0; i < nf; i++) {
            int c = (int)(i % 3);
            float lo = (0 - sp.mean[c]) / sp.std[c], hi = (255 - sp.mean[c]) / sp.std[c];
            outside += !(a[i] >= lo - 1e-5f && a[i] <= hi + 1e-5f);
        }
    }
    CHECK(outside == 0, "%d values outside the range", outside);

    /* zoom-out: drawn after everything else (the other parameters do not move), and the crop
     * rendered into its rectangle exactly as a render at that size, the rest the mean */
    vg_augment zo = aug;
    zo.zoom_prob = 1.0f, zo.zoom_min = 0.5f;
    CHECK(vg_augment_check(&zo, &err) == VG_OK, "zoom-out config: %s", err.msg);
    int zbad = 0, zsmall = 0;
    for (int k = 0; k < 200; k++) {
        vg_augment_params p0, p1;
        vg_augment_draw(&aug, S, S, 7, 1, (uint64_t)k, &p0);
        vg_augment_draw(&zo, S, S, 7, 1, (uint64_t)k, &p1);
        zbad += p0.zoom != 1.0f || p1.zoom < 0.5f || p1.zoom > 1.0f || p1.zoom_x < 0 || p1.zoom_x > 1 ||
                p0.x != p1.x || p0.y != p1.y || p0.w != p1.w || p0.h != p1.h || p0.flip != p1.flip ||
                p0.brightness != p1.brightness || p0.hue != p1.hue;
        zsmall += p1.zoom < 0.75f;
    }
    CHECK(zbad == 0 && zsmall > 70 && zsmall < 130, "zoom-out draws: %d wrong, %d of 200 below 0.75", zbad, zsmall);
    {
        vg_augment_params zp;
        vg_augment_draw(NULL, S, S, 1, 1, 1, &zp);
        zp.x = 2, zp.y = 3, zp.w = 11, zp.h = 9, zp.flip = true;
        zp.zoom = 0.5f, zp.zoom_x = 1.0f, zp.zoom_y = 0.0f; /* 6x5 in the top right corner of 12x10 */
        vg_augment_render(img, S, S, &zp, &sp, a);
        vg_input_spec small = make_spec(6, 5);
        vg_augment_params q = zp;
        q.zoom = 1.0f;
        vg_augment_render(img, S, S, &q, &small, r);
        int off = 0;
        for (int y = 0; y < 10; y++)
            for (int x = 0; x < 12; x++)
                for (int c = 0; c < 3; c++) {
                    float v = a[(y * 12 + x) * 3 + c];
                    bool in = x >= 6 && y < 5;
                    off += in ? v != r[(y * 6 + x - 6) * 3 + c] : v != 0.0f;
                }
        CHECK(off == 0, "zoom-out render: %d values differ from the small render / the mean", off);
    }

    vg_augment badcfg = aug;
    badcfg.zoom_min = 0;
    CHECK(vg_augment_check(&badcfg, &err) == VG_ERR_ARG, "zoom-out share 0 refused");
    badcfg = aug;
    badcfg.scale_min = 0;
    CHECK(vg_augment_check(&badcfg, &err) == VG_ERR_ARG, "scale 0 refused");
    badcfg = aug;
    badcfg.hue = 0.6f;
    CHECK(vg_augment_check(&badcfg, &err) == VG_ERR_ARG, "hue 0.6 refused");
    vg_input_spec bad_spec = make_spec(4, 4);
    bad_spec.std[1] = 0;
    CHECK(vg_input_spec_check(&bad_spec, &err) == VG_ERR_ARG, "std 0 refused");
done:
    free(img);
    free(a);
    free(b);
    free(r);
}

/* ---- loader ------------------------------------------------------------------------------- */

typedef struct {
    int n_batches;
    int n[16];
    float *x[16];
    int labels[16][8], entries[16][8];
} epoch_rec;

static void rec_free(epoch_rec *r) {
    for (int i = 0; i < r->n_batches; i++)
        free(r->x[i]);
    memset(r, 0, sizeof *r);
}

/* runs an epoch from first_batch and records its batches (batch size <= 8, <= 16 batches) */
static void record(vg_loader *l, int epoch, int first_batch, size_t img_floats, epoch_rec *r) {
    memset(r, 0, sizeof *r);
    vg_loader_start(l, epoch, first_batch);
    vg_batch b;
    while (vg_loader_next(l, &b) && r->n_batches < 16) {
        int k = r->n_batches++;
        CHECK(b.index == first_batch + k && b.epoch == epoch, "batch %d: index %d epoch %d", k,
              b.index, b.epoch);
        r->n[k] = b.n;
        r->x[k] = malloc((size_t)b.n * img_floats * sizeof(float));
        if (r->x[k]) memcpy(r->x[k], b.x, (size_t)b.n * img_floats * sizeof(float));
        memcpy(r->labels[k], b.labels, (size_t)b.n * sizeof(int));
        memcpy(r->entries[k], b.entries, (size_t)b.n * sizeof(int));
    }
}

static bool same_batch(const epoch_rec *a, int i, const epoch_rec *b, int j, size_t img_floats) {
    return a->n[i] == b->n[j] && a->x[i] && b->x[j] &&
           memcmp(a->x[i], b->x[j], (size_t)a->n[i] * img_floats * sizeof(float)) == 0 &&
           memcmp(a->labels[i], b->labels[j], (size_t)a->n[i] * sizeof(int)) == 0 &&
           memcmp(a->entries[i], b->entries[j], (size_t)a->n[i] * sizeof(int)) == 0;
}

static void test_loader(void) {
    vg_err err;
    vg_dataset *ds = NULL;
    vg_cache *c = NULL;
    cb_log log;
    if (vg_dataset_scan(tpath("data"), &ds, &err) != VG_OK ||
        vg_dataset_split_lists(ds, tpath("lists/train.txt"), NULL, &err) != VG_OK ||
        vg_dataset_add_extra_train(ds, tpath("extra"), &err) != VG_OK ||
        !(c = build(ds, ds->train, ds->n_train, 12, (size_t)1 << 30, NULL, 2, &log, &err))) {
        CHECK(0, "setup: %s", err.msg);
        vg_dataset_free(ds);
        return;
    }
    /* 10 good entries of 11 (entry 5, neutral/zbad.png, is bad) */
    vg_augment aug = vg_augment_default();
    vg_loader_opts o = vg_loader_opts_default();
    o.batch = 3;
    o.aug = &aug;
    o.spec = make_spec(10, 8);
    o.seed = 1234;
    o.threads = 2;
    const size_t img_floats = 10 * 8 * 3;
    vg_loader *l = NULL;
    vg_status s = vg_loader_new(&l, c, NULL, 0, &o, &err);
    CHECK(s == VG_OK, "loader: %s", err.msg);
    if (s != VG_OK) goto done;
    CHECK(vg_loader_batches(l) == 4 && vg_loader_epoch_size(l) == 10, "%d batches",
          vg_loader_batches(l));

    /* a shuffled epoch visits every good entry once, with its label and its augmentation */
    epoch_rec e0, e1, r;
    record(l, 0, 0, img_floats, &e0);
    CHECK(e0.n_batches == 4 && e0.n[0] == 3 && e0.n[3] == 1, "%d batches, last of %d", e0.n_batches,
          e0.n[3]);
    int seen[11] = {0}, wrong_label = 0, wrong_x = 0;
    float *x = malloc(img_floats * sizeof *x);
    for (int k = 0; k < e0.n_batches; k++)
        for (int i = 0; i < e0.n[k]; i++) {
            int e = e0.entries[k][i];
            if (e >= 0 && e < 11) seen[e]++;
            wrong_label += e0.labels[k][i] != vg_cache_label(c, e);
            if (x) {
                vg_augment_image(vg_cache_pixels(c, e), 12, 12, &aug, &o.spec, o.seed, 0,
                                 (uint64_t)vg_cache_sample(c, e), x);
                wrong_x += memcmp(x, e0.x[k] + (size_t)i * img_floats, img_floats * sizeof *x) != 0;
            }
        }
    free(x);
    for (int e = 0; e < 11; e++)
        CHECK(seen[e] == (e == 5 ? 0 : 1), "entry %d seen %d times", e, seen[e]);
    CHECK(wrong_label == 0 && wrong_x == 0,
          "%d wrong labels, %d images differ from "
          "vg_augment_image keyed by sample",
          wrong_label, wrong_x);
    vg_batch b;
    CHECK(!vg_loader_next(l, &b), "the epoch has ended");

    int order0[10], order1[10];
    vg_loader_order(l, 0, order0);
    vg_loader_order(l, 1, order1);
    CHECK(memcmp(order0, order1, sizeof order0) != 0, "epochs are shuffled differently");
    CHECK(order0[0] == e0.entries[0][0] && order0[9] == e0.entries[3][0], "order = batches");

    /* restarting at batch k gives the batches k.. of a full epoch, bit for bit */
    record(l, 2, 0, img_floats, &e1);
    record(l, 2, 2, img_floats, &r);
    CHECK(r.n_batches == 2 && same_batch(&e1, 2, &r, 0, img_floats) &&
              same_batch(&e1, 3, &r, 1, img_floats),
          "resume at batch 2: %d batches", r.n_batches);
    rec_free(&r);
    /* abandoning an epoch half way and starting it again */
    vg_loader_start(l, 2, 0);
    CHECK(vg_loader_next(l, &b), "first batch");
    record(l, 2, 1, img_floats, &r);
    CHECK(r.n_batches == 3 && same_batch(&e1, 1, &r, 0, img_floats), "restart mid-epoch");
    rec_free(&r);
    record(l, 2, 4, img_floats, &r);
    CHECK(r.n_batches == 0, "start at the end: %d batches", r.n_batches);
    rec_free(&r);

    /* one worker thread or three: the same batches */
    vg_loader *l1 = NULL;
    o.threads = 1;
    if (vg_loader_new(&l1, c, NULL, 0, &o, &err) == VG_OK) {
        record(l1, 2, 0, img_floats, &r);
        bool same = r.n_batches == e1.n_batches;
        for (int k = 0; same && k < r.n_batches; k++)
            same = same_batch(&e1, k, &r, k, img_floats);
        CHECK(same, "threads 1 vs 2");
        rec_free(&r);
    } else {
        CHECK(0, "loader: %s", err.msg);
    }
    vg_loader_free(l1);
    rec_free(&e0);
    rec_free(&e1);

    /* class-balanced draws: about a third of each class (3 fire, 4 neutral, 3 smoke images) */
    o.balanced = true;
    o.threads = 2;
    o.aug = NULL;
    vg_loader *lb = NULL;
    if (vg_loader_new(&lb, c, NULL, 0, &o, &err) == VG_OK) {
        int per_class[3] = {0, 0, 0}, draws = 0;
        for (int ep = 0; ep < 30; ep++) {
            vg_loader_start(lb, ep, 0);
            while (vg_loader_next(lb, &b))
                for (int i = 0; i < b.n; i++, draws++)
                    per_class[b.labels[i]]++;
        }
        /* 300 draws, 100 expected per class, standard deviation ~8: 70..130 is over 3.5 sd */
        CHECK(draws == 300, "%d draws", draws);
        for (int k = 0; k < 3; k++)
            CHECK(per_class[k] >= 70 && per_class[k] <= 130, "class %d drawn %d times of 300", k,
                  per_class[k]);
        epoch_rec a1, a2;
        record(lb, 7, 0, img_floats, &a1);
        record(lb, 7, 3, img_floats, &a2);
        CHECK(a2.n_batches == 1 && same_batch(&a1, 3, &a2, 0, img_floats), "balanced resume");
        rec_free(&a1);
        rec_free(&a2);
    } else {
        CHECK(0, "balanced loader: %s", err.msg);
    }
    vg_loader_free(lb);

    /* drop_last, an explicit entry list (bad entries dropped), errors */
    o.balanced = false;
    o.drop_last = true;
    int some[4] = {0, 5, 6, 7};
    vg_loader *ld = NULL;
    s = vg_loader_new(&ld, c, some, 4, &o, &err);
    CHECK(s == VG_OK && vg_loader_epoch_size(ld) == 3 && vg_loader_batches(ld) == 1,
          "explicit entries: %s", err.msg);
    vg_loader_free(ld);
    o.drop_last = false;
    int out_of_range[1] = {11};
    CHECK(vg_loader_new(&ld, c, out_of_range, 1, &o, &err) == VG_ERR_ARG && !ld,
          "entry out of range");
    o.batch = 0;
    CHECK(vg_loader_new(&ld, c, NULL, 0, &o, &err) == VG_ERR_ARG, "batch 0 refused");
    o.batch = 3;
    o.spec.c = 1;
    CHECK(vg_loader_new(&ld, c, NULL, 0, &o, &err) == VG_ERR_UNSUPPORTED, "1 channel refused");
    o.spec.c = 3;
    CHECK(!vg_loader_next(l, &b), "next after the end returns at once");

    /* freeing while the worker is busy: right after a start, and with a batch held */
    o.spec = make_spec(96, 96);
    o.batch = 8;
    o.aug = &aug;
    for (int k = 0; k < 3; k++) {
        vg_loader *busy = NULL;
        if (vg_loader_new(&busy, c, NULL, 0, &o, &err) != VG_OK) {
            CHECK(0, "busy loader: %s", err.msg);
            break;
        }
        vg_loader_start(busy, k, 0);
        if (k >= 1) CHECK(vg_loader_next(busy, &b) && b.n == 8, "first batch");
        if (k == 2) vg_loader_start(busy, 5, 1); /* restart while the worker fills */
        vg_loader_free(busy);
    }
    vg_loader *idle = NULL; /* never started */
    if (vg_loader_new(&idle, c, NULL, 0, &o, &err) == VG_OK)
        CHECK(!vg_loader_next(idle, &b), "no batch before a start");
    vg_loader_free(idle);
    vg_loader_free(NULL);
done:
    vg_loader_free(l);
    vg_cache_free(c);
    vg_dataset_free(ds);
}

/* ---- the real dataset (../shared), when present ------------------------------------------- */

/* Scans firesmoke-cctv with its split lists and the hard negatives (no decoding: that is a
 * few milliseconds), then decodes a handful of validation images into a small cache. */
static void test_shared(void) {
    const char *root = vg_test_shared("data/firesmoke-cctv");
    const char *tr = vg_test_shared("data/firesmoke-cctv/splits/train.txt");
    const char *va = vg_test_shared("data/firesmoke-cctv/splits/val.txt");
    const char *hn = vg_test_shared("data/hard-negatives");
    if (!root || !tr || !va || !hn) return;
    vg_err err;
    vg_dataset *ds = NULL;
    vg_status s = vg_dataset_scan(root, &ds, &err);
    CHECK(s == VG_OK, "scan: %s", err.msg);
    if (s != VG_OK) return;
    /* DATA.md: fire 381, smoke 438, neutral 160; splits/ is not a class */
    int counts[3];
    vg_dataset_count(ds, ds->train, ds->n_train, counts);
    CHECK(ds->n_classes == 3 && counts[0] == 381 && counts[1] == 160 && counts[2] == 438,
          "%d classes: %d %d %d", ds->n_classes, counts[0], counts[1], counts[2]);
    s = vg_dataset_split_lists(ds, tr, va, &err);
    CHECK(s == VG_OK && ds->n_train == 685 && ds->n_val == 98, "lists: %d train, %d val: %s",
          ds->n_train, ds->n_val, s == VG_OK ? "" : err.msg);
    s = vg_dataset_add_extra_train(ds, hn, &err);
    CHECK(s == VG_OK && ds->n_train == 685 + 39, "hard negatives: %d train: %s", ds->n_train,
          s == VG_OK ? "" : err.msg);
    int first[4];
    for (int i = 0; i < 4; i++)
        first[i] = ds->val[i * (ds->n_val / 4)];
    vg_cache_opts o = vg_cache_opts_default();
    o.size = 32;
    o.threads = 2;
    vg_cache *c = NULL;
    s = vg_cache_build(&c, ds, first, 4, &o, &err);
    CHECK(s == VG_OK && vg_cache_good(c) == 4, "real images: %s", s == VG_OK ? "" : err.msg);
    if (c) check_cache_pixels(c, ds, "real images");
    vg_cache_free(c);
    vg_dataset_free(ds);
}

vg_model *vg_test_small_model(void); /* test_vgm.c: labels fire, smoke, neutral */

static void eval_on_bad(void *ud, const char *path, const char *msg) {
    (void)msg;
    CHECK(strstr(path, "zbad.png") != NULL, "unreadable image reported: %s", path);
    ++*(int *)ud;
}

/* vg_eval_classify over the tree: every readable image one row, its probabilities those of a
 * lone vg_runner_classify, its label the model's class of the same name, the unreadable one
 * skipped and reported; a class the model lacks is refused by name; and a failed allocation
 * anywhere is an error with nothing returned (ASan: nothing leaked), never a skip */
static void test_eval(void) {
    vg_err err;
    vg_dataset *ds = NULL;
    vg_model *m = vg_test_small_model();
    CHECK(vg_dataset_scan(tpath("data/"), &ds, &err) == VG_OK, "scan: %s", err.msg);
    if (!ds || !m) {
        vg_dataset_free(ds), vg_model_free(m);
        return;
    }
    int n = ds->n_samples, *idx = malloc(sizeof(int) * (size_t)n), bad = 0;
    for (int i = 0; i < n; i++) idx[n - 1 - i] = i; /* reversed: rows keep the list's order */
    vg_eval_opts o = vg_eval_opts_default();
    o.on_bad = eval_on_bad, o.ud = &bad;
    vg_eval_result r;
    CHECK(vg_eval_classify(m, ds, idx, n, &o, &r, &err) == VG_OK, "eval: %s", err.msg);
    CHECK(r.n == n - 1 && r.skipped == 1 && bad == 1 && r.n_classes == 3,
          "%d rows, %d skipped, %d reported of %d images", r.n, r.skipped, bad, n);
    vg_runner *rn = NULL;
    CHECK(vg_runner_init(&rn, m, NULL, &err) == VG_OK, "runner: %s", err.msg);
    for (int j = 0; rn && j < r.n; j++) {
        const vg_sample *sm = &ds->samples[idx[r.pos[j]]];
        CHECK(j == 0 || r.pos[j] > r.pos[j - 1], "row %d out of the list's order", j);
        CHECK(strcmp(vg_model_label(m, r.labels[j]), ds->classes[sm->label]) == 0,
              "row %d: label %s for a %s image", j, vg_model_label(m, r.labels[j]),
              ds->classes[sm->label]);
        vg_image img = {0, 0, NULL};
        float p[3] = {0};
        CHECK(vg_image_load(sm->path, &img, &err) == VG_OK &&
                  vg_runner_classify(rn, &img, p, 3, &err) == VG_OK,
              "%s: %s", sm->name, err.msg);
        CHECK(memcmp(p, r.probs + (size_t)j * 3, sizeof p) == 0, "row %d (%s): probabilities differ",
              j, sm->name);
        vg_image_free(&img);
    }
    vg_runner_free(rn);
    vg_eval_result_free(&r);
    /* allocation failure, at every allocation of the call */
    vg_fail_alloc(0);
    CHECK(vg_eval_classify(m, ds, idx, n, &o, &r, &err) == VG_OK, "eval: %s", err.msg);
    long total = vg_alloc_count();
    vg_eval_result_free(&r);
    int clean = 0;
    for (long k = 1; k <= total; k++) {
        vg_fail_alloc(k);
        bad = 0;
        vg_status st = vg_eval_classify(m, ds, idx, n, &o, &r, &err);
        if (st == VG_OK) {
            clean += r.n == n - 1 && bad == 1; /* a failure the library works around */
            CHECK(r.n == n - 1 && bad == 1, "allocation %ld failed: %d rows, %d reported", k, r.n, bad);
            vg_eval_result_free(&r);
        } else {
            clean += st == VG_ERR_NOMEM && r.probs == NULL && r.n == 0;
            CHECK(st == VG_ERR_NOMEM && r.probs == NULL, "allocation %ld failed: %s (%s)", k,
                  vg_status_name(st), err.msg);
        }
    }
    vg_fail_alloc(0);
    CHECK(total > 10 && clean == total, "%d of %ld allocation failures clean", clean, total);
    /* a dataset class the model lacks */
    const char *other[] = {"fire", "smoke", "dog"};
    vg_model_set_labels(m, other, 3, NULL);
    CHECK(vg_eval_classify(m, ds, idx, n, &o, &r, &err) == VG_ERR_ARG && strstr(err.msg, "'neutral'"),
          "a class the model lacks: %s", err.msg);
    free(idx);
    vg_dataset_free(ds);
    vg_model_free(m);
}

typedef struct {
    int bad, notes;
} eval_hook_count;

static void run_on_log(void *ud, const char *line) {
    if (strstr(line, "has no test split: evaluating all")) ((eval_hook_count *)ud)->notes++;
}

static void run_on_bad(void *ud, const char *path, const char *msg) {
    (void)msg;
    CHECK(strstr(path, "zbad.png") != NULL, "unreadable image reported: %s", path);
    ((eval_hook_count *)ud)->bad++;
}

/* vg_eval_run (vigie.h): the figures of the one loop (vg_eval_classify) on the images the
 * split names, with its notes, and a clean failure at every allocation */
static void test_eval_run(void) {
    vg_err err;
    vg_model *m = vg_test_small_model();
    char model[1024];
    snprintf(model, sizeof model, "%s", tpath("eval_run.vgm"));
    CHECK(m && vg_model_save(m, model, &err) == VG_OK, "save: %s", m ? err.msg : "no model");
    vg_dataset *ds = NULL;
    CHECK(vg_dataset_scan(tpath("data/"), &ds, &err) == VG_OK, "scan: %s", err.msg);
    if (!m || !ds) {
        vg_model_free(m), vg_dataset_free(ds);
        return;
    }
    /* the reference: every image through vg_eval_classify, figures at threshold 0.4 */
    int n = ds->n_samples, *idx = malloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) idx[i] = i;
    vg_eval_opts o = vg_eval_opts_default();
    vg_eval_result r;
    vg_metrics ref;
    memset(&ref, 0, sizeof ref);
    int no_alarm = -1, misses = 0; /* the model's class index (its order may differ) */
    for (int c = 0; c < 3; c++)
        if (!strcmp(vg_model_label(m, c), "neutral")) no_alarm = c;
    CHECK(vg_eval_classify(m, ds, idx, n, &o, &r, &err) == VG_OK &&
              vg_metrics_compute(r.n, 3, r.probs, r.labels, no_alarm, 0.4f, &ref, &err) == VG_OK,
          "reference: %s", err.msg);
    for (int j = 0; j < r.n; j++) {
        const float *p = r.probs + (size_t)j * 3;
        int best = p[1] > p[0] ? 1 : 0;
        if (p[2] > p[best]) best = 2;
        misses += best != r.labels[j];
    }
    vg_eval_cfg c = vg_eval_cfg_default();
    c.data[0].dir = tpath("data/");
    c.n_data = 1;
    c.threshold = 0.4f;
    eval_hook_count hc = {0, 0};
    vg_eval_hooks h = {&hc, run_on_log, run_on_bad, NULL};
    vg_eval_report rep;
    CHECK(vg_eval_run(model, &c, &h, &rep, &err) == VG_OK, "eval run: %s", err.msg);
    CHECK(rep.n == r.n && rep.skipped == 1 && hc.bad == 1 && hc.notes == 1 && rep.n_classes == 3 &&
              rep.n_sources == 1 && !strcmp(rep.sources[0].split, "all"),
          "%d images, %d skipped, %d bad, %d notes, split %s", rep.n, rep.skipped, hc.bad, hc.notes,
          rep.n_sources ? rep.sources[0].split : "-");
    CHECK(rep.metrics.accuracy == ref.accuracy && rep.metrics.no_alarm == ref.no_alarm &&
              rep.metrics.alarm_recall == ref.alarm_recall &&
              rep.metrics.false_alarm_rate == ref.false_alarm_rate && rep.n_misses == misses &&
              rep.roc_n > 1 && rep.sources[0].part.n == rep.n &&
              memcmp(rep.metrics.confusion, ref.confusion, sizeof(int) * 9) == 0,
          "figures differ from vg_eval_classify's");
    long total = 0;
    vg_eval_report_free(&rep);
    /* every allocation failing in turn: an error with nothing left, or the same figures */
    vg_fail_alloc(0);
    vg_eval_run(model, &c, NULL, &rep, &err);
    total = vg_alloc_count();
    vg_eval_report_free(&rep);
    int clean = 0;
    for (long k = 1; k <= total; k++) {
        vg_fail_alloc(k);
        vg_status st = vg_eval_run(model, &c, NULL, &rep, &err);
        vg_fail_alloc(0);
        if (st == VG_OK) clean += rep.n == r.n && rep.metrics.accuracy == ref.accuracy;
        else clean += st == VG_ERR_NOMEM && rep.n == 0 && rep.priv == NULL && rep.labels == NULL;
        vg_eval_report_free(&rep);
    }
    CHECK(total > 20 && clean == total, "%d of %ld allocation failures clean", clean, total);
    /* (this sweep found the model loader calling a failed allocation in a label a format
     * error) errors: no data, an unknown no-alarm class */
    c.n_data = 0;
    CHECK(vg_eval_run(model, &c, NULL, &rep, &err) == VG_ERR_ARG, "no data accepted");
    c.n_data = 1, c.no_alarm = "dog";
    CHECK(vg_eval_run(model, &c, NULL, &rep, &err) != VG_OK && strstr(err.msg, "dog"),
          "unknown no-alarm class: %s", err.msg);
    vg_metrics_free(&ref);
    vg_eval_result_free(&r);
    free(idx);
    vg_dataset_free(ds);
    vg_model_free(m);
}

void test_data(void) {
    snprintf(root_dir, sizeof root_dir, "%s", vg_test_tmpdir());
    make_tree();
    test_scan();
    test_lists();
    test_stratified();
    test_extra_and_weights();
    test_cache();
    test_augment();
    test_loader();
    test_shared();
    test_eval();
    test_eval_run();
}
