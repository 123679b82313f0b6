//! The root's state: where every object lives, which tasks are running, who waits for what.
//!
//! Rank 0 keeps a directory of every object (named by the root or by a task on a worker): its
//! holders (the rank that makes it first, then every rank a copy was sent to), whether it is
//! done, how many submitted tasks still need it, and whether its last ref was dropped. An object
//! is freed, on every holder, once its last ref is gone, it is done and no submitted task needs
//! it: never earlier. Objects in the root's own store go at once; the [`GarbageCollector`] tells
//! the workers, in batches.
//!
//! It also moves queued tasks from busy workers to hungry ones (work stealing: `balance`,
//! `returned`, `place_moved`); a task is not tied to its worker until it starts there.

use std::collections::VecDeque;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustc_hash::{FxHashMap, FxHashSet};

use crate::event_loop::{Node, Outbox};
use crate::garbage_collector::{GarbageCollector, GcConfig};
use crate::heartbeat::Heartbeat;
use crate::id::{ObjectId, Rank};
use crate::in_flight::InFlight;
use crate::invoke::makes;
use crate::object::Object;
use crate::object_store::ObjectStore;
use crate::protocol::{Message, Task};
use crate::registry::FunctionMap;
use crate::reply::{Answer, Reply};
use crate::scheduler::{HostAware, RoundRobin};
use crate::stats::{FunctionCounts, RankStats, WorkerStats};
use crate::timeline::RankTimeline;

/// A call of the API by a thread of the root's program, for the root's loop.
pub(crate) enum Command {
    /// Run `task` on worker `rank`, picked by the caller when it called `remote` (so that
    /// [`schedule_rank`](crate::schedule_rank) tells where its next task goes).
    Submit { task: Task, rank: Rank },
    /// Store a value given to `put`.
    Put { id: ObjectId, object: Object },
    /// Reply with the objects once they are all here; a `token` lets the caller give up
    /// ([`Command::Forget`]).
    Get { ids: Vec<ObjectId>, reply: Reply, token: Option<u64> },
    /// Reply with which objects are done, and in what order they were, once at least
    /// `num_returns` are; a `token` lets a caller with a deadline give up ([`Command::WaitExpired`]).
    Wait { ids: Vec<ObjectId>, num_returns: usize, reply: Reply, token: Option<u64> },
    /// Reply at once with how many of the objects are done, and how many of those failed.
    Count { ids: Vec<ObjectId>, reply: Reply },
    /// The deadline of the `Wait` with this token has passed: answer it now with what is done
    /// (nothing if it was answered already).
    WaitExpired(u64),
    /// The caller of the `Get` or `Wait` with this token is gone (a dropped future): forget it
    /// unanswered.
    Forget(u64),
    /// The last ref of an object was dropped.
    Release(ObjectId),
    /// Cancel the tasks that make these objects (`unidist::cancel`).
    Cancel(Vec<ObjectId>),
    /// The root's program decoded a handle of this actor: one more owner of it.
    HoldActor(ObjectId),
    /// Reply with every rank's counters; the workers' peaks of tasks held count anew after it
    /// if `reset_peaks`.
    Stats { reply: Sender<Vec<RankStats>>, reset_peaks: bool },
    /// Start or stop recording the timeline on every worker (the root's process has).
    Record(bool),
    /// Reply with what every rank recorded, each worker's clock aligned to the root's.
    Timeline { reply: Sender<Vec<RankTimeline>> },
    /// Stop every worker, then the root's loop.
    Shutdown,
}

struct Entry {
    /// `holders[0]` makes the object or holds the original; the others got copies.
    holders: Vec<Rank>,
    done: bool,
    /// When it became done, counted over the job's objects from 1 (0: made done, a `put`).
    order: u64,
    /// A transfer to the root has been asked for.
    fetching: bool,
    /// Submitted tasks, not yet done, that take the object as an input.
    consumers: u32,
    released: bool,
    /// A task on the rank that makes it (`holders[0]`), or a `get` there, reads it: were the
    /// task that makes it to move, that rank needs a copy.
    maker_reads: bool,
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
            order: 0,
            fetching: false,
            consumers: 0,
            released: false,
            maker_reads: false,
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
    /// Its caller chose that worker: it never moves.
    pinned: bool,
    /// Actors it holds a lease on (see `Task::leases`).
    leases: Vec<ObjectId>,
    /// It ends an actor: it is never cancelled (the actor's state must go).
    ends_actor: bool,
}

enum Waiter {
    Get { remaining: usize, ids: Vec<ObjectId>, reply: Reply, token: Option<Token> },
    Wait { remaining: usize, ids: Vec<ObjectId>, to: WaitFor, token: Option<Token> },
}

/// The root keeps its copy of a result fetched for a `get` only below this size (see
/// `Root::drop_fetched_copies`).
const KEEP_FETCHED_BELOW: u64 = 1 << 20;

/// Names a `get` or `wait` that its caller may give up: the caller's rank, and the token the
/// root's program chose or the request number of a task's worker.
type Token = (Rank, u64);

/// Who a `wait` answers: a thread of the root, or a task on a worker.
enum WaitFor {
    Here(Reply),
    Worker { rank: Rank, request: u64 },
}

/// Whether the root may ask a worker to give back queued tasks (`Message::Reclaim`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reclaim {
    Open,
    /// Asked; its answer has not come.
    Asked,
    /// It gave none back at that time (its surplus waits for inputs, or runs): it is not
    /// asked again until its load changes or, at the root's next round, [`ASK_AGAIN`] has
    /// passed. (It gives what it owes as tasks become ready, unasked.)
    Dry(Instant),
}

/// How long the root leaves a worker that gave nothing back before it asks again, while
/// another worker is hungry.
const ASK_AGAIN: Duration = Duration::from_millis(10);

/// A task a worker gave back, not placed again yet.
struct Spare {
    task: Task,
    /// The worker that gave it back.
    from: Rank,
}

/// A gathering of the timeline: each worker's clock is probed [`CLOCK_PROBES`] times, then
/// asked for its events.
struct TimelineCall {
    reply: Sender<Vec<RankTimeline>>,
    /// By rank (the root's entry is unused).
    clocks: Vec<Clock>,
    gathered: Vec<RankTimeline>,
}

/// The probes of one worker's clock.
#[derive(Debug, Default, Clone, Copy)]
struct Clock {
    /// When the probe on its way went, on the root's clock.
    sent_at: u64,
    /// Probes still to send after it.
    left: u32,
    /// The shortest round trip so far, and the offset it gave.
    best: Option<(u64, i64)>,
}

/// Round trips per worker when the root aligns clocks: the shortest gives the offset.
const CLOCK_PROBES: u32 = 5;

struct StatsCall {
    first_round: bool,
    /// A `worker_stats` call: the workers' peaks count anew after it.
    reset_peaks: bool,
    collected: Vec<RankStats>,
    reply: Sender<Vec<RankStats>>,
}

pub(crate) struct Root {
    size: usize,
    scheduler: Arc<RoundRobin>,
    store: ObjectStore,
    objects: FxHashMap<ObjectId, Entry>,
    running: FxHashMap<ObjectId, RunningTask>,
    waiters: FxHashMap<u64, Waiter>,
    next_waiter: u64,
    /// The waiters of `get`s and `wait`s that their caller may give up, by the caller's
    /// [`Token`].
    timed: FxHashMap<Token, u64>,
    /// Objects that have become done so far (their `order`).
    completed: u64,
    /// Tasks submitted so far, by function ID (see `unidist::function_stats`).
    submitted: FunctionMap<u64>,
    /// Objects that are done as failures (an error in place of the value), until freed: kept
    /// beside `objects`, whose entries a flag would make larger for every object.
    failed: FxHashSet<ObjectId>,
    stats_calls: VecDeque<StatsCall>,
    timeline_calls: VecDeque<TimelineCall>,
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
    /// Task slots of each worker, by rank (none on the root).
    slots: Vec<usize>,
    /// Tasks placed on each worker and not done yet, by rank.
    assigned: Vec<usize>,
    /// Of those, the pinned ones (they never move), by rank.
    pinned: Vec<usize>,
    /// Whether each worker may be asked for queued tasks, by rank.
    reclaim: Vec<Reclaim>,
    /// Workers that said they have a free slot and nothing to run (`Message::Idle`) and have
    /// been sent no task since, by rank.
    hungry: Vec<bool>,
    /// `Submit`s sent to each worker, by rank: an `Idle` sent before the last is stale.
    submits: Vec<u64>,
    /// Tasks given back and not placed again yet, for the next hungry workers.
    spare: VecDeque<Spare>,
    /// Places of the tasks of the root's program in flight, given back as each is done.
    in_flight: Option<Arc<InFlight>>,
    /// Tasks asked to cancel and not done yet, by first result: a task placed again (given
    /// back by its worker) is sent its `Cancel` again after its `Submit`.
    cancelling: FxHashSet<ObjectId>,
    /// The actors of the job that have not been sent their last call, by actor (see
    /// `protocol::ActorCall`).
    actors: FxHashMap<ObjectId, ActorEntry>,
}

/// What the root knows of one actor.
struct ActorEntry {
    /// The worker it lives on: every call goes there.
    rank: Rank,
    /// It has that worker to itself (`remote_exclusive`): the worker is reserved until its end.
    exclusive: bool,
    /// The number of its next call.
    next: u64,
    /// Tasks submitted and not done that carry a handle of it in their arguments.
    leases: u32,
    /// Groups of handles (a handle and its clones) that exist: the one `remote` made, and one per
    /// decoding of a handle (in a task, an actor's state, the root's program).
    owners: u32,
    /// Its last group of handles was dropped while tasks held leases: this release call goes
    /// once the last of them is done, unless a task decodes a handle first.
    release: Option<Task>,
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
            objects: FxHashMap::default(),
            running: FxHashMap::default(),
            waiters: FxHashMap::default(),
            next_waiter: 0,
            timed: FxHashMap::default(),
            submitted: FunctionMap::default(),
            failed: FxHashSet::default(),
            completed: 0,
            stats_calls: VecDeque::new(),
            timeline_calls: VecDeque::new(),
            garbage: GarbageCollector::new(size, gc),
            answers: Vec::new(),
            finished: false,
            last_task_call: Instant::now() - NESTED_QUIET,
            last_done: Instant::now(),
            done_gap: Duration::ZERO,
            heartbeat: None,
            placement: None,
            slots: (0..size).map(|rank| usize::from(rank > 0)).collect(),
            assigned: vec![0; size],
            pinned: vec![0; size],
            reclaim: vec![Reclaim::Open; size],
            hungry: vec![false; size],
            submits: vec![0; size],
            spare: VecDeque::new(),
            in_flight: None,
            cancelling: FxHashSet::default(),
            actors: FxHashMap::default(),
        }
    }

    /// Each worker runs `slots[rank]` tasks at once (one each by default).
    pub(crate) fn with_slots(mut self, slots: Vec<usize>) -> Root {
        assert_eq!(slots.len(), self.size, "one count of slots per rank");
        self.slots = slots;
        self
    }

    /// Gives `in_flight` a place back as each task of the root's program is done.
    pub(crate) fn with_in_flight(mut self, in_flight: Arc<InFlight>) -> Root {
        self.in_flight = Some(in_flight);
        self
    }

    /// A task is done (run, or answered here): if the root's program submitted it, its place
    /// among the tasks in flight is free.
    fn free_place(&self, first_output: ObjectId) {
        if first_output.origin() == 0 {
            if let Some(in_flight) = &self.in_flight {
                in_flight.done();
            }
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
    fn submit(&mut self, mut task: Task, rank: Option<Rank>, out: &mut Outbox) -> Rank {
        *self.submitted.entry(task.function).or_default() += 1;
        // An actor's call goes where the actor lives: it takes no step of the cycle.
        let call = task.actor_call().filter(|c| c.actor != task.first_output);
        let mut rank =
            rank.unwrap_or_else(|| if call.is_some() { 1 } else { self.scheduler.next() });
        if task.actor_call().is_some() {
            match self.actor_call(task, rank) {
                Ok((numbered, at)) => (task, rank) = (numbered, at),
                Err(answered) => return answered,
            }
        }
        if let Some(placement) = &mut self.placement {
            // A task whose caller named its worker (or an actor's call) stays there; no task
            // moves to a worker kept for an actor of its own.
            if !task.chosen && task.actor_call().is_none() {
                let placed = placement.place(rank, largest_input(&self.objects, &task, rank));
                if !self.scheduler.is_reserved(placed) {
                    rank = placed;
                }
            }
            placement.started(rank);
        }
        self.assigned[rank] += 1;
        self.pinned[rank] += usize::from(task.pinned);
        self.hungry[rank] = false;
        self.submits[rank] += 1;
        self.load_changed(rank);
        let mut inputs = Vec::new();
        for arg in &task.args {
            for &id in arg.ids() {
                inputs.push(id);
                self.entry(id).consumers += 1;
                self.send_to(id, rank, out);
            }
        }
        for k in 0..task.num_returns as usize {
            let id = task.first_output.offset(k);
            let mut entry = Entry::new(rank, false, 0);
            // A release call the root held back has entries already, maybe released.
            entry.released = self.objects.get(&id).is_some_and(|e| e.released);
            self.objects.insert(id, entry);
        }
        let mut leases = Vec::new();
        for &actor in task.leases() {
            if let Some(entry) = self.actors.get_mut(&actor) {
                entry.leases += 1;
                leases.push(actor);
            }
        }
        self.running.insert(
            task.first_output,
            RunningTask {
                inputs,
                num_returns: task.num_returns,
                rank,
                pinned: task.pinned,
                leases,
                ends_actor: crate::actor::ends(task.function),
            },
        );
        crate::log::event!(debug, task = %task.first_output, function = %crate::registry::name_of(task.function), worker = rank, "task submitted");
        out.send(rank, Message::Submit(task));
        rank
    }

    /// An actor's call, before it is sent: a constructor records its actor on `rank`; a later
    /// call goes to the actor's worker with the next number (the last one forgets the actor).
    /// `Err` with the rank to report when the call is not sent now: failed or completed here,
    /// or a release held back until tasks that carry handles are done.
    fn actor_call(&mut self, mut task: Task, rank: Rank) -> Result<(Task, Rank), Rank> {
        // An actor's calls never move: all go to its worker, numbered in arrival order.
        task.pinned = true;
        let exclusive = task.actors.as_ref().is_some_and(|a| a.exclusive);
        let call = task.actors.as_mut().and_then(|a| a.call.as_mut()).expect("an actor's call");
        if call.actor == task.first_output {
            call.number = 0;
            if exclusive {
                self.scheduler.reserve(rank, true);
            }
            let actor =
                ActorEntry { rank, exclusive, next: 1, owners: 1, leases: 0, release: None };
            self.actors.insert(call.actor, actor);
            return Ok((task, rank));
        }
        let Some(actor) = self.actors.get_mut(&call.actor) else {
            // It ended: the root forgot it when it sent its last call.
            self.fail_call(&task);
            return Err(0);
        };
        let rank = actor.rank;
        if task.function == crate::actor::RELEASE {
            actor.owners = actor.owners.saturating_sub(1);
            if actor.owners > 0 {
                // Other handles live: this group's release changes nothing.
                self.complete_at_root(&task, Object::encode(&()).expect("() encodes"));
                return Err(0);
            }
            if actor.leases > 0 {
                // Tasks still carry handles of it: it ends after them.
                for k in 0..task.num_returns as usize {
                    let id = task.first_output.offset(k);
                    self.objects.insert(id, Entry::new(rank, false, 0));
                }
                crate::log::event!(debug, actor = %call.actor, leases = actor.leases, "actor's release held back");
                actor.release = Some(task);
                return Err(rank);
            }
        }
        call.number = actor.next;
        actor.next += 1;
        if crate::actor::ends(task.function) {
            // Its last call: later ones fail, and tasks' leases on it lapse.
            let ended = self.actors.remove(&call.actor).expect("present");
            if ended.exclusive {
                self.scheduler.reserve(ended.rank, false);
            }
            if let Some(release) = ended.release {
                // Killed while its release waited: that call fails instead.
                self.fail_call(&release);
            }
        }
        Ok((task, rank))
    }

    /// Places a task that a task of worker `from` submitted, on `worker` if it chose; tells
    /// `from` if it went elsewhere.
    fn spawn(&mut self, from: Rank, task: Task, worker: Option<Rank>, out: &mut Outbox) {
        let (first_output, num_returns) = (task.first_output, task.num_returns);
        if self.submit(task, worker, out) != from {
            self.answers.push((from, Message::Placed { first_output, num_returns }));
        }
    }

    /// A task decoded a handle of `actor`: one more group of handles owns it, and a release the
    /// root held back is moot.
    fn hold_actor(&mut self, actor: ObjectId) {
        let Some(entry) = self.actors.get_mut(&actor) else { return };
        entry.owners += 1;
        if let Some(release) = entry.release.take() {
            self.complete_at_root(&release, Object::encode(&()).expect("() encodes"));
        }
    }

    /// A call on an actor that has ended (or that the root never saw made): its results are
    /// errors, held here.
    fn fail_call(&mut self, task: &Task) {
        let method = crate::registry::name_of(task.function);
        let actor = task.actor_call().expect("an actor's call").actor;
        let error = crate::error::Error::ActorUnavailable {
            method,
            actor,
            reason: "the actor was killed (its last handle was dropped, or it was killed \
                     explicitly) before this call was made"
                .into(),
        };
        self.complete_at_root(task, Object::from_error(&error));
        crate::log::event!(debug, task = %task.first_output, "call on an ended actor failed");
    }

    /// Makes every result of `task`, which never runs, `object`, held here.
    fn complete_at_root(&mut self, task: &Task, object: Object) {
        self.free_place(task.first_output);
        for k in 0..task.num_returns as usize {
            let id = task.first_output.offset(k);
            let mut entry = Entry::new(0, true, object.len() as u64);
            entry.released = self.objects.get(&id).is_some_and(|e| e.released);
            if object.is_error() {
                self.failed.insert(id);
            }
            self.completed += 1;
            entry.order = self.completed;
            self.objects.insert(id, entry);
            self.store.insert(id, object.clone());
            self.try_free(id);
        }
    }

    /// Has object `id` sent to `rank` unless it holds it or it is on its way there: from the
    /// root's store if the root has it (so it arrives ahead of whatever the root sends `rank`
    /// next), else from the rank that makes it, as soon as it is made.
    fn send_to(&mut self, id: ObjectId, rank: Rank, out: &mut Outbox) {
        let entry = self.entry(id);
        if entry.holders.contains(&rank) {
            entry.maker_reads |= entry.holders[0] == rank && !entry.done;
            return;
        }
        entry.holders.push(rank);
        let source = entry.holders[0];
        match self.store.get(id) {
            Some(object) => out.send(rank, Message::Data { id, object: object.clone() }),
            None => out.send(source, Message::Transfer { id, to: rank }),
        }
    }

    fn get(&mut self, ids: Vec<ObjectId>, reply: Reply, token: Option<Token>, out: &mut Outbox) {
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
            let large = self.reply_get(&ids, reply);
            self.drop_fetched_copies(&large);
        } else {
            self.next_waiter += 1;
            if let Some(token) = token {
                self.timed.insert(token, waiter);
            }
            self.waiters.insert(waiter, Waiter::Get { remaining, ids, reply, token });
        }
    }

    /// Answers a `get` of `ids`, all in the store; returns those of them large enough that the
    /// root may not keep them (see [`Root::drop_fetched_copies`]).
    fn reply_get(&self, ids: &[ObjectId], reply: Reply) -> Vec<ObjectId> {
        let mut large = Vec::new();
        let objects = ids
            .iter()
            .map(|id| {
                let object = self.store.get(*id).expect("fetched");
                if object.len() as u64 >= KEEP_FETCHED_BELOW {
                    large.push(*id);
                }
                object.clone()
            })
            .collect();
        reply.complete(Answer::Objects(objects));
        large
    }

    /// After a `get` was answered: forgets the root's copies of the large objects among `ids`
    /// that it fetched from a worker and that no other `get` waits to read. The caller decodes
    /// its value from the copy it was handed, which is then freed: the root does not hold the
    /// encoded bytes beside the value for as long as the ref lives (a later `get` fetches the
    /// object again). Small objects, and objects the root holds the original of (`put`s, and
    /// results the root made itself), stay. On the local backend the copy is the worker's own
    /// bytes, so this saves no memory there, only a clone.
    fn drop_fetched_copies(&mut self, ids: &[ObjectId]) {
        for &id in ids {
            let Some(entry) = self.objects.get(&id) else { continue };
            if entry.bytes < KEEP_FETCHED_BELOW || entry.holders[0] == 0 || !self.store.contains(id)
            {
                continue;
            }
            let read_later = self
                .waiters
                .values()
                .any(|w| matches!(w, Waiter::Get { ids, .. } if ids.contains(&id)));
            if !read_later {
                self.store.remove(id);
                self.entry(id).holders.retain(|holder| *holder != 0);
            }
        }
    }

    fn wait(&mut self, ids: Vec<ObjectId>, num_returns: usize, to: WaitFor, token: Option<Token>) {
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
        if let Some(token) = token {
            self.timed.insert(token, waiter);
        }
        let remaining = num_returns - done;
        self.waiters.insert(waiter, Waiter::Wait { remaining, ids, to, token });
    }

    /// The caller of a `wait` gave up waiting: it gets what is done now.
    fn wait_expired(&mut self, token: Token) {
        let Some(waiter) = self.timed.remove(&token) else { return };
        if let Some(Waiter::Wait { ids, to, .. }) = self.waiters.remove(&waiter) {
            self.forget_wait(&ids, waiter);
            self.answer_wait(&ids, to);
        }
    }

    /// The caller of a `get` or `wait` is gone: its waiter goes, unanswered (the objects' lists
    /// of `get` waiters skip its number; a transfer asked for still comes).
    fn forget(&mut self, token: Token) {
        let Some(waiter) = self.timed.remove(&token) else { return };
        match self.waiters.remove(&waiter) {
            Some(Waiter::Wait { ids, .. }) => self.forget_wait(&ids, waiter),
            // Large copies it kept on the root for itself go now.
            Some(Waiter::Get { ids, .. }) => self.drop_fetched_copies(&ids),
            None => {}
        }
    }

    /// Takes an answered `wait`'s number out of the lists of its objects not done yet (a
    /// program that waits again and again on many objects, as `as_completed` does, would leave
    /// them growing).
    fn forget_wait(&mut self, ids: &[ObjectId], waiter: u64) {
        for id in ids {
            if let Some(entry) = self.objects.get_mut(id).filter(|e| !e.done) {
                entry.wait_waiters.retain(|w| *w != waiter);
            }
        }
    }

    fn answer_wait(&mut self, ids: &[ObjectId], to: WaitFor) {
        let done = |id: &ObjectId| self.objects.get(id).filter(|e| e.done);
        match to {
            WaitFor::Here(reply) => {
                let order = ids.iter().map(|id| done(id).map(|e| e.order)).collect();
                reply.complete(Answer::Ordered(order))
            }
            WaitFor::Worker { rank, request } => {
                let flags = ids.iter().map(|id| done(id).is_some()).collect();
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
        self.completed += 1;
        entry.order = self.completed;
        for waiter in std::mem::take(&mut entry.wait_waiters) {
            if let Some(Waiter::Wait { remaining, .. }) = self.waiters.get_mut(&waiter) {
                *remaining -= 1;
                if *remaining == 0 {
                    if let Some(Waiter::Wait { ids, to, token, .. }) = self.waiters.remove(&waiter)
                    {
                        if let Some(token) = token {
                            self.timed.remove(&token);
                        }
                        self.forget_wait(&ids, waiter);
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
                    if let Some(Waiter::Get { ids, reply, token, .. }) =
                        self.waiters.remove(&waiter)
                    {
                        if let Some(token) = token {
                            self.timed.remove(&token);
                        }
                        let large = self.reply_get(&ids, reply);
                        self.drop_fetched_copies(&large);
                    }
                }
            }
        }
        self.try_free(id);
    }

    /// Cancels the tasks that make `ids` (any result of each) and have not finished: the worker
    /// each was placed on ends it if it has not started, else marks it (see `Worker::cancel`).
    /// A task given back and waiting here for a worker goes back to the worker that gave it,
    /// followed by its `Cancel`; one given back meanwhile is sent its `Cancel` once placed.
    fn cancel(&mut self, ids: Vec<ObjectId>, out: &mut Outbox) {
        for id in ids {
            // Done, or no task's (a `put`): nothing to cancel.
            if !self.objects.get(&id).is_some_and(|e| !e.done) {
                continue;
            }
            let first = if self.running.contains_key(&id) {
                id
            } else {
                // Another result of a task than its first (or no task's: a `put`, or done).
                let running = self.running.iter();
                match running
                    .map(|(f, t)| (*f, t.num_returns))
                    .find(|&(f, n)| makes(f, n as usize, id))
                {
                    Some((first, _)) => first,
                    None => continue,
                }
            };
            if self.running[&first].ends_actor || !self.cancelling.insert(first) {
                continue;
            }
            crate::log::event!(debug, task = %first, "task cancelled");
            match self.spare.iter().position(|s| s.task.first_output == first) {
                Some(i) => {
                    let spare = self.spare.remove(i).expect("present");
                    let from = spare.from;
                    self.place_moved(spare, from, out);
                }
                None => {
                    let rank = self.running[&first].rank;
                    out.send(rank, Message::Cancel(vec![first]));
                }
            }
        }
    }

    /// A task has finished; `sizes` are the bytes of its results.
    fn task_done(&mut self, first_output: ObjectId, sizes: &[u64], failed: bool, out: &mut Outbox) {
        let Some(task) = self.running.remove(&first_output) else { return };
        self.free_place(first_output);
        if !self.cancelling.is_empty() {
            self.cancelling.remove(&first_output);
        }
        if let Some(placement) = &mut self.placement {
            placement.finished(task.rank);
        }
        self.assigned[task.rank] -= 1;
        self.pinned[task.rank] -= usize::from(task.pinned);
        self.load_changed(task.rank);
        crate::log::event!(debug, task = %first_output, "task done");
        let now = Instant::now();
        self.done_gap = (self.done_gap * 7 + (now - self.last_done)) / 8;
        self.last_done = now;
        for k in 0..task.num_returns as usize {
            let id = first_output.offset(k);
            if let (Some(entry), Some(bytes)) = (self.objects.get_mut(&id), sizes.get(k)) {
                entry.bytes = *bytes;
                if failed {
                    self.failed.insert(id);
                }
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
        for actor in task.leases {
            let Some(entry) = self.actors.get_mut(&actor) else { continue };
            entry.leases -= 1;
            if entry.leases == 0 {
                if let Some(release) = entry.release.take() {
                    // Its group was counted out when it was held back (no owner is left: a
                    // decoding since would have made it moot); now it is the last call.
                    let rank = entry.rank;
                    self.submit(release, Some(rank), out);
                }
            }
        }
    }

    /// Worker `rank` was given a task or finished one.
    fn load_changed(&mut self, rank: Rank) {
        // A hungry worker that gave nothing is asked again only after [`ASK_AGAIN`]: its tasks
        // wait for inputs, and asking at every change would double the messages of a chain.
        if matches!(self.reclaim[rank], Reclaim::Dry(_)) && !self.hungry[rank] {
            self.reclaim[rank] = Reclaim::Open;
        }
    }

    /// The next of `takers` after `after` in rank order (so that several share what comes)
    /// that may run `task`: with host-aware placement, one on the host of its large input.
    fn next_taker(&self, takers: &[bool], after: Rank, task: &Task) -> Option<Rank> {
        let workers = self.size - 1;
        (0..workers).map(|k| 1 + (after + k) % workers).find(|&rank| {
            takers[rank]
                && !self.scheduler.is_reserved(rank)
                && self.placement.as_ref().map_or(true, |placement| {
                    placement.allows(rank, largest_input(&self.objects, task, rank))
                })
        })
    }

    /// Work stealing, through the root. Each hungry worker (`Message::Idle`) first gets a task
    /// given back earlier and not placed yet; for each hungry worker left, the root asks a worker
    /// holding more tasks than slots, the fullest first, to give back half its surplus.
    /// Only tasks that have not started move (see `Message::Reclaim`). The root's count of a
    /// worker's tasks includes those waiting for inputs or blocked in `get`, so a worker may
    /// have fewer to give, or none.
    fn balance(&mut self, out: &mut Outbox) {
        let mut after = 0;
        for _ in 0..self.spare.len() {
            if !self.hungry.contains(&true) {
                break;
            }
            let spare = self.spare.pop_front().expect("counted");
            match self.next_taker(&self.hungry, after, &spare.task) {
                Some(rank) => {
                    self.place_moved(spare, rank, out);
                    after = rank;
                }
                None => self.spare.push_back(spare),
            }
        }
        let asked = self.reclaim.iter().filter(|r| **r == Reclaim::Asked).count();
        let hungry = self.hungry.iter().filter(|h| **h).count();
        let mut wanted = hungry.saturating_sub(asked);
        if wanted == 0 {
            return;
        }
        // A hungry worker may be asked too: it may have become busy since it said so (tasks
        // that waited for inputs got them), and only a `Submit` tells the root.
        let mut victims: Vec<(usize, Rank)> = (1..self.size)
            .filter(|&rank| hungry > usize::from(self.hungry[rank]))
            .filter(|&rank| match self.reclaim[rank] {
                Reclaim::Open => true,
                Reclaim::Asked => false,
                Reclaim::Dry(since) => since.elapsed() >= ASK_AGAIN,
            })
            .map(|rank| {
                // Beyond its slots, and not pinned there.
                let queued = self.assigned[rank].saturating_sub(self.slots[rank]);
                (queued.min(self.assigned[rank] - self.pinned[rank]), rank)
            })
            .filter(|(surplus, _)| *surplus > 0)
            .collect();
        victims.sort_unstable_by(|a, b| b.cmp(a));
        for (surplus, rank) in victims {
            let max = surplus.div_ceil(2);
            self.reclaim[rank] = Reclaim::Asked;
            crate::log::event!(debug, worker = rank, max, "tasks asked back");
            out.send(rank, Message::Reclaim { max: max.min(u32::MAX as usize) as u32 });
            wanted -= 1;
            if wanted == 0 {
                break;
            }
        }
    }

    /// Worker `from` gave back `tasks`: they are shared among the workers hungry now (each to one
    /// that may run it), or wait on the root for the next hungry worker.
    fn returned(&mut self, from: Rank, tasks: Vec<Task>, out: &mut Outbox) {
        if self.finished {
            return; // shut down: nothing runs any more
        }
        // A worker that gave nothing is not asked again for a while: no loop of asks.
        self.reclaim[from] =
            if tasks.is_empty() { Reclaim::Dry(Instant::now()) } else { Reclaim::Open };
        let mut takers = self.hungry.clone();
        takers[from] = false;
        let mut after = from;
        for task in tasks {
            let Some(running) = self.running.get(&task.first_output) else { continue };
            let was = running.rank;
            self.assigned[was] -= 1;
            if let Some(placement) = &mut self.placement {
                placement.finished(was);
            }
            let spare = Spare { task, from };
            match self.next_taker(&takers, after, &spare.task) {
                Some(rank) => {
                    self.place_moved(spare, rank, out);
                    after = rank;
                }
                None => self.spare.push_back(spare),
            }
        }
    }

    /// A task panicked on worker `from` and may run again: on the worker after `from` (not
    /// kept for an actor of its own) where there is one, on the same if its caller chose it;
    /// the round-robin cycle `schedule_rank` tells of does not move. Like any queued task, a
    /// worker with nothing to run may take it over before it starts (pinning it instead would
    /// leave it behind a long task there).
    fn retry(&mut self, from: Rank, task: Task, out: &mut Outbox) {
        if self.finished || !self.running.contains_key(&task.first_output) {
            return;
        }
        let workers = self.size - 1;
        let to = if task.pinned {
            from
        } else {
            (1..workers)
                .map(|step| (from - 1 + step) % workers + 1)
                .find(|&rank| !self.scheduler.is_reserved(rank))
                .unwrap_or(from)
        };
        self.assigned[from] -= 1;
        self.load_changed(from);
        if let Some(placement) = &mut self.placement {
            placement.finished(from);
        }
        crate::log::event!(debug, task = %task.first_output, attempt = task.attempt, from, to, "task placed again after a panic");
        self.place_moved(Spare { task, from }, to, out);
    }

    /// Places a task given back by its worker on worker `to`: its inputs go there, and the ranks
    /// promised its results (by the `Transfer`s the giver dropped, and the giver itself when a
    /// task there reads them) get them from there.
    fn place_moved(&mut self, spare: Spare, to: Rank, out: &mut Outbox) {
        let Spare { task, from } = spare;
        if let Some(placement) = &mut self.placement {
            placement.started(to);
        }
        let Some(running) = self.running.get_mut(&task.first_output) else { return };
        running.rank = to;
        self.assigned[to] += 1;
        self.hungry[to] = false;
        self.submits[to] += 1;
        self.load_changed(to);
        for arg in &task.args {
            for &id in arg.ids() {
                self.send_to(id, to, out);
            }
        }
        let (first_output, num_returns) = (task.first_output, task.num_returns as usize);
        crate::log::event!(debug, task = %first_output, from, to, "task moved");
        // Before the transfers of its results: a worker that gave the task back ignores them
        // until the task is placed on it again.
        out.send(to, Message::Submit(task));
        if self.cancelling.contains(&first_output) {
            out.send(to, Message::Cancel(vec![first_output]));
        }
        let outputs: Vec<ObjectId> = (0..num_returns).map(|k| first_output.offset(k)).collect();
        for &id in &outputs {
            let entry = self.entry(id);
            let mut holders = vec![to];
            holders.extend(entry.holders.iter().skip(1).filter(|&&r| r != to && r != from));
            if to != from {
                if entry.maker_reads {
                    holders.push(from);
                }
                // A rank promised a copy because a task there reads it makes it now.
                entry.maker_reads = entry.holders[1..].contains(&to);
            }
            entry.holders = holders;
            let fetching = entry.fetching;
            for &rank in &self.entry(id).holders[1..] {
                out.send(to, Message::Transfer { id, to: rank });
            }
            if fetching {
                out.send(to, Message::Transfer { id, to: 0 });
            }
        }
        // After every `Transfer` of them the root sent the giver while they were its.
        out.send(from, Message::Forget(outputs));
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
        if !self.failed.is_empty() {
            self.failed.remove(&id);
        }
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
        let call = self.stats_calls.front().expect("a call asks");
        let reset_peak = call.reset_peaks && !call.first_round;
        for worker in 1..self.size {
            self.answers.push((worker, Message::StatsRequest { reset_peak }));
        }
    }

    /// Starts the gathering of the first timeline call: probes every worker's clock.
    fn probe_clocks(&mut self, out: &mut Outbox) {
        let Some(call) = self.timeline_calls.front_mut() else { return };
        for (worker, clock) in call.clocks.iter_mut().enumerate().skip(1) {
            *clock = Clock { sent_at: crate::timeline::now(), left: CLOCK_PROBES - 1, best: None };
            out.send(worker, Message::ClockProbe);
        }
    }

    /// A worker read its clock at `now` (its own): the offset from the root's is `now` minus
    /// the middle of the round trip, known to within half the round trip. The shortest of the
    /// probes counts; after the last, the worker is asked for its events.
    fn clock_echo(&mut self, from: Rank, now: u64, out: &mut Outbox) {
        let arrived = crate::timeline::now();
        let Some(call) = self.timeline_calls.front_mut() else { return };
        let Some(clock) = call.clocks.get_mut(from) else { return };
        let round_trip = arrived.saturating_sub(clock.sent_at);
        let middle = (i128::from(clock.sent_at) + i128::from(arrived)) / 2;
        let offset = i64::try_from(i128::from(now) - middle).unwrap_or(0);
        if clock.best.map_or(true, |(best, _)| round_trip < best) {
            clock.best = Some((round_trip, offset));
        }
        if clock.left > 0 {
            clock.left -= 1;
            clock.sent_at = crate::timeline::now();
            out.send(from, Message::ClockProbe);
        } else {
            out.send(from, Message::TimelineRequest);
        }
    }

    /// A worker's events: once every worker's are here, with the root's own, the call is
    /// answered.
    fn timeline_reply(&mut self, mut timeline: RankTimeline, out: &mut Outbox) {
        let size = self.size;
        let Some(call) = self.timeline_calls.front_mut() else { return };
        let best = call.clocks.get(timeline.rank).and_then(|c| c.best);
        let (round_trip, offset) = best.unwrap_or_default();
        (timeline.offset, timeline.uncertainty) = (offset, round_trip.div_ceil(2));
        call.gathered.push(timeline);
        if call.gathered.len() + 1 < size {
            return;
        }
        let mut call = self.timeline_calls.pop_front().expect("present");
        call.gathered.push(crate::timeline::copy(0));
        call.gathered.sort_by_key(|t| t.rank);
        let _ = call.reply.send(call.gathered);
        self.probe_clocks(out);
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
        let own = RankStats {
            transfer: out.stats.clone().without_self(),
            memory: self.store.memory(0),
            tasks: WorkerStats::new(0),
            functions: self
                .submitted
                .iter()
                .map(|(function, submitted)| {
                    (*function, FunctionCounts { submitted: *submitted, ..Default::default() })
                })
                .collect(),
        };
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
        if matches!(
            message,
            Message::Spawn(_)
                | Message::SpawnOn { .. }
                | Message::Fetch(_)
                | Message::WaitFor { .. }
        ) {
            self.last_task_call = Instant::now();
        }
        match message {
            Message::Data { id, object } => self.arrived(id, object),
            Message::TaskDone { first_output, sizes, failed } => {
                self.task_done(first_output, &sizes, failed, out)
            }
            Message::Returned(tasks) => self.returned(from, tasks, out),
            Message::Idle { submits } => {
                if submits == self.submits[from] {
                    self.hungry[from] = true;
                }
            }
            Message::Spawn(task) => self.spawn(from, task, None, out),
            Message::SpawnOn { task, worker } => {
                // A rank that is not a worker would be a bug of the sender: it checks.
                let worker = (worker as usize).clamp(1, self.size - 1);
                self.spawn(from, task, Some(worker), out)
            }
            Message::Created { id, bytes } => {
                self.objects.insert(id, Entry::new(from, true, bytes));
            }
            Message::Fetch(ids) => {
                for id in ids {
                    self.send_to(id, from, out);
                }
            }
            Message::WaitFor { request, ids, num_returns, timed } => {
                let token = timed.then_some((from, request));
                self.wait(ids, num_returns, WaitFor::Worker { rank: from, request }, token)
            }
            Message::WaitExpired { request } => self.wait_expired((from, request)),
            Message::Release(ids) => {
                for id in ids {
                    self.release(id);
                }
            }
            Message::StatsReply(stats) => self.stats_reply(*stats, out),
            Message::ClockEcho { now } => self.clock_echo(from, now, out),
            Message::TimelineReply(timeline) => self.timeline_reply(*timeline, out),
            Message::HoldActor(actor) => self.hold_actor(actor),
            Message::Cancel(ids) => self.cancel(ids, out),
            Message::Retry(task) => self.retry(from, task, out),
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
            Command::Get { ids, reply, token } => self.get(ids, reply, token.map(|t| (0, t)), out),
            Command::Wait { ids, num_returns, reply, token } => {
                self.wait(ids, num_returns, WaitFor::Here(reply), token.map(|t| (0, t)))
            }
            Command::Count { ids, reply } => {
                let done = |id: &ObjectId| self.objects.get(id).is_some_and(|e| e.done);
                let done: Vec<&ObjectId> = ids.iter().filter(|id| done(id)).collect();
                let failed = done.iter().filter(|id| self.failed.contains(id)).count();
                reply.complete(Answer::Counts { done: done.len(), failed });
            }
            Command::WaitExpired(token) => self.wait_expired((0, token)),
            Command::Forget(token) => self.forget((0, token)),
            Command::Release(id) => self.release(id),
            Command::Cancel(ids) => self.cancel(ids, out),
            Command::HoldActor(actor) => self.hold_actor(actor),
            Command::Stats { reply, reset_peaks } => {
                self.stats_calls.push_back(StatsCall {
                    first_round: true,
                    reset_peaks,
                    collected: Vec::new(),
                    reply,
                });
                if self.stats_calls.len() == 1 {
                    self.request_stats(out);
                }
            }
            Command::Record(on) => {
                for worker in 1..self.size {
                    out.send(worker, Message::Record { on });
                }
            }
            Command::Timeline { reply } => {
                let clocks = vec![Clock::default(); self.size];
                self.timeline_calls.push_back(TimelineCall { reply, clocks, gathered: Vec::new() });
                if self.timeline_calls.len() == 1 {
                    self.probe_clocks(out);
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
        // Stealing is for hungry workers only (a worker that gave nothing may have more now).
        if self.hungry.contains(&true) && !self.finished {
            self.balance(out);
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
    objects: &FxHashMap<ObjectId, Entry>,
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

#[cfg(test)]
mod tests {
    use std::sync::mpsc::{Receiver, TryRecvError};

    use super::*;
    use crate::arg::Arg;
    use crate::error::Error;
    use crate::test_support::{
        answered_flags as flags, answered_objects, answered_order as order, read, show, task,
        value, ADD,
    };

    fn id(origin: Rank, sequence: u64) -> ObjectId {
        ObjectId::new(origin, sequence)
    }

    /// A root of `size` ranks that sends its cleanups as `gc` says.
    fn root_with(size: usize, gc: GcConfig) -> (Root, Outbox) {
        (Root::new(size, Arc::new(RoundRobin::new(size - 1)), gc), Outbox::new(0, size))
    }

    fn root(size: usize) -> (Root, Outbox) {
        root_with(size, GcConfig::default())
    }

    /// What the root queued, in the short form of `show`, batch by batch.
    fn sent(out: &mut Outbox) -> Vec<String> {
        out.drain()
            .flat_map(|(to, batch)| batch.iter().map(|m| show(to, m)).collect::<Vec<_>>())
            .collect()
    }

    /// A task that takes `inputs` as refs and makes `first_output`.
    fn takes(first_output: ObjectId, inputs: &[ObjectId]) -> Task {
        task(ADD, first_output, inputs.iter().map(|id| Arg::Ref(*id)).collect())
    }

    /// Runs task `first_output` on worker `rank`, taking `inputs`.
    fn run_on(
        root: &mut Root,
        out: &mut Outbox,
        rank: Rank,
        first_output: ObjectId,
        inputs: &[ObjectId],
    ) {
        root.on_command(Command::Submit { task: takes(first_output, inputs), rank }, out);
    }

    fn done(root: &mut Root, out: &mut Outbox, rank: Rank, first_output: ObjectId, size: u64) {
        root.on_message(
            rank,
            Message::TaskDone { first_output, sizes: vec![size], failed: false },
            out,
        );
    }

    fn put(root: &mut Root, out: &mut Outbox, id: ObjectId, object: Object) {
        root.on_command(Command::Put { id, object }, out);
    }

    fn get(root: &mut Root, out: &mut Outbox, ids: Vec<ObjectId>) -> Receiver<Answer> {
        let (reply, answer) = Reply::channel();
        root.on_command(Command::Get { ids, reply, token: None }, out);
        answer
    }

    fn wait(root: &mut Root, out: &mut Outbox, ids: Vec<ObjectId>, n: usize) -> Receiver<Answer> {
        let (reply, answer) = Reply::channel();
        root.on_command(Command::Wait { ids, num_returns: n, reply, token: None }, out);
        answer
    }

    /// The objects of an answer that has come, as `i64`s.
    fn objects(answer: &Receiver<Answer>) -> Vec<Result<i64, Error>> {
        answered_objects(answer).iter().map(read::<i64>).collect()
    }

    fn unanswered(answer: &Receiver<Answer>) -> bool {
        matches!(answer.try_recv(), Err(TryRecvError::Empty))
    }

    #[test]
    fn spawned_tasks_go_round_robin_and_the_spawner_learns_where_each_went() {
        let (mut root, mut out) = root(4);
        for k in 0..4 {
            root.on_message(2, Message::Spawn(takes(id(2, k), &[])), &mut out);
        }
        root.flush(&mut out, false);
        assert_eq!(
            sent(&mut out),
            [
                "1: Submit 2:0",
                "1: Submit 2:3",
                "2: Submit 2:1",
                "2: Placed 2:0 x1",
                "2: Placed 2:2 x1",
                "2: Placed 2:3 x1",
                "3: Submit 2:2",
            ],
            "workers 1, 2, 3, 1; no Placed for the task that stayed on its spawner"
        );
    }

    #[test]
    fn a_hungry_worker_gets_a_queued_task_of_a_busy_one_with_what_was_promised_of_it() {
        let (mut root, mut out) = root(3);
        let (slow, queued, reader) = (id(0, 0), id(0, 1), id(0, 2));
        run_on(&mut root, &mut out, 1, slow, &[]);
        run_on(&mut root, &mut out, 1, queued, &[]);
        run_on(&mut root, &mut out, 2, reader, &[queued]);
        let answer = get(&mut root, &mut out, vec![queued]);
        assert_eq!(
            sent(&mut out),
            [
                "1: Submit 0:0",
                "1: Submit 0:1",
                "1: Transfer 0:1 to 2",
                "1: Transfer 0:1 to 0",
                "2: Submit 0:2"
            ]
        );
        // Worker 2's task waits for its input. An `Idle` it sent before that task came is stale.
        root.on_message(2, Message::Idle { submits: 0 }, &mut out);
        root.flush(&mut out, false);
        assert!(sent(&mut out).is_empty());
        root.on_message(2, Message::Idle { submits: 1 }, &mut out);
        root.flush(&mut out, false);
        assert_eq!(sent(&mut out), ["1: Reclaim 1"]);
        root.on_message(1, Message::Returned(vec![takes(queued, &[])]), &mut out);
        // Worker 2 makes it now, and sends the root what it asked for; worker 1 may forget it.
        assert_eq!(sent(&mut out), ["2: Submit 0:1", "2: Transfer 0:1 to 0", "1: Forget [0:1]"]);
        root.flush(&mut out, false);
        assert!(sent(&mut out).is_empty(), "no worker is hungry any more");
        root.on_message(2, Message::Data { id: queued, object: value(&7_i64) }, &mut out);
        done(&mut root, &mut out, 2, queued, 8);
        assert_eq!(objects(&answer), [Ok(7)]);
    }

    #[test]
    fn a_cancel_goes_to_the_task_s_worker_once_and_again_after_the_task_moves() {
        let (mut root, mut out) = root(3);
        let (running, queued, two) = (id(0, 0), id(0, 1), id(0, 2));
        run_on(&mut root, &mut out, 1, running, &[]);
        run_on(&mut root, &mut out, 1, queued, &[]);
        let mut pair = task(ADD, two, vec![]);
        pair.num_returns = 2;
        root.on_command(Command::Submit { task: pair, rank: 2 }, &mut out);
        sent(&mut out);
        // Any result names its task; a done task and a `put` are left alone.
        let stored = id(0, 9);
        put(&mut root, &mut out, stored, value(&1_i64));
        root.on_command(Command::Cancel(vec![queued, two.offset(1), stored]), &mut out);
        assert_eq!(sent(&mut out), ["1: Cancel [0:1]", "2: Cancel [0:2]"]);
        root.on_command(Command::Cancel(vec![queued]), &mut out);
        assert!(sent(&mut out).is_empty(), "once");
        // Worker 1 gave it back before the cancel came: it goes again after its new `Submit`.
        root.on_message(2, Message::Idle { submits: 1 }, &mut out);
        root.flush(&mut out, false);
        assert_eq!(sent(&mut out), ["1: Reclaim 1"]);
        root.on_message(1, Message::Returned(vec![takes(queued, &[])]), &mut out);
        assert_eq!(sent(&mut out), ["2: Submit 0:1", "2: Cancel [0:1]", "1: Forget [0:1]"]);
        done(&mut root, &mut out, 2, queued, 8);
        assert!(!root.cancelling.contains(&queued), "forgotten once done");
        done(&mut root, &mut out, 1, running, 8);
        root.on_command(Command::Cancel(vec![running]), &mut out);
        assert!(sent(&mut out).is_empty(), "done: nothing to cancel");
    }

    #[test]
    fn a_task_to_run_again_goes_to_another_worker_or_stays_where_its_caller_chose() {
        let (mut root, mut out) = root(3);
        let (free, chosen) = (id(0, 0), id(0, 1));
        run_on(&mut root, &mut out, 1, free, &[]);
        let mut named = takes(chosen, &[]);
        (named.pinned, named.chosen) = (true, true);
        root.on_command(Command::Submit { task: named.clone(), rank: 2 }, &mut out);
        let answer = get(&mut root, &mut out, vec![free]);
        sent(&mut out);
        let mut again = takes(free, &[]);
        again.attempt = 1;
        root.on_message(1, Message::Retry(again), &mut out);
        assert_eq!(sent(&mut out), ["2: Submit 0:0", "2: Transfer 0:0 to 0", "1: Forget [0:0]"]);
        assert_eq!((root.assigned[1], root.assigned[2]), (0, 2));
        assert_eq!((root.pinned[1], root.pinned[2]), (0, 1), "only the chosen one is pinned");
        root.on_message(2, Message::Retry(named), &mut out);
        assert_eq!(sent(&mut out), ["2: Submit 0:1", "2: Forget [0:1]"], "its caller chose 2");
        root.on_message(2, Message::Data { id: free, object: value(&4_i64) }, &mut out);
        done(&mut root, &mut out, 2, free, 8);
        done(&mut root, &mut out, 2, chosen, 8);
        assert_eq!(objects(&answer), [Ok(4)]);
        assert_eq!((root.assigned[2], root.pinned[2]), (0, 0));
    }

    #[test]
    fn a_worker_that_gave_nothing_back_is_asked_again_once_its_load_changes() {
        let (mut root, mut out) = root(3);
        run_on(&mut root, &mut out, 1, id(0, 0), &[]);
        run_on(&mut root, &mut out, 1, id(0, 1), &[]);
        sent(&mut out);
        root.on_message(2, Message::Idle { submits: 0 }, &mut out);
        root.flush(&mut out, false);
        assert_eq!(sent(&mut out), ["1: Reclaim 1"]);
        root.flush(&mut out, false);
        assert!(sent(&mut out).is_empty(), "one ask at a time");
        // Its surplus waits for inputs, say: nothing to give.
        root.on_message(1, Message::Returned(Vec::new()), &mut out);
        root.flush(&mut out, false);
        assert!(sent(&mut out).is_empty(), "not asked again at once");
        run_on(&mut root, &mut out, 1, id(0, 2), &[]);
        root.flush(&mut out, false);
        assert_eq!(sent(&mut out), ["1: Submit 0:2", "1: Reclaim 1"]);
    }

    #[test]
    fn a_cancelled_task_waiting_on_the_root_for_a_worker_goes_back_to_its_giver_to_end() {
        let (mut root, mut out) = root(3);
        let (a, b, c) = (id(0, 0), id(0, 1), id(0, 2));
        run_on(&mut root, &mut out, 1, a, &[]);
        run_on(&mut root, &mut out, 1, b, &[]);
        sent(&mut out);
        root.on_message(2, Message::Idle { submits: 0 }, &mut out);
        root.flush(&mut out, false);
        assert_eq!(sent(&mut out), ["1: Reclaim 1"]);
        run_on(&mut root, &mut out, 2, c, &[]); // worker 2 is busy again
        root.on_message(1, Message::Returned(vec![takes(b, &[])]), &mut out);
        assert_eq!(sent(&mut out), ["2: Submit 0:2"], "b waits on the root for a worker");
        root.on_command(Command::Cancel(vec![b]), &mut out);
        assert_eq!(sent(&mut out), ["1: Submit 0:1", "1: Cancel [0:1]", "1: Forget [0:1]"]);
        assert!(root.spare.is_empty());
    }

    #[test]
    fn a_task_given_back_while_no_worker_is_hungry_waits_on_the_root_for_one() {
        let (mut root, mut out) = root(3);
        let (a, b, c, input) = (id(0, 0), id(0, 1), id(0, 2), id(0, 9));
        put(&mut root, &mut out, input, value(&1_i64));
        run_on(&mut root, &mut out, 1, a, &[]);
        run_on(&mut root, &mut out, 1, b, &[input]);
        sent(&mut out);
        root.on_message(2, Message::Idle { submits: 0 }, &mut out);
        root.flush(&mut out, false);
        assert_eq!(sent(&mut out), ["1: Reclaim 1"]);
        run_on(&mut root, &mut out, 2, c, &[]);
        // Before worker 1's answer: a task there reads b, which worker 1 was to make.
        run_on(&mut root, &mut out, 1, id(0, 3), &[b]);
        root.on_message(1, Message::Returned(vec![takes(b, &[input])]), &mut out);
        root.flush(&mut out, false);
        assert_eq!(sent(&mut out), ["2: Submit 0:2", "1: Submit 0:3"], "worker 2 has work again");
        root.on_message(2, Message::Idle { submits: 1 }, &mut out);
        root.flush(&mut out, false);
        // Its input goes with it; worker 1, where a task reads its result, gets a copy.
        assert_eq!(
            sent(&mut out),
            ["2: Data 0:9", "2: Submit 0:1", "2: Transfer 0:1 to 1", "1: Forget [0:1]"]
        );
    }

    #[test]
    fn a_task_moved_back_and_forth_still_serves_every_reader() {
        let (mut root, mut out) = root(3);
        let (a, b, reader) = (id(0, 0), id(0, 1), id(0, 2));
        run_on(&mut root, &mut out, 1, a, &[]);
        run_on(&mut root, &mut out, 1, b, &[]);
        run_on(&mut root, &mut out, 2, reader, &[b]);
        assert_eq!(
            sent(&mut out),
            ["1: Submit 0:0", "1: Submit 0:1", "1: Transfer 0:1 to 2", "2: Submit 0:2"]
        );
        root.on_message(2, Message::Idle { submits: 1 }, &mut out);
        root.flush(&mut out, false);
        assert_eq!(sent(&mut out), ["1: Reclaim 1"]);
        root.on_message(1, Message::Returned(vec![takes(b, &[])]), &mut out);
        // Worker 2 makes b for its own reader now: no transfer.
        assert_eq!(sent(&mut out), ["2: Submit 0:1", "1: Forget [0:1]"]);
        // Worker 1 is the hungry one now, and b goes back to it: worker 2's reader needs a copy.
        done(&mut root, &mut out, 1, a, 8);
        root.on_message(1, Message::Idle { submits: 2 }, &mut out);
        root.flush(&mut out, false);
        assert_eq!(sent(&mut out), ["2: Reclaim 1"]);
        root.on_message(2, Message::Returned(vec![takes(b, &[])]), &mut out);
        assert_eq!(sent(&mut out), ["1: Submit 0:1", "1: Transfer 0:1 to 2", "2: Forget [0:1]"]);
    }

    #[test]
    fn a_worker_that_said_it_was_hungry_may_still_be_asked_but_not_for_pinned_tasks() {
        let (mut root, mut out) = root(3);
        // Worker 1 said it had nothing to run (its tasks waited for inputs), then got them.
        run_on(&mut root, &mut out, 1, id(0, 0), &[]);
        run_on(&mut root, &mut out, 1, id(0, 1), &[]);
        root.on_message(1, Message::Idle { submits: 2 }, &mut out);
        root.on_message(2, Message::Idle { submits: 0 }, &mut out);
        sent(&mut out);
        root.flush(&mut out, false);
        assert_eq!(sent(&mut out), ["1: Reclaim 1"]);
        // Worker 2's surplus is pinned: nothing to ask of it.
        let mut pinned = takes(id(0, 2), &[]);
        pinned.pinned = true;
        root.on_command(Command::Submit { task: pinned.clone(), rank: 2 }, &mut out);
        pinned.first_output = id(0, 3);
        root.on_command(Command::Submit { task: pinned, rank: 2 }, &mut out);
        root.on_message(1, Message::Returned(Vec::new()), &mut out);
        root.on_message(2, Message::Idle { submits: 2 }, &mut out);
        sent(&mut out);
        root.flush(&mut out, false);
        assert!(sent(&mut out).is_empty());
    }

    #[test]
    fn tasks_queued_behind_a_pinned_task_may_still_move() {
        let (mut root, mut out) = root(3);
        let mut straggler = takes(id(0, 0), &[]);
        straggler.pinned = true;
        root.on_command(Command::Submit { task: straggler, rank: 1 }, &mut out);
        run_on(&mut root, &mut out, 1, id(0, 1), &[]);
        root.on_message(2, Message::Idle { submits: 0 }, &mut out);
        sent(&mut out);
        root.flush(&mut out, false);
        assert_eq!(sent(&mut out), ["1: Reclaim 1"]);
    }

    #[test]
    fn a_submit_goes_where_the_caller_picked_without_moving_the_cycle() {
        let (mut root, mut out) = root(4);
        run_on(&mut root, &mut out, 3, id(0, 0), &[]);
        root.on_message(1, Message::Spawn(takes(id(1, 0), &[])), &mut out);
        assert_eq!(sent(&mut out), ["3: Submit 0:0", "1: Submit 1:0"]);
    }

    #[test]
    fn an_input_the_root_holds_travels_ahead_of_its_task() {
        let (mut root, mut out) = root(3);
        let p = value(&5_i64);
        put(&mut root, &mut out, id(0, 0), p.clone());
        run_on(&mut root, &mut out, 2, id(0, 1), &[id(0, 0)]);
        assert_eq!(sent(&mut out), ["2: Data 0:0", "2: Submit 0:1"]);
        let counted = out.stats.peer(2);
        assert_eq!((counted.objects_sent, counted.bytes_sent), (1, p.len() as u64));
        // Worker 2 now holds a copy: a second task there needs no second copy.
        run_on(&mut root, &mut out, 2, id(0, 2), &[id(0, 0)]);
        assert_eq!(sent(&mut out), ["2: Submit 0:2"]);
    }

    #[test]
    fn an_input_made_on_another_worker_is_asked_of_its_maker_once_per_destination() {
        let (mut root, mut out) = root(3);
        let a = id(0, 0);
        run_on(&mut root, &mut out, 1, a, &[]);
        run_on(&mut root, &mut out, 2, id(0, 1), &[a]);
        run_on(&mut root, &mut out, 2, id(0, 2), &[a]);
        run_on(&mut root, &mut out, 1, id(0, 3), &[a]);
        assert_eq!(
            sent(&mut out),
            [
                "1: Submit 0:0",
                "1: Transfer 0:0 to 2",
                "1: Submit 0:3",
                "2: Submit 0:1",
                "2: Submit 0:2"
            ],
            "one transfer to worker 2, none to the maker itself"
        );
    }

    #[test]
    fn host_aware_placement_moves_a_task_to_the_host_of_its_large_input() {
        let hosts = ["a", "b", "c", "c"].map(String::from);
        let (root, mut out) = root(4);
        let mut root = root.with_placement(Some(HostAware::new(&hosts, 100)));
        let (large, small) = (id(3, 0), id(3, 1));
        root.on_message(3, Message::Created { id: large, bytes: 1000 }, &mut out);
        root.on_message(3, Message::Created { id: small, bytes: 10 }, &mut out);
        run_on(&mut root, &mut out, 1, id(0, 0), &[large]);
        run_on(&mut root, &mut out, 1, id(0, 1), &[small]);
        assert_eq!(
            sent(&mut out),
            ["3: Submit 0:0", "3: Transfer 3:1 to 1", "1: Submit 0:1"],
            "the large input's task runs where it is; the small one's stays on the worker picked"
        );
    }

    #[test]
    fn host_aware_placement_ignores_an_input_whose_size_is_not_known_yet() {
        let hosts = ["a", "b", "b", "c"].map(String::from);
        let (root, mut out) = root(4);
        let mut root = root.with_placement(Some(HostAware::new(&hosts, 100)));
        let a = id(0, 0);
        run_on(&mut root, &mut out, 3, a, &[]);
        run_on(&mut root, &mut out, 1, id(0, 1), &[a]);
        assert_eq!(sent(&mut out), ["3: Submit 0:0", "3: Transfer 0:0 to 1", "1: Submit 0:1"]);
        // Once its size is known, a large result pulls its next consumer to it.
        done(&mut root, &mut out, 3, a, 1000);
        run_on(&mut root, &mut out, 2, id(0, 2), &[a]);
        assert_eq!(sent(&mut out), ["3: Submit 0:2"]);
    }

    #[test]
    fn get_of_an_object_the_root_holds_is_answered_at_once() {
        let (mut root, mut out) = root(2);
        put(&mut root, &mut out, id(0, 0), value(&7_i64));
        let answer = get(&mut root, &mut out, vec![id(0, 0)]);
        assert_eq!(objects(&answer), [Ok(7)]);
        assert!(sent(&mut out).is_empty(), "nothing to fetch");
    }

    #[test]
    fn gets_ask_the_holder_once_and_every_waiter_is_answered_when_the_data_comes() {
        let (mut root, mut out) = root(3);
        let a = id(0, 0);
        run_on(&mut root, &mut out, 2, a, &[]);
        sent(&mut out);
        let first = get(&mut root, &mut out, vec![a]);
        let second = get(&mut root, &mut out, vec![a]);
        assert_eq!(sent(&mut out), ["2: Transfer 0:0 to 0"], "one transfer for both");
        assert!(unanswered(&first) && unanswered(&second));
        assert!(root.urgent(), "a caller waits");
        root.on_message(2, Message::Data { id: a, object: value(&42_i64) }, &mut out);
        assert_eq!(objects(&first), [Ok(42)]);
        assert_eq!(objects(&second), [Ok(42)]);
        assert!(!root.urgent(), "nobody waits any more");
        // The root keeps its copy: the next get needs no transfer.
        let third = get(&mut root, &mut out, vec![a]);
        assert_eq!(objects(&third), [Ok(42)]);
        assert!(sent(&mut out).is_empty());
    }

    #[test]
    fn a_get_of_several_objects_waits_for_all_and_keeps_their_order() {
        let (mut root, mut out) = root(3);
        let (a, b, p) = (id(0, 0), id(0, 1), id(0, 2));
        run_on(&mut root, &mut out, 1, a, &[]);
        run_on(&mut root, &mut out, 2, b, &[]);
        put(&mut root, &mut out, p, value(&3_i64));
        sent(&mut out);
        let answer = get(&mut root, &mut out, vec![b, p, a]);
        assert_eq!(sent(&mut out), ["2: Transfer 0:1 to 0", "1: Transfer 0:0 to 0"]);
        root.on_message(1, Message::Data { id: a, object: value(&1_i64) }, &mut out);
        assert!(unanswered(&answer), "b is still missing");
        root.on_message(2, Message::Data { id: b, object: value(&2_i64) }, &mut out);
        assert_eq!(objects(&answer), [Ok(2), Ok(3), Ok(1)]);
    }

    #[test]
    fn a_wait_is_answered_at_once_when_enough_objects_are_done() {
        let (mut root, mut out) = root(2);
        let (a, p) = (id(0, 0), id(0, 1));
        run_on(&mut root, &mut out, 1, a, &[]);
        put(&mut root, &mut out, p, value(&1_i64));
        assert_eq!(flags(&wait(&mut root, &mut out, vec![a, p], 1)), [false, true]);
    }

    #[test]
    fn a_wait_is_answered_when_enough_tasks_have_finished() {
        let (mut root, mut out) = root(3);
        let (a, b) = (id(0, 0), id(0, 1));
        run_on(&mut root, &mut out, 1, a, &[]);
        run_on(&mut root, &mut out, 2, b, &[]);
        let answer = wait(&mut root, &mut out, vec![a, b], 2);
        done(&mut root, &mut out, 2, b, 8);
        assert!(unanswered(&answer), "one of two is done");
        done(&mut root, &mut out, 1, a, 8);
        assert_eq!(flags(&answer), [true, true]);
    }

    #[test]
    fn a_wait_of_the_root_s_program_says_in_what_order_its_objects_became_done() {
        let (mut root, mut out) = root(3);
        let (a, b, c) = (id(0, 0), id(0, 1), id(0, 2));
        for (rank, x) in [(1, a), (2, b), (1, c)] {
            run_on(&mut root, &mut out, rank, x, &[]);
        }
        // A wait answered by one object leaves nothing on the others.
        let first = wait(&mut root, &mut out, vec![a, b, c], 1);
        done(&mut root, &mut out, 1, c, 8);
        assert_eq!(flags(&first), [false, false, true]);
        assert!(
            root.objects[&a].wait_waiters.is_empty() && root.objects[&b].wait_waiters.is_empty()
        );
        done(&mut root, &mut out, 2, b, 8);
        let order = order(&wait(&mut root, &mut out, vec![a, b, c], 1));
        assert_eq!(order[0], None, "a is not done");
        let (b, c) = (order[1].unwrap(), order[2].unwrap());
        assert!(c < b, "c became done before b: {c} < {b}");
    }

    #[test]
    fn a_wait_whose_deadline_passed_is_answered_with_what_is_done_and_forgotten() {
        let (mut root, mut out) = root(3);
        let (a, b) = (id(0, 0), id(0, 1));
        run_on(&mut root, &mut out, 1, a, &[]);
        run_on(&mut root, &mut out, 2, b, &[]);
        let (reply, answer) = Reply::channel();
        let wait = Command::Wait { ids: vec![a, b], num_returns: 2, reply, token: Some(9) };
        root.on_command(wait, &mut out);
        done(&mut root, &mut out, 2, b, 8);
        assert!(unanswered(&answer), "one of two is done");
        root.on_command(Command::WaitExpired(9), &mut out);
        assert_eq!(flags(&answer), [false, true]);
        assert!(root.waiters.is_empty() && root.timed.is_empty(), "nothing left to answer");
        assert!(root.objects[&a].wait_waiters.is_empty(), "a no longer lists the wait");
        // Late: a's completion and a second expiry find nothing to answer.
        done(&mut root, &mut out, 1, a, 8);
        root.on_command(Command::WaitExpired(9), &mut out);
        assert!(answer.try_recv().is_err(), "answered once");
    }

    #[test]
    fn a_get_or_wait_whose_caller_is_gone_is_forgotten() {
        let (mut root, mut out) = root(2);
        let a = id(0, 0);
        run_on(&mut root, &mut out, 1, a, &[]);
        let (reply, got) = Reply::channel();
        root.on_command(Command::Get { ids: vec![a], reply, token: Some(1) }, &mut out);
        let (reply, waited) = Reply::channel();
        root.on_command(
            Command::Wait { ids: vec![a], num_returns: 1, reply, token: Some(2) },
            &mut out,
        );
        assert!(root.urgent(), "two callers wait");
        root.on_command(Command::Forget(1), &mut out);
        root.on_command(Command::Forget(2), &mut out);
        assert!(root.waiters.is_empty() && root.timed.is_empty());
        assert!(root.objects[&a].wait_waiters.is_empty());
        assert!(!root.urgent(), "nobody waits any more");
        root.on_message(1, Message::Data { id: a, object: value(&1_i64) }, &mut out);
        done(&mut root, &mut out, 1, a, 8);
        assert!(got.try_recv().is_err() && waited.try_recv().is_err(), "never answered");
    }

    #[test]
    fn a_timed_wait_answered_in_time_leaves_no_token_behind() {
        let (mut root, mut out) = root(2);
        let a = id(0, 0);
        run_on(&mut root, &mut out, 1, a, &[]);
        let (reply, answer) = Reply::channel();
        root.on_command(
            Command::Wait { ids: vec![a], num_returns: 1, reply, token: Some(3) },
            &mut out,
        );
        done(&mut root, &mut out, 1, a, 8);
        assert_eq!(flags(&answer), [true]);
        assert!(root.timed.is_empty());
        root.on_command(Command::WaitExpired(3), &mut out);
        assert!(answer.try_recv().is_err(), "answered once");
    }

    /// The root keeps an entry per live object: a flag more would make each 8 bytes larger, and
    /// the root's throughput measurably lower (BENCHMARKS.md); rare facts live beside them.
    #[test]
    fn an_object_s_entry_stays_small() {
        assert!(std::mem::size_of::<Entry>() <= 96, "{}", std::mem::size_of::<Entry>());
    }

    #[test]
    fn a_count_says_how_many_objects_are_done_and_how_many_of_those_failed() {
        let (mut root, mut out) = root(2);
        let (a, b, c) = (id(0, 0), id(0, 1), id(0, 2));
        for task in [a, b, c] {
            run_on(&mut root, &mut out, 1, task, &[]);
        }
        done(&mut root, &mut out, 1, a, 8);
        let failed = Message::TaskDone { first_output: b, sizes: vec![40], failed: true };
        root.on_message(1, failed, &mut out);
        let (reply, answer) = Reply::channel();
        root.on_command(Command::Count { ids: vec![a, b, c], reply }, &mut out);
        match answer.try_recv() {
            Ok(Answer::Counts { done, failed }) => assert_eq!((done, failed), (2, 1)),
            _ => panic!("expected counts at once"),
        }
    }

    #[test]
    fn a_worker_s_wait_is_answered_with_wait_done_at_the_end_of_the_round() {
        let (mut root, mut out) = root(3);
        let (a, b) = (id(0, 0), id(0, 1));
        run_on(&mut root, &mut out, 1, a, &[]);
        run_on(&mut root, &mut out, 1, b, &[]);
        sent(&mut out);
        root.on_message(
            2,
            Message::WaitFor { request: 5, ids: vec![a, b], num_returns: 1, timed: false },
            &mut out,
        );
        done(&mut root, &mut out, 1, b, 8);
        assert!(sent(&mut out).is_empty(), "answers go out when the round ends");
        root.flush(&mut out, false);
        assert_eq!(sent(&mut out), ["2: WaitDone 5 [false, true]"]);
    }

    #[test]
    fn a_worker_s_timed_wait_that_expires_is_answered_with_what_is_done_and_forgotten() {
        let (mut root, mut out) = root(4);
        let (a, b) = (id(0, 0), id(0, 1));
        run_on(&mut root, &mut out, 1, a, &[]);
        run_on(&mut root, &mut out, 1, b, &[]);
        done(&mut root, &mut out, 1, a, 8);
        sent(&mut out);
        // Two workers' requests with the same number: each names its own wait.
        for from in [2, 3] {
            let wait =
                Message::WaitFor { request: 5, ids: vec![a, b], num_returns: 2, timed: true };
            root.on_message(from, wait, &mut out);
        }
        root.on_message(3, Message::WaitExpired { request: 5 }, &mut out);
        root.flush(&mut out, false);
        assert_eq!(sent(&mut out), ["3: WaitDone 5 [true, false]"]);
        assert_eq!(root.timed.len(), 1, "the other worker's wait stays");
        root.on_message(3, Message::WaitExpired { request: 5 }, &mut out);
        done(&mut root, &mut out, 1, b, 8);
        root.flush(&mut out, false);
        assert_eq!(sent(&mut out), ["2: WaitDone 5 [true, true]"], "each answered once");
        assert!(root.waiters.is_empty() && root.timed.is_empty());
    }

    #[test]
    fn every_output_of_a_task_is_done_when_it_finishes() {
        let (mut root, mut out) = root(2);
        let first = id(0, 0);
        let task = Task {
            function: ADD,
            first_output: first,
            num_returns: 2,
            args: Vec::new(),
            pinned: false,
            chosen: false,
            retries: 0,
            attempt: 0,
            actors: None,
        };
        root.on_command(Command::Submit { task, rank: 1 }, &mut out);
        let answer = wait(&mut root, &mut out, vec![first, first.offset(1)], 2);
        root.on_message(
            1,
            Message::TaskDone { first_output: first, sizes: vec![8, 8], failed: false },
            &mut out,
        );
        assert_eq!(flags(&answer), [true, true]);
    }

    #[test]
    fn a_failed_result_reaches_its_getter_and_the_tasks_that_take_it() {
        let (mut root, mut out) = root(3);
        let (a, b) = (id(0, 0), id(0, 1));
        run_on(&mut root, &mut out, 1, a, &[]);
        sent(&mut out);
        let error = Error::TaskPanicked {
            function: "app::f".into(),
            object: a,
            rank: 1,
            message: "boom".into(),
            attempts: 1,
        };
        let answer = get(&mut root, &mut out, vec![a]);
        root.on_message(1, Message::Data { id: a, object: Object::from_error(&error) }, &mut out);
        done(&mut root, &mut out, 1, a, 8);
        assert_eq!(objects(&answer), [Err(error.clone())]);
        sent(&mut out);
        // A task that takes the failed result still goes out, with the error as its input: the
        // worker fails it, naming that input.
        run_on(&mut root, &mut out, 2, b, &[a]);
        let batch: Vec<(Rank, Vec<Message>)> = out.drain().collect();
        assert_eq!(batch.len(), 1);
        let (to, messages) = &batch[0];
        assert_eq!(
            messages.iter().map(|m| show(*to, m)).collect::<Vec<_>>(),
            ["2: Data 0:0", "2: Submit 0:1"]
        );
        match &messages[0] {
            Message::Data { object, .. } => assert_eq!(read::<i64>(object), Err(error)),
            other => panic!("expected the failed input, got {}", other.kind()),
        }
    }

    #[test]
    fn a_released_object_is_freed_only_after_every_task_that_takes_it_has_finished() {
        let (mut root, mut out) = root_with(3, GcConfig { threshold: 1, bytes: u64::MAX });
        let (a, b) = (id(0, 0), id(0, 1));
        run_on(&mut root, &mut out, 1, a, &[]);
        done(&mut root, &mut out, 1, a, 8);
        run_on(&mut root, &mut out, 2, b, &[a]);
        sent(&mut out);
        root.on_command(Command::Release(a), &mut out);
        root.flush(&mut out, true);
        assert!(sent(&mut out).is_empty(), "task 0:1 still needs 0:0");
        done(&mut root, &mut out, 2, b, 8);
        root.flush(&mut out, false);
        assert_eq!(sent(&mut out), ["1: Cleanup [0:0]", "2: Cleanup [0:0]"], "on every holder");
    }

    #[test]
    fn a_released_object_is_freed_only_once_it_is_made() {
        let (mut root, mut out) = root_with(2, GcConfig { threshold: 1, bytes: u64::MAX });
        let a = id(0, 0);
        run_on(&mut root, &mut out, 1, a, &[]);
        sent(&mut out);
        root.on_message(1, Message::Release(vec![a]), &mut out);
        root.flush(&mut out, true);
        assert!(sent(&mut out).is_empty(), "its task still runs");
        done(&mut root, &mut out, 1, a, 8);
        root.flush(&mut out, false);
        assert_eq!(sent(&mut out), ["1: Cleanup [0:0]"]);
    }

    #[test]
    fn an_object_being_fetched_is_not_freed_until_it_has_come() {
        let (mut root, mut out) = root_with(2, GcConfig { threshold: 1, bytes: u64::MAX });
        let a = id(0, 0);
        run_on(&mut root, &mut out, 1, a, &[]);
        done(&mut root, &mut out, 1, a, 8);
        let answer = get(&mut root, &mut out, vec![a]);
        sent(&mut out);
        root.on_command(Command::Release(a), &mut out);
        root.flush(&mut out, true);
        assert!(sent(&mut out).is_empty(), "the transfer to the root is under way");
        root.on_message(1, Message::Data { id: a, object: value(&1_i64) }, &mut out);
        assert_eq!(objects(&answer), [Ok(1)]);
        root.flush(&mut out, false);
        assert_eq!(sent(&mut out), ["1: Cleanup [0:0]"]);
    }

    #[test]
    fn cleanups_wait_for_the_count_bound_unless_the_loop_is_idle() {
        let (mut root, mut out) = root_with(2, GcConfig { threshold: 2, bytes: u64::MAX });
        let (a, b, c) = (id(0, 0), id(0, 1), id(0, 2));
        for x in [a, b, c] {
            run_on(&mut root, &mut out, 1, x, &[]);
            done(&mut root, &mut out, 1, x, 8);
        }
        sent(&mut out);
        root.on_command(Command::Release(a), &mut out);
        root.flush(&mut out, false);
        assert!(sent(&mut out).is_empty(), "one of two");
        root.on_command(Command::Release(b), &mut out);
        root.flush(&mut out, false);
        assert_eq!(sent(&mut out), ["1: Cleanup [0:0,0:1]"], "both in one message");
        root.on_command(Command::Release(c), &mut out);
        root.flush(&mut out, true);
        assert_eq!(sent(&mut out), ["1: Cleanup [0:2]"], "an idle round sends what is pending");
    }

    #[test]
    fn a_large_object_is_cleaned_up_at_once_by_the_byte_bound() {
        let (mut root, mut out) = root_with(2, GcConfig { threshold: 1000, bytes: 100 });
        let (small, large) = (id(0, 0), id(0, 1));
        run_on(&mut root, &mut out, 1, small, &[]);
        done(&mut root, &mut out, 1, small, 10);
        run_on(&mut root, &mut out, 1, large, &[]);
        done(&mut root, &mut out, 1, large, 100);
        sent(&mut out);
        root.on_command(Command::Release(small), &mut out);
        root.flush(&mut out, false);
        assert!(sent(&mut out).is_empty(), "10 bytes of 100");
        root.on_command(Command::Release(large), &mut out);
        root.flush(&mut out, false);
        assert_eq!(sent(&mut out), ["1: Cleanup [0:0,0:1]"], "the sizes from TaskDone count");
    }

    #[test]
    fn the_root_frees_its_own_copy_at_once_and_stats_count_what_is_left() {
        let (mut root, mut out) = root(2);
        let (p, q) = (id(0, 0), id(0, 1));
        let kept = value(&vec![1_u8; 40]);
        put(&mut root, &mut out, p, value(&1_i64));
        put(&mut root, &mut out, q, kept.clone());
        root.on_command(Command::Release(p), &mut out);
        root.flush(&mut out, true);
        assert!(sent(&mut out).is_empty(), "no worker holds it");
        let (reply, stats) = std::sync::mpsc::channel();
        root.on_command(Command::Stats { reply, reset_peaks: true }, &mut out);
        root.flush(&mut out, false);
        assert_eq!(sent(&mut out), ["1: StatsRequest"]);
        let worker = RankStats {
            transfer: crate::stats::TransferStats::new(1, 2),
            memory: crate::stats::MemoryStats { rank: 1, objects: 0, bytes: 0 },
            tasks: WorkerStats::new(1),
            functions: Vec::new(),
        };
        root.on_message(1, Message::StatsReply(Box::new(worker.clone())), &mut out);
        root.flush(&mut out, false);
        // The peaks count anew once, at the round that answers.
        let second = ["1: StatsRequest, peak anew"];
        assert_eq!(sent(&mut out), second, "a second round, after the cleanups");
        assert!(stats.try_recv().is_err());
        root.on_message(1, Message::StatsReply(Box::new(worker)), &mut out);
        let all = stats.try_recv().expect("answered after the second round");
        assert_eq!(all.iter().map(|s| s.memory.rank).collect::<Vec<_>>(), [0, 1]);
        assert_eq!((all[0].memory.objects, all[0].memory.bytes), (1, kept.len() as u64));
    }

    #[test]
    fn a_stats_request_goes_out_after_every_pending_cleanup() {
        let (mut root, mut out) = root(2);
        let a = id(0, 0);
        run_on(&mut root, &mut out, 1, a, &[]);
        done(&mut root, &mut out, 1, a, 8);
        root.on_command(Command::Release(a), &mut out);
        sent(&mut out);
        let (reply, _stats) = std::sync::mpsc::channel();
        root.on_command(Command::Stats { reply, reset_peaks: false }, &mut out);
        root.flush(&mut out, false);
        assert_eq!(sent(&mut out), ["1: Cleanup [0:0]", "1: StatsRequest"]);
    }

    #[test]
    fn shutdown_with_work_queued_sends_the_cleanups_first_then_stops_every_worker() {
        let (mut root, mut out) = root(3);
        let (a, b) = (id(0, 0), id(0, 1));
        run_on(&mut root, &mut out, 1, a, &[]);
        done(&mut root, &mut out, 1, a, 8);
        root.on_command(Command::Release(a), &mut out);
        run_on(&mut root, &mut out, 2, b, &[]); // still running
        sent(&mut out);
        assert!(!root.finished());
        root.on_command(Command::Shutdown, &mut out);
        assert!(root.finished());
        assert_eq!(sent(&mut out), ["1: Cleanup [0:0]", "1: Shutdown", "2: Shutdown"]);
    }

    #[test]
    fn a_fetch_is_served_from_the_root_s_store_or_by_the_holder() {
        let (mut root, mut out) = root(3);
        let (p, a) = (id(0, 0), id(0, 1));
        put(&mut root, &mut out, p, value(&1_i64));
        run_on(&mut root, &mut out, 1, a, &[]);
        sent(&mut out);
        root.on_message(2, Message::Fetch(vec![p, a]), &mut out);
        assert_eq!(sent(&mut out), ["2: Data 0:0", "1: Transfer 0:1 to 2"]);
        root.on_message(2, Message::Fetch(vec![a]), &mut out);
        assert!(sent(&mut out).is_empty(), "already on its way");
    }

    #[test]
    fn the_root_keeps_no_copy_of_a_large_result_once_every_get_of_it_has_it() {
        let (mut root, mut out) = root(3);
        let (large, small) = (id(1, 0), id(2, 0));
        let big = vec![5_u8; KEEP_FETCHED_BELOW as usize];
        root.on_message(1, Message::Created { id: large, bytes: 0 }, &mut out);
        root.on_message(2, Message::Created { id: small, bytes: 0 }, &mut out);
        // Two gets: one of the large object alone, one of both.
        let alone = get(&mut root, &mut out, vec![large]);
        let both = get(&mut root, &mut out, vec![large, small]);
        assert_eq!(sent(&mut out), ["1: Transfer 1:0 to 0", "2: Transfer 2:0 to 0"]);
        root.on_message(1, Message::Data { id: large, object: value(&big) }, &mut out);
        assert_eq!(answered_objects(&alone).len(), 1);
        assert!(root.store.contains(large), "the other get still has to read it");
        root.on_message(2, Message::Data { id: small, object: value(&3_i64) }, &mut out);
        let got = answered_objects(&both);
        assert_eq!(read::<Vec<u8>>(&got[0]), Ok(big));
        assert!(!root.store.contains(large), "every get has it: the root's copy is gone");
        assert_eq!(root.objects[&large].holders, [1]);
        assert!(root.store.contains(small), "a small one stays for later gets");
        // A later get fetches the large one again, from its worker.
        let again = get(&mut root, &mut out, vec![large, small]);
        assert_eq!(sent(&mut out), ["1: Transfer 1:0 to 0"]);
        assert!(unanswered(&again));
    }

    #[test]
    fn an_object_a_task_put_is_done_and_fetched_from_its_worker() {
        let (mut root, mut out) = root(3);
        let c = id(2, 0);
        root.on_message(2, Message::Created { id: c, bytes: 8 }, &mut out);
        assert_eq!(flags(&wait(&mut root, &mut out, vec![c], 1)), [true]);
        let answer = get(&mut root, &mut out, vec![c]);
        assert_eq!(sent(&mut out), ["2: Transfer 2:0 to 0"]);
        root.on_message(2, Message::Data { id: c, object: value(&9_i64) }, &mut out);
        assert_eq!(objects(&answer), [Ok(9)]);
    }

    #[test]
    fn a_due_heartbeat_goes_to_every_worker() {
        let hosts = vec!["a".to_string(); 3];
        let (root, mut out) = root(3);
        // A timeout of zero makes a heartbeat due at every round, and never finds a silence:
        // the rank listens all the time.
        let mut root = root.with_heartbeat(Some(Heartbeat::new(Duration::ZERO, vec![1, 2], hosts)));
        root.on_message(1, Message::Heartbeat, &mut out);
        root.heard(1);
        assert!(sent(&mut out).is_empty(), "a heartbeat asks for no answer");
        root.flush(&mut out, true);
        assert_eq!(sent(&mut out), ["1: Heartbeat", "2: Heartbeat"]);
        assert!(out.fatal.is_none());
    }

    #[test]
    fn without_a_heartbeat_an_idle_root_sends_nothing() {
        let (mut root, mut out) = root(3);
        root.flush(&mut out, true);
        root.flush(&mut out, false);
        assert!(sent(&mut out).is_empty());
        assert!(!root.urgent(), "nobody waits");
    }

    /// A call on `actor` (the constructor's own task when `first_output` is `actor`).
    fn actor_call(function: u64, first_output: ObjectId, actor: ObjectId) -> Task {
        let call = Some(crate::protocol::ActorCall { actor, number: 0 });
        task(function, first_output, Vec::new()).with_actors(call, Vec::new())
    }

    /// The tasks the root sent, as (worker, first output, number among its actor's calls).
    fn submitted(out: &mut Outbox) -> Vec<(Rank, ObjectId, u64, bool)> {
        out.drain()
            .flat_map(|(to, batch)| {
                batch
                    .into_iter()
                    .filter_map(move |m| match m {
                        Message::Submit(t) => Some((
                            to,
                            t.first_output,
                            t.actor_call().map_or(u64::MAX, |c| c.number),
                            t.pinned,
                        )),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn an_actor_s_calls_go_to_its_worker_numbered_in_arrival_order_and_none_after_its_end() {
        let (mut root, mut out) = root(3);
        let actor = id(0, 0);
        root.on_command(Command::Submit { task: actor_call(ADD, actor, actor), rank: 2 }, &mut out);
        // The callers' picks do not matter: every call goes where the actor lives.
        root.on_command(
            Command::Submit { task: actor_call(ADD, id(0, 1), actor), rank: 1 },
            &mut out,
        );
        root.on_message(1, Message::Spawn(actor_call(ADD, id(1, 0), actor)), &mut out);
        let end = actor_call(crate::actor::END, id(0, 2), actor);
        root.on_command(Command::Submit { task: end, rank: 1 }, &mut out);
        assert_eq!(
            submitted(&mut out),
            [
                (2, actor, 0, true),
                (2, id(0, 1), 1, true),
                (2, id(1, 0), 2, true),
                (2, id(0, 2), 3, true)
            ]
        );
        root.flush(&mut out, false);
        assert_eq!(
            sent(&mut out),
            ["1: Placed 1:0 x1"],
            "the spawner learns its call went elsewhere"
        );
        assert!(root.actors.is_empty(), "an actor sent its last call is forgotten");

        // A call after the end fails on the root, at once.
        root.on_command(
            Command::Submit { task: actor_call(ADD, id(0, 3), actor), rank: 2 },
            &mut out,
        );
        assert!(submitted(&mut out).is_empty());
        let answer = get(&mut root, &mut out, vec![id(0, 3)]);
        match &objects(&answer)[..] {
            [Err(Error::ActorUnavailable { actor: a, reason, .. })] => {
                assert_eq!(*a, actor);
                assert!(reason.contains("killed"), "{reason}");
            }
            other => panic!("expected an unavailable actor, got {other:?}"),
        }
    }

    #[test]
    fn a_released_actor_ends_only_after_the_tasks_that_carry_its_handles() {
        let (mut root, mut out) = root(3);
        let actor = id(0, 0);
        root.on_command(Command::Submit { task: actor_call(ADD, actor, actor), rank: 1 }, &mut out);
        let carrier = task(ADD, id(0, 1), Vec::new()).with_actors(None, vec![actor]);
        root.on_command(Command::Submit { task: carrier, rank: 2 }, &mut out);
        submitted(&mut out);
        // The last owning handle is dropped: the release waits for the carrier.
        let release = actor_call(crate::actor::RELEASE, id(0, 2), actor);
        root.on_command(Command::Submit { task: release, rank: 1 }, &mut out);
        assert!(submitted(&mut out).is_empty(), "held back");
        // The carrier calls the actor, twice: the calls are numbered and go.
        root.on_message(2, Message::Spawn(actor_call(ADD, id(2, 0), actor)), &mut out);
        root.on_message(2, Message::Spawn(actor_call(ADD, id(2, 1), actor)), &mut out);
        assert_eq!(submitted(&mut out), [(1, id(2, 0), 1, true), (1, id(2, 1), 2, true)]);
        root.on_message(
            2,
            Message::TaskDone { first_output: id(0, 1), sizes: vec![8], failed: false },
            &mut out,
        );
        assert_eq!(submitted(&mut out), [(1, id(0, 2), 3, true)], "the release goes last");
        root.release(id(0, 2));
        root.on_message(
            1,
            Message::TaskDone { first_output: id(0, 2), sizes: vec![1], failed: false },
            &mut out,
        );
        assert!(!root.objects.contains_key(&id(0, 2)), "its result was freed");
    }

    #[test]
    fn an_actor_ends_when_its_last_group_of_handles_goes_wherever_it_was_decoded() {
        let (mut root, mut out) = root(3);
        let actor = id(0, 0);
        root.on_command(Command::Submit { task: actor_call(ADD, actor, actor), rank: 1 }, &mut out);
        let carrier = task(ADD, id(0, 1), Vec::new()).with_actors(None, vec![actor]);
        root.on_command(Command::Submit { task: carrier, rank: 2 }, &mut out);
        submitted(&mut out);
        // The root's handles go while the carrier runs: held back.
        let release = |first| actor_call(crate::actor::RELEASE, first, actor);
        root.on_command(Command::Submit { task: release(id(0, 2)), rank: 1 }, &mut out);
        // The carrier decodes its handle (one more owner) and keeps it past its end, in an
        // actor's state, say: the release held back is moot, and its result is done here.
        root.on_message(2, Message::HoldActor(actor), &mut out);
        root.on_message(
            2,
            Message::TaskDone { first_output: id(0, 1), sizes: vec![8], failed: false },
            &mut out,
        );
        assert!(submitted(&mut out).is_empty(), "the actor lives on");
        let answer = get(&mut root, &mut out, vec![id(0, 2)]);
        assert!(!unanswered(&answer), "the moot release is done");
        // That handle goes too, from worker 2: now the actor ends.
        root.on_message(2, Message::Spawn(release(id(2, 0))), &mut out);
        assert_eq!(submitted(&mut out), [(1, id(2, 0), 1, true)]);
        assert!(root.actors.is_empty());
    }

    #[test]
    fn a_task_that_a_task_placed_on_a_chosen_worker_goes_there_and_stays() {
        let (mut root, mut out) = root(4);
        let mut chosen = task(ADD, id(1, 0), Vec::new());
        chosen.pinned = true;
        chosen.chosen = true;
        root.on_message(1, Message::SpawnOn { task: chosen, worker: 3 }, &mut out);
        assert_eq!(submitted(&mut out), [(3, id(1, 0), u64::MAX, true)]);
        root.flush(&mut out, false);
        assert_eq!(sent(&mut out), ["1: Placed 1:0 x1"]);
    }
}
