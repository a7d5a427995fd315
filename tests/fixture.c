/* fixture.c — reader of the PyTorch reference fixtures (see fixture.h). */
#include "fixture.h"

#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int vg_fixture_load(const char *path, vg_fixture *fx) {
    memset(fx, 0, sizeof *fx);
    uint8_t *data;
    size_t size;
    vg_err err;
    if (vg_file_read(path, 64u << 20, &data, &size, &err) != VG_OK) {
        printf("fixture: %s\n", err.msg);
        return -1;
    }
    vg_rd r = vg_rd_make(data, size);
    char magic[4];
    vg_rd_bytes(&r, magic, 4);
    uint32_t version = vg_rd_u32(&r), n = vg_rd_u32(&r);
    if (r.bad || memcmp(magic, "VGFX", 4) != 0 || version != 1 || n > 10000) {
        printf("fixture: %s: bad header\n", path);
        free(data);
        return -1;
    }
    fx->t = calloc(n ? n : 1, sizeof(vg_fx_tensor));
    for (uint32_t i = 0; fx->t && i < n && !r.bad; i++) {
        vg_fx_tensor *t = &fx->t[i];
        uint32_t len = vg_rd_u32(&r);
        if (len >= sizeof t->name) r.bad = true;
        else vg_rd_bytes(&r, t->name, len);
        t->ndim = (int)vg_rd_u32(&r);
        if (t->ndim > 8) r.bad = true;
        t->count = 1;
        for (int d = 0; d < t->ndim && !r.bad; d++) {
            t->dims[d] = (int)vg_rd_u32(&r);
            t->count *= (size_t)t->dims[d];
        }
        if (r.bad || t->count > vg_rd_left(&r) / 4) {
            r.bad = true;
            break;
        }
        t->data = malloc(t->count * 4 + 4);
        if (!t->data) r.bad = true;
        else vg_rd_bytes(&r, t->data, t->count * 4);
        fx->n = (int)i + 1;
    }
    free(data);
    if (!fx->t || r.bad || vg_rd_left(&r) != 0) {
        printf("fixture: %s: truncated or corrupt\n", path);
        vg_fixture_free(fx);
        return -1;
    }
    return 0;
}

void vg_fixture_free(vg_fixture *fx) {
    for (int i = 0; fx->t && i < fx->n; i++) free(fx->t[i].data);
    free(fx->t);
    memset(fx, 0, sizeof *fx);
}

const vg_fx_tensor *vg_fixture_get(const vg_fixture *fx, const char *name, size_t count) {
    for (int i = 0; i < fx->n; i++) {
        if (strcmp(fx->t[i].name, name) != 0) continue;
        if (count && fx->t[i].count != count) {
            printf("fixture: %s has %zu elements, expected %zu\n", name, fx->t[i].count, count);
            return NULL;
        }
        return &fx->t[i];
    }
    printf("fixture: no tensor named %s\n", name);
    return NULL;
}

void vg_fx_oihw_to_ohwi(const float *src, int o, int i, int kh, int kw, float *dst) {
    for (int a = 0; a < o; a++)
        for (int b = 0; b < i; b++)
            for (int y = 0; y < kh; y++)
                for (int x = 0; x < kw; x++)
                    dst[((a * kh + y) * kw + x) * i + b] = src[((a * i + b) * kh + y) * kw + x];
}

void vg_fx_dw_to_hwc(const float *src, int c, int kh, int kw, float *dst) {
    for (int a = 0; a < c; a++)
        for (int y = 0; y < kh; y++)
            for (int x = 0; x < kw; x++) dst[(y * kw + x) * c + a] = src[(a * kh + y) * kw + x];
}

void vg_fx_nchw_to_nhwc(const float *src, int n, int c, int h, int w, float *dst) {
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    dst[((size_t)(b * h + y) * w + x) * c + ch] =
                        src[((size_t)(b * c + ch) * h + y) * w + x];
}
