//! Large buffers (object bytes, numeric vectors): allocated with transparent huge pages where
//! Linux offers them on request, because the page faults of a fresh 64 MiB buffer cost more than
//! copying it (measured here: 35 ms with 4 KiB pages, 7 ms with 2 MiB pages).

use std::any::{Any, TypeId};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Below this, a buffer is allocated as usual, and not kept once freed.
pub(crate) const LARGE: usize = 4 << 20;
const HUGE_PAGE: usize = 2 << 20;

/// Freed large buffers kept for the next ones: their pages are mapped already, where the
/// first touch of a fresh buffer's pages costs a fault and the kernel's zeroing of each page
/// (more than half the time of moving a fresh 64 MiB object here). Byte buffers (objects'
/// bytes, received payloads) and vectors of plain numbers (values given to `put` or returned
/// by tasks, once encoded) are kept, each for vectors of its own element type. At most
/// [`MOST_KEPT_BUFFERS`] buffers and [`kept_bytes`] bytes are kept; a buffer is reused only for
/// a size it fits within a quarter more than it needs.
static KEPT_BUFFERS: Mutex<Vec<Kept>> = Mutex::new(Vec::new());
const MOST_KEPT_BUFFERS: usize = 4;
/// The most bytes kept, in any process.
const MOST_KEPT_BYTES: usize = 512 << 20;
static KEPT_BYTES: AtomicUsize = AtomicUsize::new(MOST_KEPT_BYTES);

/// A freed `Vec<E>`'s allocation, for another `Vec<E>` of the same `E`.
struct Kept {
    element: TypeId,
    ptr: NonNull<u8>,
    /// In elements: the vector's length when it was freed (its initialized elements), and its
    /// room.
    len: usize,
    capacity: usize,
    bytes: usize,
    /// Frees the allocation as the `Vec<E>` it was.
    free: unsafe fn(NonNull<u8>, usize),
}

// SAFETY: an allocation no one else points to, of elements that are plain numbers.
unsafe impl Send for Kept {}

/// # Safety
/// `ptr` and `capacity` are those of a `Vec<E>` that no one else owns.
unsafe fn free<E>(ptr: NonNull<u8>, capacity: usize) {
    drop(Vec::<E>::from_raw_parts(ptr.as_ptr().cast::<E>(), 0, capacity));
}

impl Drop for Kept {
    fn drop(&mut self) {
        // SAFETY: the allocation of the `Vec` the free function was made for, owned here alone.
        unsafe { (self.free)(self.ptr, self.capacity) }
    }
}

/// The element types whose vectors are kept: plain numbers, which have no destructor and
/// whose every bit pattern is valid.
fn keeps<E: 'static>() -> bool {
    let e = TypeId::of::<E>();
    [TypeId::of::<u8>(), TypeId::of::<i8>(), TypeId::of::<f32>(), TypeId::of::<f64>()].contains(&e)
}

/// The most bytes of freed buffers (and, apart, of freed segments) a process keeps.
pub(crate) fn kept_bytes() -> usize {
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

fn kept_buffers() -> std::sync::MutexGuard<'static, Vec<Kept>> {
    KEPT_BUFFERS.lock().unwrap_or_else(|e| e.into_inner())
}

/// A kept `Vec<E>` with room for `n` elements and at most a quarter more, if there is one; its
/// length is what it was (initialized elements, not zeros).
fn reuse<E: 'static>(n: usize) -> Option<Vec<E>> {
    if n.saturating_mul(std::mem::size_of::<E>()) < LARGE || !keeps::<E>() {
        return None;
    }
    let element = TypeId::of::<E>();
    let mut kept_buffers = kept_buffers();
    let fits =
        |k: &Kept| k.element == element && (n..=n.saturating_add(n / 4)).contains(&k.capacity);
    let best = (0..kept_buffers.len())
        .filter(|i| fits(&kept_buffers[*i]))
        .min_by_key(|i| kept_buffers[*i].capacity)?;
    let kept = std::mem::ManuallyDrop::new(kept_buffers.swap_remove(best));
    // SAFETY: the allocation of a `Vec<E>` (the element type matches) with `len` initialized
    // elements, owned by `kept` alone, which is not dropped.
    Some(unsafe { Vec::from_raw_parts(kept.ptr.as_ptr().cast::<E>(), kept.len, kept.capacity) })
}

/// Keeps `v`'s allocation for a later vector of its element type if it is large, the type is
/// kept, and there is room; else frees it.
pub(crate) fn recycle<E: Copy + 'static>(v: Vec<E>) {
    let bytes = v.capacity().saturating_mul(std::mem::size_of::<E>());
    if bytes < LARGE || bytes > kept_bytes() || !keeps::<E>() {
        return;
    }
    let mut kept_buffers = kept_buffers();
    let kept: usize = kept_buffers.iter().map(|k| k.bytes).sum();
    if kept_buffers.len() < MOST_KEPT_BUFFERS && kept + bytes <= kept_bytes() {
        let mut v = std::mem::ManuallyDrop::new(v);
        kept_buffers.push(Kept {
            element: TypeId::of::<E>(),
            ptr: NonNull::new(v.as_mut_ptr().cast::<u8>()).expect("a large vector has memory"),
            len: v.len(),
            capacity: v.capacity(),
            bytes,
            free: free::<E>,
        });
    }
}

/// Hands `value`, a value that is no longer needed once encoded (given to `put`, returned by a
/// task), to the kept buffers if it is a large vector of plain numbers: its pages are mapped.
pub(crate) fn recycle_value<T: 'static>(value: T) {
    fn take<T: 'static, E: Copy + 'static>(value: &mut Option<T>) -> bool {
        match (value as &mut dyn Any).downcast_mut::<Option<Vec<E>>>().and_then(Option::take) {
            Some(v) => {
                recycle(v);
                true
            }
            None => false,
        }
    }
    // Decided at compile time: any other type is dropped as usual, at no cost.
    let vec_of = |e: TypeId| TypeId::of::<T>() == e;
    if ![
        TypeId::of::<Vec<u8>>(),
        TypeId::of::<Vec<f64>>(),
        TypeId::of::<Vec<f32>>(),
        TypeId::of::<Vec<i8>>(),
    ]
    .into_iter()
    .any(vec_of)
    {
        return;
    }
    let mut value = Some(value);
    let _ = take::<T, u8>(&mut value)
        || take::<T, f64>(&mut value)
        || take::<T, f32>(&mut value)
        || take::<T, i8>(&mut value);
}

/// An empty byte buffer with room for `n` bytes: a kept one if one fits, else a new one.
pub(crate) fn bytes_with_capacity(n: usize) -> Vec<u8> {
    kept_with_capacity(n)
}

/// An empty `Vec<E>` with room for `n` elements: a kept one if one fits, else a new one.
pub(crate) fn kept_with_capacity<E: 'static>(n: usize) -> Vec<E> {
    match reuse(n) {
        Some(mut v) => {
            v.clear();
            v
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
        assert!(reuse::<u8>(n * 3).is_none(), "too small for 3n");
        assert!(
            reuse::<u8>(n / 2).is_none(),
            "more than a quarter above n/2: kept for larger ones"
        );
        let again = to_overwrite(n - 5);
        assert_eq!((again.as_ptr(), again.len()), (at, n - 5), "the same pages, n - 5 bytes");
        recycle(again);
        let empty = bytes_with_capacity(n - 1);
        assert_eq!((empty.as_ptr(), empty.len()), (at, 0));
        recycle(vec![0; 1024]); // small: not kept
        recycle(Vec::<u8>::with_capacity(MOST_KEPT_BYTES + 1)); // larger than the pool: not kept
        assert!(kept_buffers().iter().all(|b| (LARGE..=MOST_KEPT_BYTES).contains(&b.bytes)));
    }

    #[test]
    fn a_freed_vector_serves_vectors_of_its_own_element_type_only() {
        // Sizes of this test only: 41 MiB of floats.
        let n = (41 << 20) / 8;
        let floats: Vec<f64> = vec![0.5; n];
        let at = floats.as_ptr() as usize;
        recycle_value(floats); // a value given to `put`, once encoded
        assert!(reuse::<u8>(n * 8).is_none(), "not for bytes");
        assert!(reuse::<f32>(n * 2).is_none(), "not for another number type");
        let again = kept_with_capacity::<f64>(n - 3);
        assert_eq!((again.as_ptr() as usize, again.len()), (at, 0), "the same pages, empty");
        recycle_value(again);
        recycle_value(vec![String::new(); 3]); // not a vector of numbers: dropped as usual
        let last = kept_with_capacity::<f64>(n);
        assert_eq!(last.as_ptr() as usize, at);
    }
}
