//! How the answer to a blocking call (`get`, `wait`) reaches the thread that waits for it: a
//! completion ([`Reply`]) that the node answering it completes without knowing who waits (rayon's
//! latches). A thread outside the workers waits on a channel ([`Reply::channel`]); a task on a
//! worker waits in its executor, which implements [`Complete`] itself.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvError, Sender, TryRecvError};

use crate::object::Object;
use crate::spin::spin_until;

pub(crate) enum Answer {
    Objects(Vec<Object>),
    /// Which objects are done (a task's `wait`, answered by its worker or over the network).
    Flags(Vec<bool>),
    /// Which objects are done and when, as the root counts them (a `wait` of the root's program).
    Ordered(Vec<Option<u64>>),
    /// How many of the objects are done, and how many of those are failures.
    Counts {
        done: usize,
        failed: usize,
    },
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

    pub(crate) fn complete(self, answer: Answer) {
        self.0.complete(answer)
    }
}

impl Complete for Sender<Answer> {
    fn complete(self: Box<Self>, answer: Answer) {
        // A caller that gave up (the runtime shut down) has dropped its receiver.
        let _ = self.send(answer);
    }
}

/// A new token naming a `get` or `wait` of the root's program that its caller may give up (a
/// deadline, a dropped future).
pub(crate) fn new_token() -> u64 {
    static TOKENS: AtomicU64 = AtomicU64::new(0);
    TOKENS.fetch_add(1, Ordering::Relaxed)
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
