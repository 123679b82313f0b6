//! Seeing where the time goes: the counters per remote function (`function_stats`).
//!
//! Usage: `observe <expected backend> <expected workers> [<case>]`, or `observe --list` (see
//! `cases.rs`).

#[path = "cases.rs"]
mod cases;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use unidist::{remote, FunctionStats};

const CASES: &[&str] = &["function_stats_count_every_task"];

/// How long a task waits for its release file before it gives up (so a broken case fails
/// instead of hanging).
const PATIENCE: Duration = Duration::from_secs(60);

/// Returns `value` once the file `release` exists (`u64::MAX` after [`PATIENCE`]).
#[remote]
fn held(release: PathBuf, value: u64) -> u64 {
    let deadline = Instant::now() + PATIENCE;
    while !release.exists() {
        if Instant::now() > deadline {
            return u64::MAX;
        }
        // Waiting on a file: a millisecond is far below the patience.
        std::thread::sleep(Duration::from_millis(1));
    }
    value
}

#[remote]
fn checked(x: u64) -> u64 {
    assert!(x % 10 != 3, "bad parameter {x}");
    x
}

#[remote]
fn sleeps(millis: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(millis));
    millis
}

#[remote]
fn leaf(x: u64) -> u64 {
    x + 1
}

/// Submits `n` leaves from inside a task and adds up what they give.
#[remote]
fn fan_out(n: u64) -> u64 {
    let leaves: Vec<_> = (0..n).map(leaf::remote).collect();
    unidist::get(&leaves).unwrap().into_iter().sum()
}

#[remote(max_retries = 1)]
fn always_panics() -> u64 {
    panic!("every run")
}

/// The counters of the function whose path ends with `::name` (all zero if it never ran).
fn stats_of(name: &str) -> FunctionStats {
    let suffix = format!("::{name}");
    let all = unidist::function_stats();
    all.into_iter().find(|f| f.function.ends_with(&suffix)).unwrap_or_default()
}

/// A file that does not exist yet, removed when dropped.
struct Flag(PathBuf);

impl Flag {
    fn new(case: &str) -> Flag {
        let name = format!("unidist-observe-{}-{case}", std::process::id());
        let path = std::env::temp_dir().join(name);
        let _ = std::fs::remove_file(&path);
        Flag(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn raise(&self) {
        std::fs::write(&self.0, b"").expect("the temporary directory is writable");
    }
}

impl Drop for Flag {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn main() {
    let cases = cases::Cases::from_args("observe", CASES);
    unidist::init();
    assert_eq!(unidist::backend(), cases.backend);
    assert_eq!(unidist::num_workers(), cases.workers);

    // Every task is counted once, under its function's path, wherever it was submitted (by the
    // program or by a task) and ran: submitted, running, done, failed, runs and their time.
    cases.run("function_stats_count_every_task", || {
        let refs: Vec<_> = (0..50).map(checked::remote).collect();
        let results = unidist::get_each(&refs);
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 5);
        let checked = stats_of("checked");
        assert!(checked.function.ends_with("observe::checked"), "{checked:?}");
        let counts = (checked.submitted, checked.running, checked.done, checked.failed);
        assert_eq!((counts, checked.runs), ((50, 0, 45, 5), 50), "{checked:?}");

        assert_eq!(unidist::get(&fan_out::remote(4)).unwrap(), 10);
        let leaf = stats_of("leaf");
        assert_eq!((leaf.submitted, leaf.done, leaf.runs), (4, 4, 4), "submitted by a task");
        assert_eq!(stats_of("fan_out").done, 1);

        let failed = unidist::get(&always_panics::remote()).unwrap_err();
        assert!(failed.to_string().contains("every run"), "{failed}");
        let panics = stats_of("always_panics");
        let counts = (panics.submitted, panics.done, panics.failed, panics.runs);
        assert_eq!(counts, (1, 0, 1, 2), "one task, two runs: {panics:?}");

        let slept = unidist::get(&sleeps::remote(20)).unwrap();
        let sleeps = stats_of("sleeps");
        assert!(sleeps.total_time >= Duration::from_millis(slept), "{sleeps:?}");
        assert_eq!(sleeps.mean_time(), Some(sleeps.total_time), "one run");

        // A task that runs until released counts as running meanwhile, on whichever rank runs
        // it, and as done afterwards.
        let flag = Flag::new("running");
        let r = held::remote(flag.path().to_path_buf(), 7);
        let deadline = Instant::now() + PATIENCE;
        while stats_of("held").running == 0 {
            assert!(Instant::now() < deadline, "the held task never counted as running");
            std::thread::yield_now();
        }
        assert_eq!((stats_of("held").running, stats_of("held").done), (1, 0));
        flag.raise();
        assert_eq!(unidist::get(&r).unwrap(), 7);
        let held = stats_of("held");
        assert_eq!((held.submitted, held.running, held.done), (1, 0, 1), "{held:?}");
    });

    unidist::shutdown();
    cases.finish();
}
