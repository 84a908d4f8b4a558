#!/usr/bin/env bash
# astromm against the classic random-forest pipeline on the real dev ASAS light curves
# (issue 14), side by side on the same stratified 5-fold cross-validation:
#  - astromm: ingest (photo columns and the lc_* metadata columns computed from the
#    curves: --features auto, or --features off for the ablation), `finetune` from scratch
#    (a quickstart-size model), `eval` on the test fold; fold k is the test set,
#    fold k+1 the validation set (best checkpoint), the other three train;
#  - the forest: benchmarks/baseline_rf.py (astropy periods, numpy features, 500
#    trees, balanced), trained on the four other folds.
# Prints one line per run and a table of mean ± std over folds × seeds; writes the
# table to $WORK/table.md. Usage:
#   benchmarks/real_table.sh [SEEDS=3] [WORK=runs/real_table] [BUILD=build]
# Env: EPOCHS (30); VARIANTS ("auto off"): each is --features auto|off, optionally
# with ":phase" (model.photo_in = 11, the phase channels), ":meta" (--head metadata:
# the computed lc_* columns) or ":pm" (--head photometry+metadata), ":clip" (CLIP
# pre-training of photometry <-> lc_* metadata on the fold's training split, labelled
# and unlabelled curves, train.modalities = photometry+metadata, CLIP_EPOCHS (100);
# then finetune --init from it), and ":sub50|sub25|sub10"
# (finetune --subset: the AstroM3 label budgets of the training and validation
# folds); CROPS ("1 5"): every fine-tuned model is evaluated with eval --crops K
# for each K; BUDGETS ("1.0"): the forest's label fractions per class (0.5, 0.25,
# 0.1 match sub50/25/10); RF=0 skips the forest.
# Runs already evaluated in WORK are kept (delete WORK to start over).
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-3}; work=${2:-runs/real_table}; build=${3:-build}
epochs=${EPOCHS:-30}; variants=${VARIANTS:-auto off}; crops_list=${CROPS:-1 5}
data=../shared/data/asas
[ -f "$data/lightcurves.csv.gz" ] || { echo "real_table.sh: $data not found" >&2; exit 1; }
AM=$build/astromm; PY=/usr/bin/python3
mkdir -p "$work"
echo "real_table: $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD), $(getconf _NPROCESSORS_ONLN) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
$PY benchmarks/baseline_rf.py folds --catalog "$data/catalog.csv" --out "$work/folds.csv"

for variant in $variants; do
  mode=${variant%%:*}; photo_in=9; subset=full; head=photometry
  case "$variant" in *:phase*) photo_in=11;; esac
  case "$variant" in *:meta*) head=metadata;; *:pm*) head=photometry+metadata;; esac
  case "$variant" in *:sub50*) subset=sub50;; *:sub25*) subset=sub25;; *:sub10*) subset=sub10;; esac
  tag=${variant//:/-}
  for k in 0 1 2 3 4; do
    $PY benchmarks/baseline_rf.py manifest --folds "$work/folds.csv" --catalog "$data/catalog.csv" --fold "$k" \
      --lightcurve-prefix asas: --out "$work/m$k.csv"
    [ -f "$work/d_${mode}_$k.h5" ] || "$AM" ingest --manifest "$work/m$k.csv" --asas-csv "$data/lightcurves.csv.gz" \
      --features "$mode" --out "$work/d_${mode}_$k.h5" > "$work/ingest_${mode}_$k.log" 2>&1
    meta_in=$($PY -c "import h5py, sys; print(h5py.File(sys.argv[1], 'r')['metadata/raw'].shape[1])" "$work/d_${mode}_$k.h5")
    for s in $(seq "$seeds"); do
      run="$work/ft_${tag}_${k}_$s"
      if [ ! -f "$run/eval/metrics.json" ]; then
      rm -rf "$run"
      init=()
      case "$variant" in *:clip*)
        clip="$work/clip_${mode}_p${photo_in}_${k}_$s"
        if [ ! -f "$clip/best/model.safetensors" ]; then
          rm -rf "$clip"
          cat > "$work/clip.cfg" <<CFG
model = { seq_len = 100; d_model = 32; n_heads = 2; d_ff = 64; n_layers = 2; photo_in = $photo_in; meta_in = $meta_in;
          spec_channels = [32, 32, 16, 16]; meta_hidden = 64; proj_dim = 64; };
run = { seed = $s; dir = "$clip"; };
data = { path = "$work/d_${mode}_$k.h5"; };
train = { batch_size = 64; epochs = ${CLIP_EPOCHS:-100}; lr = 1e-3; warmup_epochs = 2; early_stop_patience = 10;
          modalities = "photometry+metadata"; };
checkpoint = { keep_last = 1; };
CFG
          "$AM" train "$work/clip.cfg" > "$clip.log" 2>&1
        fi
        init=(--init "$clip/best/model.safetensors");;
      esac
      cat > "$work/ft.cfg" <<CFG
model = { seq_len = 100; d_model = 32; n_heads = 2; d_ff = 64; n_layers = 2; photo_in = $photo_in; meta_in = $meta_in;
          spec_channels = [32, 32, 16, 16]; meta_hidden = 64; proj_dim = 64; };
run = { seed = $s; dir = "$run"; };
data = { path = "$work/d_${mode}_$k.h5"; };
train = { batch_size = 32; epochs = $epochs; lr = 3e-3; warmup_epochs = 2; early_stop_patience = 8; };
checkpoint = { keep_last = 1; };
CFG
      "$AM" finetune "$work/ft.cfg" --head "$head" --subset "$subset" "${init[@]}" > "$run.log" 2>&1
      "$AM" eval --run "$run" --split test --out "$run/eval" > "$run.eval.log" 2>&1
      fi
      for K in $crops_list; do
        ev="$run/eval"; [ "$K" = 1 ] || ev="$run/eval_c$K"
        [ -f "$ev/metrics.json" ] || "$AM" eval --run "$run" --split test --crops "$K" --out "$ev" > "$ev.log" 2>&1
        $PY -c "
import json; d = json.load(open('$ev/metrics.json'))
print(f'astromm $tag crops $K fold $k seed $s: n {d[\"n\"]} accuracy {100*d[\"accuracy\"]:.1f} balanced {100*d[\"balanced_accuracy\"]:.1f}')"
      done
    done
  done
done

if [ "${RF:-1}" != 0 ]; then
  [ -f "$work/rf_features.csv" ] || $PY benchmarks/baseline_rf.py features --lightcurves "$data/lightcurves.csv.gz" \
    --ids "$work/folds.csv" --out "$work/rf_features.csv"
  for b in ${BUDGETS:-1.0}; do
    out="$work/rf.json"; [ "$b" = 1.0 ] || out="$work/rf_b$b.json"
    $PY benchmarks/baseline_rf.py cv --features "$work/rf_features.csv" --folds "$work/folds.csv" --seeds "$seeds" \
      --budget "$b" --out "$out"
  done
fi

rows=()
for variant in $variants; do
  name="astromm photometry head"
  case "$variant" in *:meta*) name="astromm metadata head";; *:pm*) name="astromm photometry+metadata head";; esac
  case "$variant" in *:clip*) name+=", CLIP pre-trained";; *) name+=", from scratch";; esac
  case "$variant" in off*) name+=", photo columns absent";; *) name+=", photo columns computed";; esac
  case "$variant" in *:phase*) name+=", phase channels";; esac
  case "$variant" in *:sub50*) name+=", sub50";; *:sub25*) name+=", sub25";; *:sub10*) name+=", sub10";; esac
  for K in $crops_list; do
    ev=eval; [ "$K" = 1 ] || ev=eval_c$K
    rows+=(--row "$name, $K window$([ "$K" = 1 ] || echo s)=$work/ft_${variant//:/-}_[0-9]_*/$ev/metrics.json")
  done
done
for b in ${BUDGETS:-1.0}; do
  if [ "$b" = 1.0 ]; then rows+=(--row "random forest, classic features (benchmarks/baseline_rf.py)=$work/rf.json")
  else rows+=(--row "random forest, classic features (benchmarks/baseline_rf.py), $b of the labels=$work/rf_b$b.json"); fi
done
$PY benchmarks/baseline_rf.py table --order EW,EA,RRAB,RRC,M,DSCT "${rows[@]}" | tee "$work/table.md"
