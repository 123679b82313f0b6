#!/usr/bin/env bash
# The core tests against Open MPI instead of MPICH: installs Debian's openmpi-bin and
# libopenmpi-dev beside MPICH (MPICH stays the default), builds the MPI backend with Open MPI's
# `mpicc` into target/openmpi, and runs the conformance, nested-task, example and embedded-MPI
# tests with Open MPI's `mpiexec` (oversubscribed: more ranks than cores), then, as root, the
# jobs across simulated hosts (mpiexec, and srun on a throwaway Slurm cluster). CI runs it after the
# MPICH suite (scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh openmpi

export MPICC=mpicc.openmpi
export CARGO_TARGET_DIR=target/openmpi
# Open MPI refuses more ranks than cores, and to run as root, unless told; shared-memory
# single copy needs ptrace rights that containers often lack.
export UNIDIST_TEST_MPIEXEC="mpiexec.openmpi --oversubscribe --mca btl_vader_single_copy_mechanism none"
if [ "$(id -u)" = 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
mpiexec.openmpi --version | head -1 >&2
# The examples test runs the examples that `cargo test` builds when it runs every test.
cargo build --features mpi --examples
cargo test --features mpi --no-fail-fast \
  --test conformance --test nested --test examples --test embedded "$@"
# Jobs that end normally across simulated hosts talking TCP, started by mpiexec and by Slurm's
# srun (root needed for the namespaces and Slurm's daemons).
if [ "$(id -u)" = 0 ]; then
  cargo test --features mpi --test hosts_openmpi --test slurm -- --ignored
fi
