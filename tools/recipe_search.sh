#!/usr/bin/env bash
# recipe_search.sh — developer tool: trains a list of recipes on the fire/smoke data and records
# validation metrics (what choices are made on) and test metrics (reported, never used to
# choose). Usage: tools/recipe_search.sh OUTDIR NAME "train options" [NAME "options"]...
# Appends one line per run to OUTDIR/results.tsv. SEEDS="1 2 3" runs every recipe once per
# seed (NAME-sN): one run's val accuracy moves by 2-4 points with the seed alone on this data,
# so compare recipes on the mean over seeds. Runs are --no-refit: a recipe is judged by its
# selection run on val; the refit on train + val comes after the choice.
set -u
OUT=$1; shift
D=${VIGIE_SHARED:-../shared}/data
V=./build/vigie
mkdir -p "$OUT"
[ -f "$OUT/backbone.vgm" ] || $V import ${VIGIE_SHARED:-../shared}/models/mobilenet_v2_1.0_224_quant.tflite \
  --labels ${VIGIE_SHARED:-../shared}/models/imagenet_labels.txt -o "$OUT/backbone.vgm" >/dev/null
[ -f "$OUT/results.tsv" ] || printf 'name\toptions\tminutes\tpeak_mb\tval_acc\tval_alarm_recall\tval_far\tval_auc\ttest_acc\ttest_alarm_recall\ttest_far\ttest_auc\ttest_recall_fire\ttest_recall_neutral\ttest_recall_smoke\n' >"$OUT/results.tsv"
while [ $# -ge 2 ]; do
  base=$1; base_opts=$2; shift 2
  for seed in ${SEEDS:-1}; do
  name=$base opts=$base_opts
  if [ -n "${SEEDS:-}" ]; then name=$base-s$seed opts="$base_opts --seed $seed"; fi
  start=$(date +%s)
  # shellcheck disable=SC2086
  $V train --data $D/firesmoke-cctv --train-list $D/firesmoke-cctv/splits/train.txt \
    --val-list $D/firesmoke-cctv/splits/val.txt --backbone "$OUT/backbone.vgm" \
    -o "$OUT/$name.vgm" --quiet --no-refit $opts >"$OUT/$name.log" 2>&1
  mins=$(( ($(date +%s) - start) ))
  val=$(grep '^validation:' "$OUT/$name.log" | sed -E 's/.*accuracy ([0-9.]+).*alarm recall ([0-9.]+), false alarms ([0-9.]+), AUC ([0-9.]+).*/\1\t\2\t\3\t\4/')
  peak=$(grep -o 'peak RSS [0-9]* MB' "$OUT/$name.log" | grep -o '[0-9]*')
  $V eval "$OUT/$name.vgm" --data $D/firesmoke-cctv --list $D/firesmoke-cctv/splits/test.txt --json >"$OUT/$name.test.json" 2>/dev/null
  test=$(python3 - "$OUT/$name.test.json" <<'PY'
import json,sys
j=json.load(open(sys.argv[1])); a=j.get("alarm",{}); pc=j["per_class"]
print("\t".join("%.4f"%v for v in [j["accuracy"],a.get("recall",0),a.get("false_alarm_rate",0),a.get("auc",0),pc["fire"]["recall"],pc["neutral"]["recall"],pc["smoke"]["recall"]]))
PY
)
  printf '%s\t%s\t%.1f\t%s\t%s\t%s\n' "$name" "$opts" "$(echo "$mins/60" | bc -l)" "$peak" "$val" "$test" >>"$OUT/results.tsv"
  done
done
