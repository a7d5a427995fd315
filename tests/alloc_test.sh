#!/usr/bin/env bash
# alloc_test.sh — allocation failure, SQLite-style: each command is run once to count the
# library's allocations (VIGIE_ALLOC_COUNT=1), then once for each N with the N-th allocation
# failing (VIGIE_ALLOC_FAIL=N; vg_fail_alloc in vigie.h). Every run must end cleanly: either
# status 1 with a one-line "vigie <cmd>: ..." message, or status 0 with the output of the
# run without failure (a failure the library works around, e.g. layer fusion skipped). Run on
# the ASan + UBSan build (make SAN=1 test runs it): a crash, a leak or undefined behaviour ends
# the run with the sanitizer's status, which counts as a failure.
# Commands: info and predict (the shipped model), eval (a few images), and with ../shared a
# short train (MobileNetV2 backbone, 96 px, one epoch), optimize --int8 on its result and
# watch over a folder of frames.
# Every N is tried up to SWEEP_ALL (default 60); beyond it, N is sampled evenly so that a
# command runs at most SWEEP_MAX times (default 60), plus the last allocation: CI's sample.
# ALLOC_FULL=1 tries every N of every command (minutes to hours under ASan).
set -u
VIGIE=${VIGIE:-./build-san/vigie}
SHARED=${VIGIE_SHARED:-../shared}
SWEEP_ALL=${SWEEP_ALL:-60}
SWEEP_MAX=${SWEEP_MAX:-60}
[ "${ALLOC_FULL:-0}" = 1 ] && SWEEP_ALL=1000000000
export ASAN_OPTIONS="exitcode=99:detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:exitcode=98:print_stacktrace=1"
pass=0 fail=0 skip=0 runs=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL alloc: $*"; }
T=$(mktemp -d "${TMPDIR:-/tmp}/vigie-alloc-XXXXXX")
trap 'rm -rf "$T"' EXIT
FIRE=$(dirname "$0")/../models/fire.vge

# a result as compared: JSON without wall-clock times, speeds and snapshot names
norm() {
  case $1 in
    *.json | *.out) sed -E 's/"t":[0-9.]+,//; s/"snapshot":"[^"]*"//; s/"images_per_s":[0-9.e+-]+//' "$1" 2>/dev/null ;;
    *) cat "$1" 2>/dev/null ;;
  esac
}

# sweep NAME [--out FILE] -- vigie arguments...: the output compared for status-0 runs is
# stdout, or FILE when given (then stdout may carry timings)
sweep() {
  local name=$1 outf="" total n step rc list k=0 nbad=0
  shift
  if [ "$1" = --out ]; then outf=$2; shift 2; fi
  [ "$1" = -- ] && shift
  VIGIE_ALLOC_COUNT=1 "$VIGIE" "$@" >"$T/ref.out" 2>"$T/ref.err"
  rc=$?
  total=$(sed -n 's/^vigie: \([0-9]*\) library allocations$/\1/p' "$T/ref.err" | tail -1)
  if [ $rc != 0 ] || [ -z "$total" ]; then
    bad "$name: the run without failure: status $rc: $(head -c 400 "$T/ref.err")"
    return
  fi
  [ -n "$outf" ] && norm "$outf" >"$T/ref.file"
  if [ "$total" -le "$SWEEP_ALL" ]; then
    list=$(seq 1 "$total")
  else
    step=$(((total - SWEEP_ALL + SWEEP_MAX - 1) / SWEEP_MAX))
    [ "$step" -lt 1 ] && step=1
    list=$({ seq 1 "$SWEEP_ALL"; seq $((SWEEP_ALL + step)) "$step" "$total"; echo "$total"; } | sort -nu)
  fi
  for n in $list; do
    k=$((k + 1))
    [ -n "$outf" ] && rm -f "$outf"
    # a hang is a failure too (status 124): a thread left waiting after the error
    VIGIE_ALLOC_FAIL=$n timeout 120 "$VIGIE" "$@" >"$T/run.out" 2>"$T/err"
    rc=$?
    runs=$((runs + 1))
    if [ $rc = 1 ] && [ "$(wc -l <"$T/err")" -ge 1 ] && grep -q '^vigie [a-z]*: ' "$T/err"; then
      continue
    fi
    if [ $rc = 0 ]; then
      if [ -n "$outf" ]; then norm "$outf" | cmp -s - "$T/ref.file" && continue
      else norm "$T/run.out" | cmp -s - <(norm "$T/ref.out") && continue; fi
      bad "$name, allocation $n of $total failed: status 0 but a different result"
    else
      bad "$name, allocation $n of $total failed: status $rc: $(grep -m3 -E 'ERROR|SUMMARY|runtime error|^vigie' "$T/err" | head -c 600)"
    fi
    nbad=$((nbad + 1))
    [ $nbad -ge "${MAXBAD:-5}" ] && { echo "  (stopping $name after $nbad failures)"; break; }
  done
  [ $nbad = 0 ] && ok
  echo "  $name: $total allocations, $k failure points tried"
}

# a 2x2 BMP (orange, red, grey, white) and a tree of three classes of such images
printf 'BM\0\0\0\0\0\0\0\0\66\0\0\0\50\0\0\0\2\0\0\0\2\0\0\0\1\0\30\0\0\0\0\0\20\0\0\0\23\13\0\0\23\13\0\0\0\0\0\0\0\0\0\0' >"$T/px.bmp"
printf '\0\200\377\0\0\377\0\0\200\200\200\377\377\377\0\0' >>"$T/px.bmp"
sweep "info" -- info "$FIRE"
sweep "predict" -- predict "$FIRE" "$T/px.bmp" --top 3

IMG=$SHARED/data/fire-footage/test/images
D=$SHARED/data/firesmoke-cctv
if [ ! -d "$IMG" ] || [ ! -d "$D" ] || [ ! -d "$SHARED/models" ]; then
  echo "SKIP alloc: $SHARED data not found (eval, train, optimize, watch)"
  skip=$((skip + 1))
else
  D=$(cd "$D" && pwd)
  J=$(ls "$IMG" | head -1)
  sweep "predict jpeg, 2x2 tiles" -- predict "$FIRE" "$IMG/$J" --tiles 2x2 --json
  mkdir -p "$T/data"
  for c in fire smoke neutral; do
    mkdir -p "$T/data/$c"
    ls "$D/$c" | head -4 | while read -r f; do ln -s "$D/$c/$f" "$T/data/$c/$f"; done
    ls "$T/data/$c" | head -3 | sed "s|^|$c/|" >>"$T/train.txt"
    ls "$T/data/$c" | tail -1 | sed "s|^|$c/|" >>"$T/val.txt"
  done
  cat "$T/train.txt" "$T/val.txt" >"$T/all.txt"
  sweep "eval" -- eval "$FIRE" --data "$T/data" --list "$T/val.txt" --json
  "$VIGIE" import "$SHARED/models/mobilenet_v2_1.0_224_quant.tflite" -o "$T/bb.vgm" >/dev/null 2>&1
  sweep "train" --out "$T/m.vgm" -- train --data "$T/data" --train-list "$T/train.txt" \
    --val-list "$T/val.txt" --backbone "$T/bb.vgm" --train last:2 --size 96 --batch 3 \
    --epochs 1 --patience 0 --no-refit --threads 1 --seed 3 --quiet -o "$T/m.vgm"
  VIGIE_ALLOC_COUNT=0 "$VIGIE" train --data "$T/data" --train-list "$T/train.txt" \
    --val-list "$T/val.txt" --backbone "$T/bb.vgm" --train last:2 --size 96 --batch 3 \
    --epochs 1 --patience 0 --no-refit --threads 1 --seed 3 --quiet -o "$T/m.vgm" >/dev/null 2>&1
  sweep "optimize --int8" --out "$T/m.vge" -- optimize "$T/m.vgm" -o "$T/m.vge" --int8 \
    --calib-data "$T/data" --calib-list "$T/all.txt" --threads 1
  # five fire frames, levels low enough for an alarm and its snapshot
  mkdir -p "$T/frames"
  grep -l '^0 ' "$IMG"/../labels/*.txt | head -5 | while read -r f; do
    f=$(basename "${f%.txt}").jpg
    ln -s "$IMG/$f" "$T/frames/$f"
  done
  sweep "watch (folder)" --out "$T/events.json" -- watch "$FIRE" --source "$T/frames" \
    --events "$T/events.json" --snapshots "$T" --on 0.5 --off 0.3 --min-duration 0
fi
echo "alloc: $pass passed, $fail failed, $skip skipped ($runs runs with a failing allocation)"
[ $fail = 0 ]
