#!/usr/bin/env bash
# astromm init writes a checkpoint that (1) inspect accepts, (2) a model of
# another shape refuses with the tensor named, (3) opens in Python with exactly
# the reference state-dict names and shapes; (4) inspect --verify checks the
# content: the data checksum (a flipped bit fails) and finiteness (a NaN or an
# Inf fails, naming the tensor and the element index).
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
# 4. inspect --verify
out=$("$AM" inspect --verify "$tmp/full.safetensors" 2>&1); rc=$?
check '[ $rc -eq 0 ] && grep -q "verified: data checksum (data_crc32) matches, all 16509827 values finite" <<<"$out"' \
      "inspect --verify accepts a fresh checkpoint (rc=$rc)"
hlen=$(od -An -tu8 -N8 "$tmp/full.safetensors" | tr -d ' ')
# inspect lists the tensors in file order: the first one of >= 10 elements and the
# number of elements (all F32) stored before it
read -r first before < <(awk '/elements in total/ {exit}
  { s = $0; sub(/^[^(]*\(/, "", s); sub(/\).*$/, "", s); n = 1; k = split(s, d, ", ")
    for (i = 1; i <= k; i++) if (d[i] != "") n *= d[i]
    if (n >= 10) { print $1, cum; exit } cum += n }' "$tmp/inspect.log")
poke() {  # poke <file> <bytes as \x..> <element index in tensor $first>: overwrites that element
  cp "$tmp/full.safetensors" "$1"
  printf "$2" | dd of="$1" bs=1 seek=$((8 + hlen + 4 * (before + $3))) conv=notrunc 2>/dev/null
}
poke "$tmp/nan.safetensors" '\x00\x00\xc0\x7f' 5     # a quiet NaN at element 5
out=$("$AM" inspect --verify "$tmp/nan.safetensors" 2>&1); rc=$?
check '[ $rc -eq 1 ] && grep -q "tensor .$first. holds 1 non-finite value(s), the first at element index 5 (NaN)" <<<"$out"' \
      "inspect --verify refuses a NaN naming tensor $first and index 5 (rc=$rc: $(tail -2 <<<"$out"))"
check 'grep -q "data checksum mismatch" <<<"$out"' "... and reports the checksum mismatch"
poke "$tmp/inf.safetensors" '\x00\x00\x80\xff' 2     # -Inf at element 2
out=$("$AM" inspect --verify "$tmp/inf.safetensors" 2>&1); rc=$?
check '[ $rc -eq 1 ] && grep -q "the first at element index 2 (Inf)" <<<"$out"' "inspect --verify refuses an Inf (rc=$rc)"
cp "$tmp/full.safetensors" "$tmp/flip.safetensors"
size=$(stat -c %s "$tmp/flip.safetensors")
b=$(od -An -tu1 -j $((size - 3)) -N1 "$tmp/flip.safetensors" | tr -d ' ')
printf "\\x$(printf %02x $((b ^ 1)))" | dd of="$tmp/flip.safetensors" bs=1 seek=$((size - 3)) conv=notrunc 2>/dev/null
out=$("$AM" inspect --verify "$tmp/flip.safetensors" 2>&1); rc=$?
check '[ $rc -eq 1 ] && grep -q "data checksum mismatch" <<<"$out"' "inspect --verify refuses a flipped bit (rc=$rc)"
out=$("$AM" inspect "$tmp/flip.safetensors" 2>&1); rc=$?
check '[ $rc -eq 0 ]' "inspect without --verify still only checks names and shapes (rc=$rc)"
out=$("$AM" inspect --verify --bogus "$tmp/full.safetensors" 2>&1); rc=$?
check '[ $rc -eq 2 ]' "inspect with an unknown flag is a usage error (rc=$rc)"

ref=../shared/reference/astrom3_state_dict.txt
if [ -f "$ref" ]; then
  check '/usr/bin/python3 tests/reference/check_checkpoint.py "$tmp/full.safetensors" "$ref"' \
        "checkpoint opens in Python with the reference names and shapes"
else
  echo "SKIP python name check: $ref absent"
fi
echo "checkpoint: $fail failed"
[ $fail -eq 0 ]
