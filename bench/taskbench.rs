//! The `taskbench` item: task graphs in the style of Task Bench (Slaughter et al., SC20), to find
//! the smallest task the runtime keeps the cores busy with.
//!
//! A graph is `width` points (one per worker) by `steps` steps. Point `i` of step `t` is one task
//! of the plain `#[remote]` function [`point`]: it reads the results of the points of step
//! `t - 1` its pattern names (its dependencies), checks that each holds exactly what that point
//! wrote, as Task Bench's core does, runs a busy loop of a set length (the kernel), and writes
//! `(t, i)`. The root submits the whole graph at once, as Task Bench's drivers for Ray and Dask
//! do, and `get`s the last step.
//!
//! For each pattern the kernel is swept down from 2 ms, halving, until the cores are less than
//! half busy. Efficiency is the kernel time of every task over the wall time of the graph times
//! the task slots of the workers; the task granularity is that wall time times the slots over
//! the tasks. METG (minimum effective task granularity) at 50% is the smallest granularity
//! measured with an efficiency of at least 50%.
//!
//! Patterns (Task Bench's names; the dependencies of point `i` at step `t`, within `0..width`):
//! `no_comm` reads `i`; `stencil_1d` reads `i - 1, i, i + 1`; `nearest` reads the 5 points
//! `i - 2 ..= i + 2`; `fft` reads `i` and `i ± 2^k`, `k` cycling over the butterfly's levels;
//! `tree` reads `i / 2` (a tree fanning out from point 0, simpler than Task Bench's, which
//! widens and narrows); `all_to_all` reads every point.

use std::time::{Duration, Instant};

use unidist::{remote, ObjectRef};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    NoComm,
    Stencil,
    Nearest,
    Fft,
    Tree,
    AllToAll,
}

impl Pattern {
    pub const ALL: [Pattern; 6] = [
        Pattern::NoComm,
        Pattern::Stencil,
        Pattern::Nearest,
        Pattern::Fft,
        Pattern::Tree,
        Pattern::AllToAll,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Pattern::NoComm => "no_comm",
            Pattern::Stencil => "stencil_1d",
            Pattern::Nearest => "nearest",
            Pattern::Fft => "fft",
            Pattern::Tree => "tree",
            Pattern::AllToAll => "all_to_all",
        }
    }

    fn code(self) -> u8 {
        Pattern::ALL.iter().position(|p| *p == self).expect("listed") as u8
    }

    fn of(code: u8) -> Pattern {
        Pattern::ALL[code as usize]
    }

    /// The points of step `t - 1` that point `i` of step `t >= 1` reads, in increasing order.
    pub fn deps(self, t: u64, i: u64, width: u64) -> Vec<u64> {
        let last = width - 1;
        match self {
            Pattern::NoComm => vec![i],
            Pattern::Stencil => (i.saturating_sub(1)..=(i + 1).min(last)).collect(),
            Pattern::Nearest => (i.saturating_sub(2)..=(i + 2).min(last)).collect(),
            Pattern::Fft => {
                let levels = u64::from(width.next_power_of_two().trailing_zeros().max(1));
                let d = 1 << ((t - 1) % levels);
                let mut deps = vec![i];
                if i >= d {
                    deps.insert(0, i - d);
                }
                if i + d <= last {
                    deps.push(i + d);
                }
                deps
            }
            Pattern::Tree => vec![i / 2],
            Pattern::AllToAll => (0..width).collect(),
        }
    }
}

/// One point of a graph: checks its inputs against its pattern, runs the kernel, writes `(t, i)`.
#[remote]
fn point(
    pattern: u8,
    width: u64,
    t: u64,
    i: u64,
    inputs: Vec<(u64, u64)>,
    rounds: u64,
) -> (u64, u64) {
    let expected: Vec<(u64, u64)> = if t == 0 {
        Vec::new()
    } else {
        Pattern::of(pattern).deps(t, i, width).into_iter().map(|j| (t - 1, j)).collect()
    };
    assert_eq!(
        inputs, expected,
        "point ({t}, {i}) read inputs that its dependencies did not write"
    );
    crate::spin(rounds);
    (t, i)
}

/// Runs one graph and returns its wall time.
fn graph(pattern: Pattern, width: u64, steps: u64, rounds: u64) -> Duration {
    // Point i of every step on the same worker (round-robin, from worker 1).
    let workers = unidist::num_workers();
    while unidist::schedule_rank() != workers {}
    let started = Instant::now();
    let mut previous: Vec<ObjectRef<(u64, u64)>> = Vec::new();
    for t in 0..steps {
        let row = (0..width)
            .map(|i| {
                let inputs: Vec<ObjectRef<(u64, u64)>> = if t == 0 {
                    Vec::new()
                } else {
                    pattern
                        .deps(t, i, width)
                        .iter()
                        .map(|j| previous[*j as usize].clone())
                        .collect()
                };
                point::remote(pattern.code(), width, t, i, &inputs, rounds)
            })
            .collect();
        previous = row;
    }
    let last = unidist::get(&previous).expect("every point checks its inputs");
    let elapsed = started.elapsed();
    assert_eq!(last, (0..width).map(|i| (steps - 1, i)).collect::<Vec<_>>());
    elapsed
}

/// One measured graph of a sweep.
pub struct Point {
    pub kernel_us: f64,
    pub efficiency: f64,
    pub granularity_us: f64,
}

/// Sweeps the kernel of `pattern` down from 2 ms, halving, until efficiency falls below 50%
/// (or the kernel below 1 µs). `rounds_per_us` calibrates the kernel; `slots` are the workers'
/// task slots; `max_steps` bounds the steps of a graph (fewer for long kernels: each graph
/// takes about `budget` of kernel time per slot).
pub fn sweep(
    pattern: Pattern,
    rounds_per_us: f64,
    slots: usize,
    max_steps: u64,
    budget: Duration,
) -> Vec<Point> {
    let width = unidist::num_workers() as u64;
    let mut points = Vec::new();
    let mut kernel_us = 2048.0_f64;
    while kernel_us >= 1.0 {
        let per_step = kernel_us * width as f64 / slots as f64;
        let steps = ((budget.as_secs_f64() * 1e6 / per_step) as u64).clamp(8, max_steps);
        let rounds = (kernel_us * rounds_per_us) as u64;
        let wall = graph(pattern, width, steps, rounds).as_secs_f64() * 1e6;
        let tasks = (width * steps) as f64;
        let efficiency = tasks * kernel_us / (wall * slots as f64);
        points.push(Point { kernel_us, efficiency, granularity_us: wall * slots as f64 / tasks });
        if efficiency < 0.5 {
            break;
        }
        kernel_us /= 2.0;
    }
    points
}

/// METG at 50%: the smallest granularity measured with at least 50% efficiency (`None` if even
/// the longest kernel kept the cores less than half busy).
pub fn metg(points: &[Point]) -> Option<f64> {
    points.iter().filter(|p| p.efficiency >= 0.5).map(|p| p.granularity_us).reduce(f64::min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_stay_within_the_width_and_in_order() {
        assert_eq!(Pattern::Stencil.deps(1, 0, 2), [0, 1]);
        assert_eq!(Pattern::Stencil.deps(5, 2, 4), [1, 2, 3]);
        assert_eq!(Pattern::Nearest.deps(1, 1, 4), [0, 1, 2, 3]);
        assert_eq!(Pattern::Fft.deps(1, 0, 4), [0, 1]);
        assert_eq!(Pattern::Fft.deps(2, 1, 4), [1, 3]);
        assert_eq!(Pattern::Fft.deps(3, 3, 4), [2, 3]);
        assert_eq!(Pattern::Tree.deps(1, 3, 4), [1]);
        assert_eq!(Pattern::AllToAll.deps(1, 0, 3), [0, 1, 2]);
        assert_eq!(Pattern::NoComm.deps(9, 2, 3), [2]);
    }
}
