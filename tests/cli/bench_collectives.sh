#!/usr/bin/env bash
# Smoke test of benchmarks/bench_collectives at 2 ranks (MPI, host buffers):
# a few small sizes of all three collectives, each printing an nccl-tests-like
# table with correct results (#wrong 0), valid --json, exit status 0; a bad
# argument exits 2. Usage: bench_collectives.sh MPIEXEC BENCH_BINARY
set -euo pipefail
mpiexec=$1 bench=$2
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL $*"; cat "$tmp/out" 2>/dev/null; exit 1; }

rc=0
"$mpiexec" --oversubscribe -np 2 "$bench" --device cpu --min-bytes 8 --max-bytes 64K --step-factor 4 \
  --iters 3 --warmup 1 --json "$tmp/r.json" > "$tmp/out" 2>&1 || rc=$?
[ $rc -eq 0 ] || fail "bench_collectives exited $rc"
for op in all_reduce all_gather reduce_scatter; do
  grep -q "^# $op (" "$tmp/out" || fail "no $op table"
  grep -q "^# $op: out of bounds values : 0 OK" "$tmp/out" || fail "$op results wrong"
done
grep -q "^#  *size  *count  *type  *redop  *iters  *time  *algbw  *busbw  *#wrong" "$tmp/out" || fail "no table header"
# 8 B .. 64 KiB in x4 steps: 7 sizes per collective, 21 rows of 9 columns.
rows=$(grep -cE '^ +[0-9]+ +[0-9]+ +float +(sum|none) +3 +[0-9.]+ +[0-9.]+ +[0-9.]+ +0$' "$tmp/out" || true)
[ "$rows" -eq 21 ] || fail "expected 21 result rows, got $rows"
grep -q "2 ranks" "$tmp/out" || fail "rank count not reported"
python3 - "$tmp/r.json" <<'PY' || fail "bad --json"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["ranks"] == 2 and len(d["results"]) == 21, d
for r in d["results"]:
    f = 2 * (2 - 1) / 2 if r["op"] == "all_reduce" else (2 - 1) / 2
    assert r["wrong"] == 0 and r["time_us"] > 0
    assert abs(r["busbw_gbs"] - r["algbw_gbs"] * f) <= 1e-6 * max(1, r["algbw_gbs"]) + 1e-6, r
PY

rc=0
"$mpiexec" --oversubscribe -np 2 "$bench" --max-bytes nonsense > "$tmp/out" 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "a bad --max-bytes exited $rc, not 2"
grep -q "bad or unknown argument '--max-bytes'" "$tmp/out" || fail "bad argument not named"
echo "bench_collectives smoke: ok"
