//! An object as it is stored and moved: the encoded bytes of a value and a fingerprint of its
//! Rust type, so that a value is never read back as another type.

use std::any::type_name;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use serde::de::{Deserializer, Visitor};
use serde::ser::{SerializeTuple, Serializer};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::bytes::Bytes;
use crate::codec;
use crate::error::Error;
use crate::id::ObjectId;

/// What a value must be to cross ranks: an argument or a result of a remote function, or a value
/// given to [`put`](crate::put).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be sent between ranks",
    note = "arguments and results of remote functions must be owned, `Send + 'static`, and implement serde's `Serialize` and `Deserialize` (derive them)",
    note = "an `ObjectRef` cannot be put inside a value or returned from a task: pass refs as arguments of `remote` instead"
)]
pub trait RemoteValue: Serialize + DeserializeOwned + Send + 'static {}

impl<T: Serialize + DeserializeOwned + Send + 'static> RemoteValue for T {}

/// FNV-1a of a type's name: the same on every rank of one binary.
pub(crate) fn fingerprint<T: ?Sized>() -> u64 {
    fnv1a(type_name::<T>().as_bytes())
}

pub(crate) const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

/// The fingerprint that marks an object holding an [`Error`] instead of a value.
pub(crate) const ERROR_TYPE: u64 = fnv1a(b"unidist::Error");

/// Where the names of types come from: the function table, which `init` hands over with
/// [`name_types_from`]. This module cannot ask `registry` itself: `registry` names `arg`, which
/// names this module, and the import would close a cycle.
static TYPE_NAME_SOURCE: OnceLock<fn() -> Vec<&'static str>> = OnceLock::new();

/// Names of the types the function table mentions, to name the type of a mismatched object.
static TYPE_NAMES: OnceLock<HashMap<u64, &'static str>> = OnceLock::new();

/// Names types by the list `names` gives (the types of every remote function's signature).
pub(crate) fn name_types_from(names: fn() -> Vec<&'static str>) {
    let _ = TYPE_NAME_SOURCE.set(names);
}

/// The name of the type whose fingerprint is `fingerprint`, when the function table mentions it.
pub(crate) fn type_name_of(fingerprint: u64) -> String {
    // Nothing is cached before `init` hands the table over: a name asked for earlier (in a unit
    // test) must not leave an empty table behind.
    let names = TYPE_NAME_SOURCE.get().map(|source| {
        TYPE_NAMES.get_or_init(|| {
            source().into_iter().map(|name| (fnv1a(name.as_bytes()), name)).collect()
        })
    });
    match names.and_then(|names| names.get(&fingerprint)) {
        Some(name) => (*name).to_string(),
        None => format!("<type with fingerprint {fingerprint:#018x}>"),
    }
}

/// Encoded bytes and a type fingerprint. Clones share the bytes.
#[derive(Clone, Debug)]
pub(crate) struct Object {
    pub(crate) type_fp: u64,
    pub(crate) bytes: Arc<Bytes>,
}

/// The last holder of a large object's heap bytes hands them to the kept buffers
/// (`buffer::recycle`) wherever it drops them: freed by the collector, decoded by a `get`, or
/// moved between the local backend's ranks (an MPI send in flight holds the bytes too, and frees
/// them plainly if it is the last). A segment goes to the kept segments by itself.
impl Drop for Object {
    fn drop(&mut self) {
        if matches!(&*self.bytes, Bytes::Heap(v) if v.capacity() >= crate::buffer::LARGE) {
            if let Some(bytes) = Arc::get_mut(&mut self.bytes) {
                std::mem::replace(bytes, Bytes::Heap(Vec::new())).recycle();
            }
        }
    }
}

impl Object {
    pub(crate) fn encode<T: RemoteValue>(value: &T) -> Result<Object, String> {
        Ok(Object { type_fp: fingerprint::<T>(), bytes: Arc::new(codec::encode_value(value)?) })
    }

    /// Encodes `value`, which is no longer needed: a large vector of numbers is then kept for
    /// the next decode of its type (see `buffer::recycle_value`).
    pub(crate) fn encode_owned<T: RemoteValue>(value: T) -> Result<Object, String> {
        let object = Object::encode(&value)?;
        crate::buffer::recycle_value(value);
        Ok(object)
    }

    /// `value` encoded as the `T` it encodes like (a `&str` as a `String`).
    pub(crate) fn encode_as<T: RemoteValue>(
        value: &(impl Serialize + ?Sized),
    ) -> Result<Object, String> {
        Ok(Object {
            type_fp: fingerprint::<T>(),
            bytes: Arc::new(Bytes::from_vec(codec::encode(value)?)),
        })
    }

    pub(crate) fn from_error(error: &Error) -> Object {
        let bytes = codec::encode(error).expect("errors always encode");
        Object { type_fp: ERROR_TYPE, bytes: Arc::new(bytes.into()) }
    }

    /// The error this object (`id`) holds, if it is a failed result; an error object whose bytes
    /// do not decode (a rank of another build) gives a codec error naming `id`, never a panic.
    pub(crate) fn error(&self, id: ObjectId) -> Option<Error> {
        (self.type_fp == ERROR_TYPE).then(|| {
            codec::decode(&self.bytes).unwrap_or_else(|reason| Error::Codec {
                object: id,
                action: "decoded".into(),
                type_name: "unidist::Error".into(),
                reason,
            })
        })
    }

    /// True if this object is a failed result.
    pub(crate) fn is_error(&self) -> bool {
        self.type_fp == ERROR_TYPE
    }

    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Reads the value back as a `T`: its stored error, a type mismatch, or the value.
    pub(crate) fn decode<T: RemoteValue>(&self, id: ObjectId) -> Result<T, Error> {
        if let Some(error) = self.error(id) {
            return Err(error);
        }
        self.check_type(id, fingerprint::<T>(), type_name::<T>())?;
        codec::decode_value(&self.bytes).map_err(|reason| Error::Codec {
            object: id,
            action: "decoded".into(),
            type_name: type_name::<T>().into(),
            reason,
        })
    }

    pub(crate) fn check_type(&self, id: ObjectId, expected: u64, name: &str) -> Result<(), Error> {
        if self.type_fp == expected {
            return Ok(());
        }
        Err(Error::TypeMismatch {
            object: id,
            expected: name.to_string(),
            found: type_name_of(self.type_fp),
        })
    }
}

impl Serialize for Object {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(2)?;
        tuple.serialize_element(&self.type_fp)?;
        tuple.serialize_element(serde_bytes::Bytes::new(&self.bytes))?;
        tuple.end()
    }
}

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = Object;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object: a type fingerprint and bytes")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Object, A::Error> {
                let missing = || serde::de::Error::custom("truncated object");
                let type_fp: u64 = seq.next_element()?.ok_or_else(missing)?;
                let bytes: serde_bytes::ByteBuf = seq.next_element()?.ok_or_else(missing)?;
                Ok(Object { type_fp, bytes: Arc::new(bytes.into_vec().into()) })
            }
        }
        deserializer.deserialize_tuple(2, ObjectVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_object_that_does_not_decode_is_a_codec_error() {
        let id = ObjectId::new(0, 7);
        let corrupt = Object { type_fp: ERROR_TYPE, bytes: Arc::new(vec![0xff; 3].into()) };
        match corrupt.decode::<u32>(id) {
            Err(Error::Codec { object, type_name, .. }) => {
                assert_eq!(object, id);
                assert_eq!(type_name, "unidist::Error");
            }
            other => panic!("expected a codec error, got {other:?}"),
        }
        let error = Error::UnknownFunction { id: 1, rank: 2 };
        assert_eq!(Object::from_error(&error).decode::<u32>(id), Err(error));
    }
}
