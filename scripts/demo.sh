#!/usr/bin/env bash
# demo.sh — the main job on the bundled defaults: import the ImageNet MobileNetV2 from
# ../shared/models into out/backbone.vgm, show it, and classify the test images.
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
$VIGIE info out/backbone.vgm | head -6
echo
$VIGIE predict out/backbone.vgm "$M"/testimages/*.bmp "$M"/testimages/*.jpg --top 3
echo
$VIGIE bench out/backbone.vgm --runs 20
