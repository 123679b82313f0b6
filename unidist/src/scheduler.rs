//! Which worker runs the next task: round-robin over the worker ranks.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::protocol::Rank;

pub(crate) struct RoundRobin {
    next: AtomicUsize,
    workers: usize,
}

impl RoundRobin {
    pub(crate) fn new(workers: usize) -> RoundRobin {
        assert!(workers > 0, "a job needs at least one worker");
        RoundRobin { next: AtomicUsize::new(0), workers }
    }

    /// The next worker rank, in the cycle 1, 2, ..., workers, 1, ...
    pub(crate) fn next(&self) -> Rank {
        1 + self.next.fetch_add(1, Ordering::Relaxed) % self.workers
    }
}
