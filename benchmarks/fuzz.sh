#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang; build-fuzz: ASan, UBSan and
# coverage) and runs each for MINUTES (default 1; decimals allowed, e.g. 0.5)
# from its seed corpus tests/fuzz/corpus/<name>/, adding what it finds to
# build-fuzz/corpus/<name>/ (kept between runs). Prints executions, exec/s,
# coverage and the result per target; a crashing, leaking, hanging or
# memory-hungry input is saved in build-fuzz/artifacts/<name>/ and the script
# then exits non-zero. Logs: build-fuzz/logs/<name>.log.
# Usage: benchmarks/fuzz.sh [MINUTES [TARGET...]]   e.g. benchmarks/fuzz.sh 5 fits
# Replay an input: build-fuzz/fuzz/fuzz_<name> <file>   (ASan/UBSan report, no fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-1}
shift $(( $# > 0 ? 1 : 0 ))
B=build-fuzz
command -v clang >/dev/null || { echo "fuzz.sh: needs clang (scripts/deps.sh installs it)" >&2; exit 1; }
CC=clang CXX=clang++ cmake -S . -B $B -DCMAKE_BUILD_TYPE=Release -DASTROMM_FUZZ=ON -DASTROMM_CUDA=OFF >/dev/null
cmake --build $B -j "$(nproc)" --target fuzz_targets >/dev/null
if [ $# -gt 0 ]; then targets=("$@"); else
  targets=(); for f in tests/fuzz/fuzz_*.c; do n=${f##*/fuzz_}; targets+=("${n%.c}"); done
fi
secs=$(awk -v m="$minutes" 'BEGIN { s = int(m * 60 + 0.5); print s < 1 ? 1 : s }')
# Leaks inside libconfig's scanner are not ours (tests/lsan_suppressions.txt).
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan_suppressions.txt:print_suppressions=0
mkdir -p $B/logs
echo "fuzz.sh: ${secs} s per target, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(clang --version | head -1)"
printf '%-12s %12s %8s %6s %8s  %s\n' target executions exec/s cov corpus result
# Prints a failed target's report (from a few lines before the first error line,
# without ASan's allocation warnings) and, up to 16 KiB, its input as base64.
show_failure() {
  local t=$1 log=$2 art=$3 at
  local report; report=$(grep -v 'failed to allocate' "$log")
  at=$(grep -n -m1 -E 'ERROR|deadly signal|property violated|\*\*\*' <<<"$report" | cut -d: -f1)
  sed -n "$(( ${at:-1} > 5 ? ${at:-1} - 5 : 1 )),\$p" <<<"$report" | head -50 | sed "s/^/  $t| /"
  if [ -n "$art" ] && [ -f "$art" ] && [ "$(stat -c %s "$art")" -le 16384 ]; then
    echo "  $t| input (base64, $(stat -c %s "$art") bytes; base64 -d > in && $B/fuzz/fuzz_$t in):"
    base64 -w 100 "$art" | sed "s/^/  $t| /"
  fi
}
failed=0
for t in "${targets[@]}"; do
  mkdir -p $B/corpus/$t $B/artifacts/$t
  extra=()
  # libconfig leaks on many malformed inputs (suppressed), and each such input
  # costs libFuzzer a full leak scan: 20x fewer executions. Leaks in astromm's
  # config code are checked by the sanitizer pass of scripts/test.sh instead.
  [ "$t" = config ] && extra+=(-detect_leaks=0)
  # cfitsio sizes some allocations from header values and handles a failed one
  # (tests/fuzz/fuzz_fits.c lets them fail); only real memory use (RSS) counts.
  [ "$t" = fits ] && extra+=(-malloc_limit_mb=1048576)
  rc=0
  $B/fuzz/fuzz_$t -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix=$B/artifacts/$t/ "${extra[@]}" $B/corpus/$t tests/fuzz/corpus/$t >$B/logs/$t.log 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' $B/logs/$t.log | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' $B/logs/$t.log | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' $B/logs/$t.log | tail -1 | cut -d' ' -f2)
  result=ok
  if [ $rc -ne 0 ]; then
    failed=$((failed + 1))
    art=$(grep -oE "Test unit written to [^ ]+" $B/logs/$t.log | tail -1 | cut -d' ' -f5)
    result="FAILED (exit $rc): $(grep -m1 -oE '(ERROR|WARNING): [A-Za-z]+: [^(]*|runtime error: .*|property violated: .*' $B/logs/$t.log || echo see log); input ${art:-none}"
  fi
  printf '%-12s %12s %8s %6s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$(ls $B/corpus/$t | wc -l)" "$result"
  # A CI log is often all there is of a failure: show the report (stack) and,
  # when small, the input itself, so the next person can replay it
  # (base64 -d > in; build-fuzz/fuzz/fuzz_<name> in).
  [ $rc -eq 0 ] || show_failure "$t" "$B/logs/$t.log" "${art:-}"
  # A crashed target leaves its input file (tests/fuzz/fuzz_util.h) behind.
  for f in /dev/shm/astromm_fuzz_* /tmp/astromm_fuzz_*; do
    [ -e "$f" ] || continue
    pid=${f##*_}; pid=${pid%%.*}
    kill -0 "$pid" 2>/dev/null || rm -f "$f"
  done
done
[ $failed -eq 0 ] || { echo "fuzz.sh: $failed target(s) failed; logs in $B/logs/, inputs in $B/artifacts/"; exit 1; }
