//! The examples a user copies first run and print the right results, on the local backend and
//! under `mpiexec`.

mod support;

/// `cargo test` builds the examples next to the test binaries, as
/// `target/<profile>/examples/<name>-<hash>`: the newest is the one built with this test's features.
fn example(name: &str) -> String {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop(); // the test binary
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.push("examples");
    let prefix = format!("{name}-");
    let newest = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("no examples in {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .filter(|e| {
            let file = e.file_name().to_string_lossy().into_owned();
            file.starts_with(&prefix) && !file.contains('.')
        })
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .unwrap_or_else(|| {
            panic!("the example {name} is not built: run the tests with `cargo test`")
        });
    newest.path().to_string_lossy().into_owned()
}

fn check(job: &support::Job, name: &str) {
    job.assert_success();
    let out = &job.stdout;
    match name {
        "quickstart" => {
            assert!(out.contains("add(add(1, 2), 10) = 13"), "{out}");
            assert!(out.contains("split([1, 2, 3, 4]) = [1, 2] and [3, 4]"), "{out}");
            assert!(out.contains("sum of 100 results = 5650 (expected 5650)"), "{out}");
        }
        "pi" => {
            let value: f64 = out.split_whitespace().nth(3).unwrap().parse().unwrap();
            assert!((value - std::f64::consts::PI).abs() < 0.01, "{out}");
        }
        "nested" => {
            assert!(out.contains("sorted 200000 numbers in"), "{out}");
        }
        "soak" => {
            // A short run: the example holds neither phase to its 5% (the peak is still
            // settling at 10%), and a process of a few MiB (the local backend) settles by a few
            // hundred KiB over its first millions of tasks. What is held here: the peak of the
            // small tasks' phase grows by under 5% or under 1 MiB (a leak of 10 bytes a task
            // would be 1.7 MiB), and the example checked the objects held at every checkpoint.
            let growth = out
                .lines()
                .find_map(|l| l.strip_prefix("small tasks: largest peak growth from 10% to 100%: "))
                .and_then(|g| {
                    let (percent, mib) = g.split_once("% (")?;
                    Some((
                        percent.parse::<f64>().ok()?,
                        mib.strip_suffix(" MiB)")?.parse::<f64>().ok()?,
                    ))
                })
                .unwrap_or_else(|| panic!("no growth of the small tasks in:\n{out}"));
            assert!(growth.0 < 5.0 || growth.1 < 1.0, "resident memory grew by {growth:?}:\n{out}");
            assert!(out.contains("1 MiB results: 300 tasks in"), "{out}");
            let end = out.lines().find(|l| l.starts_with("memory_stats at the end: ")).unwrap();
            assert_eq!(end.matches(": 0 objects, 0 bytes").count(), end.matches("rank ").count());
            assert!(out.contains("soak: ok"), "{out}");
        }
        "actors" => {
            assert!(out.contains("first call: 15"), "{out}");
            assert!(out.contains("total after 10 calls from tasks: 25"), "{out}");
            assert!(out.contains("sum of 1000 squares from 2 shards: 332833500"), "{out}");
        }
        "sweep" => {
            // 200 parameters of up to 5 ms and a deadline of 5 s: every run but the endless
            // one finishes; the bad parameters (7 mod 20) fail after 3 attempts each; the
            // transient faults (multiples of 13) were retried away; the endless run is cancelled.
            assert!(out.contains("ok: 189 in"), "{out}");
            assert!(out.contains("failed: 10\n"), "{out}");
            for p in (7..200).step_by(20) {
                let line = format!("  parameter {p}: parameter {p} diverged (3 attempts)");
                assert!(out.contains(&line), "missing {line:?} in:\n{out}");
            }
            assert!(!out.contains("resource busy"), "a transient fault was not retried:\n{out}");
            assert!(out.contains("cancelled at the deadline: [199]"), "{out}");
        }
        "wordcount" => {
            assert!(out.contains("80000 words (20 distinct) in 8 chunks"), "{out}");
            assert!(out.lines().nth(1).unwrap().trim_start().starts_with("the "), "{out}");
        }
        _ => unreachable!(),
    }
}

const RUNS: &[(&str, &[&str])] = &[
    ("quickstart", &[]),
    ("actors", &[]),
    ("pi", &["16", "100000"]),
    ("wordcount", &["8", "10000"]),
    ("nested", &["200000", "20000"]),
    ("soak", &["200000", "300"]),
    ("sweep", &["200", "5", "5"]),
];

#[test]
fn examples_run_on_the_local_backend() {
    for (name, args) in RUNS {
        check(&support::run(&example(name), args, &[("UNIDIST_CPUS", "2")]), name);
    }
}

#[cfg(feature = "mpi")]
#[test]
fn examples_run_under_mpiexec() {
    for (name, args) in RUNS {
        let job = support::mpiexec(3, &example(name), args, &[]);
        check(&job, name);
        assert!(job.stdout.contains("2 workers"), "{}", job.stdout);
    }
}
