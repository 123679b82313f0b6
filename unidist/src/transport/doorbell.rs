//! A doorbell: how another thread, or another process on the same host, wakes a loop thread
//! that waits for work (timely's `Buzzer`, over a futex so that it works across processes).
//!
//! The bell is one 32-bit word of flags: rung by a thread of this process, rung by a peer
//! process, its owner (the loop's thread) asleep on it, another thread driving the loop in the
//! owner's place ([`Doorbell::drive`]), and that driver asleep on it. Ringing is one atomic `or`,
//! plus a futex wake of whichever of the two sleeps in the loop's place (futex bitsets tell them
//! apart); a waiter that finds it rung returns at once. A ring that comes while the loop is busy
//! is kept until its next wait, so none is lost; the worst a ring can cause is one early wake-up.
//! The loop takes the local rings at the start of a round ([`Doorbell::take_local`]) and leaves a
//! peer's ring for its transport's wait, which then knows a message is on its way.
//!
//! The word lives in this process's memory ([`Doorbell::new`]), or in a page of shared memory
//! ([`Doorbell::create`], [`Doorbell::open`]) that the MPI ranks of one host map, so that a rank
//! that sends another a batch rings it: MPI itself cannot wake a thread that sleeps.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const QUIET: u32 = 0;
/// Rung by a thread of this process.
const LOCAL: u32 = 1;
/// The owner sleeps on the word: a ring must wake it.
const SLEEPING: u32 = 2;
/// Rung by another process (an MPI rank of this host that sent this one a batch).
const PEER: u32 = 4;
const RUNG: u32 = LOCAL | PEER;
/// Another thread of the owner's process runs its loop (see [`Doorbell::drive`]): a ring wakes
/// that driver if it sleeps, never the owner, and the driver wakes the owner when it stops if one
/// came meanwhile.
const DRIVEN: u32 = 8;
/// The driver sleeps on the word ([`Doorbell::wait_driving`]): a ring must wake it.
const DRIVER_SLEEPING: u32 = 16;

/// Futex bitsets: the owner and the driver sleep on the same word, and a ring wakes only the
/// one whose turn it is.
const OWNER: u32 = 1;
const DRIVER: u32 = 2;

/// The size of a shared bell's file: one page.
const PAGE: usize = 4096;

pub(crate) struct Doorbell {
    word: NonNull<AtomicU32>,
    storage: Storage,
}

enum Storage {
    /// In this process: a boxed word (`Box::into_raw`), freed when the bell is dropped.
    Heap,
    /// A shared page, unmapped when the bell is dropped.
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    Mapped,
}

// SAFETY: the word is an atomic, in memory that lives as long as the bell (the box it owns, or a
// mapping it unmaps only on drop); every access goes through atomic operations.
unsafe impl Send for Doorbell {}
unsafe impl Sync for Doorbell {}

impl Doorbell {
    /// A bell in this process's memory.
    pub(crate) fn new() -> Arc<Doorbell> {
        let word = NonNull::from(Box::leak(Box::new(AtomicU32::new(QUIET))));
        Arc::new(Doorbell { word, storage: Storage::Heap })
    }

    /// A bell in a new file of shared memory at `path` (under `/dev/shm`), which other processes
    /// of the host [`open`](Doorbell::open) to ring it. The creator removes the file once they
    /// have: the mappings outlive it.
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    pub(crate) fn create(path: &Path) -> std::io::Result<Arc<Doorbell>> {
        let file =
            OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(path)?;
        // Allocated now, not at the first ring: a full /dev/shm is an error here, not a SIGBUS.
        // SAFETY: fallocate on a file this function just opened for writing.
        let failed = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, PAGE as libc::off_t) };
        if failed != 0 {
            let _ = std::fs::remove_file(path);
            return Err(std::io::Error::from_raw_os_error(failed));
        }
        Doorbell::map(&file)
    }

    /// The bell another process [`create`](Doorbell::create)d at `path`.
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    pub(crate) fn open(path: &Path) -> std::io::Result<Arc<Doorbell>> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        if file.metadata()?.len() < PAGE as u64 {
            return Err(std::io::Error::other("not a doorbell: shorter than a page"));
        }
        Doorbell::map(&file)
    }

    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    fn map(file: &std::fs::File) -> std::io::Result<Arc<Doorbell>> {
        // SAFETY: a shared, read-write mapping of one page of a file opened read-write; the
        // mapping stays valid after the file is closed (and removed) until `Drop` unmaps it.
        let at = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if at == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let word = NonNull::new(at.cast::<AtomicU32>()).expect("mmap never maps address 0");
        Ok(Arc::new(Doorbell { word, storage: Storage::Mapped }))
    }

    fn word(&self) -> &AtomicU32 {
        // SAFETY: see `unsafe impl Sync`: the word lives as long as `self`.
        unsafe { self.word.as_ref() }
    }

    fn shared(&self) -> bool {
        matches!(self.storage, Storage::Mapped)
    }

    /// Wakes the bell's owner if it waits (the thread that drives its loop, while one does), or
    /// makes its next wait return at once.
    pub(crate) fn ring(&self) {
        self.ring_with(LOCAL);
    }

    /// [`ring`](Doorbell::ring) from another process, after sending the owner a message.
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    pub(crate) fn ring_peer(&self) {
        self.ring_with(PEER);
    }

    fn ring_with(&self, flag: u32) {
        let word = self.word();
        let before = word.fetch_or(flag, Ordering::AcqRel);
        if before & DRIVEN != 0 {
            if before & DRIVER_SLEEPING != 0 {
                self.wake(DRIVER_SLEEPING, DRIVER);
            }
        } else if before & SLEEPING != 0 {
            self.wake_sleeper();
        }
    }

    /// Wakes the owner if it sleeps: of several wakers, the one that clears the sleeping flag.
    fn wake_sleeper(&self) {
        self.wake(SLEEPING, OWNER);
    }

    /// Wakes the sleeper marked by `flag` (`SLEEPING` for the owner, `DRIVER_SLEEPING` for the
    /// driver), waiting with futex bitset `role`, if the flag is still set.
    fn wake(&self, flag: u32, role: u32) {
        let word = self.word();
        if word.fetch_and(!flag, Ordering::AcqRel) & flag != 0 {
            futex::wake(word, role, self.shared());
        }
    }

    /// From a thread that runs the owner's loop in its place (a caller waiting for an answer):
    /// until [`undrive`](Doorbell::undrive), rings wake that thread if it sleeps on the bell
    /// ([`wait_driving`](Doorbell::wait_driving)), not the owner. Only one thread drives at a time.
    pub(crate) fn drive(&self) {
        self.word().fetch_or(DRIVEN, Ordering::AcqRel);
    }

    /// True while a thread drives the owner's loop.
    pub(crate) fn driven(&self) -> bool {
        self.word().load(Ordering::Acquire) & DRIVEN != 0
    }

    /// The driver stops, having taken (with [`take`](Doorbell::take)) the rings before its last
    /// round: wakes the owner if one came since, since the driver may have missed its batch.
    pub(crate) fn undrive(&self) {
        if self.word().fetch_and(!DRIVEN, Ordering::AcqRel) & RUNG != 0 {
            self.wake_sleeper();
        }
    }

    /// True while the driver sleeps on the bell.
    #[cfg(test)]
    pub(crate) fn driver_sleeping(&self) -> bool {
        self.word().load(Ordering::Acquire) & DRIVER_SLEEPING != 0
    }

    /// True if the bell rang since the last wait took the ring.
    #[cfg(test)]
    pub(crate) fn rung(&self) -> bool {
        self.word().load(Ordering::Acquire) & RUNG != 0
    }

    /// Takes the ring without waiting: true if the bell had rung. Only the thread that drives
    /// the loop takes so (and tests); the owner takes with [`take_as_owner`](Doorbell::take_as_owner).
    pub(crate) fn take(&self) -> bool {
        self.word().fetch_and(!RUNG, Ordering::AcqRel) & RUNG != 0
    }

    /// [`take`](Doorbell::take) by the owner: while a thread drives its loop, the rings are that
    /// thread's (it may sleep on the bell until one comes), so the owner takes none.
    pub(crate) fn take_as_owner(&self) -> bool {
        let taken = self.word().fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
            (word & DRIVEN == 0 && word & RUNG != 0).then_some(word & !RUNG)
        });
        taken.is_ok()
    }

    /// Takes the rings of this process's threads only, leaving a peer's for the next wait.
    pub(crate) fn take_local(&self) -> bool {
        self.word().fetch_and(!LOCAL, Ordering::AcqRel) & LOCAL != 0
    }

    /// Waits on the calling thread, the bell's owner, until the bell rings or `timeout` passes
    /// (`None`: until it rings); takes the ring. True if it rang.
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> bool {
        self.sleep(timeout, SLEEPING, OWNER)
    }

    /// [`wait`](Doorbell::wait), from the thread that drives the owner's loop (between
    /// [`drive`](Doorbell::drive) and [`undrive`](Doorbell::undrive)): it sleeps on the bell in
    /// the owner's place, and rings wake it, not the owner.
    pub(crate) fn wait_driving(&self, timeout: Option<Duration>) -> bool {
        self.sleep(timeout, DRIVER_SLEEPING, DRIVER)
    }

    /// Sleeps, as the owner, while another thread drives its loop, until the driver stops after
    /// a ring or leaves it work, or `timeout` passes. Takes no ring: they are the driver's until
    /// it stops. Returns at once if no thread drives.
    pub(crate) fn wait_while_driven(&self, timeout: Duration) {
        let word = self.word();
        let now = word.load(Ordering::Acquire);
        if now & DRIVEN == 0 {
            return;
        }
        let asleep = now | SLEEPING;
        if word.compare_exchange(now, asleep, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            futex::wait(word, asleep, Some(timeout), OWNER, self.shared());
            word.fetch_and(!SLEEPING, Ordering::AcqRel);
        }
    }

    /// Waits until the bell rings or `timeout` passes, marked asleep by `flag` and sleeping with
    /// futex bitset `role`; takes the ring. True if it rang. The owner takes no ring while a
    /// thread drives its loop: it sleeps on, with the rings left for the driver.
    fn sleep(&self, timeout: Option<Duration>, flag: u32, role: u32) -> bool {
        let owner = role == OWNER;
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if if owner { self.take_as_owner() } else { self.take() } {
                return true;
            }
            let remaining = match deadline {
                None => None,
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return false,
                },
            };
            // Asleep from now on, unless a ring came in between (then take it above).
            let word = self.word();
            let now = word.load(Ordering::Acquire);
            let driven = owner && now & DRIVEN != 0;
            let quiet = if driven { now & !flag } else { now & !(RUNG | flag) };
            let asleep = quiet | flag;
            if word.compare_exchange(quiet, asleep, Ordering::AcqRel, Ordering::Acquire).is_err() {
                continue;
            }
            futex::wait(word, asleep, remaining, role, self.shared());
            // Rung (taken above), timed out or woken for nothing: not asleep any more.
            word.fetch_and(!flag, Ordering::AcqRel);
        }
    }
}

impl Drop for Doorbell {
    fn drop(&mut self) {
        match self.storage {
            // SAFETY: the page `map` mapped; nothing uses it after the bell is gone.
            Storage::Mapped => unsafe {
                libc::munmap(self.word.as_ptr().cast(), PAGE);
            },
            // SAFETY: the box `new` leaked; nothing uses it after the bell is gone.
            Storage::Heap => unsafe { drop(Box::from_raw(self.word.as_ptr())) },
        }
    }
}

/// The futex calls: sleeping on a word until another thread or process changes it and wakes it.
#[cfg(target_os = "linux")]
mod futex {
    use std::sync::atomic::AtomicU32;
    use std::time::Duration;

    fn op(base: libc::c_int, shared: bool) -> libc::c_int {
        if shared {
            base
        } else {
            base | libc::FUTEX_PRIVATE_FLAG
        }
    }

    /// Sleeps while `word` holds `expected`, up to `timeout`, until a wake for a bitset that
    /// shares a bit with `role`. `shared`: the word is in memory other processes map (a private
    /// futex is cheaper, but only wakes within this process).
    pub(super) fn wait(
        word: &AtomicU32,
        expected: u32,
        timeout: Option<Duration>,
        role: u32,
        shared: bool,
    ) {
        // A bitset wait's timeout is a deadline on the monotonic clock.
        let deadline = timeout.map(|t| {
            let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            // SAFETY: clock_gettime fills the timespec it is given.
            unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
            let nanos = now.tv_nsec as u64 + u64::from(t.subsec_nanos());
            let secs = t.as_secs().min(i32::MAX as u64) as libc::time_t;
            libc::timespec {
                tv_sec: now.tv_sec.saturating_add(secs) + (nanos / 1_000_000_000) as libc::time_t,
                tv_nsec: (nanos % 1_000_000_000) as libc::c_long,
            }
        });
        let at = deadline.as_ref().map_or(std::ptr::null(), |s| s as *const libc::timespec);
        // SAFETY: a futex wait on a live, aligned 32-bit word; the deadline outlives the call. A
        // wake, a timeout, a signal or a changed word all just return.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                op(libc::FUTEX_WAIT_BITSET, shared),
                expected,
                at,
                0usize,
                role,
            );
        }
    }

    /// Wakes the one thread that sleeps on `word` with a bitset that shares a bit with `role`.
    pub(super) fn wake(word: &AtomicU32, role: u32, shared: bool) {
        // SAFETY: a futex wake on a live, aligned 32-bit word.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                op(libc::FUTEX_WAKE_BITSET, shared),
                1,
                0usize,
                0usize,
                role,
            );
        }
    }
}

/// Elsewhere: short sleeps in place of a futex (unidist's MPI support targets Linux).
#[cfg(not(target_os = "linux"))]
mod futex {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{Duration, Instant};

    pub(super) fn wait(
        word: &AtomicU32,
        expected: u32,
        timeout: Option<Duration>,
        _: u32,
        _: bool,
    ) {
        let step = Duration::from_micros(50);
        let deadline = timeout.map(|t| Instant::now() + t);
        while word.load(Ordering::Acquire) == expected {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return;
            }
            std::thread::sleep(step);
        }
    }

    pub(super) fn wake(_: &AtomicU32, _: u32, _: bool) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_before_the_wait_is_kept() {
        let bell = Doorbell::new();
        bell.ring();
        assert!(bell.rung());
        bell.wait(None); // returns at once
        assert!(!bell.rung(), "the wait takes the ring");
    }

    #[test]
    fn a_ring_from_another_thread_ends_a_wait_without_timeout() {
        let bell = Doorbell::new();
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let waiter = {
            let bell = Arc::clone(&bell);
            std::thread::spawn(move || {
                ready_tx.send(()).unwrap();
                bell.wait(None);
            })
        };
        ready.recv().unwrap();
        bell.ring();
        waiter.join().unwrap();
    }

    #[test]
    fn a_wait_with_a_timeout_ends_without_a_ring() {
        let bell = Doorbell::new();
        bell.wait(Some(Duration::from_millis(1)));
        assert!(!bell.rung());
    }

    #[test]
    fn take_silences_the_bell() {
        let bell = Doorbell::new();
        assert!(!bell.take());
        bell.ring();
        assert!(bell.take());
        assert!(!bell.rung() && !bell.take());
    }

    #[test]
    fn many_rings_make_one_wake_up() {
        let bell = Doorbell::new();
        for _ in 0..10 {
            bell.ring();
        }
        bell.wait(None);
        assert!(!bell.rung());
    }

    #[test]
    fn a_ring_from_another_thread_ends_a_wait_with_a_long_timeout() {
        let bell = Doorbell::new();
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let waiter = {
            let bell = Arc::clone(&bell);
            std::thread::spawn(move || {
                ready_tx.send(()).unwrap();
                // An hour: only the ring ends this wait within the test.
                bell.wait(Some(Duration::from_secs(3600)));
                bell.rung()
            })
        };
        ready.recv().unwrap();
        bell.ring();
        assert!(!waiter.join().unwrap(), "the wait took the ring");
    }

    #[test]
    fn a_ring_from_another_thread_is_kept_for_take() {
        let bell = Doorbell::new();
        let ringer = {
            let bell = Arc::clone(&bell);
            std::thread::spawn(move || bell.ring())
        };
        ringer.join().unwrap();
        assert!(bell.take());
        assert!(!bell.take(), "one ring, taken once");
    }

    #[test]
    fn a_shared_bell_rung_through_another_mapping_wakes_its_owner() {
        let path = std::env::temp_dir().join(format!("unidist-bell-test-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let own = Doorbell::create(&path).expect("a bell in a file");
        let other = Doorbell::open(&path).expect("the same bell, mapped again");
        std::fs::remove_file(&path).expect("the creator removes the file");
        assert!(Doorbell::create(&path).is_ok_and(|_| std::fs::remove_file(&path).is_ok()));
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let waiter = {
            let own = Arc::clone(&own);
            std::thread::spawn(move || {
                ready_tx.send(()).unwrap();
                own.wait(None);
                own.rung()
            })
        };
        ready.recv().unwrap();
        other.ring();
        assert!(!waiter.join().unwrap(), "woken through the other mapping, and the ring taken");
        other.ring();
        assert!(own.take(), "a ring through one mapping is seen through the other");
    }

    #[test]
    fn the_loop_takes_local_rings_and_leaves_a_peers_for_the_wait() {
        let bell = Doorbell::new();
        bell.ring();
        bell.ring_peer();
        assert!(bell.take_local(), "the local ring");
        assert!(bell.rung(), "the peer's ring is kept");
        assert!(bell.wait(None), "the wait takes it and says so");
        assert!(!bell.rung());
        bell.ring_peer();
        assert!(!bell.take_local(), "no local ring to take");
        assert!(bell.take());
    }

    #[test]
    fn rings_do_not_wake_the_owner_of_a_driven_bell_until_the_driver_stops() {
        let bell = Doorbell::new();
        let word = bell.word();
        // The owner asleep, as `wait` marks it.
        word.fetch_or(SLEEPING, Ordering::AcqRel);
        bell.drive();
        bell.ring_peer();
        bell.ring();
        assert_ne!(word.load(Ordering::Acquire) & SLEEPING, 0, "nobody woke the owner");
        bell.undrive();
        assert_eq!(word.load(Ordering::Acquire) & SLEEPING, 0, "the driver's stop woke it");
        assert!(bell.take(), "and the rings are kept for it");
        word.fetch_or(SLEEPING, Ordering::AcqRel);
        bell.ring();
        assert_eq!(word.load(Ordering::Acquire) & SLEEPING, 0, "undriven, a ring wakes it");
    }

    #[test]
    fn the_owner_of_a_driven_bell_sleeps_until_the_driver_stops_after_a_ring() {
        let bell = Doorbell::new();
        bell.drive();
        let owner = {
            let bell = Arc::clone(&bell);
            // An hour: only a ring or the driver's stop ends this wait within the test.
            std::thread::spawn(move || bell.wait(Some(Duration::from_secs(3600))))
        };
        bell.ring_peer();
        bell.undrive();
        assert!(owner.join().unwrap(), "the owner woke and took the ring");
    }

    #[test]
    fn a_driver_that_took_every_ring_leaves_the_owner_asleep() {
        let bell = Doorbell::new();
        bell.drive();
        bell.ring_peer();
        assert!(bell.take(), "the driver takes the ring before its round");
        bell.undrive();
        assert!(!bell.rung());
        assert!(!bell.wait(Some(Duration::from_millis(1))), "nothing rang since");
        bell.ring();
        assert!(bell.wait(None), "an undriven bell wakes as before");
    }

    #[test]
    fn a_ring_wakes_the_driver_that_sleeps_on_a_driven_bell_and_leaves_the_owner_asleep() {
        let bell = Doorbell::new();
        let word = bell.word();
        // The owner asleep, as `wait_while_driven` marks it.
        word.fetch_or(SLEEPING, Ordering::AcqRel);
        bell.drive();
        let driver = {
            let bell = Arc::clone(&bell);
            // An hour: only the ring ends this wait within the test.
            std::thread::spawn(move || bell.wait_driving(Some(Duration::from_secs(3600))))
        };
        while !bell.driver_sleeping() {
            std::thread::yield_now();
        }
        bell.ring_peer();
        assert!(driver.join().unwrap(), "the driver woke and took the ring");
        assert_ne!(word.load(Ordering::Acquire) & SLEEPING, 0, "the owner was left asleep");
        bell.undrive();
        assert_ne!(word.load(Ordering::Acquire) & SLEEPING, 0, "no ring left for the owner");
    }

    #[test]
    fn the_owner_waits_while_driven_without_taking_the_driver_s_rings() {
        let bell = Doorbell::new();
        bell.wait_while_driven(Duration::from_secs(3600)); // not driven: returns at once
        bell.drive();
        let owner = {
            let bell = Arc::clone(&bell);
            // An hour: only the driver's stop after a ring ends this wait within the test.
            std::thread::spawn(move || bell.wait_while_driven(Duration::from_secs(3600)))
        };
        bell.ring_peer();
        assert!(bell.take(), "the ring is the driver's");
        bell.ring_peer();
        bell.undrive();
        owner.join().unwrap();
        assert!(bell.rung(), "the owner woke without taking the ring: its round's wait takes it");
    }

    #[test]
    fn the_owner_takes_no_ring_while_a_thread_drives_its_loop() {
        let bell = Doorbell::new();
        bell.drive();
        bell.ring_peer();
        assert!(!bell.take_as_owner(), "the ring is the driver's");
        assert!(!bell.wait(Some(Duration::from_millis(1))), "the owner's wait leaves it too");
        assert!(bell.take(), "the driver takes it");
        bell.ring();
        bell.undrive();
        assert!(bell.take_as_owner(), "once the driver stops, rings are the owner's again");
    }

    #[test]
    fn a_file_that_is_no_bell_is_refused() {
        let path = std::env::temp_dir().join(format!("unidist-not-a-bell-{}", std::process::id()));
        std::fs::write(&path, b"short").unwrap();
        let refused = Doorbell::open(&path);
        std::fs::remove_file(&path).unwrap();
        assert!(refused.is_err());
        assert!(Doorbell::open(&path).is_err(), "and a missing one too");
    }
}
