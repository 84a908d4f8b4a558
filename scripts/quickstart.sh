#!/usr/bin/env bash
# First run on a fresh machine: installs what is missing, builds, then does real
# AstroM3 CLIP pre-training on 2 MPI ranks (about a minute on 2 CPU cores):
#   1. scripts/deps.sh, scripts/build.sh;
#   2. a synthetic dataset of 3000 objects, runs/quickstart-data.h5 (made once,
#      kept; delete it to make a new one);
#   3. mpirun -np 2 astromm train configs/quickstart.cfg (a narrow AstroM3,
#      12 epochs, global batch 64) into runs/quickstart/;
#   4. prints the best validation CLIP accuracy from runs/quickstart/metrics.jsonl.
#
# Usage: scripts/quickstart.sh [astromm train options...]
#   e.g. scripts/quickstart.sh --set train.epochs=20
# Every run starts afresh (runs/quickstart/ is removed first) so that what you
# see is a whole training run. Pass --resume to keep runs/quickstart/ and
# continue from its newest checkpoint instead (after an interrupted run, or with
# --set train.epochs=N to train longer): astromm train then refuses to start
# when there is nothing to resume. Without this script, `astromm train` resumes
# a run directory that holds a checkpoint automatically.
# Training guide: docs/training.md; configuration keys: docs/configuration.md.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh

DATA=runs/quickstart-data.h5
RUN=runs/quickstart

if [ ! -f "$DATA" ]; then
  mkdir -p runs
  ./build/astromm synth --n 3000 --out "$DATA"
fi

resume=0
for a in "$@"; do [ "$a" = "--resume" ] && resume=1; done
if [ "$resume" -eq 0 ] && [ -e "$RUN" ]; then
  echo "quickstart: removing the previous $RUN (pass --resume to continue it instead)"
  rm -rf "$RUN"
fi

# mpirun refuses root without these; containers often run as root.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMP_NUM_THREADS=1
rc=0
mpirun --oversubscribe -np 2 ./build/astromm train configs/quickstart.cfg "$@" || rc=$?

if [ -f "$RUN/metrics.jsonl" ]; then
  python3 - "$RUN" <<'EOF'
import json, re, sys
run = sys.argv[1]
epochs = []
for line in open(f"{run}/metrics.jsonl"):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if r.get("kind") == "epoch":
        epochs.append(r)
batch = 64
try:
    m = re.search(r"batch_size\s*=\s*(\d+)", open(f"{run}/config.cfg").read())
    batch = int(m.group(1)) if m else batch
except OSError:
    pass
if epochs:
    last = epochs[-1]
    best = max(epochs, key=lambda r: r["val_clip_acc"] or 0)
    print(f"quickstart: final val CLIP accuracy {last['val_clip_acc']:.3f} after epoch {last['epoch']}")
    print(f"quickstart: best val CLIP accuracy {best['val_clip_acc']:.2f} at epoch {best['epoch']} "
          f"(chance 1/{batch} = {1 / batch:.3f}); weights: {run}/best/model.safetensors")
else:
    print("quickstart: no epoch finished yet (see", f"{run}/train.log)")
EOF
fi
case $rc in
  0) ;;
  3) echo "quickstart: preempted; continue with: scripts/quickstart.sh --resume" >&2 ;;
  *) echo "quickstart: astromm train exited with $rc (docs/training.md, exit codes)" >&2 ;;
esac
exit "$rc"
