/* yamlx.h — what the readers of YAML files share (libyaml's document API): a document with
 * its file name for messages "file:line:column: key: message", and the scalar helpers. Used
 * by the detection exports' data.yaml (yolo.c) and the service configuration
 * (watch/config.c). */
#ifndef VG_YAMLX_H
#define VG_YAMLX_H

#include "core/core.h"

#include <yaml.h>

typedef struct {
    yaml_document_t *doc;
    const char *file; /* for messages */
    vg_err *err;
} vg_yctx;

/* VG_ERR_FORMAT "file:line:column: key: message" at node n (key may be NULL). */
vg_status vg_yaml_err(const vg_yctx *y, const yaml_node_t *n, const char *key, const char *fmt, ...)
    VG_PRINTF(4, 5);
/* The value of a scalar node, or NULL for another node (or none). */
const char *vg_yaml_scalar(const yaml_node_t *n);
/* A plain null: ~, null, or nothing. */
bool vg_yaml_null(const yaml_node_t *n);

#endif
