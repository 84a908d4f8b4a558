#!/usr/bin/env bash
# Exact resume: a run stopped (train.max_steps, SIGTERM mid-epoch) and resumed
# ends bit-identical to an uninterrupted one (model and trainer state); a
# corrupt newest checkpoint falls back to the previous one; --resume without a
# checkpoint and a changed configuration are refused.
AM=$1
source "$(dirname "$0")/train_lib.sh"
N=40        # steps: 33 per epoch at 800 objects (~640 train) / 24, so this crosses an epoch end
final=checkpoints/step_000000$N
train 2 "$T/full" --set train.max_steps=$N >"$T/full.log" 2>&1
check "uninterrupted run exits 0" test $? -eq 0
same() {  # same <run dir>: final model and state identical to the uninterrupted run
  cmp -s "$T/full/$final/model.safetensors" "$1/$final/model.safetensors" &&
    cmp -s "$T/full/$final/state.bin" "$1/$final/state.bin"
}

# 1. stop at step 7 (mid-epoch), resume to N
train 2 "$T/stop" --set train.max_steps=7 >"$T/stop1.log" 2>&1
check "max_steps=7 run exits 0" test $? -eq 0
train 2 "$T/stop" --set train.max_steps=$N --resume >"$T/stop2.log" 2>&1
check "resumed run exits 0" test $? -eq 0
check "resume message names step 7" grep -q "resumed from .*step 7" "$T/stop2.log"
check "stopped + resumed == uninterrupted (bitwise)" same "$T/stop"

# 2. preemption at an arbitrary step: exit 3 after a checkpoint, then resume.
#    SIGTERM straight to the ranks (what srun and Slurm's preemption do), and
#    SIGUSR1 to mpirun (which forwards it; our SLURM scripts use --signal=USR1).
wait_steps() {  # wait_steps <run dir> <k>: until k step lines are in metrics.jsonl
  for i in $(seq 1 300); do
    [ -f "$1/metrics.jsonl" ] && [ "$(grep -c '"kind": *"step"' "$1/metrics.jsonl")" -ge "$2" ] && return 0
    sleep 0.1
  done
  return 1
}
for how in ranks-TERM mpirun-USR1; do
  d="$T/pre-$how"
  # mpirun itself in the background ($! must be its pid, not a subshell's)
  ASTROMM_TEST_STEP_DELAY_MS=100 "$MPIRUN" --oversubscribe -np 2 "$AM" train "$T/small.cfg" --set "run.dir=\"$d\"" \
      --set train.max_steps=$N --set checkpoint.every=5 >"$d.log1" 2>&1 &
  pid=$!
  wait_steps "$d" 9
  if [ $how = ranks-TERM ]; then kill -TERM $(pgrep -P $pid); else kill -USR1 $pid; fi
  wait $pid; rc=$?
  check "$how -> exit code 3 (got $rc)" test $rc -eq 3
  check "$how: preemption message" grep -q "signal received: checkpoint at step" "$d.log1"
  train 2 "$d" --set train.max_steps=$N >"$d.log2" 2>&1
  check "$how: auto-resume exits 0" test $? -eq 0
  check "$how: preempted + resumed == uninterrupted (bitwise)" same "$d"
done

# 3. corrupt newest checkpoint: the previous one is used, result still identical
train 2 "$T/corrupt" --set train.max_steps=12 --set checkpoint.every=5 >"$T/c1.log" 2>&1
check "run to step 12 exits 0" test $? -eq 0
printf 'garbage' | dd of="$T/corrupt/checkpoints/step_00000012/state.bin" bs=1 seek=100 conv=notrunc 2>/dev/null
train 2 "$T/corrupt" --set train.max_steps=$N >"$T/c2.log" 2>&1
check "resume past a corrupt checkpoint exits 0" test $? -eq 0
check "warning names the corrupt checkpoint" grep -q "step_00000012" "$T/c2.log"
check "resumed from step 10" grep -q "resumed from .*step 10" "$T/c2.log"
check "corrupt-fallback + resumed == uninterrupted (bitwise)" same "$T/corrupt"

# 4. refusals
train 1 "$T/none" --set train.max_steps=2 --resume >"$T/none.log" 2>&1
check "--resume without checkpoint -> exit 2" test $? -eq 2
train 2 "$T/stop" --set train.max_steps=$N --set train.lr=1e-3 >"$T/changed.log" 2>&1
check "changed configuration -> exit 2" test $? -eq 2
check "changed configuration is explained" grep -q "different configuration" "$T/changed.log"
finish train_resume
