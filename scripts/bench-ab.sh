#!/usr/bin/env bash
# A/B of two builds of the benchmark program on this machine: runs A and B alternately, ROUNDS
# times each (default 4), under `mpiexec -n 2` (root + 1 worker: a core per rank here),
# `mpiexec -n 3` (root + 2 workers: more ranks than cores here) and on the local backend
# (UNIDIST_CPUS=2), and prints per item the median and the range of the runs' medians for A and
# B and the ratio B/A of the medians. Build A from the commit to compare against, for example:
#
#   git worktree add --detach /tmp/base <commit>
#   (cd /tmp/base && CARGO_TARGET_DIR=/tmp/base/target cargo build --release --features mpi --bin unidist-bench)
#   cargo build --release --features mpi --bin unidist-bench
#   scripts/bench-ab.sh /tmp/base/target/release/unidist-bench target/release/unidist-bench 4
#
# ITEMS=roundtrip,chain,... runs only those items (`unidist-bench --only`; `raw` adds the raw MPI
# rows), and CONFIGS="mpi3 local2" only those configurations (default: all three). For example:
#
#   ITEMS=raw,roundtrip,chain,taskbench CONFIGS="mpi2 mpi3" scripts/bench-ab.sh A_BINARY B_BINARY 3
#
# Raw JSON lines go to bench-ab.jsonl (each tagged with its build, configuration and round).
set -euo pipefail
a=${1:?usage: bench-ab.sh A_BINARY B_BINARY [ROUNDS]}
b=${2:?usage: bench-ab.sh A_BINARY B_BINARY [ROUNDS]}
rounds=${3:-4}
configs=${CONFIGS:-mpi2 mpi3 local2}
only=()
if [ -n "${ITEMS:-}" ]; then only=(--only "$ITEMS"); fi
out=bench-ab.jsonl
: >"$out"

run() { # build label, config label, command...
  local build=$1 config=$2
  shift 2
  "$@" --json "${only[@]}" | grep '^{' | sed "s/^{/{\"build\":\"$build\",\"config\":\"$config\",\"round\":$round,/" >>"$out"
}

for round in $(seq 1 "$rounds"); do
  for build in A B; do
    bin=$a
    [ "$build" = B ] && bin=$b
    echo "round $round/$rounds: $build" >&2
    for config in $configs; do
      case $config in
      mpi2) run "$build" mpi2 mpiexec -n 2 "$bin" ;;
      mpi3) run "$build" mpi3 mpiexec -n 3 "$bin" ;;
      local2) run "$build" local2 env UNIDIST_BACKEND=local UNIDIST_CPUS=2 "$bin" ;;
      *) echo "bench-ab.sh: unknown configuration '$config' (mpi2, mpi3, local2)" >&2 && exit 2 ;;
      esac
    done
  done
done

python3 - "$out" <<'EOF'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
table = {}
for run in runs:
    for item in run["items"]:
        key = (run["config"], item["item"], item["unit"])
        table.setdefault(key, {"A": [], "B": []})[run["build"]].append(item["median"])
print("| config | item | unit | A median (range) | B median (range) | B/A |")
print("|---|---|---|---|---|---|")
fmt = lambda x: f"{x:,.0f}" if x >= 1000 else (f"{x:.1f}" if x >= 10 else f"{x:.3f}")
for (config, item, unit), by in table.items():
    if not by["A"] or not by["B"]:
        continue
    a, b = statistics.median(by["A"]), statistics.median(by["B"])
    ra = f"{fmt(a)} ({fmt(min(by['A']))}-{fmt(max(by['A']))})"
    rb = f"{fmt(b)} ({fmt(min(by['B']))}-{fmt(max(by['B']))})"
    print(f"| {config} | {item} | {unit} | {ra} | {rb} | {b / a:.2f} |" if a else f"| {config} | {item} | {unit} | {ra} | {rb} | |")
EOF
