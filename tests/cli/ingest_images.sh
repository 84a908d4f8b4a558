#!/usr/bin/env bash
# astromm ingest --images (issue 16): real galaxy images (../shared/data/galaxies)
# into the image dataset format, and bad input.
#  - rings (0/1 label), GZ1 (class column), synthetic vote columns: counts, class
#    lists, splits, the stored pixels (= a torch area resample of the decoded
#    JPEG within 2 grey levels on average), votes and the schema attributes;
#  - a truncated JPEG, a text file named .png, a missing file, a bad label and a
#    negative vote count are each reported by catalogue line and name and left
#    out; the dataset is still written and n_skipped stored;
#  - a missing vote column or a catalogue with nothing usable: clear error, no file.
# Skips (exit 77) without ../shared/data.
AM=$1
G=../shared/data/galaxies
[ -d "$G/rings" ] || { echo "SKIP: $G/rings not found"; exit 77; }
PY=${ASTROMM_PYTHON:-/usr/bin/python3}
T=$(mktemp -d /tmp/astromm_ingest_images.XXXXXX)
trap '[ -n "$KEEP" ] || rm -rf "$T"' EXIT
fail=0
check() { local what=$1; shift; if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fail=$((fail+1)); fi; }

"$AM" ingest --images "$G/rings/catalog.csv" --label-column ring --image-size 64 --out "$T/rings.h5" >"$T/out" 2>"$T/err"
check "rings: 330 written" grep -q "330 rows -> 330 images written" "$T/out"
"$AM" ingest --images "$G/gz1/catalog.csv" --class-column class --channels 1 --image-size 32 --compress 4 --out "$T/gz1.h5" >"$T/out" 2>"$T/err"
check "gz1: 356 written, 6 classes" grep -q "356 rows -> 356 images written .*1 channel, 6 classes" "$T/out"
check "stored pixels, labels, splits" "$PY" - "$T/rings.h5" "$T/gz1.h5" "$G" <<'PY'
import sys, h5py, numpy as np
r, g, G = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r"), sys.argv[3]
assert r.attrs["format"] == "astromm-images" and r["images"].shape == (330, 64, 64, 3), r["images"].shape
assert list(r.attrs["classes"]) == ["not-ring", "ring"] and np.bincount(r["label"][:]).tolist() == [165, 165]
assert g["images"].shape == (356, 32, 32, 1) and np.bincount(g["label"][:]).tolist() == [60, 60, 60, 60, 56, 60]
sp = np.bincount(r["split"][:], minlength=3) / 330.0
assert 0.7 < sp[0] < 0.9 and sp[1] > 0.03 and sp[2] > 0.03, sp
try:
    import torch, torchvision.io as tio
    name = r["name"][0].decode()
    t = tio.read_image(f"{G}/rings/images/{name}.jpg").float()[None]
    a = torch.nn.functional.interpolate(t, size=(64, 64), mode="area")[0].permute(1, 2, 0).numpy()
    d = np.abs(a - r["images"][0].astype(np.float32)).mean()
    assert d < 2.0, d
except ImportError:
    print("(torchvision absent: pixel comparison skipped)")
PY

# Bad rows: build a catalogue of 6 good rings + 5 bad rows, with synthetic vote columns.
mkdir -p "$T/bad"
head -c 3000 "$G/rings/images/$(ls "$G/rings/images" | head -1)" > "$T/bad/truncated.jpg"
echo "hello" > "$T/bad/text.png"
"$PY" - "$(realpath "$G")" "$T" <<'PY'
import csv, sys, os
G, T = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.getcwd())
q = [("smooth-or-featured", ["smooth", "featured-or-disk", "artifact"]), ("disk-edge-on", ["yes", "no"]),
     ("has-spiral-arms", ["yes", "no"]), ("bar", ["strong", "weak", "no"]),
     ("bulge-size", ["dominant", "large", "moderate", "small", "none"]), ("how-rounded", ["round", "in-between", "cigar-shaped"]),
     ("edge-on-bulge", ["boxy", "none", "rounded"]), ("spiral-winding", ["tight", "medium", "loose"]),
     ("spiral-arm-count", ["1", "2", "3", "4", "more-than-4", "cant-tell"]),
     ("merging", ["none", "minor-disturbance", "major-disturbance", "merger"])]
cols = [f"{a}_{b}" for a, bs in q for b in bs]
rows = list(csv.DictReader(open(f"{G}/rings/catalog.csv")))[:6]
with open(f"{T}/cat.csv", "w") as f:
    f.write("name,file," + ",".join(cols) + "\n")
    for i, r in enumerate(rows):
        v = [str((i + k) % 7) for k in range(len(cols))]
        if i == 0: v[3:] = [""] * (len(cols) - 3)  # only the first question asked
        f.write(f"{r['iauname']},{G}/rings/{r['file']}," + ",".join(v) + "\n")
    z = ",".join(["1"] * len(cols))
    f.write(f"trunc,bad/truncated.jpg,{z}\n")
    f.write(f"text,bad/text.png,{z}\n")
    f.write(f"missing,bad/nothere.jpg,{z}\n")
    f.write(f"negvote,{G}/rings/{rows[0]['file']}," + ",".join(["-1"] + ["1"] * (len(cols) - 1)) + "\n")
    f.write(f"short,{G}/rings/{rows[0]['file']}\n")
PY
"$AM" ingest --images "$T/cat.csv" --votes gz_decals --out "$T/v.h5" >"$T/out" 2>"$T/err"
check "votes: 6 written, 5 skipped (exit 0)" grep -q "11 rows -> 6 images written .*GZ DECaLS votes), 5 skipped" "$T/out"
check "truncated JPEG named by line" grep -q "cat.csv:8: trunc: skipped: .*truncated.jpg: bad JPEG" "$T/err"
check "not an image named" grep -q "cat.csv:9: text: skipped: .*text.png: not a JPEG or PNG" "$T/err"
check "missing file named" grep -q "cat.csv:10: missing: skipped: .*nothere.jpg: cannot open" "$T/err"
check "negative vote named with its column" grep -q "cat.csv:11: negvote: skipped: vote count '-1' in column 'smooth-or-featured_smooth'" "$T/err"
check "short row named" grep -q "cat.csv:12: short: skipped: 2 fields, the header has 36" "$T/err"
check "votes and schema stored" "$PY" - "$T/v.h5" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
assert f.attrs["n_skipped"] == 5 and f["votes"].shape == (6, 34)
assert list(f.attrs["vote_answers"]) == [3, 2, 2, 3, 5, 3, 3, 3, 6, 4]
assert f.attrs["vote_columns"][4] == "disk-edge-on_no"
v = f["votes"][:]
assert v[0, :3].tolist() == [0, 1, 2] and not v[0, 3:].any() and v[1, 0] == 1
PY
# Errors: nothing written.
"$AM" ingest --images "$G/rings/catalog.csv" --votes gz_decals --out "$T/x.h5" >"$T/out" 2>"$T/err"; rc=$?
check "missing vote columns: exit 1, column named, no file" test $rc = 1 -a ! -e "$T/x.h5"
check "missing vote column message" grep -q "vote column 'smooth-or-featured_smooth' of the gz_decals schema is missing" "$T/err"
printf 'name,file\na,bad/nothere.jpg\n' > "$T/none.csv"
"$AM" ingest --images "$T/none.csv" --out "$T/y.h5" >"$T/out" 2>"$T/err"; rc=$?
check "nothing usable: exit 1, no file" test $rc = 1 -a ! -e "$T/y.h5"
check "nothing usable: said" grep -q "no images to write" "$T/err"
ls "$T"/*.tmp.* 2>/dev/null && { echo "FAIL: temporary files left"; fail=$((fail+1)); }
[ $fail -eq 0 ] || { echo "$fail check(s) failed"; exit 1; }
echo "all checks passed"
