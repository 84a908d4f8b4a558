#!/usr/bin/env bash
# The one command a GPU session runs: build the CUDA backend, check it against
# the CPU, run the CPU suite, benchmark a training step, and write a summary.
#
#   here:  scripts/gpu_pack_deps.sh
#   then:  run(command="scripts/gpu_check.sh", carry=[".gpudeps"], timeout_s=600)
#
# Steps (each under its own timeout, all inside a total budget so the whole run
# fits one 10-minute device command):
#   1. dependencies: .gpudeps/*.deb when carried (scripts/gpu_pack_deps.sh, run here
#      first; the GPU image cannot install packages), else scripts/deps.sh
#   2. nvidia-smi
#   3. CUDA build into $BUILD_DIR (default build-gpu), warnings as errors
#   4. ctest -L gpu --output-on-failure     (test_gpu_ops, test_gpu_model)
#   5. ctest -L quick                        (the CPU suite, skipped when time is short)
#   6. bench_step --device cuda --batch 512 --steps 20, GPU memory sampled by nvidia-smi
#   7. the PyTorch peer with --device cuda, when python3 has torch with CUDA
#   8. ${OUT:-benchmarks/results}/gpu.md: GPU, commit, date, commands, samples/s, ratio,
#      peak memory. Every step's log (and the full GPU test output) is written to
#      $OUT when set, else to $BUILD_DIR/gpu_check.
#
# Exit status: 1 when the build or a GPU test fails, or when the GPU tests were
# skipped (no usable GPU); else 2 when the CPU suite or the benchmark failed; else 0.
#
# Environment: BUILD_DIR (build-gpu), GPU_CHECK_BUDGET (seconds in all, 570),
# GPU_CHECK_BATCH (512), GPU_CHECK_STEPS (20), OUT (results folder), PYTHON (the
# interpreter for the peer; default: the first of python3, /usr/bin/python3 whose
# torch sees a GPU).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${BUILD_DIR:-build-gpu}
BUDGET=${GPU_CHECK_BUDGET:-570}
BATCH=${GPU_CHECK_BATCH:-512}
STEPS=${GPU_CHECK_STEPS:-20}
START=$SECONDS
if [ -n "${OUT:-}" ]; then
  RESULTS=$OUT
  LOGS=$OUT
else
  RESULTS=benchmarks/results
  LOGS=$BUILD_DIR/gpu_check
fi
mkdir -p "$RESULTS" "$LOGS" "$BUILD_DIR"
STATUS_FILE=$LOGS/gpu_check_status.txt
: > "$STATUS_FILE"

left() { echo $((BUDGET - (SECONDS - START))); }
note() { echo "$1: $2" | tee -a "$STATUS_FILE"; }
# run NAME LIMIT_S CMD...: output to $LOGS/NAME.log (its tail on the terminal), status recorded.
run() {
  local name=$1 limit=$2; shift 2
  local avail; avail=$(left)
  if [ "$avail" -lt 20 ]; then
    note "$name" "skipped (out of time budget)"
    return 124
  fi
  [ "$limit" -gt "$avail" ] && limit=$avail
  echo "=== $name (limit ${limit}s): $*"
  local t0=$SECONDS
  timeout --signal=TERM --kill-after=10 "$limit" "$@" > "$LOGS/$name.log" 2>&1
  local rc=$?
  tail -n "${TAIL_LINES:-15}" "$LOGS/$name.log"
  if [ $rc -eq 0 ]; then
    note "$name" "ok ($((SECONDS - t0))s)"
  elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    note "$name" "TIMED OUT after ${limit}s"
  else
    note "$name" "FAILED (exit $rc, $((SECONDS - t0))s)"
  fi
  return $rc
}

gpu_fail=0 other_fail=0

# 1. dependencies: the GPU image cannot install packages; a session that ran
# scripts/gpu_pack_deps.sh here carries them as .gpudeps/*.deb (carry=[".gpudeps"]),
# unpacked into a private root and used through ASTROMM_DEPS_ROOT.
EXTRA_CMAKE=()
if ls .gpudeps/*.deb >/dev/null 2>&1; then
  DEPS_ROOT=/tmp/astromm-deps
  rm -rf "$DEPS_ROOT" && mkdir -p "$DEPS_ROOT"
  for f in .gpudeps/*.deb; do dpkg -x "$f" "$DEPS_ROOT"; done
  export OPAL_PREFIX=$DEPS_ROOT/usr PATH=$DEPS_ROOT/usr/bin:$PATH
  export LD_LIBRARY_PATH=$DEPS_ROOT/usr/lib/x86_64-linux-gnu:$DEPS_ROOT/usr/lib/x86_64-linux-gnu/openmpi/lib:$DEPS_ROOT/usr/lib/x86_64-linux-gnu/openblas-openmp:$DEPS_ROOT/usr/lib/x86_64-linux-gnu/hdf5/openmpi${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  EXTRA_CMAKE=(-DASTROMM_DEPS_ROOT=$DEPS_ROOT -DMPIEXEC_EXECUTABLE=$DEPS_ROOT/usr/bin/mpirun.openmpi)
  echo "gpu_check: using carried packages unpacked in $DEPS_ROOT"
else
  run deps 180 scripts/deps.sh || echo "gpu_check: deps.sh failed and no .gpudeps/ was carried (run scripts/gpu_pack_deps.sh first)"
fi

# 2. the GPU
run nvidia_smi 30 nvidia-smi
GPU_NAME=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)
GPU_NAME=${GPU_NAME:-unknown (nvidia-smi failed)}
CUDA_VER=$( (/usr/local/cuda/bin/nvcc --version 2>/dev/null || nvcc --version 2>/dev/null) | grep -o 'release [0-9.]*' | head -1)

# 3. CUDA build
BUILD_CMD="BUILD_DIR=$BUILD_DIR scripts/build.sh -DASTROMM_CUDA=ON -DASTROMM_WERROR=ON ${EXTRA_CMAKE[*]}"
if ! run build 360 env BUILD_DIR="$BUILD_DIR" scripts/build.sh -DASTROMM_CUDA=ON -DASTROMM_WERROR=ON "${EXTRA_CMAKE[@]}"; then
  gpu_fail=1
fi

# 4. GPU tests: a skip (no usable GPU seen by the tests) is a failure here.
GPU_TEST_CMD="(cd $BUILD_DIR && ctest -L gpu --output-on-failure)"
if [ $gpu_fail -eq 0 ]; then
  if ! TAIL_LINES=60 run gpu_tests 330 bash -c "cd '$BUILD_DIR' && ctest -L gpu --output-on-failure --timeout 320"; then
    gpu_fail=1
  fi
  # Every line the two tests printed (per-step errors, margins), pass or fail.
  cp "$BUILD_DIR/Testing/Temporary/LastTest.log" "$LOGS/gpu_tests_output.log" 2>/dev/null || true
  if grep -q "Skipped\|SKIP: no usable GPU" "$LOGS/gpu_tests.log" 2>/dev/null; then
    note gpu_tests "SKIPPED by the tests: no usable GPU (counted as a failure)"
    gpu_fail=1
  fi
  if ! grep -q "100% tests passed, 0 tests failed out of [1-9]" "$LOGS/gpu_tests.log" 2>/dev/null; then
    gpu_fail=1
  fi
fi

# 5. the CPU suite (quick label), only with time to spare for the benchmark after it
CPU_SUITE_CMD="(cd $BUILD_DIR && ctest -L quick -j 8)"
if [ $gpu_fail -eq 0 ] || [ -x "$BUILD_DIR/tests/test_ops_forward" ]; then
  if [ "$(left)" -gt 200 ]; then
    run cpu_suite $(( $(left) - 150 )) bash -c "cd '$BUILD_DIR' && ctest -L quick -j 8 --output-on-failure --timeout 240" || other_fail=1
  else
    note cpu_suite "skipped (less than 200 s of the budget left)"
  fi
fi

# 6. astromm on the GPU, with device memory sampled while it runs
BENCH_JSON=$LOGS/bench_cuda.json
BENCH_CMD="$BUILD_DIR/benchmarks/bench_step --device cuda --batch $BATCH --steps $STEPS --json $BENCH_JSON"
MEM_LOG=$LOGS/bench_cuda_gpu_mem.csv
sample_mem() {  # background nvidia-smi sampler; echoes its pid
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > "$1" 2>/dev/null &
  echo $!
}
if [ -x "$BUILD_DIR/benchmarks/bench_step" ] && nvidia-smi -L > /dev/null 2>&1; then
  [ $gpu_fail -ne 0 ] && echo "gpu_check: benchmarking although the GPU tests failed (numbers flagged)"
  mem_pid=$(sample_mem "$MEM_LOG")
  run bench_cuda 150 "$BUILD_DIR/benchmarks/bench_step" --device cuda --batch "$BATCH" --steps "$STEPS" --json "$BENCH_JSON" || other_fail=1
  kill "$mem_pid" 2>/dev/null; wait "$mem_pid" 2>/dev/null
  # reduced-precision GEMMs (run.precision): the same step in TF32 and BF16
  for prec in tf32 bf16; do
    run bench_cuda_$prec 150 "$BUILD_DIR/benchmarks/bench_step" --device cuda --precision $prec --batch "$BATCH" \
        --steps "$STEPS" --json "$LOGS/bench_cuda_$prec.json" || other_fail=1
  done
else
  note bench_cuda "not run (no bench_step binary, or nvidia-smi sees no GPU)"
fi

# 7. the PyTorch peer on the GPU, when this python has torch with CUDA
TORCH_JSON=$LOGS/torch_cuda.json
TORCH_MEM_LOG=$LOGS/torch_cuda_gpu_mem.csv
PY=""
for cand in ${PYTHON:-} python3 /usr/bin/python3; do
  if "$cand" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    PY=$cand
    break
  fi
done
TORCH_CMD="${PY:-python3} benchmarks/peer/astrom3_torch.py --device cuda --batch $BATCH --steps $STEPS --json $TORCH_JSON"
if [ -n "$PY" ]; then
  mem_pid=$(sample_mem "$TORCH_MEM_LOG")
  run torch_cuda 150 "$PY" benchmarks/peer/astrom3_torch.py --device cuda --batch "$BATCH" --steps "$STEPS" --json "$TORCH_JSON" || other_fail=1
  kill "$mem_pid" 2>/dev/null; wait "$mem_pid" 2>/dev/null
else
  versions=$(for cand in ${PYTHON:-} python3 /usr/bin/python3; do
    printf '%s: %s; ' "$cand" "$("$cand" -c 'import torch; print("torch", torch.__version__, "without a usable GPU")' 2>/dev/null || echo 'no torch')"
  done)
  note torch_cuda "not run: no PyTorch with CUDA (${versions% })"
fi

# 8. summary
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo "unknown (no git metadata on this machine)")
DIRTY=$(git status --porcelain --untracked-files=no 2>/dev/null | head -1)
GPU_NAME="$GPU_NAME" CUDA_VER="$CUDA_VER" COMMIT="$COMMIT" DIRTY="$DIRTY" BATCH="$BATCH" STEPS="$STEPS" \
BUILD_CMD="$BUILD_CMD" GPU_TEST_CMD="$GPU_TEST_CMD" CPU_SUITE_CMD="$CPU_SUITE_CMD" BENCH_CMD="$BENCH_CMD" \
TORCH_CMD="$TORCH_CMD" BENCH_JSON="$BENCH_JSON" TORCH_JSON="$TORCH_JSON" MEM_LOG="$MEM_LOG" \
TORCH_MEM_LOG="$TORCH_MEM_LOG" STATUS_FILE="$STATUS_FILE" LOGS="$LOGS" GPU_FAIL=$gpu_fail \
OTHER_FAIL=$other_fail OUTFILE="$RESULTS/gpu.md" \
python3 - <<'PY' || echo "gpu_check: writing the summary failed"
import datetime, json, os, re

e = os.environ
def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
def peak_mem(path):
    try:
        vals = [float(l) for l in open(path) if l.strip().replace(".", "", 1).isdigit()]
        return max(vals) if vals else None
    except OSError:
        return None
def log_tail(name, pattern):
    try:
        lines = [l.rstrip() for l in open(os.path.join(e["LOGS"], name + ".log")) if re.search(pattern, l)]
        return lines[-1] if lines else None
    except OSError:
        return None

c, t = load(e["BENCH_JSON"]), load(e["TORCH_JSON"])
c_mem, t_mem = peak_mem(e["MEM_LOG"]), peak_mem(e["TORCH_MEM_LOG"])
status = open(e["STATUS_FILE"]).read().strip().splitlines()
gpu_ok = e["GPU_FAIL"] == "0"
fmt = lambda v, f="%.1f": (f % v) if v is not None else "n/a"
rows = []
if c:
    rows.append("| astromm C (`bench_step --device cuda`) | %.4f | %.1f | %s (nvidia-smi, incl. context) | %.0f |"
                % (c["median_step_s"], c["samples_per_s"], fmt(c_mem, "%.0f MiB"), c["peak_rss_mib"]))
if t:
    rows.append("| PyTorch %s (`astrom3_torch.py --device cuda`) | %.4f | %.1f | %s allocated (max_memory_allocated); %s (nvidia-smi) | %.0f |"
                % (t["torch_version"], t["median_step_s"], t["samples_per_s"],
                   fmt(t.get("peak_gpu_mib"), "%.0f MiB"), fmt(t_mem, "%.0f MiB"), t["peak_rss_mib"]))
ratio = ("**astromm / PyTorch samples/s: %.2fx**" % (c["samples_per_s"] / t["samples_per_s"])) if c and t else \
        "Ratio: n/a (%s)" % ("no CUDA PyTorch on this machine" if c else "the astromm benchmark did not run")
tests = log_tail("gpu_tests", r"tests passed|tests failed") or "did not run"
if any("SKIPPED by the tests" in s for s in status):
    tests = "skipped by the tests: no usable GPU"
suite = log_tail("cpu_suite", r"tests passed|tests failed") or "n/a"
text = f"""# GPU check: CUDA backend vs CPU, and a training-step benchmark

**GPU tests: {"PASSED" if gpu_ok else "FAILED"}** ({tests}); CPU suite (`-L quick`): {suite}.
{"" if gpu_ok or not rows else chr(10) + "**The benchmark below ran on a build whose GPU tests did not pass.**" + chr(10)}
- GPU: {e["GPU_NAME"]}; CUDA toolkit {e["CUDA_VER"] or "?"}
- Commit: {e["COMMIT"]}{" (with local changes)" if e["DIRTY"] else ""}; date {datetime.datetime.now().isoformat(timespec="seconds")}
- Build: `{e["BUILD_CMD"]}`
- GPU tests: `{e["GPU_TEST_CMD"]}` (test_gpu_ops: every op vs the CPU; test_gpu_model: tiny and full AstroM3 steps, lock-step Adam, determinism)
- CPU suite: `{e["CPU_SUITE_CMD"]}`
- Benchmark: `{e["BENCH_CMD"]}`
- Peer: `{e["TORCH_CMD"]}`

One full AstroM3 CLIP pre-training step (forward of the three encoders, trimodal CLIP
loss, backward, global-norm clip 45, Adam) at the published sizes, dropout active,
batch {e["BATCH"]}, median of {e["STEPS"]} timed steps after 2 warm-up steps; full FP32 on both
sides (cuBLAS default math, PyTorch TF32 off).

| | median step (s) | samples/s | peak GPU memory | peak host RSS (MiB) |
|---|---|---|---|---|
""" + ("\n".join(rows) if rows else "| (no benchmark ran) | | | | |") + f"""

{ratio}

## Steps
""" + "\n".join("- " + s for s in status) + "\n"
os.makedirs(os.path.dirname(e["OUTFILE"]) or ".", exist_ok=True)
open(e["OUTFILE"], "w").write(text)
print(text)
PY

echo "gpu_check: summary in $RESULTS/gpu.md, logs in $LOGS ($((SECONDS - START))s)"
if [ $gpu_fail -ne 0 ]; then
  echo "gpu_check: FAILED (build or GPU tests)"
  exit 1
fi
if [ $other_fail -ne 0 ]; then
  echo "gpu_check: GPU tests passed; the CPU suite or a benchmark failed"
  exit 2
fi
echo "gpu_check: OK"
exit 0
