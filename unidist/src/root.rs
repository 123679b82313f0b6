//! The root's state: where every object lives, which tasks are running, who waits for what.
//!
//! Rank 0 keeps a directory of every object (named by the root or by a task on a worker): its
//! holders (the rank that makes it first, then every rank a copy was sent to), whether it is
//! done, how many submitted tasks still need it, and whether its last ref was dropped. An object
//! is freed, on every holder, once its last ref is gone, it is done and no submitted task needs
//! it: never earlier. Objects in the root's own store go at once; the [`GarbageCollector`] tells
//! the workers, in batches.

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::event_loop::{Node, Outbox};
use crate::garbage_collector::{GarbageCollector, GcConfig};
use crate::heartbeat::Heartbeat;
use crate::id::ObjectId;
use crate::id::Rank;
use crate::object::Object;
use crate::object_store::ObjectStore;
use crate::protocol::{Message, Task};
use crate::reply::{Answer, Reply};
use crate::scheduler::{HostAware, RoundRobin};
use crate::stats::RankStats;

/// A call of the API by a thread of the root's program, for the root's loop.
pub(crate) enum Command {
    /// Run `task` on worker `rank`, picked by the caller when it called `remote` (so that
    /// [`schedule_rank`](crate::schedule_rank) tells where its next task goes).
    Submit { task: Task, rank: Rank },
    /// Store a value given to `put`.
    Put { id: ObjectId, object: Object },
    /// Reply with the objects once they are all here.
    Get { ids: Vec<ObjectId>, reply: Reply },
    /// Reply with which objects are done once at least `num_returns` are.
    Wait { ids: Vec<ObjectId>, num_returns: usize, reply: Reply },
    /// The last ref of an object was dropped.
    Release(ObjectId),
    /// Reply with every rank's transfer counters.
    Stats { reply: Sender<Vec<RankStats>> },
    /// Stop every worker, then the root's loop.
    Shutdown,
}

struct Entry {
    /// `holders[0]` makes the object or holds the original; the others got copies.
    holders: Vec<Rank>,
    done: bool,
    /// A transfer to the root has been asked for.
    fetching: bool,
    /// Submitted tasks, not yet done, that take the object as an input.
    consumers: u32,
    released: bool,
    /// The object's encoded bytes, once the root learns them (0 until then).
    bytes: u64,
    get_waiters: Vec<u64>,
    wait_waiters: Vec<u64>,
}

impl Entry {
    fn new(holder: Rank, done: bool, bytes: u64) -> Entry {
        Entry {
            holders: vec![holder],
            done,
            fetching: false,
            consumers: 0,
            released: false,
            bytes,
            get_waiters: Vec::new(),
            wait_waiters: Vec::new(),
        }
    }
}

struct RunningTask {
    inputs: Vec<ObjectId>,
    num_returns: u32,
    /// The worker it runs on.
    rank: Rank,
}

enum Waiter {
    Get { remaining: usize, ids: Vec<ObjectId>, reply: Reply },
    Wait { remaining: usize, ids: Vec<ObjectId>, to: WaitFor },
}

/// Who a `wait` answers: a thread of the root, or a task on a worker.
enum WaitFor {
    Here(Reply),
    Worker { rank: Rank, request: u64 },
}

struct StatsCall {
    first_round: bool,
    collected: Vec<RankStats>,
    reply: Sender<Vec<RankStats>>,
}

pub(crate) struct Root {
    size: usize,
    scheduler: Arc<RoundRobin>,
    store: ObjectStore,
    objects: HashMap<ObjectId, Entry>,
    running: HashMap<ObjectId, RunningTask>,
    waiters: HashMap<u64, Waiter>,
    next_waiter: u64,
    stats_calls: VecDeque<StatsCall>,
    /// Objects to free on the workers, sent in batches.
    garbage: GarbageCollector,
    /// Answers to the `wait`s of tasks, sent once per round.
    answers: Vec<(Rank, Message)>,
    finished: bool,
    /// When a task last called the API through the root (submitted a task, fetched, waited).
    last_task_call: Instant,
    /// When the last task finished, and the usual time between two tasks finishing (a moving
    /// average over about the last eight).
    last_done: Instant,
    done_gap: Duration,
    /// Watches the workers under MPI (see `heartbeat`).
    heartbeat: Option<Heartbeat>,
    /// Moves tasks with large inputs to their inputs' host (`UNIDIST_SCHEDULER=host-aware`).
    placement: Option<HostAware>,
}

/// Tasks that finish further apart than this are slow enough for the root to leave them the CPU.
const SLOW_TASKS: Duration = Duration::from_micros(100);

/// The root stays urgent this long after a task's last call through it.
const NESTED_QUIET: Duration = Duration::from_millis(10);

impl Root {
    pub(crate) fn new(size: usize, scheduler: Arc<RoundRobin>, gc: GcConfig) -> Root {
        Root {
            size,
            scheduler,
            store: ObjectStore::default(),
            objects: HashMap::new(),
            running: HashMap::new(),
            waiters: HashMap::new(),
            next_waiter: 0,
            stats_calls: VecDeque::new(),
            garbage: GarbageCollector::new(size, gc),
            answers: Vec::new(),
            finished: false,
            last_task_call: Instant::now() - NESTED_QUIET,
            last_done: Instant::now(),
            done_gap: Duration::ZERO,
            heartbeat: None,
            placement: None,
        }
    }

    /// Places tasks with large inputs on their inputs' host (see `scheduler::HostAware`).
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    pub(crate) fn with_placement(mut self, placement: Option<HostAware>) -> Root {
        self.placement = placement;
        self
    }

    /// Watches every worker with `heartbeat`.
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    pub(crate) fn with_heartbeat(mut self, heartbeat: Option<Heartbeat>) -> Root {
        self.heartbeat = heartbeat;
        self
    }

    fn entry(&mut self, id: ObjectId) -> &mut Entry {
        // A ref keeps its entry alive, and every call naming an object comes from a ref.
        self.objects
            .get_mut(&id)
            .unwrap_or_else(|| panic!("unidist: the root has no record of object {id}"))
    }

    /// Sends `task` to worker `rank`, or to the next worker of the cycle; returns that worker.
    fn submit(&mut self, task: Task, rank: Option<Rank>, out: &mut Outbox) -> Rank {
        let mut rank = rank.unwrap_or_else(|| self.scheduler.next());
        if let Some(placement) = &mut self.placement {
            rank = placement.place(rank, largest_input(&self.objects, &task, rank));
            placement.started(rank);
        }
        let mut inputs = Vec::new();
        for arg in &task.args {
            for &id in arg.ids() {
                inputs.push(id);
                self.entry(id).consumers += 1;
                self.send_to(id, rank, out);
            }
        }
        for k in 0..task.num_returns as usize {
            self.objects.insert(task.first_output.offset(k), Entry::new(rank, false, 0));
        }
        self.running
            .insert(task.first_output, RunningTask { inputs, num_returns: task.num_returns, rank });
        crate::log::event!(debug, task = %task.first_output, function = task.function, worker = rank, "task submitted");
        out.send(rank, Message::Submit(task));
        rank
    }

    /// Has object `id` sent to `rank` unless it holds it or it is on its way there: from the
    /// root's store if the root has it (so it arrives ahead of whatever the root sends `rank`
    /// next), else from the rank that makes it, as soon as it is made.
    fn send_to(&mut self, id: ObjectId, rank: Rank, out: &mut Outbox) {
        let entry = self.entry(id);
        if entry.holders.contains(&rank) {
            return;
        }
        entry.holders.push(rank);
        let source = entry.holders[0];
        match self.store.get(id) {
            Some(object) => out.send(rank, Message::Data { id, object: object.clone() }),
            None => out.send(source, Message::Transfer { id, to: rank }),
        }
    }

    fn get(&mut self, ids: Vec<ObjectId>, reply: Reply, out: &mut Outbox) {
        let waiter = self.next_waiter;
        let mut remaining = 0;
        for &id in &ids {
            if self.store.contains(id) {
                continue;
            }
            remaining += 1;
            let entry = self.entry(id);
            entry.get_waiters.push(waiter);
            if !entry.fetching {
                entry.fetching = true;
                out.send(entry.holders[0], Message::Transfer { id, to: 0 });
            }
        }
        if remaining == 0 {
            self.reply_get(ids, reply);
        } else {
            self.next_waiter += 1;
            self.waiters.insert(waiter, Waiter::Get { remaining, ids, reply });
        }
    }

    fn reply_get(&self, ids: Vec<ObjectId>, reply: Reply) {
        let objects = ids.iter().map(|id| self.store.get(*id).expect("fetched").clone()).collect();
        reply.send(Answer::Objects(objects));
    }

    fn wait(&mut self, ids: Vec<ObjectId>, num_returns: usize, to: WaitFor) {
        let done = ids.iter().filter(|id| self.entry(**id).done).count();
        if done >= num_returns {
            return self.answer_wait(&ids, to);
        }
        let waiter = self.next_waiter;
        self.next_waiter += 1;
        for &id in &ids {
            let entry = self.entry(id);
            if !entry.done {
                entry.wait_waiters.push(waiter);
            }
        }
        self.waiters.insert(waiter, Waiter::Wait { remaining: num_returns - done, ids, to });
    }

    fn answer_wait(&mut self, ids: &[ObjectId], to: WaitFor) {
        let flags = ids.iter().map(|id| self.objects.get(id).is_some_and(|e| e.done)).collect();
        match to {
            WaitFor::Here(reply) => reply.send(Answer::Flags(flags)),
            WaitFor::Worker { rank, request } => {
                self.answers.push((rank, Message::WaitDone { request, flags }))
            }
        }
    }

    /// Marks an object done and wakes the `wait`s that counted on it.
    fn mark_done(&mut self, id: ObjectId) {
        let Some(entry) = self.objects.get_mut(&id) else { return };
        if entry.done {
            return;
        }
        entry.done = true;
        for waiter in std::mem::take(&mut entry.wait_waiters) {
            if let Some(Waiter::Wait { remaining, .. }) = self.waiters.get_mut(&waiter) {
                *remaining -= 1;
                if *remaining == 0 {
                    if let Some(Waiter::Wait { ids, to, .. }) = self.waiters.remove(&waiter) {
                        self.answer_wait(&ids, to);
                    }
                }
            }
        }
    }

    fn arrived(&mut self, id: ObjectId, object: Object) {
        let Some(entry) = self.objects.get_mut(&id) else { return };
        entry.fetching = false;
        entry.bytes = object.len() as u64;
        if !entry.holders.contains(&0) {
            entry.holders.push(0);
        }
        let waiters = std::mem::take(&mut entry.get_waiters);
        self.store.insert(id, object);
        self.mark_done(id);
        for waiter in waiters {
            if let Some(Waiter::Get { remaining, .. }) = self.waiters.get_mut(&waiter) {
                *remaining -= 1;
                if *remaining == 0 {
                    if let Some(Waiter::Get { ids, reply, .. }) = self.waiters.remove(&waiter) {
                        self.reply_get(ids, reply);
                    }
                }
            }
        }
        self.try_free(id);
    }

    /// A task has finished; `sizes` are the bytes of its results.
    fn task_done(&mut self, first_output: ObjectId, sizes: &[u64]) {
        let Some(task) = self.running.remove(&first_output) else { return };
        if let Some(placement) = &mut self.placement {
            placement.finished(task.rank);
        }
        crate::log::event!(debug, task = %first_output, "task done");
        let now = Instant::now();
        self.done_gap = (self.done_gap * 7 + (now - self.last_done)) / 8;
        self.last_done = now;
        for k in 0..task.num_returns as usize {
            let id = first_output.offset(k);
            if let (Some(entry), Some(bytes)) = (self.objects.get_mut(&id), sizes.get(k)) {
                entry.bytes = *bytes;
            }
            self.mark_done(id);
            self.try_free(id);
        }
        for id in task.inputs {
            if let Some(entry) = self.objects.get_mut(&id) {
                entry.consumers -= 1;
            }
            self.try_free(id);
        }
    }

    fn release(&mut self, id: ObjectId) {
        if let Some(entry) = self.objects.get_mut(&id) {
            entry.released = true;
        }
        self.try_free(id);
    }

    /// Frees an object once nothing can need it any more.
    fn try_free(&mut self, id: ObjectId) {
        let Some(entry) = self.objects.get(&id) else { return };
        if !(entry.released && entry.done && entry.consumers == 0 && !entry.fetching) {
            return;
        }
        let entry = self.objects.remove(&id).expect("present");
        for holder in entry.holders {
            if holder == 0 {
                self.store.remove(id);
            } else {
                self.garbage.free(holder, id, entry.bytes);
            }
        }
    }

    /// Asks every worker for its statistics, after every pending cleanup: so the counts show
    /// every object freed so far.
    fn request_stats(&mut self, out: &mut Outbox) {
        self.garbage.send_all(out);
        for worker in 1..self.size {
            self.answers.push((worker, Message::StatsRequest));
        }
    }

    /// Statistics calls are answered one at a time, in two rounds: the first round's replies
    /// come after every earlier message of each worker (such as the `TaskDone` that lets an
    /// object be freed), the second round after the cleanups that round caused. So the counts
    /// include every drop made before the call.
    fn stats_reply(&mut self, mut stats: RankStats, out: &mut Outbox) {
        let size = self.size;
        let Some(call) = self.stats_calls.front_mut() else { return };
        stats.transfer = stats.transfer.without_self();
        call.collected.push(stats);
        if call.collected.len() + 1 < size {
            return;
        }
        if call.first_round {
            call.first_round = false;
            call.collected.clear();
            return self.request_stats(out);
        }
        let mut call = self.stats_calls.pop_front().expect("present");
        let own =
            RankStats { transfer: out.stats.clone().without_self(), memory: self.store.memory(0) };
        call.collected.push(own);
        call.collected.sort_by_key(|s| s.transfer.rank);
        let _ = call.reply.send(call.collected);
        if !self.stats_calls.is_empty() {
            self.request_stats(out);
        }
    }
}

impl Node for Root {
    type Command = Command;

    fn on_message(&mut self, from: Rank, message: Message, out: &mut Outbox) {
        if matches!(message, Message::Spawn(_) | Message::Fetch(_) | Message::WaitFor { .. }) {
            self.last_task_call = Instant::now();
        }
        match message {
            Message::Data { id, object } => self.arrived(id, object),
            Message::TaskDone { first_output, sizes } => self.task_done(first_output, &sizes),
            Message::Spawn(task) => {
                let (first_output, num_returns) = (task.first_output, task.num_returns);
                if self.submit(task, None, out) != from {
                    self.answers.push((from, Message::Placed { first_output, num_returns }));
                }
            }
            Message::Created { id, bytes } => {
                self.objects.insert(id, Entry::new(from, true, bytes));
            }
            Message::Fetch(ids) => {
                for id in ids {
                    self.send_to(id, from, out);
                }
            }
            Message::WaitFor { request, ids, num_returns } => {
                self.wait(ids, num_returns, WaitFor::Worker { rank: from, request })
            }
            Message::Release(ids) => {
                for id in ids {
                    self.release(id);
                }
            }
            Message::StatsReply(stats) => self.stats_reply(stats, out),
            Message::Heartbeat => {}
            other => eprintln!("unidist: the root ignored an unexpected {} message", other.kind()),
        }
    }

    fn on_command(&mut self, command: Command, out: &mut Outbox) {
        match command {
            Command::Submit { task, rank } => {
                self.submit(task, Some(rank), out);
            }
            Command::Put { id, object } => {
                let bytes = object.len() as u64;
                self.store.insert(id, object);
                self.objects.insert(id, Entry::new(0, true, bytes));
            }
            Command::Get { ids, reply } => self.get(ids, reply, out),
            Command::Wait { ids, num_returns, reply } => {
                self.wait(ids, num_returns, WaitFor::Here(reply))
            }
            Command::Release(id) => self.release(id),
            Command::Stats { reply } => {
                self.stats_calls.push_back(StatsCall {
                    first_round: true,
                    collected: Vec::new(),
                    reply,
                });
                if self.stats_calls.len() == 1 {
                    self.request_stats(out);
                }
            }
            Command::Shutdown => {
                // Outstanding cleanups first: the workers free everything before they stop.
                self.garbage.send_all(out);
                for worker in 1..self.size {
                    out.send(worker, Message::Shutdown);
                }
                self.finished = true;
            }
        }
    }

    fn heard(&mut self, from: Rank) {
        if let Some(heartbeat) = &mut self.heartbeat {
            heartbeat.heard(from);
        }
    }

    fn flush(&mut self, out: &mut Outbox, idle: bool) {
        if let Some(heartbeat) = &mut self.heartbeat {
            if heartbeat.due() {
                for worker in 1..self.size {
                    out.send(worker, Message::Heartbeat);
                }
            }
            if let Some(line) = heartbeat.silent() {
                out.fatal = Some(line);
            }
        }
        // Cleanups first: a statistics request among the answers must come after them.
        if idle {
            // Nothing else to do: an idle job holds no garbage.
            self.garbage.send_all(out);
        } else {
            self.garbage.send_due(out);
        }
        for (rank, message) in self.answers.drain(..) {
            out.send(rank, message);
        }
    }

    fn finished(&self) -> bool {
        self.finished
    }

    /// The root waits on the network while tasks submit tasks or wait (each such call waits for
    /// the root), and while a caller waits for an answer, unless every worker has a queue of
    /// tasks that take a while each: then results come at the pace of those tasks, and a reply a
    /// millisecond late leaves no worker idle while the root leaves the CPU to them.
    fn urgent(&self) -> bool {
        if !self.stats_calls.is_empty() || self.last_task_call.elapsed() < NESTED_QUIET {
            return true;
        }
        let saturated = self.running.len() > 2 * (self.size - 1) && self.done_gap > SLOW_TASKS;
        !self.waiters.is_empty() && !saturated
    }
}

/// The largest input of `task` whose size is known (it is done), and a rank holding it: the
/// worker `picked` if it holds it, else the rank that made it.
fn largest_input(
    objects: &HashMap<ObjectId, Entry>,
    task: &Task,
    picked: Rank,
) -> Option<(Rank, u64)> {
    let mut largest: Option<(Rank, u64)> = None;
    for arg in &task.args {
        for id in arg.ids() {
            let Some(entry) = objects.get(id) else { continue };
            if !entry.done || largest.is_some_and(|(_, b)| b >= entry.bytes) {
                continue;
            }
            let holder = if entry.holders.contains(&picked) { picked } else { entry.holders[0] };
            largest = Some((holder, entry.bytes));
        }
    }
    largest
}
