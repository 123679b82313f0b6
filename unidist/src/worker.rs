//! A worker rank: holds the objects its tasks made, runs tasks whose inputs are all here, and
//! sends objects to whichever rank the root names.
//!
//! The progress loop never runs user code: tasks run on an executor thread, so a long or blocked
//! task never stops the worker from receiving inputs, serving objects to other workers or
//! answering the root.

use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender};

use crate::arg::{Arg, Resolved, TaskArgs};
use crate::error::Error;
use crate::event_loop::{Event, Node, Outbox};
use crate::object::Object;
use crate::object_ref::ObjectId;
use crate::object_store::ObjectStore;
use crate::protocol::{Message, Rank, Task};
use crate::registry;

/// A task whose inputs are all here, on its way to the executor.
struct Job {
    task: Task,
    args: Vec<Resolved>,
}

struct Blocked {
    task: Task,
    missing: usize,
}

pub(crate) struct Worker {
    store: ObjectStore,
    /// Tasks waiting for inputs, by first output.
    blocked: HashMap<ObjectId, Blocked>,
    /// For each missing input, the tasks waiting for it.
    waiting_for: HashMap<ObjectId, Vec<ObjectId>>,
    /// Transfers asked for objects that are not made yet.
    transfers: HashMap<ObjectId, Vec<Rank>>,
    executor: Sender<Job>,
    finished: bool,
}

impl Worker {
    /// Creates the worker and starts its executor thread, which reports to `events`.
    pub(crate) fn new(rank: Rank, events: Sender<Event>) -> Worker {
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("unidist-executor-{rank}"))
            .spawn(move || execute(rank, queue, events))
            .expect("could not start the executor thread");
        Worker {
            store: ObjectStore::default(),
            blocked: HashMap::new(),
            waiting_for: HashMap::new(),
            transfers: HashMap::new(),
            executor: jobs,
            finished: false,
        }
    }

    fn submit(&mut self, task: Task) {
        let mut missing = 0;
        for arg in &task.args {
            for &id in arg.ids() {
                if !self.store.contains(id) {
                    missing += 1;
                    self.waiting_for
                        .entry(id)
                        .or_default()
                        .push(task.first_output);
                }
            }
        }
        if missing == 0 {
            self.start(task);
        } else {
            self.blocked
                .insert(task.first_output, Blocked { task, missing });
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
                Arg::Ref(id) => Resolved::Ref(*id, object(id)),
                Arg::RefList { element_type, ids } => Resolved::List(
                    *element_type,
                    ids.iter().map(|id| (*id, object(id))).collect(),
                ),
            })
            .collect();
        // The executor only stops after the worker does.
        let _ = self.executor.send(Job { task, args });
    }

    fn store_object(&mut self, id: ObjectId, object: Object, out: &mut Outbox) {
        if let Some(ranks) = self.transfers.remove(&id) {
            for to in ranks {
                out.send(
                    to,
                    Message::Data {
                        id,
                        object: object.clone(),
                    },
                );
            }
        }
        self.store.insert(id, object);
        if let Some(tasks) = self.waiting_for.remove(&id) {
            for first in tasks {
                let Some(blocked) = self.blocked.get_mut(&first) else {
                    continue;
                };
                blocked.missing -= 1;
                if blocked.missing == 0 {
                    let blocked = self.blocked.remove(&first).expect("present");
                    self.start(blocked.task);
                }
            }
        }
    }
}

impl Node for Worker {
    fn on_message(&mut self, _from: Rank, message: Message, out: &mut Outbox) {
        match message {
            Message::Submit(task) => self.submit(task),
            Message::Data { id, object } => self.store_object(id, object, out),
            Message::Transfer { id, to } => match self.store.get(id) {
                Some(object) => out.send(
                    to,
                    Message::Data {
                        id,
                        object: object.clone(),
                    },
                ),
                None => self.transfers.entry(id).or_default().push(to),
            },
            Message::Cleanup(ids) => {
                for id in ids {
                    self.store.remove(id);
                }
            }
            Message::StatsRequest => out.send(0, Message::StatsReply(out.stats.clone())),
            Message::Shutdown => self.finished = true,
            other => eprintln!(
                "unidist: a worker ignored an unexpected {} message",
                other.kind()
            ),
        }
    }

    fn on_event(&mut self, event: Event, out: &mut Outbox) {
        if let Event::Finished {
            first_output,
            outputs,
        } = event
        {
            for (k, object) in outputs.into_iter().enumerate() {
                self.store_object(first_output.offset(k), object, out);
            }
            out.send(0, Message::TaskDone { first_output });
        }
    }

    fn finished(&self) -> bool {
        self.finished
    }
}

/// The executor thread: runs jobs one after the other and reports each result.
fn execute(rank: Rank, jobs: Receiver<Job>, events: Sender<Event>) {
    crate::runtime::enter_task_thread(rank);
    for job in jobs {
        let first_output = job.task.first_output;
        let outputs = run(rank, job);
        if events
            .send(Event::Finished {
                first_output,
                outputs,
            })
            .is_err()
        {
            break;
        }
    }
}

/// Runs one task: its results, or as many copies of its error.
fn run(rank: Rank, job: Job) -> Vec<Object> {
    let n = job.task.num_returns as usize;
    let failed = |error: Error| vec![Object::from_error(&error); n];
    let Some(function) = registry::lookup(job.task.function) else {
        return failed(Error::UnknownFunction {
            id: job.task.function,
            rank,
        });
    };
    if function.num_returns() != n {
        return failed(Error::Argument {
            function: function.path().to_string(),
            index: 0,
            reason: format!(
                "the task asks for {n} results but the function makes {}",
                function.num_returns()
            ),
        });
    }
    for item in &job.args {
        let inputs: &[(ObjectId, Object)] = match item {
            Resolved::Value(_) => &[],
            Resolved::Ref(id, object) => &[(*id, object.clone())],
            Resolved::List(_, items) => items,
        };
        for (id, object) in inputs {
            if let Some(cause) = object.error() {
                return failed(Error::InputFailed {
                    function: function.path().to_string(),
                    input: *id,
                    cause: Box::new(cause),
                });
            }
        }
    }
    let mut args = TaskArgs::new(function.path(), job.task.first_output, n, job.args);
    let invoke = function.invoke();
    match panic::catch_unwind(AssertUnwindSafe(|| invoke(&mut args))) {
        Ok(Ok(outputs)) => outputs.objects,
        Ok(Err(error)) => failed(error),
        Err(payload) => failed(Error::TaskPanicked {
            function: function.path().to_string(),
            rank,
            message: panic_message(payload.as_ref()),
        }),
    }
}

pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<a panic payload that is not a string>".to_string()
    }
}
