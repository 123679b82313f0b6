//! The functions users call: `init`, `put`, `get`, `wait`, `shutdown` and friends.

use std::sync::mpsc;

use crate::cluster::HostResources;
use crate::context;
use crate::error::Error;
use crate::event_loop::ProbeCall;
use crate::id::{ObjectId, Rank};
use crate::into_arg::{ArgValue, Keep};
use crate::object::{Object, RemoteValue};
use crate::object_ref::ObjectRef;
use crate::protocol::{ActorCall, Task};
use crate::reply::{Answer, Reply};
use crate::root::Command;
use crate::runtime::{self, caller, runtime, Caller};
use crate::stats::{MemoryStats, RankStats, TransferStats};

/// Starts the runtime; call it once, at the start of `main`, on every rank.
///
/// On rank 0 (the root) it returns and `main` goes on. On every other rank it runs the worker
/// loop and exits the process after [`shutdown`], so code after `init` runs on the root only.
///
/// The backend is MPI when the program was started by an MPI launcher with more than one rank
/// (and built with the `mpi` feature), the local one (worker threads) otherwise;
/// `UNIDIST_BACKEND=mpi|local` forces one and `UNIDIST_CPUS` sets the number of local workers.
///
/// # Panics
/// If called twice, after [`shutdown`], inside a remote function, or if the job cannot start
/// (ranks that run different binaries, a program started as several ranks but built without the
/// `mpi` feature): the message says which and what to do.
pub fn init() {
    runtime::init();
}

/// What [`init_in`] made of the calling rank.
#[cfg(feature = "mpi")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Rank 0 of the communicator: the runtime runs and the program goes on to submit tasks,
    /// then calls [`shutdown`].
    Root,
    /// Any other rank: it served tasks until the root's [`shutdown`]; the runtime has stopped
    /// and the program goes on with its own MPI work.
    Worker,
}

/// Starts the runtime inside a program that initialized MPI itself, on the ranks of
/// `communicator`; every rank of it calls this once.
///
/// unidist works on a duplicate of `communicator`, so its messages never meet the program's,
/// and it never finalizes the program's MPI: [`shutdown`] on the root stops the workers, whose
/// `init_in` then returns [`Role::Worker`], and every rank goes on with the program, which
/// finalizes MPI when it is done (after `shutdown`). Rank 0 of `communicator` is the root;
/// ranks outside it take no part. unidist's progress thread calls MPI beside the program's
/// threads, so MPI must be initialized with `Threading::Multiple`.
///
/// ```no_run
/// use unidist::mpi::traits::CommunicatorCollectives;
///
/// #[unidist::remote]
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// fn main() {
///     let threading = unidist::mpi::Threading::Multiple;
///     let (universe, _) =
///         unidist::mpi::initialize_with_threading(threading).expect("MPI is initialized once");
///     let world = universe.world();
///     if unidist::init_in(&world) == unidist::Role::Root {
///         assert_eq!(unidist::get(&square::remote(7)).unwrap(), 49);
///         unidist::shutdown(); // before the program finalizes MPI
///     }
///     world.barrier(); // every rank is back in the program's MPI
///     // `universe` finalizes MPI when it is dropped.
/// }
/// ```
///
/// # Panics
/// Like [`init`], and if MPI is not initialized or was initialized with a threading level below
/// `Multiple`, or if `UNIDIST_BACKEND` asks for another backend: the message says what to do.
#[cfg(feature = "mpi")]
pub fn init_in(communicator: &mpi::topology::SimpleCommunicator) -> Role {
    use crate::transport::mpi::{check_program_mpi, HandedComm};
    runtime::begin_init("init_in");
    if let Err(message) = check_program_mpi() {
        runtime::fail_init("init_in", &message);
    }
    match runtime::start(runtime::Start::In(HandedComm::duplicate(communicator))) {
        runtime::Started::Root => Role::Root,
        runtime::Started::Worker => Role::Worker,
    }
}

/// Stops every worker and the runtime; work not yet finished is abandoned.
///
/// On the MPI backend it also finalizes MPI. The runtime cannot be started again: any later call
/// of the API panics, while dropping or cloning refs and [`is_initialized`] stay harmless.
pub fn shutdown() {
    runtime::shutdown();
}

/// True between [`init`] and [`shutdown`] (and inside remote functions).
pub fn is_initialized() -> bool {
    context::current().is_some() || runtime::is_initialized()
}

/// The number of workers tasks are spread over (ranks but the root, or local worker threads).
pub fn num_workers() -> usize {
    match caller("num_workers") {
        Caller::Root(runtime) => runtime.workers(),
        Caller::Task { host, .. } => host.workers(),
    }
}

/// The backend in use: `"mpi"` or `"local"`.
pub fn backend() -> &'static str {
    match caller("backend") {
        Caller::Root(runtime) => runtime.backend(),
        Caller::Task { host, .. } => host.backend(),
    }
}

/// The hosts of the job: for each, its name, its ranks and workers, its CPUs and its task slots,
/// hosts in the order of their first rank (the root's host first). Learned once at [`init`].
///
/// On the local backend the job is one host: this machine, with the root and every worker.
/// Only the root's program may call it.
///
/// ```
/// unidist::init();
/// let hosts = unidist::cluster_resources();
/// let workers: usize = hosts.iter().map(|h| h.workers.len()).sum();
/// assert_eq!(workers, unidist::num_workers());
/// assert_eq!(hosts[0].ranks[0], 0, "the root's host comes first");
/// unidist::shutdown();
/// ```
pub fn cluster_resources() -> Vec<HostResources> {
    runtime("cluster_resources").hosts().to_vec()
}

/// Takes the next worker rank of the round-robin cycle over `1..=num_workers()`.
///
/// Every task takes the next rank of this cycle when it is submitted (tasks of the root's
/// threads in the order of their `remote` calls; tasks submitted by tasks when the root receives
/// them). Calling `schedule_rank` advances the cycle too, so on a thread that alone submits, the
/// next task goes to the rank after the one returned (`r % num_workers() + 1`), unless
/// host-aware placement moves it: a task with an input of 64 KiB or more (by default; see
/// `UNIDIST_HOST_AWARE_BYTES`) that lives on another host than that worker's goes to a worker of
/// the input's host (see `UNIDIST_SCHEDULER`).
///
/// The task this thread submits right after calling `schedule_rank` stays on that worker: the
/// caller chose it (host-aware placement may still move it to its large input's host;
/// `f::remote_on(worker, ..)` names a worker that nothing moves the task from). Any other task may be taken over, until it starts, by a worker with nothing
/// to run (see the README's "Placement, and tasks stuck behind a straggler"). Only the root's
/// program may call it.
pub fn schedule_rank() -> usize {
    let rank = runtime("schedule_rank").schedule();
    AIMED.set(true);
    rank
}

thread_local! {
    /// This thread called `schedule_rank` and has submitted no task since: its next task is
    /// where the caller chose.
    static AIMED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// This thread has submitted a task since its last `get` or `wait`: its next task is
    /// queued for the root's loop, not sent by this thread (see [`submit_from_root`]).
    static SUBMITTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Submits a task from the root's program. The first task after a `get` or `wait` is sent by
/// this thread at once (if no other thread runs the root's loop), since waking the loop's thread
/// for it would cost more than the send: the pattern of a program that waits for each result
/// before it submits the next. The tasks after it are queued for the loop's thread, which sends
/// them in batches: a flood of tasks costs the program only the queueing.
fn submit_from_root(runtime: &crate::runtime::Runtime, command: Command) {
    if SUBMITTED.replace(true) {
        runtime.send(command);
    } else {
        runtime.call(command, &mut || true);
    }
}

/// Stores `value` and returns a ref to it: in the root's object store, or, inside a remote
/// function, in the store of the task's worker.
///
/// Pass the ref to many tasks to send the value once per worker instead of once per task.
pub fn put<T: RemoteValue>(value: T) -> ObjectRef<T> {
    let caller = caller("put");
    ObjectRef::new(put_object(caller, encode_for_put(&value)))
}

fn encode_for_put<T: RemoteValue>(value: &T) -> Object {
    Object::encode(value).unwrap_or_else(|e| {
        panic!(
            "unidist::put: a value of type `{}` could not be encoded: {e}",
            std::any::type_name::<T>()
        )
    })
}

/// Stores `value` marked as a `T` (tests: what a rank whose `T` has another layout would send).
pub(crate) fn put_as<T: RemoteValue, U: RemoteValue>(value: U) -> ObjectRef<T> {
    let caller = caller("put");
    let mut object = encode_for_put(&value);
    object.type_fp = crate::object::fingerprint::<T>();
    ObjectRef::new(put_object(caller, object))
}

fn put_object(caller: Caller, object: Object) -> ObjectId {
    match caller {
        Caller::Root(runtime) => {
            let id = runtime.new_ids(1);
            runtime.send(Command::Put { id, object });
            id
        }
        Caller::Task { host, .. } => {
            let id = host.new_ids(1);
            host.put(id, object);
            id
        }
    }
}

/// Sends a blocking call to the root's loop and waits for the answer.
fn call_root(
    runtime: &crate::runtime::Runtime,
    api: &str,
    ids: Vec<ObjectId>,
    make: impl FnOnce(Vec<ObjectId>, Reply) -> Command,
) -> Answer {
    SUBMITTED.set(false);
    let (reply, answer) = Reply::channel();
    let mut got = None;
    runtime.call(make(ids, reply), &mut || {
        if got.is_none() {
            got = answer.try_recv().ok();
        }
        got.is_some()
    });
    got.map(Ok)
        .unwrap_or_else(|| crate::reply::receive(&answer))
        .unwrap_or_else(|_| panic!("unidist::{api}: the runtime was shut down while {api} waited"))
}

fn fetch(ids: Vec<ObjectId>) -> Vec<Object> {
    match caller("get") {
        Caller::Root(runtime) => {
            match call_root(runtime, "get", ids, |ids, reply| Command::Get { ids, reply }) {
                Answer::Objects(objects) => objects,
                Answer::Flags(_) => unreachable!("get is answered with objects"),
            }
        }
        Caller::Task { host, depth } => {
            crate::actor::check_wait("get", &ids);
            host.get(ids, depth)
        }
    }
}

/// What [`get`] accepts: one ref, or a slice, array or `Vec` of refs.
pub trait GetRefs {
    /// `T` for one ref, `Vec<T>` for several.
    type Output;
    /// Fetches the values; see [`get`].
    fn get_refs(self) -> Result<Self::Output, Error>;
}

impl<T: RemoteValue> GetRefs for &ObjectRef<T> {
    type Output = T;
    fn get_refs(self) -> Result<T, Error> {
        let object = fetch(vec![self.id()]).pop().expect("one object");
        object.decode(self.id())
    }
}

impl<T: RemoteValue> GetRefs for &[ObjectRef<T>] {
    type Output = Vec<T>;
    fn get_refs(self) -> Result<Vec<T>, Error> {
        let objects = fetch(self.iter().map(ObjectRef::id).collect());
        objects.iter().zip(self).map(|(object, r)| object.decode(r.id())).collect()
    }
}

impl<T: RemoteValue> GetRefs for &Vec<ObjectRef<T>> {
    type Output = Vec<T>;
    fn get_refs(self) -> Result<Vec<T>, Error> {
        self.as_slice().get_refs()
    }
}

impl<T: RemoteValue, const N: usize> GetRefs for &[ObjectRef<T>; N] {
    type Output = Vec<T>;
    fn get_refs(self) -> Result<Vec<T>, Error> {
        self.as_slice().get_refs()
    }
}

/// Blocks until the objects are ready and returns their values.
///
/// `&ObjectRef<T>` gives `Result<T, Error>`; a slice, array or `&Vec` of refs gives
/// `Result<Vec<T>, Error>` in the same order. A task that failed, or whose input failed, gives
/// its [`Error`]; so does an object that holds another type than `T`.
///
/// ```
/// #[unidist::remote]
/// fn square(x: u64) -> u64 { x * x }
///
/// fn main() {
///     unidist::init();
///     let refs: Vec<_> = (0..4_u64).map(|i| square::remote(i)).collect();
///     assert_eq!(unidist::get(&refs).unwrap(), vec![0, 1, 4, 9]);
///     assert_eq!(unidist::get(&refs[3]).unwrap(), 9);
///     unidist::shutdown();
/// }
/// ```
pub fn get<R: GetRefs>(refs: R) -> Result<R::Output, Error> {
    refs.get_refs()
}

/// Blocks until at least `num_returns` of `refs` are ready (a failed task counts as ready) and
/// returns the ready refs and the others, each in input order.
///
/// It returns as soon as enough are ready, whatever the others do.
///
/// # Panics
/// If `num_returns` is larger than `refs.len()`.
pub fn wait<T>(
    refs: &[ObjectRef<T>],
    num_returns: usize,
) -> (Vec<ObjectRef<T>>, Vec<ObjectRef<T>>) {
    // Checked first, so that a misuse is reported as such wherever it happens.
    let caller = caller("wait");
    assert!(
        num_returns <= refs.len(),
        "unidist::wait: num_returns is {num_returns} but only {} refs were given: ask for at most {}",
        refs.len(),
        refs.len()
    );
    let ids: Vec<ObjectId> = refs.iter().map(ObjectRef::id).collect();
    let done = match caller {
        Caller::Root(runtime) => {
            let make = |ids, reply| Command::Wait { ids, num_returns, reply };
            match call_root(runtime, "wait", ids, make) {
                Answer::Flags(flags) => flags,
                Answer::Objects(_) => unreachable!("wait is answered with flags"),
            }
        }
        Caller::Task { host, depth } => {
            crate::actor::check_wait("wait", &ids);
            host.wait(ids, num_returns, depth)
        }
    };
    let (mut ready, mut not_ready) = (Vec::new(), Vec::new());
    for (r, done) in refs.iter().zip(done) {
        if done {
            ready.push(r.clone())
        } else {
            not_ready.push(r.clone())
        }
    }
    (ready, not_ready)
}

/// The objects and bytes every rank sent to and received from each other rank, by rank.
///
/// Objects move between ranks as task results, task inputs and `put` values; the counters show
/// where they went (for example, that an input went worker to worker without passing through
/// the root).
pub fn transfer_stats() -> Vec<TransferStats> {
    rank_stats("transfer_stats").into_iter().map(|s| s.transfer).collect()
}

/// The objects each rank holds in its object store and their bytes, by rank.
///
/// An object is freed on every rank that holds it once its last ref is dropped (anywhere: on
/// the root or in the task that made it) and no submitted task still needs it. The root sends
/// the workers their cleanups in batches (see the crate docs on garbage collection); this call
/// first sends every pending one and waits until each worker has handled everything sent before,
/// so every drop made before the call is accounted for: after dropping every ref and with no
/// task running, every count is zero.
///
/// ```
/// #[unidist::remote]
/// fn make(n: u64) -> Vec<u64> { (0..n).collect() }
///
/// fn main() {
///     unidist::init();
///     let r = make::remote(1000);
///     unidist::get(&r).unwrap();
///     assert!(unidist::memory_stats().iter().map(|m| m.objects).sum::<u64>() >= 1);
///     drop(r);
///     assert!(unidist::memory_stats().iter().all(|m| m.objects == 0));
///     unidist::shutdown();
/// }
/// ```
pub fn memory_stats() -> Vec<MemoryStats> {
    rank_stats("memory_stats").into_iter().map(|s| s.memory).collect()
}

fn rank_stats(api: &str) -> Vec<RankStats> {
    let (reply, answer) = mpsc::channel();
    runtime(api).send(Command::Stats { reply });
    answer.recv().unwrap_or_else(|_| panic!("unidist::{api}: the runtime was shut down meanwhile"))
}

/// One raw MPI ping-pong between the root and worker 1, outside the runtime's protocol: the root
/// sends `bytes` and the worker answers with `echo_bytes`, `iterations` times, with blocking
/// sends on a tag of their own. Returns the time it all took, or `None` on the local backend.
/// The benchmark program's baseline; call it only while no task is in flight.
pub(crate) fn raw_ping_pong(
    bytes: usize,
    echo_bytes: usize,
    iterations: usize,
) -> Option<std::time::Duration> {
    let (reply, answer) = mpsc::channel();
    let test = crate::protocol::RawPingPong { bytes, echo_bytes, iterations };
    runtime("raw_ping_pong").probe(ProbeCall::RawPingPong { test, reply });
    answer.recv().unwrap_or_else(|_| panic!("unidist: the runtime was shut down meanwhile"))
}

/// Sends `bytes` to rank `to` as if they were a batch of messages (tests' corrupt messages).
pub(crate) fn send_raw_bytes(to: usize, bytes: Vec<u8>) {
    match caller("send_raw_bytes") {
        Caller::Root(runtime) => runtime.probe(ProbeCall::SendBytes { to, bytes }),
        Caller::Task { host, .. } => host.send_bytes(to, bytes),
    }
}

/// Where a submitted task goes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Placement {
    /// The next worker of the cycle (or the one `schedule_rank` named); it may move until it
    /// starts.
    Next,
    /// This worker (checked to be one), and only it.
    On(Rank),
    /// A new actor's constructor: on this worker, or the next of the cycle; its calls follow it.
    NewActor(Option<Rank>),
    /// A new actor's constructor, on the next worker of the cycle that no other actor has to
    /// itself, which this one then has to itself until it ends.
    ExclusiveActor,
    /// A call on this actor: to the actor's worker (the root knows it), after the earlier calls.
    Actor(ObjectId),
}

/// Submits a task (called by the `remote` stubs); returns the ID of its first output.
#[track_caller]
pub(crate) fn submit(
    function: u64,
    num_returns: usize,
    args: Vec<ArgValue>,
    placement: Placement,
) -> ObjectId {
    // First: a panic below must leave none of this call's leases to the next task. An actor's
    // end (sent when a handle drops, maybe while another call's arguments are encoded) takes
    // none.
    let leases =
        if crate::actor::ends(function) { Vec::new() } else { crate::actor::take_encoded() };
    // Only the next plain task goes where `schedule_rank` said; any submission ends the aim.
    let aimed = AIMED.replace(false);
    let caller = caller("remote");
    let first_output = match &caller {
        Caller::Root(runtime) => runtime.new_ids(num_returns),
        Caller::Task { host, .. } => host.new_ids(num_returns),
    };
    if let Placement::On(rank) | Placement::NewActor(Some(rank)) = placement {
        let workers = match &caller {
            Caller::Root(runtime) => runtime.workers(),
            Caller::Task { host, .. } => host.workers(),
        };
        assert!(
            (1..=workers).contains(&rank),
            "unidist: remote_on({rank}): there is no worker {rank}; the workers are 1 to {workers} (see unidist::num_workers)"
        );
    }
    let mut keep = Vec::with_capacity(args.len());
    let args = args
        .into_iter()
        .map(|a| {
            if !matches!(a.keep, Keep::Nothing) {
                keep.push(a.keep);
            }
            a.arg
        })
        .collect();
    let actor = match placement {
        Placement::Next | Placement::On(_) => None,
        Placement::NewActor(_) | Placement::ExclusiveActor => {
            Some(ActorCall { actor: first_output, number: 0 })
        }
        Placement::Actor(actor) => Some(ActorCall { actor, number: 0 }),
    };
    if let Placement::Actor(actor) = placement {
        crate::actor::note_call(actor, first_output);
    }
    let mut task = Task {
        function,
        first_output,
        num_returns: num_returns as u32,
        args,
        pinned: actor.is_some(),
        chosen: false,
        actors: None,
    }
    .with_actors(actor, leases);
    if let Placement::ExclusiveActor = placement {
        task = task.exclusive();
    }
    match caller {
        // The worker is picked here, in the caller's order: so `schedule_rank` called by this
        // thread names the worker of its next task, whatever the root's loop is doing.
        Caller::Root(runtime) => {
            let rank = match placement {
                Placement::Next | Placement::NewActor(None) => {
                    task.pinned |= aimed;
                    runtime.schedule()
                }
                Placement::On(rank) | Placement::NewActor(Some(rank)) => {
                    task.pinned = true;
                    task.chosen = true;
                    rank
                }
                Placement::ExclusiveActor => runtime.schedule_exclusive().unwrap_or_else(|| {
                    panic!(
                        "unidist: remote_exclusive: each of the {} workers already has an \
                         actor of its own; end one, or start this actor with remote",
                        runtime.workers()
                    )
                }),
                // The root sends it to the actor's worker.
                Placement::Actor(_) => 1,
            };
            submit_from_root(runtime, Command::Submit { task, rank })
        }
        Caller::Task { host, .. } => {
            let worker = match placement {
                Placement::On(rank) | Placement::NewActor(Some(rank)) => {
                    task.pinned = true;
                    task.chosen = true;
                    Some(rank)
                }
                Placement::Next
                | Placement::NewActor(None)
                | Placement::ExclusiveActor
                | Placement::Actor(_) => None,
            };
            host.submit(task, worker)
        }
    }
    // The inputs' refs may go now: the runtime saw the task before any release they cause.
    drop(keep);
    first_output
}
