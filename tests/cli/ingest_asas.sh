#!/usr/bin/env bash
# astromm ingest on real ASAS curves, as a first-time user runs it (issue 14.4):
#  - two --asas-csv files at once (ids split across them);
#  - manifest ids missing from every file: skipped, with a loud WARNING summary line;
#  - no catalogue: photo columns computed from the curves ("features: ..." line),
#    rfr_score NaN; --features off leaves them NaN;
#  - an evaluation-only dataset (every object split=test) with --stats-from the
#    training dataset carries that dataset's normalisation statistics exactly.
# Skips (exit 77) without ../shared/data.
AM=$1
CSV=../shared/data/asas/lightcurves.csv.gz
[ -f "$CSV" ] || { echo "SKIP: $CSV not found"; exit 77; }
PY=${ASTROMM_PYTHON:-/usr/bin/python3}
T=$(mktemp -d /tmp/astromm_ingest_test.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0
check() { local what=$1; shift; if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fail=$((fail+1)); fi; }

# First 12 objects of the dev file: 6 in a.csv, 6 in b.csv (each grouped by increasing id).
zcat "$CSV" | awk -F, -v A="$T/a.csv" -v B="$T/b.csv" -v IDS="$T/ids" '
  NR == 1 { print > A; print > B; next }
  $1 != last { n++; last = $1; if (n > 12) exit; print $1 >> IDS }
  { print > (n <= 6 ? A : B) }'
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
echo "ingest_asas: $fail failed"
[ "$fail" -eq 0 ]
