//! Which worker runs the next task: round-robin over the worker ranks, except that a task with a
//! large input goes to a worker of the host that holds it (host-aware placement).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::id::Rank;

pub(crate) struct RoundRobin {
    next: AtomicUsize,
    workers: usize,
    /// Workers kept for an actor of their own (by rank; 0 unused): the cycle skips them.
    reserved: Vec<AtomicBool>,
}

impl RoundRobin {
    pub(crate) fn new(workers: usize) -> RoundRobin {
        assert!(workers > 0, "a job needs at least one worker");
        let reserved = (0..=workers).map(|_| AtomicBool::new(false)).collect();
        RoundRobin { next: AtomicUsize::new(0), workers, reserved }
    }

    /// The next worker rank, in the cycle 1, 2, ..., workers, 1, ..., skipping reserved
    /// workers (unless every worker is reserved: then the plain cycle).
    pub(crate) fn next(&self) -> Rank {
        let mut rank = 1 + self.next.fetch_add(1, Ordering::Relaxed) % self.workers;
        for _ in 1..self.workers {
            if !self.is_reserved(rank) {
                return rank;
            }
            rank = 1 + self.next.fetch_add(1, Ordering::Relaxed) % self.workers;
        }
        rank
    }

    /// Keeps `rank` for an actor of its own (`reserved`), or gives it back.
    pub(crate) fn reserve(&self, rank: Rank, reserved: bool) {
        if let Some(flag) = self.reserved.get(rank) {
            flag.store(reserved, Ordering::Relaxed);
        }
    }

    /// True if `rank` is kept for an actor of its own.
    pub(crate) fn is_reserved(&self, rank: Rank) -> bool {
        self.reserved.get(rank).is_some_and(|flag| flag.load(Ordering::Relaxed))
    }
}

/// How the root places tasks (`UNIDIST_SCHEDULER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
pub(crate) enum Policy {
    /// Every task to the next worker of the cycle.
    RoundRobin,
    /// As round-robin, but a task with an input of at least `threshold` bytes goes to the host
    /// that holds it.
    HostAware { threshold: u64 },
}

/// An input of at least this many bytes decides its task's host (`UNIDIST_HOST_AWARE_BYTES`
/// changes it). Measured across simulated TCP hosts (`scripts/bench-threshold.sh`): host-aware
/// placement beat round-robin at every size from 16 KiB (2.4x) to 16 MiB (3.3x), 6x at 64 KiB.
/// 64 KiB is also where an object starts to travel as a message of its own; below it the
/// link's latency, not its bytes, is the cost, and a spread of small tasks over all hosts keeps
/// its worth on hosts with cores of their own (the simulated ones share 2).
pub(crate) const LARGE_INPUT: u64 = 64 << 10;

/// A worker may take a task moved to it while it runs at most this many more tasks than the
/// worker round-robin picked ("not far busier").
const BUSIER_BY: usize = 2;

/// Host-aware placement: which host each rank is on, and how many placed tasks each worker runs.
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
pub(crate) struct HostAware {
    /// Host index by rank.
    host_of: Vec<usize>,
    /// Worker ranks by host index.
    workers_of: Vec<Vec<Rank>>,
    /// Tasks placed on each rank and not done yet.
    running: Vec<usize>,
    /// An input of at least this many bytes decides its task's host.
    threshold: u64,
}

#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
impl HostAware {
    /// `hosts[rank]` is the host name of each rank; inputs of at least `threshold` bytes count.
    pub(crate) fn new(hosts: &[String], threshold: u64) -> HostAware {
        let mut names: Vec<&str> = Vec::new();
        let mut host_of = Vec::with_capacity(hosts.len());
        for name in hosts {
            let index = names.iter().position(|n| n == name).unwrap_or_else(|| {
                names.push(name);
                names.len() - 1
            });
            host_of.push(index);
        }
        let mut workers_of = vec![Vec::new(); names.len()];
        for (rank, host) in host_of.iter().enumerate().skip(1) {
            workers_of[*host].push(rank);
        }
        HostAware { host_of, workers_of, running: vec![0; hosts.len()], threshold }
    }

    /// True if workers run on more than one host: otherwise no task ever moves, and the root
    /// need not look at its inputs.
    pub(crate) fn spans_hosts(&self) -> bool {
        self.workers_of.iter().filter(|workers| !workers.is_empty()).count() > 1
    }

    /// The worker for a task that round-robin gave to `picked`, whose largest input (if any) has
    /// `bytes` bytes held by `holder`.
    pub(crate) fn place(&self, picked: Rank, largest: Option<(Rank, u64)>) -> Rank {
        let Some((holder, bytes)) = largest else { return picked };
        if bytes < self.threshold || self.host_of[holder] == self.host_of[picked] {
            return picked;
        }
        let candidates = &self.workers_of[self.host_of[holder]];
        let best = if candidates.contains(&holder) {
            Some(holder)
        } else {
            candidates.iter().copied().min_by_key(|r| self.running[*r])
        };
        match best {
            Some(rank) if self.running[rank] <= self.running[picked] + BUSIER_BY => rank,
            _ => picked,
        }
    }

    /// True unless the task's largest input (`bytes` held by `holder`) is large and on another
    /// host than `rank`: where a task that waited may still go when it moves.
    pub(crate) fn allows(&self, rank: Rank, largest: Option<(Rank, u64)>) -> bool {
        largest.map_or(true, |(holder, bytes)| {
            bytes < self.threshold || self.host_of[holder] == self.host_of[rank]
        })
    }

    /// A task was placed on `rank`.
    pub(crate) fn started(&mut self, rank: Rank) {
        self.running[rank] += 1;
    }

    /// A task placed on `rank` is done.
    pub(crate) fn finished(&mut self, rank: Rank) {
        self.running[rank] = self.running[rank].saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> HostAware {
        // rank 0 on a; 1, 2 on b; 3, 4 on c.
        HostAware::new(&["a", "b", "b", "c", "c"].map(String::from), LARGE_INPUT)
    }

    #[test]
    fn the_cycle_skips_reserved_workers_unless_all_are() {
        let cycle = RoundRobin::new(3);
        cycle.reserve(2, true);
        assert_eq!((0..4).map(|_| cycle.next()).collect::<Vec<_>>(), [1, 3, 1, 3]);
        cycle.reserve(1, true);
        cycle.reserve(3, true);
        let all: Vec<Rank> = (0..3).map(|_| cycle.next()).collect();
        assert!(all.iter().all(|r| (1..=3).contains(r)), "every worker kept: the plain cycle");
        cycle.reserve(1, false);
        cycle.reserve(2, false);
        cycle.reserve(3, false);
        let mut back: Vec<Rank> = (0..3).map(|_| cycle.next()).collect();
        back.sort_unstable();
        assert_eq!(back, [1, 2, 3]);
    }

    #[test]
    fn a_large_input_takes_its_task_to_its_host() {
        let mut place = hosts();
        assert_eq!(place.place(1, Some((3, LARGE_INPUT))), 3, "to the holder itself");
        assert_eq!(place.place(1, Some((0, LARGE_INPUT))), 1, "the root's host has no worker");
        place.started(3);
        place.started(3);
        place.started(3);
        assert_eq!(place.place(1, Some((3, LARGE_INPUT))), 1, "the holder is far busier");
        place.finished(3);
        assert_eq!(place.place(1, Some((3, LARGE_INPUT))), 3);
    }

    #[test]
    fn a_task_with_a_large_input_moves_only_within_its_input_s_host() {
        let place = hosts();
        assert!(place.allows(4, Some((3, LARGE_INPUT))), "same host");
        assert!(!place.allows(1, Some((3, LARGE_INPUT))));
        assert!(place.allows(1, Some((3, LARGE_INPUT - 1))), "a small input does not count");
        assert!(place.allows(1, None));
    }

    #[test]
    fn placement_is_off_when_every_worker_shares_one_host() {
        assert!(hosts().spans_hosts());
        let one = HostAware::new(&["a", "a", "a"].map(String::from), LARGE_INPUT);
        assert!(!one.spans_hosts());
        // The root alone on its host does not count: its workers share one.
        let root_apart = HostAware::new(&["a", "b", "b"].map(String::from), LARGE_INPUT);
        assert!(!root_apart.spans_hosts());
    }

    #[test]
    fn small_inputs_and_inputs_on_the_same_host_keep_round_robin() {
        let place = hosts();
        assert_eq!(place.place(1, Some((3, LARGE_INPUT - 1))), 1);
        assert_eq!(place.place(1, Some((2, LARGE_INPUT))), 1, "already on the holder's host");
        assert_eq!(place.place(4, None), 4);
    }
}
