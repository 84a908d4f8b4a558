#!/usr/bin/env bash
# How well does a Zoobot model learn the votes? Synthetic galaxies with votes
# (astromm synth --kind galaxies), the small ConvNeXt (configs/zoobot_small.cfg)
# trained on them, then astromm eval on the test split: per question the
# vote-fraction MAE of the model, of the training-mean baseline, both against
# the true probabilities, and the noise floor of the votes themselves.
# Writes benchmarks/results/zoobot_votes.md.
# Usage: benchmarks/zoobot_votes.sh [N_GALAXIES=20000] [EPOCHS=30] [RUN_DIR=runs/zoobot_votes] [NP=1]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20000} epochs=${2:-30} run=${3:-runs/zoobot_votes} np=${4:-1}
scripts/build.sh >/dev/null
mkdir -p "$run"
data="$run/galaxies.h5"
[ -f "$data" ] || ./build/astromm synth --kind galaxies --n "$n" --seed 7 --image-size 64 --channels 1 --out "$data"
rm -rf "$run/train"
t0=$(date +%s)
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -np "$np" ./build/astromm train \
  --config configs/zoobot_small.cfg --set "data.path=\"$data\"" --set "run.dir=\"$run/train\"" \
  --set train.epochs="$epochs" --set train.early_stop_patience=0 --set 'run.progress="off"' > "$run/train.log"
t1=$(date +%s)
./build/astromm eval --run "$run/train" --split test --out "$run/eval" > "$run/eval.txt"
cat "$run/eval.txt"
/usr/bin/python3 - "$run" "$n" "$epochs" "$np" "$((t1 - t0))" <<'PY'
import json, subprocess, sys, datetime, os
run, n, epochs, np_, secs = sys.argv[1:]
m = json.load(open(f"{run}/eval/metrics.json"))
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
rows = ["| question | objects | model | training-mean baseline | model vs truth | baseline vs truth | noise floor (votes vs truth) |",
        "|---|---|---|---|---|---|---|"]
for q, v in m["questions"].items():
    rows.append(f"| {q} | {v['objects']} | {v['mae_model']:.4f} | {v['mae_baseline']:.4f} | {v['mae_model_vs_truth']:.4f} | "
                f"{v['mae_baseline_vs_truth']:.4f} | {v['mae_noise_floor']:.4f} |")
steps = [json.loads(l) for l in open(f"{run}/train/metrics.jsonl")]
steps = [x for x in steps if x.get("kind") == "step"]
t_data = sum(x["t_data"] for x in steps)
t_step = sum(x["t_compute"] + x["t_comm"] for x in steps)
wait = t_data / (t_data + t_step)
mm = m["mean"]
rows.append(f"| **mean** | | **{mm['mae_model']:.4f}** | {mm['mae_baseline']:.4f} | **{mm['mae_model_vs_truth']:.4f}** | "
            f"{mm['mae_baseline_vs_truth']:.4f} | {mm['mae_noise_floor']:.4f} |")
text = f"""# Zoobot on synthetic galaxies: vote-fraction errors

{n} synthetic galaxies with GZ DECaLS votes (`astromm synth --kind galaxies --seed 7`, 64 px, greyscale;
first-question totals from the real `votes.csv`), the small ConvNeXt (`configs/zoobot_small.cfg`,
AdamW 1e-3, Zoobot's augmentations) trained {epochs} epochs on the train split ({np_} rank(s),
{secs} s wall on this machine), evaluated on the test split ({m['objects']} galaxies) with
`astromm eval`. Mean absolute error of the vote fractions per question, averaged over its answers
and over the galaxies asked it. Majority-answer accuracy (questions with >= 10 votes):
**{m['majority_accuracy']:.4f}**.

{chr(10).join(rows)}

- *model*: predicted alpha/alpha_0 against the measured fractions k/N; *baseline*: the training
  split's mean fractions against the same; *vs truth*: against the generator's true probabilities;
  *noise floor*: the measured fractions against the truth, what finite, Dirichlet-spread votes allow.
- Data wait (loader, augmentations on its I/O thread): {100 * wait:.1f} % of the step time over {len(steps)} steps
  (`t_data` / (`t_data` + `t_compute` + `t_comm`) in metrics.jsonl).
- Commit {commit}, date {datetime.date.today()}. Command: `benchmarks/zoobot_votes.sh {n} {epochs} {run} {np_}`
"""
open("benchmarks/results/zoobot_votes.md", "w").write(text)
print(text)
PY
