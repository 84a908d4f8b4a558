#!/usr/bin/env bash
# Weak- and strong-scaling sweeps of `astromm train` on a SLURM GPU cluster,
# and the collection of their throughput into one CSV.
#
#   slurm/scaling_study.sh submit  [options]   # sbatch one job per (sweep, nodes x GPUs/node)
#   slurm/scaling_study.sh collect [options]   # read every run's metrics.jsonl -> CSV
#
# Every job runs slurm/train_multinode.sbatch CONFIG RUN_DIR [extra astromm-train args]
# with --nodes, --ntasks-per-node and --gpus-per-node set here (one rank per GPU).
# Extra args set the global batch (train.batch_size is global: local batch x GPUs)
# and the number of steps:  --set train.batch_size=B --set train.max_steps=S
# --set train.warmup_epochs=0 --set checkpoint.keep_last=1 --set run.device="cuda".
#
# Sweeps (GPU counts: 1, 2, 4 GPUs on one node when below --gpus-per-node, then
# every --nodes entry x --gpus-per-node):
#   weak:   --local-batch samples per GPU (default 512, the AstroM3 per-GPU batch),
#           global batch = local x GPUs;
#   strong: --global-batch fixed (default 512, the AstroM3 recipe), local = global / GPUs
#           (GPU counts above the global batch are skipped).
# submit writes STUDY/manifest.csv (sweep,nodes,gpus_per_node,gpus,local_batch,
# global_batch,run_dir,job_id); collect reads it and writes STUDY/scaling.csv with
# the median samples_per_s over the "kind":"step" records after --warmup steps
# (rank 0's metrics.jsonl), the median t_comm and t_compute, and the efficiency
# samples/s(W) / (W/W0 x samples/s(W0)) against the sweep's smallest GPU count W0
# (weak and strong alike: both compare throughput at W with W0's times W/W0).
# tools/plot_scaling.py plots that CSV next to benchmarks/scaling_model's curves.
#
# Options (both commands):
#   --study DIR          study directory (manifest, run directories)    [runs/scaling_study]
# submit:
#   --config PATH        training configuration                          [configs/astrom3.cfg]
#   --nodes "1 2 4 8"    node counts (each with --gpus-per-node GPUs)    ["1 2 4 8"]
#   --gpus-per-node G    [8]
#   --local-batch B      weak-scaling samples per GPU                    [512]
#   --global-batch B     strong-scaling global batch                     [512]
#   --steps S            training steps per run                          [60]
#   --sweeps "weak strong"                                               ["weak strong"]
#   --scope global|local train.loss_scope of every run ("": the config's) [""]
#   --train-args "..."  more astromm-train arguments (e.g. --set data.path=...)  [""]
#   --sbatch-args "..."  more sbatch options (partition, account, time)  [""]
#   --sbatch PATH        the batch script                  [slurm/train_multinode.sbatch]
#   --dry-run            print the sbatch commands, submit nothing
# collect:
#   --warmup N           steps dropped from each run's start              [10]
#   --out CSV            [STUDY/scaling.csv]
set -euo pipefail
cd "$(dirname "$0")/.."

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
  submit|collect) ;;
  -h|--help|"") awk 'NR > 1 && !/^#/ {exit} NR > 1' "$0"; [ -n "$cmd" ] && exit 0 || exit 2 ;;
  *) echo "scaling_study.sh: unknown command '$cmd' (submit or collect)" >&2; exit 2 ;;
esac

study=runs/scaling_study config=configs/astrom3.cfg nodes="1 2 4 8" gpn=8 lb=512 gb=512
steps=60 sweeps="weak strong" sbatch_args="" sbatch_script=slurm/train_multinode.sbatch
dry=0 warmup=10 out="" scope="" train_args=""
while [ $# -gt 0 ]; do
  case $1 in
    --study) study=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --nodes) nodes=$2; shift 2 ;;
    --gpus-per-node) gpn=$2; shift 2 ;;
    --local-batch) lb=$2; shift 2 ;;
    --global-batch) gb=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --sweeps) sweeps=$2; shift 2 ;;
    --scope) scope=$2; shift 2 ;;
    --train-args) train_args=$2; shift 2 ;;
    --sbatch-args) sbatch_args=$2; shift 2 ;;
    --sbatch) sbatch_script=$2; shift 2 ;;
    --dry-run) dry=1; shift ;;
    --warmup) warmup=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "scaling_study.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
manifest=$study/manifest.csv

if [ "$cmd" = submit ]; then
  [ -f "$config" ] || { echo "scaling_study.sh: no config $config" >&2; exit 2; }
  if [ ! -f "$sbatch_script" ] && [ $dry = 0 ]; then
    echo "scaling_study.sh: $sbatch_script not found" >&2; exit 2
  fi
  command -v sbatch >/dev/null || [ $dry = 1 ] || { echo "scaling_study.sh: sbatch not found" >&2; exit 2; }
  case $scope in ""|global|local) ;; *) echo "scaling_study.sh: --scope must be global or local" >&2; exit 2 ;; esac
  for v in "$gpn" "$lb" "$gb" "$steps"; do
    [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "scaling_study.sh: '$v' is not a positive integer" >&2; exit 2; }
  done
  # (nodes, gpus per node) pairs: 1, 2, 4 ... GPUs on one node, then full nodes.
  shapes=()
  for ((g = 1; g < gpn; g *= 2)); do shapes+=("1 $g"); done
  for n in $nodes; do shapes+=("$n $gpn"); done
  mkdir -p "$study"
  [ -f "$manifest" ] || echo "sweep,nodes,gpus_per_node,gpus,local_batch,global_batch,run_dir,job_id" > "$manifest"
  for sweep in $sweeps; do
    for shape in "${shapes[@]}"; do
      read -r n g <<< "$shape"
      W=$((n * g))
      case $sweep in
        weak) local_b=$lb; global_b=$((lb * W)) ;;
        strong)
          if [ $((gb % W)) -ne 0 ]; then
            echo "scaling_study.sh: strong: skipping $W GPUs (global batch $gb not divisible)" >&2; continue
          fi
          local_b=$((gb / W)); global_b=$gb ;;
        *) echo "scaling_study.sh: unknown sweep '$sweep' (weak or strong)" >&2; exit 2 ;;
      esac
      rundir=$study/${sweep}${scope:+_$scope}_n${n}_g${g}
      args=(--nodes="$n" --ntasks-per-node="$g" --gpus-per-node="$g"
            --job-name="astromm_${sweep}_${W}" --output="$rundir.%j.out")
      # shellcheck disable=SC2206  # --sbatch-args is split on purpose
      [ -n "$sbatch_args" ] && args+=($sbatch_args)
      train=(--set "train.batch_size=$global_b" --set "train.max_steps=$steps"
             --set train.warmup_epochs=0 --set checkpoint.keep_last=1 --set 'run.device="cuda"')
      [ -n "$scope" ] && train+=(--set "train.loss_scope=\"$scope\"")
      # shellcheck disable=SC2206  # --train-args is split on purpose
      [ -n "$train_args" ] && train+=($train_args)
      if [ $dry = 1 ]; then
        echo sbatch --parsable "${args[@]}" "$sbatch_script" "$config" "$rundir" "${train[@]}"
        continue
      fi
      job=$(sbatch --parsable "${args[@]}" "$sbatch_script" "$config" "$rundir" "${train[@]}")
      job=${job%%;*}
      echo "$sweep${scope:+_$scope},$n,$g,$W,$local_b,$global_b,$rundir,$job" >> "$manifest"
      echo "submitted $sweep $n x $g GPUs (global batch $global_b): job $job -> $rundir"
    done
  done
  [ $dry = 1 ] || echo "when the jobs are done: slurm/scaling_study.sh collect --study $study"
  exit 0
fi

# collect
[ -f "$manifest" ] || { echo "scaling_study.sh: no $manifest (run submit first)" >&2; exit 2; }
[ -n "$out" ] || out=$study/scaling.csv
/usr/bin/python3 - "$manifest" "$warmup" "$out" <<'PY'
import csv, json, os, statistics, sys

manifest, warmup, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = list(csv.DictReader(open(manifest)))
res = []
for r in rows:
    path = os.path.join(r["run_dir"], "metrics.jsonl")
    sps, tc, tm = [], [], []
    if os.path.exists(path):
        for line in open(path):
            try:
                m = json.loads(line)
            except ValueError:
                continue  # a line cut short by a killed job
            if m.get("kind") != "step" or m.get("step", 0) <= warmup:
                continue
            sps.append(m["samples_per_s"])
            tc.append(m.get("t_compute", float("nan")))
            tm.append(m.get("t_comm", float("nan")))
    if not sps:
        print(f"scaling_study.sh: {path}: no step records after warm-up {warmup} (job {r['job_id']} "
              "not finished or failed?)", file=sys.stderr)
    res.append(dict(r, steps=len(sps),
                    samples_per_s=statistics.median(sps) if sps else float("nan"),
                    t_compute=statistics.median(tc) if tc else float("nan"),
                    t_comm=statistics.median(tm) if tm else float("nan")))
for sweep in {r["sweep"] for r in res}:
    pts = sorted((r for r in res if r["sweep"] == sweep and r["steps"]), key=lambda r: int(r["gpus"]))
    if not pts:
        continue
    w0, s0 = int(pts[0]["gpus"]), pts[0]["samples_per_s"]
    for r in pts:
        r["efficiency"] = r["samples_per_s"] / (int(r["gpus"]) / w0 * s0)
cols = ["sweep", "nodes", "gpus_per_node", "gpus", "local_batch", "global_batch", "steps",
        "samples_per_s", "t_compute", "t_comm", "efficiency", "run_dir", "job_id"]
tmp = out + ".tmp"
with open(tmp, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(cols + ["source"])
    for r in sorted(res, key=lambda r: (r["sweep"], int(r["gpus"]))):
        w.writerow([r.get(c, "") if not isinstance(r.get(c), float) else f"{r[c]:.6g}" for c in cols] + ["measured"])
os.replace(tmp, out)
print(f"wrote {out} ({sum(1 for r in res if r['steps'])} of {len(res)} runs with data)")
PY
