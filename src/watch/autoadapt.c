/* autoadapt.c — live adaptation for the service (feedback: {auto_adapt: true}): after the
 * "false alarm" button has written `every` new frames, a background thread at the lowest
 * priority runs vigie adapt (vg_adapt_run) and hands the new model to the service, which
 * swaps it in between two frames; and the adapted models kept on disk (vigie.h,
 * vg_adapted_list / vg_adapted_select: `vigie adapt --rollback`).
 *
 * Every adaptation starts from the configured model and learns all the feedback there is
 * (every camera's FEEDBACK_DIR/<camera>/ tree): the result depends on the feedback, not on
 * the history of presses, adapted models never drift by adapting adapted models, and a frame
 * the user deletes is forgotten at the next one. Adapting takes seconds (the model carries its
 * rehearsal set), so this costs little.
 *
 * On disk, FEEDBACK_DIR/models/: STEM.aN.EXT (the configured model's file name without its
 * extension, N counting up), `current` (the file name the service runs; absent: the
 * configured model) and `base` (a hash of the configured model's file: adapted models of
 * another model are not used). */
#define _GNU_SOURCE
#include "watch/watch.h"

#include "model/model.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct vg_watch_adapter {
    vg_watch_adapter_opts o;
    pthread_t th;
    bool started, quit;
    int pending; /* feedback frames since the last adaptation started */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char running[VG_WATCH_MODEL_ID]; /* the id of the model the service runs */
};

static void alog(const vg_watch_adapter *a, const char *fmt, ...) VG_PRINTF(2, 3);
static void alog(const vg_watch_adapter *a, const char *fmt, ...) {
    if (!a->o.log) return;
    va_list ap;
    va_start(ap, fmt);
    vg_vlogf(a->o.log, a->o.ud, fmt, ap);
    va_end(ap);
}

/* the configured model's file name, split: "fire" and "vge" */
static void stem_ext(const char *model, char *stem, size_t n, const char **ext) {
    const char *base = strrchr(model, '/');
    base = base ? base + 1 : model;
    const char *dot = strrchr(base, '.');
    *ext = dot ? dot + 1 : "vgm";
    size_t k = dot ? (size_t)(dot - base) : strlen(base);
    if (k >= n) k = n - 1;
    memcpy(stem, base, k);
    stem[k] = 0;
}

void vg_watch_model_id_of(const char *model, char id[VG_WATCH_MODEL_ID]) {
    char stem[48];
    const char *ext;
    stem_ext(model, stem, sizeof stem, &ext);
    snprintf(id, VG_WATCH_MODEL_ID, "%s", stem);
}

/* N of a file name STEM.aN.EXT, or 0 */
static int generation(const char *name, const char *stem, const char *ext) {
    size_t ls = strlen(stem), le = strlen(ext), ln = strlen(name);
    if (ln < ls + 4 + le || strncmp(name, stem, ls) || strncmp(name + ls, ".a", 2)) return 0;
    if (name[ln - le - 1] != '.' || strcmp(name + ln - le, ext)) return 0;
    int g = 0;
    for (size_t i = ls + 2; i < ln - le - 1; i++) {
        if (name[i] < '0' || name[i] > '9' || g > 100000000) return 0;
        g = g * 10 + (name[i] - '0');
    }
    return g;
}

/* the adapted models of dir (STEM.aN.EXT), by generation, ascending: gens[] (at most max) */
static int scan(const char *models, const char *stem, const char *ext, int *gens, int max) {
    DIR *d = opendir(models);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int g = generation(e->d_name, stem, ext);
        if (g <= 0) continue;
        if (n == max) { /* keep the newest max */
            int lo = 0;
            for (int i = 1; i < n; i++)
                if (gens[i] < gens[lo]) lo = i;
            if (g > gens[lo]) gens[lo] = g;
            continue;
        }
        gens[n++] = g;
    }
    closedir(d);
    for (int i = 1; i < n; i++) /* insertion sort: a few dozen at most */
        for (int j = i; j > 0 && gens[j - 1] > gens[j]; j--) {
            int t = gens[j];
            gens[j] = gens[j - 1], gens[j - 1] = t;
        }
    return n;
}

static vg_status write_line(const char *path, const char *line, vg_err *err) {
    char buf[1100];
    int k = snprintf(buf, sizeof buf, "%s\n", line);
    return vg_file_write_atomic(path, buf, (size_t)k, err);
}

static vg_status make_dir(const char *path, vg_err *err) {
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return vg_err_set(err, VG_ERR_IO, "%s: %s", path, strerror(errno));
    return VG_OK;
}

/* the configured model's content hash, as text */
static vg_status base_hash(const char *model, char *out, size_t n, vg_err *err) {
    uint8_t *data = NULL;
    size_t size = 0;
    vg_status st = vg_file_read(model, (size_t)1 << 30, &data, &size, err);
    if (st != VG_OK) return st;
    snprintf(out, n, "%016llx", (unsigned long long)vg_hash64(data, size, 0));
    free(data);
    return VG_OK;
}

vg_status vg_watch_adapter_current(const char *feedback_dir, const char *model, char *path,
                                   size_t n, char *id, void (*log)(void *, const char *), void *ud,
                                   vg_err *err) {
    char models[1100], f[1200], hash[32], stored[64] = "", cur[512] = "", stem[48];
    const char *ext;
    stem_ext(model, stem, sizeof stem, &ext);
    snprintf(path, n, "%s", model);
    vg_watch_model_id_of(model, id);
    snprintf(models, sizeof models, "%s/models", feedback_dir);
    vg_status st = make_dir(models, err);
    if (st == VG_OK) st = base_hash(model, hash, sizeof hash, err);
    if (st != VG_OK) return st;
    snprintf(f, sizeof f, "%s/base", models);
    vg_err e;
    if (vg_file_first_line(f, stored, sizeof stored, &e) == VG_OK && strcmp(stored, hash) != 0) {
        /* the configured model changed: its predecessor's adapted models do not apply */
        snprintf(f, sizeof f, "%s/current", models);
        if (unlink(f) == 0 && log)
            log(ud, "adapted models in the feedback folder were made from another model: "
                    "starting from the configured one");
    }
    snprintf(f, sizeof f, "%s/base", models);
    if ((st = write_line(f, hash, err)) != VG_OK) return st;
    snprintf(f, sizeof f, "%s/current", models);
    if (vg_file_first_line(f, cur, sizeof cur, &e) != VG_OK || !cur[0]) return VG_OK;
    if (generation(cur, stem, ext) <= 0 || strchr(cur, '/'))
        return vg_err_set(err, VG_ERR_FORMAT, "%s: '%s' is no adapted model of %s", f, cur, model);
    snprintf(path, n, "%s/%s", models, cur);
    snprintf(id, VG_WATCH_MODEL_ID, "%.*s", (int)(strlen(cur) - strlen(ext) - 1), cur);
    if (access(path, R_OK) != 0)
        return vg_err_set(err, VG_ERR_IO, "%s names %s: %s", f, path, strerror(errno));
    return VG_OK;
}

/* every camera's feedback tree: the sub-folders of the feedback folder but models/ */
static int feedback_trees(const char *dir, char **trees, int max) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "models")) continue;
        char p[1200];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode) && (trees[n] = vg_strdup(p))) n++;
    }
    closedir(d);
    return n;
}

static double unix_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* one adaptation: from the configured model, on every feedback tree */
static void adapt_once(vg_watch_adapter *a) {
    const vg_watch_adapter_opts *o = &a->o;
    char stem[48], models[1100], out[1400], id[VG_WATCH_MODEL_ID], js[2048], cur[1200];
    const char *ext;
    stem_ext(o->model, stem, sizeof stem, &ext);
    snprintf(models, sizeof models, "%s/models", o->feedback_dir);
    int gens[1024];
    int ng = scan(models, stem, ext, gens, 1024);
    int next = ng ? gens[ng - 1] + 1 : 1;
    snprintf(out, sizeof out, "%s/%s.a%d.%s", models, stem, next, ext);
    snprintf(id, sizeof id, "%s.a%d", stem, next);
    char *trees[VG_ADAPT_MAX_FEEDBACK] = {0};
    int nt = feedback_trees(o->feedback_dir, trees, VG_ADAPT_MAX_FEEDBACK);
    vg_adapt_cfg c = vg_adapt_cfg_default();
    c.model = o->model;
    c.feedback = (const char *const *)trees;
    c.n_feedback = nt;
    c.output = out;
    c.threads = o->threads;
    vg_adapt_report r;
    vg_err err;
    memset(&err, 0, sizeof err);
    alog(a, "adapting %s on the feedback of %d camera(s)", o->model, nt);
    vg_status st = nt ? vg_adapt_run(&c, NULL, &r, &err)
                      : vg_err_set(&err, VG_ERR_ARG, "no feedback in %s", o->feedback_dir);
    for (int i = 0; i < nt; i++)
        free(trees[i]);
    vg_model *m = NULL;
    if (st == VG_OK) st = vg_model_load(out, &m, &err);
    if (st == VG_OK) st = o->use(o->ud, m, id, &err); /* takes m */
    if (st == VG_OK) {
        snprintf(cur, sizeof cur, "%s/current", models);
        const char *base = strrchr(out, '/') + 1;
        if (write_line(cur, base, &err) != VG_OK)
            alog(a, "the service runs %s, but a restart will not: %s", id, err.msg);
        pthread_mutex_lock(&a->mu);
        snprintf(a->running, sizeof a->running, "%s", id);
        pthread_mutex_unlock(&a->mu);
        /* the oldest beyond `keep` go (never the one in use: the newest) */
        ng = scan(models, stem, ext, gens, 1024);
        for (int i = 0; i + o->keep < ng; i++) {
            snprintf(cur, sizeof cur, "%s/%s.a%d.%s", models, stem, gens[i], ext);
            unlink(cur);
        }
        alog(a,
             "model %s in use: %d false-alarm and %d missed-fire frames learnt in %.1f s; guard "
             "recall %.3f -> %.3f",
             id, r.n_neutral, r.n_alarm, r.seconds,
             r.val_pos ? (double)r.val_hits_before / r.val_pos : 1.0,
             r.val_pos ? (double)r.val_hits_after / r.val_pos : 1.0);
        snprintf(js, sizeof js,
                 "{\"t\":%.3f,\"event\":\"model\",\"model\":\"%s\",\"reason\":\"adapted\","
                 "\"false_alarms\":%d,\"missed\":%d,\"seconds\":%.2f,\"recall_before\":%.4f,"
                 "\"recall_after\":%.4f}",
                 unix_now(), id, r.n_neutral, r.n_alarm, r.seconds,
                 r.val_pos ? (double)r.val_hits_before / r.val_pos : 1.0,
                 r.val_pos ? (double)r.val_hits_after / r.val_pos : 1.0);
    } else {
        unlink(out); /* loaded or swapped in: never written */
        alog(a, "adaptation not applied: %s", err.msg);
        snprintf(js, sizeof js, "{\"t\":%.3f,\"event\":\"adapt_refused\",\"message\":", unix_now());
        vg_watch_json_str(js, sizeof js, err.msg);
        strncat(js, "}", sizeof js - strlen(js) - 1);
    }
    if (o->on_event) o->on_event(o->ud, js);
}

static void *adapter_main(void *arg) {
    vg_watch_adapter *a = arg;
    /* the lowest priority: the cameras' loops come first (a per-thread nice on Linux) */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19) != 0)
        alog(a, "adaptation at normal priority: %s", strerror(errno));
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (!a->quit && a->pending < a->o.every)
            pthread_cond_wait(&a->cv, &a->mu);
        if (a->quit) break;
        /* presses a moment apart go into one adaptation */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        while (!a->quit && pthread_cond_timedwait(&a->cv, &a->mu, &until) != ETIMEDOUT) {
        }
        if (a->quit) break;
        a->pending = 0;
        pthread_mutex_unlock(&a->mu);
        adapt_once(a);
        pthread_mutex_lock(&a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

vg_status vg_watch_adapter_start(vg_watch_adapter **out, const vg_watch_adapter_opts *o,
                                 const char *running, vg_err *err) {
    *out = NULL;
    if (!o->model || !o->feedback_dir || !o->use || o->every < 1 || o->keep < 1)
        return vg_err_set(err, VG_ERR_ARG, "adapter: model, feedback folder, every, keep");
    vg_watch_adapter *a = vg_calloc(1, sizeof *a);
    if (!a) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    a->o = *o;
    if (a->o.threads < 1) a->o.threads = 1;
    snprintf(a->running, sizeof a->running, "%s", running);
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    if (pthread_create(&a->th, NULL, adapter_main, a) != 0) {
        vg_watch_adapter_stop(a);
        return vg_err_set(err, VG_ERR_NOMEM, "cannot start the adaptation thread");
    }
    a->started = true;
    *out = a;
    return VG_OK;
}

void vg_watch_adapter_feedback(vg_watch_adapter *a) {
    if (!a) return;
    pthread_mutex_lock(&a->mu);
    a->pending++;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

vg_status vg_watch_adapter_sync(vg_watch_adapter *a, vg_err *err) {
    char path[1400], id[VG_WATCH_MODEL_ID];
    vg_status st = vg_watch_adapter_current(a->o.feedback_dir, a->o.model, path, sizeof path, id,
                                            a->o.log, a->o.ud, err);
    if (st != VG_OK) return st;
    pthread_mutex_lock(&a->mu);
    bool same = !strcmp(id, a->running);
    pthread_mutex_unlock(&a->mu);
    if (same) return VG_OK;
    vg_model *m = NULL;
    if ((st = vg_model_load(path, &m, err)) != VG_OK) return st;
    if ((st = a->o.use(a->o.ud, m, id, err)) != VG_OK) return st;
    pthread_mutex_lock(&a->mu);
    snprintf(a->running, sizeof a->running, "%s", id);
    pthread_mutex_unlock(&a->mu);
    alog(a, "model %s in use (feedback folder's models/current)", id);
    return VG_OK;
}

void vg_watch_adapter_stop(vg_watch_adapter *a) {
    if (!a) return;
    if (a->started) {
        pthread_mutex_lock(&a->mu);
        a->quit = true;
        pthread_cond_broadcast(&a->cv);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->th, NULL); /* an adaptation under way finishes first (seconds) */
    }
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    free(a);
}

/* ---- the kept models: vigie adapt --rollback */

/* the kept models; `meta`: with their date and what they learnt (each file loaded) */
static int kept(const char *feedback_dir, const char *model, vg_adapted_model *out, int max,
                bool meta, vg_err *err) {
    char models[1100], stem[48], cur[512] = "", f[1200];
    const char *ext;
    stem_ext(model, stem, sizeof stem, &ext);
    snprintf(models, sizeof models, "%s/models", feedback_dir);
    struct stat sb;
    int rc = stat(models, &sb);
    if (rc != 0 || !S_ISDIR(sb.st_mode)) {
        vg_err_set(err, VG_ERR_IO, "%s: no adapted models there (%s)", models,
                   rc ? strerror(errno) : "not a folder");
        return -1;
    }
    snprintf(f, sizeof f, "%s/current", models);
    vg_err e;
    if (vg_file_first_line(f, cur, sizeof cur, &e) != VG_OK) cur[0] = 0;
    int gens[1024];
    int ng = scan(models, stem, ext, gens, 1024), n = 0;
    for (int i = 0; i < ng && n < max; i++) {
        vg_adapted_model *a = &out[n++];
        memset(a, 0, sizeof *a);
        snprintf(a->id, sizeof a->id, "%s.a%d", stem, gens[i]);
        snprintf(a->path, sizeof a->path, "%s/%s.a%d.%s", models, stem, gens[i], ext);
        a->current = !strncmp(cur, a->id, strlen(a->id)) && cur[strlen(a->id)] == '.';
        vg_model *m = NULL;
        if (!meta) continue;
        if (vg_model_load(a->path, &m, &e) == VG_OK) {
            const char *d = vg_model_get_meta(m, "adapt_date"),
                       *l = vg_model_get_meta(m, "adapt_learnt");
            snprintf(a->date, sizeof a->date, "%.31s", d ? d : "");
            snprintf(a->learnt, sizeof a->learnt, "%.500s", l ? l : "");
            vg_model_free(m);
        } else {
            snprintf(a->learnt, sizeof a->learnt, "unreadable: %.480s", e.msg);
        }
    }
    return n;
}

int vg_adapted_list(const char *feedback_dir, const char *model, vg_adapted_model *out, int max,
                    vg_err *err) {
    return kept(feedback_dir, model, out, max, true, err);
}

vg_status vg_adapted_select(const char *feedback_dir, const char *model, const char *id,
                            char *chosen, size_t n, vg_err *err) {
    vg_adapted_model *list = vg_malloc(sizeof(vg_adapted_model) * 1024);
    if (!list) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    int k = kept(feedback_dir, model, list, 1024, false, err); /* ids and paths only */
    char stem[48], f[1200];
    const char *ext;
    stem_ext(model, stem, sizeof stem, &ext);
    snprintf(f, sizeof f, "%s/models/current", feedback_dir);
    vg_status st = k < 0 ? err->status : VG_OK;
    int pick = -2; /* -1: the configured model */
    if (st == VG_OK && id && strcmp(id, stem) && strcmp(id, "base")) {
        for (int i = 0; i < k; i++)
            if (!strcmp(list[i].id, id)) pick = i;
        if (pick == -2)
            st = vg_err_set(err, VG_ERR_ARG,
                            "no adapted model '%s' in %s/models (vigie adapt "
                            "--rollback %s lists them)",
                            id, feedback_dir, feedback_dir);
    } else if (st == VG_OK && id) {
        pick = -1;
    } else if (st == VG_OK) { /* the one before the current one */
        int c = -1;
        for (int i = 0; i < k; i++)
            if (list[i].current) c = i;
        if (c < 0)
            st = vg_err_set(err, VG_ERR_ARG,
                            "the configured model is in use already: nothing to roll back");
        pick = c - 1;
    }
    if (st == VG_OK) {
        if (pick < 0) {
            if (unlink(f) != 0 && errno != ENOENT)
                st = vg_err_set(err, VG_ERR_IO, "%s: %s", f, strerror(errno));
            snprintf(chosen, n, "%s", stem);
        } else {
            const char *base = strrchr(list[pick].path, '/') + 1;
            st = write_line(f, base, err);
            snprintf(chosen, n, "%s", list[pick].id);
        }
    }
    free(list);
    return st;
}
