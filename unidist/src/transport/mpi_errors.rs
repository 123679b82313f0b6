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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use mpi::ffi::MPI_Comm;
use mpi::raw::AsRaw;
use mpi::topology::SimpleCommunicator;

use crate::process_guard;
use crate::protocol::Rank;

thread_local! {
    /// The rank the MPI call in progress on this thread talks to, if one.
    static PEER: Cell<Option<Rank>> = const { Cell::new(None) };
}

/// This process's rank on unidist's communicator.
static RANK: AtomicUsize = AtomicUsize::new(0);

/// Host names by rank, once the job's hosts are known.
static HOSTS: OnceLock<Vec<String>> = OnceLock::new();

/// Makes unidist's handler the one MPI calls on `comm`'s failures, instead of its default.
pub(crate) fn install(comm: &SimpleCommunicator, rank: Rank) {
    RANK.store(rank, Ordering::Relaxed);
    type Handler = unsafe extern "C" fn(*mut MPI_Comm, *mut c_int);
    type Variadic = unsafe extern "C" fn(*mut MPI_Comm, *mut c_int, ...);
    // SAFETY: MPI calls the handler with exactly these two arguments (the standard's trailing
    // `...` passes nothing); on the C ABIs Rust's MPI support targets, a function that takes the
    // fixed arguments reads them where a variadic caller puts them. Stable Rust cannot define a
    // variadic function.
    let handler = unsafe { std::mem::transmute::<Handler, Variadic>(on_error) };
    let mut errhandler = std::mem::MaybeUninit::uninit();
    // SAFETY: a valid function and out-pointer; then a live communicator and the handler made.
    unsafe {
        mpi::ffi::MPI_Comm_create_errhandler(Some(handler), errhandler.as_mut_ptr());
        mpi::ffi::MPI_Comm_set_errhandler(comm.as_raw(), errhandler.assume_init());
    }
}

/// The job's hosts by rank, for the line.
pub(crate) fn set_hosts(hosts: Vec<String>) {
    let _ = HOSTS.set(hosts);
}

/// Runs `call`, an MPI call that talks to `peer`, so that a failure in it names the peer.
pub(crate) fn with_peer<T>(peer: Rank, call: impl FnOnce() -> T) -> T {
    let before = PEER.with(|p| p.replace(Some(peer)));
    let result = call();
    PEER.with(|p| p.set(before));
    result
}

/// The line for a failure whose MPI text is `text`, in a call that talked to `peer`, if known.
fn line(rank: Rank, peer: Option<Rank>, text: &str) -> String {
    let host = |r: Rank| HOSTS.get().and_then(|h| h.get(r)).map_or("unknown", String::as_str);
    match peer {
        Some(peer) => format!(
            "unidist: rank {rank} lost rank {peer} on host {}: MPI failed talking to it ({text}); \
             that process or host is gone or unreachable; ending the job",
            host(peer)
        ),
        None => format!("unidist: rank {rank} on host {}: MPI failed ({text}); ending the job", {
            host(rank)
        }),
    }
}

unsafe extern "C" fn on_error(comm: *mut MPI_Comm, code: *mut c_int) {
    let mut text = vec![0_u8; mpi::ffi::MPI_MAX_ERROR_STRING as usize + 1];
    let mut len: c_int = 0;
    // SAFETY: MPI hands a valid error code; the buffer holds MPI_MAX_ERROR_STRING characters.
    unsafe { mpi::ffi::MPI_Error_string(*code, text.as_mut_ptr().cast(), &mut len) };
    text.truncate(len.max(0) as usize);
    let text = String::from_utf8_lossy(&text);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let peer = PEER.with(Cell::get);
    let _ = writeln!(std::io::stderr(), "{}", line(RANK.load(Ordering::Relaxed), peer, &text));
    std::thread::sleep(process_guard::ABORT_GRACE);
    // SAFETY: MPI hands the communicator of the failed call; MPI_Abort does not return.
    unsafe { mpi::ffi::MPI_Abort(*comm, process_guard::FAULT_EXIT_CODE) };
}

#[cfg(test)]
mod tests {
    use super::line;

    #[test]
    fn the_line_names_the_peer_when_the_call_had_one() {
        let l = line(0, Some(2), "Endpoint timeout");
        assert!(l.starts_with("unidist: rank 0 lost rank 2 on host "), "{l}");
        assert!(l.contains("(Endpoint timeout)") && l.ends_with("ending the job"), "{l}");
        let l = line(1, None, "Other MPI error");
        assert!(l.starts_with("unidist: rank 1 on host ") && l.contains("MPI failed"), "{l}");
    }
}
