//! The one place that turns values into bytes and back (serde + bincode 2).
//!
//! Everything else calls these functions, so the codec can be swapped by editing this file alone.

use serde::de::DeserializeOwned;
use serde::Serialize;

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
}

/// Encodes a value.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    bincode::serde::encode_to_vec(value, config()).map_err(|e| e.to_string())
}

/// Decodes a value that must span all of `bytes`.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let (value, read) =
        bincode::serde::decode_from_slice(bytes, config()).map_err(|e| e.to_string())?;
    if read != bytes.len() {
        return Err(format!("{} trailing bytes after the value", bytes.len() - read));
    }
    Ok(value)
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
    fn trailing_bytes_are_an_error() {
        let mut bytes = encode(&7_u32).unwrap();
        bytes.push(0);
        assert!(decode::<u32>(&bytes).unwrap_err().contains("trailing"));
    }
}
