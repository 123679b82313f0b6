#!/usr/bin/env bash
# The slow tests that `scripts/test.sh` (and CI) leaves out, run one at a time: objects of 1 GiB
# and of more than 2 GiB through put, a task and get, and worker to worker, under `mpiexec -n 3`
# (CI runs the same code paths with 1 MiB chunks), the root's peak memory for a `get` of a
# 2.5 GiB result (at most the value and one transient copy; CI checks 8 MiB), 8 root threads x 50,000 tasks at once (CI runs
# 8 x 2,000), a million tasks through a bound on tasks in flight (CI runs 200,000), and the long
# fuzz run of the receive path's decoder (4,000,000 inputs). Figures from a run are in BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo test --release --features mpi --test objects --test load -- --ignored --test-threads 1 --nocapture
PROPTEST_CASES=1000000 cargo test --release -p unidist --lib fuzz
# A million tasks through a bound of 1,000 in flight (CI runs 200,000): the root's memory stays
# flat, on the local backend and under mpiexec -n 3.
CONTROL_FLOOD=1000000 cargo test --release --features mpi --test control -- flood --nocapture
