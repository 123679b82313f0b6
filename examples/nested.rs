//! Divide and conquer with nested tasks: a parallel merge sort. Each task splits its slice,
//! sorts the halves as two more tasks, waits for them and merges; small slices are sorted in
//! place. Tasks submit and wait on tasks exactly as `main` does.
//!
//! `cargo run --release --example nested [length] [cut-off]`

use unidist::remote;

#[remote]
fn sort(v: Vec<u64>, cutoff: usize) -> Vec<u64> {
    if v.len() <= cutoff {
        let mut v = v;
        v.sort_unstable();
        return v;
    }
    let (left, right) = v.split_at(v.len() / 2);
    let left = sort::remote(left.to_vec(), cutoff);
    let right = sort::remote(right.to_vec(), cutoff);
    merge(unidist::get(&left).unwrap(), unidist::get(&right).unwrap())
}

fn merge(a: Vec<u64>, b: Vec<u64>) -> Vec<u64> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] <= b[j] {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

fn main() {
    unidist::init();
    let mut args = std::env::args().skip(1);
    let len: usize = args.next().map_or(1_000_000, |a| a.parse().expect("length"));
    let cutoff: usize = args.next().map_or(50_000, |a| a.parse().expect("cut-off"));

    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let data: Vec<u64> = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % 1_000_000
        })
        .collect();

    let started = std::time::Instant::now();
    let sorted = unidist::get(&sort::remote(data, cutoff)).unwrap();
    let elapsed = started.elapsed();
    assert!(sorted.windows(2).all(|w| w[0] <= w[1]), "sorted");
    println!(
        "sorted {} numbers in {elapsed:.2?} on {} workers (smallest {}, largest {})",
        sorted.len(),
        unidist::num_workers(),
        sorted[0],
        sorted[sorted.len() - 1]
    );
    unidist::shutdown();
}
