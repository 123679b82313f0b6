//! What a rank says when MPI reports a failure on unidist's communicator: a peer whose process or
//! host died, or a link that timed out (UCX's "Endpoint timeout"). MPI's default handler ends
//! the job with a stack of MPI's own calls; unidist's handler first writes one line naming this
//! rank and, when the failing call had one, the peer and its host, then ends the job with
//! `MPI_Abort` the same way. A launcher that ends the job first (MPICH's hydra when a host's
//! proxy dies) leaves no time for it; Slurm's `srun` does not, and there this line, or the
//! heartbeat's, is what names the lost rank.

use std::cell::Cell;
use std::io::Write as _;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

use mpi::ffi::MPI_Comm;
use mpi::raw::AsRaw;
use mpi::topology::SimpleCommunicator;

use crate::id::Rank;
use crate::process_guard;

thread_local! {
    /// The rank the MPI call in progress on this thread talks to, if one.
    static PEER: Cell<Option<Rank>> = const { Cell::new(None) };
}

/// This process's rank on unidist's communicator.
static RANK: AtomicUsize = AtomicUsize::new(0);

/// Host names by rank, once the job's hosts are known.
static HOSTS: OnceLock<Vec<String>> = OnceLock::new();

/// Set by the first failure: a second one (from `MPI_Abort` itself) only waits for the end.
static FAILING: AtomicBool = AtomicBool::new(false);

/// Makes unidist's handler the one MPI calls on `comm`'s failures, instead of its default (or
/// whatever handler a program gave the communicator that `init_in` duplicated).
pub(crate) fn install(comm: &SimpleCommunicator, rank: Rank) -> Result<(), String> {
    RANK.store(rank, Ordering::Relaxed);
    type Handler = unsafe extern "C" fn(*mut MPI_Comm, *mut c_int);
    type Variadic = unsafe extern "C" fn(*mut MPI_Comm, *mut c_int, ...);
    // SAFETY: MPI calls the handler with the communicator and the error code, and possibly
    // more arguments that an implementation adds (Open MPI passes two); the caller cleans them
    // up. On the C ABIs Rust's MPI support targets (x86-64 and AArch64 System V), a function
    // that takes the two fixed arguments reads them where a variadic caller puts them. Stable
    // Rust cannot define a variadic function.
    let handler = unsafe { std::mem::transmute::<Handler, Variadic>(on_error) };
    let mut errhandler = std::mem::MaybeUninit::uninit();
    // SAFETY: a valid function and out-pointer; the handle is read only if MPI made it.
    let made =
        unsafe { mpi::ffi::MPI_Comm_create_errhandler(Some(handler), errhandler.as_mut_ptr()) };
    if made != mpi::ffi::MPI_SUCCESS as c_int {
        return Err(format!("MPI_Comm_create_errhandler failed (MPI error {made})"));
    }
    // SAFETY: made above.
    let mut errhandler = unsafe { errhandler.assume_init() };
    // SAFETY: a live communicator and a live handler; the communicator keeps its own reference,
    // so the handle is freed here.
    let set = unsafe { mpi::ffi::MPI_Comm_set_errhandler(comm.as_raw(), errhandler) };
    unsafe { mpi::ffi::MPI_Errhandler_free(&mut errhandler) };
    if set != mpi::ffi::MPI_SUCCESS as c_int {
        return Err(format!("MPI_Comm_set_errhandler failed (MPI error {set})"));
    }
    Ok(())
}

/// The job's hosts by rank, for the line.
pub(crate) fn set_hosts(hosts: Vec<String>) {
    let _ = HOSTS.set(hosts);
}

/// Runs `call`, an MPI call that talks to `peer`, so that a failure in it names the peer.
pub(crate) fn with_peer<T>(peer: Rank, call: impl FnOnce() -> T) -> T {
    /// Puts the previous peer back, even if `call` unwinds.
    struct Restore(Option<Rank>);
    impl Drop for Restore {
        fn drop(&mut self) {
            PEER.with(|p| p.set(self.0));
        }
    }
    let _restore = Restore(PEER.with(|p| p.replace(Some(peer))));
    call()
}

/// The rank that MPI's own text names ("Communication error with rank 2"), if it names one.
fn rank_in(text: &str) -> Option<Rank> {
    let (_, after) = text.split_once("with rank ")?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The line for a failure whose MPI text is `text`, in a call that talked to `peer`, if known.
/// MPI may report in one call a failure about another peer, so the rank its text names, if any,
/// comes first, and the line says which rank the call talked to rather than which one failed.
fn line(rank: Rank, peer: Option<Rank>, text: &str) -> String {
    let host = |r: Rank| match HOSTS.get().and_then(|h| h.get(r)) {
        Some(host) => host.clone(),
        // Before the job's hosts are known: this rank's own, named before MPI started.
        None if r == rank => crate::process_guard::host().to_string(),
        None => "unknown".to_string(),
    };
    match rank_in(text).or(peer) {
        Some(peer) => format!(
            "unidist: rank {rank} (host {}): MPI failed talking to rank {peer} on host {} \
             ({text}); that rank or its host is gone or unreachable; ending the job",
            host(rank),
            host(peer)
        ),
        None => {
            format!(
                "unidist: rank {rank} (host {}): MPI failed ({text}); ending the job",
                host(rank)
            )
        }
    }
}

unsafe extern "C" fn on_error(comm: *mut MPI_Comm, code: *mut c_int) {
    if FAILING.swap(true, Ordering::AcqRel) {
        loop {
            std::thread::park(); // the first failure is ending the process
        }
    }
    let mut text = vec![0_u8; mpi::ffi::MPI_MAX_ERROR_STRING as usize + 1];
    let mut len: c_int = 0;
    // SAFETY: MPI hands a valid error code; the buffer holds MPI_MAX_ERROR_STRING characters.
    unsafe { mpi::ffi::MPI_Error_string(*code, text.as_mut_ptr().cast(), &mut len) };
    text.truncate(len.max(0) as usize);
    let text = String::from_utf8_lossy(&text);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let peer = PEER.with(Cell::get);
    let _ = writeln!(std::io::stderr(), "{}", line(RANK.load(Ordering::Relaxed), peer, &text));
    // SAFETY: MPI hands the communicator of the failed call.
    process_guard::abort_mpi_job(unsafe { *comm })
}

#[cfg(test)]
mod tests {
    use super::line;

    #[test]
    fn the_line_names_the_peer_of_the_call_or_the_rank_mpi_names() {
        let l = line(0, Some(2), "Endpoint timeout");
        assert!(l.starts_with("unidist: rank 0 (host "), "{l}");
        assert!(l.contains("MPI failed talking to rank 2 on host "), "{l}");
        assert!(l.contains("(Endpoint timeout)") && l.ends_with("ending the job"), "{l}");
        // MPI's text names another rank than the call's peer: that one is the lost one.
        let l = line(0, Some(1), "Communication error with rank 3: Connection reset");
        assert!(l.contains("talking to rank 3 on host "), "{l}");
        let l = line(1, None, "Other MPI error");
        assert!(l.starts_with("unidist: rank 1 (host ") && l.contains("MPI failed ("), "{l}");
        assert!(!l.contains("host unknown"), "its own host is always known: {l}");
    }
}
