//! An object's encoded bytes: on this process's heap, or in a segment of memory shared with
//! the other ranks of the host (see `segment`), which readers there map instead of receiving a
//! copy.

use std::ops::Deref;

use crate::segment::{self, Segment, SegmentRef};

#[derive(Debug)]
pub(crate) enum Bytes {
    Heap(Vec<u8>),
    /// Boxed: most objects are small and on the heap, and every object's bytes are allocated
    /// with this enum.
    Shared(Box<Segment>),
}

impl Bytes {
    /// `bytes`, moved into a segment if they are large enough to be shared (the vector then
    /// goes to the kept buffers).
    pub(crate) fn from_vec(bytes: Vec<u8>) -> Bytes {
        if !segment::shares(bytes.len()) {
            return Bytes::Heap(bytes);
        }
        match Segment::create(0, bytes.len()) {
            Ok(mut shared) => {
                shared.as_mut_slice().copy_from_slice(&bytes);
                crate::buffer::recycle(bytes);
                Bytes::Shared(Box::new(shared))
            }
            Err(e) => {
                crate::log::event!(debug, error = %e, "no segment: the bytes stay on the heap");
                Bytes::Heap(bytes)
            }
        }
    }

    /// `parts` one after another, written straight into a segment if they are large enough to
    /// be shared (placed so that the last part starts on 64 bytes: the elements of a vector of
    /// numbers then lie aligned, for `Array`), else into a buffer of the heap.
    pub(crate) fn from_parts(parts: &[&[u8]]) -> Bytes {
        let len = parts.iter().map(|p| p.len()).sum();
        if segment::shares(len) {
            let ahead = len - parts.last().map_or(0, |p| p.len());
            match Segment::create((64 - ahead % 64) % 64, len) {
                Ok(mut shared) => {
                    let mut out = shared.as_mut_slice();
                    for part in parts {
                        let (head, rest) = out.split_at_mut(part.len());
                        head.copy_from_slice(part);
                        out = rest;
                    }
                    return Bytes::Shared(Box::new(shared));
                }
                Err(e) => {
                    crate::log::event!(debug, error = %e, "no segment: the bytes stay on the heap")
                }
            }
        }
        let mut out = crate::buffer::bytes_with_capacity(len);
        for part in parts {
            out.extend_from_slice(part);
        }
        Bytes::Heap(out)
    }

    /// What a reader on this host needs to map these bytes, if they are in a segment this
    /// process owns.
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))] // the MPI transport lends segments
    pub(crate) fn lend(&self) -> Option<SegmentRef> {
        match self {
            Bytes::Heap(_) => None,
            Bytes::Shared(segment) => segment.lend(),
        }
    }

    /// True if the bytes are in a segment mapped from a peer.
    pub(crate) fn mapped_from_peer(&self) -> bool {
        matches!(self, Bytes::Shared(segment) if segment.lend().is_none())
    }

    /// Hands a large heap buffer to the kept buffers (a segment keeps itself when dropped).
    pub(crate) fn recycle(self) {
        if let Bytes::Heap(bytes) = self {
            crate::buffer::recycle(bytes);
        }
    }
}

impl Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Heap(bytes) => bytes,
            Bytes::Shared(segment) => segment.as_slice(),
        }
    }
}

impl From<Vec<u8>> for Bytes {
    /// Bytes on the heap, as they are.
    fn from(bytes: Vec<u8>) -> Bytes {
        Bytes::Heap(bytes)
    }
}
