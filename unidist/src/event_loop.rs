//! The progress loop of a rank: the rank's state (a [`Node`]: the root or a worker) and its
//! [`Transport`], run by one thread at a time. Other threads (API threads, task executors) reach
//! the node through its [`Mailbox`], whose commands the loop hands to the node in order, so no
//! node state is touched by two threads at once.
//!
//! The loop's own thread runs it, except under MPI: there a thread that would wait for the loop
//! (the root's program in `get` or `wait`, an executor thread that has finished a task, looks
//! for the next or blocks in a nested call) runs the rounds itself, and sleeps on the rank's
//! doorbell in the loop's thread's place when there is nothing to do, while the loop's thread
//! sleeps ([`Drive`]): waking a sleeping thread costs tens of microseconds on a busy machine,
//! more than the round trips it waits for, and a peer's ring then wakes the thread that wants
//! the message instead of one that would hand it over.
//!
//! Between two rounds a worker's loop may run a quick task itself ([`Node::take_inline`]): one
//! that is expected to take microseconds, so handing it to an executor thread and its result
//! back would cost more than the task. If such a task blocks in `get` or `wait` after all, it
//! drives the loop from inside (`context::pump_from_task`) until its answer comes, so the rank
//! never stops serving while a task waits.
//!
//! The benchmark's and tests' probes (a raw MPI ping-pong, corrupt bytes) are handled here and
//! in the transport ([`Probe`](crate::transport::Probe)); the nodes never see one, and a task's
//! request for one only passes through its executor (`TaskHost::send_bytes`) on its way here.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, TryLockError, Weak};
use std::time::{Duration, Instant};

use crate::context::{self, Pump};
use crate::id::{ObjectId, Rank};
use crate::protocol::{Message, RawPingPong};
use crate::stats::TransferStats;
use crate::timeline::{self, Event};
use crate::transport::{Doorbell, Pause, Transport};

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

/// How other threads reach a loop: its queue, its transport's doorbell, and the loop itself
/// once it runs (for threads that drive it while they wait: [`Mailbox::call`]). Cheap to clone.
pub(crate) struct Mailbox<C> {
    queue: Sender<Input<C>>,
    bell: Arc<Doorbell>,
    driver: Arc<OnceLock<Weak<dyn Drive<C>>>>,
}

impl<C> Clone for Mailbox<C> {
    fn clone(&self) -> Self {
        Mailbox {
            queue: self.queue.clone(),
            bell: Arc::clone(&self.bell),
            driver: Arc::clone(&self.driver),
        }
    }
}

impl<C> Mailbox<C> {
    /// A mailbox and the queue its loop reads, woken by `bell`.
    pub(crate) fn new(bell: Arc<Doorbell>) -> (Mailbox<C>, Receiver<Input<C>>) {
        let (queue, receiver) = mpsc::channel();
        (Mailbox { queue, bell, driver: Arc::new(OnceLock::new()) }, receiver)
    }

    /// True if threads that wait may drive the loop (see [`Drive`]).
    pub(crate) fn drivable(&self) -> bool {
        self.driver.get().is_some()
    }

    /// Sends `command` (if any) and runs the loop on the calling thread until `done` holds, if
    /// no other thread runs it (see [`Drive::call`]); before the loop runs, only sends.
    pub(crate) fn call(&self, command: Option<C>, done: &mut dyn FnMut() -> bool) {
        match self.driver.get().and_then(Weak::upgrade) {
            Some(driver) => driver.call(command, done),
            None => {
                if let Some(command) = command {
                    self.send(command);
                }
            }
        }
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
    /// a message can wait a little without slowing the job (until a peer on this host rings, or
    /// up to a millisecond for one that cannot), so that an idle loop leaves the CPU to tasks.
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
        if let Message::Data { id, object } = &message {
            self.stats.sent(to, object.len());
            moved(self.stats.rank, *id, to, true, object.len());
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
    /// What a mailbox rings after each command: its local rings are taken before the inbox is
    /// read, so that only a command the round did not see can cut the next wait short (a peer's
    /// ring is left for the transport's wait: its message may not show in this round yet).
    bell: Arc<Doorbell>,
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
        self.bell.take_local();
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
        self.send_raw_bytes();
        self.transport.progress();
        if let Some(what) = self.out.fatal.take() {
            self.transport.fatal(what);
        }
        self.raw_ping_pong();
        busy
    }

    /// Test probe: bytes that go out as they are, as if they were a batch.
    fn send_raw_bytes(&mut self) {
        let bytes = std::mem::take(&mut self.raw_bytes);
        if bytes.is_empty() {
            return;
        }
        // No bytes to send where batches move as values.
        if let Some(probe) = self.transport.probe() {
            for (to, bytes) in bytes {
                probe.send_bytes(to, bytes);
            }
        }
    }

    /// Benchmark probe: a raw MPI ping-pong, answered `None` where there is no MPI to measure.
    fn raw_ping_pong(&mut self) {
        let Some(raw) = self.raw.take() else { return };
        let elapsed = self
            .transport
            .probe()
            .map(|probe| probe.raw_ping_pong(raw.peer, raw.test, raw.reply.is_some()));
        if let Some(reply) = raw.reply {
            let _ = reply.send(elapsed);
        }
    }

    /// After a round: how to wait a little for work if the round found none (see
    /// `Transport::pause`).
    fn pause(&mut self, busy: bool) -> Pause {
        if busy {
            self.idle_rounds = 0;
            return Pause::Spin;
        }
        self.idle_rounds = self.idle_rounds.saturating_add(1);
        let urgent = self.node.urgent();
        self.transport.pause(self.idle_rounds, urgent)
    }

    /// After a round: waits a little for work if the round found none.
    fn settle(&mut self, busy: bool, deadline: Option<Instant>) {
        if busy {
            self.idle_rounds = 0;
            return;
        }
        let pause = self.pause(busy).until(deadline);
        if pause.sit(&self.bell) {
            self.transport.rang();
        }
    }
}

/// Records in the timeline (if it is on) that `rank` sent object `id` to `peer` or received it.
fn moved(rank: Rank, id: ObjectId, peer: Rank, sent: bool, bytes: usize) {
    if timeline::on() {
        let (bytes, at) = (bytes as u64, timeline::now());
        timeline::record(rank, Event::Moved { object: id, peer, sent, bytes, at });
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
            Message::Data { id, ref object } => {
                out.stats.received(from, object.len(), object.bytes.mapped_from_peer());
                moved(out.stats.rank, id, from, false, object.len());
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
    fn pump(&mut self, deadline: Option<Instant>) -> bool {
        // Tasks kept for this thread would wait behind the one that blocks it: to the executors.
        let none = self.node.take_inline(false);
        debug_assert!(none.is_none());
        let busy = self.round();
        if self.node.finished() {
            return false;
        }
        self.settle(busy, deadline);
        true
    }

    fn sending(&self) -> bool {
        self.transport.sending()
    }

    fn fatal(&self, what: String) -> ! {
        self.transport.fatal(what)
    }
}

/// A loop that a thread of its rank may drive while that thread waits: the root's program in
/// `get` and `wait` (and for the first task it submits after one), an executor thread sending
/// its task's result, waiting for its next task or blocked in a nested `get` or `wait`. The
/// loop's own thread and that thread would otherwise hand commands, answers and tasks to each
/// other, and a sleeping thread takes tens of microseconds to wake on a busy machine: the caller
/// runs the rounds itself instead.
pub(crate) trait Drive<C>: Send + Sync {
    /// Hands `command` (if any) to the node, behind the commands already queued, and runs
    /// rounds on the calling thread until `done` holds or the rank stops. Where the loop would
    /// sleep, the caller sleeps on the doorbell instead ([`Doorbell::wait_driving`]): a ring
    /// wakes it, not the loop's own thread. It leaves the loop early to another caller that
    /// wants it once it would sleep. If another thread runs the loop, only queues the command
    /// (and rings); the caller then waits for its answer as usual.
    fn call(&self, command: Option<C>, done: &mut dyn FnMut() -> bool);
}

/// How long the loop's own thread sleeps while another thread drives the loop, before it looks
/// again: the driver wakes it when it stops and leaves work behind, so this is only a safety net.
const DRIVEN_SLEEP: Duration = Duration::from_millis(100);

/// How many times a caller finds another thread running the loop, yielding in between, before it
/// leaves the loop to that thread.
const DRIVE_TRIES: u32 = 64;

/// A rank's loop: its state, which one thread at a time runs (its own, or a driving caller), and
/// its doorbell.
pub(crate) struct Loop<N: Node, T: Transport> {
    core: Mutex<Option<Core<N, T>>>,
    bell: Arc<Doorbell>,
    /// Callers waiting to drive the loop: the loop's own thread then sleeps after its round.
    wanted: AtomicUsize,
    /// Times a caller has driven the loop.
    drives: AtomicUsize,
    /// The queue of the node's mailbox, for a driving caller's command.
    queue: Option<Sender<Input<N::Command>>>,
}

impl<N, T> Loop<N, T>
where
    N: Node + Send + 'static,
    N::Command: Send,
    T: Transport + Send + 'static,
{
    /// A loop for `node` over `transport`, reading `inbox`; with `mailbox` (the one that fills
    /// `inbox`), the threads that hold it may drive the loop ([`Mailbox::call`]).
    pub(crate) fn new(
        node: N,
        transport: T,
        inbox: Receiver<Input<N::Command>>,
        mailbox: Option<&Mailbox<N::Command>>,
    ) -> Arc<Loop<N, T>> {
        let out = Outbox::new(transport.rank(), transport.size());
        let bell = transport.doorbell();
        let core = Core {
            node,
            bell: Arc::clone(&bell),
            transport,
            out,
            inbox,
            idle_rounds: 0,
            raw: None,
            raw_bytes: Vec::new(),
        };
        let this = Arc::new(Loop {
            core: Mutex::new(Some(core)),
            bell,
            wanted: AtomicUsize::new(0),
            drives: AtomicUsize::new(0),
            queue: mailbox.map(|m| m.queue.clone()),
        });
        if let Some(mailbox) = mailbox {
            let weak: Weak<dyn Drive<N::Command>> = Arc::downgrade(&this) as Weak<Self>;
            let _ = mailbox.driver.set(weak);
        }
        this
    }

    fn lock(&self) -> MutexGuard<'_, Option<Core<N, T>>> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs the rank on the calling thread until its node has finished, then closes the
    /// transport. While a caller drives the loop, this thread sleeps on the doorbell.
    pub(crate) fn run(&self) {
        let mut rang = false;
        loop {
            // A caller drives the loop, or is about to: it polls and sleeps on the bell, so this
            // thread need not.
            if self.wanted.load(Ordering::Acquire) > 0 {
                self.step_aside();
                continue;
            }
            let mut guard = match self.core.try_lock() {
                Ok(guard) => guard,
                Err(TryLockError::Poisoned(e)) => e.into_inner(),
                Err(TryLockError::WouldBlock) => {
                    self.step_aside();
                    continue;
                }
            };
            let core = guard.as_mut().expect("only this thread takes the core out");
            // A driver's round may have stopped the rank.
            if core.node.finished() {
                break;
            }
            if std::mem::take(&mut rang) {
                core.transport.rang();
            }
            let busy = core.round();
            if core.node.finished() {
                break;
            }
            // A large send moves only while this thread calls MPI: no task here until it is done.
            let allowed = !core.transport.sending();
            if let Some(task) = core.node.take_inline(allowed) {
                context::run_with_pump(core, task);
                core.idle_rounds = 0;
                if core.node.finished() {
                    break;
                }
                continue;
            }
            let pause = core.pause(busy);
            drop(guard);
            if self.wanted.load(Ordering::Acquire) > 0 {
                continue;
            }
            let drives = self.drives.load(Ordering::Acquire);
            // A ring after a caller drove the loop meanwhile is likely for a batch it took.
            rang = pause.sit(&self.bell) && self.drives.load(Ordering::Acquire) == drives;
        }
        let Core { node, transport, .. } = self.lock().take().expect("taken out once");
        drop(node);
        transport.close();
    }

    /// The loop's own thread, while a caller drives the loop or is about to: sleeps until the
    /// driver stops and leaves it work, or gives the core away if the caller has not started.
    fn step_aside(&self) {
        if self.bell.driven() {
            self.bell.wait_while_driven(DRIVEN_SLEEP);
        } else {
            std::thread::yield_now();
        }
    }
}

impl<N, T> Drive<N::Command> for Loop<N, T>
where
    N: Node + Send + 'static,
    N::Command: Send,
    T: Transport + Send + 'static,
{
    fn call(&self, command: Option<N::Command>, done: &mut dyn FnMut() -> bool) {
        let queue = self.queue.as_ref().expect("a loop callers drive has their mailbox");
        let mut command = command;
        // The loop's own thread leaves the loop to a caller that wants it after its round (a
        // driver leaves it only once it would sleep: a caller that finds one leaves its command
        // to it instead, below).
        self.wanted.fetch_add(1, Ordering::AcqRel);
        let mut tries = 0;
        let taken = loop {
            match self.core.try_lock() {
                Ok(guard) => break Some(guard),
                Err(TryLockError::Poisoned(e)) => break Some(e.into_inner()),
                Err(TryLockError::WouldBlock) => {}
            }
            // Queued for the thread that runs the loop now, in case this one never does.
            if let Some(command) = command.take() {
                if queue.send(Input::Command(command)).is_ok() {
                    self.bell.ring();
                }
            }
            tries += 1;
            // A driver may hold the loop for long (it sleeps on the bell while it waits): the
            // ring above wakes it for the command. The loop's own thread soon steps aside.
            if tries > DRIVE_TRIES || self.bell.driven() || done() {
                break None;
            }
            std::thread::yield_now();
        };
        self.wanted.fetch_sub(1, Ordering::AcqRel);
        let Some(mut guard) = taken else { return };
        // Stopped: the command's answer is dropped with it, which tells the caller.
        let Some(core) = guard.as_mut() else { return };
        // No ring: this thread reads the queue next.
        if let Some(command) = command {
            let _ = queue.send(Input::Command(command));
        }
        self.bell.drive();
        // This thread's wait starts now, whatever the loop's thread had waited.
        core.idle_rounds = 0;
        // A peer rang for a batch that its last round did not find yet.
        let mut unseen = false;
        let driven = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| loop {
            // Rings before this round are for batches it polls; a peer's batch may take a few
            // polls to show (see `Transport::rang`).
            self.bell.take_local();
            let peer_rang = self.bell.take();
            let busy = core.round();
            unseen = peer_rang && !busy;
            // Tasks kept for the loop's own thread, which sleeps meanwhile: to the executors.
            let none = core.node.take_inline(false);
            debug_assert!(none.is_none());
            if core.node.finished() || done() {
                return true;
            }
            match core.pause(busy) {
                Pause::Spin => std::hint::spin_loop(),
                Pause::Yield => std::thread::yield_now(),
                // Another caller waits to drive: it takes over.
                Pause::Sleep { .. } if self.wanted.load(Ordering::Acquire) > 0 => return false,
                // Not before the batch a peer rang for shows: poll for it a few rounds more.
                Pause::Sleep { .. } if unseen => core.transport.rang(),
                // Sleeps on the bell in the loop's thread's place: a peer's ring then wakes the
                // thread that waits for the answer, not a thread that would hand it over.
                Pause::Sleep { timeout, spin_first } => {
                    let rang = (spin_first && crate::spin::spin_until(|| self.bell.take()))
                        || self.bell.wait_driving(timeout);
                    if rang {
                        core.transport.rang();
                    }
                }
            }
        }));
        self.drives.fetch_add(1, Ordering::AcqRel);
        self.bell.undrive();
        let Ok(done) = driven else {
            core.transport
                .fatal("stopped: its progress loop panicked (the message is above)".into())
        };
        // Work left (an answer still to come, sends in flight, a stop to finish, a batch a peer
        // rang for that has not shown yet, or peers on other hosts, which cannot ring): the
        // loop's thread takes over.
        let left = !done || unseen || core.transport.sending() || core.node.finished();
        if left || !core.transport.linked() {
            self.bell.ring();
        }
    }
}

/// Runs the rank until its node has finished, then closes the transport. `inbox` is the queue
/// of the node's [`Mailbox`], which must ring this transport's doorbell.
#[cfg(test)]
pub(crate) fn run<N, T>(node: N, transport: T, inbox: Receiver<Input<N::Command>>)
where
    N: Node + Send + 'static,
    N::Command: Send,
    T: Transport + Send + 'static,
{
    Loop::new(node, transport, inbox, None).run();
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::id::ObjectId;
    use crate::object::Object;

    /// What the test transport saw, shared with the test.
    #[derive(Default)]
    struct Log {
        /// What each poll delivers: `None` for a poll that finds nothing.
        incoming: VecDeque<Option<(Rank, Vec<Message>)>>,
        sent: Vec<(Rank, Vec<&'static str>)>,
        waits: Vec<(u32, bool)>,
        closed: bool,
        /// Idle rounds sleep on the bell until it rings (else they spin, and the script must
        /// not have run out).
        sleep: bool,
    }

    /// A transport that delivers a script, one batch per poll, and records the rest.
    struct Scripted {
        log: Arc<Mutex<Log>>,
        bell: Arc<Doorbell>,
    }

    impl Transport for Scripted {
        fn rank(&self) -> Rank {
            0
        }
        fn size(&self) -> usize {
            3
        }
        fn send(&mut self, to: Rank, batch: Vec<Message>) {
            let kinds = batch.iter().map(Message::kind).collect();
            self.log.lock().unwrap().sent.push((to, kinds));
        }
        fn poll(&mut self, deliver: &mut dyn FnMut(Rank, Vec<Message>)) -> bool {
            let next = self.log.lock().unwrap().incoming.pop_front().flatten();
            match next {
                Some((from, batch)) => {
                    deliver(from, batch);
                    true
                }
                None => false,
            }
        }
        fn pause(&mut self, idle_rounds: u32, urgent: bool) -> Pause {
            let mut log = self.log.lock().unwrap();
            log.waits.push((idle_rounds, urgent));
            if log.sleep {
                return Pause::Sleep { timeout: None, spin_first: false };
            }
            assert!(!log.incoming.is_empty(), "the loop waits with nothing left to come");
            Pause::Spin
        }
        fn doorbell(&self) -> Arc<Doorbell> {
            Arc::clone(&self.bell)
        }
        fn fatal(&self, what: String) -> ! {
            panic!("fatal: {what}")
        }
        fn close(self) {
            self.log.lock().unwrap().closed = true;
        }
    }

    /// A node that notes what the loop hands it, answers `Release` with `Cleanup`, stops at
    /// `Shutdown` and may hold one task for the loop's own thread.
    #[derive(Default)]
    struct Recorder {
        events: Arc<Mutex<Vec<String>>>,
        finished: bool,
        urgent: bool,
        inline: Option<InlineTask>,
        fatal_at_flush: Option<String>,
    }

    impl Recorder {
        fn note(&self, event: String) {
            self.events.lock().unwrap().push(event);
        }
    }

    impl Node for Recorder {
        type Command = u32;

        fn on_message(&mut self, from: Rank, message: Message, out: &mut Outbox) {
            let received = out.stats.peer(from).objects_received;
            self.note(format!("{} from {from} (objects received: {received})", message.kind()));
            match message {
                Message::Release(ids) => out.send(from, Message::Cleanup(ids)),
                Message::Shutdown => self.finished = true,
                _ => {}
            }
        }

        fn on_command(&mut self, command: u32, out: &mut Outbox) {
            self.note(format!("command {command}"));
            if let Some(thread @ ("driver" | "loop")) = std::thread::current().name() {
                self.note(format!("command {command} on {thread}"));
            }
            out.send(2, Message::StatsRequest { reset_peak: false });
        }

        fn flush(&mut self, out: &mut Outbox, idle: bool) {
            self.note(format!("flush idle={idle}"));
            out.fatal = self.fatal_at_flush.take();
        }

        fn finished(&self) -> bool {
            self.finished
        }

        fn urgent(&self) -> bool {
            self.urgent
        }

        fn heard(&mut self, from: Rank) {
            self.note(format!("heard {from}"));
        }

        fn take_inline(&mut self, allowed: bool) -> Option<InlineTask> {
            // Drivers never take one (`allowed` false); the test transport never has sends in
            // flight.
            assert!(allowed || self.inline.is_none(), "a task is held for the loop's thread");
            self.inline.take()
        }
    }

    fn script(batches: Vec<Option<(Rank, Vec<Message>)>>) -> (Scripted, Arc<Mutex<Log>>) {
        let log = Arc::new(Mutex::new(Log { incoming: batches.into(), ..Log::default() }));
        (Scripted { log: Arc::clone(&log), bell: Doorbell::new() }, log)
    }

    fn id(n: u64) -> ObjectId {
        ObjectId::new(1, n)
    }

    #[test]
    fn a_round_hands_the_node_its_commands_then_its_batches_and_sends_what_it_queued() {
        let (transport, log) = script(vec![
            Some((2, vec![Message::Release(vec![id(0)]), Message::Heartbeat])),
            Some((1, vec![Message::Shutdown])),
        ]);
        let (mailbox, inbox) = Mailbox::new(transport.doorbell());
        mailbox.send(7);
        let node = Recorder::default();
        let events = Arc::clone(&node.events);
        run(node, transport, inbox);
        assert_eq!(
            *events.lock().unwrap(),
            [
                "command 7",
                "heard 2",
                "Release from 2 (objects received: 0)",
                "Heartbeat from 2 (objects received: 0)",
                "flush idle=false",
                "heard 1",
                "Shutdown from 1 (objects received: 0)",
                "flush idle=false",
            ]
        );
        let log = log.lock().unwrap();
        assert_eq!(log.sent, [(2, vec!["StatsRequest", "Cleanup"])], "one batch per destination");
        assert!(log.waits.is_empty(), "every round found work");
        assert!(log.closed, "the transport is closed once the node has finished");
    }

    #[test]
    fn idle_rounds_wait_on_the_transport_counting_up_with_the_node_s_urgency() {
        let (transport, log) = script(vec![None, None, Some((1, vec![Message::Shutdown]))]);
        let (_mailbox, inbox) = Mailbox::new(transport.doorbell());
        let node = Recorder { urgent: true, ..Recorder::default() };
        let events = Arc::clone(&node.events);
        run(node, transport, inbox);
        assert_eq!(log.lock().unwrap().waits, [(1, true), (2, true)]);
        let flushes: Vec<String> =
            events.lock().unwrap().iter().filter(|e| e.starts_with("flush")).cloned().collect();
        assert_eq!(flushes, ["flush idle=true", "flush idle=true", "flush idle=false"]);
    }

    #[test]
    fn an_object_received_is_counted_before_the_node_sees_it() {
        let object = Object { type_fp: 1, bytes: Arc::new(vec![0; 10].into()) };
        let (transport, _log) =
            script(vec![Some((1, vec![Message::Data { id: id(0), object }, Message::Shutdown]))]);
        let (_mailbox, inbox) = Mailbox::new(transport.doorbell());
        let node = Recorder::default();
        let events = Arc::clone(&node.events);
        run(node, transport, inbox);
        assert!(events.lock().unwrap().contains(&"Data from 1 (objects received: 1)".to_string()));
    }

    #[test]
    fn an_inline_task_runs_on_the_loop_s_thread_between_rounds() {
        let (transport, _log) =
            script(vec![Some((1, vec![Message::Heartbeat])), Some((1, vec![Message::Shutdown]))]);
        let (_mailbox, inbox) = Mailbox::new(transport.doorbell());
        let mut node = Recorder::default();
        let events = Arc::clone(&node.events);
        let loop_thread = std::thread::current().id();
        let noted = Arc::clone(&events);
        node.inline = Some(Box::new(move || {
            let here = std::thread::current().id() == loop_thread && context::on_loop_thread();
            noted.lock().unwrap().push(format!("inline task on the loop thread: {here}"));
        }));
        run(node, transport, inbox);
        assert!(!context::on_loop_thread(), "the loop leaves no pump behind");
        assert_eq!(
            *events.lock().unwrap(),
            [
                "heard 1",
                "Heartbeat from 1 (objects received: 0)",
                "flush idle=false",
                "inline task on the loop thread: true",
                "heard 1",
                "Shutdown from 1 (objects received: 0)",
                "flush idle=false",
            ]
        );
    }

    #[test]
    fn a_fatal_line_from_the_node_ends_the_job_through_the_transport() {
        let (transport, _log) = script(vec![Some((1, vec![Message::Heartbeat]))]);
        let (_mailbox, inbox) = Mailbox::new(transport.doorbell());
        let node = Recorder { fatal_at_flush: Some("heard nothing".into()), ..Recorder::default() };
        let ended =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(node, transport, inbox)));
        let payload = ended.expect_err("the transport ends the job");
        assert_eq!(
            payload.downcast_ref::<String>().map(String::as_str),
            Some("fatal: heard nothing")
        );
    }

    #[test]
    fn a_raw_ping_pong_on_a_transport_without_probes_is_answered_with_none() {
        let (transport, log) = script(vec![Some((1, vec![Message::Shutdown]))]);
        let (mailbox, inbox) = Mailbox::new(transport.doorbell());
        let (reply, answer) = mpsc::channel();
        let test = RawPingPong { bytes: 8, echo_bytes: 8, iterations: 1 };
        mailbox.probe(ProbeCall::RawPingPong { test, reply });
        run(Recorder::default(), transport, inbox);
        assert_eq!(answer.recv().unwrap(), None);
        assert_eq!(log.lock().unwrap().sent, [(1, vec!["RawPingPong"])]);
    }

    /// Waits (yielding, with no timing) until `holds`.
    fn until(holds: impl Fn() -> bool) {
        while !holds() {
            std::thread::yield_now();
        }
    }

    fn noted(events: &Mutex<Vec<String>>, event: &str) -> bool {
        events.lock().unwrap().iter().any(|e| e == event)
    }

    #[test]
    fn a_driver_with_nothing_to_do_sleeps_on_the_bell_and_a_ring_wakes_it_not_the_loop_s_thread() {
        // On busy cores the driver may give the loop back before it sleeps as its driver: the
        // scenario is then tried again. A driver that never sleeps on the bell fails every try.
        let tried = (0..20).find(|_| a_driver_sleeps_on_the_bell_and_a_ring_wakes_it());
        assert!(tried.is_some(), "in 20 tries the driver never slept on the bell as the driver");
    }

    /// One try of the test above: false if the driver left before it slept as the driver.
    fn a_driver_sleeps_on_the_bell_and_a_ring_wakes_it() -> bool {
        let (transport, log) = script(vec![]);
        log.lock().unwrap().sleep = true;
        let bell = transport.doorbell();
        let (mailbox, inbox) = Mailbox::new(Arc::clone(&bell));
        let node = Recorder::default();
        let events = Arc::clone(&node.events);
        let rank = Loop::new(node, transport, inbox, Some(&mailbox));
        let loop_thread = {
            let rank = Arc::clone(&rank);
            std::thread::Builder::new().name("loop".into()).spawn(move || rank.run()).unwrap()
        };
        let driver = {
            let (mailbox, events) = (mailbox.clone(), Arc::clone(&events));
            std::thread::Builder::new()
                .name("driver".into())
                .spawn(move || mailbox.call(None, &mut || noted(&events, "command 7 on driver")))
                .unwrap()
        };
        // The driver runs an idle round, then sleeps on the bell instead of leaving.
        until(|| bell.driver_sleeping() || driver.is_finished());
        let slept = !driver.is_finished();
        mailbox.send(7);
        if !slept {
            until(|| noted(&events, "command 7"));
        }
        driver.join().unwrap();
        if slept {
            assert!(noted(&events, "command 7 on driver"), "the driver's round took the command");
            assert!(!bell.driven(), "and it stopped driving once it was done");
        }
        log.lock().unwrap().incoming.push_back(Some((1, vec![Message::Shutdown])));
        bell.ring_peer();
        loop_thread.join().unwrap();
        assert!(log.lock().unwrap().closed, "the loop's thread ran again once rung");
        if slept {
            assert!(!events.lock().unwrap().iter().any(|e| e.starts_with("command 7 on loop")));
        }
        slept
    }

    #[test]
    fn a_caller_that_finds_a_driver_queues_its_command_for_it_and_returns() {
        // On busy cores a driver may leave the loop before the caller comes (to the loop's own
        // thread, which held it, or because the caller's wish to drive reached it first): then
        // the command runs elsewhere and the scenario is tried again. A caller that never left
        // its command to the driver fails every try; none waits past its command (the hang
        // this test once had: a caller that found no driver drove, waiting for nothing).
        let tried = (0..20).find(|_| {
            let (transport, log) = script(vec![]);
            log.lock().unwrap().sleep = true;
            let bell = transport.doorbell();
            let (mailbox, inbox) = Mailbox::new(Arc::clone(&bell));
            let node = Recorder::default();
            let events = Arc::clone(&node.events);
            let _rank = Loop::new(node, transport, inbox, Some(&mailbox));
            let driver = {
                let (mailbox, events) = (mailbox.clone(), Arc::clone(&events));
                std::thread::Builder::new()
                    .name("driver".into())
                    .spawn(move || {
                        mailbox.call(None, &mut || noted(&events, "command 8 on driver"))
                    })
                    .unwrap()
            };
            until(|| bell.driver_sleeping() || driver.is_finished());
            if driver.is_finished() {
                return false; // it gave the loop up before sleeping as its driver
            }
            // Returns without the loop (the driver holds it), having queued and rung; never
            // waits past command 8, wherever it ran.
            mailbox.call(Some(8), &mut || noted(&events, "command 8"));
            until(|| noted(&events, "command 8"));
            driver.join().unwrap();
            noted(&events, "command 8 on driver")
        });
        assert!(tried.is_some(), "in 20 tries the driver never ran the caller's command");
    }

    #[test]
    fn a_mailbox_rings_its_loop_and_drops_commands_once_the_loop_is_gone() {
        let bell = Doorbell::new();
        let (mailbox, inbox) = Mailbox::<u32>::new(Arc::clone(&bell));
        mailbox.clone().send(1);
        assert!(bell.take(), "a command wakes the loop");
        assert!(matches!(inbox.try_recv(), Ok(Input::Command(1))));
        drop(inbox);
        mailbox.send(2);
        assert!(!bell.take(), "nobody to wake");
    }

    #[test]
    fn an_outbox_groups_messages_by_destination_in_the_order_of_first_send() {
        let mut out = Outbox::new(0, 3);
        let object = Object { type_fp: 1, bytes: Arc::new(vec![0; 5].into()) };
        out.send(2, Message::Data { id: id(0), object });
        out.send(1, Message::Heartbeat);
        out.send(2, Message::Shutdown);
        let drained: Vec<(Rank, Vec<&str>)> =
            out.drain().map(|(to, b)| (to, b.iter().map(Message::kind).collect())).collect();
        assert_eq!(drained, [(2, vec!["Data", "Shutdown"]), (1, vec!["Heartbeat"])]);
        assert_eq!(out.drain().count(), 0, "each batch goes once");
        let counted = out.stats.peer(2);
        assert_eq!((counted.objects_sent, counted.bytes_sent), (1, 5), "only objects count");
        assert_eq!(out.stats.peer(1).objects_sent, 0);
    }
}
