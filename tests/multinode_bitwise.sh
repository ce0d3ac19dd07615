#!/bin/sh
# multinode_bitwise.sh MULTINODE PYTHON TOL OUT INNA CONFIG MPIRUN...
# Trains CONFIG for 6 steps (batch 32, dropout as CONFIG says) with MULTINODE
# (launch/multinode.sh) on 3 simulated hosts x 1 rank and 2 hosts x 2 ranks, and
# with MPIRUN -np 1 and -np 3 on this host; then every model must match the
# 1-rank one within TOL (compare_models.py "same"), and 3 hosts x 1 rank must
# match the local 3 ranks exactly: going over TCP between hosts changes nothing.
# Exit 77 (skipped) when namespaces cannot be made here, or without h5py.
# INNA_ENGINE=NAME: with run.engine = NAME.
set -eu
mn=$1 py=$2 tol=$3 out=$4 inna=$5 config=$6
shift 6
compare=$(dirname "$0")/compare_models.py
[ "$py" != none ] || { echo "no Python with h5py: skipped"; exit 77; }
rm -rf "$out"
mkdir -p "$out"
train() { # NAME LAUNCHER...: the same 6 steps, model in $out/NAME
  name=$1
  shift
  "$@" "$inna" "$config" --set run.out="$out/$name" --set train.steps=6 \
    --set train.batch=32 --set run.check_every=1 ${INNA_ENGINE:+--set run.engine=$INNA_ENGINE} \
    >"$out/$name.log" 2>&1 || {
    rc=$?; cat "$out/$name.log"; [ "$rc" -eq 77 ] || echo "$name: exit status $rc"; exit "$rc"; }
}
# HOSTS RANKS: through multinode.sh; its job map names the hosts (inmnPID-N): every
# host must be in it, and no namespace of that run may be left once it is over.
multinode() {
  name=h$1x$2
  train "$name" "$mn" -H "$1" -n "$2" -t 120 -m rmaps_base_display_map=1 --
  tag=$(sed -n 's/.*Data for node: \(inmn[0-9]*\)-.*/\1/p' "$out/$name.log" | head -n 1)
  grep -q "Data for node: $tag-$1" "$out/$name.log" ||
    { cat "$out/$name.log"; echo "$name: host $1 not in the job map"; exit 1; }
  if ip netns list | grep "^$tag-"; then echo "$name: namespaces left behind"; exit 1; fi
}
multinode 3 1
multinode 2 2
train np1 "$@" -np 1
train np3 "$@" -np 3
# All three comparisons print their figure before the verdict.
fail=0
"$py" "$compare" "$out/np3/model.h5" "$out/h3x1/model.h5" same 0 || fail=1
for run in h3x1 h2x2; do
  "$py" "$compare" "$out/np1/model.h5" "$out/$run/model.h5" same "$tol" || fail=1
done
exit "$fail"
