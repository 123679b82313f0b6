//! Handles on actors: [`ActorRef`], and the [`Actor`] trait `#[actor]` implements.

use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::api::{self, Placement};
use crate::id::ObjectId;
use crate::into_arg::ArgValue;
use crate::object_ref::ObjectRef;

/// A type whose values live on a worker as actors: implemented by
/// [`#[actor]`](macro@crate::actor) on the type's `impl` block, never by hand.
pub trait Actor: Send + Sized + 'static {
    /// The methods an [`ActorRef`] of this type offers: one per method of the `impl` block, with
    /// the same parameters (each taking a value or a ref, as `remote` does), returning an
    /// [`ObjectRef`] of the method's result at once.
    type Methods;

    #[doc(hidden)]
    fn methods(actor: ActorId) -> Self::Methods;
}

/// The name of an actor, for the code `#[actor]` generates.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ActorId(pub(crate) ObjectId);

impl ActorId {
    /// Submits a call of `function` on this actor; returns the ID of its result.
    pub fn call(self, function: u64, args: Vec<ArgValue>) -> ObjectId {
        api::submit(function, 1, args, Placement::Actor(self.0))
    }
}

/// A handle on an actor: a value of `T` that lives on one worker, whose methods run there one at
/// a time, in the order the calls were made.
///
/// Made by `T::remote(..)` (the constructor runs on the next worker of the cycle) or
/// `T::remote_on(worker, ..)`, which [`#[actor]`](macro@crate::actor) generates. Calling a method on
/// the handle (it dereferences to [`Actor::Methods`]) submits the call and returns an
/// [`ObjectRef`] of its result at once.
///
/// Cloning is cheap. When the last clone is dropped, the actor ends: after every call made
/// before, its value is dropped on its worker (its `Drop` runs there). [`ActorRef::kill`] ends
/// it at once. A call made after the end is an [`Error::ActorUnavailable`](crate::Error).
pub struct ActorRef<T: Actor> {
    handle: Arc<Handle>,
    methods: T::Methods,
}

/// The shared part of every clone of one handle; its drop ends the actor.
struct Handle {
    actor: ObjectId,
    /// The constructor's result: done once the actor is built (an error if that failed).
    built: ObjectRef<()>,
    ended: AtomicBool,
}

impl Handle {
    fn end(&self) -> Option<ObjectRef<()>> {
        if self.ended.swap(true, Ordering::AcqRel) {
            return None;
        }
        let first = api::submit(crate::actor::END, 1, Vec::new(), Placement::Actor(self.actor));
        Some(ObjectRef::new(first))
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // After `shutdown` the actors are gone already, and dropping must stay harmless.
        if crate::api::is_initialized() {
            drop(self.end());
        }
    }
}

impl<T: Actor> ActorRef<T> {
    /// For `T::remote`: starts a new actor whose constructor is `function` with `args`, on
    /// `worker` or the next worker of the cycle.
    #[doc(hidden)]
    #[track_caller]
    pub fn create(function: u64, args: Vec<ArgValue>, worker: Option<usize>) -> ActorRef<T> {
        let actor = api::submit(function, 1, args, Placement::NewActor(worker));
        ActorRef {
            handle: Arc::new(Handle {
                actor,
                built: ObjectRef::new(actor),
                ended: AtomicBool::new(false),
            }),
            methods: T::methods(ActorId(actor)),
        }
    }

    /// A ref that is done once the actor's constructor has run: `get` of it is `Ok(())`, or the
    /// constructor's error.
    pub fn ready(this: &Self) -> &ObjectRef<()> {
        &this.handle.built
    }

    /// Ends the actor now, for every handle: after the calls made before, its value is dropped on
    /// its worker. The ref is done once it has been; calls made after this one fail. A second
    /// `kill` (or one after the end) returns `None`.
    pub fn kill(this: &Self) -> Option<ObjectRef<()>> {
        this.handle.end()
    }

    /// The ID that names the actor (its constructor's result).
    pub fn id(this: &Self) -> ObjectId {
        this.handle.actor
    }
}

impl<T: Actor> Deref for ActorRef<T> {
    type Target = T::Methods;

    fn deref(&self) -> &T::Methods {
        &self.methods
    }
}

impl<T: Actor> Clone for ActorRef<T> {
    fn clone(&self) -> Self {
        ActorRef {
            handle: Arc::clone(&self.handle),
            methods: T::methods(ActorId(self.handle.actor)),
        }
    }
}

impl<T: Actor> fmt::Debug for ActorRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ActorRef<{}>({})", std::any::type_name::<T>(), self.handle.actor)
    }
}
