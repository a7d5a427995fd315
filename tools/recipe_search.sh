#!/usr/bin/env bash
# recipe_search.sh — developer tool: trains a list of recipes on the shared fire / smoke data
# (every dataset, as `make model` does) and records validation figures (what choices are made
# on: accuracy, and the operating point at which every dataset's validation images reach alarm
# recall 0.97 with its false alarms, `vigie eval --recall-target`) and test figures (reported,
# never used to choose). Usage: tools/recipe_search.sh OUTDIR NAME "train options" [NAME
# "options"]... Appends one line per run to OUTDIR/results.tsv. SEEDS="1 2 3" runs every recipe
# once per seed (NAME-sN): compare recipes on the mean over seeds. Runs are --no-refit: a recipe
# is judged by its selection run on val; the refit on train + val comes after the choice.
set -u
OUT=$1; shift
D=${VIGIE_SHARED:-../shared}/data
V=./build/vigie
mkdir -p "$OUT"
[ -f "$OUT/backbone.vgm" ] || $V import ${VIGIE_SHARED:-../shared}/models/mobilenet_v2_1.0_224_quant.tflite \
  --labels ${VIGIE_SHARED:-../shared}/models/imagenet_labels.txt -o "$OUT/backbone.vgm" >/dev/null
DATA=(--data "$D/firesmoke-cctv" --data "$D/fire-footage" --data "$D/neutral-scenes")
[ -f "$OUT/results.tsv" ] || printf 'name\toptions\tminutes\tpeak_mb\tval_acc\tval_op_threshold\tval_op_far\ttest_acc\ttest_alarm_recall\ttest_far\ttest_auc\n' >"$OUT/results.tsv"
while [ $# -ge 2 ]; do
  base=$1; base_opts=$2; shift 2
  for seed in ${SEEDS:-1}; do
  name=$base opts=$base_opts
  if [ -n "${SEEDS:-}" ]; then name=$base-s$seed opts="$base_opts --seed $seed"; fi
  start=$(date +%s)
  # shellcheck disable=SC2086
  $V train "${DATA[@]}" --extra-train "$D/hard-negatives" --backbone "$OUT/backbone.vgm" \
    -o "$OUT/$name.vgm" --quiet --no-refit $opts >"$OUT/$name.log" 2>&1
  mins=$(( ($(date +%s) - start) ))
  peak=$(grep -o 'peak RSS [0-9]* MB' "$OUT/$name.log" | grep -o '[0-9]*')
  $V eval "$OUT/$name.vgm" "${DATA[@]}" --split val --recall-target 0.97 >"$OUT/$name.val.txt" 2>/dev/null
  val=$(sed -n 's/^accuracy //p' "$OUT/$name.val.txt")
  op=$(sed -n -E 's/^operating point .*threshold ([0-9.]+),.*false alarms ([0-9.]+) .*/\1\t\2/p' "$OUT/$name.val.txt")
  $V eval "$OUT/$name.vgm" "${DATA[@]}" --json >"$OUT/$name.test.json" 2>/dev/null
  test=$(python3 - "$OUT/$name.test.json" <<'PY'
import json,sys
j=json.load(open(sys.argv[1])); a=j.get("alarm",{})
print("\t".join("%.4f"%v for v in [j["accuracy"],a.get("recall",0),a.get("false_alarm_rate",0),a.get("auc",0)]))
PY
)
  printf '%s\t%s\t%.1f\t%s\t%s\t%s\t%s\n' "$name" "$opts" "$(echo "$mins/60" | bc -l)" "$peak" "$val" "$op" "$test" >>"$OUT/results.tsv"
  done
done
