/* huff.c — canonical Huffman coding of index streams (see huff.h).
 *
 * The alphabet is at most 256 symbols, so the tree is built by repeatedly picking the two
 * lightest live nodes in a plain scan (O(k^2), microseconds), and the decoder is a 256-entry
 * table on the next 8 stream bits (every code of a 16-value layer fits) with the canonical
 * bit-by-bit walk for longer codes and for the stream's last bits. */
#include "core/huff.h"

#include "core/core.h"

#include <stdbool.h>
#include <string.h>

#define FAST_BITS 8

/* depths of a plain Huffman tree over the used symbols; returns the deepest */
static int tree_depths(const uint64_t *f, int k, uint8_t *len) {
    uint64_t w[2 * VG_HUFF_MAX_SYMBOLS];
    int parent[2 * VG_HUFF_MAX_SYMBOLS];
    bool live[2 * VG_HUFF_MAX_SYMBOLS];
    int nodes = k, used = 0;
    for (int s = 0; s < k; s++) {
        w[s] = f[s], parent[s] = -1, live[s] = f[s] > 0;
        used += live[s];
        len[s] = 0;
    }
    if (used == 1)
        for (int s = 0; s < k; s++)
            if (live[s]) len[s] = 1;
    if (used <= 1) return used;
    for (int m = 0; m < used - 1; m++) {
        int a = -1, b = -1; /* lightest, second lightest; ties to the lower node */
        for (int i = 0; i < nodes; i++) {
            if (!live[i]) continue;
            if (a < 0 || w[i] < w[a]) b = a, a = i;
            else if (b < 0 || w[i] < w[b]) b = i;
        }
        w[nodes] = w[a] + w[b], parent[nodes] = -1, live[nodes] = true;
        parent[a] = parent[b] = nodes, live[a] = live[b] = false;
        nodes++;
    }
    int deepest = 0;
    for (int s = 0; s < k; s++) {
        if (!f[s]) continue;
        int d = 0;
        for (int x = s; parent[x] >= 0; x = parent[x]) d++;
        len[s] = (uint8_t)(d > 255 ? 255 : d);
        if (d > deepest) deepest = d;
    }
    return deepest;
}

void vg_huff_lengths(const uint64_t *freq, int k, uint8_t *len) {
    VG_ASSERT(k >= 1 && k <= VG_HUFF_MAX_SYMBOLS);
    uint64_t f[VG_HUFF_MAX_SYMBOLS];
    memcpy(f, freq, sizeof(uint64_t) * (size_t)k);
    /* halving (keeping used symbols at >= 1) ends with all-equal weights at worst: depth 8 */
    while (tree_depths(f, k, len) > VG_HUFF_MAX_LEN)
        for (int s = 0; s < k; s++)
            if (f[s]) f[s] = (f[s] >> 1) | 1;
}

vg_status vg_huff_check(const uint8_t *len, int k, vg_err *err) {
    if (k < 1 || k > VG_HUFF_MAX_SYMBOLS)
        return vg_err_set(err, VG_ERR_ARG, "huffman: %d symbols (expected 1..%d)", k, VG_HUFF_MAX_SYMBOLS);
    uint32_t kraft = 0; /* in units of 2^-MAX_LEN */
    for (int s = 0; s < k; s++) {
        if (len[s] > VG_HUFF_MAX_LEN)
            return vg_err_set(err, VG_ERR_FORMAT, "huffman: symbol %d has a %d-bit code (at most %d)", s,
                              len[s], VG_HUFF_MAX_LEN);
        if (len[s]) kraft += 1u << (VG_HUFF_MAX_LEN - len[s]);
    }
    if (kraft > 1u << VG_HUFF_MAX_LEN)
        return vg_err_set(err, VG_ERR_FORMAT, "huffman: code lengths over-subscribed");
    return VG_OK;
}

/* canonical codes (most significant bit first) of every used symbol */
static void canonical(const uint8_t *len, int k, uint16_t *code) {
    int count[VG_HUFF_MAX_LEN + 1] = {0};
    for (int s = 0; s < k; s++) count[len[s]]++;
    count[0] = 0;
    uint32_t next[VG_HUFF_MAX_LEN + 1], c = 0;
    for (int l = 1; l <= VG_HUFF_MAX_LEN; l++) {
        c = (c + (uint32_t)count[l - 1]) << 1;
        next[l] = c;
    }
    for (int s = 0; s < k; s++) code[s] = len[s] ? (uint16_t)next[len[s]]++ : 0;
}

static uint32_t reverse(uint32_t v, int bits) {
    uint32_t r = 0;
    for (int i = 0; i < bits; i++) r = (r << 1) | ((v >> i) & 1);
    return r;
}

size_t vg_huff_size(const uint8_t *idx, int64_t n, const uint8_t *len) {
    uint64_t bits = 0;
    for (int64_t i = 0; i < n; i++) bits += len[idx[i]];
    return (size_t)((bits + 7) / 8);
}

void vg_huff_encode(const uint8_t *idx, int64_t n, const uint8_t *len, int k, uint8_t *out) {
    uint16_t code[VG_HUFF_MAX_SYMBOLS];
    uint32_t rev[VG_HUFF_MAX_SYMBOLS];
    canonical(len, k, code);
    for (int s = 0; s < k; s++) rev[s] = reverse(code[s], len[s]);
    uint64_t acc = 0; /* pending bits, at most 7 + 15 */
    int nb = 0;
    size_t o = 0;
    for (int64_t i = 0; i < n; i++) {
        int s = idx[i];
        VG_ASSERT(s < k && len[s] > 0);
        acc |= (uint64_t)rev[s] << nb;
        nb += len[s];
        while (nb >= 8) {
            out[o++] = (uint8_t)acc;
            acc >>= 8;
            nb -= 8;
        }
    }
    if (nb > 0) out[o] = (uint8_t)acc;
}

vg_status vg_huff_decode(const uint8_t *in, size_t in_size, int64_t n, const uint8_t *len, int k,
                         uint8_t *idx, vg_err *err) {
    vg_status st = vg_huff_check(len, k, err);
    if (st != VG_OK) return st;
    if (n < 0) return vg_err_set(err, VG_ERR_ARG, "huffman: n = %lld is negative", (long long)n);
    /* symbols in code order, and how many codes of each length */
    int count[VG_HUFF_MAX_LEN + 1] = {0}, used = 0;
    uint8_t sorted[VG_HUFF_MAX_SYMBOLS];
    for (int l = 1; l <= VG_HUFF_MAX_LEN; l++)
        for (int s = 0; s < k; s++)
            if (len[s] == l) sorted[used++] = (uint8_t)s, count[l]++;
    if (n > 0 && used == 0) return vg_err_set(err, VG_ERR_FORMAT, "huffman: %lld indices but no code", (long long)n);
    /* fast table: next FAST_BITS stream bits -> symbol << 4 | length, 0 = walk the code */
    uint16_t fast[1 << FAST_BITS];
    memset(fast, 0, sizeof fast);
    uint16_t code[VG_HUFF_MAX_SYMBOLS];
    canonical(len, k, code);
    for (int s = 0; s < k; s++) {
        if (!len[s] || len[s] > FAST_BITS) continue;
        uint32_t r = reverse(code[s], len[s]);
        for (uint32_t hi = 0; hi < 1u << (FAST_BITS - len[s]); hi++)
            fast[r | hi << len[s]] = (uint16_t)(s << 4 | len[s]);
    }
    uint64_t acc = 0;
    int nb = 0;
    size_t p = 0;
    for (int64_t i = 0; i < n; i++) {
        while (nb <= 56 && p < in_size) {
            acc |= (uint64_t)in[p++] << nb;
            nb += 8;
        }
        uint16_t e = fast[acc & ((1u << FAST_BITS) - 1)];
        if (e && (e & 15) <= nb) {
            idx[i] = (uint8_t)(e >> 4);
            acc >>= e & 15, nb -= e & 15;
            continue;
        }
        /* canonical walk: codes of length l are first .. first + count[l] - 1 */
        uint32_t c = 0, first = 0;
        int index = 0, l = 1;
        for (; l <= VG_HUFF_MAX_LEN; l++) {
            if (nb == 0)
                return vg_err_set(err, VG_ERR_FORMAT, "huffman: stream ends at index %lld of %lld",
                                  (long long)i, (long long)n);
            c |= (uint32_t)(acc & 1);
            acc >>= 1, nb--;
            if (c < first + (uint32_t)count[l]) break;
            index += count[l];
            if (index == used) { /* an incomplete code's unused prefix: no longer code */
                l = VG_HUFF_MAX_LEN + 1;
                break;
            }
            first = (first + (uint32_t)count[l]) << 1;
            c <<= 1;
        }
        if (l > VG_HUFF_MAX_LEN)
            return vg_err_set(err, VG_ERR_FORMAT, "huffman: no code matches at index %lld", (long long)i);
        idx[i] = sorted[index + (int)(c - first)];
    }
    /* nothing after the n-th code but the last byte's zero padding */
    if (p != in_size || nb >= 8 || acc != 0)
        return vg_err_set(err, VG_ERR_FORMAT, "huffman: %zu bytes hold more than %lld indices", in_size,
                          (long long)n);
    return VG_OK;
}
