//! What a parameter of a `remote` stub accepts ([`IntoArg`]): a value, or refs to be resolved on
//! the worker. The refs an argument names stay alive until the task is submitted.

use std::sync::Arc;

use crate::arg::Arg;
use crate::array::{Array, Element};
use crate::object::{fingerprint, Object, RemoteValue};
use crate::object_ref::{Handle, ObjectRef};

/// An argument on its way into `remote`: what travels to the worker, and the refs it names, kept alive until
/// the task is submitted so that no input is freed before the runtime has seen the task.
pub struct ArgValue {
    pub(crate) arg: Arg,
    pub(crate) keep: Keep,
}

// The handles are never read: holding them is the point.
#[allow(dead_code)]
pub(crate) enum Keep {
    Nothing,
    One(Arc<Handle>),
    Many(Vec<Arc<Handle>>),
}

/// What a parameter of type `T` of a `remote` stub accepts: a `T`, an `ObjectRef<T>`, a
/// `&ObjectRef<T>`, and for `T = Vec<U>` also a `Vec<ObjectRef<U>>`, `&Vec<ObjectRef<U>>`,
/// `&[ObjectRef<U>]` or `&[ObjectRef<U>; N]`, each element resolved on the worker; a `String`
/// parameter also takes a `&str` or `&String`.
pub trait IntoArg<T> {
    /// Turns the argument into what travels to the worker.
    fn into_arg(self) -> ArgValue;
}

impl<T: RemoteValue> IntoArg<T> for T {
    fn into_arg(self) -> ArgValue {
        let object =
            crate::actor::encoding_argument(|| Object::encode_owned(self)).unwrap_or_else(|e| {
                panic!(
                    "an argument of type `{}` could not be encoded: {e}",
                    std::any::type_name::<T>()
                )
            });
        ArgValue { arg: Arg::Value(object), keep: Keep::Nothing }
    }
}

/// A `String` parameter also takes a `&str` (or a `&String`), sent as the `String` it encodes
/// like, without making one first.
impl IntoArg<String> for &str {
    fn into_arg(self) -> ArgValue {
        let object = Object::encode_as::<String>(self).expect("a string always encodes");
        ArgValue { arg: Arg::Value(object), keep: Keep::Nothing }
    }
}

impl IntoArg<String> for &String {
    fn into_arg(self) -> ArgValue {
        IntoArg::<String>::into_arg(self.as_str())
    }
}

impl<T: RemoteValue> IntoArg<T> for ObjectRef<T> {
    fn into_arg(self) -> ArgValue {
        ArgValue { arg: Arg::Ref(self.id()), keep: Keep::One(self.handle()) }
    }
}

impl<T: RemoteValue> IntoArg<T> for &ObjectRef<T> {
    fn into_arg(self) -> ArgValue {
        ArgValue { arg: Arg::Ref(self.id()), keep: Keep::One(self.handle()) }
    }
}

/// An `Array<E>` parameter takes what a `Vec<E>` parameter takes.
impl<E: Element> IntoArg<Array<E>> for Vec<E> {
    fn into_arg(self) -> ArgValue {
        IntoArg::<Vec<E>>::into_arg(self)
    }
}

impl<E: Element> IntoArg<Array<E>> for ObjectRef<Vec<E>> {
    fn into_arg(self) -> ArgValue {
        ArgValue { arg: Arg::Ref(self.id()), keep: Keep::One(self.handle()) }
    }
}

impl<E: Element> IntoArg<Array<E>> for &ObjectRef<Vec<E>> {
    fn into_arg(self) -> ArgValue {
        ArgValue { arg: Arg::Ref(self.id()), keep: Keep::One(self.handle()) }
    }
}

fn ref_list<'a, T: RemoteValue>(refs: impl Iterator<Item = &'a ObjectRef<T>>) -> ArgValue {
    let (ids, handles) = refs.map(|r| (r.id(), r.handle())).unzip();
    ArgValue {
        arg: Arg::RefList { element_type: fingerprint::<T>(), ids },
        keep: Keep::Many(handles),
    }
}

impl<T: RemoteValue> IntoArg<Vec<T>> for Vec<ObjectRef<T>> {
    fn into_arg(self) -> ArgValue {
        ref_list(self.iter())
    }
}

impl<T: RemoteValue> IntoArg<Vec<T>> for &Vec<ObjectRef<T>> {
    fn into_arg(self) -> ArgValue {
        ref_list(self.iter())
    }
}

impl<T: RemoteValue> IntoArg<Vec<T>> for &[ObjectRef<T>] {
    fn into_arg(self) -> ArgValue {
        ref_list(self.iter())
    }
}

impl<T: RemoteValue, const N: usize> IntoArg<Vec<T>> for &[ObjectRef<T>; N] {
    fn into_arg(self) -> ArgValue {
        ref_list(self.iter())
    }
}
