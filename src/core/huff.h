/* huff.h — canonical Huffman coding of small-alphabet index streams: the last stage of "deep
 * compression" (prune, share weights, then entropy-code the shared-weight indices). k-means
 * leaves the clusters unevenly filled (the ones near zero hold most weights), so a 16-value
 * layer's indices carry about 3.7 bits of information each, not 4.
 *
 * A code is given by one length per symbol (0 = symbol unused, else 1..VG_HUFF_MAX_LEN); codes
 * are assigned canonically: shorter codes first, and within one length in symbol order, each
 * code the previous plus one (shifted left when the length grows). A code's bits go into the
 * stream most significant first; stream bit b is bit (b % 8) of byte b / 8, as in
 * vg_bitpack; the last byte's unused high bits are 0. A stream holding only one symbol uses
 * a 1-bit code (0) for it. */
#ifndef VG_HUFF_H
#define VG_HUFF_H

#include "vigie.h"

#include <stddef.h>
#include <stdint.h>

#define VG_HUFF_MAX_SYMBOLS 256
#define VG_HUFF_MAX_LEN 15

/* Lengths of a Huffman code for freq[0..k), limited to VG_HUFF_MAX_LEN (by flattening the
 * frequencies until the tree is shallow enough: the cost is a fraction of a bit per symbol
 * on the rare skewed layer). k in 1..256; symbols with freq 0 get length 0; if no symbol is
 * used every length is 0. Deterministic: ties go to the lower symbol. */
void vg_huff_lengths(const uint64_t *freq, int k, uint8_t *len);

/* VG_OK when len[0..k) is a usable code: every length <= VG_HUFF_MAX_LEN and the code is not
 * over-subscribed (Kraft sum <= 1); VG_ERR_FORMAT otherwise, VG_ERR_ARG for k outside 1..256. */
vg_status vg_huff_check(const uint8_t *len, int k, vg_err *err);

/* Bytes that encoding idx[0..n) with len takes (every idx[i] must have a length). */
size_t vg_huff_size(const uint8_t *idx, int64_t n, const uint8_t *len);

/* Writes vg_huff_size(idx, n, len) bytes to out; len must pass vg_huff_check. */
void vg_huff_encode(const uint8_t *idx, int64_t n, const uint8_t *len, int k, uint8_t *out);

/* The inverse, for untrusted input: VG_ERR_FORMAT unless len passes vg_huff_check, the stream
 * holds exactly n codes of that code in exactly in_size bytes, and the padding bits are 0.
 * idx is unspecified on error. */
vg_status vg_huff_decode(const uint8_t *in, size_t in_size, int64_t n, const uint8_t *len, int k,
                         uint8_t *idx, vg_err *err);

#endif
