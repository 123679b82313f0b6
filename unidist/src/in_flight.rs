//! The tasks the root's program has in flight and the bound on them (`UNIDIST_MAX_IN_FLIGHT`,
//! `unidist::set_max_in_flight`): a submitter takes a place before its task goes to the root,
//! and waits for one while the bound is reached; the root gives the place back once the task is
//! done. Tasks that tasks submit are not counted: a task blocked here could hold back the
//! very tasks it waits for.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// How long a waiting submitter sleeps before it looks again without being woken: only a
/// safety net (the root wakes it as soon as a place is free).
const LOOK_AGAIN: Duration = Duration::from_millis(100);

#[derive(Default)]
pub(crate) struct InFlight {
    /// Tasks of the root's program submitted and not done.
    count: AtomicUsize,
    /// The bound on `count`; 0: none.
    limit: AtomicUsize,
    /// Submitters waiting for a place.
    waiting: AtomicUsize,
    lock: Mutex<()>,
    freed: Condvar,
}

impl InFlight {
    pub(crate) fn new(limit: Option<usize>) -> InFlight {
        let in_flight = InFlight::default();
        in_flight.set_limit(limit);
        in_flight
    }

    pub(crate) fn set_limit(&self, limit: Option<usize>) {
        self.limit.store(limit.unwrap_or(0), Ordering::SeqCst);
        // A higher bound makes room for whoever waits.
        if self.waiting.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.freed.notify_all();
        }
    }

    pub(crate) fn limit(&self) -> Option<usize> {
        Some(self.limit.load(Ordering::SeqCst)).filter(|l| *l > 0)
    }

    pub(crate) fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Takes a place if one is free; `Err` with the count and the bound if not.
    pub(crate) fn try_take(&self) -> Result<(), (usize, usize)> {
        let limit = self.limit.load(Ordering::SeqCst);
        if limit == 0 {
            self.count.fetch_add(1, Ordering::SeqCst);
            return Ok(());
        }
        self.count
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < limit).then_some(n + 1))
            .map(|_| ())
            .map_err(|n| (n, limit))
    }

    /// Takes a place, waiting until one is free.
    pub(crate) fn take(&self) {
        if self.try_take().is_ok() {
            return;
        }
        let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.waiting.fetch_add(1, Ordering::SeqCst);
        // `done` frees a place before it looks for waiters: a place freed before this thread
        // counted itself is seen by this try.
        while self.try_take().is_err() {
            guard = self.freed.wait_timeout(guard, LOOK_AGAIN).unwrap_or_else(|e| e.into_inner()).0;
        }
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }

    /// Takes a place whatever the bound (an actor's end, sent as a handle drops, never waits).
    pub(crate) fn take_anyway(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
    }

    /// A task of the root's program is done: its place is free.
    pub(crate) fn done(&self) {
        let _ = self.count.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if self.waiting.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.freed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn without_a_bound_every_place_is_taken_at_once() {
        let places = InFlight::new(None);
        for _ in 0..1000 {
            assert_eq!(places.try_take(), Ok(()));
        }
        assert_eq!(places.count(), 1000);
    }

    #[test]
    fn at_the_bound_a_try_fails_and_a_take_waits_for_a_task_to_be_done() {
        let places = Arc::new(InFlight::new(Some(2)));
        places.take();
        places.take();
        assert_eq!(places.try_take(), Err((2, 2)));
        places.take_anyway();
        assert_eq!(places.count(), 3, "an actor's end is counted, never held");
        places.done();
        let waiter = {
            let places = Arc::clone(&places);
            std::thread::spawn(move || places.take())
        };
        // The waiter gets a place only once one is free: it cannot finish before `done`.
        while places.waiting.load(Ordering::SeqCst) == 0 && !waiter.is_finished() {
            std::thread::yield_now();
        }
        assert!(!waiter.is_finished(), "no place was free");
        places.done();
        waiter.join().unwrap();
        assert_eq!(places.count(), 2);
    }

    #[test]
    fn a_higher_bound_lets_a_waiting_submitter_go() {
        let places = Arc::new(InFlight::new(Some(1)));
        places.take();
        let waiter = {
            let places = Arc::clone(&places);
            std::thread::spawn(move || places.take())
        };
        while places.waiting.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        places.set_limit(Some(5));
        waiter.join().unwrap();
        assert_eq!((places.count(), places.limit()), (2, Some(5)));
    }
}
