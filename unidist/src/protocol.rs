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
//! - Work stealing (`Idle`, `Reclaim`, `Returned`, `Forget`): a worker is the only judge of
//!   whether a task of its queue has started, so only it gives tasks back, and the root places
//!   them again. A `Transfer` of a given-back task's result that reaches the worker before the
//!   root has read `Returned` is stale: the worker ignores such transfers until `Forget` (sent
//!   after every one of them), and the root sends them again to the task's new worker, after its
//!   `Submit`. An `Idle` carries the count of `Submit`s the worker had read, so the root ignores
//!   one that a `Submit` overtook.
//!
//! - Actors: a task decodes a handle (`HoldActor`) before its `TaskDone`, which ends the lease
//!   the task held on the actor since its `Submit`, so an actor never ends while a task holds a
//!   handle of it (see `ActorRef`).
//!
//! - Cancel: the root sends a worker `Cancel` after the `Submit` of the task, so the worker finds
//!   the task queued, waiting, running or done; a task given back meanwhile is cancelled by the
//!   root sending `Cancel` again after its new `Submit`.
//!
//! A task's inputs that come from another worker arrive in any order relative to its `Submit`:
//! the worker holds the task until every input is there.

use serde::{Deserialize, Serialize};

use crate::arg::Arg;
use crate::codec;
use crate::id::{ObjectId, Rank};
use crate::object::Object;
use crate::segment::SegmentRef;
use crate::stats::RankStats;
use crate::timeline::RankTimeline;

/// A task as the root sends it to the worker that runs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Task {
    pub(crate) function: u64,
    /// The task's results are `first_output`, `first_output + 1`, ... (`num_returns` of them);
    /// the first also names the task.
    pub(crate) first_output: ObjectId,
    pub(crate) num_returns: u32,
    pub(crate) args: Vec<Arg>,
    /// The caller chose its worker (`schedule_rank` right before `remote`): it never moves to
    /// another (see `Message::Reclaim`).
    pub(crate) pinned: bool,
    /// The caller named its worker (`remote_on`): no placement rule moves it either (a task
    /// aimed with `schedule_rank` is pinned, but host-aware placement may still move it).
    pub(crate) chosen: bool,
    /// Times it may run again if it panics (`#[remote(max_retries = N)]`, `TaskOptions`): its
    /// worker gives it back to the root (`Retry`) instead of reporting the panic.
    pub(crate) retries: u8,
    /// Times it ran before (and panicked): 0 on its first run.
    pub(crate) attempt: u8,
    /// What the task has to do with actors, for the few tasks that have (boxed, so that every
    /// message stays as small as before actors).
    pub(crate) actors: Option<Box<TaskActors>>,
}

/// A task's part in actors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TaskActors {
    /// A call on an actor (its constructor, a method, or its end): it runs on the actor's worker,
    /// after every call the root numbered before it.
    pub(crate) call: Option<ActorCall>,
    /// Actors whose handles travel in the arguments: the last owning handle dropped elsewhere
    /// does not end them before this task is done (see `ActorRef`).
    pub(crate) leases: Vec<ObjectId>,
    /// A constructor's task: the actor has its worker to itself (no task is placed there while
    /// it lives, except those aimed there).
    pub(crate) exclusive: bool,
}

impl Task {
    /// The task's part in actors: `None` if it has none.
    pub(crate) fn with_actors(mut self, call: Option<ActorCall>, leases: Vec<ObjectId>) -> Task {
        self.actors = (call.is_some() || !leases.is_empty())
            .then(|| Box::new(TaskActors { call, leases, exclusive: false }));
        self
    }

    /// Marks a constructor's task as one whose actor has its worker to itself.
    pub(crate) fn exclusive(mut self) -> Task {
        if let Some(actors) = &mut self.actors {
            actors.exclusive = true;
        }
        self
    }

    /// The actor this task is a call on.
    pub(crate) fn actor_call(&self) -> Option<ActorCall> {
        self.actors.as_ref().and_then(|a| a.call)
    }

    /// The actors whose handles travel in the task's arguments.
    pub(crate) fn leases(&self) -> &[ObjectId] {
        self.actors.as_ref().map_or(&[], |a| &a.leases)
    }
}

/// Where a task stands among the calls on one actor.
///
/// The actor is named by its constructor's task (its first output). The root numbers each
/// actor's calls in the order it receives them (the constructor is 0) and sends them all to the
/// actor's worker, which starts call `n + 1` only once call `n` has finished: so the calls run
/// one at a time, in each caller's order (a caller's calls reach the root in the order it made
/// them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ActorCall {
    pub(crate) actor: ObjectId,
    /// Set by the root; 0 as the caller sends it, unless it is the constructor's own task.
    pub(crate) number: u64,
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
    TaskDone { first_output: ObjectId, sizes: Vec<u64>, failed: bool },
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
    /// worker → root: a task of the worker waits until `num_returns` of `ids` are done;
    /// `timed` if it has a deadline, so may give up (`WaitExpired`).
    WaitFor { request: u64, ids: Vec<ObjectId>, num_returns: usize, timed: bool },
    /// root → worker: the answer to `WaitFor` `request`: which objects are done.
    WaitDone { request: u64, flags: Vec<bool> },
    /// worker → root: tasks of the worker dropped their last ref to these objects.
    Release(Vec<ObjectId>),
    /// root → worker: report your transfer counters.
    StatsRequest {
        /// Start counting the most tasks held from now (the last round of a `worker_stats`).
        reset_peak: bool,
    },
    /// worker → root: the counters (boxed, as below: a large variant would make every
    /// message as large).
    StatsReply(Box<RankStats>),
    /// On the MPI wire only, in place of a large `Data`: the `len` bytes of object `id` (of type
    /// `type_fp`) follow this batch as messages of their own (see `transport::mpi`).
    Payload { id: ObjectId, type_fp: u64, len: u64 },
    /// root → worker 1: take part in a raw MPI ping-pong (the benchmark's baseline) right now.
    RawPingPong(RawPingPong),
    /// root → worker: stop.
    Shutdown,
    /// root → worker and worker → root, each side every second: a sign of life (see
    /// `heartbeat`).
    Heartbeat,
    // Work stealing; last, so the tags of the others stay as they were.
    /// worker → root: a slot here is free and no task is ready to run, after the first
    /// `submits` `Submit`s the root sent here (sent once, again only after the next `Submit`).
    /// The root may have a busy worker give back queued tasks; it ignores an `Idle` that a
    /// later `Submit` has overtaken. The worker may become busy again without a word (tasks
    /// that waited for inputs got them), so the root may still ask it for tasks.
    Idle { submits: u64 },
    /// root → worker: a worker is short of work; give back up to `max` of the tasks queued
    /// here that have not started (see `Returned`).
    Reclaim { max: u32 },
    /// worker → root, answering `Reclaim`: tasks given back (maybe none), newest first; none of
    /// them has started here. A worker that gave fewer than asked sends more later, unasked,
    /// as tasks become ready (until it is short of work itself or is asked again). The worker
    /// ignores any `Transfer` of their results until `Forget` (or until the root places one of
    /// them on it again); the root has their results sent wherever they were promised, to this
    /// worker too if a task here reads them.
    Returned(Vec<Task>),
    /// root → worker, after `Returned`: the root placed those tasks again and every `Transfer`
    /// of their results it sent the worker before came before this message; the worker stops
    /// ignoring them.
    Forget(Vec<ObjectId>),
    /// worker → root: schedule this task, submitted by a task of the worker, on `worker` (the
    /// task chose it: `remote_on`).
    SpawnOn { task: Task, worker: u32 },
    /// worker → root: a task decoded a handle of this actor, one more owner of it (sent before
    /// the `TaskDone` of that task, whose lease kept the actor meanwhile).
    HoldActor(ObjectId),
    /// Either way: cancel the tasks that make these objects. Worker → root: a task asks to
    /// (`unidist::cancel`), naming any result of each. Root → worker: the tasks with these first
    /// results, which the root placed there (sent again after the `Submit` of a task the root
    /// places elsewhere meanwhile).
    Cancel(Vec<ObjectId>),
    /// worker → root: this task panicked and may run again (its `retries` and `attempt` count
    /// this run): place it again, on another worker where there is one. Like a task given back,
    /// its results are stale here until `Forget`.
    Retry(Task),
    /// worker → root: the task behind timed `WaitFor` `request` gave up waiting: answer it with
    /// what is done now.
    WaitExpired { request: u64 },
    /// root → worker: start or stop recording the timeline.
    Record { on: bool },
    /// root → worker: answer at once with the time on your clock (see `timeline`).
    ClockProbe,
    /// worker → root: the time on its clock when it read a `ClockProbe`, in nanoseconds.
    ClockEcho { now: u64 },
    /// root → worker: send what you recorded.
    TimelineRequest,
    /// worker → root: what it recorded.
    TimelineReply(Box<RankTimeline>),
    /// On the MPI wire only, in place of a large `Data` to a rank of the same host: object `id`
    /// (of type `type_fp`) is in a segment of the sender's, which the receiver maps (see
    /// `segment`).
    Shared { id: ObjectId, type_fp: u64, segment: Box<SegmentRef> },
    /// On the MPI wire only, answering the batches that lent segments: the receiver has mapped
    /// the next `count` of them, so the sender need no longer hold them for it.
    Mapped { count: u32 },
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
            Message::Idle { .. } => "Idle",
            Message::Reclaim { .. } => "Reclaim",
            Message::Returned(_) => "Returned",
            Message::Forget(_) => "Forget",
            Message::HoldActor(_) => "HoldActor",
            Message::Cancel(_) => "Cancel",
            Message::Retry(_) => "Retry",
            Message::SpawnOn { .. } => "SpawnOn",
            Message::Created { .. } => "Created",
            Message::Fetch(_) => "Fetch",
            Message::WaitFor { .. } => "WaitFor",
            Message::WaitExpired { .. } => "WaitExpired",
            Message::WaitDone { .. } => "WaitDone",
            Message::Release(_) => "Release",
            Message::StatsRequest { .. } => "StatsRequest",
            Message::StatsReply(_) => "StatsReply",
            Message::Record { .. } => "Record",
            Message::ClockProbe => "ClockProbe",
            Message::ClockEcho { .. } => "ClockEcho",
            Message::TimelineRequest => "TimelineRequest",
            Message::TimelineReply(_) => "TimelineReply",
            Message::Payload { .. } => "Payload",
            Message::Shared { .. } => "Shared",
            Message::Mapped { .. } => "Mapped",
            Message::RawPingPong(_) => "RawPingPong",
            Message::Shutdown => "Shutdown",
            Message::Heartbeat => "Heartbeat",
        }
    }
}

/// A batch that could not be decoded: which message of it, of what kind, and why.
#[derive(Debug)]
#[cfg_attr(not(feature = "mpi"), allow(dead_code))] // the MPI transport receives bytes
pub(crate) struct CorruptBatch {
    pub(crate) index: usize,
    pub(crate) kind: String,
    pub(crate) reason: String,
}

impl std::fmt::Display for CorruptBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "message {} ({}): {}", self.index, self.kind, self.reason)
    }
}

/// Decodes a batch as the transport received it: message by message, so that an error names the
/// message and its kind. Lengths inside it are checked against the bytes at hand (see
/// `codec::decode_prefix`): a corrupt one is an error, never a huge allocation or a panic.
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
pub(crate) fn decode_batch(bytes: &[u8]) -> Result<Vec<Message>, CorruptBatch> {
    let corrupt =
        |index, kind: &str, reason: String| CorruptBatch { index, kind: kind.to_string(), reason };
    let (count, mut at) =
        codec::decode_prefix::<u64>(bytes).map_err(|e| corrupt(0, "batch header", e))?;
    // Every message takes at least one byte.
    if count > (bytes.len() - at) as u64 {
        return Err(corrupt(
            0,
            "batch header",
            format!("{count} messages cannot fit in {} bytes", bytes.len() - at),
        ));
    }
    // Reserve no more than the bytes at hand pay for: a message in memory is larger than one
    // on the wire.
    let mut batch = Vec::with_capacity((count as usize).min(bytes.len() / 64));
    for index in 0..count as usize {
        let rest = &bytes[at..];
        match codec::decode_prefix::<Message>(rest) {
            Ok((message, read)) => {
                batch.push(message);
                at += read;
            }
            Err(reason) => return Err(corrupt(index, &kind_at(rest), reason)),
        }
    }
    if at != bytes.len() {
        return Err(corrupt(
            count as usize,
            "after the last message",
            format!("{} trailing bytes", bytes.len() - at),
        ));
    }
    Ok(batch)
}

/// The kind of the encoded message at the start of `bytes`, from its variant tag.
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
fn kind_at(bytes: &[u8]) -> String {
    match codec::decode_prefix::<u32>(bytes) {
        Ok((tag, _)) => match variant_names().get(tag as usize) {
            Some(name) => (*name).to_string(),
            None => format!("no kind has tag {tag}"),
        },
        Err(_) => "unreadable kind".to_string(),
    }
}

/// The names of `Message`'s variants in tag order, as serde's derive lists them (so the list
/// follows the enum by itself).
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
fn variant_names() -> &'static [&'static str] {
    use serde::de::{self, Deserializer, Visitor};

    struct Probe(Option<&'static [&'static str]>);

    impl<'de> Deserializer<'de> for &mut Probe {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("a probe"))
        }

        fn deserialize_enum<V: Visitor<'de>>(
            self,
            _: &'static str,
            variants: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = Some(variants);
            Err(de::Error::custom("a probe"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map struct identifier
            ignored_any
        }
    }

    static NAMES: std::sync::OnceLock<&'static [&'static str]> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        let mut probe = Probe(None);
        let _ = Message::deserialize(&mut probe);
        probe.0.unwrap_or(&[])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Message> {
        vec![
            Message::TaskDone {
                first_output: ObjectId::new(1, 5),
                sizes: vec![8, 300],
                failed: false,
            },
            Message::Cleanup(vec![ObjectId::new(0, 1), ObjectId::new(2, 3)]),
            Message::WaitDone { request: 9, flags: vec![true, false] },
            Message::Shutdown,
        ]
    }

    /// The wire names a message by its variant's index: new variants go at the end, so that a
    /// rank's bytes keep their meaning, and `tests/programs/faults.rs`, which writes a corrupt
    /// `Payload` batch by hand (`[1, 14, ..]`), stays right.
    #[test]
    fn a_payload_is_still_variant_14_on_the_wire() {
        let payload = Message::Payload { id: ObjectId::new(5, 7), type_fp: 0, len: 1 };
        assert_eq!(codec::encode(&vec![payload]).expect("encodes")[..2], [1, 14]);
    }

    /// Every message, however small, takes the room of the largest variant (batches are
    /// `Vec<Message>`): large payloads are boxed, so that the messages of every task stay small.
    /// When this bound grew from 64 to 112 bytes (the statistics replies), the local backend's
    /// throughput fell by 6 to 9% (BENCHMARKS.md).
    #[test]
    fn a_message_stays_small() {
        assert!(std::mem::size_of::<Message>() <= 64, "{}", std::mem::size_of::<Message>());
    }

    /// Likewise for each argument of a task.
    #[test]
    fn an_argument_stays_small() {
        assert!(std::mem::size_of::<Arg>() <= 32, "{}", std::mem::size_of::<Arg>());
    }

    #[test]
    fn a_batch_decodes_message_by_message() {
        let bytes = codec::encode(&sample()).unwrap();
        let batch = decode_batch(&bytes).unwrap();
        assert_eq!(format!("{batch:?}"), format!("{:?}", sample()));
    }

    #[test]
    fn kinds_are_named_in_tag_order() {
        for message in sample() {
            let bytes = codec::encode(&message).unwrap();
            assert_eq!(kind_at(&bytes), message.kind());
        }
        assert_eq!(variant_names().first(), Some(&"Submit"));
        assert_eq!(
            kind_at(&codec::encode(&(variant_names().len() as u32)).unwrap()),
            format!("no kind has tag {}", variant_names().len())
        );
    }

    #[test]
    fn a_truncated_batch_names_the_message_it_breaks() {
        let bytes = codec::encode(&sample()).unwrap();
        let err = decode_batch(&bytes[..bytes.len() - 3]).unwrap_err();
        assert_eq!((err.index, err.kind.as_str()), (2, "WaitDone"), "{err}");
        let err = decode_batch(&[]).unwrap_err();
        assert_eq!(err.kind, "batch header");
        let mut long = bytes.clone();
        long.push(0);
        assert!(decode_batch(&long).unwrap_err().reason.contains("trailing"));
    }
}

/// Property tests of the receive path's decoder (`decode_batch`): any bytes, and every
/// truncation and mutation of real batches, give a batch or an error, never a panic, and never
/// a large allocation that the bytes received do not pay for. `PROPTEST_CASES` sets the number of
/// inputs per property (the test suite runs the default; `BENCHMARKS.md` gives the long run).
#[cfg(test)]
mod fuzz {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::object::Object;
    use crate::test_alloc;

    fn object() -> impl Strategy<Value = Object> {
        (any::<u64>(), proptest::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(type_fp, bytes)| Object { type_fp, bytes: Arc::new(bytes.into()) })
    }

    fn segment() -> impl Strategy<Value = SegmentRef> {
        (any::<i32>(), any::<u64>(), any::<u64>(), (any::<u64>(), any::<u64>(), any::<u64>()))
            .prop_map(|(fd, device, inode, (generation, start, len))| SegmentRef {
                fd,
                device,
                inode,
                generation,
                start,
                len,
            })
    }

    fn id() -> impl Strategy<Value = ObjectId> {
        (0_usize..8, 0_u64..1 << 40).prop_map(|(origin, seq)| ObjectId::new(origin, seq))
    }

    fn arg() -> impl Strategy<Value = Arg> {
        prop_oneof![
            object().prop_map(Arg::Value),
            id().prop_map(Arg::Ref),
            (any::<u64>(), any::<u64>()).prop_map(|(type_fp, len)| Arg::Payload { type_fp, len }),
            (any::<u64>(), segment())
                .prop_map(|(type_fp, segment)| Arg::Shared { type_fp, segment: Box::new(segment) }),
            (any::<u64>(), proptest::collection::vec(id(), 0..8))
                .prop_map(|(element_type, ids)| Arg::RefList { element_type, ids }),
        ]
    }

    fn task() -> impl Strategy<Value = Task> {
        let actor = proptest::option::of(
            (id(), any::<u64>()).prop_map(|(actor, number)| ActorCall { actor, number }),
        );
        let leases = proptest::collection::vec(id(), 0..3);
        (
            (any::<u64>(), id(), 1_u32..4, proptest::collection::vec(arg(), 0..4)),
            (any::<bool>(), actor, leases),
        )
            .prop_map(
                |((function, first_output, num_returns, args), (pinned, actor, leases))| {
                    Task {
                        function,
                        first_output,
                        num_returns,
                        args,
                        pinned,
                        chosen: pinned,
                        retries: (function % 3) as u8,
                        attempt: (function % 5) as u8,
                        actors: None,
                    }
                    .with_actors(actor, leases)
                },
            )
    }

    fn message() -> impl Strategy<Value = Message> {
        prop_oneof![
            task().prop_map(Message::Submit),
            task().prop_map(Message::Spawn),
            (id(), 0_usize..8).prop_map(|(id, to)| Message::Transfer { id, to }),
            (id(), object()).prop_map(|(id, object)| Message::Data { id, object }),
            (id(), proptest::collection::vec(any::<u64>(), 0..4), any::<bool>()).prop_map(
                |(first_output, sizes, failed)| Message::TaskDone { first_output, sizes, failed }
            ),
            proptest::collection::vec(id(), 0..16).prop_map(Message::Cleanup),
            (any::<u64>(), proptest::collection::vec(any::<bool>(), 0..16))
                .prop_map(|(request, flags)| Message::WaitDone { request, flags }),
            (id(), any::<u64>(), any::<u64>()).prop_map(|(id, type_fp, len)| Message::Payload {
                id,
                type_fp,
                len
            }),
            (id(), any::<u64>(), segment()).prop_map(|(id, type_fp, segment)| Message::Shared {
                id,
                type_fp,
                segment: Box::new(segment)
            }),
            any::<u32>().prop_map(|count| Message::Mapped { count }),
            (id(), 1_u32..4).prop_map(|(first_output, num_returns)| Message::Placed {
                first_output,
                num_returns
            }),
            (id(), any::<u64>()).prop_map(|(id, bytes)| Message::Created { id, bytes }),
            proptest::collection::vec(id(), 0..16).prop_map(Message::Fetch),
            (any::<u64>(), proptest::collection::vec(id(), 0..8), 0_usize..8, any::<bool>())
                .prop_map(|(request, ids, num_returns, timed)| Message::WaitFor {
                    request,
                    ids,
                    num_returns,
                    timed
                }),
            any::<u64>().prop_map(|request| Message::WaitExpired { request }),
            proptest::collection::vec(id(), 0..16).prop_map(Message::Release),
            id().prop_map(Message::HoldActor),
            proptest::collection::vec(id(), 0..16).prop_map(Message::Cancel),
            task().prop_map(Message::Retry),
            (task(), 0_u32..8).prop_map(|(task, worker)| Message::SpawnOn { task, worker }),
            any::<bool>().prop_map(|reset_peak| Message::StatsRequest { reset_peak }),
            Just(Message::Shutdown),
            any::<bool>().prop_map(|on| Message::Record { on }),
            Just(Message::ClockProbe),
            any::<u64>().prop_map(|now| Message::ClockEcho { now }),
            Just(Message::TimelineRequest),
            Just(Message::Heartbeat),
        ]
    }

    fn batch_bytes() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(message(), 0..8)
            .prop_map(|batch| codec::encode(&batch).expect("messages encode"))
    }

    /// Decodes `bytes` and checks the largest single allocation it made: at most 32 bytes per
    /// byte received (the codec's limit), or the 1 MiB that serde lets a sequence reserve ahead
    /// of its elements.
    fn decode_checked(bytes: &[u8]) -> Result<Vec<Message>, CorruptBatch> {
        let (result, largest) = test_alloc::largest_allocation(|| decode_batch(bytes));
        let bound = (1 << 20).max(4096 + 32 * bytes.len());
        assert!(largest <= bound, "{largest} bytes allocated for an input of {}", bytes.len());
        result
    }

    proptest! {
        #[test]
        fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Err(e) = decode_checked(&bytes) {
                prop_assert!(!e.reason.is_empty() && !e.kind.is_empty());
            }
        }

        #[test]
        fn real_batches_round_trip(bytes in batch_bytes()) {
            let batch = decode_checked(&bytes).expect("a real batch decodes");
            prop_assert_eq!(codec::encode(&batch).unwrap(), bytes);
        }

        #[test]
        fn truncated_batches_fail_cleanly(bytes in batch_bytes(), cut in any::<prop::sample::Index>()) {
            prop_assume!(!bytes.is_empty());
            let cut = cut.index(bytes.len());
            prop_assert!(decode_checked(&bytes[..cut]).is_err());
        }

        #[test]
        fn mutated_batches_decode_or_fail_cleanly(
            bytes in batch_bytes(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0_u8..3), 1..6),
        ) {
            let mut bytes = bytes;
            for (at, value, how) in edits {
                if bytes.is_empty() {
                    bytes.push(value);
                    continue;
                }
                let i = at.index(bytes.len());
                match how {
                    0 => bytes[i] = value,
                    1 => bytes.insert(i, value),
                    _ => {
                        bytes.remove(i);
                    }
                }
            }
            let _ = decode_checked(&bytes);
        }
    }
}
