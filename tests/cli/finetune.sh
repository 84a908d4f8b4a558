#!/usr/bin/env bash
# astromm finetune: from scratch and from a CLIP checkpoint at 2 ranks, on the
# full training split and a limited-label subset; the frozen encoder (linear
# probe) trains the classifier only; np 1 == np 2; bad options are refused.
AM=$1
TRAIN_TEST_N=1200
source "$(dirname "$0")/train_lib.sh"
train 2 "$T/clip" --set train.epochs=3 >"$T/clip.log" 2>&1
check "CLIP pre-training exits 0" test $? -eq 0
ft() {  # ft NP DIR [args]
  local np=$1 d=$2; shift 2
  "$MPIRUN" --oversubscribe -np "$np" "$AM" finetune "$T/small.cfg" --set "run.dir=\"$d\"" --set train.epochs=4 "$@"
}
ft 2 "$T/scratch" --head all >"$T/scratch.log" 2>&1
check "fine-tune from scratch exits 0" test $? -eq 0
ft 2 "$T/clipinit" --head all --init "$T/clip/best/model.safetensors" >"$T/clipinit.log" 2>&1
check "fine-tune from CLIP exits 0" test $? -eq 0
check "says where the encoders came from" grep -q "initialised the encoders from .*clip/best" "$T/clipinit.log"
ft 2 "$T/sub10" --head spectra --subset sub10 >"$T/sub10.log" 2>&1
check "sub10 spectra fine-tune exits 0" test $? -eq 0
full=$(grep -o '[0-9]* training' "$T/scratch.log" | head -1 | cut -d' ' -f1)
sub=$(grep -o '[0-9]* training' "$T/sub10.log" | head -1 | cut -d' ' -f1)
check "sub10 uses far fewer training objects ($sub of $full)" test "$sub" -gt 0 -a "$((sub * 5))" -lt "$full"
ft 2 "$T/probe" --head metadata --freeze --init "$T/clip/best/model.safetensors" --set train.max_steps=10 >"$T/probe.log" 2>&1
check "linear probe exits 0" test $? -eq 0
$PY - "$T/clip/best/model.safetensors" "$T/probe/checkpoints/step_00000010/model.safetensors" <<'PY'
import sys
import numpy as np
sys.path.insert(0, "tests/reference")
from safetensors_np import load
clip, _ = load(sys.argv[1])
probe, meta = load(sys.argv[2])
assert meta.get("task") == "classify" and meta.get("head") == "metadata", meta
changed = [k for k in clip if not np.array_equal(clip[k], probe[k])]
assert changed == [], f"frozen tensors changed: {changed[:3]}"
assert "classifier.weight" in probe and "classifier.weight" not in clip
print("linear probe: encoders bit-identical to the CLIP checkpoint, classifier trained")
PY
check "frozen encoder untouched, classifier added" test $? -eq 0
for np in 1 2; do
  ft $np "$T/eq$np" --head all --set train.max_steps=6 >"$T/eq$np.log" 2>&1
  check "np=$np fine-tune (6 steps) exits 0" test $? -eq 0
done
$PY - "$T/eq1" "$T/eq2" <<'PY'
import json, sys
def losses(d):
    return [r["loss"] for r in map(json.loads, open(d + "/metrics.jsonl")) if r["kind"] == "step"]
a, b = losses(sys.argv[1]), losses(sys.argv[2])
rel = max(abs(x - y) / abs(x) for x, y in zip(a, b))
print(f"fine-tune losses np1 vs np2: max rel diff {rel:.2e}")
sys.exit(0 if len(a) == len(b) == 6 and rel < 1e-5 else 1)
PY
check "np=1 and np=2 fine-tuning losses equal" test $? -eq 0
ft 1 "$T/bad" --head tail >"$T/bad.log" 2>&1
check "unknown head -> exit 2" test $? -eq 2
check "unknown head is named" grep -q "finetune.head must be one of" "$T/bad.log"
ft 1 "$T/bad2" --init "$T/nope.safetensors" >"$T/bad2.log" 2>&1
check "missing init checkpoint -> exit 1 naming it" grep -q "nope.safetensors" "$T/bad2.log"
# astromm eval on the fine-tuned classifier: np 1 == np 2; the metrics agree with
# the per-object predictions (recomputed in Python); a CLIP checkpoint is refused.
"$MPIRUN" --oversubscribe -np 1 "$AM" eval --run "$T/clipinit" --out "$T/ev1" >"$T/ev1.log" 2>&1
check "eval np=1 exits 0" test $? -eq 0
"$MPIRUN" --oversubscribe -np 2 "$AM" eval --run "$T/clipinit" --out "$T/ev2" >"$T/ev2.log" 2>&1
check "eval np=2 exits 0" test $? -eq 0
check "eval np=1 and np=2 predictions identical" cmp -s "$T/ev1/predictions.csv" "$T/ev2/predictions.csv"
$PY - "$T/ev2" <<'PY'
import csv, json, sys
d = sys.argv[1]
m = json.load(open(d + "/metrics.json"))
rows = list(csv.DictReader(open(d + "/predictions.csv")))
acc = sum(r["label"] == r["predicted"] for r in rows) / len(rows)
assert m["n"] == len(rows) and abs(m["accuracy"] - acc) < 1e-6, (m["n"], len(rows), m["accuracy"], acc)
assert sum(map(sum, m["confusion"])) == len(rows) and m["split"] == "test"
conf = list(csv.reader(open(d + "/confusion.csv")))
assert conf[0][1:] == m["classes"] and [list(map(int, r[1:])) for r in conf[1:]] == m["confusion"]
print(f"eval: {len(rows)} test objects, accuracy {acc:.3f}, balanced {m['balanced_accuracy']:.3f}")
PY
check "metrics.json, confusion.csv and predictions.csv agree" test $? -eq 0
"$AM" eval --run "$T/clip" --out "$T/ev3" >"$T/ev3.log" 2>&1
check "eval of a CLIP checkpoint -> exit 2" test $? -eq 2
check "explains that it needs fine-tuning" grep -q "has no classifier head" "$T/ev3.log"
"$AM" eval --run "$T/clipinit" --split nope >"$T/ev4.log" 2>&1
check "bad --split -> exit 2" test $? -eq 2
finish finetune
