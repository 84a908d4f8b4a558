#!/usr/bin/env bash
# The Zoobot training step, astromm C against its PyTorch peer (torchvision
# ConvNeXt, Zoobot's Dirichlet loss, AdamW): same model config, batch and thread
# count, alternating rounds; writes benchmarks/results/zoobot_cpu.md.
# Usage: benchmarks/run_zoobot_cpu.sh [--config configs/zoobot_small.cfg] [--batch 64] [--threads 2]
#                                     [--steps 10] [--rounds 3] [--out benchmarks/results/zoobot_cpu.md]
set -euo pipefail
cd "$(dirname "$0")/.."
config=configs/zoobot_small.cfg batch=64 threads=2 steps=10 rounds=3 outmd=benchmarks/results/zoobot_cpu.md
while [ $# -gt 0 ]; do
  case $1 in
    --config) config=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --out) outmd=$2; shift 2 ;;
    *) echo "run_zoobot_cpu.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
scripts/deps.sh python3-torch python3-torchvision
scripts/build.sh >/dev/null
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
export OMP_NUM_THREADS=$threads
load0=$(cut -d' ' -f1 /proc/loadavg)
for r in $(seq 1 "$rounds"); do
  ./build/benchmarks/bench_zoobot_step --config "$config" --batch "$batch" --threads "$threads" --steps "$steps" \
      --json "$out/c_$r.json"
  /usr/bin/python3 benchmarks/peer/zoobot_torch.py --config "$config" --batch "$batch" --threads "$threads" \
      --steps "$steps" --json "$out/torch_$r.json"
done
/usr/bin/python3 - "$out" "$config" "$batch" "$threads" "$steps" "$rounds" "$load0" "$outmd" <<'PY'
import glob, json, os, platform, statistics, subprocess, sys, datetime
out, config, batch, threads, steps, rounds, load0, outmd = sys.argv[1:]
def load(prefix):
    runs = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(out, prefix + "_*.json")))]
    times = [t for r in runs for t in r["step_seconds"]]
    return runs, statistics.median(times), min(times), max(times), max(r["peak_rss_mib"] for r in runs)
c_runs, c_med, c_min, c_max, c_rss = load("c")
t_runs, t_med, t_min, t_max, t_rss = load("torch")
b = int(batch)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
ratio = t_med / c_med
text = f"""# CPU Zoobot training-step benchmark: astromm (C) vs PyTorch

One Zoobot training step (ConvNeXt forward, dropout, Linear(34), 1 + 100 sigmoid,
Dirichlet-multinomial loss over the 10 GZ DECaLS questions, backward, gradient clipping,
AdamW) on generated greyscale images and vote counts, model `{config}`
({c_runs[0]['params']} parameters in both), batch {batch}, {threads} threads each,
{rounds} alternating rounds of {steps} timed steps (after 2 warm-up steps) per implementation.

| | median step (s) | min .. max (s) | images/s | peak RSS (MiB) |
|---|---|---|---|---|
| astromm C (`build/benchmarks/bench_zoobot_step`) | {c_med:.4f} | {c_min:.4f} .. {c_max:.4f} | {b / c_med:.1f} | {c_rss:.0f} |
| PyTorch {t_runs[0].get('torch_version', '?')} + torchvision ConvNeXt (`benchmarks/peer/zoobot_torch.py`) | {t_med:.4f} | {t_min:.4f} .. {t_max:.4f} | {b / t_med:.1f} | {t_rss:.0f} |

**Speed-up: {ratio:.2f}x** PyTorch's images/s (target >= 2x).

- Machine: {cpu}, {os.cpu_count()} cores; {platform.platform()}; load average at the start {load0}
- Commit: {commit}{' (with local changes)' if dirty else ''}; date {datetime.date.today()}
- Command: `benchmarks/run_zoobot_cpu.sh --config {config} --batch {batch} --threads {threads} --steps {steps} --rounds {rounds} --out {outmd}`
- Per-round medians: C {', '.join(f"{r['median_step_s']:.4f}" for r in c_runs)} s;
  PyTorch {', '.join(f"{r['median_step_s']:.4f}" for r in t_runs)} s
"""
open(outmd, "w").write(text)
print(text)
PY
