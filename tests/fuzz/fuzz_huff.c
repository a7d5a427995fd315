/* fuzz_huff.c — libFuzzer target for the Huffman index decoder (huff.h), the one stage of an
 * engine file's weights that is a bit-level parser. Input: u8 k-1, k code-length bytes,
 * u16 n, then the stream. Property checked beyond "no crash, no UB": a stream the decoder
 * accepts is canonical, i.e. encoding the decoded indices gives back exactly its bytes. */
#include "core/huff.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int k = data[0] + 1;
    if (size < 1 + (size_t)k + 2) return 0;
    const uint8_t *len = data + 1;
    int64_t n = data[1 + k] | data[2 + k] << 8;
    const uint8_t *in = data + 3 + k;
    size_t in_size = size - 3 - (size_t)k;
    uint8_t *idx = malloc((size_t)n + 1);
    if (!idx) return 0;
    vg_err err;
    if (vg_huff_decode(in, in_size, n, len, k, idx, &err) == VG_OK) {
        size_t re = vg_huff_size(idx, n, len);
        uint8_t *out = malloc(re + 1);
        if (out) {
            vg_huff_encode(idx, n, len, k, out);
            if (re != in_size || memcmp(out, in, re) != 0) abort();
        }
        free(out);
    }
    free(idx);
    return 0;
}
