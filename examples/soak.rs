//! A soak test of the garbage collector: a long loop of tasks whose refs are dropped as it goes,
//! with a bounded window in flight, while every rank's resident memory is watched. If objects
//! were not freed (or freed only once every task has run), memory would grow with the loop.
//!
//! Phase 1 runs `small` tiny tasks; phase 2 runs `large` tasks with 1 MiB results, each fed to a
//! task on another worker and dropped at once (so it is freed only after that task has run, on
//! both ranks that hold it). At 10%, 50% and 100% of each phase it prints every rank's resident
//! memory (`VmRSS`) and peak (`VmHWM`, from `/proc/self/status`, read by a task on each worker),
//! and the objects each rank holds; at the end, `memory_stats`. It fails if a rank's peak grew
//! by 5% or more from 10% to 100% of a phase as long as the full run's (1,000,000 small tasks,
//! 10,000 large ones: shorter phases end before the peak has settled), or if a checkpoint finds
//! more objects than the tasks in flight can need, or one is left at the end.
//!
//! ```sh
//! cargo build --release --features mpi --example soak
//! mpiexec -n 3 target/release/examples/soak 1000000         # the full run: 1,000,000 + 10,000
//! cargo run --release --example soak 20000                  # a short one, on the local backend
//! ```
//!
//! Usage: `soak [small tasks, default 1000000] [tasks with 1 MiB results, default small / 100]`.

use std::collections::VecDeque;
use std::time::Instant;

use unidist::{remote, ObjectRef};

/// Small tasks per `get`, and chunks in flight: at most 1,000 small tasks at a time.
const SMALL_CHUNK: usize = 250;
const SMALL_WINDOW: usize = 4;
/// Tasks with 1 MiB results per `get`, and chunks in flight.
const LARGE_CHUNK: usize = 2;
const LARGE_WINDOW: usize = 4;
const MIB: usize = 1 << 20;
/// The most a rank's peak resident memory may grow from 10% to 100% of a phase ...
const MAX_GROWTH_PERCENT: f64 = 5.0;
/// ... checked for phases at least as long as the full run's: in a shorter one the peak is
/// still settling at 10% (the allocator's arenas find their size over the first thousands of
/// 1 MiB buffers, and a process of a few MiB grows by a few hundred KiB over its first million
/// small tasks, then stays).
const CHECKED_SMALL: usize = 1_000_000;
const CHECKED_LARGE: usize = 10_000;

#[remote]
fn small(i: u64) -> u64 {
    i.wrapping_mul(3) + 1
}

#[remote]
fn mebibyte(i: u64) -> Vec<u8> {
    vec![(i % 251) as u8; MIB]
}

#[remote]
fn checksum(bytes: Vec<u8>) -> u64 {
    bytes.iter().map(|b| u64::from(*b)).sum()
}

/// A field of `/proc/self/status` in KiB (0 where there is none).
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with(field));
    line.and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0)
}

/// This process's resident memory and its peak, in KiB.
fn resident() -> (u64, u64) {
    (status_kib("VmRSS:"), status_kib("VmHWM:"))
}

/// [`resident`], read on the worker that runs it.
#[remote]
fn resident_on_worker() -> (u64, u64) {
    resident()
}

/// Submits `submit`'s task to worker `rank`: steps the round-robin cycle until `rank` is next.
/// The main thread is the only one that submits, so nothing takes the turn meanwhile.
fn on_rank<T>(rank: usize, submit: impl FnOnce() -> ObjectRef<T>) -> ObjectRef<T> {
    let workers = unidist::num_workers();
    while unidist::schedule_rank() % workers + 1 != rank {}
    submit()
}

/// Every rank's resident memory and peak, in KiB, by rank.
fn resident_by_rank() -> Vec<(u64, u64)> {
    let workers: Vec<_> =
        (1..=unidist::num_workers()).map(|r| on_rank(r, resident_on_worker::remote)).collect();
    let mut all = vec![resident()];
    all.extend(unidist::get(&workers).expect("memory of the workers"));
    all
}

/// What a checkpoint saw: per rank, resident memory, its peak, and the objects held.
struct Checkpoint {
    resident: Vec<(u64, u64)>,
    objects: Vec<u64>,
}

fn checkpoint() -> Checkpoint {
    let resident = resident_by_rank();
    let objects = unidist::memory_stats().iter().map(|m| m.objects).collect();
    Checkpoint { resident, objects }
}

/// A loop of `n` tasks made by `submit`, at most `window` chunks of `chunk` in flight; each
/// chunk's values go to `check` and its refs are dropped. Checkpoints at 10%, 50% and 100% of
/// the tasks submitted (the window is full at each), where the ranks hold at most
/// `live_per_task` objects per task in flight: every older object is freed.
fn run_loop<T: unidist::RemoteValue>(
    n: usize,
    chunk: usize,
    window: usize,
    live_per_task: usize,
    submit: impl Fn(u64) -> ObjectRef<T>,
    mut check: impl FnMut(u64, T),
) -> Vec<Checkpoint> {
    let marks = [n / 10, n / 2, n];
    let mut checkpoints = Vec::new();
    let mut in_flight: VecDeque<(u64, Vec<ObjectRef<T>>)> = VecDeque::new();
    let mut take = |in_flight: &mut VecDeque<(u64, Vec<ObjectRef<T>>)>| {
        let (first, refs) = in_flight.pop_front().expect("a chunk in flight");
        let values = unidist::get(&refs).expect("the tasks succeed");
        for (k, value) in values.into_iter().enumerate() {
            check(first + k as u64, value);
        }
    };
    let mut submitted = 0;
    while submitted < n {
        let end = (submitted + chunk).min(n);
        let refs = (submitted as u64..end as u64).map(&submit).collect();
        in_flight.push_back((submitted as u64, refs));
        submitted = end;
        if in_flight.len() > window {
            take(&mut in_flight);
        }
        while marks.get(checkpoints.len()).is_some_and(|at| submitted >= *at) {
            let seen = checkpoint();
            let held: u64 = seen.objects.iter().sum();
            let live = live_per_task * in_flight.iter().map(|(_, refs)| refs.len()).sum::<usize>();
            assert!(
                held <= live as u64,
                "{held} objects held with {live} live: {:?}",
                seen.objects
            );
            checkpoints.push(seen);
        }
    }
    while !in_flight.is_empty() {
        take(&mut in_flight);
    }
    checkpoints
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Prints a phase's table; returns the largest growth of a rank's peak from 10% to 100%. The
/// closing line also gives the largest growth in MiB.
fn report(name: &str, n: usize, seconds: f64, checkpoints: &[Checkpoint]) -> f64 {
    println!("{name}: {n} tasks in {seconds:.1} s ({:.0} tasks/s)", n as f64 / seconds);
    println!("  rank   VmRSS MiB at 10% / 50% / 100%   VmHWM MiB at 10% / 50% / 100%   objects at 10% / 50% / 100%   peak growth");
    let mut largest: f64 = 0.0;
    let mut largest_mib: f64 = 0.0;
    for rank in 0..checkpoints[0].resident.len() {
        let rss: Vec<String> =
            checkpoints.iter().map(|c| format!("{:7.1}", mib(c.resident[rank].0))).collect();
        let hwm: Vec<String> =
            checkpoints.iter().map(|c| format!("{:7.1}", mib(c.resident[rank].1))).collect();
        let objects: Vec<String> =
            checkpoints.iter().map(|c| format!("{:5}", c.objects[rank])).collect();
        let (first, last) = (checkpoints[0].resident[rank].1, checkpoints[2].resident[rank].1);
        let growth = 100.0 * (last as f64 - first as f64) / first.max(1) as f64;
        largest = largest.max(growth);
        largest_mib = largest_mib.max(mib(last) - mib(first));
        println!(
            "  {rank:4}   {}            {}            {}          {growth:5.2}%",
            rss.join(" "),
            hwm.join(" "),
            objects.join(" ")
        );
    }
    println!("{name}: largest peak growth from 10% to 100%: {largest:.2}% ({largest_mib:.2} MiB)");
    largest
}

fn main() {
    unidist::init();
    let mut args = std::env::args().skip(1);
    let small_tasks: usize = args.next().map_or(1_000_000, |a| a.parse().expect("small tasks"));
    let large_tasks: usize =
        args.next().map_or(small_tasks / 100, |a| a.parse().expect("tasks with 1 MiB results"));
    println!(
        "soak: {small_tasks} small tasks, then {large_tasks} tasks with 1 MiB results, on {} workers ({})",
        unidist::num_workers(),
        unidist::backend()
    );
    let mut growth: f64 = 0.0;

    if small_tasks > 0 {
        let started = Instant::now();
        let checkpoints =
            run_loop(small_tasks, SMALL_CHUNK, SMALL_WINDOW, 1, small::remote, |i, v| {
                assert_eq!(v, i.wrapping_mul(3) + 1, "the result of small({i})");
            });
        let seconds = started.elapsed().as_secs_f64();
        let largest = report("small tasks", small_tasks, seconds, &checkpoints);
        if small_tasks >= CHECKED_SMALL {
            growth = growth.max(largest);
        }
    }

    if large_tasks > 0 {
        let started = Instant::now();
        let submit = |i: u64| {
            let bytes = mebibyte::remote(i);
            checksum::remote(&bytes) // `bytes` is dropped here, before the checksum has run
        };
        // Per task in flight: its input (dropped, but needed until the checksum has run), the
        // input's copy on the checksum's worker, and the checksum.
        let checkpoints = run_loop(large_tasks, LARGE_CHUNK, LARGE_WINDOW, 3, submit, |i, sum| {
            assert_eq!(sum, (i % 251) * MIB as u64, "the checksum of mebibyte({i})");
        });
        let seconds = started.elapsed().as_secs_f64();
        let largest = report("1 MiB results", large_tasks, seconds, &checkpoints);
        if large_tasks >= CHECKED_LARGE {
            growth = growth.max(largest);
        }
    }

    let stats = unidist::memory_stats();
    let line: Vec<String> = stats
        .iter()
        .map(|m| format!("rank {}: {} objects, {} bytes", m.rank, m.objects, m.bytes))
        .collect();
    println!("memory_stats at the end: {}", line.join("; "));
    let left: u64 = stats.iter().map(|m| m.objects).sum();
    unidist::shutdown();
    assert_eq!(left, 0, "every object is freed at the end");
    assert!(
        growth < MAX_GROWTH_PERCENT,
        "a rank's peak resident memory grew by {growth:.2}% from 10% to 100% of a phase (limit {MAX_GROWTH_PERCENT}%)"
    );
    if small_tasks >= CHECKED_SMALL || large_tasks >= CHECKED_LARGE {
        println!("soak: ok (largest peak growth {growth:.2}%, limit {MAX_GROWTH_PERCENT}%)");
    } else {
        println!("soak: ok (shorter than the full run: objects checked, growth only printed)");
    }
}
