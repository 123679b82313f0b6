//! What each rank did and when, while recording is on (`UNIDIST_TIMELINE`, or
//! `unidist::record_timeline`): the tasks it ran, on which lane (thread), the `get`s and `wait`s
//! that blocked, and the objects it sent and received. Off by default, and then each place that
//! could record costs one relaxed atomic load.
//!
//! Each thread gathers its events in a batch of its own and hands full batches to its rank's store
//! in this process (the local backend's ranks share one process); [`copy`] takes every thread's
//! batch first, so the events of a rank are complete but not in time order. A rank keeps at
//! most [`MAX_EVENTS`]; the ones past the cap are counted, not kept. Times are
//! nanoseconds since this process's origin: the root aligns each worker's clock to its own when
//! it gathers them (`Root`'s clock probes).

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::id::{ObjectId, Rank};

/// The most events a rank keeps; those handed over past it are counted as dropped.
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

/// The events a thread gathers before it hands them to its rank's store: recording takes only
/// the thread's own lock (uncontended but while [`copy`] collects), not one shared by every
/// thread of the process.
const BATCH: usize = 1024;

/// What one thread recorded and has not handed to the store yet, all of rank `rank`.
#[derive(Default)]
struct Batch {
    rank: Rank,
    events: Vec<Event>,
}

/// What each rank of this process keeps: its events, and how many it dropped.
type Kept = FxHashMap<Rank, (Vec<Event>, u64)>;

static RANK_EVENTS: Mutex<Option<Kept>> = Mutex::new(None);

/// The batch of every thread that recorded, so that [`copy`] can take those not handed over.
static BATCHES: Mutex<Vec<Arc<Mutex<Batch>>>> = Mutex::new(Vec::new());

thread_local! {
    static LANE: Cell<u32> = const { Cell::new(0) };
    static THREAD_BATCH: Arc<Mutex<Batch>> = {
        let batch = Arc::default();
        lock(&BATCHES).push(Arc::clone(&batch));
        batch
    };
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

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Keeps `event` of `rank`, if recording and below the cap.
pub(crate) fn record(rank: Rank, event: Event) {
    if !on() {
        return;
    }
    let mut event = Some(event);
    let _ = THREAD_BATCH.try_with(|batch| {
        let mut batch = lock(batch);
        if batch.rank != rank || batch.events.len() >= BATCH {
            hand_over(&mut batch);
            batch.rank = rank;
        }
        batch.events.extend(event.take());
    });
    // A thread past its thread-locals' end hands its last events straight to the store.
    if let Some(event) = event {
        hand_over(&mut Batch { rank, events: vec![event] });
    }
}

/// Moves `batch`'s events into its rank's store, up to the cap, and counts the ones past it.
fn hand_over(batch: &mut Batch) {
    if batch.events.is_empty() {
        return;
    }
    let mut all = lock(&RANK_EVENTS);
    let (kept, dropped) = all.get_or_insert_with(Kept::default).entry(batch.rank).or_default();
    let room = MAX_EVENTS.saturating_sub(kept.len()).min(batch.events.len());
    *dropped += (batch.events.len() - room) as u64;
    kept.extend(batch.events.drain(..room));
    batch.events.clear();
}

/// A copy of what `rank` recorded so far, from every thread.
pub(crate) fn copy(rank: Rank) -> RankTimeline {
    // Every batch handed over; those of threads that had ended before (no one records into
    // them any more) are forgotten, the others kept for the events to come.
    lock(&BATCHES).retain(|batch| {
        let ended = Arc::strong_count(batch) == 1;
        hand_over(&mut lock(batch));
        !ended
    });
    let all = lock(&RANK_EVENTS);
    let (events, dropped) =
        all.as_ref().and_then(|all| all.get(&rank)).cloned().unwrap_or_default();
    RankTimeline { rank, events, dropped, ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Held by the tests that turn recording on and off: the crate's tests share the process.
    static RECORDING: Mutex<()> = Mutex::new(());

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
        let _recording = lock(&RECORDING);
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

    fn moved(at: u64) -> Event {
        Event::Moved { object: ObjectId::new(1, at), peer: 0, sent: true, bytes: 8, at }
    }

    #[test]
    fn a_copy_takes_the_batches_of_every_thread_running_or_ended() {
        let _recording = lock(&RECORDING);
        set(true);
        let each = (BATCH + 5) as u64;
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (go_on_tx, go_on_rx) = std::sync::mpsc::channel::<()>();
        // One thread stays alive with a part batch, two end (one handed a full batch over).
        let alive = std::thread::spawn(move || {
            (0..5).for_each(|i| record(904, moved(i)));
            started_tx.send(()).unwrap();
            go_on_rx.recv().unwrap();
        });
        for thread in 1..=2 {
            std::thread::spawn(move || {
                (0..each).for_each(|i| record(904, moved(thread * each + i)))
            })
            .join()
            .unwrap();
        }
        started_rx.recv().unwrap();
        let mut got: Vec<u64> = copy(904)
            .events
            .iter()
            .map(|e| match e {
                Event::Moved { at, .. } => *at,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        got.sort_unstable();
        let want: Vec<u64> = (0..5).chain(each..3 * each).collect();
        assert_eq!(got, want);
        go_on_tx.send(()).unwrap();
        alive.join().unwrap();
        set(false);
        assert_eq!(copy(904).events.len(), want.len(), "nothing twice once threads end");
    }

    #[test]
    fn past_the_cap_events_are_counted_not_kept() {
        let mut batch =
            Batch { rank: 905, events: (0..MAX_EVENTS as u64 - 3).map(moved).collect() };
        hand_over(&mut batch);
        let mut batch = Batch { rank: 905, events: (0..10).map(moved).collect() };
        hand_over(&mut batch);
        assert!(batch.events.is_empty());
        let kept = copy(905);
        assert_eq!((kept.events.len(), kept.dropped), (MAX_EVENTS, 7));
        assert_eq!(kept.events[MAX_EVENTS - 1], moved(2));
    }
}
