//! Options of one call of a remote function ([`TaskOptions`]), for `f::remote_with`.

/// Options of one call of a remote function: `f::remote_with(options, args..)` submits `f` like
/// `f::remote(args..)`, with these options.
///
/// ```
/// use unidist::TaskOptions;
///
/// #[unidist::remote(max_retries = 1)]
/// fn fetch(day: u32) -> u32 {
///     day * 2 // say, a download that fails now and then
/// }
///
/// fn main() {
///     unidist::init();
///     // Up to 5 runs in all instead of the function's 2, on worker 1 only.
///     let r = fetch::remote_with(TaskOptions::new().max_retries(4).worker(1), 21);
///     assert_eq!(unidist::get(&r).unwrap(), 42);
///     unidist::shutdown();
/// }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskOptions {
    max_retries: Option<u8>,
    worker: Option<usize>,
}

impl TaskOptions {
    /// The function's defaults: the `max_retries` of its `#[remote]` (0 if it gives none), and
    /// the next worker of the cycle.
    pub fn new() -> TaskOptions {
        TaskOptions::default()
    }

    /// Runs the task again, up to `retries` more times, each time it panics: placed on another
    /// worker than the last where there is one (as any queued task, a worker with nothing to do
    /// may take it over), on the same worker if one was named with [`TaskOptions::worker`]. The task's result is the first value it returns; if every run
    /// panics, it is [`Error::TaskPanicked`](crate::Error::TaskPanicked) with the last run's
    /// message and the count of runs (`attempts`). Only panics are retried: a task whose input
    /// failed, or that was cancelled, is not; a task whose worker process dies ends the job.
    ///
    /// Retries suit tasks that may fail for a while (a busy file server, a flaky device); a
    /// task that panics on its arguments panics every time.
    pub fn max_retries(mut self, retries: u8) -> TaskOptions {
        self.max_retries = Some(retries);
        self
    }

    /// Runs the task on worker `worker` (1 to [`num_workers`](crate::num_workers)) and only
    /// there, like `f::remote_on`.
    pub fn worker(mut self, worker: usize) -> TaskOptions {
        self.worker = Some(worker);
        self
    }

    /// The retries to give a task of a function whose own default is `default`.
    pub(crate) fn retries(&self, default: u8) -> u8 {
        self.max_retries.unwrap_or(default)
    }

    pub(crate) fn chosen_worker(&self) -> Option<usize> {
        self.worker
    }
}
