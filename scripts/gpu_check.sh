#!/usr/bin/env bash
# The one command a GPU session runs: find the GPU image's libraries, build the
# CUDA backend, run the GPU tests, benchmark a training step against PyTorch in
# fp32/tf32/bf16, time real pre-training epochs from a dataset on local disk,
# and write a summary.
#
#   here:  scripts/gpu_pack_deps.sh
#   then:  run(command="scripts/gpu_check.sh", carry=[".gpudeps"], timeout_s=...)
#
# Steps (each under its own timeout, all inside one budget, GPU_CHECK_BUDGET s):
#   1. dependencies: .gpudeps/*.deb (the GPU image cannot install packages) are
#      unpacked into a private root; libraries the image lacks are taken from
#      .gpudeps/fallback/*.deb, only those (ldd decides), so nothing of the image
#      is shadowed needlessly; NCCL/cuDNN headers are looked up in the CUDA
#      toolkit, then in the image's Python wheels (nvidia-nccl-cu13, ...)
#   2. nvidia-smi; CUDA build into $BUILD_DIR (default build-gpu), -Werror
#   3. a 17,063-object synthetic dataset written in the background (CPU)
#   4. ctest -L gpu: test_gpu_ops, test_gpu_model, test_gpu_zoobot, test_gpu_nccl (1 rank and
#      np 2: host-staged collectives, and NCCL where each rank has a GPU),
#      cli_train_gpu (bit-exact resume, GPU = CPU, 2 ranks = 1, tf32/bf16)
#   6. bench_step vs benchmarks/peer/astrom3_torch.py, batch $BATCH, interleaved
#      fp32, tf32, bf16 (astromm, then PyTorch, per precision), GPU memory sampled
#   7. astromm train of the published recipe (configs/astrom3_clip.cfg) for
#      GPU_CHECK_EPOCHS epochs on the 17,063-object dataset: wall time per epoch
#   8. summary: $OUT/gpu.md (else benchmarks/results/gpu_check_latest.md; the
#      curated record is benchmarks/results/gpu.md); every log in
#      gpu_check_logs.tar.gz (the device tool returns at most 8 files)
#
# Exit status: 1 when the build or a GPU test fails, or the GPU tests were skipped
# (no usable GPU); else 2 when a benchmark failed; else 0.
#
# Environment: GPU_CHECK_COMMIT (the commit to report), BUILD_DIR (build-gpu), GPU_CHECK_BUDGET (seconds in all, 420),
# GPU_CHECK_BATCH (512), GPU_CHECK_STEPS (15), GPU_CHECK_EPOCHS (2),
# GPU_CHECK_SKIP (space-separated step names to skip: tests bench epochs),
# OUT (results folder), PYTHON (interpreter for the peer; default: the first of
# python3, /usr/bin/python3 whose torch sees a GPU).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${BUILD_DIR:-build-gpu}
BUDGET=${GPU_CHECK_BUDGET:-420}
BATCH=${GPU_CHECK_BATCH:-512}
STEPS=${GPU_CHECK_STEPS:-15}
EPOCHS=${GPU_CHECK_EPOCHS:-2}
SKIP=" ${GPU_CHECK_SKIP:-} "
START=$SECONDS
RESULTS=${OUT:-benchmarks/results}
# Under $OUT (the device tool) the summary is gpu.md; in the tree it must not
# overwrite the curated benchmarks/results/gpu.md.
SUMMARY=gpu.md
[ -z "${OUT:-}" ] && SUMMARY=gpu_check_latest.md
LOGS=$(mktemp -d /tmp/gpu_check_logs.XXXXXX)
mkdir -p "$RESULTS" "$BUILD_DIR"
STATUS_FILE=$LOGS/status.txt
: > "$STATUS_FILE"
ORIG_LD=${LD_LIBRARY_PATH:-}
ORIG_PATH=$PATH

left() { echo $((BUDGET - (SECONDS - START))); }
note() { echo "$1: $2" | tee -a "$STATUS_FILE"; }
skipped() { case "$SKIP" in *" $1 "*) note "$1" "skipped (GPU_CHECK_SKIP)"; return 0;; esac; return 1; }
# run NAME LIMIT_S CMD...: output to $LOGS/NAME.log (its tail on the terminal), status recorded.
run() {
  local name=$1 limit=$2; shift 2
  local avail; avail=$(left)
  if [ "$avail" -lt 15 ]; then
    note "$name" "skipped (out of time budget)"
    return 124
  fi
  [ "$limit" -gt "$avail" ] && limit=$avail
  echo "=== $name (limit ${limit}s): $*"
  local t0=$SECONDS
  timeout --signal=TERM --kill-after=10 "$limit" "$@" > "$LOGS/$name.log" 2>&1
  local rc=$?
  tail -n "${TAIL_LINES:-8}" "$LOGS/$name.log"
  if [ $rc -eq 0 ]; then
    note "$name" "ok ($((SECONDS - t0))s)"
  elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    note "$name" "TIMED OUT after ${limit}s"
  else
    note "$name" "FAILED (exit $rc, $((SECONDS - t0))s)"
  fi
  return $rc
}
pack_logs() {
  [ -d "$BUILD_DIR/Testing/Temporary" ] && cp "$BUILD_DIR/Testing/Temporary/LastTest.log" "$LOGS/ctest_LastTest.log" 2>/dev/null
  tar -czf "$RESULTS/gpu_check_logs.tar.gz" -C "$(dirname "$LOGS")" "$(basename "$LOGS")" 2>/dev/null
}
gpu_fail=0 other_fail=0

# ------------------------------------------------------------ 1. dependencies
{
  echo "pwd $ROOT; uname $(uname -r); $(grep PRETTY_NAME /etc/os-release 2>/dev/null)"
  echo "nvcc: $(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null)"
  ls -d /usr/local/cuda* 2>/dev/null
  for h in nccl.h cudnn.h; do echo "$h: $(ls /usr/local/cuda/include/$h /usr/include/$h 2>/dev/null | tr '\n' ' ')"; done
  echo "libnccl: $(ls /usr/local/cuda/lib*/libnccl.so* /usr/lib/x86_64-linux-gnu/libnccl.so* 2>/dev/null | tr '\n' ' ')"
  echo "python3: $(command -v python3); cmake: $(command -v cmake) $(cmake --version 2>/dev/null | head -1)"
  echo "LD_LIBRARY_PATH=$ORIG_LD"
} > "$LOGS/environment.log" 2>&1
cat "$LOGS/environment.log"

EXTRA_CMAKE=()
if ls .gpudeps/*.deb >/dev/null 2>&1; then
  DEPS_ROOT=/tmp/astromm-deps
  rm -rf "$DEPS_ROOT" && mkdir -p "$DEPS_ROOT/fallback-lib"
  for f in .gpudeps/*.deb; do dpkg -x "$f" "$DEPS_ROOT"; done
  MULTI=$DEPS_ROOT/usr/lib/x86_64-linux-gnu
  export OPAL_PREFIX=$DEPS_ROOT/usr PATH=$DEPS_ROOT/usr/bin:$PATH
  export LD_LIBRARY_PATH=$MULTI:$MULTI/openmpi/lib:$MULTI/openblas-openmp:$MULTI/hdf5/openmpi${ORIG_LD:+:$ORIG_LD}:$DEPS_ROOT/fallback-lib
  # Libraries the image lacks (e.g. libcurl for HDF5): from .gpudeps/fallback, one
  # soname at a time, until ldd finds everything the dependencies need.
  if ls .gpudeps/fallback/*.deb >/dev/null 2>&1; then
    FB=/tmp/astromm-fallback
    rm -rf "$FB" && mkdir -p "$FB"
    for f in .gpudeps/fallback/*.deb; do dpkg -x "$f" "$FB"; done
    for round in 1 2 3 4 5 6; do
      missing=$(for l in "$MULTI"/hdf5/openmpi/libhdf5.so "$MULTI"/openmpi/lib/libmpi.so "$MULTI"/libcfitsio.so.* \
                         "$MULTI"/libconfig.so.* "$MULTI"/openblas-openmp/libopenblas.so.0 "$DEPS_ROOT"/usr/bin/orted \
                         "$DEPS_ROOT"/usr/bin/mpirun.openmpi; do ldd "$l" 2>/dev/null; done |
                awk '/not found/ {print $1}' | sort -u)
      [ -z "$missing" ] && break
      for so in $missing; do
        src=$(find "$FB" -name "$so" \( -type f -o -type l \) | head -1)
        if [ -n "$src" ]; then ln -sf "$(readlink -f "$src")" "$DEPS_ROOT/fallback-lib/$so"; echo "gpu_check: $so from the fallback packages"
        else echo "gpu_check: $so is missing and not in .gpudeps/fallback"; fi
      done
    done | tee -a "$LOGS/environment.log"
  fi
  EXTRA_CMAKE=(-DASTROMM_DEPS_ROOT=$DEPS_ROOT -DMPIEXEC_EXECUTABLE=$DEPS_ROOT/usr/bin/mpirun.openmpi)
  export MPIRUN=$DEPS_ROOT/usr/bin/mpirun.openmpi
  echo "gpu_check: using carried packages unpacked in $DEPS_ROOT"
else
  run deps 180 scripts/deps.sh || echo "gpu_check: deps.sh failed and no .gpudeps/ was carried (run scripts/gpu_pack_deps.sh first)"
fi
MPIRUN=${MPIRUN:-mpirun}
# NCCL: the toolkit's, else the image's Python wheels (nvidia-nccl-cu13: header and libnccl.so.2).
if [ ! -f /usr/local/cuda/include/nccl.h ] && [ ! -f /usr/include/nccl.h ]; then
  SP=$(env LD_LIBRARY_PATH="$ORIG_LD" PATH="$ORIG_PATH" python3 -c "import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))" 2>/dev/null)
  hdr=$( [ -n "$SP" ] && find "$SP/nvidia" -name nccl.h 2>/dev/null | head -1)
  lib=$( [ -n "$SP" ] && find "$SP/nvidia" -name 'libnccl.so*' 2>/dev/null | head -1)
  if [ -n "$hdr" ] && [ -n "$lib" ]; then
    mkdir -p /tmp/astromm-cudalibs
    ln -sf "$lib" /tmp/astromm-cudalibs/libnccl.so
    ln -sf "$lib" /tmp/astromm-cudalibs/libnccl.so.2
    export CPATH=$(dirname "$hdr")${CPATH:+:$CPATH}
    export LIBRARY_PATH=/tmp/astromm-cudalibs${LIBRARY_PATH:+:$LIBRARY_PATH}
    export LD_LIBRARY_PATH=/tmp/astromm-cudalibs:$LD_LIBRARY_PATH
    EXTRA_CMAKE+=(-DCMAKE_LIBRARY_PATH=/tmp/astromm-cudalibs -DCMAKE_INCLUDE_PATH=$(dirname "$hdr"))
    echo "gpu_check: NCCL from $hdr, $lib" | tee -a "$LOGS/environment.log"
  else
    echo "gpu_check: no nccl.h in the toolkit or the Python wheels (site-packages: ${SP:-none})" | tee -a "$LOGS/environment.log"
  fi
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# ------------------------------------------------------------ 2. GPU and build
run nvidia_smi 30 nvidia-smi
GPU_NAME=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)
GPU_NAME=${GPU_NAME:-unknown (nvidia-smi failed)}
CUDA_VER=$( (nvcc --version 2>/dev/null || /usr/local/cuda/bin/nvcc --version 2>/dev/null) | grep -o 'release [0-9.]*' | head -1)
# Only what the steps below run (CI builds and runs everything else).
TARGETS="astromm bench_step bench_zoobot_step test_gpu_ops test_gpu_model test_gpu_zoobot test_gpu_nccl"
BUILD_CMD="cmake -S . -B $BUILD_DIR -DCMAKE_BUILD_TYPE=Release -DASTROMM_CUDA=ON -DASTROMM_WERROR=ON && cmake --build $BUILD_DIR -j \$(nproc) --target $TARGETS"
TAIL_LINES=30 run build 240 bash -c "cmake -S . -B '$BUILD_DIR' -DCMAKE_BUILD_TYPE=Release -DASTROMM_CUDA=ON -DASTROMM_WERROR=ON ${EXTRA_CMAKE[*]} >/dev/null && cmake --build '$BUILD_DIR' -j \$(nproc) --target $TARGETS" || gpu_fail=1
AM=$BUILD_DIR/astromm
[ -x "$AM" ] && "$AM" devices 2>&1 | tee -a "$LOGS/environment.log"

# ------------------------------------------------------------ 3. dataset (background, CPU)
DATA=/tmp/astromm_gpu_check_17k.h5
synth_pid=""
if [ -x "$AM" ] && ! skipped epochs; then
  (OMP_NUM_THREADS=4 "$AM" synth --n 17063 --seed 3 --out "$DATA" > "$LOGS/synth.log" 2>&1; echo "exit $?" >> "$LOGS/synth.log") &
  synth_pid=$!
fi

# ------------------------------------------------------------ 4. GPU tests
PY=""
for cand in ${PYTHON:-} python3 /usr/bin/python3; do
  if env LD_LIBRARY_PATH="$ORIG_LD" "$cand" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    PY=$(command -v "$cand")
    break
  fi
done
export ASTROMM_PYTHON=${PY:-python3}
if [ $gpu_fail -eq 0 ] && ! skipped tests; then
  TAIL_LINES=40 run gpu_tests 300 bash -c "cd '$BUILD_DIR' && ctest -L gpu -j 4 --output-on-failure --timeout 280" || gpu_fail=1
  if grep -q "SKIP: no usable GPU\|Not Run\|\*\*\*Skipped" "$LOGS/gpu_tests.log" 2>/dev/null; then
    note gpu_tests "some tests were SKIPPED (see gpu_tests.log)"
    grep -q "test_gpu_ops.*Skipped\|test_gpu_model.*Skipped" "$LOGS/gpu_tests.log" && gpu_fail=1
  fi
fi

# ------------------------------------------------------------ 6. benchmarks, interleaved
sample_mem() {  # background nvidia-smi sampler; echoes its pid
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > "$1" 2>/dev/null &
  echo $!
}
if [ -x "$BUILD_DIR/benchmarks/bench_step" ] && ! skipped bench; then
  for prec in fp32 tf32 bf16; do
    mem_pid=$(sample_mem "$LOGS/mem_astromm_$prec.csv")
    run bench_astromm_$prec 90 "$BUILD_DIR/benchmarks/bench_step" --device cuda --precision $prec --batch "$BATCH" \
        --warmup 3 --steps "$STEPS" --profile 3 --json "$LOGS/bench_astromm_$prec.json" || other_fail=1
    kill "$mem_pid" 2>/dev/null; wait "$mem_pid" 2>/dev/null
    if [ -n "$PY" ]; then
      mem_pid=$(sample_mem "$LOGS/mem_torch_$prec.csv")
      run bench_torch_$prec 90 env LD_LIBRARY_PATH="$ORIG_LD" "$PY" benchmarks/peer/astrom3_torch.py --device cuda \
          --precision $prec --batch "$BATCH" --warmup 3 --steps "$STEPS" --json "$LOGS/bench_torch_$prec.json" || other_fail=1
      kill "$mem_pid" 2>/dev/null; wait "$mem_pid" 2>/dev/null
    fi
  done
  [ -z "$PY" ] && note bench_torch "not run: no python3 with a CUDA PyTorch"
fi
# Zoobot (issue 16): the published ConvNeXt-nano step on the GPU (cuDNN convolutions), fp32.
if [ -x "$BUILD_DIR/benchmarks/bench_zoobot_step" ] && ! skipped bench; then
  run bench_zoobot_fp32 120 "$BUILD_DIR/benchmarks/bench_zoobot_step" --device cuda --precision fp32 \
      --config configs/zoobot_convnext_nano.cfg --batch 64 --warmup 2 --steps 10 --profile 2 \
      --json "$LOGS/bench_zoobot_fp32.json" || other_fail=1
fi

# ------------------------------------------------------------ 7. pre-training epochs
EPOCH_CMD="mpirun -np 1 $AM train configs/astrom3_clip.cfg --set data.path=... --set run.device=\"cuda\" --set train.epochs=$EPOCHS --set train.early_stop_patience=0"
if [ -n "$synth_pid" ]; then
  wait "$synth_pid"
  if grep -q "exit 0" "$LOGS/synth.log"; then
    for prec in fp32 bf16; do
      run epochs_$prec 150 "$MPIRUN" -np 1 "$AM" train configs/astrom3_clip.cfg --set "data.path=\"$DATA\"" \
          --set "run.dir=\"/tmp/gpu_check_epochs_$prec\"" --set 'run.device="cuda"' --set "run.precision=\"$prec\"" \
          --set train.epochs=$EPOCHS --set train.early_stop_patience=0 || other_fail=1
      cp "/tmp/gpu_check_epochs_$prec/metrics.jsonl" "$LOGS/epochs_${prec}_metrics.jsonl" 2>/dev/null
    done
  else
    note epochs "synthetic dataset failed (synth.log)"
  fi
fi

# ------------------------------------------------------------ 8. summary
pack_logs
# The device tool's copy of the tree may carry stale git metadata: pass the
# commit in (GPU_CHECK_COMMIT=$(git rev-parse --short HEAD) from the checkout).
COMMIT=${GPU_CHECK_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo "unknown (no git metadata on this machine)")}
DIRTY=$(git status --porcelain --untracked-files=no 2>/dev/null | head -1)
GPU_NAME="$GPU_NAME" CUDA_VER="$CUDA_VER" COMMIT="$COMMIT" DIRTY="$DIRTY" BATCH="$BATCH" STEPS="$STEPS" \
BUILD_CMD="$BUILD_CMD" EPOCH_CMD="$EPOCH_CMD" LOGS="$LOGS" GPU_FAIL=$gpu_fail OTHER_FAIL=$other_fail \
OUTFILE="$RESULTS/$SUMMARY" env LD_LIBRARY_PATH="$ORIG_LD" PATH="$ORIG_PATH" python3 - <<'PY' || echo "gpu_check: writing the summary failed"
import datetime, glob, json, os, re, statistics
e = os.environ
L = e["LOGS"]
def load(p):
    try:
        return json.load(open(p))
    except (OSError, ValueError):
        return None
def peak(p):
    try:
        v = [float(x) for x in open(p) if x.strip().replace(".", "", 1).isdigit()]
        return max(v) if v else None
    except OSError:
        return None
def tail(name, pat):
    try:
        ls = [l.rstrip() for l in open(os.path.join(L, name + ".log")) if re.search(pat, l)]
        return ls[-1] if ls else None
    except OSError:
        return None
rows = []
for prec in ("fp32", "tf32", "bf16"):
    a, t = load(f"{L}/bench_astromm_{prec}.json"), load(f"{L}/bench_torch_{prec}.json")
    am, tm = peak(f"{L}/mem_astromm_{prec}.csv"), peak(f"{L}/mem_torch_{prec}.csv")
    def cell(r):
        if not r: return "n/a | n/a"
        s = r["step_seconds"]
        return "%.4f (%.4f–%.4f) | %.0f" % (r["median_step_s"], min(s), max(s), r["samples_per_s"])
    ratio = "%.2fx" % (a["samples_per_s"] / t["samples_per_s"]) if a and t else "n/a"
    rows.append(f"| {prec} | {cell(a)} | {'%.0f' % am if am else 'n/a'} | {cell(t)} | "
                f"{'%.0f' % t['peak_gpu_mib'] if t and t.get('peak_gpu_mib') else 'n/a'} / {'%.0f' % tm if tm else 'n/a'} | {ratio} |")
status = open(f"{L}/status.txt").read().strip().splitlines()
ep = []
for prec in ("fp32", "bf16"):
    try:
        recs = [json.loads(l) for l in open(f"{L}/epochs_{prec}_metrics.jsonl")]
    except OSError:
        continue
    steps = [r for r in recs if r.get("kind") == "step"]
    epochs = [r for r in recs if r.get("kind") == "epoch"]
    if not steps:
        continue
    sps = statistics.median(r["samples_per_s"] for r in steps)
    tdata = sum(r["t_data"] for r in steps) / sum(r["t_data"] + r["t_compute"] + r["t_comm"] for r in steps)
    es = [r["epoch_seconds"] for r in epochs]
    ep.append(f"- {prec}: {len(steps)} steps, median {sps:.0f} samples/s, data wait {100 * tdata:.1f} % of step time; "
              f"epoch seconds (training + validation) {', '.join('%.2f' % x for x in es) or 'n/a'}"
              + (f"; 100 epochs at the last epoch's rate: {100 * es[-1]:.0f} s (extrapolated)" if es else "")
              + "; run: " + next((x for x in status if x.startswith("epochs_" + prec)), "?"))
status = open(f"{L}/status.txt").read().strip().splitlines()
tests = tail("gpu_tests", r"tests passed|tests failed") or "did not run"
text = f"""# GPU check: CUDA backend vs CPU, training-step benchmark vs PyTorch, pre-training epochs

**GPU tests: {"PASSED" if e["GPU_FAIL"] == "0" else "FAILED"}** ({tests}).

- GPU: {e["GPU_NAME"]}; CUDA toolkit {e["CUDA_VER"] or "?"}
- Commit: {e["COMMIT"]}{" (with local changes)" if e["DIRTY"] else ""}; date {datetime.datetime.now().isoformat(timespec="seconds")}
- Build: `{e["BUILD_CMD"]}`; tests: `ctest -L gpu` (scripts/gpu_check.sh)
- Benchmark: `bench_step --device cuda --precision P --batch {e["BATCH"]} --warmup 3 --steps {e["STEPS"]}` and
  `astrom3_torch.py --device cuda --precision P` (same model, same step: forward, trimodal CLIP loss,
  backward, clip 45, Adam), run interleaved per precision; median step (min–max) over {e["STEPS"]} steps.

| precision | astromm step s | astromm samples/s | astromm GPU MiB (nvidia-smi) | PyTorch step s | PyTorch samples/s | PyTorch MiB (allocated / nvidia-smi) | astromm / PyTorch |
|---|---|---|---|---|---|---|---|
""" + "\n".join(rows) + f"""

Pre-training epochs (`{e["EPOCH_CMD"]}`, 17,063 synthetic objects on local disk):
""" + ("\n".join(ep) or "- not run") + """

## Steps
""" + "\n".join("- " + s for s in status) + "\n"
open(e["OUTFILE"], "w").write(text)
print(text)
PY
pack_logs
echo "gpu_check: summary in $RESULTS/$SUMMARY, logs in $RESULTS/gpu_check_logs.tar.gz ($((SECONDS - START))s)"
if [ $gpu_fail -ne 0 ]; then echo "gpu_check: FAILED (build or GPU tests)"; exit 1; fi
if [ $other_fail -ne 0 ]; then echo "gpu_check: GPU tests passed; a benchmark failed"; exit 2; fi
echo "gpu_check: OK"
exit 0
