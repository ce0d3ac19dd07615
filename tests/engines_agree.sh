#!/usr/bin/env bash
# engines_agree.sh INNA CONFIG WORKDIR TOL: 20 steps of CONFIG on each engine
# (one rank, exact reduction, dropout as CONFIG says) reach the same
# parameters within TOL (absolute, per element, h5diff -d), and the same
# loss printed to 4 digits; exit 77 (skipped) without oneDNN or h5diff.
#
# Why a tolerance and which: the engines sum each convolution in another
# order, so a step's gradient differs between them by float rounding, ~1e-6
# relative; the update moves theta by lr * (that) and 20 steps add up such
# gaps (no relu or max-pool kink flips in so few steps on this data):
# measured <= 1.2e-7 absolute on tiny.ini (weights ~0.5).  1e-5 leaves a
# margin of ~100, while a real fault -- a wrong weight layout, a lost bias
# gradient, a dropout mask that differs -- moves a parameter by lr * |g| ~
# 1e-3 in one step.
source "$(dirname "$0")/lib.sh"
inna=$1 config=$2 work=$3 tol=$4
command -v h5diff > /dev/null || { echo "no h5diff (hdf5-tools): skipped"; exit 77; }
fresh "$work"
for e in openblas onednn; do
  "$inna" "$config" --set run.engine=$e --set run.out="$work/$e" --set train.steps=20 \
    > "$work/$e.log" 2>&1 || { cat "$work/$e.log"; [ $e = onednn ] && grep -q 'no oneDNN' "$work/$e.log" && exit 77; exit 1; }
  grep -E '^(engine|epoch)' "$work/$e.log"
done
loss() { sed -n 's/.*train loss \([0-9.]*\) .*/\1/p' "$work/$1.log" | tail -1; }
[ "$(loss openblas)" = "$(loss onednn)" ] || fail "train loss $(loss openblas) (openblas) vs $(loss onednn) (onednn)"
sets=$(h5ls -r "$work/openblas/model.h5" | awk '$2 == "Dataset" {print $1}')
[ -n "$sets" ] || fail "no datasets in $work/openblas/model.h5"
for d in $sets; do
  # the largest difference, for the log; then the verdict at TOL
  worst=$(h5diff -r -d 1e-30 "$work/openblas/model.h5" "$work/onednn/model.h5" "$d" "$d" |
          awk '/^\[/ {x = $NF < 0 ? -$NF : $NF; if (x > m) m = x} END {printf "%.3g", m + 0}')
  if h5diff -q -d "$tol" "$work/openblas/model.h5" "$work/onednn/model.h5" "$d" "$d"; then
    echo "ok   $d: largest difference $worst <= $tol"
  else
    fail "$d: openblas and onednn differ by more than $tol (largest $worst)"
  fi
done
finish
