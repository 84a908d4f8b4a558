#!/usr/bin/env bash
# Weak scaling of `astromm train` (distributed CLIP pre-training, full AstroM3
# sizes from configs/astrom3.cfg) at np 1 and np 2, one OpenMP thread per rank,
# local batch 16 per rank (global 16 at np 1, 32 at np 2), plus a reference
# point at np 1 with 2 threads and global batch 32. Reads each run's
# metrics.jsonl (rank 0's per-step samples/s, t_compute, t_comm, t_data,
# peak RSS), skips the warm-up steps, and writes a markdown section between
# markers into benchmarks/results/cpu.md (replaced on re-run, appended first
# time). The synthetic dataset and run directories live under the scratch
# directory (never inside the repository).
# Usage: benchmarks/run_train.sh [--scratch /tmp/astromm_bench] [--n 4000] [--steps 14]
#                                [--warmup 2] [--rounds 5] [--local-batch 16] [--no-write]
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=${ASTROMM_BENCH_DIR:-/tmp/astromm_bench} n=4000 steps=14 warmup=2 rounds=5 lb=16 write=1
while [ $# -gt 0 ]; do
  case $1 in
    --scratch) scratch=$2; shift 2 ;;
    --n) n=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --local-batch) lb=$2; shift 2 ;;
    --no-write) write=0; shift ;;
    *) echo "run_train.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ "$steps" -gt "$warmup" ] || { echo "run_train.sh: --steps must exceed --warmup" >&2; exit 2; }
case "$(realpath -m "$scratch")/" in
  "$(realpath .)"/*) echo "run_train.sh: scratch dir $scratch is inside the repository" >&2; exit 2 ;;
esac
[ -x build/astromm ] || cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target astromm >/dev/null
mkdir -p "$scratch"
data=$scratch/synth${n}.h5
[ -f "$data" ] || build/astromm synth --n "$n" --out "$data"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
out=$(mktemp -d "$scratch/run_train.XXXXXX"); trap 'rm -rf "$out"' EXIT
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
run() {  # run TAG NP THREADS_PER_RANK GLOBAL_BATCH
  local tag=$1 np=$2 th=$3 gb=$4 dir="$out/$1.r$r"
  local c=(mpirun --oversubscribe --bind-to none -np "$np" -x OMP_NUM_THREADS="$th"
           build/astromm train configs/astrom3.cfg
           --set "data.path=\"$data\"" --set "run.dir=\"$dir\"" --set "run.threads=$th"
           --set "train.batch_size=$gb"
           --set "train.max_steps=$steps" --set train.warmup_epochs=0 --set checkpoint.keep_last=1)
  local a q=()
  for a in "${c[@]}"; do [[ $a == *\"* ]] && q+=("'${a/$dir/$scratch/RUNDIR}'") || q+=("$a"); done
  echo "${q[*]}" >>"$out/commands_$tag"
  # Other processes' CPU use during the run (the VM is shared): system busy
  # jiffies (incl. steal) from /proc/stat minus this run's own user+sys time.
  local b0 b1; b0=$(busy)
  /usr/bin/time -f "%e %U %S" -o "$out/$tag.r$r.time" "${c[@]}" >"$out/$tag.r$r.log" 2>&1 ||
    { cat "$out/$tag.r$r.log" >&2; exit 1; }
  b1=$(busy)
  echo "$(cat "$out/$tag.r$r.time") $(( b1 - b0 ))" >"$out/$tag.r$r.load"
  echo "[round $r] $tag: $(grep -c '"kind":"step"' "$dir/metrics.jsonl") steps; wall, user, sys (s), busy jiffies: $(cat "$out/$tag.r$r.load")"
}
for r in $(seq 1 "$rounds"); do  # alternate configurations within each round
  run np1_1t 1 1 "$lb"
  run np2_1t 2 1 $((2 * lb))
  run np1_2t 1 2 $((2 * lb))
done
/usr/bin/python3 - "$out" "$data" "$n" "$steps" "$warmup" "$rounds" "$lb" "$write" <<'PY'
import glob, json, os, platform, re, statistics, subprocess, sys, datetime
out, data, n, steps, warmup, rounds, lb, write = sys.argv[1:]
steps, warmup, rounds, lb = int(steps), int(warmup), int(rounds), int(lb)
med = statistics.median

HZ = os.sysconf("SC_CLK_TCK")
def foreign(tag):  # per round: share of the machine's CPU used by other processes during the run
    fs = []
    for p in sorted(glob.glob(os.path.join(out, tag + ".r*.load")), key=lambda p: int(p.split(".r")[-1][:-5])):
        wall, u, s_, busy = map(float, open(p).read().split())
        fs.append(max(0.0, (busy / HZ - u - s_) / (wall * os.cpu_count())))
    return fs

def load(tag):
    rs = []
    for p in sorted(glob.glob(os.path.join(out, tag + ".r*", "metrics.jsonl")),
                    key=lambda p: int(os.path.basename(os.path.dirname(p)).split(".r")[-1])):
        st = [json.loads(l) for l in open(p) if l.strip()]
        st = [s for s in st if s.get("kind") == "step" and s["step"] > warmup]
        assert st, p
        rs.append(st)
    return rs

cfgs = [("np1_1t", 1, 1, lb), ("np2_1t", 2, 1, 2 * lb), ("np1_2t", 1, 2, 2 * lb)]
res = {}
for tag, np_, th, gb in cfgs:
    rs = load(tag)
    allst = [s for r in rs for s in r]
    tot = {k: sum(s[k] for s in allst) for k in ("t_compute", "t_comm", "t_data")}
    T = sum(tot.values())
    res[tag] = dict(
        np=np_, th=th, gb=gb, nsteps=len(allst),
        sps=med(s["samples_per_s"] for s in allst),
        round_sps=[med(s["samples_per_s"] for s in r) for r in rs],
        step=med(s["t_compute"] + s["t_comm"] + s["t_data"] for s in allst),
        **{k: med(s[k] for s in allst) for k in tot},
        **{k + "_share": tot[k] / T for k in tot},
        rss=max(s["peak_rss_mib"] for s in allst), foreign=foreign(tag))
a, b, c = res["np1_1t"], res["np2_1t"], res["np1_2t"]
eff = b["sps"] / (2 * a["sps"])
eff_rounds = [y / (2 * x) for x, y in zip(a["round_sps"], b["round_sps"])]
QUIET = 0.10
quiet = [i for i in range(len(eff_rounds)) if a["foreign"][i] < QUIET and b["foreign"][i] < QUIET]
eff_quiet = (f"{100 * med(eff_rounds[i] for i in quiet):.0f} % (median over the {len(quiet)} round(s) "
             f"{', '.join(str(i + 1) for i in quiet)} in which other processes used < {100 * QUIET:.0f} % of the "
             "machine during both runs)") if quiet else f"n/a (no round had < {100 * QUIET:.0f} % other load)"
label = {"np1_1t": "np 1 x 1 thread", "np2_1t": "np 2 x 1 thread", "np1_2t": "np 1 x 2 threads (reference)"}
rows = []
for tag, *_ in cfgs:
    r = res[tag]
    rows.append(f"| {label[tag]} | {r['gb']} ({r['gb'] // r['np']}/rank) | **{r['sps']:.1f}** | {r['step']:.3f} | "
                f"{r['t_compute']:.3f} ({100 * r['t_compute_share']:.1f} %) | "
                f"{1e3 * r['t_comm']:.1f} ms ({100 * r['t_comm_share']:.1f} %) | "
                f"{1e3 * r['t_data']:.2f} ms ({100 * r['t_data_share']:.2f} %) | {r['rss']:.0f} | "
                f"{', '.join('%.1f' % x for x in r['round_sps'])} | "
                f"{', '.join('%.0f' % (100 * x) for x in r['foreign'])} |")
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/results"],
                       capture_output=True, text=True).stdout.strip()  # this script edits results/cpu.md itself
ompi = subprocess.run(["mpirun", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
argv = f"--n {n} --steps {steps} --warmup {warmup} --rounds {rounds} --local-batch {lb}"
cmds = []
for tag, *_ in cfgs:
    for l in open(os.path.join(out, "commands_" + tag)).read().split("\n"):
        if l and l not in cmds:
            cmds.append(l)
cmds = "\n".join(cmds)
text = f"""<!-- run_train.sh begin -->
## Distributed training (`astromm train`): weak scaling at np 1 and np 2

Full `astromm train` runs (MPI ranks, per-rank data loader with prefetch, global CLIP matrix,
bucketed gradient all-reduce, Adam) at the published AstroM3 sizes (`configs/astrom3.cfg`,
15,869,827 parameters), local batch {lb} per rank, on a synthetic dataset
(`astromm synth --n {n}`), {rounds} rounds alternating the three configurations, each run
{steps} steps of which the first {warmup} are dropped as warm-up: {res['np1_1t']['nsteps']} timed steps
per configuration. Numbers are rank 0's per-step metrics (`metrics.jsonl`); the
checkpoint written at `train.max_steps` is outside every step's timing.

| configuration | global batch | samples/s (median) | s/step | t_compute | t_comm | t_data | peak RSS rank 0 (MiB) | per-round median samples/s | other load per round (%) |
|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

**Weak-scaling efficiency np 1 -> np 2 (1 thread per rank): {100 * eff:.0f} %**
(samples/s at np 2 / (2 x samples/s at np 1); per round {', '.join('%.0f %%' % (100 * e) for e in eff_rounds)}).
Quiet rounds only: {eff_quiet}.
np 2 x 1 thread vs np 1 x 2 threads at the same global batch {2 * lb}: {b['sps'] / c['sps']:.2f}x.

- "other load": CPU time used by other processes (and hypervisor steal) during the run, as a share of
  the whole machine ({os.cpu_count()} cores x wall time): system busy time from `/proc/stat` minus
  the run's own user+sys (`/usr/bin/time`; it includes start-up and the final checkpoint).
- Times are medians per step; shares are each part's sum over the timed steps / the sum of all three.
  samples/s = global batch / (t_data + t_compute + t_comm) of that step.
- t_comm = wall time inside MPI calls that is not overlapped with compute (embedding all-gather for
  the global CLIP matrix, loss/accuracy reductions, waits on the gradient-bucket all-reduces), which
  includes waiting for the slower rank; t_data = time blocked in `loader_next`.
- Machine: {cpu}, {os.cpu_count()} cores (shared, noisy VM); {platform.platform()}; {ompi};
  `--bind-to none`, ranks communicate over shared memory (one node).
- Commit: {commit}{' (with local changes)' if dirty else ''}; date {datetime.date.today()}
- Command: `benchmarks/run_train.sh {argv}`, which runs (RUNDIR: a fresh
  temporary run directory per run):
```
{cmds}
```
<!-- run_train.sh end -->
"""
print(text)
if write == "1":
    p = "benchmarks/results/cpu.md"
    old = open(p).read() if os.path.exists(p) else ""
    pat = re.compile(r"<!-- run_train.sh begin -->.*?<!-- run_train.sh end -->\n", re.S)
    new = pat.sub(lambda m: text, old) if pat.search(old) else old.rstrip("\n") + "\n\n" + text
    open(p, "w").write(new)
    print("updated", p)
res["efficiency"] = dict(pooled=eff, rounds=eff_rounds, quiet_rounds=[i + 1 for i in quiet])
json.dump(res, open(os.path.join(os.path.dirname(data), "run_train_last.json"), "w"), indent=1)
PY
