#!/usr/bin/env bash
# A real single-node SLURM on this machine, for the tests and for trying
# launch/slurm.sbatch without a cluster.  Everything lives in one private
# folder: its own MUNGE key and socket, slurm.conf (named by SLURM_CONF),
# state, spool, logs and pid files; nothing in /etc/slurm or /etc/munge is
# used, nothing outside the folder is written.
#
#   launch/slurm-local.sh install        apt-get install slurm-wlm munge (root or sudo)
#   launch/slurm-local.sh start DIR      start munged, slurmctld, slurmd; wait for `sinfo` idle
#   launch/slurm-local.sh stop DIR       cancel its jobs, stop the daemons by their PIDs
#
# After `start`:  export SLURM_CONF=DIR/slurm.conf  and use sbatch, squeue, scancel, sinfo.
# Daemons run as the caller (root on a test machine: jobs may then run as any
# user; as another user, only as that user).  Ports: 6817/6818 when free, else
# the first free pair above them, so a second private cluster can run alongside.
set -euo pipefail
# The daemons live in /usr/sbin, which a normal user's PATH may lack.
PATH=$PATH:/usr/sbin:/sbin

say() { printf 'slurm-local: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# install: the Debian packages, through launch/common.sh (root, or sudo -n).
install_packages() {
  # shellcheck source=launch/common.sh
  source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
  # Only these two: inna's own build dependencies are not needed to run SLURM.
  INNA_PACKAGES="" inna_install_deps slurm-wlm munge
}

need_commands() {
  local c
  for c in munged munge unmunge slurmctld slurmd sinfo sbatch scontrol; do
    command -v "$c" >/dev/null ||
      die "$c not found: install Debian's slurm-wlm and munge ($0 install, as root)"
  done
}

# port_free PORT: nothing listens on the TCP port.
port_free() { [ -z "$(ss -Htln "sport = :$1" 2>/dev/null)" ]; }

# free_ports: two consecutive free TCP ports, 6817 6818 when possible.
free_ports() {
  local p
  for ((p = 6817; p < 6917; p += 2)); do
    port_free $p && port_free $((p + 1)) && { echo "$p $((p + 1))"; return 0; }
  done
  die "no free pair of TCP ports in 6817-6916"
}

# start_munge DIR: a munged with a private key and socket (no /etc/munge).
start_munge() {
  local m=$1/munge
  mkdir -p "$m" && chmod 700 "$m"
  # munged refuses a key that others can read, or one shorter than 32 bytes.
  [ -s "$m/munge.key" ] || { head -c 1024 /dev/urandom > "$m/munge.key" && chmod 400 "$m/munge.key"; }
  # A UNIX socket path holds at most 107 bytes.
  [ "${#m}" -lt 90 ] || die "$m: path too long for the MUNGE socket (use a shorter folder)"
  # -f: run although the folders above DIR may be writable by a group.
  munged -f --key-file="$m/munge.key" --socket="$m/socket" --pid-file="$m/munged.pid" \
         --log-file="$m/munged.log" --seed-file="$m/munged.seed" < /dev/null >> "$m/munged.out" 2>&1 ||
    die "munged did not start: $(tail -3 "$m/munged.log" "$m/munged.out" 2>/dev/null)"
  munge -n -S "$m/socket" | unmunge -S "$m/socket" > /dev/null ||
    die "munge -n | unmunge failed on $m/socket: $(tail -3 "$m/munged.log")"
}

# write_conf DIR: slurm.conf for this host alone, its hardware as slurmd sees it.
write_conf() {
  local d=$1 host user ports hw
  host=$(hostname -s)
  user=$(id -un)
  read -r -a ports <<< "$(free_ports)"
  # `slurmd -C` gives sockets, cores and threads; memory is left out (a node
  # whose free memory dips below a configured value would be drained).
  hw=$(slurmd -C | sed -n '1{s/^NodeName=[^ ]* //;s/ RealMemory=[0-9]*//;p}')
  cat > "$d/slurm.conf" <<EOF
# Written by launch/slurm-local.sh: a private single-node cluster in $d.
ClusterName=inna-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=${ports[0]}
SlurmdPort=${ports[1]}
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/munge/socket
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/slurmctld.log
SlurmdLogFile=$d/slurmd.log
# No cgroups: works in containers and without systemd.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
PlugStackConfig=$d/plugstack.conf
NodeName=$host NodeAddr=127.0.0.1 $hw State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  : > "$d/plugstack.conf"   # not /etc/slurm/plugstack.conf
  mkdir -p "$d/state" "$d/spool"
}

# wait_idle DIR: until sinfo shows the node idle (30 s at most).
wait_idle() {
  local d=$1 state=""
  for _ in $(seq 60); do
    state=$(SLURM_CONF=$d/slurm.conf sinfo -h -o %T 2>/dev/null | head -1) || true
    [ "$state" = idle ] && return 0
    sleep 0.5
  done
  die "the node is not idle after 30 s (state '$state'); slurmctld.log: $(tail -3 "$d/slurmctld.log" 2>/dev/null); slurmd.log: $(tail -3 "$d/slurmd.log" 2>/dev/null)"
}

start() {
  local d
  need_commands
  mkdir -p "$1"
  d=$(cd "$1" && pwd)
  [ -e "$d/slurmctld.pid" ] && running "$d/slurmctld.pid" && die "$d: a cluster is already running there"
  start_munge "$d"
  write_conf "$d"
  # -c / -c: a fresh state; both daemonize, their output goes to their logs.
  slurmctld -f "$d/slurm.conf" -c < /dev/null >> "$d/slurmctld.out" 2>&1 ||
    die "slurmctld did not start: $(tail -3 "$d/slurmctld.out" "$d/slurmctld.log" 2>/dev/null)"
  slurmd -f "$d/slurm.conf" -c < /dev/null >> "$d/slurmd.out" 2>&1 ||
    die "slurmd did not start: $(tail -3 "$d/slurmd.out" "$d/slurmd.log" 2>/dev/null)"
  wait_idle "$d"
  say "running in $d; export SLURM_CONF=$d/slurm.conf"
}

# running PIDFILE: the process it names is alive.
running() { local p; p=$(cat "$1" 2>/dev/null) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

# stop_pid PIDFILE NAME: SIGTERM, up to 10 s, then SIGKILL; the file removed.
# A stale file whose PID now belongs to another program is left alone.
stop_pid() {
  local f=$1 pid
  [ -e "$f" ] || return 0
  pid=$(cat "$f")
  if [ -n "$pid" ] && [ "$(ps -o comm= -p "$pid" 2>/dev/null)" = "$2" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { say "$2 ($pid) ignored SIGTERM: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; }
  fi
  rm -f "$f"
}

# cancel_jobs DIR: the jobs of this private cluster ended (up to 30 s), so no
# job step (slurmstepd and its processes) outlives the daemons.  Its one
# partition holds only the jobs of this folder's cluster.
cancel_jobs() {
  local d=$1
  running "$d/slurmctld.pid" || return 0
  export SLURM_CONF=$d/slurm.conf
  [ -z "$(squeue -h -o %i 2>/dev/null)" ] && return 0
  scancel --quiet --partition=debug 2>/dev/null || true
  for _ in $(seq 60); do
    [ -z "$(squeue -h -o %i 2>/dev/null)" ] && return 0
    sleep 0.5
  done
  say "jobs still in the queue after 30 s: $(squeue -h 2>/dev/null | tr '\n' ';')"
}

stop() {
  local d
  [ -d "$1" ] || return 0
  d=$(cd "$1" && pwd)
  cancel_jobs "$d"
  stop_pid "$d/slurmd.pid" slurmd
  stop_pid "$d/slurmctld.pid" slurmctld
  stop_pid "$d/munge/munged.pid" munged
}

case "${1:-}" in
  install) install_packages ;;
  start) [ $# = 2 ] || die "usage: $0 start DIR"; start "$2" ;;
  stop)  [ $# = 2 ] || die "usage: $0 stop DIR"; stop "$2" ;;
  *) die "usage: $0 install | start DIR | stop DIR" ;;
esac
