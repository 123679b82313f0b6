//! A Monte-Carlo estimate of pi spread over the workers: each task throws darts at the unit
//! square with its own random stream and counts those inside the quarter circle.
//!
//! `cargo run --release --example pi [tasks] [darts per task]`

use unidist::remote;

/// xorshift64*: a small, fast generator, good enough for darts.
fn next(state: &mut u64) -> f64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1_u64 << 53) as f64
}

#[remote]
fn throw_darts(seed: u64, darts: u64) -> u64 {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..darts)
        .filter(|_| {
            let (x, y) = (next(&mut state), next(&mut state));
            x * x + y * y <= 1.0
        })
        .count() as u64
}

#[remote]
fn sum(counts: Vec<u64>) -> u64 {
    counts.iter().sum()
}

fn main() {
    unidist::init();
    let mut args = std::env::args().skip(1);
    let tasks: u64 = args.next().map_or(64, |a| a.parse().expect("tasks"));
    let darts: u64 = args.next().map_or(1_000_000, |a| a.parse().expect("darts per task"));

    let counts: Vec<_> = (0..tasks).map(|seed| throw_darts::remote(seed, darts)).collect();
    let inside = unidist::get(&sum::remote(&counts)).unwrap();
    let pi = 4.0 * inside as f64 / (tasks * darts) as f64;
    println!(
        "pi is about {pi:.6} ({} darts in {tasks} tasks on {} workers; error {:.2e})",
        tasks * darts,
        unidist::num_workers(),
        (pi - std::f64::consts::PI).abs()
    );
    unidist::shutdown();
}
