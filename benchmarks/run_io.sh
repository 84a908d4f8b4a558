#!/usr/bin/env bash
# Loader throughput vs a raw sequential read of the same file, and the share of
# a training step spent waiting for data (benchmarks/bench_io.c), at 1 and 2
# ranks, warm and cold page cache; writes benchmarks/results/io.md.
# The AstroM3-sized synthetic dataset (17,063 objects, ~600 MB) is created on
# first use under the scratch directory (never inside the repository).
# Usage: benchmarks/run_io.sh [--scratch /tmp/astromm_bench] [--rounds 3] [--batch 512]
#                             [--train-steps 6] [--train-batch 32]
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=${ASTROMM_BENCH_DIR:-/tmp/astromm_bench} rounds=3 batch=512 train_steps=6 train_batch=32
while [ $# -gt 0 ]; do
  case $1 in
    --scratch) scratch=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --train-steps) train_steps=$2; shift 2 ;;
    --train-batch) train_batch=$2; shift 2 ;;
    *) echo "run_io.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$(realpath -m "$scratch")/" in
  "$(realpath .)"/*) echo "run_io.sh: scratch dir $scratch is inside the repository" >&2; exit 2 ;;
esac
cmake --build build -j2 --target astromm bench_io >/dev/null
mkdir -p "$scratch"
data=$scratch/synth17k.h5
[ -f "$data" ] || build/astromm synth --n 17063 --out "$data"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
run() {  # run NP COLD(0|1) TAG EXTRA...
  local np=$1 cold=$2 tag=$3; shift 3
  local omp=$((2 / np)); [ "$omp" -ge 1 ] || omp=1
  local c=(mpirun --oversubscribe -np "$np" -x OMP_NUM_THREADS="$omp" build/benchmarks/bench_io --data "$data"
           --batch "$batch")
  [ "$cold" = 1 ] && c+=(--cold --epochs 1) || c+=(--epochs 2)
  c+=("$@")
  echo "${c[*]/#$data/\$DATA}" >>"$out/commands_$tag"
  "${c[@]}" --json "$out/$tag.json.$r" | sed "s/^/[$tag round $r] /"
}
for r in $(seq 1 "$rounds"); do  # alternate configurations within each round
  for np in 1 2; do
    run "$np" 0 "np${np}_warm"
    run "$np" 1 "np${np}_cold"
  done
done
for np in 1 2; do
  r=1 run "$np" 0 "np${np}_train" --train-steps "$train_steps" --train-batch "$train_batch"
done
/usr/bin/python3 - "$out" "$data" "$scratch" "$rounds" "$batch" "$train_steps" "$train_batch" <<'PY'
import glob, json, os, platform, statistics, subprocess, sys, datetime
out, data, scratch, rounds, batch, train_steps, train_batch = sys.argv[1:]
def runs(tag):
    return [json.load(open(p)) for p in sorted(glob.glob(os.path.join(out, tag + ".json.*")))]
def med(rs, k):
    return statistics.median(r[k] for r in rs)
def cmds(tag):
    return sorted(set(open(os.path.join(out, "commands_" + tag)).read().split("\n")) - {""})
rows, warm_raw, cold_raw = [], {}, {}
for np_ in (1, 2):
    for cold in (0, 1):
        tag = f"np{np_}_{'cold' if cold else 'warm'}"
        rs = runs(tag)
        raw, lmb, sps = med(rs, "raw_mb_s"), med(rs, "loader_mb_s"), med(rs, "loader_samples_s")
        ratio = statistics.median(r["loader_mb_s"] / r["raw_mb_s"] for r in rs)
        (cold_raw if cold else warm_raw)[np_] = raw
        per = ", ".join("%.0f" % (100 * r["loader_mb_s"] / r["raw_mb_s"]) for r in rs)
        rows.append(f"| {np_} | {'cold (fadvise DONTNEED)' if cold else 'warm'} | {raw:,.0f} | {lmb:,.0f} | "
                    f"{sps:,.0f} | **{100 * ratio:.0f} %** | {per} |")
train = []
for np_ in (1, 2):
    t = runs(f"np{np_}_train")[0]
    train.append(f"| {np_} | {t['train_batch']} | {t['train_step_s']:.3f} | **{100 * t['data_wait_frac']:.2f} %** |")
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0) / 2**20
df = subprocess.run(["df", "-hT", scratch], capture_output=True, text=True).stdout.strip().splitlines()[-1].split()
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
size = os.path.getsize(data) / 1e6
evict = min(cold_raw[n] / warm_raw[n] for n in (1, 2))
evict_note = (f"Eviction works on this VM: the cold raw read runs at {100 * evict:.0f} % or less of the warm one."
              if evict < 0.5 else
              f"**Eviction looks ineffective on this VM** (cold raw read at {100 * evict:.0f} % of the warm one): "
              "the cold rows then measure the host's cache, not the disk.")
all_cmds = "\n".join(c for tag in ("np1_warm", "np1_cold", "np2_warm", "np2_cold", "np1_train", "np2_train")
                     for c in cmds(tag))
text = f"""# I/O benchmark: parallel loader vs raw sequential read

`benchmarks/bench_io` on an AstroM3-sized synthetic dataset (`astromm synth --n 17063`,
one {size:.0f} MB file; training split {13649} objects), global batch {batch}, medians of {rounds} rounds
(configurations alternated within each round). np 1 runs with OMP_NUM_THREADS=2, np 2 with 1 per rank.

| ranks | page cache | raw read MB/s | loader MB/s | loader samples/s | loader / raw | per round (%) |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Data wait in training ({train_steps} timed CLIP steps of the real AstroM3 model after one
warm-up batch, prefetch on, warm cache):

| ranks | global batch | s/step | time waiting for data |
|---|---|---|---|
{chr(10).join(train)}

Targets: loader >= 80 % of the raw read bandwidth; data wait < 5 % of the step.

## Definitions

- **raw read**: each rank `pread`s its contiguous 1/P of the file in 8 MiB blocks (what `dd` does);
  MB/s = file bytes / slowest rank's time.
- **loader**: every batch of the training split through `loader_next`, no compute (warm: 2 epochs;
  cold: 1 epoch, so every byte comes from the device once). Loader bytes = the bytes selected in
  the file, summed over ranks: the spectra rows (3 x 2575 float32 = 30.9 kB per object) plus the
  light-curve windows read (<= 200 steps x 3 float32). Only the training split is read, so the loader
  moves ~{13312 * 30900 / size / 1e6 * 100:.0f} % of the file's bytes per epoch, as scattered ~31 kB rows
  (sorted and run-merged per batch), against the raw read's 8 MiB sequential blocks.
  samples/s = global samples delivered / time. The loader's time includes building each batch
  (light-curve tensors, z-scoring) on the I/O thread, not only the reads.
- **data wait**: time `loader_next` blocked / wall time of the timed steps (max over ranks).
- **warm** reads come from the page cache: the raw read is then a kernel memcpy into one reused,
  cache-hot 8 MiB buffer, while the loader's copies land in 16 MB batch buffers that are not cache
  resident, so the warm ratio measures memory-copy efficiency, not I/O. **cold** evicts the file with
  `posix_fadvise(POSIX_FADV_DONTNEED)` before each phase, which makes both read the device: that is
  the comparison the 80 % target is about. {evict_note}

## Reading the results

- The loader reads spectra straight into their batch rows with one collective
  `MPI_File_read_at_all` per shard and array (file view = the sorted, run-merged rows; memory
  type = the rows' batch positions), so on a warm cache it does one kernel copy per byte, like
  the raw read; the rest of its time is building the light-curve tensors on the I/O thread.
- Cold, the raw read streams 8 MiB requests with kernel readahead, while the loader asks for
  ~31 kB rows scattered over the file (a batch of 512 picks 1 row in ~27). Before each
  collective read the loader passes every run of rows to `posix_fadvise(WILLNEED)`, so the
  device gets them all at once instead of one synchronous request after another (this doubled
  the cold loader throughput: ~380 -> ~740 MB/s at np 1, batch 512); what remains is the
  device's random-read rate plus building the light-curve tensors. Closing the rest of the gap
  needs a file order that makes a batch's rows contiguous (pre-shuffled shards, block
  shuffling); advising the *next* batch's rows as well was tried and gave nothing (≈650 MB/s
  at np 1 and 2: the virtual disk's random-read rate looks like the limit). Cold raw reads vary a lot on this VM
  (the host caches too), so compare rounds, not single numbers.
- In training the loader only has to keep ahead of the step: a batch is read and built in a few
  ms against a step of ~1 s, so the wait stays near 0. The training run is measured warm; from the
  cold samples/s above a cold batch of 32 would take ~4 ms, still well under 1 % of a step
  (an estimate, not a measurement).

## Setup

- Machine: {cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM; {platform.platform()}
- Scratch file system (`df -hT {scratch}`): {df[0]} {df[1]}, {df[2]} total, {df[4]} free
  (a virtual disk of a shared VM: device throughput varies between runs)
- Commit: {commit}{' (with local changes)' if dirty else ''}; date {datetime.date.today()}
- Command: `benchmarks/run_io.sh --rounds {rounds} --batch {batch} --train-steps {train_steps} --train-batch {train_batch}`,
  which runs (`$DATA` = `{data}`):

```
{all_cmds}
```
"""
open("benchmarks/results/io.md", "w").write(text)
print(text)
PY
