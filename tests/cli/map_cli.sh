#!/usr/bin/env bash
# astromm map on a small embeddings file shaped like astromm embed's output
# (/embeddings/<name>, /id, /label, /has, attribute classes): CSV and HDF5 out,
# rows without the modality skipped, bit-identical across runs and thread
# counts, PCA, small N, and every bad input refused with a message naming it.
set -u
AM=$1
PY=/usr/bin/python3
fail=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
check() { if ! eval "$1"; then echo "FAIL: $2"; fail=$((fail+1)); fi; }

$PY - "$tmp" <<'EOF_PY' || { echo "FAIL: cannot make the test files"; exit 1; }
import sys, numpy as np, h5py
d = sys.argv[1]
rng = np.random.default_rng(0)
C, per, D = 4, 60, 32
cent = rng.normal(size=(C, D)) * 2
X = np.concatenate([cent[c] + 0.3 * rng.normal(size=(per, D)) for c in range(C)]).astype(np.float32)
N = len(X)
has = np.ones((N, 3), np.uint8); has[::5, 1] = 0          # 48 rows lack a spectrum
with h5py.File(f"{d}/emb.h5", "w") as f:
    for nm in ["photometry", "spectra", "metadata", "fused"]:
        f[f"embeddings/{nm}"] = X
    f["id"] = np.arange(N, dtype=np.int64) * 10 + 7
    f["label"] = np.repeat(np.arange(C), per).astype(np.int32)
    f["has"] = has
    f.attrs["classes"] = np.array(["EW", "SR", "EA", "RRAB"], dtype=h5py.string_dtype())
with h5py.File(f"{d}/small.h5", "w") as f:
    f["embeddings/fused"] = X[:6]
    f["id"] = np.arange(6, dtype=np.int64)
    f["label"] = np.zeros(6, np.int32)
with h5py.File(f"{d}/one.h5", "w") as f:
    f["embeddings/fused"] = X[:1]
    f["id"] = np.arange(1, dtype=np.int64)
with h5py.File(f"{d}/nan.h5", "w") as f:
    Y = X.copy(); Y[3, 2] = np.nan
    f["embeddings/fused"] = Y
    f["id"] = np.arange(N, dtype=np.int64)
with h5py.File(f"{d}/noid.h5", "w") as f:
    f["embeddings/fused"] = X
with h5py.File(f"{d}/badid.h5", "w") as f:
    f["embeddings/fused"] = X
    f["id"] = np.arange(N - 1, dtype=np.int64)
with h5py.File(f"{d}/rank1.h5", "w") as f:
    f["embeddings/fused"] = X[:, 0]
    f["id"] = np.arange(N, dtype=np.int64)
open(f"{d}/junk.h5", "w").write("not hdf5\n")
EOF_PY

check '"$AM" map --in "$tmp/emb.h5" --out "$tmp/a.csv" --out-h5 "$tmp/a.h5" --threads 2 >"$tmp/a.log" 2>&1' "umap map (log: $(cat "$tmp/a.log" 2>/dev/null))"
check '[ "$(head -1 "$tmp/a.csv")" = "id,label,class,x,y" ]' "CSV header id,label,class,x,y"
check '[ "$(wc -l <"$tmp/a.csv")" -eq 241 ]' "CSV has 240 rows"
check 'grep -q "^7,0,EW," "$tmp/a.csv"' "first row: id 7, label 0, class EW"
check '"$AM" map --in "$tmp/emb.h5" --out "$tmp/b.csv" --threads 1 >/dev/null 2>&1 && cmp -s "$tmp/a.csv" "$tmp/b.csv"' "1 thread and 2 threads give identical CSVs"
check '"$AM" map --in "$tmp/emb.h5" --out "$tmp/c.csv" --threads 2 >/dev/null 2>&1 && cmp -s "$tmp/a.csv" "$tmp/c.csv"' "two runs give identical CSVs"
check '"$AM" map --in "$tmp/emb.h5" --out "$tmp/d.csv" --seed 7 >/dev/null 2>&1 && ! cmp -s "$tmp/a.csv" "$tmp/d.csv"' "another --seed gives another layout"
# the HNSW k-NN graph (map.knn; auto picks it above 50000 rows): the same map for 1 and 2 threads
check '"$AM" map --in "$tmp/emb.h5" --out "$tmp/h1.csv" --out-h5 "$tmp/h1.h5" --knn hnsw --threads 1 >"$tmp/h.log" 2>&1 && grep -q "HNSW k-NN graph" "$tmp/h.log"' "map --knn hnsw (log: $(cat "$tmp/h.log" 2>/dev/null))"
check '"$AM" map --in "$tmp/emb.h5" --out "$tmp/h2.csv" --set "map.knn=\"hnsw\"" --set search.hnsw_m=32 --threads 2 >/dev/null 2>&1 && cmp -s "$tmp/h1.csv" "$tmp/h2.csv"' "hnsw map: 1 and 2 threads (and the config key) identical"
check '$PY -c "import h5py,sys; f=h5py.File(sys.argv[1]); assert f.attrs[\"knn\"] in (b\"hnsw\", \"hnsw\")" "$tmp/h1.h5" && $PY -c "import h5py,sys; f=h5py.File(sys.argv[1]); assert f.attrs[\"knn\"] in (b\"exact\", \"exact\")" "$tmp/a.h5"' "the HDF5 map records its k-NN graph"
check '$PY - "$tmp/a.h5" "$tmp/a.csv" <<EOF_PY
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
xy = f["xy"][...]; ids = f["id"][...]; lab = f["label"][...]
c = np.genfromtxt(sys.argv[2], delimiter=",", names=True, dtype=None, encoding="utf-8")
assert xy.shape == (240, 2) and xy.dtype == np.float32, xy.shape
assert (ids == c["id"]).all() and (lab == c["label"]).all()
assert np.allclose(xy[:, 0], c["x"]) and np.allclose(xy[:, 1], c["y"])
assert f.attrs["method"] == "umap" and f.attrs["embedding"] == "fused", dict(f.attrs)
assert list(f.attrs["classes"]) == ["EW", "SR", "EA", "RRAB"]
assert f.attrs["neighbors"] == 15 and abs(f.attrs["a"] - 1.577) < 0.01
EOF_PY' "HDF5 output matches the CSV and holds the parameters"
check '"$AM" map --in "$tmp/emb.h5" --embedding spectra --method pca --out "$tmp/p.csv" >/dev/null 2>&1 && [ "$(wc -l <"$tmp/p.csv")" -eq 193 ]' "spectra map skips the 48 rows without a spectrum"
check '"$AM" map --in "$tmp/emb.h5" --embedding spectra --out "$tmp/p.csv" >/dev/null 2>&1 && [ "$(wc -l <"$tmp/p.csv")" -eq 193 ]' "umap also skips them"
out=$("$AM" map --in "$tmp/small.h5" --out "$tmp/s.csv" 2>&1); rc=$?
check '[ $rc -eq 0 ] && grep -q "using 6" <<<"$out" && [ "$(wc -l <"$tmp/s.csv")" -eq 7 ]' "N=6 < neighbours+1 is handled (rc=$rc: $out)"

# errors: exit 2 for bad arguments, 1 for bad input, message names the culprit
expect() {  # rc pattern description args...
  local want=$1 pat=$2 what=$3; shift 3
  local o r
  o=$("$AM" map "$@" 2>&1); r=$?
  if [ $r -ne "$want" ] || ! grep -q -- "$pat" <<<"$o"; then echo "FAIL: $what (rc=$r, want $want; output: $o)"; fail=$((fail+1)); fi
}
expect 2 "--in" "missing --in" --out "$tmp/x.csv"
expect 2 "--out" "missing --out" --in "$tmp/emb.h5"
expect 2 "--method" "bad --method" --in "$tmp/emb.h5" --out "$tmp/x.csv" --method tsne
expect 2 "--neighbors" "bad --neighbors" --in "$tmp/emb.h5" --out "$tmp/x.csv" --neighbors 1
expect 2 "--neighbors" "non-numeric --neighbors" --in "$tmp/emb.h5" --out "$tmp/x.csv" --neighbors 15x
expect 2 "--min-dist" "bad --min-dist" --in "$tmp/emb.h5" --out "$tmp/x.csv" --min-dist -1
expect 2 "--epochs" "bad --epochs" --in "$tmp/emb.h5" --out "$tmp/x.csv" --epochs 0
expect 2 "--seed" "bad --seed" --in "$tmp/emb.h5" --out "$tmp/x.csv" --seed abc
expect 2 "--init" "bad --init" --in "$tmp/emb.h5" --out "$tmp/x.csv" --init spectral
expect 2 "--knn must be auto, exact or hnsw" "bad --knn" --in "$tmp/emb.h5" --out "$tmp/x.csv" --knn faiss
expect 2 "map.knn" "bad map.knn" --in "$tmp/emb.h5" --out "$tmp/x.csv" --set 'map.knn="lsh"' 
expect 2 "unknown argument" "unknown option" --in "$tmp/emb.h5" --out "$tmp/x.csv" --bogus 1
expect 2 "needs a value" "option without value" --in "$tmp/emb.h5" --out
expect 1 "nope.h5: cannot open" "missing file" --in "$tmp/nope.h5" --out "$tmp/x.csv"
expect 1 "junk.h5: not a readable HDF5" "not HDF5" --in "$tmp/junk.h5" --out "$tmp/x.csv"
expect 1 "no dataset /embeddings/text (--embedding; the file has: fused, metadata, photometry, spectra)" "unknown embedding lists the names" --in "$tmp/emb.h5" --out "$tmp/x.csv" --embedding text
expect 1 "no dataset /id" "missing /id" --in "$tmp/noid.h5" --out "$tmp/x.csv"
expect 1 "/id has 239 rows" "short /id" --in "$tmp/badid.h5" --out "$tmp/x.csv"
expect 1 "rank 1, expected 2" "1-D embeddings" --in "$tmp/rank1.h5" --out "$tmp/x.csv"
expect 1 "row 3 (id 3) has a non-finite" "NaN row" --in "$tmp/nan.h5" --out "$tmp/x.csv"
expect 1 "need at least 2" "one row" --in "$tmp/one.h5" --out "$tmp/x.csv"
expect 1 "cannot write" "unwritable output" --in "$tmp/emb.h5" --out "$tmp/no/such/dir/x.csv" --method pca
check '"$AM" map --help | grep -q "usage: astromm map"' "help"
echo "map_cli: $fail failed"
[ $fail -eq 0 ]
