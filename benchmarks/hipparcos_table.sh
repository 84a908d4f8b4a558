#!/usr/bin/env bash
# astromm against the classic random forest on the Hipparcos light curves of the
# Debosscher et al. (2007) variable stars (../shared/data/hipparcos: 472 curves, each
# matched to a Hipparcos/Tycho star with V, B-V, parallax and proper motion; issue 14),
# side by side on the same stratified 5-fold cross-validation. The two views:
#  - photometry: the Hipparcos epoch photometry (Hp), photo columns computed at ingest;
#  - metadata: the 18 computed lc_* features plus the star's catalogue columns
#    vmag, b_v, parallax_mas, pmra, pmdec (ingest --meta-csv), z-scored on the
#    training split.
# Classes: the classes of class_original with at least MIN_CLASS (13) stars, by short
# name; the other stars stay in every dataset unlabelled (CLIP pre-training uses them).
# astromm, each from a quickstart-size model, finetune.class_weights = balanced:
#  :meta  finetune --head metadata from scratch
#  :pm    finetune --head photometry+metadata from scratch
#  :clip  CLIP pre-training of photometry <-> metadata (train.modalities =
#         photometry+metadata) on the fold's training split, labelled and unlabelled,
#         then finetune --head photometry+metadata --init from it
#  :sub25 / :sub10  the AstroM3 label budgets of the training and validation folds
# The forest: benchmarks/baseline_rf.py cv (500 trees, balanced) on the same 23
# columns (astromm's computed features + the catalogue columns), trained on the four
# other folds; BUDGETS its label fractions per class.
# Prints one line per run and a table of mean ± std over folds × seeds; writes the
# table to $WORK/table.md. Usage:
#   benchmarks/hipparcos_table.sh [SEEDS=2] [WORK=runs/hipparcos_table] [BUILD=build]
# Env: VARIANTS ("meta pm clip"), EPOCHS (30), CLIP_EPOCHS (100), BUDGETS ("1.0"),
# MIN_CLASS (13). Runs already evaluated in WORK are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-2}; work=${2:-runs/hipparcos_table}; build=${3:-build}
epochs=${EPOCHS:-30}; variants=${VARIANTS:-meta pm clip}; budgets=${BUDGETS:-1.0}
data=../shared/data/hipparcos
[ -f "$data/matches.csv" ] || { echo "hipparcos_table.sh: $data not found" >&2; exit 1; }
cols=vmag,b_v,parallax_mas,pmra,pmdec
AM=$build/astromm; PY=/usr/bin/python3
mkdir -p "$work"
echo "hipparcos_table: $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD), $(getconf _NPROCESSORS_ONLN) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
# The Debosscher rows: id,class (short names; '' below MIN_CLASS) and id + the
# catalogue columns.
$PY - "$data/matches.csv" "$work/catalog.csv" "$work/stars.csv" "$cols" "${MIN_CLASS:-13}" <<'PY'
import collections, csv, sys
short = {"Delta Scuti": "DSCT", "Classical Cepheid": "DCEP", "Chemically Peculiar Stars": "CP",
         "Periodically variable supergiants": "PVSG", "Mira": "M", "Semiregular Pulsating Variable": "SR",
         "Beta Cephei": "BCEP", "Gamma Doradus": "GDOR", "Slowly Pulsating B-stars": "SPB",
         "Lambda Bootis Variable": "LBOO", "Ellipsoidal": "ELL", "Wolf-Rayet": "WR"}
cols, min_class = sys.argv[4].split(","), int(sys.argv[5])
rows = sorted((r for r in csv.DictReader(open(sys.argv[1])) if r["lc_source"] == "debosscher"), key=lambda r: int(r["id"]))
n = collections.Counter(r["class_original"] for r in rows)
with open(sys.argv[2], "w") as f:
    f.write("id,class\n")
    for r in rows:
        c = r["class_original"]
        f.write(f"{r['id']},{short.get(c, '') if n[c] >= min_class else ''}\n")
with open(sys.argv[3], "w") as f:
    f.write("id," + ",".join(cols) + "\n")
    for r in rows:
        f.write(r["id"] + "," + ",".join(r[c] for c in cols) + "\n")
PY
$PY benchmarks/baseline_rf.py folds --catalog "$work/catalog.csv" --out "$work/folds.csv"

for k in 0 1 2 3 4; do
  # Unlabelled stars are training objects (CLIP sees them; fine-tuning skips them).
  $PY benchmarks/baseline_rf.py manifest --folds "$work/folds.csv" --catalog "$work/catalog.csv" --fold "$k" \
    --lightcurve-prefix asas: --out "$work/m$k.csv"
  [ -f "$work/d_$k.h5" ] || "$AM" ingest --manifest "$work/m$k.csv" --asas-csv "$data/debosscher_lightcurves.csv.gz" \
    --classes manifest --meta-csv "$work/stars.csv" --meta-columns "$cols" --features-out "$work/lcf_$k.csv" \
    --out "$work/d_$k.h5" > "$work/ingest_$k.log" 2>&1 ||
    { echo "hipparcos_table.sh: ingest failed, see $work/ingest_$k.log" >&2; tail -5 "$work/ingest_$k.log" >&2; exit 1; }
  read -r meta_in n_classes < <($PY -c "
import h5py, sys; f = h5py.File(sys.argv[1], 'r'); print(f['metadata/raw'].shape[1], len(f.attrs['classes']))" "$work/d_$k.h5")
  model="model = { seq_len = 100; d_model = 32; n_heads = 2; d_ff = 64; n_layers = 2; meta_in = $meta_in; n_classes = $n_classes;
          spec_channels = [32, 32, 16, 16]; meta_hidden = 64; proj_dim = 64; };"
  for variant in $variants; do
    head=photometry+metadata; subset=full
    case "$variant" in meta*) head=metadata;; esac
    case "$variant" in *:sub25*) subset=sub25;; *:sub10*) subset=sub10;; esac
    tag=${variant//:/-}
    for s in $(seq "$seeds"); do
      run="$work/ft_${tag}_${k}_$s"
      if [ ! -f "$run/eval/metrics.json" ]; then
        rm -rf "$run"
        init=()
        case "$variant" in clip*)
          clip="$work/clip_${k}_$s"
          if [ ! -f "$clip/best/model.safetensors" ]; then
            rm -rf "$clip"
            cat > "$work/clip.cfg" <<CFG
$model
run = { seed = $s; dir = "$clip"; };
data = { path = "$work/d_$k.h5"; };
train = { batch_size = 64; epochs = ${CLIP_EPOCHS:-100}; lr = 1e-3; warmup_epochs = 2; early_stop_patience = 10;
          modalities = "photometry+metadata"; };
checkpoint = { keep_last = 1; };
CFG
            "$AM" train "$work/clip.cfg" > "$clip.log" 2>&1
          fi
          init=(--init "$clip/best/model.safetensors");;
        esac
        cat > "$work/ft.cfg" <<CFG
$model
run = { seed = $s; dir = "$run"; };
data = { path = "$work/d_$k.h5"; };
train = { batch_size = 32; epochs = $epochs; lr = 3e-3; warmup_epochs = 2; early_stop_patience = 8; };
finetune = { class_weights = "balanced"; };
checkpoint = { keep_last = 1; };
CFG
        "$AM" finetune "$work/ft.cfg" --head "$head" --subset "$subset" "${init[@]}" > "$run.log" 2>&1
        "$AM" eval --run "$run" --split test --out "$run/eval" > "$run.eval.log" 2>&1
      fi
      $PY -c "
import json; d = json.load(open('$run/eval/metrics.json'))
print(f'astromm $tag fold $k seed $s: n {d[\"n\"]} accuracy {100*d[\"accuracy\"]:.1f} balanced {100*d[\"balanced_accuracy\"]:.1f}')"
    done
  done
done

# The forest's table: astromm's computed features (the same for every fold: no
# statistics in them) joined with the catalogue columns.
$PY - "$work/lcf_0.csv" "$work/stars.csv" "$work/features.csv" <<'PY'
import csv, sys
lcf = {r["id"]: r for r in csv.DictReader(open(sys.argv[1]))}
rd = csv.DictReader(open(sys.argv[2]))
with open(sys.argv[3], "w") as f:
    w = None
    for r in rd:
        if r["id"] not in lcf:
            continue
        row = {**lcf[r["id"]], **r}
        if w is None:
            w = csv.DictWriter(f, fieldnames=list(row)); w.writeheader()
        w.writerow(row)
PY
for b in $budgets; do
  out="$work/rf.json"; [ "$b" = 1.0 ] || out="$work/rf_b$b.json"
  $PY benchmarks/baseline_rf.py cv --features "$work/features.csv" --folds "$work/folds.csv" --seeds "$seeds" \
    --budget "$b" --out "$out"
done

rows=()
for v in $variants; do
  case "$v" in meta*) name="astromm metadata head, from scratch";; clip*) name="astromm photometry+metadata head, CLIP pre-trained";;
    *) name="astromm photometry+metadata head, from scratch";; esac
  case "$v" in *:sub25*) name+=", sub25";; *:sub10*) name+=", sub10";; esac
  rows+=(--row "$name=$work/ft_${v//:/-}_[0-9]_*/eval/metrics.json")
done
for b in $budgets; do
  if [ "$b" = 1.0 ]; then rows+=(--row "random forest, the same 23 columns=$work/rf.json")
  else rows+=(--row "random forest, the same 23 columns, $b of the labels=$work/rf_b$b.json"); fi
done
$PY benchmarks/baseline_rf.py table "${rows[@]}" | tee "$work/table.md"
