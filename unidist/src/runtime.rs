//! The life of the runtime in this process: `init` picks the backend and starts the progress
//! loops, API calls reach the root's loop, `shutdown` stops everything for good.
//!
//! Misuse (a call before `init`, after `shutdown`, or inside a remote function) panics with a
//! message that says what to do; dropping a ref and `is_initialized` never panic.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
#[cfg(feature = "mpi")]
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

use crate::cluster::{self, HostResources, RankHost};
use crate::context::{self, TaskHost};
use crate::event_loop::{Loop, Mailbox, ProbeCall};
use crate::id::{ObjectId, Rank};
use crate::in_flight::InFlight;
use crate::root::{Command, Root};
use crate::scheduler::RoundRobin;
use crate::settings::{Forced, Settings};
use crate::timeline::RankTimeline;
use crate::transport::Transport;
use crate::worker::Worker;

const NEVER: u8 = 0;
const RUNNING: u8 = 1;
const SHUT_DOWN: u8 = 2;
/// Between the start of `init` and the moment the runtime is ready.
const STARTING: u8 = 3;

static PHASE: AtomicU8 = AtomicU8::new(NEVER);
static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// What the root's API threads share.
pub(crate) struct Runtime {
    commands: Mailbox<Command>,
    scheduler: Arc<RoundRobin>,
    next_sequence: AtomicU64,
    workers: usize,
    backend: &'static str,
    /// The job's hosts, learned at `init`.
    hosts: Vec<HostResources>,
    /// The tasks of the root's program in flight, and their bound.
    in_flight: Arc<InFlight>,
    root_loop: Mutex<Option<JoinHandle<()>>>,
    /// `UNIDIST_TIMELINE`: where `shutdown` writes the timeline.
    timeline: Option<PathBuf>,
}

impl Runtime {
    pub(crate) fn send(&self, command: Command) {
        // The loop outlives every call made while the runtime runs.
        self.commands.send(command);
    }

    /// Sends a blocking call to the root and runs the root's loop on this thread until `done`
    /// (its answer came), if no other thread runs it (see [`Drive`]).
    pub(crate) fn call(&self, command: Command, done: &mut dyn FnMut() -> bool) {
        self.commands.call(Some(command), done);
    }

    /// Sends a probe (benchmark, tests) to the root's loop.
    pub(crate) fn probe(&self, call: ProbeCall) {
        self.commands.probe(call);
    }

    /// Names `n` new objects in a row and returns the first.
    pub(crate) fn new_ids(&self, n: usize) -> ObjectId {
        ObjectId::new(0, self.next_sequence.fetch_add(n as u64, Ordering::Relaxed))
    }

    pub(crate) fn schedule(&self) -> Rank {
        self.scheduler.next()
    }

    /// The next worker of the cycle that no actor has to itself, now kept for one; `None` if
    /// every worker is kept.
    pub(crate) fn schedule_exclusive(&self) -> Option<Rank> {
        let rank = self.scheduler.next();
        if self.scheduler.is_reserved(rank) {
            return None;
        }
        self.scheduler.reserve(rank, true);
        Some(rank)
    }

    pub(crate) fn workers(&self) -> usize {
        self.workers
    }

    pub(crate) fn in_flight(&self) -> &InFlight {
        &self.in_flight
    }

    pub(crate) fn backend(&self) -> &'static str {
        self.backend
    }

    pub(crate) fn hosts(&self) -> &[HostResources] {
        &self.hosts
    }
}

/// Who makes an API call: a thread of the root, or a task on a worker (a nested call).
pub(crate) enum Caller {
    Root(&'static Runtime),
    Task { host: Arc<dyn TaskHost>, depth: usize },
}

/// The caller of the API function `api`, which works both on the root and in tasks.
#[track_caller]
pub(crate) fn caller(api: &str) -> Caller {
    match context::current() {
        Some((host, depth)) => Caller::Task { host, depth },
        None => Caller::Root(runtime(api)),
    }
}

/// The running runtime, for the API function `api` that only the root may call; panics with a
/// hint at the fix otherwise.
#[track_caller]
pub(crate) fn runtime(api: &str) -> &'static Runtime {
    if let Some((host, _)) = context::current() {
        panic!(
            "unidist::{api} cannot be called inside a remote function (it ran on rank {}): only \
             the root's main program calls it",
            host.rank()
        );
    }
    match PHASE.load(Ordering::Acquire) {
        RUNNING => RUNTIME.get().expect("the runtime is set before it runs"),
        NEVER | STARTING => panic!(
            "unidist::{api} was called before unidist::init(): call unidist::init() once at the \
             start of main, on every rank"
        ),
        _ => panic!(
            "unidist::{api} was called after unidist::shutdown(): the runtime cannot be started \
             again in this process; make every call before shutdown"
        ),
    }
}

/// Tells the runtime that the last ref of `id` is gone. Never panics.
/// Tells the root's loop that the caller of the `get` or `wait` named `token` is gone, if the
/// runtime runs. Never panics.
pub(crate) fn forget(token: u64) {
    if PHASE.load(Ordering::Acquire) == RUNNING {
        if let Some(runtime) = RUNTIME.get() {
            runtime.send(Command::Forget(token));
        }
    }
}

pub(crate) fn release(id: ObjectId) {
    if let Some((host, _)) = context::current() {
        host.release(id);
    } else if PHASE.load(Ordering::Acquire) == RUNNING {
        if let Some(runtime) = RUNTIME.get() {
            runtime.send(Command::Release(id));
        }
    }
}

/// A handle of `actor` was decoded on this thread: one more group of handles owns it (the
/// task's worker tells the root, or the root's program does).
pub(crate) fn hold_actor(actor: ObjectId) {
    if let Some((host, _)) = context::current() {
        host.hold_actor(actor);
    } else if PHASE.load(Ordering::Acquire) == RUNNING {
        if let Some(runtime) = RUNTIME.get() {
            runtime.send(Command::HoldActor(actor));
        }
    }
}

pub(crate) fn is_initialized() -> bool {
    PHASE.load(Ordering::Acquire) == RUNNING
}

/// Where `init` finds its processes.
pub(crate) enum Start {
    /// `init`: the backend the launcher and the environment ask for.
    Auto,
    /// `init_in`: the program's own MPI, on a duplicate of the communicator it handed over.
    #[cfg(feature = "mpi")]
    In(crate::transport::mpi::HandedComm),
}

/// What `init` made of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Started {
    /// The runtime runs; this process goes on with the program.
    Root,
    /// This process served as a worker until the root's `shutdown` (only with [`Start::In`]:
    /// otherwise a worker's process exits at shutdown).
    Worker,
}

/// Checks that `init` (or `init_in`, named `api`) may start the runtime now, and marks it
/// starting; panics with a hint at the fix otherwise.
pub(crate) fn begin_init(api: &str) {
    if let Some((host, _)) = context::current() {
        panic!(
            "unidist::{api} cannot be called inside a remote function (it ran on rank {}): only \
            main calls {api}, once",
            host.rank()
        );
    }
    if let Err(phase) = PHASE.compare_exchange(NEVER, STARTING, Ordering::AcqRel, Ordering::Acquire)
    {
        if phase == RUNNING || phase == STARTING {
            panic!("unidist::{api} was called twice: start unidist once, at the start of main");
        }
        panic!(
            "unidist::{api} was called after unidist::shutdown(): the runtime cannot be started \
            again in this process"
        );
    }
}

/// Fails a start that [`begin_init`] began: the runtime will not run in this process.
pub(crate) fn fail_init(api: &str, message: &str) -> ! {
    PHASE.store(SHUT_DOWN, Ordering::Release);
    panic!("unidist::{api} failed: {message}");
}

pub(crate) fn init() {
    begin_init("init");
    let started = start(Start::Auto);
    debug_assert_eq!(started, Started::Root, "a worker's process never returns from init");
}

/// Starts the runtime after [`begin_init`].
pub(crate) fn start(how: Start) -> Started {
    let api = match how {
        Start::Auto => "init",
        #[cfg(feature = "mpi")]
        Start::In(_) => "init_in",
    };
    // Errors name the types of the function table, which `object` cannot import (see there).
    crate::object::name_types_from(crate::registry::type_names);
    // Every rank reads the same settings, so a bad one stops every rank alike.
    let settings = Settings::from_env().and_then(|settings| {
        crate::log::init(settings.log);
        if settings.timeline.is_some() {
            crate::timeline::set(true);
        }
        crate::progress::set_progress(settings.progress);
        let backend = match &how {
            Start::Auto => choose_backend(&settings)?,
            #[cfg(feature = "mpi")]
            Start::In(_) => match settings.backend {
                Some(Forced::Local) => {
                    return Err("UNIDIST_BACKEND=local, but the program handed unidist an MPI \
                        communicator: unset UNIDIST_BACKEND, or call unidist::init() for the \
                        local backend"
                        .into())
                }
                _ => Backend::Mpi,
            },
        };
        Ok((backend, settings))
    });
    let started = match settings {
        // Threads of one process need no heartbeat, and are one host.
        Ok((Backend::Local(workers), settings)) => {
            crate::registry::check_unique().map(|()| Some(start_local(workers, &settings)))
        }
        #[cfg(feature = "mpi")]
        Ok((Backend::Mpi, settings)) => {
            let comm = match how {
                Start::In(comm) => Some(comm),
                Start::Auto => None,
            };
            start_mpi(api, comm, settings)
        }
        Err(message) => Err(message),
    };
    match started {
        Ok(Some(runtime)) => {
            let (backend, workers) = (runtime.backend, runtime.workers);
            if RUNTIME.set(runtime).is_err() {
                unreachable!("init runs once");
            }
            PHASE.store(RUNNING, Ordering::Release);
            crate::process_guard::install_root(shutdown_at_exit);
            crate::log::event!(info, backend, workers, "unidist started");
            Started::Root
        }
        Ok(None) => {
            PHASE.store(SHUT_DOWN, Ordering::Release);
            crate::log::event!(info, "unidist worker stopped");
            Started::Worker
        }
        Err(message) => fail_init(api, &message),
    }
}

pub(crate) fn shutdown() {
    let runtime = runtime("shutdown");
    if PHASE.compare_exchange(RUNNING, SHUT_DOWN, Ordering::AcqRel, Ordering::Acquire).is_err() {
        panic!("unidist::shutdown was called twice: the runtime is already shut down");
    }
    stop(runtime);
    crate::log::event!(info, "unidist shut down");
}

/// Shuts the runtime down if it still runs, as the process exits (thread-locals may be gone).
pub(crate) fn shutdown_at_exit() {
    if PHASE.compare_exchange(RUNNING, SHUT_DOWN, Ordering::AcqRel, Ordering::Acquire).is_ok() {
        if let Some(runtime) = RUNTIME.get() {
            stop(runtime);
        }
    }
}

/// Stops every worker, then the root's loop, and waits for it; writes the timeline first if
/// `UNIDIST_TIMELINE` asks.
fn stop(runtime: &Runtime) {
    if let Some(path) = &runtime.timeline {
        let written = gather_timeline(runtime).map_or_else(
            || Err(std::io::Error::other("the runtime stopped first")),
            |timelines| crate::chrome_trace::write(path, &timelines),
        );
        if let Err(e) = written {
            eprintln!("unidist: could not write the timeline to {}: {e}", path.display());
        }
    }
    runtime.commands.send(Command::Shutdown);
    let handle = runtime.root_loop.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(handle) = handle {
        let _ = handle.join();
    }
    crate::process_guard::expect_exit();
}

/// What every rank recorded, gathered by the root (`None` if the runtime stopped meanwhile).
pub(crate) fn gather_timeline(runtime: &Runtime) -> Option<Vec<RankTimeline>> {
    let (reply, answer) = std::sync::mpsc::channel();
    runtime.send(Command::Timeline { reply });
    answer.recv().ok()
}

enum Backend {
    Local(usize),
    #[cfg(feature = "mpi")]
    Mpi,
}

/// The number of ranks a launcher started, from the variables it sets.
fn launched_ranks() -> Option<(&'static str, usize)> {
    ["PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "SLURM_STEP_NUM_TASKS"]
        .into_iter()
        .find_map(|var| Some((var, std::env::var(var).ok()?.trim().parse().ok()?)))
}

fn choose_backend(settings: &Settings) -> Result<Backend, String> {
    let local = || Backend::Local(settings.cpus.unwrap_or_else(cores));
    match settings.backend {
        Some(Forced::Local) => Ok(local()),
        Some(Forced::Mpi) => mpi_backend("UNIDIST_BACKEND=mpi asks for the MPI backend".into()),
        None => match launched_ranks().filter(|(_, n)| *n > 1) {
            Some((var, n)) => mpi_backend(format!(
                "this program was started by an MPI launcher as {n} ranks ({var}={n})"
            )),
            None => Ok(local()),
        },
    }
}

#[cfg(feature = "mpi")]
fn mpi_backend(_why: String) -> Result<Backend, String> {
    Ok(Backend::Mpi)
}

#[cfg(not(feature = "mpi"))]
fn mpi_backend(why: String) -> Result<Backend, String> {
    Err(format!(
        "{why}, but unidist was built without its `mpi` feature: build with `--features mpi` \
         (or `unidist = {{ features = [\"mpi\"] }}`), or run one process with UNIDIST_BACKEND=local"
    ))
}

/// The cores of this machine: the local backend's default number of workers.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Starts a loop thread, with an executor's stack: a loop thread runs quick tasks itself.
fn spawn(name: String, body: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name(name)
        .stack_size(crate::executor::STACK_BYTES)
        .spawn(body)
        .unwrap_or_else(|e| panic!("unidist could not start a thread: {e}"))
}

/// The local backend: the root's loop and every worker's loop and executor are threads here.
/// Each worker has `UNIDIST_WORKER_THREADS` task slots (default 1: `UNIDIST_CPUS` sets how many
/// workers).
fn start_local(workers: usize, settings: &Settings) -> Runtime {
    let slots = settings.worker_threads.unwrap_or(1);
    let gc = settings.gc;
    let size = workers + 1;
    // The ranks share this one process, and its kept buffers.
    crate::buffer::share_host_with(1);
    let scheduler = Arc::new(RoundRobin::new(workers));
    let in_flight = Arc::new(InFlight::new(settings.max_in_flight));
    let mut root = None;
    for transport in crate::transport::local::mesh(size) {
        let rank = transport.rank();
        if rank == 0 {
            let (mailbox, inbox) = Mailbox::new(transport.doorbell());
            let slots = (0..size).map(|r| if r == 0 { 0 } else { slots }).collect();
            let node = Root::new(size, Arc::clone(&scheduler), gc)
                .with_slots(slots)
                .with_in_flight(Arc::clone(&in_flight));
            // Threads of one process on shared cores: none polls in another's place.
            let root_loop = Loop::new(node, transport, inbox, None);
            let handle = spawn("unidist-root".into(), move || {
                crate::log::set_thread_rank(0);
                root_loop.run()
            });
            root = Some((mailbox, handle));
        } else {
            let (mailbox, inbox) = Mailbox::new(transport.doorbell());
            let worker = Worker::new(rank, size, "local", mailbox, slots);
            let worker_loop = Loop::new(worker, transport, inbox, None);
            spawn(format!("unidist-worker-{rank}"), move || {
                crate::log::set_thread_rank(rank);
                worker_loop.run()
            });
        }
    }
    let (commands, root_loop) = root.expect("rank 0 is in the mesh");
    Runtime {
        commands,
        scheduler,
        next_sequence: AtomicU64::new(0),
        workers,
        backend: "local",
        hosts: {
            let mut hosts = cluster::hosts(
                &vec![RankHost::here(settings.host_name.as_deref()); size],
                Some(slots),
            );
            // One process: the workers' slots are the threads asked for, whatever the cores.
            hosts[0].slots = workers * slots;
            hosts
        },
        in_flight,
        root_loop: Mutex::new(Some(root_loop)),
        timeline: settings.timeline.clone(),
    }
}

/// The MPI backend: a progress thread initializes MPI and owns it, or with `comm` (`init_in`)
/// uses the program's MPI on that communicator. On the root, the runtime (`init` returns); on a
/// worker it waits for the loop to end at shutdown and exits the process, or with `comm`
/// returns `None` and leaves the process, and its MPI, to the program.
#[cfg(feature = "mpi")]
fn start_mpi(
    api: &str,
    comm: Option<crate::transport::mpi::HandedComm>,
    settings: Settings,
) -> Result<Option<Runtime>, String> {
    use crate::heartbeat::Heartbeat;
    use crate::transport::mpi::MpiTransport;

    // Answers come from other processes, which need the cores a polling thread would take.
    crate::spin::set_spin(std::time::Duration::ZERO);
    let in_program = comm.is_some();
    /// The job (with the root's mailbox on rank 0), or why it cannot run and, when every rank
    /// fails alike, a way to tell the progress thread that this rank has said so.
    type Ready = Result<
        (usize, Arc<RoundRobin>, Vec<HostResources>, Option<Mailbox<Command>>),
        (String, Option<mpsc::Sender<()>>),
    >;
    let (started_tx, started) = mpsc::channel::<Ready>();
    let in_flight = Arc::new(InFlight::new(settings.max_in_flight));
    let root_in_flight = Arc::clone(&in_flight);
    let progress = spawn("unidist-progress".into(), move || {
        let Settings { gc, heartbeat, worker_threads: threads, policy, shared_bytes, .. } =
            settings;
        let host = settings.host_name.unwrap_or_else(cluster::host_name);
        // Named before MPI starts, for the line of a failure before the job's hosts are known.
        crate::process_guard::set_host(&host);
        let chunk = settings.chunk_bytes;
        let started = match comm {
            Some(comm) => MpiTransport::start_in(comm, chunk),
            None => MpiTransport::start(chunk),
        };
        let mut transport = match started {
            Ok(t) => t,
            Err(e) => {
                let _ = started_tx.send(Err((e, None)));
                return;
            }
        };
        let (rank, size) = (transport.rank(), transport.size());
        crate::log::set_process_rank(rank);
        let hosts = match check_job(&mut transport, &host, threads, in_program) {
            Ok(hosts) => hosts,
            Err(e) => {
                // Every rank fails here alike. Each says so before any ends: a launcher may end
                // the other ranks as soon as one exits (Open MPI's does).
                let (printed_tx, printed) = mpsc::channel();
                let _ = started_tx.send(Err((e, Some(printed_tx))));
                let _ = printed.recv();
                transport.barrier();
                transport.finalize();
                return;
            }
        };
        let scheduler = Arc::new(RoundRobin::new(size - 1));
        let names = cluster::host_by_rank(&hosts, size);
        crate::buffer::share_host_with(names.iter().filter(|n| **n == names[rank]).count());
        transport.link_segments(&names, shared_bytes);
        crate::transport::mpi_errors::set_hosts(names.clone());
        let hosts_here = hosts.clone();
        // A thread that waits runs the loop in its place where MPI allows it; where each rank
        // has a core, the transport also polls for it (see `set_core_per_rank`).
        let drive = transport.shared_by_threads();
        transport.set_core_per_rank(drive && cluster::core_per_rank(&hosts_here, rank));
        if rank == 0 {
            let (mailbox, inbox) = Mailbox::new(transport.doorbell());
            let placement = match policy {
                crate::scheduler::Policy::HostAware { threshold } => {
                    Some(crate::scheduler::HostAware::new(&names, threshold))
                        .filter(crate::scheduler::HostAware::spans_hosts)
                }
                crate::scheduler::Policy::RoundRobin => None,
            };
            let watch = heartbeat.map(|t| Heartbeat::new(t, (1..size).collect(), names));
            let slots = (0..size)
                .map(|r| if r == 0 { 0 } else { cluster::slots_of(&hosts_here, r, threads) })
                .collect();
            let root = Root::new(size, Arc::clone(&scheduler), gc)
                .with_heartbeat(watch)
                .with_placement(placement)
                .with_slots(slots)
                .with_in_flight(root_in_flight);
            let root_loop = Loop::new(root, transport, inbox, drive.then_some(&mailbox));
            let _ = started_tx.send(Ok((size, scheduler, hosts, Some(mailbox))));
            root_loop.run();
        } else {
            let _ = started_tx.send(Ok((size, Arc::clone(&scheduler), hosts, None)));
            // Before the first task can run.
            crate::process_guard::install_mpi_worker(rank);
            let watch = heartbeat.map(|t| Heartbeat::new(t, vec![0], names));
            let slots = cluster::slots_of(&hosts_here, rank, threads);
            let (mailbox, inbox) = Mailbox::new(transport.doorbell());
            let worker =
                Worker::new(rank, size, "mpi", mailbox.clone(), slots).with_heartbeat(watch);
            Loop::new(worker, transport, inbox, drive.then_some(&mailbox)).run();
        }
    });
    let (size, scheduler, hosts, commands) = match started.recv() {
        Ok(Ok(ready)) => ready,
        Ok(Err((message, None))) => return Err(message),
        Ok(Err((message, Some(printed)))) => {
            // The line first, on every rank, then the panic (without printing it again).
            PHASE.store(SHUT_DOWN, Ordering::Release);
            let line = format!("unidist::{api} failed: {message}");
            eprintln!("{line}");
            let _ = printed.send(());
            let _ = progress.join();
            std::panic::resume_unwind(Box::new(line));
        }
        Err(_) => return Err("the MPI progress thread died while starting".to_string()),
    };
    let Some(commands) = commands else {
        let _ = progress.join();
        crate::process_guard::worker_stopped();
        if in_program {
            return Ok(None);
        }
        std::process::exit(0);
    };
    Ok(Some(Runtime {
        commands,
        scheduler,
        next_sequence: AtomicU64::new(0),
        workers: size - 1,
        backend: "mpi",
        hosts,
        in_flight,
        root_loop: Mutex::new(Some(progress)),
        timeline: settings.timeline.clone(),
    }))
}

/// Why a process that a launcher started as one of `n` finds itself alone in MPI: the launcher
/// and the MPI library this binary was built with do not talk to each other.
#[cfg(feature = "mpi")]
fn not_wired(var: &str, n: usize) -> String {
    // Only srun's own count: mpiexec inside a Slurm allocation inherits that variable too.
    let fix = if var == "SLURM_STEP_NUM_TASKS" {
        "under Slurm, start with `srun --mpi=pmi2` (MPICH) or `srun --mpi=pmix` (Open MPI), or \
         set MpiDefault in slurm.conf"
    } else {
        "start it with the `mpiexec` of the MPI library this binary was built with (`mpiexec \
         --version` names it; the build's `mpicc` chose it)"
    };
    format!(
        "the launcher started {n} processes ({var}={n}), but MPI sees this one alone in a job \
         of 1: the launcher and this binary's MPI library are not connected. To fix it: {fix}"
    )
}

/// Checks, on every rank alike, that the job can run: at least two ranks, and one function table.
/// Returns the job's hosts, which every rank learns here.
#[cfg(feature = "mpi")]
fn check_job(
    transport: &mut crate::transport::mpi::MpiTransport,
    host: &str,
    threads: Option<usize>,
    in_program: bool,
) -> Result<Vec<HostResources>, String> {
    let (digest, count) = crate::registry::summary();
    let all = transport.all_gather([digest, count]);
    let ranks: Vec<RankHost> = transport
        .all_gather_bytes(&RankHost::here(Some(host)).to_record())
        .chunks(cluster::RECORD_BYTES)
        .map(RankHost::from_record)
        .collect();
    let hosts: Vec<String> = ranks.iter().map(|r| r.host.clone()).collect();
    transport.link_doorbells(&hosts);
    if transport.size() < 2 {
        return Err(match launched_ranks().filter(|(_, n)| *n > 1) {
            // A communicator of one that the program handed over says nothing of the launcher.
            Some((var, n)) if !in_program => not_wired(var, n),
            _ if in_program => "the communicator handed to unidist::init_in has 1 rank; unidist \
                                needs at least 2 (a root and a worker)"
                .into(),
            _ => "the MPI backend needs at least 2 ranks (a root and a worker): start with \
                  `mpiexec -n 2` or more, or use UNIDIST_BACKEND=local"
                .into(),
        });
    }
    if let Some((rank, theirs)) = all.iter().enumerate().find(|(_, t)| **t != all[0]) {
        return Err(format!(
            "the ranks disagree on the table of remote functions: rank 0 (host {}) has {} \
             functions (digest {:#018x}), rank {rank} (host {}) has {} (digest {:#018x}); every \
             rank must run the same binary, built from the same sources, on every host",
            ranks[0].host, all[0][1], all[0][0], ranks[rank].host, theirs[1], theirs[0]
        ));
    }
    crate::registry::check_unique()?;
    Ok(cluster::hosts(&ranks, threads))
}
