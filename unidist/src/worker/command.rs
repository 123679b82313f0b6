//! What the threads of a worker's process ask of its loop: the executor reports finished tasks,
//! and tasks make their API calls (nested tasks). Below both the executor and the worker, so
//! that the executor sends these without naming the worker.

use std::time::Duration;

use crate::id::{ObjectId, Rank};
use crate::object::Object;
use crate::protocol::Task;
use crate::reply::Reply;

pub(crate) enum Command {
    /// A task of `function` has finished on this worker: its results, values or errors, in
    /// order, and how long it ran (`None`: it never ran).
    Finished { first_output: ObjectId, function: u64, outputs: Vec<Object>, took: Option<Duration> },
    /// A task submitted a task: it goes to the root, which places it (on `worker`, if the task
    /// chose).
    Submit { task: Task, worker: Option<Rank> },
    /// A task stored a value on this worker.
    Put { id: ObjectId, object: Object },
    /// A task waits for the objects' values.
    Get { ids: Vec<ObjectId>, reply: Reply },
    /// A task waits until `num_returns` of the objects are done; with a `token` if it has a
    /// deadline.
    Wait { ids: Vec<ObjectId>, num_returns: usize, reply: Reply, token: Option<u64> },
    /// The deadline of the task's `Wait` with this token has passed: it is to be answered now
    /// with what is done (nothing happens if it was answered already).
    WaitExpired(u64),
    /// A task dropped the last ref of an object.
    Release(ObjectId),
    /// A task decoded a handle of this actor (see `Message::HoldActor`).
    HoldActor(ObjectId),
    /// A task cancels the tasks that make these objects: the root finds them.
    Cancel(Vec<ObjectId>),
}
