//! Moving batches of messages between ranks, below the progress loop. The loop is written once
//! against the [`Transport`] trait; each transport is one module: `local` (threads of one
//! process, over channels) and `mpi` (processes, over rsmpi, behind the `mpi` feature). A
//! transport knows messages as values to move, never what a rank does with them.
//!
//! A transport also waits for work on the loop's behalf ([`Transport::wait`]), and hands out a
//! [`Doorbell`] that any other thread rings to end that wait early: so the loop never asks how
//! its transport sleeps, and a new transport (shared memory, a test double) fits beside these.

#[cfg(feature = "mpi")]
mod backoff;
mod doorbell;
pub(crate) mod local;
#[cfg(feature = "mpi")]
pub(crate) mod mpi;
#[cfg(feature = "mpi")]
pub(crate) mod mpi_errors;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) use doorbell::Doorbell;

/// The largest message a transport sends: MPI counts are 32-bit, so a large object goes in
/// chunks of at most this many bytes (`UNIDIST_CHUNK_BYTES` lowers it; the test suite does, to
/// send megabyte objects in several chunks).
pub(crate) const MAX_CHUNK: usize = 1 << 30;

use crate::id::Rank;
use crate::protocol::{Message, RawPingPong};

/// The transport of one rank, owned by that rank's loop thread.
pub(crate) trait Transport {
    fn rank(&self) -> Rank;

    fn size(&self) -> usize;

    /// Sends one batch; never blocks on the peer.
    fn send(&mut self, to: Rank, batch: Vec<Message>);

    /// Hands every batch that has arrived to `deliver`, in the order each peer sent them; true
    /// if any did.
    fn poll(&mut self, deliver: &mut dyn FnMut(Rank, Vec<Message>)) -> bool;

    /// Moves outstanding sends forward.
    fn progress(&mut self) {}

    /// True while sends are in flight that need this thread's calls to complete.
    fn sending(&self) -> bool {
        false
    }

    /// True if every peer rings this rank's [`Doorbell`] when it sends it a batch, so a rank
    /// may sleep on the bell however soon it waits for a message.
    fn linked(&self) -> bool {
        false
    }

    /// How to wait a little for work when the last `idle_rounds` rounds of the loop found none
    /// (the loop waits without holding the transport: a thread that waits on an answer may run
    /// rounds meanwhile). `urgent` when the rank waits on the network and should notice a
    /// message at once (see `Node::urgent`).
    fn pause(&mut self, idle_rounds: u32, urgent: bool) -> Pause;

    /// The [`Doorbell`] rang during the last [`Pause::Sleep`]: a batch may be on its way.
    fn rang(&mut self) {}

    /// Waits as [`pause`](Transport::pause) says: returns when a batch may have come, when the
    /// [`Doorbell`] rang, or after a while.
    #[cfg(test)]
    fn wait(&mut self, idle_rounds: u32, urgent: bool) {
        if self.pause(idle_rounds, urgent).sit(&self.doorbell()) {
            self.rang();
        }
    }

    /// What other threads ring to wake this transport's [`Transport::wait`].
    fn doorbell(&self) -> Arc<Doorbell>;

    /// Ends the whole job with a line saying why (`what` follows "rank R ").
    fn fatal(&self, what: String) -> !;

    /// Completes outstanding sends and leaves the job.
    fn close(self);

    /// The benchmark's and tests' probes, where this transport has them (MPI).
    fn probe(&mut self) -> Option<&mut dyn Probe> {
        None
    }
}

/// How a loop with nothing to do waits before its next round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pause {
    /// Poll again at once.
    Spin,
    /// Give the core away once, then poll.
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    Yield,
    /// Sleep on the doorbell until it rings or `timeout` passes (`None`: until it rings), after
    /// polling it a moment (see `spin::spin_until`) if `spin_first`.
    Sleep { timeout: Option<Duration>, spin_first: bool },
}

impl Pause {
    /// Waits as this pause says on `bell`, as its owner; true if it rang (the ring is taken).
    pub(crate) fn sit(self, bell: &Doorbell) -> bool {
        match self {
            Pause::Spin => {
                std::hint::spin_loop();
                false
            }
            Pause::Yield => {
                std::thread::yield_now();
                false
            }
            Pause::Sleep { timeout, spin_first } => {
                (spin_first && crate::spin::spin_until(|| bell.take_as_owner()))
                    || bell.wait(timeout)
            }
        }
    }

    /// This pause, sleeping no later than `deadline` (if any).
    pub(crate) fn until(self, deadline: Option<Instant>) -> Pause {
        match (self, deadline) {
            (Pause::Sleep { timeout, spin_first }, Some(deadline)) => {
                let left = deadline.saturating_duration_since(Instant::now());
                let timeout = Some(timeout.map_or(left, |t| t.min(left)));
                Pause::Sleep { timeout, spin_first }
            }
            (pause, _) => pause,
        }
    }
}

/// What the benchmark and the tests do to a transport that moves bytes: never used by the
/// runtime's own work.
pub(crate) trait Probe {
    /// Sends bytes as they are, as if they were a batch (tests' corrupt messages).
    fn send_bytes(&mut self, to: Rank, bytes: Vec<u8>);

    /// Runs a raw ping-pong with `peer` (the initiator sends first) and returns the time it
    /// took: what the MPI library itself gives, measured in the same run as the runtime.
    fn raw_ping_pong(&mut self, peer: Rank, test: RawPingPong, initiator: bool) -> Duration;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_until_a_deadline_sleeps_no_later_than_it() {
        let soon = Instant::now() + Duration::from_secs(60);
        let sleep = |timeout| Pause::Sleep { timeout, spin_first: true };
        match sleep(None).until(Some(soon)) {
            Pause::Sleep { timeout: Some(t), spin_first: true } => {
                assert!(t <= Duration::from_secs(60))
            }
            other => panic!("expected a bounded sleep, got {other:?}"),
        }
        let short = sleep(Some(Duration::from_millis(1)));
        assert_eq!(short.until(Some(soon)), short, "already shorter");
        let past = Instant::now() - Duration::from_millis(1);
        assert_eq!(sleep(None).until(Some(past)), sleep(Some(Duration::ZERO)));
        assert_eq!(sleep(None).until(None), sleep(None));
        assert_eq!(Pause::Spin.until(Some(soon)), Pause::Spin);
    }
}
