//! Run ordinary Rust functions as remote tasks across MPI processes.
//!
//! Put `#[remote]` on a function, call `f::remote(args)` to run it as a task on a worker and get an
//! [`ObjectRef`] at once, and [`get`] the value when you need it. Launch the same binary on every
//! rank with `mpiexec`; without a launcher the same program runs with worker threads. A program
//! that initializes MPI itself starts unidist with `init_in` (MPI feature) on a communicator of
//! its own instead.
//!
//! ```
//! use unidist::{remote, ObjectRef};
//!
//! #[remote]
//! fn add(a: i64, b: i64) -> i64 { a + b }
//!
//! #[remote(num_returns = 2)]
//! fn split(v: Vec<u32>) -> (Vec<u32>, Vec<u32>) {
//!     let (a, b) = v.split_at(v.len() / 2);
//!     (a.to_vec(), b.to_vec())
//! }
//!
//! #[remote]
//! fn total(parts: Vec<i64>) -> i64 { parts.iter().sum() }
//!
//! fn main() {
//! unidist::init(); // on workers this never returns
//! let x: ObjectRef<i64> = add::remote(1, 2); // plain values ...
//! let y = add::remote(&x, 10); // ... or refs, resolved on the worker
//! assert_eq!(unidist::get(&y).unwrap(), 13);
//! let (l, r) = split::remote(vec![1, 2, 3, 4]);
//! assert_eq!(unidist::get(&r).unwrap(), vec![3, 4]);
//! let p = unidist::put(7_i64);
//! let many: Vec<ObjectRef<i64>> = (0..100).map(|i| add::remote(&p, i)).collect();
//! let (ready, not_ready) = unidist::wait(&many, 10); // at least 10 ready, order kept
//! assert!(ready.len() >= 10 && ready.len() + not_ready.len() == 100);
//! assert_eq!(unidist::get(&total::remote(&many)).unwrap(), 100 * 7 + 4950);
//! unidist::shutdown();
//! }
//! ```
//!
//! # Tasks and objects
//! `#[remote]` keeps the function callable as before and adds a module of the same name with
//! `remote`, whose parameters take a value, an `ObjectRef` or `&ObjectRef` of it, or for a
//! `Vec<T>` parameter a `Vec` or slice of `ObjectRef<T>`. A task's result stays on the worker
//! that made it; a ref given to another task travels from the rank that holds it straight to the
//! worker that runs the task, never through the root. [`put`] stores a value on the root.
//!
//! A `#[remote]` function must be an item of a module (the crate root or any `mod`), not a
//! function declared inside another function's body.
//!
//! `f::remote_on(worker, args)` runs the task on that worker (1 to [`num_workers`]) and only
//! there.
//!
//! # Actors
//! `#[actor]` on a type's `impl` block keeps a value on one worker and runs its methods there,
//! one at a time, in the order each caller made its calls; [`ActorRef`] says how calls, errors and the
//! actor's end work.
//!
//! ```
//! use unidist::{actor, ActorRef};
//!
//! struct Counter { total: i64 }
//!
//! #[actor]
//! impl Counter {
//!     fn new(start: i64) -> Self { Counter { total: start } }
//!     fn add(&mut self, x: i64) -> i64 { self.total += x; self.total }
//! }
//!
//! fn main() {
//! unidist::init();
//! let counter: ActorRef<Counter> = Counter::remote(100); // the constructor runs on a worker
//! let totals: Vec<_> = (1..=10).map(|i| counter.add(i)).collect(); // refs, at once
//! assert_eq!(unidist::get(&totals).unwrap().last(), Some(&155));
//! unidist::shutdown();
//! }
//! ```
//!
//! # Nested tasks
//! Inside a remote function, `remote`, [`get`], [`wait`] and [`put`] work as on the root, so
//! recursive and divide-and-conquer work needs nothing special:
//!
//! ```
//! #[unidist::remote]
//! fn fib(n: u64) -> u64 {
//!     if n < 2 {
//!         return n;
//!     }
//!     let (a, b) = (fib::remote(n - 1), fib::remote(n - 2));
//!     unidist::get(&a).unwrap() + unidist::get(&b).unwrap()
//! }
//!
//! fn main() {
//!     unidist::init();
//!     assert_eq!(unidist::get(&fib::remote(10)).unwrap(), 55);
//!     unidist::shutdown();
//! }
//! ```
//!
//! A task's submissions go through the root, which schedules them round-robin like any other
//! and keeps the one directory of objects; their results stay on the worker that made them. A
//! ref made inside a task (its submissions, its `put` values, which stay on its worker) belongs
//! to that task: when the task drops it, the worker tells the root, which frees the object like
//! any other once no submitted task needs it. A ref cannot leave its task (no `Serialize`).
//! A task blocked in `get` or `wait` never stops its worker: the worker runs the awaited task on
//! the blocked thread when it is ready there, else adds executor threads, at most
//! [`MAX_EXECUTOR_THREADS`] per worker, and at that bound runs other ready tasks on blocked
//! threads, at most [`MAX_NESTED_DEPTH`] deep; the awaited task itself may nest up to
//! [`MAX_CALL_DEPTH`] deep, like a recursion of plain calls. `init`, `shutdown`, `schedule_rank` and
//! `transfer_stats` belong to the root's program and panic inside a task.
//!
//! # Garbage collection
//! An object is freed on every rank that holds it once its last ref is dropped, it is made and
//! no submitted task still needs it: never earlier, and without waiting for unrelated tasks, so
//! a loop that always keeps tasks in flight frees its garbage as it goes. The root frees its own
//! copies at once and tells each worker in batches: one cleanup message once
//! `UNIDIST_GC_THRESHOLD` objects (default 1024) or `UNIDIST_GC_BYTES` bytes of them (default
//! 16 MiB) are pending for it, whichever comes first, and everything pending when the root's
//! loop is idle, before [`memory_stats`] and [`transfer_stats`] count, and at [`shutdown`].
//! [`memory_stats`] counts the objects and bytes each rank holds after every drop made before
//! the call.
//!
//! # Several hosts
//! The same binary runs on many machines, started by the launcher HPC jobs use:
//!
//! ```sh
//! mpiexec -f hosts.txt -n 9 ./myprog                  # MPICH: `host:ranks` lines
//! mpiexec -hosts node1:1,node2:4,node3:4 -n 9 ./myprog # the root alone on node1
//! srun -N 3 -n 9 --mpi=pmi2 ./myprog                  # Slurm, MPICH (--mpi=pmix: Open MPI)
//! ```
//!
//! Every host must run the same build (same path, or a shared file system) against the same MPI
//! library: [`init`] compares the table of remote functions on every rank and stops the job on
//! all of them, naming a rank and host of each side, if they differ. The launcher hands every
//! rank the environment it was started with, so the `UNIDIST_*` variables below are the same
//! everywhere. [`cluster_resources`] tells the root each host's ranks, workers, CPUs and task
//! slots, learned once at `init`; large inputs pull their tasks to the host that holds them
//! (`UNIDIST_SCHEDULER`). A launcher that starts processes its MPI cannot see (`srun` without
//! `--mpi`, another MPI's `mpiexec`) gets a clear error at `init` instead of separate jobs of
//! one. When a rank dies with its host, the job ends with a line naming the rank and host as
//! soon as MPI reports a failed heartbeat to it (a launcher such as hydra may end the job
//! first, with its own line), or after `UNIDIST_HEARTBEAT_S` of silence when nothing reports
//! it (a cut link; Open MPI's TCP transport, which only warns). The README has a worked
//! example on simulated hosts.
//!
//! # Errors
//! A panic in a remote function is caught on its worker, which goes on serving. [`get`] of its
//! result, and of every task that took that result as an input, returns an [`Error`] naming the
//! function, the rank and the panic message.
//!
//! # Ranks and backends
//! Rank 0 is the root, which runs `main`; every other rank is a worker, and [`init`] never
//! returns there. Tasks go to workers round-robin ([`schedule_rank`]). The `mpi` cargo feature
//! enables the MPI backend, used when the program runs under an MPI launcher with more than one
//! rank. Otherwise the `local` backend runs the same root and workers as threads.
//!
//! Every `UNIDIST_*` variable, read once at [`init`] on every rank:
//!
#![doc = include_str!("settings.md")]
// docs.rs builds with `--cfg docsrs` (and a nightly rustdoc): items of a feature say so.
#![cfg_attr(docsrs, feature(doc_cfg))]

// The layers, bottom to top (ARCHITECTURE.md has the map; a lower layer never names a higher
// one, and `tests/layers.rs` checks that no module imports another in a cycle):
// values and the process's facts
mod actor;
mod arg;
mod array;
mod buffer;
mod bytes;
mod chrome_trace;
mod cluster;
mod codec;
mod context;
mod decoded;
mod error;
mod id;
mod in_flight;
mod log;
mod object;
mod process_guard;
mod protocol;
mod registry;
mod reply;
mod segment;
mod spin;
mod stats;
#[cfg(test)]
mod test_alloc;
#[cfg(test)]
mod test_support;
mod timeline;
mod timeline_page;
// moving bytes between ranks
mod transport;
// the progress loop
mod event_loop;
// the nodes: root, worker and the executor, with what they use
mod executor;
mod garbage_collector;
mod heartbeat;
mod invoke;
mod object_store;
mod root;
mod scheduler;
mod worker;
// the API
mod actor_ref;
mod api;
mod awaiting;
#[cfg(all(docsrs, not(feature = "mpi")))]
mod docs_rs;
mod into_arg;
mod object_ref;
mod progress;
mod runtime;
mod settings;
mod task_options;

pub use actor_ref::{Actor, ActorRef};
#[cfg(feature = "mpi")]
#[cfg_attr(docsrs, doc(cfg(feature = "mpi")))]
pub use api::init_in;
#[cfg(any(feature = "mpi", docsrs))]
#[cfg_attr(docsrs, doc(cfg(feature = "mpi")))]
pub use api::Role;
pub use api::{
    as_completed, backend, cancel, cluster_resources, function_stats, get, get_array, get_each,
    get_timeout, in_flight, init, is_cancelled, is_initialized, max_in_flight, memory_stats,
    num_workers, put, record_timeline, schedule_rank, set_max_in_flight, shutdown, transfer_stats,
    wait, wait_timeout, worker_stats, write_timeline, AsCompleted, GetRefs,
};
// docs.rs has no MPI library: stand-ins show these items there (see `docs_rs`).
pub use array::{Array, Element};
#[cfg(feature = "stream")]
#[cfg_attr(docsrs, doc(cfg(feature = "stream")))]
pub use awaiting::CompletedStream;
pub use awaiting::RefFuture;
pub use cluster::HostResources;
#[cfg(all(docsrs, not(feature = "mpi")))]
#[doc(cfg(feature = "mpi"))]
pub use docs_rs::{init_in, mpi};
pub use error::Error;
pub use executor::{MAX_CALL_DEPTH, MAX_EXECUTOR_THREADS, MAX_NESTED_DEPTH};
pub use id::ObjectId;
pub use into_arg::IntoArg;
/// The MPI bindings (rsmpi) unidist runs on, for [`init_in`]: the communicator it takes is of
/// this crate's version.
#[cfg(feature = "mpi")]
#[cfg_attr(docsrs, doc(cfg(feature = "mpi")))]
pub use mpi;
pub use object::RemoteValue;
pub use object_ref::ObjectRef;
pub use progress::{progress, set_progress, Progress};
pub use stats::{FunctionStats, MemoryStats, PeerTransfer, TransferStats, WorkerStats};
pub use task_options::TaskOptions;
pub use unidist_macros::{actor, remote};

/// Not public API: what the code generated by `#[remote]` calls. It may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::arg::{Outputs, TaskArgs};
    pub use crate::into_arg::{ArgValue, IntoArg};
    pub use crate::registry::{function_id, RemoteFunction};
    pub use inventory;
    pub use std::vec;
    pub use std::vec::Vec;

    use crate::id::ObjectId;
    use crate::object_ref::ObjectRef;
    use crate::RemoteValue;

    /// The benchmark program's raw MPI baseline: a ping-pong between the root and worker 1 with
    /// blocking MPI sends of `bytes` (answered with `echo_bytes`), `iterations` times, on a tag
    /// outside the runtime's protocol. The time it took, or `None` on the local backend. Call it
    /// only while no task is in flight.
    pub fn raw_mpi_ping_pong(
        bytes: usize,
        echo_bytes: usize,
        iterations: usize,
    ) -> Option<std::time::Duration> {
        crate::api::raw_ping_pong(bytes, echo_bytes, iterations)
    }

    /// Sends `bytes` to rank `to` on the MPI backend as if they were a batch of the runtime's
    /// messages, from the root or from a task: the test suite's corrupt messages. Does nothing
    /// on the local backend, which moves messages, not bytes.
    pub fn send_raw_bytes(to: usize, bytes: Vec<u8>) {
        crate::api::send_raw_bytes(to, bytes)
    }

    /// Submits a task with `options`, for a function that may run `retries` more times if it
    /// panics unless `options` say otherwise; returns the ID of its first output.
    #[track_caller]
    pub fn submit(
        function: u64,
        num_returns: usize,
        args: Vec<ArgValue>,
        options: crate::TaskOptions,
        retries: u8,
    ) -> ObjectId {
        let placement = match options.chosen_worker() {
            Some(worker) => crate::api::Placement::On(worker),
            None => crate::api::Placement::Next,
        };
        crate::api::submit(function, num_returns, args, placement, options.retries(retries), true)
            .expect("a submission that waits for a place is never refused")
    }

    /// Like [`submit`], but returns [`Error::Busy`](crate::Error::Busy) instead of waiting at
    /// the bound on tasks in flight.
    #[track_caller]
    pub fn try_submit(
        function: u64,
        num_returns: usize,
        args: Vec<ArgValue>,
        retries: u8,
    ) -> Result<ObjectId, crate::Error> {
        let placement = crate::api::Placement::Next;
        crate::api::submit(function, num_returns, args, placement, retries, false)
    }

    /// Submits a task to run on `worker` and only there; returns the ID of its first output.
    #[track_caller]
    pub fn submit_on(
        worker: usize,
        function: u64,
        num_returns: usize,
        args: Vec<ArgValue>,
        retries: u8,
    ) -> ObjectId {
        let placement = crate::api::Placement::On(worker);
        crate::api::submit(function, num_returns, args, placement, retries, true)
            .expect("a submission that waits for a place is never refused")
    }

    pub use crate::actor::{call as actor_call, construct as actor_construct};
    pub use crate::actor_ref::ActorId;

    /// Reinterprets a ref as a ref to another type, so that tests can check that reading an
    /// object as the wrong type is an error, never a wrong value.
    pub fn retype<T, U>(r: ObjectRef<T>) -> ObjectRef<U> {
        r.retype()
    }

    /// Stores `value` marked as a value of type `T`: what a rank built with another layout of
    /// `T` would send, so that tests can check that bytes which do not decode as `T` give an
    /// error naming the object and the type.
    pub fn put_as<T: RemoteValue, U: RemoteValue>(value: U) -> ObjectRef<T> {
        crate::api::put_as(value)
    }

    /// The ref to output `k` of the task whose first output is `first`.
    pub fn output_ref<T>(first: ObjectId, k: usize) -> ObjectRef<T> {
        ObjectRef::new(first.offset(k))
    }
}
