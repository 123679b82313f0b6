//! Actors: state that lives on a worker, typed method calls that return refs, placement on a
//! chosen worker, errors, and the actor's end. Each case checks what a user relies on: calls run
//! in order, one at a time; state stays; a panic fails one call; a failed constructor fails
//! every call naming it; `Drop` runs on the worker when the actor ends.
//!
//! Usage: `actors <expected backend> <expected workers> [<case>]`, or `actors --list`.

#[path = "cases.rs"]
mod cases;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use unidist::{actor, remote, ActorRef, Error, ObjectRef};

const CASES: &[&str] = &[
    "calls_run_in_order",
    "state_stays_between_calls",
    "one_actor_per_worker",
    "an_exclusive_actor_has_its_worker_alone",
    "plain_tasks_on_a_chosen_worker",
    "a_task_chooses_workers_too",
    "refs_flow_between_actors_and_tasks",
    "a_method_submits_and_gets_tasks",
    "a_handle_passed_to_tasks",
    "an_actor_calls_another",
    "an_actor_made_in_a_task",
    "a_handle_kept_by_another_actor",
    "a_handle_dropped_on_a_thread_of_a_task",
    "calls_from_tasks_take_no_turn_of_the_cycle",
    "a_panicking_method_fails_only_its_call",
    "a_method_waiting_for_its_own_actor_fails",
    "a_failed_constructor_fails_every_call",
    "kill_runs_drop_and_later_calls_fail",
    "the_last_handle_dropped_ends_the_actor",
    "a_worker_that_is_not_one_is_a_clear_panic",
    "macro_forms",
    "live_actors_at_shutdown",
];

/// The worker rank the calling thread runs on, from its executor thread's name.
fn my_rank() -> usize {
    let thread = std::thread::current();
    let name = thread.name().unwrap_or_default();
    name.strip_prefix("unidist-x-").and_then(|r| r.parse().ok()).unwrap_or(0)
}

/// Records every value it is given, in order.
struct Log {
    seen: Vec<u64>,
}

#[actor]
impl Log {
    fn new() -> Self {
        Log { seen: Vec::new() }
    }

    /// Appends `x`; returns how many values it holds.
    fn push(&mut self, x: u64) -> usize {
        self.seen.push(x);
        self.seen.len()
    }

    fn all(&self) -> Vec<u64> {
        self.seen.clone()
    }
}

/// A counter that also says where it lives, and can be made to panic.
struct Counter {
    total: i64,
    /// Written when the counter is dropped (its end).
    tombstone: Option<PathBuf>,
}

#[actor]
impl Counter {
    fn new(start: i64, tombstone: Option<PathBuf>) -> Self {
        if start < 0 {
            panic!("a counter cannot start below zero (got {start})");
        }
        Counter { total: start, tombstone }
    }

    fn add(&mut self, x: i64) -> i64 {
        if x == 1313 {
            panic!("unlucky {x}");
        }
        self.total += x;
        self.total
    }

    fn total(&self) -> i64 {
        self.total
    }

    fn rank(&self) -> usize {
        my_rank()
    }

    /// Adds `x` to `other` (another actor) and returns its new total plus this one's.
    fn forward(&self, other: ActorRef<Counter>, x: i64) -> i64 {
        unidist::get(&other.add(x)).expect("the other actor's call") + self.total
    }

    /// Waits for a call on its own actor: that call runs only after this one, so this fails.
    fn ask_self(&self, me: ActorRef<Counter>) -> i64 {
        unidist::get(&me.total()).expect("never reached")
    }

    /// Sums `square(i)` over `0..n` with one task per `i`, from inside a call.
    fn sum_of_squares(&self, n: u64) -> u64 {
        let refs: Vec<ObjectRef<u64>> = (0..n).map(square::remote).collect();
        unidist::get(&refs).expect("squares").into_iter().sum()
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        if let Some(path) = &self.tombstone {
            let line = format!("dropped on rank {} with total {}", my_rank(), self.total);
            std::fs::write(path, line).expect("the tombstone directory is writable");
        }
    }
}

/// Keeps a handle of a counter in its state.
struct Holder {
    kept: Option<ActorRef<Counter>>,
}

#[actor]
impl Holder {
    fn new() -> Self {
        Holder { kept: None }
    }

    fn keep(&mut self, counter: ActorRef<Counter>) {
        self.kept = Some(counter);
    }

    fn add_to_kept(&self, x: i64) -> i64 {
        let counter = self.kept.as_ref().expect("a kept counter");
        unidist::get(&counter.add(x)).expect("the kept counter's call")
    }

    fn forget(&mut self) {
        self.kept = None;
    }
}

/// One shard of a table, built in its constructor.
struct Shard {
    table: Vec<u64>,
}

#[actor]
impl Shard {
    fn new(len: u64, salt: u64) -> Self {
        Shard { table: (0..len).map(|i| i * 3 + salt).collect() }
    }

    fn lookup(&self, i: u64) -> (u64, usize) {
        (self.table[i as usize], my_rank())
    }
}

/// Forms of `#[actor]` blocks that must compile and work: a type named by a path, `Self` in
/// parameters and results, a constructor returning the type by its path, a method switched off
/// by `#[cfg]`, two actor types of one module that share their last name.
mod model {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize)]
    pub struct Pair(pub i64);

    pub mod other {
        pub struct Pair(pub i64);
    }
}

#[actor]
impl model::Pair {
    pub(crate) fn new(x: i64) -> model::Pair {
        model::Pair(x)
    }

    /// A copy of the state.
    pub fn twin(&self) -> Self {
        model::Pair(self.0)
    }

    fn many(&self, n: usize) -> Vec<Self> {
        (0..n).map(|_| model::Pair(self.0)).collect()
    }

    fn merge(&mut self, other: Self) -> i64 {
        self.0 += other.0;
        self.0
    }

    #[cfg(any())]
    fn never(&self) -> i64 {
        0
    }
}

#[actor]
impl model::other::Pair {
    fn new() -> Self {
        model::other::Pair(-1)
    }

    fn get(&self) -> i64 {
        self.0
    }
}

#[remote]
fn square(x: u64) -> u64 {
    x * x
}

#[remote]
fn double(x: i64) -> i64 {
    2 * x
}

/// Adds `x` through a handle the task was given; the new total.
#[remote]
fn add_through(counter: ActorRef<Counter>, x: i64) -> i64 {
    assert!(ActorRef::ready(&counter).is_none(), "a task's handle owns nothing");
    unidist::get(&counter.add(x)).expect("the call from a task")
}

/// Makes an actor inside a task, calls it, and drops its only handle when the task ends.
#[remote]
fn make_and_use(start: i64, tombstone: PathBuf) -> i64 {
    let counter = Counter::remote(start, Some(tombstone));
    assert!(ActorRef::ready(&counter).is_some(), "the maker owns it");
    unidist::get(&counter.add(2)).expect("a call from the task that made the actor")
}

/// Calls the actor, then drops the handle on a thread of its own, which runs no task.
#[remote]
fn drop_on_a_thread(counter: ActorRef<Counter>) -> i64 {
    let total = unidist::get(&counter.add(1)).expect("the call");
    std::thread::spawn(move || drop(counter)).join().expect("the thread");
    total
}

/// Makes `n` calls on the actor.
#[remote]
fn call_n_times(counter: ActorRef<Counter>, n: i64) -> i64 {
    let calls: Vec<ObjectRef<i64>> = (0..n).map(|_| counter.add(1)).collect();
    unidist::get(&calls).expect("the calls").into_iter().max().unwrap_or(0)
}

#[remote]
fn where_am_i() -> usize {
    my_rank()
}

/// From inside a task: runs `where_am_i` on each worker, and starts a shard on the last one.
#[remote]
fn place_from_a_task(workers: usize) -> (Vec<usize>, usize) {
    let ranks: Vec<ObjectRef<usize>> = (1..=workers).map(where_am_i::remote_on).collect();
    let shard = Shard::remote_on(workers, 10, 0);
    let (_, rank) = unidist::get(&shard.lookup(3)).expect("the shard's call");
    (unidist::get(&ranks).expect("the tasks"), rank)
}

/// A fresh directory for a case, removed when the case ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(case: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("unidist-actors-{}-{case}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Waits (30 s at most) for `path` to be written by another process; its contents.
fn wait_for_file(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if !text.is_empty() {
                return text;
            }
        }
        assert!(Instant::now() < deadline, "{} was never written", path.display());
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn main() {
    let cases = cases::Cases::from_args("actors", CASES);
    unidist::init();
    assert_eq!(unidist::backend(), cases.backend);
    assert_eq!(unidist::num_workers(), cases.workers);
    let workers = cases.workers;

    cases.run("calls_run_in_order", || {
        let log = Log::remote();
        let n = 10_000_u64;
        let lens: Vec<ObjectRef<usize>> = (0..n).map(|i| log.push(i)).collect();
        let all = unidist::get(&log.all()).unwrap();
        assert_eq!(all, (0..n).collect::<Vec<_>>(), "every call, once, in the order made");
        let lens = unidist::get(&lens).unwrap();
        assert_eq!(lens, (1..=n as usize).collect::<Vec<_>>(), "one call at a time");
    });

    cases.run("state_stays_between_calls", || {
        let counter = Counter::remote(10, None);
        let totals: Vec<ObjectRef<i64>> = (1..=100).map(|i| counter.add(i)).collect();
        assert_eq!(unidist::get(&counter.total()).unwrap(), 10 + 5050);
        let totals = unidist::get(&totals).unwrap();
        assert_eq!(totals[0], 11);
        assert_eq!(totals[99], 5060);
        let ready = ActorRef::ready(&counter).expect("an owning handle");
        unidist::get(ready).expect("the constructor ran");
        // A clone is the same actor.
        let again = counter.clone();
        assert_eq!(unidist::get(&again.add(1)).unwrap(), 5061);
        assert_eq!(ActorRef::id(&again), ActorRef::id(&counter));
    });

    cases.run("one_actor_per_worker", || {
        let len = 100_000_u64;
        let shards: Vec<ActorRef<Shard>> =
            (1..=workers).map(|w| Shard::remote_on(w, len, w as u64)).collect();
        let queries: Vec<ObjectRef<(u64, usize)>> =
            (0..10_000_u64).map(|q| shards[q as usize % workers].lookup(q * 7 % len)).collect();
        for (q, (value, rank)) in unidist::get(&queries).unwrap().into_iter().enumerate() {
            let w = q % workers + 1;
            assert_eq!(rank, w, "query {q} ran on the shard's worker");
            assert_eq!(value, (q as u64 * 7 % len) * 3 + w as u64, "query {q}");
        }
    });

    cases.run("an_exclusive_actor_has_its_worker_alone", || {
        let alone = Counter::remote_exclusive(0, None);
        let its = unidist::get(&alone.rank()).unwrap();
        if workers > 1 {
            // While it lives, the cycle, the tasks it places and work stealing skip its worker.
            let ranks: Vec<usize> = (0..3 * workers).map(|_| unidist::schedule_rank()).collect();
            assert!(!ranks.contains(&its), "the cycle skips worker {its}: {ranks:?}");
            let placed: Vec<ObjectRef<usize>> = (0..8).map(|_| where_am_i::remote()).collect();
            let placed = unidist::get(&placed).unwrap();
            assert!(!placed.contains(&its), "no task on worker {its}: {placed:?}");
        }
        // A task aimed there still goes.
        assert_eq!(unidist::get(&where_am_i::remote_on(its)).unwrap(), its);
        // One actor of its own per worker at most.
        let others: Vec<ActorRef<Counter>> =
            (1..workers).map(|_| Counter::remote_exclusive(0, None)).collect();
        let full = std::panic::catch_unwind(|| Counter::remote_exclusive(0, None))
            .expect_err("every worker is taken");
        let message = full.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.contains("already has an actor of its own"), "{message}");
        // Their ends give the workers back to the cycle.
        for actor in others.iter().chain([&alone]) {
            unidist::get(&ActorRef::kill(actor).expect("a first kill")).unwrap();
        }
        let mut ranks: Vec<usize> = (0..workers).map(|_| unidist::schedule_rank()).collect();
        ranks.sort_unstable();
        assert_eq!(ranks, (1..=workers).collect::<Vec<_>>());
    });

    cases.run("plain_tasks_on_a_chosen_worker", || {
        for w in 1..=workers {
            let ranks: Vec<ObjectRef<usize>> = (0..20).map(|_| where_am_i::remote_on(w)).collect();
            assert!(unidist::get(&ranks).unwrap().iter().all(|r| *r == w), "all on worker {w}");
        }
    });

    cases.run("a_task_chooses_workers_too", || {
        let (ranks, shard_rank) = unidist::get(&place_from_a_task::remote(workers)).unwrap();
        assert_eq!(ranks, (1..=workers).collect::<Vec<_>>());
        assert_eq!(shard_rank, workers);
    });

    cases.run("refs_flow_between_actors_and_tasks", || {
        let counter = Counter::remote(0, None);
        let doubled = double::remote(21); // a task's result into a call
        let total = counter.add(&doubled);
        let again = double::remote(&total); // a call's result into a task
        assert_eq!(unidist::get(&again).unwrap(), 84);
        let from_put = unidist::put(8_i64);
        assert_eq!(unidist::get(&counter.add(from_put)).unwrap(), 50);
    });

    cases.run("a_method_submits_and_gets_tasks", || {
        let counter = Counter::remote(0, None);
        let sums: Vec<ObjectRef<u64>> = (0..4).map(|_| counter.sum_of_squares(50)).collect();
        let expected: u64 = (0..50).map(|i| i * i).sum();
        assert_eq!(unidist::get(&sums).unwrap(), vec![expected; 4]);
    });

    cases.run("a_handle_passed_to_tasks", || {
        let dir = TempDir::new("tasks");
        let tombstone = dir.0.join("tombstone");
        let counter = Counter::remote(0, Some(tombstone.clone()));
        let totals: Vec<ObjectRef<i64>> =
            (0..200).map(|_| add_through::remote(counter.clone(), 1)).collect();
        // The tasks hold leases: dropping the last owning handle ends the actor after them.
        drop(counter);
        let mut totals = unidist::get(&totals).unwrap();
        totals.sort_unstable();
        assert_eq!(totals, (1..=200).collect::<Vec<_>>(), "each call once, one at a time");
        assert!(wait_for_file(&tombstone).ends_with("with total 200"));
    });

    cases.run("an_actor_calls_another", || {
        let front = Counter::remote(1000, None);
        let back = Counter::remote_on(workers, 0, None);
        let sums: Vec<ObjectRef<i64>> = (1..=10).map(|i| front.forward(back.clone(), i)).collect();
        let sums = unidist::get(&sums).unwrap();
        assert_eq!(sums.last(), Some(&(1000 + 55)));
        assert_eq!(unidist::get(&back.total()).unwrap(), 55);
    });

    cases.run("an_actor_made_in_a_task", || {
        let dir = TempDir::new("made");
        let tombstones: Vec<PathBuf> =
            (0..4).map(|i| dir.0.join(format!("tombstone-{i}"))).collect();
        let totals: Vec<ObjectRef<i64>> =
            tombstones.iter().map(|t| make_and_use::remote(5, t.clone())).collect();
        assert_eq!(unidist::get(&totals).unwrap(), vec![7; 4]);
        // The task's handle was the last: the actor ended after the task's call.
        for tombstone in &tombstones {
            assert!(wait_for_file(tombstone).ends_with("with total 7"));
        }
    });

    cases.run("a_handle_kept_by_another_actor", || {
        let dir = TempDir::new("kept");
        let tombstone = dir.0.join("tombstone");
        let counter = Counter::remote(0, Some(tombstone.clone()));
        let holder = Holder::remote();
        unidist::get(&holder.keep(counter.clone())).unwrap();
        drop(counter);
        // The holder's handle keeps the counter alive: the call succeeds.
        assert_eq!(unidist::get(&holder.add_to_kept(5)).unwrap(), 5);
        assert_eq!(unidist::get(&holder.add_to_kept(1)).unwrap(), 6);
        // The last handle goes with the holder's state: the counter ends.
        unidist::get(&holder.forget()).unwrap();
        assert_eq!(wait_for_file(&tombstone).split(" with ").nth(1), Some("total 6"));
    });

    cases.run("a_handle_dropped_on_a_thread_of_a_task", || {
        let dir = TempDir::new("thread");
        let tombstone = dir.0.join("tombstone");
        let counter = Counter::remote(0, Some(tombstone.clone()));
        assert_eq!(unidist::get(&drop_on_a_thread::remote(counter.clone())).unwrap(), 1);
        drop(counter);
        assert!(wait_for_file(&tombstone).ends_with("with total 1"));
    });

    cases.run("calls_from_tasks_take_no_turn_of_the_cycle", || {
        let counter = Counter::remote(0, None);
        let before = unidist::schedule_rank();
        // One turn for the task; none for its 20 calls and its handle's release.
        assert_eq!(unidist::get(&call_n_times::remote(counter.clone(), 20)).unwrap(), 20);
        let after = unidist::schedule_rank();
        assert_eq!(after, (before % workers + 1) % workers + 1, "before {before}");
    });

    cases.run("a_panicking_method_fails_only_its_call", || {
        let counter = Counter::remote(0, None);
        let before = counter.add(1);
        let bad = counter.add(1313);
        let after = counter.add(2);
        assert_eq!(unidist::get(&before).unwrap(), 1);
        match unidist::get(&bad) {
            Err(Error::TaskPanicked { function, rank, message, .. }) => {
                assert!(function.ends_with("::Counter::add"), "{function}");
                assert!((1..=workers).contains(&rank), "rank {rank}");
                assert!(message.contains("unlucky 1313"), "{message}");
            }
            other => panic!("expected the call's panic, got {other:?}"),
        }
        assert_eq!(unidist::get(&after).unwrap(), 3, "the actor serves the next calls");
        // A task that takes the failed result fails naming it.
        match unidist::get(&double::remote(&bad)) {
            Err(Error::InputFailed { input, .. }) => assert_eq!(input, bad.id()),
            other => panic!("expected an input failure, got {other:?}"),
        }
    });

    cases.run("a_method_waiting_for_its_own_actor_fails", || {
        let counter = Counter::remote(4, None);
        match unidist::get(&counter.ask_self(counter.clone())) {
            Err(Error::TaskPanicked { function, message, .. }) => {
                assert!(function.ends_with("::Counter::ask_self"), "{function}");
                assert!(message.contains("a call on the same actor"), "{message}");
                assert!(message.contains("call the method directly on `self`"), "{message}");
            }
            other => panic!("expected a clear error, not {other:?}"),
        }
        assert_eq!(unidist::get(&counter.add(1)).unwrap(), 5, "the actor serves on");
    });

    cases.run("a_failed_constructor_fails_every_call", || {
        let counter = Counter::remote(-5, None);
        let calls: Vec<ObjectRef<i64>> = (0..3).map(|i| counter.add(i)).collect();
        match unidist::get(ActorRef::ready(&counter).expect("an owning handle")) {
            Err(Error::TaskPanicked { function, message, .. }) => {
                assert!(function.ends_with("::Counter::new"), "{function}");
                assert!(message.contains("cannot start below zero (got -5)"), "{message}");
            }
            other => panic!("expected the constructor's panic, got {other:?}"),
        }
        for call in &calls {
            match unidist::get(call) {
                Err(Error::ActorUnavailable { method, actor, reason }) => {
                    assert!(method.ends_with("::Counter::add"), "{method}");
                    assert_eq!(actor, ActorRef::id(&counter));
                    assert!(reason.contains("constructor failed"), "{reason}");
                    assert!(reason.contains("cannot start below zero"), "{reason}");
                }
                other => panic!("expected an unavailable actor, got {other:?}"),
            }
        }
    });

    cases.run("kill_runs_drop_and_later_calls_fail", || {
        let dir = TempDir::new("kill");
        let tombstone = dir.0.join("tombstone");
        let counter = Counter::remote_on(1, 0, Some(tombstone.clone()));
        let before: Vec<ObjectRef<i64>> = (1..=10).map(|i| counter.add(i)).collect();
        let killed = ActorRef::kill(&counter).expect("the first kill");
        assert!(ActorRef::kill(&counter).is_none(), "a second kill does nothing");
        let after = counter.add(1);
        unidist::get(&killed).expect("the end ran");
        // The calls made before the kill ran, then `Drop`, on worker 1.
        assert_eq!(unidist::get(&before).unwrap()[9], 55);
        let line = std::fs::read_to_string(&tombstone).expect("Drop ran before the kill's ref");
        assert_eq!(line, "dropped on rank 1 with total 55");
        match unidist::get(&after) {
            Err(Error::ActorUnavailable { reason, .. }) => {
                assert!(reason.contains("killed"), "{reason}")
            }
            other => panic!("expected a call after the kill to fail, got {other:?}"),
        }
    });

    cases.run("the_last_handle_dropped_ends_the_actor", || {
        let dir = TempDir::new("drop");
        let tombstone = dir.0.join("tombstone");
        let w = workers;
        let counter = Counter::remote_on(w, 0, Some(tombstone.clone()));
        let clone = counter.clone();
        let total = counter.add(5);
        drop(counter);
        let total_again = clone.add(1);
        drop(clone);
        // The calls made before the end still complete.
        assert_eq!(unidist::get(&total).unwrap(), 5);
        assert_eq!(unidist::get(&total_again).unwrap(), 6);
        // The end is asynchronous: nothing waits for it, so watch for its trace.
        assert_eq!(wait_for_file(&tombstone), format!("dropped on rank {w} with total 6"));
    });

    cases.run("a_worker_that_is_not_one_is_a_clear_panic", || {
        for bad in [0, workers + 1] {
            let err = std::panic::catch_unwind(|| Counter::remote_on(bad, 0, None))
                .expect_err("no such worker");
            let message = err.downcast_ref::<String>().cloned().unwrap_or_default();
            let expected = format!(
                "remote_on({bad}): there is no worker {bad}; the workers are 1 to {workers}"
            );
            assert!(message.contains(&expected), "{message}");
            let err = std::panic::catch_unwind(|| where_am_i::remote_on(bad))
                .expect_err("no such worker");
            let message = err.downcast_ref::<String>().cloned().unwrap_or_default();
            assert!(message.contains(&expected), "{message}");
        }
    });

    cases.run("macro_forms", || {
        let pair = model::Pair::remote(3);
        assert_eq!(unidist::get(&pair.twin()).unwrap().0, 3);
        assert_eq!(unidist::get(&pair.many(2)).unwrap().len(), 2);
        assert_eq!(unidist::get(&pair.merge(model::Pair(4))).unwrap(), 7);
        let other = model::other::Pair::remote();
        assert_eq!(unidist::get(&other.get()).unwrap(), -1, "its own ID, not the other Pair's");
    });

    cases.run("live_actors_at_shutdown", || {
        // Handles kept past `shutdown`, with calls still queued: the job ends cleanly.
        let counter = Counter::remote(0, None);
        for i in 0..1000 {
            drop(counter.add(i % 10));
        }
        std::mem::forget(counter);
    });

    cases.finish();
    unidist::shutdown();
}
