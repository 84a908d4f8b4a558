#!/usr/bin/env bash
# A NaN or Inf stored in a dataset is found when the batch holding it is loaded,
# for every split, before any step trains or validates on it: the run stops
# non-zero with the file, split, object id and modality named, and no
# checkpoint after the bad batch. (Before: a NaN validation object gave
# "val loss nan" every epoch, then early stopping and exit 0.)
AM=$1
source "$(dirname "$0")/train_lib.sh"
# poison FILE SPLIT DATASET: sets one element of the first object of SPLIT that
# has the modality to NaN (or +Inf for /spectra); prints that object's id.
poison() {
  $PY - "$@" <<'PY'
import sys, h5py, numpy as np
path, split, dset = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with h5py.File(path, "r+") as f:
    splits = f["/split"][:]
    mod = {"/metadata/raw": 2, "/spectra": 1, "/photometry/values": 0}[dset]
    rows = np.nonzero((splits == split) & (f["/has"][:, mod] == 1))[0]
    r = int(rows[len(rows) // 2])
    if dset == "/photometry/values":
        a, b = (int(x) for x in f["/photometry/offsets"][r:r + 2])
        f[dset][a:b, 1] = np.nan  # every step: any crop window holds one
    elif dset == "/spectra":
        f[dset][r, 1, 100] = np.inf
    else:
        f[dset][r, 5] = np.nan
    print(int(f["/id"][r]))
PY
}
cp "$T/data.h5" "$T/valnan.h5"
id=$(poison "$T/valnan.h5" 1 /metadata/raw) || { echo "FAIL: poisoning the dataset (layout changed?)"; exit 1; }
train 2 "$T/valnan" --set "data.path=\"$T/valnan.h5\"" --set train.epochs=3 >"$T/valnan.log" 2>&1
rc=$?
check "NaN in a validation object: exit non-zero (got $rc)" test $rc -ne 0
check "the message names file, split, object $id and modality" \
  grep -q "valnan.h5: val split, object id $id (dataset row [0-9]*): non-finite metadata value" "$T/valnan.log"
check "no early-stopping 'done'" bash -c "! grep -q 'done:' '$T/valnan.log'"

for case in "0 /photometry/values light curve" "0 /spectra spectrum"; do
  set -- $case; split=$1 dset=$2; shift 2; what="$*"
  name=train$(basename "$dset")
  cp "$T/data.h5" "$T/$name.h5"
  id=$(poison "$T/$name.h5" "$split" "$dset") || { echo "FAIL: poisoning $dset"; exit 1; }
  train 2 "$T/$name" --set "data.path=\"$T/$name.h5\"" --set train.epochs=2 --set checkpoint.every=1 >"$T/$name.log" 2>&1
  rc=$?
  check "non-finite $what in a training object: exit non-zero (got $rc)" test $rc -ne 0
  check "the message names the train split, object $id and the $what" \
    grep -q "$name.h5: train split, object id $id (dataset row [0-9]*): non-finite $what value" "$T/$name.log"
  check "no non-finite loss was trained on" bash -c "! grep -q 'non-finite: ' '$T/$name.log'"
done
finish train_nonfinite
