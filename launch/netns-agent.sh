#!/usr/bin/env bash
# netns-agent.sh HOST WORD...: Open MPI's plm_rsh_agent for launch/multinode.sh, in place of ssh.
# HOST is the name of a network namespace (multinode.sh names its hosts after their namespaces,
# so nothing needs mapping). Open MPI passes the remote command as words that are already quoted
# for a shell, as for ssh, so they are joined and run by sh -c, exactly as sshd would.
# Each launch also gets its own UTS namespace with HOST as hostname: namespaces share the
# machine's hostname otherwise, and Open MPI keys node identity and session files on it.
set -euo pipefail
[ $# -ge 2 ] && [ "${1#-}" = "$1" ] || { echo "usage: netns-agent.sh HOST COMMAND..." >&2; exit 255; }
host=$1; shift
exec ip netns exec "$host" unshare --uts -- sh -c 'hostname "$0" && exec sh -c "$1"' "$host" "$*"
