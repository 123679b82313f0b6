//! What the unit tests of the nodes share: a few registered remote functions (registered as the
//! code `#[remote]` generates registers them, through `inventory`), tasks and objects made by
//! hand, and a short form of messages to compare outboxes with. It names modules of the values
//! layer only, so every layer's tests may use it.

use std::sync::mpsc::Receiver;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::arg::{Arg, Outputs, TaskArgs};
use crate::context;
use crate::error::Error;
use crate::id::{ObjectId, Rank};
use crate::object::{Object, RemoteValue};
use crate::protocol::{Message, Task};
use crate::registry::{function_id, RemoteFunction};
use crate::reply::Answer;

fn no_types() -> Vec<&'static str> {
    Vec::new()
}

/// `add(a: i64, b: i64) -> i64`.
pub(crate) const ADD: u64 = function_id("unidist::test_support::add");

fn add(args: &mut TaskArgs) -> Result<Outputs, Error> {
    let (a, b): (i64, i64) = (args.take()?, args.take()?);
    let mut out = args.outputs();
    out.push(a + b)?;
    Ok(out)
}

inventory::submit! { RemoteFunction::new("unidist::test_support::add", 1, add, no_types) }

/// `panics(message: String) -> i64`: panics with `message`.
pub(crate) const PANICS: u64 = function_id("unidist::test_support::panics");

fn panics(args: &mut TaskArgs) -> Result<Outputs, Error> {
    let message: String = args.take()?;
    std::panic::panic_any(message)
}

inventory::submit! { RemoteFunction::new("unidist::test_support::panics", 1, panics, no_types) }

/// `list(items: Vec<i64>) -> Vec<i64>`: its argument, as the task received it.
pub(crate) const LIST: u64 = function_id("unidist::test_support::list");

fn list(args: &mut TaskArgs) -> Result<Outputs, Error> {
    let items: Vec<i64> = args.take()?;
    let mut out = args.outputs();
    out.push(items)?;
    Ok(out)
}

inventory::submit! { RemoteFunction::new("unidist::test_support::list", 1, list, no_types) }

/// `whereami() -> Vec<u64>`: the depth, worker rank and number of workers its task context
/// gives.
pub(crate) const WHEREAMI: u64 = function_id("unidist::test_support::whereami");

fn whereami(args: &mut TaskArgs) -> Result<Outputs, Error> {
    let (host, depth) = context::current().expect("a task runs in a task context");
    let mut out = args.outputs();
    out.push(vec![depth as u64, host.rank() as u64, host.workers() as u64])?;
    Ok(out)
}

inventory::submit! { RemoteFunction::new("unidist::test_support::whereami", 1, whereami, no_types) }

/// `nested(child: ObjectId) -> Vec<u64>`: blocks in `get` of `child` (a `Vec<u64>`, such as
/// `whereami` makes) through its worker, then returns its own depth followed by that value.
pub(crate) const NESTED: u64 = function_id("unidist::test_support::nested");

fn nested(args: &mut TaskArgs) -> Result<Outputs, Error> {
    let child: ObjectId = args.take()?;
    let (host, depth) = context::current().expect("a task runs in a task context");
    let objects = Arc::clone(&host).get(vec![child], depth);
    let mut values: Vec<u64> = objects[0].decode(child)?;
    values.insert(0, depth as u64);
    let mut out = args.outputs();
    out.push(values)?;
    Ok(out)
}

inventory::submit! { RemoteFunction::new("unidist::test_support::nested", 1, nested, no_types) }

/// `waits_until(child: ObjectId, millis: u64) -> Vec<bool>`: waits for `child` through its
/// worker with a deadline `millis` from now; whether it was done.
pub(crate) const WAITS_UNTIL: u64 = function_id("unidist::test_support::waits_until");

fn waits_until(args: &mut TaskArgs) -> Result<Outputs, Error> {
    let (child, millis): (ObjectId, u64) = (args.take()?, args.take()?);
    let (host, depth) = context::current().expect("a task runs in a task context");
    let deadline = Instant::now() + Duration::from_millis(millis);
    let done = Arc::clone(&host).wait(vec![child], 1, depth, Some(deadline));
    let mut out = args.outputs();
    out.push(done)?;
    Ok(out)
}

inventory::submit! {
    RemoteFunction::new("unidist::test_support::waits_until", 1, waits_until, no_types)
}

/// `gate(key: u64) -> u64`: holds its task slot until the test calls [`open_gate`]`(key)`,
/// then returns `key`. Each test uses keys of its own.
pub(crate) const GATE: u64 = function_id("unidist::test_support::gate");

static OPEN_GATES: Mutex<Vec<u64>> = Mutex::new(Vec::new());
static GATE_OPENED: Condvar = Condvar::new();

fn gate(args: &mut TaskArgs) -> Result<Outputs, Error> {
    let key: u64 = args.take()?;
    let mut open = OPEN_GATES.lock().unwrap_or_else(|e| e.into_inner());
    while !open.contains(&key) {
        open = GATE_OPENED.wait(open).unwrap_or_else(|e| e.into_inner());
    }
    drop(open);
    let mut out = args.outputs();
    out.push(key)?;
    Ok(out)
}

inventory::submit! { RemoteFunction::new("unidist::test_support::gate", 1, gate, no_types) }

/// Lets the tasks of `gate(key)` return.
pub(crate) fn open_gate(key: u64) {
    OPEN_GATES.lock().unwrap_or_else(|e| e.into_inner()).push(key);
    GATE_OPENED.notify_all();
}

/// The object of a value.
pub(crate) fn value<T: RemoteValue>(value: &T) -> Object {
    Object::encode(value).expect("test values encode")
}

/// Reads an object back as a `T`, or the error it holds.
pub(crate) fn read<T: RemoteValue>(object: &Object) -> Result<T, Error> {
    object.decode(ObjectId::new(0, 0))
}

/// A task of `function` with one result, `first_output`.
pub(crate) fn task(function: u64, first_output: ObjectId, args: Vec<Arg>) -> Task {
    Task {
        function,
        first_output,
        num_returns: 1,
        args,
        pinned: false,
        chosen: false,
        retries: 0,
        attempt: 0,
        actors: None,
    }
}

/// A message sent to `to`, in a short form that names what a test checks.
pub(crate) fn show(to: Rank, message: &Message) -> String {
    let ids = |ids: &[ObjectId]| ids.iter().map(ObjectId::to_string).collect::<Vec<_>>().join(",");
    match message {
        Message::Submit(task) => format!("{to}: Submit {}", task.first_output),
        Message::Spawn(task) => format!("{to}: Spawn {}", task.first_output),
        Message::Transfer { id, to: dest } => format!("{to}: Transfer {id} to {dest}"),
        Message::Data { id, .. } => format!("{to}: Data {id}"),
        Message::TaskDone { first_output, sizes, failed } => {
            let failed = if *failed { " failed" } else { "" };
            format!("{to}: TaskDone {first_output} {sizes:?}{failed}")
        }
        Message::Cleanup(list) => format!("{to}: Cleanup [{}]", ids(list)),
        Message::Release(list) => format!("{to}: Release [{}]", ids(list)),
        Message::Fetch(list) => format!("{to}: Fetch [{}]", ids(list)),
        Message::Placed { first_output, num_returns } => {
            format!("{to}: Placed {first_output} x{num_returns}")
        }
        Message::Idle { submits } => format!("{to}: Idle after {submits}"),
        Message::Reclaim { max } => format!("{to}: Reclaim {max}"),
        Message::Returned(tasks) => {
            let tasks: Vec<ObjectId> = tasks.iter().map(|t| t.first_output).collect();
            format!("{to}: Returned [{}]", ids(&tasks))
        }
        Message::Forget(list) => format!("{to}: Forget [{}]", ids(list)),
        Message::Created { id, bytes } => format!("{to}: Created {id} {bytes}"),
        Message::WaitFor { request, ids: list, num_returns, timed } => {
            let timed = if *timed { " timed" } else { "" };
            format!("{to}: WaitFor {request} [{}] {num_returns}{timed}", ids(list))
        }
        Message::WaitExpired { request } => format!("{to}: WaitExpired {request}"),
        Message::WaitDone { request, flags } => format!("{to}: WaitDone {request} {flags:?}"),
        Message::Cancel(list) => format!("{to}: Cancel [{}]", ids(list)),
        Message::StatsRequest { reset_peak: true } => format!("{to}: StatsRequest, peak anew"),
        other => format!("{to}: {}", other.kind()),
    }
}

/// The objects a blocking `get` was answered with; panics if it has no answer yet.
pub(crate) fn answered_objects(answer: &Receiver<Answer>) -> Vec<Object> {
    match answer.try_recv() {
        Ok(Answer::Objects(objects)) => objects,
        Ok(_) => panic!("a get is answered with objects"),
        Err(e) => panic!("no answer yet: {e:?}"),
    }
}

/// Which objects a blocking `wait` was answered with as done; panics if it has no answer yet.
pub(crate) fn answered_flags(answer: &Receiver<Answer>) -> Vec<bool> {
    match answer.try_recv() {
        Ok(Answer::Flags(flags)) => flags,
        Ok(Answer::Ordered(order)) => order.iter().map(Option::is_some).collect(),
        Ok(Answer::Objects(_) | Answer::Counts { .. }) => panic!("a wait is answered with flags"),
        Err(e) => panic!("no answer yet: {e:?}"),
    }
}

/// The completion order a `wait` of the root's program was answered with; panics if it has no
/// answer yet.
pub(crate) fn answered_order(answer: &Receiver<Answer>) -> Vec<Option<u64>> {
    match answer.try_recv() {
        Ok(Answer::Ordered(order)) => order,
        Ok(_) => panic!("a wait of the root's program is answered with the order"),
        Err(e) => panic!("no answer yet: {e:?}"),
    }
}
