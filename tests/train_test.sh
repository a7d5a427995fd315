#!/usr/bin/env bash
# train_test.sh — end-to-end test of `vigie train` and `vigie eval` on a handful of shared
# images (skipped without ../shared): a tiny model trains for a few steps and its loss falls;
# the model, CSV and plots are written; eval (text and JSON) and predict work on it; a too
# small --mem-budget is refused with a clear message; a run interrupted mid-epoch then
# resumed ends with exactly the same model file as an uninterrupted run; and the refit on
# train + val after the selection run (the default) does too, interrupted in either run.
set -u
VIGIE=${VIGIE:-./build/vigie}
SHARED=${VIGIE_SHARED:-../shared}
export ASAN_OPTIONS="exitcode=99:detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:exitcode=98:print_stacktrace=1"
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL train: $*"; }
D=$SHARED/data/firesmoke-cctv
[ -d "$D" ] && D=$(cd "$D" && pwd) # links are resolved from their own folder
if [ ! -d "$D" ] || [ ! -d "$SHARED/models" ]; then
  echo "SKIP train: $D not found"
  echo "train: 0 passed, 0 failed, 1 skipped"
  exit 0
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/vigie-train-XXXXXX")
trap 'rm -rf "$T"' EXIT

# a tiny dataset: 6 training and 2 validation images per class, linked from the shared set
mkdir -p "$T/data"
for c in fire smoke neutral; do
  mkdir -p "$T/data/$c"
  ls "$D/$c" | head -8 | while read -r f; do ln -s "$D/$c/$f" "$T/data/$c/$f"; done
  ls "$T/data/$c" | head -6 | sed "s|^|$c/|" >>"$T/train.txt"
  ls "$T/data/$c" | tail -2 | sed "s|^|$c/|" >>"$T/val.txt"
done
$VIGIE import "$SHARED/models/mobilenet_v2_1.0_224_quant.tflite" -o "$T/bb.vgm" >/dev/null 2>&1 \
  && ok || bad "import backbone"

rcommon=(--data "$T/data" --train-list "$T/train.txt" --val-list "$T/val.txt" --backbone "$T/bb.vgm"
         --train last:2 --size 96 --batch 4 --epochs 4 --patience 0 --lr 0.003 --threads 2 --quiet)
common=("${rcommon[@]}" --no-refit) # one run; the refit (the default) is tested in 1c

# 1. train; loss falls; outputs exist
$VIGIE train "${common[@]}" -o "$T/a.vgm" >"$T/a.out" 2>"$T/a.err"
rc=$?
[ $rc = 0 ] && ok || { bad "train exit $rc"; cat "$T/a.err"; }
for f in a.vgm a.csv a.curves.png a.confusion.png a.roc.png; do
  [ -s "$T/$f" ] && ok || bad "missing $f"
done
[ ! -e "$T/a.ckpt" ] && ok || bad "checkpoint left after a finished run"
for f in a.curves.png a.confusion.png a.roc.png; do
  head -c 8 "$T/$f" | od -An -tx1 | grep -q '89 50 4e 47 0d 0a 1a 0a' && ok || bad "$f is not a PNG"
done
[ "$(wc -l <"$T/a.csv")" = 5 ] && ok || bad "csv: $(cat "$T/a.csv")"
first=$(sed -n 2p "$T/a.csv" | cut -d, -f2); last=$(sed -n 5p "$T/a.csv" | cut -d, -f2)
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a) }' && ok || bad "training loss did not fall: $first -> $last"
grep -q '^saved .*a.vgm: 3 classes, 18 training / 6 validation images' "$T/a.out" && ok || bad "summary: $(cat "$T/a.out")"
# the model carries its rehearsal set: vigie adapt needs no --data (a neutral feedback image)
mkdir -p "$T/fb/neutral"
ln -s "$T/data/neutral/$(ls "$T/data/neutral" | head -1)" "$T/fb/neutral/n.jpg"
$VIGIE adapt "$T/a.vgm" --feedback "$T/fb" -o "$T/a-adapted.vgm" >"$T/ad.out" 2>"$T/ad.err"; rc=$?
[ $rc = 0 ] && grep -q 'guard 6 validation images .*from the model file' "$T/ad.out" && [ -s "$T/a-adapted.vgm" ] && ok ||
  bad "adapt the trained model without --data: status $rc: $(cat "$T/ad.out" "$T/ad.err")"

# 1b. --keep last: the schedule's end is kept (every epoch "best"), and early stopping is off
$VIGIE train "${common[@]}" --patience 1 --keep last --epochs 3 -o "$T/k.vgm" >"$T/k.out" 2>&1
grep -q 'k.vgm: 3 classes, .* 3 epochs (best 3)' "$T/k.out" && [ "$(cut -d, -f11 "$T/k.csv" | tail -n +2 | sort -u)" = 1 ] \
  && ok || bad "--keep last: $(cat "$T/k.out") $(cat "$T/k.csv")"
$VIGIE train "${common[@]}" --keep newest -o "$T/k2.vgm" >"$T/k2.out" 2>&1
[ $? = 2 ] && grep -q -- "--keep: expected best or last, got 'newest'" "$T/k2.out" && ok || bad "--keep newest: $(cat "$T/k2.out")"

# 1c. the refit (default): a selection run on train (OUT.select.*), then train + val from the
# backbone again for the selection's best epoch count, with its alarm threshold; interrupted in
# either run and resumed, the same model byte for byte
$VIGIE train "${rcommon[@]}" --epochs 3 -o "$T/r.vgm" >"$T/r.out" 2>&1
rc=$?
[ $rc = 0 ] && ok || { bad "refit exit $rc"; cat "$T/r.out"; }
for f in r.vgm r.csv r.curves.png r.select.vgm r.select.csv r.select.curves.png r.select.confusion.png r.select.roc.png; do
  [ -s "$T/$f" ] && ok || bad "refit: missing $f"
done
[ ! -e "$T/r.ckpt" ] && [ ! -e "$T/r.confusion.png" ] && ok || bad "refit: checkpoint or a validation plot of the refit left"
best=$(grep -o 'epochs (best [0-9]*)' "$T/r.out" | grep -o '[0-9]*')
grep -q "^selection run .*r.select.vgm: 18 training / 6 validation images, 3 epochs (best $best)" "$T/r.out" &&
  grep -q "^saved .*r.vgm: 3 classes, refit on 24 training + validation images for $best epochs" "$T/r.out" &&
  ok || bad "refit summary: $(cat "$T/r.out")"
[ "$(wc -l <"$T/r.select.csv")" = 4 ] && [ "$(wc -l <"$T/r.csv")" = $((best + 1)) ] && ok || bad "refit csv rows"
[ "$(cut -d, -f4 "$T/r.csv" | tail -n +2 | sort -u)" = nan ] && ok || bad "refit csv has validation figures: $(cat "$T/r.csv")"
$VIGIE info "$T/r.vgm" --json >"$T/r.json" 2>&1; $VIGIE info "$T/r.select.vgm" --json >"$T/rs.json" 2>&1
thr=$(grep -o '"alarm_threshold":"[0-9.]*"' "$T/r.json"); sthr=$(grep -o '"alarm_threshold":"[0-9.]*"' "$T/rs.json")
[ -n "$thr" ] && [ "$thr" = "$sthr" ] && grep -q '"refit":"trained on train + val (24 images), '"$best"' of the 3-epoch schedule' "$T/r.json" &&
  grep -q '"selection_val_metrics":"n=6 accuracy=' "$T/r.json" && ok || bad "refit metadata: $(cat "$T/r.json" | head -c 900)"
cmp -s "$T/r.vgm" "$T/r.select.vgm" && bad "refit model equals the selection's" || ok
for n in 7 $((15 + 2)); do # 5 steps an epoch: step 7 is in the selection run, 17 in the refit
  VIGIE_STOP_AFTER_STEPS=$n $VIGIE train "${rcommon[@]}" --epochs 3 -o "$T/r$n.vgm" >"$T/r$n.out" 2>&1
  [ $? = 130 ] && [ -s "$T/r$n.ckpt" ] && [ ! -e "$T/r$n.vgm" ] && ok || bad "refit interrupt at $n: $(cat "$T/r$n.out")"
  # the selection run's model exists exactly when the interrupt came in the refit
  { [ $n = 7 ] && [ ! -e "$T/r$n.select.vgm" ]; } || { [ $n = 17 ] && [ -s "$T/r$n.select.vgm" ]; } && ok || bad "refit interrupt at $n: selection model"
  $VIGIE train --resume "$T/r$n.ckpt" --quiet >"$T/r$n.out2" 2>&1 && ok || bad "refit resume at $n: $(cat "$T/r$n.out2")"
  cmp -s "$T/r.vgm" "$T/r$n.vgm" && cmp -s "$T/r.select.vgm" "$T/r$n.select.vgm" && ok || bad "refit resumed at step $n: another model"
done

# 2. the model: info, eval (text + JSON), predict
$VIGIE info "$T/a.vgm" >"$T/info" 2>&1 && grep -q 'classes     3: fire, neutral, smoke' "$T/info" && ok || bad "info: $(head -3 "$T/info")"
$VIGIE eval "$T/a.vgm" --data "$T/data" --list "$T/val.txt" --plot "$T/e.png" >"$T/eval" 2>&1 && ok || bad "eval: $(cat "$T/eval")"
grep -q '^accuracy ' "$T/eval" && grep -q '^alarm (1 - p(neutral) >= ' "$T/eval" && [ -s "$T/e.png" ] && [ -s "$T/e.roc.png" ] && ok || bad "eval output"
$VIGIE eval "$T/a.vgm" --data "$T/data" --list "$T/val.txt" --json >"$T/eval.json" 2>&1 && ok || bad "eval --json"
grep -q '^{"model":.*"n":6,.*"accuracy":[0-9.]*,"classes":\["fire","neutral","smoke"\],"per_class":{"fire":{"precision".*"confusion":\[\[[0-9]*,[0-9]*,[0-9]*\],\[.*"alarm":{"no_alarm_class":"neutral","threshold":[0-9.]*,"recall":[0-9.]*,"false_alarm_rate":[0-9.]*.*"roc":\[{"fpr":0.000000,"tpr":0.000000' "$T/eval.json" && ok || bad "eval json: $(head -c 400 "$T/eval.json")"
# eval says when a list is not held out for the model: trained on, or chose its settings
grep -q "warning: .*a.vgm chose its epochs and alarm threshold on $T/val.txt" "$T/eval" && ok || bad "eval on val: no warning: $(cat "$T/eval")"
$VIGIE eval "$T/r.vgm" --data "$T/data" --list "$T/val.txt" 2>&1 >/dev/null | grep -q "warning: .*r.vgm was refit on train + val, trained on $T/val.txt" && ok || bad "eval of a refit model on val: no warning"
$VIGIE eval "$T/r.vgm" --data "$T/data" --list "$T/train.txt" 2>&1 >/dev/null | grep -q "warning: .*r.vgm trained on $T/train.txt" && ok || bad "eval on train: no warning"
mkdir -p "$T/held"
for c in fire smoke neutral; do
  mkdir -p "$T/held/$c"
  ls "$D/$c" | sed -n 9,10p | while read -r f; do ln -s "$D/$c/$f" "$T/held/$c/$f"; echo "$c/$f" >>"$T/held.txt"; done
done
$VIGIE eval "$T/r.vgm" --data "$T/held" --list "$T/held.txt" >"$T/held.out" 2>&1 && ! grep -q warning "$T/held.out" && ok || bad "eval on images the model never saw: $(cat "$T/held.out")"
img=$(head -1 "$T/val.txt")
$VIGIE predict "$T/a.vgm" "$T/data/$img" >"$T/pred" 2>&1 && [ "$(grep -c '^[a-z]*  [0-9.]*%$' "$T/pred")" = 3 ] && ok || bad "predict: $(cat "$T/pred")"

# 3. a memory budget that cannot fit is refused clearly
$VIGIE train "${common[@]}" -o "$T/m.vgm" --mem-budget 20M >"$T/m.out" 2>&1
rc=$?
[ $rc = 1 ] && grep -q -- '--mem-budget 21 MB is too small' "$T/m.out" && ok || bad "tiny budget (exit $rc): $(cat "$T/m.out")"

# 4. interrupted after 5 steps (epoch 2, mid-epoch), resumed: the same model, byte for byte
VIGIE_STOP_AFTER_STEPS=5 $VIGIE train "${common[@]}" -o "$T/b.vgm" >"$T/b1.out" 2>&1
rc=$?
[ $rc = 130 ] && [ -s "$T/b.ckpt" ] && [ ! -e "$T/b.vgm" ] && ok || bad "interrupt (exit $rc): $(cat "$T/b1.out")"
grep -q "continue with: vigie train --resume $T/b.ckpt" "$T/b1.out" && ok || bad "resume hint missing"
$VIGIE train --resume "$T/b.ckpt" --threads 1 --quiet >"$T/b2.out" 2>&1
rc=$?
[ $rc = 0 ] && ok || { bad "resume exit $rc"; cat "$T/b2.out"; }
cmp -s "$T/a.vgm" "$T/b.vgm" && ok || bad "resumed model differs from the uninterrupted one"
cmp -s <(cut -d, -f1-9 "$T/a.csv") <(cut -d, -f1-9 "$T/b.csv") && ok || bad "resumed metrics differ"

# 5. the same with mixup and weight averaging, whose state is in the checkpoint too
$VIGIE train "${common[@]}" --mixup 0.4 --ema 0.9 -o "$T/c.vgm" >/dev/null 2>&1 && ok || bad "mixup + ema run"
VIGIE_STOP_AFTER_STEPS=7 $VIGIE train "${common[@]}" --mixup 0.4 --ema 0.9 -o "$T/d.vgm" >/dev/null 2>&1
[ $? = 130 ] && ok || bad "mixup + ema interrupt"
$VIGIE train --resume "$T/d.ckpt" --quiet >/dev/null 2>&1 && ok || bad "mixup + ema resume"
cmp -s "$T/c.vgm" "$T/d.vgm" && ok || bad "mixup + ema: resumed model differs"
cmp -s "$T/a.vgm" "$T/c.vgm" && bad "mixup + ema changed nothing" || ok

# 5b. a detection export (YOLO / Roboflow layout, linked from fire-footage) next to the tree:
# several --data, classes from boxes, per-dataset figures, eval per dataset, optimize on both
FF=$SHARED/data/fire-footage
if [ -d "$FF" ]; then
  FF=$(cd "$FF" && pwd)
  Y=$T/yolo
  for sp in train valid test; do
    mkdir -p "$Y/$sp/images" "$Y/$sp/labels"
    ls "$FF/$sp/images" | head -4 | while read -r f; do
      ln -s "$FF/$sp/images/$f" "$Y/$sp/images/$f"
      ln -s "$FF/$sp/labels/${f%.*}.txt" "$Y/$sp/labels/${f%.*}.txt"
    done
  done
  printf 'train: ../train/images
val: ../valid/images
test: ../test/images
nc: 2
names: [fire, smoke]
' >"$Y/data.yaml"
  $VIGIE train --data "$T/data" --train-list "$T/train.txt" --val-list "$T/val.txt" --data "$Y" \
    --backbone "$T/bb.vgm" --train last:2 --size 96 --batch 4 --epochs 2 --no-refit --threads 2 \
    -o "$T/y.vgm" >"$T/y.out" 2>&1 && ok || bad "train with an export: $(cat "$T/y.out")"
  grep -q '^  yolo (boxes): 4 training, 4 validation:' "$T/y.out" &&
    grep -q '^data: 3 classes, 22 training images, 10 validation' "$T/y.out" &&
    grep -q '^  val yolo  *4 images: accuracy' "$T/y.out" && ok || bad "export data lines: $(cat "$T/y.out")"
  $VIGIE info "$T/y.vgm" --json >"$T/y.json" 2>&1
  grep -q '"train_set":"data:18:[0-9a-f]*; yolo:4:[0-9a-f]*"' "$T/y.json" && ! sed 's/.*"meta"://' "$T/y.json" | grep -q "$T" &&
    ok || bad "the model names its images by content, not path: $(head -c 900 "$T/y.json")"
  $VIGIE eval "$T/y.vgm" --data "$T/data" --list "$T/val.txt" --data "$Y" >"$T/ye" 2>&1 &&
    grep -q '^per dataset' "$T/ye" && grep -q '^  yolo  *test  *4 ' "$T/ye" && grep -q '^  data  *list  *6 ' "$T/ye" &&
    ok || bad "eval per dataset: $(cat "$T/ye")"
  grep -q "warning: .*y.vgm chose its epochs and alarm threshold on $T/val.txt" "$T/ye" && ok || bad "eval: no warning for the val list"
  $VIGIE eval "$T/y.vgm" --data "$Y" --split val 2>&1 >/dev/null | grep -q "warning: .*chose its epochs and alarm threshold on the val images of $Y" &&
    ok || bad "eval of the export's val split: no warning"
  $VIGIE eval "$T/y.vgm" --data "$Y" --box-free-crops 2 --recall-target 0.9 --json >"$T/yj" 2>&1 &&
    grep -q '"box_free_crops":{"n":[1-9]' "$T/yj" && ok || bad "box-free crops: $(head -c 600 "$T/yj")"
  $VIGIE optimize "$T/y.vgm" -o "$T/y.vge" --int8 --calib-data "$Y" --calib-data "$T/data" --calib-images 6 \
    --val-data "$Y" --quiet >"$T/yo" 2>&1 && grep -q '^int8 ' "$T/yo" && ok || bad "optimize with an export: $(cat "$T/yo")"
  # a malformed label file: a clear error naming the file and line
  rm "$Y/train/labels/$(ls "$Y/train/labels" | head -1)"
  printf '0 0.5 0.5 0.2\n' >"$Y/train/labels/$(ls "$Y/train/images" | head -1 | sed 's/\.[^.]*$//').txt"
  $VIGIE train --data "$Y" --backbone "$T/bb.vgm" -o "$T/y2.vgm" >"$T/y2" 2>&1
  [ $? = 1 ] && grep -q 'labels/.*\.txt:1: 4 numbers' "$T/y2" && ok || bad "malformed label: $(cat "$T/y2")"
  $VIGIE train --data "$Y" --val-list "$T/val.txt" --backbone "$T/bb.vgm" -o "$T/y3.vgm" >"$T/y3" 2>&1
  [ $? = 1 ] && grep -q 'takes its splits from its data.yaml' "$T/y3" && ok || bad "lists on an export: $(cat "$T/y3")"
fi

# 6. vigie optimize: channel + weight pruning, clustering, fine-tuning, int8, engine file
opt=(--finetune-data "$T/data" --finetune-list "$T/train.txt" --finetune-val-list "$T/val.txt"
     --epochs 1 --batch 4 --calib-images 6 --threads 2 --quiet)
$VIGIE optimize "$T/a.vgm" -o "$T/o.vge" --int8 --prune-channels 0.5 --prune 0.5 --clusters 4 \
  "${opt[@]}" --val-data "$T/data" --val-list "$T/val.txt" --calib-table "$T/o.calib" >"$T/o.out" 2>&1
rc=$?
[ $rc = 0 ] && [ -s "$T/o.vge" ] && [ -s "$T/o.calib" ] && ok || { bad "optimize exit $rc"; cat "$T/o.out"; }
for step in '^float ' '^channels -50% + prune 50% + ft ' '^clusters 4 + ft ' '^int8 '; do
  grep -q "$step *[0-9.]* " "$T/o.out" && ok || bad "report row '$step' missing: $(cat "$T/o.out")"
done
$VIGIE info "$T/o.vge" --json >"$T/o.json" 2>&1
md=$(grep -o '"max_distinct":[0-9]*' "$T/o.json" | cut -d: -f2)
sp=$(grep -o '"sparsity":[0-9.]*' "$T/o.json" | cut -d: -f2)
cl=$(grep -o '"clustered_layers":[0-9]*' "$T/o.json" | cut -d: -f2)
[ -n "$md" ] && [ "$md" -le 4 ] && [ "${cl:-0}" -gt 0 ] && ok || bad "clustered engine: max_distinct '$md', clustered layers '$cl': $(head -c 300 "$T/o.json")"
awk -v s="${sp:-0}" 'BEGIN { exit !(s > 0.3 && s < 0.6) }' && ok || bad "engine sparsity '$sp'"
grep -q '"int8":true' "$T/o.json" && ok || bad "engine has no int8 form"
$VIGIE predict "$T/o.vge" "$T/data/$img" >"$T/pred" 2>&1 && [ "$(grep -c '^[a-z]*  [0-9.]*%$' "$T/pred")" = 3 ] && ok || bad "predict .vge: $(cat "$T/pred")"
$VIGIE eval "$T/o.vge" --data "$T/data" --list "$T/val.txt" >"$T/oe" 2>&1 && grep -q '^accuracy' "$T/oe" && ok || bad "eval .vge: $(cat "$T/oe")"
$VIGIE bench "$T/o.vge" --runs 3 >"$T/ob" 2>&1 && ok || bad "bench .vge: $(cat "$T/ob")"
# an engine made with data that has its splits carries the rehearsal set (int8 features of
# its train and val splits): vigie adapt takes it without --data and writes an engine again
mkdir -p "$T/sdata/splits"
for c in fire smoke neutral; do ln -s "$T/data/$c" "$T/sdata/$c"; done
cp "$T/train.txt" "$T/sdata/splits/train.txt" && cp "$T/val.txt" "$T/sdata/splits/val.txt"
$VIGIE optimize "$T/a.vgm" -o "$T/r.vge" --int8 --calib-data "$T/sdata" --calib-images 6 --val-data "$T/sdata" >"$T/r.out" 2>&1 &&
  grep -q 'rehearsal set for vigie adapt: 18 training and 6 validation images' "$T/r.out" && ok || bad "optimize's rehearsal set: $(cat "$T/r.out")"
$VIGIE adapt "$T/r.vge" --feedback "$T/fb" -o "$T/r-a.vge" >"$T/ra.out" 2>"$T/ra.err" &&
  grep -q 'from the model file' "$T/ra.out" && $VIGIE info "$T/r-a.vge" | grep -q 'adapt_parent = r.vge' && ok ||
  bad "adapt the engine: $(cat "$T/ra.out" "$T/ra.err")"
# int8 only; the calibration table is reused on a second run, refused for another model
$VIGIE optimize "$T/a.vgm" -o "$T/q.vge" --int8 "${opt[@]}" --calib-table "$T/q.calib" >"$T/q1" 2>&1 && ok || bad "int8 optimize: $(cat "$T/q1")"
$VIGIE optimize "$T/a.vgm" -o "$T/q2.vge" --int8 --calib-table "$T/q.calib" >"$T/q2" 2>&1 && grep -q 'reused' "$T/q2" && cmp -s "$T/q.vge" "$T/q2.vge" && ok || bad "table reuse: $(cat "$T/q2")"
$VIGIE optimize "$T/a.vgm" -o "$T/q3.vge" --int8 --calib-table "$T/o.calib" >"$T/q3" 2>&1
[ $? = 1 ] && grep -q 'another model' "$T/q3" && [ ! -e "$T/q3.vge" ] && ok || bad "foreign table accepted: $(cat "$T/q3")"
# distillation from the float model is on by default: without it, fine-tuning ends elsewhere
$VIGIE optimize "$T/a.vgm" -o "$T/d0.vge" --prune-channels 0.5 --distill 0 "${opt[@]}" >"$T/d0" 2>&1 &&
  $VIGIE optimize "$T/a.vgm" -o "$T/d5.vge" --prune-channels 0.5 "${opt[@]}" >"$T/d5" 2>&1 && ok ||
  bad "optimize --distill: $(cat "$T/d0" "$T/d5")"
cmp -s "$T/d0.vge" "$T/d5.vge" && bad "--distill 0.5 and 0 gave the same engine" || ok
# a refit model (1c) is fine-tuned on train + val like it was trained, and keeps its threshold
ropt=(); for o in "${opt[@]}"; do [ "$o" = --quiet ] || ropt+=("$o"); done
$VIGIE optimize "$T/r.vgm" -o "$T/rp.vge" --prune-channels 0.5 "${ropt[@]}" >"$T/rp" 2>&1 && ok || bad "optimize a refit model: $(cat "$T/rp")"
grep -q 'r.vgm was refit on train + val: fine-tuning uses --finetune-list and --finetune-val-list together and keeps its alarm threshold' "$T/rp" &&
  grep -q 'data: 3 classes, 24 training images, 0 validation' "$T/rp" && ok || bad "refit fine-tuning data: $(cat "$T/rp")"
$VIGIE info "$T/rp.vge" --json >"$T/rp.json" 2>&1
[ "$(grep -o '"alarm_threshold":"[0-9.]*"' "$T/rp.json")" = "$thr" ] && ok || bad "refit fine-tuning threshold: $(cat "$T/rp.json" | head -c 600) vs $thr"
$VIGIE optimize "$T/a.vgm" -o "$T/x.vge" --prune 0.5 --distill 2 "${opt[@]}" >"$T/x" 2>&1; [ $? = 2 ] && ok || bad "--distill 2 accepted"
$VIGIE optimize "$T/a.vgm" -o "$T/x.vge" --clusters 1 >"$T/x" 2>&1; [ $? = 2 ] && ok || bad "--clusters 1 accepted"
$VIGIE optimize "$T/a.vgm" -o "$T/x.vge" --int8 >"$T/x" 2>&1; [ $? = 2 ] && grep -q 'calibration images' "$T/x" && ok || bad "--int8 without data: $(cat "$T/x")"

echo "train: $pass passed, $fail failed, 0 skipped"
[ $fail = 0 ]
