#!/usr/bin/env bash
# study.sh INNA WORKDIR PYTHON
# launch/study.sh end to end on configs/studies/tiny.ini (2 arms x 2 step
# sizes searched on 1 epoch, 2 seeds x 4 epochs of each winner), on 2 ranks:
#   1. SIGKILL to the study's whole session (mpirun, the ranks) while a final run is
#      half-way (a checkpoint, no model): the run folder is left resumable;
#   2. the same command again, SIGTERM to the study process alone while
#      another final run trains (or has just been copied from its search
#      run): exit status 5, that run checkpointed;
#   3. the same command again finishes (exit 0); once more: nothing starts;
#   4. tests/study_check.py (its own reading of metrics.h5): every run
#      completed exactly once, each arm's winner has the lowest search loss;
#   5. each final run's parameter hash = the same run started alone (inna on
#      one rank, without the study).
# Exit 77 when PYTHON lacks h5py.
source "$(dirname "$0")/lib.sh"
set -o pipefail
inna=$1 work=$2 py=$3
root=$(cd "$(dirname "$0")/.." && pwd)
here=$root/tests
need_python "$py"
fresh "$work"
out=$work/tiny
cmd=("$root/launch/study.sh" "$root/configs/studies/tiny.ini" --inna "$inna" --np 2 --out "$out")

# half_done PATTERN [EXCEPT...]: a final run folder matching PATTERN, not among
# EXCEPT, that is training: its latest checkpoint is inside an epoch (of 128
# steps), not in the last of the 4, and it has no model.
half_done() {
  local d name step pattern=$1; shift
  for d in "$out"/$pattern/; do
    name=$(basename "$d")
    [[ " $* " == *" $name "* ]] && continue
    step=$(readlink "$d/latest.h5" 2>/dev/null | sed -n 's/^ckpt-0*\([0-9][0-9]*\)\.h5$/\1/p')
    [ -n "$step" ] && [ $((step % 128)) != 0 ] && [ "$step" -lt 384 ] && [ ! -e "$d/model.h5" ] \
      && { echo "$name"; return 0; }
  done
  return 1
}
# started: the final run folders that exist now.
started() { for d in "$out"/final-*/; do [ -d "$d" ] && basename "$d"; done 2>/dev/null | tr '\n' ' '; }
# wait_half PID PATTERN [EXCEPT...]: until a final run is half-done (its name on stdout) or PID ends.
wait_half() {
  local pid=$1; shift
  for _ in $(seq 3000); do
    half_done "$@" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.02
  done
  return 1
}
# gone SID: every process of the session (the study, mpirun, the ranks) has ended (within 30 s).
gone() { for _ in $(seq 300); do pgrep -s "$1" >/dev/null || return 0; sleep 0.1; done; return 1; }

# 1. SIGKILL to the group mid-run: a seed-4 run, started from scratch (the
#    seed-3 final runs start as copies of their search runs, seed 3).
setsid "${cmd[@]}" > "$work/part1.log" 2>&1 &
pid=$!
if victim=$(wait_half $pid 'final-*-seed4'); then
  # Its session: mpirun puts each rank in a process group of its own.
  pkill -KILL -s "$pid"
  wait "$pid" 2>/dev/null
  gone "$pid" || fail "processes of the killed study are still running: $(pgrep -s "$pid" | tr '\n' ' ')"
  echo "ok   killed the study, mpirun and the ranks (SIGKILL to its session) during $victim"
else
  fail "no final run was ever seen half-done: $(tail -3 "$work/part1.log")"
fi
[ -n "${victim:-}" ] && [ ! -e "$out/$victim/model.h5" ] && [ -e "$out/$victim/latest.h5" ] \
  || fail "the killed run $victim is not a checkpoint without a model"

# 2. Again; SIGTERM to the study process alone during a run that had not started yet.
before=$(started)
setsid "${cmd[@]}" > "$work/part2.log" 2>&1 &
pid=$!
# shellcheck disable=SC2086
if second=$(wait_half $pid 'final-*' $before); then
  kill -TERM "$pid"
fi
wait "$pid"; rc=$?
gone "$pid" || fail "processes of the stopped study are still running"
cat "$work/part2.log"
[ "$rc" = 5 ] && echo "ok   SIGTERM: exit status 5" || fail "SIGTERM to the study: exit status $rc, want 5"
grep -q "^study: $victim: done" "$work/part2.log" && grep -q "$victim: resuming" "$work/part2.log" \
  || fail "the rerun did not resume and finish $victim"
if [ -n "${second:-}" ]; then
  grep -q "stopped by a signal" "$out/$second/inna.log" && [ -e "$out/$second/latest.h5" ] \
    && echo "ok   $second stopped with a checkpoint" \
    || fail "$second: no 'stopped by a signal' in its log after SIGTERM: $(tail -2 "$out/$second/inna.log")"
else
  fail "no second final run was seen half-done"
fi

# 3. Again, to the end; then once more: nothing runs.
"${cmd[@]}" > "$work/part3.log" 2>&1; rc=$?
cat "$work/part3.log"
[ "$rc" = 0 ] || fail "the third command: exit status $rc"
"${cmd[@]}" > "$work/part4.log" 2>&1; rc=$?
[ "$rc" = 0 ] || fail "the fourth command: exit status $rc"
! grep -Eq ': (starting|resuming)$' "$work/part4.log" && echo "ok   a finished study starts nothing" \
  || fail "a finished study started runs again: $(grep -E 'starting|resuming' "$work/part4.log")"
for f in summary.csv selection.csv results.md figures/final.png figures/search-inna.png figures/search-sgd.png; do
  [ -s "$out/$f" ] || fail "no $f in the study folder"
done

# 4. Runs, winners, metrics: read independently of the runner.
"$py" "$here/study_check.py" "$out" || fail "study_check.py"

# 5. Each final run = the same run started alone (one rank, no study).
for d in "$out"/final-*/; do
  name=$(basename "$d")
  [[ $name =~ ^final-(inna|sgd)-lr([0-9.]+)-seed([0-9]+)$ ]] || { fail "unexpected run $name"; continue; }
  "$inna" --no-progress "$root/configs/tiny.ini" --set data.train_limit=1024 --set data.test_limit=200 \
    --set optim.name="${BASH_REMATCH[1]}" --set optim.lr="${BASH_REMATCH[2]}" \
    --set run.seed="${BASH_REMATCH[3]}" --set train.epochs=4 --set train.steps=-1 \
    --set run.out="$work/alone/$name" > "$work/alone-$name.log" 2>&1 || fail "$name alone: $(tail -1 "$work/alone-$name.log")"
  want=$(hash_of "$work/alone-$name.log")
  got=$(hash_of "$d/inna.log" | tail -1)
  [ -n "$want" ] && [ "$got" = "$want" ] && echo "ok   $name: crc32 $got = the run alone" \
    || fail "$name: study gave '$got', the run alone '$want'"
done
finish
