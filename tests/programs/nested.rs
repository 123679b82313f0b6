//! Nested tasks: remote functions that submit tasks, `put` values and wait on them. The test
//! suite runs it on the local backend and under `mpiexec` with 2, 3 and 5 ranks; it prints one
//! `ok <case>` line per case and exits non-zero at the first failure.
//!
//! Usage: `nested <expected backend> <expected workers> [<case>]`, or `nested --list` (see
//! `cases.rs`).

#[path = "cases.rs"]
mod cases;

use std::collections::BTreeMap;
use std::panic::catch_unwind;
use std::sync::Mutex;

use unidist::{remote, Error, ObjectRef};

/// The most executor threads of each worker in this process, as seen by tasks, by thread name.
static MOST_EXECUTORS: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());

/// Counts the executor threads of each worker of this process (named `unidist-x-<rank>`).
fn count_executors() {
    let mut counts = BTreeMap::<String, usize>::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        if let Ok(name) = std::fs::read_to_string(task.path().join("comm")) {
            if name.starts_with("unidist-x-") {
                *counts.entry(name.trim().to_string()).or_default() += 1;
            }
        }
    }
    let mut most = MOST_EXECUTORS.lock().unwrap();
    for (name, n) in counts {
        let entry = most.entry(name).or_default();
        *entry = (*entry).max(n);
    }
}

#[remote]
fn fib(n: u64) -> u64 {
    if n % 4 == 0 {
        count_executors();
    }
    if n < 2 {
        return n;
    }
    let (a, b) = (fib::remote(n - 1), fib::remote(n - 2));
    unidist::get(&a).unwrap() + unidist::get(&b).unwrap()
}

fn fib_seq(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fib_seq(n - 1) + fib_seq(n - 2)
    }
}

/// The most executor threads each worker of this process had, by thread name.
#[remote]
fn executor_threads() -> BTreeMap<String, usize> {
    count_executors();
    MOST_EXECUTORS.lock().unwrap().clone()
}

/// A recursion of remote calls, each waiting for the next: `n` tasks blocked at once.
#[remote]
fn countdown(n: u64) -> u64 {
    if n % 512 == 0 {
        count_executors();
    }
    if n == 0 {
        return 0;
    }
    unidist::get(&countdown::remote(n - 1)).unwrap() + 1
}

#[remote]
fn merge_sort(v: Vec<u32>) -> Vec<u32> {
    if v.len() <= 65_536 {
        let mut v = v;
        v.sort_unstable();
        return v;
    }
    let (l, r) = v.split_at(v.len() / 2);
    let (l, r) = (merge_sort::remote(l.to_vec()), merge_sort::remote(r.to_vec()));
    let (l, r) = (unidist::get(&l).unwrap(), unidist::get(&r).unwrap());
    let mut out = Vec::with_capacity(l.len() + r.len());
    let (mut i, mut j) = (0, 0);
    while i < l.len() && j < r.len() {
        if l[i] <= r[j] {
            out.push(l[i]);
            i += 1;
        } else {
            out.push(r[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&l[i..]);
    out.extend_from_slice(&r[j..]);
    out
}

#[remote]
fn square(x: u64) -> u64 {
    x * x
}

#[remote]
fn sum(xs: Vec<u64>) -> u64 {
    xs.iter().sum()
}

/// Level 2: submits tasks and waits on them.
#[remote]
fn sum_of_squares(n: u64) -> u64 {
    let squares: Vec<ObjectRef<u64>> = (1..=n).map(square::remote).collect();
    unidist::get(&sum::remote(&squares)).unwrap()
}

/// Level 1: its child submits tasks; it passes the child's result on to another task.
#[remote]
fn three_levels(n: u64) -> u64 {
    let inner = sum_of_squares::remote(n);
    let doubled = sum::remote(vec![inner.clone(), inner]);
    unidist::get(&doubled).unwrap()
}

#[remote]
fn fails(message: String) -> u64 {
    panic!("{}", message)
}

/// Handles its child's error.
#[remote]
fn handles_child_error() -> String {
    match unidist::get(&fails::remote("deep trouble".to_string())) {
        Err(e) => format!("handled: {e}"),
        Ok(_) => "no error".to_string(),
    }
}

/// Lets its child's error propagate as a panic.
#[remote]
fn propagates_child_error() -> u64 {
    unidist::get(&fails::remote("deep trouble".to_string())).unwrap()
}

/// `put` and `wait` inside a task, and refs of the task passed to its children.
#[remote]
fn put_and_wait(n: u64) -> (usize, u64) {
    let shared = unidist::put((1..=n).collect::<Vec<u64>>());
    let parts: Vec<ObjectRef<u64>> = (0..4).map(|_| sum::remote(&shared)).collect();
    let (ready, not_ready) = unidist::wait(&parts, 2);
    assert!(ready.len() >= 2 && ready.len() + not_ready.len() == 4);
    let total: u64 = unidist::get(&parts).unwrap().iter().sum();
    (ready.len(), total + unidist::get(&shared).unwrap().len() as u64)
}

/// The name of the thread it runs on: quick, but not marked `inline`.
#[remote]
fn where_unmarked() -> String {
    std::thread::current().name().unwrap_or_default().to_string()
}

/// Returns `1 + depth` through `depth` nested tasks, and the name of the thread it ran on.
#[remote(inline)]
fn quick_then_nested(depth: u32) -> (u32, String) {
    let here = std::thread::current().name().unwrap_or_default().to_string();
    if depth == 0 {
        return (1, here);
    }
    let (below, _) = unidist::get(&quick_then_nested::remote(depth - 1)).unwrap();
    (below + 1, here)
}

/// True for the name of an executor thread (`unidist-x-<rank>`), false for a worker's loop.
fn on_executor(thread: &str) -> bool {
    thread.starts_with("unidist-x-")
}

/// What a task sees of the API that only `main` may call.
#[remote]
fn misuse_in_task() -> Vec<String> {
    let text = |r: std::thread::Result<()>| {
        let payload = r.expect_err("expected a panic");
        payload.downcast_ref::<String>().cloned().unwrap_or_default()
    };
    vec![
        text(catch_unwind(unidist::init)),
        text(catch_unwind(unidist::shutdown)),
        text(catch_unwind(|| drop(unidist::transfer_stats()))),
        format!("{} {} {}", unidist::is_initialized(), unidist::num_workers(), unidist::backend()),
        text(catch_unwind(|| drop(unidist::memory_stats()))),
        text(catch_unwind(|| {
            let _ = unidist::schedule_rank();
        })),
        text(catch_unwind(|| drop(unidist::wait(&[unidist::put(1_u8)], 2)))),
    ]
}

/// The cases, in the order they run.
const CASES: &[&str] = &[
    "fib",
    "deep_recursion",
    "merge_sort",
    "three_levels",
    "errors",
    "put_and_wait",
    "quick_tasks_on_the_loop_thread",
    "misuse_in_task",
    "refs_in_tasks_are_freed",
];

fn main() {
    let cases = cases::Cases::from_args("nested", CASES);
    let (backend, workers) = (cases.backend.clone(), cases.workers);
    unidist::init();
    assert_eq!((unidist::backend(), unidist::num_workers()), (backend.as_str(), workers));

    cases.run("fib", || {
        for n in [0, 1, 2, 10] {
            assert_eq!(unidist::get(&fib::remote(n)).unwrap(), fib_seq(n));
        }
        let started = std::time::Instant::now();
        assert_eq!(unidist::get(&fib::remote(22)).unwrap(), fib_seq(22));
        eprintln!("fib(22): {} tasks in {:?}", 2 * fib_seq(23) - 1, started.elapsed());
    });

    cases.run("deep_recursion", || {
        // Deeper than a worker's threads times the tasks each holds for unrelated work
        // (256 x 64): each level runs the next on its own thread, like a plain call, whatever
        // depth the thread is at.
        const DEPTH: u64 = 20_000;
        assert!(DEPTH as usize > unidist::MAX_EXECUTOR_THREADS * unidist::MAX_NESTED_DEPTH);
        let started = std::time::Instant::now();
        assert_eq!(unidist::get(&countdown::remote(DEPTH)).unwrap(), DEPTH);
        eprintln!("a recursion of {DEPTH} remote calls in {:?}", started.elapsed());

        // And yet no worker had more executor threads than the bound at any time. One probe
        // per worker, round-robin: every process reports each of its workers.
        let refs: Vec<_> = (0..workers).map(|_| executor_threads::remote()).collect();
        let mut seen = BTreeMap::new();
        for most in unidist::get(&refs).unwrap() {
            seen.extend(most);
        }
        eprintln!("most executor threads per worker during the recursion: {seen:?}");
        assert_eq!(seen.len(), workers, "every worker reports: {seen:?}");
        for (worker, n) in seen {
            assert!(
                n <= unidist::MAX_EXECUTOR_THREADS,
                "{worker} had {n} executor threads; the bound is {}",
                unidist::MAX_EXECUTOR_THREADS
            );
        }
    });

    cases.run("merge_sort", || {
        let mut state = 0x2545_f491_u64;
        let data: Vec<u32> = (0..1_000_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u32
            })
            .collect();
        let mut expected = data.clone();
        expected.sort_unstable();
        assert_eq!(unidist::get(&merge_sort::remote(data)).unwrap(), expected);
    });

    cases.run("three_levels", || {
        let r = three_levels::remote(10);
        let passed_on = sum::remote(vec![r.clone(), unidist::put(1)]);
        assert_eq!(unidist::get(&r).unwrap(), 2 * 385);
        assert_eq!(unidist::get(&passed_on).unwrap(), 2 * 385 + 1);
    });

    cases.run("errors", || {
        let handled = unidist::get(&handles_child_error::remote()).unwrap();
        assert!(
            handled.starts_with("handled: remote function `nested::fails` panicked"),
            "{handled}"
        );
        assert!(handled.contains("deep trouble"), "{handled}");
        match unidist::get(&propagates_child_error::remote()) {
            Err(Error::TaskPanicked { function, message, .. }) => {
                assert_eq!(function, "nested::propagates_child_error");
                assert!(
                    message.contains("nested::fails") && message.contains("deep trouble"),
                    "{message}"
                );
            }
            other => panic!("expected the parent's panic, got {other:?}"),
        }
    });

    cases.run("put_and_wait", || {
        let (ready, total) = unidist::get(&put_and_wait::remote(100)).unwrap();
        assert!(ready >= 2);
        assert_eq!(total, 4 * 5050 + 100);
    });

    cases.run("quick_tasks_on_the_loop_thread", || {
        // Every call goes to worker 1: the cycle is advanced to it first.
        let on_worker_1 = |depth: u32| {
            while unidist::schedule_rank() != workers {}
            unidist::get(&quick_then_nested::remote(depth)).unwrap()
        };
        // Quick but unmarked: always on an executor.
        for _ in 0..20 {
            while unidist::schedule_rank() != workers {}
            let thread = unidist::get(&where_unmarked::remote()).unwrap();
            assert!(on_executor(&thread), "an unmarked function ran on {thread}");
        }
        let (value, first) = on_worker_1(0);
        assert_eq!(value, 1);
        assert!(on_executor(&first), "a function's first task runs on an executor: {first}");
        if unidist::backend() != "local" {
            // Under MPI the thread that waits for work runs the worker's loop and takes the task
            // itself (see `event_loop::Drive`): there is no hand-off for the loop's thread to
            // save. The tasks still run, nested ones included.
            assert!((0..100).all(|_| on_worker_1(0).0 == 1));
            assert_eq!(on_worker_1(3).0, 4);
            return;
        }
        // After a few quick runs, its tasks run on the worker's loop thread. Each run must be
        // quick (under 50 us): a busy machine may delay that, so try for long enough.
        let inline = (0..10_000).map(|_| on_worker_1(0).1).find(|thread| !on_executor(thread));
        let inline = inline.expect("quick tasks never ran on the loop thread");
        assert!(inline.starts_with("unidist-"), "{inline}");
        // Now one blocks in `get` on the loop thread: the loop goes on (its children run, on
        // executors and elsewhere) and the answer comes.
        let (value, thread) = on_worker_1(3);
        assert_eq!(value, 4);
        assert!(!on_executor(&thread), "the blocking task ran on the loop thread: {thread}");
        // A function that blocked runs on executors from then on.
        let (_, after) = on_worker_1(0);
        assert!(on_executor(&after), "{after}");
    });

    cases.run("misuse_in_task", || {
        let seen = unidist::get(&misuse_in_task::remote()).unwrap();
        assert!(
            seen[0].contains("unidist::init cannot be called inside a remote function"),
            "{}",
            seen[0]
        );
        assert!(
            seen[1].contains("unidist::shutdown cannot be called inside a remote function"),
            "{}",
            seen[1]
        );
        assert!(seen[2].contains("unidist::transfer_stats cannot be called inside"), "{}", seen[2]);
        assert_eq!(seen[3], format!("true {workers} {backend}"));
        assert!(seen[4].contains("unidist::memory_stats cannot be called inside"), "{}", seen[4]);
        assert!(seen[5].contains("unidist::schedule_rank cannot be called inside"), "{}", seen[5]);
        assert!(seen[6].contains("num_returns is 2 but only 1 refs"), "{}", seen[6]);
    });

    cases.run("refs_in_tasks_are_freed", || {
        // Tasks that make refs, pass them on and drop them, two levels down.
        assert_eq!(unidist::get(&three_levels::remote(10)).unwrap(), 2 * 385);
        let stats = unidist::memory_stats();
        assert!(
            stats.iter().all(|m| m.objects == 0),
            "refs made and dropped in tasks are freed: {stats:?}"
        );
    });

    unidist::shutdown();
    cases.finish();
}
