#!/usr/bin/env bash
# Measures where host-aware placement starts to pay (the default of UNIDIST_HOST_AWARE_BYTES):
# the benchmark's `hosts` item across 2 simulated hosts (scripts/hosts.sh; Open MPI, TCP over
# the veths; needs root) for inputs from 16 KiB to 16 MiB, host-aware with no threshold against
# round-robin. 3 ranks on h1 (the root and 2 workers), 2 workers on h2; the inputs are made on h1.
# Figures are in BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" != "--inside" ]; then
  bash scripts/install-deps.sh openmpi
  MPICC=mpicc.openmpi CARGO_TARGET_DIR=target/openmpi \
    cargo build --release --features mpi --bin unidist-bench
  exec bash scripts/hosts.sh 2 bash scripts/bench-threshold.sh --inside
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
bench=target/openmpi/release/unidist-bench
for bytes in 16384 65536 262144 1048576 4194304 16777216; do
  for scheduler in host-aware round-robin; do
    echo "\$ UNIDIST_SCHEDULER=$scheduler UNIDIST_HOST_AWARE_BYTES=0 mpiexec --host h1:3,h2:2 -n 5 unidist-bench --only hosts --input-bytes $bytes"
    # shellcheck disable=SC2086 # the launcher is a command line of words
    timeout 300 $UNIDIST_MPIEXEC_OPENMPI -x OMPI_ALLOW_RUN_AS_ROOT -x OMPI_ALLOW_RUN_AS_ROOT_CONFIRM \
      -x UNIDIST_SCHEDULER="$scheduler" -x UNIDIST_HOST_AWARE_BYTES=0 --host h1:3,h2:2 -n 5 \
      "$bench" --only hosts --input-bytes "$bytes" 2>&1 | grep -E "^hosts" || true
  done
done
