#!/usr/bin/env bash
# A SLURM job array of inna runs, one run per array task: task i trains CONFIG
# with run.seed = SEED0 + i into OUT_BASE/seed-<SEED0 + i>.  Submit from the
# repository root (tests/slurm.sh does, against real daemons):
#   sbatch --array=0-1 --ntasks=1 tests/slurm_array.sh CONFIG OUT_BASE SEED0 [inna options]
#
# TODO(issue 10, item 6): this is a placeholder for the study array.
# launch/study.sh --slurm will reuse this pattern -- one run per array task,
# the task id picking the run's --set lines (here only the seed; there the
# study's expansion: arm, grid point, seed), then exec launch/slurm.sbatch --
# and submit the seeds' array after the search's with --dependency=afterok.
# Because each task execs launch/slurm.sbatch, it keeps that script's
# preemption handling (SIGUSR1 -> checkpoint, exit 5) and continues its own
# run folder when resubmitted or requeued.
#SBATCH --job-name=inna-array
#SBATCH --time=24:00:00
#SBATCH --signal=B:USR1@120
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: sbatch --array=0-N tests/slurm_array.sh CONFIG OUT_BASE SEED0 [inna options]" >&2; exit 2; }
config=$1 base=$2 seed=$(($3 + ${SLURM_ARRAY_TASK_ID:?not a SLURM array task}))
shift 3
# sbatch runs a copy of this script from its spool: find the repository by
# the submit folder, as launch/slurm.sbatch does.
cd "${SLURM_SUBMIT_DIR:-.}"
exec launch/slurm.sbatch "$config" --set run.seed="$seed" --set run.out="$base/seed-$seed" "$@"
