#!/usr/bin/env bash
# The Zoobot vote task end to end (issue 16), on synthetic galaxies with votes:
#  - distributed = single process: the same global batches at 1, 2 and 4 ranks
#    give the same per-step losses (relative 1e-5) and parameters (2 % of
#    lr x steps, as train_ranks.sh), with head dropout and drop path on;
#    a 10 % learning-rate error fails that comparison (negative control);
#  - exact resume: stopped at step 3 and resumed to 8 == uninterrupted (bitwise);
#  - metrics.jsonl has the per-question vote-fraction errors and the majority accuracy;
#  - astromm eval of the vote model writes its vote-fraction errors (model, baseline,
#    truth, noise floor);
#  - a class dataset (hard labels) trains the same head as a one-question schema,
#    with a majority-answer accuracy over every galaxy and a best checkpoint;
#  - a star model on image data (and the reverse) is refused with the hint.
# Skips (exit 77) without ../shared/data/galaxies/votes/votes.csv (real vote totals).
AM=$1
VOTES=../shared/data/galaxies/votes/votes.csv
[ -f "$VOTES" ] || { echo "SKIP: $VOTES not found"; exit 77; }
source "$(dirname "$0")/train_lib.sh"
"$AM" synth --kind galaxies --n 200 --seed 3 --image-size 32 --channels 1 --votes-csv "$VOTES" --out "$T/gal.h5" >/dev/null \
  || { echo "FAIL: synth galaxies"; exit 1; }
cat >"$T/gal.cfg" <<CFG
model = { family = "convnext"; image_size = 32; image_channels = 1; convnext_depths = [1, 1, 1, 1];
          convnext_dims = [8, 16, 16, 24]; drop_path = 0.2; layer_scale = 0.5; dropout_head = 0.2; };
run = { seed = 11; hang_timeout = 60.0; };
data = { path = "$T/gal.h5"; };
train = { batch_size = 16; epochs = 20; optimizer = "adamw"; lr = 2e-3; weight_decay = 0.01; clip_norm = 10.0;
          warmup_epochs = 0; early_stop_patience = 0; };
checkpoint = { keep_last = 20; };
CFG
gtrain() { local np=$1 dir=$2; shift 2; "$MPIRUN" --oversubscribe -np "$np" "$AM" train "$T/gal.cfg" --set "run.dir=\"$dir\"" "$@"; }
for np in 1 2 4; do
  gtrain $np "$T/np$np" --set train.max_steps=6 >"$T/np$np.log" 2>&1
  check "np=$np run finishes (exit 0)" test $? -eq 0
done
cmp_runs() { cmp_train_runs "$T/np1" "$T/np$1" "${2:-2e-3}" 6; }  # np=1 vs np=$1 (train_lib.sh)
for np in 2 4; do check "votes: np=$np equals np=1" cmp_runs $np; done
gtrain 2 "$T/np2lr" --set train.max_steps=6 --set train.lr=2.2e-3 >"$T/np2lr.log" 2>&1
differs() { if cmp_runs "$@"; then return 1; else return 0; fi; }
check "a 10 % learning-rate error fails the comparison" differs 2lr
check "metrics: per-question MAE, vote_mae, vote_acc" $PY - "$T/np1/metrics.jsonl" <<'PY'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
s = [x for x in r if x["kind"] == "step"][-1]
for k in ("mae_smooth-or-featured", "mae_merging", "vote_mae", "vote_acc", "loss"):
    assert k in s and s[k] == s[k], k
assert 0 <= s["vote_mae"] <= 1 and 0 <= s["vote_acc"] <= 1
PY
# astromm eval of a vote model: vote-fraction errors, baseline, truth, noise floor.
"$AM" eval --run "$T/np1" --checkpoint "$T/np1/checkpoints/step_00000006/model.safetensors" --split val \
  --out "$T/eval" >"$T/eval.log" 2>&1
check "eval of a vote model exits 0" test $? -eq 0
check "eval metrics.json: every question, model/baseline/truth/noise floor" $PY - "$T/eval/metrics.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
assert len(m["questions"]) == 10 and m["objects"] > 0
for k in ("mae_model", "mae_baseline", "mae_model_vs_truth", "mae_baseline_vs_truth", "mae_noise_floor"):
    assert 0 <= m["mean"][k] <= 1, k
assert 0 <= m["majority_accuracy"] <= 1
PY
# Exact resume.
gtrain 1 "$T/full" --set train.max_steps=8 >"$T/full.log" 2>&1
gtrain 1 "$T/stop" --set train.max_steps=3 >"$T/stop1.log" 2>&1
gtrain 1 "$T/stop" --set train.max_steps=8 --resume >"$T/stop2.log" 2>&1
check "resumed run exits 0" test $? -eq 0
f=checkpoints/step_00000008
check "stopped at 3 + resumed to 8 == uninterrupted (bitwise)" \
  cmp -s "$T/full/$f/model.safetensors" "$T/stop/$f/model.safetensors"
check "... and the trainer state too" cmp -s "$T/full/$f/state.bin" "$T/stop/$f/state.bin"
# A class dataset: hard labels as one vote for the class.
G=../shared/data/galaxies/gz1
if [ -d "$G" ]; then
  "$AM" ingest --images "$G/catalog.csv" --class-column class --channels 1 --image-size 32 --out "$T/gz1.h5" >/dev/null 2>&1
  gtrain 1 "$T/gz1" --set "data.path=\"$T/gz1.h5\"" --set train.epochs=1 >"$T/gz1.log" 2>&1
  check "class dataset trains (exit 0)" test $? -eq 0
  check "class dataset: one question" grep -q '"mae_class"' "$T/gz1/metrics.jsonl"
  # one vote per galaxy: the majority-answer accuracy counts every galaxy (not only >= 10 votes),
  # so validation ranks epochs and a best checkpoint exists
  check "class dataset: a finite validation accuracy and a best checkpoint" $PY - "$T/gz1" <<'PY'
import json, sys, os, math
e = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl")]
e = [x for x in e if x.get("kind") == "epoch"]
assert e and math.isfinite(e[-1]["val_vote_acc"]) and 0 < e[-1]["val_vote_acc"] <= 1, e[-1:]
assert os.path.exists(sys.argv[1] + "/best/model.safetensors")
PY
fi
# Mismatches.
gtrain 1 "$T/bad" --set 'model.family="astrom3"' >"$T/bad.log" 2>&1; rc=$?
check "astrom3 on images: exit 2" test $rc -eq 2
check "astrom3 on images: hint" grep -q 'holds images but model.family is "astrom3"; hint: --set model.family=convnext' "$T/bad.log"
finish train_galaxies
