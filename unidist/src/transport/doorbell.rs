//! A doorbell: how another thread wakes a loop thread that waits for work (timely's `Buzzer`).
//!
//! Ringing is one atomic swap, plus an unpark when the bell was silent; a waiter that finds it
//! rung returns at once. A ring that comes while the loop is busy is kept until its next wait,
//! so none is lost; the worst a ring can cause is one early wake-up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

#[derive(Default)]
pub(crate) struct Doorbell {
    rung: AtomicBool,
    /// The one thread that waits on this bell, once it has started waiting.
    owner: OnceLock<Thread>,
}

impl Doorbell {
    pub(crate) fn new() -> Arc<Doorbell> {
        Arc::new(Doorbell::default())
    }

    /// Wakes the bell's owner if it waits, or makes its next wait return at once.
    pub(crate) fn ring(&self) {
        if !self.rung.swap(true, Ordering::AcqRel) {
            if let Some(owner) = self.owner.get() {
                owner.unpark();
            }
        }
    }

    /// True if the bell rang since the last wait took the ring.
    #[cfg(test)]
    pub(crate) fn rung(&self) -> bool {
        self.rung.load(Ordering::Acquire)
    }

    /// Takes the ring without waiting: true if the bell had rung.
    pub(crate) fn take(&self) -> bool {
        self.rung.swap(false, Ordering::AcqRel)
    }

    /// Waits on the calling thread, which must be the bell's only waiter, until the bell rings
    /// or `timeout` passes (`None`: until it rings); takes the ring.
    pub(crate) fn wait(&self, timeout: Option<Duration>) {
        let me = self.owner.get_or_init(std::thread::current);
        debug_assert_eq!(me.id(), std::thread::current().id(), "one thread waits on a bell");
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if self.take() {
                return;
            }
            match deadline {
                None => std::thread::park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return;
                    }
                    std::thread::park_timeout(deadline - now);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_before_the_wait_is_kept() {
        let bell = Doorbell::new();
        bell.ring();
        assert!(bell.rung());
        bell.wait(None); // returns at once
        assert!(!bell.rung(), "the wait takes the ring");
    }

    #[test]
    fn a_ring_from_another_thread_ends_a_wait_without_timeout() {
        let bell = Doorbell::new();
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let waiter = {
            let bell = Arc::clone(&bell);
            std::thread::spawn(move || {
                ready_tx.send(()).unwrap();
                bell.wait(None);
            })
        };
        ready.recv().unwrap();
        bell.ring();
        waiter.join().unwrap();
    }

    #[test]
    fn a_wait_with_a_timeout_ends_without_a_ring() {
        let bell = Doorbell::new();
        bell.wait(Some(Duration::from_millis(1)));
        assert!(!bell.rung());
    }

    #[test]
    fn take_silences_the_bell() {
        let bell = Doorbell::new();
        assert!(!bell.take());
        bell.ring();
        assert!(bell.take());
        assert!(!bell.rung() && !bell.take());
    }

    #[test]
    fn many_rings_make_one_wake_up() {
        let bell = Doorbell::new();
        for _ in 0..10 {
            bell.ring();
        }
        bell.wait(None);
        assert!(!bell.rung());
    }

    #[test]
    fn a_ring_from_another_thread_ends_a_wait_with_a_long_timeout() {
        let bell = Doorbell::new();
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let waiter = {
            let bell = Arc::clone(&bell);
            std::thread::spawn(move || {
                ready_tx.send(()).unwrap();
                // An hour: only the ring ends this wait within the test.
                bell.wait(Some(Duration::from_secs(3600)));
                bell.rung()
            })
        };
        ready.recv().unwrap();
        bell.ring();
        assert!(!waiter.join().unwrap(), "the wait took the ring");
    }

    #[test]
    fn a_ring_from_another_thread_is_kept_for_take() {
        let bell = Doorbell::new();
        let ringer = {
            let bell = Arc::clone(&bell);
            std::thread::spawn(move || bell.ring())
        };
        ringer.join().unwrap();
        assert!(bell.take());
        assert!(!bell.take(), "one ring, taken once");
    }
}
