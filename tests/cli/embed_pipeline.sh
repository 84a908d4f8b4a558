#!/usr/bin/env bash
# astromm embed / search / outliers after a few-step astromm train on a small
# synthetic dataset: embed at np 1 and 2 with the same --batch writes identical
# files (every dataset and attribute compared with h5py): bitwise by design,
# since rank r of P forwards the rows [k*b, (k+1)*b) of file order (b = --batch)
# whatever P is, so every GEMM sees the same rows in the same shape on any BLAS
# kernel. Another --batch changes the GEMM shapes, and an sgemm's result for a
# row depends on the kernel and the call's shape: those files agree to float
# rounding (1e-5 of the largest value; measured up to 1.8e-7 with
# OPENBLAS_CORETYPE=Haswell). The rows match the dataset; search finds each object itself first within a modality and
# gives byte-identical CSV at np 1 and 2 (also across modalities, cosines checked
# with numpy); outlier scores match the numpy reference (tests/reference/outliers_ref.py).
AM=$1
TRAIN_TEST_N=${TRAIN_TEST_N:-400}
source "$(dirname "$0")/train_lib.sh"
REF=tests/reference/outliers_ref.py

train 2 "$T/run" --set train.epochs=2 >"$T/train.log" 2>&1
check "train finishes (exit 0)" test $? -eq 0
check "best checkpoint exists" test -f "$T/run/best/model.safetensors"

"$AM" embed --run "$T/run" --out "$T/e1.h5" --batch 7 >"$T/e1.log" 2>&1
check "embed np=1 (exit 0)" test $? -eq 0
"$MPIRUN" --oversubscribe -np 2 "$AM" embed --run "$T/run" --out "$T/e2.h5" --batch 7 >"$T/e2.log" 2>&1
check "embed np=2 (exit 0)" test $? -eq 0
"$MPIRUN" --oversubscribe -np 2 "$AM" embed --run "$T/run" --out "$T/e2b.h5" --batch 5 >"$T/e2b.log" 2>&1
check "embed np=2 --batch 5 (exit 0)" test $? -eq 0
"$MPIRUN" --oversubscribe -np 2 "$AM" embed --config "$T/run/config.cfg" --checkpoint "$T/run/best/model.safetensors" \
  --out "$T/e3.h5" --batch 7 >"$T/e3.log" 2>&1
check "embed np=2 with --config/--checkpoint (exit 0)" test $? -eq 0
check "no temporary files left" test -z "$(ls "$T" | grep '\.tmp\.')"

same_files() {  # same_files A B [TOL]: every dataset and attribute equal; float datasets
                # within TOL x their largest |value| when TOL is given (else bitwise)
  $PY - "$1" "$2" "${3:-0}" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
tol = float(sys.argv[3])
def items(f):
    out = {}
    f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out
A, B = items(a), items(b)
assert sorted(A) == sorted(B), (sorted(A), sorted(B))
for k in A:
    assert A[k].dtype == B[k].dtype and A[k].shape == B[k].shape, k
    if tol > 0 and A[k].dtype.kind == "f" and A[k].size:
        d = np.abs(A[k].astype(float) - B[k]).max()
        assert d <= tol * max(np.abs(A[k]).max(), 1e-30), f"{k} differs: max |diff| {d}"
    else:
        assert np.array_equal(A[k], B[k]), f"{k} differs: max |diff| {np.abs(A[k].astype(float) - B[k]).max()}"
assert sorted(a.attrs) == sorted(b.attrs)
for k in a.attrs:
    assert np.array_equal(np.asarray(a.attrs[k]), np.asarray(b.attrs[k])), k
PY
}
check "np=1 and np=2 files identical (every dataset and attribute)" same_files "$T/e1.h5" "$T/e2.h5"
check "--batch 7 and --batch 5 files equal to float rounding (1e-5)" same_files "$T/e1.h5" "$T/e2b.h5" 1e-5
# Negative control: the 1e-5 comparison catches a real error (one value off by 1e-4).
cp "$T/e2b.h5" "$T/e2x.h5"
$PY -c "import h5py; f = h5py.File('$T/e2x.h5', 'r+'); d = f['embeddings/photometry']; d[3, 2] += 1e-4"
differs() { if same_files "$@" 2>/dev/null; then return 1; else return 0; fi; }
check "a 1e-4 error in one embedding fails the 1e-5 comparison" differs "$T/e1.h5" "$T/e2x.h5" 1e-5
check "--run and --config/--checkpoint files identical" same_files "$T/e2.h5" "$T/e3.h5"

check "file layout and rows match the dataset" $PY - "$T/e1.h5" "$T/data.h5" <<'PY'
import sys, h5py, numpy as np
e, d = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
assert e.attrs["format"] == "astromm-embeddings" and e.attrs["version"] == 1
N = d["id"].shape[0]
assert e.attrs["n_objects"] == N and e["id"].shape == (N,), "split all: every object"
idx = e["index"][()]
assert np.array_equal(idx, np.arange(N)), "dataset order"
for k in ("id", "label", "split", "has"):
    assert np.array_equal(e[k][()], d[k][()][idx]), k
assert list(e.attrs["classes"]) == list(d.attrs["classes"])
D = e.attrs["dim"]
has = e["has"][()]
for m, name in enumerate(["photometry", "spectra", "metadata"]):
    E = e["embeddings/" + name][()]
    assert E.shape == (N, D) and E.dtype == np.float32
    n = np.linalg.norm(E, axis=1)
    assert np.allclose(n[has[:, m] == 1], 1, atol=1e-5), name
    assert np.all(n[has[:, m] == 0] == 0), name
F = e["embeddings/fused"][()]
mean = sum(e["embeddings/" + n][()].astype(np.float64) for n in ["photometry", "spectra", "metadata"])
mean /= np.maximum(has.sum(1), 1)[:, None]
mean /= np.linalg.norm(mean, axis=1, keepdims=True)
assert np.abs(F - mean).max() < 1e-5, np.abs(F - mean).max()
PY

# float16 storage (embed.storage): half the bytes, h5py reads float16 equal to
# numpy's rounding of the float32 file, normalized = 0; search reads it
"$MPIRUN" --oversubscribe -np 2 "$AM" embed --run "$T/run" --out "$T/e16.h5" --batch 7 \
  --set 'embed.storage="float16"' >/dev/null 2>&1
check "embed float16 np=2 (exit 0)" test $? -eq 0
check "float16 file: numpy's rounding of the float32 one, storage float16, normalized 0" $PY - "$T/e1.h5" "$T/e16.h5" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
assert b.attrs["storage"] in (b"float16", "float16") and a.attrs["storage"] in (b"float32", "float32")
assert b.attrs["normalized"] == 0 and a.attrs["normalized"] == 1
for m in a["embeddings"]:
    x, y = a["embeddings/" + m][()], b["embeddings/" + m][()]
    assert y.dtype == np.float16, y.dtype
    assert np.array_equal(x.astype(np.float16), y), m
PY
$PY -c "import h5py; print('\n'.join(str(i) for i in h5py.File('$T/e1.h5')['id'][::31]))" >"$T/ids16.txt"
"$AM" search --embeddings "$T/e16.h5" --ids "$T/ids16.txt" --modality metadata --k 3 --out "$T/s16.csv" 2>/dev/null
check "search a float16 file: each query first at cosine 1" $PY - "$T/s16.csv" <<'PY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["rank"] == "1"]
assert rows and all(abs(float(r["cosine"]) - 1) < 1e-5 for r in rows), rows[:3]
PY
# the PCA copy (embed.pca): /pca/<name>/{mean,components,scores}, the same at 1 and 2 ranks,
# scores = (X - mean) @ components.T for rows with the embedding, 0 without
"$MPIRUN" --oversubscribe -np 2 "$AM" embed --run "$T/run" --out "$T/p2.h5" --batch 7 --set embed.pca=6 >/dev/null 2>&1
check "embed with a PCA copy np=2 (exit 0)" test $? -eq 0
"$AM" embed --run "$T/run" --out "$T/p1.h5" --batch 7 --set embed.pca=6 >/dev/null 2>&1
check "PCA copy: np=1 and np=2 identical; scores are the projections; h5py reads it" $PY - "$T/p1.h5" "$T/p2.h5" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
names = list(a["embeddings"])
assert sorted(a["pca"]) == sorted(names), list(a["pca"])
has = a["has"][()]
for j, m in enumerate(names):
    assert np.array_equal(a["embeddings/" + m][()], b["embeddings/" + m][()]), m  # the same rows at 1 and 2 ranks
    for part in ("mean", "components", "scores"):
        assert np.array_equal(a[f"pca/{m}/{part}"][()], b[f"pca/{m}/{part}"][()]), (m, part)
    X = a["embeddings/" + m][()].astype(np.float64)
    mean, C, S = (a[f"pca/{m}/{p}"][()].astype(np.float64) for p in ("mean", "components", "scores"))
    assert C.shape == (6, X.shape[1]) and S.shape == (X.shape[0], 6)
    present = has[:, j] == 1 if j < has.shape[1] else has.any(axis=1)
    assert np.allclose(S[present], (X[present] - mean) @ C.T, atol=1e-4), m
    assert (S[~present] == 0).all(), m
    assert np.allclose(C @ C.T, np.eye(6), atol=1e-4) or m == "metadata", m  # unit, orthogonal loadings
PY
# search --pca P on a file with a PCA copy of >= P components searches the stored
# scores (said on stderr), at 1 and 2 ranks alike; more components than stored,
# or search.pca_refit, fit instead
$PY -c "import h5py; print('\n'.join(str(i) for i in h5py.File('$T/p1.h5')['id'][::17]))" >"$T/idsp.txt"
"$AM" search --embeddings "$T/p1.h5" --ids "$T/idsp.txt" --modality spectra --pca 4 --k 5 --out "$T/sp1.csv" 2>"$T/sp1.err"
check "search --pca 4 on a 6-component PCA copy uses the stored scores" grep -q "stored PCA scores" "$T/sp1.err"
"$MPIRUN" --oversubscribe -np 2 "$AM" search --embeddings "$T/p1.h5" --ids "$T/idsp.txt" --modality spectra --pca 4 \
  --k 5 --block 8 --out "$T/sp2.csv" 2>/dev/null
check "search --pca 4 (stored scores): np=1 and np=2 identical" cmp "$T/sp1.csv" "$T/sp2.csv"
check "search --pca 4 (stored scores) ranks by the cosine of the first 4 stored scores" $PY - "$T/p1.h5" "$T/sp1.csv" <<'PY'
import csv, sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
S = f["pca/spectra/scores"][()][:, :4].astype(np.float64)
ids = f["id"][()]
row = {int(i): r for r, i in enumerate(ids)}
live = np.flatnonzero(np.abs(S).sum(axis=1) > 0)  # rows with spectra (0 without)
U = S / np.linalg.norm(S, axis=1, keepdims=True).clip(1e-30)
hits = {}
for r in csv.DictReader(open(sys.argv[2])):
    hits.setdefault(int(r["query_id"]), []).append((int(r["neighbour_id"]), float(r["cosine"])))
assert hits
for q, hs in hits.items():
    c = U[live] @ U[row[q]]
    best = np.sort(c)[::-1][:5]
    got = np.array([h[1] for h in hs])
    assert np.allclose(got, best, atol=2e-5), (q, got, best)
    for nid, cos in hs:
        assert abs(U[row[nid]] @ U[row[q]] - cos) < 2e-5, (q, nid, cos)
PY
"$AM" search --embeddings "$T/p1.h5" --ids "$T/idsp.txt" --modality spectra --pca 8 --k 5 --out /dev/null 2>"$T/sp8.err"
check "search --pca 8 on a 6-component copy fits its own PCA (exit 0, nothing said)" \
  bash -c "test $? -eq 0 && ! grep -q 'stored PCA' '$T/sp8.err'"
check "--out /dev/null leaves /dev/null a device (written in place, not renamed over)" test -c /dev/null
# a FIFO as --out: written in place (a reader gets the CSV), and it stays a FIFO
mkfifo "$T/fifo"
cat "$T/fifo" >"$T/fifo.csv" &
reader=$!
"$AM" search --embeddings "$T/p1.h5" --ids "$T/idsp.txt" --modality spectra --k 5 --out "$T/fifo" 2>/dev/null
rc=$?
wait $reader
check "search --out FIFO: exit 0, the reader gets the CSV, the FIFO stays" \
  bash -c "test $rc -eq 0 && test -p '$T/fifo' && head -1 '$T/fifo.csv' | grep -q '^query_id,rank'"
"$AM" search --embeddings "$T/p1.h5" --ids "$T/idsp.txt" --modality spectra --pca 4 --k 5 --out "$T/spr.csv" \
  --set search.pca_refit=true 2>"$T/spr.err"
check "search.pca_refit=true fits its own PCA" bash -c "! grep -q 'stored PCA' '$T/spr.err' && test -s '$T/spr.csv'"
"$MPIRUN" --oversubscribe -np 2 "$AM" embed --run "$T/run" --out "$T/test.h5" --split test >/dev/null 2>&1
check "embed --split test writes only test rows" $PY -c "
import h5py, numpy as np, sys
e, d = h5py.File('$T/test.h5', 'r'), h5py.File('$T/data.h5', 'r')
assert (e['split'][()] == 2).all() and e['id'].shape[0] == (d['split'][()] == 2).sum()"

# ---- search
$PY -c "import h5py; print('\n'.join(str(i) for i in h5py.File('$T/e1.h5')['id'][::23]))" >"$T/ids.txt"
for mod in photometry spectra metadata fused; do
  "$AM" search --embeddings "$T/e1.h5" --ids "$T/ids.txt" --modality $mod --k 5 >"$T/s1_$mod.csv" 2>"$T/s.err"
  check "search $mod np=1 (exit 0)" test $? -eq 0
  "$MPIRUN" --oversubscribe -np 2 "$AM" search --embeddings "$T/e1.h5" --ids "$T/ids.txt" --modality $mod --k 5 \
    --block 16 --out "$T/s2_$mod.csv" 2>"$T/s.err"
  check "search $mod np=2 (exit 0)" test $? -eq 0
  check "search $mod identical at np=1 and np=2" cmp -s "$T/s1_$mod.csv" "$T/s2_$mod.csv"
  check "search $mod: each object is its own first neighbour" $PY - "$T/s1_$mod.csv" "$T/ids.txt" "$T/e1.h5" $mod <<'PY'
# Self first, unless another object's embedding is a float-rounding duplicate of
# it (this barely trained tiny spectra encoder maps many spectra to one point):
# then that one may win by rounding, or by the smaller row on an exact tie.
import csv, sys, h5py, numpy as np
rows = list(csv.DictReader(open(sys.argv[1])))
ids = [l.strip() for l in open(sys.argv[2]) if l.strip()]
f = h5py.File(sys.argv[3], "r")
E = f["embeddings/" + sys.argv[4]][()]
row = {str(i): r for r, i in enumerate(f["id"][()])}
first = {r["query_id"]: r for r in rows if r["rank"] == "1"}
assert sorted(first) == sorted(ids), "one result list per query"
selves = 0
for q, r in first.items():
    assert abs(float(r["cosine"]) - 1) < 1e-5, (q, r)
    if r["neighbour_id"] == q:
        selves += 1
    else:
        n = row[r["neighbour_id"]]
        e, x = E[row[q]].astype(np.float64), E[n].astype(np.float64)
        assert e @ x >= e @ e - 1e-6, ("not self first", q, r)
assert selves >= 1, "no query found itself"
print(f"{sys.argv[4]}: {selves}/{len(ids)} self first, the others behind a duplicate embedding")
assert len(rows) == 5 * len(ids)
PY
done
"$AM" search --embeddings "$T/e1.h5" --ids "$T/ids.txt" --query-modality photometry --target-modality spectra \
  --k 7 --out "$T/x1.csv" 2>/dev/null
check "cross-modal search np=1 (exit 0)" test $? -eq 0
"$MPIRUN" --oversubscribe -np 2 "$AM" search --embeddings "$T/e1.h5" --ids "$T/ids.txt" --query-modality photometry \
  --target-modality spectra --k 7 --block 5 --out "$T/x2.csv" 2>/dev/null
check "cross-modal search identical at np=1 and np=2" cmp -s "$T/x1.csv" "$T/x2.csv"
# FAISS indexes (issue 18): a flat index ranks as the exact search up to float
# rounding (same cosines); an HNSW index is built once per shard, saved beside
# the file and reused; an index that no longer matches its file is refused.
"$MPIRUN" --oversubscribe -np 2 "$AM" search --embeddings "$T/e1.h5" --ids "$T/ids.txt" --modality fused --k 5 \
  --block 16 --index flat --out "$T/f2.csv" 2>"$T/f.err"
check "flat index search np=2 (exit 0)" test $? -eq 0
check "flat index: the exact search's cosines" $PY - "$T/f2.csv" "$T/s1_fused.csv" <<'PY'
import csv, sys
a, b = list(csv.DictReader(open(sys.argv[1]))), list(csv.DictReader(open(sys.argv[2])))
assert len(a) == len(b) and len(a) > 0
for x, y in zip(a, b):
    assert x["query_id"] == y["query_id"] and x["rank"] == y["rank"], (x, y)
    assert abs(float(x["cosine"]) - float(y["cosine"])) < 2e-5, (x, y)
PY
rm -rf "$T/e1.h5.index"
"$MPIRUN" --oversubscribe -np 2 "$AM" search --embeddings "$T/e1.h5" --ids "$T/ids.txt" --modality fused --k 5 \
  --block 16 --index hnsw --out "$T/h2.csv" 2>"$T/h.err"
check "hnsw search np=2 (exit 0)" test $? -eq 0
check "hnsw: built on first use, one index per shard beside the file" \
  bash -c "grep -q 'rank 0 built' '$T/h.err' && test \$(ls '$T/e1.h5.index'/fused-all-cosine-HNSW32_Flat-shard*of2.faiss | wc -l) -eq 2"
"$MPIRUN" --oversubscribe -np 2 "$AM" search --embeddings "$T/e1.h5" --ids "$T/ids.txt" --modality fused --k 5 \
  --block 16 --index hnsw --out "$T/h2b.csv" 2>"$T/h.err"
check "hnsw: the saved index is loaded and answers the same" \
  bash -c "grep -q 'rank 0 loaded' '$T/h.err' && cmp -s '$T/h2.csv' '$T/h2b.csv'"
"$AM" search --embeddings "$T/e1.h5" --ids "$T/ids.txt" --modality fused --k 5 --index hnsw \
  --set "search.index_dir=\"$T/e1.h5.index\"" --set search.rebuild=false >/dev/null 2>"$T/h.err"
check "hnsw np=1 builds its own one-shard index" grep -q "rank 0 built" "$T/h.err"
cp "$T/e1.h5" "$T/moved.h5"
"$AM" search --embeddings "$T/moved.h5" --ids "$T/ids.txt" --modality fused --k 5 --index hnsw >/dev/null 2>&1
cp "$T/test.h5" "$T/moved.h5"  # another file (other objects) under the same name
$PY -c "import h5py; print(h5py.File('$T/test.h5')['id'][0])" >"$T/id1.txt"
"$AM" search --embeddings "$T/moved.h5" --ids "$T/id1.txt" --modality fused --k 3 --index hnsw >/dev/null 2>"$T/h.err"
rc=$?
check "an index that does not match its file: exit 1, names both and the way out" \
  bash -c "test $rc -eq 1 && grep -q 'does not match its embeddings file $T/moved.h5' '$T/h.err' && grep -q 'search.rebuild=true' '$T/h.err'"
"$AM" search --embeddings "$T/moved.h5" --ids "$T/id1.txt" --modality fused --k 3 --index hnsw \
  --set search.rebuild=true >/dev/null 2>"$T/h.err"
check "search.rebuild=true rebuilds it" grep -q "rank 0 built" "$T/h.err"
check "cross-modal neighbours and cosines match numpy" $PY - "$T/x1.csv" "$T/e1.h5" <<'PY'
import csv, sys, h5py, numpy as np
rows = list(csv.DictReader(open(sys.argv[1])))
f = h5py.File(sys.argv[2], "r")
ids = f["id"][()]
row = {int(i): r for r, i in enumerate(ids)}
P, S = f["embeddings/photometry"][()].astype(np.float64), f["embeddings/spectra"][()].astype(np.float64)
tg = np.where(f["has"][()][:, 1] == 1)[0]
for q in sorted({int(r["query_id"]) for r in rows}):
    got = [r for r in rows if int(r["query_id"]) == q]
    sc = S[tg] @ P[row[q]]
    order = tg[np.lexsort((tg, -sc))][:7]
    want = np.sort(sc)[::-1][:7]
    assert np.allclose([float(r["cosine"]) for r in got], want, atol=1e-5), q
    for r, o, w in zip(got, order, want):
        assert int(r["neighbour_id"]) == ids[o] or abs(float(r["cosine"]) - w) < 1e-6 and \
            np.sum(np.abs(sc - w) < 1e-6) > 1, (q, r, ids[o])
PY

# ---- outliers
"$AM" outliers --embeddings "$T/e1.h5" --k 25 --out "$T/o.csv" --json "$T/o.json" 2>"$T/o.err"
check "outliers (exit 0)" test $? -eq 0
check "outlier scores match numpy (test split)" $PY $REF "$T/e1.h5" "$T/o.csv" --k 25 --split test
check "outliers JSON parses" $PY -c "import json; d = json.load(open('$T/o.json')); assert len(d['results']) == 4"
"$AM" outliers --embeddings "$T/e1.h5" --modality spectra --split val --k 1000 --out "$T/o2.csv" 2>"$T/o.err"
check "outlier scores match numpy (spectra, val split, every row)" $PY $REF "$T/e1.h5" "$T/o2.csv" --k 1000 \
  --split val --modality spectra
# ---- missing modalities: a copy of the dataset with spectra removed from every
# 5th object and metadata from every 7th
$PY - "$T/data.h5" "$T/holes.h5" <<'PY'
import shutil, sys, h5py, numpy as np
shutil.copy(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "r+") as f:
    has = f["has"][()]
    n = has.shape[0]
    s, m = np.arange(n) % 5 == 1, np.arange(n) % 7 == 3
    has[s, 1] = 0
    has[m, 2] = 0
    f["has"][...] = has
    sp = f["spectra"][()]
    sp[s] = 0
    f["spectra"][...] = sp
    raw = f["metadata/raw"][()]
    raw[m] = np.nan
    f["metadata/raw"][...] = raw
PY
"$MPIRUN" --oversubscribe -np 2 "$AM" embed --run "$T/run" --set "data.path=\"$T/holes.h5\"" --out "$T/h2.h5" \
  --batch 7 >"$T/h.log" 2>&1
check "embed with missing modalities np=2 (exit 0)" test $? -eq 0
"$AM" embed --run "$T/run" --set "data.path=\"$T/holes.h5\"" --out "$T/h1.h5" --batch 7 >>"$T/h.log" 2>&1
check "embed with missing modalities np=1 (exit 0)" test $? -eq 0
check "missing modalities: np=1 and np=2 files identical" same_files "$T/h1.h5" "$T/h2.h5"
check "missing modalities: zero rows, fused = mean of the present ones" $PY - "$T/h1.h5" "$T/e1.h5" <<'PY'
import sys, h5py, numpy as np
h, e = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
has = h["has"][()]
assert (has[:, 1] == 0).sum() > 0 and (has[:, 2] == 0).sum() > 0
names = ["photometry", "spectra", "metadata"]
for m, name in enumerate(names):
    E = h["embeddings/" + name][()]
    assert np.all(E[has[:, m] == 0] == 0), name
    # objects keep the embedding they had in the complete dataset where the modality is present
    assert np.array_equal(E[has[:, m] == 1], e["embeddings/" + name][()][has[:, m] == 1]), name
mean = sum(h["embeddings/" + n][()].astype(np.float64) * has[:, m:m + 1] for m, n in enumerate(names))
mean /= np.linalg.norm(mean, axis=1, keepdims=True)
assert np.abs(h["embeddings/fused"][()] - mean).max() < 1e-5
PY
NOSPEC=$($PY -c "import h5py; f = h5py.File('$T/h1.h5'); print(f['id'][f['has'][:, 1] == 0][0])")
check "search from an object without a spectrum: exit 2, says so" \
  bash -c "'$AM' search --embeddings '$T/h1.h5' --id $NOSPEC --modality spectra 2>&1 >/dev/null | grep -q 'has no spectra'"
NSPEC=$($PY -c "import h5py; f = h5py.File('$T/h1.h5'); print(int((f['has'][:, 1] == 1).sum()))")
"$AM" search --embeddings "$T/h1.h5" --id "$NOSPEC" --query-modality photometry --target-modality spectra --k "$NSPEC" \
  --out "$T/hs.csv" 2>/dev/null
check "cross-modal search skips targets without the modality" $PY - "$T/hs.csv" "$T/h1.h5" <<'PY'
import csv, sys, h5py
rows = list(csv.DictReader(open(sys.argv[1])))
f = h5py.File(sys.argv[2], "r")
nospec = {str(i) for i in f["id"][f["has"][:, 1] == 0]}
assert len(rows) == int((f["has"][:, 1] == 1).sum()), len(rows)
assert not any(r["neighbour_id"] in nospec for r in rows)
PY
"$AM" outliers --embeddings "$T/h1.h5" --split all --k 100000 --out "$T/ho.csv" 2>/dev/null
check "outliers with missing modalities match numpy (every row, all splits)" $PY $REF "$T/h1.h5" "$T/ho.csv" \
  --k 100000 --split all
check "k larger than the targets: exit 2, says how many there are" \
  bash -c "'$AM' search --embeddings '$T/h1.h5' --id $NOSPEC --query-modality photometry --target-modality spectra \
    --k $((NSPEC + 1)) 2>&1 >/dev/null | grep -q 'larger than the $NSPEC targets'"
finish embed_pipeline
