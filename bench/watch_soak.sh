#!/usr/bin/env bash
# watch_soak.sh MODEL [MINUTES] — soak benchmark of `vigie watch` (not a test): the test video
# of bench/watch_video.sh looped in real time (5 fps, like a camera) for MINUTES (default 30)
# with snapshots and MQTT to a local mosquitto; the resident set size sampled every minute;
# at the end the statistics, the RSS growth, and the frame-to-alarm latency of every event:
# detection delay (event's first frame -> the frame that raised the alarm, video time) plus
# processing latency (frame decoded -> event written, wall time).
set -euo pipefail
MODEL=$1
MINUTES=${2:-30}
VIGIE=${VIGIE:-$(dirname "$0")/../build/vigie}
W=$(mktemp -d "${TMPDIR:-/tmp}/vigie-soak-XXXXXX")
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$W"' EXIT
bash "$(dirname "$0")/watch_video.sh" "$W/v.mp4" 8 >/dev/null
LOOP=$(awk 'END { print $2 }' "$W/v.mp4.truth") # seconds per pass
PORT=$((20000 + RANDOM % 40000))
printf 'listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n' $PORT >"$W/mq.conf"
mosquitto -c "$W/mq.conf" >"$W/mq.log" 2>&1 &
PIDS+=($!)
sleep 0.5
mosquitto_sub -h 127.0.0.1 -p $PORT -t 'soak/#' -v >"$W/sub.txt" 2>&1 &
PIDS+=($!)
mkdir -p "$W/snaps"
nice -n 10 "$VIGIE" watch "$MODEL" --source "$W/v.mp4" --loop --realtime --events "$W/ev.jsonl" \
  --snapshots "$W/snaps" --mqtt 127.0.0.1:$PORT --topic soak/cam --name soak 2>"$W/err" &
VP=$!
PIDS+=($VP)
echo "soak: $MINUTES min of a ${LOOP} s video looped, pid $VP, $(nproc) cores, $(uname -m)"
for m in $(seq "$MINUTES"); do
  sleep 60
  rss=$(awk '/VmRSS/ { print $2 }' /proc/$VP/status)
  printf 'minute %2d  RSS %6.1f MB  events %d\n' "$m" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" \
    "$(grep -c . "$W/ev.jsonl" || true)"
done
kill -TERM $VP
wait $VP
grep 'vigie watch: frames\|latency\|mqtt:' "$W/err"
echo "MQTT events received: $(grep -c '^soak/cam/event' "$W/sub.txt" || true); snapshots: $(ls "$W/snaps" | wc -l)"
# detection delay per alarm_start, matched to the event on screen (pts modulo the loop)
awk -v L="$LOOP" '
  FNR == NR { s[NR] = $1; e[NR] = $2; n = NR; next }
  /"event":"alarm_start"/ {
    match($0, /"pts":[0-9.]*/); p = substr($0, RSTART + 6, RLENGTH - 6) + 0
    q = p - L * int(p / L); hit = 0
    for (j = 1; j <= n; j++) if (q >= s[j] && q < e[j]) hit = j
    if (hit) { d = q - s[hit]; sum += d; c++; if (d > w) w = d } else fa++
  }
  END { printf "alarms in events: %d, mean detection delay %.1f s, worst %.1f s; false alarms: %d\n", c, c ? sum / c : 0, w, fa }
' "$W/v.mp4.truth" "$W/ev.jsonl"
