# Shared set-up for the astromm train tests: a small synthetic dataset and a
# small model (seconds per run on 2 cores). Source it with AM=<astromm binary>.
set -u
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
MPIRUN=${MPIRUN:-mpirun}
PY=${ASTROMM_PYTHON:-/usr/bin/python3}  # gpu_check.sh: the GPU image has numpy only in its own python3
fail=0
T=$(mktemp -d /tmp/astromm_train_test.XXXXXX)
trap '[ -n "${KEEP_T:-}" ] || rm -rf "$T"' EXIT
check() {  # check "<description>" <command...>: counts a failure when the command fails
  local what=$1; shift
  if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fail=$((fail+1)); fi
}
finish() { echo "$1: $fail failed"; [ "$fail" -eq 0 ]; }

"$AM" synth --n ${TRAIN_TEST_N:-800} --seed 5 --out "$T/data.h5" >/dev/null || { echo "FAIL: synth"; exit 1; }
cat >"$T/small.cfg" <<CFG
model = { seq_len = 32; d_model = 16; n_heads = 2; d_ff = 32; n_layers = 1;
          spec_channels = [4, 4, 4, 4]; meta_hidden = 16; proj_dim = 16; };
run = { seed = 11; hang_timeout = 30.0; };
data = { path = "$T/data.h5"; };
train = { batch_size = 24; epochs = 50; lr = 2e-3; warmup_epochs = 0; early_stop_patience = 0; };
checkpoint = { keep_last = 10; };
CFG

# train NP RUN_DIR [extra args...]: runs astromm train, returns its exit code.
train() {
  local np=$1 dir=$2; shift 2
  "$MPIRUN" --oversubscribe -np "$np" "$AM" train "$T/small.cfg" --set "run.dir=\"$dir\"" "$@"
}
# Losses per step from a metrics.jsonl, one per line.
losses() { $PY -c 'import json,sys
for l in open(sys.argv[1]):
    r=json.loads(l)
    if r.get("kind")=="step": print(r["step"], repr(r["loss"]))' "$1"; }

# cmp_train_runs DIR_A DIR_B LR STEPS: the per-step losses (relative 1e-5) and the
# parameters after STEPS steps (absolute, 2 % of lr x steps) of two runs on the
# same global batches. Adam's normalised update moves an element by about lr per
# step whatever its gradient's size, so an element whose gradient is at rounding
# level can move by +lr in one run and -lr in the other; a real error (a rank not
# averaging its gradient, another learning rate) moves every element by O(lr)
# per step, far above the bound (each caller checks that with lr +10 %).
cmp_train_runs() {
  $PY - "$1" "$2" "$3" "$4" <<'PY'
import json, sys, numpy as np
sys.path.insert(0, "tests/reference")
from safetensors_np import load
a, b, lr, n = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
def losses(d):
    return [r["loss"] for r in map(json.loads, open(d + "/metrics.jsonl")) if r.get("kind") == "step"]
la, lb = losses(a), losses(b)
assert len(la) == len(lb) == n, (len(la), len(lb))
rel = max(abs(x - y) / abs(x) for x, y in zip(la, lb))
ta, _ = load(a + f"/checkpoints/step_{n:08d}/model.safetensors")
tb, _ = load(b + f"/checkpoints/step_{n:08d}/model.safetensors")
assert ta.keys() == tb.keys()
pabs = max(float(np.abs(ta[k] - tb[k]).max()) for k in ta)
bound = 0.02 * lr * n
print(f"losses max rel diff {rel:.2e}, parameters max abs diff {pabs:.2e} (bound {bound:.1e} = 2% of lr x {n} steps)")
sys.exit(0 if rel < 1e-5 and pabs <= bound else 1)
PY
}
