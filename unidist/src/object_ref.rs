//! The typed, reference-counted handles users hold: [`ObjectRef`].

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::id::ObjectId;

/// A handle on an object that lives somewhere in the cluster: the result of a task, or a value
/// given to [`put`](crate::put).
///
/// Cloning is cheap (a shared handle). When the last clone is dropped the object goes out of
/// scope and the runtime frees it once no submitted task needs it any more. Pass a ref to a
/// remote function instead of its value to avoid moving the bytes through the root.
///
/// Refs compare, hash and order by object (`Eq`, `Hash`, `Ord`): two clones are equal, so a
/// ref can key a map from results back to what they were made from.
///
/// `ObjectRef` cannot be serialized: a ref cannot be returned from a task or put inside a value.
/// Pass refs as arguments of `remote` instead.
pub struct ObjectRef<T> {
    handle: Arc<Handle>,
    _type: PhantomData<fn() -> T>,
}

/// The shared part of every clone of one ref; its drop tells the runtime the object is out of scope.
pub(crate) struct Handle {
    id: ObjectId,
}

impl Drop for Handle {
    fn drop(&mut self) {
        crate::runtime::release(self.id);
    }
}

impl<T> ObjectRef<T> {
    pub(crate) fn new(id: ObjectId) -> ObjectRef<T> {
        ObjectRef { handle: Arc::new(Handle { id }), _type: PhantomData }
    }

    /// The shared handle, to keep the object alive while a task that names it is submitted.
    pub(crate) fn handle(&self) -> Arc<Handle> {
        Arc::clone(&self.handle)
    }

    pub(crate) fn retype<U>(self) -> ObjectRef<U> {
        ObjectRef { handle: self.handle, _type: PhantomData }
    }

    /// The ID of the object.
    pub fn id(&self) -> ObjectId {
        self.handle.id
    }
}

impl<T> Clone for ObjectRef<T> {
    fn clone(&self) -> Self {
        ObjectRef { handle: Arc::clone(&self.handle), _type: PhantomData }
    }
}

impl<T> PartialEq for ObjectRef<T> {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}

impl<T> Eq for ObjectRef<T> {}

/// By object: clones of one ref hash alike, so refs can key a `HashMap` or `HashSet`.
impl<T> std::hash::Hash for ObjectRef<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id().hash(state)
    }
}

/// By object ID: the order in which the objects were named, by the rank that named them.
impl<T> PartialOrd for ObjectRef<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for ObjectRef<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.id().cmp(&other.id())
    }
}

impl<T> fmt::Debug for ObjectRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectRef<{}>({})", std::any::type_name::<T>(), self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync + Clone + fmt::Debug>() {}

    #[test]
    fn refs_are_send_sync_whatever_the_type() {
        send_sync::<ObjectRef<std::rc::Rc<u8>>>();
        send_sync::<ObjectRef<std::cell::Cell<u8>>>();
    }
}
