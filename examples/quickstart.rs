//! The first program: tasks, refs as inputs, several results, `put`, `wait` and `get`.
//!
//! `cargo run --example quickstart` runs it with worker threads; under MPI:
//! `cargo build --release --features mpi --example quickstart` then
//! `mpiexec -n 4 target/release/examples/quickstart`.

use unidist::{remote, ObjectRef};

#[remote]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[remote(num_returns = 2)]
fn split(v: Vec<u32>) -> (Vec<u32>, Vec<u32>) {
    let (a, b) = v.split_at(v.len() / 2);
    (a.to_vec(), b.to_vec())
}

#[remote]
fn total(parts: Vec<i64>) -> i64 {
    parts.iter().sum()
}

fn main() {
    unidist::init(); // workers enter their loop here and never return
    println!("{} workers on the {} backend", unidist::num_workers(), unidist::backend());

    let x: ObjectRef<i64> = add::remote(1, 2); // plain values ...
    let y = add::remote(&x, 10); // ... or refs, resolved on the worker
    println!("add(add(1, 2), 10) = {}", unidist::get(&y).unwrap());

    let (l, r) = split::remote(vec![1, 2, 3, 4]);
    println!(
        "split([1, 2, 3, 4]) = {:?} and {:?}",
        unidist::get(&l).unwrap(),
        unidist::get(&r).unwrap()
    );

    let p = unidist::put(7_i64);
    let many: Vec<ObjectRef<i64>> = (0..100).map(|i| add::remote(&p, i)).collect();
    let (ready, not_ready) = unidist::wait(&many, 10); // at least 10 ready, order kept
    println!("{} of 100 ready after wait(10), {} not yet", ready.len(), not_ready.len());
    let all: Vec<i64> = unidist::get(&many).unwrap(); // a slice or Vec of refs gives a Vec
    let sum = unidist::get(&total::remote(&many)).unwrap(); // refs feed a Vec<i64> parameter
    println!("sum of {} results = {sum} (expected {})", all.len(), all.iter().sum::<i64>());

    unidist::shutdown();
}
