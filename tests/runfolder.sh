#!/usr/bin/env bash
# runfolder.sh INNA CONFIG WORKDIR MPIRUN...
# One job per run folder, and no debris, with real jobs:
#   1. while a job trains in a folder, a second one -- --resume, or a new run,
#      with and without mpirun -- is refused: exit 2, one line naming the
#      folder and the holder's PID, the holder's lock record untouched;
#   2. once the holder is killed with SIGKILL, the kernel has dropped its lock:
#      --resume of the folder works;
#   3. SIGKILL in the middle of writing a checkpoint (and, separately, the
#      metrics) leaves its temporary file; the resume removes it, says so,
#      and reaches the parameters of an uninterrupted run; no *.tmp.* remains.
source "$(dirname "$0")/lib.sh"
inna=$1 config=$2 work=$3; shift 3
mpirun=("$@")
fresh "$work"
common=(--set train.batch=16 --set dist.chunk=4 --set net.dropout=0.3 --set data.augment=true)

# refused NAME CMD...: CMD must exit 2 with one line naming the folder and $holder.
refused() {
  local name=$1; shift
  "$@" > "$work/$name.out" 2> "$work/$name.err"
  local rc=$? lines
  lines=$(grep -c '^inna' "$work/$name.err")
  if [ $rc != 2 ]; then fail "$name: exit $rc, expected 2: $(cat "$work/$name.err")"
  elif [ "$lines" != 1 ]; then fail "$name: $lines lines from inna on stderr"; cat "$work/$name.err"
  elif ! grep -q "run.out: $work/held is in use by another job (host .* pid $holder since " "$work/$name.err"
  then fail "$name: message does not name the folder and pid $holder: $(cat "$work/$name.err")"
  else echo "ok   $name: $(grep '^inna' "$work/$name.err")"; fi
}

# 1. The holder: one rank without mpirun, far from its end.
"$inna" "$config" "${common[@]}" --set run.out="$work/held" --set train.steps=10000000 \
  --set checkpoint.every=100 > "$work/holder.log" 2>&1 &
holder=$!
for _ in $(seq 300); do
  [ -e "$work/held/latest.h5" ] && break
  kill -0 $holder 2>/dev/null || break
  sleep 0.1
done
record=$(cat "$work/held/inna.lock" 2>/dev/null)
case "$record" in
  *"pid $holder since"*) echo "ok   the holder records itself: $record" ;;
  *) fail "lock record '$record' does not name pid $holder" ;;
esac
refused resume-plain "$inna" --resume "$work/held"
refused new-run-plain "$inna" "$config" --set run.out="$work/held"
refused resume-mpirun "${mpirun[@]}" -np 2 "$inna" --resume "$work/held"
refused new-run-mpirun "${mpirun[@]}" -np 2 "$inna" "$config" --set run.out="$work/held"
[ "$(cat "$work/held/inna.lock")" = "$record" ] || fail "the refused jobs changed the lock record"
kill -0 $holder 2>/dev/null || fail "the holder died while the others were refused"

# 2. SIGKILL: no lock survives the process.
kill -KILL $holder
wait $holder 2>/dev/null
if "$inna" --resume "$work/held" --set train.steps=0 > "$work/after-kill.log" 2>&1; then
  echo "ok   after SIGKILL of the holder, --resume takes the folder"
else fail "resume after SIGKILL: $(tail -2 "$work/after-kill.log")"; fi

# 3. SIGKILL while writing NAME (test hook), on LAUNCH ("plain" or "mpirun"),
#    then resume to 12 steps on 3 ranks; compare with 12 straight steps.
"$inna" "$config" "${common[@]}" --set run.out="$work/straight" --set train.steps=12 \
  > "$work/straight.log" 2>&1 || fail "straight run"
ref=$(hash_of "$work/straight.log")
killed_mid_write() {
  local name=$1 launch=$2 dir=$work/kill-${1%%:*}-$2 cmd=("$inna")
  [ "$launch" = mpirun ] && cmd=("${mpirun[@]}" -np 2 "$inna")
  INNA_TEST_KILL_WRITING=$name "${cmd[@]}" "$config" "${common[@]}" --set run.out="$dir" \
    --set train.steps=12 --set checkpoint.every=2 > "$dir.log" 2>&1
  local rc=$? tmp
  tmp=$(ls "$dir" | grep -c '\.tmp\.[0-9]*$')
  if [ $rc = 0 ] || [ "$tmp" = 0 ]; then
    fail "$name/$launch: the kill did not leave a temporary file (exit $rc, $tmp tmp files)"; return
  fi
  "${mpirun[@]}" -np 3 "$inna" --resume "$dir" > "$dir-resume.log" 2>&1 \
    || { fail "$name/$launch: resume: $(tail -2 "$dir-resume.log")"; return; }
  local left got
  left=$(ls -A "$dir" | grep '\.tmp\.' | tr '\n' ' ')
  got=$(hash_of "$dir-resume.log")
  if [ -n "$left" ]; then fail "$name/$launch: after the resume, still there: $left"
  elif ! grep -q "removed $tmp temporary file(s) left by a job that was killed" "$dir-resume.log"
  then fail "$name/$launch: the resume did not report the removal"
  elif [ "$got" != "$ref" ]; then fail "$name/$launch: resumed to $got, straight run $ref"
  else echo "ok   killed writing $name ($launch), resumed on 3 ranks: no temporary file left, $got = straight"; fi
}
killed_mid_write ckpt-000000004.h5 plain
killed_mid_write ckpt-000000006.h5 mpirun
killed_mid_write metrics.h5:3 plain

finish
