#!/usr/bin/env bash
# Issue 13.1: SIGTERM to mpirun must not lose the preemption checkpoint.
# Open MPI's mpirun, given SIGTERM, sends the ranks SIGCONT, SIGTERM after
# odls_base_sigkill_timeout (default 1 s) and SIGKILL after as long again, then
# exits 1 whatever the ranks did. astromm writes the checkpoint of the last completed step the moment
# the signal arrives (train/preempt_writer.h), records it in run.dir/preempted,
# and the job templates turn that into exit 3 (slurm/preemptible_wait.sh).
#  1. small model, steps slowed to 3 s (longer than mpirun's grace): kill -TERM
#     mpirun after step 2 -> step 2's checkpoint complete, the marker names it,
#     resume ends bit-identical to an uninterrupted run;
#  2. the published-size model (configs/astrom3_clip.cfg, 16.5 M parameters, a
#     193 MB checkpoint), 2 ranks, kill -TERM mpirun after step 2: a complete,
#     verified checkpoint (inspect --verify) and the run resumes from it;
#  3. SIGUSR1 to mpirun, and SIGTERM to mpirun with a longer kill delay
#     (OMPI_MCA_odls_base_sigkill_timeout=3; the templates set 10): the ranks
#     finish the step and exit 3.
AM=$1
source "$(dirname "$0")/train_lib.sh"
wait_steps() {  # wait_steps <run dir> <k> [tenths]: until k step records are in metrics.jsonl
  for i in $(seq 1 "${3:-600}"); do
    [ -f "$1/metrics.jsonl" ] && [ "$(grep -c '"kind": *"step"' "$1/metrics.jsonl")" -ge "$2" ] && return 0
    sleep 0.1
  done
  return 1
}
source slurm/preemptible_wait.sh  # astromm_wait_checkpoint_writer: the writer may outlive mpirun
unset OMPI_MCA_odls_base_sigkill_timeout  # (that file sets the templates' value)
complete_ckpt() {  # complete_ckpt <run dir> <step>: model + state verified against each other
  "$AM" inspect "$1/checkpoints/step_$(printf %08d "$2")/model.safetensors" --config "$1/config.cfg" --verify \
    >"$1.inspect" 2>&1
}
N=8
train 2 "$T/full" --set train.max_steps=$N >"$T/full.log" 2>&1
check "uninterrupted run exits 0" test $? -eq 0

# 1. slow steps, SIGTERM to mpirun
d=$T/term
ASTROMM_TEST_STEP_DELAY_MS=3000 "$MPIRUN" --oversubscribe -np 2 "$AM" train "$T/small.cfg" --set "run.dir=\"$d\"" \
    --set train.max_steps=$N >"$d.log1" 2>&1 &
pid=$!
wait_steps "$d" 2 || echo "FAIL: no step 2 record"
t0=$(date +%s.%N)
kill -TERM $pid
wait $pid; rc=$?
echo "  mpirun exited $rc after $(echo "$(date +%s.%N) - $t0" | bc) s (Open MPI: 1 after SIGTERM)"
astromm_wait_checkpoint_writer "$d"
check "SIGTERM to mpirun: step 2's checkpoint is complete and verified" complete_ckpt "$d" 2
check "run.dir/preempted names step 2" grep -q "^step 2$" "$d/preempted"
check "the log says the checkpoint was written" grep -q "signal received: checkpoint at step 2 written" "$d.log1"
train 2 "$d" --set train.max_steps=$N >"$d.log2" 2>&1
check "resumes from step 2 and exits 0" bash -c "[ $? -eq 0 ] && grep -q 'resumed from .*step 2' '$d.log2'"
check "a new run removed run.dir/preempted" test ! -e "$d/preempted"
final=checkpoints/step_$(printf %08d $N)
check "preempted + resumed == uninterrupted (bitwise)" \
  bash -c "cmp -s '$T/full/$final/model.safetensors' '$d/$final/model.safetensors' &&
           cmp -s '$T/full/$final/state.bin' '$d/$final/state.bin'"

# 1b. a new run waits for a previous run's checkpoint process still writing (here a
#     stand-in process named in run.dir/preempting), then removes the file
d=$T/waits
mkdir -p "$d"; sleep 2 & sp=$!
echo "$sp $(hostname)" >"$d/preempting"
train 1 "$d" --set train.max_steps=1 >"$d.log" 2>&1
check "a new run waits for the previous checkpoint process (pid $sp)" bash -c \
  "grep -q 'waiting for the preemption checkpoint process of the previous run (pid $sp' '$d.log' &&
   [ ! -e '$d/preempting' ]"

# 3. signals the ranks can act on in full: exit 3 from mpirun itself
for how in USR1 TERM-delay; do
  d=$T/$how
  if [ $how = TERM-delay ]; then export OMPI_MCA_odls_base_sigkill_timeout=3; fi
  ASTROMM_TEST_STEP_DELAY_MS=1500 "$MPIRUN" --oversubscribe -np 2 "$AM" train "$T/small.cfg" --set "run.dir=\"$d\"" \
      --set train.max_steps=$N >"$d.log1" 2>&1 &
  pid=$!
  wait_steps "$d" 2 || echo "FAIL: no step 2 record ($how)"
  kill -${how%-delay} $pid
  wait $pid; rc=$?
  unset OMPI_MCA_odls_base_sigkill_timeout
  if [ $how = USR1 ]; then
    check "SIGUSR1 to mpirun: exit 3 (got $rc)" test $rc -eq 3
  else
    check "SIGTERM to mpirun with a kill delay: the ranks exit 3 (mpirun reports 1: got $rc)" \
      grep -q "signal received: exit 3 (requeue) with the checkpoint of step" "$d.log1"
  fi
  check "$how: run.dir/preempted written" test -f "$d/preempted"
done

# 2. the published size
if [ "${ASTROMM_TEST_PUBLISHED_SIZE:-1}" = 1 ]; then
  "$AM" synth --n 900 --seed 9 --out "$T/pub.h5" >/dev/null || echo "FAIL: synth (published size)"
  d=$T/pub
  "$MPIRUN" --oversubscribe -np 2 "$AM" train configs/astrom3_clip.cfg --set "run.dir=\"$d\"" \
      --set "data.path=\"$T/pub.h5\"" --set train.batch_size=64 --set train.max_steps=20 >"$d.log1" 2>&1 &
  pid=$!
  wait_steps "$d" 2 3000 || echo "FAIL: no step 2 record at the published size"
  kill -TERM $pid
  wait $pid; rc=$?
  astromm_wait_checkpoint_writer "$d"
  check "published size, SIGTERM to mpirun: a complete, verified checkpoint" bash -c \
    "s=\$(sed -n 's/^step //p' '$d/preempted') && [ \"\$s\" -ge 2 ] && \"$AM\" inspect \"$d/checkpoints/step_\$(printf %08d \$s)/model.safetensors\" --config '$d/config.cfg' --verify >/dev/null"
  grep -h "signal received" "$d.log1" | sed 's/^/  /'
  "$MPIRUN" --oversubscribe -np 2 "$AM" train configs/astrom3_clip.cfg --set "run.dir=\"$d\"" \
      --set "data.path=\"$T/pub.h5\"" --set train.batch_size=64 --set train.max_steps=3 >"$d.log2" 2>&1
  check "published size: resumes from the preemption checkpoint and exits 0" \
    bash -c "[ $? -eq 0 ] && grep -q 'resumed from' '$d.log2'"
fi
finish train_preempt
