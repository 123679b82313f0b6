//! Stragglers: a task that blocks its worker's only slot must not hold back the tasks queued
//! behind it there. Each case submits a straggler that waits (outside unidist, on files in a
//! directory) until tasks submitted after it, some of them placed on its own worker, have run;
//! it gives up after [`PATIENCE`] and returns how many it saw, so a runtime that leaves tasks
//! behind it fails the case instead of hanging it.
//!
//! Usage: `stragglers <expected backend> <expected workers> [<case>]`, or `stragglers --list`
//! (see `cases.rs`). The job needs two workers or more, each with one task slot.

#[path = "cases.rs"]
mod cases;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use unidist::{remote, ObjectRef};

/// How long a straggler waits for the tasks it counts on before it gives up.
const PATIENCE: Duration = Duration::from_secs(30);

/// Waits until `count` flags exist in `dir` (or [`PATIENCE`] has passed); returns how many did.
#[remote]
fn straggler(dir: PathBuf, count: usize) -> usize {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let seen = flags_in(&dir);
        if seen >= count || Instant::now() > deadline {
            return seen;
        }
        // A task that waits on files polls them; a millisecond is far below the deadline.
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Sets flag `i` in `dir` and returns `i`.
#[remote]
fn flag(dir: PathBuf, i: u64) -> u64 {
    std::fs::write(dir.join(format!("flag-{i}")), b"").expect("the flag directory is writable");
    i
}

/// Sets flag `i` in `dir` and returns the sum of `data` (a large value, so that under MPI the
/// task travels with its argument as a payload of its own, also when it is given back).
#[remote]
fn flag_with(dir: PathBuf, i: u64, data: Vec<u8>) -> u64 {
    std::fs::write(dir.join(format!("flag-{i}")), b"").expect("the flag directory is writable");
    data.iter().map(|b| u64::from(*b)).sum()
}

#[remote]
fn plus(x: u64, y: u64) -> u64 {
    x + y
}

/// The worker rank the task runs on, from its executor thread's name (`unidist-x-<rank>`).
#[remote]
fn where_am_i(_after: usize) -> usize {
    let thread = std::thread::current();
    let name = thread.name().unwrap_or_default();
    name.strip_prefix("unidist-x-").and_then(|r| r.parse().ok()).unwrap_or(0)
}

fn flags_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|entries| entries.count()).unwrap_or(0)
}

/// A fresh directory for a case's flags, removed when the case ends.
struct FlagDir(PathBuf);

impl FlagDir {
    fn new(case: &str) -> FlagDir {
        let dir =
            std::env::temp_dir().join(format!("unidist-stragglers-{}-{case}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        FlagDir(dir)
    }
}

impl Drop for FlagDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Has the next task this thread submits go to worker `rank` and stay there (see
/// `schedule_rank`).
fn aim_at(rank: usize) {
    let workers = unidist::num_workers();
    let before = if rank == 1 { workers } else { rank - 1 };
    while unidist::schedule_rank() != before {}
}

const CASES: &[&str] = &[
    "queued_behind_a_blocked_task",
    "results_follow_moved_tasks",
    "large_arguments_move_too",
    "sweep",
    "aimed_tasks_stay",
];

fn main() {
    let cases = cases::Cases::from_args("stragglers", CASES);
    unidist::init();
    assert_eq!(unidist::backend(), cases.backend);
    assert_eq!(unidist::num_workers(), cases.workers);
    assert!(cases.workers >= 2, "the stragglers program needs two workers or more");

    // The straggler blocks worker 1's only slot; the flags go round-robin, so some are queued
    // behind it there.
    cases.run("queued_behind_a_blocked_task", || {
        let dir = FlagDir::new("queued");
        aim_at(1);
        let blocked = straggler::remote(dir.0.clone(), 20);
        let flags: Vec<ObjectRef<u64>> = (0..20).map(|i| flag::remote(dir.0.clone(), i)).collect();
        assert_eq!(unidist::get(&flags).unwrap(), (0..20).collect::<Vec<u64>>());
        assert_eq!(unidist::get(&blocked).unwrap(), 20, "tasks stayed behind the straggler");
    });

    // Tasks queued behind the straggler move; what was promised from their worker follows them:
    // inputs of tasks on worker 2 (`across`), of tasks on the straggler's worker (`beside`,
    // waiting for their input, and kept there), and the root's own `get`s. Then nothing is
    // left anywhere.
    cases.run("results_follow_moved_tasks", || {
        let dir = FlagDir::new("follow");
        let n = 8 * unidist::num_workers() as u64;
        aim_at(1);
        let blocked = straggler::remote(dir.0.clone(), n as usize);
        let made: Vec<ObjectRef<u64>> = (0..n).map(|i| flag::remote(dir.0.clone(), i)).collect();
        let mut beside = Vec::new();
        let mut across = Vec::new();
        for f in &made {
            aim_at(1);
            beside.push(plus::remote(f, 1000));
            aim_at(2);
            across.push(plus::remote(f, 2000));
        }
        assert_eq!(unidist::get(&made).unwrap(), (0..n).collect::<Vec<u64>>());
        assert_eq!(unidist::get(&across).unwrap(), (2000..2000 + n).collect::<Vec<u64>>());
        assert_eq!(unidist::get(&beside).unwrap(), (1000..1000 + n).collect::<Vec<u64>>());
        assert_eq!(unidist::get(&blocked).unwrap(), n as usize, "tasks stayed behind");
        drop((made, beside, across, blocked));
        let held: u64 = unidist::memory_stats().iter().map(|m| m.objects).sum();
        assert_eq!(held, 0, "objects left after tasks moved");
    });

    // Tasks given back with values of 200 KiB as arguments (payloads of their own under MPI).
    cases.run("large_arguments_move_too", || {
        let dir = FlagDir::new("large");
        let n = 4 * unidist::num_workers() as u64;
        aim_at(1);
        let blocked = straggler::remote(dir.0.clone(), n as usize);
        let sums: Vec<ObjectRef<u64>> =
            (0..n).map(|i| flag_with::remote(dir.0.clone(), i, vec![i as u8; 200 << 10])).collect();
        let expected: Vec<u64> = (0..n).map(|i| (i % 256) * (200 << 10)).collect();
        assert_eq!(unidist::get(&sums).unwrap(), expected);
        assert_eq!(unidist::get(&blocked).unwrap(), n as usize, "tasks stayed behind");
    });

    // The sweep: 200 tasks round-robin, one of which waits for all the others.
    cases.run("sweep", || {
        let dir = FlagDir::new("sweep");
        let blocked = straggler::remote(dir.0.clone(), 199);
        let flags: Vec<ObjectRef<u64>> = (0..199).map(|i| flag::remote(dir.0.clone(), i)).collect();
        assert_eq!(unidist::get(&flags).unwrap(), (0..199).collect::<Vec<u64>>());
        assert_eq!(unidist::get(&blocked).unwrap(), 199, "tasks stayed behind");
    });

    // A task submitted right after `schedule_rank` stays on the worker it names, even queued
    // behind a straggler while another worker has nothing to do.
    cases.run("aimed_tasks_stay", || {
        let dir = FlagDir::new("aimed");
        let n = 4 * unidist::num_workers() as u64;
        aim_at(1);
        let blocked = straggler::remote(dir.0.clone(), n as usize);
        // Round-robin: some queued behind the straggler, which only moving them releases.
        let flags: Vec<ObjectRef<u64>> = (0..n).map(|i| flag::remote(dir.0.clone(), i)).collect();
        // Queued last, so the first a worker would give back were they not aimed.
        let aimed: Vec<ObjectRef<usize>> = (0..3)
            .map(|i| {
                aim_at(1);
                where_am_i::remote(i)
            })
            .collect();
        assert_eq!(unidist::get(&flags).unwrap(), (0..n).collect::<Vec<u64>>());
        assert_eq!(unidist::get(&blocked).unwrap(), n as usize, "tasks stayed behind");
        assert_eq!(unidist::get(&aimed).unwrap(), [1, 1, 1], "an aimed task moved");
    });

    cases.finish();
    unidist::shutdown();
}
