//! Objects of every size class cross ranks byte for byte: empty, one byte, just below and at the
//! size where objects leave the batch and travel on their own, and several megabytes (sent in
//! several chunks when `UNIDIST_CHUNK_BYTES` is small), as `put` values, task inputs, results,
//! and inputs that move worker to worker. Prints `ok <case>` per case.
//!
//! Usage: `objects <expected backend> <expected workers> [<case>]`, or `objects --list` (see
//! `cases.rs`), or `objects huge <bytes>`: one object of that many bytes through `put`, a task
//! and `get`, and from one worker to another (the slow test of objects of 1 GiB and of more than
//! 2 GiB, which MPI's 32-bit counts cannot send whole), or `objects across <bytes>`: worker to
//! worker only, naming both workers' hosts (the test across simulated hosts), or `objects result
//! <bytes>`: a task's result of that many bytes read by a `get`, with how far the root's peak
//! memory rose, or `objects shared <bytes> <tasks>`: a table of that many bytes read by that
//! many tasks as `Arc<Table>` (and by a fiftieth of them as `Table`), with the decodings, or
//! `objects placement <policy>` (the test of host-aware placement), or `objects segments`:
//! objects of sizes around `UNIDIST_SHARED_BYTES` (and of 64 MiB), root to worker, back, and
//! worker to worker, byte for byte, with the bytes each rank mapped from memory a rank of its
//! host shares checked against the sizes, hosts and threshold, or `objects segments-fault
//! <abort|panic>`: shared objects alive when a task aborts or the root panics.

#[path = "cases.rs"]
mod cases;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use unidist::{remote, Array, ObjectRef};

#[remote]
fn same_bytes(v: Vec<u8>) -> Vec<u8> {
    v
}

#[remote]
fn same_floats(v: Vec<f64>) -> Vec<f64> {
    v
}

/// A pattern that a lost, repeated or misplaced chunk would break.
#[remote]
fn pattern(len: u64, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 16) as u8).collect()
}

#[remote]
fn digest(v: Vec<u8>) -> (u64, u64) {
    let sum = v
        .iter()
        .enumerate()
        .fold(0_u64, |h, (i, b)| h.wrapping_mul(1_000_003).wrapping_add(*b as u64 ^ i as u64));
    (v.len() as u64, sum)
}

/// The sum of an array of floats read in place where it can be, whether it was, and the sum of
/// its `ndarray` view.
#[remote]
fn sum_floats(v: Array<f64>) -> (f64, bool, f64) {
    (v.iter().sum(), v.in_place(), v.view().sum())
}

/// The sum of an array of bytes, and whether it was read in place.
#[remote]
fn sum_bytes(v: Array<u8>) -> (u64, bool) {
    (v.iter().map(|b| *b as u64).sum(), v.in_place())
}

/// A table that counts, in this process, how often it was decoded and how many of the decoded
/// ones were dropped (the second field: whether this one was decoded).
struct Table(Vec<u64>, bool);

static TABLE_DECODES: AtomicU64 = AtomicU64::new(0);
static TABLE_DROPS: AtomicU64 = AtomicU64::new(0);

impl Serialize for Table {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Table {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Table, D::Error> {
        TABLE_DECODES.fetch_add(1, Ordering::Relaxed);
        Vec::deserialize(d).map(|entries| Table(entries, true))
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        if self.1 {
            TABLE_DROPS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Reads entry `i` of a table it shares with the other tasks on its worker.
#[remote]
fn lookup(table: Arc<Table>, i: u64) -> u64 {
    table.0[i as usize]
}

/// This process's table decodings and drops, and its id.
#[remote]
fn table_counts() -> (u64, u64, u32) {
    (TABLE_DECODES.load(Ordering::Relaxed), TABLE_DROPS.load(Ordering::Relaxed), std::process::id())
}

fn local_pattern(len: u64, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 16) as u8).collect()
}

fn local_digest(v: &[u8]) -> (u64, u64) {
    let sum = v
        .iter()
        .enumerate()
        .fold(0_u64, |h, (i, b)| h.wrapping_mul(1_000_003).wrapping_add(*b as u64 ^ i as u64));
    (v.len() as u64, sum)
}

/// Sizes around every boundary of the transport: batch-inline objects, the 64 KiB threshold,
/// multi-chunk payloads.
const SIZES: [u64; 7] = [0, 1, 65_535, 65_536, 65_537, 1 << 20, (3 << 20) + 5];

/// One object of `len` bytes, byte for byte, through put-task-get and worker to worker, without
/// keeping a second copy on the root to compare with.
fn huge(len: u64) {
    let expected = local_digest(&local_pattern(len, 9));
    let started = std::time::Instant::now();
    let back = unidist::get(&same_bytes::remote(unidist::put(local_pattern(len, 9)))).unwrap();
    assert_eq!(local_digest(&back), expected, "a {len}-byte object came back changed");
    drop(back);
    println!("ok put_task_get of {len} bytes in {:.1} s", started.elapsed().as_secs_f64());
    worker_to_worker(len, expected);
    unidist::shutdown();
    println!("objects: {len} bytes crossed unchanged");
}

/// The root's peak resident memory so far (`VmHWM`), in bytes.
fn peak_resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("a VmHWM line");
    let kib: u64 = line.split_whitespace().nth(1).and_then(|k| k.parse().ok()).expect("kB");
    kib * 1024
}

/// A result of `len` bytes made by a task, read by a `get`: prints how far the root's peak
/// resident memory rose, in units of the value's size (the value, plus at most one transient
/// copy: the encoded bytes it was decoded from, freed once the `get` has the value).
fn result(len: u64) {
    let made = pattern::remote(len, 5);
    unidist::wait(std::slice::from_ref(&made), 1);
    let before = peak_resident_bytes();
    let started = std::time::Instant::now();
    let value = unidist::get(&made).unwrap();
    let took = started.elapsed().as_secs_f64();
    let rose = peak_resident_bytes().saturating_sub(before);
    assert_eq!(local_digest(&value), local_digest(&local_pattern(len, 5)), "the result changed");
    let held: u64 = unidist::memory_stats().iter().filter(|m| m.rank == 0).map(|m| m.bytes).sum();
    println!(
        "objects: a get of a {len}-byte result took {took:.2} s ({:.2} GB/s); the root's peak \
         rose by {:.2} times the value; it holds {held} encoded bytes beside the value",
        len as f64 / took / 1e9,
        rose as f64 / len as f64
    );
    if len >= 1 << 20 {
        assert_eq!(held, 0, "the root keeps the encoded bytes of a large result beside its value");
    }
    drop(value);
    let started = std::time::Instant::now();
    let array = unidist::get_array(&made).unwrap();
    let took = started.elapsed().as_secs_f64();
    assert_eq!(array.len() as u64, len);
    println!(
        "objects: a get_array of it took {took:.3} s ({:.2} GB/s), in place: {}",
        len as f64 / took / 1e9,
        array.in_place()
    );
    drop(array);
    unidist::shutdown();
}

/// Reads entry `i` of a table decoded for this task alone.
#[remote]
fn lookup_own(table: Table, i: u64) -> u64 {
    table.0[i as usize]
}

/// A table of `bytes` bytes read by `tasks` tasks, each taking it as `Arc<Table>`, then by
/// `tasks / 50` tasks taking it as `Table`: prints the time per task of each, and how often each
/// worker process decoded it.
fn shared(bytes: u64, tasks: u64) {
    let entries = bytes / 8;
    let table = unidist::put(Table((0..entries).map(|i| i * 3).collect(), false));
    let decodes = || {
        let workers = unidist::num_workers();
        let counts: std::collections::BTreeMap<u32, u64> = (1..=workers)
            .map(|w| unidist::get(&table_counts::remote_on(w)).unwrap())
            .map(|(decodes, _, pid)| (pid, decodes))
            .collect();
        counts
    };
    let mut before = decodes();
    for (name, n) in [("Arc<Table>", tasks), ("Table", (tasks / 50).max(1))] {
        let started = std::time::Instant::now();
        let reads: Vec<ObjectRef<u64>> = (0..n)
            .map(|k| {
                let i = k * 7_919 % entries;
                if name == "Table" {
                    lookup_own::remote(&table, i)
                } else {
                    lookup::remote(&table, i)
                }
            })
            .collect();
        for (k, got) in unidist::get(&reads).unwrap().into_iter().enumerate() {
            assert_eq!(got, (k as u64 * 7_919 % entries) * 3);
        }
        let per_task = started.elapsed().as_secs_f64() / n as f64 * 1e6;
        let after = decodes();
        let made: Vec<u64> =
            after.iter().map(|(pid, d)| d - before.get(pid).unwrap_or(&0)).collect();
        println!(
            "objects: a {bytes}-byte table read by {n} tasks as {name}: {per_task:.1} us per task; \
             decoded {made:?} times in the worker processes"
        );
        before = after;
    }
    unidist::shutdown();
}

/// Makes `len` bytes on worker 1 and reads them on worker 2, which must get them from worker 1
/// directly, unchanged.
fn worker_to_worker(len: u64, expected: (u64, u64)) {
    let workers = unidist::num_workers();
    assert!(workers >= 2, "worker to worker needs 2 workers");
    let started = std::time::Instant::now();
    let before = unidist::transfer_stats();
    while unidist::schedule_rank() != workers {} // the next task goes to worker 1
    let made: ObjectRef<Vec<u8>> = pattern::remote(len, 9);
    let digests = digest::remote(&made); // on worker 2
    assert_eq!(unidist::get(&digests).unwrap(), expected, "a {len}-byte input moved changed");
    let after = unidist::transfer_stats();
    let moved = after[1].peer(2).bytes_sent - before[1].peer(2).bytes_sent;
    assert!(moved >= len, "worker 1 sent worker 2 {moved} bytes, not the {len}-byte object");
    println!("ok worker_to_worker of {len} bytes in {:.1} s", started.elapsed().as_secs_f64());
}

/// `objects placement <policy>`: with ranks on pretend hosts (root on `a`, workers 1-2 on `b`,
/// 3-4 on `c`, by `UNIDIST_HOST_NAME`), a task whose 8 MiB input was made on worker 3 (host c)
/// is given by round-robin to worker 1 (host b): host-aware placement runs it on host c instead.
fn placement(policy: &str) {
    const LEN: u64 = 8 << 20;
    let hosts: Vec<(String, Vec<usize>)> =
        unidist::cluster_resources().into_iter().map(|h| (h.host, h.workers)).collect();
    let expected = vec![
        ("a".to_string(), vec![]),
        ("b".to_string(), vec![1, 2]),
        ("c".to_string(), vec![3, 4]),
    ];
    assert_eq!(hosts, expected, "the pretend hosts");
    while unidist::schedule_rank() != 2 {} // the next task goes to worker 3
    let made: ObjectRef<Vec<u8>> = pattern::remote(LEN, 9);
    let (ready, _) = unidist::wait(std::slice::from_ref(&made), 1); // its size is known now
    assert_eq!(ready.len(), 1);
    let before = unidist::transfer_stats();
    while unidist::schedule_rank() != 4 {} // round-robin would give the next task to worker 1
    let digests = digest::remote(&made);
    let want = local_digest(&local_pattern(LEN, 9));
    assert_eq!(unidist::get(&digests).unwrap(), want, "the input arrived unchanged");
    let after = unidist::transfer_stats();
    let sent = |to: usize| after[3].peer(to).bytes_sent - before[3].peer(to).bytes_sent;
    let crossed = sent(1) + sent(2);
    println!("placement: {policy}: {crossed} bytes of the input crossed from host c to host b");
    match policy {
        "host-aware" => assert_eq!(crossed, 0, "the task ran on the input's host"),
        _ => assert!(crossed >= LEN, "round-robin ran the task on host b"),
    }
    unidist::shutdown();
}

/// `objects across <bytes>`: worker to worker, with the hosts of both workers printed.
fn across(len: u64) {
    let host_of = |rank: usize| {
        let hosts = unidist::cluster_resources();
        hosts.into_iter().find(|h| h.ranks.contains(&rank)).expect("every rank has a host").host
    };
    println!("objects: worker 1 on {}, worker 2 on {}", host_of(1), host_of(2));
    worker_to_worker(len, local_digest(&local_pattern(len, 9)));
    unidist::shutdown();
    println!("objects: {len} bytes crossed unchanged");
}

/// A value whose encoding is `encoded` bytes long (a `Vec<u8>` encodes as a varint length, then
/// its bytes), for sizes from 0 and 1 up; `None` for an encoding no `Vec<u8>` has.
fn bytes_encoded_as(encoded: u64, seed: u8) -> Option<Vec<u8>> {
    let len = (encoded.saturating_sub(9)..encoded).find(|n| n + varint_len(*n) == encoded)?;
    Some(local_pattern(len, seed))
}

/// The bytes of `n`'s varint (bincode's standard encoding of an integer).
fn varint_len(n: u64) -> u64 {
    match n {
        0..=250 => 1,
        251..=65_535 => 3,
        65_536..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// The bytes every rank mapped from each peer so far, summed.
fn mapped_bytes() -> u64 {
    unidist::transfer_stats().iter().flat_map(|t| t.peers.iter()).map(|p| p.bytes_mapped).sum()
}

/// `objects segments`: objects of sizes around `UNIDIST_SHARED_BYTES` and of 64 MiB (encoded
/// sizes), root to worker and back and worker to worker, byte for byte. Each rank's mapped bytes
/// must grow by exactly the objects of at least the threshold that moved between ranks of one
/// host, and by nothing where sharing is off (the local backend, `off`, ranks alone on a host).
fn segments() {
    let setting = std::env::var("UNIDIST_SHARED_BYTES").unwrap_or_default();
    let threshold: Option<u64> = match setting.trim() {
        "" => Some(1 << 20),
        "off" => None,
        v => Some(v.parse().expect("UNIDIST_SHARED_BYTES as the job has it")),
    };
    let mpi = unidist::backend() == "mpi";
    let hosts = unidist::cluster_resources();
    let host_of = |rank: usize| hosts.iter().position(|h| h.ranks.contains(&rank)).unwrap();
    let shared = |len: u64, from: usize, to: usize| {
        mpi && threshold.is_some_and(|t| len >= t) && host_of(from) == host_of(to)
    };
    let workers = unidist::num_workers();
    // The next task goes to worker `w`.
    let next_on = |w: usize| while unidist::schedule_rank() % workers + 1 != w {};
    let mut sizes = vec![1_u64, 2, 64 << 20];
    if let Some(t) = threshold {
        sizes.extend([t.saturating_sub(1), t, t + 1]);
    }
    sizes.sort();
    sizes.dedup();
    let mut checked = 0;
    for encoded in sizes {
        let Some(value) = bytes_encoded_as(encoded, encoded as u8) else { continue };
        for worker in 1..=workers {
            // Root to worker (a `put`) and back (the task's result, fetched by `get`).
            let before = mapped_bytes();
            next_on(worker);
            let back = unidist::get(&same_bytes::remote(unidist::put(value.clone()))).unwrap();
            assert!(
                back == value,
                "{encoded} encoded bytes came back from worker {worker} changed"
            );
            let expected = [(0, worker), (worker, 0)]
                .iter()
                .filter(|(from, to)| shared(encoded, *from, *to))
                .count() as u64
                * encoded;
            let mapped = mapped_bytes() - before;
            assert_eq!(mapped, expected, "{encoded} bytes root to worker {worker} and back mapped");
            // Worker to worker: made on `worker`, read on the next one.
            let reader = worker % workers + 1;
            if reader == worker {
                continue;
            }
            let before = mapped_bytes();
            next_on(worker);
            let made = same_bytes::remote(value.clone());
            next_on(reader);
            let read = digest::remote(&made);
            let digest = local_digest(&value);
            assert_eq!(unidist::get(&read).unwrap(), digest, "worker to worker");
            // The input, worker to worker; the digest, reader to root (small: shared only when
            // the threshold is tiny).
            let digest_len = varint_len(digest.0) + varint_len(digest.1);
            let expected = shared(encoded, worker, reader) as u64 * encoded
                + shared(digest_len, reader, 0) as u64 * digest_len;
            let mapped = mapped_bytes() - before;
            assert_eq!(mapped, expected, "{encoded} bytes from worker {worker} to {reader} mapped");
            checked += 1;
        }
    }
    // A task's nested task with a large value: it travels in the task's message (a segment of
    // the worker's, lent to the root, which the worker no longer holds once sent).
    let nested = threshold.map_or(4 << 20, |t| t + 1);
    for worker in 1..=workers {
        next_on(worker);
        let got = unidist::get(&nested_digest::remote(nested)).unwrap();
        assert_eq!(got, local_digest(&local_pattern(nested, 4)), "a nested task's large value");
    }
    let mapped = mapped_bytes();
    unidist::shutdown();
    println!("objects: segments: {checked} worker-to-worker moves checked; {mapped} bytes mapped");
}

/// The digest of `len` bytes, computed by a nested task that takes them by value.
#[remote]
fn nested_digest(len: u64) -> (u64, u64) {
    unidist::get(&digest::remote(local_pattern(len, 4))).unwrap()
}

/// This process's id.
#[remote]
fn pid() -> u32 {
    std::process::id()
}

/// `objects segments-fault <abort|panic>`: large objects in segments on the root and on every
/// worker, the job's process ids printed, then a task that aborts its worker, or a root that
/// panics.
fn segments_fault(fault: &str) {
    let value = local_pattern(8 << 20, 1);
    let put = unidist::put(value.clone());
    let workers = unidist::num_workers();
    let made: Vec<ObjectRef<Vec<u8>>> = (0..workers).map(|_| same_bytes::remote(&put)).collect();
    assert!(unidist::get(&made).unwrap().iter().all(|v| *v == value));
    assert!(mapped_bytes() > 0, "the objects went through shared memory");
    let pids: Vec<u32> = (1..=workers).map(|w| unidist::get(&pid::remote_on(w)).unwrap()).collect();
    println!("objects: pids {} {pids:?}", std::process::id());
    println!("objects: segments made; now the fault");
    match fault {
        "abort" => drop(unidist::get(&abort_task::remote(&made[0]))),
        _ => panic!("the root gives up with shared objects alive"),
    }
    unreachable!("the job ends at the fault");
}

/// Aborts its process.
#[remote]
fn abort_task(_v: Vec<u8>) {
    std::process::abort();
}

/// The cases, in the order they run.
const CASES: &[&str] = &[
    "put_task_get",
    "worker_to_worker",
    "many_in_one_batch",
    "kept_buffers_carry_no_old_bytes",
    "arc_inputs_decode_once_per_worker",
    "arrays_are_read_in_place",
];

/// Sizes from 4 MiB up, where freed buffers are kept and reused: each larger or smaller than the
/// one before, so a reused buffer is longer or shorter than the object written into it.
const KEPT_SIZES: [u64; 6] =
    [4 << 20, (8 << 20) + 5, (5 << 20) - 3, (4 << 20) + 1, 9 << 20, (6 << 20) + 7];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = |m: &str| args.first().map(String::as_str) == Some(m);
    let modes = ["huge", "across", "placement", "result", "shared", "segments", "segments-fault"];
    if modes.iter().any(|m| mode(m)) {
        unidist::init();
        match args[0].as_str() {
            "segments" => return segments(),
            "segments-fault" => return segments_fault(&args[1]),
            "huge" => return huge(args[1].parse().expect("a size in bytes")),
            "result" => return result(args[1].parse().expect("a size in bytes")),
            "shared" => {
                let tasks = args.get(2).and_then(|t| t.parse().ok()).expect("a number of tasks");
                return shared(args[1].parse().expect("a size in bytes"), tasks);
            }
            "across" => return across(args[1].parse().expect("a size in bytes")),
            _ => return placement(&args[1]),
        }
    }
    let cases = cases::Cases::from_args("objects", CASES);
    unidist::init();
    let workers = cases.workers;
    assert_eq!((unidist::backend(), unidist::num_workers()), (cases.backend.as_str(), workers));

    cases.run("put_task_get", || {
        for len in SIZES {
            let value = local_pattern(len, 7);
            let back = unidist::get(&same_bytes::remote(unidist::put(value.clone()))).unwrap();
            assert!(back == value, "Vec<u8> of {len} bytes came back changed");
            // By value: the argument travels inside the task.
            let back = unidist::get(&same_bytes::remote(value.clone())).unwrap();
            assert!(back == value, "a Vec<u8> argument of {len} bytes came back changed");
            let floats: Vec<f64> = (0..len / 8).map(|i| i as f64 * 0.25 - 1e9).collect();
            let back = unidist::get(&same_floats::remote(unidist::put(floats.clone()))).unwrap();
            assert!(back == floats, "Vec<f64> of {} elements came back changed", len / 8);
        }
    });

    // Made on one worker, read by a task on every other worker and by the root.
    cases.run("worker_to_worker", || {
        for len in SIZES {
            let made: ObjectRef<Vec<u8>> = pattern::remote(len, 3);
            let expected = local_digest(&local_pattern(len, 3));
            let digests: Vec<ObjectRef<(u64, u64)>> =
                (0..workers).map(|_| digest::remote(&made)).collect();
            for d in unidist::get(&digests).unwrap() {
                assert_eq!(d, expected, "a {len}-byte input moved worker to worker changed");
            }
            assert_eq!(local_digest(&unidist::get(&made).unwrap()), expected);
        }
    });

    // Many large objects in one batch towards one rank, in both directions.
    cases.run("many_in_one_batch", || {
        let many: Vec<ObjectRef<Vec<u8>>> =
            (0..8).map(|k| pattern::remote(200_000 + k, k as u8)).collect();
        let back = unidist::get(&many).unwrap();
        for (k, v) in back.iter().enumerate() {
            assert!(
                *v == local_pattern(200_000 + k as u64, k as u8),
                "object {k} of a batch changed"
            );
        }
    });

    // Freed large buffers are written again by later objects (`memory_stats` frees everything
    // dropped before it, on every rank): each object must come out as it went in, with no byte
    // of an earlier one, as a `put`, a task's input and result, and a `Vec<u8>` decoded.
    cases.run("kept_buffers_carry_no_old_bytes", || {
        for (round, len) in KEPT_SIZES.into_iter().enumerate() {
            let seed = 11 + round as u8;
            let value = local_pattern(len, seed);
            let back = unidist::get(&same_bytes::remote(unidist::put(value.clone()))).unwrap();
            assert!(back == value, "round {round}: a {len}-byte put-task-get changed");
            let made = pattern::remote(len, seed);
            let digests: Vec<_> = (0..workers).map(|_| digest::remote(&made)).collect();
            for d in unidist::get(&digests).unwrap() {
                assert_eq!(d, local_digest(&value), "round {round}: a {len}-byte input changed");
            }
            assert!(unidist::get(&made).unwrap() == value, "round {round}: a result changed");
            drop((back, made, digests));
            let held: u64 = unidist::memory_stats().iter().map(|m| m.objects).sum();
            assert_eq!(held, 0, "round {round}: every object freed");
        }
    });

    // An input taken as `Arc<T>` is decoded once per worker, however many tasks there read it,
    // and freed with its object; passed as itself it is decoded for each task.
    cases.run("arc_inputs_decode_once_per_worker", || {
        let entries = 1 << 19; // 4 MiB
        let table = unidist::put(Table((0..entries).map(|i| i * 3).collect(), false));
        let reads: Vec<ObjectRef<u64>> =
            (0..400).map(|k| lookup::remote(&table, k * 1_000 % entries)).collect();
        for (k, got) in unidist::get(&reads).unwrap().into_iter().enumerate() {
            assert_eq!(got, (k as u64 * 1_000 % entries) * 3, "read {k}");
        }
        let by_value = lookup::remote(Table(vec![5, 6, 7], false), 2);
        assert_eq!(unidist::get(&by_value).unwrap(), 7, "an Arc parameter given a value");
        drop((table, reads, by_value));
        unidist::memory_stats(); // every worker has freed the objects dropped before it
        let mut per_process = std::collections::BTreeMap::new();
        for w in 1..=workers {
            let (decodes, drops, pid) = unidist::get(&table_counts::remote_on(w)).unwrap();
            per_process.insert(pid, (decodes, drops));
        }
        // Each worker decodes the table once (the local backend's share one process), plus
        // the small table given by value once.
        let most = if cases.backend == "local" { workers as u64 + 1 } else { 2 };
        for (pid, (decodes, drops)) in per_process {
            assert!(
                decodes <= most,
                "process {pid} decoded tables {decodes} times, at most {most}"
            );
            assert_eq!(drops, decodes, "process {pid}: every decoded table freed with its object");
        }
    });

    // Arrays are read where their objects lie: bytes always, floats where the object is in
    // shared memory (under MPI, 1 MiB and more by default), aligned there.
    cases.run("arrays_are_read_in_place", || {
        for n in [0_u64, 1, 1000, 1 << 19] {
            let floats: Vec<f64> = (0..n).map(|i| i as f64 * 0.5 - 7.0).collect();
            let sum: f64 = floats.iter().sum();
            let shared = cases.backend == "mpi" && n * 8 >= 1 << 20;
            let by_ref = unidist::put(floats.clone());
            for (how, got) in [
                ("by ref", sum_floats::remote(&by_ref)),
                ("by value", sum_floats::remote(floats.clone())),
            ] {
                let (got, in_place, viewed) = unidist::get(&got).unwrap();
                assert_eq!((got, viewed), (sum, sum), "{n} floats {how}");
                assert!(in_place || !shared, "{n} floats {how} in shared memory were copied");
            }
            // A task's result, read in place by the root.
            let array = unidist::get_array(&same_floats::remote(floats.clone())).unwrap();
            assert!(array[..] == floats[..], "{n} floats read by get_array");
            assert!(array.in_place() || !shared, "{n} floats read by get_array were copied");
            let bytes = local_pattern(n * 8, 2);
            let sum: u64 = bytes.iter().map(|b| *b as u64).sum();
            let (got, in_place) = unidist::get(&sum_bytes::remote(unidist::put(bytes))).unwrap();
            assert_eq!(got, sum, "{} bytes", n * 8);
            assert!(in_place, "bytes are always read in place");
        }
    });

    unidist::shutdown();
    cases.finish();
}
