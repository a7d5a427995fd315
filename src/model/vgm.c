/* vgm.c — the native model file (.vgm).
 *
 *   "VIGIEVGM"  u32 version  u32 flags(0)
 *   chunk*      tag[4]  u32 reserved(0)  u64 length  payload[length]
 *   u32 crc32 of every byte before it
 *
 * Chunks: INPT (input spec), GRPH (nodes), PARM (float arena), LABL (labels, optional), META
 * (key/value strings, optional), QGRF (the int8 form, optional: tensor quantization, per-node
 * offsets, int8 weights, int32 biases, weight scales, then a u32 rounding rule that is present
 * only when it is not TFLite's, see vg_q8_rounding). Unknown chunks are skipped, so later
 * versions can add some without breaking older readers. All integers and floats are
 * little-endian.
 *
 * The loader trusts nothing: the checksum catches accidents, and every length, count,
 * reference and shape is checked anyway, because a file with a valid checksum can still be
 * hostile. */
#include "model/model.h"

#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "vigie's file formats assume a little-endian host"
#endif

#define VGM_MAGIC "VIGIEVGM"
#define VGE_MAGIC "VIGIEVGE"
#define VGM_VERSION 1u
#define VGM_MAX_BYTES ((size_t)4 << 30)
#define VGM_NODE_BYTES 72 /* 4 x u8, 12 x i32, 2 x i64, f32 */
#define VGM_MAX_STR 65536

static void chunk_begin(vg_wr *w, const char *tag, size_t *len_pos) {
    vg_wr_bytes(w, tag, 4);
    vg_wr_u32(w, 0);
    *len_pos = w->n;
    vg_wr_u64(w, 0);
}

static void chunk_end(vg_wr *w, size_t len_pos) {
    if (w->oom) return;
    uint64_t len = w->n - len_pos - 8;
    for (int i = 0; i < 8; i++) w->p[len_pos + i] = (uint8_t)(len >> (8 * i));
}

static void wr_str(vg_wr *w, const char *s) {
    size_t n = strlen(s);
    vg_wr_u32(w, (uint32_t)n);
    vg_wr_bytes(w, s, n);
}

static vg_status serialize(const vg_model *m, const vg_chunk *extra, int n_extra, vg_wr *w,
                           vg_engine_sizes *eng, vg_err *err);

vg_status vg_model_serialize(const vg_model *m, vg_wr *w, vg_err *err) {
    return serialize(m, NULL, 0, w, NULL, err);
}

vg_status vg_engine_serialize(const vg_model *m, vg_wr *w, vg_engine_sizes *sz, vg_err *err) {
    vg_engine_sizes tmp;
    memset(&tmp, 0, sizeof tmp);
    vg_status st = serialize(m, NULL, 0, w, &tmp, err);
    if (sz) *sz = tmp;
    return st;
}

vg_status vg_engine_save(const vg_model *m, const char *path, vg_engine_sizes *sz, vg_err *err) {
    return vg_engine_save_ex(m, NULL, 0, path, sz, err);
}

vg_status vg_engine_save_ex(const vg_model *m, const vg_chunk *extra, int n_extra, const char *path,
                            vg_engine_sizes *sz, vg_err *err) {
    vg_wr w = {0};
    vg_engine_sizes tmp;
    memset(&tmp, 0, sizeof tmp);
    vg_status st = serialize(m, extra, n_extra, &w, &tmp, err);
    if (sz) *sz = tmp;
    if (st == VG_OK) st = vg_file_write_atomic(path, w.p, w.n, err);
    else vg_err_prefix(err, path);
    vg_wr_free(&w);
    return st;
}

/* eng != NULL: an engine file (.vge, see vge.c), whose byte counts go to *eng */
static vg_status serialize(const vg_model *m, const vg_chunk *extra, int n_extra, vg_wr *w,
                           vg_engine_sizes *eng, vg_err *err) {
    vg_status st = vg_model_validate(m, err);
    if (st != VG_OK) return st;
    size_t lp;
    vg_wr_bytes(w, eng ? VGE_MAGIC : VGM_MAGIC, 8);
    vg_wr_u32(w, VGM_VERSION);
    vg_wr_u32(w, 0);

    chunk_begin(w, "INPT", &lp);
    vg_wr_u32(w, (uint32_t)m->input.w);
    vg_wr_u32(w, (uint32_t)m->input.h);
    vg_wr_u32(w, (uint32_t)m->input.c);
    for (int k = 0; k < 3; k++) vg_wr_f32(w, m->input.mean[k]);
    for (int k = 0; k < 3; k++) vg_wr_f32(w, m->input.std[k]);
    chunk_end(w, lp);

    chunk_begin(w, "GRPH", &lp);
    vg_wr_u32(w, (uint32_t)m->g.n_nodes);
    vg_wr_u32(w, (uint32_t)m->g.output);
    for (int i = 0; i < m->g.n_nodes; i++) {
        const vg_node *n = &m->g.nodes[i];
        vg_wr_u8(w, n->op);
        vg_wr_u8(w, n->act);
        vg_wr_u8(w, n->pad_mode);
        vg_wr_u8(w, 0);
        vg_wr_i32(w, n->in[0]);
        vg_wr_i32(w, n->in[1]);
        vg_wr_i32(w, n->out);
        vg_wr_i32(w, n->kh);
        vg_wr_i32(w, n->kw);
        vg_wr_i32(w, n->sh);
        vg_wr_i32(w, n->sw);
        for (int k = 0; k < 4; k++) vg_wr_i32(w, n->pad[k]);
        vg_wr_i32(w, n->co);
        vg_wr_u64(w, (uint64_t)n->w);
        vg_wr_u64(w, (uint64_t)n->b);
        vg_wr_f32(w, n->eps);
    }
    chunk_end(w, lp);

    if (!eng) {
        chunk_begin(w, "PARM", &lp);
        vg_wr_u64(w, (uint64_t)m->g.n_params);
        vg_wr_f32s(w, m->g.params, (size_t)m->g.n_params);
        chunk_end(w, lp);
    }

    if (m->n_labels > 0) {
        chunk_begin(w, "LABL", &lp);
        vg_wr_u32(w, (uint32_t)m->n_labels);
        for (int i = 0; i < m->n_labels; i++) wr_str(w, m->labels[i]);
        chunk_end(w, lp);
    }
    if (m->n_meta > 0) {
        chunk_begin(w, "META", &lp);
        vg_wr_u32(w, (uint32_t)m->n_meta);
        for (int i = 0; i < m->n_meta; i++) {
            wr_str(w, m->meta[i].key);
            wr_str(w, m->meta[i].value);
        }
        chunk_end(w, lp);
    }
    if (m->q) { /* the int8 form (an engine rebuilds the weight bytes from WENC) */
        const vg_qgraph *q = m->q;
        size_t at = w->n;
        chunk_begin(w, eng ? "QENG" : "QGRF", &lp);
        vg_wr_u32(w, (uint32_t)m->g.n_tensors);
        vg_wr_u32(w, (uint32_t)m->g.n_nodes);
        for (int t = 0; t < m->g.n_tensors; t++) {
            vg_wr_f32(w, q->t[t].scale);
            vg_wr_i32(w, q->t[t].zp);
        }
        for (int j = 0; j < m->g.n_nodes; j++) {
            vg_wr_u64(w, (uint64_t)q->w_off[j]);
            vg_wr_u64(w, (uint64_t)q->b_off[j]);
            vg_wr_u64(w, (uint64_t)q->s_off[j]);
        }
        vg_wr_u64(w, (uint64_t)q->n_w8);
        if (!eng) vg_wr_bytes(w, q->w8, (size_t)q->n_w8);
        vg_wr_u64(w, (uint64_t)q->n_b32);
        for (int64_t i = 0; i < q->n_b32; i++) vg_wr_i32(w, q->b32[i]);
        vg_wr_u64(w, (uint64_t)q->n_ws);
        vg_wr_f32s(w, q->ws, (size_t)q->n_ws);
        /* optional trailing rounding rule: absent means TFLite's, so files of imported models
         * stay as earlier versions wrote them, and earlier readers refuse (rather than
         * misread) a model that rounds otherwise */
        if (q->rounding != VG_Q8_ROUND_TFLITE) vg_wr_u32(w, (uint32_t)q->rounding);
        chunk_end(w, lp);
        if (eng) eng->int8_tables = (int64_t)(w->n - at);
    }
    if (eng) {
        chunk_begin(w, "WENC", &lp);
        st = vg_engine_write_weights(m, w, eng, err);
        chunk_end(w, lp);
        if (st != VG_OK) return st;
    }
    for (int i = 0; i < n_extra; i++) {
        chunk_begin(w, extra[i].tag, &lp);
        vg_wr_bytes(w, extra[i].data, extra[i].size);
        chunk_end(w, lp);
    }
    if (!w->oom) vg_wr_u32(w, vg_crc32(w->p, w->n));
    if (eng) eng->total = (int64_t)w->n;
    if (w->oom) return vg_err_set(err, VG_ERR_NOMEM, "out of memory while serialising the model");
    return VG_OK;
}

vg_status vg_model_save(const vg_model *m, const char *path, vg_err *err) {
    return vg_model_save_ex(m, NULL, 0, path, err);
}

vg_status vg_model_save_ex(const vg_model *m, const vg_chunk *extra, int n_extra,
                           const char *path, vg_err *err) {
    vg_wr w = {0};
    vg_status st = serialize(m, extra, n_extra, &w, NULL, err);
    if (st == VG_OK) st = vg_file_write_atomic(path, w.p, w.n, err);
    else vg_err_prefix(err, path);
    vg_wr_free(&w);
    return st;
}

/* Reads a length-prefixed string of at most `max` bytes without NULs into a new buffer. */
/* A length-prefixed string (malloc'd), or NULL with r->bad set: a malformed one, or one that
 * could not be allocated (then *nomem is set too: not a format error) */
static char *rd_str(vg_rd *r, size_t max, bool *nomem) {
    uint32_t n = vg_rd_u32(r);
    if (r->bad || n > max || n > vg_rd_left(r)) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *s = vg_rd_span(r, n);
    if (!s || memchr(s, 0, n)) {
        r->bad = true;
        return NULL;
    }
    char *d = vg_malloc((size_t)n + 1);
    if (!d) {
        r->bad = true;
        *nomem = true;
        return NULL;
    }
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

static vg_status parse_chunk(vg_model *m, const char *tag, vg_rd *r, unsigned *seen,
                             vg_chunk_cb cb, void *ud, vg_err *err) {
    if (memcmp(tag, "INPT", 4) == 0) {
        *seen |= 1;
        m->input.w = (int)vg_rd_u32(r);
        m->input.h = (int)vg_rd_u32(r);
        m->input.c = (int)vg_rd_u32(r);
        for (int k = 0; k < 3; k++) m->input.mean[k] = vg_rd_f32(r);
        for (int k = 0; k < 3; k++) m->input.std[k] = vg_rd_f32(r);
    } else if (memcmp(tag, "GRPH", 4) == 0) {
        *seen |= 2;
        uint32_t nn = vg_rd_u32(r);
        uint32_t output = vg_rd_u32(r);
        if (r->bad || nn < 1 || nn > VG_MAX_NODES || (size_t)nn * VGM_NODE_BYTES != vg_rd_left(r))
            return vg_err_set(err, VG_ERR_FORMAT, "graph chunk: %u nodes do not fit its %zu bytes",
                              nn, vg_rd_left(r));
        m->g.nodes = vg_calloc(nn, sizeof(vg_node));
        if (!m->g.nodes) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        m->g.cap_nodes = (int)nn;
        m->g.n_nodes = (int)nn;
        m->g.n_tensors = (int)nn + 1;
        m->g.output = (int)output > 0 && output <= nn ? (int)output : -1;
        for (uint32_t i = 0; i < nn; i++) {
            vg_node *n = &m->g.nodes[i];
            n->op = vg_rd_u8(r);
            n->act = vg_rd_u8(r);
            n->pad_mode = vg_rd_u8(r);
            (void)vg_rd_u8(r);
            n->in[0] = vg_rd_i32(r);
            n->in[1] = vg_rd_i32(r);
            n->out = vg_rd_i32(r);
            n->kh = vg_rd_i32(r);
            n->kw = vg_rd_i32(r);
            n->sh = vg_rd_i32(r);
            n->sw = vg_rd_i32(r);
            for (int k = 0; k < 4; k++) n->pad[k] = vg_rd_i32(r);
            n->co = vg_rd_i32(r);
            n->w = (int64_t)vg_rd_u64(r);
            n->b = (int64_t)vg_rd_u64(r);
            n->eps = vg_rd_f32(r);
        }
    } else if (memcmp(tag, "PARM", 4) == 0) {
        *seen |= 4;
        uint64_t np = vg_rd_u64(r);
        if (r->bad || np > (uint64_t)VG_MAX_PARAMS || np * 4 != vg_rd_left(r))
            return vg_err_set(err, VG_ERR_FORMAT,
                              "parameter chunk: %llu floats do not fit its %zu bytes",
                              (unsigned long long)np, vg_rd_left(r));
        m->g.params = vg_malloc(np ? np * 4 : 4);
        if (!m->g.params)
            return vg_err_set(err, VG_ERR_NOMEM, "cannot allocate %llu parameters",
                              (unsigned long long)np);
        vg_rd_bytes(r, m->g.params, np * 4);
        m->g.n_params = m->g.cap_params = (int64_t)np;
    } else if (*seen & 8 && memcmp(tag, "WENC", 4) == 0) { /* engine weights */
        if (*seen & 4) return vg_err_set(err, VG_ERR_FORMAT, "duplicate weights chunk");
        if (!(*seen & 2)) return vg_err_set(err, VG_ERR_FORMAT, "weights chunk before the graph");
        *seen |= 4;
        vg_status st = vg_engine_read_weights(m, r, err);
        if (st != VG_OK) return st;
    } else if (memcmp(tag, (*seen & 8) ? "QENG" : "QGRF", 4) == 0) {
        bool eng = *seen & 8;
        if (m->q) return vg_err_set(err, VG_ERR_FORMAT, "duplicate int8 chunk");
        uint32_t nt = vg_rd_u32(r), nn = vg_rd_u32(r);
        if (eng && (!(*seen & 2) || nn != (uint32_t)m->g.n_nodes || (*seen & 4)))
            return vg_err_set(err, VG_ERR_FORMAT, "int8 chunk out of place");
        if (r->bad || nt < 2 || nt > VG_MAX_NODES + 1 || nn != nt - 1 ||
            (size_t)nt * 8 + (size_t)nn * 24 > vg_rd_left(r))
            return vg_err_set(err, VG_ERR_FORMAT, "int8 chunk: bad counts");
        vg_qgraph *q = vg_calloc(1, sizeof *q);
        if (!q) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        m->q = q; /* freed with the model on any error below */
        q->t = vg_malloc(sizeof(vg_qparam) * nt);
        q->w_off = vg_malloc(sizeof(int64_t) * nn);
        q->b_off = vg_malloc(sizeof(int64_t) * nn);
        q->s_off = vg_malloc(sizeof(int64_t) * nn);
        if (!q->t || !q->w_off || !q->b_off || !q->s_off)
            return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        for (uint32_t t = 0; t < nt; t++) {
            q->t[t].scale = vg_rd_f32(r);
            q->t[t].zp = vg_rd_i32(r);
        }
        for (uint32_t j = 0; j < nn; j++) {
            q->w_off[j] = (int64_t)vg_rd_u64(r);
            q->b_off[j] = (int64_t)vg_rd_u64(r);
            q->s_off[j] = (int64_t)vg_rd_u64(r);
        }
        uint64_t n8 = vg_rd_u64(r);
        if (r->bad || n8 > (eng ? (uint64_t)VG_MAX_PARAMS : vg_rd_left(r)))
            return vg_err_set(err, VG_ERR_FORMAT, "int8 chunk: weights");
        q->n_w8 = (int64_t)n8;
        q->w8 = vg_calloc(n8 ? n8 : 1, 1);
        if (!q->w8) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        if (!eng) vg_rd_bytes(r, q->w8, n8);
        uint64_t nb = vg_rd_u64(r);
        if (r->bad || nb > vg_rd_left(r) / 4) return vg_err_set(err, VG_ERR_FORMAT, "int8 chunk: biases");
        q->n_b32 = (int64_t)nb;
        q->b32 = vg_malloc(sizeof(int32_t) * (nb ? nb : 1));
        if (!q->b32) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        for (uint64_t i = 0; i < nb; i++) q->b32[i] = vg_rd_i32(r);
        uint64_t ns = vg_rd_u64(r);
        size_t left = vg_rd_left(r);
        if (r->bad || ns > left / 4 || (left - ns * 4 != 0 && left - ns * 4 != 4))
            return vg_err_set(err, VG_ERR_FORMAT, "int8 chunk: scales");
        q->n_ws = (int64_t)ns;
        q->ws = vg_malloc(sizeof(float) * (ns ? ns : 1));
        if (!q->ws) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        vg_rd_bytes(r, q->ws, ns * 4);
        if (vg_rd_left(r) == 4) {
            uint32_t rnd = vg_rd_u32(r);
            /* written only when not TFLite's: 0 here is as foreign as an unknown rule */
            if (rnd == VG_Q8_ROUND_TFLITE || rnd >= VG_Q8_ROUND_COUNT_)
                return vg_err_set(err, VG_ERR_FORMAT, "int8 chunk: unknown rounding rule %u", rnd);
            q->rounding = (int)rnd;
        }
    } else if (memcmp(tag, "LABL", 4) == 0) {
        uint32_t n = vg_rd_u32(r);
        if (r->bad || n > VG_MAX_CLASSES || (size_t)n * 4 > vg_rd_left(r))
            return vg_err_set(err, VG_ERR_FORMAT, "label chunk: bad count %u", n);
        m->labels = vg_calloc(n ? n : 1, sizeof(char *));
        if (!m->labels) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        m->n_labels = (int)n;
        bool nomem = false;
        for (uint32_t i = 0; i < n && !r->bad; i++) m->labels[i] = rd_str(r, VG_MAX_LABEL_LEN - 1, &nomem);
        if (nomem) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    } else if (memcmp(tag, "META", 4) == 0) {
        uint32_t n = vg_rd_u32(r);
        if (r->bad || n > VG_MAX_META || (size_t)n * 8 > vg_rd_left(r))
            return vg_err_set(err, VG_ERR_FORMAT, "metadata chunk: bad count %u", n);
        bool nomem = false;
        for (uint32_t i = 0; i < n && !r->bad; i++) {
            char *k = rd_str(r, 256, &nomem), *v = rd_str(r, VGM_MAX_STR, &nomem);
            if (k && v) {
                vg_status st = vg_model_set_meta(m, k, v, err);
                free(k);
                free(v);
                if (st != VG_OK) return st;
            } else {
                free(k);
                free(v);
            }
        }
        if (nomem) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    } else {
        /* not part of the model: a checkpoint's extra state, or a later version's chunk */
        return cb ? cb(ud, tag, r->p, r->n, err) : VG_OK;
    }
    if (r->bad || vg_rd_left(r) != 0)
        return vg_err_set(err, VG_ERR_FORMAT, "chunk %.4s: contents do not match its length",
                          tag);
    return VG_OK;
}

static vg_status parse(const uint8_t *data, size_t size, const char *name, vg_chunk_cb cb,
                       void *ud, vg_model **out, vg_err *err);

vg_status vg_model_parse(const uint8_t *data, size_t size, const char *name, vg_model **out,
                         vg_err *err) {
    return parse(data, size, name, NULL, NULL, out, err);
}

static vg_status parse(const uint8_t *data, size_t size, const char *name, vg_chunk_cb cb,
                       void *ud, vg_model **out, vg_err *err) {
    *out = NULL;
    bool engine = size >= 8 && memcmp(data, VGE_MAGIC, 8) == 0;
    if (size < 8 || (memcmp(data, VGM_MAGIC, 8) != 0 && !engine))
        return vg_err_set(err, VG_ERR_FORMAT, "%s: not a vigie model (.vgm / .vge) file", name);
    if (size < 20)
        return vg_err_set(err, VG_ERR_FORMAT, "%s: truncated (%zu bytes)", name, size);
    uint32_t version = vg_load_u32(data + 8);
    if (version != VGM_VERSION)
        return vg_err_set(err, VG_ERR_UNSUPPORTED, "%s: format version %u, this vigie reads %u",
                          name, version, VGM_VERSION);
    uint32_t stored = vg_load_u32(data + size - 4), actual = vg_crc32(data, size - 4);
    if (stored != actual)
        return vg_err_set(err, VG_ERR_FORMAT,
                          "%s: checksum mismatch (file truncated or corrupt): stored %08x, "
                          "computed %08x over %zu bytes",
                          name, stored, actual, size - 4);
    vg_model *m = vg_model_new();
    if (!m) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    m->g.n_tensors = 0;
    vg_rd r = vg_rd_make(data, size - 4);
    r.pos = 16;
    unsigned seen = engine ? 8 : 0;
    vg_status st = VG_OK;
    while (st == VG_OK && vg_rd_left(&r) > 0) {
        size_t at = r.pos;
        const uint8_t *tag = vg_rd_span(&r, 4);
        (void)vg_rd_u32(&r);
        uint64_t len = vg_rd_u64(&r);
        if (r.bad || len > vg_rd_left(&r)) {
            st = vg_err_set(err, VG_ERR_FORMAT, "truncated chunk header or length at byte %zu", at);
            break;
        }
        char t[5] = {0};
        memcpy(t, tag, 4);
        vg_rd sub = vg_rd_make(vg_rd_span(&r, (size_t)len), (size_t)len);
        if (((memcmp(t, "INPT", 4) == 0) && (seen & 1)) ||
            ((memcmp(t, "GRPH", 4) == 0) && (seen & 2)) ||
            ((memcmp(t, "PARM", 4) == 0) && ((seen & 4) || engine)) ||
            ((memcmp(t, "LABL", 4) == 0) && m->labels))
            st = vg_err_set(err, VG_ERR_FORMAT, "duplicate chunk %s at byte %zu", t, at);
        else
            st = parse_chunk(m, t, &sub, &seen, cb, ud, err);
    }
    if (st == VG_OK && (seen & 7) != 7)
        st = vg_err_set(err, VG_ERR_FORMAT, "missing %s chunk",
                        !(seen & 1) ? "input" : !(seen & 2) ? "graph" : "parameter");
    if (st == VG_OK) {
        for (int i = 0; i < m->n_labels; i++)
            if (!m->labels[i]) st = vg_err_set(err, VG_ERR_FORMAT, "label %d missing", i);
    }
    /* an engine's int8 weights come from its decoded weights: sizes checked first */
    if (st == VG_OK && engine && m->q) {
        st = vg_model_validate(m, err);
        if (st == VG_OK) st = vg_engine_rebuild_w8(m, err);
    }
    if (st == VG_OK) st = vg_model_validate(m, err);
    if (st != VG_OK) {
        vg_err_prefix(err, name);
        vg_model_free(m);
        return st;
    }
    m->file_bytes = (int64_t)size;
    m->engine = engine;
    if (engine) m->eng.total = (int64_t)size; /* the rest counted as WENC was read */
    *out = m;
    return VG_OK;
}

vg_status vg_model_load(const char *path, vg_model **out, vg_err *err) {
    return vg_model_load_ex(path, NULL, NULL, out, err);
}

vg_status vg_model_load_ex(const char *path, vg_chunk_cb cb, void *ud, vg_model **out,
                           vg_err *err) {
    *out = NULL;
    uint8_t *data;
    size_t size;
    vg_status st = vg_file_read(path, VGM_MAX_BYTES, &data, &size, err);
    if (st != VG_OK) return st;
    st = parse(data, size, path, cb, ud, out, err);
    free(data);
    return st;
}
