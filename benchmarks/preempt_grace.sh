#!/usr/bin/env bash
# Grace time a preemption needs: from SIGTERM to a complete checkpoint, at the
# published size (configs/astrom3_clip.cfg) on 2 CPU ranks under mpirun, the
# signal sent to mpirun (its worst case: SIGKILL 2 s later). Prints, per
# repetition, the checkpoint write time astromm logs, the checkpoint's size and
# the median step time. docs/training.md ("Preemption") quotes the result.
# Usage: benchmarks/preempt_grace.sh [ASTROMM_BINARY] [REPETITIONS]
set -u
AM=$(readlink -f "${1:-build/astromm}")
REPS=${2:-3}
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
T=$(mktemp -d /tmp/astromm_grace.XXXXXX); trap 'rm -rf "$T"' EXIT
source slurm/preemptible_wait.sh; unset OMPI_MCA_odls_base_sigkill_timeout
"$AM" synth --n 900 --seed 9 --out "$T/pub.h5" >/dev/null || exit 1
echo "machine: $(nproc --all) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(df -h "$T" | awk 'NR==2 {print $1}')"
for r in $(seq 1 "$REPS"); do
  d=$T/run$r
  mpirun -np 2 "$AM" train configs/astrom3_clip.cfg --set "run.dir=\"$d\"" --set "data.path=\"$T/pub.h5\"" \
    --set train.batch_size=64 --set train.max_steps=50 >"$d.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 3000); do
    [ -f "$d/metrics.jsonl" ] && [ "$(grep -c '"kind": *"step"' "$d/metrics.jsonl")" -ge 3 ] && break; sleep 0.1
  done
  kill -TERM $pid; wait $pid; rc=$?
  astromm_wait_checkpoint_writer "$d" >/dev/null
  w=$(grep -o 'written in [0-9.]* s' "$d/train.log" | head -1)
  s=$(sed -n 's/^step //p' "$d/preempted" 2>/dev/null)
  bytes=$(du -cb "$d/checkpoints/step_$(printf %08d "${s:-0}")"/* 2>/dev/null | tail -1 | cut -f1)
  med=$(grep -o '"t_compute":[0-9.]*' "$d/metrics.jsonl" | cut -d: -f2 | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "rep $r: mpirun rc $rc, checkpoint step ${s:-NONE} ${w:-NOT WRITTEN}, $((${bytes:-0} / 1000000)) MB, median step compute ${med} s"
done
