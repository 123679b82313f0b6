//! Handles on actors: [`ActorRef`], and the [`Actor`] trait `#[actor]` implements.

use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::api::{self, Placement};
use crate::context::TaskHost;
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
        api::submit(function, 1, args, Placement::Actor(self.0), 0, true)
            .expect("waits for a place")
    }
}

/// A handle on an actor: a value of `T` that lives on one worker, whose methods run there one at
/// a time, in the order each caller made its calls.
///
/// Made by `T::remote(..)` (the constructor runs on the next worker of the cycle),
/// `T::remote_on(worker, ..)` or `T::remote_exclusive(..)` (on a worker the actor then has to
/// itself), which [`#[actor]`](macro@crate::actor) generates. Calling a method on the handle (it
/// dereferences to [`Actor::Methods`]) submits the call and returns an [`ObjectRef`] of its
/// result at once.
///
/// Cloning is cheap. A handle is an argument like any value: pass a clone to `remote`, to a
/// remote function or to another actor's method that takes an `ActorRef<T>`, and the task or
/// actor calls it too; an actor may keep one in its state.
///
/// # The actor's end
///
/// The actor lives while a handle of it exists anywhere: on the root, in a running task, in
/// another actor's state. When the last is dropped, the actor ends after every call made before
/// (and after every task that was given a handle as an argument is done): its value is dropped
/// on its worker, so its `Drop` runs there. [`ActorRef::kill`] ends it at once, after the calls
/// made before, whatever handles remain. A call on an actor that has ended is an
/// [`Error::ActorUnavailable`](crate::Error), never a hang. A handle inside a value that no
/// task is given as an argument (a [`put`](crate::put) value, a task's result) does not keep the
/// actor alive by itself while it waits to be read; actors that hold handles of each other in
/// their state never end this way (`kill` one). At [`shutdown`](crate::shutdown) every live actor
/// is dropped on its worker, except one whose call still runs (the worker does not wait for it);
/// dropping a handle after it does nothing.
///
/// ```
/// use unidist::{actor, remote, ActorRef};
///
/// struct Tally { n: u64 }
///
/// #[actor]
/// impl Tally {
///     fn new() -> Self { Tally { n: 0 } }
///     fn bump(&mut self) -> u64 { self.n += 1; self.n }
/// }
///
/// #[remote]
/// fn bump_twice(tally: ActorRef<Tally>) -> u64 {
///     unidist::get(&tally.bump()).unwrap();
///     unidist::get(&tally.bump()).unwrap()
/// }
///
/// fn main() {
///     unidist::init();
///     let tally = Tally::remote();
///     let done: Vec<_> = (0..5).map(|_| bump_twice::remote(tally.clone())).collect();
///     drop(tally); // the tasks' handles keep it alive
///     let mut last: Vec<u64> = unidist::get(&done).unwrap();
///     last.sort();
///     assert_eq!(last.last(), Some(&10));
///     unidist::shutdown();
/// }
/// ```
pub struct ActorRef<T: Actor> {
    handle: Arc<Handle>,
    methods: T::Methods,
}

/// The shared part of every clone of one handle (a group, for the root's count of owners); its
/// drop tells the root.
struct Handle {
    actor: ObjectId,
    /// The constructor's result, done once the actor is built (an error if that failed): held
    /// by the handles `remote` made (not by one decoded from bytes).
    built: Option<ObjectRef<()>>,
    /// `kill` was called on this handle or a clone.
    ended: AtomicBool,
    /// The worker of the task that made or decoded the group: the end goes through it when the
    /// group is dropped on a thread that runs no task (a thread the task started).
    host: Option<Arc<dyn TaskHost>>,
}

impl Handle {
    /// Submits the actor's last call: `function` is `actor::END` (now) or `actor::RELEASE`
    /// (once no task holds a lease).
    fn end(&self, function: u64) -> Option<ObjectRef<()>> {
        if self.ended.swap(true, Ordering::AcqRel) {
            return None;
        }
        let _in_task = match (&self.host, crate::context::current()) {
            (Some(host), None) => Some(crate::context::enter_task(Arc::clone(host), 0)),
            _ => None,
        };
        let first = api::submit(function, 1, Vec::new(), Placement::Actor(self.actor), 0, true)
            .expect("waits for a place");
        Some(ObjectRef::new(first))
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // After `shutdown` the actors are gone already, and dropping must stay harmless.
        if self.host.is_some() || crate::api::is_initialized() {
            drop(self.end(crate::actor::RELEASE));
        }
    }
}

impl<T: Actor> ActorRef<T> {
    /// For `T::remote`: starts a new actor whose constructor is `function` with `args`, on
    /// `worker` or the next worker of the cycle.
    #[doc(hidden)]
    #[track_caller]
    pub fn create(function: u64, args: Vec<ArgValue>, worker: Option<usize>) -> ActorRef<T> {
        ActorRef::start(function, args, Placement::NewActor(worker))
    }

    /// For `T::remote_exclusive`: starts a new actor whose constructor is `function` with
    /// `args` on a worker that it then has to itself.
    #[doc(hidden)]
    #[track_caller]
    pub fn create_exclusive(function: u64, args: Vec<ArgValue>) -> ActorRef<T> {
        ActorRef::start(function, args, Placement::ExclusiveActor)
    }

    #[track_caller]
    fn start(function: u64, args: Vec<ArgValue>, placement: Placement) -> ActorRef<T> {
        let actor = api::submit(function, 1, args, placement, 0, true).expect("waits for a place");
        ActorRef {
            handle: Arc::new(Handle {
                actor,
                built: Some(ObjectRef::new(actor)),
                ended: AtomicBool::new(false),
                host: crate::context::current().map(|(host, _)| host),
            }),
            methods: T::methods(ActorId(actor)),
        }
    }

    /// A ref that is done once the actor's constructor has run: `get` of it is `Ok(())`, or the
    /// constructor's error. `None` on a handle decoded from bytes (one a task was given).
    pub fn ready(this: &Self) -> Option<&ObjectRef<()>> {
        this.handle.built.as_ref()
    }

    /// Ends the actor now, for every handle, even if tasks still hold handles of it: after the
    /// calls made before, its value is dropped on its worker. The ref is done once it has been;
    /// calls made after this one fail. A second `kill` through this handle or its clones returns
    /// `None`.
    pub fn kill(this: &Self) -> Option<ObjectRef<()>> {
        this.handle.end(crate::actor::END)
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

/// A handle travels as the actor's ID; a task it goes to as an argument holds a lease on the
/// actor until it is done (see "The actor's end" above).
impl<T: Actor> Serialize for ActorRef<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::actor::note_encoded(self.handle.actor);
        self.handle.actor.serialize(serializer)
    }
}

/// A decoded handle is a new group of handles: the root counts it as one more owner.
impl<'de, T: Actor> Deserialize<'de> for ActorRef<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let actor = ObjectId::deserialize(deserializer)?;
        crate::runtime::hold_actor(actor);
        Ok(ActorRef {
            handle: Arc::new(Handle {
                actor,
                built: None,
                ended: AtomicBool::new(false),
                host: crate::context::current().map(|(host, _)| host),
            }),
            methods: T::methods(ActorId(actor)),
        })
    }
}
