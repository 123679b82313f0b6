//! Faults that must end the whole job with a clear message instead of a hang. Each mode makes
//! one fault happen, then waits on work that could never finish if the fault went unnoticed.
//!
//! Usage: `faults <mode>`, with mode one of:
//! - `garbage-to-worker`, `truncated-to-worker`, `huge-length-to-worker`: the root sends worker 1
//!   bytes that are not a well-formed batch of messages;
//! - `payload-without-chunks-to-worker`: a batch announcing a large object whose bytes never come;
//! - `garbage-to-root`: a task on a worker sends the root such bytes;
//! - `unknown-object-to-root`: a task sends the root a well-formed `Fetch` of an object the root
//!   has no record of (the root's loop panics on it: the job must end, not hang);
//! - `main-panics`: the root's `main` panics with tasks in flight;
//! - `task-exits-0`, `task-aborts`, `task-segfaults`, `task-killed`: a task ends its own
//!   process: `std::process::exit(0)`, `std::process::abort()`, a write through a null pointer,
//!   `SIGKILL`;
//! - `until-killed`: every worker runs a task that never ends, and the root prints
//!   `faults: running on <hosts>`: for a test that kills the processes of one host;
//! - `no-shutdown`: `main` returns without calling `shutdown` (the job must end normally);
//! - `panicking-tasks`: 10,000 tasks panic; every `get` is an error and nothing leaks (this mode
//!   ends normally).

use unidist::remote;

#[remote]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[remote]
fn send_to_root(bytes: Vec<u8>) -> u64 {
    unidist::__private::send_raw_bytes(0, bytes);
    7
}

#[remote]
fn end_process(how: String) -> u64 {
    match how.as_str() {
        "task-exits-0" => std::process::exit(0),
        "task-aborts" => std::process::abort(),
        // SAFETY: none: the point is to crash.
        "task-segfaults" => unsafe { std::ptr::null_mut::<u64>().write_volatile(1) },
        // SAFETY: sends a signal to this process.
        "task-killed" => unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        },
        _ => {}
    }
    1
}

/// Never returns: a task that keeps its worker busy until the job is torn down.
#[remote]
fn forever() -> u64 {
    // Which process runs it, for a test that stops one: the executor's thread names the rank.
    let thread = std::thread::current().name().unwrap_or_default().to_string();
    let rank = thread.rsplit('-').next().unwrap_or("?").to_string();
    println!("faults: worker {rank} is process {}", std::process::id());
    loop {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[remote]
fn boom(i: u64) -> u64 {
    panic!("task {i} failed on purpose")
}

/// A batch of one `Data` message (tag 2) whose object claims 2^60 bytes, in 16 bytes.
fn huge_length() -> Vec<u8> {
    let mut bytes = vec![1, 2, 5, 7, 253];
    bytes.extend_from_slice(&(1_u64 << 60).to_le_bytes());
    bytes.extend_from_slice(&[1, 2, 3]);
    bytes
}

fn main() {
    unidist::init();
    let mode = std::env::args().nth(1).expect("a mode");
    let bytes = match mode.as_str() {
        "garbage-to-worker" => Some(vec![0xfb, 0xff, 0xff, 0x7f, 0x01]),
        // One Data message (tag 2) cut after its object ID.
        "truncated-to-worker" => Some(vec![1, 2, 5]),
        "huge-length-to-worker" => Some(huge_length()),
        // One Payload message (tag 14) announcing 100,000 bytes that never come.
        "payload-without-chunks-to-worker" => Some(vec![1, 14, 5, 7, 252, 0xa0, 0x86, 0x01, 0x00]),
        "garbage-to-root" => {
            let _ = unidist::get(&send_to_root::remote(vec![0xfb, 0xff, 0xff, 0x7f, 0x01]));
            None
        }
        // A batch of one Fetch (tag 8) of one object, 200:0, that nobody made.
        "unknown-object-to-root" => {
            let _ = unidist::get(&send_to_root::remote(vec![1, 8, 1, 200]));
            None
        }
        "task-exits-0" | "task-aborts" | "task-segfaults" | "task-killed" => {
            let _ = unidist::get(&end_process::remote(mode.clone()));
            None
        }
        "until-killed" => {
            // A task per worker that never ends, then a line for the test, which kills a host's
            // processes: the job must end rather than wait forever.
            let hosts: Vec<String> =
                unidist::cluster_resources().into_iter().map(|h| h.host).collect();
            assert_eq!(unidist::get(&add::remote(1, 1)).unwrap(), 2);
            let started: Vec<_> = (0..unidist::num_workers()).map(|_| forever::remote()).collect();
            println!("faults: running on {}", hosts.join(","));
            let _ = unidist::get(&started);
            None
        }
        "no-shutdown" => {
            assert_eq!(unidist::get(&add::remote(2, 2)).unwrap(), 4);
            println!("faults: main returns without shutdown");
            return;
        }
        "main-panics" => {
            let _in_flight: Vec<_> = (0..100).map(|i| add::remote(i, 1)).collect();
            panic!("main gave up on purpose");
        }
        "panicking-tasks" => {
            let refs: Vec<_> = (0..10_000).map(boom::remote).collect();
            for (i, r) in refs.iter().enumerate() {
                let error = unidist::get(r).unwrap_err().to_string();
                assert!(error.contains(&format!("task {i} failed on purpose")), "{error}");
            }
            drop(refs);
            let held: u64 = unidist::memory_stats().iter().map(|m| m.objects).sum();
            assert_eq!(held, 0, "the failed results leaked");
            assert_eq!(unidist::get(&add::remote(1, 2)).unwrap(), 3, "the workers go on");
            unidist::shutdown();
            println!("faults: 10000 panicking tasks freed, workers serving");
            return;
        }
        other => panic!("unknown mode {other}"),
    };
    if let Some(bytes) = bytes {
        unidist::__private::send_raw_bytes(1, bytes);
    }
    // Work that needs worker 1 (or the root) forever: the job must end instead.
    for i in 0.. {
        assert_eq!(unidist::get(&add::remote(i, 1)).unwrap(), i + 1);
    }
    unidist::shutdown();
}
