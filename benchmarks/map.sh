#!/usr/bin/env bash
# astromm map at scale (issue 18): the UMAP-style layout with the exact k-NN
# graph and with the HNSW one (map.knn), on synthetic 512-d embeddings with
# cluster structure (bench_search --generate), benchmarks/bench_map.c:
#   at 5*10^4 rows: exact vs HNSW (knn_pca 64 and 0): trustworthiness (k = 10,
#     cosine in the embedding space, on 500 sampled points), the HNSW graph's
#     recall of the exact graph, seconds of the graph and of the layout;
#   at 10^6 rows (BIG=0 to skip): HNSW only, seconds and peak RSS.
# Writes benchmarks/results/map.md (or $OUT).
set -euo pipefail
BUILD=${1:-build}
S=$BUILD/benchmarks/bench_search
M=$BUILD/benchmarks/bench_map
[ -x "$M" ] && [ -x "$S" ] || { echo "map.sh: build first" >&2; exit 1; }
WORK=${WORK:-/tmp/astromm_bench_search}
OUT=${OUT:-benchmarks/results/map.md}
BIG=${BIG:-1000000}
mkdir -p "$WORK"
RAW=$WORK/map_results.txt
: >"$RAW"
f=$WORK/emb_50000.h5
[ -f "$f" ] || "$S" --generate --file "$f" --n 50000 --dim 512 --clusters 1000
"$M" --in "$f" --knn exact,hnsw --knn-pca 64 --sample 500 --graph-recall | tee -a "$RAW"
"$M" --in "$f" --knn hnsw --knn-pca 0 --sample 500 --graph-recall | tee -a "$RAW"
if [ "$BIG" != 0 ]; then
  g=$WORK/emb_$BIG.h5
  [ -f "$g" ] || "$S" --generate --file "$g" --n "$BIG" --dim 512 --clusters 1000
  "$M" --in "$g" --knn hnsw --knn-pca 64 --sample 100 | tee -a "$RAW"
fi
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
/usr/bin/python3 - "$RAW" "$OUT" "$commit" "$cpu" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import sys, datetime
raw, out, commit, cpu, ncpu, load = sys.argv[1:7]
res, graphs, pca = [], [], None
for line in open(raw):
    if line.startswith("RESULT "):
        res.append(dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv))
    elif line.startswith("GRAPH "):
        graphs.append(dict(kv.split("=", 1) for kv in line.split()[1:]))
L = ["# Maps at scale: exact vs HNSW k-NN graph\n",
     f"`benchmarks/map.sh` — commit {commit}, {datetime.date.today()}, {cpu}, {ncpu} CPUs, load at the end "
     f"{load}. Synthetic 512-d embeddings (1000 clusters, each spread along 16 random directions plus "
     "noise; benchmarks/bench_search.c), UMAP 15 neighbours, 200 epochs, seed 42. Trustworthiness: "
     "sklearn's definition at k = 10 with the cosine distance in the embedding space (the map's "
     "geometry) and the Euclidean in 2-D, averaged over sampled points (each point's penalty exact, "
     "from a full scan). The HNSW graph is built on one thread (thread-count independent maps).\n",
     "| N | k-NN graph | graph s | layout s | total s | trustworthiness@10 (points) | peak RSS MiB |",
     "|---|---|---|---|---|---|---|"]
for r in res:
    name = r["knn"] + (f" (knn_pca {r['knn_pca']})" if r["knn"] == "hnsw" else "")
    L.append(f"| {int(r['n']):,} | {name} | {float(r['knn_s']):.1f} | {float(r['layout_s']):.1f} | "
             f"{float(r['total_s']):.1f} | {float(r['trustworthiness']):.4f} ({r['trust_sample']}) | {r['peak_rss_mib']} |")
L.append("")
if graphs:
    L.append("HNSW graph against the exact one (the share of the exact 14 neighbours found):\n")
    L.append("| N | map.knn_pca | HNSW M | efConstruction | exact graph s | HNSW graph s | recall |")
    L.append("|---|---|---|---|---|---|---|")
    for g in graphs:
        L.append(f"| {int(g['n']):,} | {g['knn_pca']} | {g['hnsw_m']} | {g['ef_construction']} | {g['exact_s']} | "
                 f"{g['hnsw_s']} | {float(g['recall']):.4f} |")
open(out + ".new", "w").write("\n".join(L) + "\n")
print(f"map.sh: wrote {out}")
PY
/usr/bin/python3 "$(dirname "$0")/keep_notes.py" "$OUT"
