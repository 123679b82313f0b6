//! Actors: a counter that lives on a worker, called from the root and from tasks, and one table
//! shard per worker, each built on its worker and queried there.
//!
//! `cargo run --example actors` runs it with worker threads; under MPI:
//! `cargo build --release --features mpi --example actors` then
//! `mpiexec -n 3 target/release/examples/actors`.

use unidist::{actor, remote, ActorRef, ObjectRef};

struct Counter {
    total: i64,
}

#[actor]
impl Counter {
    fn new(start: i64) -> Self {
        Counter { total: start } // runs on the actor's worker
    }

    fn add(&mut self, x: i64) -> i64 {
        self.total += x;
        self.total
    }

    fn total(&self) -> i64 {
        self.total
    }
}

/// A task that calls the actor through the handle it was given.
#[remote]
fn add_from_a_task(counter: ActorRef<Counter>, x: i64) -> i64 {
    unidist::get(&counter.add(x)).unwrap()
}

/// One shard of a table: built by the constructor on its worker, read there by every query.
struct Shard {
    squares: Vec<u64>,
}

#[actor]
impl Shard {
    fn new(len: u64) -> Self {
        Shard { squares: (0..len).map(|i| i * i).collect() }
    }

    fn lookup(&self, i: u64) -> u64 {
        self.squares[i as usize]
    }
}

fn main() {
    unidist::init(); // workers enter their loop here and never return
    println!("{} workers on the {} backend", unidist::num_workers(), unidist::backend());

    let counter: ActorRef<Counter> = Counter::remote(10); // or Counter::remote_on(worker, 10)
    let r: ObjectRef<i64> = counter.add(5); // returns at once; calls run in order
    let from_tasks: Vec<ObjectRef<i64>> =
        (0..10).map(|_| add_from_a_task::remote(counter.clone(), 1)).collect();
    unidist::get(&from_tasks).unwrap();
    println!("first call: {}", unidist::get(&r).unwrap()); // 15
    println!("total after 10 calls from tasks: {}", unidist::get(&counter.total()).unwrap()); // 25

    let workers = unidist::num_workers();
    let shards: Vec<ActorRef<Shard>> = (1..=workers).map(|w| Shard::remote_on(w, 1000)).collect();
    let answers: Vec<ObjectRef<u64>> =
        (0..1000).map(|i| shards[i as usize % workers].lookup(i)).collect();
    let sum: u64 = unidist::get(&answers).unwrap().iter().sum();
    println!("sum of 1000 squares from {workers} shards: {sum}"); // 332833500
    unidist::shutdown();
}
