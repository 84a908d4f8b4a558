#!/usr/bin/env bash
# Faults end the job, never hang it: a killed rank and a stopped (hung) rank
# make every rank exit non-zero within 60 s; a NaN loss stops with a message
# naming the step and the modality (exit 4), keeping the last good checkpoint.
AM=$1
source "$(dirname "$0")/train_lib.sh"
# bg_train <dir> [args]: mpirun in the background; its pid in $pid (ranks are its children)
bg_train() {
  local d=$1; shift
  "$MPIRUN" --oversubscribe -np 2 "$AM" train "$T/small.cfg" --set "run.dir=\"$d\"" "$@" >"$d.log" 2>&1 &
  pid=$!
}
wait_steps() {
  for i in $(seq 1 300); do
    [ -f "$1/metrics.jsonl" ] && [ "$(grep -c '"kind":"step"' "$1/metrics.jsonl")" -ge "$2" ] && return 0
    sleep 0.1
  done
  return 1
}
# wait_exit <seconds>: waits for $pid at most that long; sets rc and took
wait_exit() {
  local t0=$SECONDS
  for i in $(seq 1 $(($1 * 10))); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
  if kill -0 $pid 2>/dev/null; then kill -KILL $pid; pkill -KILL -f "$T/small.cfg"; rc=999; else wait $pid; rc=$?; fi
  took=$((SECONDS - t0))
}

# 1. a rank is killed (OOM killer, node failure)
export ASTROMM_TEST_STEP_DELAY_MS=100
bg_train "$T/kill" --set train.max_steps=100000
wait_steps "$T/kill" 5
kill -KILL $(pgrep -P $pid | tail -1)
wait_exit 60
check "killed rank: job exits non-zero within 60 s (rc $rc after ${took}s)" test $rc -ne 0 -a $rc -ne 999

# 2. a rank hangs (SIGSTOP): the others' watchdog aborts the job
bg_train "$T/hang" --set train.max_steps=100000 --set run.hang_timeout=10.0
wait_steps "$T/hang" 5
kill -STOP $(pgrep -P $pid | tail -1)
wait_exit 60
check "hung rank: job exits non-zero within 60 s (rc $rc after ${took}s)" test $rc -ne 0 -a $rc -ne 999
check "hang message names the timeout" grep -q "no progress for .* run.hang_timeout" "$T/hang.log"
unset ASTROMM_TEST_STEP_DELAY_MS

# 3. NaN at step 9 (after a checkpoint at step 5): exit 4, message, checkpoint kept
ASTROMM_FAULT_NAN_STEP=9 train 2 "$T/nan" --set train.max_steps=30 --set checkpoint.every=5 >"$T/nan.log" 2>&1
rc=$?
check "NaN -> exit code 4 (got $rc)" test $rc -eq 4
check "NaN message names step and modality" grep -q "step 9 .*first non-finite: metadata embeddings" "$T/nan.log"
check "last good checkpoint (step 5) kept, nothing newer" test -f "$T/nan/checkpoints/step_00000005/state.bin" -a ! -e "$T/nan/checkpoints/step_00000010"
train 2 "$T/nan" --set train.max_steps=12 >"$T/nan2.log" 2>&1
check "the run resumes from the good checkpoint" grep -q "resumed from .*step 5" "$T/nan2.log"
finish train_faults
