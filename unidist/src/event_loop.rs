//! The progress loop of a rank: one thread that owns the rank's state (a [`Node`]: the root or a
//! worker) and every call into its [`Transport`]. Other threads (API threads, task executors)
//! reach the node through its [`Mailbox`], whose commands the loop hands to the node in order,
//! so no node state is shared under locks.
//!
//! Between two rounds a worker's loop may run a quick task itself ([`Node::take_inline`]): one
//! that is expected to take microseconds, so handing it to an executor thread and its result
//! back would cost more than the task. If such a task blocks in `get` or `wait` after all, it
//! drives the loop from inside (`context::pump_from_task`) until its answer comes, so the rank
//! never stops serving while a task waits.
//!
//! The benchmark's and tests' probes (a raw MPI ping-pong, corrupt bytes) are handled here and
//! in the transport, never by the nodes.

use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::Duration;

use crate::context::{self, Pump};
use crate::id::Rank;
use crate::protocol::{Message, RawPingPong};
use crate::stats::TransferStats;
use crate::transport::{Doorbell, Transport};

/// What another thread puts in a loop's queue.
pub(crate) enum Input<C> {
    /// A command for the node.
    Command(C),
    /// A probe, for the loop and its transport.
    Probe(ProbeCall),
}

/// A probe asked for by the benchmark or a test.
pub(crate) enum ProbeCall {
    /// Run a raw ping-pong with worker 1 and reply with the time it took (`None` where the
    /// transport has no probes).
    RawPingPong { test: RawPingPong, reply: Sender<Option<Duration>> },
    /// Send these bytes as they are to rank `to`.
    SendBytes { to: Rank, bytes: Vec<u8> },
}

/// How other threads reach a loop: its queue and its transport's doorbell. Cheap to clone.
pub(crate) struct Mailbox<C> {
    queue: Sender<Input<C>>,
    bell: Arc<Doorbell>,
}

impl<C> Clone for Mailbox<C> {
    fn clone(&self) -> Self {
        Mailbox { queue: self.queue.clone(), bell: Arc::clone(&self.bell) }
    }
}

impl<C> Mailbox<C> {
    /// A mailbox and the queue its loop reads, woken by `bell`.
    pub(crate) fn new(bell: Arc<Doorbell>) -> (Mailbox<C>, Receiver<Input<C>>) {
        let (queue, receiver) = mpsc::channel();
        (Mailbox { queue, bell }, receiver)
    }

    /// Sends a command to the node; dropped if its loop has stopped.
    pub(crate) fn send(&self, command: C) {
        if self.queue.send(Input::Command(command)).is_ok() {
            self.bell.ring();
        }
    }

    /// Sends a probe to the loop.
    pub(crate) fn probe(&self, call: ProbeCall) {
        if self.queue.send(Input::Probe(call)).is_ok() {
            self.bell.ring();
        }
    }
}

/// The state of a rank that reacts to messages and commands: the root or a worker.
pub(crate) trait Node {
    /// What other threads of this rank ask of it.
    type Command;

    fn on_message(&mut self, from: Rank, message: Message, out: &mut Outbox);
    fn on_command(&mut self, command: Self::Command, out: &mut Outbox);
    /// Called once per round, before the outbox goes out; `idle` when the round found nothing
    /// to do (no command, no message).
    fn flush(&mut self, _out: &mut Outbox, _idle: bool) {}
    /// True once the rank has stopped.
    fn finished(&self) -> bool;
    /// True while the rank waits on the network and should notice a message at once; false while
    /// a message can wait a little (up to a millisecond) without slowing the job, so that an
    /// idle loop leaves the CPU to tasks.
    fn urgent(&self) -> bool {
        true
    }
    /// A batch came from `from` (a sign of life, see `heartbeat`).
    fn heard(&mut self, _from: Rank) {}
    /// A ready task to run on the loop's own thread before the next round, saving the two
    /// thread hops of an executor (`allowed` is false while that would stall the transport:
    /// the node then hands such tasks to its executors instead).
    fn take_inline(&mut self, _allowed: bool) -> Option<InlineTask> {
        None
    }
}

/// Messages waiting to go out, one batch per destination, and the rank's transfer counters.
pub(crate) struct Outbox {
    batches: Vec<Vec<Message>>,
    pending: Vec<Rank>,
    pub(crate) stats: TransferStats,
    /// Why this rank must end the job, once the round is over (a silent peer).
    pub(crate) fatal: Option<String>,
}

impl Outbox {
    pub(crate) fn new(rank: Rank, size: usize) -> Outbox {
        Outbox {
            batches: (0..size).map(|_| Vec::new()).collect(),
            pending: Vec::new(),
            stats: TransferStats::new(rank, size),
            fatal: None,
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

    /// Takes every batch due, by destination, in the order their first message was sent.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = (Rank, Vec<Message>)> + '_ {
        let batches = &mut self.batches;
        self.pending.drain(..).map(move |to| (to, std::mem::take(&mut batches[to])))
    }
}

/// A task for the loop's own thread to run between two rounds (see [`Node::take_inline`]).
pub(crate) type InlineTask = Box<dyn FnOnce() + Send>;

/// A raw ping-pong to run once this round's batches are out; the side that started it gets
/// the time it took.
struct RawRequest {
    peer: Rank,
    test: RawPingPong,
    reply: Option<Sender<Option<Duration>>>,
}

/// The loop's state: what one round works on.
struct Core<N: Node, T: Transport> {
    node: N,
    transport: T,
    out: Outbox,
    inbox: Receiver<Input<N::Command>>,
    idle_rounds: u32,
    /// Probes to run after this round's batches.
    raw: Option<RawRequest>,
    raw_bytes: Vec<(Rank, Vec<u8>)>,
}

impl<N: Node, T: Transport> Core<N, T> {
    fn handle(&mut self, input: Input<N::Command>) {
        match input {
            Input::Command(command) => self.node.on_command(command, &mut self.out),
            Input::Probe(ProbeCall::RawPingPong { test, reply }) => {
                self.out.send(1, Message::RawPingPong(test));
                self.raw = Some(RawRequest { peer: 1, test, reply: Some(reply) });
            }
            Input::Probe(ProbeCall::SendBytes { to, bytes }) => self.raw_bytes.push((to, bytes)),
        }
    }

    /// One round: local commands, the network, then everything due goes out. True if it found
    /// something to do.
    fn round(&mut self) -> bool {
        let mut busy = false;
        // Bounded, so that a flood of local commands cannot starve the network.
        for _ in 0..4096 {
            match self.inbox.try_recv() {
                Ok(input) => {
                    self.handle(input);
                    busy = true;
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let Core { node, transport, out, raw, .. } = self;
        busy |= transport.poll(&mut |from, batch| deliver(node, out, raw, from, batch));
        node.flush(out, !busy);
        for (to, batch) in out.drain() {
            transport.send(to, batch);
        }
        self.run_probes();
        self.transport.progress();
        if let Some(what) = self.out.fatal.take() {
            self.transport.fatal(what);
        }
        busy
    }

    fn run_probes(&mut self) {
        if self.raw.is_none() && self.raw_bytes.is_empty() {
            return;
        }
        let raw = self.raw.take();
        let bytes = std::mem::take(&mut self.raw_bytes);
        let Some(probe) = self.transport.probe() else {
            // No bytes to send where batches move as values; no MPI to measure.
            if let Some(reply) = raw.and_then(|r| r.reply) {
                let _ = reply.send(None);
            }
            return;
        };
        for (to, bytes) in bytes {
            probe.send_bytes(to, bytes);
        }
        if let Some(raw) = raw {
            let elapsed = probe.raw_ping_pong(raw.peer, raw.test, raw.reply.is_some());
            if let Some(reply) = raw.reply {
                let _ = reply.send(Some(elapsed));
            }
        }
    }

    /// After a round: waits a little for work if the round found none (see `Transport::wait`).
    fn settle(&mut self, busy: bool) {
        if busy {
            self.idle_rounds = 0;
            return;
        }
        self.idle_rounds = self.idle_rounds.saturating_add(1);
        let urgent = self.node.urgent();
        self.transport.wait(self.idle_rounds, urgent);
    }
}

fn deliver(
    node: &mut impl Node,
    out: &mut Outbox,
    raw: &mut Option<RawRequest>,
    from: Rank,
    batch: Vec<Message>,
) {
    node.heard(from);
    for message in batch {
        match message {
            Message::Data { ref object, .. } => {
                out.stats.received(from, object.len());
                node.on_message(from, message, out);
            }
            // The other side of the benchmark's raw ping-pong.
            Message::RawPingPong(test) => {
                *raw = Some(RawRequest { peer: from, test, reply: None });
            }
            message => node.on_message(from, message, out),
        }
    }
}

impl<N: Node, T: Transport> Pump for Core<N, T> {
    fn pump(&mut self) -> bool {
        // Tasks kept for this thread would wait behind the one that blocks it: to the executors.
        let none = self.node.take_inline(false);
        debug_assert!(none.is_none());
        let busy = self.round();
        if self.node.finished() {
            return false;
        }
        self.settle(busy);
        true
    }

    fn sending(&self) -> bool {
        self.transport.sending()
    }

    fn fatal(&self, what: String) -> ! {
        self.transport.fatal(what)
    }
}

/// Runs the rank until its node has finished, then closes the transport. `inbox` is the queue
/// of the node's [`Mailbox`], which must ring this transport's doorbell.
pub(crate) fn run<N: Node, T: Transport>(
    node: N,
    transport: T,
    inbox: Receiver<Input<N::Command>>,
) {
    let out = Outbox::new(transport.rank(), transport.size());
    let mut core =
        Core { node, transport, out, inbox, idle_rounds: 0, raw: None, raw_bytes: Vec::new() };
    loop {
        let busy = core.round();
        if core.node.finished() {
            break;
        }
        // A large send moves only while this thread calls MPI: no task here until it is done.
        let allowed = !core.transport.sending();
        if let Some(task) = core.node.take_inline(allowed) {
            context::run_with_pump(&mut core, task);
            core.idle_rounds = 0;
            if core.node.finished() {
                break;
            }
            continue;
        }
        core.settle(busy);
    }
    let Core { node, transport, .. } = core;
    drop(node);
    transport.close();
}
