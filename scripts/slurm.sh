#!/usr/bin/env bash
# A throwaway Slurm cluster on this machine, for tests of jobs started by `srun` and `sbatch`:
# its own munge daemon (own key and socket), a slurmctld and slurmd, all in a temporary
# directory and on ports of their own, so nothing of the system's is used or changed. Needs
# root (the daemons run as root, as SlurmUser). Installs Debian's slurmd, slurmctld,
# slurm-client and munge when missing (scripts/install-deps.sh slurm).
#
#   scripts/slurm.sh COMMAND [ARGS...]
#
# One node: this machine, under its own host name, reached on loopback.
#
#   scripts/hosts.sh N scripts/slurm.sh COMMAND [ARGS...]
#
# One node per simulated host of scripts/hosts.sh (h1..hN): each host's slurmd runs in that
# host's network namespace, under its host name, with its own /sys (so MPI sees only the host's
# network interface) and its own /tmp (an overlay on the machine's, as a real node has a /tmp of
# its own); slurmctld listens on the bridge.
# Jobs' tasks then run on those hosts and talk TCP over the veths.
#
# Either way COMMAND runs, once every node is idle, with
#   SLURM_CONF        = the cluster's slurm.conf (srun, sbatch, sinfo read it)
#   UNIDIST_SLURM_DIR = the cluster's directory, outside /tmp (sbatch output can go there)
# and the daemons are stopped and the directory removed when COMMAND ends, whatever the outcome.
# Every node declares 8 CPUs whatever the machine has, so that jobs may oversubscribe a small one.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$#" -gt 0 ] || { echo "usage: scripts/slurm.sh COMMAND [ARGS...]" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "scripts/slurm.sh needs root (slurmd runs as root)" >&2; exit 2; }
bash scripts/install-deps.sh slurm

# Not under /tmp: a simulated host gets a /tmp of its own, and this must be seen from all.
dir=$(mktemp -d /var/tmp/unidist-slurm.XXXXXX)
chmod 700 "$dir"
# The pid of a daemon of this cluster that still runs, from its pid file (a stale file, such as a
# killed host's, may name a process that is not ours any more).
daemon() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  case "$(cat "/proc/$pid/comm" 2>/dev/null)" in
    munged | slurmctld | slurmd) echo "$pid" ;;
    *) return 1 ;;
  esac
}
stop() {
  set +e
  # Jobs first, so that no task outlives its slurmd (a test that failed half-way).
  [ -e "$dir/slurm.conf" ] && SLURM_CONF="$dir/slurm.conf" scancel --quiet --full --user="$(id -un)" 2>/dev/null
  for file in "$dir"/*.pid; do
    pid=$(daemon "$file") && kill "$pid" 2>/dev/null
  done
  for _ in $(seq 50); do # the daemons take a moment to end
    alive=0
    for pid in "$dir"/*.pid; do
      daemon "$pid" >/dev/null && alive=1
    done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT TERM

mkdir -p "$dir/state" "$dir/spool" "$dir/out"
mungekey --create --keyfile="$dir/munge.key"
chmod 600 "$dir/munge.key"
munged --force --key-file="$dir/munge.key" --socket="$dir/munge.socket" \
  --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munged.seed"

# slurmctld's port, and slurmd's the next one: two free ports below Linux's ephemeral range.
free() { ! ss -Hltn "sport = :$1" | grep -q .; }
for _ in $(seq 20); do
  port=$((12000 + RANDOM % 20000))
  free "$port" && free $((port + 1)) && break
done
if [ -n "${UNIDIST_HOSTS:-}" ]; then
  IFS=, read -ra nodes <<<"$UNIDIST_HOSTS"
  controller="$(hostname -s)($UNIDIST_BRIDGE_ADDR)"
else
  nodes=("$(hostname -s)")
  controller="$(hostname -s)(127.0.0.1)"
fi
{
  cat <<EOF
ClusterName=unidist-test
SlurmctldHost=$controller
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.%n.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
KillWait=3
SlurmdParameters=config_overrides
EOF
  for node in "${nodes[@]}"; do
    if [ -n "${UNIDIST_HOSTS:-}" ]; then
      addr=$(ip netns exec "unidist-$node" ip -4 -o addr show dev "$UNIDIST_HOST_IF" |
        awk '{ sub("/.*", "", $4); print $4 }')
    else
      addr=127.0.0.1
    fi
    echo "NodeName=$node NodeAddr=$addr CPUs=8 State=UNKNOWN"
  done
  echo "PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES"
} >"$dir/slurm.conf"
export SLURM_CONF="$dir/slurm.conf" UNIDIST_SLURM_DIR="$dir"

slurmctld -f "$SLURM_CONF"
if [ -n "${UNIDIST_HOSTS:-}" ]; then
  for node in "${nodes[@]}"; do
    # Only the network namespace is entered (not `ip netns exec`, which would lose the cgroup
    # mounts slurmd needs); then a fresh /sys shows the host's own interfaces, the cgroups are
    # put back under it, and the host's /tmp becomes its own: an overlay on the machine's, so
    # what is there (the repository, if it was cloned there) stays visible, while what a host
    # makes (PMIx's per-step directories, of the same name on every node) stays its own.
    mkdir -p "$dir/cgroup-$node" "$dir/tmp-$node"
    # The overlay's upper layer is on a tmpfs of the host's own (an overlay cannot sit on
    # another, as /var/tmp is in some containers).
    nsenter --net="/run/netns/unidist-$node" unshare --uts --mount --propagation private sh -c '
      set -e
      hostname "$1"
      mount --rbind /sys/fs/cgroup "$2/cgroup-$1"
      mount -t sysfs sysfs /sys
      mount --rbind "$2/cgroup-$1" /sys/fs/cgroup
      mount -t tmpfs tmpfs "$2/tmp-$1"
      mkdir "$2/tmp-$1/upper" "$2/tmp-$1/work"
      mount -t overlay overlay -o "lowerdir=/tmp,upperdir=$2/tmp-$1/upper,workdir=$2/tmp-$1/work" /tmp
      exec slurmd -N "$1" -f "$3"' sh "$node" "$dir" "$SLURM_CONF"
  done
else
  slurmd -f "$SLURM_CONF"
fi

for i in $(seq 300); do
  states=$(sinfo -h -N -o %t 2>/dev/null | sort -u | tr '\n' ' ' || true)
  [ "$states" = "idle " ] && [ "$(sinfo -h -N -o %N | wc -l)" = "${#nodes[@]}" ] && break
  if [ "$i" = 300 ]; then
    echo "scripts/slurm.sh: the nodes did not come up (states: ${states:-none}):" >&2
    tail -n 20 "$dir"/*.log >&2
    exit 1
  fi
  sleep 0.1
done
"$@"
