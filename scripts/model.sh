#!/usr/bin/env bash
# model.sh — `make model`: makes models/fire.vge, the ready-made fire / smoke detector, from the
# shared data alone: the ImageNet MobileNetV2 imported, `vigie train`'s default recipe on every
# shared training set (firesmoke-cctv, fire-footage, neutral-scenes, hard-negatives; selected
# on the union of their validation lists, then refit on train + val), int8 with `vigie
# optimize` (calibrated on their training images), and the figures of models/README.md on
# every test list, float and int8. About 12 minutes on a 2-core machine.
#   SEED=N     another seed (default 1, the shipped model's)
#   OUT=DIR    where the float model and the logs go (default out/model)
#   ENGINE=F   the engine file to write (default models/fire.vge)
#   RECIPE="..."  extra `vigie train` options, e.g. "--zoom-out 0.5 --zoom-min 0.15 --zoom-scene"
#              for cameras that look far (README: small fire); the shipped model uses none
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${VIGIE_SHARED:-../shared}
D=$SHARED/data
VIGIE=${VIGIE:-./build/vigie}
OUT=${OUT:-out/model}
ENGINE=${ENGINE:-models/fire.vge}
for d in firesmoke-cctv fire-footage neutral-scenes hard-negatives; do
  if [ ! -d "$D/$d" ]; then
    echo "model: $D/$d not found: the training data lives in ../shared beside the repository" >&2
    exit 1
  fi
done
mkdir -p "$OUT" "$(dirname "$ENGINE")"
t0=$(date +%s)
$VIGIE import "$SHARED/models/mobilenet_v2_1.0_224_quant.tflite" -o "$OUT/backbone.vgm"
# every shared training set; each uses its own split lists (DIR/splits/*.txt, fire-footage's
# data.yaml); the hard negatives train only
DATA=(--data "$D/firesmoke-cctv" --data "$D/fire-footage" --data "$D/neutral-scenes"
      --extra-train "$D/hard-negatives")
# shellcheck disable=SC2086
$VIGIE train "${DATA[@]}" --backbone "$OUT/backbone.vgm" -o "$OUT/fire.vgm" --seed "${SEED:-1}" ${RECIPE:-}
t1=$(date +%s)
# int8, calibrated on the training images; the report on every test list; the rehearsal set
# of vigie adapt (int8 features of 60 training and 100 validation images per class, 0.6 MB)
TESTS=(--val-data "$D/firesmoke-cctv" --val-data "$D/fire-footage" --val-data "$D/neutral-scenes")
$VIGIE optimize "$OUT/fire.vgm" -o "$ENGINE" --int8 --calib-data "$D/firesmoke-cctv" \
  --calib-data "$D/fire-footage" --calib-data "$D/neutral-scenes" --calib-data "$D/hard-negatives" \
  "${TESTS[@]}"
t2=$(date +%s)
EVAL=(--data "$D/firesmoke-cctv" --data "$D/fire-footage" --data "$D/neutral-scenes")
echo
echo "== float, test lists"
$VIGIE eval "$OUT/fire.vgm" "${EVAL[@]}" --box-free-crops 2 | tee "$OUT/eval-float.txt" | sed -n '1,2p;/^alarm/p;/^per dataset/,/^$/p;/^box-free/p'
echo "== int8 ($ENGINE), test lists"
$VIGIE eval "$ENGINE" "${EVAL[@]}" --box-free-crops 2 | tee "$OUT/eval-int8.txt" | sed -n '1,2p;/^alarm/p;/^per dataset/,/^$/p;/^box-free/p'
echo
echo "model: trained in $(((t1 - t0) / 60)) min $(((t1 - t0) % 60)) s, int8 in $((t2 - t1)) s; $ENGINE $(stat -c %s "$ENGINE") bytes"
