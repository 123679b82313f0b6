//! Object IDs and the typed, reference-counted handles users hold: [`ObjectRef`].

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The ID of an object: the rank that named it and a sequence number of that rank.
///
/// Its `Display` form, `origin:sequence` (for example `0:42`), is stable and readable.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectId(u64);

const SEQ_BITS: u32 = 44;

impl ObjectId {
    pub(crate) fn new(origin: usize, seq: u64) -> ObjectId {
        debug_assert!(seq < 1 << SEQ_BITS);
        ObjectId(((origin as u64) << SEQ_BITS) | seq)
    }

    /// The rank that named the object.
    pub fn origin(self) -> usize {
        (self.0 >> SEQ_BITS) as usize
    }

    /// The sequence number of the object among those its origin named.
    pub fn sequence(self) -> u64 {
        self.0 & ((1 << SEQ_BITS) - 1)
    }

    /// The `k`-th output of a task whose first output is `self` (outputs are numbered in a row).
    pub(crate) fn offset(self, k: usize) -> ObjectId {
        ObjectId(self.0 + k as u64)
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.origin(), self.sequence())
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({self})")
    }
}

/// A handle on an object that lives somewhere in the cluster: the result of a task, or a value
/// given to [`put`](crate::put).
///
/// Cloning is cheap (a shared handle). When the last clone is dropped the object goes out of
/// scope and the runtime frees it once no submitted task needs it any more. Pass a ref to a
/// remote function instead of its value to avoid moving the bytes through the root.
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

    #[test]
    fn ids_read_as_origin_and_sequence() {
        let id = ObjectId::new(3, 42);
        assert_eq!((id.origin(), id.sequence()), (3, 42));
        assert_eq!(id.to_string(), "3:42");
        assert_eq!(format!("{id:?}"), "ObjectId(3:42)");
        assert_eq!(id.offset(2).to_string(), "3:44");
    }
}
