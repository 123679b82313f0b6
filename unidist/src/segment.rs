//! Memory shared by the ranks of one host: a large object's bytes in a segment that the rank
//! which made the object (its owner) writes once, and that readers on the same host map and
//! read in place instead of receiving a copy over MPI.
//!
//! A segment is an anonymous memory file (`memfd_create`): it has no name in `/dev/shm` or
//! anywhere else, so nothing is left behind when a job ends, however it ends; the kernel frees
//! its memory once the last process that maps it or holds it open is gone. A reader opens it
//! through the owner's descriptor, `/proc/<owner pid>/fd/<fd>`, checks its device, inode and
//! generation, maps it and closes the descriptor at once: only owners hold descriptors, one per
//! live segment.
//!
//! The first page of a segment is its header: the count of readers that map it now, and the
//! generation of the object in it. An owner keeps a few freed segments for new objects (their
//! pages are mapped already, where a fresh segment's first touch costs a fault and the kernel's
//! zeroing of each page), and reuses one only once no reader maps it.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// The header's size, a page (the data starts a page in, so that a reader may write the header
/// and only read the data).
fn header() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    // SAFETY: sysconf reads a system constant and has no preconditions.
    *PAGE.get_or_init(|| {
        usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(0).max(4096)
    })
}

/// Objects of at least this many encoded bytes are written into segments; `usize::MAX` while
/// no rank of this host can map this process's segments (the local backend, a rank alone on
/// its host, `UNIDIST_SHARED_BYTES=off`).
static SHARE_FROM: AtomicUsize = AtomicUsize::new(usize::MAX);

/// The default of `UNIDIST_SHARED_BYTES`: below 1 MiB, a segment's own cost (a file, two
/// mappings, a reply) is more than what it saves.
pub(crate) const DEFAULT_SHARE_FROM: usize = 1 << 20;

/// Segments this process owns now (kept ones included), and the most it may: each holds a
/// descriptor, and half of the process's open files are left to the rest of the program.
static OWNED: AtomicUsize = AtomicUsize::new(0);
static MOST_OWNED: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Writes objects of at least `bytes` encoded bytes into segments from now on (`None`: none),
/// owning at most `most` segments at once (further objects stay on the heap).
#[cfg_attr(not(feature = "mpi"), allow(dead_code))] // set by the MPI transport
pub(crate) fn share_from(bytes: Option<usize>, most: usize) {
    MOST_OWNED.store(most, Ordering::Relaxed);
    SHARE_FROM.store(bytes.unwrap_or(usize::MAX), Ordering::Relaxed);
}

/// True if an object of `len` encoded bytes is to be written into a segment.
pub(crate) fn shares(len: usize) -> bool {
    len >= SHARE_FROM.load(Ordering::Relaxed)
}

/// What a reader needs to map an owner's segment: the owner's descriptor of it, the device and
/// inode it must find there, the generation of the object in it (a kept segment is reused),
/// where its bytes start after the header, and their length. The owner's process id comes from
/// the table of the job's ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SegmentRef {
    pub(crate) fd: i32,
    pub(crate) device: u64,
    pub(crate) inode: u64,
    pub(crate) generation: u64,
    pub(crate) start: u64,
    pub(crate) len: u64,
}

/// A mapped segment: the owner's (which holds its descriptor), or a reader's.
pub(crate) struct Segment {
    /// `None` only while `Drop` hands an owner's mapping to the kept segments.
    map: Option<Mapping>,
}

struct Mapping {
    base: NonNull<u8>,
    /// The bytes mapped: the header and the data's room.
    mapped: usize,
    /// The object's bytes, `start` bytes after the header (so that the elements of a vector of
    /// numbers lie aligned).
    start: usize,
    len: usize,
    device: u64,
    inode: u64,
    /// The owner's descriptor; readers close theirs once mapped.
    fd: Option<OwnedFd>,
}

// SAFETY: the mapping is plain shared memory; its data is written only by the owner before it
// is lent (through `&mut`), and the header is an atomic.
unsafe impl Send for Mapping {}
// SAFETY: as above: shared access only reads the data and updates the header atomically.
unsafe impl Sync for Mapping {}

impl Mapping {
    fn readers(&self) -> &AtomicU32 {
        // SAFETY: the header page is mapped readable and writable by every process that maps
        // the segment, and is aligned for an `AtomicU32`.
        unsafe { &*self.base.as_ptr().cast::<AtomicU32>() }
    }

    /// Which object the segment holds: moved on each time its owner takes it up for reuse.
    fn generation(&self) -> &AtomicU64 {
        // SAFETY: as for `readers`; 8 bytes in, aligned for an `AtomicU64`.
        unsafe { &*self.base.as_ptr().add(8).cast::<AtomicU64>() }
    }

    fn capacity(&self) -> usize {
        self.mapped - header()
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if self.fd.is_none() {
            self.readers().fetch_sub(1, Ordering::Release);
        } else {
            OWNED.fetch_sub(1, Ordering::Relaxed);
        }
        // SAFETY: `base` and `mapped` are what `mmap` returned; nothing borrows the mapping
        // once its segment is dropped. The descriptor (an owner's) closes after it.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.mapped);
        }
    }
}

fn last_error(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

/// Maps `len` bytes of `fd` shared: readable and writable (an owner's new segment), or only
/// readable with every page mapped at once (a reader's, whose pages all exist: one call instead
/// of a fault per few pages as it reads).
fn map(fd: &impl AsRawFd, len: usize, writable: bool) -> Result<NonNull<u8>, String> {
    #[cfg(target_os = "linux")]
    const POPULATE: libc::c_int = libc::MAP_POPULATE;
    #[cfg(not(target_os = "linux"))]
    const POPULATE: libc::c_int = 0;
    let (protection, flags) = if writable {
        (libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED)
    } else {
        (libc::PROT_READ, libc::MAP_SHARED | POPULATE)
    };
    // SAFETY: a new mapping of an open file; the kernel picks the address.
    let base =
        unsafe { libc::mmap(std::ptr::null_mut(), len, protection, flags, fd.as_raw_fd(), 0) };
    if base == libc::MAP_FAILED {
        return Err(last_error("mmap"));
    }
    Ok(NonNull::new(base.cast()).expect("mmap does not return null"))
}

impl Segment {
    /// A segment of the owner's to write `len` bytes into, `start` bytes after its header: a
    /// kept one if one fits, else a new one. An error (no memory files here, too many open
    /// files, no memory) leaves the caller to keep the bytes on its heap.
    pub(crate) fn create(start: usize, len: usize) -> Result<Segment, String> {
        let room = start.checked_add(len).ok_or("a length past the address space")?;
        if let Some(mut map) = reuse(room) {
            (map.start, map.len) = (start, len);
            return Ok(Segment { map: Some(map) });
        }
        if OWNED.fetch_add(1, Ordering::Relaxed) >= MOST_OWNED.load(Ordering::Relaxed) {
            OWNED.fetch_sub(1, Ordering::Relaxed);
            return Err("as many segments as this process may own".into());
        }
        Segment::make(start, len).inspect_err(|_| {
            OWNED.fetch_sub(1, Ordering::Relaxed);
        })
    }

    /// A new segment of the owner's for `len` bytes.
    #[cfg(not(target_os = "linux"))]
    fn make(_start: usize, _len: usize) -> Result<Segment, String> {
        Err("segments of shared memory need Linux's memory files".into())
    }

    /// A new segment of the owner's for `len` bytes.
    #[cfg(target_os = "linux")]
    fn make(start: usize, len: usize) -> Result<Segment, String> {
        // SAFETY: a plain call with a NUL-terminated name.
        let raw = unsafe { libc::memfd_create(c"unidist-object".as_ptr(), libc::MFD_CLOEXEC) };
        if raw < 0 {
            return Err(last_error("memfd_create"));
        }
        // SAFETY: a descriptor just made, owned by nothing else.
        let file = unsafe { File::from_raw_fd(raw) };
        let mapped = header() + start + len;
        file.set_len(mapped as u64).map_err(|e| format!("ftruncate: {e}"))?;
        let meta = file.metadata().map_err(|e| format!("fstat: {e}"))?;
        let (device, inode) = (meta.dev(), meta.ino());
        let base = map(&file, mapped, true)?;
        let fd = Some(file.into());
        Ok(Segment { map: Some(Mapping { base, mapped, start, len, device, inode, fd }) })
    }

    /// Maps the segment `lent` of the process `pid` (a rank of this host), to read it.
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))] // the MPI transport maps segments
    pub(crate) fn open(pid: u32, lent: SegmentRef) -> Result<Segment, String> {
        let path = format!("/proc/{pid}/fd/{}", lent.fd);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| format!("cannot open {path}: {e}"))?;
        let meta = file.metadata().map_err(|e| format!("fstat {path}: {e}"))?;
        let len = usize::try_from(lent.len).map_err(|_| format!("{} bytes", lent.len))?;
        let start =
            usize::try_from(lent.start).map_err(|_| format!("a start of {}", lent.start))?;
        let mapped = header()
            .checked_add(start)
            .and_then(|n| n.checked_add(len))
            .ok_or("a length past the address space")?;
        if (meta.dev(), meta.ino()) != (lent.device, lent.inode) || meta.len() < mapped as u64 {
            return Err(format!(
                "{path} is not the segment announced (inode {}:{} of {} bytes, not inode {}:{} \
                 with {} bytes of data)",
                meta.dev(),
                meta.ino(),
                meta.len(),
                lent.device,
                lent.inode,
                lent.len
            ));
        }
        let base = map(&file, mapped, false)?;
        // SAFETY: the header page of the mapping just made; only the header is made writable.
        if unsafe {
            libc::mprotect(base.as_ptr().cast(), header(), libc::PROT_READ | libc::PROT_WRITE)
        } != 0
        {
            let error = last_error("mprotect");
            // SAFETY: the mapping just made, which nothing borrows.
            unsafe { libc::munmap(base.as_ptr().cast(), mapped) };
            return Err(error);
        }
        let (device, inode) = (lent.device, lent.inode);
        let map = Mapping { base, mapped, start, len, device, inode, fd: None };
        // Counted as a reader first, then the generation checked: an owner that reuses the
        // segment moves the generation on first, then checks for readers (see `reuse`), so
        // one of the two sees the other. Dropping `map` uncounts it.
        map.readers().fetch_add(1, Ordering::SeqCst);
        let generation = map.generation().load(Ordering::SeqCst);
        if generation != lent.generation {
            return Err(format!(
                "{path} holds object {generation} of its owner, not object {} announced",
                lent.generation
            ));
        }
        Ok(Segment { map: Some(map) })
    }

    fn mapping(&self) -> &Mapping {
        self.map.as_ref().expect("a segment has its mapping until dropped")
    }

    /// The object's bytes.
    pub(crate) fn as_slice(&self) -> &[u8] {
        let map = self.mapping();
        // SAFETY: `len` bytes from `start` after the header lie in the mapping, which lives as
        // long as `self`.
        unsafe { std::slice::from_raw_parts(map.base.as_ptr().add(header() + map.start), map.len) }
    }

    /// The object's bytes to write, before the segment is lent: only its owner has them.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        let map = self.map.as_mut().expect("a segment has its mapping until dropped");
        assert!(map.fd.is_some(), "only the owner writes a segment");
        // SAFETY: as in `as_slice`; `&mut self` is the only access in this process, and no
        // reader maps a segment before it is lent (a kept one is reused with no reader left).
        unsafe {
            std::slice::from_raw_parts_mut(map.base.as_ptr().add(header() + map.start), map.len)
        }
    }

    /// What a reader on this host needs to map it, if this process owns it.
    pub(crate) fn lend(&self) -> Option<SegmentRef> {
        let map = self.mapping();
        let fd = map.fd.as_ref()?;
        Some(SegmentRef {
            fd: fd.as_raw_fd(),
            device: map.device,
            inode: map.inode,
            generation: map.generation().load(Ordering::SeqCst),
            start: map.start as u64,
            len: map.len as u64,
        })
    }

    /// The readers that map it now, in any process.
    #[cfg(test)]
    fn readers(&self) -> u32 {
        self.mapping().readers().load(Ordering::Acquire)
    }
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let map = self.mapping();
        f.debug_struct("Segment")
            .field("len", &map.len)
            .field("inode", &map.inode)
            .field("owned", &map.fd.is_some())
            .finish()
    }
}

/// An owner's freed segments kept for new objects: at most [`MOST_KEPT_SEGMENTS`] of them and
/// `buffer::kept_bytes` bytes, the oldest given up first. One still mapped by a reader (whose
/// `Cleanup` has not come yet) is reused only once that reader has let it go.
static KEPT_SEGMENTS: Mutex<Vec<Mapping>> = Mutex::new(Vec::new());
const MOST_KEPT_SEGMENTS: usize = 4;
/// Smaller segments are not kept: their pages cost little to make.
const KEEP_FROM: usize = 64 << 10;

fn kept_segments() -> std::sync::MutexGuard<'static, Vec<Mapping>> {
    KEPT_SEGMENTS.lock().unwrap_or_else(|e| e.into_inner())
}

/// A kept segment with room for `len` bytes (after the header) and at most a quarter more, that
/// no reader maps.
/// Its generation moves on before its readers are counted, so a reader that maps it with a
/// stale `SegmentRef` (a bug of the protocol's: lent segments are held until mapped) fails
/// instead of reading the next object.
fn reuse(len: usize) -> Option<Mapping> {
    let mut kept = kept_segments();
    let unread = |map: &Mapping| {
        map.generation().fetch_add(1, Ordering::SeqCst);
        map.readers().load(Ordering::SeqCst) == 0
    };
    let best = (0..kept.len())
        .filter(|i| (len..=len.saturating_add(len / 4)).contains(&kept[*i].capacity()))
        .min_by_key(|i| kept[*i].capacity())
        .filter(|i| unread(&kept[*i]))?;
    Some(kept.remove(best))
}

impl Drop for Segment {
    /// An owner's segment goes to the kept ones (giving up the oldest beyond the bounds); a
    /// reader's mapping is let go. The kept ones are dropped outside the lock.
    fn drop(&mut self) {
        let Some(map) = self.map.take() else { return };
        let keeps = (KEEP_FROM..=crate::buffer::kept_bytes()).contains(&map.capacity());
        if map.fd.is_none() || !keeps {
            return;
        }
        let mut given_up = Vec::new();
        {
            let mut kept = kept_segments();
            kept.push(map);
            let mut bytes: usize = kept.iter().map(Mapping::capacity).sum();
            while kept.len() > MOST_KEPT_SEGMENTS || bytes > crate::buffer::kept_bytes() {
                let oldest = kept.remove(0);
                bytes -= oldest.capacity();
                given_up.push(oldest);
            }
        }
        drop(given_up);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_maps_what_the_owner_wrote_and_a_kept_segment_waits_for_its_readers() {
        // Sizes of this test only (the crate's tests share the kept segments): 3 MiB and up.
        let len = (3 << 20) + 5;
        let mut owned = Segment::create(0, len).unwrap();
        owned.as_mut_slice().iter_mut().enumerate().for_each(|(i, b)| *b = (i % 251) as u8);
        let lent = owned.lend().unwrap();
        assert_eq!(lent.len, len as u64);
        let read = Segment::open(std::process::id(), lent).unwrap();
        assert!(read.lend().is_none(), "a reader does not lend what it does not own");
        assert!(read.as_slice().iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
        assert_eq!(owned.readers(), 1);

        // Freed while a reader maps it: kept, but not reused until the reader lets it go.
        drop(owned);
        let other = Segment::create(0, len).unwrap();
        assert_ne!(other.lend().unwrap().inode, lent.inode, "a mapped segment is not reused");
        drop(read);
        let again = Segment::create(0, len - 7).unwrap();
        let relent = again.lend().unwrap();
        assert_eq!(relent.inode, lent.inode, "reused once no reader maps it");
        assert!(relent.generation > lent.generation, "as another object");
        assert_eq!(again.as_slice().len(), len - 7);
        let stale = Segment::open(std::process::id(), lent).unwrap_err();
        assert!(stale.contains("announced"), "the old object's ref maps nothing: {stale}");
        drop(other);
    }

    #[test]
    fn a_wrong_inode_or_a_short_file_is_refused() {
        let owned = Segment::create(40, 4 << 20).unwrap();
        let lent = owned.lend().unwrap();
        let pid = std::process::id();
        let wrong = Segment::open(pid, SegmentRef { inode: lent.inode + 1, ..lent }).unwrap_err();
        assert!(wrong.contains("is not the segment announced"), "{wrong}");
        let long = Segment::open(pid, SegmentRef { len: lent.len + 1, ..lent }).unwrap_err();
        assert!(long.contains("is not the segment announced"), "{long}");
        let device =
            Segment::open(pid, SegmentRef { device: lent.device ^ 1, ..lent }).unwrap_err();
        assert!(device.contains("is not the segment announced"), "{device}");
        let gone = Segment::open(pid, SegmentRef { fd: 1 << 20, ..lent }).unwrap_err();
        let stale = SegmentRef { generation: lent.generation + 1, ..lent };
        let stale = Segment::open(pid, stale).unwrap_err();
        assert!(stale.contains("holds object"), "{stale}");
        assert_eq!(owned.readers(), 0, "a refused reader is not counted");
        assert!(gone.contains("cannot open /proc/"), "{gone}");
    }
}
