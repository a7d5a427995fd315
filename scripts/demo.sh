#!/usr/bin/env bash
# demo.sh — the main job on the bundled defaults: import the ImageNet MobileNetV2 from
# ../shared/models into out/backbone.vgm and classify the test images; then, when the fire /
# smoke dataset is there, train the fire detector with the default recipe (about 6 minutes on
# a 2-core machine), evaluate it on the test split, quantize it to int8 and classify a frame.
# DEMO=imagenet stops after the ImageNet part.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${VIGIE_SHARED:-../shared}
M=$SHARED/models
if [ ! -d "$M" ]; then
  echo "demo: $M not found: the models and test images live in ../shared beside the repository" >&2
  exit 1
fi
VIGIE=./build/vigie
mkdir -p out
$VIGIE import "$M/mobilenet_v2_1.0_224_quant.tflite" --labels "$M/imagenet_labels.txt" -o out/backbone.vgm
$VIGIE info out/backbone.vgm | sed -n 1,6p
echo
$VIGIE predict out/backbone.vgm "$M"/testimages/*.bmp "$M"/testimages/*.jpg --top 3
echo
$VIGIE bench out/backbone.vgm --runs 20

D=$SHARED/data/firesmoke-cctv
if [ "${DEMO:-full}" = imagenet ] || [ ! -d "$D" ]; then
  [ -d "$D" ] || echo "demo: $D not found: the fire / smoke part is skipped"
  exit 0
fi
echo
echo "== the fire / smoke detector: default recipe (README), then int8"
$VIGIE train --data "$D" --train-list "$D/splits/train.txt" --val-list "$D/splits/val.txt" \
  --extra-train "$SHARED/data/hard-negatives" --backbone out/backbone.vgm -o out/fire.vgm
$VIGIE eval out/fire.vgm --data "$D" --list "$D/splits/test.txt" --plot out/fire.test.png | sed -n 1,16p
$VIGIE optimize out/fire.vgm -o out/fire-int8.vge --int8 --calib-data "$D" \
  --calib-list "$D/splits/train.txt" --val-data "$D" --val-list "$D/splits/test.txt"
frame=$(head -1 "$D/splits/test.txt")
echo
echo "$frame:"
$VIGIE predict out/fire-int8.vge "$D/$frame"
