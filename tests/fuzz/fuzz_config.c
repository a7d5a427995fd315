/* fuzz_config.c — libFuzzer target for the service configuration parser (watch/config.c,
 * vg_service_cfg_parse): any bytes as a YAML file. Checked beyond "no crash, no leak, no UB":
 * an accepted file has a model, 1..VG_SERVICE_MAX_CAMERAS cameras with distinct names and a
 * source each, levels in range, masks of 3..VG_MASK_MAX_POINTS points in 0..1; an error has a
 * non-empty message within VG_ERR_MSG_SIZE. A violation abort()s, so libFuzzer reports it. */
#include "vigie.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vg_service_cfg c;
    vg_err err;
    memset(&err, 0, sizeof err);
    if (vg_service_cfg_parse((const char *)data, size, "fuzz/c.yaml", &c, &err) != VG_OK) {
        if (!memchr(err.msg, 0, sizeof err.msg) || !err.msg[0]) abort();
        return 0;
    }
    if (!c.model || c.n_cameras < 1 || c.n_cameras > VG_SERVICE_MAX_CAMERAS || c.threads < 1)
        abort();
    for (int i = 0; i < c.n_cameras; i++) {
        const vg_camera_cfg *k = &c.cameras[i];
        if (!k->name || !k->name[0] || !k->source) abort();
        for (int j = 0; j < i; j++)
            if (!strcmp(k->name, c.cameras[j].name)) abort();
        if (k->alarm.on >= 1 || k->alarm.off >= 1 ||
            (k->alarm.on >= 0 && k->alarm.off > k->alarm.on))
            abort();
        if (k->alarm.window < 1 || k->alarm.window > VG_WATCH_MAX_WINDOW) abort();
        for (int m = 0; m < k->n_masks; m++) {
            if (k->masks[m].n < 3 || k->masks[m].n > VG_MASK_MAX_POINTS) abort();
            for (int p = 0; p < k->masks[m].n; p++)
                if (!(k->masks[m].xy[p][0] >= 0 && k->masks[m].xy[p][0] <= 1 &&
                      k->masks[m].xy[p][1] >= 0 && k->masks[m].xy[p][1] <= 1))
                    abort();
        }
    }
    vg_service_cfg_free(&c);
    return 0;
}
