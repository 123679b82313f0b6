//! The MPI backend's transport (rsmpi). The progress thread initializes and finalizes MPI; the
//! transport is used by one thread at a time, the one that runs the rank's loop: the progress
//! thread, or a thread that waits and drives the loop in its place (`event_loop::Drive`). So
//! unidist starts MPI at `Threading::Serialized` (a program's own MPI runs at `Multiple`), and
//! other threads talk to the loop through its queue and this transport's doorbell.
//!
//! Sends are non-blocking (a blocking send of a large batch to a rank that is itself blocked
//! sending to us would deadlock); each send's buffer lives until MPI reports it complete. The
//! loop blocks in MPI only to receive the chunks of a large object that a batch announced, which
//! its sender has already posted, and in the benchmark's raw ping-pong.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mpi::environment::Universe;
use mpi::point_to_point::{Destination, Source};
use mpi::request::{Request, StaticScope};
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::{CommunicatorCollectives, Equivalence};
use mpi::Threading;

use super::backoff::Backoff;
use super::mpi_errors::with_peer;
use super::{Doorbell, Pause, Probe, Transport, MAX_CHUNK};
use crate::arg::Arg;
use crate::bytes::Bytes;
use crate::codec;
use crate::id::Rank;
use crate::object::Object;
use crate::process_guard;
use crate::protocol::{self, Message, RawPingPong, Task};
use crate::segment::{self, Segment, SegmentRef};

/// The one tag of every message: one stream per pair of ranks keeps them in order.
const TAG: i32 = 11;

/// The tag of the bytes of large objects, which follow the batch that announces them.
const PAYLOAD_TAG: i32 = 13;

/// How long a rank waits for a chunk that a batch announced before it calls the batch corrupt.
const PAYLOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The tag of the raw ping-pong that measures the MPI library itself (see [`RawPingPong`]).
const RAW_TAG: i32 = 12;

/// Objects of at least this many bytes travel as messages of their own, sent from and received
/// into the object's own buffer: no copy into or out of a batch.
const LARGE_OBJECT: usize = 64 << 10;

/// A send in flight and the buffer it reads, kept alive until MPI is done with it.
struct Send {
    to: Rank,
    request: Request<'static, [u8]>,
    _buffer: Arc<Bytes>,
}

pub(crate) struct MpiTransport {
    world: SimpleCommunicator,
    rank: Rank,
    size: usize,
    sends: Vec<Send>,
    /// Payloads go in chunks of at most this many bytes.
    chunk: usize,
    /// Finalizes MPI when dropped, after the loop has stopped.
    universe: Option<Universe>,
    /// Rung by other threads of this process when the loop has local work, and by the ranks of
    /// this host when they send it a batch: in shared memory when `/dev/shm` allows.
    bell: Arc<Doorbell>,
    /// The file of `bell` until the ranks of this host have mapped it, and the number that
    /// names it (with this process's id); 0 when the bell is not shared.
    bell_file: Option<std::path::PathBuf>,
    bell_nonce: u64,
    /// The bells of the other ranks of this host, by rank, rung after each batch sent to them.
    peer_bells: Vec<Option<Arc<Doorbell>>>,
    /// Peers sent a batch since the last `progress`, whose bells it rings.
    to_ring: Vec<Rank>,
    /// How the loop waits when a round found nothing.
    backoff: Backoff,
    /// MPI lets any thread call it, one at a time (`Threading::Serialized` or more).
    serialized: bool,
    /// Every rank's process id, for the ranks of this host to map its segments.
    pids: Vec<u32>,
    /// The ranks of this host that map this rank's segments and whose segments it maps.
    shares_with: Vec<bool>,
    /// Segments lent to each peer, in the order sent, held until the peer says it has mapped
    /// them (`Message::Mapped`): until then the object may be freed here, and its descriptor,
    /// through which the peer opens it, must stay open.
    lent: Vec<VecDeque<Arc<Bytes>>>,
    /// Set by `close`: what arrives is thrown away, so segments are neither mapped nor answered
    /// (a peer that lent one may have left already).
    closing: bool,
}

// SAFETY: the transport holds MPI handles (a communicator, requests), which some MPI libraries
// (Open MPI) define as raw pointers. Only the thread that started it uses it unless MPI granted
// `Threading::Serialized` or more (`shared_by_threads`; a program's own MPI must be at
// `Multiple`), and then the loop keeps it behind a lock, so one thread at a time calls MPI.
unsafe impl std::marker::Send for MpiTransport {}

/// Where a rank's shared doorbell lives: `/dev/shm/unidist-bell-<pid>-<nonce>`.
fn bell_path(pid: u64, nonce: u64) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/dev/shm/unidist-bell-{pid}-{nonce:016x}"))
}

/// This rank's doorbell, in a new file of shared memory if it can be made, its file, and the
/// nonce that names it (0: not shared).
fn own_bell() -> (Arc<Doorbell>, Option<std::path::PathBuf>, u64) {
    use std::hash::{BuildHasher, Hasher};
    // A number no other process of the host picks: the process's random hash keys and the time.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(std::time::SystemTime::UNIX_EPOCH.elapsed().unwrap_or_default().as_nanos());
    let nonce = hasher.finish() | 1;
    let path = bell_path(std::process::id() as u64, nonce);
    match Doorbell::create(&path) {
        Ok(bell) => (bell, Some(path), nonce),
        Err(e) => {
            crate::log::event!(debug, error = %e, "no doorbell in shared memory: peers cannot wake this rank");
            (Doorbell::new(), None, 0)
        }
    }
}

/// Asks Linux for a 1 µs timer slack on this (the progress) thread instead of the default
/// 50 µs: the idle loop's short sleeps then last microseconds, not 50 µs each, which is most of
/// the latency of a task on an otherwise idle rank.
fn fine_timer_slack() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and changes only this thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong, 0, 0, 0);
    }
}

/// A communicator that the program made for unidist (a duplicate of the one it handed to
/// `init_in`), on its way to the progress thread. MPI handles name process-wide objects: with
/// `MPI_THREAD_MULTIPLE`, which `init_in` checks, any thread may use them.
pub(crate) struct HandedComm(mpi::ffi::MPI_Comm);

// SAFETY: see above; the handle is used by one thread at a time (made on the caller's, then
// owned by the progress thread).
unsafe impl std::marker::Send for HandedComm {}

impl HandedComm {
    /// Duplicates `comm` (a collective on it: every rank of it calls `init_in`), so that
    /// unidist's messages never meet the program's own.
    pub(crate) fn duplicate(comm: &SimpleCommunicator) -> HandedComm {
        use mpi::raw::AsRaw;
        let dup = comm.duplicate();
        let raw = dup.as_raw();
        std::mem::forget(dup); // owned again by the progress thread, which frees it
        HandedComm(raw)
    }
}

/// Checks that the program's MPI lets unidist's progress thread call MPI beside the program's
/// own threads.
pub(crate) fn check_program_mpi() -> Result<(), String> {
    if !mpi::environment::is_initialized() || mpi::environment::is_finalized() {
        return Err("MPI is not initialized in this process (or already finalized): initialize \
            it first, with mpi::initialize_with_threading(Threading::Multiple), or call \
            unidist::init(), which initializes MPI itself"
            .into());
    }
    let granted = mpi::environment::threading_support();
    if granted != Threading::Multiple {
        return Err(format!(
            "the program initialized MPI with the threading level {granted:?}; unidist needs \
            Multiple (MPI_THREAD_MULTIPLE), since its progress thread calls MPI beside the \
            program's threads: initialize MPI with \
            mpi::initialize_with_threading(Threading::Multiple) (MPI_Init_thread with \
            MPI_THREAD_MULTIPLE in C)"
        ));
    }
    Ok(())
}

impl MpiTransport {
    /// Runs on `comm`, in an MPI that the program initialized and will finalize itself.
    /// Payloads go in chunks of at most `chunk` bytes.
    pub(crate) fn start_in(comm: HandedComm, chunk: usize) -> Result<MpiTransport, String> {
        use mpi::raw::FromRaw;
        // SAFETY: a live communicator made by `MPI_Comm_dup`, owned by nothing else.
        let world = unsafe { SimpleCommunicator::from_raw(comm.0) };
        MpiTransport::on(world, None, chunk)
    }

    /// The transport on `world`, on the calling thread, which alone calls MPI from now on;
    /// `universe` finalizes MPI if unidist initialized it.
    fn on(
        world: SimpleCommunicator,
        universe: Option<Universe>,
        chunk: usize,
    ) -> Result<MpiTransport, String> {
        fine_timer_slack();
        let rank = world.rank() as Rank;
        let size = world.size() as usize;
        super::mpi_errors::install(&world, rank)?;
        // In this process's memory until `link_doorbells` moves it to shared memory.
        let (bell, bell_file, bell_nonce) = (Doorbell::new(), None, 0);
        Ok(MpiTransport {
            world,
            rank,
            size,
            sends: Vec::new(),
            chunk,
            universe,
            bell,
            bell_file,
            bell_nonce,
            peer_bells: vec![None; size],
            to_ring: Vec::new(),
            backoff: Backoff::default(),
            // A program's MPI runs at `Threading::Multiple` (checked before this).
            serialized: true,
            pids: Vec::new(),
            shares_with: vec![false; size],
            lent: vec![VecDeque::new(); size],
            closing: false,
        })
    }

    /// Initializes MPI on the calling thread (`chunk` as for [`MpiTransport::start_in`]). Other
    /// threads may drive the loop only if MPI grants `Threading::Serialized` or more (see
    /// [`MpiTransport::shared_by_threads`]); with `Funneled`, only this thread calls MPI.
    pub(crate) fn start(chunk: usize) -> Result<MpiTransport, String> {
        // Serialized, not Multiple: one thread at a time calls MPI, which needs no locks in it.
        let (universe, granted) = mpi::initialize_with_threading(Threading::Serialized).ok_or(
            "MPI was already initialized in this process, by the program: call \
            unidist::init_in(&communicator) to run unidist inside the program's MPI",
        )?;
        if granted < Threading::Funneled {
            return Err(format!(
                "the MPI library granted the threading level {granted:?}; unidist needs at least Funneled"
            ));
        }
        let mut transport = MpiTransport::on(universe.world(), Some(universe), chunk)?;
        transport.serialized = granted >= Threading::Serialized;
        Ok(transport)
    }

    /// True if threads other than the one that started MPI may call it, one at a time.
    pub(crate) fn shared_by_threads(&self) -> bool {
        self.serialized
    }

    /// Every rank's `values`, by rank (a collective: every rank must call it).
    pub(crate) fn all_gather(&self, values: [u64; 2]) -> Vec<[u64; 2]> {
        let mut all = vec![0_u64; 2 * self.size];
        self.world.all_gather_into(&values[..], &mut all[..]);
        all.chunks(2).map(|c| [c[0], c[1]]).collect()
    }

    /// Moves this rank's doorbell to shared memory and maps the doorbells of the other ranks on
    /// its host (`hosts`: every rank's host, by rank), so that a batch sent to one of them wakes
    /// it at once, then removes this rank's file (the mappings outlive it). A collective: every
    /// rank must call it, before [`Transport::doorbell`] hands the bell out. A peer whose bell
    /// cannot be mapped is only polled, as ranks on other hosts are.
    pub(crate) fn link_doorbells(&mut self, hosts: &[String]) {
        (self.bell, self.bell_file, self.bell_nonce) = own_bell();
        let names = self.all_gather([std::process::id() as u64, self.bell_nonce]);
        for (peer, [pid, nonce]) in names.into_iter().enumerate() {
            if peer == self.rank || nonce == 0 || hosts[peer] != hosts[self.rank] {
                continue;
            }
            match Doorbell::open(&bell_path(pid, nonce)) {
                Ok(bell) => self.peer_bells[peer] = Some(bell),
                Err(e) => {
                    crate::log::event!(debug, peer, error = %e, "cannot ring a peer's doorbell")
                }
            }
        }
        let linked = self.peer_bells.iter().flatten().count();
        let on_host = hosts.iter().filter(|h| **h == hosts[self.rank]).count() - 1;
        crate::log::event!(debug, linked, on_host, "doorbells of the ranks on this host linked");
        // Whether every rank can ring every other: only then may an idle rank sleep long. Every
        // rank has mapped what it will map once this collective returns, so the file can go.
        let rings_everyone = (self.bell_nonce != 0 && linked + 1 == self.size) as u64;
        let all_linked = self.all_gather([rings_everyone, 0]).iter().all(|[ok, _]| *ok == 1);
        self.backoff.set_rung_by_all(all_linked);
        self.remove_bell_file();
    }

    /// Where each rank of the host has a core, so that threads that drive the loop may poll
    /// without taking one from another rank: a polling loop spins (see [`Backoff`]), and a peer
    /// is rung as soon as MPI has taken the batch, while the peer's driver still polls.
    pub(crate) fn set_core_per_rank(&mut self, core_per_rank: bool) {
        self.backoff.set_core_per_rank(core_per_rank);
    }

    /// Finds which ranks of this host can map each other's segments, and from then on writes
    /// objects of at least `share_from` bytes into segments if any can (`None`: never). Each
    /// rank lends the others a small segment, which they try to map. A collective: every rank
    /// must call it. Raises this process's limit of open files to its hard limit, since an
    /// owner holds a descriptor per live segment.
    pub(crate) fn link_segments(&mut self, hosts: &[String], share_from: Option<usize>) {
        let probe = share_from.and_then(|_| match Segment::create(0, 1) {
            Ok(probe) => Some(probe),
            Err(e) => {
                crate::log::event!(debug, error = %e, "no segments of shared memory here");
                None
            }
        });
        let lent = probe.as_ref().and_then(Segment::lend);
        // The process id, the probe's descriptor plus one (0: no probe), device and inode.
        let fd = lent.map_or(0, |l| l.fd as u32 as u64 + 1);
        let mine: Vec<u8> = [
            u64::from(std::process::id()) | fd << 32,
            lent.map_or(0, |l| l.device),
            lent.map_or(0, |l| l.inode),
        ]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect();
        let all: Vec<[u64; 3]> = self
            .all_gather_bytes(&mine)
            .chunks(24)
            .map(|c| [0, 8, 16].map(|at| u64::from_le_bytes(c[at..at + 8].try_into().unwrap())))
            .collect();
        self.pids = all.iter().map(|[word, ..]| *word as u32).collect();
        let mut maps = vec![0_u8; self.size];
        for (peer, [word, device, inode]) in all.iter().enumerate() {
            let fd = word >> 32;
            if peer == self.rank || fd == 0 || hosts[peer] != hosts[self.rank] {
                continue;
            }
            // A probe is a new segment (kept ones are far larger): its first object.
            let (device, inode) = (*device, *inode);
            let theirs =
                SegmentRef { fd: (fd - 1) as i32, device, inode, generation: 0, start: 0, len: 1 };
            match Segment::open(self.pids[peer], theirs) {
                Ok(_) => maps[peer] = 1,
                Err(e) => {
                    crate::log::event!(debug, peer, error = %e, "cannot map a peer's segments")
                }
            }
        }
        // Every rank has tried every probe once this collective returns.
        let matrix = self.all_gather_bytes(&maps);
        let size = self.size;
        for peer in 0..size {
            self.shares_with[peer] =
                matrix[self.rank * size + peer] == 1 && matrix[peer * size + self.rank] == 1;
        }
        drop(probe);
        let sharing = self.shares_with.iter().filter(|s| **s).count();
        crate::log::event!(debug, sharing, "ranks of this host that share segments with this one");
        if sharing > 0 {
            segment::share_from(share_from, raise_open_files_limit() / 2);
        }
    }

    /// Completes the sends MPI is done with, releasing their buffers.
    fn test_sends(&mut self) {
        let mut i = 0;
        while i < self.sends.len() {
            let send = self.sends.swap_remove(i);
            let to = send.to;
            match with_peer(to, || send.request.test()) {
                // MPI no longer reads the buffer: dropping `send` releases it.
                Ok(_) => {}
                Err(request) => {
                    self.sends.push(Send { to, request, _buffer: send._buffer });
                    let last = self.sends.len() - 1;
                    self.sends.swap(i, last);
                    i += 1;
                }
            }
        }
    }

    /// Removes this rank's doorbell file if it is still there (peers that mapped it keep it).
    fn remove_bell_file(&self) {
        if let Some(path) = &self.bell_file {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Waits until every rank calls it (a collective).
    pub(crate) fn barrier(&self) {
        self.world.barrier();
    }

    /// Every rank's `bytes` (of one length on every rank), one after another by rank (a
    /// collective: every rank must call it).
    pub(crate) fn all_gather_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        let mut all = vec![0_u8; bytes.len() * self.size];
        self.world.all_gather_into(bytes, &mut all[..]);
        all
    }

    /// Sends a batch as one message, or split in halves while its encoding is larger than a
    /// chunk (only a batch of very many small objects passes 1 GiB; a small
    /// `UNIDIST_CHUNK_BYTES` makes the suite split batches all the time). Each half is sent in
    /// order on the same tag, so the receiver reads the messages in the order they were sent.
    fn send_batch(&mut self, to: Rank, mut batch: Vec<Message>) {
        let bytes = codec::encode(&batch).expect("messages always encode");
        if bytes.len() <= self.chunk || batch.len() < 2 {
            assert!(bytes.len() <= MAX_CHUNK, "one small message cannot pass 1 GiB");
            let len = bytes.len();
            return self.start_send(to, Arc::new(bytes.into()), 0..len, TAG);
        }
        crate::log::event!(
            debug,
            to,
            bytes = bytes.len(),
            messages = batch.len(),
            "batch larger than a chunk split in two"
        );
        let second = batch.split_off(batch.len() / 2);
        self.send_batch(to, batch);
        self.send_batch(to, second);
    }

    fn start_send(
        &mut self,
        to: Rank,
        buffer: Arc<Bytes>,
        range: std::ops::Range<usize>,
        tag: i32,
    ) {
        // SAFETY: `Send` keeps the buffer alive (and nothing writes to it: objects are immutable
        // once made) until `progress` or `close` sees the send complete.
        let data: &'static [u8] = unsafe { &*(&buffer[range] as *const [u8]) };
        let peer = self.world.process_at_rank(to as i32);
        let request = with_peer(to, || peer.immediate_send_with_tag(StaticScope, data, tag));
        self.sends.push(Send { to, request, _buffer: buffer });
    }

    /// Receives the bytes of each payload of a batch (a `Payload` message, or an `Arg::Payload`
    /// of a task), which follow it from the same rank on [`PAYLOAD_TAG`], maps the segments it
    /// lends (and tells the sender so), and puts them back in place; takes out the sender's
    /// word that it mapped segments of this rank's.
    fn receive_payloads(
        &mut self,
        from: Rank,
        mut batch: Vec<Message>,
    ) -> Result<Vec<Message>, String> {
        let mut mapped = 0;
        for message in &mut batch {
            match message {
                Message::Payload { id, type_fp, len } => {
                    let (id, type_fp) = (*id, *type_fp);
                    let bytes = self.receive_payload(from, *len, &format!("object {id}"))?;
                    *message = Message::Data { id, object: Object { type_fp, bytes } };
                }
                Message::Shared { .. } if self.closing => {}
                Message::Shared { id, type_fp, segment } => {
                    let (id, type_fp) = (*id, *type_fp);
                    let bytes = self.map(from, **segment, &format!("object {id}"))?;
                    *message = Message::Data { id, object: Object { type_fp, bytes } };
                    mapped += 1;
                }
                Message::Submit(task)
                | Message::Spawn(task)
                | Message::Retry(task)
                | Message::SpawnOn { task, .. } => mapped += self.receive_args(from, task)?,
                Message::Returned(tasks) => {
                    for task in tasks {
                        mapped += self.receive_args(from, task)?;
                    }
                }
                Message::Mapped { count } => {
                    let lent = &mut self.lent[from];
                    if *count as usize > lent.len() {
                        return Err(format!(
                            "it mapped {count} segments, but {} were lent to it",
                            lent.len()
                        ));
                    }
                    lent.drain(..*count as usize);
                }
                _ => {}
            }
        }
        batch.retain(|m| !matches!(m, Message::Mapped { .. }));
        if mapped > 0 {
            self.send_batch(from, vec![Message::Mapped { count: mapped }]);
            // Woken, the peer lets the segments go (an idle one would hold them until it next
            // polls).
            if self.peer_bells[from].is_some() && !self.to_ring.contains(&from) {
                self.to_ring.push(from);
            }
        }
        Ok(batch)
    }

    /// Puts back in place the arguments of `task` that travelled as payloads or segments;
    /// returns how many segments it mapped.
    fn receive_args(&mut self, from: Rank, task: &mut Task) -> Result<u32, String> {
        let first_output = task.first_output;
        let mut mapped = 0;
        for (index, arg) in task.args.iter_mut().enumerate() {
            let what = || format!("argument {index} of task {first_output}");
            match *arg {
                Arg::Payload { type_fp, len } => {
                    let bytes = self.receive_payload(from, len, &what())?;
                    *arg = Arg::Value(Object { type_fp, bytes });
                }
                Arg::Shared { .. } if self.closing => {}
                Arg::Shared { type_fp, ref segment } => {
                    let bytes = self.map(from, **segment, &what())?;
                    *arg = Arg::Value(Object { type_fp, bytes });
                    mapped += 1;
                }
                _ => {}
            }
        }
        Ok(mapped)
    }

    /// Maps a segment that `from` lent.
    fn map(&self, from: Rank, lent: SegmentRef, what: &str) -> Result<Arc<Bytes>, String> {
        if !self.shares_with[from] {
            return Err(format!("{what} came in a segment from a rank that shares none"));
        }
        let segment = Segment::open(self.pids[from], lent).map_err(|e| format!("{what}: {e}"))?;
        Ok(Arc::new(Bytes::Shared(Box::new(segment))))
    }

    /// Receives one payload of `len` bytes from `from`, chunk by chunk, into a buffer sized by
    /// what arrives, never by the length field alone. Its chunks were sent right after the
    /// batch that announced it: one that does not come within [`PAYLOAD_TIMEOUT`] means a
    /// corrupt announcement.
    fn receive_payload(&mut self, from: Rank, len: u64, what: &str) -> Result<Arc<Bytes>, String> {
        let len = usize::try_from(len).map_err(|_| format!("{what} of {len} bytes"))?;
        let mut bytes: Vec<u8> = Vec::new();
        let source = self.world.process_at_rank(from as i32);
        while bytes.len() < len {
            let waited = Instant::now();
            let (chunk, status) = loop {
                let probed =
                    with_peer(from, || source.immediate_matched_probe_with_tag(PAYLOAD_TAG));
                if let Some(found) = probed {
                    break found;
                }
                if waited.elapsed() > PAYLOAD_TIMEOUT {
                    return Err(format!(
                        "{what} was announced as {len} bytes, but after {} of them nothing came \
                         for {PAYLOAD_TIMEOUT:?}",
                        bytes.len()
                    ));
                }
                std::hint::spin_loop();
            };
            let count = status.count(u8::equivalent_datatype()).max(0) as usize;
            let at = bytes.len();
            if count == 0 || count > len - at {
                return Err(format!(
                    "{what}: a chunk of {count} bytes where {} were left of {len}",
                    len - at
                ));
            }
            if at == 0 {
                bytes = crate::buffer::to_overwrite(count);
            } else {
                bytes.resize(at + count, 0);
            }
            with_peer(from, || chunk.matched_receive_into(&mut bytes[at..]));
        }
        Ok(Arc::new(bytes.into()))
    }

    /// Finalizes MPI (dropping the universe) if unidist initialized it; after this no MPI call
    /// is made in the process. In the program's MPI, frees unidist's communicator instead.
    pub(crate) fn finalize(mut self) {
        drop(self.universe.take());
    }
}

impl Transport for MpiTransport {
    fn rank(&self) -> Rank {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    /// Sends a batch: one message with every small message, then the bytes of each large
    /// object (a `Data` message's, or a by-value argument's) as messages of their own on
    /// [`PAYLOAD_TAG`], straight from the object's buffer, in chunks below MPI's 2 GiB limit.
    /// Each tag keeps its own order at the receiver, so the chunks meet their batch in order.
    /// A peer on this host has its doorbell rung by the next [`progress`](Transport::progress).
    fn send(&mut self, to: Rank, mut batch: Vec<Message>) {
        let mut out = Outgoing {
            shares: self.shares_with[to],
            lent: &mut self.lent[to],
            payloads: Vec::new(),
        };
        for message in &mut batch {
            match message {
                Message::Data { id, object } => {
                    let (id, type_fp) = (*id, object.type_fp);
                    match out.take(object) {
                        Some(Taken::Shared(segment)) => {
                            *message = Message::Shared { id, type_fp, segment }
                        }
                        Some(Taken::Payload(len)) => {
                            *message = Message::Payload { id, type_fp, len }
                        }
                        None => {}
                    }
                }
                // Every message that carries a task: its large values go as payloads.
                Message::Submit(task)
                | Message::Spawn(task)
                | Message::Retry(task)
                | Message::SpawnOn { task, .. } => out.split_args(task),
                // Tasks a worker gives back carry their values too.
                Message::Returned(tasks) => {
                    for task in tasks {
                        out.split_args(task);
                    }
                }
                _ => {}
            }
        }
        let payloads = out.payloads;
        self.send_batch(to, batch);
        for payload in payloads {
            for start in (0..payload.len()).step_by(self.chunk) {
                let end = payload.len().min(start + self.chunk);
                self.start_send(to, Arc::clone(&payload), start..end, PAYLOAD_TAG);
            }
        }
        let Some(bell) = self.peer_bells[to].clone() else { return };
        if self.backoff.core_per_rank() {
            // A small batch is in the peer's queue once its send completes: ring now, while
            // the peer's driver may still be polling (a ring after it stopped wakes the loop's
            // thread for a batch already taken). A send still in flight rings at `progress`.
            self.test_sends();
            if !self.sends.iter().any(|s| s.to == to) {
                bell.ring_peer();
                return;
            }
        }
        if !self.to_ring.contains(&to) {
            self.to_ring.push(to);
        }
    }

    /// Receives what has arrived, up to 64 batches, with the payloads that follow them.
    fn poll(&mut self, deliver: &mut dyn FnMut(Rank, Vec<Message>)) -> bool {
        let mut any = false;
        for _ in 0..64 {
            let Some((message, status)) =
                self.world.any_process().immediate_matched_probe_with_tag(TAG)
            else {
                break;
            };
            any = true;
            let from = status.source_rank() as Rank;
            let len = status.count(u8::equivalent_datatype()).max(0) as usize;
            let mut buffer = vec![0_u8; len];
            with_peer(from, || message.matched_receive_into(&mut buffer[..]));
            let batch = match protocol::decode_batch(&buffer) {
                Ok(batch) => batch,
                Err(e) => self.fatal(format!(
                    "received a corrupt message of {len} bytes from rank {from}: {e}"
                )),
            };
            match self.receive_payloads(from, batch) {
                Ok(batch) => deliver(from, batch),
                Err(e) => self.fatal(format!("received a corrupt object from rank {from}: {e}")),
            }
        }
        if any {
            self.backoff.received();
        }
        any
    }

    fn progress(&mut self) {
        self.test_sends();
        // Rung only now, after MPI has moved the sends on: a peer woken at once by a ring at
        // `send` found nothing yet and slept again (measured: 2 ms round trips).
        for to in self.to_ring.drain(..) {
            if let Some(bell) = &self.peer_bells[to] {
                bell.ring_peer();
            }
        }
    }

    /// True while sends are in flight: they move only while this thread calls MPI.
    fn sending(&self) -> bool {
        !self.sends.is_empty()
    }

    /// Waits as [`Backoff::pause`] says, after moving any sends on.
    fn pause(&mut self, idle_rounds: u32, urgent: bool) -> Pause {
        if !self.sends.is_empty() {
            self.progress();
        }
        let sending = self.sending();
        self.backoff.pause(idle_rounds, urgent, sending)
    }

    fn linked(&self) -> bool {
        self.backoff.rung_by_all()
    }

    fn rang(&mut self) {
        self.backoff.rang();
    }

    fn doorbell(&self) -> Arc<Doorbell> {
        Arc::clone(&self.bell)
    }

    /// Ends the whole job: a rank that lost a message cannot go on without hanging a peer.
    fn fatal(&self, what: String) -> ! {
        self.remove_bell_file();
        eprintln!("unidist: rank {} {what}; ending the job", self.rank);
        std::thread::sleep(process_guard::ABORT_GRACE);
        self.world.abort(process_guard::FAULT_EXIT_CODE)
    }

    /// Leaves the job: completes this rank's sends while discarding whatever still arrives,
    /// then waits in a non-blocking barrier (still discarding) until every rank has done the
    /// same, so no rank finalizes MPI while a peer's send to it is incomplete.
    fn close(mut self) {
        self.closing = true;
        let mut discard = |_: Rank, _: Vec<Message>| {};
        while !self.sends.is_empty() {
            self.poll(&mut discard);
            self.progress();
            std::thread::yield_now();
        }
        let mut barrier = self.world.immediate_barrier();
        loop {
            match barrier.test() {
                Ok(_) => break,
                Err(pending) => barrier = pending,
            }
            self.poll(&mut discard);
            std::thread::sleep(Duration::from_micros(50));
        }
        self.finalize();
    }

    fn probe(&mut self) -> Option<&mut dyn Probe> {
        Some(self)
    }
}

impl Probe for MpiTransport {
    /// Sends `bytes` as one message on the protocol's tag, as they are (a test's corrupt message).
    fn send_bytes(&mut self, to: Rank, bytes: Vec<u8>) {
        let len = bytes.len();
        self.start_send(to, Arc::new(bytes.into()), 0..len, TAG);
    }

    /// Blocking sends and receives on a tag of their own, nothing else in between: what the MPI
    /// library gives between these two ranks, measured in the same run as the runtime.
    fn raw_ping_pong(&mut self, peer: Rank, test: RawPingPong, initiator: bool) -> Duration {
        if test.bytes > MAX_CHUNK || test.echo_bytes > MAX_CHUNK || (!initiator && peer != 0) {
            self.fatal(format!("received a RawPingPong of {} bytes from rank {peer}", test.bytes));
        }
        let (send_len, receive_len) =
            if initiator { (test.bytes, test.echo_bytes) } else { (test.echo_bytes, test.bytes) };
        let outgoing = vec![7_u8; send_len];
        let mut incoming = vec![0_u8; receive_len];
        let to = peer;
        let peer = self.world.process_at_rank(peer as i32);
        let started = Instant::now();
        with_peer(to, || {
            for _ in 0..test.iterations {
                if initiator {
                    peer.send_with_tag(&outgoing[..], RAW_TAG);
                    peer.receive_into_with_tag(&mut incoming[..], RAW_TAG);
                } else {
                    peer.receive_into_with_tag(&mut incoming[..], RAW_TAG);
                    peer.send_with_tag(&outgoing[..], RAW_TAG);
                }
            }
        });
        started.elapsed()
    }
}

impl Drop for MpiTransport {
    /// A panic that unwinds out of the progress loop (a bug in the runtime: its own errors are
    /// handled, and tasks' panics are caught on their executor threads) would leave every other
    /// rank waiting for this one forever, and finalizing MPI here would wait for them too: end
    /// the whole job instead. The panic's message is already on stderr.
    fn drop(&mut self) {
        if std::thread::panicking() && !mpi::environment::is_finalized() {
            self.fatal("stopped: its progress thread panicked (the message is above)".to_string());
        }
    }
}

/// What leaves a batch for one peer: large objects' bytes, as payloads that follow it, or, where
/// the peer `shares` this rank's segments, as segments it maps (each held in `lent` until it
/// has).
struct Outgoing<'a> {
    shares: bool,
    lent: &'a mut VecDeque<Arc<Bytes>>,
    payloads: Vec<Arc<Bytes>>,
}

/// How a large object left its message.
enum Taken {
    Shared(Box<SegmentRef>),
    Payload(u64),
}

impl Outgoing<'_> {
    /// Takes `object`'s bytes out if they travel apart: lent as a segment this rank owns, or
    /// as a payload when large.
    fn take(&mut self, object: &Object) -> Option<Taken> {
        if let Some(segment) = object.bytes.lend().filter(|_| self.shares) {
            self.lent.push_back(Arc::clone(&object.bytes));
            Some(Taken::Shared(Box::new(segment)))
        } else if object.len() >= LARGE_OBJECT {
            self.payloads.push(Arc::clone(&object.bytes));
            Some(Taken::Payload(object.len() as u64))
        } else {
            None
        }
    }

    /// Takes the large values out of `task`'s arguments (`receive_args` puts them back).
    fn split_args(&mut self, task: &mut Task) {
        for arg in task.args.iter_mut() {
            let Arg::Value(object) = arg else { continue };
            let type_fp = object.type_fp;
            match self.take(object) {
                Some(Taken::Shared(segment)) => *arg = Arg::Shared { type_fp, segment },
                Some(Taken::Payload(len)) => *arg = Arg::Payload { type_fp, len },
                None => {}
            }
        }
    }
}

/// Raises the soft limit of open files to the hard limit; returns the soft limit then in
/// force (1024, the usual default, if it cannot be read).
fn raise_open_files_limit() -> usize {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit read and write the struct given, nothing else.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
}
