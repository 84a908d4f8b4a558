#!/usr/bin/env bash
# The ring experiment (Walmsley et al. 2022, few-label fine-tuning) and the same
# for GZ1 classes, end to end on astromm:
#   starting points: from scratch; pre-trained on synthetic galaxies with votes
#   (Dirichlet); pre-trained on the real gz1_pool images (hard labels as a
#   one-question schema);
#   targets: DECaLS rings (ring / not ring, 330) and GZ1 dev (6 classes, 356);
#   labels per class: 10, 30, all; frozen encoder (linear probe) and fine-tuned
#   (every block, lr * 0.75^i from the top);
#   5-fold stratified cross-validation (data.cv_seed 2026), folds 0, 1, 2 as
#   the three repeats: test accuracy mean +- sd.
# All at 64 px greyscale with configs/zoobot_small.cfg. Writes
# benchmarks/results/galaxy_table.md and the galaxy section of docs/results.md.
# Usage: benchmarks/galaxy_table.sh [RUN_DIR=runs/galaxy_table] [N_SYNTH=10000] [PRE_EPOCHS=15] [FT_EPOCHS=30]
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:-runs/galaxy_table} n_synth=${2:-10000} pre_epochs=${3:-15} ft_epochs=${4:-30}
G=../shared/data/galaxies
scripts/build.sh >/dev/null
AM=./build/astromm CFG=configs/zoobot_small.cfg
mkdir -p "$run"
quiet() { "$@" >>"$run/log.txt" 2>&1; }
t0=$(date +%s)
# ---- data
[ -f "$run/synth.h5" ] || quiet $AM synth --kind galaxies --n "$n_synth" --seed 7 --image-size 64 --channels 1 --out "$run/synth.h5"
[ -f "$run/gz1_pool.h5" ] || quiet $AM ingest --images $G/gz1_pool/catalog.csv --class-column class_name --image-size 64 --channels 1 --out "$run/gz1_pool.h5"
[ -f "$run/rings.h5" ] || quiet $AM ingest --images $G/rings/catalog.csv --label-column ring --image-size 64 --channels 1 --out "$run/rings.h5"
[ -f "$run/gz1.h5" ] || quiet $AM ingest --images $G/gz1/catalog.csv --class-column class_name --image-size 64 --channels 1 --out "$run/gz1.h5"
# ---- pre-training
for pre in synth gz1_pool; do
  [ -f "$run/pre_$pre/best/model.safetensors" ] || quiet $AM train --config $CFG --set "data.path=\"$run/$pre.h5\"" \
    --set "run.dir=\"$run/pre_$pre\"" --set train.epochs="$pre_epochs" --set 'run.progress="off"'
done
t1=$(date +%s)
# ---- fine-tuning grid
: >"$run/results.txt"
for target in rings gz1; do
  for start in scratch synth gz1_pool; do
    init=(); [ $start != scratch ] && init=(--init "$run/pre_$start/best/model.safetensors")
    for labels in 10 30 all; do
      lpc=(); [ $labels != all ] && lpc=(--labels-per-class "$labels")
      for mode in frozen finetuned; do
        unfreeze=0; [ $mode = finetuned ] && unfreeze=5
        for fold in 0 1 2; do
          d="$run/ft/${target}_${start}_${labels}_${mode}_$fold"
          if [ ! -f "$d/eval_test/metrics.json" ]; then
            rm -rf "$d"
            quiet $AM finetune $CFG --set "data.path=\"$run/$target.h5\"" --set "run.dir=\"$d\"" "${init[@]}" "${lpc[@]}" \
              --set data.cv_folds=5 --set data.cv_fold=$fold --set data.cv_seed=2026 --set run.seed=$((fold + 1)) \
              --set finetune.unfreeze_blocks=$unfreeze --set train.epochs="$ft_epochs" --set train.batch_size=16 \
              --set train.optimizer='"adamw"' --set train.lr=1e-3 --set train.weight_decay=0.05 \
              --set train.early_stop_patience=0 --set train.warmup_epochs=0 --set 'run.progress="off"'
            quiet $AM eval --run "$d" --split test
          fi
          echo "$target $start $labels $mode $fold $d/eval_test/metrics.json" >>"$run/results.txt"
        done
      done
    done
  done
done
t2=$(date +%s)
/usr/bin/python3 - "$run" "$((t1 - t0))" "$((t2 - t1))" "$n_synth" "$pre_epochs" "$ft_epochs" <<'PY'
import json, sys, subprocess, datetime, statistics as st, re
run, t_pre, t_ft, n_synth, pre_ep, ft_ep = sys.argv[1:]
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
acc = {}
for line in open(f"{run}/results.txt"):
    target, start, labels, mode, fold, path = line.split()
    acc.setdefault((target, labels, start, mode), []).append(json.load(open(path))["accuracy"])
def cell(v):
    return f"{st.mean(v):.3f} ± {st.stdev(v):.3f}" if len(v) > 1 else f"{v[0]:.3f}"
starts = [("scratch", "from scratch"), ("synth", "synthetic votes"), ("gz1_pool", "gz1_pool (real SDSS)")]
def table(target):
    rows = ["| labels per class | " + " | ".join(f"{n}, frozen | {n}, fine-tuned" for _, n in starts) + " |",
            "|---|" + "---|" * (2 * len(starts))]
    for labels in ("10", "30", "all"):
        cells = []
        for s, _ in starts:
            for mode in ("frozen", "finetuned"):
                cells.append(cell(acc[(target, labels, s, mode)]))
        rows.append(f"| {labels} | " + " | ".join(cells) + " |")
    return "\n".join(rows)
body = f"""## Galaxies: few-label fine-tuning (`benchmarks/galaxy_table.sh`)

Machine: this 2-core CPU host. Commit {commit}, {datetime.date.today()}. Command:
`benchmarks/galaxy_table.sh {run} {n_synth} {pre_ep} {ft_ep}` (pre-training {t_pre} s, fine-tuning grid {t_ft} s).

Test accuracy, mean ± sd over folds 0, 1, 2 of a 5-fold stratified cross-validation (`data.cv_folds = 5`,
`data.cv_seed = 2026`; per fold: 3/5 train, 1/5 validation for the best epoch, 1/5 test). The model is
`configs/zoobot_small.cfg` at 64 px greyscale (depths 1-1-2-1, widths 16-32-64-128). Pre-training: {n_synth}
synthetic galaxies with GZ DECaLS votes (Dirichlet loss), or the 5,853 real SDSS `gz1_pool` images with hard
labels (4 classes as a one-question schema), {pre_ep} epochs each. Fine-tuning: Zoobot's linear head (dropout
0.5), AdamW lr 1e-3, weight decay 0.05, batch 16, {ft_ep} epochs, the best validation epoch kept; frozen = the
encoder fixed (a linear probe); fine-tuned = every block trained, block i from the top at lr · 0.75^i. "all" is
every training label of the fold (rings: 99 per class; GZ1: about 36 per class, so 30 is nearly all).

DECaLS rings (ring / not ring; balanced, so chance is 0.5):

{table("rings")}

GZ1 dev (6 classes: elliptical, clockwise / anticlockwise spiral, edge-on, merger, "don't know"; chance ≈ 0.17):

{table("gz1")}

The paper's reference (Walmsley et al. 2022, read off their figure): with 33 unique rings, ≈ 0.79 for the
Zoobot encoder (frozen) against ≈ 0.50 from scratch; with 197 rings ≈ 0.855 against ≈ 0.52. What differs here,
honestly: our pre-training sets are tiny (10k synthetic or 5.9k real images, against Zoobot's 820k GZ Evo
galaxies and 100M+ votes); the real pre-training images are SDSS while the ring images are DECaLS (another
survey, depth and colour), and the synthetic ones are not real galaxies at all; the images are 64 px, not 224 or
300; the encoder is a 0.27M-parameter ConvNeXt, not ConvNeXt-nano (15.6M) or EfficientNet-B0; and the paper's
"from scratch" trains a full network for many more steps.
"""
open("benchmarks/results/galaxy_table.md", "w").write("# " + body[3:])
res = open("docs/results.md").read()
begin, end = "<!-- galaxy_table begin -->", "<!-- galaxy_table end -->"
block = f"{begin}\n{body}\n{end}"
if begin in res:
    res = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda m: block, res, flags=re.S)
else:
    res = res.rstrip("\n") + "\n\n" + block + "\n"
open("docs/results.md", "w").write(res)
print(body)
PY
