/* qdq_run.c — vigie's side of bench/onnx_qdq.py: runs a model on raw input tensors through the
 * public API only, so that vigie and an ONNX evaluator see the very same floats.
 *   qdq_run MODEL PRECISION(float|int8) IN.f32 N OUT.f32
 * IN.f32: N images, float32 (H, W, C) already normalised (vigie's layout); OUT.f32: N x classes
 * probabilities. Built by bench/onnx_qdq.py:
 *   cc -std=c11 -O2 -Iinclude bench/qdq_run.c build/libvigie.a -ljpeg -lpng -lz -lm \
 *      -lprotobuf-c -pthread -o build/qdq_run */
#include "vigie.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: qdq_run MODEL float|int8 IN.f32 N OUT.f32\n");
        return 2;
    }
    vg_err err;
    vg_model *m = NULL;
    if (vg_model_open(argv[1], &m, &err) != VG_OK) {
        fprintf(stderr, "qdq_run: %s\n", err.msg);
        return 1;
    }
    vg_model_info info;
    vg_model_get_info(m, &info);
    vg_runner_opts o = vg_runner_opts_default();
    o.precision = strcmp(argv[2], "int8") ? VG_PRECISION_FLOAT : VG_PRECISION_INT8;
    o.threads = 1;
    vg_runner *r = NULL;
    if (vg_runner_init(&r, m, &o, &err) != VG_OK) {
        fprintf(stderr, "qdq_run: %s\n", err.msg);
        vg_model_free(m);
        return 1;
    }
    long n = atol(argv[4]);
    size_t in = (size_t)info.input.h * info.input.w * info.input.c, nc = (size_t)info.n_classes;
    float *x = malloc(sizeof(float) * in), *y = malloc(sizeof(float) * nc);
    FILE *fi = fopen(argv[3], "rb"), *fo = fopen(argv[5], "wb");
    int rc = !x || !y || !fi || !fo || n < 1;
    for (long i = 0; !rc && i < n; i++) {
        if (fread(x, sizeof(float), in, fi) != in) {
            fprintf(stderr, "qdq_run: %s: short read at image %ld\n", argv[3], i);
            rc = 1;
            break;
        }
        vg_runner_forward(r, x, y);
        rc = fwrite(y, sizeof(float), nc, fo) != nc;
    }
    if (fi) fclose(fi);
    if (fo && fclose(fo)) rc = 1;
    free(x), free(y);
    vg_runner_free(r);
    vg_model_free(m);
    return rc;
}
