//! The conformance program: every item of the API contract, checked from the outside. The test
//! suite runs each case as its own job on the local backend and under `mpiexec` with 2, 3 and 5
//! ranks; it prints one `ok <case>` line per case and exits non-zero at the first failure.
//!
//! Usage: `conformance <expected backend> <expected workers> [<case>]`, or `conformance --list`
//! (see `cases.rs`).

#[path = "cases.rs"]
mod cases;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use unidist::{remote, Error, ObjectRef};

thread_local! {
    /// A ref that the main thread still holds when the process exits, dropped with the thread.
    static HELD_AT_EXIT: std::cell::RefCell<Option<ObjectRef<i64>>> =
        const { std::cell::RefCell::new(None) };
}

#[remote]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[remote(num_returns = 2, inline)]
fn split(v: Vec<u32>) -> (Vec<u32>, Vec<u32>) {
    let (a, b) = v.split_at(v.len() / 2);
    (a.to_vec(), b.to_vec())
}

#[remote(num_returns = 3)]
fn three(x: u8) -> (u8, String, Vec<u8>) {
    (x, x.to_string(), vec![x; 3])
}

#[remote]
fn total(parts: Vec<i64>) -> i64 {
    parts.iter().sum()
}

#[remote]
fn answer() -> u32 {
    42
}

#[remote]
fn nothing(_: u8) {}

#[deprecated(note = "remote functions may be deprecated too")]
#[remote]
fn old(x: u8) -> u8 {
    x
}

#[remote]
fn shout(mut s: String) -> String {
    s.make_ascii_uppercase();
    s
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    x: f64,
    y: f64,
}

mod geometry {
    use super::Point;

    #[unidist::remote]
    pub fn norm2(p: Point) -> f64 {
        p.x * p.x + p.y * p.y
    }

    pub mod deeper {
        #[unidist::remote]
        pub(crate) fn mirror(p: super::super::Point) -> self::super::super::Point {
            super::super::Point { x: -p.x, y: -p.y }
        }
    }
}

#[remote]
fn boom(message: String) -> i64 {
    panic!("{}", message)
}

/// Reads, inside a task, an object whose bytes are not a `Point`: the error as text.
#[remote]
fn get_undecodable_point() -> String {
    let wrong: ObjectRef<Point> = unidist::__private::put_as(vec![1_u8, 2, 3]);
    match unidist::get(&wrong) {
        Err(Error::Codec { object, type_name, .. }) if object == wrong.id() => type_name,
        other => format!("unexpected: {other:?}"),
    }
}

#[remote]
fn make_bytes(len: u64) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[remote]
fn checksum(bytes: Vec<u8>) -> u64 {
    bytes.iter().map(|b| *b as u64).sum()
}

/// Tasks of this process that have started `meet` (used once per process).
static ARRIVED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Waits (up to 10 s) until `k` tasks have started `meet` in this process, and returns how many
/// it saw: `k` for every one of them only if all `k` ran at once. With fewer than `k` task
/// slots, the first ones give up before the last starts.
#[remote]
fn meet(k: usize) -> usize {
    use std::sync::atomic::Ordering::SeqCst;
    ARRIVED.fetch_add(1, SeqCst);
    let start = std::time::Instant::now();
    while ARRIVED.load(SeqCst) < k && start.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    ARRIVED.load(SeqCst)
}

/// Returns once `flag` exists: a task that stays running until the root says so.
#[remote]
fn until_flag(flag: String) -> u32 {
    while !std::path::Path::new(&flag).exists() {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    1
}

fn panic_text(result: std::thread::Result<impl Sized>) -> String {
    match result {
        Ok(_) => panic!("expected a panic"),
        Err(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default(),
    }
}

fn expect_panic(what: &str, f: impl FnOnce(), needle: &str) {
    let text = panic_text(catch_unwind(AssertUnwindSafe(f)));
    assert!(text.contains(needle), "{what}: panic message {text:?} lacks {needle:?}");
}

/// The task slots each worker of `host` should have: `UNIDIST_WORKER_THREADS`, else 1 on the
/// local backend and the host's cores over its ranks under MPI.
fn slots_per_worker(host: &unidist::HostResources) -> usize {
    match std::env::var("UNIDIST_WORKER_THREADS") {
        Ok(v) => v.parse().expect("a number"),
        Err(_) if unidist::backend() == "local" => 1,
        Err(_) => (host.cpus / host.ranks.len()).max(1),
    }
}

/// The cases, in the order they run.
const CASES: &[&str] = &[
    "init",
    "cluster_resources",
    "task_slots",
    "values_and_refs",
    "num_returns",
    "put_wait_get_many",
    "vec_of_refs",
    "signatures",
    "panics",
    "wait_returns_early",
    "type_mismatch",
    "undecodable_object",
    "refs_across_workers",
    "threads",
    "memory",
    "schedule_rank",
    "after_shutdown",
];

fn main() {
    let cases = cases::Cases::from_args("conformance", CASES);
    let (backend, workers) = (cases.backend.clone(), cases.workers);

    // Every rank runs this before init: each call names itself and says what to do.
    let before = |api: &str, f: &mut dyn FnMut()| {
        let text = panic_text(catch_unwind(AssertUnwindSafe(f)));
        let expected =
            format!("unidist::{api} was called before unidist::init(): call unidist::init()");
        assert!(text.contains(&expected), "{api} before init: {text:?}");
    };
    before("put", &mut || drop(unidist::put(1_u8)));
    before("remote", &mut || drop(add::remote(1, 2)));
    before("wait", &mut || drop(unidist::wait(&[] as &[ObjectRef<u8>], 0)));
    before("num_workers", &mut || {
        let _ = unidist::num_workers();
    });
    before("backend", &mut || {
        let _ = unidist::backend();
    });
    before("schedule_rank", &mut || {
        let _ = unidist::schedule_rank();
    });
    before("memory_stats", &mut || drop(unidist::memory_stats()));
    before("transfer_stats", &mut || drop(unidist::transfer_stats()));
    before("shutdown", &mut unidist::shutdown);
    assert!(!unidist::is_initialized());

    unidist::init();
    assert_eq!((unidist::backend(), unidist::num_workers()), (backend.as_str(), workers));

    cases.run("init", || {
        assert!(unidist::is_initialized());
        assert_eq!(unidist::backend(), backend);
        assert_eq!(unidist::num_workers(), workers);
        expect_panic("init twice", unidist::init, "called twice");
    });

    cases.run("cluster_resources", || {
        let hosts = unidist::cluster_resources();
        let mut ranks: Vec<usize> = hosts.iter().flat_map(|h| h.ranks.clone()).collect();
        ranks.sort();
        assert_eq!(ranks, (0..=workers).collect::<Vec<_>>(), "every rank once: {hosts:?}");
        assert_eq!(hosts[0].ranks[0], 0, "the root's host first: {hosts:?}");
        for host in &hosts {
            assert!(!host.host.is_empty() && host.cpus >= 1, "{host:?}");
            let expected: Vec<usize> = host.ranks.iter().copied().filter(|r| *r != 0).collect();
            assert_eq!(host.workers, expected, "{host:?}");
            assert_eq!(host.slots, host.workers.len() * slots_per_worker(host), "{host:?}");
        }
        let names: Vec<&str> = hosts.iter().map(|h| h.host.as_str()).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), hosts.len(), "one entry per host: {hosts:?}");
        // For the multi-host tests, which check the hosts by name.
        println!("hosts: {}", names.join(","));
        let placed: Vec<String> =
            hosts.iter().map(|h| format!("{}={:?}", h.host, h.ranks)).collect();
        println!("ranks by host: {}", placed.join(" "));
    });

    cases.run("task_slots", || {
        // Every task to worker 1, all at once: as many run together as it has slots.
        let host = unidist::cluster_resources().into_iter().find(|h| h.workers.contains(&1));
        let k = slots_per_worker(&host.expect("worker 1 has a host"));
        let refs: Vec<ObjectRef<usize>> = (0..k)
            .map(|_| {
                while unidist::schedule_rank() != workers {}
                meet::remote(k)
            })
            .collect();
        assert_eq!(unidist::get(&refs).unwrap(), vec![k; k], "{k} slots on worker 1");
        println!("task slots per worker: {k}");
    });

    cases.run("values_and_refs", || {
        let x: ObjectRef<i64> = add::remote(1, 2);
        let y = add::remote(&x, 10);
        assert_eq!(unidist::get(&y).unwrap(), 13);
        assert_eq!(unidist::get(&x).unwrap(), 3);
        let z = add::remote(x.clone(), y);
        assert_eq!(unidist::get(&z).unwrap(), 16);
        assert_eq!(format!("{}", z.id()), format!("{}:{}", z.id().origin(), z.id().sequence()));
        assert!(format!("{z:?}").contains("ObjectRef<i64>"));
        assert_eq!(add(2, 3), 5, "the function stays callable locally");
    });

    cases.run("num_returns", || {
        let (l, r) = split::remote(vec![1, 2, 3, 4]);
        assert_eq!(unidist::get(&r).unwrap(), vec![3, 4]);
        assert_eq!(unidist::get(&l).unwrap(), vec![1, 2]);
        let (a, b, c) = three::remote(7);
        assert_eq!(unidist::get(&c).unwrap(), vec![7, 7, 7]);
        assert_eq!(unidist::get(&b).unwrap(), "7");
        assert_eq!(unidist::get(&a).unwrap(), 7);
    });

    cases.run("put_wait_get_many", || {
        let p = unidist::put(7_i64);
        let many: Vec<ObjectRef<i64>> = (0..100).map(|i| add::remote(&p, i)).collect();
        let (ready, not_ready) = unidist::wait(&many, 10);
        assert!(ready.len() >= 10);
        assert_eq!(ready.len() + not_ready.len(), 100);
        let position = |r: &ObjectRef<i64>| many.iter().position(|m| m == r).unwrap();
        assert!(ready.windows(2).all(|w| position(&w[0]) < position(&w[1])), "ready keeps order");
        assert!(not_ready.windows(2).all(|w| position(&w[0]) < position(&w[1])));
        let all: Vec<i64> = unidist::get(&many).unwrap();
        assert_eq!(all, (0..100).map(|i| 7 + i).collect::<Vec<_>>());
        let (ready, not_ready) = unidist::wait(&many, 100);
        assert_eq!((ready.len(), not_ready.len()), (100, 0));
        assert_eq!(unidist::get(&p).unwrap(), 7);
        assert_eq!(unidist::get(&many[..3]).unwrap(), vec![7, 8, 9]);
    });

    cases.run("vec_of_refs", || {
        let parts: Vec<ObjectRef<i64>> = (1..=10).map(|i| add::remote(i, 0)).collect();
        assert_eq!(unidist::get(&total::remote(&parts)).unwrap(), 55);
        assert_eq!(unidist::get(&total::remote(&parts[..2])).unwrap(), 3);
        assert_eq!(unidist::get(&total::remote(&[parts[0].clone(), unidist::put(5)])).unwrap(), 6);
        assert_eq!(unidist::get(&total::remote(vec![1, 2, 3])).unwrap(), 6);
        assert_eq!(unidist::get(&total::remote(Vec::<ObjectRef<i64>>::new())).unwrap(), 0);
        let whole = unidist::put(vec![4_i64, 5]);
        assert_eq!(unidist::get(&total::remote(&whole)).unwrap(), 9);
        assert_eq!(unidist::get(&total::remote(parts)).unwrap(), 55);
    });

    cases.run("signatures", || {
        assert_eq!(unidist::get(&answer::remote()).unwrap(), 42);
        unidist::get(&nothing::remote(1)).unwrap();
        #[allow(deprecated)]
        let old = old::remote(9);
        assert_eq!(unidist::get(&old).unwrap(), 9);
        assert_eq!(unidist::get(&shout::remote("hi".to_string())).unwrap(), "HI");
        let p = Point { x: 3.0, y: 4.0 };
        assert_eq!(unidist::get(&geometry::norm2::remote(p.clone())).unwrap(), 25.0);
        let m = geometry::deeper::mirror::remote(p);
        assert_eq!(unidist::get(&m).unwrap(), Point { x: -3.0, y: -4.0 });
        assert_eq!(unidist::get(&geometry::norm2::remote(&m)).unwrap(), 25.0);
    });

    cases.run("panics", || {
        let bad = boom::remote("kaboom".to_string());
        match unidist::get(&bad) {
            Err(Error::TaskPanicked { function, rank, message, .. }) => {
                assert_eq!(function, "conformance::boom");
                assert!((1..=workers).contains(&rank));
                assert_eq!(message, "kaboom");
            }
            other => panic!("expected a panic error, got {other:?}"),
        }
        let text = unidist::get(&bad).unwrap_err().to_string();
        assert!(text.contains("conformance::boom") && text.contains("kaboom"), "{text}");
        let after = add::remote(&bad, 1);
        match unidist::get(&after) {
            Err(Error::InputFailed { function, input, cause }) => {
                assert_eq!(function, "conformance::add");
                assert_eq!(input, bad.id());
                assert!(matches!(*cause, Error::TaskPanicked { .. }));
            }
            other => panic!("expected an input error, got {other:?}"),
        }
        let chained = total::remote(vec![add::remote(1, 1), after.clone()]);
        assert!(unidist::get(&chained).unwrap_err().to_string().contains("kaboom"));
        let (ready, _) = unidist::wait(std::slice::from_ref(&bad), 1);
        assert_eq!(ready.len(), 1, "a failed task counts as ready");
        // Every worker goes on serving.
        let more: Vec<_> = (0..2 * workers as i64).map(|i| add::remote(i, 1)).collect();
        assert_eq!(unidist::get(&more).unwrap().len(), 2 * workers);
        assert!(unidist::get(&vec![add::remote(1, 1), bad]).is_err());
    });

    cases.run("wait_returns_early", || {
        let flag: PathBuf = std::env::temp_dir().join(format!(
            "unidist-conformance-{}-{}",
            std::process::id(),
            workers
        ));
        let _ = std::fs::remove_file(&flag);
        // Submitted before the slow task, so that it runs first even with one worker.
        let fast = answer::remote();
        let slow = until_flag::remote(flag.to_string_lossy().into_owned());
        let refs = vec![slow.clone(), fast.clone(), unidist::put(7_u32)];
        let (ready, not_ready) = unidist::wait(&refs, 2);
        assert_eq!(not_ready, vec![slow.clone()], "the slow task is still running");
        assert_eq!(ready, refs[1..].to_vec());
        assert_eq!(unidist::get(&fast).unwrap(), 42);
        std::fs::write(&flag, b"go").unwrap();
        assert_eq!(unidist::get(&slow).unwrap(), 1);
        let _ = std::fs::remove_file(&flag);
        expect_panic(
            "wait for too many",
            || drop(unidist::wait(&refs, 4)),
            "num_returns is 4 but only 3 refs",
        );
    });

    cases.run("type_mismatch", || {
        let r = add::remote(1, 2);
        let wrong: ObjectRef<String> = unidist::__private::retype(r.clone());
        match unidist::get(&wrong) {
            Err(Error::TypeMismatch { object, expected, found }) => {
                assert_eq!(object, r.id());
                assert!(expected.contains("String"), "{expected}");
                assert_eq!(found, "i64");
            }
            other => panic!("expected a type mismatch, got {other:?}"),
        }
        let as_arg = shout::remote(&wrong);
        assert!(matches!(unidist::get(&as_arg), Err(Error::TypeMismatch { .. })));
    });

    cases.run("undecodable_object", || {
        // Bytes marked as a `Point` that are not one, as from a rank whose `Point` differs: an
        // error naming the object and the type, wherever the object is read.
        let wrong: ObjectRef<Point> = unidist::__private::put_as(vec![1_u8, 2, 3]);
        let expect_codec = |result: Result<f64, Error>, what: &str| match result {
            Err(Error::Codec { object, action, type_name, reason }) => {
                assert_eq!(object, wrong.id(), "{what}");
                assert_eq!(action, "decoded", "{what}");
                assert!(type_name.ends_with("Point"), "{what}: {type_name}");
                assert!(!reason.is_empty(), "{what}");
            }
            other => panic!("{what}: expected a codec error, got {other:?}"),
        };
        let as_point = unidist::get(&wrong).map(|p| p.x);
        expect_codec(as_point, "get on the root");
        expect_codec(unidist::get(&geometry::norm2::remote(&wrong)), "a task's input");
        let text = unidist::get(&wrong).unwrap_err().to_string();
        assert!(text.contains(&wrong.id().to_string()) && text.contains("Point"), "{text}");
        let inside = unidist::get(&get_undecodable_point::remote()).unwrap();
        assert!(inside.ends_with("Point"), "get inside a task: {inside}");
        // A value too short for the type, and one with bytes left over, are errors alike.
        let short: ObjectRef<u64> = unidist::__private::put_as(());
        assert!(matches!(unidist::get(&short), Err(Error::Codec { .. })));
        let long: ObjectRef<u8> = unidist::__private::put_as(7_u16 << 9);
        assert!(matches!(unidist::get(&long), Err(Error::Codec { .. })));
        // The runtime goes on serving.
        assert_eq!(unidist::get(&add::remote(1, 2)).unwrap(), 3);
    });

    cases.run("refs_across_workers", || {
        if workers < 2 {
            return;
        }
        const LEN: u64 = 1 << 20;
        let before = unidist::transfer_stats();
        let bytes = make_bytes::remote(LEN); // on one worker ...
        let sum = checksum::remote(&bytes); // ... taken by the next one, round-robin
        let expected: u64 = (0..LEN).map(|i| i % 251).sum();
        assert_eq!(unidist::get(&sum).unwrap(), expected);
        let after = unidist::transfer_stats();
        assert_eq!(after.len(), workers + 1);
        let delta = |rank: usize, peer: usize| {
            let (a, b) = (after[rank].peer(peer), before[rank].peer(peer));
            (
                a.objects_sent - b.objects_sent,
                a.bytes_sent - b.bytes_sent,
                a.bytes_received - b.bytes_received,
            )
        };
        let mut root_bytes = 0;
        let mut moved = 0;
        for w in 1..=workers {
            let (_, sent, received) = delta(0, w);
            root_bytes += sent + received;
            for v in 1..=workers {
                if v != w {
                    let (objects, sent, _) = delta(w, v);
                    if sent >= LEN {
                        moved += objects;
                        let (_, _, got) = delta(v, w);
                        assert!(got >= LEN, "rank {v} counts what rank {w} sent it");
                    }
                }
            }
        }
        assert_eq!(moved, 1, "the input went worker to worker once");
        assert!(root_bytes < 64, "the root moved {root_bytes} bytes: only the small result");
    });

    cases.run("threads", || {
        let threads: Vec<_> = (0..4_i64)
            .map(|t| {
                std::thread::spawn(move || {
                    let p = unidist::put(t * 1000);
                    let refs: Vec<_> = (0..50).map(|i| add::remote(&p, i)).collect();
                    let (ready, _) = unidist::wait(&refs, 25);
                    assert!(ready.len() >= 25);
                    unidist::get(&total::remote(&refs)).unwrap()
                })
            })
            .collect();
        for (t, handle) in threads.into_iter().enumerate() {
            let t = t as i64;
            assert_eq!(handle.join().unwrap(), 50 * t * 1000 + 1225);
        }
    });

    cases.run("memory", || {
        let total = || -> (u64, u64) {
            let stats = unidist::memory_stats();
            assert_eq!(stats.len(), workers + 1);
            assert!(stats.iter().enumerate().all(|(rank, m)| m.rank == rank));
            stats.iter().fold((0, 0), |(o, b), m| (o + m.objects, b + m.bytes))
        };
        assert_eq!(
            total(),
            (0, 0),
            "every earlier object was freed: {:?}",
            unidist::memory_stats()
        );
        let kept = make_bytes::remote(10_000);
        let sum = checksum::remote(&kept);
        unidist::get(&sum).unwrap();
        drop(sum);
        let (objects, bytes) = total();
        assert!(objects >= 1 && bytes >= 10_000, "a kept ref keeps its object: {objects} {bytes}");
        unidist::get(&kept).unwrap();
        assert!(total().0 >= 2, "the root's copy counts too");
        drop(kept);
        assert_eq!(
            total(),
            (0, 0),
            "dropped, and freed on every rank: {:?}",
            unidist::memory_stats()
        );
        // Dropped before the tasks that need them have run: freed only after.
        let x = add::remote(1, 2);
        let y = add::remote(&x, 1);
        drop(x);
        assert_eq!(unidist::get(&y).unwrap(), 4);
        let failed = boom::remote("freed too".to_string());
        assert!(unidist::get(&failed).is_err());
        drop((y, failed));
        assert_eq!(total(), (0, 0), "results, inputs and errors are all freed");
    });

    cases.run("schedule_rank", || {
        let ranks: Vec<usize> = (0..2 * workers).map(|_| unidist::schedule_rank()).collect();
        assert!(ranks.iter().all(|r| (1..=workers).contains(r)), "{ranks:?}");
        assert_eq!(ranks[..workers], ranks[workers..], "round-robin: {ranks:?}");
        let mut once = ranks[..workers].to_vec();
        once.sort();
        assert_eq!(once, (1..=workers).collect::<Vec<_>>(), "every worker once per cycle");
        // The caller's next task takes the rank after the one schedule_rank gave: the bytes of
        // its input go from the root to that worker and to no other.
        for _ in 0..workers {
            let input = unidist::put(vec![7_u8; 10_000]);
            let before = unidist::transfer_stats()[0].clone();
            let expected = unidist::schedule_rank() % workers + 1;
            assert_eq!(unidist::get(&checksum::remote(&input)).unwrap(), 70_000);
            let after = unidist::transfer_stats()[0].clone();
            for worker in 1..=workers {
                let sent = after.peer(worker).bytes_sent - before.peer(worker).bytes_sent;
                assert_eq!(sent >= 10_000, worker == expected, "worker {worker}: {sent} bytes");
            }
        }
    });

    let kept = add::remote(40, 2);
    assert_eq!(unidist::get(&kept).unwrap(), 42);
    // Work still running and queued at shutdown is abandoned: shutdown returns all the same.
    let never = std::env::temp_dir().join("unidist-conformance-never-created");
    let _running: Vec<_> = (0..2 * workers)
        .map(|_| until_flag::remote(never.to_string_lossy().into_owned()))
        .collect();
    let _queued = add::remote(1, 1);
    unidist::shutdown();

    cases.run("after_shutdown", || {
        assert!(!unidist::is_initialized());
        let copy = kept.clone();
        drop(copy);
        expect_panic("get", || drop(unidist::get(&kept)), "after unidist::shutdown()");
        expect_panic("put", || drop(unidist::put(1_u8)), "after unidist::shutdown()");
        expect_panic("remote", || drop(add::remote(1, 2)), "after unidist::shutdown()");
        expect_panic(
            "wait",
            || drop(unidist::wait(std::slice::from_ref(&kept), 1)),
            "after unidist::shutdown()",
        );
        expect_panic(
            "num_workers",
            || {
                let _ = unidist::num_workers();
            },
            "after unidist::shutdown()",
        );
        expect_panic("init", unidist::init, "cannot be started again");
        expect_panic("shutdown", unidist::shutdown, "after unidist::shutdown()");
        // Refs dropped after shutdown, on another thread and as the process exits, are harmless.
        let other = kept.clone();
        std::thread::spawn(move || drop(other)).join().expect("a drop on another thread");
        HELD_AT_EXIT.with(|h| *h.borrow_mut() = Some(kept.clone()));
        drop(kept);
    });
    cases.finish();
}
