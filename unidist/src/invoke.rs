//! Running one task on the calling thread: finds its function, checks its arguments and inputs,
//! calls it and turns what it returned, or its panic, into result objects. A failed task's
//! results are copies of its error.

use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use crate::actor;
use crate::arg::{Resolved, TaskArgs};
use crate::context;
use crate::error::{panic_message, Error};
use crate::id::{ObjectId, Rank};
use crate::object::Object;
use crate::protocol::Task;
use crate::registry;

/// A task whose inputs are all here.
pub(crate) struct Job {
    pub(crate) task: Task,
    pub(crate) args: Vec<Resolved>,
}

impl Job {
    /// True if `id` is one of the job's results.
    pub(crate) fn makes(&self, id: ObjectId) -> bool {
        makes(self.task.first_output, self.task.num_returns as usize, id)
    }
}

/// True if `id` is one of the `n` results that start at `first`.
pub(crate) fn makes(first: ObjectId, n: usize, id: ObjectId) -> bool {
    id.origin() == first.origin()
        && (first.sequence()..first.sequence() + n as u64).contains(&id.sequence())
}

/// The results of a cancelled task: each an error naming its object.
pub(crate) fn cancelled(first: ObjectId, num_returns: usize) -> Vec<Object> {
    (0..num_returns)
        .map(|k| Object::from_error(&Error::Cancelled { object: first.offset(k) }))
        .collect()
}

/// The results of `job` (of the function at `path`) if one of its inputs holds an error: the
/// task does not run, and each result is an error naming that input. An actor whose
/// constructor does not run fails its calls with that error.
pub(crate) fn input_failed(job: &Job, path: &str) -> Option<Vec<Object>> {
    let (input, cause) = job.args.iter().find_map(|item| match item {
        Resolved::Value(_) => None,
        Resolved::Ref(id, object) => object.error(*id).map(|e| (*id, e)),
        Resolved::List(_, items) => items.iter().find_map(|(id, o)| o.error(*id).map(|e| (*id, e))),
    })?;
    let error = Error::InputFailed { function: path.to_string(), input, cause: Box::new(cause) };
    if let Some(call) = job.task.actor_call().filter(|c| c.actor == job.task.first_output) {
        actor::failed(call.actor, error.clone());
    }
    Some(vec![Object::from_error(&error); job.task.num_returns as usize])
}

/// Runs one task: its results, or as many copies of its error.
pub(crate) fn run(rank: Rank, job: Job) -> Vec<Object> {
    let n = job.task.num_returns as usize;
    let failed = |error: Error| vec![Object::from_error(&error); n];
    let Some(function) = registry::lookup(job.task.function) else {
        return failed(Error::UnknownFunction { id: job.task.function, rank });
    };
    if function.num_returns() != n {
        return failed(Error::Argument {
            function: function.path().to_string(),
            index: 0,
            reason: format!(
                "the task asks for {n} results but the function makes {}",
                function.num_returns()
            ),
        });
    }
    if let Some(outputs) = input_failed(&job, function.path()) {
        return outputs;
    }
    let actor = job.task.actor_call().map(|call| call.actor);
    let mut args = TaskArgs::new(function.path(), rank, actor, job.task.first_output, n, job.args);
    let invoke = function.invoke();
    crate::log::event!(debug, task = %job.task.first_output, function = %function.path(), "running task");
    let running = context::enter_function(function, job.task.first_output);
    // Only a function marked `inline` needs its runs timed (see `RemoteFunction::runs_inline`).
    let started = function.is_inline().then(Instant::now);
    let result = panic::catch_unwind(AssertUnwindSafe(|| invoke(&mut args)));
    if let Some(started) = started {
        function.ran(started.elapsed());
    }
    drop(running);
    match result {
        Ok(Ok(outputs)) => outputs.objects,
        Ok(Err(error)) => failed(error),
        Err(payload) => failed(Error::TaskPanicked {
            function: function.path().to_string(),
            object: job.task.first_output,
            rank,
            message: panic_message(payload.as_ref()),
            attempts: u32::from(job.task.attempt) + 1,
        }),
    }
}
