//! A parameter sweep with a deadline: simulations of 1 to `max_ms` milliseconds, one per
//! parameter. Some parameters are bad (the simulation panics every time), some runs hit a
//! transient fault (a resource that works on the second try: the task is retried), and one run
//! never ends on its own. Results are collected as they complete, by parameter; at the deadline
//! what is left is cancelled, and the report says what failed and why.
//!
//! ```text
//! cargo run --release --example sweep [<parameters> [<max_ms> [<deadline_s>]]]
//! mpiexec -n 3 target/release/examples/sweep      # built with --features mpi
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use unidist::{remote, Error};

/// Runs the simulation of `parameter` for `ms` milliseconds. Parameters that end in 7 (mod 20)
/// diverge; for multiples of 13 the first run finds its resource busy (a marker file in
/// `scratch` says it has been tried) and panics, to succeed when retried; `ms == 0` runs until
/// cancelled.
#[remote(max_retries = 2)]
fn simulate(parameter: u32, ms: u64, scratch: PathBuf) -> f64 {
    assert!(parameter % 20 != 7, "parameter {parameter} diverged");
    if parameter % 13 == 0 {
        let marker = scratch.join(parameter.to_string());
        if !marker.exists() {
            std::fs::write(&marker, b"").expect("the scratch directory is writable");
            panic!("resource busy for parameter {parameter}");
        }
    }
    let started = Instant::now();
    while ms == 0 || started.elapsed() < Duration::from_millis(ms) {
        if unidist::is_cancelled() {
            break; // its result is `Error::Cancelled` whatever it returns
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    f64::from(parameter).sqrt()
}

fn main() {
    unidist::init();
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().expect("numbers")).collect();
    let parameters = *args.first().unwrap_or(&200) as u32;
    let max_ms = *args.get(1).unwrap_or(&50);
    let deadline = Duration::from_secs(*args.get(2).unwrap_or(&2));
    let scratch = std::env::temp_dir().join(format!("unidist-sweep-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("a scratch directory");
    println!(
        "sweep: {parameters} parameters on {} workers, deadline {deadline:?}",
        unidist::num_workers()
    );

    let started = Instant::now();
    // The last parameter's simulation never ends on its own.
    let runs = (0..parameters).map(|p| {
        let ms = if p == parameters - 1 { 0 } else { 1 + u64::from(p) * 37 % max_ms };
        (p, simulate::remote(p, ms, scratch.clone()))
    });
    let mut results = unidist::as_completed(runs).timeout(deadline);
    let mut values = BTreeMap::new();
    let mut failed = BTreeMap::new();
    for (p, result) in &mut results {
        match result {
            Ok(value) => {
                values.insert(p, value);
            }
            Err(error) => {
                failed.insert(p, error);
            }
        }
    }
    let elapsed = started.elapsed();
    let late = results.into_remaining();
    let late_refs: Vec<_> = late.iter().map(|(_, r)| r.clone()).collect();
    unidist::cancel(late_refs.as_slice());
    let cancelled: Vec<u32> = late
        .iter()
        .zip(unidist::get_each(&late_refs))
        .filter(|(_, r)| matches!(r, Err(Error::Cancelled { .. })))
        .map(|((p, _), _)| *p)
        .collect();

    println!("ok: {} in {:.2} s", values.len(), elapsed.as_secs_f64());
    println!("failed: {}", failed.len());
    for (p, error) in &failed {
        match error {
            Error::TaskPanicked { message, attempts, .. } => {
                println!("  parameter {p}: {message} ({attempts} attempts)")
            }
            other => println!("  parameter {p}: {other}"),
        }
    }
    println!("cancelled at the deadline: {cancelled:?}");
    let _ = std::fs::remove_dir_all(&scratch);
    unidist::shutdown();
}
