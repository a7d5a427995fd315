/* fuzz_image.c — libFuzzer target for the image decoders: any bytes must give an image or an
 * error, never a crash, a leak or an over-read; a decoded image must also survive a resize
 * to an odd size. Build with `make fuzz`, run e.g.
 *     build-fuzz/fuzz_image -max_total_time=60 -rss_limit_mb=2048 CORPUS_DIR */
#include "vigie.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vg_image img;
    vg_err err;
    if (vg_image_decode(data, size, "fuzz", &img, &err) != VG_OK) return 0;
    vg_image small;
    if (vg_image_resize(&img, 37, 23, &small, &err) == VG_OK) vg_image_free(&small);
    vg_image_free(&img);
    return 0;
}
