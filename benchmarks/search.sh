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
mkdir -p "$WORK"
RAW=$WORK/results.txt
: >"$RAW"
for n in $SIZES; do
  f=$WORK/emb_$n.h5
  [ -f "$f" ] || "$B" --generate --file "$f" --n "$n" --dim 512 --clusters 1000 | tee -a "$RAW"
  for t in $TYPES; do
    if [ "$t" = exact ]; then
      "$B" --file "$f" --index exact --ref "$WORK/ref_$n.bin" --write-ref --repeat "$REPEAT" | tee -a "$RAW"
    else
      "$B" --file "$f" --index "$t" --ref "$WORK/ref_$n.bin" --repeat "$REPEAT" | tee -a "$RAW"
      rm -rf "$f.index"
    fi
  done
done
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
/usr/bin/python3 - "$RAW" "$OUT" "$commit" "$cpu" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$SIZES" "$TYPES" <<'PY'
import sys, datetime
raw, out, commit, cpu, ncpu, load, sizes, types = sys.argv[1:9]
rows = []
for line in open(raw):
    if line.startswith("RESULT "):
        rows.append(dict(kv.split("=", 1) for kv in line.split()[1:]))
L = []
L.append("# Search at survey scale: brute force vs FAISS indexes\n")
L.append(f"`SIZES=\"{sizes}\" TYPES=\"{types}\" benchmarks/search.sh` — commit {commit}, "
         f"{datetime.date.today()}, {cpu}, {ncpu} CPUs, load at the end {load}. One process per row; "
         "100 queries, k = 10, cosine; queries/s from the median of the searches after the first "
         "(min–max in brackets); recall@10 against brute force; peak RSS of the process; index = the "
         "saved FAISS file(s). Data: 512-d synthetic embeddings, 1000 clusters, each spread along 16 "
         "random directions plus isotropic noise (benchmarks/bench_search.c). FAISS is Debian's "
         "libfaiss-dev 1.7.3 (generic build, no AVX2 kernels); astromm's brute force is its fixed-order "
         "scan (bit-identical for any rank/thread count), streamed from the HDF5 file block by block.\n")
L.append("| N | index | build s | queries/s | search s per 100 (min–max) | recall@10 | peak RSS MiB | index MiB |")
L.append("|---|---|---|---|---|---|---|---|")
for r in rows:
    rec = "ref" if r["index"] == "exact" else f"{float(r['recall']):.3f}"
    L.append(f"| {int(r['n']):,} | {r['index']} ({r['desc']}) | {float(r['build_s']):.1f} | {float(r['qps']):.0f} | "
             f"{float(r['search_s_median']):.3f} ({float(r['search_s_min']):.3f}–{float(r['search_s_max']):.3f}) | "
             f"{rec} | {r['peak_rss_mib']} | {r['index_mib']} |")
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
open(out, "w").write("\n".join(L) + "\n")
print(f"search.sh: wrote {out}")
PY
