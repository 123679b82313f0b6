//! The garbage collector under continuous load: objects are freed while tasks are still in
//! flight, not only once every submitted task has run. The test suite runs it on the local
//! backend and under `mpiexec`; it prints one `ok <case>` line per case and exits non-zero at the
//! first failure.
//!
//! Usage: `gc <expected backend> <expected workers> [<case>]` (at least 2 workers), or
//! `gc --list` (see `cases.rs`).

#[path = "cases.rs"]
mod cases;

use std::path::PathBuf;

use unidist::{remote, ObjectRef};

/// Tasks per worker in one batch, and batches.
const PER_WORKER: usize = 8;
const ROUNDS: usize = 40;
const BYTES: usize = 100;

/// Returns once `flag` exists: a task that stays running until the root says so.
#[remote]
fn until_flag(flag: String) -> u32 {
    while !std::path::Path::new(&flag).exists() {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    1
}

#[remote]
fn first(len: u64) -> Vec<u8> {
    vec![0; len as usize]
}

/// The next batch's value: every byte one more than its input's.
#[remote]
fn step(previous: Vec<u8>) -> Vec<u8> {
    previous.iter().map(|b| b.wrapping_add(1)).collect()
}

/// Submits `submit`'s task to worker `rank`: steps the round-robin cycle until `rank` is next.
/// Only the main thread submits, so nothing takes the turn meanwhile.
fn on_rank<T>(rank: usize, submit: impl FnOnce() -> ObjectRef<T>) -> ObjectRef<T> {
    let workers = unidist::num_workers();
    while unidist::schedule_rank() % workers + 1 != rank {}
    submit()
}

/// The cases, in the order they run.
const CASES: &[&str] = &["freed_under_continuous_load", "dropped_inputs_wait_for_their_tasks"];

fn objects_by_rank() -> Vec<u64> {
    unidist::memory_stats().iter().map(|m| m.objects).collect()
}

fn main() {
    let cases = cases::Cases::from_args("gc", CASES);
    let (backend, workers) = (cases.backend.clone(), cases.workers);
    unidist::init();
    assert_eq!(unidist::backend(), backend);
    assert_eq!(unidist::num_workers(), workers);
    assert!(workers >= 2, "the gate takes a worker of its own: run with at least 2 workers");

    cases.run("freed_under_continuous_load", || {
        // The gate runs on worker 1 for the whole loop, so a submitted task is always unfinished:
        // a collector that waited for every submitted task to run would free nothing here. The
        // batches run on the other workers, which the loop targets.
        let flag = std::env::temp_dir().join(format!(
            "unidist-gc-{}-{}-{}",
            std::process::id(),
            backend,
            workers
        ));
        let flag: PathBuf = flag;
        let _ = std::fs::remove_file(&flag);
        let gate = on_rank(1, || until_flag::remote(flag.to_string_lossy().into_owned()));
        let loaded = workers - 1;
        let batch = PER_WORKER * loaded;
        // Task `i` of batch `k` runs on a worker that shifts with `k`, so inputs also travel
        // worker to worker and their copies must be freed too.
        let rank_of = |k: usize, i: usize| 2 + (i + k) % loaded;
        let mut previous: Vec<ObjectRef<Vec<u8>>> =
            (0..batch).map(|i| on_rank(rank_of(0, i), || first::remote(BYTES as u64))).collect();
        for k in 1..=ROUNDS {
            // Batch k is submitted before batch k - 1 is fetched and dropped: tasks are always
            // in flight.
            let next: Vec<_> =
                (0..batch).map(|i| on_rank(rank_of(k, i), || step::remote(&previous[i]))).collect();
            let values = unidist::get(&previous).unwrap();
            assert!(values
                .iter()
                .all(|v| v.len() == BYTES && v.iter().all(|b| *b == (k - 1) as u8)));
            drop(previous);
            let objects = objects_by_rank();
            let (ready, _) = unidist::wait(std::slice::from_ref(&gate), 0);
            assert!(ready.is_empty(), "the gate is still running");
            // What may legitimately be alive: batch k (its results), batch k - 1 while batch k
            // needs it (originals, their copies on the workers that run batch k, the root's
            // copies from `get`). Everything older is garbage, freed by now: `memory_stats`
            // sends every pending cleanup before it counts.
            assert_eq!(
                objects[1], 0,
                "round {k}: nothing is made on the gate's worker: {objects:?}"
            );
            assert!(objects[0] <= batch as u64, "round {k}: the root holds {objects:?}");
            for (rank, held) in objects.iter().enumerate().skip(2) {
                assert!(
                    *held <= 3 * PER_WORKER as u64,
                    "round {k}: rank {rank} holds {held} objects, more than batches k and k - 1 \
                     can need ({}): {objects:?}",
                    3 * PER_WORKER
                );
            }
            previous = next;
        }
        let values = unidist::get(&previous).unwrap();
        assert!(values.iter().all(|v| v.iter().all(|b| *b == ROUNDS as u8)));
        drop(previous);
        std::fs::write(&flag, b"go").unwrap();
        assert_eq!(unidist::get(&gate).unwrap(), 1);
        let _ = std::fs::remove_file(&flag);
        drop(gate);
        let objects = objects_by_rank();
        assert!(objects.iter().all(|o| *o == 0), "everything is freed at the end: {objects:?}");
    });

    cases.run("dropped_inputs_wait_for_their_tasks", || {
        // Inputs dropped right after submission, while the consumer is queued behind a running
        // gate on the same worker: they must stay until it has run, whatever the thresholds.
        let flag = std::env::temp_dir().join(format!(
            "unidist-gc-inputs-{}-{}-{}",
            std::process::id(),
            backend,
            workers
        ));
        let _ = std::fs::remove_file(&flag);
        let gate = on_rank(2, || until_flag::remote(flag.to_string_lossy().into_owned()));
        let inputs: Vec<_> = (0..10).map(|i| on_rank(1, || first::remote(i))).collect();
        let outputs: Vec<_> =
            inputs.iter().map(|input| on_rank(2, || step::remote(input))).collect();
        unidist::wait(&inputs, inputs.len());
        drop(inputs);
        let objects = objects_by_rank();
        assert_eq!(objects[1], 10, "the dropped inputs wait for their consumers: {objects:?}");
        std::fs::write(&flag, b"go").unwrap();
        let values = unidist::get(&outputs).unwrap();
        assert!(values.iter().enumerate().all(|(i, v)| v.len() == i && v.iter().all(|b| *b == 1)));
        drop((gate, outputs));
        let _ = std::fs::remove_file(&flag);
        let objects = objects_by_rank();
        assert!(objects.iter().all(|o| *o == 0), "then freed everywhere: {objects:?}");
    });

    unidist::shutdown();
    cases.finish();
}
