#!/usr/bin/env bash
# adapt_bench.sh — `vigie adapt` as the README reports it: a model that raises false alarms on
# a look-alike it never saw (20 frames of a lit orange wall: ten shades, each plain and a little
# darker with a little noise; made here by ffmpeg, deterministic) learns them as neutral; the frames and
# every shared test list are measured before and after, with adapt's time and peak memory.
#   bash bench/adapt_bench.sh [MODEL]   (default models/fire.vge; a .vgm works too)
# A model without a stored rehearsal set adapts with --data (the three shared datasets).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-models/fire.vge}
VIGIE=${VIGIE:-./build/vigie}
D=${VIGIE_SHARED:-../shared}/data
for d in firesmoke-cctv fire-footage neutral-scenes; do
  [ -d "$D/$d" ] || { echo "adapt_bench: $D/$d not found (../shared beside the repository)" >&2; exit 1; }
done
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/fb/neutral"
for i in 0 1 2 3 4 5 6 7 8 9; do
  c=$(printf 'FF%02X%02X' $((170 - 2 * i)) $((2 * i)))
  for v in 0 1; do
    ffmpeg -v error -f lavfi -i "color=c=0x$c:s=640x360" \
      -vf "noise=alls=$((2 * v)):allf=t:all_seed=$((100 + 2 * i + v)),eq=brightness=$([ $v = 0 ] && echo 0 || echo -0.04)" \
      -frames:v 1 -q:v 3 "$W/fb/neutral/wall$i$v.jpg"
  done
done
ext=${MODEL##*.}
OUT="$W/adapted.$ext"
DATA=(--data "$D/firesmoke-cctv" --data "$D/fire-footage" --data "$D/neutral-scenes")
if grep -q RHRS "$MODEL"; then REH=(); else REH=("${DATA[@]}"); fi
frames() { # alarms raised on the 20 frames
  $VIGIE eval "$1" --data "$W/fb" | sed -n 's/^alarm.*false alarms \([0-9.]*\) (\([0-9]*\) neutral.*/\1 of \2/p'
}
tests() {
  $VIGIE eval "$1" "${DATA[@]}" | sed -n '/^alarm/p;/^per dataset/,/^$/p'
}
echo "== $MODEL before: false-alarm rate on the 20 wall frames: $(frames "$MODEL")"
tests "$MODEL"
echo "== vigie adapt ${REH:+(with --data: the model carries no rehearsal set)}"
/usr/bin/time -f "wall %e s, peak RSS %M KB" $VIGIE adapt "$MODEL" --feedback "$W/fb" "${REH[@]}" -o "$OUT"
echo "== adapted: false-alarm rate on the 20 wall frames: $(frames "$OUT")"
tests "$OUT"
