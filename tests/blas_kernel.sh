#!/usr/bin/env bash
# blas_kernel.sh INNA CONFIG WORKDIR MPIRUN...: the right OpenBLAS kernel by
# itself.  The library's fallback is forced for real (OPENBLAS_CORETYPE=
# Prescott, marked by INNA_TEST_FORCE_FALLBACK as the library's own choice):
# inna must switch to the kernel of this CPU's instruction set, say so, and
# compute what a run with that kernel set by hand computes -- without mpirun
# and under it.  A kernel the user sets is honoured, with a warning when it
# is weaker than the CPU's.
source "$(dirname "$0")/lib.sh"
inna=$1 config=$2 work=$3; shift 3
mpirun=("$@")
fresh "$work"
flags=$(grep -m1 '^flags' /proc/cpuinfo)
has() { [[ " $flags " == *" $1 "* ]]; }
if has avx512f && has avx512bw && has avx512dq && has avx512vl; then best=SkylakeX isa=AVX-512
elif has avx2 && has fma; then best=Haswell isa=AVX2
else echo "skipped: this CPU has neither AVX2 nor AVX-512, there is no better kernel to choose"; exit 77; fi
args=(--set train.steps=3)
# INNA_ENGINE=NAME: with run.engine = NAME (the kernel matters to openblas).
[ -n "${INNA_ENGINE:-}" ] && args+=(--set run.engine="$INNA_ENGINE")
run() {   # run NAME [launcher...]
  local name=$1; shift
  OPENBLAS_CORETYPE=$best "$inna" "$config" "${args[@]}" --set run.out="$work/$name-ref" > "$work/$name-ref.log" 2>&1
  OPENBLAS_CORETYPE=Prescott INNA_TEST_FORCE_FALLBACK=1 "$@" "$inna" "$config" "${args[@]}" \
    --set run.out="$work/$name" > "$work/$name.log" 2>&1 || { fail "$name: $(tail -2 "$work/$name.log")"; return; }
  local want="BLAS: OpenBLAS $best kernel (set by inna: OpenBLAS fell back to its Prescott kernel on this CPU, which has $isa)"
  if ! grep -qxF "$want" "$work/$name.log"; then fail "$name: no line '$want': $(grep BLAS "$work/$name.log")"
  elif [ -z "$(hash_of "$work/$name.log")" ] || [ "$(hash_of "$work/$name.log")" != "$(hash_of "$work/$name-ref.log")" ]; then
    fail "$name: $(hash_of "$work/$name.log") differs from OPENBLAS_CORETYPE=$best by hand: $(hash_of "$work/$name-ref.log")"
  else echo "ok   $name: $want; hash $(hash_of "$work/$name.log") as with $best set by hand"; fi
}
run plain
run mpirun "${mpirun[@]}" -x OPENBLAS_CORETYPE -x INNA_TEST_FORCE_FALLBACK -np 2
# The user's choice stands, with a warning.
OPENBLAS_CORETYPE=Prescott "$inna" "$config" "${args[@]}" --set run.out="$work/user" > "$work/user.log" 2>&1 \
  || fail "user kernel: $(tail -2 "$work/user.log")"
if grep -qx 'BLAS: OpenBLAS Prescott kernel (OPENBLAS_CORETYPE)' "$work/user.log" &&
   grep -q "^warning: the Prescott kernel is weaker than this CPU's ($best)" "$work/user.log"
then echo "ok   OPENBLAS_CORETYPE=Prescott set by the user is honoured, with a warning"
else fail "user kernel: $(grep -A1 '^BLAS' "$work/user.log")"; fi
finish
