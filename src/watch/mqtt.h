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

/* vg_watch_mqtt_opts, vg_watch_mqtt_init, _get_stats and _close are in vigie.h. */

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



#endif
