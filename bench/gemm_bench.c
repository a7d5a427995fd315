/* gemm_bench.c — GFLOP/s of the GEMM micro-kernels on MobileNetV2's pointwise shapes
 * (M = pixels, N = output channels, K = input channels), 1 thread. `make bench-gemm`. */
#include "cpu/gemm.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    static const int shapes[][3] = {
        {12544, 32, 32}, {12544, 16, 32}, {12544, 96, 16}, {3136, 144, 24}, {3136, 24, 144},
        {784, 192, 32},  {784, 32, 192},  {196, 384, 64},  {196, 64, 384},  {196, 96, 576},
        {49, 960, 160},  {49, 160, 960},  {49, 320, 960},  {49, 1280, 320},
    };
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    vg_pool *pool = vg_pool_new(threads);
    vg_gemm_ws *ws = vg_gemm_ws_new(threads);
    const vg_ukernel *uks[] = {vg_ukernel_avx512(), vg_ukernel_avx2(), vg_ukernel_scalar()};
    printf("%-18s", "M x N x K");
    for (int u = 0; u < 3; u++)
        if (uks[u]) printf(" %10s", uks[u]->name);
    printf("   (GFLOP/s, %d thread%s)\n", threads, threads > 1 ? "s" : "");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        float *a = malloc(sizeof(float) * (size_t)m * k), *b = malloc(sizeof(float) * (size_t)n * k);
        float *c = malloc(sizeof(float) * (size_t)m * n), *bias = calloc((size_t)n, 4);
        for (size_t i = 0; i < (size_t)m * k; i++) a[i] = (float)(i % 7) * 0.1f;
        for (size_t i = 0; i < (size_t)n * k; i++) b[i] = (float)(i % 5) * 0.1f;
        printf("%5d x %4d x %4d", m, n, k);
        for (int u = 0; u < 3; u++) {
            if (!uks[u]) continue;
            vg_gemm_epi epi = {bias, VG_ACT_RELU6, false};
            double best = 1e9;
            for (int r = 0; r < 20; r++) {
                double t0 = vg_time_now();
                vg_gemm(uks[u], pool, ws, false, true, m, n, k, a, k, b, k, c, n, &epi);
                double t = vg_time_now() - t0;
                if (t < best) best = t;
            }
            printf(" %10.1f", 2.0 * m * n * k / best / 1e9);
        }
        printf("\n");
        free(a), free(b), free(c), free(bias);
    }
    vg_gemm_ws_free(ws);
    vg_pool_free(pool);
    return 0;
}
