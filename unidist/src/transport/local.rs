//! The local backend's transport: every rank is a thread of this process. A batch is moved, not
//! copied, into the destination's own queue, and its doorbell rung.

use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;

use super::{Doorbell, Pause, Transport};
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

    /// Polls the doorbell a moment (see `spin::spin_until`), then sleeps until it rings: every
    /// batch and every command for this rank rings it. Either way the ring is taken, so the
    /// next idle round waits again.
    fn pause(&mut self, _idle_rounds: u32, _urgent: bool) -> Pause {
        Pause::Sleep { timeout: None, spin_first: true }
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

    /// The sequence numbers of the `Release`s in `batches` from `from`, in the order received.
    fn sequence_from(batches: &[(Rank, Vec<Message>)], from: Rank) -> Vec<u64> {
        let mut got = Vec::new();
        for (sender, batch) in batches.iter().filter(|(sender, _)| *sender == from) {
            assert_eq!(*sender, from);
            for message in batch {
                match message {
                    Message::Release(ids) => got.extend(ids.iter().map(|id| id.sequence())),
                    other => panic!("unexpected {}", other.kind()),
                }
            }
        }
        got
    }

    #[test]
    fn each_pair_keeps_its_order_while_senders_on_other_threads_interleave() {
        let mut ranks = mesh(3);
        let mut receiver = ranks.remove(0);
        let senders: Vec<_> = ranks
            .into_iter()
            .map(|mut t| {
                std::thread::spawn(move || {
                    for n in 0..200 {
                        let batch = (0..n % 3 + 1)
                            .map(|k| Message::Release(vec![ObjectId::new(t.rank(), 3 * n + k)]))
                            .collect();
                        t.send(0, batch);
                    }
                })
            })
            .collect();
        for sender in senders {
            sender.join().unwrap();
        }
        let got = polled(&mut receiver);
        for from in [1, 2] {
            let expected: Vec<u64> =
                (0..200).flat_map(|n| (0..n % 3 + 1).map(move |k| 3 * n + k)).collect();
            assert_eq!(sequence_from(&got, from), expected, "from rank {from}");
        }
    }

    #[test]
    fn a_batch_keeps_the_order_of_its_messages() {
        let mut ranks = mesh(2);
        let batch = vec![
            Message::Transfer { id: ObjectId::new(0, 1), to: 0 },
            Message::Cleanup(vec![ObjectId::new(0, 1)]),
            Message::Shutdown,
        ];
        ranks[0].send(1, batch);
        let got = polled(&mut ranks[1]);
        assert_eq!(got.len(), 1);
        let kinds: Vec<&str> = got[0].1.iter().map(Message::kind).collect();
        assert_eq!(kinds, ["Transfer", "Cleanup", "Shutdown"]);
        assert_eq!(got[0].0, 0);
    }

    #[test]
    fn a_send_from_another_thread_wakes_a_receiver_waiting_in_its_loop() {
        let mut ranks = mesh(2);
        let mut receiver = ranks.remove(0);
        let mut sender = ranks.remove(0);
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let waiting = std::thread::spawn(move || {
            ready_tx.send(()).unwrap();
            // The loop's idle path: nothing polled, so it waits until a batch may have come.
            loop {
                let got = polled(&mut receiver);
                if !got.is_empty() {
                    return got;
                }
                receiver.wait(1, true);
            }
        });
        ready.recv().unwrap();
        sender.send(0, vec![Message::StatsRequest { reset_peak: false }]);
        let got = waiting.join().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].0, got[0].1[0].kind()), (1, "StatsRequest"));
    }

    #[test]
    fn a_poll_hands_out_a_bounded_number_of_batches() {
        let mut ranks = mesh(2);
        for _ in 0..POLL_BATCHES + 1 {
            ranks[1].send(0, vec![Message::Heartbeat]);
        }
        assert_eq!(polled(&mut ranks[0]).len(), POLL_BATCHES, "the loop's commands get a turn");
        assert_eq!(polled(&mut ranks[0]).len(), 1, "the rest comes at the next poll");
        assert!(!ranks[0].poll(&mut |_, _| panic!("nothing is left")));
    }

    #[test]
    fn each_rank_has_its_own_doorbell_shared_with_its_mailbox() {
        let mut ranks = mesh(2);
        assert!(Arc::ptr_eq(&ranks[0].doorbell(), &ranks[0].doorbell()));
        assert!(!Arc::ptr_eq(&ranks[0].doorbell(), &ranks[1].doorbell()));
        // A command for rank 1 rings its bell through the handle: its next wait returns.
        ranks[1].doorbell().ring();
        assert!(!ranks[0].doorbell().rung(), "another rank's bell stays silent");
        ranks[1].wait(1, false);
        assert!(!ranks[1].doorbell().take(), "the wait took the ring");
    }

    #[test]
    fn the_local_transport_has_no_probe_and_nothing_in_flight() {
        let mut ranks = mesh(2);
        ranks[0].send(1, vec![Message::Heartbeat]);
        assert!(!ranks[0].sending(), "a send completes as it is made");
        ranks[0].progress();
        assert!(ranks[0].probe().is_none(), "batches move as values, not bytes");
        assert_eq!(polled(&mut ranks[1]).len(), 1);
    }
}
