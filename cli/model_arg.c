/* model_arg.c — the MODEL argument shared by predict, info and bench. */
#include "cli.h"

#include <string.h>

vg_model *cli_load_model(const char *cmd, const char *path) {
    unsigned char head[8] = {0};
    FILE *f = fopen(path, "rb");
    if (f) {
        size_t got = fread(head, 1, sizeof head, f);
        (void)got;
        fclose(f);
    }
    vg_err err;
    vg_model *m = NULL;
    vg_status st = memcmp(head + 4, "TFL3", 4) == 0 ? vg_import_tflite(path, &m, &err)
                                                     : vg_model_load(path, &m, &err);
    if (st != VG_OK) {
        cli_error(cmd, "%s", err.msg);
        return NULL;
    }
    return m;
}
