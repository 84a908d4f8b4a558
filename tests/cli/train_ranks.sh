#!/usr/bin/env bash
# Distributed = single process: the same global batches at 1, 2 and 4 ranks give
# the same per-step losses and the same parameters after 6 steps (float rounding).
AM=$1
source "$(dirname "$0")/train_lib.sh"
for np in 1 2 4; do
  train $np "$T/np$np" --set train.max_steps=6 >"$T/np$np.log" 2>&1
  check "np=$np run finishes (exit 0)" test $? -eq 0
done
cmp_runs() {  # relative difference of losses and parameters, np=1 vs np=$1
  $PY - "$T/np1" "$T/np$1" <<'PY'
import json, sys, numpy as np
sys.path.insert(0, "tests/reference")
from safetensors_np import load
a, b = sys.argv[1], sys.argv[2]
def losses(d):
    return [r["loss"] for r in map(json.loads, open(d + "/metrics.jsonl")) if r.get("kind") == "step"]
la, lb = losses(a), losses(b)
assert len(la) == len(lb) == 6, (len(la), len(lb))
rel = max(abs(x - y) / abs(x) for x, y in zip(la, lb))
ta, _ = load(a + "/checkpoints/step_00000006/model.safetensors")
tb, _ = load(b + "/checkpoints/step_00000006/model.safetensors")
assert ta.keys() == tb.keys()
prel = max(float(np.abs(ta[k] - tb[k]).max() / max(np.abs(ta[k]).max(), 1e-3)) for k in ta)
print(f"losses max rel diff {rel:.2e}, parameters max rel diff {prel:.2e}")
sys.exit(0 if rel < 1e-5 and prel < 1e-4 else 1)
PY
}
for np in 2 4; do check "np=$np equals np=1" cmp_runs $np; done
finish train_ranks
