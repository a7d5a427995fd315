/* yamlx.c — shared helpers of the YAML readers (yamlx.h). */
#include "train/yamlx.h"

#include <stdarg.h>
#include <string.h>
#include <strings.h>

vg_status vg_yaml_err(const vg_yctx *y, const yaml_node_t *n, const char *key, const char *fmt,
                      ...) {
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return vg_err_set(y->err, VG_ERR_FORMAT, "%s:%lu:%lu: %s%s%s", y->file,
                      (unsigned long)(n ? n->start_mark.line + 1 : 0),
                      (unsigned long)(n ? n->start_mark.column + 1 : 0), key ? key : "",
                      key ? ": " : "", msg);
}

const char *vg_yaml_scalar(const yaml_node_t *n) {
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

bool vg_yaml_null(const yaml_node_t *n) {
    const char *v = vg_yaml_scalar(n);
    return v && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (!v[0] || strcmp(v, "~") == 0 || strcasecmp(v, "null") == 0);
}
