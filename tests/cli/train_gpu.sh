#!/usr/bin/env bash
# astromm train on the CUDA device (ctest label gpu; exit 77 = skipped without a GPU):
#   1. a run stopped at step 7 and resumed ends bit-identical to an uninterrupted
#      40-step run (model and trainer state), and a second uninterrupted run is
#      bit-identical too (the GPU step is deterministic across processes);
#   2. the GPU and the CPU give the same losses from the same initialisation and
#      batches: the first step (no update yet) to 1e-5 relative, six steps to
#      1e-3 (Adam amplifies rounding differences, tests/gpu/test_gpu_model.c);
#   3. 2 ranks (on one GPU: collectives staged through host memory) give the
#      losses of 1 rank (1e-5 first step, 1e-4 over six);
#   4. run.precision = bf16 and tf32 train (exit 0) with losses within 5e-2
#      relative of fp32 over six steps.
AM=$1
source "$(dirname "$0")/train_lib.sh"
if ! "$AM" devices 2>/dev/null | grep -q '^cuda: [1-9]'; then
  echo "SKIP: no usable GPU ($("$AM" devices 2>&1 | grep '^cuda' | head -1))"
  exit 77
fi
GPU=(--set 'run.device="cuda"')
N=40
final=checkpoints/step_000000$N
same() {  # same <run dir A> <run dir B>: final model and state identical
  cmp -s "$1/$final/model.safetensors" "$2/$final/model.safetensors" &&
    cmp -s "$1/$final/state.bin" "$2/$final/state.bin"
}
train 1 "$T/full" "${GPU[@]}" --set train.max_steps=$N >"$T/full.log" 2>&1
check "GPU run of $N steps exits 0" test $? -eq 0
grep -q "device cuda" "$T/full.log"
check "the run says it used the CUDA device" test $? -eq 0
train 1 "$T/again" "${GPU[@]}" --set train.max_steps=$N >"$T/again.log" 2>&1
check "second GPU run exits 0" test $? -eq 0
check "two uninterrupted GPU runs are bit-identical" same "$T/full" "$T/again"
train 1 "$T/stop" "${GPU[@]}" --set train.max_steps=7 >"$T/stop1.log" 2>&1
check "max_steps=7 GPU run exits 0" test $? -eq 0
train 1 "$T/stop" "${GPU[@]}" --set train.max_steps=$N --resume >"$T/stop2.log" 2>&1
check "resumed GPU run exits 0" test $? -eq 0
check "resume message names step 7" grep -q "resumed from .*step 7" "$T/stop2.log"
check "GPU: stopped + resumed == uninterrupted (bitwise)" same "$T/full" "$T/stop"

cmp_losses() {  # cmp_losses <dir A> <dir B> <tol first step> <tol all>
  $PY - "$@" <<'PY'
import json, sys
a, b, tol1, tol = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
def losses(d):
    return [r["loss"] for r in map(json.loads, open(d + "/metrics.jsonl")) if r.get("kind") == "step"]
la, lb = losses(a), losses(b)
assert len(la) == len(lb) == 6, (len(la), len(lb))
rel = [abs(x - y) / abs(x) for x, y in zip(la, lb)]
print("losses", la, lb, "rel diff per step", ["%.1e" % r for r in rel])
sys.exit(0 if rel[0] <= tol1 and max(rel) <= tol else 1)
PY
}
train 1 "$T/cpu6" --set 'run.device="cpu"' --set train.max_steps=6 >"$T/cpu6.log" 2>&1
check "CPU run of 6 steps exits 0" test $? -eq 0
train 1 "$T/gpu6" "${GPU[@]}" --set train.max_steps=6 >"$T/gpu6.log" 2>&1
check "GPU run of 6 steps exits 0" test $? -eq 0
check "GPU losses = CPU losses (first step 1e-5, six steps 1e-3)" cmp_losses "$T/cpu6" "$T/gpu6" 1e-5 1e-3
# 2 ranks on one GPU: NCCL refuses that, so collectives are staged through host
# memory to MPI; the global contrastive batch makes it equal to 1 rank.
train 2 "$T/np2" "${GPU[@]}" --set train.max_steps=6 >"$T/np2.log" 2>&1
check "2 ranks on the GPU(s) exit 0" test $? -eq 0
check "2 GPU ranks = 1 GPU rank (first step 1e-5, six steps 1e-4)" cmp_losses "$T/gpu6" "$T/np2" 1e-5 1e-4
for prec in tf32 bf16; do
  train 1 "$T/$prec" "${GPU[@]}" --set "run.precision=\"$prec\"" --set train.max_steps=6 >"$T/$prec.log" 2>&1
  check "GPU $prec run exits 0" test $? -eq 0
  check "GPU $prec losses within 5e-2 of fp32" cmp_losses "$T/gpu6" "$T/$prec" 5e-2 5e-2
done
if [ "$fail" -ne 0 ]; then tail -n 5 "$T"/*.log; fi
finish train_gpu
