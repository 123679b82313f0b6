//! How the answer to a blocking call (`get`, `wait`) reaches the thread that waits for it: a
//! channel for a thread of the root, the executor pool for a task on a worker (whose thread runs
//! other tasks while it waits).

use std::sync::mpsc::Sender;
use std::sync::Arc;

use crate::executor::Pool;
use crate::object::Object;

pub(crate) enum Answer {
    Objects(Vec<Object>),
    Flags(Vec<bool>),
}

pub(crate) enum Reply {
    Channel(Sender<Answer>),
    Task { pool: Arc<Pool>, request: u64 },
}

impl Reply {
    pub(crate) fn send(self, answer: Answer) {
        match self {
            // A caller that gave up (the runtime shut down) has dropped its receiver.
            Reply::Channel(sender) => drop(sender.send(answer)),
            Reply::Task { pool, request } => pool.answer(request, answer),
        }
    }
}
