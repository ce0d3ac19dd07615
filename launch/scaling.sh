#!/usr/bin/env bash
# Scaling study: measures the real training step with inna-bench at several
# numbers of ranks -- strong scaling (the same global batch at every np) and
# weak scaling (global batch = per-rank batch x np) -- and MPI_Allreduce alone
# at message sizes of 8 B .. 64 MiB, then results/scaling.py writes everything
# to <out>/scaling.h5, fits a model (compute per sample and per chunk,
# allreduce latency and per-byte time, overlap) and predicts strong and weak
# scaling for 1 .. 4096 nodes on the network described by --bandwidth and
# --latency: <out>/strong.png, <out>/weak.png and a table on stdout
# (also <out>/summary.txt).  The raw inna-bench output stays in <out>/logs/.
#
#   launch/scaling.sh [--config FILE] [--nps "1 2 4"] [--batch 32] [--per-rank 16]
#                     [--steps 5] [--warmup 1] [--reduction exact,fast] [--chunk N]
#                     [--bandwidth 12.5] [--latency 1.5] [--max-nodes 4096]
#                     [--out results/scaling] [--model-only]
#
#   --bandwidth GB/s and --latency us describe the network of the prediction
#   (defaults: 100 Gb/s InfiniBand, 12.5 GB/s and 1.5 us).  --model-only
#   reuses the logs in <out>/logs and only reruns the model and plots.
#   --chunk sets dist.chunk (default: the config's); a global batch of B has
#   B/chunk chunks, the most ranks (x threads) that have work in exact mode.
#   Ranks use one BLAS thread each (OPENBLAS_NUM_THREADS=1); more ranks than
#   cores run oversubscribed, which the tables and plots mark.
#   INNA_BUILD selects the build folder (default build/).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

config=configs/nin-fashion-mnist.ini
nps="1 2 4"
batch=32
per_rank=16
steps=5
warmup=1
reduction=exact,fast
bandwidth=12.5
latency=1.5
max_nodes=4096
out=results/scaling
model_only=0
chunk=

die() { inna_say "scaling.sh: $*"; exit 2; }
need() { [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value"; }
while [ $# -gt 0 ]; do
  case $1 in
    --config) need "$@"; config=$2; shift 2 ;;
    --nps) need "$@"; nps=$2; shift 2 ;;
    --batch) need "$@"; batch=$2; shift 2 ;;
    --per-rank) need "$@"; per_rank=$2; shift 2 ;;
    --steps) need "$@"; steps=$2; shift 2 ;;
    --warmup) need "$@"; warmup=$2; shift 2 ;;
    --reduction) need "$@"; reduction=$2; shift 2 ;;
    --bandwidth) need "$@"; bandwidth=$2; shift 2 ;;
    --latency) need "$@"; latency=$2; shift 2 ;;
    --max-nodes) need "$@"; max_nodes=$2; shift 2 ;;
    --out) need "$@"; out=$2; shift 2 ;;
    --chunk) need "$@"; chunk=$2; shift 2 ;;
    --model-only) model_only=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
for n in $nps; do [[ $n =~ ^[1-9][0-9]*$ ]] || die "--nps: '$n' is not a number of ranks"; done
for v in "$batch" "$per_rank" "$steps" "$max_nodes"; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || die "'$v' is not a positive integer"
done
[[ $warmup =~ ^[0-9]+$ ]] || die "--warmup: '$warmup' is not an integer >= 0"
[ -z "$chunk" ] || [[ $chunk =~ ^[1-9][0-9]*$ ]] || die "--chunk: '$chunk' is not a positive integer"
[[ $nps =~ (^|[[:space:]])1($|[[:space:]]) ]] || die "--nps must include 1 (the model's compute comes from np = 1)"

cd "$INNA_ROOT"
[ -r "$config" ] || die "--config: cannot read '$config'"
python=$(inna_python) || exit 1
logs=$out/logs
mkdir -p "$logs"

if [ $model_only = 0 ]; then
  inna_install_deps
  inna_build
  bench=$INNA_BUILD/inna-bench
  # The model (results/scaling.py) is of the exact sum's allreduces of 16-byte
  # sums, which carry to any number of nodes; dist.gather = 0 keeps every run
  # on that way (the gathered one, the default for B_k of few chunks, moves
  # each chunk's floats to every rank: the same bits, another cost).
  extra=(--threads 1 --set dist.gather=0)
  [ -z "$chunk" ] || extra+=(--set "dist.chunk=$chunk")
  rm -f "$logs"/*.log
  export OPENBLAS_NUM_THREADS=1
  {
    echo "# scaling.sh, $(date -Is), $(hostname), $(nproc) core(s): $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p')"
    echo "# commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (uncommitted changes)')"
    echo "# config=$config nps=\"$nps\" batch=$batch per_rank=$per_rank steps=$steps warmup=$warmup reduction=$reduction chunk=${chunk:-config}"
    echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  } > "$logs/run-info.txt"
  for np in $nps; do
    inna_say "np=$np: strong scaling (global batch $batch)"
    inna_mpirun "$np" "$bench" --config "$config" --batch "$batch" --reduction "$reduction" \
      --steps "$steps" --warmup "$warmup" "${extra[@]}" > "$logs/strong-np$np.log"
    inna_say "np=$np: weak scaling (global batch $((per_rank * np)))"
    inna_mpirun "$np" "$bench" --config "$config" --batch "$((per_rank * np))" --reduction "$reduction" \
      --steps "$steps" --warmup "$warmup" "${extra[@]}" > "$logs/weak-np$np.log"
    if [ "$np" -gt 1 ]; then
      inna_say "np=$np: MPI_Allreduce sweep"
      inna_mpirun "$np" "$bench" --allreduce-sweep --sweep-type fixed128,float > "$logs/sweep-np$np.log"
    fi
  done
  echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$logs/run-info.txt"
fi

"$python" results/scaling.py --logs "$logs" --out "$out" --config "$config" \
  --bandwidth "$bandwidth" --latency "$latency" --max-nodes "$max_nodes" | tee "$out/summary.txt"
inna_say "written: $out/scaling.h5 $out/strong.png $out/weak.png $out/summary.txt (logs in $logs)"
