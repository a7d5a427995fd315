/* fixture.h — reads the reference fixtures written by tools/gen_golden_*.py (format in
 * tools/golden_common.py): named float32 tensors in PyTorch layout. */
#ifndef VG_FIXTURE_H
#define VG_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char name[128];
    int ndim;
    int dims[8];
    size_t count;
    float *data;
} vg_fx_tensor;

typedef struct {
    vg_fx_tensor *t;
    int n;
} vg_fixture;

/* Returns 0 on success; prints the problem and returns -1 otherwise. */
int vg_fixture_load(const char *path, vg_fixture *fx);
void vg_fixture_free(vg_fixture *fx);
/* The named tensor, or NULL (with a message) if absent or if `count` (when nonzero) differs. */
const vg_fx_tensor *vg_fixture_get(const vg_fixture *fx, const char *name, size_t count);

/* Layout conversions from PyTorch to vigie. */
void vg_fx_oihw_to_ohwi(const float *src, int o, int i, int kh, int kw, float *dst);
void vg_fx_dw_to_hwc(const float *src, int c, int kh, int kw, float *dst);
void vg_fx_nchw_to_nhwc(const float *src, int n, int c, int h, int w, float *dst);

#endif
