/* fuzz_vgm.c — libFuzzer target for the .vgm loader. The input is the file without its
 * trailing CRC; the target appends the right one, so the fuzzer explores the parser and the
 * validator behind the checksum instead of bouncing off it. Accepted models are run once on a
 * tiny input, since a loaded model must be safe to execute. */
#include "model/model.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (1u << 20)) return 0;
    uint8_t *buf = malloc(size + 4);
    if (!buf) return 0;
    memcpy(buf, data, size);
    uint32_t c = vg_crc32(data, size);
    for (int i = 0; i < 4; i++) buf[size + i] = (uint8_t)(c >> (8 * i));
    vg_model *m = NULL;
    vg_err err;
    if (vg_model_parse(buf, size + 4, "fuzz.vgm", &m, &err) == VG_OK) {
        vg_model_info info;
        vg_model_get_info(m, &info);
        /* bound the work of one run: skip models whose forward pass is expensive */
        if (info.flops < 50 * 1000 * 1000) {
            vg_runner *r = NULL;
            if (vg_runner_init(&r, m, NULL, &err) == VG_OK) {
                size_t n = (size_t)info.input.w * info.input.h * info.input.c;
                float *in = calloc(n, sizeof(float));
                float *out = calloc((size_t)info.n_classes, sizeof(float));
                if (in && out) vg_runner_forward(r, in, out);
                free(in);
                free(out);
            }
            vg_runner_free(r);
        }
    }
    vg_model_free(m);
    free(buf);
    return 0;
}
