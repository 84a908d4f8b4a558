#!/usr/bin/env bash
# A short synthetic pre-training run at 2 ranks lowers the loss and reaches a
# validation CLIP accuracy well above chance (1 / global batch).
AM=$1
TRAIN_TEST_N=1500
source "$(dirname "$0")/train_lib.sh"
train 2 "$T/run" --set train.epochs=${EPOCHS:-12} >"$T/run.log" 2>&1
check "training exits 0" test $? -eq 0
$PY - "$T/run/metrics.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
steps = [r for r in rows if r["kind"] == "step"]
epochs = [r for r in rows if r["kind"] == "epoch"]
first = sum(r["loss"] for r in steps[:5]) / 5
last = sum(r["loss"] for r in steps[-5:]) / 5
best = max(r["val_clip_acc"] for r in epochs)
chance = 1 / 24
print(f"train loss {first:.2f} -> {last:.2f}; val loss {epochs[0]['val_loss']:.2f} -> {epochs[-1]['val_loss']:.2f}; "
      f"best val CLIP accuracy {best:.3f} (chance {chance:.3f})")
ok = last < 0.8 * first and epochs[-1]["val_loss"] < epochs[0]["val_loss"] and best > 4 * chance
sys.exit(0 if ok else 1)
PY
check "loss falls and CLIP accuracy > 4x chance" test $? -eq 0
check "best checkpoint linked" test -f "$T/run/best/model.safetensors"
finish train_learns
