//! The one place that turns values into bytes and back (serde + bincode 2).
//!
//! Everything else calls these functions, so the codec can be swapped by editing this file alone.

use std::any::Any;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::bytes::Bytes;

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
}

/// Encodes a value.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    bincode::serde::encode_to_vec(value, config()).map_err(|e| e.to_string())
}

/// How much memory decoding may claim, as a multiple of the bytes decoded: bincode counts every
/// number at its full width (a one-byte varint claims 8 bytes for a `u64`, 16 for a `u128`), and
/// every string or byte buffer at the length its length field states.
const CLAIM_PER_BYTE: usize = 32;

/// Decodes the value at the start of `bytes`; returns it and the number of bytes it took.
///
/// Untrusted lengths cannot make a huge allocation: bincode sizes strings and byte buffers by
/// their length fields before it reads them, so its limit is set to [`CLAIM_PER_BYTE`] times the
/// input (rounded up to a power of 4), and a length field beyond it is an error.
pub(crate) fn decode_prefix<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, usize), String> {
    let claim = bytes.len().max(1).saturating_mul(CLAIM_PER_BYTE);
    macro_rules! limited {
        ($($shift:literal)*) => {
            $(
                if claim <= 1_usize << $shift {
                    let config = bincode::config::standard().with_limit::<{ 1_usize << $shift }>();
                    return bincode::serde::decode_from_slice(bytes, config)
                        .map_err(|e| e.to_string());
                }
            )*
        };
    }
    limited!(12 14 16 18 20 22 24 26 28 30 32 34 36 38);
    bincode::serde::decode_from_slice(bytes, config()).map_err(|e| e.to_string())
}

/// Decodes a value that must span all of `bytes`.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let (value, read) = decode_prefix(bytes)?;
    if read != bytes.len() {
        return Err(format!("{} trailing bytes after the value", bytes.len() - read));
    }
    Ok(value)
}

/// Encodes a value of a remote function or `put`: like [`encode`], but a `Vec` of `u8`, `i8`,
/// `f32` or `f64` is copied in one piece instead of element by element. The bytes are the same
/// as bincode's (the length, then the elements as they lie in memory on a little-endian host),
/// so either side may decode them either way. Bytes large enough to be shared with the host's
/// ranks go into a segment (see `segment`): a vector straight from its memory.
pub(crate) fn encode_value<T: Serialize + 'static>(value: &T) -> Result<Bytes, String> {
    let any = value as &dyn Any;
    let flat = flat::encode::<u8>(any)
        .or_else(|| flat::encode::<i8>(any))
        .or_else(|| flat::encode::<f32>(any))
        .or_else(|| flat::encode::<f64>(any));
    match flat {
        Some(bytes) => Ok(bytes),
        None => Ok(Bytes::from_vec(encode(value)?)),
    }
}

/// Decodes what [`encode_value`] (or [`encode`]) made, with the same one-copy path.
pub(crate) fn decode_value<T: DeserializeOwned + 'static>(bytes: &[u8]) -> Result<T, String> {
    let flat = flat::decode::<T, u8>(bytes)
        .or_else(|| flat::decode::<T, i8>(bytes))
        .or_else(|| flat::decode::<T, f32>(bytes))
        .or_else(|| flat::decode::<T, f64>(bytes));
    match flat {
        Some(value) => value,
        None => decode(bytes),
    }
}

/// The one-copy path for vectors of plain numbers.
mod flat {
    use std::any::{Any, TypeId};

    use crate::bytes::Bytes;

    /// A number whose bincode encoding (standard config) is its little-endian bytes and whose
    /// every bit pattern is a valid value.
    ///
    /// # Safety
    /// Implement it only for types without padding, valid for any bytes, whose bincode encoding
    /// is their in-memory bytes on a little-endian host.
    pub(super) unsafe trait Plain: Copy + 'static {}
    // SAFETY: no padding, any bit pattern is valid, bincode writes them as raw little-endian bytes
    // (it writes wider integers as varints, which is why they are not here).
    unsafe impl Plain for u8 {}
    unsafe impl Plain for i8 {}
    unsafe impl Plain for f32 {}
    unsafe impl Plain for f64 {}

    /// `Some(bytes)` if `value` is a `Vec<E>`.
    pub(super) fn encode<E: Plain>(value: &dyn Any) -> Option<Bytes> {
        if cfg!(target_endian = "big") {
            return None;
        }
        let v = value.downcast_ref::<Vec<E>>()?;
        let prefix = super::encode(&(v.len() as u64)).expect("a u64 always encodes");
        // SAFETY: `E: Plain` has no padding: its memory is initialized bytes.
        let body = unsafe {
            std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(&v[..]))
        };
        Some(Bytes::from_parts(&[&prefix, body]))
    }

    /// `Some(result)` if `T` is `Vec<E>`.
    pub(super) fn decode<T: 'static, E: Plain>(bytes: &[u8]) -> Option<Result<T, String>> {
        if cfg!(target_endian = "big") || TypeId::of::<T>() != TypeId::of::<Vec<E>>() {
            return None;
        }
        let vec = decode_vec::<E>(bytes)
            .map(|v| *(Box::new(v) as Box<dyn Any>).downcast::<T>().expect("T is Vec<E>"));
        Some(vec)
    }

    fn decode_vec<E: Plain>(bytes: &[u8]) -> Result<Vec<E>, String> {
        let (len, read): (u64, usize) = super::decode_prefix(bytes)?;
        let body = &bytes[read..];
        let size = std::mem::size_of::<E>();
        // Checked against the bytes at hand before any allocation: a corrupt length cannot
        // make a huge one.
        if (body.len() / size) as u64 != len || body.len() % size != 0 {
            return Err(format!(
                "a vector of {len} elements of {size} bytes cannot span the {} bytes given",
                body.len()
            ));
        }
        let n = len as usize;
        // A kept buffer if one fits: the value's pages are then mapped already.
        let mut v = crate::buffer::kept_with_capacity::<E>(n);
        // SAFETY: the capacity holds `n` elements = `body.len()` bytes; any bytes are a valid
        // `E`; the regions do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(body.as_ptr(), v.as_mut_ptr().cast::<u8>(), body.len());
            v.set_len(n);
        }
        Ok(v)
    }
}

/// Builds the encoding of a `Vec<T>` from the encodings of its elements, without decoding them.
pub(crate) fn concat_seq<'a>(parts: impl ExactSizeIterator<Item = &'a [u8]>) -> Vec<u8> {
    let len = parts.len() as u64;
    let mut out = encode(&len).expect("a u64 always encodes");
    for part in parts {
        out.extend_from_slice(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenated_elements_decode_as_a_vec() {
        let parts: Vec<Vec<u8>> = [3_u64, 300, 70_000].iter().map(|v| encode(v).unwrap()).collect();
        let bytes = concat_seq(parts.iter().map(|p| p.as_slice()));
        assert_eq!(decode::<Vec<u64>>(&bytes).unwrap(), vec![3, 300, 70_000]);
        assert_eq!(decode::<Vec<u64>>(&concat_seq(std::iter::empty())).unwrap(), Vec::<u64>::new());
    }

    #[test]
    fn numeric_vectors_take_the_one_copy_path_with_bincode_bytes() {
        let floats: Vec<f64> = (0..1000).map(|i| i as f64 * 0.5 - 3.0).collect();
        let fast = encode_value(&floats).unwrap();
        assert_eq!(fast[..], encode(&floats).unwrap(), "the same bytes as bincode");
        assert_eq!(decode_value::<Vec<f64>>(&fast).unwrap(), floats);
        assert_eq!(decode::<Vec<f64>>(&fast).unwrap(), floats);
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(encode_value(&bytes).unwrap()[..], encode(&bytes).unwrap());
        assert_eq!(decode_value::<Vec<u8>>(&encode(&bytes).unwrap()).unwrap(), bytes);
        let small: Vec<i8> = vec![-1, 0, 1];
        assert_eq!(decode_value::<Vec<i8>>(&encode_value(&small).unwrap()).unwrap(), small);
        let singles: Vec<f32> = vec![];
        assert_eq!(decode_value::<Vec<f32>>(&encode_value(&singles).unwrap()).unwrap(), singles);
        // Other types keep the general path.
        let words: Vec<u32> = vec![1, 300, 70_000];
        assert_eq!(encode_value(&words).unwrap()[..], encode(&words).unwrap());
        assert_eq!(decode_value::<Vec<u32>>(&encode_value(&words).unwrap()).unwrap(), words);
    }

    #[test]
    fn a_corrupt_length_is_an_error_not_an_allocation() {
        let mut bytes = encode(&u64::MAX).unwrap();
        bytes.extend_from_slice(&[0; 16]);
        assert!(decode_value::<Vec<f64>>(&bytes).unwrap_err().contains("cannot span"));
        let mut odd = encode(&1_u64).unwrap();
        odd.extend_from_slice(&[0; 9]);
        assert!(decode_value::<Vec<f64>>(&odd).is_err());
        assert!(decode_value::<Vec<f64>>(&[]).is_err());
    }

    #[test]
    fn a_corrupt_string_or_buffer_length_is_an_error_not_an_allocation() {
        // A string, then a buffer, claiming 2^60 bytes in a message of 12.
        for value in [encode(&"hello".to_string()).unwrap(), encode(&vec![1_u8; 5]).unwrap()] {
            let mut bytes = encode(&(1_u64 << 60)).unwrap();
            bytes.extend_from_slice(&value[1..]);
            assert!(decode::<String>(&bytes).is_err());
            assert!(decode::<serde_bytes::ByteBuf>(&bytes).is_err());
            assert!(decode::<Vec<u8>>(&bytes).is_err());
        }
        // Honest values of every size still decode.
        for n in [0_usize, 1, 1000, 100_000, 3_000_000] {
            let s = "x".repeat(n);
            assert_eq!(decode::<String>(&encode(&s).unwrap()).unwrap(), s);
            let wide: Vec<u128> = (0..n as u128 / 100).collect();
            assert_eq!(decode::<Vec<u128>>(&encode(&wide).unwrap()).unwrap(), wide);
        }
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let mut bytes = encode(&7_u32).unwrap();
        bytes.push(0);
        assert!(decode::<u32>(&bytes).unwrap_err().contains("trailing"));
    }
}
