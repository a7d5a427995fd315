/* backend.c — kernel tables and their run-time selection. */
#include "cpu/backend.h"

#include <stdlib.h>
#include <string.h>

static const vg_kernels ref_table = {
    .name = "ref",
    .conv2d = vg_conv2d_ref,
    .dwconv = vg_dwconv_ref,
    .matmul = vg_matmul_ref,
};

const vg_kernels *vg_kernels_ref(void) { return &ref_table; }

const vg_kernels *vg_kernels_best(void) {
    const char *force = getenv("VIGIE_KERNELS");
    if (force && strcmp(force, "ref") == 0) return &ref_table;
    return &ref_table;
}
