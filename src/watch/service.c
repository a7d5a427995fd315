/* service.c — the service of `vigie watch --config` (vigie.h, "the service"): one model and
 * one MQTT connection shared by a loop (vg_watch_run, its own threads) per camera; reloading a
 * configuration starts, stops or restarts only the cameras that changed.
 *
 * Ownership: the service takes over every configuration it is given and frees them all at
 * the end; a running camera points into the configuration it was started from, so an older
 * one stays alive after a reload (reloads are rare, configurations small).
 * Threads: the caller's thread starts, reloads and stops; each camera's loop runs in its own
 * thread and reports through the hooks; `alive` is the one value both sides touch (atomic).
 * The model is swappable (vg_watch_model): live adaptation's thread (autoadapt.c) or a reload
 * after a rollback hands in a new one, swapped into the shared inference and the holder the
 * loops follow (swap_mu keeps the two swaps of one model together). */
#define _POSIX_C_SOURCE 200809L
#include "watch/watch.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#define MAX_CFGS 1024 /* configurations kept (the first and every reload) */

typedef struct {
    struct vg_service *svc;
    const vg_camera_cfg *c; /* in one of svc->cfgs */
    vg_watch_opts o;
    vg_cancel *stop;
    pthread_t th;
    atomic_bool ended;
    bool joined;          /* ended, joined and reported: kept so that a reload knows it */
    _Atomic double alive; /* vg_time_now() of the loop's last round */
    vg_watch_stats st;
    vg_status status;
    vg_err err;
} svc_cam;

struct vg_service {
    vg_service_hooks h;
    vg_watch_model *hm;        /* the model the loops follow */
    const vg_model *infer_m;   /* the one the shared inference runs (held in hm) */
    vg_watch_adapter *adapter; /* live adaptation, or NULL */
    pthread_mutex_t swap_mu;
    vg_watch_infer *infer; /* every camera's whole frames, batched */
    vg_watch_mqtt *mqtt;
    vg_service_cfg *cfgs[MAX_CFGS];
    int n_cfgs;
    svc_cam *cams[VG_SERVICE_MAX_CAMERAS];
    int n_cams;
};

static void slog(vg_service *s, const char *camera, const char *fmt, ...) VG_PRINTF(3, 4);
static void slog(vg_service *s, const char *camera, const char *fmt, ...) {
    if (!s->h.log) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    s->h.log(s->h.ud, camera, msg);
}

/* the loop's reports and events, passed on with the camera's name */
static void cam_log(void *ud, const char *msg) {
    svc_cam *c = ud;
    if (c->svc->h.log) c->svc->h.log(c->svc->h.ud, c->c->name, msg);
}
static void cam_event(void *ud, const char *json) {
    svc_cam *c = ud;
    if (c->svc->h.on_event) c->svc->h.on_event(c->svc->h.ud, json);
}
static void cam_tick(void *ud, double now) {
    svc_cam *c = ud;
    atomic_store(&c->alive, now);
}
static void cam_feedback(void *ud, const char *path) {
    (void)path;
    vg_watch_adapter_feedback(((svc_cam *)ud)->svc->adapter);
}

static void *cam_main(void *arg) {
    svc_cam *c = arg;
    c->status = vg_watch_run(NULL, &c->o, &c->st, &c->err); /* the model: c->o.model */
    atomic_store(&c->ended, true);
    return NULL;
}

/* a camera's loop options from its configuration */
static vg_watch_opts camera_opts(const vg_service *s, const vg_service_cfg *cfg,
                                 const vg_camera_cfg *c) {
    vg_watch_opts o = vg_watch_opts_default();
    o.source = c->source;
    o.src = c->src;
    o.src.av_opts = (const char *const *)c->av_opts;
    o.src.n_av_opts = c->n_av_opts;
    o.src.folder_fps = c->fps > 0 ? c->fps : 1.0;
    o.src.log = cam_log;
    o.fps = c->fps;
    o.alarm = c->alarm;
    o.tile_rows = c->tile_rows, o.tile_cols = c->tile_cols;
    o.per_class = c->per_class;
    o.classes = c->classes;
    o.snapshots = cfg->snapshots;
    o.threads = cfg->threads;
    o.precision = cfg->precision;
    o.camera = c->name;
    o.masks = c->masks, o.n_masks = c->n_masks;
    o.stuck_after = c->stuck_after;
    o.feedback_dir = cfg->feedback_dir;
    o.mqtt = s->mqtt;
    o.infer = s->infer;
    o.model = s->hm;
    o.on_event = cam_event;
    o.on_tick = cam_tick;
    o.on_feedback = cam_feedback;
    return o;
}

/* the camera against the model (classes, levels): refused before anything starts */
static vg_status camera_check(const vg_service *s, const vg_model *m, const vg_service_cfg *cfg,
                              const vg_camera_cfg *c, char *levels, size_t n, vg_err *err) {
    vg_watch_opts o = camera_opts(s, cfg, c);
    vg_model_info info;
    vg_model_get_info(m, &info);
    bool *is_alarm = vg_calloc((size_t)info.n_classes, sizeof(bool));
    if (!is_alarm) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    vg_status st = vg_watch_alarm_classes(m, c->classes, is_alarm, err);
    free(is_alarm);
    if (st == VG_OK) st = vg_watch_levels(m, &o, levels, n, err);
    if (st == VG_OK && cfg->feedback_dir && !strcmp(c->name, "models"))
        st = vg_err_set(err, VG_ERR_ARG,
                        "the name 'models' is the feedback folder's (adapted models): rename "
                        "the camera");
    if (st != VG_OK) {
        vg_err e = *err;
        return vg_err_set(err, st, "%s: camera %s: %s", cfg->path, c->name, e.msg);
    }
    return VG_OK;
}

static vg_status camera_start(vg_service *s, const vg_service_cfg *cfg, const vg_camera_cfg *c,
                              vg_err *err) {
    if (s->n_cams == VG_SERVICE_MAX_CAMERAS)
        return vg_err_set(err, VG_ERR_ARG, "more than %d cameras", VG_SERVICE_MAX_CAMERAS);
    svc_cam *k = vg_calloc(1, sizeof *k);
    if (!k) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    k->svc = s;
    k->c = c;
    k->o = camera_opts(s, cfg, c);
    k->o.ud = k;
    atomic_store(&k->alive, vg_time_now());
    vg_status st = vg_cancel_init(&k->stop, err);
    if (st == VG_OK) {
        k->o.stop = k->stop;
        if (pthread_create(&k->th, NULL, cam_main, k) != 0)
            st = vg_err_set(err, VG_ERR_NOMEM, "camera %s: cannot start its thread", c->name);
    }
    if (st != VG_OK) {
        vg_cancel_free(k->stop);
        free(k);
        return st;
    }
    s->cams[s->n_cams++] = k;
    return VG_OK;
}

/* stops camera i and joins it (once), and reports it */
static void camera_join(vg_service *s, svc_cam *k) {
    if (k->joined) return;
    vg_cancel_request(k->stop);
    pthread_join(k->th, NULL);
    k->joined = true;
    if (s->h.on_camera_end) {
        vg_service_camera r = {k->c->name, &k->st, k->status, k->status ? k->err.msg : NULL};
        s->h.on_camera_end(s->h.ud, &r);
    }
}

/* camera_join, then removed from the list */
static void camera_end(vg_service *s, int i) {
    svc_cam *k = s->cams[i];
    camera_join(s, k);
    vg_cancel_free(k->stop);
    free(k);
    s->cams[i] = s->cams[--s->n_cams];
}

static bool same_str(const char *a, const char *b) {
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* everything a camera's loop is started with */
static bool same_camera(const vg_camera_cfg *a, const vg_camera_cfg *b) {
    const vg_watch_source_opts *p = &a->src, *q = &b->src;
    bool same =
        same_str(a->name, b->name) && same_str(a->source, b->source) && p->loop == q->loop &&
        p->realtime == q->realtime && p->reconnect_min == q->reconnect_min &&
        p->reconnect_max == q->reconnect_max && p->max_retries == q->max_retries &&
        p->timeout == q->timeout && a->n_av_opts == b->n_av_opts && a->fps == b->fps &&
        memcmp(&a->alarm, &b->alarm, sizeof a->alarm) == 0 && same_str(a->classes, b->classes) &&
        a->per_class == b->per_class && a->tile_rows == b->tile_rows &&
        a->tile_cols == b->tile_cols && a->n_masks == b->n_masks &&
        a->stuck_after == b->stuck_after && a->enabled == b->enabled;
    for (int i = 0; same && i < a->n_av_opts; i++)
        same = same_str(a->av_opts[i], b->av_opts[i]);
    for (int i = 0; same && i < a->n_masks; i++)
        same =
            a->masks[i].n == b->masks[i].n &&
            memcmp(a->masks[i].xy, b->masks[i].xy, sizeof(float) * 2 * (size_t)a->masks[i].n) == 0;
    return same;
}

/* the first setting outside the cameras that differs, or NULL */
static const char *global_change(const vg_service_cfg *a, const vg_service_cfg *b) {
    if (!same_str(a->model, b->model)) return "model";
    if (a->threads != b->threads) return "threads";
    if (a->precision != b->precision) return "precision";
    if (!same_str(a->events, b->events)) return "events";
    if (!same_str(a->snapshots, b->snapshots)) return "snapshots";
    if (!same_str(a->feedback_dir, b->feedback_dir) || a->auto_adapt != b->auto_adapt ||
        a->adapt_every != b->adapt_every || a->adapt_keep != b->adapt_keep)
        return "feedback";
    const vg_service_mqtt *p = &a->mqtt, *q = &b->mqtt;
    if (a->has_mqtt != b->has_mqtt || !same_str(p->host, q->host) || p->port != q->port ||
        !same_str(p->user, q->user) || !same_str(p->password, q->password) ||
        !same_str(p->password_file, q->password_file) || p->tls != q->tls ||
        p->tls_insecure != q->tls_insecure || !same_str(p->cafile, q->cafile) ||
        !same_str(p->certfile, q->certfile) || !same_str(p->keyfile, q->keyfile) ||
        !same_str(p->topic_prefix, q->topic_prefix) ||
        !same_str(p->discovery_prefix, q->discovery_prefix) || p->no_discovery != q->no_discovery ||
        p->keepalive != q->keepalive)
        return "mqtt";
    return NULL;
}

static const vg_camera_cfg *find_camera(const vg_service_cfg *cfg, const char *name) {
    for (int i = 0; i < cfg->n_cameras; i++)
        if (!strcmp(cfg->cameras[i].name, name)) return &cfg->cameras[i];
    return NULL;
}

/* the model (`path`: the configured one or an adapted one), its load failure with the place
 * of model: in the file */
static vg_status load_model(const vg_service_cfg *cfg, const char *path, vg_model **m,
                            vg_err *err) {
    vg_status st = vg_model_load(path, m, err);
    if (st != VG_OK) {
        vg_err e = *err;
        vg_err_set(err, st, "%s:%d:%d: model: %s", cfg->path, cfg->model_line, cfg->model_col,
                   e.msg);
    }
    return st;
}

/* a video file or folder that is not there is a mistake of the file, not a camera to retry */
static vg_status check_source(const vg_service_cfg *cfg, const vg_camera_cfg *c, vg_err *err) {
    if (strstr(c->source, "://") || !strncmp(c->source, "/dev/", 5)) return VG_OK;
    if (access(c->source, R_OK) != 0)
        return vg_err_set(err, VG_ERR_IO, "%s:%d:%d: cameras.%s: source: %s: %s", cfg->path,
                          c->source_line, c->source_col, c->name, c->source, strerror(errno));
    return VG_OK;
}

/* checks the folders the cameras write to */
static vg_status check_dirs(const vg_service_cfg *cfg, vg_err *err) {
    if (cfg->snapshots && access(cfg->snapshots, W_OK) != 0)
        return vg_err_set(err, VG_ERR_IO, "%s: snapshots folder %s: %s", cfg->path, cfg->snapshots,
                          strerror(errno));
    if (cfg->feedback_dir && access(cfg->feedback_dir, W_OK) != 0)
        return vg_err_set(err, VG_ERR_IO, "%s: feedback folder %s: %s", cfg->path,
                          cfg->feedback_dir, strerror(errno));
    return VG_OK;
}

/* the password of a password_file: its first line */
static vg_status read_password(const char *path, char *buf, size_t n, vg_err *err) {
    vg_status st = vg_file_first_line(path, buf, n, err);
    if (st == VG_OK && !buf[0])
        return vg_err_set(err, VG_ERR_FORMAT, "%s: empty password file", path);
    return st;
}

static void mqtt_log(void *ud, const char *msg) {
    slog(ud, NULL, "%s", msg);
}

static vg_status mqtt_open(vg_service *s, const vg_service_cfg *cfg, vg_err *err) {
    const vg_service_mqtt *q = &cfg->mqtt;
    char password[1024] = "", node[128];
    if (q->password_file) {
        vg_status st = read_password(q->password_file, password, sizeof password, err);
        if (st != VG_OK) return st;
    }
    const char *prefix = q->topic_prefix ? q->topic_prefix : "vigie";
    /* Home Assistant's ids: the prefix, which tells the boards of one broker apart already */
    size_t k = 0;
    for (const char *p = prefix; *p && k + 1 < sizeof node; p++)
        node[k++] = isalnum((unsigned char)*p) || *p == '-' ? *p : '_';
    node[k] = 0;
    vg_watch_mqtt_opts o;
    memset(&o, 0, sizeof o);
    o.host = q->host;
    o.port = q->port;
    o.topic = prefix;
    o.node = node;
    o.user = q->user;
    o.password = q->password_file ? password : q->password;
    o.tls = q->tls;
    o.cafile = q->cafile, o.certfile = q->certfile, o.keyfile = q->keyfile;
    o.tls_insecure = q->tls_insecure;
    o.ha_prefix = q->no_discovery       ? NULL
                  : q->discovery_prefix ? q->discovery_prefix
                                        : "homeassistant";
    o.keepalive = q->keepalive;
    o.connect_wait = 5;
    o.log = mqtt_log;
    o.log_ud = s;
    return vg_watch_mqtt_init(&s->mqtt, &o, err);
}

/* live adaptation needs a model that can adapt without its data: one that carries its
 * rehearsal set (vigie adapt says so when it does not) */
static vg_status check_adapt(const vg_service_cfg *cfg, vg_err *err) {
    if (!cfg->auto_adapt) return VG_OK;
    vg_status st = vg_adapt_ready(cfg->model, err);
    if (st != VG_OK) {
        vg_err e = *err;
        vg_err_set(err, st, "%s: feedback: auto_adapt: %s", cfg->path, e.msg);
    }
    return st;
}

vg_status vg_service_check(const vg_service_cfg *cfg,
                           void (*report)(void *ud, const vg_camera_cfg *c, const char *levels),
                           void *ud, vg_err *err) {
    vg_service *s = vg_calloc(1, sizeof *s);
    if (!s) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    vg_model *m = NULL;
    vg_status st = load_model(cfg, cfg->model, &m, err);
    for (int i = 0; st == VG_OK && i < cfg->n_cameras; i++) {
        char levels[512];
        st = camera_check(s, m, cfg, &cfg->cameras[i], levels, sizeof levels, err);
        if (st == VG_OK && cfg->cameras[i].enabled) st = check_source(cfg, &cfg->cameras[i], err);
        if (st == VG_OK && report) report(ud, &cfg->cameras[i], levels);
    }
    if (st == VG_OK) st = check_dirs(cfg, err);
    if (st == VG_OK) st = check_adapt(cfg, err);
    vg_model_free(m);
    free(s);
    return st;
}

/* takes cfg over: kept until the end, or freed now when there is no room */
static bool keep_cfg(vg_service *s, vg_service_cfg *cfg) {
    if (s->n_cfgs == MAX_CFGS) return false;
    s->cfgs[s->n_cfgs++] = cfg;
    return true;
}

static void free_cfg(vg_service_cfg *cfg) {
    vg_service_cfg_free(cfg);
    free(cfg);
}

static void service_free(vg_service *s) {
    vg_watch_adapter_stop(s->adapter); /* it swaps models into the inference */
    vg_watch_infer_free(s->infer);     /* its runners use the model */
    if (s->hm) vg_watch_model_release(s->hm, s->infer_m);
    vg_watch_model_free(s->hm);
    for (int i = 0; i < s->n_cfgs; i++)
        free_cfg(s->cfgs[i]);
    pthread_mutex_destroy(&s->swap_mu);
    free(s);
}

/* A new model (taken over): into the holder the loops follow, then into the shared inference
 * (runners planned here, installed between two passes). From the adaptation's thread, or the
 * caller's at a reload. */
static vg_status use_model(void *ud, vg_model *m, const char *id, vg_err *err) {
    vg_service *s = ud;
    pthread_mutex_lock(&s->swap_mu);
    vg_status st = vg_watch_model_swap(s->hm, m, id, err);
    if (st == VG_OK) {
        const vg_model *nm = vg_watch_model_acquire(s->hm, NULL, NULL);
        st = vg_watch_infer_swap(s->infer, nm, err);
        if (st == VG_OK) {
            vg_watch_model_release(s->hm, s->infer_m);
            s->infer_m = nm;
        } else { /* the loops' own runners follow; the shared inference cannot */
            vg_watch_model_release(s->hm, nm);
            vg_err e = *err;
            vg_err_set(err, st, "model %s: shared inference stays on the previous model: %s", id,
                       e.msg);
        }
    }
    pthread_mutex_unlock(&s->swap_mu);
    return st;
}

static void adapter_log(void *ud, const char *msg) {
    slog(ud, NULL, "%s", msg);
}
static void adapter_event(void *ud, const char *json) {
    vg_service *s = ud;
    if (s->h.on_event) s->h.on_event(s->h.ud, json);
}

vg_status vg_service_start(vg_service **out, vg_service_cfg *cfg, const vg_service_hooks *h,
                           vg_err *err) {
    *out = NULL;
    vg_service *s = vg_calloc(1, sizeof *s);
    vg_service_cfg *own = vg_malloc(sizeof *own);
    if (!s || !own) {
        free(s), free(own);
        vg_service_cfg_free(cfg);
        return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    *own = *cfg; /* taken over: the caller's struct no longer owns anything */
    memset(cfg, 0, sizeof *cfg);
    keep_cfg(s, own);
    pthread_mutex_init(&s->swap_mu, NULL);
    if (h) s->h = *h;
    /* the model: with live adaptation, the adapted one in use before a restart */
    char path[1400], id[VG_WATCH_MODEL_ID];
    vg_status st = check_adapt(own, err);
    if (st == VG_OK && own->auto_adapt)
        st = vg_watch_adapter_current(own->feedback_dir, own->model, path, sizeof path, id,
                                      adapter_log, s, err);
    if (st == VG_OK && !own->auto_adapt) {
        snprintf(path, sizeof path, "%s", own->model);
        vg_watch_model_id_of(own->model, id);
    }
    vg_model *m = NULL;
    if (st == VG_OK) st = load_model(own, path, &m, err);
    if (st == VG_OK && strcmp(path, own->model)) slog(s, NULL, "model %s (adapted, %s)", id, path);
    if (st == VG_OK && (st = vg_watch_model_init(&s->hm, m, id, err)) == VG_OK)
        s->infer_m = vg_watch_model_acquire(s->hm, NULL, NULL);
    for (int i = 0; st == VG_OK && i < own->n_cameras; i++) {
        char levels[512];
        st = camera_check(s, s->infer_m, own, &own->cameras[i], levels, sizeof levels, err);
        if (st == VG_OK && own->cameras[i].enabled) st = check_source(own, &own->cameras[i], err);
        if (st == VG_OK && own->cameras[i].enabled) slog(s, own->cameras[i].name, "%s", levels);
    }
    if (st == VG_OK) st = check_dirs(own, err);
    int enabled = 0;
    for (int i = 0; i < own->n_cameras; i++)
        enabled += own->cameras[i].enabled;
    if (st == VG_OK) {
        /* one batch can hold a frame of every camera (up to 8: beyond, a pass is long enough
         * to wait for); cameras added by a reload share it as it is */
        vg_runner_opts ro = vg_runner_opts_default();
        ro.threads = own->threads;
        ro.precision = own->precision;
        st = vg_watch_infer_init(&s->infer, s->infer_m, &ro,
                                 enabled < 1   ? 1
                                 : enabled > 8 ? 8
                                               : enabled,
                                 err);
    }
    if (st == VG_OK && own->has_mqtt) st = mqtt_open(s, own, err);
    if (st == VG_OK && own->auto_adapt) {
        vg_watch_adapter_opts ao = {
            own->model, own->feedback_dir, own->adapt_every, own->adapt_keep,
            1,          adapter_log,       adapter_event,    use_model,
            s};
        st = vg_watch_adapter_start(&s->adapter, &ao, id, err);
    }
    enabled = 0;
    for (int i = 0; st == VG_OK && i < own->n_cameras; i++) {
        if (!own->cameras[i].enabled) continue;
        enabled++;
        st = camera_start(s, own, &own->cameras[i], err);
    }
    if (st == VG_OK && !enabled)
        st = vg_err_set(err, VG_ERR_ARG, "%s: no camera enabled", own->path);
    if (st != VG_OK) {
        while (s->n_cams)
            camera_end(s, s->n_cams - 1);
        vg_watch_mqtt_close(s->mqtt, NULL, 1.0);
        service_free(s);
        return st;
    }
    *out = s;
    return VG_OK;
}

vg_status vg_service_reload(vg_service *s, vg_service_cfg *cfg, char *summary, size_t n,
                            vg_err *err) {
    if (summary && n) summary[0] = 0;
    vg_service_cfg *own = vg_malloc(sizeof *own);
    if (!own) {
        vg_service_cfg_free(cfg);
        return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    *own = *cfg;
    memset(cfg, 0, sizeof *cfg);
    const vg_service_cfg *cur = s->cfgs[s->n_cfgs - 1];
    const char *what = global_change(cur, own);
    if (what) {
        vg_err_set(err, VG_ERR_ARG,
                   "%s: '%s' changed: a reload changes cameras only; restart the service for "
                   "that (nothing changed)",
                   own->path, what);
        free_cfg(own);
        return VG_ERR_ARG;
    }
    /* everything checked before anything stops */
    vg_status st = check_dirs(own, err);
    int enabled = 0;
    const vg_model *cm = vg_watch_model_acquire(s->hm, NULL, NULL);
    for (int i = 0; st == VG_OK && i < own->n_cameras; i++) {
        st = camera_check(s, cm, own, &own->cameras[i], NULL, 0, err);
        if (st == VG_OK && own->cameras[i].enabled) st = check_source(own, &own->cameras[i], err);
        enabled += own->cameras[i].enabled;
    }
    vg_watch_model_release(s->hm, cm);
    if (st == VG_OK && !enabled)
        st = vg_err_set(err, VG_ERR_ARG, "%s: no camera enabled", own->path);
    if (st == VG_OK && !keep_cfg(s, own))
        st = vg_err_set(err, VG_ERR_ARG, "%d reloads: restart the service", MAX_CFGS - 1);
    if (st != VG_OK) {
        free_cfg(own);
        return st;
    }
    char added[256] = "", removed[256] = "", changed[256] = "";
    int n_add = 0, n_rm = 0, n_ch = 0, n_same = 0;
    /* running cameras: removed (or disabled), changed, or left alone */
    for (int i = s->n_cams - 1; i >= 0; i--) {
        svc_cam *k = s->cams[i];
        const vg_camera_cfg *nc = find_camera(own, k->c->name);
        if (nc && nc->enabled && same_camera(k->c, nc)) {
            /* untouched: a running loop keeps running (its settings now read from the newer
             * configuration, the old one stays alive anyway); one that ended by itself (a file
             * at its end, a camera given up) stays ended: it restarts when its settings change
             * or the service restarts */
            if (!k->joined) k->c = nc;
            n_same++;
            continue;
        }
        char name[80];
        snprintf(name, sizeof name, "%s", k->c->name);
        bool gone = !nc || !nc->enabled;
        camera_end(s, i);
        if (gone) {
            vg_watch_mqtt_forget(s->mqtt, name);
            slog(s, name, "removed by the reload: stopped");
            snprintf(removed + strlen(removed), sizeof removed - strlen(removed), "%s%s",
                     n_rm ? ", " : "", name);
            n_rm++;
        } else {
            st = camera_start(s, own, nc, err);
            if (st != VG_OK) return st; /* that camera is down; the others run on */
            slog(s, name, "changed by the reload: restarted");
            snprintf(changed + strlen(changed), sizeof changed - strlen(changed), "%s%s",
                     n_ch ? ", " : "", name);
            n_ch++;
        }
    }
    /* new cameras, and ones enabled again */
    for (int i = 0; i < own->n_cameras; i++) {
        const vg_camera_cfg *nc = &own->cameras[i];
        bool running = false;
        for (int j = 0; j < s->n_cams && !running; j++)
            running = !strcmp(s->cams[j]->c->name, nc->name);
        if (!nc->enabled || running) continue;
        if ((st = camera_start(s, own, nc, err)) != VG_OK) return st;
        slog(s, nc->name, "added by the reload: started");
        snprintf(added + strlen(added), sizeof added - strlen(added), "%s%s", n_add ? ", " : "",
                 nc->name);
        n_add++;
    }
    /* a rollback (vigie adapt --rollback) is taken at a reload */
    if (s->adapter) {
        vg_err e;
        if (vg_watch_adapter_sync(s->adapter, &e) != VG_OK) slog(s, NULL, "model: %s", e.msg);
    }
    if (summary && n)
        snprintf(summary, n, "%d added%s%s%s, %d removed%s%s%s, %d changed%s%s%s, %d untouched",
                 n_add, n_add ? " (" : "", added, n_add ? ")" : "", n_rm, n_rm ? " (" : "", removed,
                 n_rm ? ")" : "", n_ch, n_ch ? " (" : "", changed, n_ch ? ")" : "", n_same);
    return VG_OK;
}

int vg_service_running(vg_service *s) {
    /* cameras whose loop ended by itself (a file at its end, a camera given up) are reported
     * here, and kept (joined) for the reloads to know */
    int n = 0;
    for (int i = 0; i < s->n_cams; i++) {
        if (atomic_load(&s->cams[i]->ended)) camera_join(s, s->cams[i]);
        n += !s->cams[i]->joined;
    }
    return n;
}

bool vg_service_alive(vg_service *s, double max_age) {
    double now = vg_time_now();
    for (int i = 0; i < s->n_cams; i++)
        if (!atomic_load(&s->cams[i]->ended) && now - atomic_load(&s->cams[i]->alive) > max_age)
            return false;
    return true;
}

bool vg_service_stop(vg_service *s) {
    if (!s) return true;
    /* (the adaptation thread stops in service_free, after the cameras that poke it) */
    for (int i = 0; i < s->n_cams; i++)
        vg_cancel_request(s->cams[i]->stop); /* all at once */
    while (s->n_cams)
        camera_end(s, s->n_cams - 1);
    if (s->infer) {
        int64_t passes = 0, frames = 0;
        vg_watch_infer_stats(s->infer, &passes, &frames);
        slog(s, NULL, "shared inference: %lld frames in %lld forward passes (%.2f a pass)",
             (long long)frames, (long long)passes, passes ? (double)frames / (double)passes : 0.0);
    }
    bool ok = true;
    if (s->mqtt) {
        ok = vg_watch_mqtt_close(s->mqtt, NULL, 3.0);
        slog(s, NULL,
             ok ? "mqtt: offline state confirmed by the broker"
                : "mqtt: the offline state could not be confirmed (broker unreachable)");
    }
    service_free(s);
    return ok;
}
