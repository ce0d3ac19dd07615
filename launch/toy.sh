#!/usr/bin/env bash
# Figure 1 of the paper: builds, runs inna-toy (arguments are passed on, e.g.
# --psi0 paper or --iterations 300000), then plots
# results/toy/trajectories.csv into results/toy/figure1.png.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
inna_install_deps
inna_build >/dev/null
cd "$INNA_ROOT"
mkdir -p results/toy
"$INNA_BUILD/inna-toy" --out results/toy/trajectories.csv "$@"
py=$(inna_python)
case " $* " in
  *" paper "*) "$py" results/plot_toy.py --title "INNA on the toy, gamma=1e-4, paper psi0 (initial velocity -grad J)" ;;
  *) "$py" results/plot_toy.py ;;
esac
