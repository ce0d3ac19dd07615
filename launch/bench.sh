#!/usr/bin/env bash
# Installs what is missing, builds, and benchmarks the training step with
# inna-bench (NiN on 1x28x28 and 3x32x32 input at batch 32 and 128 unless the
# options say otherwise): one rank with one BLAS thread per core, then one rank
# per core with one thread each; then all of it again with OPENBLAS_CORETYPE
# unset if the environment sets it (set to Haswell if it does not), so the
# figures are reported with both BLAS kernels.  The output is also written to
# results/bench/bench-<date>.txt.
#   launch/bench.sh [inna-bench options, e.g. --steps 5 --batch 32]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
inna_install_deps
inna_build
cd "$INNA_ROOT"
bench=$INNA_BUILD/inna-bench
cores=$(nproc)
mkdir -p results/bench
out=results/bench/bench-$(date +%Y-%m-%d-%H%M%S).txt

# Both layouts of the cores: threads inside one rank (not bound to one core,
# or its threads would share it), then ranks.
bench_both_layouts() {
  echo "### 1 rank x $cores BLAS thread(s), OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}"
  OPENBLAS_NUM_THREADS=$cores inna_mpirun 1 --bind-to none "$bench" "$@"
  if [ "$cores" -gt 1 ]; then
    echo
    echo "### $cores ranks x 1 BLAS thread, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}"
    OPENBLAS_NUM_THREADS=1 inna_mpirun "$cores" "$bench" "$@"
  fi
}

# As the environment has it, then with the other kernel choice.
bench_both_kernels() {
  echo "# inna-bench, $(date -Is), $(hostname), $cores core(s): $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p')"
  echo "# commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (uncommitted changes)')"
  echo
  bench_both_layouts "$@"
  echo
  if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
    (unset OPENBLAS_CORETYPE; bench_both_layouts "$@")
  else
    (export OPENBLAS_CORETYPE=Haswell; bench_both_layouts "$@")
  fi
}

bench_both_kernels "$@" 2>&1 | tee "$out"
inna_say "written: $out"
