/* tiles.c — classification of a frame through the whole view and overlapping tiles, in one
 * batch (vigie.h, "tiles"): the layout, the views' inputs and the max rule.
 *
 * Why tiles: the model sees a frame resized as a whole to its input; in a 1920x1080 frame a
 * distant flame a few dozen pixels wide is a few pixels at 224x224 and rarely decides the
 * class. A tile of about half the frame halves the shrink. Why the whole frame as well: a
 * large plume or a fire filling the frame can fall across tiles, none of which then holds
 * enough of it; the whole view still sees it, so the tiled score never misses what the
 * untiled one saw (the max of views includes it).
 *
 * Not here: choosing a layout for a camera (a setting), any temporal logic (src/watch/). */
#include "model/tiles.h"

#include "model/model.h"
#include "model/runner.h"

#include <math.h>
#include <string.h>

int vg_tiles_count(int rows, int cols) {
    if (rows < 1 || rows > VG_TILES_MAX || cols < 1 || cols > VG_TILES_MAX) return 0;
    return rows * cols == 1 ? 1 : 1 + rows * cols;
}

vg_status vg_tiles_parse(const char *s, int *rows, int *cols, vg_err *err) {
    *rows = *cols = 0;
    int r = 0, c = 0, k = 0;
    const char *p = s ? s : "";
    /* digits 'x' digits, nothing else (no sign, no spaces), at most 2 digits each */
    while (*p >= '0' && *p <= '9' && k < 3)
        r = r * 10 + (*p++ - '0'), k++;
    bool ok = k >= 1 && k <= 2 && (*p == 'x' || *p == 'X');
    if (ok) {
        p++;
        k = 0;
        while (*p >= '0' && *p <= '9' && k < 3)
            c = c * 10 + (*p++ - '0'), k++;
        ok = k >= 1 && k <= 2 && *p == 0;
    }
    if (!ok)
        return vg_err_set(err, VG_ERR_ARG, "tiles: expected ROWSxCOLS such as 2x2, not '%.40s'",
                          s ? s : "");
    if (!vg_tiles_count(r, c))
        return vg_err_set(err, VG_ERR_ARG, "tiles %dx%d: rows and columns must be 1..%d", r, c,
                          VG_TILES_MAX);
    *rows = r, *cols = c;
    return VG_OK;
}

/* One axis: n tiles over `len` pixels with overlap 1/4. Side ceil(len / (1 + (n-1) 3/4)) =
 * ceil(4 len / (3n + 1)), left edges spread evenly from 0 to len - side, rounded to nearest. */
static int tile_side(int len, int n) {
    return (int)((4 * (int64_t)len + 3 * n) / (3 * n + 1));
}

static int tile_start(int len, int n, int side, int j) {
    if (n == 1) return 0;
    int64_t span = (int64_t)len - side; /* >= 0: side <= len since 3n + 1 >= 4 */
    return (int)((2 * (int64_t)j * span + (n - 1)) / (2 * (int64_t)(n - 1)));
}

vg_status vg_tiles_layout(int w, int h, int rows, int cols, vg_rect *views, int max_views,
                          int *n_views, vg_err *err) {
    if (n_views) *n_views = 0;
    int n = vg_tiles_count(rows, cols);
    if (!n)
        return vg_err_set(err, VG_ERR_ARG, "tiles %dx%d: rows and columns must be 1..%d", rows,
                          cols, VG_TILES_MAX);
    if (w < 1 || h < 1 || w > VG_IMAGE_MAX_DIM || h > VG_IMAGE_MAX_DIM)
        return vg_err_set(err, VG_ERR_ARG, "tiles: invalid frame size %dx%d", w, h);
    if (!views || !n_views || max_views < n)
        return vg_err_set(err, VG_ERR_ARG, "tiles %dx%d: room for %d views, %d needed", rows, cols,
                          views ? max_views : 0, n);
    views[0] = (vg_rect){0, 0, w, h};
    if (n > 1) {
        int tw = tile_side(w, cols), th = tile_side(h, rows);
        if (tw < VG_TILES_MIN_SIDE || th < VG_TILES_MIN_SIDE)
            return vg_err_set(err, VG_ERR_ARG,
                              "tiles %dx%d: a %dx%d frame gives tiles of %dx%d pixels, under the "
                              "%d-pixel minimum: use fewer tiles",
                              rows, cols, w, h, tw, th, VG_TILES_MIN_SIDE);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                views[1 + i * cols + j] =
                    (vg_rect){tile_start(w, cols, tw, j), tile_start(h, rows, th, i), tw, th};
    }
    *n_views = n;
    return VG_OK;
}

int vg_tiles_combine(const float *per_view, int n_views, int n_classes, const uint8_t *is_alarm,
                     float *probs, float *score) {
    int best = 0;
    float best_s = 0;
    for (int v = 0; v < n_views; v++) {
        const float *p = per_view + (size_t)v * n_classes;
        float s = 0;
        for (int c = 0; c < n_classes; c++)
            if (is_alarm[c]) s += p[c];
        /* strictly greater: the first view wins ties; a NaN score never wins (it only stays
         * when the whole frame's is NaN and no view has a number) */
        if (v == 0 || s > best_s || (isnan(best_s) && !isnan(s))) best = v, best_s = s;
    }
    if (probs)
        memcpy(probs, per_view + (size_t)best * n_classes, sizeof(float) * (size_t)n_classes);
    if (score) *score = best_s;
    return best;
}

vg_status vg_tiles_inputs(const vg_image *img, const vg_rect *views, int n,
                          const vg_input_spec *spec, float *out, vg_err *err) {
    if (!img || !img->rgb || img->w < 1 || img->h < 1)
        return vg_err_set(err, VG_ERR_ARG, "tiles: no frame");
    size_t crop_max = 0;
    for (int v = 0; v < n; v++) {
        const vg_rect *r = &views[v];
        if (r->x < 0 || r->y < 0 || r->w < 1 || r->h < 1 || r->x > img->w - r->w ||
            r->y > img->h - r->h)
            return vg_err_set(err, VG_ERR_ARG,
                              "tiles: view %d (%dx%d at %d,%d) is not inside the "
                              "%dx%d frame",
                              v, r->w, r->h, r->x, r->y, img->w, img->h);
        size_t k = (size_t)r->w * (size_t)r->h * 3;
        if (!(r->w == img->w && r->h == img->h) && k > crop_max) crop_max = k;
    }
    vg_image crop = {0, 0, crop_max ? vg_malloc(crop_max) : NULL};
    if (crop_max && !crop.rgb) return vg_err_set(err, VG_ERR_NOMEM, "tiles: out of memory");
    const size_t in_n = (size_t)spec->h * spec->w * spec->c;
    vg_status st = VG_OK;
    for (int v = 0; v < n && st == VG_OK; v++) {
        const vg_rect *r = &views[v];
        const vg_image *src = img;
        if (!(r->w == img->w && r->h == img->h)) {
            crop.w = r->w, crop.h = r->h;
            for (int y = 0; y < r->h; y++)
                memcpy(crop.rgb + (size_t)y * r->w * 3,
                       img->rgb + ((size_t)(r->y + y) * img->w + r->x) * 3, (size_t)r->w * 3);
            src = &crop;
        }
        st = vg_image_to_input(src, spec, out + (size_t)v * in_n, in_n, err);
    }
    free(crop.rgb);
    return st;
}

vg_status vg_runner_classify_tiles(vg_runner *r, const vg_image *img, int rows, int cols,
                                   const uint8_t *is_alarm, float *probs, size_t n_probs,
                                   float *per_view, size_t n_per_view, int *best_view,
                                   vg_err *err) {
    if (best_view) *best_view = 0;
    const vg_model *m = vg_runner_model(r);
    const vg_input_spec *spec = &m->input;
    const int nc = vg_model_n_outputs(m);
    int n = vg_tiles_count(rows, cols);
    if (!n)
        return vg_err_set(err, VG_ERR_ARG, "tiles %dx%d: rows and columns must be 1..%d", rows,
                          cols, VG_TILES_MAX);
    if (vg_runner_batch(r) != n)
        return vg_err_set(err, VG_ERR_ARG,
                          "tiles %dx%d: %d views need a runner planned with batch %d, not %d", rows,
                          cols, n, n, vg_runner_batch(r));
    if (!probs || n_probs < (size_t)nc)
        return vg_err_set(err, VG_ERR_ARG, "tiles: room for %zu probabilities, %d needed",
                          probs ? n_probs : 0, nc);
    if (per_view && n_per_view < (size_t)n * nc)
        return vg_err_set(err, VG_ERR_ARG, "tiles: room for %zu view probabilities, %d needed",
                          n_per_view, n * nc);
    int n_alarm = 0;
    for (int c = 0; is_alarm && c < nc; c++)
        n_alarm += is_alarm[c] != 0;
    if (!n_alarm) return vg_err_set(err, VG_ERR_ARG, "tiles: no alarm class to rank the views by");
    if (!img || !img->rgb) return vg_err_set(err, VG_ERR_ARG, "tiles: no frame");
    vg_rect views[1 + VG_TILES_MAX * VG_TILES_MAX];
    int nv = 0;
    vg_status st = vg_tiles_layout(img->w, img->h, rows, cols, views, n, &nv, err);
    if (st != VG_OK) return st;
    const size_t in_n = (size_t)spec->h * spec->w * spec->c;
    float *in = vg_malloc(sizeof(float) * in_n * (size_t)n);
    float *pv = per_view ? per_view : vg_malloc(sizeof(float) * (size_t)n * (size_t)nc);
    if (!in || !pv) {
        free(in);
        if (pv != per_view) free(pv);
        return vg_err_set(err, VG_ERR_NOMEM, "tiles: out of memory for %d views", n);
    }
    st = vg_tiles_inputs(img, views, n, spec, in, err);
    if (st == VG_OK) {
        vg_runner_probs(r, in, pv);
        int b = vg_tiles_combine(pv, n, nc, is_alarm, probs, NULL);
        if (best_view) *best_view = b;
    }
    free(in);
    if (pv != per_view) free(pv);
    return st;
}
