//! Control over running work: deadlines (`wait_timeout`, `get_timeout`), results as they complete
//! (`as_completed`), one result per ref (`get_each`), refs as keys, `&str` for `String`, and
//! misuse panics that point at the caller's line.
//!
//! Usage: `control <expected backend> <expected workers> [<case>]`, or `control --list` (see
//! `cases.rs`).

#[path = "cases.rs"]
mod cases;
#[path = "release.rs"]
mod release;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::future::IntoFuture;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::StreamExt;

use release::{straggler, Flag, PATIENCE};
use unidist::{actor, remote, ActorRef, Error, ObjectRef, TaskOptions};

const CASES: &[&str] = &[
    "deadlines_leave_a_straggler_running",
    "as_completed_follows_completion_order",
    "as_completed_keeps_keys_and_failures",
    "as_completed_stops_at_its_deadline",
    "get_each_keeps_every_success",
    "refs_are_keys",
    "strings_take_str",
    "misuse_points_at_the_caller",
    "cancelled_tasks_never_run",
    "a_running_task_sees_its_cancel",
    "cancel_after_the_end_changes_nothing",
    "a_task_cancels_its_child",
    "cancelled_actor_calls_never_run",
    "retries_run_a_panicking_task_again",
    "retries_per_call",
    "at_the_bound_try_remote_is_refused",
    "a_flood_of_tasks_stays_within_the_bound",
    "refs_are_awaited_without_blocking",
    "a_task_awaits_its_children",
    "the_stream_of_results_follows_completion_order",
    "deadlines_inside_a_task",
];

/// The timed calls from inside a task: a straggler child (released by the file `release`, which
/// this task creates at the end) is left running by each, and its ref stays valid. Panics,
/// failing its task, if anything differs.
#[remote]
fn deadlines_in_a_task(release: PathBuf) -> u64 {
    let fast = square::remote(3);
    assert_eq!(unidist::get(&fast).unwrap(), 9);
    let slow = straggler::remote(release.clone(), 77);
    let both = vec![fast.clone(), slow.clone()];
    let (ready, not_ready) = unidist::wait_timeout(&both, 2, Duration::from_millis(200));
    assert_eq!((ready, not_ready), (vec![fast.clone()], vec![slow.clone()]));
    match unidist::get_timeout(&slow, Duration::from_millis(50)) {
        Err(Error::Timeout { object, .. }) => assert_eq!(object, slow.id()),
        other => panic!("expected a timeout, got {other:?}"),
    }
    let pairs = vec![("fast", fast), ("slow", slow.clone())];
    let mut completed = unidist::as_completed(pairs).timeout(Duration::from_millis(100));
    let keys: Vec<&str> = completed.by_ref().map(|(key, _)| key).collect();
    assert_eq!(keys, ["fast"]);
    assert_eq!(completed.into_remaining(), [("slow", slow.clone())]);
    std::fs::write(&release, b"").expect("the temporary directory is writable");
    unidist::get(&slow).unwrap()
}

#[remote]
fn square(x: u64) -> u64 {
    x * x
}

/// The next link of a chain: its place in the chain, one more than its input's.
#[remote]
fn link(previous: u64) -> u64 {
    previous + 1
}

/// Fails after its input is made.
#[remote]
fn fail_after(input: u64) -> u64 {
    panic!("failed after link {input}");
}

/// A simulation of `micros` microseconds that diverges on parameters divisible by 19.
#[remote]
fn simulate(parameter: u64, micros: u64) -> u64 {
    std::thread::sleep(Duration::from_micros(micros));
    assert!(parameter % 19 != 0, "parameter {parameter} diverged");
    parameter * 3
}

/// Leaves a file named `i` in `dir`: the task ran.
#[remote]
fn mark(dir: PathBuf, i: u64) -> u64 {
    std::fs::write(dir.join(i.to_string()), b"").expect("the directory is writable");
    i
}

/// [`mark`], once `_input` is made.
#[remote]
fn mark_after(dir: PathBuf, i: u64, _input: u64) -> u64 {
    std::fs::write(dir.join(i.to_string()), b"").expect("the directory is writable");
    i
}

/// Leaves `started` in `dir`, runs until it is cancelled (or [`PATIENCE`] has passed), then
/// leaves `saw-cancel` if it was.
#[remote]
fn until_cancelled(dir: PathBuf) -> u64 {
    std::fs::write(dir.join("started"), b"").expect("the directory is writable");
    let deadline = Instant::now() + PATIENCE;
    while !unidist::is_cancelled() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    if unidist::is_cancelled() {
        std::fs::write(dir.join("saw-cancel"), b"").expect("the directory is writable");
    }
    7
}

/// Submits [`until_cancelled`], cancels it and gets it: true if that gave `Error::Cancelled`.
#[remote]
fn cancel_child(dir: PathBuf) -> bool {
    let child = until_cancelled::remote(dir);
    unidist::cancel(&child);
    matches!(unidist::get(&child), Err(Error::Cancelled { .. }))
}

/// The worker rank the calling task runs on, from its executor thread's name
/// (`unidist-x-<rank>`), or 0 if it runs on the loop's thread.
fn worker_rank() -> usize {
    let thread = std::thread::current();
    let name = thread.name().unwrap_or_default();
    name.strip_prefix("unidist-x-").and_then(|r| r.parse().ok()).unwrap_or(0)
}

/// Panics on its first `fails` runs (counted by files `<key>-<run>-<rank>` in `dir`), then
/// returns the number of its run, from 0.
#[remote(max_retries = 2)]
fn flaky(dir: PathBuf, key: String, fails: u64) -> u64 {
    let runs = std::fs::read_dir(&dir)
        .expect("the directory is readable")
        .filter(|e| {
            e.as_ref().unwrap().file_name().to_string_lossy().starts_with(&format!("{key}-"))
        })
        .count() as u64;
    let name = format!("{key}-{runs}-{}", worker_rank());
    std::fs::write(dir.join(name), b"").expect("the directory is writable");
    assert!(runs >= fails, "run {runs} of {key} failed");
    runs
}

/// Awaits, on the task's own thread, the values `0..n` it `put`. (Only values: a thread blocked
/// in `block_on` holds its task's slot, so a task it awaits could wait behind it.)
#[remote]
fn await_children(n: u64) -> u64 {
    let refs: Vec<ObjectRef<u64>> = (0..n).map(|x| unidist::put(x * x)).collect();
    futures::executor::block_on(async {
        let values = futures::future::join_all(refs.iter().map(|r| r.into_future())).await;
        values.into_iter().map(Result::unwrap).sum()
    })
}

/// The root's resident memory, in bytes (`VmRSS`).
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("a VmRSS line");
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// The ranks `flaky`'s runs for `key` ran on, in order.
fn runs_of(dir: &Dir, key: &str) -> Vec<usize> {
    let mut runs: Vec<(u32, usize)> = std::fs::read_dir(&dir.0)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            let rest = name.strip_prefix(&format!("{key}-"))?;
            let (run, rank) = rest.split_once('-')?;
            Some((run.parse().ok()?, rank.parse().ok()?))
        })
        .collect();
    runs.sort_unstable();
    runs.into_iter().map(|(_, rank)| rank).collect()
}

/// A running total, and a call that holds the actor until a file exists.
struct Total {
    total: u64,
}

#[actor]
impl Total {
    fn new() -> Self {
        Total { total: 0 }
    }

    fn add(&mut self, x: u64) -> u64 {
        self.total += x;
        self.total
    }

    fn hold(&mut self, release: PathBuf) -> u64 {
        let deadline = Instant::now() + PATIENCE;
        while !release.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.total
    }
}

#[remote]
fn greet(name: String) -> String {
    format!("hello, {name}")
}

/// A fresh directory for the files a case's tasks leave, removed when the case ends.
struct Dir(PathBuf);

impl Dir {
    fn new(case: &str) -> Dir {
        let dir =
            std::env::temp_dir().join(format!("unidist-control-{}-{case}.d", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        Dir(dir)
    }

    fn files(&self) -> usize {
        std::fs::read_dir(&self.0).map(|entries| entries.count()).unwrap_or(0)
    }

    fn has(&self, name: &str) -> bool {
        self.0.join(name).exists()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A small deterministic generator (xorshift), so that runs are repeatable.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i as u64 + 1) as usize);
        }
    }
}

/// The location of the panic `f` raises, with its message.
fn panic_location(f: impl FnOnce() + std::panic::UnwindSafe) -> (String, u32, String) {
    use std::sync::{Arc, Mutex};
    let seen = Arc::new(Mutex::new(None));
    let hook_seen = Arc::clone(&seen);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let location = info.location().expect("a location");
        *hook_seen.lock().unwrap() = Some((location.file().to_string(), location.line()));
    }));
    let result = std::panic::catch_unwind(f);
    std::panic::set_hook(previous);
    let payload = result.expect_err("the call panics");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    let (file, line) = seen.lock().unwrap().take().expect("the hook saw the panic");
    (file, line, message)
}

fn main() {
    let cases = cases::Cases::from_args("control", CASES);
    unidist::init();
    assert_eq!(unidist::backend(), cases.backend);
    assert_eq!(unidist::num_workers(), cases.workers);

    // A straggler that only finishes when told to: the timed calls return without it, say which
    // object was late, and the ref gives its value once it is released.
    cases.run("deadlines_leave_a_straggler_running", || {
        let flag = Flag::new("deadlines");
        let fast: Vec<ObjectRef<u64>> = (0..6).map(square::remote).collect();
        assert_eq!(unidist::get(&fast).unwrap(), [0, 1, 4, 9, 16, 25]);
        let slow = straggler::remote(flag.0.clone(), 77);
        let mut all = fast.clone();
        all.insert(2, slow.clone());

        let (ready, not_ready) = unidist::wait_timeout(&all, all.len(), Duration::from_millis(200));
        assert_eq!(ready, fast, "the fast ones, in input order");
        assert_eq!(not_ready, std::slice::from_ref(&slow));
        // Fewer asked for than are ready: answered at once, with every ready one.
        let (ready, not_ready) = unidist::wait_timeout(&all, 1, Duration::from_secs(3600));
        assert_eq!((ready.len(), not_ready.len()), (6, 1));

        match unidist::get_timeout(&slow, Duration::from_millis(100)) {
            Err(Error::Timeout { object, waited }) => {
                assert_eq!(object, slow.id());
                assert_eq!(waited, Duration::from_millis(100));
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
        match unidist::get_timeout(&all, Duration::from_millis(50)) {
            Err(Error::Timeout { object, .. }) => assert_eq!(object, slow.id(), "the late one"),
            other => panic!("expected a timeout, got {other:?}"),
        }
        let message = unidist::get_timeout(&slow, Duration::ZERO).unwrap_err().to_string();
        assert!(message.contains("stays valid"), "{message}");

        flag.raise();
        assert_eq!(unidist::get(&slow).unwrap(), 77, "the ref stayed valid");
        let everything = unidist::get_timeout(&all, Duration::from_secs(3600)).unwrap();
        assert_eq!(everything, [0, 1, 77, 4, 9, 16, 25]);
        let (ready, _) = unidist::wait_timeout(&all, all.len(), Duration::from_secs(3600));
        assert_eq!(ready.len(), all.len());
    });

    // A chain of tasks given in shuffled order: link k can only finish after link k - 1, so
    // the order the results come in is the order they finished in. Every link and every failure
    // (a task that panics after a link) comes once, a failure after its link. The chain and
    // its failures run on worker 1, whose results reach the root in the order they finished.
    cases.run("as_completed_follows_completion_order", || {
        let n = 1000;
        let mut items: Vec<(String, ObjectRef<u64>)> = Vec::new();
        // With another worker: a task named before the chain (so with a lower ID) that finishes
        // only once the last link has come: it comes last, whatever the IDs say.
        let flag = Flag::new("order");
        let workers = unidist::num_workers();
        if workers > 1 {
            let early = straggler::remote_on(workers, flag.0.clone(), 99);
            items.push(("early".to_string(), early));
        }
        let mut previous = unidist::put(0_u64);
        for k in 1..=n {
            let next = link::remote_on(1, &previous);
            if k % 50 == 0 {
                items.push((format!("fail-{k}"), fail_after::remote_on(1, &next)));
            }
            items.push((format!("link-{k}"), next.clone()));
            previous = next;
        }
        let total = items.len();
        Rng(0x9e37_79b9_7f4a_7c15).shuffle(&mut items);
        let mut seen = HashSet::new();
        let mut last_link = 0;
        for (key, result) in unidist::as_completed(items) {
            assert!(seen.insert(key.clone()), "{key} came twice");
            if let Some(k) = key.strip_prefix("link-") {
                let k: u64 = k.parse().unwrap();
                assert_eq!(result, Ok(k), "link {k}'s value is its place in the chain");
                assert_eq!(k, last_link + 1, "links come in the order they finished");
                last_link = k;
                if k == n {
                    flag.raise();
                }
            } else if key == "early" {
                assert_eq!((last_link, result), (n, Ok(99)), "the early task came last");
            } else {
                let k: u64 = key.strip_prefix("fail-").unwrap().parse().unwrap();
                assert!(last_link >= k, "{key} came before the link it needs");
                let message = result.unwrap_err().to_string();
                assert!(message.contains(&format!("failed after link {k}")), "{message}");
            }
        }
        assert_eq!(seen.len(), total, "every key once");
    });

    // A sweep of tasks of random length, some failing: each parameter comes back once, with
    // its value or its error.
    cases.run("as_completed_keeps_keys_and_failures", || {
        let mut rng = Rng(12345);
        let runs: Vec<(u64, ObjectRef<u64>)> =
            (1..=300).map(|p| (p, simulate::remote(p, rng.below(2000)))).collect();
        let mut results = HashMap::new();
        for (p, result) in unidist::as_completed(runs) {
            assert!(results.insert(p, result).is_none(), "parameter {p} came twice");
        }
        assert_eq!(results.len(), 300);
        for (p, result) in results {
            if p % 19 == 0 {
                let message = result.unwrap_err().to_string();
                assert!(message.contains(&format!("parameter {p} diverged")), "{message}");
            } else {
                assert_eq!(result, Ok(p * 3));
            }
        }
    });

    // A deadline ends the iteration with the straggler left over, still valid.
    cases.run("as_completed_stops_at_its_deadline", || {
        let flag = Flag::new("as-completed");
        let mut items: Vec<(u64, ObjectRef<u64>)> =
            (0..10).map(|i| (i, square::remote(i))).collect();
        unidist::get(&items.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>()).unwrap();
        items.push((99, straggler::remote(flag.0.clone(), 5)));
        let mut done = unidist::as_completed(items).timeout(Duration::from_millis(200));
        let mut keys: Vec<u64> = (&mut done)
            .map(|(k, r)| {
                assert_eq!(r, Ok(k * k));
                k
            })
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, (0..10).collect::<Vec<_>>());
        assert_eq!(done.next(), None, "the deadline has passed");
        let left = done.into_remaining();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].0, 99);
        flag.raise();
        assert_eq!(unidist::get(&left[0].1).unwrap(), 5);
    });

    // One failure among many loses nothing else, and says what failed.
    cases.run("get_each_keeps_every_success", || {
        let refs: Vec<ObjectRef<u64>> = (1..=40).map(|p| simulate::remote(p, 0)).collect();
        let results = unidist::get_each(&refs);
        assert_eq!(results.len(), 40);
        for (p, result) in (1..=40).zip(&results) {
            if p % 19 == 0 {
                match result {
                    Err(Error::TaskPanicked { function, message, object, .. }) => {
                        assert_eq!(
                            *object,
                            refs[p as usize - 1].id(),
                            "the error names its object"
                        );
                        assert!(function.ends_with("simulate"), "{function}");
                        assert!(message.contains(&format!("parameter {p} diverged")));
                    }
                    other => panic!("parameter {p}: expected its panic, got {other:?}"),
                }
            } else {
                assert_eq!(*result, Ok(p * 3));
            }
        }
        // `get` of the same refs gives the first error alone.
        assert!(unidist::get(&refs).is_err());
    });

    // Refs compare, hash and order by object.
    cases.run("refs_are_keys", || {
        let refs: Vec<ObjectRef<u64>> = (0..50).map(square::remote).collect();
        let by_ref: HashMap<ObjectRef<u64>, u64> =
            refs.iter().enumerate().map(|(i, r)| (r.clone(), i as u64)).collect();
        assert_eq!(by_ref.len(), 50);
        for (i, r) in refs.iter().enumerate() {
            assert_eq!(by_ref[&r.clone()], i as u64, "a clone finds its entry");
        }
        let ordered: BTreeSet<ObjectRef<u64>> = refs.iter().rev().cloned().collect();
        let ids: Vec<_> = ordered.iter().map(ObjectRef::id).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "ordered by ID");
        assert_ne!(refs[0], refs[1]);
        for (k, (_, result)) in
            unidist::as_completed(refs.into_iter().map(|r| (r.clone(), r))).enumerate()
        {
            assert!(result.is_ok(), "result {k}");
        }
    });

    // A `String` parameter takes a `&str` and a `&String`.
    cases.run("strings_take_str", || {
        let owned = String::from("owned");
        let refs = [greet::remote("world"), greet::remote(&owned), greet::remote(owned.clone())];
        assert_eq!(unidist::get(&refs).unwrap(), ["hello, world", "hello, owned", "hello, owned"]);
        let stored = unidist::put(String::from("stored"));
        assert_eq!(unidist::get(&greet::remote(&stored)).unwrap(), "hello, stored");
    });

    // Misuse panics name the line of the call, not a line inside unidist.
    cases.run("misuse_points_at_the_caller", || {
        let refs: Vec<ObjectRef<u64>> = (0..2).map(square::remote).collect();
        let (file, line, message) = panic_location(|| {
            unidist::wait(&refs, 5);
        });
        assert_eq!((file.as_str(), line), (file!(), line!() - 2), "{message}");
        assert!(message.contains("num_returns is 5"), "{message}");
        let (file, line, message) = panic_location(|| {
            unidist::wait_timeout(&refs, 3, Duration::from_secs(1));
        });
        assert_eq!((file.as_str(), line), (file!(), line!() - 2), "{message}");
        let (file, line, _) = panic_location(|| {
            let _ = square::remote_on(99, 1);
        });
        assert_eq!((file.as_str(), line), (file!(), line!() - 2));
        assert_eq!(unidist::get(&refs).unwrap(), [0, 1], "the runtime goes on");
    });

    // Tasks queued for a slot of worker 1 behind tasks that hold every slot there, and tasks
    // waiting for an input those make: cancelled, none runs (none leaves its file), each
    // result is the error naming its object, and tasks that take one as input fail naming it.
    cases.run("cancelled_tasks_never_run", || {
        let flag = Flag::new("cancel");
        let dir = Dir::new("cancel");
        let hosts = unidist::cluster_resources();
        let slots = hosts[0].slots.div_ceil(hosts[0].workers.len().max(1)).max(1);
        let blockers: Vec<ObjectRef<u64>> =
            (0..slots).map(|_| straggler::remote_on(1, flag.0.clone(), 1)).collect();
        let queued: Vec<ObjectRef<u64>> =
            (0..500).map(|i| mark::remote_on(1, dir.0.clone(), i)).collect();
        let waiting: Vec<ObjectRef<u64>> =
            (500..1000).map(|i| mark_after::remote(dir.0.clone(), i, &blockers[0])).collect();
        let dependents: Vec<ObjectRef<u64>> = queued.iter().step_by(50).map(link::remote).collect();
        unidist::cancel(&queued);
        unidist::cancel(waiting.as_slice());
        for (r, result) in queued
            .iter()
            .chain(&waiting)
            .zip(unidist::get_each(&queued).into_iter().chain(unidist::get_each(&waiting)))
        {
            assert_eq!(result, Err(Error::Cancelled { object: r.id() }));
        }
        for (input, result) in queued.iter().step_by(50).zip(unidist::get_each(&dependents)) {
            match result {
                Err(Error::InputFailed { input: failed, cause, .. }) => {
                    assert_eq!(failed, input.id());
                    assert_eq!(*cause, Error::Cancelled { object: input.id() });
                }
                other => panic!("expected the cancelled input's error, got {other:?}"),
            }
        }
        flag.raise();
        assert_eq!(unidist::get(&blockers).unwrap(), vec![1; slots]);
        assert_eq!(dir.files(), 0, "a cancelled task ran");
        // Worker 1 goes on.
        assert_eq!(unidist::get(&mark::remote_on(1, dir.0.clone(), 5000)).unwrap(), 5000);
        assert_eq!(dir.files(), 1);
    });

    // A running task sees its cancel, and its result is the error, whatever it returned.
    cases.run("a_running_task_sees_its_cancel", || {
        let dir = Dir::new("running");
        let running = until_cancelled::remote(dir.0.clone());
        while !dir.has("started") {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(!unidist::is_cancelled(), "the root's program is no task");
        unidist::cancel(&running);
        assert_eq!(unidist::get(&running), Err(Error::Cancelled { object: running.id() }));
        assert!(dir.has("saw-cancel"), "the task saw its cancel");
    });

    // A finished task keeps its result; a `put` value is no task's; cancelling twice is fine.
    cases.run("cancel_after_the_end_changes_nothing", || {
        let r = square::remote(5);
        assert_eq!(unidist::get(&r).unwrap(), 25);
        let stored = unidist::put(6_u64);
        unidist::cancel(&r);
        unidist::cancel(&r);
        unidist::cancel(&stored);
        assert_eq!(unidist::get(&r).unwrap(), 25);
        assert_eq!(unidist::get(&stored).unwrap(), 6);
        assert_eq!(unidist::get(&link::remote(&r)).unwrap(), 26);
    });

    // Calls queued on an actor behind a call that holds it: the cancelled ones never run, the
    // others run in order; the actor's end cannot be cancelled (its `Drop` must run).
    cases.run("cancelled_actor_calls_never_run", || {
        let flag = Flag::new("actor");
        let total: ActorRef<Total> = Total::remote();
        let held = total.hold(flag.0.clone());
        let calls: Vec<ObjectRef<u64>> = (1..=6).map(|x| total.add(x)).collect();
        let waiting = total.add(link::remote(&held)); // waits for an input too
        let cancelled = [calls[1].clone(), calls[3].clone(), waiting.clone()];
        unidist::cancel(&cancelled);
        for r in &cancelled {
            assert_eq!(unidist::get(r), Err(Error::Cancelled { object: r.id() }));
        }
        flag.raise();
        assert_eq!(unidist::get(&held).unwrap(), 0);
        let results = unidist::get_each(&calls);
        assert_eq!(results[0], Ok(1));
        assert_eq!(results[2], Ok(1 + 3));
        assert_eq!(results[4], Ok(1 + 3 + 5));
        assert_eq!(results[5], Ok(1 + 3 + 5 + 6), "2, 4 and the waiting call never ran");
        let end = ActorRef::kill(&total).expect("the first kill");
        unidist::cancel(&end);
        assert_eq!(unidist::get(&end), Ok(()), "the end ran");
    });

    // A task cancels a task it submitted.
    cases.run("a_task_cancels_its_child", || {
        let dirs: Vec<Dir> = (0..4).map(|i| Dir::new(&format!("child-{i}"))).collect();
        let parents: Vec<ObjectRef<bool>> =
            dirs.iter().map(|d| cancel_child::remote(d.0.clone())).collect();
        assert_eq!(unidist::get(&parents).unwrap(), [true; 4]);
    });

    // `#[remote(max_retries = 2)]`: a task that panics twice succeeds on its third run; one that
    // panics three times fails, saying so with the last run's message. What depends on a
    // retried task gets its value.
    cases.run("retries_run_a_panicking_task_again", || {
        let dir = Dir::new("retries");
        let recovers = flaky::remote(dir.0.clone(), "recovers", 2);
        let after = link::remote(&recovers);
        let gives_up = flaky::remote(dir.0.clone(), "gives-up", 3);
        assert_eq!(unidist::get(&recovers).unwrap(), 2);
        assert_eq!(unidist::get(&after).unwrap(), 3);
        match unidist::get(&gives_up) {
            Err(e @ Error::TaskPanicked { attempts: 3, .. }) => {
                let message = e.to_string();
                assert!(message.contains("run 2 of gives-up failed"), "{message}");
                assert!(message.contains("each of its 3 attempts"), "{message}");
            }
            other => panic!("expected the third panic, got {other:?}"),
        }
        // (Each run is placed on another worker than the last, but a worker with nothing to do
        // may take a queued run over, back to one it failed on: the root's unit test checks the
        // placement.)
        for key in ["recovers", "gives-up"] {
            assert_eq!(runs_of(&dir, key).len(), 3, "{key}: three runs, no fourth");
        }
    });

    // Per call: no retry, more retries, and retries on a chosen worker stay there.
    cases.run("retries_per_call", || {
        let dir = Dir::new("retries-per-call");
        let none = flaky::remote_with(TaskOptions::new().max_retries(0), dir.0.clone(), "none", 1);
        match unidist::get(&none) {
            Err(Error::TaskPanicked { attempts: 1, message, .. }) => {
                assert!(message.contains("run 0 of none failed"), "{message}")
            }
            other => panic!("expected the first panic, got {other:?}"),
        }
        let more = flaky::remote_with(TaskOptions::new().max_retries(5), dir.0.clone(), "more", 4);
        assert_eq!(unidist::get(&more).unwrap(), 4);
        let last = unidist::num_workers();
        let options = TaskOptions::new().max_retries(3).worker(last);
        let pinned = flaky::remote_with(options, dir.0.clone(), "pinned", 2);
        assert_eq!(unidist::get(&pinned).unwrap(), 2);
        let ranks = runs_of(&dir, "pinned");
        assert!(ranks.iter().all(|&r| r == last || r == 0), "{ranks:?} left worker {last}");
        let plain = flaky::remote_with(TaskOptions::new(), dir.0.clone(), "default", 2);
        assert_eq!(unidist::get(&plain).unwrap(), 2, "the function's own max_retries");
    });

    // The bound reached: `try_remote` submits nothing and says so; a place freed, it goes.
    cases.run("at_the_bound_try_remote_is_refused", || {
        let flag = Flag::new("bound");
        unidist::set_max_in_flight(Some(20));
        assert_eq!(unidist::max_in_flight(), Some(20));
        let held: Vec<ObjectRef<u64>> =
            (0..20).map(|i| straggler::remote(flag.0.clone(), i)).collect();
        assert_eq!(unidist::in_flight(), 20);
        match square::try_remote(3) {
            Err(Error::Busy { in_flight: 20, limit: 20 }) => {}
            other => panic!("expected Busy, got {other:?}"),
        }
        assert_eq!(unidist::in_flight(), 20, "nothing was submitted");
        flag.raise();
        assert_eq!(unidist::get(&held).unwrap(), (0..20).collect::<Vec<u64>>());
        // A place is free once the root has read the task's end, which may come just after
        // the value `get` waited for.
        let patience = Instant::now() + PATIENCE;
        while unidist::in_flight() > 0 && Instant::now() < patience {
            std::thread::yield_now();
        }
        assert_eq!(unidist::in_flight(), 0, "a task's place is free once it is done");
        assert_eq!(unidist::get(&square::try_remote(3).unwrap()).unwrap(), 9);
        unidist::set_max_in_flight(None);
        assert_eq!(unidist::max_in_flight(), None);
    });

    // A program that submits far more tasks than it reads at once: `remote` waits at the bound,
    // the count never passes it, on the root nor on any worker, and the root's memory stays
    // flat.
    cases.run("a_flood_of_tasks_stays_within_the_bound", || {
        let total: u64 =
            std::env::var("CONTROL_FLOOD").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
        let bound = 1000;
        // Also starts the workers' peaks anew: earlier cases held more.
        let ended_before: u64 = unidist::worker_stats().iter().map(|w| w.ended).sum();
        unidist::set_max_in_flight(Some(bound));
        let mut window = std::collections::VecDeque::new();
        let mut most = 0;
        let mut resident_at_a_fifth = 0;
        for x in 0..total {
            window.push_back((x, square::remote(x)));
            most = most.max(unidist::in_flight());
            if window.len() > 2 * bound {
                let (x, r) = window.pop_front().unwrap();
                assert_eq!(unidist::get(&r).unwrap(), x * x);
            }
            if x == total / 5 {
                resident_at_a_fifth = resident_bytes();
            }
        }
        for (x, r) in window {
            assert_eq!(unidist::get(&r).unwrap(), x * x);
        }
        assert!(most <= bound, "{most} tasks in flight, above the bound of {bound}");
        // Counted on the workers: each held at most the bound at once (all of them together
        // did too, but each counts its own peak, at moments of its own).
        let workers = unidist::worker_stats();
        let held = workers.iter().map(|w| w.most_tasks).max().unwrap_or(0);
        assert!(held > 0 && held <= bound as u64, "a worker held {held} at once: {workers:?}");
        let ended = workers.iter().map(|w| w.ended).sum::<u64>() - ended_before;
        assert_eq!(ended, total, "every task ended once, on one worker: {workers:?}");
        assert!(workers.iter().all(|w| w.tasks == 0), "none left: {workers:?}");
        let grown = resident_bytes().saturating_sub(resident_at_a_fifth);
        assert!(grown < 64 << 20, "the root grew by {grown} bytes over {} tasks", total * 4 / 5);
        unidist::set_max_in_flight(None);
        println!(
            "flood: {total} tasks, at most {most} in flight, at most {held} on one worker, \
             root grew by {grown} bytes"
        );
    });

    // 10,000 refs awaited at once from one thread's executor; a ref that is not ready does not
    // hold the thread: the future that releases it runs meanwhile on the same thread.
    cases.run("refs_are_awaited_without_blocking", || {
        let refs: Vec<ObjectRef<u64>> = (0..10_000).map(square::remote).collect();
        let values = futures::executor::block_on(futures::future::join_all(
            refs.iter().map(|r| r.into_future()),
        ));
        for (x, value) in (0..10_000_u64).zip(values) {
            assert_eq!(value, Ok(x * x));
        }
        let flag = Flag::new("await");
        let slow = straggler::remote(flag.0.clone(), 77);
        let (late, quick) = futures::executor::block_on(async {
            let release = async {
                flag.raise();
                square::remote(9).await
            };
            futures::join!((&slow).into_future(), release)
        });
        assert_eq!((late, quick), (Ok(77), Ok(81)), "the straggler was released meanwhile");
        let owned = square::remote(4);
        assert_eq!(futures::executor::block_on(owned.into_future()), Ok(16));
    });

    // Inside a task, awaiting goes through its worker (here for values it put).
    cases.run("a_task_awaits_its_children", || {
        let sums: Vec<ObjectRef<u64>> = (1..=4).map(|n| await_children::remote(n * 10)).collect();
        let expected: Vec<u64> = (1..=4).map(|n| (0..n * 10).map(|x| x * x).sum()).collect();
        assert_eq!(unidist::get(&sums).unwrap(), expected);
    });

    // The stream form of `as_completed`: the chain's links in the order they finished, every
    // key once, failures included.
    cases.run("the_stream_of_results_follows_completion_order", || {
        let mut items: Vec<(String, ObjectRef<u64>)> = Vec::new();
        let mut previous = unidist::put(0_u64);
        for k in 1..=300 {
            let next = link::remote_on(1, &previous);
            if k % 30 == 0 {
                items.push((format!("fail-{k}"), fail_after::remote_on(1, &next)));
            }
            items.push((format!("link-{k}"), next.clone()));
            previous = next;
        }
        let total = items.len();
        Rng(77).shuffle(&mut items);
        let got: Vec<(String, Result<u64, Error>)> =
            futures::executor::block_on(unidist::as_completed(items).into_stream().collect());
        assert_eq!(got.len(), total);
        let links: Vec<u64> = got
            .iter()
            .filter(|(k, _)| k.starts_with("link-"))
            .map(|(k, r)| {
                let k: u64 = k.strip_prefix("link-").unwrap().parse().unwrap();
                assert_eq!(*r, Ok(k));
                k
            })
            .collect();
        assert_eq!(links, (1..=300).collect::<Vec<_>>(), "links in the order they finished");
        assert_eq!(got.iter().filter(|(_, r)| r.is_err()).count(), 10);
    });

    // The deadlines from inside a task, whose waits with a deadline run on its worker. Last:
    // the straggler its worker runs meanwhile leaves an executor thread more there, which
    // `cancelled_tasks_never_run` (which counts on every slot held by its blockers) must not
    // meet.
    cases.run("deadlines_inside_a_task", || {
        let flag = Flag::new("deadlines-inside");
        let parent = deadlines_in_a_task::remote(flag.0.clone());
        assert_eq!(unidist::get(&parent).unwrap(), 77, "the straggler's ref stayed valid");
    });

    assert!(
        unidist::memory_stats().iter().all(|m| m.objects == 0),
        "every case frees what it made: {:?}",
        unidist::memory_stats()
    );
    unidist::shutdown();
    cases.finish();
}
