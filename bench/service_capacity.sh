#!/usr/bin/env bash
# service_capacity.sh MODEL [SECONDS] — capacity of `vigie watch --config` on this machine (a
# benchmark, not a test): 1, 2, 4 and 8 cameras, each a 1280x720 H.264 video at 10 fps (made
# here from the firesmoke-cctv test images) read in real time like a camera and classified at
# 2 frames/s (fps: 2), for SECONDS each (default 30). Side by side:
#   service int8    one process, one model, shared batched inference (threads: 2)
#   service float   the same, float kernels
#   processes int8  one `vigie watch MODEL --source` process per camera (--threads 1): what a
#                   user ran before the service
# Per run: frames classified per second (all cameras), frames dropped (a frame still waiting
# when the next arrives), the worst camera's latency p99 (frame decoded -> alarm logic done),
# peak RSS (the service; the sum of the processes) and CPU (user + system over wall time; 200 %
# is both cores). Then the limit: 4 and 8 cameras classifying every frame (10 fps each).
# Prints a Markdown table for the README.
set -euo pipefail
MODEL=$(realpath "$1")
SECONDS_RUN=${2:-30}
VIGIE=$(realpath "${VIGIE:-$(dirname "$0")/../build/vigie}")
SHARED=${VIGIE_SHARED:-$(dirname "$0")/../../shared}
D=$(cd "$SHARED/data/firesmoke-cctv" && pwd)
W=$(mktemp -d "${TMPDIR:-/tmp}/vigie-capacity-XXXXXX")
trap 'rm -rf "$W"' EXIT
# the video: 30 test images, 1 s each, 1280x720, H.264 at 10 fps (a camera's main stream)
mkdir -p "$W/seq"
k=0
for img in $(grep -v '^$' "$D/splits/test.txt" | head -30); do
  k=$((k + 1))
  ln -s "$D/$img" "$W/seq/$(printf %03d $k).jpg"
done
ffmpeg -loglevel error -y -framerate 1 -i "$W/seq/%03d.jpg" \
  -vf "scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720:(ow-iw)/2:(oh-ih)/2,fps=10" \
  -c:v libx264 -preset veryfast -pix_fmt yuv420p "$W/v.mp4"
echo "capacity: $MODEL, $SECONDS_RUN s a run, $(nproc) cores, $(uname -m), $(date -u +%F)"
echo
echo "| cameras | fps each | run | classified / s | dropped | latency p99 (worst camera) | peak RSS | CPU |"
echo "|---|---|---|---|---|---|---|---|"
# stats lines of vigie watch -> "classified dropped p99"
sums() {
  awk '/classified/ { for (i = 1; i <= NF; i++) { if ($i == "classified") c += $(i + 1); if ($i == "dropped") d += $(i + 1) } }
       /p99/ { for (i = 1; i <= NF; i++) if ($i == "p99") { v = $(i + 1) + 0; if (v > p) p = v } }
       END { printf "%d %d %.1f\n", c, d, p }' "$@"
}
FPS=2
row() { # row N LABEL ERRFILES... (times in $W/time.*)
  local n=$1 label=$2; shift 2
  read -r c d p < <(sums "$@")
  local rss cpu
  rss=$(cat "$W"/time.* | awk '{ s += $3 } END { printf "%.0f", s / 1024 }')
  cpu=$(cat "$W"/time.* | awk -v t="$SECONDS_RUN" '{ u += $1 + $2 } END { printf "%.0f", 100 * u / t }')
  printf '| %d | %s | %s | %.2f | %d | %.1f ms | %s MB | %s %% |\n' "$n" "$FPS" "$label" \
    "$(awk -v c="$c" -v t="$SECONDS_RUN" 'BEGIN { print c / t }')" "$d" "$p" "$rss" "$cpu"
}
service() { # service N PRECISION
  local n=$1 prec=$2
  { echo "model: $MODEL"; echo "threads: 2"; echo "precision: $prec"; echo "events: $W/ev.jsonl"
    echo "defaults: {fps: $FPS}"; echo "cameras:"
    for i in $(seq "$n"); do echo "  cam$i: {source: $W/v.mp4, realtime: true, loop: true}"; done
  } >"$W/c.yaml"
  rm -f "$W"/time.*
  /usr/bin/time -f "%U %S %M" -o "$W/time.0" "$VIGIE" watch --config "$W/c.yaml" 2>"$W/err.0" >/dev/null &
  local pid=$!
  sleep "$SECONDS_RUN"
  pkill -TERM -P $pid vigie || true
  wait $pid || true
  row "$n" "service $prec" "$W/err.0"
}
processes() { # processes N
  local n=$1 pids=()
  rm -f "$W"/time.* "$W"/err.*
  for i in $(seq "$n"); do
    /usr/bin/time -f "%U %S %M" -o "$W/time.$i" "$VIGIE" watch "$MODEL" --source "$W/v.mp4" --realtime --loop \
      --fps $FPS --threads 1 --no-snapshots --events "$W/ev.$i.jsonl" 2>"$W/err.$i" >/dev/null &
    pids+=($!)
  done
  sleep "$SECONDS_RUN"
  for p in "${pids[@]}"; do pkill -TERM -P "$p" vigie || true; done
  for p in "${pids[@]}"; do wait "$p" || true; done
  row "$n" "processes int8" "$W"/err.*
}
for n in 1 2 4 8; do
  service "$n" int8
  service "$n" float
  processes "$n"
done
FPS=10
for n in 4 8; do
  service "$n" int8
  processes "$n"
done
