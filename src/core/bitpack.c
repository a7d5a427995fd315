/* bitpack.c — fixed-width packing of small indices (codebook entries of weight-shared layers)
 * for the engine file: the writer packs, the loader unpacks untrusted bytes. The stream layout
 * is in bitpack.h. */
#include "core/bitpack.h"

#include "core/core.h"

int vg_cluster_bits(int k) {
    int b = 1;
    while (b < 31 && (1 << b) < k)
        b++;
    return b;
}

/* ceil(n * bits / 8) without forming n * bits */
static uint64_t packed_bytes(int64_t n, int bits) {
    uint64_t q = (uint64_t)n / 8, r = (uint64_t)n % 8;
    return q * (uint64_t)bits + (r * (uint64_t)bits + 7) / 8;
}

size_t vg_bitpack_size(int64_t n, int bits) {
    VG_ASSERT(n >= 0 && bits >= 1 && bits <= 8);
    return (size_t)packed_bytes(n, bits);
}

void vg_bitpack(const uint8_t *idx, int64_t n, int bits, uint8_t *out) {
    VG_ASSERT(n >= 0 && bits >= 1 && bits <= 8);
    uint32_t acc = 0; /* pending bits, at most 7 + 8 */
    int nb = 0;
    size_t o = 0;
    for (int64_t i = 0; i < n; i++) {
        VG_ASSERT((idx[i] >> bits) == 0);
        acc |= (uint32_t)idx[i] << nb;
        nb += bits;
        while (nb >= 8) {
            out[o++] = (uint8_t)acc;
            acc >>= 8;
            nb -= 8;
        }
    }
    if (nb > 0) out[o] = (uint8_t)acc;
}

vg_status vg_bitunpack(const uint8_t *in, size_t in_size, int64_t n, int bits, int k, uint8_t *idx,
                       vg_err *err) {
    if (bits < 1 || bits > 8)
        return vg_err_set(err, VG_ERR_ARG, "bitunpack: %d bits per index (expected 1..8)", bits);
    if (k < 1 || k > VG_CODEBOOK_MAX)
        return vg_err_set(err, VG_ERR_ARG, "bitunpack: k = %d is out of range 1..%d", k,
                          VG_CODEBOOK_MAX);
    if (n < 0) return vg_err_set(err, VG_ERR_ARG, "bitunpack: n = %lld is negative", (long long)n);
    uint64_t need = packed_bytes(n, bits);
    if ((uint64_t)in_size != need)
        return vg_err_set(err, VG_ERR_FORMAT,
                          "bitunpack: %zu bytes for %lld indices of %d bits (expected %llu)",
                          in_size, (long long)n, bits, (unsigned long long)need);
    uint32_t acc = 0, mask = (1u << bits) - 1;
    int nb = 0;
    size_t p = 0;
    for (int64_t i = 0; i < n; i++) {
        if (nb < bits) {
            acc |= (uint32_t)in[p++] << nb;
            nb += 8;
        }
        uint32_t v = acc & mask;
        acc >>= bits;
        nb -= bits;
        if (v >= (uint32_t)k)
            return vg_err_set(err, VG_ERR_FORMAT, "bitunpack: index %lld is %u, not below k = %d",
                              (long long)i, v, k);
        idx[i] = (uint8_t)v;
    }
    if (acc != 0)
        return vg_err_set(err, VG_ERR_FORMAT, "bitunpack: padding bits of the last byte are not 0");
    return VG_OK;
}
