#!/usr/bin/env bash
# The training step of two builds side by side (e.g. before and after a
# refactor): bench_step of each, interleaved A-B-B-A so that drift of a shared
# machine falls on both; prints the median step and the round medians of each.
# Usage: benchmarks/compare_step.sh BUILD_A BUILD_B [CYCLES=4] [-- bench_step args]
#   e.g. git worktree add /tmp/a <rev> && (cd /tmp/a && scripts/build.sh) &&
#        benchmarks/compare_step.sh /tmp/a/build build
set -euo pipefail
a=$1 b=$2 cycles=${3:-4}
shift $(( $# >= 3 ? 3 : 2 ))
[ "${1:-}" = -- ] && shift
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--batch 64 --threads 2 --steps 8)
for d in "$a" "$b"; do
  [ -x "$d/benchmarks/bench_step" ] || { echo "compare_step.sh: $d/benchmarks/bench_step not built" >&2; exit 2; }
done
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
i=0
for c in $(seq "$cycles"); do
  for which in A B B A; do
    i=$((i + 1)); d=$a; [ $which = B ] && d=$b
    "$d/benchmarks/bench_step" "${args[@]}" --json "$out/${which}_$i.json" > /dev/null
  done
done
/usr/bin/python3 - "$out" "$a" "$b" <<'PY'
import glob, json, os, statistics, sys
out, a, b = sys.argv[1:]
for which, d in (("A", a), ("B", b)):
    runs = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(out, which + "_*.json")))]
    t = [x for r in runs for x in r["step_seconds"]]
    m = sorted(r["median_step_s"] for r in runs)
    print(f"{which} {d}: median step {statistics.median(t):.3f} s over {len(t)} steps; "
          f"round medians {', '.join(f'{x:.3f}' for x in m)}")
PY
