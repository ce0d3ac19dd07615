#!/usr/bin/env bash
# Installs what is missing, builds, and benchmarks the real training step with
# inna-bench (NiN on 1x28x28 and 3x32x32 input at batch 32 and 128, reduction
# exact and fast, unless the options say otherwise) in three layouts of the
# cores: one rank with one thread per core (run.threads: exact runs that many
# workers on whole chunks with one BLAS thread each, fast that many BLAS
# threads), one rank per core with one thread each, and twice as many ranks as
# cores (oversubscribed: the ranks time-share the cores, which the output
# says); then all of it again with OPENBLAS_CORETYPE unset if the environment
# sets it (set to Haswell if it does not), so the figures are reported with
# both BLAS kernels.  The output is also written to
# results/bench/bench-<date>.txt; its BENCH and COMPARE lines are key=value
# records (see src/bench/report.c).
#   launch/bench.sh [inna-bench options, e.g. --steps 5 --batch 32 --rounds 3]
#   INNA_BUILD=/path/to/build launch/bench.sh    (build folder; default build/)
#   BENCH_LAYOUTS="threads ranks" launch/bench.sh (a subset of: threads ranks oversub)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
inna_install_deps
inna_build
cd "$INNA_ROOT"
bench=$INNA_BUILD/inna-bench
cores=$(nproc)
layouts=${BENCH_LAYOUTS:-threads ranks oversub}
mkdir -p results/bench
out=results/bench/bench-$(date +%Y-%m-%d-%H%M%S).txt

# The layouts of the cores: threads inside one rank (bound to all the cores),
# then ranks, then 2x more ranks than cores.
bench_layouts() {
  local kernel="OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}" first=1 layout
  for layout in $layouts; do
    [ $first = 1 ] || echo
    first=0
    case $layout in
      threads)
        echo "### 1 rank x $cores thread(s) (run.threads=$cores), $kernel"
        inna_mpirun 1 "$bench" --threads "$cores" "$@" ;;
      ranks)
        [ "$cores" -gt 1 ] || { echo "### $cores core: the ranks layout is the threads layout"; continue; }
        echo "### $cores ranks x 1 thread, $kernel"
        inna_mpirun "$cores" "$bench" --threads 1 "$@" ;;
      oversub)
        echo "### $((2 * cores)) ranks x 1 thread on $cores core(s): OVERSUBSCRIBED, the ranks" \
             "time-share the cores (step times measure that, not scaling), $kernel"
        inna_mpirun "$((2 * cores))" "$bench" --threads 1 "$@" ;;
      *) inna_say "BENCH_LAYOUTS: unknown layout '$layout' (threads, ranks, oversub)"; return 2 ;;
    esac
  done
}

# As the environment has it, then with the other kernel choice.
bench_both_kernels() {
  echo "# inna-bench, $(date -Is), $(hostname), $cores core(s): $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p')"
  echo "# commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (uncommitted changes)')"
  echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?') (other work on the cores skews the timings)"
  echo
  bench_layouts "$@"
  echo
  if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
    (unset OPENBLAS_CORETYPE; bench_layouts "$@")
  else
    (export OPENBLAS_CORETYPE=Haswell; bench_layouts "$@")
  fi
  echo
  echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
}

bench_both_kernels "$@" 2>&1 | tee "$out"
inna_say "written: $out"
