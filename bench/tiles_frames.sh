#!/usr/bin/env bash
# tiles_frames.sh MODEL [OUT] — does --tiles pay? Small fire in big frames, from test images
# only: every fire-footage test image (384x384, its class from its boxes) shrunk to SIDE pixels
# (default 240) and pasted at a random place into a 1920x1080 frame made from a
# neutral-scenes test image (scaled up, so the fire is ~1/8 of the frame's width, as a camera
# sees a fire a few hundred metres away), and every neutral-scenes test image as a 1920x1080
# frame on its own (what a camera sees with no fire). Then `vigie eval` of MODEL on these
# frames without and with --tiles 2x2, at the model's threshold: alarm recall on the pasted
# fires, false alarms on the plain frames, images/s. Not a test: it prints the figures for the
# README. Builds the frames once into OUT (default out/tiles-frames, ~700 images).
# SPLIT=val builds the same from the validation images (fire-footage valid/, neutral-scenes
# splits/val.txt; default out/tiles-frames-val): small fire as a validation criterion, for
# choosing a recipe without looking at test images. EVAL=0 only builds.
set -euo pipefail
MODEL=$1
SPLIT=${SPLIT:-test}
OUT=${2:-out/tiles-frames$([ "$SPLIT" = test ] || echo "-$SPLIT")}
SIDE=${SIDE:-240}
VIGIE=${VIGIE:-$(dirname "$0")/../build/vigie}
SHARED=${VIGIE_SHARED:-$(dirname "$0")/../../shared}
FF=$(cd "$SHARED/data/fire-footage/$([ "$SPLIT" = val ] && echo valid || echo test)" && pwd)
NS=$(cd "$SHARED/data/neutral-scenes" && pwd)
mapfile -t NEU < <(sed "s|^|$NS/|" "$NS/splits/$SPLIT.txt")
if [ ! -f "$OUT/.done" ]; then
  rm -rf "$OUT"
  mkdir -p "$OUT/fire" "$OUT/smoke" "$OUT/neutral"
  RANDOM=7
  i=0
  for img in "$FF"/images/*.jpg; do
    lab=$FF/labels/$(basename "${img%.*}").txt
    cls=smoke
    grep -q '^0 ' "$lab" && cls=fire
    bg=${NEU[$((i % ${#NEU[@]}))]}
    x=$((RANDOM % (1920 - SIDE))) y=$((RANDOM % (1080 - SIDE)))
    ffmpeg -loglevel error -y -i "$bg" -i "$img" -filter_complex \
      "[0]scale=1920:1080[b];[1]scale=$SIDE:$SIDE[f];[b][f]overlay=$x:$y" -q:v 3 \
      "$OUT/$cls/$(printf '%04d' $i).jpg"
    i=$((i + 1))
  done
  for bg in "${NEU[@]}"; do
    ffmpeg -loglevel error -y -i "$bg" -vf scale=1920:1080 -q:v 3 "$OUT/neutral/$(basename "$bg")"
  done
  touch "$OUT/.done"
fi
[ "${EVAL:-1}" = 1 ] || exit 0
for t in 1x1 2x2; do
  echo "== --tiles $t"
  "$VIGIE" eval "$MODEL" --data "$OUT" --tiles $t --threads 1 | sed -n '1p;/^alarm/p;/^accuracy/p'
done
