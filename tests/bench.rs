//! The benchmark program runs every item and prints a complete table and JSON line (with
//! `--quick` sizes; its figures are not checked here: speed belongs in `BENCHMARKS.md`).

mod support;

const BENCH: &str = env!("CARGO_BIN_EXE_unidist-bench");

/// The items every run reports, with the raw MPI ones on the MPI backend only.
fn check(job: &support::Job, backend: &str, raw: bool) {
    job.assert_success();
    let json = job.stdout.lines().find(|l| l.starts_with('{')).expect("a JSON line");
    assert!(json.contains(&format!("\"backend\":\"{backend}\"")), "{json}");
    let mut items = vec![
        "roundtrip",
        "throughput",
        "chain",
        "fanin",
        "large Vec<u8>",
        "large Vec<f64>",
        "scaling efficiency",
        "nested fib",
    ];
    if raw {
        items.extend(["raw MPI ping-pong", "raw MPI bandwidth"]);
    }
    for item in items {
        assert!(json.contains(&format!("\"item\":\"{item}")), "no {item} in {json}");
        assert!(job.stdout.lines().any(|l| l.starts_with(item)), "no {item} row in {}", job.stdout);
    }
    // Ratios to the MPI limits exactly where those limits were measured.
    assert_eq!(json.contains("\"ratio\":0.") || json.contains("\"ratio\":1"), raw, "{json}");
}

#[test]
fn the_benchmark_runs_on_the_local_backend() {
    let job = support::run(BENCH, &["--quick", "--json"], &[("UNIDIST_CPUS", "2")]);
    check(&job, "local", false);
}

#[cfg(feature = "mpi")]
#[test]
fn the_benchmark_runs_under_mpiexec() {
    let job = support::mpiexec(3, BENCH, &["--quick", "--json"], &[]);
    check(&job, "mpi", true);
}
