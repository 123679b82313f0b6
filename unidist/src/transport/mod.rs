//! Moving batches of messages between ranks. The root and the worker are written once against
//! [`Transport`]; each backend is one module: `local` (threads of one process, over channels) and
//! `mpi` (processes, over rsmpi, behind the `mpi` feature).

pub(crate) mod local;
#[cfg(feature = "mpi")]
pub(crate) mod mpi;
#[cfg(feature = "mpi")]
pub(crate) mod mpi_errors;

use std::sync::mpsc::Receiver;

use crate::event_loop::Event;
use std::time::Duration;

use crate::protocol::{Message, Rank, RawPingPong};

/// The transport of one rank.
pub(crate) enum Transport {
    Local(local::LocalTransport),
    #[cfg(feature = "mpi")]
    Mpi(mpi::MpiTransport),
}

impl Transport {
    pub(crate) fn rank(&self) -> Rank {
        match self {
            Transport::Local(t) => t.rank(),
            #[cfg(feature = "mpi")]
            Transport::Mpi(t) => t.rank(),
        }
    }

    pub(crate) fn size(&self) -> usize {
        match self {
            Transport::Local(t) => t.size(),
            #[cfg(feature = "mpi")]
            Transport::Mpi(t) => t.size(),
        }
    }

    /// Sends one batch; never blocks on the peer.
    pub(crate) fn send(&mut self, to: Rank, batch: Vec<Message>) {
        match self {
            Transport::Local(t) => t.send(to, batch),
            #[cfg(feature = "mpi")]
            Transport::Mpi(t) => t.send(to, batch),
        }
    }

    /// Hands every batch that has arrived to `deliver`; true if any did.
    pub(crate) fn poll(&mut self, deliver: &mut dyn FnMut(Rank, Vec<Message>)) -> bool {
        match self {
            // Local batches arrive as events.
            Transport::Local(_) => {
                let _ = deliver;
                false
            }
            #[cfg(feature = "mpi")]
            Transport::Mpi(t) => t.poll(deliver),
        }
    }

    /// Moves outstanding sends forward.
    pub(crate) fn progress(&mut self) {
        match self {
            Transport::Local(_) => {}
            #[cfg(feature = "mpi")]
            Transport::Mpi(t) => t.progress(),
        }
    }

    /// Ends the whole job with a line saying why (`what` follows "rank R ").
    pub(crate) fn fatal(&self, what: String) -> ! {
        match self {
            Transport::Local(_) => panic!("unidist: rank 0 {what}"),
            #[cfg(feature = "mpi")]
            Transport::Mpi(t) => t.fatal(what),
        }
    }

    /// True while sends are in flight that need this thread's calls to MPI to complete.
    pub(crate) fn sending(&self) -> bool {
        match self {
            Transport::Local(_) => false,
            #[cfg(feature = "mpi")]
            Transport::Mpi(t) => t.sending(),
        }
    }

    /// Waits a little for a local event when the last `idle_rounds` rounds found nothing to do;
    /// `urgent` when the rank waits on the network (see `Node::urgent`).
    pub(crate) fn idle(
        &mut self,
        events: &Receiver<Event>,
        idle_rounds: u32,
        urgent: bool,
    ) -> Option<Event> {
        match self {
            // Poll the queue a moment before blocking on it.
            Transport::Local(_) => {
                let _ = (idle_rounds, urgent);
                crate::reply::receive(events).ok()
            }
            #[cfg(feature = "mpi")]
            Transport::Mpi(t) => t.idle(events, idle_rounds, urgent),
        }
    }

    /// Sends bytes as they are, as if they were a batch (tests' corrupt messages); the local
    /// backend moves batches, not bytes, so it has nothing to send.
    pub(crate) fn send_bytes(&mut self, to: Rank, bytes: Vec<u8>) {
        match self {
            Transport::Local(_) => {
                let _ = (to, bytes);
            }
            #[cfg(feature = "mpi")]
            Transport::Mpi(t) => t.send_bytes(to, bytes),
        }
    }

    /// Runs a raw ping-pong with `peer` (the initiator sends first); the initiator gets the time
    /// it took, `None` where there is no MPI to measure.
    pub(crate) fn raw_ping_pong(
        &mut self,
        peer: Rank,
        test: RawPingPong,
        initiator: bool,
    ) -> Option<Duration> {
        match self {
            Transport::Local(_) => {
                let _ = (peer, test, initiator);
                None
            }
            #[cfg(feature = "mpi")]
            Transport::Mpi(t) => Some(t.raw_ping_pong(peer, test, initiator)),
        }
    }

    /// Completes outstanding sends and leaves the job.
    pub(crate) fn close(self) {
        match self {
            Transport::Local(_) => {}
            #[cfg(feature = "mpi")]
            Transport::Mpi(t) => t.close(),
        }
    }
}
