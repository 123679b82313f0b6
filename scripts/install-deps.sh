#!/usr/bin/env bash
# Installs what the MPI backend needs, when it is missing: MPICH (mpicc, mpiexec) and libclang
# (rsmpi generates its bindings with bindgen); and iproute2 (`ip`), with which scripts/hosts.sh
# makes simulated hosts. Debian/Ubuntu; does nothing if all is there.
set -euo pipefail

packages=(mpich libmpich-dev libclang-dev iproute2)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "install ${missing[*]} (or your system's MPICH and libclang) and run again" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
echo "installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
