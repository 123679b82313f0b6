//! The messages ranks exchange, and the order each one relies on.
//!
//! Every message between two ranks goes in one stream (one MPI tag, or one channel), so MPI's
//! non-overtaking rule keeps them in the order they were sent. The protocol relies on it:
//! - root → worker: a `Data` the root sends for a task arrives before the task's `Submit`;
//!   a `Transfer` for an object arrives before any `Cleanup` of it. The root holds `Cleanup`s
//!   back and sends them in batches (see `garbage_collector`), which only ever frees later; it
//!   sends every pending one before a `StatsRequest` (so the counts show every object freed so
//!   far) and before `Shutdown` (so a worker frees everything before it stops).
//! - worker → root: the `Data` a task's result travels in is sent no later than its `TaskDone`;
//!   a nested task's `Spawn` and a `Created` come before any message naming their objects
//!   (`Spawn`, `Fetch`, `WaitFor`, `Release`), since one task's calls reach its worker's loop in
//!   order and go on to the root in that order.
//!
//! A task's inputs that come from another worker arrive in any order relative to its `Submit`:
//! the worker holds the task until every input is there.

use serde::{Deserialize, Serialize};

use crate::arg::Arg;
use crate::object::Object;
use crate::object_ref::ObjectId;
use crate::stats::RankStats;

/// A rank of the job: 0 is the root, the others are workers.
pub(crate) type Rank = usize;

/// A task as the root sends it to the worker that runs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Task {
    pub(crate) function: u64,
    /// The task's results are `first_output`, `first_output + 1`, ... (`num_returns` of them);
    /// the first also names the task.
    pub(crate) first_output: ObjectId,
    pub(crate) num_returns: u32,
    pub(crate) args: Vec<Arg>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Message {
    /// root → worker: run this task.
    Submit(Task),
    /// root → holder: send object `id` to rank `to` as soon as it exists here.
    Transfer { id: ObjectId, to: Rank },
    /// any → any: the bytes of an object.
    Data { id: ObjectId, object: Object },
    /// worker → root: the task whose first output is `first_output` has finished (its results,
    /// values or errors, are stored on the worker); `sizes` are their bytes, in order, for the
    /// garbage collector's byte bound.
    TaskDone { first_output: ObjectId, sizes: Vec<u64> },
    /// root → holder: these objects are out of scope; free them. The root sends them in
    /// batches (see `garbage_collector`): late, never early.
    Cleanup(Vec<ObjectId>),
    /// worker → root: schedule this task, submitted by a task of the worker.
    Spawn(Task),
    /// root → worker: the task the worker spawned went to another worker.
    Placed { first_output: ObjectId, num_returns: u32 },
    /// worker → root: a task of the worker `put` this object, of `bytes` bytes, which the
    /// worker holds.
    Created { id: ObjectId, bytes: u64 },
    /// worker → root: a task of the worker waits for these objects: have them sent here.
    Fetch(Vec<ObjectId>),
    /// worker → root: a task of the worker waits until `num_returns` of `ids` are done.
    WaitFor { request: u64, ids: Vec<ObjectId>, num_returns: usize },
    /// root → worker: the answer to `WaitFor` `request`: which objects are done.
    WaitDone { request: u64, flags: Vec<bool> },
    /// worker → root: tasks of the worker dropped their last ref to these objects.
    Release(Vec<ObjectId>),
    /// root → worker: report your transfer counters.
    StatsRequest,
    /// worker → root: the counters.
    StatsReply(RankStats),
    /// root → worker 1: take part in a raw MPI ping-pong (the benchmark's baseline) right now.
    RawPingPong(RawPingPong),
    /// root → worker: stop.
    Shutdown,
}

/// A raw MPI ping-pong between the root and worker 1 on a tag of its own, outside the protocol:
/// the root sends `bytes`, the worker answers with `echo_bytes`, `iterations` times. It measures
/// the MPI library itself, for the benchmark program to compare the runtime against.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct RawPingPong {
    pub(crate) bytes: usize,
    pub(crate) echo_bytes: usize,
    pub(crate) iterations: usize,
}

impl Message {
    /// A short name of the kind of message, for errors.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Message::Submit(_) => "Submit",
            Message::Transfer { .. } => "Transfer",
            Message::Data { .. } => "Data",
            Message::TaskDone { .. } => "TaskDone",
            Message::Cleanup(_) => "Cleanup",
            Message::Spawn(_) => "Spawn",
            Message::Placed { .. } => "Placed",
            Message::Created { .. } => "Created",
            Message::Fetch(_) => "Fetch",
            Message::WaitFor { .. } => "WaitFor",
            Message::WaitDone { .. } => "WaitDone",
            Message::Release(_) => "Release",
            Message::StatsRequest => "StatsRequest",
            Message::StatsReply(_) => "StatsReply",
            Message::RawPingPong(_) => "RawPingPong",
            Message::Shutdown => "Shutdown",
        }
    }
}
