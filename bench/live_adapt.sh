#!/usr/bin/env bash
# live_adapt.sh — live adaptation in the service, measured with a real model: two cameras read
# in real time, "lamp" (a lit orange wall, the look-alike of bench/adapt_bench.sh, 640x360,
# 10 fps) and "fire" (out/demo-clip.mp4, `make demo`'s clip of shared test images), classified
# at 2 fps on one inference thread. Once the lamp alarms, its "False alarm" button is pressed
# (MQTT, a local mosquitto); the service adapts in the background and swaps the model in. It
# reports the adaptation's time, the alarms before and after the swap, frames dropped per
# camera, latency and peak memory. Not a test: numbers for the README.
#   bash bench/live_adapt.sh [MODEL] [SECONDS]   (default models/fire.vge, 60)
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=$(realpath "${1:-models/fire.vge}")
SECS=${2:-60}
VIGIE=$(realpath "${VIGIE:-./build/vigie}")
CLIP=$(realpath out/demo-clip.mp4 2>/dev/null || true)
[ -s "$CLIP" ] || { echo "live_adapt: out/demo-clip.mp4 missing: run make demo first" >&2; exit 1; }
W=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; rm -rf "$W"' EXIT
# the wall: ten shades, 1 s each, looped
for i in 0 1 2 3 4 5 6 7 8 9; do
  c=$(printf 'FF%02X%02X' $((170 - 2 * i)) $((2 * i)))
  ffmpeg -v error -f lavfi -i "color=c=0x$c:s=640x360:r=10" -vf "noise=alls=$((2 * (i % 2))):allf=t:all_seed=$((100 + i))" \
    -t 1 -c:v mpeg4 -q:v 3 -pix_fmt yuv420p "$W/w$i.mp4"
  echo "file '$W/w$i.mp4'" >>"$W/list.txt"
done
ffmpeg -v error -f concat -safe 0 -i "$W/list.txt" -c copy "$W/lamp.mp4"
PORT=$((20000 + RANDOM % 40000))
printf 'listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n' $PORT >"$W/mq.conf"
mosquitto -c "$W/mq.conf" >/dev/null 2>&1 &
PIDS+=($!)
sleep 0.5
mkdir -p "$W/fb"
printf '%s\n' "model: $MODEL" 'events: ev.jsonl' 'feedback:' '  dir: fb' '  auto_adapt: true' 'mqtt:' \
  '  host: 127.0.0.1' "  port: $PORT" '  topic_prefix: bench' 'defaults:' '  fps: 2' 'cameras:' \
  '  lamp:' "    source: $W/lamp.mp4" '    realtime: true' '    loop: true' \
  '  fire:' "    source: $CLIP" '    realtime: true' '    loop: true' >"$W/vigie.yaml"
touch "$W/ev.jsonl"
/usr/bin/time -f "%M" -o "$W/rss" $VIGIE watch --config "$W/vigie.yaml" >/dev/null 2>"$W/err" &
SPID=$!
t0=$(date +%s.%N)
for i in $(seq 300); do grep -q '"camera":"lamp".*"alarm_start"' "$W/ev.jsonl" && break; sleep 0.1; done
tp=$(date +%s.%N)
mosquitto_pub -h 127.0.0.1 -p $PORT -t bench/lamp/false_alarm -m PRESS
for i in $(seq 300); do grep -q '"event":"model"\|"event":"adapt_refused"' "$W/ev.jsonl" && break; sleep 0.1; done
ta=$(date +%s.%N)
sleep "$(awk -v s="$SECS" -v a="$ta" -v b="$t0" 'BEGIN { r = s - (a - b); print (r > 5 ? r : 5) }')"
kill -TERM "$(pgrep -P $SPID)" # vigie itself: time(1) would not pass the signal on
wait $SPID || true
echo "== $MODEL, 2 cameras in real time at 2 fps, 1 inference thread; run $SECS s"
echo "lamp's first alarm $(awk -v a="$tp" -v b="$t0" 'BEGIN { printf "%.1f", a - b }') s after start; pressed; adapted and swapped $(awk -v a="$ta" -v b="$tp" 'BEGIN { printf "%.1f", a - b }') s after the press (1 s of it gathering presses)"
grep -o '"event":"model".*\|"event":"adapt_refused".*' "$W/ev.jsonl" | head -1
for cam in lamp fire; do
  before=$(grep "\"camera\":\"$cam\"" "$W/ev.jsonl" | grep -c '"alarm_start","model":"fire"' || true)
  after=$(grep "\"camera\":\"$cam\"" "$W/ev.jsonl" | grep -c '"alarm_start","model":"fire.a1"' || true)
  echo "$cam: alarm starts with the shipped model $before, with the adapted one $after"
done
grep 'frames read' "$W/err" | sed 's/^vigie watch: //'
echo "peak RSS $(($(cat "$W/rss") / 1024)) MB"
