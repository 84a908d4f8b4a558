#!/usr/bin/env bash
# Survey-scale use of an image model: astromm embed throughput (images/s) on
# this CPU for the small config (64 px, configs/zoobot_small.cfg) and the
# published ConvNeXt-nano (224 px greyscale, configs/zoobot_convnext_nano.cfg),
# at 1 rank x 2 threads and 2 ranks x 1 thread, data loading and the parallel
# HDF5 write included. Weights: one training step (throughput does not depend
# on their values). Median of 3 runs, interleaved. Writes
# benchmarks/results/embed_images.md.
# Usage: benchmarks/embed_images.sh [N_SMALL=4000] [N_NANO=256] [RUN_DIR=runs/embed_images]
set -euo pipefail
cd "$(dirname "$0")/.."
n_small=${1:-4000} n_nano=${2:-256} run=${3:-runs/embed_images}
scripts/build.sh >/dev/null
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
AM=./build/astromm
mkdir -p "$run"
prep() {  # prep NAME CONFIG SIZE N
  local name=$1 cfg=$2 size=$3 n=$4
  [ -f "$run/$name.h5" ] || $AM synth --kind galaxies --n "$n" --seed 3 --image-size "$size" --channels 1 \
    --out "$run/$name.h5" >/dev/null
  [ -f "$run/$name/checkpoints/step_00000001/model.safetensors" ] || $AM train --config "$cfg" \
    --set "data.path=\"$run/$name.h5\"" --set "run.dir=\"$run/$name\"" --set train.max_steps=1 \
    --set train.batch_size=8 --set 'run.progress="off"' >/dev/null
}
prep small configs/zoobot_small.cfg 64 "$n_small"
prep nano configs/zoobot_convnext_nano.cfg 224 "$n_nano"
: >"$run/times.txt"
for rep in 1 2 3; do
  for name in small nano; do
    cfg=configs/zoobot_small.cfg; [ $name = nano ] && cfg=configs/zoobot_convnext_nano.cfg
    ck="$run/$name/checkpoints/step_00000001/model.safetensors"
    for np in 1 2; do
      t0=$(date +%s.%N)
      OMP_NUM_THREADS=$((2 / np)) mpirun --oversubscribe -np $np $AM embed --config "$cfg" --checkpoint "$ck" \
        --set "data.path=\"$run/$name.h5\"" --out "$run/emb_$name.h5" --batch 32 >/dev/null
      t1=$(date +%s.%N)
      echo "$name $np $(awk "BEGIN{print $t1 - $t0}")" >>"$run/times.txt"
    done
  done
done
/usr/bin/python3 - "$run" "$n_small" "$n_nano" <<'PY'
import sys, subprocess, statistics as st, datetime, os
run, ns, nn = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
t = {}
for line in open(f"{run}/times.txt"):
    name, np_, s = line.split(); t.setdefault((name, int(np_)), []).append(float(s))
n = {"small": ns, "nano": nn}
rows = ["| config | images | ranks x threads | wall s (median of 3; min-max) | images/s |", "|---|---|---|---|---|"]
for (name, np_), v in sorted(t.items()):
    m = st.median(v)
    rows.append(f"| {name} | {n[name]} | {np_} x {2 // np_} | {m:.2f} ({min(v):.2f}-{max(v):.2f}) | {n[name] / m:.1f} |")
load = os.getloadavg()
out = f"""# astromm embed on images: throughput on CPU

Machine: this 2-core CPU host (load average {load[0]:.2f} at the end). Commit {commit}, {datetime.date.today()}.
Command: `benchmarks/embed_images.sh {ns} {nn} {run}`.

Wall time of the whole command (start-up, reading and resizing the stored images, the encoder, the parallel
HDF5 write); `--batch 32` per rank. small = `configs/zoobot_small.cfg` (64 px, depths 1-1-2-1, widths
16-32-64-128, 128-d features); nano = `configs/zoobot_convnext_nano.cfg` (224 px greyscale ConvNeXt-nano,
640-d features). Synthetic galaxies stored at the model's size.

{chr(10).join(rows)}

At these rates a survey of 10^6 galaxies takes (10^6 / images/s) seconds per node of this size; `embed` splits
the rows over ranks (each writes its own block of the one file), so nodes add up.
"""
open("benchmarks/results/embed_images.md", "w").write(out)
print(out)
PY
