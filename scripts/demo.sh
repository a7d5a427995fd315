#!/usr/bin/env bash
# demo.sh — the main job on the bundled defaults, in a minute or two: the ready-made fire /
# smoke detector (models/fire.vge, int8) classifies test images of the shared datasets (images
# it never trained on), then watches a short surveillance-like clip made from such images and
# raises its alarms; last, the engine on the ImageNet MobileNetV2 it was trained from.
# Training the detector again is one command: `make model` (about 12 minutes).
#   DEMO=imagenet   only the ImageNet part
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${VIGIE_SHARED:-../shared}
M=$SHARED/models
D=$SHARED/data
VIGIE=./build/vigie
MODEL=${MODEL:-models/fire.vge}
if [ ! -d "$M" ]; then
  echo "demo: $M not found: the models and test images live in ../shared beside the repository" >&2
  exit 1
fi
mkdir -p out

if [ "${DEMO:-full}" != imagenet ] && [ -d "$D/fire-footage" ] && [ -d "$D/neutral-scenes" ]; then
  echo "== the ready-made detector: $MODEL"
  $VIGIE info "$MODEL" | sed -n '1p;/alarm_threshold/p'
  # test images (never trained on): two fires and a smoke plume from news / aerial footage, a
  # CCTV fire, two ordinary camera scenes
  FF=$D/fire-footage/test
  fire=$(grep -l '^0 ' "$FF"/labels/*.txt | head -2 || true) # (head closes the pipe early)
  smoke=$(grep -L '^0 ' "$FF"/labels/*.txt | head -1 || true)
  imgs=()
  for l in $fire $smoke; do imgs+=("$FF/images/$(basename "${l%.txt}").jpg"); done
  imgs+=("$D/firesmoke-cctv/$(grep -m1 '^fire/' "$D/firesmoke-cctv/splits/test.txt")")
  for n in $(head -2 "$D/neutral-scenes/splits/test.txt"); do imgs+=("$D/neutral-scenes/$n"); done
  for i in "${imgs[@]}"; do
    n=${i#"$D"/}
    printf '%s:\n' "${n:0:72}"
    $VIGIE predict "$MODEL" "$i" --top 3 | sed 's/^/    /'
  done
  echo
  echo "== watching a clip: 2 x (40 s of ordinary scenes, then 10 s of fire or smoke), 5 fps"
  EVENTS=2 ALL=1 bash bench/watch_video.sh out/demo-clip.mp4 2 >/dev/null
  echo "(truth: $(tr '\n' ';' <out/demo-clip.mp4.truth) seconds)"
  $VIGIE watch "$MODEL" --source out/demo-clip.mp4 --snapshots out
  echo
fi

echo "== the engine: ImageNet MobileNetV2 (what the detector was trained from)"
$VIGIE import "$M/mobilenet_v2_1.0_224_quant.tflite" --labels "$M/imagenet_labels.txt" -o out/backbone.vgm
$VIGIE predict out/backbone.vgm "$M"/testimages/*.bmp "$M"/testimages/*.jpg --top 1
$VIGIE bench out/backbone.vgm --runs 20 | tail -3
echo
echo "demo: done. Train the detector yourself with 'make model' (about 12 minutes), or on your"
echo "own labelled images: vigie train --data YOUR_DATA --data ... (README: Training)."
