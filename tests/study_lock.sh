#!/usr/bin/env bash
# study_lock.sh INNA WORKDIR PYTHON
# Two study commands on one study folder: while the first runs, the second is
# refused before it runs anything -- exit status 2, one line naming the folder
# and the first command's pid -- and the first is not disturbed.  Once the
# first has ended, the folder is free again.
source "$(dirname "$0")/lib.sh"
inna=$1 work=$2 py=$3
root=$(cd "$(dirname "$0")/.." && pwd)
need_python "$py"
fresh "$work"
out=$work/tiny
cmd=("$root/launch/study.sh" "$root/configs/studies/tiny.ini" --inna "$inna" --np 1 --out "$out")

setsid "${cmd[@]}" > "$work/first.log" 2>&1 &
pid=$!
for _ in $(seq 600); do ls -d "$out"/search-* >/dev/null 2>&1 && break; sleep 0.05; done
ls -d "$out"/search-* >/dev/null 2>&1 || fail "the first command started no run: $(tail -2 "$work/first.log")"
"${cmd[@]}" > "$work/second.out" 2> "$work/second.err"; rc=$?
err=$(cat "$work/second.err")
if [ "$rc" = 2 ] && [ "$(wc -l < "$work/second.err")" = 1 ] && [[ $err == "study: $out: in use"*"pid $pid "* ]] \
   && [ ! -s "$work/second.out" ]; then
  echo "ok   second command refused: $err"
else
  fail "second command: exit $rc, stderr '$err' (first pid $pid)"
fi
kill -0 "$pid" 2>/dev/null || fail "the first command ended early: $(tail -3 "$work/first.log")"
pkill -KILL -s "$pid"; wait "$pid" 2>/dev/null   # its session: the study, mpirun, the ranks
for _ in $(seq 300); do pgrep -s "$pid" >/dev/null || break; sleep 0.1; done
# The lock died with its holder: a third command takes the folder and finishes the study.
"${cmd[@]}" > "$work/third.log" 2>&1 && echo "ok   after the first was killed, a new command finishes the study" \
  || fail "third command: $(tail -2 "$work/third.log")"
finish
