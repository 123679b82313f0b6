//! The progress loop of a rank: one thread that owns the rank's state (root or worker) and every
//! call into the transport. API threads and task executors talk to it through one queue of
//! [`Event`]s, so no state is shared under locks.
//!
//! Between two rounds a worker's loop may run a quick task itself ([`Node::take_inline`]): one
//! that is expected to take microseconds, so handing it to an executor thread and its result
//! back would cost more than the task. If such a task blocks in `get` or `wait` after all, it
//! drives the loop from inside ([`pump_from_task`]) until its answer comes, so the rank never
//! stops serving while a task waits.

use std::cell::Cell;
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
    /// A raw MPI ping-pong to run once this round's batches are out.
    pub(crate) raw: Option<RawRequest>,
    /// Bytes to send as they are after this round's batches (tests' corrupt messages).
    pub(crate) raw_bytes: Vec<(Rank, Vec<u8>)>,
    /// Why this rank must end the job, once the round is over (a silent peer).
    pub(crate) fatal: Option<String>,
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

    fn flush(&mut self, transport: &mut Transport) {
        for to in self.pending.drain(..) {
            let batch = std::mem::take(&mut self.batches[to]);
            transport.send(to, batch);
        }
    }
}

fn deliver(node: &mut impl Node, out: &mut Outbox, from: Rank, batch: Vec<Message>) {
    node.heard(from);
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

/// A task for the loop's own thread to run between two rounds (see [`Node::take_inline`]).
pub(crate) type InlineTask = Box<dyn FnOnce() + Send>;

/// The loop's state: what one round works on.
struct Core<N: Node> {
    node: N,
    transport: Transport,
    out: Outbox,
    events: Receiver<Event>,
    idle_rounds: u32,
}

impl<N: Node> Core<N> {
    /// One round: local events, the network, then everything due goes out. True if it found
    /// something to do.
    fn round(&mut self) -> bool {
        let Core { node, transport, out, events, .. } = self;
        let mut busy = false;
        // Bounded, so that a flood of local events cannot starve the network.
        for _ in 0..4096 {
            match events.try_recv() {
                Ok(event) => {
                    handle(node, out, event);
                    busy = true;
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        busy |= transport.poll(&mut |from, batch| deliver(node, out, from, batch));
        node.flush(out, !busy);
        out.flush(transport);
        for (to, bytes) in out.raw_bytes.drain(..) {
            transport.send_bytes(to, bytes);
        }
        transport.progress();
        if let Some(what) = out.fatal.take() {
            transport.fatal(what);
        }
        if let Some(raw) = out.raw.take() {
            let elapsed = transport.raw_ping_pong(raw.peer, raw.test, raw.reply.is_some());
            if let Some(reply) = raw.reply {
                let _ = reply.send(elapsed);
            }
        }
        busy
    }

    /// After a round: waits a little for work if the round found none (see `Transport::idle`).
    fn settle(&mut self, busy: bool) {
        if busy {
            self.idle_rounds = 0;
            return;
        }
        self.idle_rounds = self.idle_rounds.saturating_add(1);
        let urgent = self.node.urgent();
        if let Some(event) = self.transport.idle(&self.events, self.idle_rounds, urgent) {
            handle(&mut self.node, &mut self.out, event);
            self.idle_rounds = 0;
        }
    }
}

/// What a task run on the loop's thread drives while it waits: the loop itself.
trait Pump {
    /// One round and, if it found nothing, a short wait; false once the rank has stopped.
    fn pump(&mut self) -> bool;
    /// True while sends are in flight that need this thread's calls to move.
    fn sending(&self) -> bool;
    /// Ends the whole job (see `Transport::fatal`).
    fn fatal(&self, what: String) -> !;
}

impl<N: Node> Pump for Core<N> {
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

thread_local! {
    /// On a loop's thread while it runs a task: the loop, for that task to drive while it waits.
    static PUMP: Cell<Option<*mut dyn Pump>> = const { Cell::new(None) };
}

/// Runs `f` on the loop whose thread runs the calling task. A task run by [`Node::take_inline`]
/// that blocks in `get` or `wait` drives the loop through this until its answer comes, so the
/// rank goes on while it waits. A panic of the loop there (a bug in the runtime) ends the job at
/// once, as one on the loop's own stack does, never unwinding into the task's code.
fn with_pump<R>(f: impl FnOnce(&mut dyn Pump) -> R) -> R {
    let core = PUMP.with(Cell::get).expect("only a task run by its worker's loop pumps it");
    // Taken out while it runs: nothing the round does can pump it again.
    PUMP.with(|p| p.set(None));
    // SAFETY: `run` stored this pointer to its `Core` just before it called the task that is
    // calling us, on this thread, and touches the `Core` only after that task returns; the
    // pointer is taken out while in use, so no two references to the `Core` are live at once.
    let core = unsafe { &mut *core };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut *core)));
    match result {
        Ok(value) => {
            PUMP.with(|p| p.set(Some(core as *mut dyn Pump)));
            value
        }
        Err(_) => core.fatal("stopped: its progress loop panicked (the message is above)".into()),
    }
}

/// One round of the loop, from a task on its thread that waits (see [`with_pump`]); false once
/// the rank has stopped.
pub(crate) fn pump_from_task() -> bool {
    with_pump(|core| core.pump())
}

/// From a task on the loop's thread whose wait is over: completes the sends the loop started
/// meanwhile before the task computes again, since a large one moves only while this thread
/// calls MPI (a peer waits for its chunks).
pub(crate) fn finish_sends_from_task() {
    with_pump(|core| while core.sending() && core.pump() {})
}

/// Runs the rank until its node has finished, then closes the transport.
pub(crate) fn run<N: Node + 'static>(node: N, transport: Transport, events: Receiver<Event>) {
    let out = Outbox::new(transport.rank(), transport.size());
    let mut core = Core { node, transport, out, events, idle_rounds: 0 };
    loop {
        let busy = core.round();
        if core.node.finished() {
            break;
        }
        // A large send moves only while this thread calls MPI: no task here until it is done.
        let allowed = !core.transport.sending();
        if let Some(task) = core.node.take_inline(allowed) {
            let pump: &mut dyn Pump = &mut core;
            PUMP.with(|p| p.set(Some(pump as *mut dyn Pump)));
            task();
            PUMP.with(|p| p.set(None));
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
