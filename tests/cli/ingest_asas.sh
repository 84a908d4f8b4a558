#!/usr/bin/env bash
# astromm ingest on real ASAS curves, as a first-time user runs it (issue 14.4):
#  - two --asas-csv files at once (ids split across them);
#  - manifest ids missing from every file: skipped, with a loud WARNING summary line;
#  - no catalogue: photo columns computed from the curves ("features: ..." line),
#    rfr_score NaN; --features off leaves them NaN;
#  - an evaluation-only dataset (every object split=test) with --stats-from the
#    training dataset carries that dataset's normalisation statistics exactly;
#  - class lists: the manifest's own names (--classes manifest), an explicit list,
#    the training dataset's list with --stats-from;
#  - 2 and 3 ranks under mpirun give the 1-rank dataset exactly;
#  - fine-tuning with a class absent from training: never predicted, also by eval;
#  - eval --crops (test-time averaging over windows): 1 rank == 2 ranks;
#  - --features-out: the computed features as CSV, only with the dataset.
# Skips (exit 77) without ../shared/data.
AM=$1
CSV=../shared/data/asas/lightcurves.csv.gz
[ -f "$CSV" ] || { echo "SKIP: $CSV not found"; exit 77; }
PY=${ASTROMM_PYTHON:-/usr/bin/python3}
T=$(mktemp -d /tmp/astromm_ingest_test.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0
check() { local what=$1; shift; if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fail=$((fail+1)); fi; }

# 12 objects, two of each of the first six classes of the catalogue, split by id
# between a.csv (the lower six) and b.csv (each file grouped by increasing id).
"$PY" - ../shared/data/asas/catalog.csv > "$T/ids" <<'PY'
import csv, sys
by = {}
for r in csv.DictReader(open(sys.argv[1])):
    by.setdefault(r["class_original"], []).append(int(r["id"]))
ids = sorted(i for c in list(by)[:6] for i in by[c][:2])
print("\n".join(map(str, ids)))
PY
zcat "$CSV" | awk -F, -v A="$T/a.csv" -v B="$T/b.csv" -v IDS="$T/ids" '
  BEGIN { while ((getline l < IDS) > 0) { n++; rank[l] = n } }
  NR == 1 { print > A; print > B; next }
  ($1 in rank) { print > (rank[$1] <= 6 ? A : B) }'
check "12 ids" [ "$(wc -l < "$T/ids")" -eq 12 ]
{ echo "id,class,lightcurve"
  i=0; while read -r id; do i=$((i+1)); echo "$id,,asas:$id"; done < "$T/ids"
  echo "1,,asas:1"; echo "2,,asas:2"; } > "$T/m.csv"
"$AM" ingest --manifest "$T/m.csv" --asas-csv "$T/a.csv" --asas-csv "$T/b.csv" --out "$T/train.h5" \
  >"$T/out" 2>"$T/err"
rc=$?
cat "$T/out"
check "exit 0" [ $rc -eq 0 ]
check "12 written from two files" grep -q "wrote $T/train.h5: 12 of 14 objects" "$T/out"
check "loud missing-id line (stdout)" grep -q "WARNING: 2 asas:<id> light curves are in none of the --asas-csv files" "$T/out"
check "loud missing-id line (stderr)" grep -q "WARNING: 2 asas:<id>" "$T/err"
check "per-row reason" grep -q "id 1: skipped: light curve asas:1: id not in $T/a.csv or the other ASAS CSV files" "$T/err"
check "features line" grep -q "features: computed for 12 light curves, photo columns from them for 12 objects" "$T/out"
check "photo columns computed, rfr_score NaN" "$PY" - "$T/train.h5" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    p = f["/photometry/photo_columns"][:]
    ok = np.isfinite(p[:, :3]).all() and np.isnan(p[:, 3]).all() and (p[:, 1] > -2).all() and (p[:, 1] < 3.1).all()
    sd = f["/photometry/photo_std"][:]
    ok = ok and np.isfinite(sd).all() and (sd[:3] != 1).any()
sys.exit(0 if ok else 1)
PY
"$AM" ingest --manifest "$T/m.csv" --asas-csv "$T/a.csv" --asas-csv "$T/b.csv" --features off --out "$T/off.h5" >/dev/null 2>&1
check "--features off: NaN photo columns" "$PY" -c "
import sys, h5py, numpy as np
sys.exit(0 if np.isnan(h5py.File('$T/off.h5','r')['/photometry/photo_columns'][:]).all() else 1)"

# The features table: one row per curve, the photo columns' values; none without the dataset.
"$AM" ingest --manifest "$T/m.csv" --asas-csv "$T/a.csv" --asas-csv "$T/b.csv" --features always \
  --features-out "$T/feat.csv" --out "$T/fa.h5" >"$T/outf" 2>&1
check "features table written" grep -q "features table: $T/feat.csv (12 rows)" "$T/outf"
check "features table = photo columns" "$PY" - "$T/feat.csv" "$T/fa.h5" <<'PY'
import csv, math, sys, h5py, numpy as np
rows = {int(r["id"]): r for r in csv.DictReader(open(sys.argv[1]))}
f = h5py.File(sys.argv[2], "r")
ids, p = f["/id"][:], f["/photometry/photo_columns"][:]
ok = len(rows) == 12 and len(next(iter(rows.values()))) == 19
for i, pc in zip(ids, p):
    r = rows[int(i)]
    ok &= pc[0] == np.float32(float(r["amplitude"])) and pc[1] == np.float32(math.log10(float(r["period"])))
    ok &= pc[2] == np.float32(float(r["lksl_statistic"]))
sys.exit(0 if ok else 1)
PY
"$AM" ingest --manifest "$T/m.csv" --asas-csv "$T/a.csv" --features always --features-out "$T/feat2.csv" \
  --out "$T/nodir/x.h5" >/dev/null 2>&1
check "no features table without the dataset" [ ! -e "$T/feat2.csv" ]
"$AM" ingest --manifest "$T/m.csv" --asas-csv "$T/a.csv" --features off --features-out "$T/feat3.csv" \
  --out "$T/y.h5" >"$T/outf3" 2>&1
check "--features off with a table refused" grep -q "needs features" "$T/outf3"

# The same ingest on 2 and 3 ranks (features shared out curve by curve): identical
# photo columns, statistics and skip reports; one writer.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
for np in 2 3; do
  OMP_NUM_THREADS=1 mpirun -np $np "$AM" ingest --manifest "$T/m.csv" --asas-csv "$T/a.csv" --asas-csv "$T/b.csv" \
    --out "$T/r$np.h5" >"$T/outr$np" 2>"$T/errr$np"
  check "$np ranks: written once" [ "$(grep -c "^wrote $T/r$np.h5: 12 of 14 objects (seed 42, $np ranks)" "$T/outr$np")" -eq 1 ]
  check "$np ranks: each skip reported once" [ "$(grep -c "id 1: skipped" "$T/errr$np")" -eq 1 ]
  check "$np ranks: same dataset as 1 rank" "$PY" - "$T/train.h5" "$T/r$np.h5" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
keys = ["/photometry/photo_columns", "/photometry/photo_mean", "/photometry/photo_std", "/photometry/values", "/id"]
sys.exit(0 if all(np.array_equal(a[k][:], b[k][:], equal_nan=True) for k in keys) else 1)
PY
done

# Evaluation-only dataset: every object split=test, statistics from train.h5.
{ echo "id,class,lightcurve,split"; tail -n +2 "$T/m.csv" | head -12 | sed 's/$/,test/'; } > "$T/t.csv"
"$AM" ingest --manifest "$T/t.csv" --asas-csv "$T/a.csv" --asas-csv "$T/b.csv" --stats-from "$T/train.h5" \
  --out "$T/test.h5" >"$T/out2" 2>&1
check "eval dataset written" grep -q "statistics: copied from $T/train.h5" "$T/out2"
check "statistics identical" "$PY" - "$T/train.h5" "$T/test.h5" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
same = all(np.array_equal(a[k][:], b[k][:]) for k in
           ["/photometry/photo_mean", "/photometry/photo_std", "/metadata/mean", "/metadata/std"])
sys.exit(0 if same and (b["/split"][:] == 2).all() else 1)
PY
"$AM" ingest --manifest "$T/t.csv" --asas-csv "$T/a.csv" --stats-from "$T/nope.h5" --out "$T/x.h5" >"$T/out3" 2>&1
check "--stats-from a missing file: exit 1, named" grep -q "stats-from: .*nope.h5" "$T/out3"
check "... and nothing written" [ ! -e "$T/x.h5" ]
# Class lists: the ASAS catalogue's own names (commas made " -"), sorted; an explicit list
# skips the other names; a --stats-from dataset takes the training dataset's list.
"$PY" - "$T/ids" ../shared/data/asas/catalog.csv "$T/mc.csv" <<'PY'
import csv, sys
ids = [l.strip() for l in open(sys.argv[1])]
cls = {r["id"]: r["class_original"].replace(",", " -") for r in csv.DictReader(open(sys.argv[2]))}
with open(sys.argv[3], "w") as f:
    f.write("id,class,lightcurve\n")
    for i in ids:
        f.write(f"{i},{cls[i]},asas:{i}\n")
PY
"$AM" ingest --manifest "$T/mc.csv" --asas-csv "$T/a.csv" --asas-csv "$T/b.csv" --classes manifest \
  --out "$T/cls.h5" >"$T/out4" 2>&1
check "--classes manifest: every object written" grep -q "12 of 12 objects" "$T/out4"
check "--classes manifest: the manifest's names, sorted" "$PY" - "$T/mc.csv" "$T/cls.h5" <<'PY'
import csv, sys, h5py
names = sorted({r["class"] for r in csv.DictReader(open(sys.argv[1]))})
f = h5py.File(sys.argv[2], "r")
got = [c.decode() if isinstance(c, bytes) else c for c in f.attrs["classes"]]
lab = f["/label"][:]
sys.exit(0 if got == names and len(names) >= 2 and lab.min() >= 0 and lab.max() < len(names) else 1)
PY
first=$(sed -n 2p "$T/mc.csv" | cut -d, -f2)
"$AM" ingest --manifest "$T/mc.csv" --asas-csv "$T/a.csv" --asas-csv "$T/b.csv" --classes "$first" \
  --out "$T/one.h5" >"$T/out5" 2>&1
check "explicit list: other names skipped as unknown" grep -q "skipped: unknown class" "$T/out5"
"$AM" ingest --manifest "$T/mc.csv" --asas-csv "$T/a.csv" --stats-from "$T/cls.h5" --out "$T/clsb.h5" >/dev/null 2>&1
check "--stats-from: the training dataset's class list" "$PY" -c "
import sys, h5py
a, b = h5py.File('$T/cls.h5','r').attrs['classes'], h5py.File('$T/clsb.h5','r').attrs['classes']
sys.exit(0 if list(a) == list(b) else 1)"
"$AM" ingest --manifest "$T/mc.csv" --asas-csv "$T/a.csv" --stats-from "$T/cls.h5" --classes manifest --out "$T/x.h5" >"$T/out6" 2>&1
check "--classes with --stats-from refused" grep -q "not both" "$T/out6"
# The computed light-curve features as metadata (no catalogue, features auto): 18 lc_*
# columns, every object with a curve has them, z-scored over the training split.
check "metadata: the 18 lc_* columns, present, training statistics" "$PY" - "$T/cls.h5" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
names = [n.decode() if isinstance(n, bytes) else n for n in f["metadata"].attrs["columns"]]
raw, has, split = f["metadata/raw"][:], f["has"][:], f["split"][:]
tr = (split == 0) & (has[:, 2] == 1)
ok = (len(names) == 18 and all(n.startswith("lc_") for n in names) and raw.shape[1] == 18 and
      (has[:, 2] == has[:, 0]).all() and np.isfinite(raw[has[:, 2] == 1]).all() and
      np.allclose(f["metadata/mean"][:], raw[tr].astype(np.float64).mean(0), rtol=1e-5, atol=1e-6) and
      np.allclose(f["metadata/std"][:], raw[tr].astype(np.float64).std(0), rtol=1e-4, atol=1e-6))
# The first three are the photo columns' features: log10 period as the photo column,
# log10 amplitude, the Lafler-Kinman statistic as it is.
pc, m = f["photometry/photo_columns"][:], has[:, 2] == 1
ok = ok and names[:3] == ["lc_log10_period", "lc_log10_amplitude", "lc_lksl_statistic"] and \
     np.allclose(raw[m, 0], pc[m, 1], atol=1e-6) and np.allclose(10 ** raw[m, 1], np.maximum(pc[m, 0], 1e-3), rtol=1e-5) and \
     np.allclose(raw[m, 2], pc[m, 2], atol=1e-6)
sys.exit(0 if ok else 1)
PY
"$AM" ingest --manifest "$T/mc.csv" --asas-csv "$T/a.csv" --features off --stats-from "$T/cls.h5" --out "$T/x.h5" \
  >"$T/out6b" 2>&1
check "--stats-from with other metadata columns refused, with the fix" grep -q "metadata columns .* differ.*same --catalog and --features" "$T/out6b"
# Fine-tuning a 10-class head on a 6-class dataset is refused at set-up, with the fix.
cat > "$T/ft.cfg" <<CFG
model = { seq_len = 32; d_model = 16; n_heads = 2; d_ff = 32; n_layers = 1; meta_in = 18;
          spec_channels = [4, 4, 4, 4]; meta_hidden = 16; proj_dim = 16; };
data = { path = "$T/cls.h5"; };
train = { batch_size = 4; epochs = 1; };
run = { dir = "$T/ftrun"; };
CFG
OMP_NUM_THREADS=1 "$AM" finetune "$T/ft.cfg" --head photometry >"$T/out7" 2>&1
rc=$?
nc=$("$PY" -c "import h5py; print(len(h5py.File('$T/cls.h5','r').attrs['classes']))")
check "class-count mismatch refused (exit $rc)" [ $rc -ne 0 ]
check "... naming both counts and the fix" grep -q "has $nc classes but model.n_classes is 10; hint: --set model.n_classes=$nc" "$T/out7"
OMP_NUM_THREADS=1 "$AM" finetune "$T/ft.cfg" --head photometry --set model.meta_in=34 --set model.n_classes=$nc >"$T/out7b" 2>&1
check "metadata-width mismatch refused, with the fix" grep -q "has 18 metadata columns but model.meta_in is 34; hint: --set model.meta_in=18" "$T/out7b"
# Fine-tuning (the fused photometry+metadata head) with a class absent from training and
# balanced weights; eval never predicts it.
"$PY" - "$T/mc.csv" "$T/mcs.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
names = sorted({r["class"] for r in rows})
seen = {}
with open(sys.argv[2], "w") as f:
    f.write("id,class,lightcurve,split\n")
    for r in rows:
        k = seen[r["class"]] = seen.get(r["class"], 0) + 1
        split = "test" if r["class"] == names[0] else ("val" if k == 2 and r["class"] in names[1:3] else "train")
        f.write(f"{r['id']},{r['class']},{r['lightcurve']},{split}\n")
PY
dead=$("$PY" -c "import csv; print(sorted({r['class'] for r in csv.DictReader(open('$T/mcs.csv'))})[0])")
"$AM" ingest --manifest "$T/mcs.csv" --asas-csv "$T/a.csv" --asas-csv "$T/b.csv" --classes manifest \
  --out "$T/clss.h5" >/dev/null 2>&1
OMP_NUM_THREADS=1 "$AM" finetune "$T/ft.cfg" --head photometry+metadata --set "data.path=\"$T/clss.h5\"" \
  --set model.n_classes=$nc --set 'finetune.class_weights="balanced"' --set "run.dir=\"$T/ftw\"" \
  --set train.batch_size=2 >"$T/out8" 2>&1
check "finetune with a dead class runs" grep -q "classes without a training example (never predicted): $dead" "$T/out8"
check "... balanced weights reported" grep -q "class weights (balanced):" "$T/out8"
OMP_NUM_THREADS=1 "$AM" eval --run "$T/ftw" --split test --out "$T/ev" >"$T/out9" 2>&1
check "eval on the dead class's objects: never predicted" "$PY" - "$T/ev/predictions.csv" "$T/clss.h5" "$dead" <<'PY'
import csv, sys, h5py
names = [c.decode() if isinstance(c, bytes) else c for c in h5py.File(sys.argv[2], "r").attrs["classes"]]
rows = list(csv.DictReader(open(sys.argv[1])))
sys.exit(0 if rows and all(r["predicted"] != sys.argv[3] and r["predicted"] in names for r in rows) else 1)
PY
# Test-time averaging over 3 windows: same predictions on 1 and 2 ranks; bad K refused.
OMP_NUM_THREADS=1 "$AM" eval --run "$T/ftw" --split train --crops 3 --out "$T/ev3a" >"$T/out10" 2>&1
OMP_NUM_THREADS=1 mpirun -np 2 "$AM" eval --run "$T/ftw" --split train --crops 3 --out "$T/ev3b" >>"$T/out10" 2>&1
check "--crops 3: written, recorded" grep -q '"crops": "3"' "$T/ev3a/metrics.json"
# Another rank count splits the batch into other GEMM shapes: float rounding
# (docs/training.md, Determinism), so the same predictions and probabilities to 1e-5.
check "--crops 3: 1 rank == 2 ranks (same predictions, probabilities to 1e-5)" "$PY" - "$T/ev3a/predictions.csv" \
  "$T/ev3b/predictions.csv" <<'PY'
import csv, sys
a, b = (list(csv.DictReader(open(p))) for p in sys.argv[1:3])
sys.exit(0 if a and len(a) == len(b) and all(
    (x["id"], x["label"], x["predicted"]) == (y["id"], y["label"], y["predicted"]) and
    abs(float(x["probability"]) - float(y["probability"])) <= 1e-5 for x, y in zip(a, b)) else 1)
PY
"$AM" eval --run "$T/ftw" --crops 0 >"$T/out11" 2>&1
check "--crops 0 refused (exit 2)" [ $? -eq 2 ]
# CLIP pre-training without spectra: the default (all three modalities) finds no object
# and names the key to set; train.modalities = photometry+metadata trains the photometry
# and metadata towers and leaves the spectra encoder exactly as initialised.
"$PY" - ../shared/data/asas/catalog.csv "$T/mclip.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))[:48]
with open(sys.argv[2], "w") as f:
    f.write("id,lightcurve,split\n")
    for k, r in enumerate(rows):
        f.write(f"{r['id']},asas:{r['id']},{'val' if k % 6 == 5 else 'train'}\n")
PY
"$AM" ingest --manifest "$T/mclip.csv" --asas-csv "$CSV" --out "$T/clip.h5" >/dev/null 2>&1
cat > "$T/clip.cfg" <<CFG
model = { seq_len = 32; d_model = 16; n_heads = 2; d_ff = 32; n_layers = 1; meta_in = 18;
          spec_channels = [4, 4, 4, 4]; meta_hidden = 16; proj_dim = 16; };
data = { path = "$T/clip.h5"; };
train = { batch_size = 8; epochs = 2; };
run = { dir = "$T/clip0"; };
CFG
OMP_NUM_THREADS=1 "$AM" train "$T/clip.cfg" >"$T/out12" 2>&1
check "CLIP, all modalities, no spectra: refused with the key to set" grep -q 'train.modalities, e.g. "photometry+metadata"' "$T/out12"
for lr in 1e-3 3e-3; do
  OMP_NUM_THREADS=1 "$AM" train "$T/clip.cfg" --set 'train.modalities="photometry+metadata"' --set train.lr=$lr \
    --set "run.dir=\"$T/clip_$lr\"" >"$T/out13_$lr" 2>&1
  check "CLIP photometry+metadata (lr $lr) runs" grep -q "done: " "$T/out13_$lr"
done
check "... spectra tensors untouched (equal for two learning rates), the others trained" "$PY" - \
  "$T/clip_1e-3/best/model.safetensors" "$T/clip_3e-3/best/model.safetensors" <<'PY'
import json, struct, sys
import numpy as np
def load(p):
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    return {k: np.frombuffer(b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]], np.float32)
            for k, v in h.items() if k != "__metadata__"}
a, b = load(sys.argv[1]), load(sys.argv[2])
frozen = [k for k in a if k.startswith("spectra_") or k in ("logit_scale_ps", "logit_scale_sm")]
# (logit_scale_mp starts at the clamp's edge, log 100, where its gradient can be dead;
# the positional table is a constant)
trained = [k for k in a if k.startswith(("photometry_", "metadata_")) and not k.endswith(".pe")]
ok = frozen and trained and all(np.array_equal(a[k], b[k]) for k in frozen) and \
     all(not np.array_equal(a[k], b[k]) for k in trained)
sys.exit(0 if ok else 1)
PY
echo "ingest_asas: $fail failed"
[ "$fail" -eq 0 ]
