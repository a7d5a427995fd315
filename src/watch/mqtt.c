/* mqtt.c — MQTT output and commands of `vigie watch` through libmosquitto (mqtt.h).
 *
 * Threads: libmosquitto's network thread runs the callbacks (connect, disconnect, publish
 * acknowledgements, messages); each camera's loop publishes and polls its commands from its
 * own thread. libmosquitto is thread-safe for that; our own state (connected flag, the
 * channels with their remembered state, discovery payloads and commands, the queue of events
 * waiting for a connection, acknowledgements awaited at close) is under one mutex. On every
 * connection the command topics are subscribed again (clean session) and the retained topics
 * published again, so a broker restarted without persistence still learns every camera's
 * state and the discovery configuration. */
#define _POSIX_C_SOURCE 200809L
#include "watch/mqtt.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

#define QUEUE_MAX     64 /* events kept while disconnected */
#define MAX_DISCOVERY 36 /* per channel: alarm, stuck, armed, false alarm and the classes */
#define MAX_PAYLOAD   64 /* longest command payload accepted */

typedef struct {
    char *name; /* NULL: the command line's camera (topics directly under the prefix) */
    char *t_event, *t_state, *t_armed, *t_false;
    char *state; /* last retained state */
    char *disc_topic[MAX_DISCOVERY], *disc_payload[MAX_DISCOVERY];
    int n_disc;
    bool armed;
    int false_alarms; /* presses not yet taken by the camera's loop */
} channel;

struct vg_watch_mqtt {
    vg_watch_mqtt_opts o;
    struct mosquitto *mosq;
    char *t_status;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool connected, refused, closing, loop_started;
    channel *ch[VG_WATCH_MQTT_MAX_CHANNELS];
    int n_ch;
    char *queue[QUEUE_MAX];  /* events waiting for a connection, oldest first */
    int queue_ch[QUEUE_MAX]; /* and their channels */
    int q_head, q_len;
    int wait_mid[VG_WATCH_MQTT_MAX_CHANNELS + 1]; /* acknowledgements awaited by close */
    int n_wait;
    vg_watch_mqtt_stats st;
    char last_log[512];
    pthread_mutex_t log_mu; /* last_log: the network thread and the caller's both report */
    char *own[4]; /* copies of host, topic, node, ha_prefix (q->o points to them) */
};

static void mlog(vg_watch_mqtt *q, bool once, const char *fmt, ...) VG_PRINTF(3, 4);
static void mlog(vg_watch_mqtt *q, bool once, const char *fmt, ...) {
    if (!q->o.log) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* a broker that stays down would otherwise be reported at every reconnection attempt */
    pthread_mutex_lock(&q->log_mu);
    bool again = once && strcmp(msg, q->last_log) == 0;
    memcpy(q->last_log, msg, sizeof msg);
    pthread_mutex_unlock(&q->log_mu);
    if (!again) q->o.log(q->o.log_ud, msg);
}

static char *cat3(const char *a, const char *b, const char *c) {
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *s = vg_malloc(n);
    if (s) snprintf(s, n, "%s%s%s", a, b, c);
    return s;
}

static void publish(vg_watch_mqtt *q, const char *topic, const char *payload, bool retain,
                    int *mid) {
    mosquitto_publish(q->mosq, mid, topic, (int)strlen(payload), payload, 1, retain);
}

/* everything a (re)connection must (re)do for a channel, under the lock */
static void channel_online(vg_watch_mqtt *q, channel *c) {
    mosquitto_subscribe(q->mosq, NULL, c->t_armed, 1);
    mosquitto_subscribe(q->mosq, NULL, c->t_false, 1);
    for (int i = 0; i < c->n_disc; i++)
        publish(q, c->disc_topic[i], c->disc_payload[i], true, NULL);
    if (c->state) publish(q, c->t_state, c->state, true, NULL);
}

static void on_connect(struct mosquitto *m, void *ud, int rc) {
    (void)m;
    vg_watch_mqtt *q = ud;
    if (rc != 0) {
        pthread_mutex_lock(&q->mu);
        q->refused = true;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
        mlog(q, true, "mqtt: %s:%d refused the connection: %s", q->o.host, q->o.port,
             mosquitto_connack_string(rc));
        return;
    }
    pthread_mutex_lock(&q->mu);
    q->connected = true;
    q->refused = false;
    q->st.connects++;
    publish(q, q->t_status, "online", true, NULL);
    for (int i = 0; i < q->n_ch; i++)
        channel_online(q, q->ch[i]);
    while (q->q_len) {
        char *ev = q->queue[q->q_head];
        publish(q, q->ch[q->queue_ch[q->q_head]]->t_event, ev, false, NULL);
        free(ev);
        q->queue[q->q_head] = NULL;
        q->q_head = (q->q_head + 1) % QUEUE_MAX;
        q->q_len--;
        q->st.events_sent++;
    }
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    mlog(q, false, "mqtt: connected to %s:%d", q->o.host, q->o.port); /* resets last_log */
}

static void on_disconnect(struct mosquitto *m, void *ud, int rc) {
    (void)m;
    vg_watch_mqtt *q = ud;
    pthread_mutex_lock(&q->mu);
    bool was = q->connected, closing = q->closing;
    q->connected = false;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    if (was && !closing)
        mlog(q, true, "mqtt: connection to %s:%d lost (%s); reconnecting", q->o.host, q->o.port,
             mosquitto_strerror(rc));
}

static void on_publish(struct mosquitto *m, void *ud, int mid) {
    (void)m;
    vg_watch_mqtt *q = ud;
    pthread_mutex_lock(&q->mu);
    for (int i = 0; i < q->n_wait; i++)
        if (q->wait_mid[i] == mid) q->wait_mid[i] = 0;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* a payload as printable text for a report (at most 40 characters) */
static void printable(const void *payload, int len, char *dst, size_t n) {
    const unsigned char *p = payload;
    size_t k = 0;
    for (int i = 0; i < len && k + 5 < n && i < 40; i++)
        dst[k++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
    if (len > 40 && k + 4 < n) dst[k++] = '.', dst[k++] = '.', dst[k++] = '.';
    dst[k] = 0;
}

/* Commands: only the configured topics (the subscriptions are exact, but a broker may still
 * deliver others, e.g. to a shared client id); anything unexpected is reported and ignored. */
static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg) {
    (void)m;
    vg_watch_mqtt *q = ud;
    char shown[64];
    printable(msg->payload, msg->payloadlen, shown, sizeof shown);
    /* a retained command is stale: an old "OFF" must not disarm a camera at every start */
    if (msg->retain) {
        mlog(q, false, "mqtt: %s: retained command '%s' ignored (commands must not be retained)",
             msg->topic, shown);
        return;
    }
    bool ok = false, known = false;
    const char *want = "";
    pthread_mutex_lock(&q->mu);
    for (int i = 0; i < q->n_ch && !known; i++) {
        channel *c = q->ch[i];
        bool len_ok = msg->payloadlen > 0 && msg->payloadlen <= MAX_PAYLOAD;
        if (strcmp(msg->topic, c->t_armed) == 0) {
            known = true;
            want = "ON or OFF";
            if (len_ok && msg->payloadlen == 2 && memcmp(msg->payload, "ON", 2) == 0)
                c->armed = ok = true;
            else if (len_ok && msg->payloadlen == 3 && memcmp(msg->payload, "OFF", 3) == 0)
                c->armed = false, ok = true;
        } else if (strcmp(msg->topic, c->t_false) == 0) {
            known = true;
            want = "PRESS";
            if (len_ok && msg->payloadlen == 5 && memcmp(msg->payload, "PRESS", 5) == 0) {
                if (c->false_alarms < 1000) c->false_alarms++;
                ok = true;
            }
        }
    }
    pthread_mutex_unlock(&q->mu);
    if (!known)
        mlog(q, false, "mqtt: %s: not a command topic of vigie; ignored", msg->topic);
    else if (!ok)
        mlog(q, false, "mqtt: %s: payload '%s' ignored (expected %s)", msg->topic, shown, want);
}

static void channel_free(channel *c) {
    if (!c) return;
    for (int i = 0; i < c->n_disc; i++) {
        free(c->disc_topic[i]);
        free(c->disc_payload[i]);
    }
    free(c->name);
    free(c->t_event), free(c->t_state), free(c->t_armed), free(c->t_false);
    free(c->state);
    free(c);
}

static void free_all(vg_watch_mqtt *q) {
    if (q->mosq) mosquitto_destroy(q->mosq);
    for (int i = 0; i < q->n_ch; i++)
        channel_free(q->ch[i]);
    for (int i = 0; i < QUEUE_MAX; i++)
        free(q->queue[i]);
    free(q->t_status);
    for (int i = 0; i < 4; i++)
        free(q->own[i]);
    pthread_mutex_destroy(&q->mu);
    pthread_mutex_destroy(&q->log_mu);
    pthread_cond_destroy(&q->cv);
    free(q);
}

/* deadline for pthread_cond_timedwait, `sec` from now */
static struct timespec after(double sec) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double t = (double)ts.tv_sec + ts.tv_nsec * 1e-9 + sec;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    return ts;
}

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static void lib_init(void) {
    mosquitto_lib_init();
}

static bool readable(const char *path) {
    return !path || access(path, R_OK) == 0;
}

vg_status vg_watch_mqtt_init(vg_watch_mqtt **out, const vg_watch_mqtt_opts *o, vg_err *err) {
    *out = NULL;
    if (!o->host || !o->host[0]) return vg_err_set(err, VG_ERR_ARG, "mqtt: no broker host");
    if (o->port < 1 || o->port > 65535)
        return vg_err_set(err, VG_ERR_ARG, "mqtt: port %d is not in 1..65535", o->port);
    /* the prefix also goes into the discovery JSON: no quotes or backslashes either */
    if (!o->topic || !o->topic[0] || strpbrk(o->topic, "+#\"\\"))
        return vg_err_set(err, VG_ERR_ARG,
                          "mqtt: topic prefix '%s' must be non-empty, without + # \" or \\",
                          o->topic ? o->topic : "");
    if (!o->node || !o->node[0]) return vg_err_set(err, VG_ERR_ARG, "mqtt: no node name");
    for (const char *p = o->node; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
            return vg_err_set(err, VG_ERR_ARG, "mqtt: node name '%s': use letters, digits, _ and -",
                              o->node);
    if (o->ha_prefix && strpbrk(o->ha_prefix, "+#\"\\"))
        return vg_err_set(err, VG_ERR_ARG, "mqtt: bad discovery prefix '%s'", o->ha_prefix);
    const char *files[4] = {o->cafile, o->capath, o->certfile, o->keyfile};
    for (int i = 0; i < 4; i++)
        if (!readable(files[i]))
            return vg_err_set(err, VG_ERR_IO, "mqtt: %s: %s", files[i], strerror(errno));
    if (!o->certfile != !o->keyfile)
        return vg_err_set(err, VG_ERR_ARG, "mqtt: a client certificate needs its key, and back");
    pthread_once(&lib_once, lib_init);
    vg_watch_mqtt *q = vg_calloc(1, sizeof *q);
    if (!q) return vg_err_set(err, VG_ERR_NOMEM, "out of memory");
    q->o = *o;
    /* what is used after this call is ours: the caller's strings may be gone by then */
    q->own[0] = vg_strdup(o->host), q->own[1] = vg_strdup(o->topic), q->own[2] = vg_strdup(o->node);
    q->own[3] = o->ha_prefix ? vg_strdup(o->ha_prefix) : NULL;
    q->o.host = q->own[0], q->o.topic = q->own[1], q->o.node = q->own[2];
    q->o.ha_prefix = q->own[3];
    q->o.user = q->o.password = q->o.client_id = NULL; /* used here only */
    q->o.cafile = q->o.capath = q->o.certfile = q->o.keyfile = NULL;
    pthread_mutex_init(&q->mu, NULL);
    pthread_mutex_init(&q->log_mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->t_status = cat3(o->topic, "/", "status");
    char cid[128];
    if (o->client_id)
        snprintf(cid, sizeof cid, "%s", o->client_id);
    else
        snprintf(cid, sizeof cid, "vigie-%.80s-%ld", o->node, (long)getpid());
    q->mosq = mosquitto_new(cid, true, q);
    if (!q->t_status || !q->mosq || !q->own[0] || !q->own[1] || !q->own[2] ||
        (o->ha_prefix && !q->own[3])) {
        free_all(q);
        return vg_err_set(err, VG_ERR_NOMEM, "mqtt: out of memory");
    }
    mosquitto_connect_callback_set(q->mosq, on_connect);
    mosquitto_disconnect_callback_set(q->mosq, on_disconnect);
    mosquitto_publish_callback_set(q->mosq, on_publish);
    mosquitto_message_callback_set(q->mosq, on_message);
    mosquitto_reconnect_delay_set(q->mosq, 1, 30, true);
    int rc = MOSQ_ERR_SUCCESS;
    const char *what = "";
    if (o->user && (rc = mosquitto_username_pw_set(q->mosq, o->user, o->password)))
        what = "username";
    if (!rc && (o->tls || o->cafile || o->capath || o->certfile)) {
        /* libmosquitto takes client certificates only together with a CA file or folder */
        if (o->certfile && !o->cafile && !o->capath) {
            free_all(q);
            return vg_err_set(err, VG_ERR_ARG, "mqtt: a client certificate needs the CA file");
        }
        if (!o->cafile && !o->capath) {
            if ((rc = mosquitto_int_option(q->mosq, MOSQ_OPT_TLS_USE_OS_CERTS, 1)))
                what = "TLS with the system certificates";
        } else if ((rc = mosquitto_tls_set(q->mosq, o->cafile, o->capath, o->certfile, o->keyfile,
                                           NULL))) {
            what = "TLS certificates";
        }
        if (!rc && o->tls_insecure && (rc = mosquitto_tls_insecure_set(q->mosq, true)))
            what = "TLS insecure mode";
    }
    if (!rc && (rc = mosquitto_will_set(q->mosq, q->t_status, 7, "offline", 1, true)))
        what = "last will";
    if (rc) {
        free_all(q);
        return vg_err_set(err, rc == MOSQ_ERR_NOMEM ? VG_ERR_NOMEM : VG_ERR_ARG, "mqtt: %s: %s",
                          what, mosquitto_strerror(rc));
    }
    /* a broker that is down now is not an error: the network thread retries */
    rc = mosquitto_connect_async(q->mosq, o->host, o->port, o->keepalive > 0 ? o->keepalive : 30);
    if (rc == MOSQ_ERR_INVAL) {
        free_all(q);
        return vg_err_set(err, VG_ERR_ARG, "mqtt: cannot connect to %s:%d: %s", o->host, o->port,
                          mosquitto_strerror(rc));
    }
    if (rc)
        mlog(q, true, "mqtt: cannot connect to %s:%d (%s); retrying", o->host, o->port,
             rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
    rc = mosquitto_loop_start(q->mosq);
    if (rc) {
        free_all(q);
        return vg_err_set(err, VG_ERR_UNSUPPORTED, "mqtt: cannot start the network thread: %s",
                          mosquitto_strerror(rc));
    }
    q->loop_started = true;
    pthread_mutex_lock(&q->mu);
    struct timespec until = after(o->connect_wait);
    while (!q->connected && !q->refused)
        if (pthread_cond_timedwait(&q->cv, &q->mu, &until) != 0) break;
    bool up = q->connected;
    pthread_mutex_unlock(&q->mu);
    if (!up)
        mlog(q, true, "mqtt: %s:%d not reachable yet; events wait until it is", o->host, o->port);
    *out = q;
    return VG_OK;
}

/* object id for a label: lower-case letters, digits and _ */
static void object_id(const char *label, char *dst, size_t n) {
    size_t k = 0;
    for (const char *p = label; *p && k + 1 < n; p++)
        dst[k++] = isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p) : '_';
    dst[k] = 0;
}

/* One discovery entry of channel c: HA/<component>/vigie_<base>/<obj>/config, where base is
 * the node (the command line's camera) or node_camera. `fields` are the entity's own JSON
 * members; name, ids, availability and the device are added here. */
static bool add_discovery(vg_watch_mqtt *q, channel *c, const char *component, const char *obj,
                          const char *name, const char *fields) {
    if (c->n_disc >= MAX_DISCOVERY) return true; /* more classes than sensors: the rest go */
    char base[160], topic[512], payload[3072];
    if (c->name)
        snprintf(base, sizeof base, "%s_%s", q->o.node, c->name);
    else
        snprintf(base, sizeof base, "%s", q->o.node);
    snprintf(topic, sizeof topic, "%s/%s/vigie_%s/%s/config", q->o.ha_prefix, component, base, obj);
    snprintf(payload, sizeof payload,
             "{\"name\":\"%s\",\"unique_id\":\"vigie_%s_%s\",\"object_id\":\"vigie_%s_%s\",%s,"
             "\"availability_topic\":\"%s\",\"device\":{\"identifiers\":[\"vigie_%s\"],"
             "\"name\":\"vigie %s\",\"model\":\"vigie watch\",\"manufacturer\":\"vigie\","
             "\"sw_version\":\"%s\"}}",
             name, base, obj, base, obj, fields, q->t_status, base, c->name ? c->name : q->o.node,
             VG_VERSION_STRING);
    c->disc_topic[c->n_disc] = vg_strdup(topic);
    c->disc_payload[c->n_disc] = vg_strdup(payload);
    if (!c->disc_topic[c->n_disc] || !c->disc_payload[c->n_disc]) return false;
    c->n_disc++;
    return true;
}

/* a binary sensor over the channel's state */
static bool add_sensor(vg_watch_mqtt *q, channel *c, const char *obj, const char *name,
                       const char *tpl, const char *dclass, bool diagnostic) {
    char f[1024];
    snprintf(f, sizeof f,
             "\"state_topic\":\"%s\",\"value_template\":\"%s\",\"payload_on\":\"ON\","
             "\"payload_off\":\"OFF\",\"device_class\":\"%s\",\"json_attributes_topic\":\"%s\"%s",
             c->t_state, tpl, dclass, c->t_state,
             diagnostic ? ",\"entity_category\":\"diagnostic\"" : "");
    return add_discovery(q, c, "binary_sensor", obj, name, f);
}

/* labels go into JSON and a Jinja template: keep to a plain character set */
static bool plain_label(const char *s) {
    if (!s[0] || strlen(s) > 64) return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr(" _-.", *s)) return false;
    return true;
}

static bool valid_camera(const char *s) {
    size_t n = strlen(s);
    if (n < 1 || n > 64) return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-') return false;
    return true;
}

static channel *channel_new(vg_watch_mqtt *q, const char *camera) {
    channel *c = vg_calloc(1, sizeof *c);
    if (!c) return NULL;
    char pre[512];
    if (camera)
        snprintf(pre, sizeof pre, "%s/%s", q->o.topic, camera);
    else
        snprintf(pre, sizeof pre, "%s", q->o.topic);
    c->armed = true;
    c->name = camera ? vg_strdup(camera) : NULL;
    c->t_event = cat3(pre, "/", "event");
    c->t_state = cat3(pre, "/", "state");
    c->t_armed = cat3(pre, "/", "armed/set");
    c->t_false = cat3(pre, "/", "false_alarm");
    if ((camera && !c->name) || !c->t_event || !c->t_state || !c->t_armed || !c->t_false) {
        channel_free(c);
        return NULL;
    }
    return c;
}

/* the channel's discovery entries (replacing any earlier ones) */
static bool channel_discovery(vg_watch_mqtt *q, channel *c, const char *const *labels, int n,
                              bool feedback) {
    for (int i = 0; i < c->n_disc; i++) {
        free(c->disc_topic[i]);
        free(c->disc_payload[i]);
        c->disc_topic[i] = c->disc_payload[i] = NULL;
    }
    c->n_disc = 0;
    if (!q->o.ha_prefix || !q->o.ha_prefix[0]) return true;
    char f[1024];
    bool ok = add_sensor(q, c, "alarm", "Alarm", "{{ value_json.alarm }}", "smoke", false) &&
              add_sensor(q, c, "stuck", "Picture stuck", "{{ value_json.stuck }}", "problem", true);
    snprintf(f, sizeof f,
             "\"command_topic\":\"%s\",\"state_topic\":\"%s\",\"value_template\":"
             "\"{{ value_json.armed }}\",\"payload_on\":\"ON\",\"payload_off\":\"OFF\","
             "\"state_on\":\"ON\",\"state_off\":\"OFF\",\"icon\":\"mdi:shield-fire\"",
             c->t_armed, c->t_state);
    ok = ok && add_discovery(q, c, "switch", "armed", "Armed", f);
    if (ok && feedback) {
        snprintf(f, sizeof f,
                 "\"command_topic\":\"%s\",\"payload_press\":\"PRESS\","
                 "\"icon\":\"mdi:fire-off\"",
                 c->t_false);
        ok = add_discovery(q, c, "button", "false_alarm", "False alarm", f);
    }
    for (int i = 0; ok && i < n; i++) {
        if (!plain_label(labels[i])) continue;
        char obj[80], tpl[160];
        object_id(labels[i], obj, sizeof obj);
        /* the fixed entities' object ids are not class names */
        if (!strcmp(obj, "alarm") || !strcmp(obj, "stuck")) continue;
        snprintf(tpl, sizeof tpl, "{{ value_json.classes['%s'] }}", labels[i]);
        const char *dc = strcmp(labels[i], "smoke") == 0  ? "smoke"
                         : strcmp(labels[i], "fire") == 0 ? "heat"
                                                          : "safety";
        ok = add_sensor(q, c, obj, labels[i], tpl, dc, false);
    }
    return ok;
}

vg_status vg_watch_mqtt_channel(vg_watch_mqtt *q, const char *camera, const char *const *labels,
                                int n, bool feedback, int *ch, vg_err *err) {
    *ch = -1;
    if (camera && !valid_camera(camera))
        return vg_err_set(err, VG_ERR_ARG,
                          "mqtt: camera name '%s': use 1..64 letters, digits, _ "
                          "and -",
                          camera);
    pthread_mutex_lock(&q->mu);
    int k = -1;
    for (int i = 0; i < q->n_ch && k < 0; i++)
        if ((!camera && !q->ch[i]->name) ||
            (camera && q->ch[i]->name && !strcmp(camera, q->ch[i]->name)))
            k = i;
    vg_status st = VG_OK;
    if (k < 0) {
        if (q->n_ch == VG_WATCH_MQTT_MAX_CHANNELS) {
            st = vg_err_set(err, VG_ERR_ARG, "mqtt: more than %d cameras",
                            VG_WATCH_MQTT_MAX_CHANNELS);
        } else if (!(q->ch[q->n_ch] = channel_new(q, camera))) {
            st = vg_err_set(err, VG_ERR_NOMEM, "mqtt: out of memory");
        } else {
            k = q->n_ch++;
        }
    }
    if (st == VG_OK && !channel_discovery(q, q->ch[k], labels, n, feedback))
        st = vg_err_set(err, VG_ERR_NOMEM, "mqtt: out of memory");
    if (st == VG_OK && q->connected) channel_online(q, q->ch[k]);
    pthread_mutex_unlock(&q->mu);
    if (st == VG_OK) *ch = k;
    return st;
}

void vg_watch_mqtt_event(vg_watch_mqtt *q, int ch, const char *json) {
    if (!q || ch < 0) return;
    pthread_mutex_lock(&q->mu);
    if (q->connected) {
        publish(q, q->ch[ch]->t_event, json, false, NULL);
        q->st.events_sent++;
    } else {
        char *copy = vg_strdup(json);
        if (copy) {
            if (q->q_len == QUEUE_MAX) { /* full: the oldest goes */
                free(q->queue[q->q_head]);
                q->queue[q->q_head] = NULL;
                q->q_head = (q->q_head + 1) % QUEUE_MAX;
                q->q_len--;
                q->st.events_dropped++;
            }
            int at = (q->q_head + q->q_len) % QUEUE_MAX;
            q->queue[at] = copy;
            q->queue_ch[at] = ch;
            q->q_len++;
        } else {
            q->st.events_dropped++;
        }
    }
    pthread_mutex_unlock(&q->mu);
}

static void set_state(vg_watch_mqtt *q, int ch, const char *json, bool now) {
    if (!q || ch < 0) return;
    char *copy = vg_strdup(json);
    pthread_mutex_lock(&q->mu);
    channel *c = q->ch[ch];
    if (copy) {
        free(c->state);
        c->state = copy;
    }
    if (now && q->connected) publish(q, c->t_state, json, true, NULL);
    pthread_mutex_unlock(&q->mu);
}

void vg_watch_mqtt_state(vg_watch_mqtt *q, int ch, const char *json) {
    set_state(q, ch, json, true);
}
void vg_watch_mqtt_final_state(vg_watch_mqtt *q, int ch, const char *json) {
    set_state(q, ch, json, false);
}

void vg_watch_mqtt_commands(vg_watch_mqtt *q, int ch, bool *armed, int *false_alarms) {
    *armed = true;
    *false_alarms = 0;
    if (!q || ch < 0) return;
    pthread_mutex_lock(&q->mu);
    *armed = q->ch[ch]->armed;
    *false_alarms = q->ch[ch]->false_alarms;
    q->ch[ch]->false_alarms = 0;
    pthread_mutex_unlock(&q->mu);
}

void vg_watch_mqtt_forget(vg_watch_mqtt *q, const char *camera) {
    if (!q || !camera) return;
    pthread_mutex_lock(&q->mu);
    for (int i = 0; i < q->n_ch; i++) {
        channel *c = q->ch[i];
        if (!c->name || strcmp(c->name, camera)) continue;
        const char *removed = "{\"status\":\"removed\"}";
        free(c->state);
        c->state = vg_strdup(removed);
        if (q->connected) {
            publish(q, c->t_state, removed, true, NULL);
            for (int k = 0; k < c->n_disc; k++)
                publish(q, c->disc_topic[k], "", true, NULL);
            mosquitto_unsubscribe(q->mosq, NULL, c->t_armed);
            mosquitto_unsubscribe(q->mosq, NULL, c->t_false);
        }
        /* the channel stays (its index may still be held); no discovery on reconnection */
        for (int k = 0; k < c->n_disc; k++) {
            free(c->disc_topic[k]);
            free(c->disc_payload[k]);
            c->disc_topic[k] = c->disc_payload[k] = NULL;
        }
        c->n_disc = 0;
    }
    pthread_mutex_unlock(&q->mu);
}

void vg_watch_mqtt_get_stats(vg_watch_mqtt *q, vg_watch_mqtt_stats *st) {
    pthread_mutex_lock(&q->mu);
    *st = q->st;
    st->events_dropped += q->q_len; /* still waiting: never sent */
    pthread_mutex_unlock(&q->mu);
}

bool vg_watch_mqtt_close(vg_watch_mqtt *q, const char *final_state, double timeout) {
    if (!q) return true;
    bool confirmed = false;
    pthread_mutex_lock(&q->mu);
    if (q->connected) {
        q->n_wait = 0;
        for (int i = 0; i < q->n_ch; i++) {
            const char *s = final_state && !q->ch[i]->name ? final_state : q->ch[i]->state;
            if (!s) continue;
            int mid = 0;
            publish(q, q->ch[i]->t_state, s, true, &mid);
            q->wait_mid[q->n_wait++] = mid;
        }
        int mid = 0;
        publish(q, q->t_status, "offline", true, &mid);
        q->wait_mid[q->n_wait++] = mid;
        struct timespec until = after(timeout);
        for (;;) {
            bool pending = false;
            for (int i = 0; i < q->n_wait; i++)
                pending |= q->wait_mid[i] != 0;
            if (!pending) {
                confirmed = true;
                break;
            }
            if (!q->connected || pthread_cond_timedwait(&q->cv, &q->mu, &until) != 0) break;
        }
    }
    q->closing = true;
    pthread_mutex_unlock(&q->mu);
    mosquitto_disconnect(q->mosq);
    if (q->loop_started) mosquitto_loop_stop(q->mosq, false);
    free_all(q);
    return confirmed;
}
