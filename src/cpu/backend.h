/* backend.h — the table of forward kernels the runner calls. The reference table holds the
 * scalar _ref kernels of src/ops; faster tables (SIMD, per architecture) fill the same slots
 * and are chosen at run time, so model code has no #ifdef. Every table is tested against the
 * reference one. */
#ifndef VG_BACKEND_H
#define VG_BACKEND_H

#include "ops/ops.h"

typedef struct {
    const char *name;
    void (*conv2d)(const vg_conv_desc *d, const float *x, const float *w, const float *b,
                   vg_act act, float *y);
    void (*dwconv)(const vg_conv_desc *d, const float *x, const float *w, const float *b,
                   vg_act act, float *y);
    void (*matmul)(int m, int n, int k, const float *a, const float *b, const float *bias,
                   vg_act act, float *c);
} vg_kernels;

const vg_kernels *vg_kernels_ref(void);
/* The fastest table this CPU supports (VIGIE_KERNELS=ref in the environment forces the
 * reference one). */
const vg_kernels *vg_kernels_best(void);

#endif
