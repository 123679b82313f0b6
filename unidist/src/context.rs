//! What runs on this thread: the one place that knows whether the calling thread runs a task,
//! which function, for which worker and how many tasks deep, and whether it is the worker's own
//! loop thread that runs it.
//!
//! It sits low, below the loop and the executor, and names them only through the two traits
//! they implement: [`TaskHost`] (what the API asks of the worker of the running task) and
//! [`Pump`] (a loop that a task running on the loop's own thread drives while it waits). So the
//! API, the crash handlers and the loop all read one context without importing each other.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::time::Instant;

use crate::id::{ObjectId, Rank};
use crate::object::Object;
use crate::protocol::Task;
use crate::registry::RemoteFunction;
use crate::reply::Reply;

/// What the API asks of the worker whose task runs on the calling thread (a nested call).
pub(crate) trait TaskHost: Send + Sync {
    /// The worker's rank.
    fn rank(&self) -> Rank;
    /// The number of workers of the job.
    fn workers(&self) -> usize;
    /// `"mpi"` or `"local"`.
    fn backend(&self) -> &'static str;
    /// Names `n` new objects in a row, made by a task of this worker; returns the first.
    fn new_ids(&self, n: usize) -> ObjectId;
    /// Submits a task through the root, which places it (on `worker`, if the caller chose).
    fn submit(&self, task: Task, worker: Option<Rank>);
    /// Stores a value on this worker.
    fn put(&self, id: ObjectId, object: Object);
    /// The last ref of `id` held by a task of this worker was dropped.
    fn release(&self, id: ObjectId);
    /// A task of this worker decoded a handle of `actor`: one more owner of it.
    fn hold_actor(&self, actor: ObjectId);
    /// Blocks the calling task, `depth` tasks deep on its thread, until the objects are here.
    fn get(self: Arc<Self>, ids: Vec<ObjectId>, depth: usize) -> Vec<Object>;
    /// Blocks the calling task until `num_returns` of the objects are done, or until
    /// `deadline` (if any) has passed; which are done.
    fn wait(
        self: Arc<Self>,
        ids: Vec<ObjectId>,
        num_returns: usize,
        depth: usize,
        deadline: Option<Instant>,
    ) -> Vec<bool>;
    /// Asks for the objects' values without blocking: `reply` gets them (async code).
    fn get_later(&self, ids: Vec<ObjectId>, reply: Reply);
    /// Asks to be told once `num_returns` of the objects are done, without blocking.
    fn wait_later(&self, ids: Vec<ObjectId>, num_returns: usize, reply: Reply);
    /// Cancels the tasks that make these objects (see `unidist::cancel`), through the root.
    fn cancel(&self, ids: Vec<ObjectId>);
    /// Whether the task of this worker whose first result is `task` was cancelled.
    fn is_cancelled(&self, task: ObjectId) -> bool;
    /// Test probe: sends bytes as they are to rank `to`, as if they were a batch.
    fn send_bytes(&self, to: Rank, bytes: Vec<u8>);
}

/// A progress loop that a task running on the loop's own thread drives while it waits.
pub(crate) trait Pump {
    /// One round and, if it found nothing, a short wait (over by `deadline`, if any); false
    /// once the rank has stopped.
    fn pump(&mut self, deadline: Option<Instant>) -> bool;
    /// True while sends are in flight that need this thread's calls to move.
    fn sending(&self) -> bool;
    /// Ends the whole job with a line saying why.
    fn fatal(&self, what: String) -> !;
}

/// The context of one thread.
struct Context {
    /// The worker of the task that runs here, and how many tasks deep this thread is.
    task: RefCell<Option<(Arc<dyn TaskHost>, usize)>>,
    /// On a worker's loop thread while it runs a task itself: the loop, for that task to drive.
    pump: Cell<Option<*mut dyn Pump>>,
}

thread_local! {
    static CONTEXT: Context = const { Context { task: RefCell::new(None), pump: Cell::new(None) } };
    /// The function of the innermost task that runs here. Apart from [`CONTEXT`], and with no
    /// destructor: `exit` runs the calling thread's thread-local destructors before the exit
    /// hook that names the task (see `process_guard`), and a signal handler reads it too.
    static FUNCTION: Cell<Option<&'static RemoteFunction>> = const { Cell::new(None) };
    /// The first result of the innermost task that runs here (see [`task_id`]).
    static TASK_ID: Cell<Option<ObjectId>> = const { Cell::new(None) };
}

/// The first result of the task that runs on this thread, if any: what names the task.
pub(crate) fn task_id() -> Option<ObjectId> {
    TASK_ID.try_with(Cell::get).ok().flatten()
}

/// The worker and depth of the task running on this thread, if any.
pub(crate) fn current() -> Option<(Arc<dyn TaskHost>, usize)> {
    // `try_with`: a ref dropped by a thread-local destructor as a thread ends may call this
    // after the context is gone; such a thread runs no task.
    CONTEXT.try_with(|c| c.task.borrow().clone()).ok().flatten()
}

/// The path of the function whose task runs on this thread, if any (for crash lines).
pub(crate) fn function_path() -> Option<&'static str> {
    FUNCTION.try_with(|f| f.get().map(RemoteFunction::path)).ok().flatten()
}

/// Notes that the task running on this thread calls `get` or `wait` (see
/// [`RemoteFunction::runs_inline`]).
pub(crate) fn note_blocking_call() {
    let _ = FUNCTION.try_with(|f| f.get().map(RemoteFunction::blocked));
}

/// Marks this thread as running tasks of `host`, `depth` deep, until the guard is dropped.
pub(crate) fn enter_task(host: Arc<dyn TaskHost>, depth: usize) -> TaskGuard {
    TaskGuard(CONTEXT.with(|c| c.task.borrow_mut().replace((host, depth))))
}

/// Puts back the task context a thread had before [`enter_task`].
pub(crate) struct TaskGuard(Option<(Arc<dyn TaskHost>, usize)>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        let previous = self.0.take();
        let _ = CONTEXT.try_with(|c| *c.task.borrow_mut() = previous);
    }
}

/// Marks this thread as running `function`, in the task whose first result is `task`, until
/// the guard is dropped.
pub(crate) fn enter_function(function: &'static RemoteFunction, task: ObjectId) -> FunctionGuard {
    let function = FUNCTION.with(|f| f.replace(Some(function)));
    FunctionGuard(function, TASK_ID.with(|t| t.replace(Some(task))))
}

/// Puts back the function and task a thread ran before [`enter_function`].
pub(crate) struct FunctionGuard(Option<&'static RemoteFunction>, Option<ObjectId>);

impl Drop for FunctionGuard {
    fn drop(&mut self) {
        let _ = FUNCTION.try_with(|f| f.set(self.0));
        let _ = TASK_ID.try_with(|t| t.set(self.1));
    }
}

/// True on a worker's loop thread while it runs a task itself.
pub(crate) fn on_loop_thread() -> bool {
    CONTEXT.try_with(|c| c.pump.get().is_some()).unwrap_or(false)
}

/// Runs `task` on the loop's own thread with `pump` reachable for it: a task that blocks drives
/// the loop through [`pump_from_task`] until its answer comes.
/// The pointer is taken out again before `pump`'s borrow ends (even if `task` unwinds), and
/// only `with_pump` uses it, on this thread, while `task` runs.
pub(crate) fn run_with_pump(pump: &mut (dyn Pump + 'static), task: impl FnOnce()) {
    let pump: *mut (dyn Pump + 'static) = pump;
    CONTEXT.with(|c| c.pump.set(Some(pump)));
    /// Takes the pointer out even if `task` unwinds.
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            let _ = CONTEXT.try_with(|c| c.pump.set(None));
        }
    }
    let _clear = Clear;
    task();
}

/// Runs `f` on the loop whose thread runs the calling task. A panic of the loop there (a bug in
/// the runtime) ends the job at once, as one on the loop's own stack does, never unwinding into
/// the task's code.
fn with_pump<R>(f: impl FnOnce(&mut dyn Pump) -> R) -> R {
    let core =
        CONTEXT.with(|c| c.pump.take()).expect("only a task run by its worker's loop pumps it");
    // SAFETY: `run_with_pump` stored this pointer to the loop just before it called the task
    // that is calling us, on this thread, and the loop is touched only after that task returns;
    // the pointer is taken out while in use, so no two references to the loop are live at once.
    let core = unsafe { &mut *core };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut *core)));
    match result {
        Ok(value) => {
            CONTEXT.with(|c| c.pump.set(Some(core as *mut dyn Pump)));
            value
        }
        Err(_) => core.fatal("stopped: its progress loop panicked (the message is above)".into()),
    }
}

/// One round of the loop, from a task on its thread that waits (until `deadline`, if any);
/// false once the rank has stopped.
pub(crate) fn pump_from_task(deadline: Option<Instant>) -> bool {
    with_pump(|core| core.pump(deadline))
}

/// From a task on the loop's thread whose wait is over: completes the sends the loop started
/// meanwhile before the task computes again, since a large one moves only while this thread
/// calls MPI (a peer waits for its chunks).
pub(crate) fn finish_sends_from_task() {
    with_pump(|core| while core.sending() && core.pump(None) {})
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Host;
    impl TaskHost for Host {
        fn rank(&self) -> Rank {
            4
        }
        fn workers(&self) -> usize {
            1
        }
        fn backend(&self) -> &'static str {
            "test"
        }
        fn new_ids(&self, n: usize) -> ObjectId {
            ObjectId::new(4, n as u64)
        }
        fn submit(&self, _: Task, _: Option<Rank>) {}
        fn put(&self, _: ObjectId, _: Object) {}
        fn release(&self, _: ObjectId) {}
        fn hold_actor(&self, _: ObjectId) {}
        fn get(self: Arc<Self>, _: Vec<ObjectId>, _: usize) -> Vec<Object> {
            Vec::new()
        }
        fn wait(
            self: Arc<Self>,
            _: Vec<ObjectId>,
            _: usize,
            _: usize,
            _: Option<Instant>,
        ) -> Vec<bool> {
            Vec::new()
        }
        fn get_later(&self, _: Vec<ObjectId>, _: Reply) {}
        fn wait_later(&self, _: Vec<ObjectId>, _: usize, _: Reply) {}
        fn cancel(&self, _: Vec<ObjectId>) {}
        fn is_cancelled(&self, _: ObjectId) -> bool {
            false
        }
        fn send_bytes(&self, _: Rank, _: Vec<u8>) {}
    }

    #[test]
    fn a_task_context_nests_and_comes_back() {
        assert!(current().is_none());
        let outer = enter_task(Arc::new(Host), 1);
        assert_eq!(current().map(|(h, d)| (h.rank(), d)), Some((4, 1)));
        {
            let _inner = enter_task(Arc::new(Host), 2);
            assert_eq!(current().map(|(_, d)| d), Some(2));
        }
        assert_eq!(current().map(|(_, d)| d), Some(1));
        drop(outer);
        assert!(current().is_none());
    }

    struct Counter(u32);
    impl Pump for Counter {
        fn pump(&mut self, _: Option<Instant>) -> bool {
            self.0 += 1;
            self.0 < 3
        }
        fn sending(&self) -> bool {
            self.0 < 2
        }
        fn fatal(&self, what: String) -> ! {
            panic!("{what}")
        }
    }

    #[test]
    fn a_task_on_the_loop_thread_drives_the_loop_and_leaves_no_pointer_behind() {
        let mut counter = Counter(0);
        assert!(!on_loop_thread());
        run_with_pump(&mut counter, || {
            assert!(on_loop_thread());
            assert!(pump_from_task(None));
            finish_sends_from_task();
        });
        assert!(!on_loop_thread());
        assert_eq!(counter.0, 2);
    }
}
