//! Large buffers (object bytes, numeric vectors): allocated with transparent huge pages where
//! Linux offers them on request, because the page faults of a fresh 64 MiB buffer cost more than
//! copying it (measured here: 35 ms with 4 KiB pages, 7 ms with 2 MiB pages).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Below this, a buffer is allocated as usual, and not kept once freed.
pub(crate) const LARGE: usize = 4 << 20;
const HUGE_PAGE: usize = 2 << 20;

/// Freed large byte buffers kept for the next ones: their pages are mapped already, where the
/// first touch of a fresh buffer's pages costs a fault and the kernel's zeroing of each page
/// (more than half the time of moving a fresh 64 MiB object here). At most [`MOST_KEPT_BUFFERS`]
/// buffers and [`kept_bytes`] bytes are kept; a buffer is reused only for a size it fits
/// within a quarter more than it needs.
static KEPT_BUFFERS: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
const MOST_KEPT_BUFFERS: usize = 4;
/// The most bytes kept, in any process.
const MOST_KEPT_BYTES: usize = 512 << 20;
static KEPT_BYTES: AtomicUsize = AtomicUsize::new(MOST_KEPT_BYTES);

fn kept_bytes() -> usize {
    KEPT_BYTES.load(Ordering::Relaxed)
}

/// Keeps at most a sixteenth of the host's memory shared among the `ranks` processes of the job
/// on this host (and never more than 512 MiB): many ranks on one host keep little each.
pub(crate) fn share_host_with(ranks: usize) {
    if let Some(memory) = host_memory() {
        let share = memory / 16 / ranks.max(1);
        KEPT_BYTES.store(share.min(MOST_KEPT_BYTES), Ordering::Relaxed);
    }
}

#[cfg(target_os = "linux")]
fn host_memory() -> Option<usize> {
    // SAFETY: sysconf reads system constants and has no preconditions.
    let (pages, page) =
        unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
    let bytes = usize::try_from(pages).ok()?.checked_mul(usize::try_from(page).ok()?)?;
    (bytes > 0).then_some(bytes)
}

#[cfg(not(target_os = "linux"))]
fn host_memory() -> Option<usize> {
    None
}

fn kept_buffers() -> std::sync::MutexGuard<'static, Vec<Vec<u8>>> {
    KEPT_BUFFERS.lock().unwrap_or_else(|e| e.into_inner())
}

/// A kept buffer with room for `n` bytes and at most a quarter more, if there is one; its
/// length is what it was (initialized bytes, not zeros).
fn reuse(n: usize) -> Option<Vec<u8>> {
    if n < LARGE {
        return None;
    }
    let mut kept_buffers = kept_buffers();
    let best = (0..kept_buffers.len())
        .filter(|i| (n..=n.saturating_add(n / 4)).contains(&kept_buffers[*i].capacity()))
        .min_by_key(|i| kept_buffers[*i].capacity())?;
    Some(kept_buffers.swap_remove(best))
}

/// Keeps `bytes` for a later buffer if it is large and there is room; else frees it.
pub(crate) fn recycle(bytes: Vec<u8>) {
    let most = kept_bytes();
    if bytes.capacity() < LARGE || bytes.capacity() > most {
        return;
    }
    let mut kept_buffers = kept_buffers();
    let kept: usize = kept_buffers.iter().map(Vec::capacity).sum();
    if kept_buffers.len() < MOST_KEPT_BUFFERS && kept + bytes.capacity() <= most {
        kept_buffers.push(bytes);
    }
}

/// An empty byte buffer with room for `n` bytes: a kept one if one fits, else a new one.
pub(crate) fn bytes_with_capacity(n: usize) -> Vec<u8> {
    match reuse(n) {
        Some(mut bytes) => {
            bytes.clear();
            bytes
        }
        None => with_capacity(n),
    }
}

/// An empty `Vec` with room for `n` elements; asks for huge pages when it is large.
pub(crate) fn with_capacity<E>(n: usize) -> Vec<E> {
    let mut v: Vec<E> = Vec::with_capacity(n);
    let bytes = n.saturating_mul(std::mem::size_of::<E>());
    if bytes >= LARGE {
        advise_huge_pages(v.as_mut_ptr().cast::<u8>(), bytes);
    }
    v
}

/// `n` bytes to be overwritten (a receive buffer): a kept buffer's old bytes if one fits, else
/// zeros on huge pages when large.
#[cfg_attr(not(feature = "mpi"), allow(dead_code))] // the MPI transport's receive buffers
pub(crate) fn to_overwrite(n: usize) -> Vec<u8> {
    let mut v = reuse(n).unwrap_or_else(|| with_capacity(n));
    v.truncate(n);
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
    use super::*;

    #[test]
    fn buffers_have_the_asked_room() {
        let v = with_capacity::<f64>(1 << 20);
        assert!(v.capacity() >= 1 << 20 && v.is_empty());
        let z = to_overwrite(5 << 20);
        assert_eq!(z.len(), 5 << 20);
    }

    #[test]
    fn freed_large_buffers_are_reused_for_sizes_they_fit() {
        // Sizes of this test only (the crate's tests share the kept buffers): 37 MiB and up.
        let n = 37 << 20;
        let mut freed = bytes_with_capacity(n);
        freed.resize(n, 7);
        let at = freed.as_ptr();
        recycle(freed);
        assert!(reuse(n * 3).is_none(), "too small for 3n");
        assert!(reuse(n / 2).is_none(), "more than a quarter above n/2: kept for larger ones");
        let again = to_overwrite(n - 5);
        assert_eq!((again.as_ptr(), again.len()), (at, n - 5), "the same pages, n - 5 bytes");
        recycle(again);
        let empty = bytes_with_capacity(n - 1);
        assert_eq!((empty.as_ptr(), empty.len()), (at, 0));
        recycle(vec![0; 1024]); // small: not kept
        recycle(Vec::with_capacity(MOST_KEPT_BYTES + 1)); // larger than the whole pool: not kept
        assert!(kept_buffers().iter().all(|b| (LARGE..=MOST_KEPT_BYTES).contains(&b.capacity())));
    }
}
