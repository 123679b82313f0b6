//! The names every layer uses: object IDs and ranks. Plain values, no behaviour.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A rank of the job: 0 is the root, the others are workers.
pub(crate) type Rank = usize;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_as_origin_and_sequence() {
        let id = ObjectId::new(3, 42);
        assert_eq!((id.origin(), id.sequence()), (3, 42));
        assert_eq!(id.to_string(), "3:42");
        assert_eq!(format!("{id:?}"), "ObjectId(3:42)");
        assert_eq!(id.offset(2).to_string(), "3:44");
    }
}
