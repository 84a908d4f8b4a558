#!/usr/bin/env bash
# astromm ingest of a survey that publishes features, not light curves (issue 14):
# real LINEAR rows (../shared/data/linear) with --meta-csv/--meta-columns/--meta-id.
#  - the named columns become the metadata, in the order given, values exactly the
#    table's (float32), z-scored over the training split; objects have only metadata;
#  - a metadata head fine-tunes and evaluates on it (a dataset without light curves);
#  - bad input: a missing column, a non-number (file:line:column), a duplicate id,
#    --meta-csv without --meta-columns: clear errors, nothing written.
# Skips (exit 77) without ../shared/data.
AM=$1
CSV=../shared/data/linear/linear.csv
[ -f "$CSV" ] || { echo "SKIP: $CSV not found"; exit 77; }
PY=${ASTROMM_PYTHON:-/usr/bin/python3}
T=$(mktemp -d /tmp/astromm_ingest_table.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0
check() { local what=$1; shift; if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fail=$((fail+1)); fi; }
cols=ug,gi,iK,JK,logP,amp,skew,kurt,magMed

# 200 rows: the first 200 of the table, and a manifest of them (plus one id the table lacks).
head -201 "$CSV" > "$T/lin.csv"
{ echo "id,class"; tail -n +2 "$T/lin.csv" | cut -d, -f1,15; echo "99999999,EW"; } > "$T/m.csv"
"$AM" ingest --manifest "$T/m.csv" --meta-csv "$T/lin.csv" --meta-id LINEARobjectID --meta-columns "$cols" \
  --out "$T/d.h5" >"$T/out" 2>"$T/err"
check "written: 200 of 201" grep -q "wrote $T/d.h5: 200 of 201 objects" "$T/out"
check "the row without a table row skipped, with its reason" grep -q "id 99999999: skipped: no light curve, spectrum, catalogue or metadata-table row" "$T/err"
check "metadata line" grep -q "metadata: 9 columns: 0 from the catalogue, 0 computed from the light curves .*, 9 from $T/lin.csv" "$T/out"
check "columns, values and training statistics" "$PY" - "$T/d.h5" "$T/lin.csv" "$cols" <<'PY'
import csv, sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
cols = sys.argv[3].split(",")
names = [n.decode() if isinstance(n, bytes) else n for n in f["metadata"].attrs["columns"]]
rows = {int(r["LINEARobjectID"]): r for r in csv.DictReader(open(sys.argv[2]))}
ids, raw, has, split = f["id"][:], f["metadata/raw"][:], f["has"][:], f["split"][:]
want = np.array([[float(rows[int(i)][c]) for c in cols] for i in ids], np.float32)
tr = split == 0
ok = (names == cols and (has[:, 2] == 1).all() and (has[:, 0] == 0).all() and np.array_equal(raw, want) and
      np.allclose(f["metadata/mean"][:], raw[tr].astype(np.float64).mean(0), rtol=1e-5, atol=1e-6) and
      np.allclose(f["metadata/std"][:], raw[tr].astype(np.float64).std(0), rtol=1e-4, atol=1e-6))
sys.exit(0 if ok else 1)
PY
cat > "$T/ft.cfg" <<CFG
model = { seq_len = 32; d_model = 16; n_heads = 2; d_ff = 32; n_layers = 1; meta_in = 9;
          spec_channels = [4, 4, 4, 4]; meta_hidden = 16; proj_dim = 16; };
data = { path = "$T/d.h5"; };
train = { batch_size = 16; epochs = 3; };
run = { dir = "$T/ft"; };
CFG
OMP_NUM_THREADS=1 "$AM" finetune "$T/ft.cfg" --head metadata >"$T/out2" 2>&1
check "metadata head fine-tunes on a dataset without light curves" grep -q "done: " "$T/out2"
OMP_NUM_THREADS=1 "$AM" eval --run "$T/ft" --split test --out "$T/ev" >"$T/out3" 2>&1
check "... and evaluates" [ -f "$T/ev/metrics.json" ]

bad() {  # what, needle, ingest args...
  local what=$1 needle=$2; shift 2
  "$AM" ingest --manifest "$T/m.csv" --out "$T/x.h5" "$@" >"$T/bad" 2>&1
  local rc=$?
  check "$what: refused (exit $rc), named" grep -q -- "$needle" "$T/bad"
  check "$what: nothing written" [ ! -e "$T/x.h5" ]
}
bad "a missing column" "$T/lin.csv: missing required column 'nope' in header" \
  --meta-csv "$T/lin.csv" --meta-id LINEARobjectID --meta-columns ug,nope
sed '5s/,1\.[0-9]*,/,abc,/' "$T/lin.csv" > "$T/badnum.csv"
bad "a value that is not a number" "$T/badnum.csv:5: column .*: not a finite number: 'abc'" \
  --meta-csv "$T/badnum.csv" --meta-id LINEARobjectID --meta-columns "$cols"
{ cat "$T/lin.csv"; sed -n 2p "$T/lin.csv"; } > "$T/dup.csv"
bad "a duplicate id" "$T/dup.csv: duplicate LINEARobjectID" \
  --meta-csv "$T/dup.csv" --meta-id LINEARobjectID --meta-columns "$cols"
bad "the wrong id column" "missing required column 'id'" --meta-csv "$T/lin.csv" --meta-columns "$cols"
bad "a column twice" "'ug' named twice" --meta-csv "$T/lin.csv" --meta-id LINEARobjectID --meta-columns ug,gi,ug
bad "--meta-csv alone" "--meta-csv and --meta-columns go together" --meta-csv "$T/lin.csv"
echo "ingest_table: $fail failed"
[ "$fail" -eq 0 ]
