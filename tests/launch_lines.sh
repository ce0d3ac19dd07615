#!/usr/bin/env bash
# launch_lines.sh INNA CONFIG WORKDIR MPIRUN...
# Every way the README starts a run gives the same bits (exact reduction):
# one rank without mpirun; mpirun -np 1, 2 and 3 with mpirun's own binding (3
# oversubscribed on a 2-core machine, as the README says to); run.threads = 1,
# 2 and 3 -- each with the BLAS and OpenMP thread variables unset, and set to
# 2 and 3; the whole matrix once with OPENBLAS_CORETYPE as the environment
# has it and once unset (two kernels may differ from each other, never within
# one).  Then a resume on another ranks x threads layout reaches the same
# bits.  The config (NiN: GEMMs large enough for OpenBLAS to thread them when
# allowed) has dropout and augmentation on and splits unevenly (batch 10 in 5
# chunks of 2).  Environment: INNA_ENGINE=NAME computes with run.engine =
# NAME; INNA_CORETYPES lists the OPENBLAS_CORETYPE cases (default
# "environment unset"; oneDNN does not read the variable: one case is enough).
source "$(dirname "$0")/lib.sh"
inna=$1 config=$2 work=$3; shift 3
mpirun=("$@")
fresh "$work"
cores=$(nproc)
args=(--set train.batch=10 --set dist.chunk=2 --set net.dropout=0.3 --set data.augment=true
      --set run.check_every=1 --set data.train_limit=200 --set data.test_limit=100)
[ -n "${INNA_ENGINE:-}" ] && args+=(--set run.engine="$INNA_ENGINE")

# launch LAYOUT: the command line of one launch layout.
launch() {
  case $1 in
    plain) echo "$inna" ;;
    np*) local np=${1#np} extra=""
         [ "$np" -gt "$cores" ] && extra=--oversubscribe
         echo "${mpirun[*]} $extra -np $np $inna" ;;
    threads*) echo "$inna --set run.threads=${1#threads}" ;;
  esac
}

# one CORETYPE VARS LAYOUT: 4 steps; prints the hash.
one() {
  local coretype=$1 vars=$2 layout=$3 dir=$work/$1-$2-$3 env=(env -u OPENBLAS_NUM_THREADS -u OMP_NUM_THREADS)
  [ "$coretype" = unset ] && env+=(-u OPENBLAS_CORETYPE)
  [ "$vars" = set ] && env+=(OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=3)
  # shellcheck disable=SC2046  # the launch line is several words on purpose
  "${env[@]}" $(launch "$layout") "$config" "${args[@]}" --set run.out="$dir" --set train.steps=4 \
    > "$dir.log" 2>&1 || { cat "$dir.log" >&2; return 1; }
  hash_of "$dir.log"
}

for coretype in ${INNA_CORETYPES:-environment unset}; do
  ref=""
  for vars in unset set; do
    for layout in plain np1 np2 np3 threads1 threads2 threads3; do
      hash=$(one $coretype $vars $layout) || { fail "$coretype/$vars/$layout did not run"; continue; }
      echo "OPENBLAS_CORETYPE $coretype, thread variables $vars, $layout: $hash"
      [ -z "$ref" ] && ref=$hash
      [ -n "$hash" ] && [ "$hash" = "$ref" ] || fail "$coretype/$vars/$layout: $hash, not $ref"
    done
  done
  eval "ref_$coretype=\$ref"
done

# 2 steps as 2 ranks x 1 thread, resumed to 4 as 1 rank x 3 threads.
env -u OPENBLAS_NUM_THREADS "${mpirun[@]}" -np 2 "$inna" "$config" "${args[@]}" \
  --set run.out="$work/split" --set train.steps=2 > "$work/split1.log" 2>&1 || fail "split run"
OPENBLAS_NUM_THREADS=2 "$inna" --resume "$work/split" --set train.steps=4 --set run.threads=3 \
  > "$work/split2.log" 2>&1 || fail "resume as 1 x 3: $(tail -2 "$work/split2.log")"
got=$(hash_of "$work/split2.log")
# shellcheck disable=SC2154  # set by the eval above
[ "$got" = "$ref_environment" ] && echo "ok   2 steps on 2 x 1, resumed to 4 on 1 x 3: $got" \
  || fail "2 steps on 2 x 1 + resume on 1 x 3 gave '$got', 4 straight '$ref_environment'"

finish
