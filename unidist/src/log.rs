//! Logging with `tracing`, off unless `UNIDIST_LOG` names a level (`error`, `warn`, `info`,
//! `debug` or `trace`; read by `settings`): then each process writes its lines to stderr, every
//! line with the rank of the thread that wrote it (`rank=0` for the root's own threads). A
//! program that installs its own `tracing` subscriber gets the runtime's events there instead.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use tracing::Level;

/// The rank of this process (the MPI backend), for threads that have no rank of their own.
static PROCESS_RANK: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD_RANK: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The rank that a line logged by this thread belongs to.
pub(crate) fn rank() -> usize {
    THREAD_RANK
        .try_with(|r| r.get())
        .ok()
        .flatten()
        .unwrap_or_else(|| PROCESS_RANK.load(Ordering::Relaxed))
}

/// Marks this thread as one of rank `rank` (the local backend runs every rank in one process).
pub(crate) fn set_thread_rank(rank: usize) {
    THREAD_RANK.with(|r| r.set(Some(rank)));
}

/// Marks this process as rank `rank` (the MPI backend).
#[cfg(feature = "mpi")]
pub(crate) fn set_process_rank(rank: usize) {
    PROCESS_RANK.store(rank, Ordering::Relaxed);
}

/// Installs a subscriber that writes to stderr at `level` (`UNIDIST_LOG`), if one is given.
pub(crate) fn init(level: Option<Level>) {
    let Some(level) = level else { return };
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_thread_names(true)
        .finish();
    // A program with a subscriber of its own keeps it.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// Logs an event at `level` with the rank of the calling thread.
macro_rules! event {
    ($level:ident, $($arg:tt)+) => {
        ::tracing::$level!(rank = $crate::log::rank(), $($arg)+)
    };
}
pub(crate) use event;
