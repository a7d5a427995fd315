/* rehearsal.c — the rehearsal set carried by adapted models (rehearsal.h). */
#include "train/rehearsal.h"

#include "core/rng.h"
#include "model/surgery.h"

#include <math.h>
#include <string.h>

/* IEEE 754 binary16, round to nearest even; overflow to infinity, subnormals kept */
uint16_t vg_float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, e = (x >> 23) & 0xffu, m = x & 0x7fffffu;
    if (e == 0xff) return (uint16_t)(sign | 0x7c00u | (m ? 0x200u : 0)); /* inf, nan */
    int exp = (int)e - 127 + 15;
    if (exp >= 31) return (uint16_t)(sign | 0x7c00u);
    if (exp <= 0) { /* subnormal half (or zero) */
        if (exp < -10) return (uint16_t)sign;
        m |= 0x800000u;
        int shift = 14 - exp;
        uint32_t h = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = (uint32_t)exp << 10 | m >> 13, rem = m & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++; /* may carry into the exponent: fine */
    return (uint16_t)(sign | h);
}

float vg_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, x;
    if (e == 0) {
        if (!m)
            x = sign;
        else { /* subnormal: normalise */
            int k = -1;
            do
                m <<= 1, k++;
            while (!(m & 0x400u));
            x = sign | (uint32_t)(127 - 15 - k) << 23 | (m & 0x3ffu) << 13;
        }
    } else if (e == 31) {
        x = sign | 0x7f800000u | m << 13;
    } else {
        x = sign | (e + 127 - 15) << 23 | m << 13;
    }
    float f;
    memcpy(&f, &x, 4);
    return f;
}

void vg_rehearsal_free(vg_rehearsal *r) {
    free(r->label), free(r->guard), free(r->f), free(r->f8);
    memset(r, 0, sizeof *r);
}

void vg_rehearsal_row(const vg_rehearsal *r, int i, float *out) {
    size_t at = (size_t)i * r->d;
    for (int j = 0; j < r->d; j++)
        out[j] = r->q8 ? (float)(r->f8[at + j] - r->zp) * r->scale : vg_half_to_float(r->f[at + j]);
}

vg_precision vg_feature_precision(const vg_model *fm) {
    return fm->q ? VG_PRECISION_INT8 : VG_PRECISION_FLOAT;
}

vg_status vg_feature_model(const vg_model *m, vg_model **fm, int *fc, vg_err *err) {
    *fm = NULL;
    const vg_graph *g = &m->g;
    int k = g->n_nodes - 2;
    if (k < 1 || g->nodes[k].op != VG_OP_FC || g->nodes[k + 1].op != VG_OP_SOFTMAX ||
        g->nodes[k].b < 0)
        return vg_err_set(err, VG_ERR_UNSUPPORTED,
                          "the model does not end in a classifier (fully-connected + softmax)");
    vg_model *f = vg_model_new();
    if (!f) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    vg_graph_free(&f->g);
    vg_status st = vg_graph_slice(g, k, &f->g, err);
    f->input = m->input;
    /* the slice keeps node and tensor numbering: the int8 form is the same, cut */
    if (st == VG_OK && m->q && !(f->q = vg_qgraph_slice(m->q, k)))
        st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    if (st != VG_OK) {
        vg_model_free(f);
        return st;
    }
    *fm = f;
    *fc = k;
    return VG_OK;
}

void vg_rehearsal_probe(vg_runner *fr, const vg_model *fm, float probe[VG_REHEARSAL_PROBE]) {
    const vg_input_spec *in = &fm->input;
    size_t n = (size_t)in->w * in->h * in->c;
    int d = vg_model_n_outputs(fm);
    float *x = vg_malloc(sizeof(float) * n), *y = vg_malloc(sizeof(float) * (size_t)d);
    memset(probe, 0, sizeof(float) * VG_REHEARSAL_PROBE);
    /* a fixed picture through the model's own input conversion: another normalisation or
     * input size changes the probe as surely as other weights do */
    vg_image img = {64, 48, vg_malloc(64 * 48 * 3)};
    vg_err e;
    if (x && y && img.rgb) {
        for (int i = 0; i < 64 * 48 * 3; i++)
            img.rgb[i] = (uint8_t)(128 + 100 * sinf(0.05f * (float)i) * cosf(0.003f * (float)i));
        if (vg_image_to_input(&img, in, x, n, &e) == VG_OK) {
            vg_runner_forward(fr, x, y);
            for (int i = 0; i < VG_REHEARSAL_PROBE && i < d; i++)
                probe[i] = y[i];
        }
    }
    vg_image_free(&img);
    free(x), free(y);
}

vg_status vg_rehearsal_add(vg_rehearsal *r, const float *f, int label, bool guard, vg_err *err) {
    if (r->n >= VG_REHEARSAL_MAX_ROWS)
        return vg_err_set(err, VG_ERR_ARG, "rehearsal set: more than %d images",
                          VG_REHEARSAL_MAX_ROWS);
    if (r->n == r->cap) { /* doubling */
        size_t cap = r->cap ? (size_t)r->cap * 2 : 64;
        uint8_t *l = vg_realloc(r->label, cap), *g = l ? vg_realloc(r->guard, cap) : NULL;
        if (l) r->label = l;
        if (g) r->guard = g;
        if (!g) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        size_t each = r->q8 ? 1 : sizeof(uint16_t);
        void *ff = vg_realloc(r->q8 ? (void *)r->f8 : (void *)r->f, each * cap * (size_t)r->d);
        if (!ff) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        if (r->q8)
            r->f8 = ff;
        else
            r->f = ff;
        r->cap = (int)cap;
    }
    size_t at = (size_t)r->n * r->d;
    for (int j = 0; j < r->d; j++) {
        if (r->q8) { /* an int8 engine's features are codes already: this finds them back */
            long q = lrintf(f[j] / r->scale) + r->zp;
            r->f8[at + j] = (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);
        } else {
            r->f[at + j] = vg_float_to_half(f[j]);
        }
    }
    r->label[r->n] = (uint8_t)label;
    r->guard[r->n] = guard;
    r->n++;
    return VG_OK;
}

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#define HEADER (16 + 4 * VG_REHEARSAL_PROBE)
#define Q8_HEADER 8 /* version 2: scale, zero point */

vg_status vg_rehearsal_encode(const vg_rehearsal *r, uint8_t **buf, size_t *n, vg_err *err) {
    size_t head = HEADER + (r->q8 ? Q8_HEADER : 0);
    size_t size = head + (size_t)r->n * 2 + (size_t)r->n * r->d * (r->q8 ? 1 : 2);
    uint8_t *p = vg_malloc(size);
    if (!p) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    put32(p, r->q8 ? 2 : 1), put32(p + 4, (uint32_t)r->d), put32(p + 8, (uint32_t)r->n);
    put32(p + 12, (uint32_t)r->n_classes);
    for (int i = 0; i < VG_REHEARSAL_PROBE; i++) {
        uint32_t v;
        memcpy(&v, &r->probe[i], 4);
        put32(p + 16 + 4 * i, v);
    }
    if (r->q8) {
        uint32_t v;
        memcpy(&v, &r->scale, 4);
        put32(p + HEADER, v);
        put32(p + HEADER + 4, (uint32_t)r->zp);
    }
    uint8_t *q = p + head;
    for (int i = 0; i < r->n; i++)
        q[2 * i] = r->label[i], q[2 * i + 1] = r->guard[i];
    q += (size_t)r->n * 2;
    if (r->q8)
        memcpy(q, r->f8, (size_t)r->n * r->d);
    else
        for (size_t i = 0; i < (size_t)r->n * r->d; i++)
            q[2 * i] = (uint8_t)r->f[i], q[2 * i + 1] = (uint8_t)(r->f[i] >> 8);
    *buf = p;
    *n = size;
    return VG_OK;
}

vg_status vg_rehearsal_decode(const uint8_t *p, size_t n, vg_rehearsal *out, vg_err *err) {
    memset(out, 0, sizeof *out);
    if (n < HEADER) return vg_err_set(err, VG_ERR_FORMAT, "rehearsal chunk: truncated header");
    uint32_t ver = get32(p), d = get32(p + 4), rows = get32(p + 8), nc = get32(p + 12);
    if (ver != 1 && ver != 2)
        return vg_err_set(err, VG_ERR_FORMAT,
                          "rehearsal chunk: version %u (this vigie reads 1 and 2)", ver);
    const bool q8 = ver == 2;
    const size_t head = HEADER + (q8 ? Q8_HEADER : 0), each = q8 ? 1 : 2;
    if (n < head) return vg_err_set(err, VG_ERR_FORMAT, "rehearsal chunk: truncated header");
    if (d < 1 || d > 65536 || rows > VG_REHEARSAL_MAX_ROWS || nc < 2 || nc > VG_MAX_CLASSES)
        return vg_err_set(err, VG_ERR_FORMAT,
                          "rehearsal chunk: bad counts (%u features, %u rows, "
                          "%u classes)",
                          d, rows, nc);
    uint64_t want = head + (uint64_t)rows * 2 + (uint64_t)rows * d * each;
    if (want != n)
        return vg_err_set(err, VG_ERR_FORMAT, "rehearsal chunk: %zu bytes, %llu expected", n,
                          (unsigned long long)want);
    out->d = (int)d, out->n = out->cap = (int)rows, out->n_classes = (int)nc, out->q8 = q8;
    if (q8) {
        uint32_t v = get32(p + HEADER);
        memcpy(&out->scale, &v, 4);
        out->zp = (int32_t)get32(p + HEADER + 4);
        if (!isfinite(out->scale) || !(out->scale > 0) || out->zp < -128 || out->zp > 127)
            return vg_err_set(err, VG_ERR_FORMAT, "rehearsal chunk: bad quantization");
    }
    for (int i = 0; i < VG_REHEARSAL_PROBE; i++) {
        uint32_t v = get32(p + 16 + 4 * i);
        memcpy(&out->probe[i], &v, 4);
        if (!isfinite(out->probe[i]))
            return vg_err_set(err, VG_ERR_FORMAT, "rehearsal chunk: probe not finite");
    }
    out->label = vg_malloc((size_t)rows + 1);
    out->guard = vg_malloc((size_t)rows + 1);
    if (q8)
        out->f8 = vg_malloc((size_t)rows * d + 1);
    else
        out->f = vg_malloc(sizeof(uint16_t) * ((size_t)rows * d + 1));
    if (!out->label || !out->guard || !(q8 ? (void *)out->f8 : (void *)out->f)) {
        vg_rehearsal_free(out);
        return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    const uint8_t *q = p + head;
    for (uint32_t i = 0; i < rows; i++) {
        out->label[i] = q[2 * i], out->guard[i] = q[2 * i + 1];
        if (out->label[i] >= nc || out->guard[i] > 1) {
            vg_rehearsal_free(out);
            return vg_err_set(err, VG_ERR_FORMAT, "rehearsal chunk: row %u: class %u, flags %u", i,
                              q[2 * i], q[2 * i + 1]);
        }
    }
    q += (size_t)rows * 2;
    if (q8) {
        memcpy(out->f8, q, (size_t)rows * d);
        return VG_OK;
    }
    for (size_t i = 0; i < (size_t)rows * d; i++) {
        out->f[i] = (uint16_t)(q[2 * i] | q[2 * i + 1] << 8);
        if ((out->f[i] & 0x7c00u) == 0x7c00u) { /* inf or nan: no feature is */
            vg_rehearsal_free(out);
            return vg_err_set(err, VG_ERR_FORMAT, "rehearsal chunk: a feature is not finite");
        }
    }
    return VG_OK;
}

vg_status vg_rehearsal_check(const vg_rehearsal *r, const float probe[VG_REHEARSAL_PROBE], int d,
                             int n_classes, vg_err *err) {
    if (r->d != d || r->n_classes != n_classes)
        return vg_err_set(err, VG_ERR_ARG,
                          "the stored rehearsal set has %d features and %d classes, the model %d "
                          "and %d: recompute it with --data",
                          r->d, r->n_classes, d, n_classes);
    for (int i = 0; i < VG_REHEARSAL_PROBE && i < d; i++)
        if (fabsf(r->probe[i] - probe[i]) > 1e-3f * (1.0f + fabsf(probe[i])))
            return vg_err_set(err, VG_ERR_ARG,
                              "the stored rehearsal set was computed with another backbone: "
                              "recompute it with --data");
    return VG_OK;
}

/* at most per_class of each class of idx[n], drawn with seed (stream `which`), into out;
 * returns the count */
static int sample(const vg_dataset *ds, const int *idx, int n, int per_class, uint64_t seed,
                  uint64_t which, int *out) {
    int taken[VG_MAX_CLASSES] = {0}, k = 0;
    for (int i = 0; i < n; i++)
        out[i] = idx[i];
    vg_rng rng = vg_rng_make(seed, 0x52454845u, which);
    for (int i = n - 1; i > 0; i--) {
        int j = (int)vg_rng_below(&rng, (uint32_t)i + 1), t = out[i];
        out[i] = out[j], out[j] = t;
    }
    for (int i = 0; i < n; i++) {
        int l = ds->samples[out[i]].label;
        if (taken[l] < per_class) taken[l]++, out[k++] = out[i];
    }
    return k;
}

vg_status vg_rehearsal_build(const vg_model *m, const vg_model *fm_in, vg_runner *fr,
                             const vg_dataset *ds, const int *train, int n_train, const int *guard,
                             int n_guard, int per_class, int guard_per_class, uint64_t seed,
                             int threads, const vg_rehearsal_hooks *h, vg_rehearsal *out,
                             vg_err *err) {
    memset(out, 0, sizeof *out);
    vg_model *own_fm = NULL; /* the feature part and its runner, when the caller has none */
    vg_runner *own_r = NULL;
    const vg_model *fm = fm_in;
    vg_runner *r = fr;
    int fc = 0, *pick = NULL, n_pick = 0, *labels = NULL;
    float *x = NULL, *y = NULL;
    vg_model_info info;
    vg_model_get_info(m, &info);
    vg_status st = VG_OK;
    if (!fm || !r) {
        st = vg_feature_model(m, &own_fm, &fc, err);
        if (st == VG_OK) {
            vg_runner_opts ro = vg_runner_opts_default();
            ro.threads = threads;
            ro.precision = vg_feature_precision(own_fm);
            st = vg_runner_init(&own_r, own_fm, &ro, err);
        }
        fm = own_fm, r = own_r;
    }
    if (st != VG_OK) goto out;
    out->d = vg_model_n_outputs(fm);
    out->n_classes = info.n_classes;
    if (fm->q) { /* int8 features: their codes */
        out->q8 = true;
        out->scale = fm->q->t[fm->g.output].scale;
        out->zp = fm->q->t[fm->g.output].zp;
    }
    vg_rehearsal_probe(r, fm, out->probe);
    /* the dataset's classes as the model's (by name) */
    labels = vg_malloc(sizeof(int) * ((size_t)ds->n_classes + 1));
    pick = vg_malloc(sizeof(int) * ((size_t)n_train + (size_t)n_guard + 1));
    size_t in = (size_t)m->input.w * m->input.h * m->input.c;
    x = vg_malloc(sizeof(float) * in);
    y = vg_malloc(sizeof(float) * (size_t)out->d);
    if (!labels || !pick || !x || !y) {
        st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (int k = 0; k < ds->n_classes; k++)
        labels[k] = vg_model_find_label(m, ds->classes[k]);
    /* class-balanced samples of the training and guard images, the same for the same seed */
    n_pick = sample(ds, train, n_train, per_class, seed, 0, pick);
    int n_gpick = guard_per_class > 0
                      ? sample(ds, guard, n_guard, guard_per_class, seed, 1, pick + n_pick)
                      : n_guard;
    if (guard_per_class <= 0) memcpy(pick + n_pick, guard, sizeof(int) * (size_t)n_guard);
    int total = n_pick + n_gpick, done = 0;
    for (int pass = 0; st == VG_OK && pass < 2; pass++) {
        const int *idx = pass ? pick + n_pick : pick;
        int n = pass ? n_gpick : n_pick;
        for (int i = 0; st == VG_OK && i < n; i++) {
            const vg_sample *s = &ds->samples[idx[i]];
            int l = labels[s->label];
            if (l < 0) {
                st = vg_err_set(err, VG_ERR_ARG, "%s: class '%s' is none of the model's classes",
                                s->path, ds->classes[s->label]);
                break;
            }
            vg_image img = {0, 0, NULL};
            vg_err e;
            vg_status is = vg_image_load(s->path, &img, &e);
            if (is == VG_OK) is = vg_image_to_input(&img, &m->input, x, in, &e);
            vg_image_free(&img);
            if (is == VG_ERR_NOMEM) {
                st = vg_err_set(err, VG_ERR_NOMEM, "%s", e.msg);
            } else if (is != VG_OK) {
                if (h && h->bad) h->bad(h->ud, s->path, e.msg); /* reported, skipped */
            } else {
                vg_runner_forward(r, x, y);
                st = vg_rehearsal_add(out, y, l, pass == 1, err);
            }
            if (h && h->progress) h->progress(h->ud, ++done, total);
        }
    }
out:
    if (st != VG_OK) vg_rehearsal_free(out);
    vg_runner_free(own_r);
    vg_model_free(own_fm);
    free(pick), free(labels), free(x), free(y);
    return st;
}

vg_status vg_rehearsal_note(vg_model *m, const vg_rehearsal *r, size_t bytes, char *line, size_t n,
                            vg_err *err) {
    int nt = 0, nv = 0;
    for (int i = 0; i < r->n; i++)
        nv += r->guard[i], nt += !r->guard[i];
    char v[256];
    snprintf(v, sizeof v, "%d training and %d validation images, %zu bytes", nt, nv, bytes);
    if (line && n) snprintf(line, n, "%s", v);
    return vg_model_set_meta(m, "adapt_rehearsal", v, err);
}
