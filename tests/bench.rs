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
        "roundtrip get(noop",
        "roundtrip, inline function",
        "get of one finished ref",
        "throughput",
        "chain",
        "fanin",
        "large Vec<u8>",
        "large Vec<f64>",
        "scaling efficiency",
        "nested fib",
        "taskbench no_comm",
        "taskbench stencil_1d",
        "taskbench nearest",
        "taskbench fft",
        "taskbench tree",
        "taskbench all_to_all",
        "idle CPU per rank",
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

/// The `hosts` item on pretend hosts (`UNIDIST_HOST_NAME`): root and workers 1-2 on h1, 3-4 on
/// h2. Host-aware placement moves no input across; round-robin moves some.
#[cfg(feature = "mpi")]
#[test]
fn the_hosts_item_reports_the_bytes_that_cross_hosts() {
    for scheduler in ["host-aware", "round-robin"] {
        let mut args: Vec<&str> = Vec::new();
        for (n, host) in [("3", "h1"), ("2", "h2")] {
            if !args.is_empty() {
                args.push(":");
            }
            args.extend(["-n", n, "-env", "UNIDIST_HOST_NAME", host]);
            args.extend(["-env", "UNIDIST_SCHEDULER", scheduler]);
            args.extend([BENCH, "--quick", "--only", "hosts"]);
        }
        let job = support::run("mpiexec", &args, &[]);
        job.assert_success();
        let row = format!("hosts {scheduler}: input bytes that crossed hosts");
        let line = job.stdout.lines().find(|l| l.starts_with(&row));
        let line = line.unwrap_or_else(|| panic!("no {row:?} in:\n{}", job.stdout));
        let median: f64 = line[row.len()..].split_whitespace().next().unwrap().parse().unwrap();
        assert_eq!(median == 0.0, scheduler == "host-aware", "{line}");
    }
}

/// `--timeline` writes the run's trace: the task graph's tasks, by function.
#[cfg(feature = "mpi")]
#[test]
fn the_benchmark_writes_its_timeline_when_asked() {
    let path =
        std::env::temp_dir().join(format!("unidist-bench-timeline-{}.json", std::process::id()));
    let path_text = path.to_str().expect("a UTF-8 path");
    let args = ["--quick", "--only", "taskbench", "--timeline", path_text];
    let job = support::mpiexec(3, BENCH, &args, &[]);
    job.assert_success();
    let text = std::fs::read_to_string(&path).expect("the timeline was written");
    std::fs::remove_file(&path).expect("written");
    let trace: serde_json::Value = serde_json::from_str(&text).expect("the trace is JSON");
    let events = trace["traceEvents"].as_array().expect("a list of trace events");
    let tasks = events.iter().filter(|e| e["ph"] == "X" && e["cat"] == "task").count();
    // Each of the 6 patterns runs at least one graph of at least 8 steps over the 2 workers;
    // how many more depends on the machine's speed (a sweep stops below 50% efficiency).
    assert!(tasks >= 6 * 8 * 2, "the task graphs' tasks: {tasks}");
}
