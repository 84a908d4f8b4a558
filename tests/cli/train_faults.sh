#!/usr/bin/env bash
# Faults end the job, never hang it: a killed rank and a stopped (hung) rank
# make every rank exit non-zero within 60 s; a NaN loss stops with a message
# naming the step and the modality (exit 4), keeping the last good checkpoint
# (named in the message); a resume after it records each step once in
# metrics.jsonl; a second job on a run directory in use is refused (run lock).
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
check "train.log records the watchdog abort" grep -q "hang watchdog: rank [0-9] made no progress" "$T/hang/train.log"
# train.log may only claim a checkpoint that exists complete (the abort's SIGTERM can
# start a preemption checkpoint of the last completed step: then it must verify).
claimed_ckpts_complete() {
  local s
  for s in $(sed -n 's/.*checkpoint at step \([0-9]*\) written.*/\1/p' "$1/train.log"); do
    [ -f "$1/checkpoints/step_$(printf %08d "$s")/state.bin" ] || { echo "  claimed step $s: no state.bin"; return 1; }
  done
}
source slurm/preemptible_wait.sh && unset OMPI_MCA_odls_base_sigkill_timeout
astromm_wait_checkpoint_writer "$T/hang"  # a preemption checkpoint process may still be writing
check "train.log claims no checkpoint that is missing" claimed_ckpts_complete "$T/hang"
unset ASTROMM_TEST_STEP_DELAY_MS

# 3. NaN at step 9 (after a checkpoint at step 5): exit 4, message, checkpoint kept
ASTROMM_FAULT_NAN_STEP=9 train 2 "$T/nan" --set train.max_steps=30 --set checkpoint.every=5 >"$T/nan.log" 2>&1
rc=$?
check "NaN -> exit code 4 (got $rc)" test $rc -eq 4
check "NaN message names step and modality" grep -q "step 9 .*first non-finite: metadata embeddings" "$T/nan.log"
check "last good checkpoint (step 5) kept, nothing newer" test -f "$T/nan/checkpoints/step_00000005/state.bin" -a ! -e "$T/nan/checkpoints/step_00000010"
check "NaN message names the kept checkpoint" grep -q "the last good checkpoint is kept: step 5 (.*/checkpoints/step_00000005)" "$T/nan.log"
train 2 "$T/nan" --set train.max_steps=12 >"$T/nan2.log" 2>&1
check "the run resumes from the good checkpoint" grep -q "resumed from .*step 5" "$T/nan2.log"
got=$(grep '"kind":"step"' "$T/nan/metrics.jsonl" | grep -o '"step":[0-9]*' | cut -d: -f2 | tr '\n' ' ')
check "after the resume metrics.jsonl has steps 1..12 once each (got: $got)" test "$got" = "$(seq -s ' ' 1 12) "
check "the resume says it dropped the 4 records of steps 6..9" grep -q "dropped 4 record(s) written after step 5" "$T/nan2.log"

# 4. two jobs, one run directory: the second is refused at once, naming the
#    directory and the holder, and changes nothing; the lock goes with the job.
export ASTROMM_TEST_STEP_DELAY_MS=100
bg_train "$T/lock" --set train.max_steps=100000 --set checkpoint.every=1000
wait_steps "$T/lock" 3
train 1 "$T/lock" --set train.max_steps=7 >"$T/lock2.log" 2>&1
rc=$?
check "second job on a run.dir in use -> exit 1 (got $rc)" test $rc -eq 1
holder=$(grep -o "in use by another job (pid [0-9]*" "$T/lock2.log" | grep -o "[0-9]*$")
check "the refusal names the run.dir and the holder's pid and host (a rank of the first job)" \
  eval 'grep -q "run directory .$T/lock. is in use by another job (pid [0-9]* host " "$T/lock2.log" && pgrep -P $pid | grep -qx "$holder"'
check "the refused job did not rewrite config.cfg" grep -q "max_steps = 100000;" "$T/lock/config.cfg"
kill -TERM $(pgrep -P $pid)
wait_exit 60
check "first job preempted (exit 3, got $rc)" test $rc -eq 3
unset ASTROMM_TEST_STEP_DELAY_MS
train 2 "$T/lock" --set train.max_steps=100 >"$T/lock3.log" 2>&1
check "after the first job ended, the next one runs (exit $?) and resumes" grep -q "resumed from" "$T/lock3.log"
finish train_faults
