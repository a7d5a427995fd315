/* test_image.c — image decoding (JPEG, PNG, BMP), resizing and model-input preprocessing.
 *
 * Every image is made here, with libpng's and libjpeg's encoders or by writing BMP bytes by
 * hand, so the expected pixels are known exactly. Damaged files (every prefix of a file,
 * random bytes, headers claiming huge sizes) must give an error and an empty image. The
 * resizer is checked on hand-computed cases and against a direct per-pixel reference that
 * computes the same weights a different way. The real photos in ../shared are decoded when
 * present. */
#include "test.h"

#include "core/core.h"
#include "vigie.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

void test_image(void);

/* |a - b| <= tol; test.h's CHECK_NEAR does not pass its numbers to printf, so this one is
 * local. `what` is a string literal, `i` an int printed after it. */
#define NEAR(a, b, tol, what, i)                                                                   \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        CHECK(fabs(a_ - b_) <= (tol), "%.9g vs %.9g (tol %.3g): %s %d", a_, b_, (double)(tol),     \
              what, (int)(i));                                                                     \
    } while (0)

/* ---- encoders for test data -------------------------------------------------------------- */

/* PNG of w x h pixels in libpng simplified-API `format` (PNG_FORMAT_RGB, _GRAY, _RGBA). */
static uint8_t *make_png(int w, int h, png_uint_32 format, const uint8_t *px, size_t *size) {
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = (png_uint_32)w;
    pi.height = (png_uint_32)h;
    pi.format = format;
    png_alloc_size_t n = 0;
    if (!png_image_write_get_memory_size(pi, n, 0, px, 0, NULL)) return NULL;
    uint8_t *buf = malloc(n);
    if (buf && !png_image_write_to_memory(&pi, buf, &n, 0, px, 0, NULL)) {
        free(buf);
        return NULL;
    }
    *size = n;
    return buf;
}

/* JPEG of w x h pixels with `comps` interleaved components in colour space `cs` (test input
 * is always valid, so libjpeg's default exit-on-error handler is acceptable here). */
static uint8_t *make_jpeg(int w, int h, int comps, J_COLOR_SPACE cs, const uint8_t *px, int quality,
                          size_t *size) {
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&ci);
    unsigned char *buf = NULL;
    unsigned long n = 0;
    jpeg_mem_dest(&ci, &buf, &n);
    ci.image_width = (JDIMENSION)w;
    ci.image_height = (JDIMENSION)h;
    ci.input_components = comps;
    ci.in_color_space = cs;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, quality, TRUE);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)ci.next_scanline * (size_t)(w * comps));
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    *size = n;
    return buf;
}

static void put16(uint8_t *p, unsigned v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v) {
    put16(p, v & 0xFFFF);
    put16(p + 2, v >> 16);
}

/* BMP with a 40-byte info header. bpp 24: `px` is RGB, rows bottom-up on disk (top-down when
 * top_down), each padded to 4 bytes. bpp 8: `px` holds palette indices and `pal` n_pal RGB
 * entries. */
static uint8_t *make_bmp(int w, int h, int bpp, const uint8_t *px, const uint8_t *pal, int n_pal,
                         bool top_down, size_t *size) {
    size_t stride = ((size_t)w * (size_t)bpp / 8 + 3) & ~(size_t)3;
    size_t off = 54 + (bpp == 8 ? (size_t)n_pal * 4 : 0);
    size_t n = off + stride * (size_t)h;
    uint8_t *b = calloc(n, 1);
    if (!b) return NULL;
    b[0] = 'B';
    b[1] = 'M';
    put32(b + 2, (uint32_t)n);
    put32(b + 10, (uint32_t)off);
    put32(b + 14, 40);
    put32(b + 18, (uint32_t)w);
    put32(b + 22, (uint32_t)(top_down ? -h : h));
    put16(b + 26, 1);
    put16(b + 28, (unsigned)bpp);
    put32(b + 34, (uint32_t)(stride * (size_t)h));
    if (bpp == 8) {
        put32(b + 46, (uint32_t)n_pal);
        for (int i = 0; i < n_pal; i++) {
            b[54 + i * 4] = pal[i * 3 + 2]; /* stored B, G, R, 0 */
            b[54 + i * 4 + 1] = pal[i * 3 + 1];
            b[54 + i * 4 + 2] = pal[i * 3];
        }
    }
    for (int y = 0; y < h; y++) {
        uint8_t *row = b + off + stride * (size_t)(top_down ? y : h - 1 - y);
        for (int x = 0; x < w; x++) {
            if (bpp == 8) {
                row[x] = px[y * w + x];
            } else {
                const uint8_t *p = px + ((size_t)y * (size_t)w + (size_t)x) * 3;
                row[x * 3] = p[2];
                row[x * 3 + 1] = p[1];
                row[x * 3 + 2] = p[0];
            }
        }
    }
    *size = n;
    return b;
}

static uint8_t *random_pixels(size_t n) {
    uint8_t *p = malloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)vg_test_uniform(0.0f, 256.0f);
    return p;
}

/* Number of bytes differing between an image and the expected RGB pixels. */
static int count_diff(const vg_image *img, const uint8_t *want, int w, int h, int tol) {
    if (img->w != w || img->h != h || !img->rgb) return -1;
    int bad = 0;
    for (size_t i = 0; i < (size_t)w * (size_t)h * 3; i++)
        if (abs((int)img->rgb[i] - (int)want[i]) > tol) bad++;
    return bad;
}

static bool is_empty(const vg_image *img) {
    return img->w == 0 && img->h == 0 && !img->rgb;
}

static bool starts_with(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Decodes, expecting failure: status not OK, empty image, message starting with the name. */
static vg_status decode_fails(const void *data, size_t size, const char *what) {
    vg_image img = {1, 1, NULL};
    vg_err err = {VG_OK, ""};
    vg_status s = vg_image_decode(data, size, "t.img", &img, &err);
    CHECK(s != VG_OK, "%s (%zu bytes) decoded as %dx%d", what, size, img.w, img.h);
    CHECK(is_empty(&img), "%s: image not left empty on failure", what);
    CHECK(s == VG_OK || (err.status == s && starts_with(err.msg, "t.img: ")), "%s: message \"%s\"",
          what, err.msg);
    vg_image_free(&img);
    return s;
}

/* ---- decoding ---------------------------------------------------------------------------- */

static void test_png(void) {
    const int sizes[][2] = {{1, 1}, {3, 2}, {5, 3}, {17, 9}};
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        int w = sizes[t][0], h = sizes[t][1];
        uint8_t *px = random_pixels((size_t)w * (size_t)h * 4);
        size_t n = 0;
        uint8_t *png = make_png(w, h, PNG_FORMAT_RGB, px, &n);
        vg_image img;
        vg_err err;
        vg_status s = vg_image_decode(png, n, "rgb.png", &img, &err);
        CHECK(s == VG_OK, "%s", err.msg);
        CHECK(count_diff(&img, px, w, h, 0) == 0, "RGB PNG %dx%d not decoded exactly", w, h);
        vg_image_free(&img);
        free(png);

        /* grayscale: every channel equals the gray value */
        png = make_png(w, h, PNG_FORMAT_GRAY, px, &n);
        s = vg_image_decode(png, n, "gray.png", &img, &err);
        CHECK(s == VG_OK, "%s", err.msg);
        int bad = img.rgb ? 0 : 1;
        for (int i = 0; img.rgb && i < w * h; i++)
            for (int k = 0; k < 3; k++)
                bad += img.rgb[i * 3 + k] != px[i];
        CHECK(bad == 0, "gray PNG %dx%d: %d channels differ from the gray value", w, h, bad);
        vg_image_free(&img);
        free(png);

        /* RGBA: opaque pixels keep their colour, transparent ones become black */
        uint8_t *want = malloc((size_t)w * (size_t)h * 3);
        for (int i = 0; i < w * h; i++) {
            px[i * 4 + 3] = (i % 2) ? 255 : 0;
            for (int k = 0; k < 3; k++)
                want[i * 3 + k] = (i % 2) ? px[i * 4 + k] : 0;
        }
        png = make_png(w, h, PNG_FORMAT_RGBA, px, &n);
        s = vg_image_decode(png, n, "rgba.png", &img, &err);
        CHECK(s == VG_OK, "%s", err.msg);
        CHECK(count_diff(&img, want, w, h, 0) == 0, "RGBA PNG %dx%d: alpha not dropped", w, h);
        vg_image_free(&img);
        free(png);
        free(want);
        free(px);
    }
}

static void test_jpeg(void) {
    /* flat colours: JPEG's only loss is YCbCr rounding, a couple of levels at most */
    const int w = 19, h = 13;
    uint8_t *px = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h; i++) {
        px[i * 3] = 200;
        px[i * 3 + 1] = 100;
        px[i * 3 + 2] = 50;
    }
    size_t n = 0;
    uint8_t *jpg = make_jpeg(w, h, 3, JCS_RGB, px, 95, &n);
    vg_image img;
    vg_err err;
    vg_status s = vg_image_decode(jpg, n, "flat.jpg", &img, &err);
    CHECK(s == VG_OK, "%s", err.msg);
    CHECK(count_diff(&img, px, w, h, 3) == 0, "flat JPEG differs by more than 3 levels");
    vg_image_free(&img);
    free(jpg);

    /* grayscale JPEG: R = G = B, near the gray level */
    memset(px, 128, (size_t)w * h);
    jpg = make_jpeg(w, h, 1, JCS_GRAYSCALE, px, 95, &n);
    s = vg_image_decode(jpg, n, "gray.jpg", &img, &err);
    CHECK(s == VG_OK, "%s", err.msg);
    int bad = img.rgb ? 0 : 1;
    for (int i = 0; img.rgb && i < w * h; i++) {
        const uint8_t *p = img.rgb + i * 3;
        bad += p[0] != p[1] || p[1] != p[2] || abs(p[0] - 128) > 1;
    }
    CHECK(bad == 0, "gray JPEG: %d pixels not gray 128", bad);
    vg_image_free(&img);
    free(jpg);

    /* CMYK and YCCK are valid JPEGs we do not convert */
    memset(px, 90, (size_t)w * h * 3);
    uint8_t *cmyk = malloc((size_t)w * h * 4);
    memset(cmyk, 90, (size_t)w * h * 4);
    jpg = make_jpeg(w, h, 4, JCS_CMYK, cmyk, 90, &n);
    s = vg_image_decode(jpg, n, "cmyk.jpg", &img, &err);
    CHECK(s == VG_ERR_UNSUPPORTED, "CMYK JPEG gave %s", vg_status_name(s));
    CHECK(is_empty(&img) && strstr(err.msg, "CMYK"), "%s", err.msg);
    free(jpg);
    free(cmyk);

    /* a textured image, cut in half: libjpeg only warns, we must report it */
    uint8_t *tex = random_pixels((size_t)w * h * 3);
    jpg = make_jpeg(w, h, 3, JCS_RGB, tex, 90, &n);
    s = vg_image_decode(jpg, n, "full.jpg", &img, &err);
    CHECK(s == VG_OK, "%s", err.msg);
    vg_image_free(&img);
    decode_fails(jpg, n / 2, "JPEG cut in half");
    s = vg_image_decode(jpg, n / 2, "x.jpg", &img, &err);
    CHECK(s == VG_ERR_FORMAT && strcmp(err.msg, "x.jpg: corrupt JPEG data: Premature end of JPEG "
                                                "file") == 0,
          "message \"%s\"", err.msg);
    for (size_t k = 0; k < n; k++)
        decode_fails(jpg, k, "JPEG prefix");

    /* a JPEG whose header claims 20000 pixels in width: rejected before decoding */
    for (size_t i = 2; i + 9 < n; i++) {
        if (jpg[i] == 0xFF && jpg[i + 1] == 0xC0) { /* SOF0: len(2) prec(1) h(2) w(2) */
            jpg[i + 7] = 20000 >> 8;
            jpg[i + 8] = 20000 & 0xFF;
            break;
        }
    }
    CHECK(decode_fails(jpg, n, "JPEG claiming 20000 px") == VG_ERR_UNSUPPORTED, "status");
    free(jpg);
    free(tex);
    free(px);
}

static void test_bmp(void) {
    const int sizes[][2] = {{1, 1}, {3, 2}, {5, 3}, {4, 4}, {6, 1}};
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        int w = sizes[t][0], h = sizes[t][1];
        uint8_t *px = random_pixels((size_t)w * h * 3);
        for (int td = 0; td < 2; td++) {
            size_t n = 0;
            uint8_t *bmp = make_bmp(w, h, 24, px, NULL, 0, td, &n);
            vg_image img;
            vg_err err;
            vg_status s = vg_image_decode(bmp, n, "t.bmp", &img, &err);
            CHECK(s == VG_OK, "%s", err.msg);
            CHECK(count_diff(&img, px, w, h, 0) == 0, "24-bit BMP %dx%d%s not exact", w, h,
                  td ? " top-down" : "");
            vg_image_free(&img);
            /* every cut into the pixel data fails; the padding of the last row may be
             * missing (the pixels are all there) */
            size_t pad = (size_t)((4 - w * 3 % 4) % 4);
            for (size_t k = 0; k < n - pad; k++)
                decode_fails(bmp, k, "BMP prefix");
            for (size_t k = n - pad; k < n; k++) {
                s = vg_image_decode(bmp, k, "t.bmp", &img, &err);
                CHECK(s == VG_OK && count_diff(&img, px, w, h, 0) == 0,
                      "BMP without final padding: %s", err.msg);
                vg_image_free(&img);
            }
            free(bmp);
        }
        free(px);
    }

    /* 8-bit palette, odd width */
    const uint8_t pal[4 * 3] = {0, 0, 0, 255, 0, 0, 10, 20, 30, 255, 255, 255};
    const uint8_t idx[5 * 3] = {0, 1, 2, 3, 0, 3, 2, 1, 0, 1, 2, 2, 2, 2, 3};
    uint8_t want[5 * 3 * 3];
    for (int i = 0; i < 15; i++)
        memcpy(want + i * 3, pal + idx[i] * 3, 3);
    size_t n = 0;
    uint8_t *bmp = make_bmp(5, 3, 8, idx, pal, 4, false, &n);
    vg_image img;
    vg_err err;
    vg_status s = vg_image_decode(bmp, n, "pal.bmp", &img, &err);
    CHECK(s == VG_OK, "%s", err.msg);
    CHECK(count_diff(&img, want, 5, 3, 0) == 0, "8-bit BMP not exact");
    vg_image_free(&img);
    free(bmp);
    /* an index past the end of the palette would read stb's uninitialised palette */
    bmp = make_bmp(5, 3, 8, idx, pal, 3, false, &n);
    decode_fails(bmp, n, "BMP palette index out of range");
    free(bmp);

    /* a header claiming 100000 x 100000 must not allocate 30 GB */
    uint8_t tiny[3] = {1, 2, 3};
    bmp = make_bmp(1, 1, 24, tiny, NULL, 0, false, &n);
    put32(bmp + 18, 100000);
    put32(bmp + 22, 100000);
    CHECK(decode_fails(bmp, n, "BMP claiming 100000x100000") == VG_ERR_UNSUPPORTED, "status");
    put32(bmp + 18, 1);
    put32(bmp + 22, 0x80000000u); /* INT_MIN rows, top-down */
    decode_fails(bmp, n, "BMP with INT_MIN height");
    put32(bmp + 22, 1);
    put32(bmp + 30, 1); /* RLE8 */
    CHECK(decode_fails(bmp, n, "RLE BMP") == VG_ERR_UNSUPPORTED, "status");
    free(bmp);
}

static void test_truncated_png(void) {
    const int w = 7, h = 5;
    uint8_t *px = random_pixels((size_t)w * h * 3);
    size_t n = 0;
    uint8_t *png = make_png(w, h, PNG_FORMAT_RGB, px, &n);
    for (size_t k = 0; k < n; k++)
        decode_fails(png, k, "PNG prefix");
    /* damaged pixel data: the CRC of IDAT no longer matches */
    png[n - 20] ^= 0x55;
    decode_fails(png, n, "PNG with a flipped IDAT byte");
    free(png);

    /* IHDR claiming 20000 x 10, with a correct CRC */
    png = make_png(1, 1, PNG_FORMAT_RGB, px, &n);
    put32(png + 16, 0);
    png[18] = 20000 >> 8;
    png[19] = 20000 & 0xFF;
    uint32_t crc = vg_crc32(png + 12, 17);
    png[29] = (uint8_t)(crc >> 24);
    png[30] = (uint8_t)(crc >> 16);
    png[31] = (uint8_t)(crc >> 8);
    png[32] = (uint8_t)crc;
    CHECK(decode_fails(png, n, "PNG claiming 20000 px") == VG_ERR_UNSUPPORTED, "status");
    free(png);
    free(px);
}

static void test_garbage(void) {
    vg_test_seed(7);
    static const uint8_t magics[4][8] = {
        {0}, {0xFF, 0xD8, 0xFF}, {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}, {'B', 'M'}};
    static const size_t magic_len[4] = {0, 3, 8, 2};
    uint8_t buf[300];
    int ok = 0, not_empty = 0;
    for (int i = 0; i < 2000; i++) {
        int m = i % 4;
        size_t n = (size_t)vg_test_uniform(0.0f, (float)sizeof buf);
        for (size_t j = 0; j < n; j++)
            buf[j] = (uint8_t)vg_test_uniform(0.0f, 256.0f);
        if (n >= magic_len[m]) memcpy(buf, magics[m], magic_len[m]);
        vg_image img;
        vg_err err;
        vg_status s = vg_image_decode(buf, n, "rand", &img, &err);
        ok += s == VG_OK;
        not_empty += s != VG_OK && !is_empty(&img);
        vg_image_free(&img);
    }
    CHECK(ok == 0, "%d random buffers decoded as images", ok);
    CHECK(not_empty == 0, "%d failed decodes left a non-empty image", not_empty);

    vg_err err;
    vg_image img;
    vg_status s = vg_image_decode("GIF89a\1\0\1\0", 10, "anim.gif", &img, &err);
    CHECK(s == VG_ERR_FORMAT && starts_with(err.msg, "anim.gif: ") && strstr(err.msg, "GIF") &&
              strstr(err.msg, "JPEG, PNG, BMP"),
          "%s: %s", vg_status_name(s), err.msg);
    s = vg_image_decode("hello", 5, "notes.txt", &img, &err);
    CHECK(s == VG_ERR_FORMAT && starts_with(err.msg, "notes.txt: ") &&
              strstr(err.msg, "JPEG, PNG, BMP"),
          "%s: %s", vg_status_name(s), err.msg);
    s = vg_image_decode(NULL, 0, "empty.jpg", &img, &err);
    CHECK(s == VG_ERR_FORMAT && is_empty(&img), "%s", err.msg);
    s = vg_image_decode(NULL, 0, NULL, NULL, NULL); /* no output, no err: just a status */
    CHECK(s == VG_ERR_ARG, "%s", vg_status_name(s));
    vg_image_free(NULL);
}

static void test_load_file(void) {
    const int w = 5, h = 3;
    uint8_t *px = random_pixels((size_t)w * h * 3);
    size_t n = 0;
    uint8_t *png = make_png(w, h, PNG_FORMAT_RGB, px, &n);
    char path[700];
    /* the extension lies: the format comes from the bytes */
    snprintf(path, sizeof path, "%s/frame.jpg", vg_test_tmpdir());
    vg_err err;
    CHECK(vg_file_write_atomic(path, png, n, &err) == VG_OK, "%s", err.msg);
    vg_image img;
    vg_status s = vg_image_load(path, &img, &err);
    CHECK(s == VG_OK, "%s", err.msg);
    CHECK(count_diff(&img, px, w, h, 0) == 0, "PNG file not decoded exactly");
    vg_image_free(&img);
    vg_image_free(&img); /* freeing twice is harmless */

    snprintf(path, sizeof path, "%s/missing.png", vg_test_tmpdir());
    s = vg_image_load(path, &img, &err);
    CHECK(s == VG_ERR_IO && is_empty(&img) && starts_with(err.msg, path), "%s: %s",
          vg_status_name(s), err.msg);
    free(png);
    free(px);
}

static void test_shared_images(void) {
    static const struct {
        const char *file;
        int w, h;
    } imgs[] = {{"models/testimages/cat.bmp", 512, 341},
                {"models/testimages/bird.bmp", 512, 343},
                {"models/testimages/hot_dog.jpg", 512, 384},
                {"models/testimages/parrot.jpg", 512, 929}};
    for (size_t i = 0; i < sizeof imgs / sizeof imgs[0]; i++) {
        const char *path = vg_test_shared(imgs[i].file);
        if (!path) continue;
        vg_image img;
        vg_err err;
        vg_status s = vg_image_load(path, &img, &err);
        CHECK(s == VG_OK, "%s", err.msg);
        CHECK(img.w == imgs[i].w && img.h == imgs[i].h, "%s: %dx%d, expected %dx%d", imgs[i].file,
              img.w, img.h, imgs[i].w, imgs[i].h);
        /* a real photo is not one flat colour (a decoder that gave up would leave zeros) */
        long hist[4] = {0};
        for (int j = 0; img.rgb && j < img.w * img.h * 3; j++)
            hist[img.rgb[j] >> 6]++;
        int used = (hist[0] > 0) + (hist[1] > 0) + (hist[2] > 0) + (hist[3] > 0);
        CHECK(used >= 3, "%s: pixel values span only %d quarters of 0..255", imgs[i].file, used);
        vg_image_free(&img);
    }
}

/* ---- resizing ---------------------------------------------------------------------------- */

/* Float resize through the public API: vg_image_to_input with mean 0, std 1. */
static float *resize_float(const vg_image *src, int w, int h) {
    vg_input_spec sp = {w, h, 3, {0, 0, 0}, {1, 1, 1}};
    float *out = malloc((size_t)w * (size_t)h * 3 * sizeof *out);
    vg_err err;
    vg_status s = vg_image_to_input(src, &sp, out, (size_t)w * (size_t)h * 3, &err);
    CHECK(s == VG_OK, "%s", err.msg);
    return out;
}

/* Weight of source sample s in output sample i, computed per pair and in double: the OpenCV
 * definitions (INTER_AREA coverage when shrinking 3x or more, else INTER_LINEAR). */
static double ref_weight(int src, int dst, int i, int s) {
    double scale = (double)src / dst;
    if (src >= 3 * dst) {
        double lo = i * scale, hi = lo + scale;
        double cov = fmin(s + 1.0, hi) - fmax((double)s, lo);
        return cov > 0 ? cov / scale : 0.0;
    }
    double x = fmin(fmax((i + 0.5) * scale - 0.5, 0.0), src - 1.0);
    double d = fabs(x - s);
    return d < 1 ? 1 - d : 0.0;
}

static void test_resize_reference(void) {
    const int cases[][4] = {{7, 5, 3, 11}, {64, 48, 13, 7},  {10, 10, 4, 6},
                            {9, 1, 20, 3}, {33, 17, 16, 16}, {5, 8, 5, 3}};
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        int sw = cases[t][0], sh = cases[t][1], dw = cases[t][2], dh = cases[t][3];
        vg_image src = {sw, sh, random_pixels((size_t)sw * sh * 3)};
        float *got = resize_float(&src, dw, dh);
        double worst = 0;
        for (int y = 0; y < dh; y++)
            for (int x = 0; x < dw; x++)
                for (int k = 0; k < 3; k++) {
                    double v = 0;
                    for (int sy = 0; sy < sh; sy++)
                        for (int sx = 0; sx < sw; sx++)
                            v += ref_weight(sh, dh, y, sy) * ref_weight(sw, dw, x, sx) *
                                 src.rgb[((size_t)sy * sw + sx) * 3 + k];
                    worst = fmax(worst, fabs(v - got[((size_t)y * dw + x) * 3 + k]));
                }
        /* float32 sums of at most a few dozen terms of size <= 255: error well below 1e-3 */
        CHECK(worst < 1e-3, "%dx%d -> %dx%d: max error %g vs direct reference", sw, sh, dw, dh,
              worst);

        vg_image dst;
        vg_err err;
        vg_status s = vg_image_resize(&src, dw, dh, &dst, &err);
        CHECK(s == VG_OK && dst.w == dw && dst.h == dh, "%s", err.msg);
        int bad = 0;
        for (size_t i = 0; s == VG_OK && i < (size_t)dw * dh * 3; i++)
            bad += fabs(dst.rgb[i] - got[i]) > 0.5 + 1e-3; /* rounding to nearest */
        CHECK(bad == 0, "%d bytes not the rounded float result", bad);
        vg_image_free(&dst);
        free(got);
        free(src.rgb);
    }
}

static void test_resize(void) {
    vg_err err;
    vg_image dst;

    /* constant image stays constant, both ways */
    vg_image flat = {13, 7, malloc(13 * 7 * 3)};
    for (int i = 0; i < 13 * 7; i++)
        memcpy(flat.rgb + i * 3, (uint8_t[3]){17, 200, 255}, 3);
    const int sizes[][2] = {{1, 1}, {5, 3}, {6, 3}, {40, 29}, {13, 2}};
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        vg_status s = vg_image_resize(&flat, sizes[t][0], sizes[t][1], &dst, &err);
        CHECK(s == VG_OK, "%s", err.msg);
        int bad = 0;
        for (int i = 0; s == VG_OK && i < dst.w * dst.h; i++)
            bad += memcmp(dst.rgb + i * 3, flat.rgb, 3) != 0;
        CHECK(bad == 0, "constant image resized to %dx%d: %d pixels changed", sizes[t][0],
              sizes[t][1], bad);
        vg_image_free(&dst);
    }
    free(flat.rgb);

    /* same size is the identity, also through the float path */
    vg_image rnd = {11, 6, random_pixels(11 * 6 * 3)};
    CHECK(vg_image_resize(&rnd, 11, 6, &dst, &err) == VG_OK, "%s", err.msg);
    CHECK(count_diff(&dst, rnd.rgb, 11, 6, 0) == 0, "same-size resize changed pixels");
    vg_image_free(&dst);
    float *f = resize_float(&rnd, 11, 6);
    int bad = 0;
    for (int i = 0; i < 11 * 6 * 3; i++)
        bad += f[i] != rnd.rgb[i];
    CHECK(bad == 0, "same-size float resize changed %d values", bad);
    free(f);
    free(rnd.rgb);

    /* 2x2 -> 1x1 is the exact mean */
    uint8_t q[12] = {10, 0, 255, 20, 1, 255, 30, 2, 255, 40, 5, 255};
    vg_image quad = {2, 2, q};
    f = resize_float(&quad, 1, 1);
    CHECK(f[0] == 25.0f && f[1] == 2.0f && f[2] == 255.0f, "2x2 mean: %g %g %g", f[0], f[1], f[2]);
    free(f);
    CHECK(vg_image_resize(&quad, 1, 1, &dst, &err) == VG_OK, "%s", err.msg);
    CHECK(dst.rgb[0] == 25 && dst.rgb[1] == 2 && dst.rgb[2] == 255, "2x2 mean: %d %d %d",
          dst.rgb[0], dst.rgb[1], dst.rgb[2]);
    vg_image_free(&dst);

    /* 2x1 -> 4x1 with half-pixel centres: a, 0.75a + 0.25b, 0.25a + 0.75b, b */
    uint8_t ab[6] = {0, 100, 8, 200, 20, 40};
    vg_image two = {2, 1, ab};
    f = resize_float(&two, 4, 1);
    for (int k = 0; k < 3; k++) {
        double a = ab[k], b = ab[3 + k];
        double want[4] = {a, 0.75 * a + 0.25 * b, 0.25 * a + 0.75 * b, b};
        for (int x = 0; x < 4; x++)
            NEAR(f[x * 3 + k], want[x], 1e-4, "2x1->4x1 at x =", x);
    }
    free(f);
    CHECK(vg_image_resize(&two, 4, 1, &dst, &err) == VG_OK, "%s", err.msg);
    CHECK(dst.rgb[0] == 0 && dst.rgb[3] == 50 && dst.rgb[6] == 150 && dst.rgb[9] == 200,
          "2x1->4x1 red: %d %d %d %d", dst.rgb[0], dst.rgb[3], dst.rgb[6], dst.rgb[9]);
    vg_image_free(&dst);

    /* a horizontal gradient stays monotonic when enlarged (and shrunk) */
    vg_image grad = {5, 3, malloc(5 * 3 * 3)};
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 5; x++)
            memset(grad.rgb + (y * 5 + x) * 3, x * 60, 3);
    const int gs[][2] = {{23, 7}, {17, 2}, {6, 3}, {2, 1}, {1, 1}};
    for (size_t t = 0; t < sizeof gs / sizeof gs[0]; t++) {
        CHECK(vg_image_resize(&grad, gs[t][0], gs[t][1], &dst, &err) == VG_OK, "%s", err.msg);
        int nonmono = 0;
        for (int y = 0; y < dst.h; y++)
            for (int x = 1; x < dst.w; x++)
                nonmono += dst.rgb[(y * dst.w + x) * 3] < dst.rgb[(y * dst.w + x - 1) * 3];
        CHECK(nonmono == 0, "gradient to %dx%d: %d decreasing steps", gs[t][0], gs[t][1], nonmono);
        /* 5 -> 2 (2.5x) is still bilinear: samples at 0.75 and 3.25 give 45 and 195;
         * 5 -> 1 (5x) is an area shrink: the mean, 120 */
        int lo = gs[t][0] == 2 ? 45 : gs[t][0] == 1 ? 120 : 0;
        int hi = gs[t][0] == 2 ? 195 : gs[t][0] == 1 ? 120 : 240;
        CHECK(dst.rgb[0] == lo && dst.rgb[(dst.w - 1) * 3] == hi, "gradient to %d: ends %d %d",
              gs[t][0], dst.rgb[0], dst.rgb[(dst.w - 1) * 3]);
        vg_image_free(&dst);
    }
    free(grad.rgb);

    /* one bright pixel in 64x64 shrunk to 8x8: area averaging keeps its mass */
    vg_image dot = {64, 64, calloc(64 * 64 * 3, 1)};
    memset(dot.rgb + (37 * 64 + 21) * 3, 255, 3);
    f = resize_float(&dot, 8, 8);
    double sum = 0;
    for (int i = 0; i < 8 * 8; i++)
        sum += f[i * 3];
    NEAR(sum, 255.0 / 64, 1e-5, "dot mass after 64x64 -> 8x8", 0);
    NEAR(f[(4 * 8 + 2) * 3], 255.0 / 64, 1e-5, "dot lands in cell (2, 4)", 0);
    free(f);
    CHECK(vg_image_resize(&dot, 8, 8, &dst, &err) == VG_OK, "%s", err.msg);
    CHECK(dst.rgb[(4 * 8 + 2) * 3] == 4, "dot cell = %d, expected round(255/64) = 4",
          dst.rgb[(4 * 8 + 2) * 3]);
    vg_image_free(&dst);
    /* 64 -> 20 is a fractional area shrink (3.2x): the mass is still kept */
    f = resize_float(&dot, 20, 20);
    sum = 0;
    for (int i = 0; i < 20 * 20; i++)
        sum += f[i * 3];
    NEAR(sum, 255.0 * 20 * 20 / (64 * 64), 1e-4, "dot mass after 64x64 -> 20x20", 0);
    free(f);
    free(dot.rgb);

    /* bad arguments */
    uint8_t px[3] = {0};
    vg_image one = {1, 1, px};
    CHECK(vg_image_resize(&one, 0, 5, &dst, &err) == VG_ERR_ARG && is_empty(&dst), "w = 0");
    CHECK(vg_image_resize(&one, 5, -1, &dst, &err) == VG_ERR_ARG, "h < 0");
    CHECK(vg_image_resize(&one, VG_IMAGE_MAX_DIM + 1, 1, &dst, &err) == VG_ERR_ARG, "w too big");
    vg_image none = {4, 4, NULL};
    CHECK(vg_image_resize(&none, 2, 2, &dst, &err) == VG_ERR_ARG, "no pixels");
    CHECK(vg_image_resize(&one, 2, 2, &one, &err) == VG_ERR_ARG, "dst == src");
}

static void test_to_input(void) {
    /* (p - mean) / std per channel, by hand */
    uint8_t px[6] = {10, 20, 30, 255, 0, 128};
    vg_image img = {2, 1, px};
    vg_input_spec sp = {2, 1, 3, {1, 2, 3}, {3, 6, 9}};
    float out[6];
    vg_err err;
    CHECK(vg_image_to_input(&img, &sp, out, 6, &err) == VG_OK, "%s", err.msg);
    const float want[6] = {3, 3, 3, 254.0f / 3, -2.0f / 6, 125.0f / 9};
    for (int i = 0; i < 6; i++)
        NEAR(out[i], want[i], 1e-5, "value", i);

    /* MobileNet-style [-1, 1]: mean 127.5, std 127.5, with a 2x2 -> 1x1 resize in float:
     * the mean of 0, 1, 2, 3 is 1.5, which rounding to uint8 first would lose */
    uint8_t q[12] = {0, 0, 255, 1, 0, 255, 2, 255, 255, 3, 255, 255};
    vg_image quad = {2, 2, q};
    vg_input_spec mn = {1, 1, 3, {127.5f, 127.5f, 127.5f}, {127.5f, 127.5f, 127.5f}};
    CHECK(vg_image_to_input(&quad, &mn, out, 6, &err) == VG_OK, "%s", err.msg);
    NEAR(out[0], (1.5 - 127.5) / 127.5, 1e-6, "red", 0);
    NEAR(out[1], 0.0, 1e-6, "green", 1);
    NEAR(out[2], 1.0, 1e-6, "blue", 2);

    /* invalid specs */
    vg_input_spec bad = sp;
    bad.w = 0;
    CHECK(vg_image_to_input(&img, &bad, out, 6, &err) == VG_ERR_ARG, "w = 0");
    bad = sp;
    bad.h = 4097;
    CHECK(vg_image_to_input(&img, &bad, out, 6, &err) == VG_ERR_ARG, "h = 4097");
    bad = sp;
    bad.std[1] = 0;
    CHECK(vg_image_to_input(&img, &bad, out, 6, &err) == VG_ERR_ARG, "std = 0");
    bad = sp;
    bad.std[2] = NAN;
    CHECK(vg_image_to_input(&img, &bad, out, 6, &err) == VG_ERR_ARG, "std = NaN");
    bad = sp;
    bad.c = 1;
    CHECK(vg_image_to_input(&img, &bad, out, 6, &err) != VG_OK, "c = 1");
    CHECK(vg_image_to_input(&img, NULL, out, 6, &err) == VG_ERR_ARG, "NULL spec");
    CHECK(vg_image_to_input(NULL, &sp, out, 6, &err) == VG_ERR_ARG, "NULL image");
    CHECK(vg_image_to_input(&img, &sp, out, 5, &err) == VG_ERR_ARG && strstr(err.msg, "5 floats"),
          "an output one float short: %s", err.msg);
}

void test_image(void) {
    vg_test_seed(1);
    test_png();
    test_jpeg();
    test_bmp();
    test_truncated_png();
    test_garbage();
    test_load_file();
    test_shared_images();
    test_resize_reference();
    test_resize();
    test_to_input();
}
