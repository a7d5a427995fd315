/* mqtt.h — alarm events, state and commands over MQTT (Debian's libmosquitto), for
 * home-automation and monitoring setups. One connection carries one or several cameras
 * ("channels"); a camera named NAME has the topics PREFIX/NAME/..., the one camera of the
 * command line (no name) PREFIX/...:
 *     .../event           each event's JSON line (QoS 1, not retained)
 *     .../state           the camera's state as JSON (QoS 1, retained): status, alarm ON/OFF,
 *                         per class, armed, stuck, ...
 *     .../armed/set       command: "ON" arms the camera, "OFF" disarms it (its alarms are
 *                         suppressed)
 *     .../false_alarm     command: "PRESS" records the camera's last alarm as false
 *     PREFIX/status       "online" / "offline" (retained) for the whole process; the broker
 *                         publishes "offline" itself as the Last Will when the connection dies
 *                         without a clean goodbye
 *     HA/<component>/<device>/<object>/config   Home Assistant discovery (retained): one device
 *                         per camera with binary sensors (alarm, each alarm class, stuck), a
 *                         switch (armed) and, with a feedback folder, a button (false alarm)
 * Commands are taken only on those exact topics; a malformed payload is reported and ignored.
 * The connection is kept by libmosquitto's network thread, which reconnects by itself and
 * subscribes and republishes the retained topics on every connection. Events published while
 * the broker is unreachable wait in a short queue (the oldest are dropped and counted beyond
 * it), so memory stays bounded when the broker is down for days. */
#ifndef VG_WATCH_MQTT_H
#define VG_WATCH_MQTT_H

#include "watch/source.h"

/* vg_watch_mqtt_opts, vg_watch_mqtt_init, _get_stats and _close are in vigie.h. */

#define VG_WATCH_MQTT_MAX_CHANNELS 64

/* Opens (or, for a name already seen, reopens: a restarted camera keeps its armed state) the
 * channel of `camera` (NULL: the command line's one camera, topics directly under the prefix;
 * else [A-Za-z0-9_-], 1..64) with the alarm classes (labels) that get a binary sensor each,
 * and a false-alarm button when `feedback`. Its discovery and state are published on every
 * (re)connection. *ch is the channel's handle for the calls below. */
vg_status vg_watch_mqtt_channel(vg_watch_mqtt *q, const char *camera, const char *const *labels,
                                int n, bool feedback, int *ch, vg_err *err);
/* Publishes an event line of channel ch; queued while disconnected. */
void vg_watch_mqtt_event(vg_watch_mqtt *q, int ch, const char *json);
/* Publishes (and remembers, for reconnections) the channel's retained state. */
void vg_watch_mqtt_state(vg_watch_mqtt *q, int ch, const char *json);
/* Remembers the state for vg_watch_mqtt_close to publish, without publishing it now. */
void vg_watch_mqtt_final_state(vg_watch_mqtt *q, int ch, const char *json);
/* The commands received for channel ch: whether it is armed, and the false-alarm presses since
 * the last call (taken: they are counted once). */
void vg_watch_mqtt_commands(vg_watch_mqtt *q, int ch, bool *armed, int *false_alarms);
/* A camera removed from the configuration: its state is published as "removed" and its
 * discovery entries withdrawn (empty retained configs), so Home Assistant drops the device. */
void vg_watch_mqtt_forget(vg_watch_mqtt *q, const char *camera);

#endif
