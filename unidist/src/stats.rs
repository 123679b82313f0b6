//! Counters of the objects and bytes each rank sent to and received from each peer, holds in
//! its store, and of the tasks each worker holds.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What one rank sent to and received from one peer: objects (values moved between ranks, as
/// results, inputs or `put` values) and their encoded bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerTransfer {
    /// The peer's rank.
    pub peer: usize,
    /// Objects sent to the peer.
    pub objects_sent: u64,
    /// Bytes of those objects.
    pub bytes_sent: u64,
    /// Objects received from the peer.
    pub objects_received: u64,
    /// Bytes of those objects.
    pub bytes_received: u64,
    /// Of `bytes_received`, those this rank mapped from memory the peer shares on their host
    /// (objects of at least `UNIDIST_SHARED_BYTES`) instead of receiving a copy. Like the other
    /// counts, it leaves out values passed to `remote` by value, which travel inside their
    /// task (and are mapped the same way when large).
    pub bytes_mapped: u64,
}

/// The objects one rank holds in its object store, and their encoded bytes.
///
/// Objects are freed on every rank that holds them once their last ref is dropped and no
/// submitted task needs them; these counts show it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryStats {
    /// The rank.
    pub rank: usize,
    /// Objects held (values and errors, originals and copies).
    pub objects: u64,
    /// Their encoded bytes.
    pub bytes: u64,
}

/// The tasks one worker holds: received and not yet ended or given back to the root (queued
/// for a slot, waiting for inputs, or running), counted by the worker itself.
///
/// Tasks are in flight from their submission to the moment the root reads their end, so the
/// tasks all workers hold at any moment are never more than [`in_flight`](crate::in_flight)
/// (with nested tasks, which that bound does not count, set aside).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStats {
    /// The worker's rank.
    pub rank: usize,
    /// Tasks it holds now.
    pub tasks: u64,
    /// The most tasks it held at once since the previous [`worker_stats`](crate::worker_stats)
    /// call (or since it started).
    pub most_tasks: u64,
    /// Tasks that ended on it since it started: they returned, failed or were cancelled (a
    /// task that panicked and runs again counts where it ran last).
    pub ended: u64,
}

impl WorkerStats {
    pub(crate) fn new(rank: usize) -> WorkerStats {
        WorkerStats { rank, ..Default::default() }
    }

    /// A task came.
    pub(crate) fn received(&mut self) {
        self.tasks += 1;
        self.most_tasks = self.most_tasks.max(self.tasks);
    }

    /// `n` tasks went back to the root (given back, or to run again).
    pub(crate) fn gave_back(&mut self, n: usize) {
        self.tasks = self.tasks.saturating_sub(n as u64);
    }

    /// A task ended here.
    pub(crate) fn ended(&mut self) {
        self.gave_back(1);
        self.ended += 1;
    }

    /// The counts as they are; the next peak counts from now.
    pub(crate) fn read_and_reset_peak(&mut self) -> WorkerStats {
        let now = *self;
        self.most_tasks = self.tasks;
        now
    }
}

/// What the tasks of one remote function did, gathered from every rank (see
/// [`function_stats`](crate::function_stats)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FunctionStats {
    /// The function's full path, as in `my_crate::module::name`.
    pub function: String,
    /// Tasks submitted, by the root's program or by tasks (a task that runs again after a panic
    /// counts once).
    pub submitted: u64,
    /// Tasks running now.
    pub running: u64,
    /// Tasks that ended with their values.
    pub done: u64,
    /// Tasks that ended with an error: they panicked (on their last run, if they may run again),
    /// their function returned one, an input failed, or they were cancelled.
    pub failed: u64,
    /// Runs that ended (a task that panicked and ran again counts each run).
    pub runs: u64,
    /// The time those runs took, summed.
    pub total_time: Duration,
}

impl FunctionStats {
    /// The mean time of a run, once one has ended.
    pub fn mean_time(&self) -> Option<Duration> {
        let runs = u32::try_from(self.runs).unwrap_or(u32::MAX);
        (runs > 0).then(|| self.total_time / runs)
    }
}

/// One rank's counts for one function, as they travel to the root; the root adds them up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FunctionCounts {
    pub(crate) submitted: u64,
    pub(crate) running: u64,
    pub(crate) done: u64,
    pub(crate) failed: u64,
    pub(crate) runs: u64,
    pub(crate) nanos: u64,
}

impl FunctionCounts {
    pub(crate) fn add(&mut self, other: &FunctionCounts) {
        self.submitted += other.submitted;
        self.running += other.running;
        self.done += other.done;
        self.failed += other.failed;
        self.runs += other.runs;
        self.nanos += other.nanos;
    }
}

/// What a rank reports when the root asks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RankStats {
    pub(crate) transfer: TransferStats,
    pub(crate) memory: MemoryStats,
    pub(crate) tasks: WorkerStats,
    /// By function ID.
    pub(crate) functions: Vec<(u64, FunctionCounts)>,
}

/// The transfer counters of one rank, one entry per peer (every other rank).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferStats {
    /// The rank these counters belong to.
    pub rank: usize,
    /// One entry per other rank, by rank.
    pub peers: Vec<PeerTransfer>,
}

impl TransferStats {
    pub(crate) fn new(rank: usize, size: usize) -> TransferStats {
        let peers = (0..size).map(|peer| PeerTransfer { peer, ..Default::default() }).collect();
        TransferStats { rank, peers }
    }

    pub(crate) fn sent(&mut self, peer: usize, bytes: usize) {
        let p = &mut self.peers[peer];
        p.objects_sent += 1;
        p.bytes_sent += bytes as u64;
    }

    /// An object of `bytes` bytes came from `peer`, `mapped` from memory it shares.
    pub(crate) fn received(&mut self, peer: usize, bytes: usize, mapped: bool) {
        let p = &mut self.peers[peer];
        p.objects_received += 1;
        p.bytes_received += bytes as u64;
        if mapped {
            p.bytes_mapped += bytes as u64;
        }
    }

    /// The counters towards one peer.
    pub fn peer(&self, peer: usize) -> PeerTransfer {
        let found = self.peers.iter().find(|p| p.peer == peer);
        found.copied().unwrap_or(PeerTransfer { peer, ..Default::default() })
    }

    /// Drops the entry of the rank itself, which never moves anything.
    pub(crate) fn without_self(mut self) -> TransferStats {
        let rank = self.rank;
        self.peers.retain(|p| p.peer != rank);
        self
    }
}
