//! The states of the actors that live in this process, and the steps the code `#[actor]`
//! generates takes on them: build a state (the constructor's task), lend it to one method call at
//! a time, end it (the built-in end task, which runs the state's `Drop`).
//!
//! An actor is named by its constructor's task (that task's first output). Which calls run when
//! is decided elsewhere: the root numbers each actor's calls and the worker runs them one at a
//! time in that order (see `protocol::ActorCall`), so the lock here is never contended; it only
//! makes the state reachable from whichever executor thread runs the call.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use rustc_hash::FxHashMap;

use crate::arg::{Outputs, TaskArgs};
use crate::error::Error;
use crate::id::ObjectId;
use crate::registry::{function_id, RemoteFunction};

/// One actor's state in this process, or why it has none.
enum State {
    Alive(Box<dyn Any + Send>),
    /// The constructor failed with this error: every call fails naming it.
    Failed(Error),
}

type Slot = Arc<Mutex<State>>;

fn states() -> MutexGuard<'static, FxHashMap<ObjectId, Slot>> {
    static STATES: OnceLock<Mutex<FxHashMap<ObjectId, Slot>>> = OnceLock::new();
    STATES.get_or_init(Default::default).lock().unwrap_or_else(PoisonError::into_inner)
}

/// The full path of the built-in function whose task ends an actor at once (`ActorRef::kill`).
pub(crate) const END_PATH: &str = "unidist::actor::end";

/// The ID of the built-in function that ends an actor at once.
pub(crate) const END: u64 = function_id(END_PATH);

/// The full path of the built-in function whose task ends an actor whose last owning handle was
/// dropped: the root holds it back until no task that carries a handle of the actor runs.
pub(crate) const RELEASE_PATH: &str = "unidist::actor::release";

/// The ID of the built-in function that ends an actor once its handles are all gone.
pub(crate) const RELEASE: u64 = function_id(RELEASE_PATH);

/// True if a task of `function` is an actor's last call.
pub(crate) fn ends(function: u64) -> bool {
    function == END || function == RELEASE
}

inventory::submit! {
    RemoteFunction::new(END_PATH, 1, invoke_end, end_types)
}

inventory::submit! {
    RemoteFunction::new(RELEASE_PATH, 1, invoke_end, end_types)
}

thread_local! {
    /// Actors whose handles this thread encoded into arguments since it last submitted a task.
    static ENCODED: std::cell::RefCell<Vec<ObjectId>> = const { std::cell::RefCell::new(Vec::new()) };
    /// This thread encodes an argument of a task now.
    static ENCODING_ARGUMENT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `encode`, the encoding of an argument of a task this thread is about to submit: the
/// handles it encodes become the task's leases (see [`take_encoded`]).
pub(crate) fn encoding_argument<R>(encode: impl FnOnce() -> R) -> R {
    let was = ENCODING_ARGUMENT.replace(true);
    let result = encode();
    ENCODING_ARGUMENT.set(was);
    result
}

/// Notes that this thread encoded a handle of `actor`: one of a task's leases if it happens in
/// [`encoding_argument`]; nothing otherwise (a `put` value, a task's result, the user's own
/// serde calls).
pub(crate) fn note_encoded(actor: ObjectId) {
    if ENCODING_ARGUMENT.get() {
        ENCODED.with(|e| e.borrow_mut().push(actor));
    }
}

/// The actors whose handles this thread encoded since the last call, each once: the leases of
/// the task it submits now.
pub(crate) fn take_encoded() -> Vec<ObjectId> {
    ENCODED.with(|e| {
        let mut encoded = e.borrow_mut();
        if encoded.is_empty() {
            return Vec::new();
        }
        let mut actors = std::mem::take(&mut *encoded);
        actors.sort_unstable();
        actors.dedup();
        actors
    })
}

fn invoke_end(args: &mut TaskArgs) -> Result<Outputs, Error> {
    end(args.actor()?);
    let mut outputs = args.outputs();
    outputs.push(())?;
    Ok(outputs)
}

fn end_types() -> Vec<&'static str> {
    vec![std::any::type_name::<()>()]
}

/// The constructor's task: keeps `make`'s value as the state of the task's actor. A failure
/// (an error or a panic, which goes on unwinding for `invoke` to report) is kept instead, for
/// every later call to name.
pub fn construct<T: Send + 'static>(
    args: &mut TaskArgs,
    make: impl FnOnce(&mut TaskArgs) -> Result<T, Error>,
) -> Result<(), Error> {
    let actor = args.actor()?;
    let function = args.function();
    match panic::catch_unwind(AssertUnwindSafe(|| make(args))) {
        Ok(Ok(state)) => {
            states().insert(actor, Arc::new(Mutex::new(State::Alive(Box::new(state)))));
            Ok(())
        }
        Ok(Err(error)) => {
            states().insert(actor, Arc::new(Mutex::new(State::Failed(error.clone()))));
            Err(error)
        }
        Err(payload) => {
            let error = Error::TaskPanicked {
                function: function.to_string(),
                object: actor,
                rank: args.rank(),
                message: crate::error::panic_message(payload.as_ref()),
                attempts: 1,
            };
            states().insert(actor, Arc::new(Mutex::new(State::Failed(error))));
            panic::resume_unwind(payload)
        }
    }
}

thread_local! {
    /// The actor whose call runs on this thread, and the calls on that same actor this call
    /// made: waiting for one of them would wait forever (it runs after this call).
    static CALLING: std::cell::RefCell<Vec<(ObjectId, Vec<ObjectId>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Notes a call submitted on `actor`, whose result is `first_output`, if a call of that actor
/// runs on this thread.
pub(crate) fn note_call(actor: ObjectId, first_output: ObjectId) {
    CALLING.with(|c| {
        if let Some((current, own)) = c.borrow_mut().last_mut() {
            if *current == actor {
                own.push(first_output);
            }
        }
    });
}

/// Panics, with what to do instead, if the calling thread runs a call of an actor and `ids`
/// holds the result of a later call on that actor: waiting for it would never end.
#[track_caller]
pub(crate) fn check_wait(api: &str, ids: &[ObjectId]) {
    CALLING.with(|c| {
        if let Some((actor, own)) = c.borrow().last() {
            if let Some(id) = ids.iter().find(|id| own.contains(id)) {
                panic!(
                    "unidist::{api}: a method of actor {actor} waits for the result {id} of a call on \
                     the same actor, which runs only after this call ends: call the method \
                     directly on `self` instead"
                );
            }
        }
    });
}

/// A method's task: runs `call` on the state of the task's actor. A panic in `call` unwinds to
/// `invoke`, which fails this call only: the state stays for the next calls.
pub fn call<T: 'static, R>(args: &TaskArgs, call: impl FnOnce(&mut T) -> R) -> Result<R, Error> {
    let actor = args.actor()?;
    let unavailable = |reason: String| Error::ActorUnavailable {
        method: args.function().to_string(),
        actor,
        reason,
    };
    let slot = states().get(&actor).cloned();
    let Some(slot) = slot else {
        return Err(unavailable(format!(
            "the actor does not live on rank {} any more (it was killed, or the job is ending)",
            args.rank()
        )));
    };
    let mut state = slot.lock().unwrap_or_else(PoisonError::into_inner);
    match &mut *state {
        State::Failed(error) => Err(unavailable(format!("its constructor failed: {error}"))),
        State::Alive(state) => match state.downcast_mut::<T>() {
            Some(state) => {
                CALLING.with(|c| c.borrow_mut().push((actor, Vec::new())));
                // Popped on every way out, a panic included.
                struct Calling;
                impl Drop for Calling {
                    fn drop(&mut self) {
                        let _ = CALLING.try_with(|c| c.borrow_mut().pop());
                    }
                }
                let _calling = Calling;
                Ok(call(state))
            }
            None => Err(unavailable(format!(
                "the actor is not a `{}`: every rank must run the same binary",
                std::any::type_name::<T>()
            ))),
        },
    }
}

/// Keeps `error` as the state of an actor whose constructor did not run.
pub(crate) fn failed(actor: ObjectId, error: Error) {
    states().insert(actor, Arc::new(Mutex::new(State::Failed(error))));
}

/// Ends an actor here: its state is dropped (its `Drop` runs) on the calling thread.
pub(crate) fn end(actor: ObjectId) {
    let slot = states().remove(&actor);
    drop(slot);
}

/// Ends an actor as its worker stops: a panic in its `Drop` is reported, not let through (it
/// would end the job, or stop the worker before its other actors' ends).
pub(crate) fn end_at_shutdown(actor: ObjectId) {
    if let Err(payload) = panic::catch_unwind(|| end(actor)) {
        let message = crate::error::panic_message(payload.as_ref());
        eprintln!("unidist: dropping actor {actor} at shutdown panicked: {message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arg::Resolved;
    use crate::test_support::value;

    fn args(actor: ObjectId, items: Vec<Resolved>) -> TaskArgs {
        TaskArgs::new("tests::Tally::new", 1, Some(actor), actor, 1, items)
    }

    struct Tally(Vec<u64>, std::sync::mpsc::Sender<Vec<u64>>);

    impl Drop for Tally {
        fn drop(&mut self) {
            let _ = self.1.send(self.0.clone());
        }
    }

    #[test]
    fn a_state_is_built_lent_to_calls_and_dropped_at_its_end() {
        let actor = ObjectId::new(0, 7001);
        let (tx, dropped) = std::sync::mpsc::channel();
        let mut made = args(actor, vec![Resolved::Value(value(&5_u64))]);
        construct(&mut made, |a| Ok(Tally(vec![a.take::<u64>()?], tx))).unwrap();
        for x in [6, 7] {
            call(&args(actor, Vec::new()), |t: &mut Tally| t.0.push(x)).unwrap();
        }
        let wrong = call(&args(actor, Vec::new()), |_: &mut String| ());
        assert!(matches!(wrong, Err(Error::ActorUnavailable { .. })), "another type: {wrong:?}");
        end(actor);
        assert_eq!(dropped.try_recv().unwrap(), [5, 6, 7], "Drop ran at the end, with the state");
        let gone = call(&args(actor, Vec::new()), |t: &mut Tally| t.0.len()).unwrap_err();
        assert!(gone.to_string().contains("does not live on rank 1"), "{gone}");
    }

    #[test]
    fn a_constructor_that_panics_fails_every_later_call_naming_its_panic() {
        let actor = ObjectId::new(0, 7002);
        let panicked = panic::catch_unwind(AssertUnwindSafe(|| {
            construct::<u64>(&mut args(actor, Vec::new()), |_| panic!("no table"))
        }));
        assert!(panicked.is_err(), "the panic goes on to invoke");
        let error = call(&args(actor, Vec::new()), |n: &mut u64| *n).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("constructor failed") && text.contains("no table"), "{text}");
        end(actor);
    }
}
