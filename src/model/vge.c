/* vge.c — the weights of an engine file (.vge), the deployable form `vigie optimize` writes:
 * the same container as .vgm (vgm.c: magic "VIGIEVGE", chunks, crc32) with the float
 * parameter chunk replaced by WENC, where each weight tensor is stored in the smallest of a
 * few lossless encodings, and the int8 chunk (QENG) without its weight bytes (they are rebuilt
 * from the decoded weights and the per-channel scales, exactly as the optimizer made them).
 *
 * WENC: u64 n_params, u32 n_segments, then segments that tile the arena in order:
 *   u8 enc  u8 flags  u16 k  u32 node  u64 offset  u64 count  payload
 *   enc F32     count floats
 *   enc I8      count int8 (the node's int8 weights; floats = q * channel scale)
 *   enc CLUSTER k float centroids, then count indices bit-packed (ceil(log2 k) bits each)
 *   enc SHARED  k float centroids, rows float scales, packed indices: w = centroid x row scale
 *               (weight sharing with a scale per output channel; u32 node's rows = count / row)
 *   enc BIAS_Q  nothing: a bias of the int8 form, float = int32 bias x input scale x weight scale
 *   flags SPARSE: first a bitmap of count bits (1 = non-zero), then the payload holds only
 *   the non-zero elements (F32, I8, CLUSTER).
 *   flags HUFF (CLUSTER, SHARED): the indices are not bit-packed but Huffman-coded (huff.h):
 *   k bytes of code lengths, u64 stream bytes, the stream. The writer takes it when smaller.
 * A clustered layer (k-means weight sharing) has at most k distinct values, a pruned one
 * mostly zeros, and its clusters are unevenly filled: these encodings are what makes such a
 * model small on disk (pruning, weight sharing and entropy coding: "deep compression"). */
#include "model/model.h"

#include <stdlib.h>
#include <string.h>

#include "core/bitpack.h"
#include "core/huff.h"

enum { ENC_F32 = 0, ENC_I8 = 1, ENC_CLUSTER = 2, ENC_BIAS_Q = 3, ENC_SHARED = 4 };
#define ENC_SPARSE 1u
#define ENC_HUFF 2u
#define SEG_HEADER 24

static int cmp_f32(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* distinct values of w (at most 256), sorted, in cb; returns the count or -1 if more */
static int distinct_values(const float *w, int64_t n, float *cb) {
    int k = 0;
    for (int64_t i = 0; i < n; i++) {
        int lo = 0, hi = k;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (cb[mid] < w[i]) lo = mid + 1;
            else hi = mid;
        }
        if (lo < k && cb[lo] == w[i]) continue;
        if (k == 256) return -1;
        memmove(cb + lo + 1, cb + lo, sizeof(float) * (size_t)(k - lo));
        cb[lo] = w[i];
        k++;
    }
    (void)cmp_f32;
    return k;
}

static int find_value(const float *cb, int k, float v) {
    int lo = 0, hi = k - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (cb[mid] < v) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* The index stream of a clustered segment: bit-packed, or Huffman-coded when that is smaller.
 * Returns its bytes; *huff and len say which and with what code. */
static size_t idx_plan(const uint8_t *idx, int64_t n, int k, bool *huff, uint8_t *len) {
    uint64_t f[VG_HUFF_MAX_SYMBOLS] = {0};
    for (int64_t i = 0; i < n; i++) f[idx[i]]++;
    vg_huff_lengths(f, k, len);
    size_t packed = vg_bitpack_size(n, vg_cluster_bits(k));
    size_t coded = n > 0 ? (size_t)k + 8 + vg_huff_size(idx, n, len) : SIZE_MAX;
    *huff = coded < packed;
    return *huff ? coded : packed;
}

static void idx_write(vg_wr *w, const uint8_t *idx, int64_t n, int k, bool huff, const uint8_t *len) {
    size_t size = huff ? vg_huff_size(idx, n, len) : vg_bitpack_size(n, vg_cluster_bits(k));
    uint8_t *buf = vg_malloc(size + 1);
    if (!buf) {
        w->oom = true;
        return;
    }
    if (huff) {
        vg_huff_encode(idx, n, len, k, buf);
        vg_wr_bytes(w, len, (size_t)k);
        vg_wr_u64(w, (uint64_t)size);
    } else {
        vg_bitpack(idx, n, vg_cluster_bits(k), buf);
    }
    vg_wr_bytes(w, buf, size);
    free(buf);
}

static vg_status idx_read(vg_rd *r, int64_t n, int k, bool huff, uint8_t *idx, vg_err *err) {
    if (huff) {
        const uint8_t *len = vg_rd_span(r, (size_t)k);
        uint64_t size = vg_rd_u64(r);
        const uint8_t *in = !r->bad && len && size <= vg_rd_left(r) ? vg_rd_span(r, (size_t)size) : NULL;
        if (!in) return vg_err_set(err, VG_ERR_FORMAT, "index stream truncated");
        return vg_huff_decode(in, (size_t)size, n, len, k, idx, err);
    }
    int bits = vg_cluster_bits(k);
    size_t pb = vg_bitpack_size(n, bits);
    const uint8_t *pk = vg_rd_span(r, pb);
    if (!pk) return vg_err_set(err, VG_ERR_FORMAT, "index stream truncated");
    return vg_bitunpack(pk, pb, n, bits, k, idx, err);
}

/* the flags each encoding may carry */
static bool flags_ok(int enc, int flags) {
    unsigned allowed = enc == ENC_F32 || enc == ENC_I8 ? ENC_SPARSE
                       : enc == ENC_CLUSTER            ? ENC_SPARSE | ENC_HUFF
                       : enc == ENC_SHARED             ? ENC_HUFF
                                                       : 0;
    return enc >= 0 && enc <= ENC_SHARED && !((unsigned)flags & ~allowed);
}

/* where a segment's payload bytes go (vigie info): the writer and the reader both count
 * through this, so a loaded engine reports what its file holds */
static void tally(vg_engine_sizes *sz, int enc, int flags, uint32_t node, size_t payload) {
    int64_t b = (int64_t)payload;
    if (enc == ENC_F32 && node == 0xffffffffu) sz->other += b; /* biases and the like */
    else if (enc == ENC_F32) sz->f32 += b, sz->f32_layers++;
    else if (enc == ENC_I8) sz->i8 += b, sz->i8_layers++;
    else if (enc == ENC_CLUSTER || enc == ENC_SHARED) sz->cluster += b, sz->cluster_layers++;
    if (flags & ENC_SPARSE) sz->sparse_layers++;
    if (flags & ENC_HUFF) sz->huff_layers++;
}

typedef struct {
    int node;
    int64_t off, n;
    const float *w;
    const int8_t *w8; /* the int8 form's weights, or NULL */
    int co;
    bool bias; /* an int8 bias (stored only in the int8 chunk) */
} wtensor;

/* a weight-sharing layer, when its description reproduces the weights (and int8 weights)
 * exactly: codebook + row scales + packed indices */
static bool write_shared(vg_wr *w, const vg_model *m, const wtensor *t, vg_engine_sizes *sz) {
    const vg_shared_layer *L = NULL;
    for (int i = 0; i < m->n_shared; i++)
        if (m->shared[i].node == t->node) L = &m->shared[i];
    if (!L || L->n != t->n || L->row < 1 || L->n % L->row || L->k < 2 || L->k > 256) return false;
    float *x = vg_malloc(sizeof(float) * (size_t)(t->n ? t->n : 1));
    if (!x) { /* the writer fails (w->oom) rather than pick another encoding */
        w->oom = true;
        return true;
    }
    for (int64_t i = 0; i < t->n; i++)
        if (L->idx[i] >= L->k) {
            free(x);
            return false;
        }
    for (int64_t i = 0; i < t->n; i++) x[i] = L->centroids[L->idx[i]] * L->scale[i / L->row];
    bool same = memcmp(x, t->w, sizeof(float) * (size_t)t->n) == 0;
    if (same && t->w8) {
        int8_t *q = vg_malloc((size_t)t->n);
        if (!q) {
            free(x);
            w->oom = true;
            return true;
        }
        vg_quantize_weights(&m->g.nodes[t->node], x, t->n, t->co, m->q->ws + m->q->s_off[t->node], q);
        same = memcmp(q, t->w8, (size_t)t->n) == 0;
        free(q);
    }
    free(x);
    if (!same) return false;
    bool huff;
    uint8_t len[VG_HUFF_MAX_SYMBOLS];
    idx_plan(L->idx, t->n, L->k, &huff, len);
    size_t start = w->n;
    vg_wr_u8(w, ENC_SHARED), vg_wr_u8(w, huff ? ENC_HUFF : 0);
    vg_wr_u8(w, (uint8_t)(L->k & 0xff)), vg_wr_u8(w, (uint8_t)(L->k >> 8));
    vg_wr_u32(w, (uint32_t)t->node);
    vg_wr_u64(w, (uint64_t)t->off);
    vg_wr_u64(w, (uint64_t)t->n);
    vg_wr_u64(w, (uint64_t)L->row);
    vg_wr_f32s(w, L->centroids, (size_t)L->k);
    vg_wr_f32s(w, L->scale, (size_t)(t->n / L->row));
    idx_write(w, L->idx, t->n, L->k, huff, len);
    if (!w->oom) tally(sz, ENC_SHARED, huff ? ENC_HUFF : 0, (uint32_t)t->node, w->n - start - SEG_HEADER);
    return true;
}

/* bytes of each candidate encoding; the writer takes the smallest valid one */
static void write_segment(vg_wr *w, const vg_model *m, const wtensor *t, vg_engine_sizes *sz) {
    if (write_shared(w, m, t, sz)) return;
    const float *x = t->w;
    int64_t n = t->n, nnz = 0;
    for (int64_t i = 0; i < n; i++) nnz += x[i] != 0.0f;
    float cb[256];
    int k = distinct_values(x, n, cb);
    /* with an int8 form, a codebook is only usable if the int8 weights rebuilt from it are the
     * form's own */
    if (k >= 1 && t->w8) {
        const vg_node *nd = &m->g.nodes[t->node];
        int8_t *q = vg_malloc((size_t)n);
        const float *s = m->q->ws + m->q->s_off[t->node];
        if (!q) { /* an error, not a silently larger file */
            w->oom = true;
            return;
        } else {
            vg_quantize_weights(nd, x, n, t->co, s, q);
            if (memcmp(q, t->w8, (size_t)n) != 0) k = -1;
            free(q);
        }
    }
    if (k == 1) cb[1] = cb[0], k = 2; /* a constant layer still needs a 1-bit index */
    size_t bitmap = (size_t)((n + 7) / 8);
    size_t elem = t->w8 ? 1 : 4;
    /* candidates: dense raw, sparse raw, dense cluster, sparse cluster (indices of all the
     * weights, or of the non-zero ones only: idx[0..n), then sidx[0..nnz)) */
    uint8_t *idx = NULL, *sidx = NULL, len[VG_HUFF_MAX_SYMBOLS], slen[VG_HUFF_MAX_SYMBOLS];
    bool huff = false, shuff = false;
    size_t c_raw = (size_t)n * elem, c_sraw = bitmap + (size_t)nnz * elem;
    size_t c_cl = SIZE_MAX, c_scl = SIZE_MAX;
    if (k > 0) {
        idx = vg_malloc((size_t)(n ? n : 1)), sidx = vg_malloc((size_t)(nnz ? nnz : 1));
        if (!idx || !sidx) {
            free(idx), free(sidx);
            w->oom = true;
            return;
        }
        int64_t j = 0;
        for (int64_t i = 0; i < n; i++) {
            idx[i] = (uint8_t)find_value(cb, k, x[i]);
            if (x[i] != 0.0f) sidx[j++] = idx[i];
        }
        c_cl = (size_t)k * 4 + idx_plan(idx, n, k, &huff, len);
        c_scl = bitmap + (size_t)k * 4 + idx_plan(sidx, nnz, k, &shuff, slen);
    }
    size_t best = c_raw;
    int enc = t->w8 ? ENC_I8 : ENC_F32, flags = 0;
    if (c_sraw < best) best = c_sraw, flags = ENC_SPARSE;
    if (c_cl < best) best = c_cl, enc = ENC_CLUSTER, flags = huff ? ENC_HUFF : 0;
    if (c_scl < best) best = c_scl, enc = ENC_CLUSTER, flags = ENC_SPARSE | (shuff ? ENC_HUFF : 0);
    size_t start = w->n;
    vg_wr_u8(w, (uint8_t)enc);
    vg_wr_u8(w, (uint8_t)flags);
    vg_wr_u8(w, (uint8_t)((enc == ENC_CLUSTER ? k : 0) & 0xff));
    vg_wr_u8(w, (uint8_t)((enc == ENC_CLUSTER ? k : 0) >> 8));
    vg_wr_u32(w, (uint32_t)t->node);
    vg_wr_u64(w, (uint64_t)t->off);
    vg_wr_u64(w, (uint64_t)n);
    if (flags & ENC_SPARSE) {
        uint8_t *bm = vg_calloc(bitmap ? bitmap : 1, 1);
        if (!bm) {
            free(idx), free(sidx);
            w->oom = true;
            return;
        }
        for (int64_t i = 0; i < n; i++)
            if (x[i] != 0.0f) bm[i >> 3] |= (uint8_t)(1u << (i & 7));
        vg_wr_bytes(w, bm, bitmap);
        free(bm);
    }
    bool sp = flags & ENC_SPARSE;
    if (enc == ENC_CLUSTER) {
        for (int c = 0; c < k; c++) vg_wr_f32(w, cb[c]);
        if (sp) idx_write(w, sidx, nnz, k, shuff, slen);
        else idx_write(w, idx, n, k, huff, len);
    } else if (enc == ENC_I8) {
        for (int64_t i = 0; i < n; i++)
            if (!sp || x[i] != 0.0f) vg_wr_u8(w, (uint8_t)t->w8[i]);
    } else {
        for (int64_t i = 0; i < n; i++)
            if (!sp || x[i] != 0.0f) vg_wr_f32(w, x[i]);
    }
    if (!w->oom) tally(sz, enc, flags, (uint32_t)t->node, w->n - start - SEG_HEADER);
    free(idx), free(sidx);
}

vg_status vg_engine_write_weights(const vg_model *m, vg_wr *w, vg_engine_sizes *sz, vg_err *err) {
    const vg_graph *g = &m->g;
    vg_node_geom *geom = vg_malloc(sizeof(vg_node_geom) * (size_t)(g->n_nodes + 1));
    if (!geom) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    vg_status st = vg_graph_infer(g, m->input.h, m->input.w, m->input.c, geom, NULL, err);
    if (st != VG_OK) {
        free(geom);
        return st;
    }
    /* weight tensors by arena offset; everything between them is written raw */
    int nn = g->n_nodes, nt = 0;
    wtensor *ts = vg_calloc(2 * (size_t)nn + 1, sizeof(wtensor));
    if (!ts) {
        free(geom);
        return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    for (int j = 0; j < nn; j++) {
        const vg_node *nd = &g->nodes[j];
        if ((nd->op != VG_OP_CONV && nd->op != VG_OP_DWCONV && nd->op != VG_OP_FC) || nd->w < 0) continue;
        int64_t n = vg_node_weight_count(nd, geom[j].in.c, geom[j].in.h, geom[j].in.w);
        ts[nt++] = (wtensor){j, nd->w, n, g->params + nd->w,
                             m->q && m->q->w_off[j] >= 0 ? m->q->w8 + m->q->w_off[j] : NULL,
                             geom[j].out.c, false};
        /* an int8 model's float biases are its int32 ones dequantized */
        if (m->q && m->q->b_off[j] >= 0 && nd->b >= 0)
            ts[nt++] = (wtensor){j, nd->b, geom[j].out.c, g->params + nd->b, NULL, geom[j].out.c, true};
    }
    /* sort by offset (insertion: few hundred at most) and refuse overlaps */
    for (int i = 1; i < nt; i++)
        for (int j = i; j > 0 && ts[j].off < ts[j - 1].off; j--) {
            wtensor tmp = ts[j];
            ts[j] = ts[j - 1], ts[j - 1] = tmp;
        }
    for (int i = 1; i < nt; i++)
        if (ts[i].off < ts[i - 1].off + ts[i - 1].n) {
            vg_err_set(err, VG_ERR_UNSUPPORTED, "weights of nodes %d and %d share storage",
                       ts[i - 1].node, ts[i].node);
            free(ts), free(geom);
            return VG_ERR_UNSUPPORTED;
        }
    size_t count_pos;
    vg_wr_u64(w, (uint64_t)g->n_params);
    count_pos = w->n;
    vg_wr_u32(w, 0);
    uint32_t segs = 0;
    int64_t at = 0;
    for (int i = 0; i <= nt; i++) {
        int64_t next = i < nt ? ts[i].off : g->n_params;
        if (next > at) { /* biases, batch-norm parameters...: raw floats */
            vg_wr_u8(w, ENC_F32), vg_wr_u8(w, 0), vg_wr_u8(w, 0), vg_wr_u8(w, 0);
            vg_wr_u32(w, 0xffffffffu);
            vg_wr_u64(w, (uint64_t)at);
            vg_wr_u64(w, (uint64_t)(next - at));
            vg_wr_f32s(w, g->params + at, (size_t)(next - at));
            tally(sz, ENC_F32, 0, 0xffffffffu, (size_t)(next - at) * 4);
            segs++;
        }
        if (i == nt) break;
        if (ts[i].bias) {
            vg_wr_u8(w, ENC_BIAS_Q), vg_wr_u8(w, 0), vg_wr_u8(w, 0), vg_wr_u8(w, 0);
            vg_wr_u32(w, (uint32_t)ts[i].node);
            vg_wr_u64(w, (uint64_t)ts[i].off);
            vg_wr_u64(w, (uint64_t)ts[i].n);
        } else {
            write_segment(w, m, &ts[i], sz);
        }
        segs++;
        at = ts[i].off + ts[i].n;
    }
    if (!w->oom)
        for (int b = 0; b < 4; b++) w->p[count_pos + b] = (uint8_t)(segs >> (8 * b));
    free(ts), free(geom);
    return w->oom ? vg_err_set(err, VG_ERR_NOMEM, "out of memory") : VG_OK;
}

/* A first pass over the segments (on a copy of the reader): every segment's payload must be
 * in the chunk and the segments must cover exactly np parameters, before np floats are
 * allocated. Encoded weights take at least one bit each and int8 biases come from the int8
 * chunk, so a hostile header cannot make a small file allocate gigabytes. */
static vg_status wenc_dry_run(vg_rd r, const vg_model *m, uint64_t np, uint32_t segs, vg_err *err) {
    uint64_t at = 0, bias = 0;
    for (uint32_t s = 0; s < segs; s++) {
        int enc = vg_rd_u8(&r), flags = vg_rd_u8(&r);
        int k = vg_rd_u8(&r);
        k |= vg_rd_u8(&r) << 8;
        (void)vg_rd_u32(&r); /* node: checked by the real pass */
        uint64_t off = vg_rd_u64(&r), n = vg_rd_u64(&r);
        if (r.bad || off != at || n > np - at || !flags_ok(enc, flags))
            return vg_err_set(err, VG_ERR_FORMAT, "weights chunk: segment %u malformed", s);
        uint64_t nnz = n;
        if (flags & ENC_SPARSE) {
            const uint8_t *bm = n / 8 < vg_rd_left(&r) ? vg_rd_span(&r, (size_t)((n + 7) / 8)) : NULL;
            if (!bm) return vg_err_set(err, VG_ERR_FORMAT, "weights chunk: segment %u bitmap truncated", s);
            nnz = 0;
            for (uint64_t i = 0; i < n; i++) nnz += (bm[i >> 3] >> (i & 7)) & 1;
        }
        uint64_t need; /* payload bytes */
        if (enc == ENC_BIAS_Q) {
            bias += n;
            if (!m->q || bias > (uint64_t)m->q->n_b32)
                return vg_err_set(err, VG_ERR_FORMAT, "weights chunk: int8 biases beyond the int8 chunk's");
            need = 0;
        } else if (enc == ENC_F32 || enc == ENC_I8) {
            need = nnz * (enc == ENC_F32 ? 4u : 1u);
        } else {
            if (k < 2 || k > 256) return vg_err_set(err, VG_ERR_FORMAT, "weights chunk: segment %u has %d centroids", s, k);
            int bits = vg_cluster_bits(k);
            uint64_t fixed = (uint64_t)k * 4, m_n = nnz; /* centroids (+ row scales); indices */
            if (enc == ENC_SHARED) {
                uint64_t row = vg_rd_u64(&r);
                if (r.bad || row < 1 || n % row)
                    return vg_err_set(err, VG_ERR_FORMAT, "weights chunk: shared segment %u malformed", s);
                fixed += n / row * 4;
            }
            if (flags & ENC_HUFF) {
                /* code lengths, stream bytes, stream: every index takes at least one bit */
                fixed += (uint64_t)k;
                if (fixed > vg_rd_left(&r) || !vg_rd_span(&r, (size_t)fixed))
                    return vg_err_set(err, VG_ERR_FORMAT, "weights chunk: segment %u truncated", s);
                need = vg_rd_u64(&r);
                if (r.bad || need > vg_rd_left(&r) || m_n / 8 > need)
                    return vg_err_set(err, VG_ERR_FORMAT, "weights chunk: segment %u index stream malformed", s);
            } else {
                need = fixed + (m_n * (uint64_t)bits + 7) / 8;
            }
        }
        if (need > vg_rd_left(&r) || (need && !vg_rd_span(&r, (size_t)need)))
            return vg_err_set(err, VG_ERR_FORMAT, "weights chunk: segment %u truncated", s);
        at += n;
    }
    if (at != np)
        return vg_err_set(err, VG_ERR_FORMAT, "weights chunk: segments cover %llu of %llu parameters",
                          (unsigned long long)at, (unsigned long long)np);
    return VG_OK;
}

/* The WENC payload back into m->g.params. I8 segments need the int8 scales (QENG) first. */
vg_status vg_engine_read_weights(vg_model *m, vg_rd *r, vg_err *err) {
    uint64_t np = vg_rd_u64(r);
    uint32_t segs = vg_rd_u32(r);
    if (r->bad || np > (uint64_t)VG_MAX_PARAMS || segs > 2u * VG_MAX_NODES + 1)
        return vg_err_set(err, VG_ERR_FORMAT, "weights chunk: bad counts");
    vg_status dry = wenc_dry_run(*r, m, np, segs, err);
    if (dry != VG_OK) return dry;
    m->g.params = vg_calloc(np ? np : 1, sizeof(float));
    if (!m->g.params) return vg_err_set(err, VG_ERR_NOMEM, "cannot allocate %llu parameters", (unsigned long long)np);
    m->g.n_params = m->g.cap_params = (int64_t)np;
    uint64_t at = 0;
    vg_engine_sizes *sz = &m->eng;
    memset(sz, 0, sizeof *sz);
    for (uint32_t s = 0; s < segs; s++) {
        size_t seg_at = r->pos;
        int enc = vg_rd_u8(r), flags = vg_rd_u8(r);
        int k = vg_rd_u8(r);
        k |= vg_rd_u8(r) << 8;
        uint32_t node = vg_rd_u32(r);
        uint64_t off = vg_rd_u64(r), n = vg_rd_u64(r);
        if (r->bad || off != at || n > np - at || !flags_ok(enc, flags))
            return vg_err_set(err, VG_ERR_FORMAT, "weights chunk: segment %u malformed", s);
        float *x = m->g.params + off;
        const uint8_t *bm = NULL;
        uint64_t nnz = n;
        if (flags & ENC_SPARSE) {
            size_t nb = (size_t)((n + 7) / 8);
            bm = vg_rd_span(r, nb);
            if (!bm) return vg_err_set(err, VG_ERR_FORMAT, "weights chunk: segment %u bitmap truncated", s);
            nnz = 0;
            for (uint64_t i = 0; i < n; i++) nnz += (bm[i >> 3] >> (i & 7)) & 1;
        }
        if (enc == ENC_SHARED) {
            uint64_t row = vg_rd_u64(r);
            if (r->bad || k < 2 || k > 256 || row < 1 || n % row)
                return vg_err_set(err, VG_ERR_FORMAT, "weights chunk: shared segment %u malformed", s);
            float cb[256];
            for (int c = 0; c < k; c++) cb[c] = vg_rd_f32(r);
            uint64_t rows = n / row;
            if (r->bad || rows * 4 > vg_rd_left(r))
                return vg_err_set(err, VG_ERR_FORMAT, "weights chunk: shared segment %u truncated", s);
            const uint8_t *sc = vg_rd_span(r, (size_t)rows * 4);
            uint8_t *idx = vg_malloc(n ? n : 1);
            if (!idx) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
            if (!sc || idx_read(r, (int64_t)n, k, flags & ENC_HUFF, idx, err) != VG_OK) {
                free(idx);
                return vg_err_set(err, VG_ERR_FORMAT, "weights chunk: shared segment %u indices invalid", s);
            }
            for (uint64_t i = 0; i < n; i++) {
                float sv;
                memcpy(&sv, sc + 4 * (i / row), 4);
                x[i] = cb[idx[i]] * sv;
            }
            /* kept, so that the model saves again as it came (and `info` can tell) */
            vg_shared_layer *ns = m->n_shared < VG_MAX_NODES ? vg_realloc(m->shared, sizeof *ns * (size_t)(m->n_shared + 1)) : NULL;
            float *scale = vg_malloc(sizeof(float) * (size_t)rows);
            if (!ns || !scale || node >= (uint32_t)m->g.n_nodes) {
                if (ns) m->shared = ns;
                free(idx), free(scale);
                return node >= (uint32_t)m->g.n_nodes ? vg_err_set(err, VG_ERR_FORMAT, "weights chunk: shared segment %u node", s)
                                                      : vg_err_set(err, VG_ERR_NOMEM, "out of memory");
            }
            m->shared = ns;
            memcpy(scale, sc, (size_t)rows * 4);
            vg_shared_layer *L = &m->shared[m->n_shared++];
            memset(L, 0, sizeof *L);
            L->node = (int)node, L->k = k, L->n = (int64_t)n, L->row = (int64_t)row;
            memcpy(L->centroids, cb, sizeof(float) * (size_t)k);
            L->scale = scale, L->idx = idx;
            tally(sz, enc, flags, node, r->pos - seg_at - SEG_HEADER);
            at += n;
            continue;
        }
        if (enc == ENC_BIAS_Q) {
            /* the int8 chunk's biases of this node; scales of its input tensor and weights */
            const vg_qgraph *q = m->q;
            const vg_node *nd = node < (uint32_t)m->g.n_nodes && m->g.nodes ? &m->g.nodes[node] : NULL;
            if (!q || !nd || nd->b != (int64_t)off || q->b_off[node] < 0 || q->s_off[node] < 0 ||
                q->b_off[node] > q->n_b32 || (int64_t)n > q->n_b32 - q->b_off[node] ||
                q->s_off[node] > q->n_ws || (int64_t)n > q->n_ws - q->s_off[node] || nd->in[0] < 0 ||
                nd->in[0] >= m->g.n_tensors)
                return vg_err_set(err, VG_ERR_FORMAT, "weights chunk: int8 bias segment %u invalid", s);
            float sin = q->t[nd->in[0]].scale;
            for (uint64_t i = 0; i < n; i++)
                x[i] = (float)((double)q->b32[q->b_off[node] + (int64_t)i] * sin * q->ws[q->s_off[node] + (int64_t)i]);
            tally(sz, enc, flags, node, r->pos - seg_at - SEG_HEADER);
            at += n;
            continue;
        }
        const float *scale = NULL;
        int co = 0;
        if (enc == ENC_I8) {
            /* the node's per-channel scales: the int8 chunk must come first */
            if (!m->q || node >= (uint32_t)m->g.n_nodes || !m->g.nodes || m->q->s_off[node] < 0 ||
                m->q->s_off[node] > m->q->n_ws ||
                m->g.nodes[node].w != (int64_t)off)
                return vg_err_set(err, VG_ERR_FORMAT, "weights chunk: int8 segment %u without its scales", s);
            const vg_node *nd = &m->g.nodes[node];
            co = nd->op == VG_OP_DWCONV || nd->op == VG_OP_CONV || nd->op == VG_OP_FC ? 0 : -1;
            if (co < 0) return vg_err_set(err, VG_ERR_FORMAT, "weights chunk: segment %u node", s);
            scale = m->q->ws + m->q->s_off[node];
            /* channels: checked against the graph by the full validation; here only that the
             * scales exist for every element's channel */
            int64_t avail = m->q->n_ws - m->q->s_off[node];
            if (nd->op == VG_OP_DWCONV) {
                /* (kh, kw, c): c = count / (kh kw) */
                int64_t taps = (int64_t)nd->kh * nd->kw;
                if (taps < 1 || (int64_t)n % taps) return vg_err_set(err, VG_ERR_FORMAT, "weights chunk: segment %u shape", s);
                co = (int)((int64_t)n / taps);
            } else {
                co = nd->co;
                if (co < 1 || (int64_t)n % co) return vg_err_set(err, VG_ERR_FORMAT, "weights chunk: segment %u shape", s);
            }
            if (co > avail) return vg_err_set(err, VG_ERR_FORMAT, "weights chunk: segment %u scales", s);
        }
        if (enc == ENC_F32) {
            for (uint64_t i = 0; i < n; i++)
                x[i] = bm && !((bm[i >> 3] >> (i & 7)) & 1) ? 0.0f : vg_rd_f32(r);
        } else if (enc == ENC_I8) {
            const vg_node *nd = &m->g.nodes[node];
            for (uint64_t i = 0; i < n; i++) {
                if (bm && !((bm[i >> 3] >> (i & 7)) & 1)) continue;
                int8_t q = (int8_t)vg_rd_u8(r);
                int c = nd->op == VG_OP_DWCONV ? (int)(i % (uint64_t)co) : (int)(i / (n / (uint64_t)co));
                x[i] = (float)q * scale[c];
            }
        } else {
            if (k < 2 || k > 256) return vg_err_set(err, VG_ERR_FORMAT, "weights chunk: segment %u has %d centroids", s, k);
            float cb[256];
            for (int c = 0; c < k; c++) cb[c] = vg_rd_f32(r);
            uint8_t *idx = vg_malloc(nnz ? nnz : 1);
            if (!idx) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
            if (idx_read(r, (int64_t)nnz, k, flags & ENC_HUFF, idx, err) != VG_OK) {
                free(idx);
                return vg_err_set(err, VG_ERR_FORMAT, "weights chunk: segment %u indices invalid", s);
            }
            uint64_t j = 0;
            for (uint64_t i = 0; i < n; i++)
                x[i] = bm && !((bm[i >> 3] >> (i & 7)) & 1) ? 0.0f : cb[idx[j++]];
            free(idx);
        }
        if (r->bad) return vg_err_set(err, VG_ERR_FORMAT, "weights chunk: segment %u truncated", s);
        tally(sz, enc, flags, node, r->pos - seg_at - SEG_HEADER);
        at += n;
    }
    if (at != np) return vg_err_set(err, VG_ERR_FORMAT, "weights chunk: segments cover %llu of %llu parameters",
                                    (unsigned long long)at, (unsigned long long)np);
    return VG_OK;
}

/* after a validated load: the int8 weights from the decoded floats and the scales */
vg_status vg_engine_rebuild_w8(vg_model *m, vg_err *err) {
    vg_qgraph *q = m->q;
    if (!q) return VG_OK;
    const vg_graph *g = &m->g;
    vg_node_geom *geom = vg_malloc(sizeof(vg_node_geom) * (size_t)(g->n_nodes + 1));
    if (!geom) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    vg_status st = vg_graph_infer(g, m->input.h, m->input.w, m->input.c, geom, NULL, err);
    for (int j = 0; st == VG_OK && j < g->n_nodes; j++) {
        const vg_node *nd = &g->nodes[j];
        if (q->w_off[j] < 0) continue;
        int64_t n = vg_node_weight_count(nd, geom[j].in.c, geom[j].in.h, geom[j].in.w);
        vg_quantize_weights(nd, g->params + nd->w, n, geom[j].out.c, q->ws + q->s_off[j], q->w8 + q->w_off[j]);
    }
    free(geom);
    return st;
}
