#!/usr/bin/env bash
# slurm/scaling_study.sh without a cluster: submit --dry-run prints one sbatch
# line per (sweep, shape) with the right global batch; collect turns fake
# metrics.jsonl files into the CSV (median samples/s after warm-up, efficiency
# against the smallest GPU count), skipping runs without data.
set -euo pipefail
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL $*"; exit 1; }
s=slurm/scaling_study.sh

out=$(bash $s submit --dry-run --study "$tmp" --nodes "2" --gpus-per-node 4 --local-batch 256 --global-batch 512 --scope local)
[ "$(grep -c '^sbatch ' <<< "$out")" -eq 6 ] || fail "expected 6 sbatch lines (1, 2 GPUs; 2 nodes x 4; two sweeps): $out"
grep -q -- "--nodes=2 --ntasks-per-node=4 --gpus-per-node=4 .* slurm/train_multinode.sbatch configs/astrom3.cfg $tmp/weak_local_n2_g4 --set train.batch_size=2048 " <<< "$out" || fail "weak 2x4 line: $out"
grep -q -- "$tmp/strong_local_n1_g2 --set train.batch_size=512 " <<< "$out" || fail "strong 1x2 line"
grep -q -- 'train.loss_scope="local"' <<< "$out" || fail "scope not passed"
rc=0; bash $s submit --dry-run --scope bogus > /dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "bad --scope exited $rc"

mkdir -p "$tmp/a" "$tmp/b"
printf 'sweep,nodes,gpus_per_node,gpus,local_batch,global_batch,run_dir,job_id\nweak,1,1,1,512,512,%s/a,1\nweak,1,2,2,512,1024,%s/b,2\nstrong,1,1,1,512,512,%s/none,3\n' "$tmp" "$tmp" "$tmp" > "$tmp/manifest.csv"
for i in $(seq 1 12); do echo "{\"kind\":\"step\",\"step\":$i,\"samples_per_s\":$((i <= 2 ? 1 : 1000)),\"t_compute\":0.5,\"t_comm\":0.01}"; done > "$tmp/a/metrics.jsonl"
for i in $(seq 1 12); do echo "{\"kind\":\"step\",\"step\":$i,\"samples_per_s\":1900,\"t_compute\":0.5,\"t_comm\":0.02}"; done > "$tmp/b/metrics.jsonl"
echo '{"kind":"epoch","epoch":0,"val_loss":1}' >> "$tmp/b/metrics.jsonl"
bash $s collect --study "$tmp" --warmup 2 2> "$tmp/err" > /dev/null
grep -q "no step records" "$tmp/err" || fail "missing run not reported"
/usr/bin/python3 - "$tmp/scaling.csv" <<'PY' || fail "bad scaling.csv"
import csv, sys
rows = {(r["sweep"], r["gpus"]): r for r in csv.DictReader(open(sys.argv[1]))}
assert float(rows[("weak", "1")]["samples_per_s"]) == 1000 and rows[("weak", "1")]["steps"] == "10", rows
assert abs(float(rows[("weak", "2")]["efficiency"]) - 0.95) < 1e-9, rows
assert rows[("strong", "1")]["steps"] == "0"
PY
echo "scaling_study smoke: ok"
