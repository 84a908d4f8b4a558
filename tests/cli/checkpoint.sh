#!/usr/bin/env bash
# astromm init writes a checkpoint that (1) inspect accepts, (2) a model of
# another shape refuses with the tensor named, (3) opens in Python with exactly
# the reference state-dict names and shapes.
set -u
AM=$1
fail=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
check() { if ! eval "$1"; then echo "FAIL: $2"; fail=$((fail+1)); fi; }

check '"$AM" init --out "$tmp/full.safetensors" >"$tmp/init.log" 2>&1' "init at AstroM3 sizes"
check '"$AM" inspect "$tmp/full.safetensors" >"$tmp/inspect.log" 2>&1' "inspect accepts its own checkpoint"
check 'grep -q "16509827 elements in total" "$tmp/inspect.log"' "checkpoint holds 16509827 elements (state dict total)"
out=$("$AM" inspect "$tmp/full.safetensors" --set model.d_model=64 2>&1); rc=$?
check '[ $rc -ne 0 ] && grep -q "has shape" <<<"$out"' "a d_model=64 model refuses the checkpoint naming a tensor (rc=$rc: $out)"
out=$("$AM" init 2>&1); rc=$?
check '[ $rc -eq 2 ]' "init without --out is a usage error"
ref=../shared/reference/astrom3_state_dict.txt
if [ -f "$ref" ]; then
  check '/usr/bin/python3 tests/reference/check_checkpoint.py "$tmp/full.safetensors" "$ref"' \
        "checkpoint opens in Python with the reference names and shapes"
else
  echo "SKIP python name check: $ref absent"
fi
echo "checkpoint: $fail failed"
[ $fail -eq 0 ]
