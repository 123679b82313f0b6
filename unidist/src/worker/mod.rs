//! A worker rank: holds the objects its tasks made, hands tasks whose inputs are all here to its
//! executor threads, and sends objects to whichever rank the root names.
//!
//! Tasks run on executor threads (see `executor`), so a long or blocked task never stops the
//! worker from receiving inputs, serving objects to other workers or answering the root; only
//! tasks of `#[remote(inline)]` functions that have proved quick run on the loop's own thread
//! (see `take_inline`). The API calls of tasks (nested tasks) come to this loop as
//! commands: submissions, `put` values and releases go on to the root, which keeps the directory
//! of every object; `get` and `wait` are answered here, with the root's help for what is missing.
//!
//! Work stealing: a worker with a free slot and nothing ready says so (`Idle`), and gives back
//! queued tasks that wait for a slot when the root asks (`Reclaim`), see `root`.

mod actor_queue;
pub(crate) mod command;

use std::collections::VecDeque;
use std::sync::Arc;

use actor_queue::ActorQueues;
use command::Command;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::arg::{Arg, Resolved};
use crate::context::TaskHost;
use crate::event_loop::{InlineTask, Mailbox, Node, Outbox};
use crate::executor::Pool;
use crate::heartbeat::Heartbeat;
use crate::id::{ObjectId, Rank};
use crate::invoke::Job;
use crate::object::Object;
use crate::object_store::ObjectStore;
use crate::protocol::{Message, Task};
use crate::registry::{self, FunctionMap, RemoteFunction};
use crate::reply::{Answer, Reply};
use crate::stats::{FunctionCounts, RankStats, WorkerStats};

struct Blocked {
    task: Task,
    missing: usize,
}

/// A `get` of a task of this worker, waiting for objects to arrive.
struct Get {
    remaining: usize,
    ids: Vec<ObjectId>,
    reply: Reply,
}

pub(crate) struct Worker {
    store: ObjectStore,
    /// Tasks waiting for inputs, by first output.
    blocked: FxHashMap<ObjectId, Blocked>,
    /// For each missing input, the tasks waiting for it.
    waiting_for: FxHashMap<ObjectId, Vec<ObjectId>>,
    /// Transfers asked for objects that are not made yet.
    transfers: FxHashMap<ObjectId, Vec<Rank>>,
    /// Results of tasks given back to the root (`Reclaim`) until it says `Forget`: a
    /// `Transfer` of one of them is stale (the root sends it again to their new worker).
    given_back: FxHashSet<ObjectId>,
    /// `get`s of tasks, and the objects each waits for.
    gets: FxHashMap<u64, Get>,
    get_waiters: FxHashMap<ObjectId, Vec<u64>>,
    next_get: u64,
    /// `wait`s of tasks that the root answers, by request, with the token of those that have
    /// a deadline.
    waits: FxHashMap<u64, (Reply, Option<u64>)>,
    next_wait: u64,
    /// The requests of those `wait`s with a deadline, by the task's token.
    timed_waits: FxHashMap<u64, u64>,
    /// Refs dropped by tasks, sent to the root once per round.
    releases: Vec<ObjectId>,
    /// Ready tasks of quick functions, for the loop's own thread (see `take_inline`).
    inline: VecDeque<Job>,
    /// Watches the root under MPI (see `heartbeat`).
    heartbeat: Option<Heartbeat>,
    /// `Submit`s received so far.
    submits: u64,
    /// The tasks it holds (see `unidist::worker_stats`).
    tasks: WorkerStats,
    /// What the tasks of each function did here, by function ID (see
    /// `unidist::function_stats`; the pool counts those running).
    functions: FunctionMap<FunctionCounts>,
    /// Tasks the root asked back (`Reclaim`) and this worker could not give then, and the
    /// length of its queue when it last tried: it gives them as they become ready.
    owed: usize,
    owed_tried_at: usize,
    /// The root was told this worker is short of work (`Message::Idle`) and has sent no task
    /// since.
    said_idle: bool,
    /// Calls on actors that live here, started one at a time per actor, in order.
    actors: ActorQueues,
    /// Tasks started here that may run again if they panic, as the root sent them, by first
    /// result (see `Message::Retry`).
    retryable: FxHashMap<ObjectId, Task>,
    pool: Arc<Pool>,
    finished: bool,
}

impl Worker {
    /// Creates the worker, which runs up to `slots` tasks at once on executor threads that
    /// report to its loop through `mailbox`. No thread starts until a task is ready.
    pub(crate) fn new(
        rank: Rank,
        size: usize,
        backend: &'static str,
        mailbox: Mailbox<Command>,
        slots: usize,
    ) -> Worker {
        Worker {
            store: ObjectStore::default(),
            blocked: FxHashMap::default(),
            waiting_for: FxHashMap::default(),
            transfers: FxHashMap::default(),
            given_back: FxHashSet::default(),
            gets: FxHashMap::default(),
            get_waiters: FxHashMap::default(),
            next_get: 0,
            waits: FxHashMap::default(),
            timed_waits: FxHashMap::default(),
            next_wait: 0,
            releases: Vec::new(),
            inline: VecDeque::new(),
            heartbeat: None,
            submits: 0,
            tasks: WorkerStats::new(rank),
            functions: FunctionMap::default(),
            owed: 0,
            owed_tried_at: 0,
            said_idle: false,
            actors: ActorQueues::default(),
            retryable: FxHashMap::default(),
            pool: Pool::new(rank, size - 1, backend, mailbox, slots),
            finished: false,
        }
    }

    /// Watches the root with `heartbeat`.
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    pub(crate) fn with_heartbeat(mut self, heartbeat: Option<Heartbeat>) -> Worker {
        self.heartbeat = heartbeat;
        self
    }

    fn submit(&mut self, task: Task) {
        if !self.given_back.is_empty() {
            // Given back, and placed here again: its results are made here after all.
            for k in 0..task.num_returns as usize {
                self.given_back.remove(&task.first_output.offset(k));
            }
        }
        let mut missing = 0;
        for arg in &task.args {
            for &id in arg.ids() {
                if !self.store.contains(id) {
                    missing += 1;
                    self.waiting_for.entry(id).or_default().push(task.first_output);
                }
            }
        }
        if missing == 0 {
            self.start(task);
        } else {
            // A task here may wait for this one: it may run others while the inputs come.
            if task.first_output.origin() == TaskHost::rank(&*self.pool) {
                self.pool.placed(task.first_output, task.num_returns as usize);
            }
            self.blocked.insert(task.first_output, Blocked { task, missing });
        }
    }

    fn start(&mut self, task: Task) {
        if task.actor_call().is_some() {
            let (first_output, num_returns) = (task.first_output, task.num_returns as usize);
            match self.actors.ready(task) {
                Some(task) => self.start_now(task),
                // Not its turn yet: a task here that waits for it must not hold back others.
                None if first_output.origin() == TaskHost::rank(&*self.pool) => {
                    self.pool.placed(first_output, num_returns)
                }
                None => {}
            }
            return;
        }
        self.start_now(task)
    }

    /// Hands a task whose inputs are all here (and, for an actor's call, whose turn it is) to the
    /// executor threads, or to the loop's own thread; a task cancelled meanwhile ends at once.
    fn start_now(&mut self, task: Task) {
        // A task ended here without running is no longer expected by a task of this worker.
        let unexpect = |pool: &Pool, task: &Task| {
            if task.first_output.origin() == TaskHost::rank(pool) {
                pool.unexpect(task.first_output, task.num_returns as usize);
            }
        };
        if self.pool.take_cancelled(task.first_output) {
            unexpect(&self.pool, &task);
            return self.end_cancelled(&task);
        }
        if task.retries > 0 {
            self.retryable.insert(task.first_output, task.clone());
        }
        let store = &self.store;
        let object = |id: &ObjectId| store.get(*id).expect("inputs are here").clone();
        let args = task
            .args
            .iter()
            .map(|arg| match arg {
                Arg::Value(object) => Resolved::Value(object.clone()),
                // The transport puts payloads and segments back in place before a task gets
                // here; an empty value of no type fails the task's argument check, should one
                // ever slip by.
                Arg::Payload { .. } | Arg::Shared { .. } => {
                    Resolved::Value(Object { type_fp: 0, bytes: Arc::new(Vec::new().into()) })
                }
                Arg::Ref(id) => Resolved::Ref(*id, object(id)),
                Arg::RefList { element_type, ids } => {
                    Resolved::List(*element_type, ids.iter().map(|id| (*id, object(id))).collect())
                }
            })
            .collect();
        let job = Job { task, args };
        let function = registry::lookup(job.task.function);
        // An input failed: the task fails now, without taking a slot (its worker may be busy
        // for long).
        if let Some(outputs) = function.and_then(|f| crate::invoke::input_failed(&job, f.path())) {
            unexpect(&self.pool, &job.task);
            return self.pool.report_finished(&job.task, outputs);
        }
        // A quick task while no other computes here runs on the loop's thread, after this
        // round: no hand-over to an executor and back.
        let quick = function.is_some_and(RemoteFunction::runs_inline);
        // With several slots, only one at a time: the others run on executors meanwhile.
        let queue = self.inline.is_empty() || self.pool.slots() == 1;
        if quick && !self.pool.inline_running() && self.pool.idle() && queue {
            // Only a task submitted by a task here can be expected (see `Pool::expect`).
            if job.task.first_output.origin() == TaskHost::rank(&*self.pool) {
                self.pool.unexpect(job.task.first_output, job.task.num_returns as usize);
            }
            self.inline.push_back(job);
        } else {
            self.pool.push(job);
        }
    }

    /// The root cancels these tasks (by first result), placed here: one not started yet ends
    /// now, without running (an actor's call at its turn, so that the calls after it go on);
    /// one that runs, or has ended, is marked (see `Pool::mark_cancelled`).
    fn cancel(&mut self, firsts: Vec<ObjectId>) {
        for first in firsts {
            if self.given_back.contains(&first) {
                continue; // the root cancels it where it goes next
            }
            if let Some(blocked) = self.blocked.remove(&first) {
                if blocked.task.actor_call().is_some() {
                    self.pool.mark_cancelled(first);
                    self.start(blocked.task);
                } else {
                    self.end_cancelled(&blocked.task);
                }
            } else if let Some(i) = self.inline.iter().position(|j| j.task.first_output == first) {
                let job = self.inline.remove(i).expect("present");
                self.end_cancelled(&job.task);
            } else if let Some(job) = self.pool.take_queued(first) {
                self.end_cancelled(&job.task);
            } else {
                self.pool.mark_cancelled(first);
            }
        }
    }

    /// Ends a cancelled task that never ran: its results are errors, reported like a finished
    /// task's. An actor whose constructor is cancelled fails its calls with that error.
    fn end_cancelled(&self, task: &Task) {
        let first = task.first_output;
        if let Some(call) = task.actor_call().filter(|c| c.actor == first) {
            crate::actor::failed(call.actor, crate::error::Error::Cancelled { object: first });
        }
        crate::log::event!(debug, task = %first, "task cancelled before it ran");
        self.pool.report_finished(task, crate::invoke::cancelled(first, task.num_returns as usize));
    }

    fn store_object(&mut self, id: ObjectId, object: Object, out: &mut Outbox) {
        if let Some(ranks) = self.transfers.remove(&id) {
            for to in ranks {
                out.send(to, Message::Data { id, object: object.clone() });
            }
        }
        self.store.insert(id, object);
        if let Some(tasks) = self.waiting_for.remove(&id) {
            for first in tasks {
                let Some(blocked) = self.blocked.get_mut(&first) else { continue };
                blocked.missing -= 1;
                if blocked.missing == 0 {
                    let blocked = self.blocked.remove(&first).expect("present");
                    self.start(blocked.task);
                }
            }
        }
        for waiter in self.get_waiters.remove(&id).unwrap_or_default() {
            let Some(get) = self.gets.get_mut(&waiter) else { continue };
            get.remaining -= 1;
            if get.remaining == 0 {
                let get = self.gets.remove(&waiter).expect("present");
                self.reply_get(get.ids, get.reply);
            }
        }
    }

    fn reply_get(&self, ids: Vec<ObjectId>, reply: Reply) {
        let objects = ids.iter().map(|id| self.store.get(*id).expect("arrived").clone()).collect();
        reply.complete(Answer::Objects(objects));
    }

    /// Answers a `Reclaim`: gives the root back up to `max` queued tasks that have not started,
    /// for a worker short of work, and owes it the rest (given as they become ready here).
    fn give_back(&mut self, max: usize, out: &mut Outbox) {
        let tasks = self.take_back(max);
        self.owed = max - tasks.len();
        self.owed_tried_at = self.pool.queued();
        self.tasks.gave_back(tasks.len());
        out.send(0, Message::Returned(tasks));
    }

    /// Takes up to `max` queued tasks that have not started out of the pool (see
    /// `Pool::take_back`). The root has their results sent wherever they were promised, here
    /// included; transfers of them that reach this worker meanwhile are stale.
    fn take_back(&mut self, max: usize) -> Vec<Task> {
        let jobs = self.pool.take_back(max);
        jobs.into_iter()
            .map(|job| {
                self.retryable.remove(&job.task.first_output);
                self.give_up_results(&job.task);
                job.task
            })
            .collect()
    }

    /// A task leaves this worker unfinished (given back, or to run again): transfers of its
    /// results asked of this worker are the root's to ask again of its next worker, and those
    /// that come until the root says `Forget` are stale.
    fn give_up_results(&mut self, task: &Task) {
        for k in 0..task.num_returns as usize {
            let id = task.first_output.offset(k);
            self.transfers.remove(&id);
            self.given_back.insert(id);
        }
    }

    /// A task that may run again panicked: back to the root, which places it again.
    fn retry(&mut self, mut task: Task, out: &mut Outbox) {
        task.retries -= 1;
        task.attempt = task.attempt.saturating_add(1);
        crate::log::event!(debug, task = %task.first_output, attempt = task.attempt, "task panicked, to run again");
        self.give_up_results(&task);
        out.send(0, Message::Retry(task));
    }

    /// A task's `get`: answered from the store, or once the root has had the missing objects
    /// sent here.
    fn get(&mut self, ids: Vec<ObjectId>, reply: Reply, out: &mut Outbox) {
        let missing: Vec<ObjectId> =
            ids.iter().copied().filter(|id| !self.store.contains(*id)).collect();
        if missing.is_empty() {
            return self.reply_get(ids, reply);
        }
        let waiter = self.next_get;
        self.next_get += 1;
        for id in &missing {
            self.get_waiters.entry(*id).or_default().push(waiter);
        }
        self.gets.insert(waiter, Get { remaining: missing.len(), ids, reply });
        out.send(0, Message::Fetch(missing));
    }

    /// A task's `wait`: answered here if enough objects are here, else by the root.
    fn wait(
        &mut self,
        ids: Vec<ObjectId>,
        n: usize,
        reply: Reply,
        token: Option<u64>,
        out: &mut Outbox,
    ) {
        let here: Vec<bool> = ids.iter().map(|id| self.store.contains(*id)).collect();
        if here.iter().filter(|h| **h).count() >= n {
            return reply.complete(Answer::Flags(here));
        }
        let request = self.next_wait;
        self.next_wait += 1;
        if let Some(token) = token {
            self.timed_waits.insert(token, request);
        }
        self.waits.insert(request, (reply, token));
        let timed = token.is_some();
        out.send(0, Message::WaitFor { request, ids, num_returns: n, timed });
    }

    /// The deadline of a task's `wait` passed: the root answers it now, if it has not already.
    fn wait_expired(&mut self, token: u64, out: &mut Outbox) {
        if let Some(request) = self.timed_waits.remove(&token) {
            out.send(0, Message::WaitExpired { request });
        }
    }
}

impl Node for Worker {
    type Command = Command;

    fn on_message(&mut self, _from: Rank, message: Message, out: &mut Outbox) {
        match message {
            Message::Submit(task) => {
                self.submits += 1;
                self.tasks.received();
                self.said_idle = false;
                self.submit(task)
            }
            Message::Data { id, object } => self.store_object(id, object, out),
            // Stale: the root asks the task's new worker, even if a copy has come here since.
            Message::Transfer { id, .. } if self.given_back.contains(&id) => {}
            Message::Transfer { id, to } => match self.store.get(id) {
                Some(object) => out.send(to, Message::Data { id, object: object.clone() }),
                None => self.transfers.entry(id).or_default().push(to),
            },
            Message::Reclaim { max } => self.give_back(max as usize, out),
            Message::Forget(ids) => {
                for id in ids {
                    self.given_back.remove(&id);
                }
            }
            Message::Cleanup(ids) => {
                self.pool.forget_cancelled(&ids);
                crate::decoded::forget(out.stats.rank, &ids);
                for id in ids {
                    self.store.remove(id);
                }
            }
            Message::Cancel(firsts) => self.cancel(firsts),
            Message::Placed { first_output, num_returns } => {
                self.pool.placed(first_output, num_returns as usize)
            }
            Message::WaitDone { request, flags } => {
                if let Some((reply, token)) = self.waits.remove(&request) {
                    if let Some(token) = token {
                        self.timed_waits.remove(&token);
                    }
                    reply.complete(Answer::Flags(flags));
                }
            }
            Message::Record { on } => crate::timeline::set(on),
            Message::ClockProbe => {
                out.send(0, Message::ClockEcho { now: crate::timeline::now() });
            }
            Message::TimelineRequest => {
                let timeline = crate::timeline::copy(out.stats.rank);
                out.send(0, Message::TimelineReply(Box::new(timeline)));
            }
            Message::StatsRequest { reset_peak } => {
                let tasks = if reset_peak { self.tasks.read_and_reset_peak() } else { self.tasks };
                let mut functions = self.functions.clone();
                for (function, running) in self.pool.running() {
                    functions.entry(function).or_default().running = running;
                }
                let stats = RankStats {
                    transfer: out.stats.clone(),
                    memory: self.store.memory(out.stats.rank),
                    tasks,
                    functions: functions.into_iter().collect(),
                };
                out.send(0, Message::StatsReply(Box::new(stats)))
            }
            // The job is over: tasks still queued or waiting for inputs are abandoned without a
            // result (nobody is left to read one), and a task blocked in `get` or `wait` fails
            // so that its thread ends.
            Message::Shutdown => {
                self.pool.stop();
                crate::decoded::forget_rank(out.stats.rank);
                // Actors living here end now (their `Drop` runs, unless a call of theirs still
                // runs: the worker does not wait for it); their queued calls never run.
                for actor in self.actors.actors() {
                    crate::actor::end_at_shutdown(actor);
                }
                self.finished = true;
            }
            // A sign of life, counted as every batch is; this rank sends its own in `flush`.
            Message::Heartbeat => {}
            other => eprintln!("unidist: a worker ignored an unexpected {} message", other.kind()),
        }
    }

    fn on_command(&mut self, command: Command, out: &mut Outbox) {
        match command {
            Command::Finished { first_output, function, mut outputs, took } => {
                // Cancelled while it ran: what it returned is dropped.
                if self.pool.take_cancelled(first_output) {
                    outputs = crate::invoke::cancelled(first_output, outputs.len());
                }
                let failed = outputs.first().is_some_and(Object::is_error);
                // A task that may run again and panicked goes back to the root.
                let retry = match self.retryable.is_empty() {
                    true => None,
                    false => self.retryable.remove(&first_output).filter(|_| {
                        let error = outputs.first().and_then(|o| o.error(first_output));
                        matches!(error, Some(crate::error::Error::TaskPanicked { .. }))
                    }),
                };
                let counts = self.functions.entry(function).or_default();
                if let Some(took) = took {
                    counts.runs += 1;
                    counts.nanos += u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
                }
                if let Some(task) = retry {
                    self.tasks.gave_back(1);
                    return self.retry(task, out);
                }
                if failed {
                    counts.failed += 1;
                } else {
                    counts.done += 1;
                }
                let sizes = outputs.iter().map(|object| object.len() as u64).collect();
                for (k, object) in outputs.into_iter().enumerate() {
                    self.store_object(first_output.offset(k), object, out);
                }
                out.send(0, Message::TaskDone { first_output, sizes, failed });
                self.tasks.ended();
                if let Some(next) = self.actors.finished(first_output) {
                    self.start_now(next);
                }
            }
            Command::Submit { task, worker: None } => out.send(0, Message::Spawn(task)),
            Command::Submit { task, worker: Some(worker) } => {
                out.send(0, Message::SpawnOn { task, worker: worker as u32 })
            }
            Command::Put { id, object } => {
                let bytes = object.len() as u64;
                self.store_object(id, object, out);
                out.send(0, Message::Created { id, bytes });
            }
            Command::Get { ids, reply } => self.get(ids, reply, out),
            Command::Wait { ids, num_returns, reply, token } => {
                self.wait(ids, num_returns, reply, token, out)
            }
            Command::WaitExpired(token) => self.wait_expired(token, out),
            Command::Release(id) => self.releases.push(id),
            // At once, not with the releases: ahead of the `TaskDone` of the task that holds a
            // lease on the actor meanwhile.
            Command::HoldActor(actor) => out.send(0, Message::HoldActor(actor)),
            Command::Cancel(ids) => out.send(0, Message::Cancel(ids)),
        }
    }

    fn heard(&mut self, from: Rank) {
        if let Some(heartbeat) = &mut self.heartbeat {
            heartbeat.heard(from);
        }
    }

    fn flush(&mut self, out: &mut Outbox, _idle: bool) {
        if !self.releases.is_empty() {
            out.send(0, Message::Release(std::mem::take(&mut self.releases)));
        }
        // Tasks owed to the root since a `Reclaim`, as they become ready here.
        let queued = self.pool.queued();
        self.owed_tried_at = self.owed_tried_at.min(queued);
        if self.owed > 0 && queued > self.owed_tried_at && !self.finished {
            let tasks = self.take_back(self.owed);
            self.owed -= tasks.len();
            self.owed_tried_at = self.pool.queued();
            if !tasks.is_empty() {
                self.tasks.gave_back(tasks.len());
                out.send(0, Message::Returned(tasks));
            }
        }
        // With one worker, no task can move: nothing to say.
        let others = TaskHost::workers(&*self.pool) > 1;
        if others
            && !self.said_idle
            && self.inline.is_empty()
            && self.pool.short_of_work()
            && !self.finished
        {
            self.said_idle = true;
            self.owed = 0; // nothing waits here for a slot
            out.send(0, Message::Idle { submits: self.submits });
        }
        if let Some(heartbeat) = &mut self.heartbeat {
            // Its own, not an answer to the root's: a root that died is then found by this
            // send failing, as a worker that died is by the root's.
            if heartbeat.due() {
                out.send(0, Message::Heartbeat);
            }
            if let Some(line) = heartbeat.silent() {
                out.fatal = Some(line);
            }
        }
    }

    fn finished(&self) -> bool {
        self.finished
    }

    fn take_inline(&mut self, allowed: bool) -> Option<InlineTask> {
        if !allowed || self.pool.inline_running() {
            // Not now: to the executors, in order.
            for job in self.inline.drain(..) {
                self.pool.push(job);
            }
            return None;
        }
        let job = self.inline.pop_front()?;
        let pool = Arc::clone(&self.pool);
        Some(Box::new(move || pool.run_inline(job)))
    }

    /// A worker waits on the network when no task of it computes, or when a task of it is
    /// blocked on an answer or an input from another rank; otherwise it leaves the core to its
    /// computing tasks.
    fn urgent(&self) -> bool {
        !self.pool.computing()
            || !self.gets.is_empty()
            || !self.waits.is_empty()
            || !self.blocked.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::{Receiver, TryRecvError};
    use std::time::Duration;

    use super::*;
    use crate::error::Error;
    use crate::event_loop::Input;
    use crate::test_support::{
        answered_flags as flags, answered_objects, open_gate, read, show, task, value, ADD, GATE,
        LIST, PANICS,
    };
    use crate::transport::Doorbell;

    /// Worker 1 of 3 ranks, its outbox, and the queue its executor threads report to.
    struct Fixture {
        worker: Worker,
        out: Outbox,
        inbox: Receiver<Input<Command>>,
    }

    fn worker() -> Fixture {
        let (mailbox, inbox) = Mailbox::new(Doorbell::new());
        Fixture { worker: Worker::new(1, 3, "local", mailbox, 1), out: Outbox::new(1, 3), inbox }
    }

    impl Fixture {
        fn message(&mut self, from: Rank, message: Message) {
            self.worker.on_message(from, message, &mut self.out);
        }

        fn command(&mut self, command: Command) {
            self.worker.on_command(command, &mut self.out);
        }

        fn sent(&mut self) -> Vec<String> {
            let batches: Vec<(Rank, Vec<Message>)> = self.out.drain().collect();
            batches.iter().flat_map(|(to, b)| b.iter().map(|m| show(*to, m))).collect()
        }

        /// Waits for the next task an executor thread finished, hands it to the worker as its
        /// loop would, and returns its results.
        fn finish(&mut self) -> (ObjectId, Vec<Object>) {
            match self.inbox.recv().expect("the executor reports") {
                Input::Command(Command::Finished { first_output, function, outputs, took }) => {
                    let results = outputs.clone();
                    self.command(Command::Finished { first_output, function, outputs, took });
                    (first_output, results)
                }
                _ => panic!("expected a finished task"),
            }
        }

        /// Runs task `first_output` of `gate(key)`, which holds the worker's only slot until
        /// `open_gate(key)`: tasks that come next wait in the queue.
        fn hold_the_slot(&mut self, first_output: ObjectId, key: u64) {
            self.message(
                0,
                Message::Submit(task(GATE, first_output, vec![Arg::Value(value(&key))])),
            );
            while !self.worker.pool.computing() {
                std::thread::yield_now();
            }
        }

        fn objects_here(&mut self) -> u64 {
            self.stats(false).memory.objects
        }

        fn stats(&mut self, reset_peak: bool) -> RankStats {
            self.message(0, Message::StatsRequest { reset_peak });
            let batches: Vec<(Rank, Vec<Message>)> = self.out.drain().collect();
            match &batches[..] {
                [(0, batch)] => match &batch[..] {
                    [Message::StatsReply(stats)] => (**stats).clone(),
                    other => panic!("expected one StatsReply, got {} messages", other.len()),
                },
                _ => panic!("expected one batch to the root"),
            }
        }

        /// The tasks it holds now, the most it held, and those that ended here.
        fn tasks(&mut self, reset_peak: bool) -> (u64, u64, u64) {
            let tasks = self.stats(reset_peak).tasks;
            (tasks.tasks, tasks.most_tasks, tasks.ended)
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            self.worker.pool.stop();
        }
    }

    fn id(origin: Rank, sequence: u64) -> ObjectId {
        ObjectId::new(origin, sequence)
    }

    fn add(first_output: ObjectId, a: Arg, b: Arg) -> Message {
        Message::Submit(task(ADD, first_output, vec![a, b]))
    }

    fn int(n: i64) -> Arg {
        Arg::Value(value(&n))
    }

    fn objects(answer: &Receiver<Answer>) -> Vec<i64> {
        answered_objects(answer).iter().map(|o| read(o).unwrap()).collect()
    }

    #[test]
    fn a_worker_starts_no_thread_until_a_task_is_ready() {
        let mut w = worker();
        assert_eq!(w.worker.pool.threads(), 0, "constructing a worker starts no thread");
        let a = id(2, 0);
        w.message(0, add(id(0, 0), Arg::Ref(a), int(1)));
        assert_eq!(w.worker.pool.threads(), 0, "a task waiting for an input starts none");
        assert!(matches!(w.inbox.try_recv(), Err(TryRecvError::Empty)));
        w.message(2, Message::Data { id: a, object: value(&1_i64) });
        assert_eq!(w.worker.pool.threads(), 1, "its input came: one executor thread runs it");
        assert_eq!(read::<i64>(&w.finish().1[0]), Ok(2));
    }

    #[test]
    fn a_task_runs_and_the_root_learns_its_result_s_size() {
        let mut w = worker();
        let x = id(0, 5);
        w.message(0, add(x, int(2), int(3)));
        let (first_output, results) = w.finish();
        assert_eq!(first_output, x);
        assert_eq!(read::<i64>(&results[0]), Ok(5));
        assert_eq!(w.sent(), [format!("0: TaskDone 0:5 [{}]", results[0].len())]);
        // The result stays here, for whichever rank the root names.
        w.message(0, Message::Transfer { id: x, to: 2 });
        assert_eq!(w.sent(), ["2: Data 0:5"]);
    }

    #[test]
    fn a_transfer_asked_before_the_result_is_made_goes_out_with_it_ahead_of_task_done() {
        let mut w = worker();
        let x = id(0, 0);
        w.message(0, Message::Transfer { id: x, to: 0 });
        w.message(0, Message::Transfer { id: x, to: 2 });
        assert!(w.sent().is_empty(), "nothing to send yet");
        w.message(0, add(x, int(1), int(1)));
        let (_, results) = w.finish();
        assert_eq!(
            w.sent(),
            [
                "0: Data 0:0",
                format!("0: TaskDone 0:0 [{}]", results[0].len()).as_str(),
                "2: Data 0:0"
            ]
        );
    }

    #[test]
    fn a_task_waits_for_an_input_from_another_worker_whatever_comes_first() {
        let mut w = worker();
        let a = id(0, 0);
        w.message(0, add(id(0, 1), Arg::Ref(a), int(1)));
        assert!(w.sent().is_empty());
        w.message(2, Message::Data { id: a, object: value(&41_i64) });
        let (first_output, results) = w.finish();
        assert_eq!((first_output, read::<i64>(&results[0])), (id(0, 1), Ok(42)));
    }

    #[test]
    fn a_result_made_here_starts_the_task_that_waits_for_it() {
        let mut w = worker();
        let (a, b) = (id(0, 0), id(0, 1));
        w.message(0, add(a, int(1), int(2)));
        w.message(0, add(b, Arg::Ref(a), Arg::Ref(a)));
        assert_eq!(w.finish().0, a);
        let (first_output, results) = w.finish();
        assert_eq!((first_output, read::<i64>(&results[0])), (b, Ok(6)));
    }

    #[test]
    fn a_list_of_refs_reaches_the_task_in_its_order() {
        let mut w = worker();
        let ids = [id(0, 0), id(2, 0), id(0, 1)];
        for (k, id) in ids.iter().enumerate() {
            w.message(2, Message::Data { id: *id, object: value(&(10 * k as i64)) });
        }
        let reversed = vec![ids[2], ids[0], ids[1]];
        let list =
            Arg::RefList { element_type: crate::object::fingerprint::<i64>(), ids: reversed };
        w.message(0, Message::Submit(task(LIST, id(0, 9), vec![list])));
        assert_eq!(read::<Vec<i64>>(&w.finish().1[0]), Ok(vec![20, 0, 10]));
    }

    #[test]
    fn a_task_whose_input_failed_fails_naming_that_input_and_still_reports_done() {
        let mut w = worker();
        let a = id(2, 0);
        let cause = Error::TaskPanicked {
            function: "app::f".into(),
            object: a,
            rank: 2,
            message: "boom".into(),
            attempts: 1,
        };
        w.message(2, Message::Data { id: a, object: Object::from_error(&cause) });
        w.message(0, add(id(0, 0), int(1), Arg::Ref(a)));
        let (_, results) = w.finish();
        match read::<i64>(&results[0]) {
            Err(Error::InputFailed { function, input, cause: got }) => {
                assert_eq!((function.as_str(), input), ("unidist::test_support::add", a));
                assert_eq!(*got, cause);
            }
            other => panic!("expected InputFailed, got {other:?}"),
        }
        assert_eq!(w.sent(), [format!("0: TaskDone 0:0 [{}] failed", results[0].len())]);
    }

    #[test]
    fn a_panicking_task_reports_its_panic_as_its_result() {
        let mut w = worker();
        let message = Arg::Value(value(&"a deliberate panic".to_string()));
        w.message(0, Message::Submit(task(PANICS, id(0, 0), vec![message])));
        let (_, results) = w.finish();
        assert_eq!(
            read::<i64>(&results[0]),
            Err(Error::TaskPanicked {
                function: "unidist::test_support::panics".into(),
                object: id(0, 0),
                rank: 1,
                message: "a deliberate panic".into(),
                attempts: 1,
            })
        );
        // The worker goes on: its thread takes the next task.
        w.message(0, add(id(0, 1), int(1), int(1)));
        assert_eq!(read::<i64>(&w.finish().1[0]), Ok(2));
    }

    #[test]
    fn a_put_value_is_kept_here_and_announced_to_the_root() {
        let mut w = worker();
        let p = id(1, 0);
        let object = value(&5_i64);
        w.command(Command::Put { id: p, object: object.clone() });
        assert_eq!(w.sent(), [format!("0: Created 1:0 {}", object.len())]);
        w.message(0, Message::Transfer { id: p, to: 2 });
        assert_eq!(w.sent(), ["2: Data 1:0"]);
        assert_eq!(w.out.stats.peer(2).objects_sent, 1);
    }

    #[test]
    fn cleanup_frees_objects_and_a_later_transfer_waits_for_a_new_copy() {
        let mut w = worker();
        let (a, b) = (id(0, 0), id(0, 1));
        w.message(0, Message::Data { id: a, object: value(&1_i64) });
        w.message(0, Message::Data { id: b, object: value(&2_i64) });
        assert_eq!(w.objects_here(), 2);
        w.message(0, Message::Cleanup(vec![a]));
        assert_eq!(w.objects_here(), 1);
        w.message(0, Message::Transfer { id: a, to: 2 });
        w.message(0, Message::Transfer { id: b, to: 2 });
        assert_eq!(w.sent(), ["2: Data 0:1"], "0:0 is gone");
    }

    #[test]
    fn a_task_s_get_is_answered_from_here_or_after_the_root_has_the_rest_sent() {
        let mut w = worker();
        let (a, b) = (id(0, 0), id(2, 0));
        w.message(0, Message::Data { id: a, object: value(&1_i64) });
        let (reply, here) = Reply::channel();
        w.command(Command::Get { ids: vec![a], reply });
        assert_eq!(objects(&here), [1]);
        let (reply, later) = Reply::channel();
        w.command(Command::Get { ids: vec![b, a], reply });
        assert_eq!(w.sent(), ["0: Fetch [2:0]"], "only what is missing");
        assert!(matches!(later.try_recv(), Err(TryRecvError::Empty)));
        assert!(w.worker.urgent(), "a task waits on the network");
        w.message(2, Message::Data { id: b, object: value(&2_i64) });
        assert_eq!(objects(&later), [2, 1]);
    }

    #[test]
    fn a_task_s_wait_is_answered_here_or_by_the_root() {
        let mut w = worker();
        let (a, b) = (id(0, 0), id(0, 1));
        w.message(0, Message::Data { id: a, object: value(&1_i64) });
        let (reply, here) = Reply::channel();
        w.command(Command::Wait { ids: vec![a, b], num_returns: 1, reply, token: None });
        assert_eq!(flags(&here), [true, false]);
        assert!(w.sent().is_empty());
        let (reply, later) = Reply::channel();
        w.command(Command::Wait { ids: vec![a, b], num_returns: 2, reply, token: None });
        assert_eq!(w.sent(), ["0: WaitFor 0 [0:0,0:1] 2"]);
        w.message(0, Message::WaitDone { request: 7, flags: vec![false] }); // not asked: ignored
        assert!(matches!(later.try_recv(), Err(TryRecvError::Empty)));
        w.message(0, Message::WaitDone { request: 0, flags: vec![true, true] });
        assert_eq!(flags(&later), [true, true]);
    }

    #[test]
    fn a_task_s_wait_with_a_deadline_asks_the_root_for_its_answer_once_it_expires() {
        let mut w = worker();
        let (a, b) = (id(0, 0), id(0, 1));
        let (reply, answer) = Reply::channel();
        w.command(Command::Wait { ids: vec![a, b], num_returns: 1, reply, token: Some(40) });
        assert_eq!(w.sent(), ["0: WaitFor 0 [0:0,0:1] 1 timed"]);
        w.command(Command::WaitExpired(41)); // another task's token: nothing
        assert!(w.sent().is_empty());
        w.command(Command::WaitExpired(40));
        assert_eq!(w.sent(), ["0: WaitExpired 0"]);
        w.message(0, Message::WaitDone { request: 0, flags: vec![false, false] });
        assert_eq!(flags(&answer), [false, false]);
        w.command(Command::WaitExpired(40)); // answered: nothing more
        assert!(w.sent().is_empty());
        // One answered before its deadline leaves nothing behind.
        let (reply, answer) = Reply::channel();
        w.command(Command::Wait { ids: vec![a], num_returns: 1, reply, token: Some(42) });
        w.message(0, Message::WaitDone { request: 1, flags: vec![true] });
        assert_eq!(flags(&answer), [true]);
        assert!(w.worker.waits.is_empty() && w.worker.timed_waits.is_empty());
    }

    #[test]
    fn a_reclaim_gives_back_queued_tasks_and_stale_transfers_of_their_results_are_ignored() {
        let mut w = worker();
        let key = 1801_u64;
        w.hold_the_slot(id(0, 0), key);
        w.message(0, add(id(0, 1), int(1), int(2)));
        w.message(0, add(id(0, 2), int(3), int(4)));
        w.message(0, Message::Transfer { id: id(0, 1), to: 2 });
        w.message(0, add(id(0, 3), Arg::Ref(id(0, 1)), int(10)));
        assert_eq!(w.tasks(false), (4, 4, 0));
        w.message(0, Message::Reclaim { max: 2 });
        // Newest first; 0:3 waits for an input, so it stays.
        assert_eq!(w.sent(), ["0: Returned [0:2,0:1]"]);
        assert_eq!(w.tasks(true), (2, 4, 0), "two given back; the peak counts anew after this");
        assert_eq!(w.tasks(false), (2, 2, 0));
        w.message(0, Message::Transfer { id: id(0, 1), to: 2 });
        w.message(2, Message::Data { id: id(0, 1), object: value(&3_i64) });
        w.message(0, Message::Transfer { id: id(0, 1), to: 2 });
        assert!(w.sent().is_empty(), "stale transfers: the root asks the task's new worker");
        w.message(0, Message::Forget(vec![id(0, 1), id(0, 2)]));
        w.message(0, Message::Transfer { id: id(0, 1), to: 2 });
        assert_eq!(w.sent(), ["2: Data 0:1"], "a copy held here serves a later transfer");
        open_gate(key);
        assert_eq!(w.finish().0, id(0, 0));
        let (first, results) = w.finish();
        assert_eq!((first, read::<i64>(&results[0])), (id(0, 3), Ok(13)));
        assert_eq!(w.sent(), ["0: TaskDone 0:0 [3]", "0: TaskDone 0:3 [1]"]);
        assert_eq!(w.tasks(false), (0, 2, 2));
    }

    #[test]
    fn a_cancelled_task_that_has_not_started_ends_without_running_and_a_running_one_is_marked() {
        let mut w = worker();
        let key = 1805_u64;
        w.hold_the_slot(id(0, 0), key);
        w.message(0, add(id(0, 1), int(1), int(2))); // queued for the slot
        w.message(0, add(id(0, 2), Arg::Ref(id(2, 0)), int(10))); // waits for an input
        w.message(0, add(id(0, 3), Arg::Ref(id(0, 1)), int(10))); // waits for 0:1
        w.message(0, Message::Cancel(vec![id(0, 1), id(0, 2), id(0, 0)]));
        let cancelled = |object| Err(Error::Cancelled { object });
        for expected in [id(0, 1), id(0, 2)] {
            let (first, results) = w.finish();
            assert_eq!((first, read::<i64>(&results[0])), (expected, cancelled(expected)));
        }
        // 0:3's input failed: it fails too, without waiting for the slot.
        let (first, results) = w.finish();
        assert_eq!(first, id(0, 3));
        match read::<i64>(&results[0]) {
            Err(Error::InputFailed { input, cause, .. }) => {
                assert_eq!((input, *cause), (id(0, 1), Error::Cancelled { object: id(0, 1) }))
            }
            other => panic!("expected the failed input, got {other:?}"),
        }
        assert!(w.worker.pool.cancelled(id(0, 0)), "the running task sees its cancel");
        open_gate(key);
        let (first, _) = w.finish();
        assert_eq!(first, id(0, 0));
        let done: Vec<String> = w.sent().into_iter().filter(|m| m.contains("TaskDone")).collect();
        assert_eq!(done.len(), 4, "every task reports its end: {done:?}");
        w.message(0, Message::Transfer { id: id(0, 0), to: 0 });
        match &w.out.drain().collect::<Vec<_>>()[..] {
            [(0, batch)] => match &batch[..] {
                [Message::Data { object, .. }] => {
                    assert_eq!(
                        read::<i64>(object),
                        cancelled(id(0, 0)),
                        "what it returned is dropped"
                    )
                }
                _ => panic!("expected the data"),
            },
            _ => panic!("expected one batch"),
        }
        assert!(!w.worker.pool.cancelled(id(0, 0)), "the mark goes with the task");
    }

    #[test]
    fn a_panicking_task_that_may_run_again_goes_back_to_the_root_until_its_last_run() {
        let mut w = worker();
        let message = Arg::Value(value(&"flaky".to_string()));
        let mut flaky = task(PANICS, id(0, 0), vec![message]);
        flaky.retries = 1;
        w.message(0, Message::Submit(flaky));
        w.message(0, Message::Transfer { id: id(0, 0), to: 2 });
        w.finish();
        let retry = match &w.out.drain().collect::<Vec<_>>()[..] {
            [(0, batch)] => match &batch[..] {
                [Message::Retry(task)] => task.clone(),
                other => panic!("expected one Retry, got {:?}", other.len()),
            },
            _ => panic!("expected one batch to the root"),
        };
        assert_eq!((retry.retries, retry.attempt), (0, 1), "one run counted");
        assert_eq!(w.tasks(false), (0, 1, 0), "given back, not ended here");
        w.message(0, Message::Transfer { id: id(0, 0), to: 2 });
        assert!(w.sent().is_empty(), "its results are stale here until placed again");
        // Placed here again: its last run's panic is its result, counting both runs.
        w.message(0, Message::Submit(retry));
        w.message(0, Message::Transfer { id: id(0, 0), to: 2 });
        let (_, results) = w.finish();
        match read::<i64>(&results[0]) {
            Err(Error::TaskPanicked { attempts, message, .. }) => {
                assert_eq!((attempts, message.as_str()), (2, "flaky"))
            }
            other => panic!("expected the panic, got {other:?}"),
        }
        let sent = w.sent();
        assert_eq!(sent[0], "2: Data 0:0", "the transfer asked after it was placed again");
        assert!(sent[1].starts_with("0: TaskDone 0:0"), "{sent:?}");
        assert_eq!(w.tasks(false), (0, 1, 1), "it ended here once");
        let functions = w.stats(false).functions;
        let [(function, counts)] = functions.as_slice() else { panic!("{functions:?}") };
        assert_eq!(*function, PANICS);
        let counted = (counts.runs, counts.done, counts.failed, counts.running);
        assert_eq!(counted, (2, 0, 1, 0), "two runs, one task that failed");
    }

    #[test]
    fn tasks_a_worker_could_not_give_back_when_asked_go_as_they_become_ready() {
        let mut w = worker();
        let key = 1803_u64;
        w.hold_the_slot(id(0, 0), key);
        w.message(0, add(id(0, 1), int(1), int(2)));
        w.message(0, add(id(0, 2), Arg::Ref(id(2, 0)), int(10))); // waits for an input
        w.message(0, Message::Reclaim { max: 2 });
        assert_eq!(w.sent(), ["0: Returned [0:1]"]);
        w.worker.flush(&mut w.out, false);
        assert!(w.sent().is_empty(), "nothing more to give yet");
        w.message(2, Message::Data { id: id(2, 0), object: value(&5_i64) });
        w.worker.flush(&mut w.out, false);
        assert_eq!(w.sent(), ["0: Returned [0:2]"], "given once ready, unasked");
        w.worker.flush(&mut w.out, false);
        assert!(w.sent().is_empty(), "owed only what was asked");
        open_gate(key);
        assert_eq!(w.finish().0, id(0, 0));
    }

    #[test]
    fn a_task_s_submissions_go_to_the_root_and_its_releases_go_once_per_round() {
        let mut w = worker();
        w.command(Command::Submit {
            task: task(ADD, id(1, 0), vec![int(1), int(2)]),
            worker: None,
        });
        w.command(Command::Release(id(0, 3)));
        w.command(Command::Release(id(1, 4)));
        assert_eq!(w.sent(), ["0: Spawn 1:0"]);
        w.worker.flush(&mut w.out, false);
        assert_eq!(w.sent(), ["0: Release [0:3,1:4]", "0: Idle after 0"]);
        w.worker.flush(&mut w.out, true);
        assert!(w.sent().is_empty(), "each release goes once, and so does the news of no work");
    }

    #[test]
    fn shutdown_with_tasks_waiting_for_inputs_stops_the_worker() {
        let mut w = worker();
        w.message(0, add(id(0, 0), Arg::Ref(id(2, 0)), int(1)));
        w.message(0, add(id(0, 1), Arg::Ref(id(2, 1)), int(1)));
        assert!(!w.worker.finished());
        w.message(0, Message::Shutdown);
        assert!(w.worker.finished());
        assert!(w.sent().is_empty(), "a worker says nothing as it stops");
        assert_eq!(w.worker.pool.threads(), 0, "and started no thread for tasks that never ran");
    }

    #[test]
    fn a_due_heartbeat_goes_to_the_root_after_the_releases() {
        let (mailbox, _inbox) = Mailbox::new(Doorbell::new());
        // A timeout of zero makes a heartbeat due at every round, and finds no silence.
        let beat = Heartbeat::new(Duration::ZERO, vec![0], vec!["a".into(); 3]);
        let mut worker = Worker::new(1, 3, "local", mailbox, 1).with_heartbeat(Some(beat));
        let mut out = Outbox::new(1, 3);
        worker.on_message(0, Message::Heartbeat, &mut out);
        worker.heard(0);
        worker.on_command(Command::Release(id(1, 0)), &mut out);
        worker.flush(&mut out, false);
        let batches: Vec<(Rank, Vec<Message>)> = out.drain().collect();
        let shown: Vec<String> =
            batches.iter().flat_map(|(to, b)| b.iter().map(|m| show(*to, m))).collect();
        assert_eq!(shown, ["0: Release [1:0]", "0: Idle after 0", "0: Heartbeat"]);
        assert!(out.fatal.is_none());
    }

    #[test]
    fn an_actor_s_calls_run_one_at_a_time_in_their_order_whatever_order_they_come_in() {
        let mut w = worker();
        let actor = id(0, 0);
        let call = |first_output: ObjectId, number: u64| {
            let call = Some(crate::protocol::ActorCall { actor, number });
            let t = task(ADD, first_output, vec![int(number as i64), int(100)]);
            Message::Submit(t.with_actors(call, Vec::new()))
        };
        w.message(0, call(id(0, 2), 2));
        w.message(0, call(id(0, 1), 1));
        assert_eq!(w.worker.pool.threads(), 0, "call 0 has not come: nothing may start");
        w.message(0, call(actor, 0));
        let order: Vec<ObjectId> = (0..3).map(|_| w.finish().0).collect();
        assert_eq!(order, [actor, id(0, 1), id(0, 2)]);
        assert!(w.sent().iter().filter(|m| m.contains("TaskDone")).count() == 3);
    }
}
