/* peak.c — a measurement of this CPU's single-thread multiply-add peak with the widest vectors
 * vigie uses, so that profiles can say what fraction of the machine a layer reaches. Sixteen
 * independent FMA chains cover the latency x ports of current cores. */
#include "cpu/backend.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

__attribute__((target("avx512f"))) static double peak_avx512(long iters) {
    __m512 a[16];
    for (int i = 0; i < 16; i++) a[i] = _mm512_set1_ps(0.001f * (float)i);
    __m512 b = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(0.0001f);
    double t0 = vg_time_now();
    for (long k = 0; k < iters; k++) {
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) a[i] = _mm512_fmadd_ps(a[i], b, c);
    }
    double t = vg_time_now() - t0;
    volatile float sink = 0;
    for (int i = 0; i < 16; i++) sink += _mm512_reduce_add_ps(a[i]);
    (void)sink;
    return (double)iters * 16 * 16 * 2 / t / 1e9;
}

__attribute__((target("avx2,fma"))) static double peak_avx2(long iters) {
    __m256 a[16];
    for (int i = 0; i < 16; i++) a[i] = _mm256_set1_ps(0.001f * (float)i);
    __m256 b = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(0.0001f);
    double t0 = vg_time_now();
    for (long k = 0; k < iters; k++) {
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) a[i] = _mm256_fmadd_ps(a[i], b, c);
    }
    double t = vg_time_now() - t0;
    float f[8];
    volatile float sink = 0;
    for (int i = 0; i < 16; i++) {
        _mm256_storeu_ps(f, a[i]);
        sink += f[0];
    }
    (void)sink;
    return (double)iters * 16 * 8 * 2 / t / 1e9;
}
#endif

double vg_cpu_peak_gflops(void) {
    const char *k = vg_kernels_best()->name;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double g = 0;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
        if (strcmp(k, "avx512") == 0) g = peak_avx512(2000000);
        else if (strcmp(k, "avx2") == 0) g = peak_avx2(2000000);
#endif
        if (g > best) best = g;
    }
    (void)k;
    return best; /* 0 when unknown (scalar / reference kernels) */
}
