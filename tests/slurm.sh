#!/usr/bin/env bash
# slurm.sh INNA CONFIG WORKDIR SOURCE_DIR MPIRUN...
# launch/slurm.sbatch against a real SLURM: munged, slurmctld and slurmd
# started on this machine by launch/slurm-local.sh in WORKDIR/cluster (Debian's
# slurm-wlm and munge installed first when missing and we are root; exit 77,
# skipped, when they are missing and cannot be installed).  Checks:
#   a. sbatch --nodes=1 --ntasks-per-node=2 trains to completion on 2 ranks
#      with 1 worker each, and --ntasks-per-node=1 --cpus-per-task=2 on one
#      rank with 2 workers; both hashes equal mpirun -np 1 of the same run
#      (exact mode is bitwise across ranks and threads);
#   b. a longer job stopped by `scancel --signal=USR1 --batch` once it has a
#      checkpoint: ExitCode 5:0, "stopped" in its output, a checkpoint at the
#      stop; the same sbatch command again continues it (--resume added by
#      the script) to the hash of an uninterrupted run;
#   c. `sbatch --array=0-1` of tests/slurm_array.sh: two runs with different
#      seeds, each to completion with the hash of the same run alone;
#   d. a bad --set: the job exits 2 with inna's one-line error, before mpirun.
# The daemons are stopped by their PIDs at the end, also on failure (trap).
# Where they cannot start the test fails, naming the reason.
source "$(dirname "$0")/lib.sh"
inna=$1 config=$2 work=$3 src=$4; shift 4
mpirun=("$@")
cluster=$work/cluster
# The daemons live in /usr/sbin, which a normal user's PATH may lack.
PATH=$PATH:/usr/sbin:/sbin
# Daemons left by an earlier run that was killed (a ctest timeout sends
# SIGKILL: no trap runs) are stopped by their recorded PIDs first.
[ -d "$cluster" ] && "$src/launch/slurm-local.sh" stop "$cluster"
fresh "$work"
# Batch 16 in chunks of 4: both ranks get work; dropout and augmentation on.
common=(--set train.batch=16 --set dist.chunk=4 --set net.dropout=0.3 --set data.augment=true
        --set checkpoint.epoch=false)

# have_slurm: the programs the local cluster needs are installed.
have_slurm() { command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; }

# ensure_slurm: install slurm-wlm and munge when missing (root or sudo -n);
# a user who cannot install them gets "skipped" (77), not a failure.
ensure_slurm() {
  have_slurm && return 0
  if [ "$(id -u)" != 0 ] && ! sudo -n true 2>/dev/null; then
    echo "skipped: Debian's slurm-wlm and munge are not installed and installing them needs root"
    exit 77
  fi
  "$src/launch/slurm-local.sh" install && have_slurm && return 0
  echo "FAIL: could not install slurm-wlm and munge"
  exit 1
}

# stop_cluster: the daemons stopped by their PIDs (idempotent; also the trap).
stop_cluster() { "$src/launch/slurm-local.sh" stop "$cluster"; }

# field JOBID NAME: NAME=… of every task of the job, one per line.
field() { scontrol show job -o "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p"; }

# wait_job JOBID [SECONDS]: until no task of the job is pending or running
# (60 s by default); on timeout the job is cancelled and 1 returned.
wait_job() {
  local id=$1 limit=${2:-60} states=""
  for _ in $(seq $((limit * 5))); do
    states=$(field "$id" JobState)
    [ -n "$states" ] && ! grep -qE 'PENDING|CONFIGURING|RUNNING|COMPLETING|SUSPENDED|REQUEUE' <<< "$states" &&
      return 0
    sleep 0.2
  done
  fail "job $id still $(tr '\n' ' ' <<< "$states")after $limit s; cancelled"
  scancel "$id"
  return 1
}

# submit OUT SBATCH-ARGS...: submit from the source tree; prints the job id.
submit() {
  local out=$1; shift
  (cd "$src" && sbatch --parsable -o "$out" "$@")
}

# direct NAME STEPS [inna options]: hash of the same run by mpirun -np 1, no SLURM.
direct() {
  local name=$1 steps=$2; shift 2
  "${mpirun[@]}" -np 1 "$inna" --no-progress "$config" "${common[@]}" --set run.out="$work/$name" \
    --set train.steps="$steps" "$@" > "$work/$name.log" 2>&1 || { tail -3 "$work/$name.log"; return 1; }
  hash_of "$work/$name.log"
}

# same_hash WHAT LOG REF: the run that wrote LOG printed the hash REF.
same_hash() {
  local got
  got=$(hash_of "$2")
  if [ -n "$3" ] && [ "$got" = "$3" ]; then echo "ok   $1: $got"
  else fail "$1: hash '$got', expected '$3': $(tail -3 "$2")"; fi
}

# check_exit JOBID CODE LOG: the job's ExitCode is CODE:0.
check_exit() {
  local code
  code=$(field "$1" ExitCode)
  [ "$code" = "$2:0" ] || fail "job $1: ExitCode '$code', expected $2:0: $(tail -3 "$3")"
}

# a. to completion: 2 ranks x 1 worker, and 1 rank x 2 workers.
check_complete() {
  local steps=40 ref id
  ref=$(direct a-ref $steps) || fail "direct run: $ref"
  id=$(submit "$work/a.out" --nodes=1 --ntasks-per-node=2 launch/slurm.sbatch "$config" "${common[@]}" \
         --set run.out="$work/a" --set train.steps=$steps) || { fail "sbatch refused the job"; return; }
  wait_job "$id" && check_exit "$id" 0 "$work/a.out"
  grep -q '^inna .*: 2 rank(s)' "$work/a.out" && grep -q '^threads: 1 worker(s) per rank' "$work/a.out" ||
    fail "a: not 2 ranks x 1 worker: $(grep -E '^inna |^threads' "$work/a.out")"
  same_hash "sbatch --ntasks-per-node=2 ($steps steps) = mpirun -np 1" "$work/a.out" "$ref"
  id=$(submit "$work/a2.out" --nodes=1 --ntasks-per-node=1 --cpus-per-task=2 launch/slurm.sbatch \
         "$config" "${common[@]}" --set run.out="$work/a2" --set train.steps=$steps) ||
    { fail "sbatch refused the job"; return; }
  wait_job "$id" && check_exit "$id" 0 "$work/a2.out"
  grep -q '^inna .*: 1 rank(s)' "$work/a2.out" && grep -q '^threads: 2 worker(s) per rank' "$work/a2.out" ||
    fail "a2: not 1 rank x 2 workers: $(grep -E '^inna |^threads' "$work/a2.out")"
  same_hash "sbatch --cpus-per-task=2 ($steps steps) = mpirun -np 1" "$work/a2.out" "$ref"
}

# wait_file FILE JOBID SECONDS: until FILE exists; 1 when the job ends first or time runs out.
wait_file() {
  local states
  for _ in $(seq $(($3 * 10))); do
    [ -e "$1" ] && return 0
    states=$(field "$2" JobState)
    [ -n "$states" ] && ! grep -qE 'PENDING|CONFIGURING|RUNNING' <<< "$states" && return 1
    sleep 0.1
  done
  return 1
}

# latest_step DIR: the step of DIR/latest.h5.
latest_step() { readlink "$1/latest.h5" | sed 's/^ckpt-0*\([0-9][0-9]*\)\.h5$/\1/'; }

# b. USR1 to the batch script once a checkpoint exists, then the same
#    command again.  The first checkpoint comes at step 50 of 1200: the
#    signal arrives seconds before the end, even on a fast engine.
check_preempt() {
  local steps=1200 run=$work/b id stopped args
  args=(--nodes=1 --ntasks-per-node=2 launch/slurm.sbatch "$config" "${common[@]}" --set run.out="$run"
        --set train.steps="$steps" --set checkpoint.every=50)
  id=$(submit "$work/b1.out" "${args[@]}") || { fail "sbatch refused the job"; return; }
  wait_file "$run/latest.h5" "$id" 30 || { fail "b: no checkpoint: $(tail -3 "$work/b1.out")"; scancel "$id"; return; }
  scancel --signal=USR1 --batch "$id" || fail "scancel --signal=USR1 --batch $id"
  # mpirun waits 2 x odls_base_sigkill_timeout (10 s) after a rank's non-zero exit.
  wait_job "$id" || return
  check_exit "$id" 5 "$work/b1.out"
  stopped=$(sed -n 's/^inna: stopped by a signal after step \([0-9]*\);.*/\1/p' "$work/b1.out")
  if grep -q '^slurm.sbatch: stopped by a signal .*(exit 5)' "$work/b1.out" && [ -n "$stopped" ] &&
     [ "$stopped" -lt $steps ] && [ "$(latest_step "$run")" = "$stopped" ]; then
    echo "ok   scancel --signal=USR1 --batch: stopped after step $stopped, checkpoint written, ExitCode 5:0"
  else
    fail "b: stop '$stopped', latest $(readlink "$run/latest.h5"): $(tail -3 "$work/b1.out")"
  fi
  id=$(submit "$work/b2.out" "${args[@]}") || { fail "sbatch refused the second job"; return; }
  wait_job "$id" 120 && check_exit "$id" 0 "$work/b2.out"
  grep -q "^slurm.sbatch: .*continuing the run (--resume $run)" "$work/b2.out" &&
    grep -q "^resumed from .* at step $stopped " "$work/b2.out" ||
    fail "b: the second job did not resume from step $stopped: $(grep -E '^slurm.sbatch|^resumed' "$work/b2.out")"
  same_hash "the same sbatch again resumed from step $stopped to $steps = uninterrupted" "$work/b2.out" \
    "$(direct b-ref $steps --set checkpoint.every=50)"
}

# c. a job array: two seeds, each run to completion with its own hash.
check_array() {
  local steps=30 id t h seeds=(11 12)
  id=$(submit "$work/c-%a.out" --array=0-1 --ntasks=1 tests/slurm_array.sh "$config" "$work/c" 11 \
         "${common[@]}" --set train.steps=$steps) || { fail "sbatch --array refused"; return; }
  wait_job "$id" || return
  [ "$(field "$id" ExitCode | sort -u)" = "0:0" ] && [ "$(field "$id" JobState | sort | uniq -c | awk '{print $1, $2}')" = "2 COMPLETED" ] ||
    fail "c: array tasks: $(field "$id" JobState | tr '\n' ' ') exit $(field "$id" ExitCode | tr '\n' ' ')"
  for t in 0 1; do
    same_hash "array task $t (seed ${seeds[t]}) = the same run alone" "$work/c-$t.out" \
      "$(direct "c-ref$t" $steps --set run.seed="${seeds[t]}")"
  done
  h=$(cat "$work"/c-[01].out | sed -n 's/^parameters: crc32 \([0-9a-f]*\) after .*/\1/p' | sort -u | wc -l)
  [ "$h" = 2 ] || fail "c: the two seeds gave $h distinct hash(es)"
}

# d. a config error: exit 2 and inna's one line, nothing started.
check_refused() {
  local id
  id=$(submit "$work/d.out" --ntasks=1 launch/slurm.sbatch "$config" --set run.out="$work/d" \
         --set train.nope=1) || { fail "sbatch refused the job"; return; }
  wait_job "$id" && check_exit "$id" 2 "$work/d.out"
  if grep -q "^inna: .*train.nope" "$work/d.out" && [ ! -e "$work/d" ] &&
     grep -q '^slurm.sbatch: the config was refused (exit 2)' "$work/d.out"; then
    echo "ok   a bad --set: job exit 2, $(grep '^inna' "$work/d.out")"
  else fail "d: $(cat "$work/d.out")"; fi
}

ensure_slurm
trap stop_cluster EXIT
trap 'exit 1' INT TERM
t0=$SECONDS
"$src/launch/slurm-local.sh" start "$cluster" ||
  { echo "FAIL: the SLURM daemons did not start (see the line above and $cluster/*.log)"; exit 1; }
export SLURM_CONF=$cluster/slurm.conf
# The jobs use this build's inna (sbatch exports the environment).
INNA_BUILD=$(dirname "$inna")
export INNA_BUILD
echo "ok   munged, slurmctld, slurmd up in $((SECONDS - t0)) s: $(sinfo -h -o '%P %T %c CPUs on %N')"

check_complete
check_preempt
check_array
check_refused

# Stop by PIDs here (the trap would too) to check that nothing outlives the test.
pids=$(cat "$cluster/slurmctld.pid" "$cluster/slurmd.pid" "$cluster/munge/munged.pid" 2>/dev/null | tr '\n' ' ')
stop_cluster
for p in $pids; do kill -0 "$p" 2>/dev/null && fail "daemon $p still running after stop"; done
# Nor any rank of the jobs (their command lines name their run folders here).
left=$(pgrep -f -- "$work/" | tr '\n' ' ')
[ -z "$left" ] || fail "processes of the jobs still running: $left"
echo "ok   daemons ($pids) stopped; $((SECONDS - t0)) s in all"
finish
