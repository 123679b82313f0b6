//! The functions users call: `init`, `put`, `get`, `wait`, `shutdown` and friends.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::mpsc::{self, RecvError, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::array::{Array, Element};
use crate::cluster::HostResources;
use crate::context;
use crate::error::Error;
use crate::event_loop::ProbeCall;
use crate::id::{ObjectId, Rank};
use crate::into_arg::{ArgValue, Keep};
use crate::object::{Object, RemoteValue};
use crate::object_ref::ObjectRef;
use crate::progress::{progress, Bar, Progress};
use crate::protocol::{ActorCall, Task};
use crate::reply::{Answer, Reply};
use crate::root::Command;
use crate::runtime::{self, caller, runtime, Caller};
use crate::stats::{
    FunctionCounts, FunctionStats, MemoryStats, RankStats, TransferStats, WorkerStats,
};
use crate::timeline::{self, Call, Event};

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
#[track_caller]
pub fn init() {
    runtime::init();
}

/// What [`init_in`](crate::init_in) made of the calling rank.
#[cfg(any(feature = "mpi", docsrs))]
#[cfg_attr(docsrs, doc(cfg(feature = "mpi")))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Rank 0 of the communicator: the runtime runs and the program goes on to submit tasks,
    /// then calls [`shutdown`].
    Root,
    /// Any other rank: it served tasks until the root's [`shutdown`]; the runtime has stopped
    /// and the program goes on with its own MPI work.
    Worker,
}

#[doc = include_str!("init_in.md")]
#[cfg(feature = "mpi")]
#[cfg_attr(docsrs, doc(cfg(feature = "mpi")))]
#[track_caller]
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
#[track_caller]
pub fn shutdown() {
    runtime::shutdown();
}

/// True between [`init`] and [`shutdown`] (and inside remote functions).
pub fn is_initialized() -> bool {
    context::current().is_some() || runtime::is_initialized()
}

/// The number of workers tasks are spread over (ranks but the root, or local worker threads).
#[track_caller]
pub fn num_workers() -> usize {
    match caller("num_workers") {
        Caller::Root(runtime) => runtime.workers(),
        Caller::Task { host, .. } => host.workers(),
    }
}

/// The backend in use: `"mpi"` or `"local"`.
#[track_caller]
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
#[track_caller]
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
#[track_caller]
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
#[track_caller]
pub fn put<T: RemoteValue>(value: T) -> ObjectRef<T> {
    let caller = caller("put");
    ObjectRef::new(put_object(caller, encode_for_put(value)))
}

fn encode_for_put<T: RemoteValue>(value: T) -> Object {
    Object::encode_owned(value).unwrap_or_else(|e| {
        panic!(
            "unidist::put: a value of type `{}` could not be encoded: {e}",
            std::any::type_name::<T>()
        )
    })
}

/// Stores `value` marked as a `T` (tests: what a rank whose `T` has another layout would send).
pub(crate) fn put_as<T: RemoteValue, U: RemoteValue>(value: U) -> ObjectRef<T> {
    let caller = caller("put");
    let mut object = encode_for_put(value);
    object.type_fp = crate::object::fingerprint::<T>();
    ObjectRef::new(put_object(caller, object))
}

#[track_caller]
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
#[track_caller]
fn call_root(
    runtime: &crate::runtime::Runtime,
    api: &str,
    call: Call,
    ids: Vec<ObjectId>,
    make: impl FnOnce(Vec<ObjectId>, Reply) -> Command,
) -> Answer {
    SUBMITTED.set(false);
    let started = timeline::on().then(Instant::now);
    let (reply, answer) = Reply::channel();
    let mut got = None;
    runtime.call(make(ids, reply), &mut || {
        if got.is_none() {
            got = answer.try_recv().ok();
        }
        got.is_some()
    });
    let answer = got
        .map(Ok)
        .unwrap_or_else(|| crate::reply::receive(&answer))
        .unwrap_or_else(|_| panic!("unidist::{api}: the runtime was shut down while {api} waited"));
    blocked(call, started);
    answer
}

/// How often a progress bar of a `get` or `wait` looks at the objects again.
const PROGRESS_TICK: Duration = Duration::from_millis(200);

/// Before a `get` or `wait` of the root's program over `ids` (none inside a task): shows a
/// progress bar, if one shows for so many, until `target` of them are done.
#[track_caller]
fn watch(api: &str, ids: &[ObjectId], target: usize) {
    let Caller::Root(runtime) = caller(api) else { return };
    let Some(bar) = Bar::new(api, ids.len()) else { return };
    loop {
        let (reply, answer) = Reply::channel();
        runtime.send(Command::Count { ids: ids.to_vec(), reply });
        let Ok(Answer::Counts { done, failed }) = crate::reply::receive(&answer) else {
            panic!("unidist::{api}: the runtime was shut down while {api} waited")
        };
        bar.set(done, failed);
        if done >= target {
            bar.finish();
            return;
        }
        wait_until(runtime, api, ids.to_vec(), target, PROGRESS_TICK);
    }
}

/// Records a blocking call of the root's program that started at `started` (if recording).
fn blocked(call: Call, started: Option<Instant>) {
    if let Some(started) = started {
        let (start, end) = (timeline::nanos(started), timeline::now());
        timeline::record(0, Event::Blocked { call, lane: 0, start, end });
    }
}

#[track_caller]
fn fetch(ids: Vec<ObjectId>) -> Vec<Object> {
    match caller("get") {
        Caller::Root(runtime) => {
            let make = |ids, reply| Command::Get { ids, reply, token: None };
            match call_root(runtime, "get", Call::Get, ids, make) {
                Answer::Objects(objects) => objects,
                _ => unreachable!("get is answered with objects"),
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
    /// The objects named, in order (for [`get_timeout`]).
    #[doc(hidden)]
    fn object_ids(&self) -> Vec<ObjectId>;
}

impl<T: RemoteValue> GetRefs for &ObjectRef<T> {
    type Output = T;
    #[track_caller]
    fn get_refs(self) -> Result<T, Error> {
        let object = fetch(vec![self.id()]).pop().expect("one object");
        object.decode(self.id())
    }
    fn object_ids(&self) -> Vec<ObjectId> {
        vec![self.id()]
    }
}

impl<T: RemoteValue> GetRefs for &[ObjectRef<T>] {
    type Output = Vec<T>;
    #[track_caller]
    fn get_refs(self) -> Result<Vec<T>, Error> {
        let objects = fetch(self.iter().map(ObjectRef::id).collect());
        objects.iter().zip(self).map(|(object, r)| object.decode(r.id())).collect()
    }
    fn object_ids(&self) -> Vec<ObjectId> {
        self.iter().map(ObjectRef::id).collect()
    }
}

impl<T: RemoteValue> GetRefs for &Vec<ObjectRef<T>> {
    type Output = Vec<T>;
    #[track_caller]
    fn get_refs(self) -> Result<Vec<T>, Error> {
        self.as_slice().get_refs()
    }
    fn object_ids(&self) -> Vec<ObjectId> {
        self.as_slice().object_ids()
    }
}

impl<T: RemoteValue, const N: usize> GetRefs for &[ObjectRef<T>; N] {
    type Output = Vec<T>;
    #[track_caller]
    fn get_refs(self) -> Result<Vec<T>, Error> {
        self.as_slice().get_refs()
    }
    fn object_ids(&self) -> Vec<ObjectId> {
        self.as_slice().object_ids()
    }
}

/// Blocks until the objects are ready and returns their values.
///
/// `&ObjectRef<T>` gives `Result<T, Error>`; a slice, array or `&Vec` of refs gives
/// `Result<Vec<T>, Error>` in the same order. A task that failed, or whose input failed, gives
/// its [`Error`]; so does an object that holds another type than `T`. To keep the values of the
/// others when one of many fails, use [`get_each`]; to bound the wait, [`get_timeout`].
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
#[track_caller]
pub fn get<R: GetRefs>(refs: R) -> Result<R::Output, Error> {
    if progress() != Progress::Off {
        let ids = refs.object_ids();
        watch("get", &ids, ids.len());
    }
    refs.get_refs()
}

/// Like [`get`] of one ref to a `Vec<E>` of numbers, but reads the elements where the object
/// lies instead of decoding a copy: a large result a worker of this host made (in shared memory)
/// is mapped and read in place, with no copy at all; otherwise the [`Array`] holds a decoded
/// copy, as `get` would give (see [`Array`]). The array keeps the object's memory while it lives.
///
/// ```
/// #[unidist::remote]
/// fn ramp(n: u64) -> Vec<f64> { (0..n).map(|i| i as f64).collect() }
///
/// fn main() {
///     unidist::init();
///     let r = ramp::remote(1 << 20);
///     let values = unidist::get_array(&r).unwrap();
///     assert_eq!(values[1000], 1000.0);
///     unidist::shutdown();
/// }
/// ```
#[track_caller]
pub fn get_array<E: Element>(r: &ObjectRef<Vec<E>>) -> Result<Array<E>, Error> {
    let object = fetch(vec![r.id()]).pop().expect("one object");
    Array::from_object(&object, r.id())
}

/// Like [`get`], but gives up once `timeout` has passed: then it returns
/// [`Error::Timeout`] naming the first object not ready, and every ref stays valid for a later
/// `get`. The timeout bounds the wait for the objects to be made; once all are made, fetching
/// their bytes is not bounded.
///
/// ```
/// use std::time::Duration;
///
/// #[unidist::remote]
/// fn square(x: u64) -> u64 { x * x }
///
/// fn main() {
///     unidist::init();
///     let r = square::remote(7);
///     match unidist::get_timeout(&r, Duration::from_secs(10)) {
///         Ok(v) => assert_eq!(v, 49),
///         Err(unidist::Error::Timeout { .. }) => println!("still running; try again later"),
///         Err(e) => panic!("{e}"),
///     }
///     unidist::shutdown();
/// }
/// ```
#[track_caller]
pub fn get_timeout<R: GetRefs>(refs: R, timeout: Duration) -> Result<R::Output, Error> {
    let ids = refs.object_ids();
    let all = ids.len();
    let done = wait_ids(caller("get_timeout"), "get_timeout", ids.clone(), all, Some(timeout));
    if let Some(late) = done.iter().position(Option::is_none) {
        return Err(Error::Timeout { object: ids[late], waited: timeout });
    }
    refs.get_refs()
}

/// Blocks until every object is ready and returns one `Result` per ref, in the same order: a
/// failed task loses nothing but its own value.
///
/// ```
/// #[unidist::remote]
/// fn check(x: u64) -> u64 {
///     assert!(x != 2, "bad parameter {x}");
///     x
/// }
///
/// fn main() {
///     unidist::init();
///     let refs: Vec<_> = (0..4_u64).map(|x| check::remote(x)).collect();
///     let results = unidist::get_each(&refs);
///     assert_eq!(results[3], Ok(3));
///     assert!(results[2].as_ref().unwrap_err().to_string().contains("bad parameter 2"));
///     unidist::shutdown();
/// }
/// ```
#[track_caller]
pub fn get_each<T: RemoteValue>(refs: &[ObjectRef<T>]) -> Vec<Result<T, Error>> {
    let ids: Vec<ObjectId> = refs.iter().map(ObjectRef::id).collect();
    if progress() != Progress::Off {
        watch("get_each", &ids, ids.len());
    }
    let objects = fetch(ids);
    objects.iter().zip(refs).map(|(object, r)| object.decode(r.id())).collect()
}

/// Cancels the tasks that make `refs` (one ref, or a slice, array or `&Vec` of them): a task
/// that has not started when the cancel reaches its worker never runs, and its results are
/// [`Error::Cancelled`]; so are the results of a task that was running then, whatever it
/// returns (it can check [`is_cancelled`] to stop early). A task that had finished keeps its
/// results, and a ref that no task makes (a [`put`] value) is left alone. Tasks that take a
/// cancelled result as an input fail with [`Error::InputFailed`] naming it.
///
/// It returns at once; the cancel reaches the workers a moment later. A `get` of a cancelled
/// ref returns once its worker has ended the task.
///
/// ```
/// #[unidist::remote]
/// fn slow(x: u64) -> u64 {
///     for _ in 0..1000 {
///         if unidist::is_cancelled() {
///             return 0; // dropped anyway: the result is `Error::Cancelled`
///         }
///         std::thread::sleep(std::time::Duration::from_millis(1));
///     }
///     x
/// }
///
/// fn main() {
///     unidist::init();
///     let refs: Vec<_> = (0..8).map(slow::remote).collect();
///     unidist::cancel(&refs);
///     for r in unidist::get_each(&refs) {
///         // Cancelled, unless it had finished before the cancel came.
///         assert!(matches!(r, Ok(_) | Err(unidist::Error::Cancelled { .. })));
///     }
///     unidist::shutdown();
/// }
/// ```
#[track_caller]
pub fn cancel<R: GetRefs>(refs: R) {
    let ids = refs.object_ids();
    match caller("cancel") {
        Caller::Root(runtime) => runtime.send(Command::Cancel(ids)),
        Caller::Task { host, .. } => host.cancel(ids),
    }
}

/// True inside a task that was cancelled ([`cancel`]) while it runs: a long task checks it now
/// and then and returns early, since its result is an error anyway. False outside tasks.
pub fn is_cancelled() -> bool {
    match (context::current(), context::task_id()) {
        (Some((host, _)), Some(task)) => host.is_cancelled(task),
        _ => false,
    }
}

/// Blocks until at least `num_returns` of `refs` are ready (a failed task counts as ready) and
/// returns the ready refs and the others, each in input order.
///
/// It returns as soon as enough are ready, whatever the others do; [`wait_timeout`] also stops
/// at a deadline.
///
/// # Panics
/// If `num_returns` is larger than `refs.len()`.
#[track_caller]
pub fn wait<T>(
    refs: &[ObjectRef<T>],
    num_returns: usize,
) -> (Vec<ObjectRef<T>>, Vec<ObjectRef<T>>) {
    wait_split("wait", refs, num_returns, None)
}

/// Like [`wait`], but returns once `timeout` has passed even if fewer than `num_returns` refs
/// are ready: with the refs ready by then and the others, each in input order.
///
/// ```
/// use std::time::Duration;
///
/// #[unidist::remote]
/// fn square(x: u64) -> u64 { x * x }
///
/// fn main() {
///     unidist::init();
///     let refs: Vec<_> = (0..4_u64).map(|i| square::remote(i)).collect();
///     let (ready, not_ready) = unidist::wait_timeout(&refs, 4, Duration::from_secs(10));
///     assert_eq!(ready.len() + not_ready.len(), 4);
///     unidist::shutdown();
/// }
/// ```
///
/// # Panics
/// If `num_returns` is larger than `refs.len()`.
#[track_caller]
pub fn wait_timeout<T>(
    refs: &[ObjectRef<T>],
    num_returns: usize,
    timeout: Duration,
) -> (Vec<ObjectRef<T>>, Vec<ObjectRef<T>>) {
    wait_split("wait_timeout", refs, num_returns, Some(timeout))
}

#[track_caller]
fn wait_split<T>(
    api: &str,
    refs: &[ObjectRef<T>],
    num_returns: usize,
    timeout: Option<Duration>,
) -> (Vec<ObjectRef<T>>, Vec<ObjectRef<T>>) {
    // Checked first, so that a misuse is reported as such wherever it happens.
    let caller = caller(api);
    assert!(
        num_returns <= refs.len(),
        "unidist::{api}: num_returns is {num_returns} but only {} refs were given: ask for at most {}",
        refs.len(),
        refs.len()
    );
    let ids: Vec<ObjectId> = refs.iter().map(ObjectRef::id).collect();
    if timeout.is_none() && progress() != Progress::Off {
        watch(api, &ids, num_returns);
    }
    let done = wait_ids(caller, api, ids, num_returns, timeout);
    let (mut ready, mut not_ready) = (Vec::new(), Vec::new());
    for (r, done) in refs.iter().zip(done) {
        if done.is_some() {
            ready.push(r.clone())
        } else {
            not_ready.push(r.clone())
        }
    }
    (ready, not_ready)
}

/// Which of `ids` are done once `num_returns` are or `timeout` has passed, each with its place
/// in the order the root saw objects become done (in a task, whose worker may answer alone,
/// every done object has the place 0).
#[track_caller]
fn wait_ids(
    caller: Caller,
    api: &str,
    ids: Vec<ObjectId>,
    num_returns: usize,
    timeout: Option<Duration>,
) -> Vec<Option<u64>> {
    match caller {
        Caller::Root(runtime) => match timeout {
            None => {
                let make = |ids, reply| Command::Wait { ids, num_returns, reply, token: None };
                match call_root(runtime, api, Call::Wait, ids, make) {
                    Answer::Ordered(order) => order,
                    _ => unreachable!("a wait of the root's program is answered with the order"),
                }
            }
            Some(timeout) => wait_until(runtime, api, ids, num_returns, timeout),
        },
        Caller::Task { host, depth } => {
            crate::actor::check_wait(api, &ids);
            // A deadline past what an `Instant` can hold is none.
            let deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
            let done = host.wait(ids, num_returns, depth, deadline);
            done.into_iter().map(|done| done.then_some(0)).collect()
        }
    }
}

/// A `wait` of the root's program with a deadline. It leaves the root's loop to its own thread
/// (a thread driving the loop sleeps until something comes, past any deadline) and tells the
/// root when the deadline has passed, which then answers with what is done.
#[track_caller]
fn wait_until(
    runtime: &crate::runtime::Runtime,
    api: &str,
    ids: Vec<ObjectId>,
    num_returns: usize,
    timeout: Duration,
) -> Vec<Option<u64>> {
    SUBMITTED.set(false);
    let started = timeline::on().then(Instant::now);
    let token = crate::reply::new_token();
    let (reply, answer) = Reply::channel();
    runtime.send(Command::Wait { ids, num_returns, reply, token: Some(token) });
    let answered = match answer.recv_timeout(timeout) {
        Ok(answered) => Ok(answered),
        Err(RecvTimeoutError::Timeout) => {
            runtime.send(Command::WaitExpired(token));
            crate::reply::receive(&answer)
        }
        Err(RecvTimeoutError::Disconnected) => Err(RecvError),
    };
    blocked(Call::Wait, started);
    match answered {
        Ok(Answer::Ordered(order)) => order,
        Ok(_) => unreachable!("a wait of the root's program is answered with the order"),
        Err(_) => panic!("unidist::{api}: the runtime was shut down while {api} waited"),
    }
}

/// Yields the results of refs as their tasks finish, in the order they finish, each with the
/// key it was given: see [`as_completed`].
pub struct AsCompleted<K, T> {
    /// Not done when last asked, in input order.
    pending: Vec<(K, ObjectRef<T>)>,
    /// Done and fetched, in the order they finished (with their refs, for `into_remaining`).
    ready: VecDeque<(K, ObjectRef<T>, Result<T, Error>)>,
    deadline: Option<Instant>,
    /// The deadline had passed at the last look: no more looks.
    expired: bool,
    /// Its progress bar, if bars show.
    bar: Option<Bar>,
}

/// Yields each `(key, result)` as soon as its ref is ready, in the order the objects became
/// ready (a failed task's result is its `Err`): so a program can act on the first results while
/// the others run, and knows which parameter each result is for.
///
/// The keys are anything: the parameters of the tasks, indexes (`refs.into_iter().enumerate()`),
/// or the refs themselves (`ObjectRef` is `Hash + Eq`). [`AsCompleted::timeout`] stops the
/// iteration at a deadline, after which [`AsCompleted::into_remaining`] gives the refs not done.
///
/// ```
/// use std::time::Duration;
///
/// #[unidist::remote]
/// fn simulate(p: u64) -> u64 {
///     assert!(p != 3, "diverged");
///     p * 10
/// }
///
/// fn main() {
///     unidist::init();
///     let runs = (0..6_u64).map(|p| (p, simulate::remote(p)));
///     let mut done = unidist::as_completed(runs).timeout(Duration::from_secs(60));
///     let mut failed = Vec::new();
///     for (p, result) in &mut done {
///         match result {
///             Ok(value) => assert_eq!(value, p * 10),
///             Err(e) => failed.push((p, e)),
///         }
///     }
///     assert_eq!(failed.len(), 1);
///     assert_eq!(failed[0].0, 3);
///     assert!(done.into_remaining().is_empty(), "all finished within the minute");
///     unidist::shutdown();
/// }
/// ```
///
/// Objects that became ready between two looks come in the order the root saw them finish; in a
/// remote function, whose worker may answer alone, such objects come in input order.
#[track_caller]
pub fn as_completed<K, T: RemoteValue>(
    refs: impl IntoIterator<Item = (K, ObjectRef<T>)>,
) -> AsCompleted<K, T> {
    // Checked at once, so that a misuse is reported at the call.
    let on_root = matches!(caller("as_completed"), Caller::Root(_));
    let pending: Vec<(K, ObjectRef<T>)> = refs.into_iter().collect();
    let bar = if on_root { Bar::new("as_completed", pending.len()) } else { None };
    AsCompleted { pending, ready: VecDeque::new(), deadline: None, expired: false, bar }
}

impl<K, T: RemoteValue> AsCompleted<K, T> {
    /// Stops the iteration once `timeout` from now has passed: results ready by then are still
    /// yielded (one last look at the deadline), then `next` returns `None`;
    /// [`AsCompleted::into_remaining`] gives the others.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.deadline = Instant::now().checked_add(timeout);
        self
    }

    /// How many results have not been yielded yet.
    pub fn remaining(&self) -> usize {
        self.ready.len() + self.pending.len()
    }

    /// The refs whose results were not yielded yet, with their keys: first those fetched but
    /// not yielded (after a `break`), in the order they finished, then the others in input
    /// order (after a deadline: those not done by then). Cancel them, or read them later.
    pub fn into_remaining(self) -> Vec<(K, ObjectRef<T>)> {
        let mut remaining: Vec<(K, ObjectRef<T>)> =
            self.ready.into_iter().map(|(key, r, _)| (key, r)).collect();
        remaining.extend(self.pending);
        remaining
    }

    /// The `Stream` form of the iterator (feature `stream`): each result as soon as its ref is
    /// ready, without blocking a thread; results already fetched come first.
    ///
    /// ```
    /// use futures::StreamExt;
    ///
    /// #[unidist::remote]
    /// fn square(x: u64) -> u64 { x * x }
    ///
    /// fn main() {
    ///     unidist::init();
    ///     let runs = (0..5_u64).map(|x| (x, square::remote(x)));
    ///     let mut stream = unidist::as_completed(runs).into_stream();
    ///     let total = futures::executor::block_on(async {
    ///         let mut total = 0;
    ///         while let Some((x, result)) = stream.next().await {
    ///             assert_eq!(result, Ok(x * x));
    ///             total += 1;
    ///         }
    ///         total
    ///     });
    ///     assert_eq!(total, 5);
    ///     unidist::shutdown();
    /// }
    /// ```
    ///
    /// # Panics
    /// If [`AsCompleted::timeout`] was set: a stream has no timer of its own; bound it with your
    /// executor's (such as `tokio::time::timeout`).
    #[cfg(feature = "stream")]
    #[cfg_attr(docsrs, doc(cfg(feature = "stream")))]
    pub fn into_stream(self) -> crate::awaiting::CompletedStream<K, T> {
        assert!(
            self.deadline.is_none(),
            "unidist::as_completed(..).timeout(..).into_stream(): a stream has no timer; bound it \
             with your executor's timeout instead"
        );
        let ready = self.ready.into_iter().map(|(key, _, result)| (key, result)).collect();
        crate::awaiting::CompletedStream::new(self.pending, ready)
    }

    /// Waits until some pending refs are done (or the deadline passes) and fetches them.
    #[track_caller]
    fn fill(&mut self) {
        let timeout = self.deadline.map(|d| d.saturating_duration_since(Instant::now()));
        self.expired = timeout.is_some_and(|left| left.is_zero());
        let ids = self.pending.iter().map(|(_, r)| r.id()).collect();
        let order = wait_ids(caller("as_completed"), "as_completed", ids, 1, timeout);
        let mut done: Vec<(u64, usize)> =
            order.iter().enumerate().filter_map(|(i, o)| o.map(|o| (o, i))).collect();
        if done.is_empty() {
            return;
        }
        done.sort_unstable();
        let objects = fetch(done.iter().map(|&(_, i)| self.pending[i].1.id()).collect());
        let mut taken: Vec<Option<(K, ObjectRef<T>)>> =
            std::mem::take(&mut self.pending).into_iter().map(Some).collect();
        for (&(_, i), object) in done.iter().zip(&objects) {
            let (key, r) = taken[i].take().expect("each index once");
            let result = object.decode(r.id());
            self.ready.push_back((key, r, result));
        }
        self.pending = taken.into_iter().flatten().collect();
    }
}

impl<K, T: RemoteValue> Iterator for AsCompleted<K, T> {
    type Item = (K, Result<T, Error>);

    #[track_caller]
    fn next(&mut self) -> Option<Self::Item> {
        if self.ready.is_empty() && !self.pending.is_empty() && !self.expired {
            self.fill();
        }
        let next = self.ready.pop_front().map(|(key, _, result)| (key, result));
        if let Some(bar) = &self.bar {
            match &next {
                Some((_, result)) => bar.advance(result.is_err()),
                None => bar.finish(),
            }
        }
        next
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let ready = self.ready.len();
        let most = ready + self.pending.len();
        (if self.deadline.is_some() { ready } else { most }, Some(most))
    }
}

/// The objects and bytes every rank sent to and received from each other rank, by rank.
///
/// Objects move between ranks as task results, task inputs and `put` values; the counters show
/// where they went (for example, that an input went worker to worker without passing through
/// the root).
#[track_caller]
pub fn transfer_stats() -> Vec<TransferStats> {
    rank_stats("transfer_stats", false).into_iter().map(|s| s.transfer).collect()
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
#[track_caller]
pub fn memory_stats() -> Vec<MemoryStats> {
    rank_stats("memory_stats", false).into_iter().map(|s| s.memory).collect()
}

/// The tasks each worker holds now, the most it held at once since the previous call, and the
/// tasks that ended on it, by rank (workers only), as the workers count them. Like
/// [`memory_stats`], it counts every task end that came before the call.
///
/// ```
/// #[unidist::remote]
/// fn square(x: u64) -> u64 { x * x }
///
/// fn main() {
///     unidist::init();
///     unidist::set_max_in_flight(Some(10));
///     let before: u64 = unidist::worker_stats().iter().map(|w| w.ended).sum();
///     let refs: Vec<_> = (0..100).map(square::remote).collect();
///     unidist::get(&refs).unwrap();
///     let stats = unidist::worker_stats();
///     assert_eq!(stats.iter().map(|w| w.ended).sum::<u64>() - before, 100);
///     assert!(stats.iter().all(|w| w.tasks == 0 && w.most_tasks <= 10), "{stats:?}");
///     unidist::shutdown();
/// }
/// ```
#[track_caller]
pub fn worker_stats() -> Vec<WorkerStats> {
    let stats = rank_stats("worker_stats", true).into_iter().skip(1); // the root runs no task
    stats.map(|s| s.tasks).collect()
}

/// What the tasks of each remote function did, gathered from every rank, by function path:
/// tasks submitted, running now, done and failed, and the time their runs took. Like
/// [`memory_stats`], it counts every task end that came before the call.
///
/// ```
/// #[unidist::remote]
/// fn check(x: u64) -> u64 {
///     assert!(x % 10 != 3, "bad parameter {x}");
///     x
/// }
///
/// fn main() {
///     unidist::init();
///     let refs: Vec<_> = (0..100).map(check::remote).collect();
///     let _ = unidist::get_each(&refs);
///     let stats = unidist::function_stats();
///     let check = stats.iter().find(|f| f.function.ends_with("::check")).unwrap();
///     assert_eq!((check.submitted, check.done, check.failed, check.running), (100, 90, 10, 0));
///     println!("mean run time: {:?}", check.mean_time().unwrap());
///     unidist::shutdown();
/// }
/// ```
#[track_caller]
pub fn function_stats() -> Vec<FunctionStats> {
    let mut by_id: HashMap<u64, FunctionCounts> = HashMap::new();
    for rank in rank_stats("function_stats", false) {
        for (function, counts) in rank.functions {
            by_id.entry(function).or_default().add(&counts);
        }
    }
    let mut stats: Vec<FunctionStats> = by_id
        .into_iter()
        .map(|(id, counts)| FunctionStats {
            function: crate::registry::name_of(id),
            submitted: counts.submitted,
            running: counts.running,
            done: counts.done,
            failed: counts.failed,
            runs: counts.runs,
            total_time: Duration::from_nanos(counts.nanos),
        })
        .collect();
    stats.sort_by(|a, b| a.function.cmp(&b.function));
    stats
}

/// Starts (`true`) or stops recording the timeline on every rank: the tasks each ran (function,
/// worker, lane, start and end), the objects moved between ranks (with their sizes) and the
/// `get`s and `wait`s that blocked, on the root's program and in tasks. Tasks submitted after
/// this call are recorded. `UNIDIST_TIMELINE=path` starts it at `init` and writes the file at
/// [`shutdown`].
///
/// Each rank keeps at most 1,048,576 events; the file notes how many it dropped past that.
#[track_caller]
pub fn record_timeline(on: bool) {
    let runtime = runtime("record_timeline");
    // At once in this process, so that the program's next call is recorded; the workers hear it
    // before any task submitted after it.
    crate::timeline::set(on);
    runtime.send(Command::Record(on));
}

/// Gathers what every rank recorded so far (see [`record_timeline`]) and writes it to `path`
/// as a Chrome trace-event file, which Perfetto (<https://ui.perfetto.dev>) and
/// `chrome://tracing` open as it is: one process per rank, one thread per lane (the program or
/// a worker's loop, each executor thread, and the transfers), an arrow per object moved.
///
/// Times are on the root's clock: each worker's clock is aligned to it by the shortest of
/// several round trips, and the file says how far each alignment may be off
/// (`otherData.ranks[].clock_uncertainty_ns`). What was recorded stays recorded: a later call
/// writes it again, with what came since.
///
/// ```
/// #[unidist::remote]
/// fn square(x: u64) -> u64 { x * x }
///
/// fn main() {
///     unidist::init();
///     unidist::record_timeline(true);
///     let refs: Vec<_> = (0..10).map(square::remote).collect();
///     unidist::get(&refs).unwrap();
///     let path = std::env::temp_dir().join(format!("doc-trace-{}.json", std::process::id()));
///     unidist::write_timeline(&path).unwrap();
///     let trace = std::fs::read_to_string(&path).unwrap();
///     assert!(trace.contains("\"traceEvents\"") && trace.contains("::square\""));
///     std::fs::remove_file(&path).unwrap();
///     unidist::shutdown();
/// }
/// ```
///
/// # Errors
/// If the file cannot be written.
#[track_caller]
pub fn write_timeline(path: impl AsRef<Path>) -> std::io::Result<()> {
    let runtime = runtime("write_timeline");
    match crate::runtime::gather_timeline(runtime) {
        Some(timelines) => crate::chrome_trace::write(path.as_ref(), &timelines),
        None => panic!("unidist::write_timeline: the runtime was shut down meanwhile"),
    }
}

#[track_caller]
fn rank_stats(api: &str, reset_peaks: bool) -> Vec<RankStats> {
    let (reply, answer) = mpsc::channel();
    runtime(api).send(Command::Stats { reply, reset_peaks });
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

/// Submits a task (called by the `remote` stubs) that may run `retries` more times if it
/// panics; returns the ID of its first output. From the root's program, at the bound on tasks
/// in flight, it waits for a place, or with `wait` false returns [`Error::Busy`].
#[track_caller]
pub(crate) fn submit(
    function: u64,
    num_returns: usize,
    args: Vec<ArgValue>,
    placement: Placement,
    retries: u8,
    wait: bool,
) -> Result<ObjectId, Error> {
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
    if let Caller::Root(runtime) = &caller {
        let places = runtime.in_flight();
        if crate::actor::ends(function) {
            // Sent as a handle drops: never held back.
            places.take_anyway();
        } else if wait {
            places.take();
        } else if let Err((in_flight, limit)) = places.try_take() {
            return Err(Error::Busy { in_flight, limit });
        }
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
        retries,
        attempt: 0,
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
                    runtime.in_flight().done();
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
    Ok(first_output)
}

/// Sets the most tasks the root's program may have submitted and not done; `None`: no bound
/// (the default, unless `UNIDIST_MAX_IN_FLIGHT` sets one). At the bound, `f::remote` waits until
/// one of them is done, and `f::try_remote` returns [`Error::Busy`] at once: so a loop that
/// submits a million tasks holds at most the bound in the root's memory. Tasks that tasks
/// submit are not counted (a task waiting for a place could hold back the tasks it waits for).
///
/// ```
/// #[unidist::remote]
/// fn square(x: u64) -> u64 { x * x }
///
/// fn main() {
///     unidist::init();
///     unidist::set_max_in_flight(Some(100));
///     let mut total = 0;
///     let mut refs = Vec::new();
///     for x in 0..10_000 {
///         refs.push(square::remote(x)); // waits while 100 are in flight
///         assert!(unidist::in_flight() <= 100);
///         if refs.len() == 100 {
///             total += unidist::get(&refs).unwrap().iter().sum::<u64>();
///             refs.clear();
///         }
///     }
///     assert_eq!(total, (0..10_000_u64).map(|x| x * x).sum::<u64>());
///     unidist::set_max_in_flight(None);
///     unidist::shutdown();
/// }
/// ```
#[track_caller]
pub fn set_max_in_flight(limit: Option<usize>) {
    assert!(
        limit != Some(0),
        "unidist::set_max_in_flight(Some(0)) would let no task run: give at least 1, or None for no bound"
    );
    runtime("set_max_in_flight").in_flight().set_limit(limit);
}

/// The bound set by [`set_max_in_flight`] or `UNIDIST_MAX_IN_FLIGHT`; `None`: no bound.
#[track_caller]
pub fn max_in_flight() -> Option<usize> {
    runtime("max_in_flight").in_flight().limit()
}

/// Tasks the root's program has submitted that are not done yet (what the bound of
/// [`set_max_in_flight`] counts).
#[track_caller]
pub fn in_flight() -> usize {
    runtime("in_flight").in_flight().count()
}
