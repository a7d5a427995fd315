/* fuzz_tflite.c — libFuzzer target: the TFLite importer on arbitrary bytes must return a
 * status, never crash, hang or read out of bounds. `make fuzz`, then
 * build-fuzz/fuzz_tflite -max_total_time=60 CORPUS_DIR (seed it with a real .tflite). */
#include "model/model.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vg_model *m = NULL;
    vg_err err;
    if (vg_import_tflite_mem(data, size, "fuzz.tflite", &m, &err) == VG_OK) {
        vg_wr w = {0};
        (void)vg_model_serialize(m, &w, &err); /* an imported model must also serialise */
        vg_wr_free(&w);
    }
    vg_model_free(m);
    return 0;
}
