#!/usr/bin/env bash
# tools/plot_map.py, plot_metrics.py, plot_confusion.py: each writes a PNG from
# the files astromm writes (map CSV from astromm map, a metrics.jsonl with step and
# epoch lines, a confusion-matrix CSV), and refuses bad input with exit 1/2 and a
# message naming the file.
set -u
AM=$1
PY=/usr/bin/python3
fail=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
check() { if ! eval "$1"; then echo "FAIL: $2"; fail=$((fail+1)); fi; }
is_png() { [ -s "$1" ] && [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]; }
if ! $PY -c "import matplotlib" 2>/dev/null; then
  echo "FAIL: matplotlib missing (scripts/deps.sh installs python3-matplotlib)"; exit 1
fi

$PY - "$tmp" <<'EOF_PY' || { echo "FAIL: cannot make the test files"; exit 1; }
import sys, json, numpy as np, h5py
d = sys.argv[1]
rng = np.random.default_rng(1)
X = np.concatenate([c + 0.2 * rng.normal(size=(40, 16)) for c in rng.normal(size=(3, 16)) * 2]).astype(np.float32)
with h5py.File(f"{d}/emb.h5", "w") as f:
    f["embeddings/fused"] = X
    f["id"] = np.arange(len(X), dtype=np.int64)
    f["label"] = np.repeat(np.arange(3), 40).astype(np.int32)
    f.attrs["classes"] = np.array(["EW", "SR", "EA"], dtype=h5py.string_dtype())
with open(f"{d}/metrics.jsonl", "w") as f:
    for s in range(1, 61):
        f.write(json.dumps({"kind": "step", "step": s, "epoch": (s - 1) // 20, "loss": 10 / s, "loss_ps": 3 / s,
                            "clip_acc": 1 - 1 / s, "lr": 1e-3}) + "\n")
        if s % 20 == 0:
            f.write(json.dumps({"kind": "epoch", "epoch": s // 20, "step": s, "val_loss": 12 / s,
                                "val_clip_acc": 1 - 2 / s}) + "\n")
    f.write('{"kind":"resume","step":60}\n{"kind":"step","st')   # partial last line
open(f"{d}/cm.csv", "w").write("EW,SR,EA\n30,2,1\n3,25,4\n0,6,29\n")
open(f"{d}/cm_lab.csv", "w").write("true\\pred,EW,SR\nEW,8,2\nSR,1,9\n")
open(f"{d}/cm_bad.csv", "w").write("EW,SR\n1,2\n3\n")
open(f"{d}/bad.jsonl", "w").write('{"kind":"step","step":1,"loss":1}\nnot json\n{"kind":"step","step":2,"loss":1}\n')
open(f"{d}/empty.jsonl", "w").write('{"kind":"resume","step":1}\n')
open(f"{d}/map_bad.csv", "w").write("id,label,x\n1,0,0.5\n")
EOF_PY

check '"$AM" map --in "$tmp/emb.h5" --out "$tmp/map.csv" --epochs 50 >/dev/null 2>&1' "astromm map for the plot"
check '$PY tools/plot_map.py "$tmp/map.csv" --out "$tmp/map.png" >/dev/null && is_png "$tmp/map.png"' "plot_map.py writes a PNG"
mkdir -p "$tmp/run" && cp "$tmp/metrics.jsonl" "$tmp/run/"
check '$PY tools/plot_metrics.py "$tmp/run" --out "$tmp/curves.png" 2>/dev/null | grep -q "60 step and 3 epoch" && is_png "$tmp/curves.png"' "plot_metrics.py: run directory -> PNG (60 steps, 3 epochs)"
check '$PY tools/plot_metrics.py "$tmp/metrics.jsonl" --out "$tmp/c2.png" --smooth 1 >/dev/null 2>&1 && is_png "$tmp/c2.png"' "plot_metrics.py: file argument"
check '$PY tools/plot_confusion.py "$tmp/cm.csv" --out "$tmp/cm.png" | grep -q "accuracy 0.8400" && is_png "$tmp/cm.png"' "plot_confusion.py writes a PNG (accuracy 0.84)"
check '$PY tools/plot_confusion.py "$tmp/cm_lab.csv" --out "$tmp/cm2.png" --normalize >/dev/null && is_png "$tmp/cm2.png"' "plot_confusion.py with a row-label column, normalised"

expect() {  # rc pattern description command...
  local want=$1 pat=$2 what=$3; shift 3
  local o r
  o=$("$@" 2>&1); r=$?
  if [ $r -ne "$want" ] || ! grep -q -- "$pat" <<<"$o"; then echo "FAIL: $what (rc=$r, want $want; output: $o)"; fail=$((fail+1)); fi
}
expect 1 "nope.csv: cannot open" "plot_map: missing file" $PY tools/plot_map.py "$tmp/nope.csv" --out "$tmp/x.png"
expect 1 "map_bad.csv: header lacks column(s) y" "plot_map: missing column" $PY tools/plot_map.py "$tmp/map_bad.csv" --out "$tmp/x.png"
expect 2 "required: --out" "plot_map: no --out" $PY tools/plot_map.py "$tmp/map.csv"
expect 1 "bad.jsonl:2: not JSON" "plot_metrics: corrupt line named" $PY tools/plot_metrics.py "$tmp/bad.jsonl" --out "$tmp/x.png"
expect 1 'no "step" or "epoch" lines' "plot_metrics: no records" $PY tools/plot_metrics.py "$tmp/empty.jsonl" --out "$tmp/x.png"
mkdir -p "$tmp/emptyrun"
expect 1 "metrics.jsonl: cannot open" "plot_metrics: directory without metrics.jsonl" $PY tools/plot_metrics.py "$tmp/emptyrun" --out "$tmp/x.png"
expect 1 "cm_bad.csv:3: 1 fields" "plot_confusion: ragged row" $PY tools/plot_confusion.py "$tmp/cm_bad.csv" --out "$tmp/x.png"
expect 1 "cannot write" "plot_confusion: unwritable output" $PY tools/plot_confusion.py "$tmp/cm.csv" --out "$tmp/no/dir/x.png"
echo "map_tools: $fail failed"
[ $fail -eq 0 ]
