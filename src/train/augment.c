/* augment.c — training augmentation, straight from cached RGB bytes to normalised model input
 * (see data.h): torchvision's RandomResizedCrop + RandomHorizontalFlip + ColorJitter, with
 * the same parameter distributions, so recipes written for PyTorch carry over.
 *
 * Drawing the parameters (vg_augment_draw) is separate from rendering (vg_augment_render):
 * the random stream is keyed by (seed, epoch, key) and consumed in a fixed order, whatever
 * the image, so a draw can be reproduced or inspected on its own.
 *
 * The resampler is bilinear with half-pixel centres and taps clamped to the crop box, the same
 * arithmetic (double coordinates, float weights, horizontal then vertical) as resize.c's
 * bilinear path: the no-augmentation render of an image equals vg_image_to_input of it to
 * float rounding when the image is shrunk by less than 3x (beyond that resize.c averages
 * areas). Rendering allocates nothing, so the loader's threads never touch the heap. */
#include "train/data.h"

#include "core/rng.h"

#include <math.h>
#include <string.h>

vg_augment vg_augment_default(void) {
    vg_augment a;
    /* scale_min 0.35 rather than torchvision's 0.08: a crop of 8% of a CCTV frame often misses
     * the flame or plume that gives the image its label */
    a.scale_min = 0.35f;
    a.scale_max = 1.0f;
    a.ratio_min = 3.0f / 4.0f;
    a.ratio_max = 4.0f / 3.0f;
    a.flip_prob = 0.5f;
    a.brightness = 0.3f;
    a.contrast = 0.3f;
    a.saturation = 0.3f;
    /* small: colour is much of what tells fire from smoke and from neutral scenes */
    a.hue = 0.02f;
    a.zoom_prob = 0.0f;
    a.zoom_min = 0.5f;
    a.box_zoom = 0.0f;
    a.box_zoom_min = 0.2f;
    a.box_zoom_max = 0.7f;
    a.neg_crop = 0.0f;
    /* a quarter of the box's size around it: loose smoke boxes and glow spill past the box */
    a.neg_margin = 0.25f;
    a.neg_scale_min = 0.08f;
    return a;
}

vg_status vg_augment_check(const vg_augment *a, vg_err *err) {
    if (!a) return vg_err_set(err, VG_ERR_ARG, "augmentation: no configuration");
    if (!(a->scale_min > 0 && a->scale_min <= a->scale_max && a->scale_max <= 1))
        return vg_err_set(err, VG_ERR_ARG, "augmentation: crop scale %g..%g is not within (0, 1]",
                          (double)a->scale_min, (double)a->scale_max);
    if (!(a->ratio_min > 0 && a->ratio_min <= a->ratio_max && a->ratio_max <= 100))
        return vg_err_set(err, VG_ERR_ARG,
                          "augmentation: crop ratio %g..%g is not within "
                          "(0, 100]",
                          (double)a->ratio_min, (double)a->ratio_max);
    if (!(a->flip_prob >= 0 && a->flip_prob <= 1))
        return vg_err_set(err, VG_ERR_ARG, "augmentation: flip probability %g is not in [0, 1]",
                          (double)a->flip_prob);
    const float f[3] = {a->brightness, a->contrast, a->saturation};
    static const char *const fn[3] = {"brightness", "contrast", "saturation"};
    for (int i = 0; i < 3; i++)
        if (!(f[i] >= 0 && f[i] <= 10))
            return vg_err_set(err, VG_ERR_ARG, "augmentation: %s %g is not in [0, 10]", fn[i],
                              (double)f[i]);
    if (!(a->hue >= 0 && a->hue <= 0.5f))
        return vg_err_set(err, VG_ERR_ARG, "augmentation: hue %g is not in [0, 0.5]",
                          (double)a->hue);
    if (!(a->zoom_prob >= 0 && a->zoom_prob <= 1 && a->zoom_min > 0 && a->zoom_min <= 1))
        return vg_err_set(err, VG_ERR_ARG,
                          "augmentation: zoom-out probability %g / smallest share %g not in "
                          "[0, 1] / (0, 1]",
                          (double)a->zoom_prob, (double)a->zoom_min);
    if (!(a->box_zoom >= 0 && a->neg_crop >= 0 && a->box_zoom + a->neg_crop <= 1))
        return vg_err_set(
            err, VG_ERR_ARG,
            "augmentation: zoom-in %g and negative crop %g probabilities must be >= 0 "
            "and add up to at most 1",
            (double)a->box_zoom, (double)a->neg_crop);
    if (a->box_zoom > 0 &&
        !(a->box_zoom_min > 0 && a->box_zoom_min <= a->box_zoom_max && a->box_zoom_max <= 1))
        return vg_err_set(err, VG_ERR_ARG,
                          "augmentation: zoom-in box share %g..%g not within (0, 1]",
                          (double)a->box_zoom_min, (double)a->box_zoom_max);
    if (a->neg_crop > 0 && !(a->neg_margin >= 0 && a->neg_margin <= 10 && a->neg_scale_min > 0 &&
                             a->neg_scale_min <= 0.5f))
        return vg_err_set(err, VG_ERR_ARG,
                          "augmentation: negative-crop margin %g (0..10) or smallest area %g "
                          "(0..0.5] out of range",
                          (double)a->neg_margin, (double)a->neg_scale_min);
    return VG_OK;
}

vg_status vg_input_spec_check(const vg_input_spec *spec, vg_err *err) {
    if (!spec) return vg_err_set(err, VG_ERR_ARG, "input spec: none given");
    if (spec->w < 1 || spec->h < 1 || spec->w > 4096 || spec->h > 4096)
        return vg_err_set(err, VG_ERR_ARG, "input spec: invalid size %dx%d (1..4096)", spec->w,
                          spec->h);
    if (spec->c != 3)
        return vg_err_set(err, VG_ERR_UNSUPPORTED, "input spec: %d channels (only 3, RGB)",
                          spec->c);
    for (int k = 0; k < 3; k++)
        if (!(spec->std[k] != 0.0f && isfinite(spec->std[k]) && isfinite(spec->mean[k])))
            return vg_err_set(err, VG_ERR_ARG, "input spec: channel %d has mean %g, std %g", k,
                              (double)spec->mean[k], (double)spec->std[k]);
    return VG_OK;
}

/* ---- parameters -------------------------------------------------------------------------------
 */

static double uniform(vg_rng *r, double lo, double hi) {
    return lo + (hi - lo) * (double)vg_rng_uniform(r);
}

/* torchvision.transforms.RandomResizedCrop.get_params: 10 tries at a random area and
 * log-uniform aspect ratio, then the largest centred crop within the ratio range. */
void vg_augment_random_crop(const vg_augment *a, int W, int H, vg_rng *r, vg_augment_params *p) {
    const double area = (double)W * (double)H;
    const double lr0 = log((double)a->ratio_min), lr1 = log((double)a->ratio_max);
    for (int attempt = 0; attempt < 10; attempt++) {
        double target = area * uniform(r, a->scale_min, a->scale_max);
        double ar = exp(uniform(r, lr0, lr1));
        long w = lround(sqrt(target * ar)), h = lround(sqrt(target / ar));
        if (w > 0 && w <= W && h > 0 && h <= H) {
            p->y = (int)vg_rng_below(r, (uint32_t)(H - h + 1));
            p->x = (int)vg_rng_below(r, (uint32_t)(W - w + 1));
            p->w = (int)w;
            p->h = (int)h;
            return;
        }
    }
    double in_ratio = (double)W / (double)H;
    long w = W, h = H;
    if (in_ratio < a->ratio_min) {
        h = lround((double)W / a->ratio_min);
    } else if (in_ratio > a->ratio_max) {
        w = lround((double)H * a->ratio_max);
    }
    if (w < 1) w = 1;
    if (h < 1) h = 1;
    if (w > W) w = W;
    if (h > H) h = H;
    p->w = (int)w;
    p->h = (int)h;
    p->x = (int)((W - w) / 2);
    p->y = (int)((H - h) / 2);
}

void vg_augment_draw(const vg_augment *a, int src_w, int src_h, uint64_t seed, uint64_t epoch,
                     uint64_t key, vg_augment_params *p) {
    VG_ASSERT(src_w >= 1 && src_h >= 1);
    p->x = p->y = 0;
    p->w = src_w;
    p->h = src_h;
    p->flip = false;
    p->brightness = p->contrast = p->saturation = 1.0f;
    p->hue = 0.0f;
    p->zoom = 1.0f, p->zoom_x = p->zoom_y = 0.0f;
    for (int i = 0; i < 4; i++)
        p->order[i] = (uint8_t)i;
    if (!a) return;
    vg_rng r = vg_rng_make(seed, epoch, key);
    vg_augment_random_crop(a, src_w, src_h, &r, p);
    p->flip = vg_rng_uniform(&r) < a->flip_prob;
    /* ColorJitter.get_params: a random order of the four, then each factor. All are drawn even
     * when disabled, so the stream (and later draws) do not depend on which are enabled. */
    for (int i = 3; i > 0; i--) {
        int j = (int)vg_rng_below(&r, (uint32_t)(i + 1));
        uint8_t t = p->order[i];
        p->order[i] = p->order[j];
        p->order[j] = t;
    }
    const float x[3] = {a->brightness, a->contrast, a->saturation};
    float *dst[3] = {&p->brightness, &p->contrast, &p->saturation};
    for (int i = 0; i < 3; i++) {
        double lo = 1.0 - x[i] < 0 ? 0 : 1.0 - x[i], hi = 1.0 + x[i];
        *dst[i] = (float)uniform(&r, lo, hi);
    }
    p->hue = (float)uniform(&r, -a->hue, a->hue);
    /* drawn last, and always: the draws above stay what they were before zoom-out existed */
    double zu = uniform(&r, 0, 1), z = uniform(&r, a->zoom_min, 1);
    double zx = uniform(&r, 0, 1), zy = uniform(&r, 0, 1);
    if (zu < a->zoom_prob) p->zoom = (float)z, p->zoom_x = (float)zx, p->zoom_y = (float)zy;
}

/* ---- crops around and away from boxes */

/* a crop of w x h pixels at x, y, kept inside the image */
static void set_crop(int W, int H, double x, double y, double w, double h, vg_augment_params *p) {
    long iw = lround(w), ih = lround(h);
    if (iw < 1) iw = 1;
    if (ih < 1) ih = 1;
    if (iw > W) iw = W;
    if (ih > H) ih = H;
    long ix = lround(x), iy = lround(y);
    if (ix < 0) ix = 0;
    if (iy < 0) iy = 0;
    if (ix > W - iw) ix = W - iw;
    if (iy > H - ih) iy = H - ih;
    p->x = (int)ix, p->y = (int)iy, p->w = (int)iw, p->h = (int)ih;
}

void vg_augment_zoom_crop(const vg_augment *a, int W, int H, const vg_box *b, vg_rng *r,
                          vg_augment_params *p) {
    double bw = ((double)b->x1 - b->x0) * W, bh = ((double)b->y1 - b->y0) * H;
    double side = bw > bh ? bw : bh;
    if (side < 1) side = 1;
    /* the box's longer side is a share f of the crop's side, log-uniform: as many small as
     * large views */
    double f = exp(uniform(r, log((double)a->box_zoom_min), log((double)a->box_zoom_max)));
    double ar = exp(uniform(r, log((double)a->ratio_min), log((double)a->ratio_max)));
    double area = (side / f) * (side / f);
    double w = sqrt(area * ar), h = sqrt(area / ar);
    if (w < bw) w = bw;
    if (h < bh) h = bh;
    /* anywhere that keeps the box inside the crop */
    double x = b->x0 * (double)W - uniform(r, 0, w - bw),
           y = b->y0 * (double)H - uniform(r, 0, h - bh);
    set_crop(W, H, x, y, w, h, p);
}

bool vg_box_near(const vg_box *b, float margin, float x0, float y0, float x1, float y1) {
    double bw = (double)b->x1 - b->x0, bh = (double)b->y1 - b->y0;
    double m = margin * (bw > bh ? bw : bh);
    return x0 < b->x1 + m && x1 > b->x0 - m && y0 < b->y1 + m && y1 > b->y0 - m;
}

bool vg_augment_negative_crop(const vg_augment *a, int W, int H, const vg_box *boxes, int n,
                              vg_rng *r, vg_augment_params *p) {
    enum {
        GRID = 17
    }; /* positions tried per crop size: a place between boxes is found when
          there is one, not only when a random throw lands in it */
    const double lr0 = log((double)a->ratio_min), lr1 = log((double)a->ratio_max);
    for (int attempt = 0; attempt < 8; attempt++) {
        /* small crops fit between boxes more often: log-uniform area, and smaller each try */
        double hi = log(0.5) - attempt * 0.25, lo = log((double)a->neg_scale_min);
        double frac = exp(uniform(r, lo, hi > lo ? hi : lo));
        double ar = exp(uniform(r, lr0, lr1));
        double w = sqrt(frac * W * H * ar), h = sqrt(frac * W * H / ar);
        if (w > W) w = W;
        if (h > H) h = H;
        if (w < 1 || h < 1) continue;
        int ok[GRID * GRID], k = 0;
        for (int gy = 0; gy < GRID; gy++)
            for (int gx = 0; gx < GRID; gx++) {
                vg_augment_params q = *p;
                set_crop(W, H, (W - w) * gx / (GRID - 1), (H - h) * gy / (GRID - 1), w, h, &q);
                float x0 = (float)q.x / W, y0 = (float)q.y / H;
                float x1 = (float)(q.x + q.w) / W, y1 = (float)(q.y + q.h) / H;
                bool clear = true;
                for (int i = 0; i < n && clear; i++)
                    clear = !vg_box_near(&boxes[i], a->neg_margin, x0, y0, x1, y1);
                if (clear) ok[k++] = gy * GRID + gx;
            }
        if (k == 0) continue;
        /* one of the free grid places, moved at random within its grid cell while it stays free */
        int g = ok[vg_rng_below(r, (uint32_t)k)], gx = g % GRID, gy = g / GRID;
        double cx = (W - w) / (GRID - 1), cy = (H - h) / (GRID - 1);
        vg_augment_params q = *p;
        set_crop(W, H, (W - w) * gx / (GRID - 1), (H - h) * gy / (GRID - 1), w, h, &q);
        vg_augment_params j = *p;
        set_crop(W, H, q.x + uniform(r, -cx / 2, cx / 2), q.y + uniform(r, -cy / 2, cy / 2), w, h,
                 &j);
        bool clear = true;
        for (int i = 0; i < n && clear; i++)
            clear = !vg_box_near(&boxes[i], a->neg_margin, (float)j.x / W, (float)j.y / H,
                                 (float)(j.x + j.w) / W, (float)(j.y + j.h) / H);
        *p = clear ? j : q;
        return true;
    }
    return false;
}

/* ---- rendering --------------------------------------------------------------------------------
 */

static inline float clamp255(float v) {
    return v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
}

/* torchvision's rgb_to_grayscale weights */
static inline float gray(const float *px) {
    return 0.2989f * px[0] + 0.587f * px[1] + 0.114f * px[2];
}

/* Bilinear tap of output sample i of n over a crop of `len` samples starting at `org`:
 * half-pixel centres, clamped to the crop (as resize.c does for a whole image). */
static inline void tap(int i, int n, int org, int len, int *s0, int *s1, float *w0, float *w1) {
    double x = ((double)i + 0.5) * ((double)len / (double)n) - 0.5;
    if (x < 0) x = 0;
    int x0 = (int)x;
    double f = x - x0;
    if (x0 >= len - 1) {
        x0 = len - 1;
        f = 0;
    }
    *s0 = org + x0;
    *s1 = org + (x0 + 1 < len ? x0 + 1 : x0);
    *w0 = (float)(1.0 - f);
    *w1 = (float)f;
}

/* hue rotation of one pixel by `shift` turns, through HSV as torchvision's _rgb2hsv/_hsv2rgb
 * (on values in [0, 255]: HSV is linear in V, so the scale does not matter) */
static void hue_shift(float *px, float shift) {
    float r = px[0], g = px[1], b = px[2];
    float maxc = fmaxf(r, fmaxf(g, b)), minc = fminf(r, fminf(g, b));
    float cr = maxc - minc;
    if (cr <= 0.0f) return; /* grey: no hue to turn */
    float s = cr / maxc;
    float rc = (maxc - r) / cr, gc = (maxc - g) / cr, bc = (maxc - b) / cr;
    float h;
    if (maxc == r)
        h = bc - gc;
    else if (maxc == g)
        h = 2.0f + rc - bc;
    else
        h = 4.0f + gc - rc;
    h = h / 6.0f + 1.0f + shift; /* + 1 keeps it positive for the modulo */
    h = h - floorf(h);
    float v = maxc;
    float h6 = h * 6.0f;
    float fl = floorf(h6);
    float f = h6 - fl;
    int i = (int)fl % 6;
    float p = clamp255(v * (1.0f - s));
    float q = clamp255(v * (1.0f - s * f));
    float t = clamp255(v * (1.0f - s * (1.0f - f)));
    switch (i) {
    case 0: r = v, g = t, b = p; break;
    case 1: r = q, g = v, b = p; break;
    case 2: r = p, g = v, b = t; break;
    case 3: r = p, g = q, b = v; break;
    case 4: r = t, g = p, b = v; break;
    default: r = v, g = p, b = q; break;
    }
    px[0] = r;
    px[1] = g;
    px[2] = b;
}

/* ColorJitter on x (n pixels, RGB floats in [0, 255]); torchvision clamps after each step */
static void jitter(float *x, size_t n, const vg_augment_params *p) {
    for (int k = 0; k < 4; k++) {
        switch (p->order[k]) {
        case 0:
            if (p->brightness != 1.0f)
                for (size_t i = 0; i < n * 3; i++)
                    x[i] = clamp255(x[i] * p->brightness);
            break;
        case 1:
            if (p->contrast != 1.0f) {
                /* blend with the mean grey level of the whole (cropped) image */
                double sum = 0;
                for (size_t i = 0; i < n; i++)
                    sum += gray(x + i * 3);
                float mean = (float)(sum / (double)n), c = p->contrast;
                for (size_t i = 0; i < n * 3; i++)
                    x[i] = clamp255(c * x[i] + (1.0f - c) * mean);
            }
            break;
        case 2:
            if (p->saturation != 1.0f) {
                float s = p->saturation;
                for (size_t i = 0; i < n; i++) {
                    float *px = x + i * 3, g = gray(px);
                    for (int c = 0; c < 3; c++)
                        px[c] = clamp255(s * px[c] + (1.0f - s) * g);
                }
            }
            break;
        default:
            if (p->hue != 0.0f)
                for (size_t i = 0; i < n; i++)
                    hue_shift(x + i * 3, p->hue);
            break;
        }
    }
}

/* Resamples the crop box (x, y, w, h) of `rgb` (src_w x src_h), mirrored if flip, into the
 * rw x rh rectangle at ox, oy of an ow-wide output, as floats in [0, 255]. */
static void resample(const uint8_t *rgb, int src_w, int x, int y, int w, int h, bool flip, int ow,
                     int ox, int oy, int rw, int rh, float *out) {
    const size_t stride = (size_t)src_w * 3;
    /* column taps are computed once per block of columns, not once per pixel; a fixed block
     * keeps them on the stack (small: pool threads may have small stacks) */
    enum { BLOCK = 256 };
    int cx0[BLOCK], cx1[BLOCK];
    float cw0[BLOCK], cw1[BLOCK];
    for (int xb = 0; xb < rw; xb += BLOCK) {
        const int nb = rw - xb < BLOCK ? rw - xb : BLOCK;
        for (int j = 0; j < nb; j++) {
            const int xx = xb + j;
            /* a mirrored output column samples the crop from its right edge */
            tap(flip ? rw - 1 - xx : xx, rw, x, w, &cx0[j], &cx1[j], &cw0[j], &cw1[j]);
            cx0[j] *= 3;
            cx1[j] *= 3;
        }
        for (int yy = 0; yy < rh; yy++) {
            int y0, y1;
            float wy0, wy1;
            tap(yy, rh, y, h, &y0, &y1, &wy0, &wy1);
            const uint8_t *r0 = rgb + (size_t)y0 * stride, *r1 = rgb + (size_t)y1 * stride;
            float *o = out + ((size_t)(yy + oy) * (size_t)ow + (size_t)(xb + ox)) * 3;
            for (int j = 0; j < nb; j++) {
                const uint8_t *a0 = r0 + cx0[j], *a1 = r0 + cx1[j];
                const uint8_t *b0 = r1 + cx0[j], *b1 = r1 + cx1[j];
                const float wx0 = cw0[j], wx1 = cw1[j];
                for (int k = 0; k < 3; k++) {
                    float t0 = wx0 * (float)a0[k] + wx1 * (float)a1[k];
                    float t1 = wx0 * (float)b0[k] + wx1 * (float)b1[k];
                    o[j * 3 + k] = wy0 * t0 + wy1 * t1;
                }
            }
        }
    }
}

void vg_augment_render_scene(const uint8_t *rgb, int src_w, int src_h, const vg_augment_params *p,
                             const uint8_t *bg, int bg_w, int bg_h, const vg_input_spec *spec,
                             float *out) {
    VG_ASSERT(p->x >= 0 && p->y >= 0 && p->w >= 1 && p->h >= 1 && p->x + p->w <= src_w &&
              p->y + p->h <= src_h);
    const int ow = spec->w, oh = spec->h;
    /* the rectangle the crop fills: all of the output, or its zoom-out share */
    int rw = ow, rh = oh, ox = 0, oy = 0;
    if (p->zoom < 1.0f) {
        rw = (int)lround((double)ow * p->zoom), rh = (int)lround((double)oh * p->zoom);
        rw = rw < 1 ? 1 : rw > ow ? ow : rw, rh = rh < 1 ? 1 : rh > oh ? oh : rh;
        ox = (int)((double)p->zoom_x * (ow - rw)), oy = (int)((double)p->zoom_y * (oh - rh));
        ox = ox < 0         ? 0
             : ox > ow - rw ? ow - rw
                            : ox,
        oy = oy < 0         ? 0
             : oy > oh - rh ? oh - rh
                            : oy;
        if (bg) /* the scene around: a whole image, resampled as inference would */
            resample(bg, bg_w, 0, 0, bg_w, bg_h, false, ow, 0, 0, ow, oh, out);
        else
            for (size_t i = 0; i < (size_t)ow * (size_t)oh; i++)
                for (int k = 0; k < 3; k++)
                    out[i * 3 + k] = spec->mean[k];
    }
    resample(rgb, src_w, p->x, p->y, p->w, p->h, p->flip, ow, ox, oy, rw, rh, out);
    const size_t n = (size_t)ow * (size_t)oh;
    jitter(out, n, p);
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 3; k++)
            out[i * 3 + k] = (out[i * 3 + k] - spec->mean[k]) / spec->std[k];
}

void vg_augment_render(const uint8_t *rgb, int src_w, int src_h, const vg_augment_params *p,
                       const vg_input_spec *spec, float *out) {
    vg_augment_render_scene(rgb, src_w, src_h, p, NULL, 0, 0, spec, out);
}

void vg_augment_image(const uint8_t *rgb, int src_w, int src_h, const vg_augment *a,
                      const vg_input_spec *spec, uint64_t seed, uint64_t epoch, uint64_t key,
                      float *out) {
    vg_augment_params p;
    vg_augment_draw(a, src_w, src_h, seed, epoch, key, &p);
    vg_augment_render(rgb, src_w, src_h, &p, spec, out);
}
