//! What happens when a process of the job ends while the runtime runs: a task that calls
//! `std::process::exit` (even with code 0), aborts, or crashes on a signal; or the root's `main`
//! that returns without `shutdown`.
//!
//! A worker process that ends under a running runtime would leave the job hanging, or (`exit(0)`
//! under MPICH's hydra) end it with success and lost results. So each worker has an exit hook and
//! handlers for the crash signals that write one line naming the rank and the running task, then
//! end the whole job with `MPI_Abort`. A `SIGKILL` cannot be caught: the launcher then ends the
//! job and reports the rank. On the root, `main` returning without `shutdown` shuts the runtime
//! down cleanly (as unidist does at exit); a task that calls `exit` on the local backend ends the
//! process with a failure code and the same line.

#[cfg(feature = "mpi")]
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

/// The exit code of a job that a fault ended (here, or by the MPI transport's `MPI_Abort`).
pub(crate) const FAULT_EXIT_CODE: i32 = 70;

/// How long a rank that ends the job waits between writing its line and `MPI_Abort`: the
/// launcher forwards the rank's stderr through a pipe and drops what it has not read yet when the
/// abort tears the job down.
pub(crate) const ABORT_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

const NONE: u8 = 0;
const ROOT: u8 = 1;
const MPI_WORKER: u8 = 2;

static ROLE: AtomicU8 = AtomicU8::new(NONE);
static RANK: AtomicUsize = AtomicUsize::new(0);
/// This process's host, for the line a dying rank writes.
static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
/// Set once the process may end: after `shutdown`, or when a worker's loop has stopped.
static EXIT_EXPECTED: AtomicBool = AtomicBool::new(false);

/// What the root's process does when `main` returns without `shutdown`: handed over by the
/// runtime (a layer above) when it installs the hook.
static AT_EXIT: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Names this process's host in the line a dying rank writes (and in MPI's failure lines).
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
pub(crate) fn set_host(host: &str) {
    let _ = HOST.set(host.to_string());
}

/// This process's host, as [`set_host`] named it, or `?`.
pub(crate) fn host() -> &'static str {
    HOST.get().map_or("?", String::as_str)
}

/// From now on the process may end without a fault.
pub(crate) fn expect_exit() {
    EXIT_EXPECTED.store(true, Ordering::Release);
}

/// Installs the exit hook of the root's process (either backend), which calls `shutdown` if
/// `main` ends while the runtime runs.
pub(crate) fn install_root(shutdown: fn()) {
    let _ = AT_EXIT.set(shutdown);
    install(ROOT, 0);
}

/// Installs the exit hook and crash handlers of an MPI worker's process.
#[cfg(feature = "mpi")]
pub(crate) fn install_mpi_worker(rank: usize) {
    install(MPI_WORKER, rank);
    let mut saved = SAVED_ACTIONS.lock().unwrap_or_else(|e| e.into_inner());
    for signal in CRASH_SIGNALS {
        // SAFETY: `on_signal` only formats into a stack buffer, writes it with `write(2)` and
        // calls `MPI_Abort` (not async-signal-safe, but the process is going down anyway and
        // the alternative is a job that hangs). SA_ONSTACK: a stack overflow runs it on the
        // alternate stack Rust sets up for each thread.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(signal, &action, &mut old);
            saved.push((signal, old));
        }
    }
}

/// The signals that an MPI worker reports as the death of its rank.
#[cfg(feature = "mpi")]
const CRASH_SIGNALS: [i32; 5] =
    [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE, libc::SIGABRT];

/// The program's own handlers of [`CRASH_SIGNALS`], put back when the worker stops.
#[cfg(feature = "mpi")]
static SAVED_ACTIONS: std::sync::Mutex<Vec<(i32, libc::sigaction)>> =
    std::sync::Mutex::new(Vec::new());

/// An MPI worker's loop has ended at shutdown: the process may end, and a crash from now on is
/// the program's own (`init_in` returns to it), so the program's signal handlers come back.
#[cfg(feature = "mpi")]
pub(crate) fn worker_stopped() {
    expect_exit();
    let mut saved = SAVED_ACTIONS.lock().unwrap_or_else(|e| e.into_inner());
    for (signal, old) in saved.drain(..) {
        // SAFETY: puts back the action that `install_mpi_worker` replaced.
        unsafe {
            libc::sigaction(signal, &old, std::ptr::null_mut());
        }
    }
}

fn install(role: u8, rank: usize) {
    if ROLE.swap(role, Ordering::AcqRel) != NONE {
        return;
    }
    RANK.store(rank, Ordering::Release);
    // SAFETY: registers a plain `extern "C" fn()`; it never unwinds (see `on_exit`).
    unsafe {
        libc::atexit(on_exit);
    }
}

fn task_name() -> &'static str {
    crate::context::function_path().unwrap_or("<none: between tasks>")
}

extern "C" fn on_exit() {
    if EXIT_EXPECTED.load(Ordering::Acquire) {
        return;
    }
    // A panic must not unwind out of an `extern "C"` function.
    let _ = std::panic::catch_unwind(|| match ROLE.load(Ordering::Acquire) {
        MPI_WORKER => {
            let rank = RANK.load(Ordering::Acquire);
            let _ = writeln!(
                std::io::stderr(),
                "unidist: rank {rank} on host {}: the process is exiting while the runtime runs, in \
                 task `{}`: a remote function must return, never end its process; ending the job",
                host(),
                task_name()
            );
            abort_job();
        }
        ROOT if crate::context::function_path().is_some() => {
            let _ = writeln!(
                std::io::stderr(),
                "unidist: the process is exiting while the runtime runs, in task `{}`: a remote \
                 function must return, never end its process",
                task_name()
            );
            // SAFETY: ends the process at once, with no further hooks.
            unsafe { libc::_exit(FAULT_EXIT_CODE) }
        }
        // `main` returned, or called `exit`, without `shutdown`: shut down as it should have.
        ROOT => {
            if let Some(shutdown) = AT_EXIT.get() {
                shutdown();
            }
        }
        _ => {}
    });
}

#[cfg(feature = "mpi")]
extern "C" fn on_signal(signal: i32, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let mut line = [0_u8; 512];
    let mut out = Cursor { buffer: &mut line, len: 0 };
    let rank = RANK.load(Ordering::Relaxed);
    let name = match signal {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGABRT => "SIGABRT",
        _ => "a signal",
    };
    let _ = writeln!(
        out,
        "unidist: rank {rank} on host {}: the process got {name} while the runtime ran, in task `{}`; ending the job",
        host(),
        task_name()
    );
    // SAFETY: writes initialized bytes of a stack buffer to stderr.
    unsafe {
        libc::write(2, out.buffer.as_ptr().cast(), out.len);
    }
    abort_job();
}

/// A fixed buffer to format into without allocating (in a signal handler).
#[cfg(feature = "mpi")]
struct Cursor<'a> {
    buffer: &'a mut [u8],
    len: usize,
}

#[cfg(feature = "mpi")]
impl std::fmt::Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let n = s.len().min(self.buffer.len() - self.len);
        self.buffer[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Ends every process of the job.
fn abort_job() -> ! {
    // SAFETY: reads the world communicator's handle, which rsmpi's shim defines once.
    #[cfg(feature = "mpi")]
    abort_mpi_job(unsafe { mpi::ffi::RSMPI_COMM_WORLD });
    #[cfg(not(feature = "mpi"))]
    {
        std::thread::sleep(ABORT_GRACE);
        // SAFETY: ends the process at once.
        unsafe { libc::_exit(FAULT_EXIT_CODE) }
    }
}

/// Ends every process of the job with `MPI_Abort` on `comm`, after [`ABORT_GRACE`]; ends this
/// process at once should `MPI_Abort` return.
#[cfg(feature = "mpi")]
pub(crate) fn abort_mpi_job(comm: mpi::ffi::MPI_Comm) -> ! {
    std::thread::sleep(ABORT_GRACE);
    // SAFETY: MPI is initialized in this process, and `comm` is a live communicator of it;
    // MPI_Abort does not return, and `_exit` ends the process at once if it did.
    unsafe {
        mpi::ffi::MPI_Abort(comm, FAULT_EXIT_CODE);
        libc::_exit(FAULT_EXIT_CODE)
    }
}
