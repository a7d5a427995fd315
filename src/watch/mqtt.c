/* mqtt.c — MQTT output of `vigie watch` through libmosquitto (mqtt.h).
 *
 * Threads: libmosquitto's network thread runs the callbacks (connect, disconnect, publish
 * acknowledgements); the watch loop publishes from its own thread. libmosquitto is thread-safe
 * for that; our own state (connected flag, remembered state, discovery payloads, the queue of
 * events waiting for a connection, acknowledgements awaited at close) is under one mutex.
 * On every connection the retained topics are published again, so a broker restarted without
 * persistence still learns the camera's state and the discovery configuration. */
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

#define QUEUE_MAX 64 /* events kept while disconnected */
#define MAX_DISCOVERY 33

struct vg_watch_mqtt {
    vg_watch_mqtt_opts o;
    struct mosquitto *mosq;
    char *t_event, *t_state, *t_status;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool connected, refused, closing, loop_started;
    char *state;                      /* last retained state */
    char *disc_topic[MAX_DISCOVERY], *disc_payload[MAX_DISCOVERY];
    int n_disc;
    char *queue[QUEUE_MAX];           /* events waiting for a connection, oldest first */
    int q_head, q_len;
    int wait_mid[2];                  /* acknowledgements awaited by close; 0 when received */
    vg_watch_mqtt_stats st;
    char last_log[512];
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
    if (once && strcmp(msg, q->last_log) == 0) return;
    memcpy(q->last_log, msg, sizeof msg);
    q->o.log(q->o.log_ud, msg);
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
    for (int i = 0; i < q->n_disc; i++) publish(q, q->disc_topic[i], q->disc_payload[i], true, NULL);
    if (q->state) publish(q, q->t_state, q->state, true, NULL);
    while (q->q_len) {
        char *ev = q->queue[q->q_head];
        publish(q, q->t_event, ev, false, NULL);
        free(ev);
        q->queue[q->q_head] = NULL;
        q->q_head = (q->q_head + 1) % QUEUE_MAX;
        q->q_len--;
        q->st.events_sent++;
    }
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    q->last_log[0] = 0;
    mlog(q, false, "mqtt: connected to %s:%d", q->o.host, q->o.port);
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
    for (int i = 0; i < 2; i++)
        if (q->wait_mid[i] == mid) q->wait_mid[i] = 0;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

static void free_all(vg_watch_mqtt *q) {
    if (q->mosq) mosquitto_destroy(q->mosq);
    for (int i = 0; i < q->n_disc; i++) {
        free(q->disc_topic[i]);
        free(q->disc_payload[i]);
    }
    for (int i = 0; i < QUEUE_MAX; i++) free(q->queue[i]);
    free(q->t_event);
    free(q->t_state);
    free(q->t_status);
    free(q->state);
    pthread_mutex_destroy(&q->mu);
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
static void lib_init(void) { mosquitto_lib_init(); }

static bool readable(const char *path) { return !path || access(path, R_OK) == 0; }

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
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->t_event = cat3(o->topic, "/", "event");
    q->t_state = cat3(o->topic, "/", "state");
    q->t_status = cat3(o->topic, "/", "status");
    char cid[128];
    if (o->client_id) snprintf(cid, sizeof cid, "%s", o->client_id);
    else snprintf(cid, sizeof cid, "vigie-%.80s-%ld", o->node, (long)getpid());
    q->mosq = mosquitto_new(cid, true, q);
    if (!q->t_event || !q->t_state || !q->t_status || !q->mosq) {
        free_all(q);
        return vg_err_set(err, VG_ERR_NOMEM, "mqtt: out of memory");
    }
    mosquitto_connect_callback_set(q->mosq, on_connect);
    mosquitto_disconnect_callback_set(q->mosq, on_disconnect);
    mosquitto_publish_callback_set(q->mosq, on_publish);
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
        } else if ((rc = mosquitto_tls_set(q->mosq, o->cafile, o->capath, o->certfile,
                                           o->keyfile, NULL))) {
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
    if (rc) mlog(q, true, "mqtt: cannot connect to %s:%d (%s); retrying", o->host, o->port,
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
    if (!up) mlog(q, true, "mqtt: %s:%d not reachable yet; events wait until it is", o->host,
                  o->port);
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

static bool add_discovery(vg_watch_mqtt *q, const char *obj, const char *name,
                          const char *template_, const char *dclass) {
    char topic[512], payload[2048];
    snprintf(topic, sizeof topic, "%s/binary_sensor/vigie_%s/%s/config", q->o.ha_prefix,
             q->o.node, obj);
    snprintf(payload, sizeof payload,
             "{\"name\":\"%s\",\"unique_id\":\"vigie_%s_%s\",\"object_id\":\"vigie_%s_%s\","
             "\"state_topic\":\"%s\",\"value_template\":\"%s\",\"payload_on\":\"ON\","
             "\"payload_off\":\"OFF\",\"device_class\":\"%s\",\"availability_topic\":\"%s\","
             "\"json_attributes_topic\":\"%s\",\"device\":{\"identifiers\":[\"vigie_%s\"],"
             "\"name\":\"vigie %s\",\"model\":\"vigie watch\",\"manufacturer\":\"vigie\","
             "\"sw_version\":\"%s\"}}",
             name, q->o.node, obj, q->o.node, obj, q->t_state, template_, dclass, q->t_status,
             q->t_state, q->o.node, q->o.node, VG_VERSION_STRING);
    q->disc_topic[q->n_disc] = vg_strdup(topic);
    q->disc_payload[q->n_disc] = vg_strdup(payload);
    if (!q->disc_topic[q->n_disc] || !q->disc_payload[q->n_disc]) return false;
    q->n_disc++;
    return true;
}

/* labels go into JSON and a Jinja template: keep to a plain character set */
static bool plain_label(const char *s) {
    if (!s[0] || strlen(s) > 64) return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr(" _-.", *s)) return false;
    return true;
}

vg_status vg_watch_mqtt_set_classes(vg_watch_mqtt *q, const char *const *labels, int n,
                                    vg_err *err) {
    if (!q->o.ha_prefix || !q->o.ha_prefix[0]) return VG_OK;
    if (strpbrk(q->o.ha_prefix, "+#\"\\"))
        return vg_err_set(err, VG_ERR_ARG, "mqtt: bad discovery prefix '%s'", q->o.ha_prefix);
    pthread_mutex_lock(&q->mu);
    bool ok = add_discovery(q, "alarm", "Alarm", "{{ value_json.alarm }}", "smoke");
    for (int i = 0; ok && i < n && q->n_disc < MAX_DISCOVERY; i++) {
        if (!plain_label(labels[i])) continue;
        char obj[80], tpl[160];
        object_id(labels[i], obj, sizeof obj);
        snprintf(tpl, sizeof tpl, "{{ value_json.classes['%s'] }}", labels[i]);
        const char *dc = strcmp(labels[i], "smoke") == 0  ? "smoke"
                         : strcmp(labels[i], "fire") == 0 ? "heat"
                                                          : "safety";
        ok = add_discovery(q, obj, labels[i], tpl, dc);
    }
    if (ok && q->connected)
        for (int i = 0; i < q->n_disc; i++)
            publish(q, q->disc_topic[i], q->disc_payload[i], true, NULL);
    pthread_mutex_unlock(&q->mu);
    return ok ? VG_OK : vg_err_set(err, VG_ERR_NOMEM, "mqtt: out of memory");
}

void vg_watch_mqtt_event(vg_watch_mqtt *q, const char *json) {
    if (!q) return;
    pthread_mutex_lock(&q->mu);
    if (q->connected) {
        publish(q, q->t_event, json, false, NULL);
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
            q->queue[(q->q_head + q->q_len) % QUEUE_MAX] = copy;
            q->q_len++;
        } else {
            q->st.events_dropped++;
        }
    }
    pthread_mutex_unlock(&q->mu);
}

static void set_state(vg_watch_mqtt *q, const char *json, bool now) {
    if (!q) return;
    char *copy = vg_strdup(json);
    pthread_mutex_lock(&q->mu);
    if (copy) {
        free(q->state);
        q->state = copy;
    }
    if (now && q->connected) publish(q, q->t_state, json, true, NULL);
    pthread_mutex_unlock(&q->mu);
}

void vg_watch_mqtt_state(vg_watch_mqtt *q, const char *json) { set_state(q, json, true); }
void vg_watch_mqtt_final_state(vg_watch_mqtt *q, const char *json) { set_state(q, json, false); }

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
        int m0 = 0, m1 = 0;
        if (!final_state) final_state = q->state;
        if (final_state) publish(q, q->t_state, final_state, true, &m0);
        publish(q, q->t_status, "offline", true, &m1);
        q->wait_mid[0] = m0;
        q->wait_mid[1] = m1;
        struct timespec until = after(timeout);
        while ((q->wait_mid[0] || q->wait_mid[1]) && q->connected)
            if (pthread_cond_timedwait(&q->cv, &q->mu, &until) != 0) break;
        confirmed = !q->wait_mid[0] && !q->wait_mid[1];
    }
    q->closing = true;
    pthread_mutex_unlock(&q->mu);
    mosquitto_disconnect(q->mosq);
    if (q->loop_started) mosquitto_loop_stop(q->mosq, false);
    free_all(q);
    return confirmed;
}
