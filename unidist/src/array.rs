//! [`Array`]: a task parameter that reads a vector of numbers where its object lies, without
//! decoding a copy of it.

use std::any::{Any, TypeId};
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::bytes::Bytes;
use crate::codec;
use crate::error::Error;
use crate::id::ObjectId;
use crate::object::{fingerprint, Object};

mod sealed {
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for i8 {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// The element types an [`Array`] holds: the numbers whose encoding is their bytes in memory
/// (`u8`, `i8`, `f32`, `f64`; wider integers are encoded as varints, so they cannot be read in
/// place).
pub trait Element:
    sealed::Sealed + Copy + Send + Sync + Serialize + for<'de> Deserialize<'de> + 'static
{
}
impl Element for u8 {}
impl Element for i8 {}
impl Element for f32 {}
impl Element for f64 {}

/// A vector of numbers that a task reads where its object lies: a parameter declared
/// `Array<E>` takes what a `Vec<E>` parameter takes (a `Vec<E>`, or a ref to one), and reads the
/// elements in place, with no copy, when the object is in memory this rank maps (an object of
/// `UNIDIST_SHARED_BYTES` or more made by a rank of the same host, or one this rank holds) and
/// its elements are aligned there (always for bytes); else it holds a decoded copy, as a
/// `Vec<E>` parameter would. Either way it derefs to `&[E]`.
///
/// ```
/// use unidist::{remote, Array};
///
/// #[remote]
/// fn total(values: Array<f64>) -> f64 {
///     values.iter().sum()
/// }
///
/// fn main() {
///     unidist::init();
///     let values = unidist::put(vec![0.5_f64; 1 << 20]);
///     assert_eq!(unidist::get(&total::remote(&values)).unwrap(), 524_288.0);
///     unidist::shutdown();
/// }
/// ```
///
/// An array keeps its object's memory while it lives, even once the object is freed. With the
/// `ndarray` feature, [`view`](Array::view) gives an `ndarray::ArrayView1` of it.
#[derive(Clone)]
pub struct Array<E: Element> {
    storage: Storage<E>,
}

#[derive(Clone)]
enum Storage<E> {
    /// `len` elements from byte `start` of the object's bytes, aligned for `E`.
    InPlace {
        bytes: Arc<Bytes>,
        start: usize,
        len: usize,
    },
    Copied(Vec<E>),
}

impl<E: Element> Array<E> {
    /// True if the elements are read where the object lies; false if they are a copy.
    pub fn in_place(&self) -> bool {
        matches!(self.storage, Storage::InPlace { .. })
    }

    /// The elements as a `Vec` (a copy, unless the array already holds one).
    pub fn into_vec(self) -> Vec<E> {
        match self.storage {
            Storage::Copied(v) => v,
            Storage::InPlace { .. } => self.to_vec(),
        }
    }

    /// The elements as a one-dimensional `ndarray` view, with no copy.
    #[cfg(feature = "ndarray")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ndarray")))]
    pub fn view(&self) -> ndarray::ArrayView1<'_, E> {
        ndarray::ArrayView1::from(&self[..])
    }

    /// The array read from `object` (`id`), a `Vec<E>` (or an `Array<E>`): in place if its
    /// elements are aligned in its bytes, else decoded.
    pub(crate) fn from_object(object: &Object, id: ObjectId) -> Result<Array<E>, Error> {
        if let Some(error) = object.error(id) {
            return Err(error);
        }
        if object.type_fp != fingerprint::<Array<E>>() {
            object.check_type(id, fingerprint::<Vec<E>>(), std::any::type_name::<Vec<E>>())?;
        }
        let codec_error = |reason: String| Error::Codec {
            object: id,
            action: "decoded".into(),
            type_name: std::any::type_name::<Array<E>>().into(),
            reason,
        };
        let bytes = &object.bytes[..];
        let (len, start): (u64, usize) = codec::decode_prefix(bytes).map_err(codec_error)?;
        let body = &bytes[start..];
        let size = std::mem::size_of::<E>();
        if body.len() % size != 0 || (body.len() / size) as u64 != len {
            return Err(codec_error(format!(
                "{len} elements of {size} bytes cannot span the {} bytes given",
                body.len()
            )));
        }
        if cfg!(target_endian = "little")
            && body.as_ptr().align_offset(std::mem::align_of::<E>()) == 0
        {
            let bytes = Arc::clone(&object.bytes);
            return Ok(Array { storage: Storage::InPlace { bytes, start, len: len as usize } });
        }
        let copied = codec::decode_value::<Vec<E>>(bytes).map_err(codec_error)?;
        Ok(Array { storage: Storage::Copied(copied) })
    }
}

/// `Some(array)` if `T` is an `Array<E>` of some element type: read from `object` (`id`).
pub(crate) fn take_as<T: 'static>(object: &Object, id: ObjectId) -> Option<Result<T, Error>> {
    fn of<T: 'static, E: Element>(object: &Object, id: ObjectId) -> Option<Result<T, Error>> {
        if TypeId::of::<T>() != TypeId::of::<Array<E>>() {
            return None;
        }
        let array = Array::<E>::from_object(object, id);
        Some(array.map(|a| *(Box::new(a) as Box<dyn Any>).downcast::<T>().expect("T is Array<E>")))
    }
    of::<T, u8>(object, id)
        .or_else(|| of::<T, f64>(object, id))
        .or_else(|| of::<T, f32>(object, id))
        .or_else(|| of::<T, i8>(object, id))
}

impl<E: Element> Deref for Array<E> {
    type Target = [E];

    fn deref(&self) -> &[E] {
        match &self.storage {
            Storage::Copied(v) => v,
            // SAFETY: `from_object` checked that `len` elements of `E` span the bytes from
            // `start` on and that they are aligned for `E`; any bytes are a valid `E` (a plain
            // number); the bytes never change while the `Arc` holds them (an object is written
            // once, and a segment is reused only once no reader maps it).
            Storage::InPlace { bytes, start, len } => unsafe {
                std::slice::from_raw_parts(bytes[*start..].as_ptr().cast::<E>(), *len)
            },
        }
    }
}

impl<E: Element> From<Vec<E>> for Array<E> {
    fn from(v: Vec<E>) -> Array<E> {
        Array { storage: Storage::Copied(v) }
    }
}

impl<E: Element + std::fmt::Debug> std::fmt::Debug for Array<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<E: Element + PartialEq> PartialEq for Array<E> {
    fn eq(&self, other: &Array<E>) -> bool {
        self[..] == other[..]
    }
}

/// Encoded as the `Vec<E>` it holds.
impl<E: Element> Serialize for Array<E> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self[..].serialize(serializer)
    }
}

impl<'de, E: Element> Deserialize<'de> for Array<E> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Array<E>, D::Error> {
        Vec::<E>::deserialize(deserializer).map(Array::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_read_in_place_and_other_numbers_where_aligned() {
        let id = ObjectId::new(0, 1);
        let bytes: Vec<u8> = (0..=255).collect();
        let object = Object::encode(&bytes).unwrap();
        let array = Array::<u8>::from_object(&object, id).unwrap();
        assert!(array.in_place(), "bytes are always aligned");
        assert_eq!(array[..], bytes[..]);
        let floats: Vec<f64> = (0..100).map(|i| i as f64 / 3.0).collect();
        let object = Object::encode(&floats).unwrap();
        let array = Array::<f64>::from_object(&object, id).unwrap();
        assert_eq!(array.into_vec(), floats, "in place or copied, the same values");
        let as_array = Object::encode(&Array::from(floats.clone())).unwrap();
        assert_eq!(Array::<f64>::from_object(&as_array, id).unwrap()[..], floats[..]);
    }

    #[test]
    fn another_type_an_error_or_a_bad_length_is_an_error() {
        let id = ObjectId::new(0, 2);
        let words = Object::encode(&vec![1_u32, 2]).unwrap();
        assert!(matches!(Array::<u8>::from_object(&words, id), Err(Error::TypeMismatch { .. })));
        let failed = Error::UnknownFunction { id: 1, rank: 2 };
        let error = Object::from_error(&failed);
        assert_eq!(Array::<f64>::from_object(&error, id), Err(failed));
        let short =
            Object { type_fp: fingerprint::<Vec<u8>>(), bytes: Arc::new(vec![3, 0, 0].into()) };
        match Array::<u8>::from_object(&short, id) {
            Err(Error::Codec { reason, .. }) => assert!(reason.contains("cannot span"), "{reason}"),
            other => panic!("expected a codec error, got {other:?}"),
        }
    }
}
