#!/usr/bin/env bash
# Runs a study: the INNA paper's protocol (grid search of a key per curve,
# then every seed of each winner) from a study file in configs/studies/.
#   launch/study.sh STUDY.ini [--set KEY=VALUE ...] [--np N] [--out DIR] [--inna PATH]
#   launch/study.sh --slurm STUDY.ini [same options] [-- SBATCH OPTIONS ...]
# --np: MPI ranks per run (default: the cores; the runs go one after another);
# --out: the study folder (default: studies/<study name> under the current
# folder); --inna: that program, not built (default: build inna first).
# Running it again skips finished runs, resumes interrupted ones and redoes
# nothing.  Exit status: 0 all done, 1 a run failed or a curve could not be
# selected, 2 bad input or the study folder in use, 5 stopped by a signal.
# --slurm: submit the runs to SLURM as job arrays instead (one run per array
# task through launch/slurm.sbatch; the final runs' array is submitted by a
# job that waits for the search's: inna_study.py cmd_submit says why), then
# return; --np N is then each task's ranks (sbatch --ntasks, default 1), and
# the options after -- go to every sbatch (partition, time, --cpus-per-task).
# Exit status: 0 submitted, 1 sbatch refused a job, 2 bad input (before
# anything is submitted) or no sbatch.
# The work is done by src/python/inna_study.py (`plan` lists the runs).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
usage="usage: launch/study.sh [--slurm] STUDY.ini [--set KEY=VALUE ...] [--np N] [--out DIR] [--inna PATH] [-- SBATCH OPTIONS]"
study="" inna="" args=() command=run
while [ $# -gt 0 ]; do
  case $1 in
    --slurm) command=submit; shift ;;
    --) [ $command = submit ] || { echo "study: options after -- are sbatch's: only with --slurm ($usage)" >&2; exit 2; }
        shift
        for o in "$@"; do args+=("--sbatch=$o"); done
        break ;;
    --set|--np|--out)
      [ $# -ge 2 ] || { echo "study: $1 needs a value ($usage)" >&2; exit 2; }
      [ "$1" != --np ] || [[ $2 =~ ^[1-9][0-9]*$ ]] || { echo "study: --np $2: not a number of ranks" >&2; exit 2; }
      args+=("$1" "$2"); shift 2 ;;
    --inna)
      [ $# -ge 2 ] || { echo "study: --inna needs a value ($usage)" >&2; exit 2; }
      inna=$2; shift 2 ;;
    -h|--help) echo "$usage"; exit 0 ;;
    -*) echo "study: unknown option $1 ($usage)" >&2; exit 2 ;;
    *) [ -z "$study" ] || { echo "study: two study files: $study and $1 ($usage)" >&2; exit 2; }
       study=$1; shift ;;
  esac
done
[ -n "$study" ] || { echo "study: no study file ($usage)" >&2; exit 2; }
[ -f "$study" ] || { echo "study: $study: no such file" >&2; exit 2; }
py=$(inna_python) || exit 2
if [ -z "$inna" ]; then
  inna_build > /dev/null || { echo "study: the build failed (cmake --build $INNA_BUILD)" >&2; exit 1; }
  inna=$INNA_BUILD/inna
fi
[ -x "$inna" ] || { echo "study: $inna: not a program" >&2; exit 2; }
# exec: the study process is this one, so a signal to it reaches the runner.
exec "$py" "$INNA_ROOT/src/python/inna_study.py" "$command" "$study" --inna "$inna" "${args[@]}"
