#!/usr/bin/env bash
# Lomb-Scargle period finder: astromm (src/data/ingest/periodogram.c) against astropy,
# side by side on the same real ASAS curves, interleaved round by round.
# Each round: astromm on 1 thread, astropy (1 thread), astromm features on all
# threads. Reports per-round lines, then medians, min-max and the per-core ratio,
# and how often the two best periods agree (within one grid step).
# Usage: benchmarks/periodogram.sh [ROUNDS=3] [CURVES=40] [BUILD=build]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}; curves=${2:-40}; build=${3:-build}
csv=../shared/data/asas/lightcurves.csv.gz
[ -f "$csv" ] || { echo "periodogram.sh: $csv not found" >&2; exit 1; }
bench=$build/benchmarks/bench_periodogram
[ -x "$bench" ] || { echo "periodogram.sh: build $bench first (scripts/build.sh)" >&2; exit 1; }
export OPENBLAS_NUM_THREADS=1
log=$(mktemp); trap 'rm -f "$log"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$rounds"); do
  OMP_NUM_THREADS=1 "$bench" --asas-csv "$csv" --curves "$curves" --threads 1 --print > "$log.c"
  grep -v '^best' "$log.c" | sed "s/^/round $r: /" | tee -a "$log"
  OMP_NUM_THREADS=1 /usr/bin/python3 benchmarks/periodogram_astropy.py "$csv" "$curves" --print > "$log.py"
  grep -v '^best' "$log.py" | sed "s/^/round $r: /" | tee -a "$log"
  "$bench" --asas-csv "$csv" --curves "$curves" --threads "$(nproc)" --what features | sed "s/^/round $r: /" | tee -a "$log"
done
# Agreement of the best frequencies (last round), within one grid step df = 1/(5 T).
/usr/bin/python3 - "$log.c" "$log.py" "$csv" "$curves" <<'PY'
import gzip, sys
def best(p):
    return {int(l.split()[1]): float(l.split()[2]) for l in open(p) if l.startswith("best")}
a, b = best(sys.argv[1]), best(sys.argv[2])
span, lo, hi = {}, {}, {}
with gzip.open(sys.argv[3], "rt") as f:
    next(f)
    for line in f:
        i, t = line.split(",")[:2]
        i, t = int(i), float(t)
        lo[i] = min(lo.get(i, t), t); hi[i] = max(hi.get(i, t), t)
same = sum(1 for k in a if k in b and abs(a[k] - b[k]) <= 1 / (5 * (hi[k] - lo[k])))
print(f"same best period (within one grid step): {same} of {len(a)}")
PY
rm -f "$log.c" "$log.py"
/usr/bin/python3 - "$log" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.search(r"(astromm period|astropy period|astromm features): .* ([0-9.]+) curves/s, ([0-9.]+) ms/curve/thread", line)
    if m:
        rows.setdefault(m.group(1), []).append(float(m.group(3)))
for k, v in rows.items():
    print(f"{k}: median {statistics.median(v):.2f} ms/curve/thread (min {min(v):.2f}, max {max(v):.2f}, {len(v)} rounds)")
if "astromm period" in rows and "astropy period" in rows:
    r = statistics.median(rows["astropy period"]) / statistics.median(rows["astromm period"])
    print(f"per-core speed-up of astromm over astropy (medians): {r:.1f}x")
PY
