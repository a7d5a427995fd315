#!/usr/bin/env bash
# watch_tiles.sh MODEL [LAYOUT...] — what `vigie watch --tiles` costs per frame: the latency
# `vigie watch` reports (frame decoded -> views resized, classified in one batch, alarm logic
# done; decoding is in the reader thread and not counted) on full-HD camera frames, 1 thread,
# for each layout (default: 1x1 2x2), with the model's float kernels and, when it has an int8
# form, its integer kernels. Not part of the tests.
#
# The frames: 20 images of the firesmoke-cctv test split scaled to 1920x1080, played as a
# camera at 4 fps (--realtime), so the classifier is idle when each frame arrives and the
# latency is one frame's work, not time spent queueing behind the previous one. Prints a
# Markdown table: layout, precision, mean / p99 / max latency (ms), peak RSS.
set -euo pipefail
MODEL=$1
shift
LAYOUTS=("$@")
[ ${#LAYOUTS[@]} = 0 ] && LAYOUTS=(1x1 2x2)
VIGIE=${VIGIE:-$(dirname "$0")/../build/vigie}
SHARED=${VIGIE_SHARED:-$(dirname "$0")/../../shared}
D=$(cd "$SHARED/data/firesmoke-cctv" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/vigie-tiles-XXXXXX")
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/frames"
k=0
while read -r f; do
  k=$((k + 1))
  ffmpeg -nostdin -loglevel error -y -i "$D/$f" -vf scale=1920:1080 -q:v 3 "$T/frames/$(printf %03d $k).jpg"
done < <(awk 'NR % 5 == 1' "$D/splits/test.txt" | head -20)
precisions=(float)
info=$("$VIGIE" info "$MODEL")
grep -q '^int8 ' <<<"$info" && precisions+=(int8)
echo "| tiles | views | precision | mean ms | p99 ms | max ms | peak RSS MB |"
echo "|---|---|---|---|---|---|---|"
for p in "${precisions[@]}"; do
  for l in "${LAYOUTS[@]}"; do
    "$VIGIE" watch "$MODEL" --source "$T/frames" --realtime --fps 4 --tiles "$l" --threads 1 \
      --precision "$p" --no-snapshots --window 1 >/dev/null 2>"$T/err" || { cat "$T/err"; exit 1; }
    r=$(sed -n 's/.*latency mean \([0-9.]*\) ms, p99 \([0-9.]*\) ms, max \([0-9.]*\) ms.*peak RSS \([0-9]*\) MB/\1 | \2 | \3 | \4/p' "$T/err")
    views=$(awk -F x -v l="$l" 'BEGIN { split(l, a, "x"); n = a[1] * a[2]; print n == 1 ? 1 : n + 1 }')
    echo "| $l | $views | $p | $r |"
  done
done
