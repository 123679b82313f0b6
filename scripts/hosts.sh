#!/usr/bin/env bash
# Simulated hosts on one machine, for tests of what crosses a network: N network namespaces,
# each with its own veth pair on a bridge, its own address on the project's private test subnet
# (10.213.77.0/24: only those addresses are ever contacted) and, for the ranks started in it, its
# own host name (h1, h2, ...). Needs root (CI and the project's machines run as root).
#
#   scripts/hosts.sh N COMMAND [ARGS...]
#
# runs COMMAND in the root namespace with
#   UNIDIST_HOSTS      = h1,h2,...,hN
#   UNIDIST_MPIEXEC    = an `mpiexec` command line (as words) that places ranks on those hosts,
#                        given `-hosts h1:1,h2:2,...` (ranks per host) and `-n`:
#                        it runs hydra inside h1 and starts each host's proxy through
#                        scripts/hosts-launcher.sh, in that host's namespace, with UCX told to
#                        use TCP over the veths (so every byte between hosts crosses them);
#   UNIDIST_MPIEXEC_OPENMPI = the same with Open MPI's `mpiexec` (scripts/test-openmpi.sh
#                        installs it), given `--host h1:1,h2:2,...` and `-n`: it starts each
#                        host's daemon through scripts/hosts-launcher.sh and keeps MPI's own
#                        traffic and the job's wiring on TCP over the veths;
#   UNIDIST_HOST_IF    = the hosts' network interface name;
#   UNIDIST_BRIDGE_ADDR = the address of the bridge, in the root namespace, that every host
#                        reaches (scripts/slurm.sh runs slurmctld there);
# and removes everything it made when COMMAND ends, whatever the outcome (also on Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:?usage: scripts/hosts.sh N COMMAND [ARGS...]}
shift
[ "$#" -gt 0 ] || { echo "usage: scripts/hosts.sh N COMMAND [ARGS...]" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "scripts/hosts.sh needs root (ip netns)" >&2; exit 2; }
bash scripts/install-deps.sh

prefix=unidist-h         # namespace of host hK: unidist-hK
bridge=unidist-br
subnet=10.213.77
iface=eth-ud             # the interface inside every namespace

cleanup() {
  set +e
  for k in $(seq 1 "$n"); do
    ip netns pids "$prefix$k" 2>/dev/null | xargs -r kill -9 2>/dev/null
    ip netns del "$prefix$k" 2>/dev/null
    ip link del "ud-h$k" 2>/dev/null
  done
  ip link del "$bridge" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cleanup # leftovers of a run that was killed
trap cleanup EXIT

ip link add "$bridge" type bridge
ip addr add "$subnet.254/24" dev "$bridge"
ip link set "$bridge" up
for k in $(seq 1 "$n"); do
  ns="$prefix$k"
  ip netns add "$ns"
  ip link add "ud-h$k" type veth peer name "$iface" netns "$ns"
  ip link set "ud-h$k" master "$bridge" up
  ip -n "$ns" addr add "$subnet.$k/24" dev "$iface"
  ip -n "$ns" link set "$iface" up
  ip -n "$ns" link set lo up
done

hosts=$(seq -s, -f "h%g" 1 "$n")
launcher="$PWD/scripts/hosts-launcher.sh"
export UNIDIST_HOSTS="$hosts"
export UNIDIST_HOST_IF="$iface"
export UNIDIST_BRIDGE_ADDR="$subnet.254"
export UNIDIST_MPIEXEC="ip netns exec ${prefix}1 mpiexec -launcher ssh -launcher-exec $launcher \
-iface $iface -genv UCX_TLS tcp -genv UCX_NET_DEVICES $iface"
# Open MPI: ob1 over TCP between hosts and shared memory within one, on the veths only.
export UNIDIST_MPIEXEC_OPENMPI="ip netns exec ${prefix}1 mpiexec.openmpi --mca plm_rsh_agent $launcher --mca pml ob1 --mca btl tcp,self,vader --mca btl_vader_single_copy_mechanism none --mca btl_tcp_if_include $iface --mca oob_tcp_if_include $iface"
"$@"
