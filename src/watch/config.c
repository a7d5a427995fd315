/* config.c — the service configuration of `vigie watch --config FILE.yaml` (vigie.h,
 * vg_service_cfg): the model, threads, outputs, MQTT, default alarm settings and a map of
 * cameras, read with Debian's libyaml. Every value is checked here, before anything runs, and
 * every error names file:line:column and the key; unknown keys are errors too (a misspelt
 * "cooldwn" must not silently keep the default). Paths are taken relative to the file's
 * folder, so that /etc/vigie/config.yaml may say "model: fire.vge". */
#include "core/core.h"
#include "train/yamlx.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define CFG_MAX_BYTES (1 << 20) /* a config file is a few KB */

typedef struct {
    vg_yctx y;       /* the document, the file name, the error (train/yamlx.h) */
    const char *dir; /* the file's folder, for relative paths */
} yctx;

#define yerr(c, ...) vg_yaml_err(&(c)->y, __VA_ARGS__)

static yaml_node_t *node(const yctx *y, int id) {
    return yaml_document_get_node(y->y.doc, id);
}

static vg_status get_str(const yctx *y, const yaml_node_t *n, const char *key, char **out) {
    const char *v = vg_yaml_scalar(n);
    if (!v || !v[0]) return yerr(y, n, key, "expected a non-empty string");
    free(*out);
    *out = vg_strdup(v);
    return *out ? VG_OK : vg_err_set(y->y.err, VG_ERR_NOMEM, "out of memory");
}

/* a path: as written when absolute, else relative to the config file's folder */
static vg_status get_path(const yctx *y, const yaml_node_t *n, const char *key, char **out) {
    const char *v = vg_yaml_scalar(n);
    if (!v || !v[0]) return yerr(y, n, key, "expected a path");
    free(*out);
    *out = v[0] == '/' || !y->dir[0] ? vg_strdup(v) : vg_path_join(y->dir, v);
    return *out ? VG_OK : vg_err_set(y->y.err, VG_ERR_NOMEM, "out of memory");
}

static vg_status get_bool(const yctx *y, const yaml_node_t *n, const char *key, bool *out) {
    const char *v = vg_yaml_scalar(n);
    static const char *const t[] = {"true", "yes", "on"}, *const f[] = {"false", "no", "off"};
    for (int i = 0; v && i < 3; i++) {
        if (!strcasecmp(v, t[i])) return *out = true, VG_OK;
        if (!strcasecmp(v, f[i])) return *out = false, VG_OK;
    }
    return yerr(y, n, key, "expected true or false, got '%s'", v ? v : "(not a scalar)");
}

static vg_status get_num(const yctx *y, const yaml_node_t *n, const char *key, double lo, double hi,
                         double *out) {
    const char *v = vg_yaml_scalar(n);
    char *end = NULL;
    double d = v && v[0] ? strtod(v, &end) : NAN;
    if (!v || !v[0] || *end || !isfinite(d))
        return yerr(y, n, key, "expected a number, got '%s'", v ? v : "(not a scalar)");
    if (d < lo || d > hi) return yerr(y, n, key, "%g is out of range (%g .. %g)", d, lo, hi);
    *out = d;
    return VG_OK;
}

static vg_status get_int(const yctx *y, const yaml_node_t *n, const char *key, long lo, long hi,
                         int *out) {
    double d = 0;
    vg_status st = get_num(y, n, key, (double)lo, (double)hi, &d);
    if (st == VG_OK && d != floor(d)) return yerr(y, n, key, "expected a whole number, got %g", d);
    if (st == VG_OK) *out = (int)d;
    return st;
}

/* ---- alarm settings: the keys of `defaults` and, as overrides, of each camera */

static vg_status alarm_key(const yctx *y, const char *k, const yaml_node_t *v, vg_camera_cfg *c,
                           bool *known) {
    double d = 0;
    vg_status st = VG_OK;
    *known = true;
    if (!strcmp(k, "window"))
        st = get_int(y, v, k, 1, VG_WATCH_MAX_WINDOW, &c->alarm.window);
    else if (!strcmp(k, "on") && (st = get_num(y, v, k, 0.001, 0.999, &d)) == VG_OK)
        c->alarm.on = (float)d;
    else if (!strcmp(k, "off") && (st = get_num(y, v, k, 0.001, 0.999, &d)) == VG_OK)
        c->alarm.off = (float)d;
    else if (!strcmp(k, "on") || !strcmp(k, "off"))
        return st;
    else if (!strcmp(k, "min_duration"))
        st = get_num(y, v, k, 0, 86400, &c->alarm.min_duration);
    else if (!strcmp(k, "cooldown"))
        st = get_num(y, v, k, 0, 864000, &c->alarm.cooldown);
    else if (!strcmp(k, "update"))
        st = get_num(y, v, k, 0, 86400, &c->alarm.update_every);
    else if (!strcmp(k, "classes"))
        st = get_str(y, v, k, &c->classes);
    else if (!strcmp(k, "per_class"))
        st = get_bool(y, v, k, &c->per_class);
    else if (!strcmp(k, "fps"))
        st = get_num(y, v, k, 0, 1000, &c->fps);
    else if (!strcmp(k, "stuck_after"))
        st = get_num(y, v, k, 0, 864000, &c->stuck_after);
    else if (!strcmp(k, "tiles")) {
        const char *s = vg_yaml_scalar(v);
        vg_err e;
        if (!s || vg_tiles_parse(s, &c->tile_rows, &c->tile_cols, &e) != VG_OK)
            st = yerr(y, v, k, "%s", s ? e.msg : "expected RxC, e.g. 2x2");
    } else
        *known = false;
    return st;
}

/* A URL source: a scheme FFmpeg reads cameras and streams with, and something after it (a
 * mistyped scheme would otherwise only show as a camera that never connects). */
static vg_status check_uri(const yctx *y, const yaml_node_t *v, const char *src) {
    const char *sep = strstr(src, "://");
    if (!sep) return VG_OK;
    static const char *schemes[] = {"rtsp", "rtsps", "rtmp", "rtmps", "http", "https",
                                    "udp",  "rtp",   "tcp",  "srt",   "file"};
    size_t n = (size_t)(sep - src);
    bool known = false;
    for (size_t i = 0; i < sizeof schemes / sizeof *schemes && !known; i++)
        known = strlen(schemes[i]) == n && strncmp(src, schemes[i], n) == 0;
    if (!known)
        return yerr(y, v, "source",
                    "unknown scheme '%.*s' (rtsp, rtsps, rtmp, rtmps, http, https, udp, rtp, "
                    "tcp, srt, file)",
                    (int)(n > 16 ? 16 : n), src);
    if (!sep[3]) return yerr(y, v, "source", "'%s' has nothing after the scheme", src);
    return VG_OK;
}

/* masks: a list of polygons, each a list of at least 3 [x, y] points in 0..1 */
static vg_status get_masks(const yctx *y, const yaml_node_t *v, vg_camera_cfg *c) {
    if (v->type != YAML_SEQUENCE_NODE) return yerr(y, v, "masks", "expected a list of polygons");
    int n = (int)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n > VG_CAMERA_MAX_MASKS)
        return yerr(y, v, "masks", "%d polygons (at most %d)", n, VG_CAMERA_MAX_MASKS);
    free(c->masks);
    c->masks = vg_calloc((size_t)n + 1, sizeof(vg_mask));
    c->n_masks = 0;
    if (!c->masks) return vg_err_set(y->y.err, VG_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        const yaml_node_t *p = node(y, v->data.sequence.items.start[i]);
        if (!p || p->type != YAML_SEQUENCE_NODE)
            return yerr(y, p, "masks", "a polygon is a list of [x, y] points");
        int np = (int)(p->data.sequence.items.top - p->data.sequence.items.start);
        if (np < 3 || np > VG_MASK_MAX_POINTS)
            return yerr(y, p, "masks", "a polygon has 3 to %d points, not %d", VG_MASK_MAX_POINTS,
                        np);
        vg_mask *m = &c->masks[c->n_masks++];
        m->n = np;
        for (int j = 0; j < np; j++) {
            const yaml_node_t *pt = node(y, p->data.sequence.items.start[j]);
            if (!pt || pt->type != YAML_SEQUENCE_NODE ||
                pt->data.sequence.items.top - pt->data.sequence.items.start != 2)
                return yerr(y, pt, "masks",
                            "a point is [x, y], both in 0..1 (of the frame's width and height)");
            for (int k = 0; k < 2; k++) {
                double d;
                vg_status st =
                    get_num(y, node(y, pt->data.sequence.items.start[k]), "masks", 0, 1, &d);
                if (st != VG_OK) return st;
                m->xy[j][k] = (float)d;
            }
        }
    }
    return VG_OK;
}

/* FFmpeg options of a source: a map (rtsp_transport: tcp) or a list of "key=value" */
static vg_status get_av_opts(const yctx *y, const yaml_node_t *v, vg_camera_cfg *c) {
    int n = v->type == YAML_MAPPING_NODE
                ? (int)(v->data.mapping.pairs.top - v->data.mapping.pairs.start)
            : v->type == YAML_SEQUENCE_NODE
                ? (int)(v->data.sequence.items.top - v->data.sequence.items.start)
                : -1;
    if (n < 0) return yerr(y, v, "source_options", "expected a map of FFmpeg options (key: value)");
    if (n > 64) return yerr(y, v, "source_options", "%d options (at most 64)", n);
    for (int i = 0; i < c->n_av_opts; i++)
        free(c->av_opts[i]);
    free(c->av_opts);
    c->n_av_opts = 0;
    c->av_opts = vg_calloc((size_t)n + 1, sizeof(char *));
    if (!c->av_opts) return vg_err_set(y->y.err, VG_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        char *kv = NULL;
        if (v->type == YAML_MAPPING_NODE) {
            const yaml_node_pair_t *pr = &v->data.mapping.pairs.start[i];
            const char *k = vg_yaml_scalar(node(y, pr->key)),
                       *val = vg_yaml_scalar(node(y, pr->value));
            if (!k || !val)
                return yerr(y, node(y, pr->key), "source_options", "expected key: value");
            size_t len = strlen(k) + strlen(val) + 2;
            if ((kv = vg_malloc(len))) snprintf(kv, len, "%s=%s", k, val);
        } else {
            const yaml_node_t *e = node(y, v->data.sequence.items.start[i]);
            const char *s = vg_yaml_scalar(e);
            if (!s || !strchr(s, '=') || s[0] == '=')
                return yerr(y, e, "source_options", "expected key=value");
            kv = vg_strdup(s);
        }
        if (!kv) return vg_err_set(y->y.err, VG_ERR_NOMEM, "out of memory");
        c->av_opts[c->n_av_opts++] = kv;
    }
    return VG_OK;
}

static vg_status camera(const yctx *y, const yaml_node_t *kn, const yaml_node_t *v,
                        vg_camera_cfg *c) {
    const char *name = vg_yaml_scalar(kn);
    if (!name || !name[0] || strlen(name) > 64)
        return yerr(y, kn, "cameras", "a camera name is 1 to 64 characters");
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
            return yerr(y, kn, "cameras",
                        "camera name '%s': use letters, digits, '_' and '-' (it names MQTT topics)",
                        name);
    if (!(c->name = vg_strdup(name))) return vg_err_set(y->y.err, VG_ERR_NOMEM, "out of memory");
    char where[80]; /* the key path of messages: cameras.NAME */
    snprintf(where, sizeof where, "cameras.%s", name);
    if (v->type != YAML_MAPPING_NODE)
        return yerr(y, v, where, "expected a mapping with at least source:");
    vg_status st = VG_OK;
    for (const yaml_node_pair_t *pr = v->data.mapping.pairs.start;
         st == VG_OK && pr < v->data.mapping.pairs.top; pr++) {
        const yaml_node_t *kk = node(y, pr->key), *vv = node(y, pr->value);
        const char *k = vg_yaml_scalar(kk);
        bool known;
        if (!k)
            st = yerr(y, kk, where, "keys are names");
        else if ((st = alarm_key(y, k, vv, c, &known)) != VG_OK || known)
            continue;
        else if (!strcmp(k, "source")) {
            /* a URL or a device as written; a file or folder relative to the config's folder */
            const char *sv = vg_yaml_scalar(vv);
            st = sv && (strstr(sv, "://") || sv[0] == '/') ? get_str(y, vv, k, &c->source)
                                                           : get_path(y, vv, k, &c->source);
            if (st == VG_OK) st = check_uri(y, vv, c->source);
            c->source_line = (int)vv->start_mark.line + 1;
            c->source_col = (int)vv->start_mark.column + 1;
        } else if (!strcmp(k, "enabled"))
            st = get_bool(y, vv, k, &c->enabled);
        else if (!strcmp(k, "loop"))
            st = get_bool(y, vv, k, &c->src.loop);
        else if (!strcmp(k, "realtime"))
            st = get_bool(y, vv, k, &c->src.realtime);
        else if (!strcmp(k, "reconnect"))
            st = get_num(y, vv, k, 0.01, 3600, &c->src.reconnect_min);
        else if (!strcmp(k, "reconnect_max"))
            st = get_num(y, vv, k, 0.01, 86400, &c->src.reconnect_max);
        else if (!strcmp(k, "retries"))
            st = get_int(y, vv, k, 0, 1000000, &c->src.max_retries);
        else if (!strcmp(k, "timeout"))
            st = get_num(y, vv, k, 0.1, 3600, &c->src.timeout);
        else if (!strcmp(k, "source_options"))
            st = get_av_opts(y, vv, c);
        else if (!strcmp(k, "masks"))
            st = get_masks(y, vv, c);
        else
            st = yerr(y, kk, where, "unknown key '%s'", k);
    }
    if (st != VG_OK) return st;
    if (!c->source)
        return yerr(y, kn, where,
                    "no source: (an RTSP / HTTP URL, a device, a video file or a folder)");
    if (c->src.reconnect_max < c->src.reconnect_min) c->src.reconnect_max = c->src.reconnect_min;
    if (c->alarm.on >= 0 && c->alarm.off >= 0 && c->alarm.off > c->alarm.on)
        return yerr(y, kn, where, "off (%g) above on (%g)", (double)c->alarm.off,
                    (double)c->alarm.on);
    return VG_OK;
}

static vg_status mqtt(const yctx *y, const yaml_node_t *v, vg_service_cfg *s) {
    if (v->type != YAML_MAPPING_NODE)
        return yerr(y, v, "mqtt", "expected a mapping with at least host:");
    vg_service_mqtt *q = &s->mqtt;
    vg_status st = VG_OK;
    const yaml_node_t *pw = NULL, *pwf = NULL;
    for (const yaml_node_pair_t *pr = v->data.mapping.pairs.start;
         st == VG_OK && pr < v->data.mapping.pairs.top; pr++) {
        const yaml_node_t *kk = node(y, pr->key), *vv = node(y, pr->value);
        const char *k = vg_yaml_scalar(kk);
        if (!k)
            st = yerr(y, kk, "mqtt", "keys are names");
        else if (!strcmp(k, "host"))
            st = get_str(y, vv, k, &q->host);
        else if (!strcmp(k, "port"))
            st = get_int(y, vv, k, 1, 65535, &q->port);
        else if (!strcmp(k, "user"))
            st = get_str(y, vv, k, &q->user);
        else if (!strcmp(k, "password"))
            st = get_str(y, vv, k, &q->password), pw = kk;
        else if (!strcmp(k, "password_file"))
            st = get_path(y, vv, k, &q->password_file), pwf = kk;
        else if (!strcmp(k, "tls"))
            st = get_bool(y, vv, k, &q->tls);
        else if (!strcmp(k, "cafile"))
            st = get_path(y, vv, k, &q->cafile);
        else if (!strcmp(k, "certfile"))
            st = get_path(y, vv, k, &q->certfile);
        else if (!strcmp(k, "keyfile"))
            st = get_path(y, vv, k, &q->keyfile);
        else if (!strcmp(k, "tls_insecure"))
            st = get_bool(y, vv, k, &q->tls_insecure);
        else if (!strcmp(k, "topic_prefix"))
            st = get_str(y, vv, k, &q->topic_prefix);
        else if (!strcmp(k, "discovery_prefix")) {
            bool on = true;
            if (vg_yaml_null(vv) || (vg_yaml_scalar(vv) && get_bool(y, vv, k, &on) == VG_OK && !on))
                q->no_discovery = true;
            else
                st = get_str(y, vv, k, &q->discovery_prefix);
        } else if (!strcmp(k, "keepalive"))
            st = get_int(y, vv, k, 5, 3600, &q->keepalive);
        else
            st = yerr(y, kk, "mqtt", "unknown key '%s'", k);
    }
    if (st != VG_OK) return st;
    if (!q->host) return yerr(y, v, "mqtt", "no host:");
    if (pw && pwf) return yerr(y, pwf, "mqtt", "password and password_file both given: keep one");
    if ((q->certfile != NULL) != (q->keyfile != NULL))
        return yerr(y, v, "mqtt", "certfile and keyfile go together");
    if (q->cafile || q->certfile) q->tls = true;
    if (!q->port) q->port = q->tls ? 8883 : 1883;
    s->has_mqtt = true;
    return VG_OK;
}

/* feedback: {dir: PATH, auto_adapt: BOOL, every: N, keep: N} */
static vg_status feedback(const yctx *y, const yaml_node_t *v, vg_service_cfg *s) {
    if (v->type != YAML_MAPPING_NODE)
        return yerr(y, v, "feedback", "expected a mapping (dir, auto_adapt, every, keep)");
    if (s->feedback_dir) return yerr(y, v, "feedback", "the feedback folder is given twice");
    vg_status st = VG_OK;
    for (const yaml_node_pair_t *pr = v->data.mapping.pairs.start;
         st == VG_OK && pr < v->data.mapping.pairs.top; pr++) {
        const yaml_node_t *kk = node(y, pr->key), *vv = node(y, pr->value);
        const char *k = vg_yaml_scalar(kk);
        if (!k)
            st = yerr(y, kk, "feedback", "keys are names");
        else if (!strcmp(k, "dir"))
            st = get_path(y, vv, k, &s->feedback_dir);
        else if (!strcmp(k, "auto_adapt"))
            st = get_bool(y, vv, k, &s->auto_adapt);
        else if (!strcmp(k, "every"))
            st = get_int(y, vv, k, 1, 100000, &s->adapt_every);
        else if (!strcmp(k, "keep"))
            st = get_int(y, vv, k, 1, 1000, &s->adapt_keep);
        else
            st = yerr(y, kk, "feedback", "unknown key '%s' (dir, auto_adapt, every, keep)", k);
    }
    if (st == VG_OK && !s->feedback_dir) st = yerr(y, v, "feedback", "no dir:");
    return st;
}

/* what a camera has before defaults: and overrides: vigie watch's defaults, levels from the
 * model (-1) */
static void camera_defaults(vg_camera_cfg *c) {
    memset(c, 0, sizeof *c);
    vg_watch_opts o = vg_watch_opts_default();
    c->src = o.src;
    c->alarm = o.alarm;
    c->alarm.on = c->alarm.off = -1;
    c->tile_rows = c->tile_cols = 1;
    c->stuck_after = o.stuck_after;
    c->enabled = true;
}

static vg_status top_level(const yctx *y, const yaml_node_t *top, vg_service_cfg *s) {
    if (!top || top->type != YAML_MAPPING_NODE)
        return yerr(y, top, NULL,
                    "expected a mapping with model: and cameras: (see examples/vigie.yaml)");
    vg_camera_cfg def;
    camera_defaults(&def);
    const yaml_node_t *cams = NULL, *cams_key = NULL;
    vg_status st = VG_OK;
    for (const yaml_node_pair_t *pr = top->data.mapping.pairs.start;
         st == VG_OK && pr < top->data.mapping.pairs.top; pr++) {
        const yaml_node_t *kk = node(y, pr->key), *vv = node(y, pr->value);
        const char *k = vg_yaml_scalar(kk);
        if (!k)
            st = yerr(y, kk, NULL, "keys are names");
        else if (!strcmp(k, "model")) {
            st = get_path(y, vv, k, &s->model);
            s->model_line = (int)vv->start_mark.line + 1;
            s->model_col = (int)vv->start_mark.column + 1;
        } else if (!strcmp(k, "threads"))
            st = get_int(y, vv, k, 1, 256, &s->threads);
        else if (!strcmp(k, "precision")) {
            const char *pv = vg_yaml_scalar(vv);
            if (pv && !strcmp(pv, "auto"))
                s->precision = VG_PRECISION_AUTO;
            else if (pv && !strcmp(pv, "float"))
                s->precision = VG_PRECISION_FLOAT;
            else if (pv && !strcmp(pv, "int8"))
                s->precision = VG_PRECISION_INT8;
            else
                st = yerr(y, vv, k, "expected auto, float or int8");
        } else if (!strcmp(k, "events"))
            st = vg_yaml_null(vv) ? VG_OK : get_path(y, vv, k, &s->events);
        else if (!strcmp(k, "snapshots"))
            st = vg_yaml_null(vv) ? VG_OK : get_path(y, vv, k, &s->snapshots);
        else if (!strcmp(k, "feedback_dir"))
            st = s->feedback_dir ? yerr(y, kk, k, "the feedback folder is given twice")
                                 : get_path(y, vv, k, &s->feedback_dir);
        else if (!strcmp(k, "feedback"))
            st = feedback(y, vv, s);
        else if (!strcmp(k, "mqtt"))
            st = mqtt(y, vv, s);
        else if (!strcmp(k, "cameras"))
            cams = vv, cams_key = kk;
        else if (!strcmp(k, "defaults")) {
            if (vv->type != YAML_MAPPING_NODE) {
                st = yerr(y, vv, k, "expected a mapping of alarm settings");
                break;
            }
            for (const yaml_node_pair_t *dp = vv->data.mapping.pairs.start;
                 st == VG_OK && dp < vv->data.mapping.pairs.top; dp++) {
                const yaml_node_t *dk = node(y, dp->key);
                const char *key = vg_yaml_scalar(dk);
                bool known = false;
                if (!key)
                    st = yerr(y, dk, "defaults", "keys are names");
                else if ((st = alarm_key(y, key, node(y, dp->value), &def, &known)) == VG_OK &&
                         !known)
                    st = yerr(y, dk, "defaults",
                              "unknown key '%s' (alarm settings: window, on, off, min_duration, "
                              "cooldown, update, classes, per_class, fps, tiles, stuck_after)",
                              key);
            }
        } else
            st = yerr(y, kk, NULL, "unknown key '%s'", k);
    }
    if (st == VG_OK && !s->model) st = yerr(y, top, NULL, "no model: (the .vge or .vgm file)");
    if (st == VG_OK && !cams) st = yerr(y, top, NULL, "no cameras:");
    if (st == VG_OK && cams->type != YAML_MAPPING_NODE)
        st = yerr(y, cams, "cameras", "expected a mapping from camera names to their settings");
    int n = st == VG_OK ? (int)(cams->data.mapping.pairs.top - cams->data.mapping.pairs.start) : 0;
    if (st == VG_OK && (n < 1 || n > VG_SERVICE_MAX_CAMERAS))
        st = yerr(y, cams_key, "cameras", "%d cameras (1 to %d)", n, VG_SERVICE_MAX_CAMERAS);
    if (st == VG_OK && !(s->cameras = vg_calloc((size_t)n, sizeof(vg_camera_cfg))))
        st = vg_err_set(y->y.err, VG_ERR_NOMEM, "out of memory");
    for (int i = 0; st == VG_OK && i < n; i++) {
        const yaml_node_pair_t *pr = &cams->data.mapping.pairs.start[i];
        vg_camera_cfg *c = &s->cameras[s->n_cameras++];
        *c = def; /* the defaults' strings are copied below */
        c->classes = NULL;
        if (def.classes && !(c->classes = vg_strdup(def.classes)))
            st = vg_err_set(y->y.err, VG_ERR_NOMEM, "out of memory");
        if (st == VG_OK) st = camera(y, node(y, pr->key), node(y, pr->value), c);
        for (int j = 0; st == VG_OK && j < i; j++)
            if (!strcmp(s->cameras[j].name, c->name))
                st = yerr(y, node(y, pr->key), "cameras", "camera '%s' given twice", c->name);
    }
    free(def.classes);
    return st;
}

vg_status vg_service_cfg_parse(const char *text, size_t size, const char *name, vg_service_cfg *s,
                               vg_err *err) {
    memset(s, 0, sizeof *s);
    s->threads = 1;
    s->adapt_every = 1;
    s->adapt_keep = 10;
    if (size > CFG_MAX_BYTES)
        return vg_err_set(err, VG_ERR_FORMAT, "%s: larger than %d bytes: not a configuration", name,
                          CFG_MAX_BYTES);
    char *dir = vg_strdup(name);
    if (!dir) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[slash == dir ? 1 : 0] = 0;
    else
        dir[0] = 0;
    yaml_parser_t parser;
    yaml_document_t doc;
    yctx y = {{&doc, name, err}, dir};
    vg_status st = VG_OK;
    if (!yaml_parser_initialize(&parser)) {
        free(dir);
        return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, size);
    bool have_doc = yaml_parser_load(&parser, &doc) != 0;
    if (!have_doc)
        st = vg_err_set(err, VG_ERR_FORMAT, "%s:%lu:%lu: not valid YAML: %s", name,
                        (unsigned long)parser.problem_mark.line + 1,
                        (unsigned long)parser.problem_mark.column + 1,
                        parser.problem ? parser.problem : "parse error");
    if (st == VG_OK) st = top_level(&y, yaml_document_get_root_node(&doc), s);
    if (st == VG_OK && !(s->path = vg_strdup(name)))
        st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    if (have_doc) yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    free(dir);
    if (st != VG_OK) vg_service_cfg_free(s);
    return st;
}

vg_status vg_service_cfg_load(const char *path, vg_service_cfg *s, vg_err *err) {
    memset(s, 0, sizeof *s);
    size_t n = 0;
    uint8_t *data = NULL;
    vg_status st = vg_file_read(path, CFG_MAX_BYTES, &data, &n, err);
    if (st != VG_OK) return st;
    st = vg_service_cfg_parse((const char *)data, n, path, s, err);
    free(data);
    return st;
}

void vg_service_cfg_free(vg_service_cfg *s) {
    if (!s) return;
    free(s->model), free(s->events), free(s->snapshots), free(s->feedback_dir), free(s->path);
    vg_service_mqtt *q = &s->mqtt;
    free(q->host), free(q->user), free(q->password), free(q->password_file);
    free(q->cafile), free(q->certfile), free(q->keyfile), free(q->topic_prefix),
        free(q->discovery_prefix);
    for (int i = 0; s->cameras && i < s->n_cameras; i++) {
        vg_camera_cfg *c = &s->cameras[i];
        free(c->name), free(c->source), free(c->classes), free(c->masks);
        for (int j = 0; j < c->n_av_opts; j++)
            free(c->av_opts[j]);
        free(c->av_opts);
    }
    free(s->cameras);
    memset(s, 0, sizeof *s);
}
