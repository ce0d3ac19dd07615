#!/bin/sh
# Figure 1 of the paper: builds inna-toy if needed, runs it (arguments are
# passed on, e.g. --psi0 paper or --iterations 300000), then plots
# results/toy/trajectories.csv into results/toy/figure1.png.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
[ -f build/CMakeCache.txt ] || cmake -S . -B build
cmake --build build -j --target inna-toy     # a no-op when up to date
mkdir -p results/toy
build/inna-toy --out results/toy/trajectories.csv "$@"

title=""
case " $* " in
    *" paper "*)
        title="INNA on the toy, gamma=1e-4, paper psi0 (initial velocity -grad J)" ;;
esac
PY=""
for cand in python3 /usr/bin/python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c "import matplotlib" >/dev/null 2>&1; then
        PY=$cand
        break
    fi
done
if [ -z "$PY" ]; then
    echo "toy.sh: no python with matplotlib (tried python3, /usr/bin/python3)" >&2
    exit 1
fi
if [ -n "$title" ]; then
    "$PY" results/plot_toy.py --title "$title"
else
    "$PY" results/plot_toy.py
fi
