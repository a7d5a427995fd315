/* test_corrupt.c — truncated and bit-flipped model files are refused cleanly: an error status
 * with a message, never a crash, a hang or (under make SAN=1) a sanitizer report.
 *
 * .vgm carries a CRC, so every damaged copy must be refused. TFLite has no checksum: a flip
 * inside the weights yields a different but well-formed model, which may import; what must
 * hold there is "no crash, and if refused then with a message". Truncation must always be
 * refused for both. The CLI does the same checks on the binary in tests/cli_test.sh. */
#include "test.h"

#include "model/model.h"

#include <string.h>

vg_model *vg_test_small_model(void);

typedef vg_status (*parse_fn)(const uint8_t *data, size_t size, vg_model **m, vg_err *err);

static vg_status parse_vgm(const uint8_t *d, size_t n, vg_model **m, vg_err *err) {
    return vg_model_parse(d, n, "cut.vgm", m, err);
}
static vg_status parse_tfl(const uint8_t *d, size_t n, vg_model **m, vg_err *err) {
    return vg_import_tflite_mem(d, n, "cut.tflite", m, err);
}

static void damage(const char *what, const uint8_t *data, size_t size, parse_fn parse,
                   bool flips_must_fail, int n_flips) {
    vg_err err;
    /* sanity: the intact file parses */
    vg_model *m = NULL;
    CHECK(parse(data, size, &m, &err) == VG_OK, "%s intact: %s", what, err.msg);
    vg_model_free(m);
    uint8_t *copy = malloc(size);
    int refused = 0;
    /* 20 truncation points spread over the file, plus the extremes */
    size_t cuts[23];
    for (int k = 0; k < 20; k++) cuts[k] = size * (size_t)(k + 1) / 21;
    cuts[20] = 0;
    cuts[21] = 7;
    cuts[22] = size - 1;
    for (int k = 0; k < 23; k++) {
        memcpy(copy, data, cuts[k]);
        m = NULL;
        err.msg[0] = 0;
        vg_status st = parse(copy, cuts[k], &m, &err);
        CHECK(st != VG_OK && m == NULL && err.msg[0], "%s cut at %zu of %zu accepted", what,
              cuts[k], size);
        vg_model_free(m);
    }
    /* random single-byte flips; half anywhere, half in the first and last 4 KiB where the
     * headers and tables live */
    vg_test_seed(99);
    for (int k = 0; k < n_flips; k++) {
        memcpy(copy, data, size);
        size_t at;
        float u = vg_test_uniform(0, 1);
        if (k % 2 == 0) at = (size_t)(u * (float)size);
        else if (k % 4 == 1) at = (size_t)(u * (float)(size < 4096 ? size : 4096));
        else at = size - 1 - (size_t)(u * (float)(size < 4096 ? size : 4096));
        if (at >= size) at = size - 1;
        uint8_t x = (uint8_t)(1 + (int)(vg_test_uniform(0, 254.99f)));
        copy[at] ^= x;
        m = NULL;
        err.msg[0] = 0;
        vg_status st = parse(copy, size, &m, &err);
        if (st != VG_OK) {
            refused++;
            CHECK(m == NULL && err.msg[0], "%s flip at %zu: error without message", what, at);
        } else if (flips_must_fail) {
            CHECK(false, "%s flip at %zu (^%02x) accepted", what, at, x);
        }
        vg_model_free(m);
    }
    printf("  %s: %d of %d byte flips refused\n", what, refused, n_flips);
    free(copy);
}

void test_corrupt(void) {
    vg_model *m = vg_test_small_model();
    vg_wr w = {0};
    vg_err err;
    CHECK(vg_model_serialize(m, &w, &err) == VG_OK, "serialize");
    damage("small .vgm", w.p, w.n, parse_vgm, true, 200);
    vg_wr_free(&w);
    vg_model_free(m);

    const char *p = vg_test_shared("models/mobilenet_v2_1.0_224_quant.tflite");
    if (!p) return;
    uint8_t *data;
    size_t size;
    if (vg_file_read(p, 1u << 30, &data, &size, &err) != VG_OK) {
        CHECK(false, "%s", err.msg);
        return;
    }
    damage("mobilenet .tflite", data, size, parse_tfl, false, 60);
    /* the imported model as .vgm: every flip refused (CRC) */
    m = NULL;
    if (vg_import_tflite_mem(data, size, p, &m, &err) == VG_OK &&
        vg_model_serialize(m, &w, &err) == VG_OK)
        damage("mobilenet .vgm", w.p, w.n, parse_vgm, true, 40);
    vg_wr_free(&w);
    vg_model_free(m);
    free(data);
}
