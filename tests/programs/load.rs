//! Load: many threads of the root submit tasks and `get` their results at once, with refs as
//! inputs (a `put` value shared by every thread, and each thread's own earlier results), and
//! every result is checked.
//!
//! Usage: `load <threads> <tasks per thread>`. The test suite runs a short version on both
//! backends; `scripts/slow-tests.sh` runs 8 threads x 50,000 tasks under `mpiexec`.

use unidist::{remote, ObjectRef};

#[remote]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[remote]
fn sum(parts: Vec<u64>) -> u64 {
    parts.iter().sum()
}

fn main() {
    unidist::init();
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let (threads, per_thread) = (args[0], args[1]);
    let base = unidist::put(1000_u64);
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let base = base.clone();
            scope.spawn(move || {
                let mut batch: Vec<(u64, ObjectRef<u64>)> = Vec::new();
                for i in 0..per_thread {
                    let a = add::remote(&base, i); // 1000 + i
                    let b = add::remote(&a, t); // its own result as an input
                    batch.push((1000 + i + t, b));
                    if batch.len() == 100 || i + 1 == per_thread {
                        let refs: Vec<ObjectRef<u64>> =
                            batch.iter().map(|(_, r)| r.clone()).collect();
                        let total = sum::remote(&refs);
                        let values = unidist::get(&refs).unwrap();
                        for ((expected, _), value) in batch.iter().zip(&values) {
                            assert_eq!(*value, *expected, "thread {t}, task {i}");
                        }
                        let expected_total: u64 = batch.iter().map(|(e, _)| e).sum();
                        assert_eq!(unidist::get(&total).unwrap(), expected_total);
                        batch.clear();
                    }
                }
            });
        }
    });
    let tasks = threads * per_thread * 2 + threads * per_thread.div_ceil(100);
    drop(base);
    let held: u64 = unidist::memory_stats().iter().map(|m| m.objects).sum();
    assert_eq!(held, 0, "objects left after the load");
    println!(
        "load: {threads} threads x {per_thread}: {tasks} tasks checked in {:.1} s, nothing left",
        started.elapsed().as_secs_f64()
    );
    unidist::shutdown();
}
