#!/usr/bin/env bash
# The whole test suite: installs MPICH, Open MPI and libclang when missing, checks formatting,
# lints and docs, then runs every test twice: built without the `mpi` feature (local backend
# only) and with it (the same tests plus real `mpiexec` jobs of 2, 3 and 5 ranks, and, as root,
# jobs across simulated hosts and under a throwaway Slurm cluster); then the core tests once
# more against Open MPI (scripts/test-openmpi.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

# Open MPI too (MPICH stays the default): a test starts this MPICH build with Open MPI's mpiexec.
bash scripts/install-deps.sh openmpi

step() { printf '\n== %s\n' "$*" >&2; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT

step "format"
cargo fmt --all -- --check
step "lints"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --workspace --all-targets --features mpi -- -D warnings
step "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --features mpi
step "docs as docs.rs builds them (no MPI library; its rustdoc is nightly's)"
RUSTC_BOOTSTRAP=1 RUSTDOCFLAGS="--cfg docsrs -D warnings" \
  cargo doc -p unidist --no-deps --features stream,ndarray --target-dir target/docsrs
for item in fn.init_in enum.Role mpi/index; do
  grep -q 'Available on <strong>crate feature <code>mpi</code>' "target/docsrs/doc/unidist/$item.html" \
    || { echo "docs.rs: $item is missing or not marked as needing the mpi feature" >&2; exit 1; }
done
step "packages (what cargo publish uploads, built on their own)"
cargo package -p unidist-macros -p unidist
step "tests without the mpi feature"
cargo test --workspace 2>&1 | tee -a "$log"
step "tests with the mpi feature (mpiexec jobs)"
cargo test --workspace --features mpi 2>&1 | tee -a "$log"
step "core tests against Open MPI (installed beside MPICH)"
bash scripts/test-openmpi.sh 2>&1 | tee -a "$log"

# One closing line for both runs.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;/) p += $(i-1); if ($(i) ~ /^failed;/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
