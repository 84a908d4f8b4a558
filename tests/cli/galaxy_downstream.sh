#!/usr/bin/env bash
# What Zoobot's users do with the representation (issue 17), end to end on
# synthetic galaxies. Similarity search:
#  - astromm embed of an image model writes one embedding, "image" (the pooled
#    features, not unit norm: attribute normalized = 0), /has [N, 1], ids and
#    rows of the dataset; bit-identical at 1 and 2 ranks, and equal to float
#    rounding with another --batch (other GEMM shapes);
#  - search --pca 10 --metric euclidean: the object itself first at distance 0,
#    distances ascending, against numpy (sklearn-free PCA + brute force);
#    identical at 2 ranks;
#  - --montage writes a PNG whose tiles are the dataset's stored images;
#  - bad input: unknown id, --pca above the dimension, an embedding the file
#    does not have, an empty result, a montage from a star dataset.
# Anomalies (GP active learning):
#  - on a hand-made file where the interesting galaxies are a small cluster
#    that distance from the mean cannot single out, the labels find them
#    (at least 3x random order, and better than the baseline);
#  - interactive runs (write a batch, score it, merge, resume from the state
#    file) answered as the oracle would end in the oracle run's ranking, byte
#    for byte; the oracle run itself is repeatable byte for byte;
#  - bad input: an unknown id or a score outside 0-5 in a label file (file:line),
#    a PCA dimension above the features, an unknown class, too small a pool.
# Fine-tuning (a new head on the vote model's encoder, the galaxy types as labels):
#  - np 1 and np 2 on the same global batches agree (train_lib.sh's comparison);
#  - --labels-per-class 6 trains on 6 galaxies of each class (all of a rarer one);
#  - a frozen encoder leaves every encoder tensor bitwise as initialised, the head
#    moves; unfreeze_blocks = 1 moves stage 4 and leaves the stem alone;
#  - astromm eval of the fine-tuned model: every labelled test galaxy, the same
#    predictions at 1 and 2 ranks;
#  - data.cv_folds = 3: the three test folds are disjoint, stratified by class
#    and cover every labelled galaxy;
#  - a binary target on 8 classes is refused.
# Fine-tuning on votes (finetune.target = "votes": a fresh head on the dataset's
# vote schema, Dirichlet loss):
#  - np 1 and np 2 agree; the log carries the vote metrics, the checkpoint is an
#    "image_votes" head; astromm eval reports vote-fraction errors for it, at 1
#    and 2 ranks alike;
#  - finetune.subset limits the training galaxies as for the stars;
#  - --labels-per-class with a vote target is refused, naming the keys.
# Skips (exit 77) without ../shared/data/galaxies/votes/votes.csv (real vote totals).
AM=$1
VOTES=../shared/data/galaxies/votes/votes.csv
[ -f "$VOTES" ] || { echo "SKIP: $VOTES not found"; exit 77; }
TRAIN_TEST_N=50 source "$(dirname "$0")/train_lib.sh"
"$AM" synth --kind galaxies --n 120 --seed 4 --image-size 32 --channels 1 --votes-csv "$VOTES" --out "$T/gal.h5" >/dev/null \
  || { echo "FAIL: synth galaxies"; exit 1; }
cat >"$T/gal.cfg" <<CFG
model = { family = "convnext"; image_size = 32; image_channels = 1; convnext_depths = [1, 1, 1, 1];
          convnext_dims = [8, 16, 16, 24]; drop_path = 0.1; layer_scale = 0.5; dropout_head = 0.2; };
run = { seed = 11; hang_timeout = 60.0; };
data = { path = "$T/gal.h5"; };
train = { batch_size = 16; epochs = 5; optimizer = "adamw"; lr = 2e-3; warmup_epochs = 0; early_stop_patience = 0; };
CFG
"$AM" train "$T/gal.cfg" --set "run.dir=\"$T/run\"" --set train.max_steps=4 >"$T/train.log" 2>&1
check "train a small image model" test $? -eq 0
CK=$(ls -d "$T"/run/checkpoints/step_*/model.safetensors | tail -1)
"$AM" embed --config "$T/gal.cfg" --checkpoint "$CK" --out "$T/e1.h5" --batch 8 >"$T/e1.log" 2>&1
check "embed at 1 rank" test $? -eq 0
check "embed reports images/s" grep -q "objects/s" "$T/e1.log"
"$MPIRUN" --oversubscribe -np 2 "$AM" embed --config "$T/gal.cfg" --checkpoint "$CK" --out "$T/e2.h5" --batch 8 \
  >"$T/e2.log" 2>&1
check "embed at 2 ranks" test $? -eq 0
"$AM" embed --config "$T/gal.cfg" --checkpoint "$CK" --out "$T/e3.h5" --batch 5 >/dev/null 2>&1
check "embed with --batch 5" test $? -eq 0
check "the embeddings file: one 'image' embedding, raw features, the dataset's rows; 2 ranks bitwise; other batch to rounding" \
  $PY - "$T/e1.h5" "$T/e2.h5" "$T/e3.h5" "$T/gal.h5" <<'PY'
import sys, h5py, numpy as np
a, b, c, d = (h5py.File(p, "r") for p in sys.argv[1:5])
assert list(a.attrs["modalities"]) == ["image"], a.attrs["modalities"]
assert int(a.attrs["normalized"]) == 0 and int(a.attrs["dim"]) == 24
E = a["embeddings/image"][()]
assert E.shape == (120, 24) and a["has"].shape == (120, 1) and a["has"][()].all()
assert (a["id"][()] == d["id"][()]).all() and (a["index"][()] == np.arange(120)).all()
assert (a["split"][()] == d["split"][()]).all()
assert np.isfinite(E).all() and E.std() > 0
# the representation is LayerNorm-ed features: not unit rows
n = np.linalg.norm(E, axis=1)
assert abs(n.mean() - 1) > 0.1, n.mean()
for k in ("embeddings/image", "id", "label", "split", "has", "index"):
    assert (a[k][()] == b[k][()]).all(), k
err = np.abs(E - c["embeddings/image"][()]).max()
assert err <= 1e-5 * np.abs(E).max(), err
PY
"$AM" map --in "$T/e1.h5" --embedding image --method pca --out "$T/map.csv" >/dev/null 2>&1
check "astromm map of the image embedding: every galaxy" test "$(tail -n +2 "$T/map.csv" | wc -l)" -eq 120
ID=$($PY -c "import h5py,sys; print(h5py.File(sys.argv[1])['id'][17])" "$T/e1.h5")
"$AM" search --embeddings "$T/e1.h5" --id "$ID" --pca 10 --metric euclidean --k 6 --out "$T/s1.csv" \
  --montage "$T/m.png" 2>"$T/s1.err"
check "search --pca 10 --metric euclidean --montage" test $? -eq 0
"$MPIRUN" --oversubscribe -np 2 "$AM" search --embeddings "$T/e1.h5" --id "$ID" --pca 10 --metric euclidean --k 6 \
  --block 7 --out "$T/s2.csv" 2>/dev/null
check "search at 2 ranks identical" cmp -s "$T/s1.csv" "$T/s2.csv"
"$AM" search --embeddings "$T/e1.h5" --id "$ID" --k 6 --out "$T/sc.csv" 2>/dev/null
check "cosine search of the file's only embedding by default" test $? -eq 0
check "search results against numpy (PCA fitted on all rows, then brute force)" \
  $PY - "$T/e1.h5" "$ID" "$T/s1.csv" "$T/sc.csv" <<'PY'
import sys, csv, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
E = f["embeddings/image"][()].astype(np.float64); ids = f["id"][()]; q = int(np.where(ids == int(sys.argv[2]))[0][0])
X = E - E.mean(0)
w, V = np.linalg.eigh(X.T @ X)
Z = X @ V[:, ::-1][:, :10]
d = np.sqrt(((Z - Z[q]) ** 2).sum(1))
order = np.argsort(d, kind="stable")[:6]
rows = list(csv.DictReader(open(sys.argv[3])))
assert [r["rank"] for r in rows] == [str(i) for i in range(1, 7)]
assert int(rows[0]["neighbour_id"]) == ids[q] and float(rows[0]["euclidean"]) == 0.0
got = np.array([float(r["euclidean"]) for r in rows])
assert (np.diff(got) >= 0).all(), got
assert np.allclose(got, d[order], rtol=1e-4, atol=1e-4), (got, d[order])
cs = (E @ E[q]) / (np.linalg.norm(E, axis=1) * np.linalg.norm(E[q]))
rows = list(csv.DictReader(open(sys.argv[4])))
got = np.array([float(r["cosine"]) for r in rows])
assert int(rows[0]["neighbour_id"]) == ids[q]
assert np.allclose(got, np.sort(cs)[::-1][:6], atol=1e-5), (got, np.sort(cs)[::-1][:6])
PY
check "montage: a PNG of 1 x 7 tiles, the query's tile is its stored image" $PY - "$T/m.png" "$T/gal.h5" "$T/s1.csv" "$T/e1.h5" <<'PY'
import sys, zlib, struct, csv, h5py, numpy as np
b = open(sys.argv[1], "rb").read()
assert b[:8] == b"\x89PNG\r\n\x1a\n"
w, h, depth, ctype = struct.unpack(">IIBB", b[16:26])
S, G, QG = 32, 4, 16
assert (w, h, depth, ctype) == (7 * S + 8 * G + QG - G, S + 2 * G, 8, 0), (w, h, depth, ctype)
# decode the (filtered) scanlines: PNG filters per row
raw, pos, data = b"", 8, b""
while pos < len(b):
    n, = struct.unpack(">I", b[pos:pos + 4]); typ = b[pos + 4:pos + 8]
    if typ == b"IDAT": data += b[pos + 8:pos + 8 + n]
    pos += 12 + n
raw = zlib.decompress(data)
img = np.zeros((h, w), np.int32); prev = np.zeros(w, np.int32)
for y in range(h):
    f = raw[y * (w + 1)]; line = np.frombuffer(raw[y * (w + 1) + 1:(y + 1) * (w + 1)], np.uint8).astype(np.int32)
    out = np.zeros(w, np.int32)
    for x in range(w):
        a = out[x - 1] if x else 0; up = prev[x]; c = prev[x - 1] if x else 0
        if f == 0: p = 0
        elif f == 1: p = a
        elif f == 2: p = up
        elif f == 3: p = (a + up) // 2
        else:
            pa, pb, pc = abs(up - c), abs(a - c), abs(a + up - 2 * c)
            p = a if pa <= pb and pa <= pc else (up if pb <= pc else c)
        out[x] = (line[x] + p) & 255
    img[y] = out; prev = out
d = h5py.File(sys.argv[2], "r"); e = h5py.File(sys.argv[4], "r")
rows = list(csv.DictReader(open(sys.argv[3])))
ids = list(e["id"][()])
q = e["index"][ids.index(int(rows[0]["query_id"]))]
assert (img[G:G + S, G:G + S] == d["images"][q][:, :, 0]).all(), "query tile"
n2 = e["index"][ids.index(int(rows[1]["neighbour_id"]))]
x0 = G + 2 * (S + G) + QG - G
assert (img[G:G + S, x0:x0 + S] == d["images"][n2][:, :, 0]).all(), "second neighbour tile"
assert (img[0:G] == 255).all(), "white gap"
PY
expect() {  # expect CODE PATTERN cmd...: exit code and a message naming the problem
  local code=$1 pat=$2; shift 2
  "$@" >/dev/null 2>"$T/err.txt"; local rc=$?
  [ $rc -eq "$code" ] && grep -q -- "$pat" "$T/err.txt" || { echo "  (exit $rc, stderr: $(head -c 300 "$T/err.txt"))"; return 1; }
}
check "unknown query id" expect 2 "unknown query id 999999999" "$AM" search --embeddings "$T/e1.h5" --id 999999999
check "--pca above the dimension" expect 2 "pca 25 is larger than the embedding dimension 24" \
  "$AM" search --embeddings "$T/e1.h5" --id "$ID" --pca 25
check "an embedding the file does not have" expect 2 "no embedding 'fused' in the file (it has: image)" \
  "$AM" search --embeddings "$T/e1.h5" --id "$ID" --modality fused
check "bad metric" expect 2 "'manhattan'" "$AM" search --embeddings "$T/e1.h5" --id "$ID" --metric manhattan
"$AM" embed --config "$T/gal.cfg" --checkpoint "$CK" --out "$T/test.h5" --split test >/dev/null 2>&1
TID=$($PY -c "import h5py,sys; print(h5py.File(sys.argv[1])['id'][0])" "$T/test.h5")
check "an empty result (no targets in the split)" expect 2 "nothing to search" \
  "$AM" search --embeddings "$T/test.h5" --id "$TID" --split train
check "montage from a star dataset" expect 1 "does not open as an image dataset" \
  "$AM" search --embeddings "$T/e1.h5" --id "$ID" --montage "$T/bad.png" --dataset "$T/data.h5"
check "no montage left behind" test ! -e "$T/bad.png"
check "a star model on the image dataset is refused" expect 2 "is an image dataset" \
  "$AM" embed --config "$T/small.cfg" --set "data.path=\"$T/gal.h5\"" --checkpoint "$CK" --out "$T/x.h5"

# ---- anomalies: a file where the truth is known
$PY - "$T/clu.h5" <<'PY'
import sys, h5py, numpy as np
rng = np.random.default_rng(7)
n, d = 600, 16
X = rng.normal(size=(n, d)).astype(np.float32)
lab = np.zeros(n, np.int32)
idx = rng.choice(n, 60, replace=False)
c = rng.normal(size=d); c *= 1.5 / np.linalg.norm(c)  # inside the bulk: not the farthest from the mean
X[idx] = (c + 0.15 * rng.normal(size=(60, d))).astype(np.float32)
lab[idx] = 1
with h5py.File(sys.argv[1], "w") as f:
    s = h5py.string_dtype()
    f.attrs["format"] = "astromm-embeddings"; f.attrs["version"] = np.int32(1)
    f.attrs["n_objects"] = np.int64(n); f.attrs["dim"] = np.int32(d); f.attrs["normalized"] = np.int32(0)
    f.attrs.create("classes", ["plain", "odd"], dtype=s); f.attrs.create("modalities", ["image"], dtype=s)
    f.attrs["checkpoint"] = "none"; f.attrs["dataset"] = "none"
    f["id"] = np.arange(n, dtype=np.int64) + 10000; f["label"] = lab; f["split"] = np.zeros(n, np.uint8)
    f["has"] = np.ones((n, 1), np.uint8); f["index"] = np.arange(n, dtype=np.int64)
    f["embeddings/image"] = X
PY
"$AM" anomalies --embeddings "$T/clu.h5" --oracle odd --pca 10 --budget 60 --json "$T/clu.json" --out "$T/clu.csv" \
  >"$T/clu.log" 2>&1
check "anomalies --oracle on a known cluster" test $? -eq 0
check "the labels find the cluster: >= 3x random, better than distance from the mean" $PY - "$T/clu.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
assert m["found"] >= 3 * m["found_random_expected"], m
p = m["precision_at_50"]
assert p["active"] >= 3 * p["random"] and p["active"] > p["baseline"], p
PY
"$AM" anomalies --embeddings "$T/clu.h5" --oracle odd --pca 10 --budget 60 --out "$T/clu2.csv" >/dev/null 2>&1
check "an oracle run repeats byte for byte" cmp -s "$T/clu.csv" "$T/clu2.csv"
# interactive: answer as the oracle would, three rounds, resuming from the state file
ST="$T/state.csv"
"$AM" anomalies --embeddings "$T/clu.h5" --state "$ST" --pca 10 --budget 30 >"$T/i0.log" 2>&1
check "interactive: the first run asks for 10 seed labels" test "$(tail -n +2 "$ST.next.csv" | wc -l)" -eq 10
answer() { $PY - "$T/clu.h5" "$ST.next.csv" "$T/scored.csv" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r"); lab = dict(zip(f["id"][()].tolist(), f["label"][()].tolist()))
rows = [l.split(",")[0] for l in open(sys.argv[2]).read().split()[1:]]
open(sys.argv[3], "w").write("id,score\n" + "".join(f"{i},{5 if lab[int(i)] == 1 else 0}\n" for i in rows))
PY
}
for round in 1 2 3; do
  answer
  "$AM" anomalies --embeddings "$T/clu.h5" --state "$ST" --scores "$T/scored.csv" --pca 10 --budget 30 \
    --out "$T/irank.csv" >"$T/i$round.log" 2>&1 || { echo "FAIL: interactive round $round"; fail=$((fail+1)); }
done
check "interactive: 30 labels in the state, the budget reached" \
  bash -c "[ \$(tail -n +2 '$ST' | wc -l) -eq 30 ] && grep -q 'budget of 30 is reached' '$T/i3.log'"
"$AM" anomalies --embeddings "$T/clu.h5" --oracle odd --pca 10 --budget 30 --out "$T/orank.csv" >/dev/null 2>&1
check "interactive answered as the oracle == the oracle run (ranking byte for byte)" cmp -s "$T/irank.csv" "$T/orank.csv"
printf 'id,score\n10001,3\n424242,1\n' >"$T/bad_id.csv"
check "a label file with an unknown id (file:line)" expect 2 "bad_id.csv:3: unknown id 424242" \
  "$AM" anomalies --embeddings "$T/clu.h5" --state "$T/anom_state.csv" --scores "$T/bad_id.csv" --pca 10
printf 'id,score\n10001,7\n' >"$T/bad_score.csv"
check "a score outside 0-5 (file:line)" expect 2 "bad_score.csv:2: score '7' of object 10001 is not a number from 0 to 5" \
  "$AM" anomalies --embeddings "$T/clu.h5" --state "$T/anom_state.csv" --scores "$T/bad_score.csv" --pca 10
check "no state written after a bad label file" test ! -e "$T/anom_state.csv"
check "a PCA dimension above the features" expect 2 "the PCA dimension must be 1..16" \
  "$AM" anomalies --embeddings "$T/clu.h5" --oracle odd --pca 40
check "an unknown oracle class, the classes listed" expect 2 "no class 'rare'.*plain odd" \
  "$AM" anomalies --embeddings "$T/clu.h5" --oracle rare --pca 10
check "too small a pool" expect 2 "too few for 10 PCA components" \
  "$AM" anomalies --embeddings "$T/clu.h5" --oracle odd --pca 10 --split test
# the galaxy model's own embeddings: oracle on synthetic types, with a montage of the top
"$AM" anomalies --embeddings "$T/e1.h5" --oracle merger,ring --pca 10 --budget 30 --montage "$T/top.png" --top 8 \
  >"$T/g.log" 2>&1
check "anomalies on galaxy embeddings with a montage" test $? -eq 0 -a -s "$T/top.png"

# ---- fine-tuning
ft() { local np=$1 dir=$2; shift 2
  "$MPIRUN" --oversubscribe -np "$np" "$AM" finetune "$T/gal.cfg" --init "$CK" --set "run.dir=\"$dir\"" \
    --set train.batch_size=8 --set train.max_steps=5 --set 'run.progress="off"' --labels-per-class 6 "$@"; }
ft 1 "$T/ft1" >"$T/ft1.log" 2>&1
check "finetune (frozen encoder, linear head) at 1 rank" test $? -eq 0
ft 2 "$T/ft2" >"$T/ft2.log" 2>&1
check "finetune at 2 ranks" test $? -eq 0
check "finetune: np 2 equals np 1" cmp_train_runs "$T/ft1" "$T/ft2" 1e-3 5
NLAB=$($PY -c "import h5py,sys,numpy as np; f=h5py.File(sys.argv[1]); l=f['label'][()]; s=f['split'][()]; l=l[(s==0)&(l>=0)]; print(sum(min(6, int((l==c).sum())) for c in set(l.tolist())))" "$T/gal.h5")
check "--labels-per-class 6: min(6, n) training galaxies of each class ($NLAB)" grep -q " $NLAB training" "$T/ft1.log"
ft 1 "$T/ft3" --set finetune.unfreeze_blocks=1 --set 'finetune.image_head="paper"' >"$T/ft3.log" 2>&1
check "finetune (paper head, top block unfrozen)" test $? -eq 0
check "what trains: frozen encoder bitwise unchanged, head moved; unfreeze 1: stage 4 moved, stem not" \
  $PY - "$CK" "$T/ft1/checkpoints/step_00000005/model.safetensors" "$T/ft3/checkpoints/step_00000005/model.safetensors" <<'PY'
import sys, numpy as np
sys.path.insert(0, "tests/reference")
from safetensors_np import load
init, _ = load(sys.argv[1]); fro, _ = load(sys.argv[2]); top, _ = load(sys.argv[3])
enc = [k for k in fro if not k.startswith("head.")]
assert enc and all((fro[k] == init[k]).all() for k in enc), [k for k in enc if not (fro[k] == init[k]).all()][:3]
assert any(k.startswith("head.1.") for k in fro) and not any(k.startswith("classifier.2") for k in fro)
stem = [k for k in top if k.startswith("features.0.")]
s4 = [k for k in top if k.startswith("features.7.")]
assert stem and s4 and all((top[k] == init[k]).all() for k in stem)
assert any((top[k] != init[k]).any() for k in s4), "stage 4 did not move"
assert any(k.startswith("head.6.") for k in top)
PY
"$AM" eval --run "$T/ft3" --checkpoint "$T/ft3/checkpoints/step_00000005/model.safetensors" --split test \
  --out "$T/fte1" >"$T/fte1.log" 2>&1
check "eval of a fine-tuned image classifier" test $? -eq 0
"$MPIRUN" --oversubscribe -np 2 "$AM" eval --run "$T/ft3" --checkpoint "$T/ft3/checkpoints/step_00000005/model.safetensors" \
  --split test --out "$T/fte2" >/dev/null 2>&1
check "eval at 2 ranks: the same predictions" cmp -s "$T/fte1/predictions.csv" "$T/fte2/predictions.csv"
check "eval metrics: every labelled test galaxy, accuracy in 0..1" $PY - "$T/fte1/metrics.json" "$T/gal.h5" <<'PY'
import json, sys, h5py
m = json.load(open(sys.argv[1])); f = h5py.File(sys.argv[2], "r")
n = int(((f["split"][()] == 2) & (f["label"][()] >= 0)).sum())
assert m["n"] == n and 0 <= m["accuracy"] <= 1 and m["task"] == "image_classify", (m.get("n"), n)
PY
for k in 0 1 2; do
  ft 1 "$T/cv$k" --set data.cv_folds=3 --set data.cv_fold=$k --set train.max_steps=1 >/dev/null 2>&1 &&
    "$AM" eval --run "$T/cv$k" --checkpoint "$T/cv$k/checkpoints/step_00000001/model.safetensors" --split test \
      --out "$T/cve$k" >/dev/null 2>&1 || { echo "FAIL: cross-validation fold $k"; fail=$((fail+1)); }
done
check "3-fold cross-validation: the test folds are disjoint, stratified, and cover every labelled galaxy" \
  $PY - "$T/gal.h5" "$T"/cve0/predictions.csv "$T"/cve1/predictions.csv "$T"/cve2/predictions.csv <<'PY'
import sys, csv, h5py, collections
f = h5py.File(sys.argv[1], "r"); lab = f["label"][()]; ids = f["id"][()]
folds = [[int(r["id"]) for r in csv.DictReader(open(p))] for p in sys.argv[2:]]
allids = [i for fo in folds for i in fo]
assert len(allids) == len(set(allids)) == int((lab >= 0).sum()), (len(allids), len(set(allids)))
cls = dict(zip(ids.tolist(), lab.tolist()))
for c in set(lab[lab >= 0].tolist()):
    n = [sum(cls[i] == c for i in fo) for fo in folds]
    assert max(n) - min(n) <= 1, (c, n)
PY
ft 1 "$T/ft4" --set 'finetune.target="binary"' >"$T/ft4.log" 2>&1
check "a binary target on more than 2 classes is refused, naming the key" \
  bash -c "[ $? -ne 0 ] && grep -q 'finetune.target = \"binary\" needs 2 classes' '$T/ft4.log'"

# ---- fine-tuning on votes
ftv() { local np=$1 dir=$2; shift 2
  "$MPIRUN" --oversubscribe -np "$np" "$AM" finetune "$T/gal.cfg" --init "$CK" --set "run.dir=\"$dir\"" \
    --set train.batch_size=8 --set train.max_steps=4 --set 'run.progress="off"' --set 'finetune.target="votes"' "$@"; }
ftv 1 "$T/fv1" --set finetune.unfreeze_blocks=1 >"$T/fv1.log" 2>&1
check "finetune on votes at 1 rank" test $? -eq 0
ftv 2 "$T/fv2" --set finetune.unfreeze_blocks=1 >"$T/fv2.log" 2>&1
check "finetune on votes at 2 ranks" test $? -eq 0
check "finetune on votes: np 2 equals np 1" cmp_train_runs "$T/fv1" "$T/fv2" 1e-3 4
check "vote fine-tuning: vote metrics logged, an image_votes checkpoint with a fresh head of the schema's answers" \
  $PY - "$T/fv1" "$T/gal.h5" <<'PY'
import json, sys, h5py
sys.path.insert(0, "tests/reference")
from safetensors_np import load
d = sys.argv[1]
rows = [json.loads(l) for l in open(d + "/metrics.jsonl")]
ev = [r for r in rows if r.get("kind") == "epoch" or "val_loss" in r]
assert any("vote_mae" in r for r in rows), "no vote_mae in metrics.jsonl"
t, meta = load(d + "/checkpoints/step_00000004/model.safetensors")
assert meta.get("task") == "image_votes", meta.get("task")
A = h5py.File(sys.argv[2], "r")["votes"].shape[1]
assert t["head.1.weight"].shape[0] == A and not any(k.startswith("classifier.2") for k in t), t["head.1.weight"].shape
PY
"$AM" eval --run "$T/fv1" --checkpoint "$T/fv1/checkpoints/step_00000004/model.safetensors" --split test \
  --out "$T/fve1" >"$T/fve1.log" 2>&1
check "eval of a vote fine-tuned model: vote-fraction errors" \
  bash -c "[ $? -eq 0 ] && grep -q 'majority-answer accuracy' '$T/fve1.log' && test -s '$T/fve1/metrics.json'"
"$MPIRUN" --oversubscribe -np 2 "$AM" eval --run "$T/fv1" --checkpoint "$T/fv1/checkpoints/step_00000004/model.safetensors" \
  --split test --out "$T/fve2" >/dev/null 2>&1
check "vote eval at 2 ranks: the same metrics" $PY - "$T/fve1/metrics.json" "$T/fve2/metrics.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert a["objects"] == b["objects"] > 0 and abs(a["mean"]["mae_model"] - b["mean"]["mae_model"]) < 1e-5, (a["mean"], b["mean"])
assert 0 <= a["mean"]["mae_model"] <= 1
PY
ftv 1 "$T/fv3" --set 'finetune.subset="sub50"' --set train.max_steps=1 >"$T/fv3.log" 2>&1
NSUB=$($PY -c "import h5py,sys; f=h5py.File(sys.argv[1]); s=f['split'][()]; b=f['subset'][()]; print(int(((s==0)&((b&1)!=0)).sum()))" "$T/gal.h5")
check "finetune.subset sub50 on votes: $NSUB training galaxies" grep -q " $NSUB training" "$T/fv3.log"
ftv 1 "$T/fv4" --labels-per-class 6 >"$T/fv4.log" 2>&1
check "--labels-per-class with a vote target is refused, naming the keys" \
  bash -c "[ $? -ne 0 ] && grep -q 'finetune.labels_per_class and data.cv_folds' '$T/fv4.log'"
finish galaxy_downstream
