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
# astromm train: the same rules for its sections, with file:line for file values
expect "give a configuration file" train
printf 'train = {\n  lrr = 1.0;\n};\n' >"$tmp/t1.cfg"
expect "t1.cfg:2: unknown key 'train.lrr'" train "$tmp/t1.cfg"
printf 'train = {\n  epochs = "ten";\n};\n' >"$tmp/t2.cfg"
expect "t2.cfg:2: train.epochs must be an integer" train "$tmp/t2.cfg"
printf 'train = {\n\n  lr = -1.0;\n};\n' >"$tmp/t3.cfg"
expect "t3.cfg:3: train.lr = -1 is out of range" train "$tmp/t3.cfg"
printf 'train = { epochs = 3; };\n' >"$tmp/t4.cfg"
expect "train.optimizer must be one of adam\\|adamw" train "$tmp/t4.cfg" --set 'train.optimizer="sgd"'
expect "checkpoint.keep_last = 0 is out of range" train configs/quickstart.cfg --set checkpoint.keep_last=0
expect "data.path must be a string" train configs/quickstart.cfg --set data.path=3
expect "data.path is not set" train "$tmp/t4.cfg"
expect "fixes model.spec_len = 2575" train configs/quickstart.cfg --set model.spec_len=300
expect "cosine schedule needs train.epochs" train configs/quickstart.cfg --set 'train.schedule="cosine"' --set train.epochs=2
expect "unexpected argument '--bogus'" train configs/quickstart.cfg --bogus
expect "run.precision must be one of fp32\\|tf32\\|bf16" smoke --config configs/tiny.cfg --set 'run.precision="fp16"'
expect "needs the CUDA device" smoke --config configs/tiny.cfg --set 'run.precision="bf16"'
# Integers beyond 32 bits: libconfig would wrap them; astromm reads the literal.
printf 'train = {\n  max_steps = 4294967297;\n};\n' >"$tmp/big.cfg"
expect "big.cfg:2: train.max_steps = 4294967297 is out of range" train "$tmp/big.cfg"
expect "train.batch_size = 4294967312 is out of range" train configs/quickstart.cfg --set train.batch_size=4294967312
expect "run.seed = 18446744073709551616 is out of range" smoke --config configs/tiny.cfg --set run.seed=18446744073709551616
echo "config_errors: $fail failed"
[ $fail -eq 0 ]
