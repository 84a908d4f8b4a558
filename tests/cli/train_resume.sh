#!/usr/bin/env bash
# Exact resume: a run stopped (train.max_steps, SIGTERM mid-epoch) and resumed
# ends bit-identical to an uninterrupted one (model and trainer state); a
# corrupt newest checkpoint falls back to the previous one; --resume without a
# checkpoint and a changed configuration are refused. Issue 13: model and state
# are verified against each other (checksum, step, config hash) and any damaged
# newest checkpoint is skipped for the previous one; torn checkpoint directories
# do not count towards checkpoint.keep_last and are moved aside; stale temporary
# files go; metrics.jsonl holds each step once after a resume.
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
  # Written on the signal, or (when the signal lands just after a checkpoint.every
  # write, as under load) that step's checkpoint named as complete.
  check "$how: preemption message" grep -qE "signal received: (checkpoint at step|the checkpoint of step) [0-9]+" "$d.log1"
  train 2 "$d" --set train.max_steps=$N >"$d.log2" 2>&1
  check "$how: auto-resume exits 0" test $? -eq 0
  check "$how: preempted + resumed == uninterrupted (bitwise)" same "$d"
done

# steps_once <run dir> <n>: metrics.jsonl has step records 1..n, each exactly once
steps_once() {
  local got
  got=$(grep '"kind":"step"' "$1/metrics.jsonl" | grep -o '"step":[0-9]*' | cut -d: -f2 | tr '\n' ' ')
  [ "$got" = "$(seq -s ' ' 1 "$2") " ] || { echo "  step records: $got"; return 1; }
}

# 3. corrupt newest checkpoint: the previous one is used, result still identical
train 2 "$T/corrupt" --set train.max_steps=12 --set checkpoint.every=5 >"$T/c1.log" 2>&1
check "run to step 12 exits 0" test $? -eq 0
cp -a "$T/corrupt" "$T/tmpl"  # checkpoints 5, 10, 12 intact: the template of case 5
printf 'garbage' | dd of="$T/corrupt/checkpoints/step_00000012/state.bin" bs=1 seek=100 conv=notrunc 2>/dev/null
train 2 "$T/corrupt" --set train.max_steps=$N >"$T/c2.log" 2>&1
check "resume past a corrupt checkpoint exits 0" test $? -eq 0
check "warning names the corrupt checkpoint" grep -q "step_00000012" "$T/c2.log"
check "resumed from step 10" grep -q "resumed from .*step 10" "$T/c2.log"
check "corrupt-fallback + resumed == uninterrupted (bitwise)" same "$T/corrupt"
check "corrupt-fallback: metrics.jsonl has steps 1..$N once each (11, 12 not twice)" steps_once "$T/corrupt" $N

# 4. refusals
train 1 "$T/none" --set train.max_steps=2 --resume >"$T/none.log" 2>&1
check "--resume without checkpoint -> exit 2" test $? -eq 2
train 2 "$T/stop" --set train.max_steps=$N --set train.lr=1e-3 >"$T/changed.log" 2>&1
check "changed configuration -> exit 2" test $? -eq 2
check "changed configuration is explained" grep -q "different configuration" "$T/changed.log"
flip_byte() {  # flip_byte <file> <offset>: inverts the bits of one byte in place
  local b; b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
  printf "\\x$(printf %02x $((b ^ 255)))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
# 5. model and state verified against each other (issue 13): each damage to the
#    newest checkpoint (12) is skipped for step 10 with a warning naming the file
#    and the reason; the bit flip case also ends bitwise equal to the full run.
train 2 "$T/other" --set train.max_steps=12 --set checkpoint.every=6 --set run.seed=12 >"$T/other.log" 2>&1
check "other run (seed 12) exits 0" test $? -eq 0
m12=checkpoints/step_00000012/model.safetensors s12=checkpoints/step_00000012/state.bin
for kind in flip truncate state-of-10 model-of-10 state-of-other-run; do
  d="$T/v-$kind"
  cp -a "$T/tmpl" "$d"
  case $kind in
    flip) flip_byte "$d/$m12" $(( $(stat -c %s "$d/$m12") - 9 )); file=$m12 why="CRC-32" ;;
    truncate) truncate -s -100 "$d/$m12"; file=$m12 why="truncated" ;;
    state-of-10) cp "$d/checkpoints/step_00000010/state.bin" "$d/$s12"; file=$s12 why="another checkpoint" ;;
    model-of-10) cp "$d/checkpoints/step_00000010/model.safetensors" "$d/$m12"; file=$m12 why="different checkpoints" ;;
    state-of-other-run) cp "$T/other/$s12" "$d/$s12"; file=$m12 why="different runs" ;;
  esac
  steps=13; [ $kind = flip ] && steps=$N
  train 2 "$d" --set train.max_steps=$steps >"$d.log" 2>&1
  check "$kind: resume exits 0 (got $?)" test $? -eq 0
  check "$kind: resumed from step 10" grep -q "resumed from .*step_00000010 (step 10" "$d.log"
  check "$kind: the warning names $file and says '$why'" grep -q "warning: skipping .*$file.*$why" "$d.log"
  check "$kind: the damaged checkpoint moved to checkpoints/torn/" test -d "$d/checkpoints/torn/step_00000012"
  check "$kind: metrics.jsonl has steps 1..$steps once each" steps_once "$d" $steps
done
check "flip: fallback + resumed == uninterrupted (bitwise)" same "$T/v-flip"
# inspect --verify checks a checkpoint's model against the state beside it
"$AM" inspect --verify --config "$T/tmpl/config.cfg" "$T/tmpl/$m12" >"$T/iv1.log" 2>&1
check "inspect --verify of an intact checkpoint exits 0" test $? -eq 0
check "inspect --verify reports the state check" grep -q "verified with .*state.bin: step 12" "$T/iv1.log"
cp "$T/tmpl/checkpoints/step_00000010/state.bin" "$T/tmpl/$s12"
"$AM" inspect --verify --config "$T/tmpl/config.cfg" "$T/tmpl/$m12" >"$T/iv2.log" 2>&1
check "inspect --verify of a checkpoint with another step's state exits 1 (got $?)" test $? -eq 1
check "... naming the problem" grep -q "FAILED: checkpoint step 12 is not valid: .*another checkpoint" "$T/iv2.log"

# 6. torn directories above the resume point (issue 13): with keep_last = 1, a run
#    resumed from 40 that ends at 45 keeps step 45; the torn ones are moved to
#    checkpoints/torn/, and stale temporary files of a killed writer are removed.
d="$T/torn"
train 2 "$d" --set train.max_steps=40 --set checkpoint.every=5 --set checkpoint.keep_last=1 >"$d.log1" 2>&1
check "torn: run to 40 exits 0" test $? -eq 0
c="$d/checkpoints"
mkdir "$c/step_00000050" "$c/step_00000055"                               # empty; model without state
cp "$c/step_00000040/model.safetensors" "$c/step_00000055/"
cp -r "$c/step_00000040" "$c/step_00000060"                              # state failing its checksum
printf 'garbage' | dd of="$c/step_00000060/state.bin" bs=1 seek=100 conv=notrunc 2>/dev/null
touch "$d/best.tmp.999999" "$c/step_00000040/model.safetensors.tmp.12345" "$d/notes.tmp.txt"
train 2 "$d" --set train.max_steps=45 --set checkpoint.every=5 --set checkpoint.keep_last=1 >"$d.log2" 2>&1
check "torn: resume to 45 exits 0" test $? -eq 0
check "torn: resumed from step 40" grep -q "resumed from .*step 40" "$d.log2"
check "torn: step_00000045 is kept" test -f "$c/step_00000045/state.bin" -a -f "$c/step_00000045/model.safetensors"
for s in 50 55 60; do
  check "torn: step_000000$s moved aside with a warning" \
    eval 'test -d "$c/torn/step_000000$s" -a ! -e "$c/step_000000$s" && grep -q "warning: .*step_000000$s.*moved to" "$d.log2"'
done
check "torn: stale temporary files removed, with a warning" \
  eval 'test ! -e "$d/best.tmp.999999" -a ! -e "$c/step_00000040/model.safetensors.tmp.12345" && grep -q "removed .*best.tmp.999999" "$d.log2"'
check "torn: other files kept" test -f "$d/notes.tmp.txt"
check "torn: metrics.jsonl has steps 1..45 once each" steps_once "$d" 45
train 2 "$d" --set train.max_steps=46 --set checkpoint.keep_last=1 --resume >"$d.log3" 2>&1
check "torn: the next job resumes from 45" grep -q "resumed from .*step 45" "$d.log3"
finish train_resume
