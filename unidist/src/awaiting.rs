//! Awaiting refs from async code: `ObjectRef` is `IntoFuture`, and (feature `stream`)
//! [`as_completed`](crate::as_completed) has a `Stream` form. A future sends its request to the
//! root's loop (or, in a task, its worker's) and returns; the answer wakes it. No thread blocks
//! and no async runtime is needed: any executor polls these futures.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::error::Error;
use crate::id::ObjectId;
use crate::object::RemoteValue;
use crate::object_ref::ObjectRef;
use crate::reply::{Answer, Complete, Reply};
use crate::root::Command;
use crate::runtime::{caller, Caller};

/// Where the answer of one request lands, and who to wake for it.
#[derive(Default)]
struct Slot {
    answer: Option<Answer>,
    waker: Option<Waker>,
    /// The request was dropped unanswered: the runtime stopped.
    lost: bool,
}

/// A request whose answer wakes a task of an async executor; from the root's program, with the
/// token that lets the root forget it if it is dropped unanswered.
struct Pending(Arc<Mutex<Slot>>, Option<u64>);

fn lock(slot: &Mutex<Slot>) -> MutexGuard<'_, Slot> {
    slot.lock().unwrap_or_else(|e| e.into_inner())
}

impl Pending {
    /// Sends `command`, made with a reply that lands here, to the caller's loop.
    fn send(api: &str, request: Request) -> Pending {
        let slot = Arc::new(Mutex::new(Slot::default()));
        let reply = Reply::new(Landing(Some(Arc::clone(&slot))));
        match caller(api) {
            Caller::Root(runtime) => {
                let token = Some(crate::reply::new_token());
                runtime.send(match request {
                    Request::Get(ids) => Command::Get { ids, reply, token },
                    Request::Wait(ids) => Command::Wait { ids, num_returns: 1, reply, token },
                });
                Pending(slot, token)
            }
            Caller::Task { host, .. } => {
                match request {
                    Request::Get(ids) => host.get_later(ids, reply),
                    Request::Wait(ids) => host.wait_later(ids, 1, reply),
                }
                Pending(slot, None)
            }
        }
    }

    /// The answer if it came, else `None` after noting whom to wake for it.
    fn poll(&self, api: &str, cx: &Context<'_>) -> Option<Answer> {
        let mut slot = lock(&self.0);
        if let Some(answer) = slot.answer.take() {
            return Some(answer);
        }
        if slot.lost {
            drop(slot);
            panic!("unidist::{api}: the runtime was shut down while a future awaited an object");
        }
        match &mut slot.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            waker => *waker = Some(cx.waker().clone()),
        }
        None
    }
}

/// A future or stream dropped before its answer came (a timeout around it, a `select`): the
/// root forgets the request, which would otherwise wait for objects nobody reads.
impl Drop for Pending {
    fn drop(&mut self) {
        let Some(token) = self.1 else { return };
        let slot = lock(&self.0);
        if slot.answer.is_none() && !slot.lost && slot.waker.is_some() {
            drop(slot);
            crate::runtime::forget(token);
        }
    }
}

enum Request {
    Get(Vec<ObjectId>),
    /// Until one of them is done (the stream of `as_completed`).
    #[cfg_attr(not(feature = "stream"), allow(dead_code))]
    Wait(Vec<ObjectId>),
}

/// The completion of a request: lands the answer in its slot and wakes the future.
struct Landing(Option<Arc<Mutex<Slot>>>);

impl Landing {
    fn land(&mut self, answer: Option<Answer>) {
        let Some(slot) = self.0.take() else { return };
        let mut slot = lock(&slot);
        match answer {
            Some(answer) => slot.answer = Some(answer),
            None => slot.lost = true,
        }
        let waker = slot.waker.take();
        drop(slot);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Complete for Landing {
    fn complete(mut self: Box<Self>, answer: Answer) {
        self.land(Some(answer));
    }
}

impl Drop for Landing {
    fn drop(&mut self) {
        self.land(None);
    }
}

/// The value of a ref, awaited: what `ref.await` and `(&ref).await` run. Its first poll sends
/// the request; the answer wakes the task that awaits it.
#[must_use = "a future does nothing until it is awaited"]
pub struct RefFuture<T> {
    r: ObjectRef<T>,
    pending: Option<Pending>,
}

impl<T: RemoteValue> Future for RefFuture<T> {
    type Output = Result<T, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let id = self.r.id();
        let pending =
            self.pending.get_or_insert_with(|| Pending::send("await", Request::Get(vec![id])));
        match pending.poll("await", cx) {
            None => Poll::Pending,
            Some(Answer::Objects(mut objects)) => {
                let object = objects.pop().expect("one object");
                Poll::Ready(object.decode(id))
            }
            Some(_) => unreachable!("a get is answered with objects"),
        }
    }
}

/// `ref.await` gives the ref's value, like [`get`](crate::get), without blocking the thread:
/// the executor runs other tasks meanwhile. It works with any executor (tokio, async-std,
/// `futures::executor`), from the root's program and inside remote functions alike. Inside a
/// remote function, an executor that blocks the task's thread while it waits (such as
/// `futures::executor::block_on`) holds the task's slot, so the tasks it awaits must be able to
/// run on other workers; there, [`get`](crate::get) is the better wait: the worker runs other
/// tasks meanwhile.
///
/// ```
/// #[unidist::remote]
/// fn square(x: u64) -> u64 { x * x }
///
/// fn main() {
///     unidist::init();
///     let refs: Vec<_> = (0..10).map(square::remote).collect();
///     // Any executor; here a minimal one that polls on this thread.
///     let total = futures::executor::block_on(async {
///         let mut total = 0;
///         for r in refs {
///             total += r.await.unwrap();
///         }
///         total
///     });
///     assert_eq!(total, 285);
///     unidist::shutdown();
/// }
/// ```
impl<T: RemoteValue> IntoFuture for ObjectRef<T> {
    type Output = Result<T, Error>;
    type IntoFuture = RefFuture<T>;

    fn into_future(self) -> RefFuture<T> {
        RefFuture { r: self, pending: None }
    }
}

/// `(&ref).await`: like `ref.await`, keeping the ref.
impl<T: RemoteValue> IntoFuture for &ObjectRef<T> {
    type Output = Result<T, Error>;
    type IntoFuture = RefFuture<T>;

    fn into_future(self) -> RefFuture<T> {
        RefFuture { r: self.clone(), pending: None }
    }
}

#[cfg(feature = "stream")]
/// Where a [`CompletedStream`] is in its round: nothing asked, waiting for some refs to be done,
/// or fetching those (positions in `pending`, in the order they finished).
enum Phase {
    Idle,
    Waiting(Pending),
    Fetching(Pending, Vec<usize>),
}

/// The `Stream` form of [`as_completed`](crate::as_completed): each `(key, result)` as soon as
/// its ref is ready, in the order the refs finished. Made by
/// [`AsCompleted::into_stream`](crate::AsCompleted::into_stream).
#[cfg(feature = "stream")]
#[cfg_attr(docsrs, doc(cfg(feature = "stream")))]
#[must_use = "a stream does nothing until it is polled"]
pub struct CompletedStream<K, T> {
    pending: Vec<(K, ObjectRef<T>)>,
    ready: std::collections::VecDeque<(K, Result<T, Error>)>,
    phase: Phase,
}

// Nothing in it is pinned: it only moves keys and refs around.
#[cfg(feature = "stream")]
impl<K, T> Unpin for CompletedStream<K, T> {}

#[cfg(feature = "stream")]
impl<K, T> CompletedStream<K, T> {
    pub(crate) fn new(
        pending: Vec<(K, ObjectRef<T>)>,
        ready: std::collections::VecDeque<(K, Result<T, Error>)>,
    ) -> CompletedStream<K, T> {
        CompletedStream { pending, ready, phase: Phase::Idle }
    }
}

#[cfg(feature = "stream")]
impl<K, T: RemoteValue> CompletedStream<K, T> {
    /// The next result, if one is here or came: see `Stream::poll_next`.
    fn poll_next_item(&mut self, cx: &Context<'_>) -> Poll<Option<(K, Result<T, Error>)>> {
        const API: &str = "as_completed";
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Poll::Ready(Some(item));
            }
            match &self.phase {
                Phase::Idle => {
                    if self.pending.is_empty() {
                        return Poll::Ready(None);
                    }
                    let ids = self.pending.iter().map(|(_, r)| r.id()).collect();
                    self.phase = Phase::Waiting(Pending::send(API, Request::Wait(ids)));
                }
                Phase::Waiting(pending) => {
                    let order: Vec<Option<u64>> = match pending.poll(API, cx) {
                        None => return Poll::Pending,
                        Some(Answer::Ordered(order)) => order,
                        Some(Answer::Flags(flags)) => {
                            flags.into_iter().map(|done| done.then_some(0)).collect()
                        }
                        Some(Answer::Objects(_) | Answer::Counts { .. }) => {
                            unreachable!("a wait is answered with flags")
                        }
                    };
                    let mut done: Vec<(u64, usize)> =
                        order.iter().enumerate().filter_map(|(i, o)| o.map(|o| (o, i))).collect();
                    done.sort_unstable();
                    let positions: Vec<usize> = done.into_iter().map(|(_, i)| i).collect();
                    let ids = positions.iter().map(|&i| self.pending[i].1.id()).collect();
                    self.phase = Phase::Fetching(Pending::send(API, Request::Get(ids)), positions);
                }
                Phase::Fetching(pending, positions) => {
                    let objects = match pending.poll(API, cx) {
                        None => return Poll::Pending,
                        Some(Answer::Objects(objects)) => objects,
                        Some(_) => unreachable!("a get is answered with objects"),
                    };
                    let positions = positions.clone();
                    let mut taken: Vec<Option<(K, ObjectRef<T>)>> =
                        std::mem::take(&mut self.pending).into_iter().map(Some).collect();
                    for (i, object) in positions.into_iter().zip(&objects) {
                        let (key, r) = taken[i].take().expect("each position once");
                        self.ready.push_back((key, object.decode(r.id())));
                    }
                    self.pending = taken.into_iter().flatten().collect();
                    self.phase = Phase::Idle;
                }
            }
        }
    }
}

#[cfg(feature = "stream")]
impl<K, T: RemoteValue> futures_core::Stream for CompletedStream<K, T> {
    type Item = (K, Result<T, Error>);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_item(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let most = self.ready.len() + self.pending.len();
        (most, Some(most))
    }
}
