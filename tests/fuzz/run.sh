#!/usr/bin/env bash
# run.sh SECONDS — runs every libFuzzer target in build-fuzz/ for SECONDS each, seeded from
# the repository's fixtures (and ../shared when present). A crash fails the run and leaves
# the reproducer in build-fuzz/crashes/.
set -euo pipefail
SECONDS_EACH=${1:-20}
SHARED=${VIGIE_SHARED:-../shared}
C=build-fuzz/corpus
mkdir -p "$C/image" "$C/tflite" "$C/vgm" "$C/huff" "$C/yolo" "$C/config" "$C/rehearsal" "$C/onnx" build-fuzz/crashes
cp tests/fixtures/*.tflite "$C/tflite/" 2>/dev/null || true
[ -d "$SHARED/models/testimages" ] && cp "$SHARED"/models/testimages/*.jpg "$C/image/" 2>/dev/null || true
for f in tests/fixtures/*.tflite; do
  [ -f "$f" ] || continue
  ./build/vigie import "$f" -o "$C/tmp.vgm" >/dev/null 2>&1 && head -c -4 "$C/tmp.vgm" >"$C/vgm/$(basename "$f" .tflite)"
  # the same model as an engine file (.vge: same container, encoded weights)
  ./build/vigie optimize "$C/tmp.vgm" -o "$C/tmp.vge" --quiet >/dev/null 2>&1 && head -c -4 "$C/tmp.vge" >"$C/vgm/$(basename "$f" .tflite).vge"
  # and with shared weights (codebooks, Huffman-coded indices where smaller)
  ./build/vigie optimize "$C/tmp.vgm" -o "$C/tmp.vge" --clusters 16 --cluster-min 1 --quiet >/dev/null 2>&1 && head -c -4 "$C/tmp.vge" >"$C/vgm/$(basename "$f" .tflite).c16.vge"
done
rm -f "$C/tmp.vgm" "$C/tmp.vge"
# onnx: the fixtures (torchvision models exported by PyTorch), and vigie's own exports
cp tests/fixtures/onnx/*.onnx "$C/onnx/" 2>/dev/null || true
for f in tests/fixtures/*.tflite; do
  [ -f "$f" ] || continue
  ./build/vigie export "$f" -o "$C/onnx/$(basename "$f" .tflite).onnx" >/dev/null 2>&1 || true
done
# huff: k-1, 16 code lengths (as k-means fills clusters), n = 40, the 40 indices' stream
printf '\x0f\x00\x06\x06\x05\x00\x03\x05\x04\x01\x04\x03\x00\x05\x00\x00\x00\x28\x00\xbb\x0a\xb9\x86\xa4\x0f\x6c\xf2\x39\x63\xfc\x55\x00' >"$C/huff/seed16"
# yolo: first byte even = a label file with byte/2 classes (\x04: 2), odd = a data.yaml
# (\x01; \x03: the folder is given). Labels: boxes, polygons, a blank line, CRLF, no last \n
printf '\x04 \t\n0 0.5 0.5 0.25 0.4\n1 0.1 0.2 0.3 0.2 0.25 0.6 0.05 0.5\n\n1 0.995 0.5 0.02 0.1\r\n' >"$C/yolo/labels"
printf '\x10%s\n%s' '3 0.5 0.5 1 1' '7 0.2 0.3 0.01 0.02 0.7 0.1 0.9 0.3 0.4 0.5' >"$C/yolo/labels-8"
# a Roboflow export's data.yaml (its ../train/images fallback), and names as a map (Ultralytics)
{ printf '\x01'; printf '%s\n' 'train: ../train/images' 'val: ../valid/images' \
  'test: ../test/images' '' 'nc: 2' "names: ['fire', 'smoke']" '' 'roboflow:' '  workspace: w' \
  '  version: 1' '  url: https://universe.roboflow.com/w/p/dataset/1'; } >"$C/yolo/roboflow.yaml"
{ printf '\x03'; printf '%s\n' 'path: .' 'train: [., data.yaml]' 'val: data.yaml' 'test:' \
  'names:' '  0: fire' '  1: smoke' "  2: 'neutral scene'"; } >"$C/yolo/names-map.yaml"
# config: the documented example, and a small file with masks and MQTT
cp examples/vigie.yaml "$C/config/example.yaml"
printf '%s\n' 'model: m.vge' 'mqtt: {host: h, port: 1883}' 'cameras:' '  a:' '    source: x' \
  '    masks: [[[0, 0], [1, 0], [1, 1]]]' '    on: 0.7' >"$C/config/small.yaml"
# rehearsal: version 1, 2 features, 1 row, 3 classes, a zero probe, the row (class 0, guard),
# features 1.0 and 2.0 in half precision
{ printf '\x01\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\x03\x00\x00\x00'
  head -c 64 /dev/zero; printf '\x00\x01\x00\x3c\x00\x40'; } >"$C/rehearsal/one-row"
for t in image tflite vgm huff yolo config rehearsal onnx; do
  [ -x build-fuzz/fuzz_$t ] || continue
  echo "fuzz: $t for ${SECONDS_EACH}s"
  build-fuzz/fuzz_$t "$C/$t" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix=build-fuzz/crashes/ -print_final_stats=1 2>&1 | grep -E 'stat::number_of_executed_units|ERROR|SUMMARY|crash' || true
  if ls build-fuzz/crashes/ | grep -q .; then
    echo "fuzz: $t found a failure, reproducer(s) in build-fuzz/crashes/" >&2
    exit 1
  fi
done
