#!/usr/bin/env bash
# Distributed = single process: the same global batches at 1, 2 and 4 ranks give
# the same per-step losses and the same parameters after 6 steps (float rounding;
# see cmp_runs for the bounds).
AM=$1
source "$(dirname "$0")/train_lib.sh"
for np in 1 2 4; do
  train $np "$T/np$np" --set train.max_steps=6 >"$T/np$np.log" 2>&1
  check "np=$np run finishes (exit 0)" test $? -eq 0
done
cmp_runs() { cmp_train_runs "$T/np1" "$T/np$1" "${2:-2e-3}" 6; }  # np=1 vs np=$1 (train_lib.sh)
for np in 2 4; do check "np=$np equals np=1" cmp_runs $np; done
# Progress lines: mpirun gives the ranks a pty even when the job's output goes to a
# file; run.progress = auto must still write plain lines there (no '\r').
has_cr() { grep -q $'\r' "$1"; }
no_cr() { ! has_cr "$1"; }
check "no carriage returns in a log file written under mpirun" no_cr "$T/np2.log"
train 2 "$T/np2tty" --set train.max_steps=2 --set 'run.progress="tty"' >"$T/np2tty.log" 2>&1
check "run.progress = tty does rewrite the line in place (control)" has_cr "$T/np2tty.log"
# Negative control: the bounds must catch a real error (the learning rate 10 % off).
train 2 "$T/np2lr" --set train.max_steps=6 --set train.lr=2.2e-3 >"$T/np2lr.log" 2>&1
differs() { if cmp_runs "$@"; then return 1; else return 0; fi; }
check "a 10 % learning-rate error fails the comparison" differs 2lr
finish train_ranks
