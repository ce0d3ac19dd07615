#!/usr/bin/env bash
# resume.sh INNA CONFIG WORKDIR MPIRUN...
# State that survives, end to end with mpirun:
#   1. N steps on 2 ranks + --resume on 3 ranks to N+M = N+M straight on 1 rank
#      (B_k is 4 chunks: gathered, and the resume sums them, dist.gather = 0);
#      a resume with --set ' run.out = DIR' writes into DIR;
#   2. SIGTERM to mpirun mid-run: the ranks stop after a step, write a
#      checkpoint, say so; resuming it reaches the uninterrupted parameters;
#      SIGUSR1 the same, with exit status 5 through mpirun;
#   3. SIGKILL of one rank mid-run: mpirun aborts; --resume from the run
#      folder reaches the uninterrupted parameters;
#   4. a resume that changes the network, or from a corrupt / truncated /
#      foreign checkpoint, from a path too long, or with a corrupt / truncated
#      metrics.h5, and a new
#      run into a folder holding a run, are refused (exit 2, one line naming the file or key, the folder unchanged);
#   5. a full disk (a tiny tmpfs) while writing: one line naming the file,
#      non-zero exit, the previous checkpoint still valid.
# Parameters are compared by the hash inna prints at the end.
# Environment: INNA_ENGINE=NAME computes with run.engine = NAME (default: the
# config's); INNA_RESUME_PARTS=split runs part 1 only (the per-engine copies),
# =fulldisk part 5 only (exit 77, skipped, where no tmpfs can be mounted);
# the default, parts 1 to 4.
source "$(dirname "$0")/lib.sh"
inna=$1 config=$2 work=$3; shift 3
mpirun=("$@")
fresh "$work"
# Dropout and augmentation on, batch 16 in chunks of 4: every random stream in play.
common=(--set train.batch=16 --set dist.chunk=4 --set net.dropout=0.3 --set data.augment=true
        --set run.check_every=10)
[ -n "${INNA_ENGINE:-}" ] && common+=(--set run.engine="$INNA_ENGINE")


# straight STEPS: hash of an uninterrupted run of STEPS steps on one rank.
straight() {
  "${mpirun[@]}" -np 1 "$inna" "$config" "${common[@]}" --set run.out="$work/straight$1" \
    --set train.steps="$1" > "$work/straight$1.log" 2>&1 || { cat "$work/straight$1.log"; return 1; }
  hash_of "$work/straight$1.log"
}

# latest_step DIR: the step of DIR/latest.h5.
latest_step() { readlink "$1/latest.h5" | sed 's/^ckpt-0*\([0-9][0-9]*\)\.h5$/\1/'; }

# wait_for FILE PID: until FILE exists (or PID ends, or 60 s pass).
wait_for() {
  for _ in $(seq 600); do
    [ -e "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# 5. A disk that fills: the run folder on a 320 KiB tmpfs (root only; else
#    the part is skipped: exit 77).  The first run fits; the resumed one cannot
#    write its files.  The error names the file; latest.h5 still points at a
#    checkpoint that loads.
full_disk() {
full=$work/fullfs
mkdir -p "$full"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=320k inna-test "$full" 2>/dev/null; then
  trap 'umount "$full" 2>/dev/null' EXIT
  "${mpirun[@]}" -np 1 "$inna" "$config" "${common[@]}" --set run.out="$full/run" --set train.steps=5 \
    --set checkpoint.keep=1 > "$work/full1.log" 2>&1 || fail "full: first run: $(tail -2 "$work/full1.log")"
  head -c 60000 /dev/urandom > "$full/ballast" 2>/dev/null   # leave too little room for the next files
  "${mpirun[@]}" -np 1 "$inna" --resume "$full/run" --set train.steps=10 > "$work/full.out" 2> "$work/full.err"
  rc=$?
  if [ "$rc" = 0 ] || [ "$(grep -c '^inna' "$work/full.err")" != 1 ] || ! grep -q "$full/run/" "$work/full.err"; then
    fail "full disk: exit $rc, expected non-zero and one line naming a file in $full/run: $(cat "$work/full.err")"
  else
    echo "ok   full disk: exit $rc: $(grep '^inna' "$work/full.err")"
  fi
  [ "$(latest_step "$full/run")" = 5 ] || fail "full disk: latest.h5 moved: $(readlink "$full/run/latest.h5")"
  ls -a "$full/run" | grep -q '\.tmp' && fail "full disk: a temporary file was left: $(ls "$full/run")"
  cp -r "$full/run" "$work/full-copy"
  "${mpirun[@]}" -np 1 "$inna" --resume "$work/full-copy" --set train.steps=10 > "$work/full2.log" 2>&1
  got=$(hash_of "$work/full2.log") ref=$(straight 10)
  [ -n "$ref" ] && [ "$got" = "$ref" ] && echo "ok   after the full disk, resume from step 5 to 10 = straight: $got" \
    || fail "after the full disk: '$got' vs straight '$ref': $(tail -3 "$work/full2.log")"
  umount "$full"
  trap - EXIT
else
  echo "skipped: cannot mount a tmpfs for the full disk here (needs root)"
  exit 77
fi
}

parts=${INNA_RESUME_PARTS:-all}
if [ "$parts" = fulldisk ]; then full_disk; finish; exit; fi

# 1. 10 steps on 2 ranks, then resume on 3 ranks up to 24, the exact sum the
#    other way (a key a resume may change: the same bits either way).
"${mpirun[@]}" -np 2 "$inna" "$config" "${common[@]}" --set run.out="$work/split" \
  --set train.steps=10 --set checkpoint.every=5 > "$work/split1.log" 2>&1 || fail "split run"
# (With the config file given again, as launch/train.sh resumes.)
"${mpirun[@]}" -np 3 "$inna" --resume "$work/split" "$config" "${common[@]}" --set run.out="$work/split" \
  --set train.steps=24 --set checkpoint.every=5 --set dist.gather=0 > "$work/split2.log" 2>&1 \
  || fail "resume on 3 ranks: $(tail -3 "$work/split2.log")"
ref=$(straight 24)
got=$(hash_of "$work/split2.log")
[ -n "$ref" ] && [ "$got" = "$ref" ] && echo "ok   10 steps (np 2) + resume (np 3, summed) to 24 = 24 straight: $got" \
  || fail "10 + resume to 24 gave '$got', straight 24 gave '$ref'"
grep -q 'floats gathered (dist.gather)' "$work/split1.log" && ! grep -q 'floats gathered' "$work/split2.log" \
  || fail "the first 10 steps should gather the chunks and the resume sum them (inna's start lines)"

if [ "$parts" = split ]; then finish; exit; fi

# 1b. run.out given with blanks around the key (as config_set accepts it): the
#     resumed run writes there, not into the checkpoint's folder.
"${mpirun[@]}" -np 1 "$inna" --resume "$work/split" --set ' run.out = '"$work/spaced" \
  --set train.steps=26 > "$work/spaced.log" 2>&1 \
  || fail "resume with --set ' run.out = ...': $(tail -3 "$work/spaced.log")"
if [ "$(latest_step "$work/spaced")" = 26 ] && [ "$(latest_step "$work/split")" = 24 ]; then
  echo "ok   --set ' run.out = DIR' on resume: the checkpoint of step 26 is in DIR, none in the checkpoint's folder"
else
  fail "--set ' run.out = DIR' on resume: latest in DIR '$(latest_step "$work/spaced")', in split '$(latest_step "$work/split")'"
fi

# A long run to interrupt: checkpoints every 200 steps; budget far away.
long=(--set train.steps=1000000 --set checkpoint.every=200 --set checkpoint.epoch=false)
# start_long NAME [mpirun options]: that run in the background into $work/NAME; pid=its mpirun.
start_long() {
  local name=$1; shift
  "${mpirun[@]}" "$@" -np 2 "$inna" "$config" "${common[@]}" --set run.out="$work/$name" "${long[@]}" \
    > "$work/$name.log" 2>&1 &
  pid=$!
}

# 2. SIGTERM to mpirun.  Open MPI passes it on to the ranks after
#    odls_base_sigkill_timeout seconds and kills them as long after that.
start_long term --mca odls_base_sigkill_timeout 5
if wait_for "$work/term/ckpt-000000200.h5" $pid; then
  kill -TERM $pid
  wait $pid
  rc=$?
  # mpirun is tearing the job down, so the ranks' last words may not reach
  # its output: the stop checkpoint is the one off the 200-step grid (or the
  # message names it).
  said=$(sed -n 's/^inna: stopped by a signal after step \([0-9]*\);.*/\1/p' "$work/term.log")
  stopped=$(latest_step "$work/term")
  if [ -z "$stopped" ] || { [ $((stopped % 200)) = 0 ] && [ "$said" != "$stopped" ]; }; then
    fail "SIGTERM: no checkpoint at the stop (exit $rc, latest $(readlink "$work/term/latest.h5")): $(tail -3 "$work/term.log")"
  else
    target=$((stopped + 7))
    "${mpirun[@]}" -np 2 "$inna" --resume "$work/term" --set train.steps=$target > "$work/term2.log" 2>&1
    got=$(hash_of "$work/term2.log") ref=$(straight $target)
    [ -n "$ref" ] && [ "$got" = "$ref" ] && echo "ok   SIGTERM after step $stopped (mpirun exit $rc), resumed to $target = straight: $got" \
      || fail "SIGTERM resume to $target gave '$got', straight gave '$ref'"
  fi
else
  fail "SIGTERM: the run ended before its first checkpoint: $(tail -3 "$work/term.log")"
fi

# 2b. SIGUSR1 (forwarded by mpirun at once; what the SLURM script sends):
#     the same stop, and mpirun passes on the ranks' status 5.
start_long usr1
if wait_for "$work/usr1/ckpt-000000200.h5" $pid; then
  kill -USR1 $pid
  wait $pid
  rc=$?
  stopped=$(sed -n 's/^inna: stopped by a signal after step \([0-9]*\);.*/\1/p' "$work/usr1.log")
  [ "$rc" = 5 ] && [ -n "$stopped" ] && [ "$(latest_step "$work/usr1")" = "$stopped" ] \
    && echo "ok   SIGUSR1: stopped after step $stopped with a checkpoint, exit 5" \
    || fail "SIGUSR1: exit $rc, stop '$stopped', latest $(readlink "$work/usr1/latest.h5")"
else
  fail "SIGUSR1: the run ended before its first checkpoint: $(tail -3 "$work/usr1.log")"
fi

# 3. SIGKILL one rank once a checkpoint exists.
start_long kill
if wait_for "$work/kill/ckpt-000000400.h5" $pid; then
  victim=$(pgrep -P $pid -f "$work/kill" | tail -1)
  kill -KILL "$victim"
  wait $pid
  rc=$?
  last=$(latest_step "$work/kill")
  target=$((last + 9))
  [ "$rc" != 0 ] || fail "SIGKILL of rank pid $victim: mpirun exited 0"
  "${mpirun[@]}" -np 2 "$inna" --resume "$work/kill" --set train.steps=$target > "$work/kill2.log" 2>&1
  got=$(hash_of "$work/kill2.log") ref=$(straight $target)
  [ -n "$ref" ] && [ "$got" = "$ref" ] && echo "ok   SIGKILL of a rank (mpirun exit $rc), resumed from step $last to $target = straight: $got" \
    || fail "SIGKILL resume to $target gave '$got', straight gave '$ref': $(tail -3 "$work/kill2.log")"
else
  fail "SIGKILL: the run ended before its checkpoint at 400: $(tail -3 "$work/kill.log")"
fi

# 4. Refusals: exit 2, one line from inna naming the file or key, files unchanged.
ckpt=$work/split/$(readlink "$work/split/latest.h5")
size=$(stat -c %s "$ckpt") || fail "no checkpoint to damage"
cp "$ckpt" "$work/flipped.h5"
printf '\xff' | dd of="$work/flipped.h5" bs=1 seek=$((size / 2)) conv=notrunc status=none
head -c $((size - 100)) "$ckpt" > "$work/truncated.h5"
echo "not a checkpoint" > "$work/text.h5"
sed 's/^layer = conv filters=10 /layer = conv filters=12 /' "$config" > "$work/wider.ini"
before=$(sha256sum "$work"/split/* | sha256sum)
refuse() {
  local name=$1 words=$2; shift 2
  "${mpirun[@]}" -np 2 "$inna" "$@" > "$work/$name.out" 2> "$work/$name.err"
  local rc=$? lines
  lines=$(grep -c '^inna' "$work/$name.err")
  if [ "$rc" != 2 ] || [ "$lines" != 1 ] || ! grep -qF -- "$words" "$work/$name.err"; then
    fail "$name: exit $rc, $lines line(s), expected 2 and one line with '$words': $(cat "$work/$name.err")"
  else
    echo "ok   $name: $(grep '^inna' "$work/$name.err")"
  fi
}
refuse resume-flipped  "checksum mismatch"  --resume "$work/flipped.h5"
refuse resume-truncated "truncated"         --resume "$work/truncated.h5"
refuse resume-not-ckpt "$work/text.h5: not an inna checkpoint" --resume "$work/text.h5"
refuse resume-missing  "$work/nope"         --resume "$work/nope"
refuse resume-net-changed "net.dropout"     --resume "$work/split" --set net.dropout=0.1
refuse resume-optim-changed "optim.lr"      --resume "$work/split" --set optim.lr=0.5
refuse resume-other-net "net.layer"         --resume "$work/split" "$work/wider.ini" \
  "${common[@]}" --set run.out="$work/split"
refuse new-run-over-old "already holds a run" "$config" --set run.out="$work/split"
# A checkpoint in a folder of LEN characters (components of at most 200).
deep_ckpt() {
  local d=$work/deep$1
  while [ $((${#d} + 201)) -le "$1" ]; do d=$d/$(printf 'd%.0s' $(seq 200)); done
  d=$d/$(printf 'e%.0s' $(seq $(($1 - ${#d} - 1))))
  mkdir -p "$d" && cp "$ckpt" "$d/c.h5" && echo "$d/c.h5"
}
# Its folder too long to be the resumed run's run.out (1024 bytes), and the
# checkpoint's path itself too long (1088): the error still says why.
refuse resume-folder-too-long "run.out: folder name too long" --resume "$(deep_ckpt 1040)"
refuse resume-path-too-long "path too long (1105 characters, at most 1087)" --resume "$(deep_ckpt 1100)"
[ "$before" = "$(sha256sum "$work"/split/* | sha256sum)" ] && echo "ok   refused resumes left the run folder unchanged" \
  || fail "a refused resume changed $work/split"
# A metrics file that is corrupt or cut short: bad input too, the folder unchanged.
for damage in corrupt truncated; do
  cp -r "$work/split" "$work/metrics-$damage"
  m=$work/metrics-$damage/metrics.h5
  if [ $damage = corrupt ]; then printf 'garbage%.0s' $(seq 64) | dd of="$m" bs=1 seek=0 conv=notrunc status=none
  else truncate -s $(($(stat -c %s "$m") / 2)) "$m"; fi
  # (inna.lock excepted: the refused job did hold the folder, and says so there)
  mbefore=$(sha256sum "$work/metrics-$damage"/*.h5 | sha256sum)
  refuse "resume-metrics-$damage" "$m" --resume "$work/metrics-$damage"
  [ "$mbefore" = "$(sha256sum "$work/metrics-$damage"/*.h5 | sha256sum)" ] \
    || fail "the refused resume with $damage metrics changed the folder"
done

[ "$failures" = 0 ] && echo "all resume checks passed"
exit $((failures != 0))
