#!/usr/bin/env bash
# Installs what is missing, builds, and trains.  With no arguments: NiN with
# INNA on Fashion-MNIST over all local cores.
#   launch/train.sh [CONFIG.ini] [inna options, e.g. --set optim.lr=0.02]
# NP=4 sets the number of ranks (default: the number of cores).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
inna_install_deps
inna_build
config=$INNA_ROOT/configs/nin-fashion-mnist.ini
if [ $# -gt 0 ] && [[ $1 != -* ]]; then config=$1; shift; fi
cd "$INNA_ROOT"
progress=--no-progress
[ -t 1 ] && progress=--progress
# A run folder that already holds this run (killed, or finished) is continued,
# not overwritten: the second call finishes the first one's work, or, when it
# is done, only writes its model again.  (Not when run.out is overridden.)
out=$(sed -n 's/^[[:space:]]*out[[:space:]]*=[[:space:]]*//p' "$config" | tail -1)
resume=()
if [ -n "$out" ] && [ -e "$out/latest.h5" ] && [[ " $* " != *run.out* ]]; then
  echo "train.sh: $out holds this run already: continuing it (--resume $out)"
  resume=(--resume "$out")
fi
inna_mpirun "${NP:-$(nproc)}" "$INNA_BUILD/inna" "$progress" "${resume[@]}" "$config" "$@"
