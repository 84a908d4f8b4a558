#!/usr/bin/env bash
# astromm against the classic random forest on the LINEAR periodic variables
# (../shared/data/linear: features only, no light curves; issue 14), side by side on
# the same stratified 5-fold cross-validation:
#  - astromm: ingest with the catalogue's features as metadata columns (--meta-csv,
#    --meta-columns: colours ug gi iK JK, logP, amp, skew, kurt, magMed), then
#    `finetune --head metadata` from scratch (a quickstart-size metadata MLP,
#    finetune.class_weights = balanced, as the forest's class_weight), `eval` on the
#    test fold; fold k is the test set, fold k+1 the validation set, the rest train;
#  - the forest: benchmarks/baseline_rf.py cv on the same nine columns (500 trees,
#    balanced), trained on the four other folds.
# Prints one line per run and a table of mean ± std over folds × seeds; writes the
# table to $WORK/table.md. Usage:
#   benchmarks/linear_table.sh [SEEDS=2] [WORK=runs/linear_table] [BUILD=build]
# Env: EPOCHS (30); SUBSETS ("full sub25 sub10": the AstroM3 label budgets of the
# training and validation folds); BUDGETS ("1.0 0.25 0.1": the forest's label
# fractions per class). Runs already evaluated in WORK are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-2}; work=${2:-runs/linear_table}; build=${3:-build}
epochs=${EPOCHS:-30}; subsets=${SUBSETS:-full sub25 sub10}; budgets=${BUDGETS:-1.0 0.25 0.1}
data=../shared/data/linear/linear.csv
[ -f "$data" ] || { echo "linear_table.sh: $data not found" >&2; exit 1; }
cols=ug,gi,iK,JK,logP,amp,skew,kurt,magMed
AM=$build/astromm; PY=/usr/bin/python3
mkdir -p "$work"
echo "linear_table: $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD), $(getconf _NPROCESSORS_ONLN) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
# The catalogue as id,class (for the folds) and id + the nine features (for the forest).
$PY - "$data" "$work/catalog.csv" "$work/features.csv" "$cols" <<'PY'
import csv, sys
cols = sys.argv[4].split(",")
rows = list(csv.DictReader(open(sys.argv[1])))
with open(sys.argv[2], "w") as f:
    f.write("id,class\n")
    for r in rows:
        f.write(f"{r['LINEARobjectID']},{r['class']}\n")
with open(sys.argv[3], "w") as f:
    f.write("id," + ",".join(cols) + "\n")
    for r in rows:
        f.write(r["LINEARobjectID"] + "," + ",".join(r[c] for c in cols) + "\n")
PY
$PY benchmarks/baseline_rf.py folds --catalog "$work/catalog.csv" --out "$work/folds.csv"

for k in 0 1 2 3 4; do
  $PY benchmarks/baseline_rf.py manifest --folds "$work/folds.csv" --catalog "$work/catalog.csv" --fold "$k" \
    --out "$work/m$k.csv"
  [ -f "$work/d_$k.h5" ] || "$AM" ingest --manifest "$work/m$k.csv" --meta-csv "$data" --meta-id LINEARobjectID \
    --meta-columns "$cols" --out "$work/d_$k.h5" > "$work/ingest_$k.log" 2>&1
  for subset in $subsets; do
    for s in $(seq "$seeds"); do
      run="$work/ft_${subset}_${k}_$s"
      if [ ! -f "$run/eval/metrics.json" ]; then
        rm -rf "$run"
        cat > "$work/ft.cfg" <<CFG
model = { seq_len = 100; d_model = 32; n_heads = 2; d_ff = 64; n_layers = 2; meta_in = 9;
          spec_channels = [32, 32, 16, 16]; meta_hidden = 64; proj_dim = 64; };
run = { seed = $s; dir = "$run"; };
data = { path = "$work/d_$k.h5"; };
train = { batch_size = 32; epochs = $epochs; lr = 3e-3; warmup_epochs = 2; early_stop_patience = 8; };
finetune = { class_weights = "balanced"; };
checkpoint = { keep_last = 1; };
CFG
        "$AM" finetune "$work/ft.cfg" --head metadata --subset "$subset" > "$run.log" 2>&1
        "$AM" eval --run "$run" --split test --out "$run/eval" > "$run.eval.log" 2>&1
      fi
      $PY -c "
import json; d = json.load(open('$run/eval/metrics.json'))
print(f'astromm metadata {\"$subset\"} fold $k seed $s: n {d[\"n\"]} accuracy {100*d[\"accuracy\"]:.1f} balanced {100*d[\"balanced_accuracy\"]:.1f}')"
    done
  done
done

for b in $budgets; do
  out="$work/rf.json"; [ "$b" = 1.0 ] || out="$work/rf_b$b.json"
  $PY benchmarks/baseline_rf.py cv --features "$work/features.csv" --folds "$work/folds.csv" --seeds "$seeds" \
    --budget "$b" --out "$out"
done

rows=()
for subset in $subsets; do rows+=(--row "astromm metadata head, from scratch, $subset=$work/ft_${subset}_[0-9]_*/eval/metrics.json"); done
for b in $budgets; do
  if [ "$b" = 1.0 ]; then rows+=(--row "random forest, the same nine features=$work/rf.json")
  else rows+=(--row "random forest, the same nine features, $b of the labels=$work/rf_b$b.json"); fi
done
$PY benchmarks/baseline_rf.py table --order RRAB,EW,RRC,EA,DSCT "${rows[@]}" | tee "$work/table.md"
