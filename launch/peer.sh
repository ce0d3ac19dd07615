#!/usr/bin/env bash
# inna beside its peer, PyTorch, on the same machine: the training step of the
# same network (NiN on CIFAR-10 and on Fashion-MNIST by default) at the same
# batch size on the same number of cores, and both against the machine's FMA
# peak measured by inna-peak.
#
#   launch/peer.sh [--rounds N] [--batch B] [--np R] [--threads T]
#                  [--steps S] [--warmup W] [--reduction exact|fast]
#                  [--set KEY=VALUE]... [CONFIG...]
#
# Installs what is missing and builds (as the other launch scripts), prints the
# CPU model, runs inna-peak, then for each config alternates N rounds of
# inna-bench (R ranks x T threads through inna_mpirun, batch B, S timed steps
# after W untimed ones, one reduction) with N rounds of launch/peer_torch.py
# (PyTorch with R*T threads, the same batch and steps), so that other load
# touches both alike.  Reports per config the median images/s of each, their
# ratio, and inna's GFLOP/s (inna-bench's FLOP count per image times the
# median images/s) as a share of the AVX-512 FMA peak (AVX2 when the CPU has
# no AVX-512): the peak is measured at the start and again at the end, and the
# higher figure is used (on a shared host it moves with the neighbours' load).
# The end is a Markdown table to paste into the README.
# PyTorch runs with glibc's allocator told to keep freed memory (GLIBC_TUNABLES
# below, for its process only): otherwise page faults dominate its step.
# Without PyTorch (python3-torch) the peer column is skipped.
#   INNA_BUILD=/path/to/build launch/peer.sh   (build folder; default build/)
#   INNA_PYTHON=/path/to/python3 launch/peer.sh (an interpreter with torch, h5py)
# Exit status: 0 done, 2 bad usage, 1 anything else.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PEER_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736:glibc.malloc.top_pad=268435456

peer_usage() {
  cat <<'EOF'
usage: launch/peer.sh [options] [CONFIG...]

inna's training step (inna-bench) and PyTorch's (launch/peer_torch.py) on the
same network, batch and cores, alternating, with the FMA peak (inna-peak).
CONFIG: inna config files (default configs/nin-cifar10.ini configs/nin-fashion-mnist.ini).

options:
  --rounds N       rounds of each, alternating (default 3); medians are reported
  --batch B        global batch size (default 32)
  --np R           inna's MPI ranks (default 2)
  --threads T      inna's threads per rank, run.threads (default 1);
                   PyTorch gets R*T threads
  --steps S        timed steps per round (default 10)
  --warmup W       untimed steps before them (default 3)
  --reduction X    inna's dist.reduction: exact (default) or fast
  --set KEY=VALUE  config override for inna-bench, e.g. --set run.engine=openblas
                   (repeatable)
  -h, --help       this help
EOF
}

peer_bad() { inna_say "peer.sh: $* (launch/peer.sh --help)"; exit 2; }

rounds=3 batch=32 np=2 threads=1 steps=10 warmup=3 reduction=exact
configs=() sets=()
while [ $# -gt 0 ]; do
  case $1 in
    -h|--help) peer_usage; exit 0 ;;
    --rounds|--batch|--np|--threads|--steps|--warmup|--reduction|--set)
      [ $# -ge 2 ] || peer_bad "missing value after $1"
      opt=$1 val=$2; shift 2 ;;
    --rounds=*|--batch=*|--np=*|--threads=*|--steps=*|--warmup=*|--reduction=*|--set=*)
      opt=${1%%=*} val=${1#*=}; shift ;;
    --) shift; configs+=("$@"); break ;;
    -*) peer_bad "unknown option '$1'" ;;
    *) configs+=("$1"); shift; continue ;;
  esac
  case $opt in
    --set)
      [[ $val =~ ^[a-z_]+\.[a-z_0-9]+=. ]] || peer_bad "--set wants SECTION.KEY=VALUE, not '$val'"
      sets+=(--set "$val") ;;
    --reduction)
      case $val in exact|fast) reduction=$val ;; *) peer_bad "--reduction wants exact or fast, not '$val'" ;; esac ;;
    *)
      min=1; [ "$opt" = --warmup ] && min=0
      [[ $val =~ ^[0-9]{1,6}$ ]] && [ "$((10#$val))" -ge $min ] ||
        peer_bad "$opt wants an integer >= $min, not '$val'"
      val=$((10#$val))
      case $opt in
        --rounds) rounds=$val ;; --batch) batch=$val ;; --np) np=$val ;;
        --threads) threads=$val ;; --steps) steps=$val ;; --warmup) warmup=$val ;;
      esac ;;
  esac
done
[ ${#configs[@]} -gt 0 ] || configs=("$INNA_ROOT/configs/nin-cifar10.ini" "$INNA_ROOT/configs/nin-fashion-mnist.ini")
for c in "${configs[@]}"; do
  [ -f "$c" ] && [ -r "$c" ] || peer_bad "no such config file '$c'"
done
torch_threads=$((np * threads))

# key=value of one record line (BENCH ..., PEER ...) on stdin.
field() { awk -v k="$1" '{ for (i = 2; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit } }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

inna_install_deps
inna_build >&2
cd "$INNA_ROOT"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/inna-peer.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)
cores=$(nproc)
echo "# inna beside PyTorch, $(date -Is), $(hostname), $cores core(s): ${cpu:-unknown CPU}"
echo "# launch/peer.sh --rounds $rounds --batch $batch --np $np --threads $threads --steps $steps" \
     "--warmup $warmup --reduction $reduction ${sets[*]} ${configs[*]}"
echo "# commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (uncommitted changes)')"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?') (other work on the cores skews the timings)"

# inna-peak --csv: a header (isa,threads,...,gflops,...) and a row per ISA.
peak_awk='NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }'
# peak_run FILE: measures, prints "fma peak avx512: 325.1 GFLOP/s on 2 threads" lines.
peak_run() {
  "$INNA_BUILD/inna-peak" --csv > "$1"
  awk -F, "$peak_awk"' { t = $col["threads"]; printf "fma peak %s: %.1f GFLOP/s on %d thread%s\n", $col["isa"], $col["gflops"], t, t == 1 ? "" : "s" }' "$1"
}
# peak_of ISA FILE...: the highest GFLOP/s of ISA in the files (empty if none).
peak_of() {
  local isa=$1; shift
  awk -F, -v isa="$isa" 'FNR == 1 { delete col; for (i = 1; i <= NF; i++) col[$i] = i; next }
    $col["isa"] == isa && $col["gflops"] + 0 > best { best = $col["gflops"] + 0 }
    END { if (best > 0) printf "%.1f", best }' "$@"
}
peak_start=$(peak_run "$tmp/peak-start.csv")
echo "$peak_start"
[ -n "$peak_start" ] || { inna_say "peer.sh: inna-peak printed no figure"; exit 1; }

py=""
# A Python with torch (and h5py, which inna_torch.py needs); without one the
# peer column is skipped, said by the line below rather than inna_python.
if py=$(inna_python "torch, h5py, numpy" 2>/dev/null); then
  echo "PyTorch: $("$py" -c 'import torch; print("torch", torch.__version__, "from", torch.__file__)') ($py)"
else
  py=""
  echo "PyTorch not installed (python3-torch): peer column skipped"
fi
echo "inna: $np rank(s) x $threads thread(s), reduction $reduction; PyTorch: $torch_threads thread(s)," \
     "GLIBC_TUNABLES=$PEER_TUNABLES"

rows=() notes=() engines=() names=() gfs=() tgs=() header_lines=""
for cfg in "${configs[@]}"; do
  name=$(basename "$cfg" .ini)
  echo
  echo "== $name ($cfg), batch $batch"
  inna_img=() torch_img=() gflop_img="" oversub=0 torch_line=""
  for ((r = 1; r <= rounds; r++)); do
    log=$tmp/inna-$name-$r.txt
    if ! inna_mpirun "$np" "$INNA_BUILD/inna-bench" -c "$cfg" --batch "$batch" --threads "$threads" \
           --reduction "$reduction" --steps "$steps" --warmup "$warmup" ${sets[@]+"${sets[@]}"} \
           > "$log" 2>&1; then
      cat "$log" >&2
      inna_say "peer.sh: inna-bench failed on $cfg"
      exit 1
    fi
    rec=$(grep '^BENCH ' "$log" | head -n 1) ||
      { cat "$log" >&2; inna_say "peer.sh: no BENCH record from inna-bench on $cfg"; exit 1; }
    if [ -z "$header_lines" ]; then   # the kernel line, as inna-bench prints it
      header_lines=$(grep -E '^BLAS[ :]|^warning: the .*kernel' "$log" || true)
      if [ -n "$header_lines" ]; then echo "$header_lines"; fi
    fi
    if [ $r = 1 ]; then   # the config's engine line (builds with run.engine)
      engine_line=$(grep -m 1 -E '^ *engine: ' "$log" | sed 's/^ *//' || true)
      if [ -n "$engine_line" ]; then
        echo "$engine_line"
        engines+=("$name: $engine_line")
      fi
    fi
    img=$(field img_s <<< "$rec")
    gflop_img=$(field gflop_img <<< "$rec")
    [ "$(field oversubscribed <<< "$rec")" = 1 ] && oversub=1
    inna_img+=("$img")
    line="round $r: inna $img img/s"
    if [ -n "$py" ]; then
      tlog=$tmp/torch-$name-$r.txt
      if ! env GLIBC_TUNABLES="$PEER_TUNABLES" OMP_NUM_THREADS="$torch_threads" \
             "$py" "$INNA_ROOT/launch/peer_torch.py" "$cfg" --batch "$batch" \
             --threads "$torch_threads" --steps "$steps" --warmup "$warmup" > "$tlog" 2>&1; then
        cat "$tlog" >&2
        inna_say "peer.sh: peer_torch.py failed on $cfg"
        exit 1
      fi
      trec=$(grep '^PEER ' "$tlog" | head -n 1) ||
        { cat "$tlog" >&2; inna_say "peer.sh: no PEER record from peer_torch.py on $cfg"; exit 1; }
      [ -n "$torch_line" ] || torch_line=$(head -n 1 "$tlog")
      timg=$(field img_s <<< "$trec")
      torch_img+=("$timg")
      line="$line, PyTorch $timg img/s"
    fi
    echo "$line"
  done
  if [ -n "$torch_line" ]; then echo "PyTorch: $torch_line"; fi
  mi=$(median "${inna_img[@]}")
  gflops=$(awk -v i="$mi" -v g="$gflop_img" 'BEGIN { printf "%.1f", i * g }')
  mi_s=$(awk -v x="$mi" 'BEGIN { printf "%.1f", x }')
  if [ -n "$py" ]; then
    mt=$(median "${torch_img[@]}")
    mt_s=$(awk -v x="$mt" 'BEGIN { printf "%.1f", x }')
    ratio=$(awk -v a="$mi" -v b="$mt" 'BEGIN { printf "%.2f", a / b }')
    tgs+=("$(awk -v i="$mt" -v g="$gflop_img" 'BEGIN { printf "%.1f", i * g }')")
  else
    mt_s="—" ratio="—"
    tgs+=("")
  fi
  echo "median: inna $mi_s img/s = $gflops GFLOP/s ($gflop_img GFLOP per image)$([ -n "$py" ] &&
       echo "; PyTorch $mt_s img/s; inna/PyTorch $ratio")"
  [ $oversub = 0 ] || notes+=("$name: OVERSUBSCRIBED ($np ranks x $threads threads on $cores cores)")
  rows+=("| $name | $mi_s | $mt_s | $ratio | $gflops |") names+=("$name") gfs+=("$gflops")
done

echo
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
# The peak again: on a shared host it moves with the neighbours' load; the
# higher of the two is what the cores can do, and the shares are of that.
peak_end=$(peak_run "$tmp/peak-end.csv")
echo "inna-peak again at the end:"
echo "$peak_end"
peak_isa="" peak=""
for isa in avx512 avx2; do
  peak=$(peak_of $isa "$tmp"/peak-*.csv)
  if [ -n "$peak" ]; then peak_isa=$isa; break; fi
done
peak_name=$([ "$peak_isa" = avx512 ] && echo AVX-512 || echo AVX2)
for i in "${!rows[@]}"; do
  rows[i]="${rows[i]} $(awk -v x="${gfs[i]}" -v p="$peak" 'BEGIN { printf "%.1f", 100 * x / p }') |"
  [ -z "${tgs[i]}" ] || notes+=("${names[i]}: PyTorch at inna's FLOP count: ${tgs[i]} GFLOP/s, $(awk -v x="${tgs[i]}" -v p="$peak" 'BEGIN { printf "%.1f", 100 * x / p }') % of the $peak_name peak")
done
echo
echo "CPU: ${cpu:-unknown}, $cores core(s); FMA peak (inna-peak, at the start / at the end):" \
     "$(for isa in avx512 avx2; do a=$(peak_of $isa "$tmp/peak-start.csv"); b=$(peak_of $isa "$tmp/peak-end.csv")
        [ -z "$a$b" ] || printf '%s %s / %s GFLOP/s; ' "$isa" "${a:-?}" "${b:-?}"; done | sed 's/; $//')" \
     "on $(awk -F, "$peak_awk"' { print $col["threads"]; exit }' "$tmp/peak-start.csv") threads"
if [ -n "$header_lines" ]; then echo "$header_lines"; fi
[ ${#engines[@]} -eq 0 ] || printf '%s\n' "${engines[@]}"
echo "Batch $batch, $steps timed steps after $warmup, median of $rounds alternating rounds;" \
     "inna $np rank(s) x $threads thread(s) ($reduction reduction), PyTorch" \
     "$([ -n "$py" ] && "$py" -c 'import torch; print(torch.__version__)' || echo '(not installed)')" \
     "with $torch_threads thread(s)."
echo
echo "| config | inna img/s | PyTorch img/s | inna/PyTorch | inna GFLOP/s | % of $peak_name peak ($peak GFLOP/s) |"
echo "|---|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
[ ${#notes[@]} -eq 0 ] || { echo; printf -- '- %s\n' "${notes[@]}"; }
