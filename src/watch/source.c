/* source.c — frame sources of `vigie watch` (source.h): folders of images through vigie's own
 * decoders, everything else through Debian's FFmpeg libraries (libavformat demuxes files,
 * network streams and, through libavdevice, V4L2 cameras; libavcodec decodes; libswscale
 * converts to RGB).
 *
 * Blocking calls into FFmpeg are bounded by its interrupt callback: it fires when a stop is
 * requested or when a live source has been silent for `timeout` seconds, so an unplugged
 * camera or a dead RTSP server cannot hang the watch, and SIGTERM is honoured within ~50 ms.
 * FFmpeg's own logging is switched off: the library never prints, every failure comes back
 * as a message. */
#define _POSIX_C_SOURCE 200809L
#include "watch/source.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <libavcodec/avcodec.h>
#include <libavdevice/avdevice.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>

struct vg_watch_source {
    vg_watch_source_opts o;
    char *uri;
    vg_watch_src_kind kind;
    bool live;
    /* folder */
    char **names;
    int n_names, next;
    int64_t good_in_pass;
    /* FFmpeg */
    AVFormatContext *ic;
    AVCodecContext *dec;
    struct SwsContext *sws;
    AVPacket *pkt;
    AVFrame *frm;
    int stream;
    double tb;        /* seconds per pts tick */
    double frame_dur; /* nominal frame duration, seconds */
    bool flushing;    /* end of input sent to the decoder */
    double deadline;  /* interrupt callback: give up after this time (0: never) */
    /* timing */
    double t0;          /* open time (live time origin) */
    double rt0;         /* realtime pacing origin: wall time of t = 0 */
    bool have_rt0;
    double first_pts;   /* first pts of the current pass over a file */
    bool have_first;
    double loop_offset; /* time added to a file pass (loops) */
    double last_t;
    int64_t index;
    /* health */
    int64_t reconnects, bad;
    int failures;      /* failed opens in a row */
    double delay;      /* next back-off delay */
    bool ok, lost;
};

vg_watch_source_opts vg_watch_source_opts_default(void) {
    vg_watch_source_opts o;
    memset(&o, 0, sizeof o);
    o.folder_fps = 1.0;
    o.reconnect_min = 1.0;
    o.reconnect_max = 30.0;
    o.timeout = 10.0;
    return o;
}

static bool stopped(const vg_watch_source *s) { return vg_cancel_requested(s->o.stop); }

static void logf_(vg_watch_source *s, const char *fmt, ...) VG_PRINTF(2, 3);
static void logf_(vg_watch_source *s, const char *fmt, ...) {
    if (!s->o.log) return;
    char msg[VG_ERR_MSG_SIZE + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    s->o.log(s->o.log_ud, msg);
}

/* Sleeps `sec` seconds in short steps; false when a stop was requested. */
static bool sleep_for(const vg_watch_source *s, double sec) {
    double end = vg_time_now() + sec;
    for (;;) {
        if (stopped(s)) return false;
        double left = end - vg_time_now();
        if (left <= 0) return true;
        if (left > 0.05) left = 0.05;
        struct timespec ts = {0, (long)(left * 1e9)};
        nanosleep(&ts, NULL);
    }
}

static int interrupt_cb(void *p) {
    const vg_watch_source *s = p;
    if (stopped(s)) return 1;
    return s->deadline > 0 && vg_time_now() > s->deadline;
}

static pthread_once_t av_once = PTHREAD_ONCE_INIT;
static void av_global_init(void) {
    av_log_set_level(AV_LOG_QUIET);
    avdevice_register_all();
    avformat_network_init();
}

static const char *av_msg(int rc, char *buf, size_t n) {
    if (av_strerror(rc, buf, n) < 0) snprintf(buf, n, "error %d", rc);
    return buf;
}

/* ---- folders ------------------------------------------------------------------------------ */

static bool is_image_name(const char *n) {
    const char *dot = strrchr(n, '.');
    if (!dot || dot == n) return false;
    return strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0 ||
           strcasecmp(dot, ".png") == 0 || strcasecmp(dot, ".bmp") == 0;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void vg_watch_folder_list_free(char **names, int n) {
    for (int i = 0; names && i < n; i++) free(names[i]);
    free(names);
}

vg_status vg_watch_folder_list(const char *dir, char ***names, int *n, vg_err *err) {
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return vg_err_set(err, VG_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    char **v = NULL;
    int cnt = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !is_image_name(e->d_name)) continue;
        if (cnt == cap) {
            if (cap >= (1 << 24)) break; /* 16 M names: enough for any camera folder */
            int nc = cap ? cap * 2 : 64;
            char **nv = vg_realloc(v, sizeof(char *) * (size_t)nc);
            if (!nv) goto oom;
            v = nv;
            cap = nc;
        }
        if (!(v[cnt] = vg_strdup(e->d_name))) goto oom;
        cnt++;
    }
    closedir(d);
    if (cnt) qsort(v, (size_t)cnt, sizeof *v, cmp_names);
    *names = v;
    *n = cnt;
    return VG_OK;
oom:
    closedir(d);
    vg_watch_folder_list_free(v, cnt);
    return vg_err_set(err, VG_ERR_NOMEM, "%s: out of memory listing the folder", dir);
}

/* ---- FFmpeg ------------------------------------------------------------------------------- */

static void av_close(vg_watch_source *s) {
    sws_freeContext(s->sws);
    s->sws = NULL;
    av_frame_free(&s->frm);
    av_packet_free(&s->pkt);
    avcodec_free_context(&s->dec);
    avformat_close_input(&s->ic);
    s->flushing = false;
}

static vg_status av_open(vg_watch_source *s, vg_err *err) {
    char eb[256];
    const AVInputFormat *fmt = NULL;
    if (s->kind == VG_WATCH_SRC_DEVICE) {
        fmt = av_find_input_format("video4linux2");
        if (!fmt)
            return vg_err_set(err, VG_ERR_UNSUPPORTED,
                              "%s: this FFmpeg has no video4linux2 input", s->uri);
    }
    AVDictionary *d = NULL;
    for (int i = 0; i < s->o.n_av_opts; i++) {
        const char *kv = s->o.av_opts[i], *eq = strchr(kv, '=');
        if (!eq || eq == kv) {
            av_dict_free(&d);
            return vg_err_set(err, VG_ERR_ARG, "source option '%s' is not KEY=VALUE", kv);
        }
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
        av_dict_set(&d, key, eq + 1, 0);
    }
    AVFormatContext *ic = avformat_alloc_context();
    if (!ic) {
        av_dict_free(&d);
        return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    ic->interrupt_callback.callback = interrupt_cb;
    ic->interrupt_callback.opaque = s;
    s->deadline = s->live ? vg_time_now() + s->o.timeout : 0;
    int rc = avformat_open_input(&ic, s->uri, fmt, &d); /* frees ic on failure */
    const AVDictionaryEntry *left = av_dict_get(d, "", NULL, AV_DICT_IGNORE_SUFFIX);
    char unused[128] = "";
    if (left) snprintf(unused, sizeof unused, "%s", left->key);
    av_dict_free(&d);
    if (rc < 0)
        return vg_err_set(err, s->live ? VG_ERR_IO : VG_ERR_FORMAT, "%s: cannot open: %s",
                          s->uri, stopped(s) ? "interrupted" : av_msg(rc, eb, sizeof eb));
    s->ic = ic;
    if (unused[0]) {
        av_close(s);
        return vg_err_set(err, VG_ERR_ARG, "%s: source option '%s' is not known to FFmpeg",
                          s->uri, unused);
    }
    rc = avformat_find_stream_info(ic, NULL);
    if (rc < 0) {
        av_close(s);
        return vg_err_set(err, s->live ? VG_ERR_IO : VG_ERR_FORMAT, "%s: no stream information: %s",
                          s->uri, av_msg(rc, eb, sizeof eb));
    }
    const AVCodec *codec = NULL;
    rc = av_find_best_stream(ic, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (rc < 0 || !codec) {
        av_close(s);
        return vg_err_set(err, VG_ERR_FORMAT, "%s: no decodable video stream", s->uri);
    }
    s->stream = rc;
    AVStream *st = ic->streams[rc];
    s->tb = av_q2d(st->time_base);
    AVRational fr = st->avg_frame_rate.num > 0 ? st->avg_frame_rate : st->r_frame_rate;
    s->frame_dur = fr.num > 0 && fr.den > 0 ? av_q2d(av_inv_q(fr)) : 0.04;
    if (!(s->frame_dur > 0 && s->frame_dur < 60)) s->frame_dur = 0.04;
    s->dec = avcodec_alloc_context3(codec);
    s->pkt = av_packet_alloc();
    s->frm = av_frame_alloc();
    if (!s->dec || !s->pkt || !s->frm) {
        av_close(s);
        return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    rc = avcodec_parameters_to_context(s->dec, st->codecpar);
    if (rc >= 0) rc = avcodec_open2(s->dec, codec, NULL);
    if (rc < 0) {
        av_close(s);
        return vg_err_set(err, VG_ERR_UNSUPPORTED, "%s: cannot open the %s decoder: %s", s->uri,
                          codec->name, av_msg(rc, eb, sizeof eb));
    }
    return VG_OK;
}

/* Converts the decoded frame to RGB in img. */
static vg_status av_convert(vg_watch_source *s, vg_image *img, vg_err *err) {
    AVFrame *f = s->frm;
    int w = f->width, h = f->height;
    if (w < 1 || h < 1 || w > VG_IMAGE_MAX_DIM || h > VG_IMAGE_MAX_DIM ||
        (uint64_t)w * (uint64_t)h > VG_IMAGE_MAX_PIXELS || f->format < 0)
        return vg_err_set(err, VG_ERR_FORMAT, "%s: decoder gave a %dx%d frame", s->uri, w, h);
    if (img->w != w || img->h != h || !img->rgb) {
        uint8_t *p = vg_realloc(img->rgb, (size_t)w * (size_t)h * 3);
        if (!p) return vg_err_set(err, VG_ERR_NOMEM, "%s: out of memory for a %dx%d frame",
                                  s->uri, w, h);
        img->rgb = p;
        img->w = w;
        img->h = h;
    }
    s->sws = sws_getCachedContext(s->sws, w, h, (enum AVPixelFormat)f->format, w, h,
                                  AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
    if (!s->sws)
        return vg_err_set(err, VG_ERR_UNSUPPORTED, "%s: cannot convert pixel format %s to RGB",
                          s->uri, av_get_pix_fmt_name((enum AVPixelFormat)f->format));
    uint8_t *dst[4] = {img->rgb, NULL, NULL, NULL};
    int ls[4] = {w * 3, 0, 0, 0};
    sws_scale(s->sws, (const uint8_t *const *)f->data, f->linesize, 0, h, dst, ls);
    return VG_OK;
}

/* One decoded frame: 1, end of input: 0, error: -1 (err set). Undecodable packets are
 * counted and skipped (a damaged stretch of a file or a lost packet of a stream). */
static int av_next(vg_watch_source *s, vg_image *img, double *pts, vg_err *err) {
    char eb[256];
    for (;;) {
        int rc = avcodec_receive_frame(s->dec, s->frm);
        if (rc == 0) {
            int64_t ts = s->frm->best_effort_timestamp;
            *pts = ts == AV_NOPTS_VALUE ? -1 : (double)ts * s->tb;
            vg_status st = av_convert(s, img, err);
            av_frame_unref(s->frm);
            if (st != VG_OK) {
                if (st == VG_ERR_NOMEM) return -1;
                s->bad++;
                continue;
            }
            return 1;
        }
        if (rc == AVERROR_EOF) return 0;
        if (rc != AVERROR(EAGAIN)) {
            vg_err_set(err, VG_ERR_FORMAT, "%s: decoder: %s", s->uri, av_msg(rc, eb, sizeof eb));
            return -1;
        }
        if (s->flushing) return 0;
        s->deadline = s->live ? vg_time_now() + s->o.timeout : 0;
        rc = av_read_frame(s->ic, s->pkt);
        if (rc == AVERROR_EOF || (rc < 0 && !s->live && avio_feof(s->ic->pb))) {
            avcodec_send_packet(s->dec, NULL); /* drain the frames the decoder holds */
            s->flushing = true;
            continue;
        }
        if (rc < 0) {
            vg_err_set(err, VG_ERR_IO, "%s: %s", s->uri,
                       stopped(s)                          ? "interrupted"
                       : s->live && rc == AVERROR_EXIT     ? "no data (timeout)"
                                                           : av_msg(rc, eb, sizeof eb));
            return -1;
        }
        if (s->pkt->stream_index == s->stream) {
            rc = avcodec_send_packet(s->dec, s->pkt);
            if (rc < 0 && rc != AVERROR(EAGAIN)) s->bad++;
        }
        av_packet_unref(s->pkt);
    }
}

/* ---- the source ----------------------------------------------------------------------------- */

vg_status vg_watch_source_open(vg_watch_source **out, const char *uri,
                               const vg_watch_source_opts *o, vg_err *err) {
    *out = NULL;
    if (!uri || !uri[0]) return vg_err_set(err, VG_ERR_ARG, "empty source");
    if (!(o->folder_fps > 0) || !(o->reconnect_min > 0) || !(o->reconnect_max >= o->reconnect_min) ||
        !(o->timeout > 0) || o->max_retries < 0)
        return vg_err_set(err, VG_ERR_ARG, "source: invalid timing options");
    pthread_once(&av_once, av_global_init);
    vg_watch_source *s = vg_calloc(1, sizeof *s);
    if (!s || !(s->uri = vg_strdup(uri))) {
        free(s);
        return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    }
    s->o = *o;
    s->t0 = vg_time_now();
    s->delay = o->reconnect_min;
    s->ok = true;
    struct stat stt;
    bool exists = stat(uri, &stt) == 0;
    if (exists && S_ISDIR(stt.st_mode)) s->kind = VG_WATCH_SRC_FOLDER;
    else if (strncmp(uri, "/dev/video", 10) == 0 || (exists && S_ISCHR(stt.st_mode)))
        s->kind = VG_WATCH_SRC_DEVICE;
    else if (strstr(uri, "://")) s->kind = VG_WATCH_SRC_NETWORK;
    else s->kind = VG_WATCH_SRC_FILE;
    s->live = s->kind == VG_WATCH_SRC_DEVICE || s->kind == VG_WATCH_SRC_NETWORK;
    vg_status st = VG_OK;
    if (s->kind == VG_WATCH_SRC_FOLDER) {
        st = vg_watch_folder_list(uri, &s->names, &s->n_names, err);
        if (st == VG_OK && s->n_names == 0)
            st = vg_err_set(err, VG_ERR_IO, "%s: no images (.jpg, .jpeg, .png, .bmp) in the folder",
                            uri);
    } else if (s->kind == VG_WATCH_SRC_FILE) {
        if (!exists) st = vg_err_set(err, VG_ERR_IO, "%s: %s", uri, strerror(errno));
        else if (!S_ISREG(stt.st_mode))
            st = vg_err_set(err, VG_ERR_IO, "%s: not a file, folder, device or URL", uri);
        else st = av_open(s, err);
    }
    if (st != VG_OK) {
        vg_watch_source_free(s);
        return st;
    }
    *out = s;
    return VG_OK;
}

void vg_watch_source_free(vg_watch_source *s) {
    if (!s) return;
    av_close(s);
    vg_watch_folder_list_free(s->names, s->n_names);
    free(s->uri);
    free(s);
}

vg_watch_src_kind vg_watch_source_kind(const vg_watch_source *s) { return s->kind; }
bool vg_watch_source_live(const vg_watch_source *s) { return s->live || s->o.realtime; }
int64_t vg_watch_source_reconnects(const vg_watch_source *s) { return s->reconnects; }
int64_t vg_watch_source_bad_frames(const vg_watch_source *s) { return s->bad; }
bool vg_watch_source_ok(const vg_watch_source *s) { return s->ok; }

/* Files and folders with `realtime`: wait until the frame's time has come. */
static bool pace(vg_watch_source *s, double t) {
    if (!s->o.realtime || s->live) return true;
    double now = vg_time_now();
    if (!s->have_rt0) {
        s->rt0 = now - t;
        s->have_rt0 = true;
    }
    return sleep_for(s, s->rt0 + t - now);
}

static vg_status read_folder(vg_watch_source *s, vg_image *img, double *t, bool *got,
                             vg_err *err) {
    for (;;) {
        if (stopped(s)) return VG_OK;
        if (s->next >= s->n_names) {
            if (!s->o.loop) return VG_OK;
            if (s->good_in_pass == 0)
                return vg_err_set(err, VG_ERR_FORMAT, "%s: no readable image in the folder",
                                  s->uri);
            s->next = 0;
            s->good_in_pass = 0;
        }
        const char *name = s->names[s->next++];
        size_t n = strlen(s->uri) + strlen(name) + 2;
        char *path = vg_malloc(n);
        if (!path) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
        snprintf(path, n, "%s/%s", s->uri, name);
        vg_image im = {0, 0, NULL};
        vg_err e;
        vg_status st = vg_image_load(path, &im, &e);
        free(path);
        if (st == VG_ERR_NOMEM) return vg_err_set(err, st, "%s", e.msg);
        if (st != VG_OK) {
            s->bad++;
            logf_(s, "%s; skipped", e.msg);
            continue;
        }
        vg_image_free(img);
        *img = im;
        s->good_in_pass++;
        *t = (double)s->index / s->o.folder_fps;
        if (!pace(s, *t)) {
            return VG_OK;
        }
        *got = true;
        return VG_OK;
    }
}

static vg_status read_file(vg_watch_source *s, vg_image *img, double *t, bool *got,
                           vg_err *err) {
    for (;;) {
        if (stopped(s)) return VG_OK;
        double pts;
        vg_err e;
        int r = av_next(s, img, &pts, &e);
        if (r < 0) return stopped(s) ? VG_OK : vg_err_set(err, e.status, "%s", e.msg);
        if (r == 0) {
            if (!s->o.loop) return VG_OK;
            if (!s->have_first) /* this pass gave no frame: looping would spin */
                return vg_err_set(err, VG_ERR_FORMAT, "%s: no frame in the file", s->uri);
            /* the next pass starts one frame after the last */
            s->loop_offset = s->last_t + s->frame_dur;
            s->have_first = false;
            av_close(s);
            vg_status st = av_open(s, err);
            if (st != VG_OK) return st;
            continue;
        }
        double tt;
        if (pts >= 0) {
            if (!s->have_first) {
                s->first_pts = pts;
                s->have_first = true;
            }
            tt = pts - s->first_pts + s->loop_offset;
        } else {
            tt = s->index ? s->last_t + s->frame_dur : 0;
            s->have_first = true;
        }
        if (s->index && tt < s->last_t) tt = s->last_t; /* keep time monotonic */
        s->last_t = tt;
        *t = tt;
        if (!pace(s, tt)) return VG_OK;
        *got = true;
        return VG_OK;
    }
}

static vg_status read_live(vg_watch_source *s, vg_image *img, double *t, bool *got,
                           vg_err *err) {
    for (;;) {
        if (stopped(s)) return VG_OK;
        if (!s->ic) {
            if ((s->failures > 0 || s->lost) && !sleep_for(s, s->delay)) return VG_OK;
            if (s->failures > 0 || s->lost) s->reconnects++;
            vg_err e;
            vg_status st = av_open(s, &e);
            if (stopped(s)) return VG_OK;
            if (st == VG_ERR_ARG || st == VG_ERR_NOMEM || st == VG_ERR_UNSUPPORTED)
                return vg_err_set(err, st, "%s", e.msg); /* retrying cannot help */
            if (st != VG_OK) {
                s->failures++;
                s->ok = false;
                if (s->o.max_retries && s->failures > s->o.max_retries)
                    return vg_err_set(err, VG_ERR_IO, "%s; giving up after %d attempts", e.msg,
                                      s->failures);
                logf_(s, "%s; retrying in %.1f s (attempt %d)", e.msg, s->delay, s->failures);
                s->delay = s->delay * 2 < s->o.reconnect_max ? s->delay * 2 : s->o.reconnect_max;
                continue;
            }
            if (s->failures > 0 || s->lost)
                logf_(s, "%s: connected again after %d failed attempt%s", s->uri, s->failures,
                      s->failures == 1 ? "" : "s");
            s->failures = 0;
            s->lost = false;
        }
        double pts;
        vg_err e;
        int r = av_next(s, img, &pts, &e);
        if (stopped(s)) return VG_OK;
        if (r == 1) {
            s->ok = true;
            s->delay = s->o.reconnect_min;
            *t = vg_time_now() - s->t0;
            *got = true;
            return VG_OK;
        }
        if (r < 0 && e.status == VG_ERR_NOMEM) return vg_err_set(err, e.status, "%s", e.msg);
        if (r == 0) logf_(s, "%s: stream ended; reconnecting in %.1f s", s->uri, s->delay);
        else logf_(s, "%s; stream lost, reconnecting in %.1f s", e.msg, s->delay);
        av_close(s);
        s->lost = true;
        s->ok = false;
    }
}

vg_status vg_watch_source_read(vg_watch_source *s, vg_image *img, double *t, int64_t *index,
                               bool *got, vg_err *err) {
    *got = false;
    vg_status st;
    if (s->kind == VG_WATCH_SRC_FOLDER) st = read_folder(s, img, t, got, err);
    else if (s->live) st = read_live(s, img, t, got, err);
    else st = read_file(s, img, t, got, err);
    if (*got) *index = s->index++;
    return st;
}
