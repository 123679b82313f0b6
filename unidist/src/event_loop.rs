//! The progress loop of a rank: one thread that owns the rank's state (root or worker) and every
//! call into the transport. API threads and task executors talk to it through one queue of
//! [`Event`]s, so no state is shared under locks and the loop never waits on user code.

use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::time::Duration;

use crate::object::Object;
use crate::object_ref::ObjectId;
use crate::protocol::{Message, Rank, RawPingPong};
use crate::root::Command;
use crate::stats::TransferStats;
use crate::transport::Transport;

/// Something for the loop to handle.
pub(crate) enum Event {
    /// Messages from another rank (the local transport delivers them this way).
    Net { from: Rank, batch: Vec<Message> },
    /// A call of the API on the root.
    Command(Command),
    /// A task has finished on this worker: its results, values or errors, in order.
    Finished { first_output: ObjectId, outputs: Vec<Object> },
}

/// The state of a rank that reacts to events: the root or a worker.
pub(crate) trait Node {
    fn on_message(&mut self, from: Rank, message: Message, out: &mut Outbox);
    fn on_event(&mut self, event: Event, out: &mut Outbox);
    /// Called once per round, before the outbox goes out; `idle` when the round found nothing
    /// to do (no event, no message).
    fn flush(&mut self, _out: &mut Outbox, _idle: bool) {}
    /// True once the rank has stopped.
    fn finished(&self) -> bool;
    /// True while the rank waits on the network and should notice a message at once; false while
    /// a message can wait a little (up to a millisecond) without slowing the job, so that an
    /// idle loop leaves the CPU to tasks.
    fn urgent(&self) -> bool {
        true
    }
}

/// Messages waiting to go out, one batch per destination, and the rank's transfer counters.
pub(crate) struct Outbox {
    batches: Vec<Vec<Message>>,
    pending: Vec<Rank>,
    pub(crate) stats: TransferStats,
    /// A raw MPI ping-pong to run once this round's batches are out.
    pub(crate) raw: Option<RawRequest>,
    /// Bytes to send as they are after this round's batches (tests' corrupt messages).
    pub(crate) raw_bytes: Vec<(Rank, Vec<u8>)>,
}

/// A raw ping-pong with `peer`; the side that started it gets the time it took.
pub(crate) struct RawRequest {
    pub(crate) peer: Rank,
    pub(crate) test: RawPingPong,
    pub(crate) reply: Option<Sender<Option<Duration>>>,
}

impl Outbox {
    pub(crate) fn new(rank: Rank, size: usize) -> Outbox {
        Outbox {
            batches: (0..size).map(|_| Vec::new()).collect(),
            pending: Vec::new(),
            stats: TransferStats::new(rank, size),
            raw: None,
            raw_bytes: Vec::new(),
        }
    }

    pub(crate) fn send(&mut self, to: Rank, message: Message) {
        if let Message::Data { object, .. } = &message {
            self.stats.sent(to, object.len());
        }
        let batch = &mut self.batches[to];
        if batch.is_empty() {
            self.pending.push(to);
        }
        batch.push(message);
    }

    fn flush(&mut self, transport: &mut Transport) {
        for to in self.pending.drain(..) {
            let batch = std::mem::take(&mut self.batches[to]);
            transport.send(to, batch);
        }
    }
}

fn deliver(node: &mut impl Node, out: &mut Outbox, from: Rank, batch: Vec<Message>) {
    for message in batch {
        if let Message::Data { object, .. } = &message {
            out.stats.received(from, object.len());
        }
        node.on_message(from, message, out);
    }
}

fn handle(node: &mut impl Node, out: &mut Outbox, event: Event) {
    match event {
        Event::Net { from, batch } => deliver(node, out, from, batch),
        event => node.on_event(event, out),
    }
}

/// Runs the rank until its node has finished, then closes the transport.
pub(crate) fn run(mut node: impl Node, mut transport: Transport, events: Receiver<Event>) {
    let mut out = Outbox::new(transport.rank(), transport.size());
    let mut idle_rounds = 0_u32;
    loop {
        let mut busy = false;
        // Bounded, so that a flood of local events cannot starve the network.
        for _ in 0..4096 {
            match events.try_recv() {
                Ok(event) => {
                    handle(&mut node, &mut out, event);
                    busy = true;
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        busy |= transport.poll(&mut |from, batch| deliver(&mut node, &mut out, from, batch));
        node.flush(&mut out, !busy);
        out.flush(&mut transport);
        for (to, bytes) in out.raw_bytes.drain(..) {
            transport.send_bytes(to, bytes);
        }
        transport.progress();
        if let Some(raw) = out.raw.take() {
            let elapsed = transport.raw_ping_pong(raw.peer, raw.test, raw.reply.is_some());
            if let Some(reply) = raw.reply {
                let _ = reply.send(elapsed);
            }
        }
        if node.finished() {
            break;
        }
        if busy {
            idle_rounds = 0;
        } else {
            idle_rounds = idle_rounds.saturating_add(1);
            if let Some(event) = transport.idle(&events, idle_rounds, node.urgent()) {
                handle(&mut node, &mut out, event);
                idle_rounds = 0;
            }
        }
    }
    drop(node);
    transport.close();
}
