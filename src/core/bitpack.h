/* bitpack.h — fixed-width packing of codebook indices (uint8_t, below VG_CODEBOOK_MAX) for
 * storage in engine files: the weight-sharing writer (compress/) packs, the engine loader
 * (model/vge.c) unpacks, so the layout lives below both. */
#ifndef VG_BITPACK_H
#define VG_BITPACK_H

#include "vigie.h"

#include <stddef.h>
#include <stdint.h>

#define VG_CODEBOOK_MAX 256 /* entries of a codebook: indices are uint8_t */

/* Bit packing of the indices for storage.
 * Index i occupies bits [i*bits, (i+1)*bits) of the stream, least significant bit first; bit b
 * of the stream is bit (b % 8) of byte b / 8 (little-endian bit order). The last byte's unused
 * high bits are 0. E.g. bits 3, indices {1, 2, 3} -> bytes {0xD1, 0x00}. */
int vg_cluster_bits(int k);                  /* ceil(log2 k), at least 1 */
size_t vg_bitpack_size(int64_t n, int bits); /* ceil(n * bits / 8) bytes */
/* bits in 1..8, every idx[i] < 2^bits; out has vg_bitpack_size(n, bits) bytes. */
void vg_bitpack(const uint8_t *idx, int64_t n, int bits, uint8_t *out);
/* The inverse, for untrusted input: VG_ERR_FORMAT unless in_size is exactly
 * vg_bitpack_size(n, bits), the padding bits are 0 and every index is < k; VG_ERR_ARG for bits
 * outside 1..8, k outside 1..VG_CODEBOOK_MAX or n < 0. idx is unspecified on error. */
vg_status vg_bitunpack(const uint8_t *in, size_t in_size, int64_t n, int bits, int k, uint8_t *idx,
                       vg_err *err);

#endif
