#!/usr/bin/env bash
# launch/multinode.sh [-H HOSTS] [-n RANKS_PER_HOST] [-m MCA=VALUE]... [-x VAR]... [-t SECONDS]
#                     -- PROGRAM ARGS...
# Runs an MPI job over HOSTS simulated hosts (2 to 8, default 3) on this one machine, with
# RANKS_PER_HOST ranks each (default 1), over TCP as between real nodes:
#   launch/multinode.sh -H 3 -n 1 -- build/inna configs/tiny.ini --set train.steps=6
# Each host is a Linux network namespace (lo up, eth0 = a veth whose peer sits on a bridge in a
# namespace of its own, an address in 10.77.0.0/24, no default route: nothing leaves) with its
# own hostname; the hostfile names the hosts after their namespaces. mpirun runs inside the
# first one and starts its daemons on the others through launch/netns-agent.sh instead of ssh,
# with --mca pml ob1, btl tcp,self, btl/oob_tcp_if_include 10.77.0.0/24 and its session files
# in a temporary folder. Ranks start in the current folder (all hosts share the filesystem) with
# OPENBLAS_NUM_THREADS (default 1), OPENBLAS_CORETYPE and OMP_NUM_THREADS forwarded when set.
#   -m NAME=VALUE  sets an Open MPI MCA parameter, replacing the default if there is one
#                  (e.g. -m oob_tcp_keepalive_time=5, -m rmaps_base_display_map=1)
#   -x VAR         forwards one more environment variable to the ranks
#   -t SECONDS     stops the job after SECONDS (default 600; exit status 124)
# Exit status: the job's (mpirun's); 77 when this machine cannot create namespaces (needs root
# or CAP_SYS_ADMIN, iproute2, util-linux's unshare; one line says why); 2 bad usage. Names carry
# this script's PID, so runs can go in parallel; namespaces, links, /etc/netns/<ns> and the
# temporary folder are removed on exit, on error and on SIGINT/SIGTERM (not after SIGKILL:
# then `ip netns list | grep ^inmn` shows what to `ip netns del`).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage() { sed -n '2,/^set /{/^set /d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2; exit 2; }
skip() { echo "multinode.sh: skipped: $*" >&2; exit 77; }

hosts=3 per=1 limit=600 tag=inmn$$ net=10.77.0
forward=(OPENBLAS_NUM_THREADS OPENBLAS_CORETYPE OMP_NUM_THREADS)
# Defaults first, so -m replaces them: the same --mca given twice makes mpirun refuse to start.
declare -A mca=([plm_rsh_agent]=$here/netns-agent.sh [pml]=ob1 [btl]="tcp,self"
  [btl_tcp_if_include]=$net.0/24 [oob_tcp_if_include]=$net.0/24
  [mpi_yield_when_idle]=1)   # every host shares the same cores: do not busy-poll
while getopts H:n:m:x:t:h opt; do
  case $opt in
    H) hosts=$OPTARG ;;
    n) per=$OPTARG ;;
    m) [[ $OPTARG == ?*=* ]] || usage; mca[${OPTARG%%=*}]=${OPTARG#*=} ;;
    x) forward+=("$OPTARG") ;;
    t) limit=$OPTARG ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
[[ $hosts =~ ^[2-8]$ && $per =~ ^[1-9][0-9]*$ && $limit =~ ^[1-9][0-9]*$ && $# -gt 0 ]] || usage

command -v ip >/dev/null || skip "no ip command (iproute2) to create network namespaces"
command -v unshare >/dev/null || skip "no unshare command (util-linux) to give each host a hostname"

ns=() job=
cleanup() {
  local n pids i
  set +e
  trap '' INT TERM   # a second Ctrl-C must not cut the clean-up short
  # Deleting a namespace does not stop the processes in it: TERM them, then KILL what is left
  # (mpirun can ignore TERM while a daemon is unreachable).
  for ((i = 1; i <= 30; i++)); do
    pids=$(for n in "${ns[@]}"; do ip netns pids "$n"; done 2>/dev/null)
    [ -z "$pids" ] && break
    if ((i == 1)); then kill -TERM $pids; elif ((i == 30)); then kill -KILL $pids; sleep 0.2; fi
    sleep 0.1
  done 2>/dev/null
  [ -n "$job" ] && wait "$job" 2>/dev/null
  for n in "${ns[@]}"; do ip netns del "$n"; rm -rf "/etc/netns/$n"; done  # veths go with them
  rm -rf "$tmp"
}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/$tag.XXXXXX")
trap cleanup EXIT
trap 'exit 130' INT   # exit runs the EXIT trap
trap 'exit 143' TERM

add_ns() {
  ip netns add "$1" 2>"$tmp/err" ||
    skip "cannot create network namespaces (needs root or CAP_SYS_ADMIN): $(head -n 1 "$tmp/err")"
  ns+=("$1")
}
add_ns "$tag-br"
ip -n "$tag-br" link add br0 type bridge
ip -n "$tag-br" link set br0 up
hostsfile="127.0.0.1 localhost"
for ((i = 1; i <= hosts; i++)); do hostsfile+=$'\n'"$net.$i $tag-$i"; done
for ((i = 1; i <= hosts; i++)); do
  h=$tag-$i
  add_ns "$h"
  # Both ends are created inside their namespaces: no name can clash with this machine's links
  # or a parallel run's, and deleting the namespaces removes them.
  ip link add eth0 netns "$h" type veth peer name "p$i" netns "$tag-br" 2>"$tmp/err" ||
    skip "cannot create veth links: $(head -n 1 "$tmp/err")"
  ip -n "$tag-br" link set "p$i" master br0 up
  ip -n "$h" link set lo up   # with lo down MPI_Init hangs without a word
  ip -n "$h" addr add "$net.$i/24" dev eth0
  ip -n "$h" link set eth0 up
  # ip netns exec mounts these over /etc: names resolve among the hosts only, never via DNS,
  # and mpirun recognises its own host instead of starting a second daemon on it.
  mkdir -p "/etc/netns/$h"
  printf '%s\n' "$hostsfile" >"/etc/netns/$h/hosts"
  : >"/etc/netns/$h/resolv.conf"
  echo "$h slots=$per" >>"$tmp/hostfile"
done

[[ -v mca[orte_tmpdir_base] ]] || mca[orte_tmpdir_base]=$tmp   # session files: ours, removed
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
args=(-np $((hosts * per)) --hostfile "$tmp/hostfile" --bind-to none --wdir "$PWD")
for k in "${!mca[@]}"; do args+=(--mca "$k" "${mca[$k]}"); done
for v in "${forward[@]}"; do [[ -v $v ]] && args+=(-x "$v"); done
[ "$(id -u)" = 0 ] && args+=(--allow-run-as-root)

# In the background, and wait: a trapped signal interrupts wait at once but not a foreground job.
ip netns exec "$tag-1" unshare --uts -- sh -c 'hostname "$0" && exec "$@"' "$tag-1" \
  timeout -k 10 "$limit" "${MPIRUN:-mpirun}" "${args[@]}" "$@" </dev/null &
job=$!
rc=0
wait "$job" || rc=$?
job=
exit "$rc"
