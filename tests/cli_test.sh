#!/usr/bin/env bash
# cli_test.sh — end-to-end tests of the vigie binary: the ImageNet reference predictions of
# ../shared/DATA.md, every command's --help and errors, and damaged model files (truncated at
# 20 offsets, bytes flipped) giving a clean error exit: status 1, a message, no crash, no
# sanitizer report. Run by `make test` (VIGIE=path/to/vigie); parts needing ../shared skip
# cleanly when it is absent.
set -u
VIGIE=${VIGIE:-./build/vigie}
SHARED=${VIGIE_SHARED:-../shared}
export ASAN_OPTIONS="exitcode=99:detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:exitcode=98:print_stacktrace=1"
T=$(mktemp -d "${TMPDIR:-/tmp}/vigie-cli-XXXXXX")
trap 'rm -rf "$T"' EXIT
pass=0 fail=0 skip=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL cli: $*"; }

# run CMD...: captures status, stdout, stderr; a signal or sanitizer report is always a failure
run() {
  "$@" >"$T/out" 2>"$T/err"
  rc=$?
  if [ $rc -ge 98 ] || grep -q 'Sanitizer\|runtime error' "$T/err"; then
    bad "crash or sanitizer report (status $rc): $*"; sed 's/^/    /' "$T/err" | head -20
    rc=-1
  fi
  return 0
}
expect_rc() { # expect_rc WANT description
  if [ "$rc" = "$1" ]; then ok; else bad "$2: status $rc, wanted $1"; sed 's/^/    /' "$T/err" | head -5; fi
}
# a clean error: status 1 and one line on stderr starting with "vigie "
expect_clean_error() {
  if [ "$rc" = 1 ] && [ "$(wc -l <"$T/err")" -ge 1 ] && head -1 "$T/err" | grep -q '^vigie '; then ok
  else bad "$1: wanted a clean error exit, got status $rc: $(head -c 300 "$T/err")"; fi
}

# ---- help and usage errors (no shared data needed)
for c in "" import export predict info bench; do
  run $VIGIE $c --help
  expect_rc 0 "vigie $c --help"
  grep -q '^usage: vigie' "$T/out" && ok || bad "vigie $c --help prints no usage"
done
run $VIGIE; expect_rc 2 "no command"
run $VIGIE frobnicate; expect_rc 2 "unknown command"
run $VIGIE predict; expect_rc 2 "predict without arguments"
run $VIGIE predict --top; expect_rc 2 "option without value"
run $VIGIE bench m.vgm --runs zero; expect_rc 2 "non-numeric --runs"
run $VIGIE info a b; expect_rc 2 "too many arguments"
run $VIGIE import x.tflite; expect_rc 2 "import without -o"
run $VIGIE info "$T/missing.vgm"; expect_clean_error "missing model file"
run $VIGIE info "$T"; expect_clean_error "a directory as model"
printf 'not a model at all' >"$T/junk.vgm"
run $VIGIE info "$T/junk.vgm"; expect_clean_error "junk model"
run $VIGIE --version; expect_rc 0 "--version"
# vigie adapt: usage, and what it refuses (an engine into a .vgm: an engine adapts into an
# engine; a file that is no model)
run $VIGIE adapt --help; expect_rc 0 "adapt --help"
grep -q -- '--feedback DIR' "$T/out" && ok || bad "adapt --help: $(head -3 "$T/out")"
run $VIGIE adapt m.vgm -o o.vgm; expect_rc 2 "adapt without --feedback or --data"
run $VIGIE adapt m.vgm --feedback f --data d; expect_rc 2 "adapt without -o"
run $VIGIE adapt m.vgm --feedback f --data d -o o.vgm --views 0; expect_rc 2 "adapt --views 0"
run $VIGIE adapt models/fire.vge --feedback "$T" --data "$T" -o "$T/o.vgm"
expect_clean_error "adapt an engine into a .vgm"
grep -q 'OUT.vge' "$T/err" && [ ! -e "$T/o.vgm" ] && ok || bad "adapt an engine into a .vgm: $(cat "$T/err")"
run $VIGIE adapt "$T/junk.vgm" --feedback "$T" --data "$T" -o "$T/o.vgm"; expect_clean_error "adapt junk"

# the shipped detector (models/fire.vge): it loads, is an int8 engine with the three classes and
# a stored threshold, records no path (the repository's own file: no ../shared needed), and,
# with the shared test images, finds fire in a test frame it never trained on and none in a
# neutral test scene
shipped_model_test() {
  local FIRE FF f n
  FIRE=$(dirname "$0")/../models/fire.vge
  run $VIGIE info "$FIRE" --json
  grep -q '"int8":true' "$T/out" && grep -q '"labels":\["fire","neutral","smoke"\]' "$T/out" &&
    grep -q '"alarm_threshold":"0\.[0-9]*"' "$T/out" && ! grep -q '"meta":{.*/\(home\|tmp\|work\|root\)/' "$T/out" &&
    ok || bad "models/fire.vge: $(head -c 600 "$T/out")"
  # examples/classify (vigie.h and libvigie.a alone) says what vigie predict says, on a 2x2 BMP
  # made here (orange, red, grey, white pixels) and with the alarm line of the model's rule
  local EX=${CLASSIFY:-$(dirname "$VIGIE")/classify}
  if [ -x "$EX" ]; then
    printf 'BMF\0\0\0\0\0\0\0\66\0\0\0\50\0\0\0\2\0\0\0\2\0\0\0\1\0\30\0\0\0\0\0\20\0\0\0\23\13\0\0\23\13\0\0\0\0\0\0\0\0\0\0' >"$T/px.bmp"
    printf '\0\200\377\0\0\377\0\0\200\200\200\377\377\377\0\0' >>"$T/px.bmp"
    run "$EX" "$FIRE" "$T/px.bmp"; expect_rc 0 "examples/classify"; cp "$T/out" "$T/ex.out"
    run $VIGIE predict "$FIRE" "$T/px.bmp" --top 3
    grep -v '^alarm: ' "$T/ex.out" | cmp -s - "$T/out" && grep -q '^alarm: \(yes\|no\) (0\.[0-9]*, threshold 0\.514)$' "$T/ex.out" &&
      ok || bad "examples/classify differs from vigie predict: $(cat "$T/ex.out") / $(cat "$T/out")"
    run "$EX" "$FIRE"; expect_rc 2 "examples/classify without an image"
    run "$EX" "$FIRE" "$T/nothing.png"
    [ "$rc" = 1 ] && grep -q '^classify: .*nothing.png' "$T/err" && ok ||
      bad "examples/classify on a missing image: status $rc, $(head -c 300 "$T/err")"
  else
    bad "examples/classify not built ($EX): make $(dirname "$VIGIE")/classify"
  fi
  # its integer form as a QDQ ONNX model (checked numerically by test_onnx and
  # bench/onnx_qdq.py); a float model has none
  run $VIGIE export "$FIRE" -o "$T/fire_qdq.onnx" --qdq
  [ "$rc" = 0 ] && grep -q 'QDQ' "$T/out" && [ -s "$T/fire_qdq.onnx" ] && ok ||
    bad "export --qdq of models/fire.vge: status $rc, $(head -c 300 "$T/out" "$T/err")"
  run $VIGIE export "$FIRE" -o "$T/fire_qdq.onnx" --qdq --opset 10
  expect_clean_error "export --qdq at opset 10"
  FF=$SHARED/data/fire-footage/test
  if [ -d "$FF" ] && [ -d "$SHARED/data/neutral-scenes" ]; then
    f=$(grep -l '^0 ' "$FF"/labels/*.txt | head -1 || true)
    run $VIGIE predict "$FIRE" "$FF/images/$(basename "${f%.txt}").jpg" --top 1
    expect_rc 0 "predict with models/fire.vge"
    grep -q '^fire ' "$T/out" && ok || bad "models/fire.vge on a fire test frame: $(cat "$T/out")"
    n=$(head -1 "$SHARED/data/neutral-scenes/splits/test.txt")
    run $VIGIE predict "$FIRE" "$SHARED/data/neutral-scenes/$n" --top 1
    grep -q '^neutral ' "$T/out" && ok || bad "models/fire.vge on a neutral test scene: $(cat "$T/out")"
  else
    echo "SKIP cli: fire-footage / neutral-scenes not found"; skip=$((skip + 1))
  fi
}

if [ ! -d "$SHARED/models" ]; then
  echo "SKIP cli: $SHARED/models not found (ImageNet and damaged-file tests)"
  skip=$((skip + 1))
  shipped_model_test
  echo "cli: $pass passed, $fail failed, $skip skipped"
  [ $fail = 0 ]; exit
fi
M=$SHARED/models
TFL=$M/mobilenet_v2_1.0_224_quant.tflite

# ---- import, info
run $VIGIE import "$TFL" --labels "$M/imagenet_labels.txt" -o "$T/bb.vgm"
expect_rc 0 "import"
run $VIGIE info "$T/bb.vgm"
expect_rc 0 "info"
grep -q '^parameters  3[0-9]\{6\}' "$T/out" && grep -q '^input       224x224x3' "$T/out" &&
  grep -q 'classes     1001: background' "$T/out" && ok || bad "info output: $(head -5 "$T/out")"
run $VIGIE info "$T/bb.vgm" --json
grep -q '"params":3[0-9]\{6\},' "$T/out" && ok || bad "info --json"

# ---- ImageNet reference table of DATA.md (Arm NN CpuRef on the quant model): top-1 label
# and its probability within 0.05
MODEL=$T/bb.vgm
check_top1() { # image expected-label expected-p
  run $VIGIE predict "$MODEL" "$M/testimages/$1" --top 1
  line=$(head -1 "$T/out")
  label=${line%  *}; label=${label%%,*}
  p=${line##*  }; p=${p%\%}
  if [ "$rc" = 0 ] && [ "$label" = "$2" ] &&
     awk -v p="$p" -v r="$3" 'BEGIN { d = p / 100 - r; exit !(d <= 0.05 && d >= -0.05) }'; then
    ok; echo "  $1: $label $p% (reference $3)"
  else
    bad "$1: got '$line' (status $rc), reference $2 $3"
  fi
}
check_top1 cat.bmp "Egyptian cat" 0.82
check_top1 grace_hopper.bmp "military uniform" 0.89
check_top1 parrot.jpg "macaw" 1.00
check_top1 hot_dog.jpg "hotdog" 0.97
check_top1 bird.bmp "chickadee" 0.99
check_top1 dragonfly.bmp "dragonfly" 0.98

# ---- ONNX: the same network exported (opset 13, and 10) and imported back: the same
# reference table, and the same printed probabilities as the model it came from
run $VIGIE export "$T/bb.vgm" -o "$T/bb.onnx"
expect_rc 0 "export to ONNX"
run $VIGIE import "$T/bb.onnx" -o "$T/bb-onnx.vgm"
expect_rc 0 "import the ONNX export"
MODEL=$T/bb-onnx.vgm
check_top1 cat.bmp "Egyptian cat" 0.82
check_top1 parrot.jpg "macaw" 1.00
for opset in 13 10; do
  [ $opset = 10 ] && { $VIGIE export "$T/bb.vgm" -o "$T/bb10.onnx" --opset 10 >/dev/null 2>&1 &&
    $VIGIE import "$T/bb10.onnx" -o "$T/bb-onnx.vgm" >/dev/null 2>&1 || bad "opset 10 round trip"; }
  $VIGIE predict "$T/bb.vgm" "$M/testimages/grace_hopper.bmp" "$M/testimages/bird.bmp" --top 5 >"$T/p1" 2>&1
  $VIGIE predict "$T/bb-onnx.vgm" "$M/testimages/grace_hopper.bmp" "$M/testimages/bird.bmp" --top 5 >"$T/p2" 2>&1
  cmp -s "$T/p1" "$T/p2" && [ -s "$T/p1" ] && ok || bad "ONNX round trip (opset $opset) changed the predictions: $(diff "$T/p1" "$T/p2" | head -6)"
done
# every command opens a .onnx directly (predict, info, eval, bench...)
run $VIGIE predict "$T/bb.onnx" "$M/testimages/grace_hopper.bmp" "$M/testimages/bird.bmp" --top 5
$VIGIE predict "$T/bb.vgm" "$M/testimages/grace_hopper.bmp" "$M/testimages/bird.bmp" --top 5 >"$T/p1" 2>&1
[ "$rc" = 0 ] && cmp -s "$T/out" "$T/p1" && ok || bad "predict on the .onnx itself: $(head -3 "$T/out" "$T/err")"
run $VIGIE import "$T/bb.onnx" -o "$T/x.vgm" --mean 1,2
expect_rc 2 "--mean with two values"
head -c 1000 "$T/bb.onnx" >"$T/cut.onnx"
run $VIGIE import "$T/cut.onnx" -o "$T/x.vgm"
expect_clean_error "a truncated ONNX file"
run $VIGIE export "$T/bb.vgm" -o "$T/x.onnx" --opset 9
expect_rc 2 "export --opset 9"
run $VIGIE export "$T/bb.vgm" -o "$T/x.onnx" --qdq
expect_clean_error "export --qdq of a float model"

# ---- the TF2 int8 model run through the integer kernels: the int8 reference of DATA.md
# (Arm NN in integer arithmetic): same top-1, probabilities within 0.05
run $VIGIE import "$M/tf2_mobilenet_v2_1.0_224_ptq.tflite" -o "$T/tf2.vgm"
expect_rc 0 "import the int8 model"
run $VIGIE info "$T/tf2.vgm"
grep -q '^int8        int8 weights with per-channel scales' "$T/out" && ok || bad "int8 form not kept"
MODEL=$T/tf2.vgm
check_top1 cat.bmp "Egyptian cat" 0.64
check_top1 grace_hopper.bmp "military uniform" 0.84
check_top1 parrot.jpg "macaw" 0.94
check_top1 hot_dog.jpg "hotdog" 0.79
check_top1 bird.bmp "chickadee" 0.91
check_top1 dragonfly.bmp "dragonfly" 0.95
run $VIGIE bench "$T/tf2.vgm" --runs 1 --warmup 0 --json
grep -q '"precision":"int8"' "$T/out" && ok || bad "bench of the int8 model: $(cat "$T/out")"
run $VIGIE bench "$T/tf2.vgm" --runs 1 --warmup 0
grep -Eq '^kernels +int8 \(GEMM: (AVX-512 VNNI|AVX2|NEON dotprod|NEON|portable)\)' "$T/out" && ok || bad "bench names the int8 kernels: $(cat "$T/out")"
run $VIGIE bench "$T/tf2.vgm" --runs 1 --warmup 0 --json --precision float
grep -q '"precision":"float32"' "$T/out" && ok || bad "--precision float"
run $VIGIE bench "$T/bb.vgm" --runs 1 --precision int8
expect_clean_error "int8 on a float-only model"

# several images, text and JSON
run $VIGIE predict "$T/bb.vgm" "$M/testimages/cat.bmp" "$M/testimages/parrot.jpg" --top 2
expect_rc 0 "predict two images"
[ "$(grep -c '%$' "$T/out")" = 4 ] && ok || bad "predict two images: $(cat "$T/out")"
run $VIGIE predict "$T/bb.vgm" "$M/testimages/cat.bmp" "$M/testimages/hot_dog.jpg" --json --top 3
[ "$(grep -c '^{"image":".*cat.bmp","top":\[{"label":"Egyptian cat","p":0\.[0-9]*},{"label":"[^"]*","p":[0-9.]*},{"label":"[^"]*","p":[0-9.]*}\]}$' "$T/out")" = 1 ] &&
  [ "$(wc -l <"$T/out")" = 2 ] && ok || bad "predict --json: $(cat "$T/out")"
# a .tflite is accepted directly
run $VIGIE predict "$TFL" "$M/testimages/parrot.jpg" --top 1
expect_rc 0 "predict on a .tflite"
# a bad image among good ones: the good ones are classified, the status says failure
printf 'GIF89a garbage' >"$T/bad.jpg"
run $VIGIE predict "$T/bb.vgm" "$T/bad.jpg" "$M/testimages/parrot.jpg" --top 1
expect_rc 1 "predict with a corrupt image"
grep -q '^macaw' "$T/out" && grep -q 'bad.jpg' "$T/err" && ok || bad "corrupt image handling"
head -c 30000 "$M/testimages/parrot.jpg" >"$T/cut.jpg"
run $VIGIE predict "$T/bb.vgm" "$T/cut.jpg"; expect_clean_error "truncated JPEG"
run $VIGIE predict "$T/bb.vgm" "$T/missing.png"; expect_clean_error "missing image"

# ---- bench
run $VIGIE bench "$T/bb.vgm" --runs 3 --json
expect_rc 0 "bench --json"
grep -q '^{"median_ms":[0-9.]*,"p90_ms":[0-9.]*,.*"peak_rss_mb":[0-9.]*' "$T/out" && ok || bad "bench json: $(cat "$T/out")"

# ---- damaged models: truncated at 20 offsets, then single bytes flipped
damage() { # file kind flips_must_fail
  local f=$1 size; size=$(stat -c %s "$f")
  for k in $(seq 1 20); do
    head -c $((size * k / 21)) "$f" >"$T/cut.$2"
    run $VIGIE info "$T/cut.$2"
    expect_clean_error "$2 cut at $((size * k / 21)) of $size"
  done
  local refused=0
  for k in $(seq 1 12); do
    cp "$f" "$T/flip.$2"
    at=$(( (k * 7919 * 1237) % size ))
    [ $((k % 3)) = 0 ] && at=$((k * 97 % 4096))
    printf '\x5a' | dd of="$T/flip.$2" bs=1 seek=$at conv=notrunc status=none
    cmp -s "$f" "$T/flip.$2" && printf '\xa5' | dd of="$T/flip.$2" bs=1 seek=$at conv=notrunc status=none
    run $VIGIE info "$T/flip.$2"
    if [ "$rc" = 1 ]; then refused=$((refused + 1)); expect_clean_error "$2 flipped at $at"
    elif [ "$3" = yes ]; then bad "$2 flipped at $at accepted (status $rc)"
    elif [ "$rc" = 0 ]; then ok
    fi
  done
  echo "  $2: 20 truncations refused, $refused of 12 byte flips refused"
}
damage "$T/bb.vgm" vgm yes
damage "$TFL" tflite no   # no checksum in TFLite: a flipped weight is a valid model

# ---- predict --tiles RxC: the whole image and RxC overlapping tiles in one batch. The views
# are ranked by the alarm score, every class but the no-alarm one: the ImageNet model with
# "background" renamed "neutral" has one (score = 1 - p(background)), enough for the mechanics.
run $VIGIE predict "$T/bb.vgm" "$M/testimages/parrot.jpg" --tiles 0x2; expect_rc 2 "--tiles 0x2"
grep -q '^vigie predict: .*1\.\.8' "$T/err" && ok || bad "--tiles 0x2 message: $(cat "$T/err")"
run $VIGIE predict "$T/bb.vgm" "$M/testimages/parrot.jpg" --tiles abc; expect_rc 2 "--tiles abc"
grep -q "^vigie predict: .*ROWSxCOLS.*'abc'" "$T/err" && ok || bad "--tiles abc message: $(cat "$T/err")"
run $VIGIE predict "$T/bb.vgm" "$M/testimages/parrot.jpg" --tiles 9x1; expect_rc 2 "--tiles 9x1"
run $VIGIE predict "$T/bb.vgm" "$M/testimages/parrot.jpg" --tiles 2x2
expect_clean_error "--tiles on a model without a no-alarm class"
sed '1s/.*/neutral/' "$M/imagenet_labels.txt" >"$T/nlabels.txt"
run $VIGIE import "$TFL" --labels "$T/nlabels.txt" -o "$T/nb.vgm"; expect_rc 0 "import with a neutral class"
run $VIGIE predict "$T/nb.vgm" "$M/testimages/parrot.jpg" --top 1 --tiles 2x2
expect_rc 0 "predict --tiles 2x2"
head -1 "$T/out" | grep -Eq '^view [0-4] of 5 \((whole image|tile), [0-9]+x[0-9]+ at [0-9]+,[0-9]+\)$' &&
  sed -n 2p "$T/out" | grep -q '^macaw  [0-9.]*%$' && ok || bad "predict --tiles 2x2: $(cat "$T/out")"
run $VIGIE predict "$T/nb.vgm" "$M/testimages/parrot.jpg" "$M/testimages/cat.bmp" --top 1 --tiles 2x2 --json
expect_rc 0 "predict --tiles 2x2 --json"
# every line: the combined top-1, the layout, the best view, five views with their rectangles,
# alarm scores and 1001 probabilities; the best view's alarm score is the highest
[ "$(grep -c '^{"image":.*,"top":\[{"label":"[^"]*","p":[0-9.]*}\],"tiles":"2x2","best_view":[0-4],"views":\[{"x":0,"y":0,"w":[0-9]*,"h":[0-9]*,"alarm":[0-9.]*,"p":{"neutral":[0-9.]*,' "$T/out")" = 2 ] &&
  awk '{ n = gsub(/"alarm":/, "&"); if (n != 5) exit 1 }' "$T/out" && ok || bad "predict --tiles --json: $(head -c 600 "$T/out")"
if ! command -v python3 >/dev/null; then echo "SKIP cli: no python3 (--tiles JSON contents)"; skip=$((skip + 1))
else python3 - "$T/out" <<'PY' && ok || bad "predict --tiles --json contents"
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line, object_pairs_hook=lambda kv: dict(kv, _n=len(kv)))  # labels repeat
    v, b = d["views"], d["best_view"]
    assert len(v) == 5 and all(x["p"]["_n"] == 1001 for x in v)
    # the best view has the highest alarm score (to the 6 printed decimals)
    assert all(v[b]["alarm"] >= x["alarm"] - 2e-6 for x in v), (b, [x["alarm"] for x in v])
    top = max((kv for kv in v[b]["p"].items() if kv[0] != "_n"), key=lambda kv: kv[1])
    assert abs(top[1] - d["top"][0]["p"]) < 1e-6
    assert abs(v[b]["alarm"] - (1 - v[b]["p"]["neutral"])) < 1e-4
PY
fi
# 1x1 is the plain classification
run $VIGIE predict "$T/nb.vgm" "$M/testimages/cat.bmp" --top 3 --tiles 1x1; cp "$T/out" "$T/t11"
run $VIGIE predict "$T/nb.vgm" "$M/testimages/cat.bmp" --top 3
cmp -s "$T/out" "$T/t11" && ok || bad "--tiles 1x1 differs from no tiles"

shipped_model_test

echo "cli: $pass passed, $fail failed, $skip skipped"
[ $fail = 0 ]
