//! A worker rank: holds the objects its tasks made, hands tasks whose inputs are all here to its
//! executor threads, and sends objects to whichever rank the root names.
//!
//! The progress loop never runs user code: tasks run on executor threads (see `executor`), so a
//! long or blocked task never stops the worker from receiving inputs, serving objects to other
//! workers or answering the root. The API calls of tasks (nested tasks) come to this loop as
//! commands: submissions, `put` values and releases go on to the root, which keeps the directory
//! of every object; `get` and `wait` are answered here, with the root's help for what is missing.

pub(crate) mod command;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

pub(crate) use command::Command;

use crate::arg::{Arg, Resolved};
use crate::event_loop::{InlineTask, Mailbox, Node, Outbox};
use crate::executor::Pool;
use crate::heartbeat::Heartbeat;
use crate::id::{ObjectId, Rank};
use crate::invoke::Job;
use crate::object::Object;
use crate::object_store::ObjectStore;
use crate::protocol::{Message, Task};
use crate::registry::{self, RemoteFunction};
use crate::reply::{Answer, Reply};
use crate::stats::RankStats;

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
    blocked: HashMap<ObjectId, Blocked>,
    /// For each missing input, the tasks waiting for it.
    waiting_for: HashMap<ObjectId, Vec<ObjectId>>,
    /// Transfers asked for objects that are not made yet.
    transfers: HashMap<ObjectId, Vec<Rank>>,
    /// `get`s of tasks, and the objects each waits for.
    gets: HashMap<u64, Get>,
    get_waiters: HashMap<ObjectId, Vec<u64>>,
    next_get: u64,
    /// `wait`s of tasks that the root answers, by request.
    waits: HashMap<u64, Reply>,
    next_wait: u64,
    /// Refs dropped by tasks, sent to the root once per round.
    releases: Vec<ObjectId>,
    /// Ready tasks of quick functions, for the loop's own thread (see `take_inline`).
    inline: VecDeque<Job>,
    /// Watches the root under MPI (see `heartbeat`).
    heartbeat: Option<Heartbeat>,
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
            blocked: HashMap::new(),
            waiting_for: HashMap::new(),
            transfers: HashMap::new(),
            gets: HashMap::new(),
            get_waiters: HashMap::new(),
            next_get: 0,
            waits: HashMap::new(),
            next_wait: 0,
            releases: Vec::new(),
            inline: VecDeque::new(),
            heartbeat: None,
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
            if task.first_output.origin() == self.pool.rank() {
                self.pool.placed(task.first_output, task.num_returns as usize);
            }
            self.blocked.insert(task.first_output, Blocked { task, missing });
        }
    }

    fn start(&mut self, task: Task) {
        let store = &self.store;
        let object = |id: &ObjectId| store.get(*id).expect("inputs are here").clone();
        let args = task
            .args
            .iter()
            .map(|arg| match arg {
                Arg::Value(object) => Resolved::Value(object.clone()),
                // The transport puts payloads back in place before a task gets here; an empty
                // value of no type fails the task's argument check, should one ever slip by.
                Arg::Payload { .. } => {
                    Resolved::Value(Object { type_fp: 0, bytes: Default::default() })
                }
                Arg::Ref(id) => Resolved::Ref(*id, object(id)),
                Arg::RefList { element_type, ids } => {
                    Resolved::List(*element_type, ids.iter().map(|id| (*id, object(id))).collect())
                }
            })
            .collect();
        let job = Job { task, args };
        // A quick task while no other computes here runs on the loop's thread, after this
        // round: no hand-over to an executor and back.
        let quick = registry::lookup(job.task.function).is_some_and(RemoteFunction::runs_inline);
        // With several slots, only one at a time: the others run on executors meanwhile.
        let queue = self.inline.is_empty() || self.pool.slots() == 1;
        if quick && !self.pool.inline_running() && self.pool.idle() && queue {
            // Only a task submitted by a task here can be expected (see `Pool::expect`).
            if job.task.first_output.origin() == self.pool.rank() {
                self.pool.unexpect(job.task.first_output, job.task.num_returns as usize);
            }
            self.inline.push_back(job);
        } else {
            self.pool.push(job);
        }
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
        reply.send(Answer::Objects(objects));
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
    fn wait(&mut self, ids: Vec<ObjectId>, num_returns: usize, reply: Reply, out: &mut Outbox) {
        let here: Vec<bool> = ids.iter().map(|id| self.store.contains(*id)).collect();
        if here.iter().filter(|h| **h).count() >= num_returns {
            return reply.send(Answer::Flags(here));
        }
        let request = self.next_wait;
        self.next_wait += 1;
        self.waits.insert(request, reply);
        out.send(0, Message::WaitFor { request, ids, num_returns });
    }
}

impl Node for Worker {
    type Command = Command;

    fn on_message(&mut self, _from: Rank, message: Message, out: &mut Outbox) {
        match message {
            Message::Submit(task) => self.submit(task),
            Message::Data { id, object } => self.store_object(id, object, out),
            Message::Transfer { id, to } => match self.store.get(id) {
                Some(object) => out.send(to, Message::Data { id, object: object.clone() }),
                None => self.transfers.entry(id).or_default().push(to),
            },
            Message::Cleanup(ids) => {
                for id in ids {
                    self.store.remove(id);
                }
            }
            Message::Placed { first_output, num_returns } => {
                self.pool.placed(first_output, num_returns as usize)
            }
            Message::WaitDone { request, flags } => {
                if let Some(reply) = self.waits.remove(&request) {
                    reply.send(Answer::Flags(flags));
                }
            }
            Message::StatsRequest => {
                let stats = RankStats {
                    transfer: out.stats.clone(),
                    memory: self.store.memory(out.stats.rank),
                };
                out.send(0, Message::StatsReply(stats))
            }
            Message::Shutdown => {
                self.pool.stop();
                self.finished = true;
            }
            // The root's sign of life, answered at once with this worker's.
            // A sign of life, counted as every batch is; this rank sends its own in `flush`.
            Message::Heartbeat => {}
            other => eprintln!("unidist: a worker ignored an unexpected {} message", other.kind()),
        }
    }

    fn on_command(&mut self, command: Command, out: &mut Outbox) {
        match command {
            Command::Finished { first_output, outputs } => {
                let sizes = outputs.iter().map(|object| object.len() as u64).collect();
                for (k, object) in outputs.into_iter().enumerate() {
                    self.store_object(first_output.offset(k), object, out);
                }
                out.send(0, Message::TaskDone { first_output, sizes });
            }
            Command::Submit(task) => out.send(0, Message::Spawn(task)),
            Command::Put { id, object } => {
                let bytes = object.len() as u64;
                self.store_object(id, object, out);
                out.send(0, Message::Created { id, bytes });
            }
            Command::Get { ids, reply } => self.get(ids, reply, out),
            Command::Wait { ids, num_returns, reply } => self.wait(ids, num_returns, reply, out),
            Command::Release(id) => self.releases.push(id),
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
