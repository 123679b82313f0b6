//! The local backend's transport: every rank is a thread of this process. A batch is moved, not
//! copied, into the destination's own queue, and its doorbell rung.

use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;

use super::{Doorbell, Transport};
use crate::id::Rank;
use crate::protocol::Message;

/// Batches polled per call at most, so that a flood of them cannot starve the loop's commands.
const POLL_BATCHES: usize = 4096;

/// Where one rank receives: its queue and its doorbell.
struct Peer {
    queue: Sender<(Rank, Vec<Message>)>,
    bell: Arc<Doorbell>,
}

pub(crate) struct LocalTransport {
    rank: Rank,
    peers: Arc<Vec<Peer>>,
    queue: Receiver<(Rank, Vec<Message>)>,
    bell: Arc<Doorbell>,
}

/// The transports of `size` ranks that talk to each other, by rank.
pub(crate) fn mesh(size: usize) -> Vec<LocalTransport> {
    let (peers, queues): (Vec<Peer>, Vec<_>) = (0..size)
        .map(|_| {
            let (queue, receiver) = mpsc::channel();
            (Peer { queue, bell: Doorbell::new() }, receiver)
        })
        .unzip();
    let peers = Arc::new(peers);
    queues
        .into_iter()
        .enumerate()
        .map(|(rank, queue)| LocalTransport {
            rank,
            bell: Arc::clone(&peers[rank].bell),
            peers: Arc::clone(&peers),
            queue,
        })
        .collect()
}

impl Transport for LocalTransport {
    fn rank(&self) -> Rank {
        self.rank
    }

    fn size(&self) -> usize {
        self.peers.len()
    }

    fn send(&mut self, to: Rank, batch: Vec<Message>) {
        let peer = &self.peers[to];
        // A peer that has already stopped (after shutdown) drops what it is sent.
        if peer.queue.send((self.rank, batch)).is_ok() {
            peer.bell.ring();
        }
    }

    fn poll(&mut self, deliver: &mut dyn FnMut(Rank, Vec<Message>)) -> bool {
        let mut any = false;
        for _ in 0..POLL_BATCHES {
            match self.queue.try_recv() {
                Ok((from, batch)) => {
                    deliver(from, batch);
                    any = true;
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        any
    }

    /// Polls the doorbell a moment (see `reply::spin_until`), then sleeps until it rings: every
    /// batch and every command for this rank rings it. Either way the ring is taken, so the
    /// next idle round waits again.
    fn wait(&mut self, _idle_rounds: u32, _urgent: bool) {
        if !crate::reply::spin_until(|| self.bell.take()) {
            self.bell.wait(None);
        }
    }

    fn doorbell(&self) -> Arc<Doorbell> {
        Arc::clone(&self.bell)
    }

    fn fatal(&self, what: String) -> ! {
        panic!("unidist: rank {} {what}", self.rank)
    }

    fn close(self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::ObjectId;

    fn polled(t: &mut LocalTransport) -> Vec<(Rank, Vec<Message>)> {
        let mut got = Vec::new();
        t.poll(&mut |from, batch| got.push((from, batch)));
        got
    }

    #[test]
    fn batches_arrive_in_order_with_their_sender() {
        let mut ranks = mesh(3);
        let release = |n| Message::Release(vec![ObjectId::new(0, n)]);
        ranks[1].send(0, vec![release(1)]);
        ranks[2].send(0, vec![release(2)]);
        ranks[1].send(0, vec![release(3), release(4)]);
        let got = polled(&mut ranks[0]);
        let summary: Vec<(Rank, usize)> = got.iter().map(|(f, b)| (*f, b.len())).collect();
        assert_eq!(summary, vec![(1, 1), (2, 1), (1, 2)]);
        assert!(polled(&mut ranks[0]).is_empty());
        assert!(polled(&mut ranks[1]).is_empty(), "nothing was sent to rank 1");
    }

    #[test]
    fn a_send_rings_the_receiver_so_its_wait_returns() {
        let mut ranks = mesh(2);
        ranks[1].send(0, vec![Message::Heartbeat]);
        assert!(ranks[0].doorbell().rung());
        ranks[0].wait(1, true); // returns: the bell rang
        assert!(!ranks[0].doorbell().rung(), "the wait took the ring");
        assert_eq!(polled(&mut ranks[0]).len(), 1);
    }

    #[test]
    fn a_send_to_a_stopped_rank_is_dropped() {
        let mut ranks = mesh(2);
        let gone = ranks.pop().expect("rank 1");
        drop(gone);
        ranks[0].send(1, vec![Message::Heartbeat]); // no panic
    }

    #[test]
    fn size_and_rank() {
        let ranks = mesh(4);
        assert_eq!(
            ranks.iter().map(|t| (t.rank(), t.size())).collect::<Vec<_>>(),
            [(0, 4), (1, 4), (2, 4), (3, 4)]
        );
    }
}
