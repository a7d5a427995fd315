/* cam.c — class activation maps, the heat-map overlay and the JPEG snapshot writer (cam.h).
 *
 * The map is read from the feature tensor of a keep_all runner (every activation stays
 * readable), made per call: an alarm start is rare, and a resident second runner would double
 * the packed weights and the activations of the watch loop for the whole run. The feature map
 * covers the whole frame (the model's input is the frame resized without cropping), so cell
 * (x, y) of the map is the same fraction of the frame's width and height. With tiles, each
 * view's map covers its own rectangle of the frame, and the frame's map is put together from
 * them on a finer grid (vg_watch_cam_map_tiles). */
#include "watch/cam.h"

#include "model/runner.h"
#include "model/surgery.h"
#include "model/tiles.h"

#include <math.h>
#include <setjmp.h>
#include <string.h>

#include <jpeglib.h>

/* the node producing tensor t, or -1 */
static int producer(const vg_graph *g, int t) {
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].out == t) return i;
    return -1;
}

static bool is_pool(const vg_node *n) { return n->op == VG_OP_GAP || n->op == VG_OP_GMAX; }

vg_status vg_watch_cam_init(vg_watch_cam *c, const vg_model *m, vg_err *err) {
    memset(c, 0, sizeof *c);
    const vg_graph *g = &m->g;
    vg_shape *sh = vg_malloc(sizeof(vg_shape) * (size_t)g->n_tensors);
    if (!sh) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    vg_status st = vg_graph_infer(g, m->input.h, m->input.w, m->input.c, NULL, sh, err);
    if (st != VG_OK) {
        free(sh);
        return st;
    }
    const char *why = NULL;
    int logits = vg_graph_logits_tensor(g);
    int ln = producer(g, logits);
    const vg_node *cn = ln >= 0 ? &g->nodes[ln] : NULL;
    int pooled = cn ? cn->in[0] : -1;
    if (!cn || !(cn->op == VG_OP_FC || (cn->op == VG_OP_CONV && cn->kh == 1 && cn->kw == 1)))
        why = "its logits do not come from a linear layer";
    else if (cn->w < 0 || sh[pooled].h != 1 || sh[pooled].w != 1)
        why = "its classifier does not read a pooled feature vector";
    int feat = -1;
    if (!why) {
        /* the pooled vector: one global pool of the feature map, or avg + max of the same map */
        const vg_node *pn = &g->nodes[producer(g, pooled)];
        if (is_pool(pn)) feat = pn->in[0];
        else if (pn->op == VG_OP_ADD) {
            int a = producer(g, pn->in[0]), b = producer(g, pn->in[1]);
            if (a >= 0 && b >= 0 && is_pool(&g->nodes[a]) && is_pool(&g->nodes[b]) &&
                g->nodes[a].in[0] == g->nodes[b].in[0])
                feat = g->nodes[a].in[0];
        }
        if (feat < 1) why = "its classifier is not preceded by a global pool of a feature map";
        else if (sh[feat].c != sh[pooled].c) why = "feature map and classifier disagree";
    }
    if (why) {
        free(sh);
        return vg_err_set(err, VG_ERR_UNSUPPORTED, "no class activation map for this model: %s",
                          why);
    }
    c->m = m;
    c->feat = feat;
    c->cls_node = ln;
    c->fh = sh[feat].h;
    c->fw = sh[feat].w;
    c->fc = sh[feat].c;
    free(sh);
    return VG_OK;
}

/* sum over the class set of the classifier's weights (the map is linear in them); NULL when
 * out of memory */
static double *class_weights(const vg_watch_cam *c, const bool *classes) {
    const vg_node *cn = &c->m->g.nodes[c->cls_node];
    int C = c->fc;
    double *wsum = vg_calloc((size_t)C, sizeof(double));
    if (!wsum) return NULL;
    const float *w = c->m->g.params + cn->w;
    for (int cls = 0; cls < cn->co; cls++)
        if (classes[cls])
            for (int k = 0; k < C; k++)
                wsum[k] += w[(size_t)cls * C + k];
    return wsum;
}

/* one forward pass of a keep_all runner on a prepared input, then the map into map[fh * fw] */
static void map_of_input(const vg_watch_cam *c, vg_runner *r, const double *wsum, const float *in,
                         float *out, float *map) {
    vg_runner_forward(r, in, out);
    const float *f = vg_runner_tensor(r, c->feat);
    for (int p = 0; p < c->fh * c->fw; p++) {
        double s = 0;
        for (int k = 0; k < c->fc; k++)
            s += wsum[k] * f[(size_t)p * c->fc + k];
        map[p] = (float)s;
    }
}

/* the buffers and the keep_all float runner of a map computation */
typedef struct {
    double *wsum;
    float *in, *out;
    vg_runner *r;
} cam_work;

static void cam_work_free(cam_work *w) {
    vg_runner_free(w->r);
    free(w->wsum);
    free(w->in);
    free(w->out);
}

static vg_status cam_work_init(cam_work *w, const vg_watch_cam *c, const bool *classes,
                               vg_err *err) {
    memset(w, 0, sizeof *w);
    const vg_model *m = c->m;
    size_t in_n = (size_t)m->input.h * m->input.w * m->input.c;
    w->wsum = class_weights(c, classes);
    w->in = vg_malloc(in_n * sizeof(float));
    w->out = vg_malloc((size_t)m->g.nodes[c->cls_node].co * sizeof(float));
    if (!w->wsum || !w->in || !w->out) {
        cam_work_free(w);
        return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    vg_runner_opts ro = vg_runner_opts_default();
    ro.precision = VG_PRECISION_FLOAT; /* the float tensors are the readable ones */
    vg_status st = vg_runner_init_ex(&w->r, m, &ro, true, err);
    if (st != VG_OK) cam_work_free(w);
    return st;
}

vg_status vg_watch_cam_map(const vg_watch_cam *c, const vg_image *frame, const bool *classes,
                           float *map, vg_err *err) {
    cam_work w;
    vg_status st = cam_work_init(&w, c, classes, err);
    if (st != VG_OK) return st;
    st = vg_image_to_input(frame, &c->m->input, w.in,
                           (size_t)c->m->input.h * c->m->input.w * c->m->input.c, err);
    if (st == VG_OK) map_of_input(c, w.r, w.wsum, w.in, w.out, map);
    cam_work_free(&w);
    return st;
}

void vg_watch_cam_size(const vg_watch_cam *c, int rows, int cols, int *mh, int *mw) {
    bool tiled = vg_tiles_count(rows, cols) > 1;
    *mh = tiled ? 2 * rows * c->fh : c->fh;
    *mw = tiled ? 2 * cols * c->fw : c->fw;
}

/* bilinear sample of a fh x fw map at map coordinates (sy, sx), half-pixel centres, clamped */
static float sample(const float *map, int fh, int fw, float sy, float sx) {
    sy = sy < 0 ? 0 : sy > (float)(fh - 1) ? (float)(fh - 1) : sy;
    sx = sx < 0 ? 0 : sx > (float)(fw - 1) ? (float)(fw - 1) : sx;
    int y0 = (int)sy, x0 = (int)sx;
    int y1 = y0 + 1 < fh ? y0 + 1 : y0, x1 = x0 + 1 < fw ? x0 + 1 : x0;
    float wy = sy - (float)y0, wx = sx - (float)x0;
    return (1 - wy) * ((1 - wx) * map[y0 * fw + x0] + wx * map[y0 * fw + x1]) +
           wy * ((1 - wx) * map[y1 * fw + x0] + wx * map[y1 * fw + x1]);
}

vg_status vg_watch_cam_map_tiles(const vg_watch_cam *c, const vg_image *frame, int rows, int cols,
                                 const bool *classes, float *map, vg_err *err) {
    if (vg_tiles_count(rows, cols) == 1) return vg_watch_cam_map(c, frame, classes, map, err);
    if (!frame || !frame->rgb) return vg_err_set(err, VG_ERR_ARG, "heat map: no frame");
    vg_rect views[1 + VG_TILES_MAX * VG_TILES_MAX];
    int n = 0;
    vg_status st = vg_tiles_layout(frame->w, frame->h, rows, cols, views,
                                   (int)(sizeof views / sizeof views[0]), &n, err);
    if (st != VG_OK) return st;
    int mh, mw;
    vg_watch_cam_size(c, rows, cols, &mh, &mw);
    float *vmap = vg_malloc(sizeof(float) * (size_t)c->fh * (size_t)c->fw);
    if (!vmap) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    cam_work w;
    if ((st = cam_work_init(&w, c, classes, err)) != VG_OK) {
        free(vmap);
        return st;
    }
    for (int i = 0; i < mh * mw; i++)
        map[i] = -INFINITY;
    /* one view at a time through the batch-1 runner: the keep-everything activations of a
     * whole batch would multiply the memory of an alarm start by the number of views */
    for (int v = 0; v < n && st == VG_OK; v++) {
        const vg_rect *r = &views[v];
        st = vg_tiles_inputs(frame, r, 1, &c->m->input, w.in, err);
        if (st != VG_OK) break;
        map_of_input(c, w.r, w.wsum, w.in, w.out, vmap);
        /* every cell whose centre lies in the view takes the view's map there, the max of the
         * views that see it (view 0, the whole frame, sees them all) */
        for (int i = 0; i < mh; i++) {
            float cy = ((float)i + 0.5f) * (float)frame->h / (float)mh;
            if (cy < (float)r->y || cy >= (float)(r->y + r->h)) continue;
            float sy = (cy - (float)r->y) * (float)c->fh / (float)r->h - 0.5f;
            for (int j = 0; j < mw; j++) {
                float cx = ((float)j + 0.5f) * (float)frame->w / (float)mw;
                if (cx < (float)r->x || cx >= (float)(r->x + r->w)) continue;
                float sx = (cx - (float)r->x) * (float)c->fw / (float)r->w - 0.5f;
                float val = sample(vmap, c->fh, c->fw, sy, sx);
                if (val > map[i * mw + j]) map[i * mw + j] = val;
            }
        }
    }
    cam_work_free(&w);
    free(vmap);
    return st;
}

/* black -> red -> yellow for h in [0, 1]: the hottest spot is the most saturated colour
 * (a white top would wash out under the blending) */
static void heat_colour(float h, float rgb[3]) {
    for (int i = 0; i < 2; i++) {
        float v = 2.0f * h - (float)i;
        rgb[i] = 255.0f * (v < 0 ? 0 : v > 1 ? 1 : v);
    }
    rgb[2] = 0;
}

vg_status vg_watch_cam_overlay(const vg_image *frame, const float *map, int fh, int fw,
                               vg_image *out, vg_err *err) {
    *out = (vg_image){0, 0, NULL};
    if (!frame->rgb || frame->w < 1 || frame->h < 1 || fh < 1 || fw < 1)
        return vg_err_set(err, VG_ERR_ARG, "overlay: empty frame or map");
    float lo = map[0], hi = map[0];
    for (int i = 1; i < fh * fw; i++) {
        if (map[i] < lo) lo = map[i];
        if (map[i] > hi) hi = map[i];
    }
    /* a flat map carries no location: leave the frame as it is */
    float scale = hi - lo > 1e-12f * (fabsf(hi) + fabsf(lo) + 1e-30f) ? 1.0f / (hi - lo) : 0.0f;
    size_t n = (size_t)frame->w * frame->h * 3;
    out->rgb = vg_malloc(n);
    float *rowmap = vg_malloc(sizeof(float) * (size_t)frame->w);
    if (!out->rgb || !rowmap) {
        free(out->rgb);
        free(rowmap);
        out->rgb = NULL;
        return vg_err_set(err, VG_ERR_NOMEM, "overlay: out of memory");
    }
    out->w = frame->w;
    out->h = frame->h;
    const float alpha_max = 0.6f;
    for (int y = 0; y < frame->h; y++) {
        /* half-pixel centres: frame pixel y sits at map row (y + 0.5) * fh / h - 0.5 */
        float sy = ((float)y + 0.5f) * (float)fh / (float)frame->h - 0.5f;
        if (sy < 0) sy = 0;
        if (sy > (float)(fh - 1)) sy = (float)(fh - 1);
        int y0 = (int)sy, y1 = y0 + 1 < fh ? y0 + 1 : y0;
        float wy = sy - (float)y0;
        for (int x = 0; x < frame->w; x++) {
            float sx = ((float)x + 0.5f) * (float)fw / (float)frame->w - 0.5f;
            if (sx < 0) sx = 0;
            if (sx > (float)(fw - 1)) sx = (float)(fw - 1);
            int x0 = (int)sx, x1 = x0 + 1 < fw ? x0 + 1 : x0;
            float wx = sx - (float)x0;
            float v = (1 - wy) * ((1 - wx) * map[y0 * fw + x0] + wx * map[y0 * fw + x1]) +
                      wy * ((1 - wx) * map[y1 * fw + x0] + wx * map[y1 * fw + x1]);
            rowmap[x] = (v - lo) * scale;
        }
        const uint8_t *src = frame->rgb + (size_t)y * frame->w * 3;
        uint8_t *dst = out->rgb + (size_t)y * frame->w * 3;
        for (int x = 0; x < frame->w; x++) {
            float h = rowmap[x], col[3];
            heat_colour(h, col);
            float a = alpha_max * h;
            for (int k = 0; k < 3; k++)
                dst[x * 3 + k] = (uint8_t)lrintf((1 - a) * src[x * 3 + k] + a * col[k]);
        }
    }
    free(rowmap);
    return VG_OK;
}

/* ---- JPEG encoding (libjpeg-turbo) -------------------------------------------------------- */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jmp;
    char msg[JMSG_LENGTH_MAX];
} jpeg_wr_err;

_Noreturn static void jpeg_wr_on_error(j_common_ptr c) {
    jpeg_wr_err *e = (jpeg_wr_err *)c->err;
    e->pub.format_message(c, e->msg);
    longjmp(e->jmp, 1);
}

static void jpeg_wr_silent(j_common_ptr c, int level) {
    (void)c;
    (void)level;
}

/* State that must survive the longjmp lives in this struct, owned by the caller. */
typedef struct {
    struct jpeg_compress_struct ci;
    jpeg_wr_err jerr;
    unsigned char *buf;
    unsigned long size;
} jpeg_wr_ctx;

static bool jpeg_encode(jpeg_wr_ctx *x, const vg_image *img, int quality) {
    if (setjmp(x->jerr.jmp)) return false;
    jpeg_create_compress(&x->ci);
    jpeg_mem_dest(&x->ci, &x->buf, &x->size);
    x->ci.image_width = (JDIMENSION)img->w;
    x->ci.image_height = (JDIMENSION)img->h;
    x->ci.input_components = 3;
    x->ci.in_color_space = JCS_RGB;
    jpeg_set_defaults(&x->ci);
    jpeg_set_quality(&x->ci, quality, TRUE);
    jpeg_start_compress(&x->ci, TRUE);
    while (x->ci.next_scanline < x->ci.image_height) {
        JSAMPROW row = img->rgb + (size_t)x->ci.next_scanline * img->w * 3;
        jpeg_write_scanlines(&x->ci, &row, 1);
    }
    jpeg_finish_compress(&x->ci);
    return true;
}

vg_status vg_watch_jpeg_save(const vg_image *img, int quality, const char *path, vg_err *err) {
    if (!img->rgb || img->w < 1 || img->h < 1 || img->w > VG_IMAGE_MAX_DIM ||
        img->h > VG_IMAGE_MAX_DIM)
        return vg_err_set(err, VG_ERR_ARG, "%s: no image to write", path);
    if (quality < 1 || quality > 100)
        return vg_err_set(err, VG_ERR_ARG, "%s: JPEG quality %d is not in 1..100", path, quality);
    jpeg_wr_ctx *x = vg_calloc(1, sizeof *x);
    if (!x) return vg_err_set(err, VG_ERR_NOMEM, "%s: out of memory", path);
    x->ci.err = jpeg_std_error(&x->jerr.pub);
    x->jerr.pub.error_exit = jpeg_wr_on_error;
    x->jerr.pub.emit_message = jpeg_wr_silent;
    vg_status st;
    if (jpeg_encode(x, img, quality))
        st = vg_file_write_atomic(path, x->buf, (size_t)x->size, err);
    else
        st = vg_err_set(err, VG_ERR_NOMEM, "%s: JPEG encoder: %s", path, x->jerr.msg);
    jpeg_destroy_compress(&x->ci);
    free(x->buf);
    free(x);
    return st;
}
