//! Waiting a moment before sleeping: how long a thread that waits for something short polls
//! before it blocks, for the answers of blocking calls, the executor's idle threads and the local
//! transport's loop alike.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a thread that waits for a short answer polls before it sleeps, in microseconds.
///
/// On the local backend every hand-over is between threads of one process, and waking a
/// sleeping thread costs tens of microseconds on a busy virtual machine, more than most answers
/// take: 50 us of polling pays. Under MPI the answers come from other processes, which need the
/// same cores: a polling thread here only slows them (measured on 2 cores with 3 ranks: a
/// roundtrip of ~100 us with 50 us of polling, ~20-35 us without), so MPI ranks do not poll.
static SPIN_MICROS: AtomicU64 = AtomicU64::new(50);

/// Sets how long waiting threads poll before they sleep (see [`SPIN_MICROS`]): MPI ranks do not.
#[cfg(feature = "mpi")]
pub(crate) fn set_spin(spin: Duration) {
    SPIN_MICROS.store(spin.as_micros() as u64, Ordering::Relaxed);
}

/// Polls `until` for a moment (see [`SPIN_MICROS`]), yielding the core between polls so that a
/// busy machine loses nothing; true once it holds.
pub(crate) fn spin_until(mut until: impl FnMut() -> bool) -> bool {
    let spin = Duration::from_micros(SPIN_MICROS.load(Ordering::Relaxed));
    let deadline = Instant::now() + spin;
    loop {
        if until() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::yield_now();
    }
}
