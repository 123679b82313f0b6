//! How the answer to a blocking call (`get`, `wait`) reaches the thread that waits for it: a
//! channel for a thread of the root, the executor pool for a task on a worker (whose thread runs
//! other tasks while it waits).

use std::sync::atomic::{AtomicU64, Ordering};
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

/// How long a thread that waits for a short answer polls before it sleeps, in microseconds.
///
/// On the local backend every hand-over is between threads of one process, and waking a
/// sleeping thread costs tens of microseconds on a busy virtual machine, more than most answers
/// take: 50 us of polling pays. Under MPI the answers come from other processes, which need the
/// same cores: a polling thread here only slows them (measured on 2 cores with 3 ranks: a
/// roundtrip of ~100 us with 50 us of polling, ~20-35 us without), so MPI ranks do not poll.
static SPIN_MICROS: AtomicU64 = AtomicU64::new(50);

/// Sets how long waiting threads poll before they sleep (see [`SPIN_MICROS`]).
#[cfg(feature = "mpi")]
pub(crate) fn set_spin(spin: Duration) {
    SPIN_MICROS.store(spin.as_micros() as u64, Ordering::Relaxed);
}

/// Polls `until` for a moment (see [`SPIN_MICROS`]), yielding the core between polls so that a
/// busy machine loses nothing; true once it holds.
pub(crate) fn spin_until(mut until: impl FnMut() -> bool) -> bool {
    let spin = Duration::from_micros(SPIN_MICROS.load(Ordering::Relaxed));
    let deadline = Instant::now() + spin;
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
