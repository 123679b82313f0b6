//! Faults that must end the whole job with a clear message instead of a hang. Each mode makes
//! one fault happen, then waits on work that could never finish if the fault went unnoticed.
//!
//! Usage: `faults <mode>`, with mode one of:
//! - `garbage-to-worker`, `truncated-to-worker`, `huge-length-to-worker`: the root sends worker 1
//!   bytes that are not a well-formed batch of messages;
//! - `payload-without-chunks-to-worker`: a batch announcing a large object whose bytes never come;
//! - `garbage-to-root`: a task on a worker sends the root such bytes.

use unidist::remote;

#[remote]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[remote]
fn send_garbage_to_root() -> u64 {
    unidist::__private::send_raw_bytes(0, vec![0xfb, 0xff, 0xff, 0x7f, 0x01]);
    7
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
        "garbage-to-root" => None,
        other => panic!("unknown mode {other}"),
    };
    match bytes {
        Some(bytes) => unidist::__private::send_raw_bytes(1, bytes),
        None => {
            let _ = unidist::get(&send_garbage_to_root::remote());
        }
    }
    // Work that needs worker 1 (or the root) forever: the job must end instead.
    for i in 0.. {
        assert_eq!(unidist::get(&add::remote(i, 1)).unwrap(), i + 1);
    }
    unidist::shutdown();
}
