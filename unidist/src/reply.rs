//! How the answer to a blocking call (`get`, `wait`) reaches the thread that waits for it: a
//! completion ([`Reply`]) that the node answering it completes without knowing who waits (rayon's
//! latches). A thread outside the workers waits on a channel ([`Reply::channel`]); a task on a
//! worker waits in its executor, which implements [`Complete`] itself.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvError, Sender, TryRecvError};
use std::time::{Duration, Instant};

use crate::object::Object;

pub(crate) enum Answer {
    Objects(Vec<Object>),
    Flags(Vec<bool>),
}

/// What completes a blocking call with its answer.
pub(crate) trait Complete: Send {
    fn complete(self: Box<Self>, answer: Answer);
}

/// The completion of one blocking call. Dropping it unanswered (the runtime stopped) tells a
/// waiting thread so; a waiting task learns it from its executor.
pub(crate) struct Reply(Box<dyn Complete>);

impl Reply {
    pub(crate) fn new(completion: impl Complete + 'static) -> Reply {
        Reply(Box::new(completion))
    }

    /// A completion for a thread outside the workers, and the channel it waits on.
    pub(crate) fn channel() -> (Reply, Receiver<Answer>) {
        let (sender, receiver) = mpsc::channel();
        (Reply::new(sender), receiver)
    }

    pub(crate) fn send(self, answer: Answer) {
        self.0.complete(answer)
    }
}

impl Complete for Sender<Answer> {
    fn complete(self: Box<Self>, answer: Answer) {
        // A caller that gave up (the runtime shut down) has dropped its receiver.
        let _ = self.send(answer);
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
