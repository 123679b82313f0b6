//! What each rank did and when, while recording is on (`UNIDIST_TIMELINE`, or
//! `unidist::record_timeline`): the tasks it ran, on which lane (thread), the `get`s and `wait`s
//! that blocked, and the objects it sent and received. Off by default, and then each place that
//! could record costs one relaxed atomic load.
//!
//! Events are kept per rank in this process (the local backend's ranks share one process), at
//! most [`MAX_EVENTS`] per rank; the ones past the cap are counted, not kept. Times are
//! nanoseconds since this process's origin: the root aligns each worker's clock to its own when
//! it gathers them (`Root`'s clock probes).

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::id::{ObjectId, Rank};

/// The most events a rank keeps; later ones are counted as dropped.
pub(crate) const MAX_EVENTS: usize = 1 << 20;

/// A blocking call of the root's program or of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Call {
    Get,
    Wait,
}

/// One thing a rank did. Times are nanoseconds on the recording rank's clock; `lane` is the
/// thread: 0 for the thread that is not an executor (the root's program, a worker's loop),
/// executor threads from 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Event {
    /// A task of `function`, whose first result is `task`, ran from `start` to `end`.
    Task { function: u64, task: ObjectId, lane: u32, start: u64, end: u64, failed: bool },
    /// A `get` or `wait` blocked its thread from `start` to `end`.
    Blocked { call: Call, lane: u32, start: u64, end: u64 },
    /// Object `object` of `bytes` bytes was sent to (`sent`) or received from `peer` at `at`.
    Moved { object: ObjectId, peer: Rank, sent: bool, bytes: u64, at: u64 },
}

/// What one rank recorded, as it reaches the root.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RankTimeline {
    pub(crate) rank: Rank,
    pub(crate) events: Vec<Event>,
    /// Events past [`MAX_EVENTS`], not kept.
    pub(crate) dropped: u64,
    /// What the rank's clock reads minus the root's, in nanoseconds (set by the root).
    pub(crate) offset: i64,
    /// How far `offset` may be off, in nanoseconds: half the round trip of the clock probe that
    /// gave it (set by the root; 0 for the root itself).
    pub(crate) uncertainty: u64,
}

static ON: AtomicBool = AtomicBool::new(false);

/// What each rank of this process keeps: its events, and how many it dropped.
type Kept = HashMap<Rank, (Vec<Event>, u64)>;

static EVENTS: Mutex<Option<Kept>> = Mutex::new(None);

thread_local! {
    static LANE: Cell<u32> = const { Cell::new(0) };
}

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// True while recording.
pub(crate) fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Starts or stops recording in this process.
pub(crate) fn set(on: bool) {
    origin();
    ON.store(on, Ordering::Relaxed);
}

/// `at` on this process's clock, in nanoseconds.
pub(crate) fn nanos(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(origin()).as_nanos()).unwrap_or(u64::MAX)
}

/// Now on this process's clock, in nanoseconds.
pub(crate) fn now() -> u64 {
    nanos(Instant::now())
}

/// Names the calling thread's lane (an executor thread's number, from 1).
pub(crate) fn set_lane(lane: u32) {
    LANE.with(|l| l.set(lane));
}

/// The calling thread's lane.
pub(crate) fn lane() -> u32 {
    LANE.try_with(Cell::get).unwrap_or(0)
}

fn events() -> std::sync::MutexGuard<'static, Option<Kept>> {
    EVENTS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Keeps `event` of `rank`, if recording and below the cap.
pub(crate) fn record(rank: Rank, event: Event) {
    if !on() {
        return;
    }
    let mut all = events();
    let (kept, dropped) = all.get_or_insert_with(HashMap::new).entry(rank).or_default();
    if kept.len() < MAX_EVENTS {
        kept.push(event);
    } else {
        *dropped += 1;
    }
}

/// A copy of what `rank` recorded so far.
pub(crate) fn copy(rank: Rank) -> RankTimeline {
    let all = events();
    let (events, dropped) =
        all.as_ref().and_then(|all| all.get(&rank)).cloned().unwrap_or_default();
    RankTimeline { rank, events, dropped, ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_kept_per_rank_only_while_on_and_lanes_are_per_thread() {
        let task = |start| Event::Task {
            function: 1,
            task: ObjectId::new(0, start),
            lane: lane(),
            start,
            end: start + 1,
            failed: false,
        };
        // Rank numbers of this test only: the tests of the crate share the process.
        record(901, task(1)); // off: not kept
        set(true);
        set_lane(3);
        record(901, task(2));
        record(902, task(3));
        std::thread::spawn(|| assert_eq!(lane(), 0, "a new thread's lane")).join().unwrap();
        set(false);
        record(901, task(4));
        let kept = copy(901);
        assert_eq!(kept.events, [task(2)]);
        assert!(matches!(kept.events[0], Event::Task { lane: 3, .. }));
        assert_eq!(copy(902).events.len(), 1);
        assert_eq!(copy(901), kept, "a copy leaves the events in place");
        assert!(copy(903).events.is_empty());
        assert!(now() >= nanos(Instant::now() - std::time::Duration::from_secs(1)));
    }
}
