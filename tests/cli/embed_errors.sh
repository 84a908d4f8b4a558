#!/usr/bin/env bash
# Bad input to astromm embed / search / outliers: a clear message naming the
# file, field or id, exit code 2 for bad arguments or input, 1 for runtime
# errors, and never a half-written output file.
AM=$1
TRAIN_TEST_N=${TRAIN_TEST_N:-200}
source "$(dirname "$0")/train_lib.sh"

train 1 "$T/run" --set train.epochs=1 >"$T/train.log" 2>&1
check "train finishes (exit 0)" test $? -eq 0
"$AM" embed --run "$T/run" --out "$T/e.h5" >/dev/null 2>&1
check "embed (exit 0)" test $? -eq 0
"$AM" embed --run "$T/run" --out "$T/test_only.h5" --split test >/dev/null 2>&1
check "embed --split test (exit 0)" test $? -eq 0

# expect CODE PATTERN cmd...: exit code CODE and stderr matching PATTERN
expect() {
  local code=$1 pat=$2; shift 2
  "$@" >"$T/out.txt" 2>"$T/err.txt"
  local rc=$?
  if [ $rc -ne "$code" ]; then echo "  exit $rc (wanted $code): $(head -c 300 "$T/err.txt")"; return 1; fi
  if ! grep -q -- "$pat" "$T/err.txt"; then echo "  stderr lacks '$pat': $(head -c 300 "$T/err.txt")"; return 1; fi
}
E="$T/e.h5"
# embed
check "embed without a model: exit 2" expect 2 "give --run" "$AM" embed --out "$T/x.h5"
check "embed --run of a missing directory: names it" expect 2 "$T/nope/config.cfg" "$AM" embed --run "$T/nope" --out "$T/x.h5"
check "embed missing checkpoint: names it" expect 2 "$T/none.safetensors" "$AM" embed --config "$T/run/config.cfg" \
  --checkpoint "$T/none.safetensors" --out "$T/x.h5"
check "embed without --out: exit 2" expect 2 "--out" "$AM" embed --run "$T/run"
check "embed bad --split: exit 2" expect 2 "'training'" "$AM" embed --run "$T/run" --out "$T/x.h5" --split training
check "embed --batch 0: exit 2" expect 2 "--batch" "$AM" embed --run "$T/run" --out "$T/x.h5" --batch 0
check "embed unknown option: exit 2" expect 2 "--bogus" "$AM" embed --run "$T/run" --out "$T/x.h5" --bogus 1
check "embed checkpoint of another model: exit 1, names the checkpoint" expect 1 "model.safetensors" \
  "$MPIRUN" --oversubscribe -np 2 "$AM" embed --run "$T/run" --set model.proj_dim=8 --out "$T/x.h5"
check "embed into a missing directory: exit 1" expect 1 "$T/no/dir/x.h5" \
  "$MPIRUN" --oversubscribe -np 2 "$AM" embed --run "$T/run" --out "$T/no/dir/x.h5"
check "no output or temporary file after failures" test -z "$(ls "$T" | grep -E '^x\.h5|\.tmp\.')"
# search
ID=$($PY -c "import h5py; print(h5py.File('$E')['id'][3])")
check "search unknown id: names it" expect 2 "unknown query id 987654321" "$AM" search --embeddings "$E" --id 987654321
check "search unknown id at np=2: exit 2, said once" expect 2 "unknown query id 987654321" \
  "$MPIRUN" --oversubscribe -np 2 "$AM" search --embeddings "$E" --id 987654321
check "  ... and only once" test "$(grep -c 'unknown query id' "$T/err.txt")" -eq 1
check "search non-integer id" expect 2 "'abc'" "$AM" search --embeddings "$E" --id abc
check "search unknown modality: names it" expect 2 "'lightcurve'" "$AM" search --embeddings "$E" --id "$ID" \
  --query-modality lightcurve
check "search unknown target modality" expect 2 "'sed'" "$AM" search --embeddings "$E" --id "$ID" --target-modality sed
check "search k < 1" expect 2 "--k '0'" "$AM" search --embeddings "$E" --id "$ID" --k 0
check "search missing embeddings file: names it" expect 2 "$T/missing.h5" "$AM" search --embeddings "$T/missing.h5" --id 1
check "search on a dataset file: wrong format named" expect 2 "astromm-dataset" "$AM" search --embeddings "$T/data.h5" --id 1
check "search without --embeddings" expect 2 "--embeddings" "$AM" search --id 1
check "search --id with --ids" expect 2 "exactly one" "$AM" search --embeddings "$E" --id 1 --ids "$T/ids.txt"
printf '%s\n# comment\n\nx12\n' "$ID" >"$T/ids.txt"
check "search bad ids file line: file:line" expect 2 "$T/ids.txt:4" "$AM" search --embeddings "$E" --ids "$T/ids.txt"
check "search missing ids file" expect 2 "$T/noids.txt" "$AM" search --embeddings "$E" --ids "$T/noids.txt"
check "search into a missing directory: exit 1" expect 1 "$T/no/s.csv" "$AM" search --embeddings "$E" --id "$ID" \
  --out "$T/no/s.csv"
# outliers
check "outliers k < 1" expect 2 "--k '0'" "$AM" outliers --embeddings "$E" --k 0
check "outliers unknown modality" expect 2 "'colour'" "$AM" outliers --embeddings "$E" --modality colour
check "outliers bad split" expect 2 "'tset'" "$AM" outliers --embeddings "$E" --split tset
check "outliers missing file" expect 2 "$T/missing.h5" "$AM" outliers --embeddings "$T/missing.h5"
check "outliers on a dataset file" expect 2 "astromm-dataset" "$AM" outliers --embeddings "$T/data.h5"
check "outliers without training rows: says so" expect 2 "no labelled training-split rows" \
  "$AM" outliers --embeddings "$T/test_only.h5"
check "help texts" "$AM" embed --help >/dev/null && "$AM" search --help >/dev/null && "$AM" outliers --help >/dev/null
finish embed_errors
