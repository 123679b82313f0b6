#!/usr/bin/env bash
# The "ssh" that MPICH's hydra uses to start a proxy on a simulated host of scripts/hosts.sh:
# hydra calls it as `hosts-launcher.sh [ssh options...] HOST COMMAND...`. It drops the options
# and runs the command in HOST's network namespace (unidist-hK for host hK), under a host name of
# its own (a UTS namespace), as a real host would.
set -euo pipefail
while [ "$#" -gt 0 ] && [[ "$1" == -* ]]; do
  case "$1" in
    -l | -p | -i | -o | -F) shift 2 ;; # options with an argument
    *) shift ;;
  esac
done
host=${1:?no host given}
shift
case "$host" in
  h[0-9]*) ;;
  *) echo "hosts-launcher.sh: $host is not a simulated host (h1, h2, ...)" >&2; exit 2 ;;
esac
exec ip netns exec "unidist-$host" unshare --uts sh -c 'hostname "$0"; exec sh -c "$1"' "$host" "$*"
