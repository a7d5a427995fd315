/* cmd_watch.c — `vigie watch MODEL --source URI [...]`: watch a camera, a stream, a video
 * file or a folder of images and raise fire / smoke alarms (JSON lines, snapshots, MQTT).
 * `vigie watch --config FILE.yaml`: the cameras of a configuration file, one model shared by
 * a loop per camera; `--check-config FILE` validates one.
 * Signals: SIGINT / SIGTERM stop the loop cleanly (active alarms end, MQTT says offline, the
 * statistics are printed); everything else is in src/watch/. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

static const cli_opt opts[] = {
    {"--config", "FILE.yaml",
     "run the cameras of a configuration file (examples/vigie.yaml "
     "documents every key) instead of MODEL --source"},
    {"--check-config", "FILE.yaml", "validate a configuration file (and its model) and exit"},
    {"--source", "URI",
     "/dev/videoN, a video file, rtsp:// http:// ... stream, or a folder of "
     "images (read in name order)"},
    {"--fps", "N",
     "classify at most N frames a second (default: every frame, as fast as the "
     "model allows); folders: their frame rate (default 1)"},
    {"--loop", NULL, "files and folders: start again at the end"},
    {"--realtime", NULL, "files and folders: read at their own frame rate, like a camera"},
    {"--source-opt", "K=V",
     "FFmpeg option for opening the source (repeatable), e.g. "
     "rtsp_transport=tcp, video_size=640x480, input_format=mjpeg"},
    {"--reconnect", "S", "live sources: first delay before reconnecting (default 1 s, doubles)"},
    {"--reconnect-max", "S", "longest delay between reconnection attempts (default 30 s)"},
    {"--retries", "N", "give up after N failed attempts in a row (default 0: never)"},
    {"--timeout", "S",
     "live sources: seconds without data before the stream counts as lost "
     "(default 10)"},
    {"--classes", "LIST",
     "alarm classes, comma-separated (default: all but the model's "
     "no-alarm class, e.g. fire,smoke)"},
    {"--per-class", NULL,
     "one alarm per class (default: one alarm on the summed probability "
     "of the alarm classes, the model's own rule)"},
    {"--window", "N", "frames in the sliding mean of each class probability (default 10)"},
    {"--on", "P",
     "alarm when the smoothed score reaches P (default: 4x the odds of the "
     "model's alarm threshold, 0.8 for a threshold of 0.5; 0.8 without one)"},
    {"--off", "P",
     "alarm over when it falls below P (default: the model's alarm threshold; "
     "0.5 without one; hysteresis)"},
    {"--tiles", "RxC",
     "classify each frame as a whole and as RxC overlapping tiles, in one "
     "batch; the alarm score is the max over the views (default 1x1: the "
     "whole frame only)"},
    {"--min-duration", "S", "seconds the score must hold before the alarm starts (default 2)"},
    {"--cooldown", "S", "seconds after an alarm ends before another may start (default 10)"},
    {"--update", "S", "seconds between alarm_update events (default 10; 0: none)"},
    {"--events", "FILE", "append the JSON-lines events to FILE (default: stdout)"},
    {"--snapshots", "DIR",
     "alarm-start snapshots with heat map (default: the events file's "
     "folder, else the current folder)"},
    {"--no-snapshots", NULL, "no snapshots"},
    {"--mqtt", "HOST[:PORT]", "publish to this MQTT broker (port 1883, or 8883 with TLS)"},
    {"--topic", "PREFIX",
     "MQTT topic prefix (default vigie/NAME): PREFIX/event, "
     "PREFIX/state, PREFIX/status"},
    {"--name", "NAME", "camera name for MQTT and Home Assistant (default: the host name)"},
    {"--mqtt-user", "USER", "MQTT user name"},
    {"--mqtt-password", "PW", "MQTT password (better: environment VIGIE_MQTT_PASSWORD)"},
    {"--mqtt-tls", NULL, "TLS with the system's CA certificates"},
    {"--mqtt-cafile", "FILE", "TLS: CA certificate(s) of the broker (implies TLS)"},
    {"--mqtt-cert", "FILE", "TLS: client certificate (with --mqtt-key)"},
    {"--mqtt-key", "FILE", "TLS: client private key"},
    {"--mqtt-insecure", NULL, "TLS: do not check the broker's host name (testing only)"},
    {"--mqtt-wait", "S",
     "seconds to wait for the broker before starting (default 5; it "
     "keeps being retried after)"},
    {"--ha-prefix", "P", "Home Assistant discovery prefix (default homeassistant)"},
    {"--no-discovery", NULL, "no Home Assistant discovery messages"},
    {"--feedback-dir", "DIR",
     "MQTT: a \"false alarm\" button (Home Assistant) that writes the "
     "last alarm's frame to DIR/neutral/, for learning later"},
    {"--stuck-after", "S",
     "seconds of a frozen or black picture before the camera reports "
     "\"stuck\" (default 60; 0: never)"},
    {"--threads", "N", "inference threads (default 1)"},
    {"--precision", "P", "auto (int8 when the model has an int8 form), float or int8"},
};

static vg_cancel *stop; /* raised by SIGINT / SIGTERM, or when events cannot be written */

static void on_signal(int sig) {
    (void)sig;
    vg_cancel_request(stop);
}

/* SIGINT / SIGTERM raise the stop flag (a clean end); SIGPIPE is ignored: a closed stdout or
 * broker socket is an error, not a death */
static void install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

typedef struct {
    int fd; /* events file (O_APPEND), or -1 for stdout */
    bool failed;
    pthread_mutex_t mu; /* several cameras write their events here */
} sink;

/* what a camera's loop reports to: the shared sink, and its name for the log */
typedef struct {
    sink *s;
    const char *camera; /* NULL: the one camera of the command line */
} sink_ref;

static void on_log(void *ud, const char *msg) {
    const sink_ref *r = ud;
    if (r && r->camera)
        cli_error("watch", "%s: %s", r->camera, msg);
    else
        cli_error("watch", "%s", msg);
}

static void write_event(sink *s, const char *json);

static void on_event(void *ud, const char *json) {
    sink *s = ((sink_ref *)ud)->s;
    pthread_mutex_lock(&s->mu);
    write_event(s, json);
    pthread_mutex_unlock(&s->mu);
}

static void write_event(sink *s, const char *json) {
    if (s->fd < 0) {
        if (printf("%s\n", json) < 0 || fflush(stdout) != 0) s->failed = true;
    } else {
        /* one write per line: appends from several writers never interleave inside a line */
        size_t n = strlen(json);
        char *line = malloc(n + 1);
        if (!line) {
            s->failed = true;
        } else {
            memcpy(line, json, n);
            line[n] = '\n';
            ssize_t k;
            do
                k = write(s->fd, line, n + 1);
            while (k < 0 && errno == EINTR);
            if (k != (ssize_t)(n + 1)) s->failed = true;
            free(line);
        }
    }
    if (s->failed && !vg_cancel_requested(stop)) {
        cli_error("watch", "cannot write events: %s; stopping", strerror(errno));
        vg_cancel_request(stop);
    }
}

/* NAME: the host name, reduced to [A-Za-z0-9_-] */
static void default_name(char *buf, size_t n) {
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0]) snprintf(host, sizeof host, "camera");
    size_t k = 0;
    for (const char *p = host; *p && *p != '.' && k + 1 < n; p++)
        buf[k++] = isalnum((unsigned char)*p) || *p == '-' ? *p : '_';
    buf[k] = 0;
}

static bool parse_hostport(const char *s, bool tls, char *host, size_t n, int *port) {
    const char *colon = strrchr(s, ':');
    *port = tls ? 8883 : 1883;
    if (colon && strchr(s, ':') == colon) { /* one colon: HOST:PORT (IPv6 needs no port) */
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || *end || p < 1 || p > 65535) return false;
        *port = (int)p;
        snprintf(host, n, "%.*s", (int)(colon - s), s);
    } else {
        snprintf(host, n, "%s", s);
    }
    return host[0] != 0;
}

/* the statistics of one loop, on stderr */
static void print_stats(const char *camera, const vg_watch_stats *st) {
    char who[96] = "";
    if (camera) snprintf(who, sizeof who, "%s: ", camera);
    fprintf(stderr,
            "vigie watch: %sframes read %lld, classified %lld, dropped %lld (busy), skipped "
            "%lld (--fps), undecodable %lld\n",
            who, (long long)st->read, (long long)st->classified, (long long)st->dropped,
            (long long)st->skipped, (long long)st->bad);
    fprintf(stderr,
            "vigie watch: %slatency mean %.1f ms, p99 %.1f ms, max %.1f ms; alarms raised %lld; "
            "reconnects %lld; %.1f s; peak RSS %.0f MB\n",
            who, st->lat_mean_ms, st->lat_p99_ms, st->lat_max_ms, (long long)st->alarms,
            (long long)st->reconnects, st->seconds, (double)st->peak_rss / 1048576.0);
    if (st->snapshot_errors)
        fprintf(stderr, "vigie watch: %s%lld snapshots could not be written\n", who,
                (long long)st->snapshot_errors);
}

/* ---- --config FILE: the service (vg_service), run as systemd expects: readiness and
 * watchdog through libsystemd (no-ops when not started by systemd), SIGHUP reloads the file */

static volatile sig_atomic_t reload_asked;
static void on_hup(int sig) {
    (void)sig;
    reload_asked = 1;
}

static void svc_log(void *ud, const char *camera, const char *msg) {
    (void)ud;
    if (camera)
        cli_error("watch", "%s: %s", camera, msg);
    else
        cli_error("watch", "%s", msg);
}

typedef struct {
    sink_ref ref; /* first: on_event takes the context as its sink_ref */
    bool failed;  /* a camera ended with an error */
} svc_ctx;

static void svc_camera_end(void *ud, const vg_service_camera *c) {
    print_stats(c->name, c->stats);
    if (c->status != VG_OK) {
        cli_error("watch", "%s: %s", c->name, c->error);
        ((svc_ctx *)ud)->failed = true;
    }
}

/* --check-config: the file, its model and every camera against it; nothing starts */
static void check_line(void *ud, const vg_camera_cfg *c, const char *levels) {
    (void)ud;
    printf("camera %-16s %s%s: %s; fps %g (0: every frame), tiles %dx%d, %d mask%s, stuck after "
           "%g s\n",
           c->name, c->source, c->enabled ? "" : " (disabled)", levels, c->fps, c->tile_rows,
           c->tile_cols, c->n_masks, c->n_masks == 1 ? "" : "s", c->stuck_after);
}

static int check_config(const char *cmd, const char *path, vg_service_cfg *cfg) {
    vg_err err;
    if (vg_service_check(cfg, check_line, NULL, &err) != VG_OK) {
        cli_error(cmd, "%s", err.msg);
        return CLI_FAIL;
    }
    char mq[512] = "none";
    if (cfg->has_mqtt)
        snprintf(mq, sizeof mq, "%s:%d, topics %s/<camera>/..., discovery %s", cfg->mqtt.host,
                 cfg->mqtt.port, cfg->mqtt.topic_prefix ? cfg->mqtt.topic_prefix : "vigie",
                 cfg->mqtt.no_discovery       ? "off"
                 : cfg->mqtt.discovery_prefix ? cfg->mqtt.discovery_prefix
                                              : "homeassistant");
    char fb[1200] = "none";
    if (cfg->feedback_dir)
        snprintf(fb, sizeof fb, "%s%s", cfg->feedback_dir,
                 cfg->auto_adapt ? " (adapted live)" : "");
    printf("%s: valid: model %s, %d camera%s, events %s, snapshots %s, feedback %s, mqtt %s\n",
           path, cfg->model, cfg->n_cameras, cfg->n_cameras == 1 ? "" : "s",
           cfg->events ? cfg->events : "stdout", cfg->snapshots ? cfg->snapshots : "none", fb, mq);
    return CLI_OK;
}

/* SIGHUP reopens the events file, as log rotation expects (logrotate moves the file,
 * then signals): the lines go to the new file from here on */
static void reopen_events(const char *cmd, sink *sk, const char *events) {
    if (!events) return;
    int fd = open(events, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        cli_error(cmd, "%s: cannot reopen: %s; events still go to the old file", events,
                  strerror(errno));
        return;
    }
    pthread_mutex_lock(&sk->mu);
    int old = sk->fd;
    sk->fd = fd;
    pthread_mutex_unlock(&sk->mu);
    if (old >= 0 && close(old) != 0) cli_error(cmd, "%s: %s", events, strerror(errno));
}

/* SIGHUP: the file again; the cameras that changed, only them */
static void reload(const char *cmd, const char *path, vg_service *svc, sink *sk,
                   const char *events) {
    sd_notify(0, "RELOADING=1");
    reopen_events(cmd, sk, events);
    vg_service_cfg cfg;
    vg_err err;
    char summary[1024];
    if (vg_service_cfg_load(path, &cfg, &err) != VG_OK)
        cli_error(cmd, "reload refused, the running configuration stays: %s", err.msg);
    else if (vg_service_reload(svc, &cfg, summary, sizeof summary, &err) != VG_OK)
        cli_error(cmd, "reload: %s", err.msg);
    else
        cli_error(cmd, "reloaded %s: %s", path, summary);
    sd_notifyf(0, "READY=1\nSTATUS=watching %d camera(s)", vg_service_running(svc));
}

static int run_config(const char *cmd, const char *path, bool check_only) {
    vg_service_cfg cfg;
    vg_err err;
    if (vg_service_cfg_load(path, &cfg, &err) != VG_OK) {
        cli_error(cmd, "%s", err.msg);
        return CLI_FAIL;
    }
    if (check_only) {
        int st = check_config(cmd, path, &cfg);
        vg_service_cfg_free(&cfg);
        return st;
    }
    sink sk = {-1, false, PTHREAD_MUTEX_INITIALIZER};
    if (cfg.events) {
        sk.fd = open(cfg.events, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (sk.fd < 0) {
            cli_error(cmd, "%s: %s", cfg.events, strerror(errno));
            vg_service_cfg_free(&cfg);
            return CLI_FAIL;
        }
    }
    char *events = cfg.events ? strdup(cfg.events) : NULL; /* cfg goes to the service */
    if (vg_cancel_init(&stop, &err) != VG_OK) {
        cli_error(cmd, "%s", err.msg);
        vg_service_cfg_free(&cfg);
        if (sk.fd >= 0) close(sk.fd);
        free(events);
        return CLI_FAIL;
    }
    install_signals();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_hup;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);
    svc_ctx ctx = {{&sk, NULL}, false};
    vg_service_hooks h = {svc_log, on_event, svc_camera_end, &ctx};
    vg_service *svc = NULL;
    int status = CLI_OK;
    if (vg_service_start(&svc, &cfg, &h, &err) != VG_OK) {
        cli_error(cmd, "%s", err.msg);
        status = CLI_FAIL;
    } else {
        /* systemd: ready once every camera's loop has started; the watchdog (WatchdogSec=) is
         * petted at half its period while every loop comes round */
        uint64_t wd_usec = 0;
        bool wd = sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0;
        double wd_period = wd ? (double)wd_usec / 1e6 : 0, last_pet = 0;
        bool hung_said = false;
        sd_notifyf(0, "READY=1\nSTATUS=watching %d camera(s)", vg_service_running(svc));
        while (!vg_cancel_requested(stop)) {
            struct timespec ts = {0, 200 * 1000 * 1000};
            nanosleep(&ts, NULL);
            if (reload_asked) {
                reload_asked = 0;
                reload(cmd, path, svc, &sk, events);
            }
            if (vg_service_running(svc) == 0) {
                cli_error(cmd, "no camera left running");
                break;
            }
            double now = vg_time_now();
            if (wd && now - last_pet >= wd_period / 2) {
                if (vg_service_alive(svc, wd_period / 2 > 5 ? wd_period / 2 : 5)) {
                    sd_notify(0, "WATCHDOG=1");
                    last_pet = now;
                    hung_said = false;
                } else if (!hung_said) {
                    cli_error(cmd, "a camera's loop has stopped coming round: the watchdog is "
                                   "no longer petted");
                    hung_said = true;
                }
            }
        }
        sd_notify(0, "STOPPING=1");
        if (!vg_service_stop(svc)) status = CLI_FAIL;
    }
    signal(SIGINT, SIG_DFL), signal(SIGTERM, SIG_DFL), signal(SIGHUP, SIG_DFL);
    if (ctx.failed) status = CLI_FAIL;
    if (sk.fd >= 0 && close(sk.fd) != 0) {
        cli_error(cmd, "%s: %s", events, strerror(errno));
        status = CLI_FAIL;
    }
    if (sk.failed) status = CLI_FAIL;
    free(events);
    vg_cancel_free(stop);
    stop = NULL;
    return status;
}

int cmd_watch(int argc, char **argv) {
    cli_args a = {
        .cmd = "watch",
        .synopsis =
            "MODEL --source URI [options]  |  --config FILE.yaml  |  --check-config FILE.yaml",
        .summary = "Watches a camera, a stream, a video file or a folder of images, classifies\n"
                   "its frames with MODEL (.vgm, .vge or .tflite) and raises alarms that are\n"
                   "smoothed over frames, with hysteresis, a minimum duration and a cool-down.\n"
                   "Events are JSON lines: {\"t\":..., \"pts\":..., \"frame\":..., \"event\":\n"
                   "\"alarm_start|alarm_update|alarm_end\", \"class\":..., \"p\":..., "
                   "\"snapshot\":...}.\n"
                   "An alarm start writes a JPEG snapshot with a heat map of where the fire or\n"
                   "smoke is. SIGINT / SIGTERM stop cleanly and print statistics.\n"
                   "With --config, the cameras of a YAML file (examples/vigie.yaml) run on one\n"
                   "model, a loop each; events carry \"camera\": NAME.",
        .opts = opts,
        .n_opts = sizeof opts / sizeof opts[0],
        .min_pos = 0,
        .max_pos = 1};
    int rc = cli_parse(&a, argc, argv);
    if (rc >= 0) return rc;
    const char *config = cli_get(&a, "--config"), *check = cli_get(&a, "--check-config");
    if (config || check) {
        if (a.n_pos > 0 || cli_get(&a, "--source") || (config && check)) {
            cli_error(a.cmd, "--config / --check-config take everything from the file: no MODEL, "
                             "--source or the other of the two");
            return CLI_USAGE;
        }
        return run_config(a.cmd, config ? config : check, check != NULL);
    }
    if (a.n_pos != 1) {
        cli_error(a.cmd,
                  "needs MODEL --source URI, or --config FILE.yaml (see vigie watch --help)");
        return CLI_USAGE;
    }
    vg_watch_opts o = vg_watch_opts_default();
    o.source = cli_get(&a, "--source");
    if (!o.source || !o.source[0]) {
        cli_error(a.cmd, "--source URI is required (see vigie watch --help)");
        return CLI_USAGE;
    }
    long threads, retries, window;
    double on = -1, off = -1, mqtt_wait; /* -1: from the model (vg_watch_levels) */
    if (!cli_double(&a, "--fps", 0, 0, 1000, &o.fps) ||
        !cli_double(&a, "--reconnect", 1, 0.01, 3600, &o.src.reconnect_min) ||
        !cli_double(&a, "--reconnect-max", 30, 0.01, 86400, &o.src.reconnect_max) ||
        !cli_int(&a, "--retries", 0, 0, INT_MAX, &retries) ||
        !cli_double(&a, "--timeout", 10, 0.1, 3600, &o.src.timeout) ||
        !cli_int(&a, "--window", o.alarm.window, 1, 1000, &window) ||
        (cli_get(&a, "--on") && !cli_double(&a, "--on", 0.8, 0.001, 1, &on)) ||
        (cli_get(&a, "--off") && !cli_double(&a, "--off", 0.5, 0, 1, &off)) ||
        !cli_double(&a, "--min-duration", o.alarm.min_duration, 0, 86400, &o.alarm.min_duration) ||
        !cli_double(&a, "--cooldown", o.alarm.cooldown, 0, 864000, &o.alarm.cooldown) ||
        !cli_double(&a, "--update", o.alarm.update_every, 0, 86400, &o.alarm.update_every) ||
        !cli_double(&a, "--mqtt-wait", 5, 0, 3600, &mqtt_wait) ||
        !cli_double(&a, "--stuck-after", 60, 0, 864000, &o.stuck_after) ||
        !cli_int(&a, "--threads", 1, 1, 256, &threads) || !cli_precision(&a, &o.precision))
        return CLI_USAGE;
    if (o.src.reconnect_max < o.src.reconnect_min) o.src.reconnect_max = o.src.reconnect_min;
    if (on >= 0 && off > on) {
        cli_error(a.cmd, "--off %g is above --on %g: the alarm would never end", off, on);
        return CLI_USAGE;
    }
    vg_err err;
    const char *tiles = cli_get(&a, "--tiles");
    if (tiles && vg_tiles_parse(tiles, &o.tile_rows, &o.tile_cols, &err) != VG_OK) {
        cli_error(a.cmd, "--%s", err.msg);
        return CLI_USAGE;
    }
    o.alarm.window = (int)window;
    o.alarm.on = (float)on;
    o.alarm.off = (float)off;
    o.src.max_retries = (int)retries;
    o.src.loop = cli_flag(&a, "--loop");
    o.src.realtime = cli_flag(&a, "--realtime");
    o.src.folder_fps = o.fps > 0 ? o.fps : 1.0;
    const char *avo[CLI_MAX_REPEAT];
    o.src.n_av_opts = cli_all(&a, "--source-opt", avo, CLI_MAX_REPEAT);
    o.src.av_opts = avo;
    o.src.log = on_log;
    o.classes = cli_get(&a, "--classes");
    o.per_class = cli_flag(&a, "--per-class");
    o.threads = (int)threads;

    /* MQTT options are checked before anything is opened */
    const char *mq = cli_get(&a, "--mqtt");
    char name[128], host[256] = "", topic[300];
    int port = 0;
    const char *nm = cli_get(&a, "--name");
    if (nm)
        snprintf(name, sizeof name, "%s", nm);
    else
        default_name(name, sizeof name);
    const char *cafile = cli_get(&a, "--mqtt-cafile"), *cert = cli_get(&a, "--mqtt-cert"),
               *key = cli_get(&a, "--mqtt-key");
    bool tls = cli_flag(&a, "--mqtt-tls") || cafile || cert;
    if (mq && !parse_hostport(mq, tls, host, sizeof host, &port)) {
        cli_error(a.cmd, "--mqtt: expected HOST or HOST:PORT (port 1..65535), got '%s'", mq);
        return CLI_USAGE;
    }
    o.feedback_dir = cli_get(&a, "--feedback-dir");
    if (!mq && (cli_get(&a, "--topic") || cli_get(&a, "--mqtt-user") || tls || o.feedback_dir)) {
        cli_error(a.cmd, "MQTT options given without --mqtt HOST");
        return CLI_USAGE;
    }
    snprintf(topic, sizeof topic, "%s", cli_get(&a, "--topic") ? cli_get(&a, "--topic") : "");
    if (!topic[0]) snprintf(topic, sizeof topic, "vigie/%s", name);

    /* events and snapshots */
    const char *events = cli_get(&a, "--events");
    sink sk = {-1, false, PTHREAD_MUTEX_INITIALIZER};
    sink_ref ref = {&sk, NULL};
    char snapdir[PATH_MAX];
    const char *snap = cli_get(&a, "--snapshots");
    if (cli_flag(&a, "--no-snapshots")) {
        if (snap) {
            cli_error(a.cmd, "--snapshots and --no-snapshots contradict each other");
            return CLI_USAGE;
        }
    } else if (snap) {
        snprintf(snapdir, sizeof snapdir, "%s", snap);
    } else if (events && strrchr(events, '/')) {
        snprintf(snapdir, sizeof snapdir, "%.*s", (int)(strrchr(events, '/') - events), events);
        if (!snapdir[0]) snprintf(snapdir, sizeof snapdir, "/");
    } else {
        snprintf(snapdir, sizeof snapdir, ".");
    }
    if (!cli_flag(&a, "--no-snapshots")) {
        struct stat st;
        if (stat(snapdir, &st) != 0 || !S_ISDIR(st.st_mode) || access(snapdir, W_OK) != 0) {
            cli_error(a.cmd, "snapshots folder %s: %s", snapdir,
                      stat(snapdir, &st) != 0 ? strerror(errno)
                      : !S_ISDIR(st.st_mode)  ? "not a folder"
                                              : "not writable");
            return CLI_FAIL;
        }
        o.snapshots = snapdir;
    }

    vg_model *m = cli_load_model(a.cmd, a.pos[0]);
    if (!m) return CLI_FAIL;
    char levels[512];
    if (vg_watch_levels(m, &o, levels, sizeof levels, &err) != VG_OK) {
        cli_error(a.cmd, "%s", err.msg);
        vg_model_free(m);
        return CLI_FAIL;
    }
    cli_error(a.cmd, "%s", levels); /* stderr: which levels, and where they came from */
    if (events) {
        sk.fd = open(events, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (sk.fd < 0) {
            cli_error(a.cmd, "%s: %s", events, strerror(errno));
            vg_model_free(m);
            return CLI_FAIL;
        }
    }
    o.on_event = on_event;
    o.ud = &ref;
    if (vg_cancel_init(&stop, &err) != VG_OK) {
        cli_error(a.cmd, "%s", err.msg);
        if (sk.fd >= 0) close(sk.fd);
        vg_model_free(m);
        return CLI_FAIL;
    }
    o.stop = stop;

    install_signals();

    vg_watch_mqtt *q = NULL;
    if (mq) {
        const char *pw = cli_get(&a, "--mqtt-password");
        if (!pw) pw = getenv("VIGIE_MQTT_PASSWORD");
        const char *hp = cli_get(&a, "--ha-prefix");
        vg_watch_mqtt_opts mo = {.host = host,
                                 .port = port,
                                 .topic = topic,
                                 .node = name,
                                 .user = cli_get(&a, "--mqtt-user"),
                                 .password = pw,
                                 .tls = tls,
                                 .cafile = cafile,
                                 .certfile = cert,
                                 .keyfile = key,
                                 .tls_insecure = cli_flag(&a, "--mqtt-insecure"),
                                 .ha_prefix = cli_flag(&a, "--no-discovery") ? NULL
                                              : hp                           ? hp
                                                                             : "homeassistant",
                                 .keepalive = 30,
                                 .connect_wait = mqtt_wait,
                                 .log = on_log};
        if (vg_watch_mqtt_init(&q, &mo, &err) != VG_OK) {
            cli_error(a.cmd, "%s", err.msg);
            if (sk.fd >= 0) close(sk.fd);
            vg_model_free(m);
            return CLI_FAIL;
        }
    }
    o.mqtt = q;
    vg_watch_stats st;
    vg_status s = vg_watch_run(m, &o, &st, &err);
    vg_watch_mqtt_stats ms = {0, 0, 0};
    if (q) vg_watch_mqtt_get_stats(q, &ms);
    bool bye = vg_watch_mqtt_close(q, NULL, 3.0);
    if (st.read || st.classified || st.reconnects || s == VG_OK) {
        print_stats(NULL, &st);
        if (mq)
            fprintf(stderr, "vigie watch: mqtt: %lld events sent, %lld dropped, %s\n",
                    (long long)ms.events_sent, (long long)ms.events_dropped,
                    bye ? "offline state confirmed by the broker"
                        : "offline state NOT confirmed (broker unreachable?)");
    }
    if (sk.fd >= 0 && close(sk.fd) != 0 && s == VG_OK) {
        snprintf(err.msg, sizeof err.msg, "%s: %s", events, strerror(errno));
        s = VG_ERR_IO;
    }
    signal(SIGINT, SIG_DFL), signal(SIGTERM, SIG_DFL);
    vg_cancel_free(stop);
    stop = NULL;
    vg_model_free(m);
    if (s != VG_OK) {
        cli_error(a.cmd, "%s", err.msg);
        return CLI_FAIL;
    }
    return sk.failed ? CLI_FAIL : CLI_OK;
}
