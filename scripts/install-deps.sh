#!/usr/bin/env bash
# Installs what the MPI backend needs, when it is missing: MPICH (mpicc, mpiexec) and libclang
# (rsmpi generates its bindings with bindgen); iproute2 (`ip`), with which scripts/hosts.sh
# makes simulated hosts; and Debian's Chromium, in which the tests open the timeline page. `install-deps.sh openmpi` adds Open MPI (openmpi-bin, libopenmpi-dev)
# beside MPICH for scripts/test-openmpi.sh, and keeps MPICH the system's default `mpicc` and
# `mpiexec`; `install-deps.sh slurm` adds Slurm's daemons and client and munge for
# scripts/slurm.sh. Debian/Ubuntu; does nothing if all is there.
set -euo pipefail

packages=(mpich libmpich-dev libclang-dev iproute2 chromium)
case "${1:-}" in
  openmpi) packages+=(openmpi-bin libopenmpi-dev) ;;
  slurm) packages+=(slurmd slurmctld slurm-client munge) ;;
esac
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

# Open MPI ranks above MPICH in Debian's alternatives: put MPICH back as the default, which the
# test suite's plain `mpiexec` and the build's plain `mpicc` mean.
if [ -e /usr/bin/mpicc.mpich ] && [ -e /usr/bin/mpicc.openmpi ]; then
  arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
  $sudo update-alternatives --quiet --set mpi /usr/bin/mpicc.mpich
  $sudo update-alternatives --quiet --set mpirun /usr/bin/mpirun.mpich
  $sudo update-alternatives --quiet --set "mpi-$arch" "/usr/include/$arch/mpich"
fi
