#!/usr/bin/env bash
# run.sh SECONDS — runs every libFuzzer target in build-fuzz/ for SECONDS each, seeded from
# the repository's fixtures (and ../shared when present). A crash fails the run and leaves
# the reproducer in build-fuzz/crashes/.
set -euo pipefail
SECONDS_EACH=${1:-20}
SHARED=${VIGIE_SHARED:-../shared}
C=build-fuzz/corpus
mkdir -p "$C/image" "$C/tflite" "$C/vgm" build-fuzz/crashes
cp tests/fixtures/*.tflite "$C/tflite/" 2>/dev/null || true
[ -d "$SHARED/models/testimages" ] && cp "$SHARED"/models/testimages/*.jpg "$C/image/" 2>/dev/null || true
for f in tests/fixtures/*.tflite; do
  [ -f "$f" ] || continue
  ./build/vigie import "$f" -o "$C/tmp.vgm" >/dev/null 2>&1 && head -c -4 "$C/tmp.vgm" >"$C/vgm/$(basename "$f" .tflite)"
  # the same model as an engine file (.vge: same container, encoded weights)
  ./build/vigie optimize "$C/tmp.vgm" -o "$C/tmp.vge" --quiet >/dev/null 2>&1 && head -c -4 "$C/tmp.vge" >"$C/vgm/$(basename "$f" .tflite).vge"
done
rm -f "$C/tmp.vgm" "$C/tmp.vge"
for t in image tflite vgm; do
  [ -x build-fuzz/fuzz_$t ] || continue
  echo "fuzz: $t for ${SECONDS_EACH}s"
  build-fuzz/fuzz_$t "$C/$t" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix=build-fuzz/crashes/ -print_final_stats=1 2>&1 | grep -E 'stat::number_of_executed_units|ERROR|SUMMARY|crash' || true
  if ls build-fuzz/crashes/ | grep -q .; then
    echo "fuzz: $t found a failure, reproducer(s) in build-fuzz/crashes/" >&2
    exit 1
  fi
done
