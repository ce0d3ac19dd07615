#!/usr/bin/env bash
# log_lines.sh INNA CONFIG WORKDIR: a log (stdout not a terminal) shows
# progress between epochs -- every run.log_every seconds a line with the step,
# epoch, loss, step size, images/s and the time left in the epoch and the run
# -- and none with run.log_every = 0.
source "$(dirname "$0")/lib.sh"
inna=$1 config=$2 work=$3
fresh "$work"
line='^step [0-9]*/40 epoch 1: loss [0-9.]* (epoch mean) lr 0.02 | [0-9]* img/s | epoch ends in [0-9]*:[0-9][0-9], run in [0-9]*:[0-9][0-9]$'
# 40 steps, a line every microsecond: a line after every step but the last
# (which ends the run with its own line).
"$inna" "$config" --set run.out="$work/often" --set train.steps=40 --set run.log_every=0.000001 \
  > "$work/often.log" 2>&1 || fail "run: $(tail -2 "$work/often.log")"
n=$(grep -c "$line" "$work/often.log")
[ "$n" = 39 ] && echo "ok   $n progress lines in 40 steps: $(grep -m1 "$line" "$work/often.log")" \
  || { fail "expected 39 progress lines, got $n"; grep '^step' "$work/often.log" | head -3; }
grep -q '^step 39/40 ' "$work/often.log" || fail "no line after step 39"
"$inna" "$config" --set run.out="$work/never" --set train.steps=40 --set run.log_every=0 \
  > "$work/never.log" 2>&1 || fail "run: $(tail -2 "$work/never.log")"
[ "$(grep -c '^step [0-9]*/' "$work/never.log")" = 0 ] && echo "ok   run.log_every = 0: no progress lines" \
  || fail "run.log_every = 0 printed progress lines"
finish
