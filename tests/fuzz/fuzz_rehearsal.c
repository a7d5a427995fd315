/* fuzz_rehearsal.c — libFuzzer target for the rehearsal chunk of adapted models
 * (train/rehearsal.c, vg_rehearsal_decode): any bytes as the chunk's payload. Beyond "no
 * crash, no leak, no UB": an accepted payload re-encodes to exactly the same bytes, and its
 * rows' classes are below its class count; an error has a non-empty message. A violation
 * abort()s, so libFuzzer reports it. */
#include "train/rehearsal.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vg_rehearsal r;
    vg_err err;
    memset(&err, 0, sizeof err);
    if (vg_rehearsal_decode(data, size, &r, &err) != VG_OK) {
        if (!memchr(err.msg, 0, sizeof err.msg) || !err.msg[0]) abort();
        return 0;
    }
    for (int i = 0; i < r.n; i++)
        if (r.label[i] >= r.n_classes || r.guard[i] > 1) abort();
    uint8_t *buf = NULL;
    size_t n = 0;
    if (vg_rehearsal_encode(&r, &buf, &n, &err) == VG_OK && (n != size || memcmp(buf, data, n)))
        abort();
    free(buf);
    vg_rehearsal_free(&r);
    return 0;
}
