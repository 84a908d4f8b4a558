#!/usr/bin/env bash
# astromm search at survey scale (issue 18): for each size N (synthetic 512-d
# embeddings with cluster structure, benchmarks/bench_search.c), the brute-force
# search of today (the anchor and the recall reference) and each FAISS index,
# one process per index so the peak RSS is its own:
#   build time, queries/s (median of --repeat searches of 100 queries, min-max),
#   recall@10 against brute force, peak RSS, index size on disk.
# Writes benchmarks/results/search.md (or $OUT).
#
#   benchmarks/search.sh [build_dir]            sizes 100000 1000000
#   SIZES="100000 1000000 10000000" TYPES="exact ivfpq" benchmarks/search.sh
# Each approximate index is then searched at several search efforts (SWEEP_HNSW:
# efSearch values, SWEEP_IVFPQ: nprobe values) for the recall curve, and with
# search.refine (SWEEP_REFINE: R k candidates re-ranked by exact scores).
# APPEND=1 keeps the raw results of earlier runs ($WORK/results.txt): the table
# then holds every size measured, the latest run of each (size, index) winning,
# and the header names each run's command and commit.
# Files go to $WORK (default /tmp/astromm_bench_search, ~2 GiB per 10^6 rows).
set -euo pipefail
BUILD=${1:-build}
B=$BUILD/benchmarks/bench_search
[ -x "$B" ] || { echo "search.sh: build first ($B missing)" >&2; exit 1; }
SIZES=${SIZES:-"100000 1000000"}
TYPES=${TYPES:-"exact flat hnsw ivfpq"}
WORK=${WORK:-/tmp/astromm_bench_search}
OUT=${OUT:-benchmarks/results/search.md}
REPEAT=${REPEAT:-3}
SWEEP_HNSW=${SWEEP_HNSW:-16,32,64,128,256,512}
SWEEP_IVFPQ=${SWEEP_IVFPQ:-1,4,16,64,256}
SWEEP_REFINE=${SWEEP_REFINE:-2,10}
mkdir -p "$WORK"
RAW=$WORK/results.txt
[ "${APPEND:-0}" = 1 ] || : >"$RAW"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "RUN commit=$commit date=$(date +%F) sizes=${SIZES// /,} types=${TYPES// /,} load_at_start=$(cut -d' ' -f1 /proc/loadavg)" >>"$RAW"
for n in $SIZES; do
  f=$WORK/emb_$n.h5
  [ -f "$f" ] || "$B" --generate --file "$f" --n "$n" --dim 512 --clusters 1000 | tee -a "$RAW"
  for t in $TYPES; do
    if [ "$t" = exact ]; then
      "$B" --file "$f" --index exact --ref "$WORK/ref_$n.bin" --write-ref --repeat "$REPEAT" | tee -a "$RAW"
    else
      sweep=$SWEEP_IVFPQ
      [ "$t" = hnsw ] && sweep=$SWEEP_HNSW
      "$B" --file "$f" --index "$t" --ref "$WORK/ref_$n.bin" --repeat "$REPEAT" --sweep "$sweep" \
        --sweep-refine "$SWEEP_REFINE" | tee -a "$RAW"
      rm -rf "$f.index"
    fi
  done
done
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
/usr/bin/python3 - "$RAW" "$OUT" "$cpu" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import sys, datetime
raw, out, cpu, ncpu, load = sys.argv[1:6]
runs, latest, sweeps = [], {}, {}
for line in open(raw):
    kind = line.split(" ", 1)[0]
    if kind not in ("RUN", "RESULT", "SWEEP"):
        continue
    r = dict(kv.split("=", 1) for kv in line.split()[1:])
    if kind == "RUN":
        runs.append(r)
    elif kind == "RESULT":
        r["run"] = len(runs)
        latest[(int(r["n"]), r["index"])] = r
        for key in [k for k in sweeps if k[:2] == (int(r["n"]), r["index"])]:
            del sweeps[key]  # a new build: its own curve
    else:
        sweeps[(int(r["n"]), r["index"], r["param"], int(r["value"]))] = r
order = ["exact", "flat", "hnsw", "ivfpq"]
rows = [latest[k] for k in sorted(latest, key=lambda k: (k[0], order.index(k[1]) if k[1] in order else 9))]
L = []
L.append("# Search at survey scale: brute force vs FAISS indexes\n")
cmds = "; ".join(f"run {i + 1}: `SIZES=\"{r['sizes'].replace(',', ' ')}\" TYPES=\"{r['types'].replace(',', ' ')}\" "
                 f"{'APPEND=1 ' if i else ''}benchmarks/search.sh` (commit {r['commit']}, {r['date']}, load at its start "
                 f"{r['load_at_start']})" for i, r in enumerate(runs))
L.append(f"{cmds}. {cpu}, {ncpu} CPUs, load at the end {load}. One process per row; "
         "100 queries, k = 10, cosine; queries/s from the median of the searches after the first "
         "(min–max in brackets); recall@10 against brute force; peak RSS of the process; index = the "
         "saved FAISS file(s). Data: 512-d synthetic embeddings, 1000 clusters, each spread along 16 "
         "random directions plus isotropic noise (benchmarks/bench_search.c). FAISS is Debian's "
         "libfaiss-dev 1.7.3 (generic build, no AVX2 kernels); astromm's brute force is its fixed-order "
         "scan (bit-identical for any rank/thread count), streamed from the HDF5 file block by block.\n")
L.append("| N | index | run | build s | queries/s | search s per 100 (min–max) | recall@10 | peak RSS MiB | index MiB |")
L.append("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    rec = "ref" if r["index"] == "exact" else f"{float(r['recall']):.3f}"
    L.append(f"| {int(r['n']):,} | {r['index']} ({r['desc']}) | {r['run']} | {float(r['build_s']):.1f} | {float(r['qps']):.0f} | "
             f"{float(r['search_s_median']):.3f} ({float(r['search_s_min']):.3f}–{float(r['search_s_max']):.3f}) | "
             f"{rec} | {r['peak_rss_mib']} | {r['index_mib']} |")
L.append("")
if sweeps:
    L.append("Recall@10 against search effort (the same saved index searched again at each value; "
             "queries/s from the median of the searches):\n")
    L.append("| N | index | parameter | value | queries/s | recall@10 |")
    L.append("|---|---|---|---|---|---|")
    for k in sorted(sweeps):
        r = sweeps[k]
        L.append(f"| {int(r['n']):,} | {r['index']} ({r['desc']}) | {r['param']} | {r['value']} | "
                 f"{float(r['qps']):.0f} | {float(r['recall']):.3f} |")
    L.append("")
by = {}
for r in rows:
    by.setdefault(r["index"], []).append(r)
L.append("Cost growth with N (ratio of the largest to the smallest size):\n")
for t, rs in by.items():
    if len(rs) < 2:
        continue
    a, b = rs[0], rs[-1]
    gn = int(b["n"]) / int(a["n"])
    gb = float(b["build_s"]) / max(float(a["build_s"]), 1e-9)
    gs = float(b["search_s_median"]) / max(float(a["search_s_median"]), 1e-9)
    build = "no build" if float(a["build_s"]) == 0 else f"build ×{gb:.1f}"
    L.append(f"- {t}: N ×{gn:g} → {build}, search time ×{gs:.1f}, peak RSS "
             f"{a['peak_rss_mib']} → {b['peak_rss_mib']} MiB")
open(out + ".new", "w").write("\n".join(L) + "\n")
print(f"search.sh: wrote {out}")
PY
/usr/bin/python3 "$(dirname "$0")/keep_notes.py" "$OUT"
