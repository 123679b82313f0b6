//! The error type of every fallible call of the API.

use serde::{Deserialize, Serialize};

use crate::id::ObjectId;

/// Why an object could not be produced or read.
///
/// Errors are objects too: a task that fails stores its error as its result, so every `get` of it,
/// and of every task that took it as an input, returns the error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Error {
    /// The remote function panicked while it ran (on its last attempt, if it may be retried).
    #[error("remote function `{function}` panicked on rank {rank} (its task makes object {object}): {message}{}", attempts_note(*.attempts))]
    TaskPanicked {
        /// Full path of the function, such as `my_crate::add`.
        function: String,
        /// The task's first result (for a task of several results, each holds this error).
        object: ObjectId,
        /// Rank of the worker that ran it (last).
        rank: usize,
        /// The panic message (of the last attempt).
        message: String,
        /// How many times the task ran, each time panicking: 1, or up to 1 + its
        /// `max_retries`.
        attempts: u32,
    },
    /// The task did not run because one of its inputs is an error.
    #[error("remote function `{function}` did not run because its input {input} failed: {cause}")]
    InputFailed {
        /// Full path of the function that did not run.
        function: String,
        /// The input object that holds an error.
        input: ObjectId,
        /// The error held by that input.
        cause: Box<Error>,
    },
    /// The object holds a value of another Rust type than the one asked for.
    #[error("object {object} holds a value of type `{found}`, not the requested `{expected}`")]
    TypeMismatch {
        /// The object read.
        object: ObjectId,
        /// The type asked for.
        expected: String,
        /// The type the object was made with.
        found: String,
    },
    /// An argument given by value could not be decoded on the worker.
    #[error("argument {index} of remote function `{function}` could not be decoded: {reason}")]
    Argument {
        /// Full path of the function.
        function: String,
        /// Position of the argument, from 0.
        index: usize,
        /// What went wrong.
        reason: String,
    },
    /// The bytes of an object could not be turned into a value, or a value into bytes.
    #[error("object {object} could not be {action} as `{type_name}`: {reason}")]
    Codec {
        /// The object concerned.
        object: ObjectId,
        /// `"encoded"` or `"decoded"`.
        action: String,
        /// The Rust type concerned.
        type_name: String,
        /// What the codec reported.
        reason: String,
    },
    /// A call on an actor that cannot take calls: its constructor failed, or it was killed.
    #[error("actor method `{method}` did not run on actor {actor}: {reason}")]
    ActorUnavailable {
        /// Full path of the method, such as `my_crate::Counter::add`.
        method: String,
        /// The actor (the ID of its constructor's result).
        actor: ObjectId,
        /// Why it cannot take calls.
        reason: String,
    },
    /// The task that makes the object was cancelled ([`cancel`](crate::cancel)) before it
    /// finished: it never ran, or it was stopped while it ran (it checks
    /// [`is_cancelled`](crate::is_cancelled)); what it returned then is dropped.
    #[error("object {object} was cancelled (unidist::cancel) before its task finished")]
    Cancelled {
        /// The object whose task was cancelled.
        object: ObjectId,
    },
    /// `try_remote` found the bound on tasks in flight reached (`UNIDIST_MAX_IN_FLIGHT`,
    /// [`set_max_in_flight`](crate::set_max_in_flight)): nothing was submitted.
    #[error("{in_flight} tasks are in flight, the most allowed (UNIDIST_MAX_IN_FLIGHT, unidist::set_max_in_flight): nothing was submitted; try again once one is done, or call remote, which waits")]
    Busy {
        /// Tasks of the root's program submitted and not done.
        in_flight: usize,
        /// The bound.
        limit: usize,
    },
    /// The object was not ready when the time given to [`get_timeout`](crate::get_timeout) ran
    /// out. Nothing is lost: the ref stays valid, and a later `get` gives the value.
    #[error("object {object} was not ready within {waited:?}: its ref stays valid, get it again to wait longer")]
    Timeout {
        /// The first object asked for that was not ready.
        object: ObjectId,
        /// How long the call waited.
        waited: std::time::Duration,
    },
    /// The worker has no function with this ID: its binary differs from the root's.
    #[error(
        "no remote function with ID {id:#018x} on rank {rank}: every rank must run the same binary"
    )]
    UnknownFunction {
        /// The function's ID.
        id: u64,
        /// The rank that lacks it.
        rank: usize,
    },
}

/// How many attempts a task's error counts, where it made more than one.
fn attempts_note(attempts: u32) -> String {
    if attempts > 1 {
        format!(
            " (it panicked on each of its {attempts} attempts; rank and message are the last's)"
        )
    } else {
        String::new()
    }
}

/// The message of a panic's payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<a panic payload that is not a string>".to_string()
    }
}
