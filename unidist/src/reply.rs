//! How the answer to a blocking call (`get`, `wait`) reaches the thread that waits for it: a
//! channel for a thread of the root, the executor pool for a task on a worker (whose thread runs
//! other tasks while it waits).

use std::sync::mpsc::{Receiver, RecvError, Sender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// How long a thread that waits for a short answer polls before it sleeps: waking a sleeping
/// thread costs tens of microseconds on a busy virtual machine, more than most answers take.
pub(crate) const SPIN: Duration = Duration::from_micros(50);

/// Polls `until` for at most [`SPIN`], yielding the core between polls so that a busy machine
/// loses nothing; true once it holds.
pub(crate) fn spin_until(mut until: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + SPIN;
    loop {
        if until() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::yield_now();
    }
}

/// Receives from `channel`: polls it for a moment, then blocks.
pub(crate) fn receive<T>(channel: &Receiver<T>) -> Result<T, RecvError> {
    let mut got = None;
    spin_until(|| match channel.try_recv() {
        Ok(value) => {
            got = Some(Ok(value));
            true
        }
        Err(TryRecvError::Disconnected) => {
            got = Some(Err(RecvError));
            true
        }
        Err(TryRecvError::Empty) => false,
    });
    got.unwrap_or_else(|| channel.recv())
}
