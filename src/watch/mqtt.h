/* mqtt.h — alarm events and state over MQTT (Debian's libmosquitto), for home-automation and
 * monitoring setups:
 *     PREFIX/event   each event's JSON line (QoS 1, not retained)
 *     PREFIX/state   the current state as JSON (QoS 1, retained): status, alarm ON/OFF, ...
 *     PREFIX/status  "online" / "offline" (retained); the broker publishes "offline" itself
 *                    as the Last Will when the connection dies without a clean goodbye
 *     HA/binary_sensor/NODE/OBJ/config   Home Assistant discovery (retained), one binary
 *                    sensor for the alarm and one per alarm class
 * The connection is kept by libmosquitto's network thread, which reconnects by itself. Events
 * published while the broker is unreachable wait in a short queue (the oldest are dropped
 * and counted beyond it), so memory stays bounded when the broker is down for days. */
#ifndef VG_WATCH_MQTT_H
#define VG_WATCH_MQTT_H

#include "watch/source.h"

typedef struct {
    const char *host;
    int port;                /* 1883 by default, 8883 is customary with TLS */
    const char *topic;       /* prefix, e.g. "vigie/garage" */
    const char *node;        /* discovery node id / device name, [A-Za-z0-9_-] */
    const char *client_id;   /* NULL: "vigie-NODE-PID" */
    const char *user, *password;
    bool tls;                /* TLS with the system's CA certificates (unless cafile/capath) */
    const char *cafile, *capath, *certfile, *keyfile;
    bool tls_insecure;       /* do not check the server's host name (testing only) */
    const char *ha_prefix;   /* Home Assistant discovery prefix; NULL or "": no discovery */
    int keepalive;           /* seconds */
    double connect_wait;     /* seconds vg_watch_mqtt_init waits for the first connection */
    vg_watch_log_fn log;
    void *log_ud;
} vg_watch_mqtt_opts;

typedef struct vg_watch_mqtt vg_watch_mqtt;

/* Sets the Last Will, starts connecting and waits up to connect_wait seconds for the broker;
 * a broker that is not there yet is reported through the log, not an error (the network thread
 * keeps trying). Errors: bad options, unreadable TLS files, libmosquitto failures. */
vg_status vg_watch_mqtt_init(vg_watch_mqtt **out, const vg_watch_mqtt_opts *o, vg_err *err);

/* Discovery: the alarm classes (labels) that get a binary sensor each. Published on every
 * (re)connection, with the state. */
vg_status vg_watch_mqtt_set_classes(vg_watch_mqtt *q, const char *const *labels, int n,
                                    vg_err *err);
/* Publishes an event line; queued while disconnected. */
void vg_watch_mqtt_event(vg_watch_mqtt *q, const char *json);
/* Publishes (and remembers, for reconnections) the retained state. */
void vg_watch_mqtt_state(vg_watch_mqtt *q, const char *json);
/* Remembers the state for vg_watch_mqtt_close to publish, without publishing it now. */
void vg_watch_mqtt_final_state(vg_watch_mqtt *q, const char *json);

typedef struct {
    int64_t events_sent, events_dropped;
    int64_t connects; /* successful connections, the first included */
} vg_watch_mqtt_stats;
void vg_watch_mqtt_get_stats(vg_watch_mqtt *q, vg_watch_mqtt_stats *st);

/* Clean goodbye: publishes the state (`final_state`, or the last one given to
 * vg_watch_mqtt_state when NULL; retained) and "offline" on PREFIX/status, waits up to `timeout`
 * seconds for the broker to acknowledge them, disconnects (so no Last Will) and frees. NULL is
 * a no-op. Returns false when the goodbye could not be confirmed. */
bool vg_watch_mqtt_close(vg_watch_mqtt *q, const char *final_state, double timeout);

#endif
