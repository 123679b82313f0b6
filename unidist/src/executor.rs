//! The threads that run a worker's tasks, and what a task does when it blocks.
//!
//! A worker runs up to its number of task slots (`UNIDIST_WORKER_THREADS`) ready tasks at once,
//! oldest first, each on an executor thread of its own. A task that blocks in `get` or `wait` (a
//! nested task waiting for its children) runs the task it waits for on its own thread if that
//! task is ready here, like a plain call, up to [`MAX_CALL_DEPTH`] deep. Otherwise its thread
//! sleeps, and if ready tasks are left with no thread to take them, the worker starts another
//! thread: so a worker always has a thread running its ready tasks while others are blocked. A
//! worker has at most [`MAX_EXECUTOR_THREADS`] threads; at that bound a blocked thread also runs
//! unrelated ready tasks while it waits, while it is less than [`MAX_NESTED_DEPTH`] tasks deep.
//! A task only ever waits for objects made after it started (its own children) or already
//! there, so a task run on top of a blocked one never waits for the one beneath it; and since a
//! blocked task can always run the task it waits for, the bounds never leave that task ready
//! with no thread allowed to take it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::Thread;
use std::time::Instant;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::context::{self, TaskHost};
use crate::event_loop::{Mailbox, ProbeCall};
use crate::id::{ObjectId, Rank};
use crate::invoke::{self, makes, Job};
use crate::object::Object;
use crate::protocol::Task;
use crate::reply::{Answer, Complete, Reply};
use crate::timeline::{self, Call, Event};
use crate::worker::command::Command;

/// The most executor threads one worker starts.
pub const MAX_EXECUTOR_THREADS: usize = 256;

/// The most tasks one executor thread holds on its stack, counting unrelated ready tasks that a
/// blocked thread runs while it waits (at [`MAX_EXECUTOR_THREADS`]). The task a blocked task
/// waits for is not bound by it: see [`MAX_CALL_DEPTH`].
pub const MAX_NESTED_DEPTH: usize = 64;

/// The most tasks one executor thread holds on its stack when each waits for the next, like a
/// recursion of plain calls: a blocked task always runs the task it waits for itself when that
/// task is ready on its worker, up to this depth. Were it bound by [`MAX_NESTED_DEPTH`], a worker
/// whose threads were all that deep could hold ready the very tasks they wait for, and run none.
pub const MAX_CALL_DEPTH: usize = 1024;

/// Stack of an executor thread: the runtime's frames take about 2 KiB per nested task (measured
/// with recursive `fib`), so [`MAX_CALL_DEPTH`] of them take 2 MiB, leaving the rest to the
/// tasks' own frames. It is reserved, not committed: untouched pages cost no memory.
pub(crate) const STACK_BYTES: usize = 16 << 20;

/// A thread waiting in the pool: idle (depth 0), or a task blocked on `request`.
struct Sleeper {
    thread: Thread,
    depth: usize,
    request: Option<u64>,
    awaited: Vec<ObjectId>,
    /// It waits for a task it submitted that the root has not placed yet: it may come here.
    placement: bool,
    /// It may run jobs while it waits: false for a task whose wait has a deadline.
    takes_jobs: bool,
}

/// The deadline of a task's `wait`, and the token that names the wait to the worker's loop.
#[derive(Clone, Copy)]
struct Deadline {
    at: Instant,
    token: u64,
}

/// How a blocked task waits for its answer.
#[derive(Clone, Copy)]
enum Patience {
    /// As long as it takes: it runs the task it waits for if that is ready here (and, at the
    /// bound on threads, another), and drives the worker's loop if no other thread does.
    Unbounded,
    /// Until this deadline: it runs no task (one could outlast the deadline), and leaves the
    /// loop to other threads (a driver sleeps past any deadline).
    Until(Instant),
    /// Its deadline passed and its answer is on its way: it runs no task, and may drive.
    Expired,
}

struct State {
    /// Jobs whose inputs are all here, oldest first.
    ready: VecDeque<Job>,
    answers: FxHashMap<u64, Answer>,
    /// Results of tasks submitted by tasks here that the root has not placed yet.
    expected: FxHashSet<ObjectId>,
    /// Threads waiting, each woken on its own (no thundering herd).
    sleepers: Vec<Sleeper>,
    /// Idle threads that run the worker's loop while they wait for a job (see `Pool::serve`):
    /// each takes a job pushed meanwhile without being woken.
    polling: usize,
    threads: usize,
    stopped: bool,
}

impl State {
    fn at_bound(&self) -> bool {
        self.threads >= MAX_EXECUTOR_THREADS
    }

    /// Would `sleeper` take a job it does not wait for?
    fn takes_any(&self, sleeper: &Sleeper) -> bool {
        sleeper.takes_jobs
            && (sleeper.depth == 0 || (self.at_bound() && sleeper.depth < MAX_NESTED_DEPTH))
    }

    /// Wakes the one sleeper that should take `job` (not yet queued): a task waiting for its
    /// result, else, unless a polling thread will take it, a thread that takes any job. False
    /// if none would take it.
    fn wake_for(&mut self, job: &Job) -> bool {
        let sleepers = &self.sleepers;
        let awaiting = sleepers
            .iter()
            .position(|s| s.depth < MAX_CALL_DEPTH && s.awaited.iter().any(|id| job.makes(*id)));
        if awaiting.is_none() && self.polling > self.ready.len() {
            return true;
        }
        let chosen = awaiting.or_else(|| sleepers.iter().rposition(|s| self.takes_any(s)));
        match chosen {
            Some(i) => {
                self.sleepers.swap_remove(i).thread.unpark();
                true
            }
            None => false,
        }
    }

    /// True if fewer threads than `slots` are awake: another may take a job.
    fn slot_free(&self, slots: usize) -> bool {
        self.threads - self.sleepers.len() < slots
    }

    /// True if ready jobs are left to no thread: every thread sleeps, none takes any job, and
    /// none waits for a placement (it wakes when the root places the task, and may then take it).
    fn stuck(&self) -> bool {
        !self.ready.is_empty()
            && self.sleepers.len() == self.threads
            && !self
                .sleepers
                .iter()
                .any(|s| self.takes_any(s) || (s.placement && s.depth < MAX_CALL_DEPTH))
    }
}

/// The executor threads of one worker and their shared queue.
pub(crate) struct Pool {
    rank: Rank,
    workers: usize,
    backend: &'static str,
    /// The worker's loop, for results and for the API calls of tasks.
    mailbox: Mailbox<Command>,
    state: Mutex<State>,
    next_sequence: AtomicU64,
    next_request: AtomicU64,
    /// The length of `state.ready`, readable without the lock by a thread that polls for work.
    queued: AtomicUsize,
    /// Threads running a task that is not blocked in `get` or `wait`.
    computing: AtomicUsize,
    /// Tasks that may compute at once.
    slots: usize,
    /// The worker's loop thread runs a task (see [`Pool::run_inline`]).
    inline_running: AtomicBool,
    /// Tasks cancelled after they left the queue (running, waiting for their turn as an actor's
    /// call, or already done), by first result: read by `is_cancelled`, taken when the task ends
    /// or its first result is freed.
    cancelled: Mutex<FxHashSet<ObjectId>>,
    /// The length of `cancelled`, so that the tasks of a job that cancels nothing take no lock.
    cancels: AtomicUsize,
    /// The function of the task each thread runs now (0: none), by the thread's number (its
    /// lane: 0 for the worker's loop thread, executor threads from 1); a thread that runs a
    /// task inside another's wait shows the inner one (see `unidist::function_stats`).
    running: Box<[AtomicU64]>,
}

impl Pool {
    /// The pool of a worker that runs up to `slots` tasks at once. It starts no thread until a
    /// job is pushed.
    pub(crate) fn new(
        rank: Rank,
        workers: usize,
        backend: &'static str,
        mailbox: Mailbox<Command>,
        slots: usize,
    ) -> Arc<Pool> {
        Arc::new(Pool {
            rank,
            workers,
            backend,
            mailbox,
            state: Mutex::new(State {
                ready: VecDeque::new(),
                answers: FxHashMap::default(),
                expected: FxHashSet::default(),
                sleepers: Vec::new(),
                polling: 0,
                threads: 0,
                stopped: false,
            }),
            slots: slots.max(1),
            next_sequence: AtomicU64::new(0),
            next_request: AtomicU64::new(0),
            queued: AtomicUsize::new(0),
            computing: AtomicUsize::new(0),
            inline_running: AtomicBool::new(false),
            cancelled: Mutex::new(FxHashSet::default()),
            cancels: AtomicUsize::new(0),
            running: (0..=MAX_EXECUTOR_THREADS).map(|_| AtomicU64::new(0)).collect(),
        })
    }

    /// Takes the queued job of the task with first result `first` out of the queue, if it is
    /// there (not started).
    pub(crate) fn take_queued(&self, first: ObjectId) -> Option<Job> {
        let mut state = self.lock();
        let index = state.ready.iter().position(|job| job.task.first_output == first)?;
        let job = state.ready.remove(index);
        self.queued.store(state.ready.len(), Ordering::Release);
        job
    }

    fn cancelled_set(&self) -> MutexGuard<'_, FxHashSet<ObjectId>> {
        self.cancelled.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks the task with first result `first` cancelled: it sees it in `is_cancelled`, and
    /// its results are errors when it ends.
    pub(crate) fn mark_cancelled(&self, first: ObjectId) {
        let mut cancelled = self.cancelled_set();
        if cancelled.insert(first) {
            self.cancels.store(cancelled.len(), Ordering::Release);
        }
    }

    /// Whether the task with first result `first` was marked cancelled.
    pub(crate) fn cancelled(&self, first: ObjectId) -> bool {
        self.cancels.load(Ordering::Acquire) > 0 && self.cancelled_set().contains(&first)
    }

    /// Takes the mark of the task with first result `first`, as it ends: true if it had one.
    pub(crate) fn take_cancelled(&self, first: ObjectId) -> bool {
        if self.cancels.load(Ordering::Acquire) == 0 {
            return false;
        }
        let mut cancelled = self.cancelled_set();
        let had = cancelled.remove(&first);
        self.cancels.store(cancelled.len(), Ordering::Release);
        had
    }

    /// Forgets the marks of freed objects (a task that had ended when its cancel came).
    pub(crate) fn forget_cancelled(&self, ids: &[ObjectId]) {
        if self.cancels.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut cancelled = self.cancelled_set();
        for id in ids {
            cancelled.remove(id);
        }
        self.cancels.store(cancelled.len(), Ordering::Release);
    }

    /// Reports `task` finished without running, with `outputs` (errors: it was cancelled, or
    /// an input failed).
    pub(crate) fn report_finished(&self, task: &Task, outputs: Vec<Object>) {
        let (first_output, function) = (task.first_output, task.function);
        self.mailbox.send(Command::Finished { first_output, function, outputs, took: None });
    }

    /// Tasks running now, by function.
    pub(crate) fn running(&self) -> FxHashMap<u64, u64> {
        let mut running = FxHashMap::default();
        for slot in self.running.iter() {
            let function = slot.load(Ordering::Relaxed);
            if function != 0 {
                *running.entry(function).or_default() += 1;
            }
        }
        running
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Executor threads started so far (the tests check that none starts before a job is ready).
    #[cfg(test)]
    pub(crate) fn threads(&self) -> usize {
        self.lock().threads
    }

    fn new_request(&self) -> u64 {
        self.next_request.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends a blocking call made by `make` to the worker's loop and blocks the calling task,
    /// `depth` deep, until its answer comes (with a `deadline`, asked for once it passes).
    fn call(
        self: Arc<Self>,
        call: Call,
        ids: Vec<ObjectId>,
        depth: usize,
        deadline: Option<Deadline>,
        make: impl FnOnce(Vec<ObjectId>, Reply) -> Command,
    ) -> Answer {
        context::note_blocking_call();
        let request = self.new_request();
        // The awaited IDs: to run the task that makes them if it is here.
        let awaited = ids.clone();
        let reply = Reply::new(TaskReply { pool: Arc::clone(&self), request });
        /// Counts the task as computing again when its wait ends, even by a panic.
        struct Resume<'a>(&'a AtomicUsize);
        impl Drop for Resume<'_> {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        // No longer computing before the loop reads the call: the loop, seeing the slot free,
        // may then tell the root this worker could take more work.
        self.computing.fetch_sub(1, Ordering::Relaxed);
        let _resume = Resume(&self.computing);
        let command = make(ids, reply);
        if context::on_loop_thread() {
            // Its thread holds the loop: the task pumps it until the answer comes.
            self.mailbox.send(command);
        } else {
            // Sent by this thread if no other runs the loop: no thread is woken for it.
            self.mailbox.call(Some(command), &mut || true);
        }
        let started = timeline::on().then(Instant::now);
        let answer = self.block_on(request, depth, &awaited, deadline);
        if let Some(started) = started {
            let (start, end) = (timeline::nanos(started), timeline::now());
            let lane = timeline::lane();
            timeline::record(self.rank, Event::Blocked { call, lane, start, end });
        }
        answer
    }

    fn spawn(self: &Arc<Self>, state: &mut State) {
        if state.at_bound() {
            return;
        }
        state.threads += 1;
        let pool = Arc::clone(self);
        // Its lane in the timeline: threads are numbered from 1 as they start.
        let lane = u32::try_from(state.threads).unwrap_or(u32::MAX);
        let started = std::thread::Builder::new()
            .name(format!("unidist-x-{}", self.rank))
            .stack_size(STACK_BYTES)
            .spawn(move || pool.serve(lane));
        if started.is_err() {
            state.threads -= 1;
            eprintln!("unidist: rank {} could not start another executor thread", self.rank);
        }
    }

    /// Queues a job whose inputs are all here (called by the worker's loop).
    pub(crate) fn push(self: &Arc<Self>, job: Job) {
        let mut state = self.lock();
        for k in 0..job.task.num_returns as usize {
            state.expected.remove(&job.task.first_output.offset(k));
        }
        let woken = state.wake_for(&job);
        state.ready.push_back(job);
        self.queued.store(state.ready.len(), Ordering::Release);
        if !woken && (state.stuck() || state.slot_free(self.slots)) {
            self.spawn(&mut state);
        }
    }

    /// Takes up to `max` queued jobs out of the pool, newest first, for another worker to run:
    /// never a pinned one (its caller chose this worker), one submitted by a task here (such a
    /// task may soon wait for it and run it on its own thread) or one a blocked task here is
    /// registered as waiting for (best effort: a task about to block, or just woken, is not
    /// registered; it then gets the result through the root, one round trip later).
    pub(crate) fn take_back(&self, max: usize) -> Vec<Job> {
        let mut state = self.lock();
        // Only jobs waiting for a slot: as many as a free slot would start soon stay.
        let free = self.slots.saturating_sub(self.computing.load(Ordering::Relaxed));
        let max = max.min(state.ready.len().saturating_sub(free));
        let mut taken = Vec::new();
        let mut i = state.ready.len();
        while i > 0 && taken.len() < max {
            i -= 1;
            let job = &state.ready[i];
            let awaited = state.sleepers.iter().any(|s| s.awaited.iter().any(|id| job.makes(*id)));
            if job.task.pinned || job.task.first_output.origin() == self.rank || awaited {
                continue;
            }
            taken.extend(state.ready.remove(i));
        }
        self.queued.store(state.ready.len(), Ordering::Release);
        taken
    }

    /// Notes that a task here submitted a task with these results: a task that waits for them
    /// waits for the root to place that task before the worker adds a thread for other jobs.
    fn expect(&self, first_output: ObjectId, num_returns: usize) {
        let mut state = self.lock();
        state.expected.extend((0..num_returns).map(|k| first_output.offset(k)));
    }

    /// The root placed a task submitted here, on another worker or here but waiting for inputs.
    pub(crate) fn placed(self: &Arc<Self>, first_output: ObjectId, num_returns: usize) {
        let mut state = self.lock();
        for k in 0..num_returns {
            state.expected.remove(&first_output.offset(k));
        }
        let waiting = state.sleepers.iter().position(|s| {
            s.placement && s.awaited.iter().any(|id| makes(first_output, num_returns, *id))
        });
        if let Some(i) = waiting {
            state.sleepers[i].placement = false;
        }
        if state.stuck() {
            self.spawn(&mut state);
        }
    }

    /// Hands the answer of request `request` to the task blocked on it.
    fn answer(&self, request: u64, answer: Answer) {
        let mut state = self.lock();
        state.answers.insert(request, answer);
        if let Some(i) = state.sleepers.iter().position(|s| s.request == Some(request)) {
            state.sleepers.swap_remove(i).thread.unpark();
        }
    }

    /// Stops the threads once they are idle; a task blocked on an answer panics out of it.
    pub(crate) fn stop(&self) {
        let mut state = self.lock();
        state.stopped = true;
        for sleeper in state.sleepers.drain(..) {
            sleeper.thread.unpark();
        }
    }

    /// Sleeps until woken (or until `deadline`, if any), registered as `sleeper` meanwhile. If
    /// that leaves ready jobs to no thread, starts one that takes them.
    fn sleep<'a>(
        self: &'a Arc<Self>,
        mut state: MutexGuard<'a, State>,
        sleeper: Sleeper,
        deadline: Option<Instant>,
    ) -> MutexGuard<'a, State> {
        let me = sleeper.thread.id();
        state.sleepers.push(sleeper);
        if state.stuck() {
            self.spawn(&mut state);
        }
        drop(state);
        match deadline {
            Some(deadline) => {
                std::thread::park_timeout(deadline.saturating_duration_since(Instant::now()))
            }
            None => std::thread::park(),
        }
        let mut state = self.lock();
        // Woken by a spurious wake-up or the deadline rather than by `wake_for`, `answer` or
        // `stop`.
        if let Some(i) = state.sleepers.iter().position(|s| s.thread.id() == me) {
            state.sleepers.swap_remove(i);
        }
        state
    }

    /// The body of an executor thread: takes ready jobs, oldest first.
    fn serve(self: Arc<Self>, lane: u32) {
        let _context = context::enter_task(Arc::clone(&self) as Arc<dyn TaskHost>, 0);
        crate::log::set_thread_rank(self.rank);
        timeline::set_lane(lane);
        let mut state = self.lock();
        // The report of the task this thread ran last, not yet handed to the loop.
        let mut finished = None;
        loop {
            if state.stopped {
                drop(state);
                if let Some(finished) = finished {
                    self.report(finished);
                }
                return;
            }
            if let Some(job) = state.ready.pop_front() {
                self.dequeued(&state);
                drop(state);
                if let Some(finished) = finished.take() {
                    self.report(finished);
                }
                finished = Some(self.compute(job, 1));
                state = self.lock();
                continue;
            }
            // Run the worker's loop a moment before sleeping (if no other thread runs it),
            // starting with the last task's report: a job that comes meanwhile is taken by this
            // thread, with no thread woken for it.
            state.polling += 1;
            drop(state);
            let mut taken = None;
            self.mailbox.call(finished.take(), &mut || {
                taken = self.take_ready();
                taken.is_some() || self.lock().stopped
            });
            state = self.lock();
            state.polling -= 1;
            if let Some(job) = taken {
                drop(state);
                finished = Some(self.compute(job, 1));
                state = self.lock();
                continue;
            }
            if state.stopped || !state.ready.is_empty() {
                continue;
            }
            // Poll for the next job a moment before sleeping: cheaper than being woken.
            drop(state);
            let polled = crate::spin::spin_until(|| self.queued.load(Ordering::Acquire) > 0);
            state = self.lock();
            if polled || state.stopped || !state.ready.is_empty() {
                continue;
            }
            let sleeper = Sleeper {
                thread: std::thread::current(),
                depth: 0,
                request: None,
                awaited: Vec::new(),
                placement: false,
                takes_jobs: true,
            };
            state = self.sleep(state, sleeper, None);
        }
    }

    /// The oldest ready job, counted as computing, if any.
    fn take_ready(&self) -> Option<Job> {
        if self.queued.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut state = self.lock();
        let job = state.ready.pop_front()?;
        self.dequeued(&state);
        Some(job)
    }

    /// True while a task of this worker is computing (running, not blocked in `get`/`wait`).
    pub(crate) fn computing(&self) -> bool {
        self.computing.load(Ordering::Relaxed) > 0
    }

    /// True if no task computes here and none is queued: a task the loop runs on its own thread
    /// now takes no core from another.
    pub(crate) fn idle(&self) -> bool {
        !self.computing() && self.queued.load(Ordering::Acquire) == 0
    }

    /// True if a slot is free and no job waits for one: the worker could take more work.
    pub(crate) fn short_of_work(&self) -> bool {
        // The queue first: a job taken from it counts as computing before it leaves it.
        self.queued.load(Ordering::Acquire) == 0
            && self.computing.load(Ordering::Relaxed) < self.slots
            && !self.inline_running()
    }

    /// Jobs waiting for a slot.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Tasks that may compute at once.
    pub(crate) fn slots(&self) -> usize {
        self.slots
    }

    /// A task submitted here with these results is ready and runs on the loop's thread: it was
    /// placed, so tasks waiting for it need not wait for the root to place it.
    pub(crate) fn unexpect(&self, first_output: ObjectId, num_returns: usize) {
        let mut state = self.lock();
        for k in 0..num_returns {
            state.expected.remove(&first_output.offset(k));
        }
    }

    /// True while the worker's loop thread runs a task.
    pub(crate) fn inline_running(&self) -> bool {
        self.inline_running.load(Ordering::Relaxed)
    }

    /// Runs `job` on the worker's loop thread (the caller). If the task blocks in `get` or
    /// `wait`, it drives the loop until its answer comes (see [`Pool::block_on`]).
    pub(crate) fn run_inline(self: &Arc<Self>, job: Job) {
        self.inline_running.store(true, Ordering::Relaxed);
        self.computing.fetch_add(1, Ordering::Relaxed);
        self.run(job, 1);
        self.inline_running.store(false, Ordering::Relaxed);
    }

    /// A job was just taken out of `state.ready` to run: it computes from now on. Counted
    /// before the queue's length is published, so that [`Pool::short_of_work`] never sees a
    /// job in neither.
    fn dequeued(&self, state: &State) {
        self.computing.fetch_add(1, Ordering::Relaxed);
        self.queued.store(state.ready.len(), Ordering::Release);
    }

    /// Runs `job`, already counted as computing, `depth` tasks deep on this thread, and reports
    /// it finished.
    fn run(self: &Arc<Self>, job: Job, depth: usize) {
        let finished = self.compute(job, depth);
        self.report(finished);
    }

    /// Runs `job`, already counted as computing, `depth` tasks deep on this thread: the command
    /// that reports it finished.
    fn compute(self: &Arc<Self>, job: Job, depth: usize) -> Command {
        let (first_output, function) = (job.task.first_output, job.task.function);
        let context = context::enter_task(Arc::clone(self) as Arc<dyn TaskHost>, depth);
        let slot = &self.running[(timeline::lane() as usize).min(MAX_EXECUTOR_THREADS)];
        // Only this thread writes its slot: no read-modify-write needed.
        let outer = slot.load(Ordering::Relaxed);
        slot.store(function, Ordering::Relaxed);
        let started = Instant::now();
        let outputs = invoke::run(self.rank, job); // catches the task's panics
        let ended = Instant::now();
        let took = Some(ended - started);
        slot.store(outer, Ordering::Relaxed);
        if timeline::on() {
            let (start, end) = (timeline::nanos(started), timeline::nanos(ended));
            let failed = outputs.first().is_some_and(Object::is_error);
            let task = first_output;
            let event = Event::Task { function, task, lane: timeline::lane(), start, end, failed };
            timeline::record(self.rank, event);
        }
        self.computing.fetch_sub(1, Ordering::Relaxed);
        drop(context);
        Command::Finished { first_output, function, outputs, took }
    }

    /// Hands a task's `finished` command to the worker's loop.
    fn report(&self, finished: Command) {
        // The loop's own thread (an inline task) sends it with its next round; with more to run,
        // the loop's thread sends the results of a flood in batches.
        if context::on_loop_thread() || self.queued.load(Ordering::Acquire) > 0 {
            self.mailbox.send(finished);
        } else {
            // Sent by this thread if no other runs the loop: no thread is woken for it.
            self.mailbox.call(Some(finished), &mut || true);
        }
    }

    /// Blocks the calling task (no longer counted as computing), `depth` tasks deep on its
    /// thread, until request `request` is answered; runs the task that makes one of `awaited`
    /// meanwhile if it is ready here. With a `deadline`, it runs no task and, once the deadline
    /// passes, asks the worker's loop for the answer at once.
    fn block_on(
        self: &Arc<Self>,
        request: u64,
        depth: usize,
        awaited: &[ObjectId],
        deadline: Option<Deadline>,
    ) -> Answer {
        let patience = deadline.map_or(Patience::Unbounded, |d| Patience::Until(d.at));
        if let Some(answer) = self.wait_for(request, depth, awaited, patience) {
            return answer;
        }
        let token = deadline.expect("only a wait with a deadline ends unanswered").token;
        self.mailbox.send(Command::WaitExpired(token));
        self.wait_for(request, depth, awaited, Patience::Expired)
            .expect("a wait with no deadline ends answered")
    }

    /// Blocks until request `request` is answered, waiting as `patience` says; `None` if a
    /// deadline passed first.
    fn wait_for(
        self: &Arc<Self>,
        request: u64,
        depth: usize,
        awaited: &[ObjectId],
        patience: Patience,
    ) -> Option<Answer> {
        let deadline = match patience {
            Patience::Until(at) => Some(at),
            Patience::Unbounded | Patience::Expired => None,
        };
        if context::on_loop_thread() {
            return self.pump_until(request, deadline);
        }
        let helps = matches!(patience, Patience::Unbounded);
        let mut state = self.lock();
        // Drove the loop since this thread last slept.
        let mut drove = false;
        loop {
            if let Some(answer) = state.answers.remove(&request) {
                return Some(answer);
            }
            if state.stopped {
                drop(state);
                panic!("unidist: the runtime was shut down while this task waited");
            }
            if deadline.is_some_and(|at| Instant::now() >= at) {
                return None;
            }
            if helps && depth < MAX_CALL_DEPTH {
                // The task it waits for, like a plain call; at the bound on threads, while not too
                // deep, the newest other ready task (the likeliest to finish soon).
                let index = state
                    .ready
                    .iter()
                    .position(|job| awaited.iter().any(|id| job.makes(*id)))
                    .or_else(|| {
                        if state.at_bound() && depth < MAX_NESTED_DEPTH {
                            state.ready.len().checked_sub(1)
                        } else {
                            None
                        }
                    });
                if let Some(job) = index.and_then(|i| state.ready.remove(i)) {
                    self.dequeued(&state);
                    drop(state);
                    self.run(job, depth + 1);
                    state = self.lock();
                    continue;
                }
            }
            // Not before a deadline: a driver sleeps on the doorbell past any.
            if !drove && deadline.is_none() && self.mailbox.drivable() {
                // Run the worker's loop a while, if no other thread runs it: the answer, or a
                // job made ready here, then comes with no thread woken for it. Then everything
                // is checked again, under the lock, before this thread sleeps.
                drove = true;
                drop(state);
                self.mailbox.call(None, &mut || {
                    let state = self.lock();
                    state.answers.contains_key(&request) || state.stopped || !state.ready.is_empty()
                });
                state = self.lock();
                continue;
            }
            let awaited = if helps { awaited.to_vec() } else { Vec::new() };
            let placement = awaited.iter().any(|id| state.expected.contains(id));
            let sleeper = Sleeper {
                thread: std::thread::current(),
                depth,
                request: Some(request),
                awaited,
                placement,
                takes_jobs: helps,
            };
            state = self.sleep(state, sleeper, deadline);
            drove = false;
        }
    }

    /// A task on the loop's own thread waits by running the loop until its answer comes (or
    /// until `deadline`: then `None`). The tasks that the loop makes ready meanwhile go to the
    /// executor threads.
    fn pump_until(self: &Arc<Self>, request: u64, deadline: Option<Instant>) -> Option<Answer> {
        loop {
            let mut state = self.lock();
            if let Some(answer) = state.answers.remove(&request) {
                drop(state);
                context::finish_sends_from_task();
                return Some(answer);
            }
            if state.stopped {
                drop(state);
                panic!("unidist: the runtime was shut down while this task waited");
            }
            drop(state);
            if deadline.is_some_and(|at| Instant::now() >= at) {
                return None;
            }
            if !context::pump_from_task(deadline) {
                // The rank stopped during that round: the next check panics out of the task.
                self.lock().stopped = true;
            }
        }
    }
}

/// The completion of a blocking call of a task: hands the answer to the task through its pool.
struct TaskReply {
    pool: Arc<Pool>,
    request: u64,
}

impl Complete for TaskReply {
    fn complete(self: Box<Self>, answer: Answer) {
        self.pool.answer(self.request, answer)
    }
}

impl TaskHost for Pool {
    fn rank(&self) -> Rank {
        self.rank
    }

    fn workers(&self) -> usize {
        self.workers
    }

    fn backend(&self) -> &'static str {
        self.backend
    }

    fn new_ids(&self, n: usize) -> ObjectId {
        ObjectId::new(self.rank, self.next_sequence.fetch_add(n as u64, Ordering::Relaxed))
    }

    fn submit(&self, task: Task, worker: Option<Rank>) {
        self.expect(task.first_output, task.num_returns as usize);
        self.mailbox.send(Command::Submit { task, worker });
    }

    fn put(&self, id: ObjectId, object: Object) {
        self.mailbox.send(Command::Put { id, object });
    }

    fn release(&self, id: ObjectId) {
        self.mailbox.send(Command::Release(id));
    }

    fn hold_actor(&self, actor: ObjectId) {
        self.mailbox.send(Command::HoldActor(actor));
    }

    fn get(self: Arc<Self>, ids: Vec<ObjectId>, depth: usize) -> Vec<Object> {
        match self.call(Call::Get, ids, depth, None, |ids, reply| Command::Get { ids, reply }) {
            Answer::Objects(objects) => objects,
            _ => unreachable!("get is answered with objects"),
        }
    }

    fn wait(
        self: Arc<Self>,
        ids: Vec<ObjectId>,
        num_returns: usize,
        depth: usize,
        deadline: Option<Instant>,
    ) -> Vec<bool> {
        let deadline = deadline.map(|at| Deadline { at, token: crate::reply::new_token() });
        let token = deadline.map(|d| d.token);
        let make = |ids, reply| Command::Wait { ids, num_returns, reply, token };
        match self.call(Call::Wait, ids, depth, deadline, make) {
            Answer::Flags(flags) => flags,
            _ => unreachable!("a task's wait is answered with flags"),
        }
    }

    fn get_later(&self, ids: Vec<ObjectId>, reply: Reply) {
        self.mailbox.send(Command::Get { ids, reply });
    }

    fn wait_later(&self, ids: Vec<ObjectId>, num_returns: usize, reply: Reply) {
        self.mailbox.send(Command::Wait { ids, num_returns, reply, token: None });
    }

    fn cancel(&self, ids: Vec<ObjectId>) {
        self.mailbox.send(Command::Cancel(ids));
    }

    fn is_cancelled(&self, task: ObjectId) -> bool {
        self.cancelled(task)
    }

    fn send_bytes(&self, to: Rank, bytes: Vec<u8>) {
        self.mailbox.probe(ProbeCall::SendBytes { to, bytes });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::Receiver;

    use super::*;
    use crate::arg::{Arg, Resolved};
    use crate::error::Error;
    use crate::event_loop::Input;
    use crate::test_support::{
        open_gate, read, task, value, ADD, GATE, NESTED, PANICS, WAITS_UNTIL, WHEREAMI,
    };
    use crate::transport::Doorbell;

    /// The pool of worker 3 of 4 workers, with `slots` task slots, and its worker's queue.
    fn pool(slots: usize) -> (Arc<Pool>, Receiver<Input<Command>>) {
        let (mailbox, inbox) = Mailbox::new(Doorbell::new());
        (Pool::new(3, 4, "local", mailbox, slots), inbox)
    }

    fn id(sequence: u64) -> ObjectId {
        ObjectId::new(0, sequence)
    }

    /// A job of `function` with these values as arguments (all inputs at hand).
    fn job(function: u64, first_output: ObjectId, args: Vec<Object>) -> Job {
        let task = task(function, first_output, args.iter().cloned().map(Arg::Value).collect());
        Job { task, args: args.into_iter().map(Resolved::Value).collect() }
    }

    fn add(first_output: ObjectId, a: i64, b: i64) -> Job {
        job(ADD, first_output, vec![value(&a), value(&b)])
    }

    #[test]
    fn take_back_gives_the_newest_queued_jobs_but_no_pinned_one_nor_one_a_task_here_submitted() {
        let (pool, inbox) = pool(1);
        let key = 1802_u64;
        pool.push(job(GATE, id(0), vec![value(&key)]));
        while !pool.computing() {
            std::thread::yield_now();
        }
        assert!(!pool.short_of_work(), "its only slot computes");
        pool.push(add(id(1), 1, 2));
        pool.push(add(ObjectId::new(3, 0), 3, 4)); // submitted by a task of this worker
        let mut aimed = add(id(3), 7, 8);
        aimed.task.pinned = true; // its caller chose this worker
        pool.push(aimed);
        pool.push(add(id(2), 5, 6));
        let taken: Vec<ObjectId> = pool.take_back(5).iter().map(|j| j.task.first_output).collect();
        assert_eq!(taken, [id(2), id(1)]);
        assert!(pool.take_back(5).is_empty());
        open_gate(key);
        assert_eq!(finished(&inbox).0, id(0));
        let (first, result) = finished(&inbox);
        assert_eq!((first, read::<i64>(&result)), (ObjectId::new(3, 0), Ok(7)));
        assert_eq!(finished(&inbox).0, id(3));
        assert!(pool.short_of_work());
        pool.stop();
    }

    /// The next command the pool sent its worker.
    fn next(inbox: &Receiver<Input<Command>>) -> Command {
        match inbox.recv().expect("the pool reports") {
            Input::Command(command) => command,
            Input::Probe(_) => panic!("expected a command, got a probe"),
        }
    }

    /// The next finished task: its first output and its first result.
    fn finished(inbox: &Receiver<Input<Command>>) -> (ObjectId, Object) {
        match next(inbox) {
            Command::Finished { first_output, mut outputs, .. } => {
                (first_output, outputs.remove(0))
            }
            _ => panic!("expected a finished task"),
        }
    }

    /// Waits until the task running `nested` asks its worker for `child`; returns its reply.
    fn blocked_get(inbox: &Receiver<Input<Command>>, child: ObjectId) -> Reply {
        match next(inbox) {
            Command::Get { ids, reply } => {
                assert_eq!(ids, [child]);
                reply
            }
            _ => panic!("expected the task's get"),
        }
    }

    #[test]
    fn jobs_run_oldest_first_and_each_reports_its_results() {
        let (pool, inbox) = pool(1);
        assert_eq!(pool.threads(), 0, "no thread before a job");
        for k in 0..5 {
            pool.push(add(id(k), k as i64, 100));
        }
        for k in 0..5 {
            let (first_output, result) = finished(&inbox);
            assert_eq!((first_output, read::<i64>(&result)), (id(k), Ok(k as i64 + 100)));
        }
        assert_eq!(pool.threads(), 1, "one slot, one thread");
        pool.stop();
    }

    #[test]
    fn a_panicking_task_is_reported_as_a_failure_and_its_thread_goes_on() {
        let (pool, inbox) = pool(1);
        pool.push(job(PANICS, id(0), vec![value(&"kaboom".to_string())]));
        pool.push(add(id(1), 1, 2));
        let (first_output, result) = finished(&inbox);
        assert_eq!(first_output, id(0));
        assert_eq!(
            read::<i64>(&result),
            Err(Error::TaskPanicked {
                function: "unidist::test_support::panics".into(),
                object: id(0),
                rank: 3,
                message: "kaboom".into(),
                attempts: 1,
            })
        );
        let (first_output, result) = finished(&inbox);
        assert_eq!((first_output, read::<i64>(&result)), (id(1), Ok(3)));
        assert_eq!(pool.threads(), 1, "the panic did not cost the thread");
        pool.stop();
    }

    #[test]
    fn a_task_of_a_function_this_rank_lacks_fails_naming_the_rank() {
        let (pool, inbox) = pool(1);
        pool.push(job(0xdead, id(0), Vec::new()));
        let (_, result) = finished(&inbox);
        assert_eq!(read::<i64>(&result), Err(Error::UnknownFunction { id: 0xdead, rank: 3 }));
        pool.stop();
    }

    #[test]
    fn a_task_runs_one_deep_in_the_context_of_its_worker() {
        let (pool, inbox) = pool(1);
        pool.push(job(WHEREAMI, id(0), Vec::new()));
        let (_, result) = finished(&inbox);
        assert_eq!(read::<Vec<u64>>(&result), Ok(vec![1, 3, 4]), "depth, rank, workers");
        pool.stop();
    }

    #[test]
    fn a_blocked_task_runs_the_task_it_waits_for_one_deeper_on_its_own_thread() {
        let (pool, inbox) = pool(1);
        let child = id(1);
        pool.push(job(NESTED, id(0), vec![value(&child)]));
        let reply = blocked_get(&inbox, child);
        pool.push(job(WHEREAMI, child, Vec::new()));
        let (first_output, made) = finished(&inbox);
        assert_eq!((first_output, read::<Vec<u64>>(&made)), (child, Ok(vec![2, 3, 4])));
        assert_eq!(pool.threads(), 1, "the child ran on its parent's thread");
        reply.complete(Answer::Objects(vec![made]));
        let (first_output, result) = finished(&inbox);
        assert_eq!((first_output, read::<Vec<u64>>(&result)), (id(0), Ok(vec![1, 2, 3, 4])));
        pool.stop();
    }

    #[test]
    fn a_blocked_task_leaves_other_jobs_to_another_thread() {
        let (pool, inbox) = pool(1);
        let elsewhere = ObjectId::new(2, 0); // made on another worker
        pool.push(job(NESTED, id(0), vec![value(&elsewhere)]));
        let reply = blocked_get(&inbox, elsewhere);
        pool.push(add(id(1), 20, 22));
        let (first_output, result) = finished(&inbox);
        assert_eq!((first_output, read::<i64>(&result)), (id(1), Ok(42)));
        assert_eq!(pool.threads(), 2, "one slot, but its task is blocked");
        reply.complete(Answer::Objects(vec![value(&vec![7_u64])]));
        let (first_output, result) = finished(&inbox);
        assert_eq!((first_output, read::<Vec<u64>>(&result)), (id(0), Ok(vec![1, 7])));
        pool.stop();
    }

    /// Waits until the task running `waits_until` asks its worker about `child`; returns the
    /// reply and the token of the wait.
    fn blocked_wait(inbox: &Receiver<Input<Command>>, child: ObjectId) -> (Reply, u64) {
        match next(inbox) {
            Command::Wait { ids, num_returns: 1, reply, token: Some(token) } => {
                assert_eq!(ids, [child]);
                (reply, token)
            }
            _ => panic!("expected the task's wait with a deadline"),
        }
    }

    #[test]
    fn a_task_whose_wait_expires_asks_its_worker_for_the_answer_and_gets_it() {
        let (pool, inbox) = pool(1);
        let elsewhere = ObjectId::new(2, 0);
        pool.push(job(WAITS_UNTIL, id(0), vec![value(&elsewhere), value(&0_u64)]));
        let (reply, token) = blocked_wait(&inbox, elsewhere);
        assert!(matches!(next(&inbox), Command::WaitExpired(t) if t == token));
        reply.complete(Answer::Flags(vec![false]));
        let (first_output, result) = finished(&inbox);
        assert_eq!((first_output, read::<Vec<bool>>(&result)), (id(0), Ok(vec![false])));
        pool.stop();
    }

    #[test]
    fn a_task_waiting_with_a_deadline_runs_no_task_itself_not_even_the_one_it_waits_for() {
        let (pool, inbox) = pool(1);
        let child = id(1);
        pool.push(job(WAITS_UNTIL, id(0), vec![value(&child), value(&3_600_000_u64)]));
        let (reply, _) = blocked_wait(&inbox, child);
        pool.push(job(WHEREAMI, child, Vec::new()));
        let (first_output, made) = finished(&inbox);
        // One deep: on a thread of its own, not run by the waiting task (which would be two).
        assert_eq!((first_output, read::<Vec<u64>>(&made)), (child, Ok(vec![1, 3, 4])));
        assert_eq!(pool.threads(), 2);
        reply.complete(Answer::Flags(vec![true]));
        let (first_output, result) = finished(&inbox);
        assert_eq!((first_output, read::<Vec<bool>>(&result)), (id(0), Ok(vec![true])));
        pool.stop();
    }

    #[test]
    fn stopping_the_pool_fails_a_blocked_task_instead_of_losing_it() {
        let (pool, inbox) = pool(1);
        let elsewhere = ObjectId::new(2, 0);
        pool.push(job(NESTED, id(0), vec![value(&elsewhere)]));
        let _reply = blocked_get(&inbox, elsewhere);
        pool.stop();
        let (first_output, result) = finished(&inbox);
        assert_eq!(first_output, id(0));
        match read::<Vec<u64>>(&result) {
            Err(Error::TaskPanicked { message, rank: 3, .. }) => {
                assert!(message.contains("shut down while this task waited"), "{message}")
            }
            other => panic!("expected the task to fail, got {other:?}"),
        }
    }

    #[test]
    fn the_api_calls_of_tasks_become_commands_for_the_worker() {
        let (pool, inbox) = pool(1);
        let host: Arc<dyn TaskHost> = pool.clone();
        assert_eq!((host.rank(), host.workers(), host.backend()), (3, 4, "local"));
        let first = host.new_ids(3);
        let next_id = host.new_ids(1);
        assert_eq!((first.origin(), first.sequence()), (3, 0));
        assert_eq!((next_id.origin(), next_id.sequence()), (3, 3), "three names were taken");
        host.submit(task(ADD, first, Vec::new()), None);
        host.put(next_id, value(&1_i64));
        host.release(first);
        assert!(matches!(next(&inbox), Command::Submit { task: t, .. } if t.first_output == first));
        assert!(matches!(next(&inbox), Command::Put { id, .. } if id == next_id));
        assert!(matches!(next(&inbox), Command::Release(id) if id == first));
        assert_eq!(pool.threads(), 0, "none of these runs a task");
    }
}
