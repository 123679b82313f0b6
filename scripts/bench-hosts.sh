#!/usr/bin/env bash
# The benchmark across simulated hosts (scripts/hosts.sh: network namespaces, UCX over TCP on
# veths; needs root): the `hosts` item with 2 hosts x 2 workers (root on the first) under each
# scheduler, then raw MPI, roundtrip and 64 MiB `large` with the root alone on one host and its
# workers on the other, so every figure crosses the TCP link. Figures are in BENCHMARKS.md.
#
# Each job prints its results before `shutdown`; `timeout` then cuts a job whose MPI_Finalize
# hangs (Debian's MPICH 4.0.2 with UCX 1.13 over TCP does that often, see README).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" != "--inside" ]; then
  bash scripts/install-deps.sh
  cargo build --release --features mpi --bin unidist-bench
  exec bash scripts/hosts.sh 2 bash scripts/bench-hosts.sh --inside
fi
bench=target/release/unidist-bench
for scheduler in host-aware round-robin; do
  echo "\$ UNIDIST_SCHEDULER=$scheduler mpiexec -hosts h1:3,h2:2 -n 5 unidist-bench --only hosts"
  timeout 300 $UNIDIST_MPIEXEC -genv UNIDIST_SCHEDULER "$scheduler" -hosts h1:3,h2:2 -n 5 \
    "$bench" --only hosts 2>&1 | grep -E "^(item|hosts)" || true
done
echo "\$ mpiexec -hosts h1:1,h2:2 -n 3 unidist-bench --only raw,roundtrip,large"
timeout 600 $UNIDIST_MPIEXEC -hosts h1:1,h2:2 -n 3 "$bench" --only raw,roundtrip,large 2>&1 |
  grep -E "^(item|raw|roundtrip|large)" || true
