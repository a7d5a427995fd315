#!/usr/bin/env bash
# watch_test.sh — end-to-end tests of `vigie watch`: usage errors; then, with ../shared, a tiny
# fire model trained here, a video built with Debian's ffmpeg (neutral, fire, neutral) watched
# with a real mosquitto broker on 127.0.0.1 (exactly one alarm_start in the fire segment, its
# alarm_end after it, a heat-map snapshot, events / retained state / discovery over MQTT), the
# alarm levels said at the start and following the model's threshold, the same video through
# 2x2 tiles (the alarm on during the fire, a snapshot), the
# Last Will after kill -9, a clean SIGTERM shutdown (offline state published by vigie itself,
# statistics), a folder source with an unreadable image, frames dropped rather than queued
# when the classifier is slower than a live source, MQTT over TLS with a password, an
# unreachable RTSP URL (reconnect attempts reported, clean exit on SIGTERM, --retries giving
# up), and an HTTP MJPEG camera (ffmpeg) that is off, comes, goes and comes back.
#
# The model only has to recognise the images the video is made of (frames of its own training
# set, kept when it classifies them confidently): this tests the watch pipeline, not accuracy.
set -u
VIGIE=${VIGIE:-./build/vigie}
SHARED=${VIGIE_SHARED:-../shared}
export ASAN_OPTIONS="exitcode=99:detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:exitcode=98:print_stacktrace=1"
T=$(mktemp -d "${TMPDIR:-/tmp}/vigie-watch-XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
pass=0 fail=0 skip=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL watch: $*"; }
# a crash or a sanitizer report is always a failure
sane() { # sane STATUS STDERR-FILE what
  if [ "$1" -ge 98 ] || grep -q 'Sanitizer\|runtime error' "$2"; then
    bad "crash or sanitizer report (status $1): $3"; sed 's/^/    /' "$2" | head -20; return 1
  fi
  return 0
}
wait_for() { # wait_for COUNT PATTERN FILE: up to 15 s for COUNT lines matching
  for i in $(seq 150); do [ "$(grep -c "$2" "$3")" -ge "$1" ] && return 0; sleep 0.1; done
  return 1
}
finish() {
  echo "watch: $pass passed, $fail failed, $skip skipped"
  [ $fail = 0 ]
  exit
}

# ---- help and usage errors (no shared data needed)
$VIGIE watch --help >"$T/out" 2>&1; rc=$?
[ $rc = 0 ] && grep -q '^usage: vigie watch' "$T/out" && grep -q -- '--mqtt' "$T/out" && ok || bad "--help (status $rc)"
usage() { # usage DESCRIPTION ARGS...: status 2 and a message
  local what=$1; shift
  $VIGIE watch "$@" >"$T/out" 2>"$T/err"; local rc=$?
  sane $rc "$T/err" "$what" || return
  [ $rc = 2 ] && grep -q '^vigie watch: ' "$T/err" && ok || bad "$what: status $rc, wanted 2: $(head -c 200 "$T/err")"
}
usage "no arguments"
usage "no --source" m.vgm
usage "--off above --on" m.vgm --source x --on 0.3 --off 0.5
usage "bad --fps" m.vgm --source x --fps fast
usage "bad MQTT port" m.vgm --source x --mqtt localhost:99999
usage "MQTT option without --mqtt" m.vgm --source x --mqtt-user u
usage "contradictory snapshot options" m.vgm --source x --snapshots . --no-snapshots
usage "--tiles 0x2" m.vgm --source x --tiles 0x2
usage "--tiles abc" m.vgm --source x --tiles abc
$VIGIE watch "$T/missing.vgm" --source x --no-snapshots >"$T/out" 2>"$T/err"; rc=$?
sane $rc "$T/err" "missing model" && [ $rc = 1 ] && [ "$(wc -l <"$T/err")" = 1 ] && grep -q '^vigie watch: ' "$T/err" && ok || bad "missing model: status $rc: $(cat "$T/err")"

D=$SHARED/data/firesmoke-cctv
[ -d "$D" ] && D=$(cd "$D" && pwd)
if [ ! -d "$D" ] || [ ! -f "$SHARED/models/mobilenet_v2_1.0_224_quant.tflite" ]; then
  echo "SKIP watch: $SHARED data not found (end-to-end tests)"
  skip=$((skip + 1)); finish
fi
for tool in ffmpeg mosquitto mosquitto_sub mosquitto_pub; do
  if ! command -v $tool >/dev/null; then
    bad "$tool not installed (bash scripts/setup.sh installs it)"; finish
  fi
done

# ---- a tiny fire model: head only, 96x96, 6 training + 2 validation images per class
mkdir -p "$T/data"
for c in fire smoke neutral; do
  mkdir -p "$T/data/$c"
  ls "$D/$c" | head -8 | while read -r f; do ln -s "$D/$c/$f" "$T/data/$c/$f"; done
  ls "$T/data/$c" | head -6 | sed "s|^|$c/|" >>"$T/train.txt"
  ls "$T/data/$c" | tail -2 | sed "s|^|$c/|" >>"$T/val.txt"
done
$VIGIE import "$SHARED/models/mobilenet_v2_1.0_224_quant.tflite" -o "$T/bb.vgm" >/dev/null 2>&1 && ok || bad "import backbone"
$VIGIE train --data "$T/data" --train-list "$T/train.txt" --val-list "$T/val.txt" --backbone "$T/bb.vgm" \
  --train head --size 96 --batch 6 --epochs 6 --patience 0 --lr 0.01 --threads 2 --quiet \
  -o "$T/m.vgm" >"$T/train.out" 2>&1 && ok || { bad "train: $(tail -3 "$T/train.out")"; finish; }
M=$T/m.vgm

# images the model is sure about (p >= 0.9 for their own class), for the video
confident() { # confident CLASS -> paths, one a line
  $VIGIE predict "$M" "$T/data/$1"/* --json --top 1 2>/dev/null |
    grep "\"top\":\[{\"label\":\"$1\",\"p\":0\.9\|\"top\":\[{\"label\":\"$1\",\"p\":1\." |
    sed 's/^{"image":"\([^"]*\)".*/\1/'
}
mapfile -t NEU < <(confident neutral)
mapfile -t FIR < <(confident fire)
if [ ${#NEU[@]} -lt 2 ] || [ ${#FIR[@]} -lt 2 ]; then
  bad "the tiny model is confident on only ${#NEU[@]} neutral and ${#FIR[@]} fire images"; finish
fi

# the video: 6 s neutral, 6 s fire, 6 s neutral; each image held 1 s; 5 fps, 128x128, MPEG-4
mkdir -p "$T/seq"
k=0
add() { k=$((k + 1)); ln -s "$1" "$T/seq/$(printf %03d $k).jpg"; }
for i in 0 1 2 3 4 5; do add "${NEU[$((i % ${#NEU[@]}))]}"; done
for i in 0 1 2 3 4 5; do add "${FIR[$((i % ${#FIR[@]}))]}"; done
for i in 0 1 2 3 4 5; do add "${NEU[$(((i + 1) % ${#NEU[@]}))]}"; done
ffmpeg -loglevel error -y -framerate 1 -i "$T/seq/%03d.jpg" -vf "scale=128:128,fps=5" \
  -c:v mpeg4 -q:v 3 -pix_fmt yuv420p "$T/v.mp4" && [ -s "$T/v.mp4" ] && ok || { bad "ffmpeg video"; finish; }

# ---- a broker on a free high port of 127.0.0.1, anonymous, no persistence
start_broker() {
  for try in 1 2 3 4 5; do
    PORT=$((20000 + RANDOM % 40000))
    printf 'listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n' $PORT >"$T/mq.conf"
    mosquitto -c "$T/mq.conf" >"$T/mq.log" 2>&1 &
    BROKER=$!
    PIDS+=($BROKER)
    for i in $(seq 30); do
      mosquitto_pub -h 127.0.0.1 -p $PORT -t probe -m x 2>/dev/null && return 0
      kill -0 $BROKER 2>/dev/null || break
      sleep 0.1
    done
    kill $BROKER 2>/dev/null
  done
  return 1
}
start_broker || { bad "cannot start mosquitto: $(cat "$T/mq.log")"; finish; }
SUB="mosquitto_sub -h 127.0.0.1 -p $PORT"
retained() { $SUB -t "$1" -C 1 -W 3 2>/dev/null; } # the retained message of a topic

# ---- 1. the video, end to end
$SUB -v -t 'e2e/cam/#' -t 'homeassistant/binary_sensor/vigie_e2ecam/#' >"$T/sub.txt" 2>&1 &
SUBPID=$!
PIDS+=($SUBPID)
for i in $(seq 30); do # the subscription is live once it sees a message of its own
  mosquitto_pub -h 127.0.0.1 -p $PORT -t e2e/cam/probe -m ready
  grep -q 'e2e/cam/probe ready' "$T/sub.txt" && break
  sleep 0.1
done
mkdir -p "$T/snaps"
$VIGIE watch "$M" --source "$T/v.mp4" --events "$T/ev.jsonl" --snapshots "$T/snaps" \
  --mqtt 127.0.0.1:$PORT --topic e2e/cam --name e2ecam >"$T/w.out" 2>"$T/w.err"
rc=$?
sane $rc "$T/w.err" "watch the video" && [ $rc = 0 ] && ok || { bad "watch the video: status $rc: $(tail -3 "$T/w.err")"; }
sleep 0.5
kill $SUBPID 2>/dev/null
[ ! -s "$T/w.out" ] && ok || bad "events went to stdout despite --events"
starts=$(grep -c '"event":"alarm_start"' "$T/ev.jsonl")
ends=$(grep -c '"event":"alarm_end"' "$T/ev.jsonl")
[ "$starts" = 1 ] && [ "$ends" = 1 ] && ok || bad "events: $starts starts, $ends ends: $(cat "$T/ev.jsonl")"
pts() { grep "\"event\":\"$1\"" "$T/ev.jsonl" | head -1 | sed 's/.*"pts":\([0-9.]*\).*/\1/'; }
ps=$(pts alarm_start); pe=$(pts alarm_end)
# the fire is on screen from 6 s to 12 s: the start within it, the end in the last neutral part
awk -v s="${ps:-0}" -v e="${pe:-0}" 'BEGIN { exit !(s >= 6 && s < 12 && e >= 12 && e < 18) }' && ok ||
  bad "alarm at pts ${ps:-none}, end at ${pe:-none} (fire from 6 to 12 s)"
grep '"event":"alarm_start"' "$T/ev.jsonl" | grep -q '"class":"fire","p":0\.[7-9][0-9]*\|"class":"fire","p":1\.' && ok ||
  bad "alarm_start class / p: $(grep alarm_start "$T/ev.jsonl")"
grep '"event":"alarm_end"' "$T/ev.jsonl" | grep -q '"reason":"clear"' && ok || bad "alarm_end reason"
snap=$(grep '"event":"alarm_start"' "$T/ev.jsonl" | sed -n 's/.*"snapshot":"\([^"]*\)".*/\1/p')
[ -n "$snap" ] && [ -s "$snap" ] && head -c 3 "$snap" | od -An -tx1 | grep -q 'ff d8 ff' && ok || bad "snapshot '$snap'"
[ "$(ls "$T/snaps" | wc -l)" = 1 ] && ! ls "$T/snaps" | grep -q tmp && ok || bad "snapshots folder: $(ls "$T/snaps")"
grep -q 'frames read 90, classified 90, dropped 0' "$T/w.err" && grep -q 'alarms raised 1' "$T/w.err" && ok ||
  bad "statistics: $(cat "$T/w.err")"
# over MQTT: the same two events, the state going ON then OFF, discovery, status
[ "$(grep -c '^e2e/cam/event {.*"event":"alarm_start"' "$T/sub.txt")" = 1 ] &&
  [ "$(grep -c '^e2e/cam/event {.*"event":"alarm_end"' "$T/sub.txt")" = 1 ] && ok || bad "MQTT events: $(grep event "$T/sub.txt")"
grep '^e2e/cam/state ' "$T/sub.txt" | grep -o '"alarm":"[A-Z]*"' | uniq | tr '\n' ' ' >"$T/states"
[ "$(cat "$T/states")" = '"alarm":"OFF" "alarm":"ON" "alarm":"OFF" ' ] && ok || bad "state sequence: $(cat "$T/states")"
grep -q '^e2e/cam/state {"status":"online",.*"alarm":"ON","classes":{"fire":"ON","smoke":"OFF"}' "$T/sub.txt" && ok || bad "state while alarmed: $(grep state "$T/sub.txt" | head -3)"
grep -q '^homeassistant/binary_sensor/vigie_e2ecam/alarm/config {.*"state_topic":"e2e/cam/state".*"availability_topic":"e2e/cam/status"' "$T/sub.txt" &&
  grep -q '^homeassistant/binary_sensor/vigie_e2ecam/fire/config ' "$T/sub.txt" && ok || bad "discovery: $(grep homeassistant "$T/sub.txt" | head -2)"
grep -q '^e2e/cam/status online' "$T/sub.txt" && ok || bad "status online never published"
# retained after the end: vigie's own goodbye
retained e2e/cam/state | grep -q '^{"status":"offline",.*"alarm":"OFF"' && ok || bad "retained state after exit: $(retained e2e/cam/state)"
[ "$(retained e2e/cam/status)" = offline ] && ok || bad "retained status after exit: $(retained e2e/cam/status)"
retained homeassistant/binary_sensor/vigie_e2ecam/alarm/config | grep -q '"device_class":"smoke"' && ok || bad "discovery not retained"

# ---- 1b. the alarm levels follow the model's threshold (vigie train stores it): off = the
# threshold, on = 4x its odds, said on stderr at the start
thr=$($VIGIE info "$M" | sed -n 's/^meta *alarm_threshold = //p')
lv=$(grep -m1 '^vigie watch: alarm on' "$T/w.err")
read -r lon loff < <(echo "$lv" | sed -n 's/^vigie watch: alarm on \([0-9.]*\), off \([0-9.]*\) (from the model.s alarm threshold.*/\1 \2/p')
[ -n "$thr" ] && awk -v t="$thr" -v on="${lon:-9}" -v off="${loff:-9}" \
  'BEGIN { exit !(off - t < 0.0006 && t - off < 0.0006 && on - 4*t/(1+3*t) < 0.0006 && 4*t/(1+3*t) - on < 0.0006) }' && ok ||
  bad "levels from the model's threshold ${thr:-none}: '$lv'"
echo "  levels: threshold ${thr:-?} -> ${lv#vigie watch: }"
$VIGIE watch "$M" --source "$T/v.mp4" --no-snapshots --on 0.9 --off 0.4 >/dev/null 2>"$T/lv.err"
grep -q '^vigie watch: alarm on 0.900, off 0.400 (both given)' "$T/lv.err" && ok || bad "given levels: $(head -2 "$T/lv.err")"
$VIGIE watch "$M" --source "$T/v.mp4" --no-snapshots --on 0.95 >/dev/null 2>"$T/lv.err"
grep -q "^vigie watch: alarm on 0.950, off $(printf %.3f "${thr:-0}") (on given, off from the model's alarm threshold" "$T/lv.err" && ok ||
  bad "--on alone: $(head -2 "$T/lv.err")"

# ---- 1c. tiles: each frame as a whole and as 2x2 overlapping tiles, one batch. A frame's
# tiled score is at least its whole-frame score (the max of the views includes the whole
# frame), so with no cool-down the alarm must be on by the end of the fire segment (every fire
# frame >= 0.9 as a whole: armed once the 10-frame window holds fire only, by 8 s, started 2 s
# later); a snapshot whose heat map comes from the five views. Not asserted: quiet neutral
# segments (the tiny model never saw parts of images and may take a neutral tile for smoke).
mkdir -p "$T/tsnaps"
$VIGIE watch "$M" --source "$T/v.mp4" --tiles 2x2 --cooldown 0 --events "$T/tev.jsonl" --snapshots "$T/tsnaps" >/dev/null 2>"$T/tw.err"
rc=$?
sane $rc "$T/tw.err" "watch --tiles 2x2" && [ $rc = 0 ] && ok || bad "watch --tiles 2x2: status $rc: $(tail -3 "$T/tw.err")"
# the state at 11.5 s: the last start / end event before it
awk -F'"pts":' '{ split($2, a, ","); if (a[1] + 0 <= 11.5) { if ($0 ~ /alarm_start/) on = 1; if ($0 ~ /alarm_end/) on = 0 } }
  END { exit !on }' "$T/tev.jsonl" && ok || bad "--tiles 2x2: no alarm on at 11.5 s: $(cat "$T/tev.jsonl")"
snap=$(sed -n 's/.*"snapshot":"\([^"]*\)".*/\1/p' "$T/tev.jsonl" | head -1)
[ -n "$snap" ] && [ -s "$snap" ] && head -c 3 "$snap" | od -An -tx1 | grep -q 'ff d8 ff' && ! grep -q 'heat map' "$T/tw.err" && ok ||
  bad "--tiles snapshot '$snap': $(cat "$T/tw.err")"
grep -q 'frames read 90, classified 90, dropped 0' "$T/tw.err" && ok || bad "--tiles statistics: $(cat "$T/tw.err")"
echo "  tiles 2x2: $(grep -c alarm_start "$T/tev.jsonl") alarm(s) at pts $(sed -n 's/.*"pts":\([0-9.]*\),.*"event":"alarm_start".*/\1/p' "$T/tev.jsonl" | tr '\n' ' ')(fire 6-12 s)"

# ---- 2. and 3. killed with SIGKILL (the broker's Last Will) / stopped with SIGTERM (clean)
# the video looped in real time keeps vigie running until the signal
run_bg() { # run_bg TOPIC -> $WPID, output in $T/TOPIC.err
  $VIGIE watch "$M" --source "$T/v.mp4" --loop --realtime --no-snapshots --mqtt 127.0.0.1:$PORT \
    --topic "$1" --name "$1" >"$T/$1.out" 2>"$T/$1.err" &
  WPID=$!
  PIDS+=($WPID)
  # the first message on the fresh topic is vigie's "online" (waits for it, at most 20 s)
  [ "$($SUB -t "$1/status" -C 1 -W 20 2>/dev/null)" = online ] && retained "$1/state" | grep -q '"status":"online"'
}
if run_bg killed; then
  ok
  sleep 0.5
  kill -9 $WPID; wait $WPID 2>/dev/null
  # the broker publishes the will once it sees the connection closed: give it 3 s
  for i in $(seq 30); do [ "$(retained killed/status)" = offline ] && break; sleep 0.1; done
  [ "$(retained killed/status)" = offline ] && ok || bad "Last Will: status '$(retained killed/status)'"
  # nobody said goodbye: the retained state is still vigie's last "online" one
  retained killed/state | grep -q '"status":"online"' && ok || bad "state after kill -9: $(retained killed/state)"
else
  bad "watch never came online: $(cat "$T/killed.err")"
fi
if run_bg stopped; then
  ok
  sleep 1
  kill -TERM $WPID; wait $WPID; rc=$?
  sane $rc "$T/stopped.err" "SIGTERM" && [ $rc = 0 ] && ok || bad "SIGTERM: status $rc: $(tail -3 "$T/stopped.err")"
  grep -q 'frames read [1-9][0-9]*, classified [1-9]' "$T/stopped.err" && grep -q 'latency mean [0-9.]* ms, p99 [0-9.]* ms' "$T/stopped.err" &&
    grep -q 'offline state confirmed by the broker' "$T/stopped.err" && ok || bad "SIGTERM statistics: $(cat "$T/stopped.err")"
  retained stopped/state | grep -q '^{"status":"offline"' && ok || bad "state after SIGTERM: $(retained stopped/state)"
  [ "$(retained stopped/status)" = offline ] && ok || bad "status after SIGTERM: $(retained stopped/status)"
else
  bad "watch never came online: $(cat "$T/stopped.err")"
fi

# ---- 4. a folder of images, one of them unreadable; events on stdout
mkdir -p "$T/folder"
cp "${FIR[0]}" "$T/folder/01.jpg"; cp "${NEU[0]}" "$T/folder/02.jpg"; cp "${FIR[1]}" "$T/folder/04.jpg"
head -c 2000 "${NEU[0]}" >"$T/folder/03.jpg" # cut short
echo "not an image" >"$T/folder/readme.txt"
$VIGIE watch "$M" --source "$T/folder" --no-snapshots --window 1 --min-duration 0 >"$T/f.out" 2>"$T/f.err"
rc=$?
sane $rc "$T/f.err" "folder" && [ $rc = 0 ] && ok || bad "folder: status $rc: $(cat "$T/f.err")"
grep -q '03.jpg: .*; skipped' "$T/f.err" && grep -q 'frames read 3, classified 3, .*undecodable 1' "$T/f.err" && ok ||
  bad "folder report: $(cat "$T/f.err")"
# in name order: fire (start), neutral (end), fire again inside the 60 s cool-down (nothing)
grep -o '"frame":[0-9]*,"event":"[a-z_]*"' "$T/f.out" | tr '\n' ' ' >"$T/f.seq"
[ "$(cat "$T/f.seq")" = '"frame":0,"event":"alarm_start" "frame":1,"event":"alarm_end" ' ] && ok || bad "folder events: $(cat "$T/f.out")"

# the events file is appended to, run after run; snapshots go beside it by default
mkdir -p "$T/evdir"
for run in 1 2; do
  $VIGIE watch "$M" --source "$T/folder" --window 1 --min-duration 0 --events "$T/evdir/ev.jsonl" >/dev/null 2>"$T/f2.err"
done
[ "$(grep -c '"event":"alarm_start"' "$T/evdir/ev.jsonl")" = 2 ] && [ "$(ls "$T/evdir"/*.jpg 2>/dev/null | wc -l)" -ge 1 ] && ok ||
  bad "events appended / snapshots beside them: $(cat "$T/evdir/ev.jsonl"; ls "$T/evdir"; cat "$T/f2.err")"

# ---- 4b. a configuration file: two cameras on one model (relative paths, defaults and an
# override, a mask, a disabled camera), --check-config, and mistakes refused before anything runs
printf '%s\n' "model: $M" 'events: cev.jsonl' 'defaults:' '  window: 1' '  min_duration: 0' 'cameras:' \
  '  front:' '    source: folder' '  back:' '    source: folder' '    cooldown: 0' '    masks:' \
  '      - [[0.9, 0.9], [1, 0.9], [1, 1]]' '  spare:' '    source: nowhere' '    enabled: false' >"$T/cfg.yaml"
$VIGIE watch --check-config "$T/cfg.yaml" >"$T/cc.out" 2>"$T/cc.err"; rc=$?
[ $rc = 0 ] && grep -q 'valid: model .*, 3 cameras, events .*cev.jsonl' "$T/cc.out" && grep -q '^camera spare .*(disabled)' "$T/cc.out" &&
  grep -q '^camera back .* 1 mask' "$T/cc.out" && [ ! -e "$T/cev.jsonl" ] && ok || bad "check-config: status $rc: $(cat "$T/cc.out" "$T/cc.err")"
$VIGIE watch --config "$T/cfg.yaml" >"$T/c.out" 2>"$T/c.err"; rc=$?
sane $rc "$T/c.err" "config" && [ $rc = 0 ] && ok || bad "config run: status $rc: $(cat "$T/c.err")"
# each camera saw the folder as the one-camera run did, and names itself in its events
for cam in front back; do
  grep -q "^vigie watch: $cam: frames read 3, classified 3" "$T/c.err" && ok || bad "$cam statistics: $(cat "$T/c.err")"
  [ "$(grep -c "^{\"camera\":\"$cam\",\"t\"" "$T/cev.jsonl")" -ge 2 ] && ok || bad "$cam events: $(cat "$T/cev.jsonl")"
done
grep -q spare "$T/cev.jsonl" "$T/c.err" && bad "the disabled camera ran" || ok
[ ! -s "$T/c.out" ] && ok || bad "events on stdout despite events: $(cat "$T/c.out")"
# mistakes: file:line:column and the key, status 1, nothing run
printf 'model: %s\ncameras:\n  a:\n    source: folder\n    cooldwn: 3\n' "$M" >"$T/bad.yaml"
$VIGIE watch --config "$T/bad.yaml" >"$T/b.out" 2>"$T/b.err"; rc=$?
[ $rc = 1 ] && grep -q "bad.yaml:5:5: cameras.a: unknown key 'cooldwn'" "$T/b.err" && [ ! -s "$T/b.out" ] && ok || bad "unknown key: $rc $(cat "$T/b.err")"
printf 'model: %s\ncameras:\n  a: {source: folder, classes: dragon}\n' "$M" >"$T/bad2.yaml"
$VIGIE watch --check-config "$T/bad2.yaml" >"$T/b.out" 2>"$T/b.err"; rc=$?
[ $rc = 1 ] && grep -q 'camera a: .*dragon' "$T/b.err" && ok || bad "unknown class: $rc $(cat "$T/b.err")"
# the mistakes the acceptance names: each with file:line (status 1, nothing run)
cfgerr() { # cfgerr WHAT PATTERN: the config in $T/bad3.yaml
  $VIGIE watch --check-config "$T/bad3.yaml" >"$T/b.out" 2>"$T/b.err"; local rc=$?
  sane $rc "$T/b.err" "$1" && [ $rc = 1 ] && grep -q "$2" "$T/b.err" && ok || bad "$1: status $rc: $(cat "$T/b.err")"
}
printf 'model: %s
cameras:
  a: {source: folder, window: many}
' "$M" >"$T/bad3.yaml"
cfgerr "wrong type" "bad3.yaml:3:.*window"
printf 'model: %s
cameras:
  a: {source: "rtps://cam/1"}
' "$M" >"$T/bad3.yaml"
cfgerr "bad URI" "bad3.yaml:3:.*unknown scheme 'rtps'"
printf 'model: %s
cameras:
  a: {source: folder}
  a: {source: folder}
' "$M" >"$T/bad3.yaml"
cfgerr "duplicate camera" "bad3.yaml:4:.*camera 'a' given twice"
printf 'model: %s
cameras:
  a: {source: folder}
' "$T/bad.yaml" >"$T/bad3.yaml"
cfgerr "unreadable model" "bad3.yaml:1:8: model: "
printf 'model: %s
cameras:
  a:
    source: nothere.mp4
' "$M" >"$T/bad3.yaml"
cfgerr "missing video file" "bad3.yaml:4:13: cameras.a: source: .*nothere.mp4: No such file"
usage "--config with a MODEL" "$M" --config "$T/cfg.yaml"
usage "--config with --check-config" --config "$T/cfg.yaml" --check-config "$T/cfg.yaml"
usage "no MODEL and no --config" --source x

# ---- 4c. the service end to end: one process, one model, three cameras from one file, MQTT
# per camera. fire: the video in real time (one alarm inside its fire segment); quiet: a still
# neutral picture (no alarm, reported stuck: frozen); door: an HTTP MJPEG camera of neutral
# frames that goes away and comes back. Then the false-alarm button (frame and snapshot to the
# feedback folder), a malformed command (ignored), SIGHUP with door removed and fire2 (the same
# video) added and disarmed at once (no alarm), and a clean SIGTERM.
mkdir -p "$T/svc/snaps" "$T/svc/fb" "$T/svc/still"
ffmpeg -loglevel error -y -loop 1 -i "${NEU[0]}" -t 30 -vf "scale=128:128,fps=5" -c:v mpeg4 -q:v 3 -pix_fmt yuv420p "$T/svc/still.mp4"
for i in 0 1 2 3 4 5 6 7 8 9; do ln -sf "${NEU[$((i % ${#NEU[@]}))]}" "$T/svc/still/$(printf %02d $i).jpg"; done
ffmpeg -loglevel error -y -framerate 4 -i "$T/svc/still/%02d.jpg" -vf "scale=128:128" -c:v mjpeg -q:v 5 "$T/svc/door.avi"
HP2=$((PORT + 3))
serve_door() {
  ffmpeg -loglevel error -re -i "$T/svc/door.avi" -c copy -f mpjpeg -listen 1 "http://127.0.0.1:$HP2/door.mjpg" >/dev/null 2>&1 &
  PIDS+=($!)
}
svc_cfg() { # svc_cfg with-door with-fire2 > file
  printf '%s\n' "model: $M" 'events: ev.jsonl' 'snapshots: snaps' 'feedback_dir: fb' 'mqtt:' "  host: 127.0.0.1" \
    "  port: $PORT" '  topic_prefix: svc' 'defaults:' '  fps: 5' 'cameras:' \
    "  fire:" "    source: $T/v.mp4" '    realtime: true' \
    '  quiet:' "    source: $T/svc/still.mp4" '    realtime: true' '    loop: true' '    stuck_after: 2'
  [ "$1" = 1 ] && printf '%s\n' '  door:' "    source: http://127.0.0.1:$HP2/door.mjpg" '    reconnect: 0.2' '    reconnect_max: 0.2'
  [ "$2" = 1 ] && printf '%s\n' '  fire2:' "    source: $T/v.mp4" '    realtime: true'
  return 0
}
svc_cfg 1 0 >"$T/svc/vigie.yaml"
$SUB -v -t 'svc/#' -t 'homeassistant/#' >"$T/svc/sub.txt" 2>&1 &
PIDS+=($!)
for i in $(seq 30); do
  mosquitto_pub -h 127.0.0.1 -p $PORT -t svc/probe -m ready
  grep -q 'svc/probe ready' "$T/svc/sub.txt" && break
  sleep 0.1
done
# systemd's side, stood in for: the notification socket (readiness, watchdog every 0.5 s of a
# 1 s WatchdogSec, reloading, stopping)
NL=${NOTIFY_LISTEN:-./build/notify_listen}
NS=$T/svc/notify.sock
if [ -x "$NL" ]; then
  "$NL" "$NS" 120 >"$T/svc/notify.txt" 2>&1 &
  PIDS+=($!)
  for i in $(seq 50); do [ -S "$NS" ] && break; sleep 0.1; done
fi
NOTIFY_SOCKET=$NS WATCHDOG_USEC=1000000 $VIGIE watch --config "$T/svc/vigie.yaml" >"$T/svc/out" 2>"$T/svc/err" &
SPID=$!
PIDS+=($SPID)
SEV=$T/svc/ev.jsonl
touch "$SEV"
PUB="mosquitto_pub -h 127.0.0.1 -p $PORT"
if wait_for 1 '^svc/status online' "$T/svc/sub.txt" && wait_for 1 '^svc/door/state ' "$T/svc/sub.txt"; then ok; else bad "service never came online: $(cat "$T/svc/err")"; fi
# per camera: state topic and a Home Assistant device (sensors, switch, button)
for cam in fire quiet door; do
  grep -q "^homeassistant/binary_sensor/vigie_svc_$cam/alarm/config {.*\"state_topic\":\"svc/$cam/state\".*\"availability_topic\":\"svc/status\".*\"identifiers\":\[\"vigie_svc_$cam\"\]" "$T/svc/sub.txt" &&
    grep -q "^homeassistant/switch/vigie_svc_$cam/armed/config {.*\"command_topic\":\"svc/$cam/armed/set\"" "$T/svc/sub.txt" &&
    grep -q "^homeassistant/button/vigie_svc_$cam/false_alarm/config {.*\"command_topic\":\"svc/$cam/false_alarm\"" "$T/svc/sub.txt" &&
    grep -q "^homeassistant/binary_sensor/vigie_svc_$cam/stuck/config {.*\"device_class\":\"problem\"" "$T/svc/sub.txt" &&
    grep -q "^svc/$cam/state {\"status\":\"online\".*\"armed\":\"ON\"" "$T/svc/sub.txt" && ok || bad "$cam: discovery / state: $(grep "$cam" "$T/svc/sub.txt" | head -3)"
done
# the fire: one alarm; "false alarm" pressed -> its frame and snapshot in the feedback folder
if wait_for 1 '"camera":"fire",.*"event":"alarm_start"' "$SEV"; then
  $PUB -t svc/fire/false_alarm -m PRESS
  wait_for 1 '"camera":"fire",.*"event":"false_alarm"' "$SEV" && ok || bad "false_alarm event: $(grep fire "$SEV")"
  fb=$(ls "$T/svc/fb/fire/neutral/"*.jpg 2>/dev/null | head -1)
  [ -n "$fb" ] && head -c 3 "$fb" | od -An -tx1 | grep -q 'ff d8 ff' && [ -s "$T/svc/fb/fire/neutral/snapshots/$(basename "$fb")" ] &&
    grep -q "\"feedback\":\"$fb\"" "$SEV" && ok || bad "feedback frame / snapshot: $(ls -R "$T/svc/fb")"
else
  bad "no alarm on the fire camera: $(cat "$SEV")"
fi
# the door camera comes, goes (its clip ends) and comes back
serve_door
if wait_for 1 'door: .*connected again' "$T/svc/err" && wait_for 1 'door: .*stream lost' "$T/svc/err" && serve_door &&
  wait_for 2 'door: .*connected again' "$T/svc/err"; then ok; else bad "door camera off / on / off / on: $(grep door "$T/svc/err")"; fi
# the still picture: stuck (frozen), in an event and in its state
wait_for 1 '"camera":"quiet",.*"event":"stuck","model":"m","reason":"frozen"' "$SEV" &&
  wait_for 1 '^svc/quiet/state {.*"stuck":"ON","health":"frozen"' "$T/svc/sub.txt" && ok || bad "frozen camera not reported stuck: $(grep quiet "$SEV" | head -3)"
# malformed commands and other topics are reported and ignored
$PUB -t svc/fire/armed/set -m maybe
$PUB -t svc/fire/false_alarm -m "$(head -c 300 /dev/zero | tr '\0' x)"
wait_for 2 "payload .* ignored (expected" "$T/svc/err" && ok || bad "malformed commands not reported: $(grep -i mqtt "$T/svc/err")"
grep -q '"camera":"fire",.*"event":"disarmed"' "$SEV" && bad "a malformed command disarmed fire" || ok
# SIGHUP: door removed, fire2 added; quiet runs on untouched
svc_cfg 0 1 >"$T/svc/vigie.yaml"
mv "$SEV" "$SEV.1" # log rotation: SIGHUP reopens the events file
kill -HUP $SPID
wait_for 1 'reloaded .*: 1 added (fire2), 1 removed (door), 0 changed, 2 untouched' "$T/svc/err" && ok || bad "reload: $(tail -5 "$T/svc/err")"
grep -q '^vigie watch: door: frames read' "$T/svc/err" && ! grep -q '^vigie watch: quiet: frames read' "$T/svc/err" && ok ||
  bad "reload stopped more than door: $(grep 'frames read' "$T/svc/err")"
for i in $(seq 50); do [ "$(retained svc/door/state)" = '{"status":"removed"}' ] && break; sleep 0.1; done
[ "$(retained svc/door/state)" = '{"status":"removed"}' ] && [ -z "$(retained homeassistant/switch/vigie_svc_door/armed/config)" ] && ok ||
  bad "door not withdrawn: state '$(retained svc/door/state)'"
# fire2 disarmed as soon as it is there: its fire segment raises nothing
if wait_for 1 '^svc/fire2/state ' "$T/svc/sub.txt"; then
  $PUB -t svc/fire2/armed/set -m OFF
  wait_for 1 '"camera":"fire2",.*"event":"disarmed"' "$SEV" && wait_for 1 '^svc/fire2/state {.*"armed":"OFF"' "$T/svc/sub.txt" && ok || bad "fire2 not disarmed: $(grep fire2 "$SEV")"
else
  bad "fire2 never started: $(tail -3 "$T/svc/err")"
fi
wait_for 1 '^vigie watch: fire2: frames read 90, classified 90' "$T/svc/err" # its video, to the end (18 s)
kill -TERM $SPID; wait $SPID; rc=$?
sane $rc "$T/svc/err" "service" && [ $rc = 0 ] && ok || bad "service: status $rc: $(tail -5 "$T/svc/err")"
if [ -x "$NL" ]; then
  sleep 0.2
  grep -q '^READY=1$' "$T/svc/notify.txt" && grep -q '^RELOADING=1$' "$T/svc/notify.txt" &&
    grep -q '^STATUS=watching 3 camera(s)$' "$T/svc/notify.txt" && grep -q '^STOPPING=1$' "$T/svc/notify.txt" &&
    [ "$(grep -c '^WATCHDOG=1$' "$T/svc/notify.txt")" -ge 20 ] && ok || bad "systemd notifications: $(sort "$T/svc/notify.txt" | uniq -c)"
else
  bad "$NL not built (make $NL)"
fi
# the events after the reload went to the new file
[ -s "$SEV" ] && ! grep -q '"camera":"fire2"' "$SEV.1" && grep -q '"camera":"fire2"' "$SEV" && ok || bad "events file not reopened"
cat "$SEV" >>"$SEV.1" && mv "$SEV.1" "$SEV"
# exactly one alarm, on fire, inside its fire segment (6-12 s); none on the others
[ "$(grep -c '"event":"alarm_start"' "$SEV")" = 1 ] && ps=$(grep '"event":"alarm_start"' "$SEV" | grep '"camera":"fire",' | sed 's/.*"pts":\([0-9.]*\).*/\1/') &&
  awk -v s="${ps:-0}" 'BEGIN { exit !(s >= 6 && s < 12) }' && ok || bad "alarms: $(grep alarm_start "$SEV")"
grep -q '^vigie watch: shared inference: [1-9][0-9]* frames in [1-9][0-9]* forward passes' "$T/svc/err" && ok || bad "no shared inference: $(tail -3 "$T/svc/err")"
grep -q '^vigie watch: fire: frames read 90, classified 90' "$T/svc/err" && grep -q '^vigie watch: quiet: frames read [1-9]' "$T/svc/err" && ok ||
  bad "service statistics: $(grep 'frames read' "$T/svc/err")"
[ "$(retained svc/status)" = offline ] && retained svc/quiet/state | grep -q '^{"status":"offline"' && ok || bad "service goodbye: $(retained svc/status) $(retained svc/quiet/state)"
echo "  service: $(grep -c . "$SEV") events from $(grep -o '"camera":"[a-z0-9]*"' "$SEV" | sort -u | wc -l) cameras; alarm at pts ${ps:-none} (fire 6-12 s)"

# ---- 4d. vigie adapt: a look-alike clip (a red-yellow radial glow, a warm lamp, in 12 frames
# shifted and brightened) raises an alarm; 5 of its frames as false-alarm feedback; after the
# update no frame of the clip alarms and the clip raises no alarm in watch, while the fire
# video still does, inside its fire segment; fire frames marked neutral are refused.
mkdir -p "$T/ad/fb/neutral" "$T/ad/clip" "$T/ad/bad/neutral"
ffmpeg -loglevel error -y -f lavfi -i "gradients=s=320x240:c0=red:c1=yellow:type=radial:seed=1" -frames:v 1 "$T/ad/glow.jpg"
for i in $(seq 0 11); do
  ffmpeg -loglevel error -y -i "$T/ad/glow.jpg" -vf "eq=brightness=0.0$((i % 5)),crop=iw-$((i * 8)):ih-$((i * 6)):$((i * 4)):$((i * 3)),scale=320:240" \
    -frames:v 1 "$T/ad/clip/$(printf %02d "$i").jpg"
done
cp "$T"/ad/clip/0[0-4].jpg "$T/ad/fb/neutral/"
alarming() { # alarming MODEL: how many frames of the clip alarm (1 - p(neutral) >= the threshold)
  local t; t=$($VIGIE info "$1" | sed -n 's/^meta *alarm_threshold = //p')
  $VIGIE predict "$1" "$T"/ad/clip/*.jpg --json --top 3 2>/dev/null |
    sed -n 's/.*"label":"neutral","p":\([0-9.e-]*\).*/\1/p' | awk -v t="$t" '1 - $1 >= t { n++ } END { print n + 0 }'
}
n0=$(alarming "$M")
# (the clip as its frames, 5 a second, a 1 s hold at the model's own threshold: an alarm
# when predict's frames alarm, no video re-encoding, no margin above the threshold)
thr=$($VIGIE info "$M" | sed -n 's/^meta *alarm_threshold = //p')
LA=(--source "$T/ad/clip" --fps 5 --window 3 --min-duration 1 --on "$thr" --off "$thr" --no-snapshots)
$VIGIE watch "$M" "${LA[@]}" >"$T/ad/w0.out" 2>"$T/ad/w0.err"
if [ "$n0" -ge 10 ] && grep -q '"event":"alarm_start"' "$T/ad/w0.out"; then
  ok
  $VIGIE adapt "$M" --feedback "$T/ad/fb" --data "$T/data" --train-list "$T/train.txt" --val-list "$T/val.txt" \
    -o "$T/ad/a.vgm" >"$T/ad/a.out" 2>"$T/ad/a.err"; rc=$?
  sane $rc "$T/ad/a.err" "adapt" && [ $rc = 0 ] && [ -s "$T/ad/a.vgm" ] && grep -q 'feedback false alarms still raised *5 *0 *of 5' "$T/ad/a.out" && ok ||
    bad "adapt: status $rc: $(cat "$T/ad/a.out" "$T/ad/a.err")"
  n1=$(alarming "$T/ad/a.vgm")
  [ "$n1" = 0 ] && ok || bad "after adapt, $n1 of 12 look-alike frames still alarm (before: $n0)"
  $VIGIE watch "$T/ad/a.vgm" "${LA[@]}" >"$T/ad/w1.out" 2>/dev/null
  ! grep -q '"event":"alarm_start"' "$T/ad/w1.out" && ok || bad "the look-alike clip still alarms: $(cat "$T/ad/w1.out")"
  $VIGIE watch "$T/ad/a.vgm" --source "$T/v.mp4" --no-snapshots >"$T/ad/w2.out" 2>/dev/null
  ps=$(grep '"event":"alarm_start"' "$T/ad/w2.out" | head -1 | sed 's/.*"pts":\([0-9.]*\).*/\1/')
  [ "$(grep -c '"event":"alarm_start"' "$T/ad/w2.out")" = 1 ] && awk -v s="${ps:-0}" 'BEGIN { exit !(s >= 6 && s < 12) }' && ok ||
    bad "the fire video after adapt: $(cat "$T/ad/w2.out")"
  $VIGIE info "$T/ad/a.vgm" | grep -q 'adapt_parent = m.vgm (classifier hash' && ok || bad "adapted model's metadata"
  # the adapted model carries its rehearsal set: adapting it again needs no --data
  $VIGIE adapt "$T/ad/a.vgm" --feedback "$T/ad/fb" -o "$T/ad/a2.vgm" >"$T/ad/a2.out" 2>"$T/ad/a2.err"; rc=$?
  sane $rc "$T/ad/a2.err" "adapt again" && [ $rc = 0 ] && grep -q 'from the model file' "$T/ad/a2.out" && ok ||
    bad "adapt without --data: status $rc: $(cat "$T/ad/a2.out" "$T/ad/a2.err")"
  echo "  adapt: look-alike frames alarming $n0 -> $n1 of 12; $(grep '^time' "$T/ad/a.out")"
else
  bad "the tiny model does not alarm on the look-alike clip ($n0 of 12 frames): nothing to adapt: $(cat "$T/ad/w0.out" "$T/ad/w0.err")"
fi
# the guard: fire and smoke frames marked neutral (the validation ones: with 4 validation
# positives, marking other fires neutral may or may not move them)
grep -v '^neutral/' "$T/val.txt" | while read -r f; do ln -sf "$T/data/$f" "$T/ad/bad/neutral/$(basename "$f")"; done
$VIGIE adapt "$M" --feedback "$T/ad/bad" --data "$T/data" --train-list "$T/train.txt" --val-list "$T/val.txt" \
  -o "$T/ad/bad.vgm" >"$T/ad/b.out" 2>"$T/ad/b.err"; rc=$?
sane $rc "$T/ad/b.err" "adapt refused" && [ $rc = 1 ] && grep -q 'update refused, nothing written: ' "$T/ad/b.err" && [ ! -e "$T/ad/bad.vgm" ] && ok ||
  bad "fire marked neutral: status $rc: $(cat "$T/ad/b.out" "$T/ad/b.err")"

# ---- 4e. live adaptation in the service (feedback: {auto_adapt: true}): the look-alike clip
# as a camera (lamp, looping in real time) alarms; its earlier false alarms are in the feedback
# folder already (4 frames) and one press of its "false alarm" button records the fifth: the
# service adapts in the background and swaps the model in between frames (a "model" event, the
# id in the state topic and the events); the lamp raises no alarm after that for a whole loop
# of its clip, while the fire camera's video, whose fire comes after the swap, still alarms,
# with the new model; no frame dropped. Then vigie adapt --list / --rollback and SIGHUP: back to
# the configured model, and the lamp alarms again.
mkdir -p "$T/la/fb/lamp/neutral"
cp "$T"/ad/clip/0[1-4].jpg "$T/la/fb/lamp/neutral/"
ffmpeg -loglevel error -y -framerate 1 -i "$T/ad/clip/%02d.jpg" -vf "fps=5" -c:v mpeg4 -q:v 3 -pix_fmt yuv420p "$T/la/lamp.mp4"
printf '%s\n' "model: $M" 'events: ev.jsonl' 'snapshots: null' 'feedback:' '  dir: fb' '  auto_adapt: true' \
  'mqtt:' '  host: 127.0.0.1' "  port: $PORT" '  topic_prefix: la' 'defaults:' '  fps: 5' 'cameras:' \
  '  lamp:' "    source: $T/la/lamp.mp4" '    realtime: true' '    loop: true' '    window: 3' \
  "    on: $thr" "    off: $thr" '    min_duration: 1' '    cooldown: 0' \
  '  fire:' "    source: $T/v.mp4" '    realtime: true' >"$T/la/vigie.yaml"
$SUB -v -t 'la/#' >"$T/la/sub.txt" 2>&1 &
PIDS+=($!)
LEV=$T/la/ev.jsonl
touch "$LEV"
$VIGIE watch --config "$T/la/vigie.yaml" >"$T/la/out" 2>"$T/la/err" &
LPID=$!
PIDS+=($LPID)
if wait_for 1 '"camera":"lamp",.*"event":"alarm_start","model":"m"' "$LEV"; then
  ok
  $PUB -t la/lamp/false_alarm -m PRESS
  if wait_for 1 '"event":"model","model":"m.a1","reason":"adapted"' "$LEV"; then
    ok
    wait_for 1 '^la/lamp/state {.*"model":"m.a1"' "$T/la/sub.txt" && ok || bad "lamp state without the new model: $(grep lamp/state "$T/la/sub.txt" | tail -2)"
    [ "$(cat "$T/la/fb/models/current")" = m.a1.vgm ] && [ -s "$T/la/fb/models/m.a1.vgm" ] && ok || bad "models/current: $(ls "$T/la/fb/models")"
  else
    bad "no adaptation: $(cat "$LEV" "$T/la/err" | tail -8)"
  fi
else
  bad "the lamp camera never alarmed: $(cat "$LEV" "$T/la/err" | tail -5)"
fi
# the fire video to its end (18 s), a whole loop of the lamp clip (12 s) after the swap
wait_for 1 '^vigie watch: fire: frames read' "$T/la/err"
for i in $(seq 60); do grep -q '^vigie watch: fire: frames read' "$T/la/err" && break; sleep 0.5; done
grep -q '"camera":"fire",.*"event":"alarm_start","model":"m.a1"' "$LEV" && ok || bad "no fire alarm with the adapted model: $(grep fire "$LEV")"
! grep -q '"camera":"lamp",.*"event":"alarm_start","model":"m.a1"' "$LEV" && ok || bad "the lamp alarms with the adapted model: $(grep lamp "$LEV")"
grep -q '^vigie watch: fire: frames read 90, classified 90, dropped 0' "$T/la/err" && ok || bad "fire camera: $(grep 'fire: frames' "$T/la/err")"
# the models kept, and going back
$VIGIE adapt --list --config "$T/la/vigie.yaml" >"$T/la/list" 2>&1 && grep -q '^\* m.a1 ' "$T/la/list" && grep -q '^  base ' "$T/la/list" && ok || bad "adapt --list: $(cat "$T/la/list")"
$VIGIE adapt --rollback --config "$T/la/vigie.yaml" >"$T/la/rb" 2>&1 && grep -q '^model m selected' "$T/la/rb" && [ ! -e "$T/la/fb/models/current" ] && ok || bad "adapt --rollback: $(cat "$T/la/rb")"
kill -HUP $LPID
wait_for 1 '"camera":"lamp",.*"event":"alarm_start","model":"m"' "$LEV" && wait_for 1 '^la/lamp/state {.*"model":"m",' "$T/la/sub.txt" && ok ||
  bad "rollback not taken: $(tail -3 "$LEV") $(tail -3 "$T/la/err")"
kill -TERM $LPID; wait $LPID; rc=$?
sane $rc "$T/la/err" "live adaptation" && [ $rc = 0 ] && grep -q '^vigie watch: lamp: frames read [0-9]*, classified [0-9]*, dropped 0' "$T/la/err" && ok ||
  bad "live adaptation service: status $rc: $(tail -5 "$T/la/err")"
echo "  live adaptation: $(grep -o '"event":"model".*' "$LEV" | head -1)"

# ---- 5. a live source faster than the classifier drops frames instead of queueing them:
# 250 fps in real time (4 ms a frame) against the 224x224 ImageNet backbone (~10 ms a frame)
ffmpeg -loglevel error -y -f lavfi -i testsrc=size=64x64:rate=250:duration=2 -c:v mpeg4 -q:v 5 "$T/fast.mp4"
t0=$(date +%s.%N)
$VIGIE watch "$T/bb.vgm" --classes "macaw" --source "$T/fast.mp4" --realtime --no-snapshots >"$T/d.out" 2>"$T/d.err"
rc=$?
t1=$(date +%s.%N)
sane $rc "$T/d.err" "fast source" && [ $rc = 0 ] && ok || bad "fast source: status $rc: $(cat "$T/d.err")"
read -r rd cl dr < <(sed -n 's/.*frames read \([0-9]*\), classified \([0-9]*\), dropped \([0-9]*\).*/\1 \2 \3/p' "$T/d.err")
[ "${rd:-0}" = 500 ] && [ "${dr:-0}" -gt 0 ] && [ $((cl + dr)) = "$rd" ] && ok || bad "drops: read ${rd:-?} classified ${cl:-?} dropped ${dr:-?}"
grep -q '^vigie watch: alarm on 0.800, off 0.500 (fixed defaults 0.8 / 0.5: the model stores no alarm threshold)' "$T/d.err" && ok ||
  bad "levels of a model without a threshold: $(head -1 "$T/d.err")"
# no backlog: the run lasts about the video's 2 s, not (frames x inference time)
awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 6) }' && ok || bad "fast source took $(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}') s"

# ---- 6. TLS and a password: a second broker with a test CA, no anonymous clients
if command -v openssl >/dev/null; then
  (cd "$T" && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key \
      -out ca.crt -days 2 -subj /CN=vigie-test-ca &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout srv.key -out srv.csr \
      -subj /CN=127.0.0.1 &&
    printf 'subjectAltName=IP:127.0.0.1\n' >srv.ext &&
    openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 2 \
      -extfile srv.ext && mosquitto_passwd -b -c pw cam s3cret) >"$T/tls.log" 2>&1 && ok || bad "test certificates: $(tail -3 "$T/tls.log")"
  TPORT=$((PORT + 1))
  # `user root`: as root, mosquitto would otherwise switch to its own user, who cannot read $T
  printf 'user root\nlistener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\nallow_anonymous false\npassword_file %s\n' \
    $TPORT "$T/ca.crt" "$T/srv.crt" "$T/srv.key" "$T/pw" >"$T/tls.conf"
  mosquitto -c "$T/tls.conf" >"$T/tlsb.log" 2>&1 &
  PIDS+=($!)
  TSUB="mosquitto_sub -h 127.0.0.1 -p $TPORT --cafile $T/ca.crt -u cam -P s3cret"
  for i in $(seq 30); do $TSUB -t x -C 1 -W 1 -E >/dev/null 2>&1 && break; sleep 0.1; done
  VIGIE_MQTT_PASSWORD=s3cret $VIGIE watch "$M" --source "$T/folder" --no-snapshots --mqtt 127.0.0.1:$TPORT \
    --mqtt-cafile "$T/ca.crt" --mqtt-user cam --topic tls/cam >"$T/t.out" 2>"$T/t.err"
  rc=$?
  sane $rc "$T/t.err" "TLS" && [ $rc = 0 ] && grep -q 'offline state confirmed by the broker' "$T/t.err" &&
    [ "$($TSUB -t tls/cam/status -C 1 -W 3)" = offline ] && ok || bad "TLS + password: status $rc: $(cat "$T/t.err")"
  # a wrong password is refused by the broker and reported; the watch itself goes on
  VIGIE_MQTT_PASSWORD=wrong $VIGIE watch "$M" --source "$T/folder" --no-snapshots --mqtt 127.0.0.1:$TPORT --mqtt-wait 1 \
    --mqtt-cafile "$T/ca.crt" --mqtt-user cam --topic tls/bad >"$T/t2.out" 2>"$T/t2.err"
  rc=$?
  sane $rc "$T/t2.err" "TLS wrong password" && [ $rc = 0 ] && grep -q 'refused the connection' "$T/t2.err" &&
    grep -q 'frames read 3' "$T/t2.err" && grep -q 'NOT confirmed' "$T/t2.err" && ok || bad "wrong password: status $rc: $(cat "$T/t2.err")"
  # without the CA the server's certificate is not trusted: no connection
  $VIGIE watch "$M" --source "$T/folder" --no-snapshots --mqtt 127.0.0.1:$TPORT --mqtt-wait 1 --mqtt-tls --mqtt-user cam \
    --mqtt-password s3cret --topic tls/noca >"$T/t3.out" 2>"$T/t3.err"
  rc=$?
  sane $rc "$T/t3.err" "TLS unknown CA" && [ $rc = 0 ] && grep -q 'NOT confirmed' "$T/t3.err" && ok || bad "unknown CA: status $rc: $(cat "$T/t3.err")"
  $VIGIE watch "$M" --source "$T/folder" --mqtt 127.0.0.1:$TPORT --mqtt-cafile "$T/missing.crt" >"$T/t4.out" 2>"$T/t4.err"
  rc=$?
  [ $rc = 1 ] && grep -q 'missing.crt' "$T/t4.err" && ok || bad "missing CA file: status $rc: $(cat "$T/t4.err")"
else
  echo "SKIP watch: no openssl (TLS test)"; skip=$((skip + 1))
fi

# ---- 7. an unreachable RTSP server: reported reconnection attempts, clean exit on SIGTERM
# (the broker's port after the broker is gone: nothing listens there)
kill $BROKER; wait $BROKER 2>/dev/null
$VIGIE watch "$M" --source "rtsp://127.0.0.1:$PORT/cam" --reconnect 0.2 --reconnect-max 0.4 --no-snapshots \
  >"$T/r.out" 2>"$T/r.err" &
WPID=$!
PIDS+=($WPID)
wait_for 3 'retrying in' "$T/r.err"
kill -TERM $WPID; wait $WPID; rc=$?
sane $rc "$T/r.err" "rtsp" && [ $rc = 0 ] && ok || bad "unreachable RTSP: status $rc: $(tail -3 "$T/r.err")"
n=$(grep -c "rtsp://127.0.0.1:$PORT/cam: cannot open: .*; retrying in 0\.[24] s (attempt [0-9]*)" "$T/r.err")
[ "$n" -ge 3 ] && ok || bad "$n reconnection reports: $(head -5 "$T/r.err")"
grep -q 'frames read 0, classified 0' "$T/r.err" && grep -q 'reconnects [1-9]' "$T/r.err" && ok || bad "rtsp statistics: $(tail -3 "$T/r.err")"
$VIGIE watch "$M" --source "rtsp://127.0.0.1:$PORT/cam" --reconnect 0.1 --retries 2 --no-snapshots >"$T/r2.out" 2>"$T/r2.err"
rc=$?
sane $rc "$T/r2.err" "rtsp --retries" && [ $rc = 1 ] && tail -1 "$T/r2.err" | grep -q 'giving up after 3 attempts' && ok ||
  bad "--retries 2: status $rc: $(tail -2 "$T/r2.err")"
# ---- 8. an MJPEG camera over HTTP (ffmpeg serving a clip) that is off, comes, goes and comes back
ffmpeg -loglevel error -y -f lavfi -i testsrc=size=64x64:rate=10:duration=1.5 -c:v mjpeg -q:v 5 "$T/cam.avi"
HP=$((PORT + 2))
serve() {
  ffmpeg -loglevel error -re -i "$T/cam.avi" -c copy -f mpjpeg -listen 1 "http://127.0.0.1:$HP/cam.mjpg" >/dev/null 2>&1 &
  PIDS+=($!)
}
$VIGIE watch "$M" --source "http://127.0.0.1:$HP/cam.mjpg" --no-snapshots --reconnect 0.2 --reconnect-max 0.2 \
  >"$T/h.out" 2>"$T/h.err" &
WPID=$!
PIDS+=($WPID)
if wait_for 1 'cannot open' "$T/h.err" && serve && wait_for 1 'connected again' "$T/h.err" &&
  wait_for 1 'stream lost' "$T/h.err" && serve && wait_for 2 'connected again' "$T/h.err"; then
  ok
else
  bad "camera off / on / off / on: $(cat "$T/h.err")"
fi
wait_for 2 'stream lost' "$T/h.err" # the second clip played to its end
kill -TERM $WPID; wait $WPID; rc=$?
sane $rc "$T/h.err" "http camera" && [ $rc = 0 ] && ok || bad "http camera: status $rc"
n=$(sed -n 's/.*frames read \([0-9]*\),.*/\1/p' "$T/h.err")
[ "${n:-0}" -gt 15 ] && ok || bad "http camera: ${n:-no} frames read, more than one 15-frame clip wanted: $(cat "$T/h.err")"
# a missing video file is an error at once, not a reconnect loop
$VIGIE watch "$M" --source "$T/nothing.mp4" --no-snapshots >"$T/x.out" 2>"$T/x.err"; rc=$?
# (one line besides the alarm levels said at the start)
sane $rc "$T/x.err" "missing video" && [ $rc = 1 ] && [ "$(grep -vc '^vigie watch: alarm on' "$T/x.err")" = 1 ] && grep -q 'nothing.mp4: No such file' "$T/x.err" && ok ||
  bad "missing video: status $rc: $(cat "$T/x.err")"

finish
