#!/usr/bin/env bash
# run.sh SECONDS — runs every libFuzzer target in build-fuzz/ for SECONDS each, seeded from
# the repository's fixtures (and ../shared when present). A crash fails the run and leaves
# the reproducer in build-fuzz/crashes/.
set -euo pipefail
SECONDS_EACH=${1:-20}
SHARED=${VIGIE_SHARED:-../shared}
C=build-fuzz/corpus
mkdir -p "$C/image" "$C/tflite" "$C/vgm" "$C/huff" build-fuzz/crashes
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
# huff: k-1, 16 code lengths (as k-means fills clusters), n = 40, the 40 indices' stream
printf '\x0f\x00\x06\x06\x05\x00\x03\x05\x04\x01\x04\x03\x00\x05\x00\x00\x00\x28\x00\xbb\x0a\xb9\x86\xa4\x0f\x6c\xf2\x39\x63\xfc\x55\x00' >"$C/huff/seed16"
for t in image tflite vgm huff; do
  [ -x build-fuzz/fuzz_$t ] || continue
  echo "fuzz: $t for ${SECONDS_EACH}s"
  build-fuzz/fuzz_$t "$C/$t" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix=build-fuzz/crashes/ -print_final_stats=1 2>&1 | grep -E 'stat::number_of_executed_units|ERROR|SUMMARY|crash' || true
  if ls build-fuzz/crashes/ | grep -q .; then
    echo "fuzz: $t found a failure, reproducer(s) in build-fuzz/crashes/" >&2
    exit 1
  fi
done
