#!/usr/bin/env bash
# Runs the C training step and its PyTorch peer side by side (same batch, same
# thread count, alternating rounds) and writes benchmarks/results/cpu.md.
# Needs python3-torch (Debian) for the peer; builds bench_step if needed.
# Usage: benchmarks/run_cpu.sh [--batch 64] [--threads 2] [--steps 10] [--rounds 2]
set -euo pipefail
cd "$(dirname "$0")/.."
batch=64 threads=2 steps=10 rounds=2
while [ $# -gt 0 ]; do
  case $1 in
    --batch) batch=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "run_cpu.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
scripts/deps.sh python3-torch
scripts/build.sh >/dev/null
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
export OMP_NUM_THREADS=$threads
for r in $(seq 1 "$rounds"); do
  ./build/benchmarks/bench_step --batch "$batch" --threads "$threads" --steps "$steps" --json "$out/c_$r.json"
  /usr/bin/python3 benchmarks/peer/astrom3_torch.py --batch "$batch" --threads "$threads" \
      --steps "$steps" --json "$out/torch_$r.json"
done
/usr/bin/python3 - "$out" "$batch" "$threads" "$steps" "$rounds" <<'PY'
import glob, json, os, platform, statistics, subprocess, sys, datetime
out, batch, threads, steps, rounds = sys.argv[1:]
def load(prefix):
    runs = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(out, prefix + "_*.json")))]
    times = [t for r in runs for t in r["step_seconds"]]
    return runs, statistics.median(times), max(r["peak_rss_mib"] for r in runs)
c_runs, c_med, c_rss = load("c")
t_runs, t_med, t_rss = load("torch")
b = int(batch)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
cmd = f"benchmarks/run_cpu.sh --batch {batch} --threads {threads} --steps {steps} --rounds {rounds}"
ratio = t_med / c_med
text = f"""# CPU training-step benchmark: astromm (C) vs PyTorch

One full AstroM3 CLIP pre-training step (forward of all three encoders, projections,
trimodal CLIP loss, backward, global-norm clip 45, Adam) at the published AstroM3 sizes
(15.87M trainable parameters), dropout active, batch {batch}, {threads} threads each,
{rounds} alternating rounds of {steps} timed steps (after 2 warm-up steps) per implementation.

| | median step (s) | samples/s | peak RSS (MiB) |
|---|---|---|---|
| astromm C (`build/benchmarks/bench_step`) | {c_med:.3f} | {b / c_med:.1f} | {c_rss:.0f} |
| PyTorch {t_runs[0].get('torch_version', '?')} (`benchmarks/peer/astrom3_torch.py`) | {t_med:.3f} | {b / t_med:.1f} | {t_rss:.0f} |

**Speed-up: {ratio:.2f}x** the PyTorch samples/s (target >= 3x).

- Machine: {cpu}, {os.cpu_count()} cores; {platform.platform()}
- Commit: {commit}{' (with local changes)' if dirty else ''}; date {datetime.date.today()}
- Command: `{cmd}`
- Per-round medians: C {', '.join(f"{r['median_step_s']:.3f}" for r in c_runs)} s;
  PyTorch {', '.join(f"{r['median_step_s']:.3f}" for r in t_runs)} s
"""
os.makedirs("benchmarks/results", exist_ok=True)
# Replace only this script's part (everything before the first section another
# script maintains, e.g. run_train.sh's markers); keep the rest of the file.
path = "benchmarks/results/cpu.md"
rest = ""
if os.path.exists(path):
    old = open(path).read()
    cut = old.find("<!-- run_train.sh begin -->")
    rest = "\n" + old[cut:] if cut >= 0 else ""
open(path, "w").write(text + rest)
print(text)
PY
