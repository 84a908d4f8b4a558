#!/usr/bin/env bash
# Every bad configuration must fail with exit code 2 and a message naming the
# key or file; none may crash or run.
set -u
AM=$1
fail=0
expect() {  # expect "<regex>" args...
  local re=$1; shift
  out=$("$AM" "$@" 2>&1); rc=$?
  if [ $rc -ne 2 ] || ! grep -qE "$re" <<<"$out"; then
    echo "FAIL: astromm $* -> rc=$rc, output: $out (wanted rc 2 and /$re/)"; fail=$((fail+1))
  fi
}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
expect "unknown key 'model.nope'" smoke --set model.nope=1
expect "model.n_heads" smoke --set model.n_heads=3
expect "expected key=value" smoke --set model.d_model
expect "cannot parse value" smoke --set 'model.d_model=[1,'
expect "model.d_model must be an integer" smoke --set model.d_model=1.5
expect "missing.cfg: cannot read config file" smoke --config "$tmp/missing.cfg"
printf 'model = { d_model = 64 \n' >"$tmp/broken.cfg"
expect "broken.cfg:[0-9]+:" smoke --config "$tmp/broken.cfg"
printf 'model = { spec_channels = [1, 2]; };\n' >"$tmp/short.cfg"
expect "spec_channels must have 4 entries" smoke --config "$tmp/short.cfg"
printf 'model = { dropout_spectra = 1.5; };\n' >"$tmp/p.cfg"
expect "dropout" smoke --config "$tmp/p.cfg"
expect "batch_size" smoke --config configs/tiny.cfg --batch 0
expect "spec_len" smoke --set model.spec_len=20
expect "run.device must be" smoke --set run.device=\"gpu\"
echo "config_errors: $fail failed"
[ $fail -eq 0 ]
