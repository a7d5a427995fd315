/* watch.c — the `vigie watch` loop (watch.h): reader thread and mailbox, classification,
 * alarms, events, snapshots, retained state, statistics.
 *
 * Memory is fixed after the first frame: three frame buffers (reader, mailbox, loop) reused
 * for every frame of the same size, a latency histogram instead of a list of samples, and the
 * heat-map runner only for the duration of an alarm start. (With tiles, the views' inputs are
 * allocated and freed by each frame's classification: the same sizes every frame.) */
#define _POSIX_C_SOURCE 200809L
#include "watch/watch.h"

#include "watch/cam.h"
#include "watch/health.h"

#include "model/tiles.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

vg_watch_opts vg_watch_opts_default(void) {
    vg_watch_opts o;
    memset(&o, 0, sizeof o);
    o.src = vg_watch_source_opts_default();
    /* chosen with bench/watch_tradeoff.sh on look-alike scenes (README, "Watching cameras"):
     * 2 s of frames at 5 fps, arm at 0.8, clear below 0.5 (for a model whose threshold is 0.5;
     * the levels follow the model's threshold, vg_watch_levels), hold 2 s, 10 s cool-down. A
     * longer cool-down hid real fires behind an earlier false alarm; none spammed. */
    o.alarm = (vg_watch_alarm_opts){10, -1.0f, -1.0f, 2.0, 10.0, 10.0};
    o.tile_rows = o.tile_cols = 1;
    o.jpeg_quality = 85;
    o.threads = 1;
    o.stuck_after = 60;
    return o;
}

void vg_watch_json_str(char *buf, size_t n, const char *s) {
    size_t k = strlen(buf);
    if (k + 1 >= n) return;
#define PUT(c)                                                                                     \
    do {                                                                                           \
        if (k + 2 < n) buf[k++] = (c);                                                             \
    } while (0)
    PUT('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            PUT('\\');
            PUT((char)*p);
        } else if (*p < 0x20) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", *p);
            for (int i = 0; e[i]; i++)
                PUT(e[i]);
        } else {
            PUT((char)*p);
        }
    }
#undef PUT
    buf[k++] = '"';
    buf[k] = 0;
}

/* printf-append into a fixed buffer (truncates, never overflows) */
static void cat(char *buf, size_t n, const char *fmt, ...) VG_PRINTF(3, 4);
static void cat(char *buf, size_t n, const char *fmt, ...) {
    size_t k = strlen(buf);
    if (k + 1 >= n) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + k, n - k, fmt, ap);
    va_end(ap);
}

vg_status vg_watch_alarm_classes(const vg_model *m, const char *spec, bool *is_alarm, vg_err *err) {
    vg_model_info info;
    vg_model_get_info(m, &info);
    int n = info.n_classes;
    memset(is_alarm, 0, sizeof(bool) * (size_t)n);
    if (spec) {
        const char *p = spec;
        int count = 0;
        while (*p) {
            const char *e = strchr(p, ',');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            int found = -1;
            for (int c = 0; c < n && found < 0; c++) {
                const char *l = vg_model_label(m, c);
                if (strlen(l) == len && strncmp(l, p, len) == 0) found = c;
            }
            if (found < 0) {
                char known[256] = "";
                for (int c = 0; c < n && c < 8; c++)
                    cat(known, sizeof known, "%s%s", c ? ", " : "", vg_model_label(m, c));
                if (n > 8) cat(known, sizeof known, ", ...");
                return vg_err_set(err, VG_ERR_ARG, "--classes: the model has no class '%.*s' (%s)",
                                  (int)len, p, known);
            }
            is_alarm[found] = true;
            count++;
            p = e ? e + 1 : p + len;
        }
        if (!count) return vg_err_set(err, VG_ERR_ARG, "--classes: no class given");
        return VG_OK;
    }
    int no_alarm = -1;
    if (!vg_model_alarm(m, &no_alarm, NULL))
        for (int c = 0; c < n; c++)
            if (strcmp(vg_model_label(m, c), "neutral") == 0) no_alarm = c;
    if (no_alarm < 0 || n < 2)
        return vg_err_set(err, VG_ERR_ARG,
                          "the model has no no-alarm class (none recorded by vigie train, no "
                          "'neutral' label): name the alarm classes with --classes");
    for (int c = 0; c < n; c++)
        is_alarm[c] = c != no_alarm;
    return VG_OK;
}

/* the levels of the README's table, for a model without a threshold of its own */
#define FIXED_ON  0.8f
#define FIXED_OFF 0.5f

vg_status vg_watch_levels(const vg_model *m, vg_watch_opts *o, char *desc, size_t n, vg_err *err) {
    bool on_given = o->alarm.on >= 0, off_given = o->alarm.off >= 0;
    float thr = 0;
    int no_alarm = -1;
    const char *why = NULL; /* why not the model's threshold */
    if (!vg_model_alarm(m, &no_alarm, &thr)) {
        why = "the model stores no alarm threshold";
    } else if (o->classes) {
        /* the threshold was chosen for the model's own rule (every class but the no-alarm
         * one, summed): it says nothing about another set of classes */
        vg_model_info info;
        vg_model_get_info(m, &info);
        bool *is = vg_calloc((size_t)info.n_classes, sizeof(bool));
        if (!is) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        vg_status st = vg_watch_alarm_classes(m, o->classes, is, err);
        bool same = true;
        for (int c = 0; c < info.n_classes; c++)
            same &= is[c] == (c != no_alarm);
        free(is);
        if (st != VG_OK) return st;
        if (!same) why = "--classes differs from the model's alarm classes";
    }
    float d_on = FIXED_ON, d_off = FIXED_OFF;
    if (!why) vg_watch_alarm_levels(thr, &d_on, &d_off);
    const char *note = "";
    if (!on_given) o->alarm.on = d_on;
    if (!off_given) o->alarm.off = d_off;
    if (on_given && !off_given && o->alarm.off > o->alarm.on) {
        o->alarm.off = o->alarm.on;
        note = ", off lowered to on";
    } else if (off_given && !on_given && o->alarm.on < o->alarm.off) {
        o->alarm.on = o->alarm.off;
        note = ", on raised to off";
    }
    if (desc && n) {
        char src[200];
        if (on_given && off_given)
            snprintf(src, sizeof src, "both given");
        else if (why)
            snprintf(src, sizeof src, "%sfixed defaults 0.8 / 0.5: %s",
                     on_given    ? "on given, off from the "
                     : off_given ? "off given, on from the "
                                 : "",
                     why);
        else
            snprintf(src, sizeof src,
                     "%sthe model's alarm threshold %.3f (off = threshold, on = 4x its odds)",
                     on_given    ? "on given, off from "
                     : off_given ? "off given, on from "
                                 : "from ",
                     (double)thr);
        snprintf(desc, n, "alarm on %.3f, off %.3f (%s%s)", (double)o->alarm.on,
                 (double)o->alarm.off, src, note);
    }
    return VG_OK;
}

/* ---- latency histogram: bins 2% wide from 0.01 ms, so p99 is within 2% over days ---------- */

#define LAT_BINS   1000
#define LAT_MIN_MS 0.01
#define LAT_STEP   1.02

typedef struct {
    int64_t bins[LAT_BINS];
    int64_t n;
    double sum, max;
} lat_hist;

static void lat_add(lat_hist *h, double ms) {
    int i = ms <= LAT_MIN_MS ? 0 : (int)(log(ms / LAT_MIN_MS) / log(LAT_STEP));
    if (i >= LAT_BINS) i = LAT_BINS - 1;
    h->bins[i]++;
    h->n++;
    h->sum += ms;
    if (ms > h->max) h->max = ms;
}

static double lat_quantile(const lat_hist *h, double q) {
    if (!h->n) return 0;
    int64_t want = (int64_t)ceil(q * (double)h->n), acc = 0;
    for (int i = 0; i < LAT_BINS; i++) {
        acc += h->bins[i];
        if (acc >= want) {
            double upper = LAT_MIN_MS * pow(LAT_STEP, i + 1);
            return upper < h->max ? upper : h->max;
        }
    }
    return h->max;
}

/* ---- reader thread and mailbox ------------------------------------------------------------ */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    vg_watch_source *src;
    bool live;
    bool network;  /* a camera or a stream (not a file played in real time) */
    double period; /* 1 / fps, or 0 */
    vg_cancel *stop;
    vg_image slot;
    double t, t_ready; /* frame time; wall time it entered the mailbox */
    int64_t index;
    bool full, done;
    bool quit; /* the loop has ended (an error, the end): a waiting reader must not wait on */
    vg_status st;
    vg_err err;
    int64_t read, skipped, dropped;
    int64_t recoveries; /* frames again after the source was lost: flapping cameras */
    atomic_bool src_lost;
    void (*user_log)(void *ud, const char *msg);
    void *user_ud;
} mailbox;

static bool stop_requested(const vg_cancel *stop) {
    return vg_cancel_requested(stop);
}

/* the source's reports pass through here: from a camera or stream, a report means it is lost
 * until the next frame (a folder's unreadable image is no such thing) */
static void source_log(void *ud, const char *msg) {
    mailbox *mb = ud;
    if (mb->network) atomic_store(&mb->src_lost, true);
    if (mb->user_log) mb->user_log(mb->user_ud, msg);
}

static struct timespec after(double sec) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double t = (double)ts.tv_sec + ts.tv_nsec * 1e-9 + sec;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    return ts;
}

static void *reader_main(void *arg) {
    mailbox *mb = arg;
    vg_image cur = {0, 0, NULL};
    double next_due = -1e300;
    for (;;) {
        bool got = false;
        double t = 0;
        int64_t idx = 0;
        vg_err e;
        vg_status st = vg_watch_source_read(mb->src, &cur, &t, &idx, &got, &e);
        pthread_mutex_lock(&mb->mu);
        if (st != VG_OK || !got) {
            mb->done = true;
            mb->st = st;
            if (st != VG_OK) mb->err = e;
            pthread_cond_broadcast(&mb->cv);
            pthread_mutex_unlock(&mb->mu);
            break;
        }
        if (atomic_exchange(&mb->src_lost, false)) mb->recoveries++;
        mb->read++;
        if (mb->period > 0) {
            if (t + 1e-9 < next_due) {
                mb->skipped++;
                pthread_mutex_unlock(&mb->mu);
                continue;
            }
            /* on schedule: the next slot; after a stall: a period from now, no burst */
            next_due = next_due + mb->period > t ? next_due + mb->period : t + mb->period;
        }
        if (mb->full && mb->live) mb->dropped++; /* the loop is behind: the older frame goes */
        while (mb->full && !mb->live && !mb->quit && !stop_requested(mb->stop)) {
            struct timespec until = after(0.1);
            pthread_cond_timedwait(&mb->cv, &mb->mu, &until);
        }
        if (mb->full && !mb->live) { /* stop requested, or the loop gone, while waiting */
            mb->done = true;
            pthread_cond_broadcast(&mb->cv);
            pthread_mutex_unlock(&mb->mu);
            break;
        }
        vg_image tmp = mb->slot;
        mb->slot = cur;
        cur = tmp;
        mb->t = t;
        mb->index = idx;
        mb->t_ready = vg_time_now();
        mb->full = true;
        pthread_cond_broadcast(&mb->cv);
        pthread_mutex_unlock(&mb->mu);
    }
    vg_image_free(&cur);
    return NULL;
}

/* ---- the loop ------------------------------------------------------------------------------ */

typedef struct {
    const vg_model *m;
    const vg_watch_opts *o;
    vg_watch_alarm alarm;
    bool *is_alarm;
    int n_classes;
    vg_watch_cam cam;
    bool have_cam;
    float *map; /* map_h x map_w: the heat map of the whole frame, all views together */
    int map_h, map_w;
    vg_watch_stats *st;
    int64_t frame;
    double pts;
    bool src_lost_published;
    uint8_t *maskmap; /* mask_w x mask_h: 1 where a mask covers the pixel */
    int mask_w, mask_h;
    int mch;    /* MQTT channel, -1 without MQTT */
    bool armed; /* the MQTT switch: disarmed, no alarm starts */
    vg_watch_health health;
    vg_watch_health_kind health_state; /* as last published */
    /* the last alarm start, for the false-alarm button: its frame (as classified), number,
     * class and snapshot */
    vg_image alarm_img;
    int64_t alarm_frame;
    int alarm_cls;
    char alarm_snap[1024];
    /* following a swappable model (o->model): the one in use, its swap generation and id */
    uint64_t gen;
    char model_id[VG_WATCH_MODEL_ID];
} loop_ctx;

/* even-odd rule: is (x, y) inside the polygon? */
static bool inside(const vg_mask *p, float x, float y);

void vg_watch_mask_map(const vg_mask *masks, int n, int w, int h, uint8_t *map) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float fx = (x + 0.5f) / (float)w, fy = (y + 0.5f) / (float)h;
            bool in = false;
            for (int k = 0; k < n && !in; k++)
                in = inside(&masks[k], fx, fy);
            map[(size_t)y * w + x] = in;
        }
}

static bool inside(const vg_mask *p, float x, float y) {
    bool in = false;
    for (int i = 0, j = p->n - 1; i < p->n; j = i++) {
        float xi = p->xy[i][0], yi = p->xy[i][1], xj = p->xy[j][0], yj = p->xy[j][1];
        if ((yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) in = !in;
    }
    return in;
}

/* The masks of the camera: their pixels (by their centres) take the model's input mean, so the
 * network sees nothing there (a zero input after normalisation). The map is made again when
 * the frame size changes. */
static vg_status apply_masks(loop_ctx *c, vg_image *img, vg_err *err) {
    const vg_watch_opts *o = c->o;
    if (o->n_masks <= 0 || !img->rgb) return VG_OK;
    if (img->w != c->mask_w || img->h != c->mask_h) {
        free(c->maskmap);
        c->mask_w = c->mask_h = 0;
        c->maskmap = vg_malloc((size_t)img->w * (size_t)img->h);
        if (!c->maskmap) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        vg_watch_mask_map(o->masks, o->n_masks, img->w, img->h, c->maskmap);
        c->mask_w = img->w, c->mask_h = img->h;
    }
    uint8_t fill[3];
    for (int k = 0; k < 3; k++) {
        float v = c->m->input.mean[k];
        fill[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5f);
    }
    for (size_t i = 0; i < (size_t)img->w * img->h; i++)
        if (c->maskmap[i]) memcpy(img->rgb + 3 * i, fill, 3);
    return VG_OK;
}

static void wlog(const loop_ctx *c, const char *fmt, ...) VG_PRINTF(2, 3);
static void wlog(const loop_ctx *c, const char *fmt, ...) {
    if (!c->o->src.log) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->o->src.log(c->o->ud, msg);
}

static double unix_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void publish_state(loop_ctx *c, bool online, bool src_lost) {
    if (!c->o->mqtt) return;
    char js[4096] = "";
    bool any = false;
    for (int k = 0; k < c->alarm.n_channels; k++)
        any |= online && vg_watch_alarm_active(&c->alarm, k);
    cat(js, sizeof js, "{\"status\":\"%s\",\"source\":\"%s\",\"alarm\":\"%s\",\"classes\":{",
        online ? "online" : "offline", src_lost ? "lost" : "ok", any ? "ON" : "OFF");
    for (int j = 0; j < c->alarm.n_alarm; j++) {
        int cls = c->alarm.alarm_cls[j];
        bool on = false;
        for (int k = 0; online && k < c->alarm.n_channels; k++)
            on |= vg_watch_alarm_active(&c->alarm, k) && c->alarm.ch[k].cls == cls;
        if (j) cat(js, sizeof js, ",");
        vg_watch_json_str(js, sizeof js, vg_model_label(c->m, cls));
        cat(js, sizeof js, ":\"%s\"", on ? "ON" : "OFF");
    }
    cat(js, sizeof js, "},\"armed\":\"%s\",\"stuck\":\"%s\",\"health\":\"%s\"",
        c->armed ? "ON" : "OFF", online && c->health_state != VG_HEALTH_OK ? "ON" : "OFF",
        vg_watch_health_name(c->health_state));
    if (c->o->model) {
        cat(js, sizeof js, ",\"model\":");
        vg_watch_json_str(js, sizeof js, c->model_id);
    }
    cat(js, sizeof js, ",\"t\":%.3f,\"frame\":%lld}", unix_now(), (long long)c->frame);
    if (online)
        vg_watch_mqtt_state(c->o->mqtt, c->mch, js);
    else
        vg_watch_mqtt_final_state(c->o->mqtt, c->mch, js); /* the goodbye publishes it */
    c->src_lost_published = src_lost;
}

/* the start of an event line: {"camera":NAME,"t":...,"pts":...,"frame":N,"event":KIND */
static void event_head(const loop_ctx *c, char *js, size_t n, const char *kind) {
    js[0] = 0;
    cat(js, n, "{");
    if (c->o->camera) {
        cat(js, n, "\"camera\":");
        vg_watch_json_str(js, n, c->o->camera);
        cat(js, n, ",");
    }
    cat(js, n, "\"t\":%.3f,\"pts\":%.3f,\"frame\":%lld,\"event\":\"%s\"", unix_now(), c->pts,
        (long long)c->frame, kind);
    if (c->o->model) {
        cat(js, n, ",\"model\":");
        vg_watch_json_str(js, n, c->model_id);
    }
}

static void send_event(loop_ctx *c, const char *js) {
    if (c->o->on_event) c->o->on_event(c->o->ud, js);
    vg_watch_mqtt_event(c->o->mqtt, c->mch, js);
}

/* Writes the alarm-start snapshot; returns false (after a report) when it could not. */
static bool snapshot(loop_ctx *c, const vg_image *frame, const vg_watch_alarm_event *ev, char *path,
                     size_t n) {
    const vg_watch_opts *o = c->o;
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tmv);
    char cls[64];
    const char *label = vg_model_label(c->m, ev->cls);
    size_t k = 0;
    for (const char *p = label; *p && k + 1 < sizeof cls; p++)
        cls[k++] = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
                       ? *p
                       : '_';
    cls[k] = 0;
    snprintf(path, n, "%s/vigie-%s%s%sZ-f%lld-%s.jpg", o->snapshots, o->camera ? o->camera : "",
             o->camera ? "-" : "", stamp, (long long)c->frame, cls);
    vg_err e;
    vg_image over = {0, 0, NULL};
    const vg_image *img = frame;
    if (c->have_cam) {
        /* the classes behind this alarm: the channel's own, or all alarm classes together */
        bool *sel = vg_calloc((size_t)c->n_classes, sizeof(bool));
        vg_status st = sel ? VG_OK : VG_ERR_NOMEM;
        if (sel) {
            for (int i = 0; i < c->n_classes; i++)
                sel[i] = o->per_class ? i == ev->cls : c->is_alarm[i];
            st =
                vg_watch_cam_map_tiles(&c->cam, frame, o->tile_rows, o->tile_cols, sel, c->map, &e);
            if (st == VG_OK)
                st = vg_watch_cam_overlay(frame, c->map, c->map_h, c->map_w, &over, &e);
            free(sel);
        } else {
            vg_err_set(&e, st, "out of memory");
        }
        if (st == VG_OK)
            img = &over;
        else
            wlog(c, "heat map: %s (snapshot without it)", e.msg);
    }
    vg_status st = vg_watch_jpeg_save(img, o->jpeg_quality, path, &e);
    vg_image_free(&over);
    if (st != VG_OK) {
        wlog(c, "snapshot: %s", e.msg);
        c->st->snapshot_errors++;
        return false;
    }
    return true;
}

static void emit(loop_ctx *c, const vg_image *frame, const vg_watch_alarm_event *ev) {
    static const char *names[] = {"", "alarm_start", "alarm_update", "alarm_end"};
    static const char *reasons[] = {"clear", "stopped", "disarmed"};
    char js[2048];
    double pts = c->pts;
    c->pts = ev->t;
    event_head(c, js, sizeof js, names[ev->kind]);
    c->pts = pts;
    cat(js, sizeof js, ",\"class\":");
    vg_watch_json_str(js, sizeof js, vg_model_label(c->m, ev->cls));
    cat(js, sizeof js, ",\"p\":%.4f", ev->p);
    if (ev->kind == VG_WATCH_EV_START) {
        c->st->alarms++;
        char path[1024];
        c->alarm_snap[0] = 0;
        if (c->o->snapshots && frame && snapshot(c, frame, ev, path, sizeof path)) {
            cat(js, sizeof js, ",\"snapshot\":");
            vg_watch_json_str(js, sizeof js, path);
            snprintf(c->alarm_snap, sizeof c->alarm_snap, "%s", path);
        }
        /* kept for the false-alarm button (a failed copy only loses that) */
        if (frame && c->o->feedback_dir) {
            size_t bytes = (size_t)frame->w * (size_t)frame->h * 3;
            if (!c->alarm_img.rgb || c->alarm_img.w != frame->w || c->alarm_img.h != frame->h) {
                vg_image_free(&c->alarm_img);
                c->alarm_img.rgb = vg_malloc(bytes);
            }
            if (c->alarm_img.rgb) {
                memcpy(c->alarm_img.rgb, frame->rgb, bytes);
                c->alarm_img.w = frame->w, c->alarm_img.h = frame->h;
            } else {
                wlog(c, "false-alarm frame not kept: out of memory");
            }
            c->alarm_frame = c->frame;
            c->alarm_cls = ev->cls;
        }
    } else {
        cat(js, sizeof js, ",\"peak\":%.4f,\"duration\":%.3f", ev->peak, ev->t - ev->since);
    }
    if (ev->kind == VG_WATCH_EV_END) cat(js, sizeof js, ",\"reason\":\"%s\"", reasons[ev->reason]);
    cat(js, sizeof js, "}");
    send_event(c, js);
}

/* mkdir -p (for the feedback folders) */
static vg_status make_dirs(const char *path, vg_err *err) {
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return vg_err_set(err, VG_ERR_ARG, "%s: path too long", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || !*p) {
            char keep = *p;
            *p = 0;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return vg_err_set(err, VG_ERR_IO, "%s: %s", buf, strerror(errno));
            *p = keep;
            if (!keep) break;
        }
    }
    return VG_OK;
}

/* The false-alarm button: the last alarm's frame goes to FEEDBACK/<camera>/neutral/ (the
 * command line's unnamed camera: FEEDBACK/neutral/), a folder-per-class tree for learning
 * later, and its snapshot to .../neutral/snapshots/ (a sub-folder, which training on the tree
 * skips: the heat-map pictures are no scenes). */
static void false_alarm(loop_ctx *c) {
    const vg_watch_opts *o = c->o;
    const char *cam = o->camera ? o->camera : "camera";
    if (!o->feedback_dir) {
        wlog(c, "false alarm pressed, but no feedback folder is configured: nothing recorded");
        return;
    }
    if (!c->alarm_img.rgb) {
        wlog(c, "false alarm pressed, but this camera has raised no alarm yet: nothing recorded");
        return;
    }
    char dir[1024], snaps[1100], name[160], path[1300];
    /* a named camera's own tree under the folder; the command line's camera: the folder */
    if (o->camera)
        snprintf(dir, sizeof dir, "%s/%s/neutral", o->feedback_dir, cam);
    else
        snprintf(dir, sizeof dir, "%s/neutral", o->feedback_dir);
    snprintf(snaps, sizeof snaps, "%s/snapshots", dir);
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tmv);
    snprintf(name, sizeof name, "vigie-%s-%sZ-f%lld.jpg", cam, stamp, (long long)c->alarm_frame);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    vg_err e;
    vg_status st = make_dirs(snaps, &e);
    if (st == VG_OK) st = vg_watch_jpeg_save(&c->alarm_img, 95, path, &e);
    if (st == VG_OK && c->alarm_snap[0]) {
        uint8_t *data = NULL;
        size_t size = 0;
        char sp[1300];
        snprintf(sp, sizeof sp, "%s/%s", snaps, name);
        st = vg_file_read(c->alarm_snap, (size_t)64 << 20, &data, &size, &e);
        if (st == VG_OK) st = vg_file_write_atomic(sp, data, size, &e);
        free(data);
    }
    if (st != VG_OK) {
        wlog(c, "false alarm: %s", e.msg);
        return;
    }
    char js[2048];
    event_head(c, js, sizeof js, "false_alarm");
    cat(js, sizeof js, ",\"alarm_frame\":%lld,\"class\":", (long long)c->alarm_frame);
    vg_watch_json_str(js, sizeof js, vg_model_label(c->m, c->alarm_cls));
    cat(js, sizeof js, ",\"feedback\":");
    vg_watch_json_str(js, sizeof js, path);
    cat(js, sizeof js, "}");
    send_event(c, js);
    if (o->on_feedback) o->on_feedback(o->ud, path);
    vg_image_free(&c->alarm_img); /* recorded once */
}

/* The MQTT commands of this camera: arm / disarm (active alarms end, reason "disarmed") and
 * false-alarm presses. Returns true when the state must be published again. */
static bool commands(loop_ctx *c, vg_watch_alarm_event *ev) {
    if (!c->o->mqtt) return false;
    bool armed;
    int presses;
    vg_watch_mqtt_commands(c->o->mqtt, c->mch, &armed, &presses);
    for (int i = 0; i < presses; i++)
        false_alarm(c);
    if (armed == c->armed) return false;
    c->armed = armed;
    if (!armed) {
        int n = vg_watch_alarm_stop(&c->alarm, c->pts, ev);
        for (int i = 0; i < n; i++) {
            ev[i].reason = VG_WATCH_END_DISARMED;
            emit(c, NULL, &ev[i]);
        }
    }
    char js[1024];
    event_head(c, js, sizeof js, armed ? "armed" : "disarmed");
    cat(js, sizeof js, "}");
    send_event(c, js);
    return true;
}

/* Frozen / black picture, flapping connection: an event and the state when it changes. */
static bool health_check(loop_ctx *c) {
    vg_watch_health_kind k = vg_watch_health_state(&c->health);
    if (k == c->health_state) return false;
    char js[1024];
    if (k != VG_HEALTH_OK) {
        event_head(c, js, sizeof js, "stuck");
        cat(js, sizeof js, ",\"reason\":\"%s\"}", vg_watch_health_name(k));
    } else {
        event_head(c, js, sizeof js, "stuck_end");
        cat(js, sizeof js, ",\"reason\":\"%s\"}", vg_watch_health_name(c->health_state));
    }
    wlog(c, "%s",
         k != VG_HEALTH_OK ? (k == VG_HEALTH_FROZEN  ? "picture frozen: stuck"
                              : k == VG_HEALTH_BLACK ? "picture black: stuck"
                                                     : "reconnecting again and again: stuck")
                           : "picture alive again");
    c->health_state = k;
    send_event(c, js);
    return true;
}

/* A swapped model (o->model), taken between two frames: the loop's own runner planned again
 * (the shared inference is swapped by its owner), the heat map pointed at it. A runner that
 * cannot be planned keeps the loop on the model it has (reported). Returns true when the
 * model changed (the state names it). */
static bool follow(loop_ctx *c, vg_runner **r, const vg_runner_opts *ro) {
    uint64_t gen;
    char id[VG_WATCH_MODEL_ID];
    const vg_model *m = vg_watch_model_acquire(c->o->model, &gen, id);
    vg_runner *nr = NULL;
    vg_err e;
    if (*r && vg_runner_init(&nr, m, ro, &e) != VG_OK) {
        wlog(c, "model %s: cannot plan its runner (%s): staying with %s", id, e.msg, c->model_id);
        vg_watch_model_release(c->o->model, m);
        c->gen = gen; /* not tried again at every frame */
        return false;
    }
    if (*r) {
        vg_runner_free(*r);
        *r = nr;
    }
    c->cam.m = m; /* same graph: the heat map's layers are where they were */
    vg_watch_model_release(c->o->model, c->m);
    wlog(c, "model %s in use (was %s)", id, c->model_id);
    c->m = m;
    c->gen = gen;
    memcpy(c->model_id, id, sizeof id);
    return true;
}

vg_status vg_watch_run(const vg_model *m, const vg_watch_opts *o, vg_watch_stats *stats,
                       vg_err *err) {
    memset(stats, 0, sizeof *stats);
    double t_start = vg_time_now();
    if (o->fps < 0 || o->fps > 1000)
        return vg_err_set(err, VG_ERR_ARG, "fps must be 0..1000, not %g", o->fps);
    const int n_views = vg_tiles_count(o->tile_rows, o->tile_cols);
    if (!n_views)
        return vg_err_set(err, VG_ERR_ARG, "tiles %dx%d: rows and columns must be 1..%d",
                          o->tile_rows, o->tile_cols, VG_TILES_MAX);
    loop_ctx c;
    memset(&c, 0, sizeof c);
    /* a swappable model: its current one, held until the end (c.m, released there) */
    if (o->model)
        m = vg_watch_model_acquire(o->model, &c.gen, c.model_id);
    else if (!m)
        return vg_err_set(err, VG_ERR_ARG, "watch: no model");
    vg_model_info info;
    vg_model_get_info(m, &info);
    vg_watch_opts oo = *o; /* with the alarm levels resolved */
    vg_status st = vg_watch_levels(m, &oo, NULL, 0, err);
    if (st != VG_OK) {
        if (o->model) vg_watch_model_release(o->model, m);
        return st;
    }
    c.m = m;
    c.o = o;
    c.st = stats;
    c.n_classes = info.n_classes;
    c.mch = -1;
    c.armed = true;
    vg_watch_health_init(&c.health, o->stuck_after);
    c.is_alarm = vg_calloc((size_t)info.n_classes, sizeof(bool));
    float *probs = vg_malloc(sizeof(float) * (size_t)info.n_classes);
    /* tiles: every view's probabilities and the alarm classes as the library takes them */
    float *per_view = vg_malloc(sizeof(float) * (size_t)info.n_classes * (size_t)n_views);
    uint8_t *alarm_mask = vg_calloc((size_t)info.n_classes, 1);
    lat_hist *lat = vg_calloc(1, sizeof *lat);
    mailbox *mb = vg_calloc(1, sizeof *mb);
    if (mb) {
        pthread_mutex_init(&mb->mu, NULL);
        pthread_cond_init(&mb->cv, NULL);
    }
    vg_runner *r = NULL;
    float *inbuf = NULL; /* the shared inference's input */
    size_t in_size = 0;
    vg_watch_source *src = NULL;
    vg_image work = {0, 0, NULL};
    bool thread = false;
    pthread_t th;
    if (!c.is_alarm || !probs || !per_view || !alarm_mask || !lat || !mb) {
        st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        goto done;
    }
    st = vg_watch_alarm_classes(m, o->classes, c.is_alarm, err);
    if (st == VG_OK)
        st =
            vg_watch_alarm_init(&c.alarm, &oo.alarm, info.n_classes, c.is_alarm, o->per_class, err);
    if (st != VG_OK) goto done;
    for (int i = 0; i < info.n_classes; i++)
        alarm_mask[i] = c.is_alarm[i];
    /* whole frames through the shared inference when there is one; else a runner of our own */
    const bool shared = o->infer && n_views == 1;
    vg_runner_opts ro = vg_runner_opts_default();
    ro.threads = o->threads;
    ro.precision = o->precision;
    ro.batch = n_views; /* all the views of a frame in one forward pass */
    if (shared) {
        in_size = (size_t)m->input.w * m->input.h * m->input.c;
        if (!(inbuf = vg_malloc(sizeof(float) * in_size))) {
            st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
            goto done;
        }
    } else if ((st = vg_runner_init(&r, m, &ro, err)) != VG_OK) {
        goto done;
    }
    if (o->snapshots) {
        vg_err e;
        if (vg_watch_cam_init(&c.cam, m, &e) == VG_OK) {
            vg_watch_cam_size(&c.cam, o->tile_rows, o->tile_cols, &c.map_h, &c.map_w);
            c.map = vg_malloc(sizeof(float) * (size_t)c.map_h * (size_t)c.map_w);
            c.have_cam = c.map != NULL;
        } else {
            wlog(&c, "snapshots without heat map: %s", e.msg);
        }
    }
    /* the source reports through the mailbox, which notes trouble for the state */
    vg_watch_source_opts so = o->src;
    so.log = source_log;
    so.log_ud = mb;
    so.stop = o->stop;
    mb->user_log = o->src.log;
    mb->user_ud = o->ud;
    if ((st = vg_watch_source_open(&src, o->source, &so, err)) != VG_OK) goto done;
    if (o->mqtt) {
        const char *labels[VG_MAX_CLASSES];
        int n = 0;
        for (int i = 0; i < c.alarm.n_alarm; i++)
            labels[n++] = vg_model_label(m, c.alarm.alarm_cls[i]);
        st = vg_watch_mqtt_channel(o->mqtt, o->camera, labels, n, o->feedback_dir != NULL, &c.mch,
                                   err);
        if (st != VG_OK) goto done;
    }
    mb->src = src;
    mb->live = vg_watch_source_live(src);
    mb->network = vg_watch_source_kind(src) >= VG_WATCH_SRC_DEVICE;
    mb->period = o->fps > 0 ? 1.0 / o->fps : 0;
    mb->stop = o->stop;
    publish_state(&c, true, false);
    if (pthread_create(&th, NULL, reader_main, mb) != 0) {
        st = vg_err_set(err, VG_ERR_NOMEM, "cannot start the reader thread");
        goto done;
    }
    thread = true;
    vg_watch_alarm_event *ev = vg_calloc((size_t)c.alarm.n_channels, sizeof *ev);
    if (!ev) {
        st = vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (commands(&c, ev)) publish_state(&c, true, false); /* a restarted camera, disarmed */
    for (;;) {
        pthread_mutex_lock(&mb->mu);
        while (!mb->full && !mb->done && !stop_requested(o->stop)) {
            struct timespec until = after(0.1);
            pthread_cond_timedwait(&mb->cv, &mb->mu, &until);
            bool lost = atomic_load(&mb->src_lost);
            int64_t recov = mb->recoveries;
            pthread_mutex_unlock(&mb->mu);
            /* commands and health also while no frame comes */
            if (o->on_tick) o->on_tick(o->ud, vg_time_now());
            vg_watch_health_reconnects(&c.health, recov, vg_time_now());
            bool changed = commands(&c, ev);
            changed |= health_check(&c);
            if (changed || lost != c.src_lost_published) publish_state(&c, true, lost);
            pthread_mutex_lock(&mb->mu);
        }
        if (!mb->full || stop_requested(o->stop)) {
            pthread_mutex_unlock(&mb->mu);
            break;
        }
        vg_image tmp = mb->slot;
        mb->slot = work;
        work = tmp;
        mb->full = false;
        double t = mb->t, t_ready = mb->t_ready;
        int64_t recov = mb->recoveries;
        c.frame = mb->index;
        pthread_cond_broadcast(&mb->cv);
        pthread_mutex_unlock(&mb->mu);
        vg_err e;
        if (o->on_tick) o->on_tick(o->ud, vg_time_now());
        /* the picture as the camera sends it, masks or not */
        vg_watch_health_frame(&c.health, &work, t);
        vg_watch_health_reconnects(&c.health, recov, vg_time_now());
        if ((st = apply_masks(&c, &work, err)) != VG_OK) break;
        /* a swapped model: taken here, between two frames */
        bool swapped = o->model && vg_watch_model_gen(o->model) != c.gen && follow(&c, &r, &ro);
        m = c.m;
        vg_status cs = VG_OK;
        if (shared) {
            cs = vg_image_to_input(&work, &m->input, inbuf, in_size, &e);
            if (cs == VG_OK) vg_watch_infer_classify(o->infer, inbuf, probs);
        } else {
            cs = n_views == 1
                     ? vg_runner_classify(r, &work, probs, (size_t)info.n_classes, &e)
                     : vg_runner_classify_tiles(r, &work, o->tile_rows, o->tile_cols, alarm_mask,
                                                probs, (size_t)info.n_classes, per_view,
                                                (size_t)info.n_classes * n_views, NULL, &e);
        }
        if (cs != VG_OK) {
            stats->bad++;
            wlog(&c, "frame %lld: %s", (long long)c.frame, e.msg);
            continue;
        }
        if (n_views > 1 && o->per_class) /* each class channel: its own max over the views */
            for (int k = 0; k < info.n_classes; k++) {
                probs[k] = per_view[k];
                for (int v = 1; v < n_views; v++)
                    if (per_view[(size_t)v * info.n_classes + k] > probs[k])
                        probs[k] = per_view[(size_t)v * info.n_classes + k];
            }
        stats->classified++;
        c.pts = t;
        bool changed = atomic_load(&mb->src_lost) != c.src_lost_published || swapped;
        changed |= commands(&c, ev);
        changed |= health_check(&c);
        /* disarmed: classified (the statistics stay true) but no alarm */
        int n = c.armed ? vg_watch_alarm_step(&c.alarm, probs, t, ev) : 0;
        for (int i = 0; i < n; i++) {
            emit(&c, &work, &ev[i]);
            changed |= ev[i].kind != VG_WATCH_EV_UPDATE;
        }
        if (changed) publish_state(&c, true, atomic_load(&mb->src_lost));
        lat_add(lat, (vg_time_now() - t_ready) * 1e3);
    }
    /* alarms still on end here, so that every start has its end in the log */
    int n = vg_watch_alarm_stop(&c.alarm, c.pts, ev);
    for (int i = 0; i < n; i++)
        emit(&c, NULL, &ev[i]);
    free(ev);
    publish_state(&c, false, false);
done:
    if (thread) {
        /* a file or folder reader may be waiting for the loop to take its frame: after an
         * error the loop never will (without this, an allocation failure hung here) */
        pthread_mutex_lock(&mb->mu);
        mb->quit = true;
        pthread_cond_broadcast(&mb->cv);
        pthread_mutex_unlock(&mb->mu);
        pthread_join(th, NULL);
        if (st == VG_OK && mb->st != VG_OK) {
            st = mb->st;
            if (err) *err = mb->err;
        }
    }
    if (mb) {
        stats->read = mb->read;
        stats->skipped = mb->skipped;
        stats->dropped = mb->dropped;
        vg_image_free(&mb->slot);
        pthread_mutex_destroy(&mb->mu);
        pthread_cond_destroy(&mb->cv);
    }
    if (src) {
        stats->bad += vg_watch_source_bad_frames(src);
        stats->reconnects = vg_watch_source_reconnects(src);
    }
    if (lat) {
        stats->lat_mean_ms = lat->n ? lat->sum / (double)lat->n : 0;
        stats->lat_p99_ms = lat_quantile(lat, 0.99);
        stats->lat_max_ms = lat->max;
    }
    stats->seconds = vg_time_now() - t_start;
    stats->peak_rss = vg_peak_rss_bytes();
    vg_image_free(&work);
    vg_watch_source_free(src);
    vg_runner_free(r);
    if (o->model) vg_watch_model_release(o->model, c.m);
    free(inbuf);
    vg_watch_alarm_free(&c.alarm);
    vg_image_free(&c.alarm_img);
    free(c.maskmap);
    free(c.map);
    free(c.is_alarm);
    free(probs);
    free(per_view);
    free(alarm_mask);
    free(lat);
    free(mb);
    return st;
}
