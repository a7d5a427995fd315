/* model_arg.c — the MODEL argument shared by predict, info and bench. */
#include "cli.h"


vg_model *cli_load_model(const char *cmd, const char *path) {
    vg_err err;
    vg_model *m = NULL;
    if (vg_model_open(path, &m, &err) != VG_OK) {
        cli_error(cmd, "%s", err.msg);
        return NULL;
    }
    return m;
}
