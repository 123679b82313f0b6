//! The local backend's transport: every rank is a thread of this process, and a batch is moved,
//! not copied, into the event queue of the destination's loop.

use std::sync::mpsc::Sender;
use std::sync::Arc;

use crate::event_loop::Event;
use crate::protocol::{Message, Rank};

pub(crate) struct LocalTransport {
    rank: Rank,
    peers: Arc<Vec<Sender<Event>>>,
}

impl LocalTransport {
    pub(crate) fn new(rank: Rank, peers: Arc<Vec<Sender<Event>>>) -> LocalTransport {
        LocalTransport { rank, peers }
    }

    pub(crate) fn rank(&self) -> Rank {
        self.rank
    }

    pub(crate) fn size(&self) -> usize {
        self.peers.len()
    }

    pub(crate) fn send(&mut self, to: Rank, batch: Vec<Message>) {
        // A peer that has already stopped (after shutdown) drops what it is sent.
        let _ = self.peers[to].send(Event::Net { from: self.rank, batch });
    }
}
