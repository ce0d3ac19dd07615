#!/usr/bin/env bash
# engine_run.sh INNA CONFIG WORKDIR MPIRUN...: the engine a run computes with
# is printed and stored in its checkpoints; a resume on another engine works
# and warns; ranks that compute differently (another OpenBLAS kernel or
# oneDNN instruction set, i.e. a mixed cluster) are refused in exact mode,
# naming the ranks, before anything is written, and warned about in fast mode.
source "$(dirname "$0")/lib.sh"
inna=$1 config=$2 work=$3
shift 3
mpirun=("$@")
fresh "$work"
common=(--set train.steps=4 --set train.batch=8 --set dist.chunk=4 --set checkpoint.every=2)
have_onednn=0
"$inna" "$config" --set run.engine=onednn --set run.out="$work/probe" --set train.steps=0 \
  > "$work/probe.out" 2>&1 && have_onednn=1
engines=(openblas)
[ $have_onednn = 1 ] && engines+=(onednn)

# 1. The start names the engine and library; a checkpoint keeps it.
for e in "${engines[@]}"; do
  "${mpirun[@]}" -np 2 "$inna" "$config" "${common[@]}" --set run.engine="$e" \
    --set run.out="$work/$e" > "$work/$e.out" 2>&1 || fail "$e run: $(tail -2 "$work/$e.out")"
  line=$(grep '^engine: ' "$work/$e.out")
  case $e:$line in
    openblas:"engine: openblas (OpenBLAS "*", "*" kernel); im2col + sgemm"*) echo "ok   $line";;
    onednn:"engine: onednn (oneDNN "*", "*"); conv "*) echo "ok   $line";;
    *) fail "$e: engine line '$line'";;
  esac
done

# 2. Resume on the other engine: it runs, and says the bits part from here.
if [ $have_onednn = 1 ]; then
  for pair in openblas:onednn onednn:openblas; do
    from=${pair%:*} to=${pair#*:}
    cp -r "$work/$from" "$work/$from-to-$to"
    "${mpirun[@]}" -np 2 "$inna" --resume "$work/$from-to-$to" --set train.steps=6 \
      --set run.engine="$to" > "$work/$pair.out" 2>&1 || fail "$pair resume: $(tail -2 "$work/$pair.out")"
    if grep -q "^warning: the checkpoint was computed with $from (.*), this run computes with $to (" "$work/$pair.out" &&
       grep -q "^parameters: crc32 .* after 6 steps" "$work/$pair.out"
    then echo "ok   resume $from -> $to: $(grep '^warning: the checkpoint' "$work/$pair.out" | cut -c1-90)..."
    else fail "resume $from -> $to: no warning or no finish: $(grep -E '^(warning|parameters)' "$work/$pair.out")"; fi
    # Resuming on the same engine: no such warning.
  done
  cp -r "$work/onednn" "$work/onednn-again"
  "${mpirun[@]}" -np 2 "$inna" --resume "$work/onednn-again" --set train.steps=6 > "$work/again.out" 2>&1 ||
    fail "same-engine resume: $(tail -2 "$work/again.out")"
  grep -q '^warning: the checkpoint was computed' "$work/again.out" &&
    fail "same-engine resume warned: $(grep '^warning' "$work/again.out")"
else
  echo "note: built without oneDNN: the cross-engine resume is not tested here"
fi

# 3. A mixed cluster, made here by giving rank 1 a weaker instruction set.
# mixed ENGINE REDUCTION NAME VAR=VALUE: rank 0 plain, rank 1 with VAR=VALUE.
mixed() {
  local engine=$1 reduction=$2 name=$3 env=$4
  "${mpirun[@]}" -np 1 "$inna" "$config" "${common[@]}" --set run.engine="$engine" \
      --set dist.reduction="$reduction" --set run.out="$work/$name" : \
    -np 1 env "$env" "$inna" "$config" "${common[@]}" --set run.engine="$engine" \
      --set dist.reduction="$reduction" --set run.out="$work/$name" > "$work/$name.out" 2> "$work/$name.err"
}
# refused NAME ENGINE VAR=VALUE
refused() {
  mixed "$2" exact "$1" "$3"
  local rc=$?
  if [ $rc != 2 ]; then fail "$1: exit $rc, expected 2: $(tail -2 "$work/$1.err")"
  elif [ "$(grep -c '^inna' "$work/$1.err")" != 1 ] ||
       ! grep -q "^inna: run.engine: rank 0 computes with $2 (.*) but rank(s) 1 with $2 (.*): a chunk's bits would depend on where it runs" "$work/$1.err"
  then fail "$1: $(cat "$work/$1.err")"
  elif [ -e "$work/$1" ]; then fail "$1: a run folder was written"
  else echo "ok   $1: $(cut -c1-150 "$work/$1.err")..."; fi
}
refused mixed-openblas openblas OPENBLAS_CORETYPE=Prescott
[ $have_onednn = 1 ] && refused mixed-onednn onednn ONEDNN_MAX_CPU_ISA=SSE41
if mixed openblas fast mixed-fast OPENBLAS_CORETYPE=Prescott &&
   grep -q "^warning: rank 0 computes with openblas (.*) but rank(s) 1 with" "$work/mixed-fast.out"
then echo "ok   fast mode: a warning, and the run went on"
else fail "fast mode mixed: $(cat "$work/mixed-fast.err") $(grep warning "$work/mixed-fast.out")"; fi
finish
