#!/usr/bin/env bash
# slurm.sh INNA CONFIG WORKDIR SOURCE_DIR PYTHON MPIRUN...
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
#   c. `sbatch --array=0-2 launch/slurm.sbatch --plan PLAN`, one run per
#      task: two seeds, each to completion with the hash of the same run
#      alone (in its folder's inna.log), and a run that diverges: marked
#      study-diverged, the task exit 0;
#   d. a bad --set: the job exits 2 with inna's one-line error, before mpirun;
#   e. launch/study.sh --slurm on configs/studies/tiny.ini (2 arms x 2 step
#      sizes searched on 1 epoch, seeds 3 and 4 x 4 epochs of each winner):
#      the search as a job array of 4, a select job afterok on it, the final
#      runs as a second array of 4, a report job; when the queue is empty,
#      tests/study_check.py (each run completed exactly once, the winner the
#      lowest search loss, summary.csv and selection.csv agree), the jobs
#      (arrays, the dependency, the order), the outputs; the same command
#      again submits nothing; a bad study file with --slurm: exit 2, one
#      line, no job.  Skipped (with a line saying so) when PYTHON is empty.
# The daemons are stopped by their PIDs at the end, also on failure (trap).
# Where they cannot start the test fails, naming the reason.
source "$(dirname "$0")/lib.sh"
inna=$1 config=$2 work=$3 src=$4 py=$5; shift 5
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

# c. a job array of slurm.sbatch --plan: two seeds, each run to completion
#    with its own hash, and a run that diverges (marked, task exit 0).
check_array() {
  local steps=30 id t h seeds=(11 12) plan=$work/c.plan
  : > "$plan"
  for t in 0 1; do   # NAME<TAB>ARGS, the arguments quoted for the shell
    printf 'seed-%s\t%s\n' "${seeds[t]}" "$(printf '%q ' "$config" "${common[@]}" --set train.steps=$steps \
      --set run.seed="${seeds[t]}" --set run.out="$work/c/seed-${seeds[t]}")" >> "$plan"
  done
  printf 'diverges\t%s\n' "$(printf '%q ' "$config" --set optim.lr=1e30 --set train.steps=$steps \
    --set run.out="$work/c/diverges")" >> "$plan"
  id=$(submit "$work/c-%a.out" --array=0-2 --ntasks=1 launch/slurm.sbatch --plan "$plan") ||
    { fail "sbatch --array refused"; return; }
  wait_job "$id" || return
  [ "$(field "$id" ExitCode | sort -u)" = "0:0" ] && [ "$(field "$id" JobState | sort | uniq -c | awk '{print $1, $2}')" = "3 COMPLETED" ] ||
    fail "c: array tasks: $(field "$id" JobState | tr '\n' ' ') exit $(field "$id" ExitCode | tr '\n' ' ')"
  for t in 0 1; do
    grep -q "^slurm.sbatch: job $id array task $t: seed-${seeds[t]}$" "$work/c-$t.out" ||
      fail "c: task $t did not say its run: $(head -2 "$work/c-$t.out")"
    same_hash "array task $t (seed ${seeds[t]}) = the same run alone" "$work/c/seed-${seeds[t]}/inna.log" \
      "$(direct "c-ref$t" $steps --set run.seed="${seeds[t]}")"
  done
  h=$(cat "$work"/c/seed-*/inna.log | sed -n 's/^parameters: crc32 \([0-9a-f]*\) after .*/\1/p' | sort -u | wc -l)
  [ "$h" = 2 ] || fail "c: the two seeds gave $h distinct hash(es)"
  if grep -q '^inna exit status 3: inna: diverged' "$work/c/diverges/study-diverged" 2>/dev/null &&
     grep -q '^slurm.sbatch: diverges diverged (inna exit 3)' "$work/c-2.out"; then
    echo "ok   array task 2 diverged: $work/c/diverges/study-diverged written, task exit 0"
  else
    fail "c: the diverging run: $(cat "$work/c/diverges/study-diverged" 2>&1) $(tail -2 "$work/c-2.out")"
  fi
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

# jobs_known: how many jobs scontrol knows (pending, running, or ended a
# short while ago: MinJobAge, 300 s by default).
jobs_known() { scontrol show job -o 2>/dev/null | grep -c '^JobId=' || true; }

# wait_queue SECONDS: until the queue is empty; on timeout 1, with the queue.
wait_queue() {
  local q=""
  for _ in $(seq $(($1 * 2))); do
    q=$(squeue -h -o '%i %j %T %r' 2>/dev/null) || q="squeue failed"
    [ -z "$q" ] && return 0
    sleep 0.5
  done
  fail "e: jobs still queued after $1 s: $(tr '\n' ';' <<< "$q"); outputs in $work/e/slurm"
  return 1
}

# e. the study on SLURM.
check_study() {
  [ -n "$py" ] || { echo "skip e: no Python with h5py and matplotlib (INNA_PYTHON): launch/study.sh --slurm not tested"; return; }
  local out=$work/e study=$src/configs/studies/tiny.ini search select final report t ends start n
  local cmd=("$src/launch/study.sh" --slurm "$study" --inna "$inna" --np 1 --out "$out")
  INNA_PYTHON=$py "${cmd[@]}" > "$work/e.log" 2>&1 || { fail "e: study.sh --slurm: $(cat "$work/e.log")"; return; }
  cat "$work/e.log"
  search=$(sed -n 's/^study: search: job array \([0-9]*\), 4 run(s).*/\1/p' "$work/e.log")
  select=$(sed -n 's/.* then job \([0-9]*\) (afterok:'"$search"').*/\1/p' "$work/e.log")
  [ -n "$search" ] && [ -n "$select" ] || { fail "e: no search array and select job in the output"; return; }
  # Read at once, while the search runs: the select job waits for the whole array.
  t=$(field "$select" Dependency)
  [[ $t == "afterok:${search}_*"* ]] && echo "ok   select job $select: Dependency=$t" ||
    fail "e: select job $select: Dependency '$t', want afterok:${search}_*"
  wait_queue 150 || return
  read -r final report < <(sed -n 's/^.* slurm: job '"$select"': final array \([0-9]*\) (4 runs.*report job \([0-9]*\) afterany:.*/\1 \2/p' \
                           "$out/study.log")
  [ -n "$final" ] && [ -n "$report" ] || { fail "e: study.log names no final array and report job: $(cat "$out/study.log")"; return; }
  for t in "$search" "$final"; do   # arrays: one record per task, each with the array's id
    n=$(scontrol show job -o "$t" | grep -c "ArrayJobId=$t ArrayTaskId=[0-3] .*JobState=COMPLETED .*ExitCode=0:0")
    [ "$n" = 4 ] && echo "ok   job $t: an array of 4 tasks, all COMPLETED 0:0" ||
      fail "e: job $t: $n array tasks completed, want 4: $(field "$t" JobState | tr '\n' ' ')"
  done
  for t in "$select" "$report"; do check_exit "$t" 0 "$out/slurm/$([ "$t" = "$select" ] && echo select || echo report)-$t.out"; done
  # The order the dependencies make: the select job started after every search task ended.
  ends=$(field "$search" EndTime | sort | tail -1)
  start=$(field "$select" StartTime)
  [[ ! $start < $ends ]] && echo "ok   select started $start, after the last search task ended ($ends)" ||
    fail "e: select job started $start, before the search ended ($ends)"
  for d in "$out"/search-*/; do
    grep -q "^== slurm.sbatch: job $search array task" "$d/inna.log" || fail "e: $d: not run by the search array"
  done
  for d in "$out"/final-*/; do
    grep -q "^== slurm.sbatch: job $final array task" "$d/inna.log" || fail "e: $d: not run by the final array"
  done
  "$py" "$src/tests/study_check.py" "$out" || fail "e: study_check.py"
  for t in summary.csv selection.csv results.md figures/final.png figures/search-inna.png figures/search-sgd.png; do
    [ -s "$out/$t" ] || fail "e: no $t in the study folder (report job $report: $(tail -2 "$out/slurm/report-$report.out"))"
  done
  # Again: everything is done, nothing is submitted.
  n=$(jobs_known)
  INNA_PYTHON=$py "${cmd[@]}" > "$work/e2.log" 2>&1 && grep -q ': 8 of 8 runs done' "$work/e2.log" &&
    [ "$(jobs_known)" = "$n" ] && echo "ok   the same command again: $(tail -1 "$work/e2.log")" ||
    fail "e: the same command again: $(cat "$work/e2.log") ($n jobs known before, $(jobs_known) after)"
  # A bad study file: refused before sbatch.
  sed 's/^optim.lr = 0.01, 0.1$/optim.lr = 0.01, -1/' "$study" > "$work/e-bad.ini"
  sed -i "s|^base = .*|base = $src/configs/tiny.ini|" "$work/e-bad.ini"
  INNA_PYTHON=$py "$src/launch/study.sh" --slurm "$work/e-bad.ini" --inna "$inna" --out "$work/e-bad" \
    > "$work/e-bad.out" 2> "$work/e-bad.err"
  t=$?
  if [ "$t" = 2 ] && [ "$(wc -l < "$work/e-bad.err")" = 1 ] && grep -q '^study: .*e-bad.ini.*optim.lr' "$work/e-bad.err" &&
     [ "$(jobs_known)" = "$n" ] && [ ! -e "$work/e-bad" ]; then
    echo "ok   a bad study file with --slurm: exit 2, nothing submitted: $(cat "$work/e-bad.err")"
  else
    fail "e: bad study file: exit $t, stderr '$(cat "$work/e-bad.err")', $(jobs_known) jobs known (was $n)"
  fi
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
check_study

# Stop by PIDs here (the trap would too) to check that nothing outlives the test.
pids=$(cat "$cluster/slurmctld.pid" "$cluster/slurmd.pid" "$cluster/munge/munged.pid" 2>/dev/null | tr '\n' ' ')
stop_cluster
for p in $pids; do kill -0 "$p" 2>/dev/null && fail "daemon $p still running after stop"; done
# Nor any rank of the jobs (their command lines name their run folders here).
left=$(pgrep -f -- "$work/" | tr '\n' ' ')
[ -z "$left" ] || fail "processes of the jobs still running: $left"
echo "ok   daemons ($pids) stopped; $((SECONDS - t0)) s in all"
finish
