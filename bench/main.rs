//! `unidist-bench`: the project's benchmark program. In one run it measures the raw MPI limits
//! (8-byte ping-pong, 64 MiB bandwidth) between the root and worker 1, then the runtime on the
//! same ranks, and prints a table (and with `--json` one JSON line) where every figure is the
//! median of several repetitions after a warm-up, with min and max, and a ratio to its MPI limit
//! where one applies.
//!
//! ```sh
//! cargo build --release --features mpi --bin unidist-bench
//! mpiexec -n 3 target/release/unidist-bench            # root + 2 workers
//! UNIDIST_BACKEND=local UNIDIST_CPUS=2 target/release/unidist-bench
//! ```
//! `scripts/bench.sh` runs every configuration that `BENCHMARKS.md` reports.
//!
//! Options: `--json` (also print one JSON line), `--quick` (small sizes, for the test suite:
//! checks the program runs, measures nothing worth reporting), `--only a,b` (run these items:
//! raw, roundtrip, throughput, chain, fanin, large, scaling, nested, taskbench, actors, idle; and `hosts`, run only
//! when named: it needs workers on two hosts), `--reps N` (at least 5), `--timeline PATH` (record
//! the run's timeline and write it to PATH: a Chrome trace, or the HTML page if PATH ends in
//! `.html`; recording costs time, so figures of such a run are not for reporting).
//!
//! Every task is a plain `#[remote]` function, as users write them; `roundtrip` and `chain` also
//! report the same work done by functions marked `#[remote(inline)]`. `actors` calls plain
//! `#[actor]` methods: the round trip of one call, calls in a row on one actor, and queries
//! spread over one actor per worker that each hold a table built in its constructor.
//!
//! `hosts`: 8 MiB inputs (`--input-bytes N` sets another size) made on the first worker host,
//! each read by 4 tasks placed by the scheduler in use (`UNIDIST_SCHEDULER`,
//! `UNIDIST_HOST_AWARE_BYTES`): the time of those tasks and the input bytes that crossed to the
//! other host. Run it once per scheduler.

mod taskbench;

use std::hint::black_box;
use std::time::{Duration, Instant};

use unidist::{actor, remote, ActorRef, ObjectRef};

/// A no-op task, as users write one: a plain `#[remote]` function.
#[remote]
fn noop(i: u64) -> u64 {
    i
}

#[remote]
fn inc(x: u64) -> u64 {
    x + 1
}

/// The same two, opted in to running on the worker's loop thread (`#[remote(inline)]`).
#[remote(inline)]
fn noop_inline(i: u64) -> u64 {
    i
}

#[remote(inline)]
fn inc_inline(x: u64) -> u64 {
    x + 1
}

/// An actor as users write one: a counter.
struct Counter {
    total: u64,
}

#[actor]
impl Counter {
    fn new() -> Self {
        Counter { total: 0 }
    }

    fn add(&mut self, x: u64) -> u64 {
        self.total += x;
        self.total
    }
}

/// One shard of a lookup table, built on its worker by the constructor.
struct Table {
    entries: Vec<u64>,
}

#[actor]
impl Table {
    fn new(len: u64, salt: u64) -> Self {
        Table { entries: (0..len).map(|i| i.wrapping_mul(2_654_435_761) ^ salt).collect() }
    }

    fn lookup(&self, key: u64) -> u64 {
        self.entries[(key % self.entries.len() as u64) as usize]
    }
}

/// This process's id and the CPU time it has used so far, in microseconds (user + system).
fn cpu_time() -> (u32, f64) {
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    (std::process::id(), micros(usage.ru_utime) + micros(usage.ru_stime))
}

#[remote]
fn process_cpu_time() -> (u32, f64) {
    cpu_time()
}

#[remote]
fn count(parts: Vec<u64>) -> u64 {
    parts.len() as u64
}

#[remote]
fn same_bytes(v: Vec<u8>) -> Vec<u8> {
    v
}

/// Reads a large input: its byte sum.
#[remote]
fn sum_bytes(v: Vec<u8>) -> u64 {
    v.iter().map(|b| *b as u64).sum()
}

/// Makes `len` bytes of `fill`.
#[remote]
fn make_bytes(len: u64, fill: u8) -> Vec<u8> {
    vec![fill; len as usize]
}

#[remote]
fn same_floats(v: Vec<f64>) -> Vec<f64> {
    v
}

/// Real CPU work: `rounds` steps of a xorshift generator.
fn spin(rounds: u64) -> u64 {
    let mut x = 0x9E37_79B9_7F4A_7C15_u64 ^ rounds;
    for _ in 0..rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    black_box(x)
}

#[remote]
fn work(rounds: u64) -> u64 {
    spin(rounds)
}

/// Below this, `fib` runs sequentially inside its task.
const FIB_CUTOFF: u64 = 12;

fn fib_seq(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fib_seq(n - 1) + fib_seq(n - 2)
    }
}

#[remote]
fn fib(n: u64) -> u64 {
    if n < FIB_CUTOFF {
        return fib_seq(n);
    }
    let (a, b) = (fib::remote(n - 1), fib::remote(n - 2));
    unidist::get(&a).unwrap() + unidist::get(&b).unwrap()
}

/// The tasks `fib(n)` makes: one per call with `n >= FIB_CUTOFF`, plus the leaves below it.
fn fib_tasks(n: u64) -> u64 {
    if n < FIB_CUTOFF {
        1
    } else {
        1 + fib_tasks(n - 1) + fib_tasks(n - 2)
    }
}

/// Median, min and max of the repetitions of one figure.
#[derive(Clone, Copy)]
struct Figure {
    median: f64,
    min: f64,
    max: f64,
}

impl Figure {
    fn of(mut samples: Vec<f64>) -> Figure {
        samples.sort_by(|a, b| a.total_cmp(b));
        let n = samples.len();
        let median =
            if n % 2 == 1 { samples[n / 2] } else { (samples[n / 2 - 1] + samples[n / 2]) / 2.0 };
        Figure { median, min: samples[0], max: samples[n - 1] }
    }
}

struct Row {
    name: String,
    unit: &'static str,
    figure: Figure,
    /// The median as a ratio to its MPI limit, and what that limit is.
    ratio: Option<(f64, &'static str)>,
}

struct Bench {
    reps: usize,
    quick: bool,
    /// The `hosts` item's input size, if not the default.
    input_bytes: Option<usize>,
    rows: Vec<Row>,
    /// Raw MPI: half round trip of 8 bytes (µs) and 64 MiB bandwidth (GB/s).
    raw_half_rtt_us: Option<f64>,
    raw_gbps: Option<f64>,
}

impl Bench {
    /// Runs `once` after one warm-up, `reps` times; each run returns the figure.
    fn measure(&self, mut once: impl FnMut() -> f64) -> Figure {
        once();
        Figure::of((0..self.reps).map(|_| once()).collect())
    }

    fn row(
        &mut self,
        name: &str,
        unit: &'static str,
        figure: Figure,
        ratio: Option<(f64, &'static str)>,
    ) {
        self.rows.push(Row { name: name.to_string(), unit, figure, ratio });
    }

    fn size(&self, full: usize, quick: usize) -> usize {
        if self.quick {
            quick
        } else {
            full
        }
    }

    fn raw(&mut self) {
        let iterations = self.size(20_000, 1_000);
        let Some(_) = unidist::__private::raw_mpi_ping_pong(8, 8, 10) else { return };
        let latency = self.measure(|| {
            let t = unidist::__private::raw_mpi_ping_pong(8, 8, iterations).expect("mpi");
            t.as_secs_f64() * 1e6 / iterations as f64 / 2.0
        });
        self.raw_half_rtt_us = Some(latency.median);
        self.row("raw MPI ping-pong 8 B (half round trip)", "us", latency, None);
        let bytes = 64 << 20;
        let iterations = self.size(8, 2);
        let bandwidth = self.measure(|| {
            let t = unidist::__private::raw_mpi_ping_pong(bytes, 1, iterations).expect("mpi");
            (bytes * iterations) as f64 / t.as_secs_f64() / 1e9
        });
        self.raw_gbps = Some(bandwidth.median);
        self.row("raw MPI bandwidth 64 MiB one-way", "GB/s", bandwidth, None);
    }

    fn rtt_ratio(&self, us: f64) -> Option<(f64, &'static str)> {
        self.raw_half_rtt_us.map(|h| (us / (2.0 * h), "x raw round trip"))
    }

    fn roundtrip(&mut self) {
        self.roundtrip_of("roundtrip get(noop::remote(i))", noop::remote);
        self.roundtrip_of("roundtrip, inline function", noop_inline::remote);
        // A `get` of a ref whose task has finished: the value is still on its worker.
        let n = self.size(2_000, 200);
        let figure = self.measure(|| {
            let refs: Vec<ObjectRef<u64>> = (0..n as u64).map(noop::remote).collect();
            let (ready, _) = unidist::wait(&refs, n);
            assert_eq!(ready.len(), n);
            let started = Instant::now();
            for (i, r) in refs.iter().enumerate() {
                assert_eq!(unidist::get(r).unwrap(), i as u64);
            }
            started.elapsed().as_secs_f64() * 1e6 / n as f64
        });
        let ratio = self.rtt_ratio(figure.median);
        self.row("get of one finished ref", "us/call", figure, ratio);
    }

    fn roundtrip_of(&mut self, name: &str, task: fn(u64) -> ObjectRef<u64>) {
        let n = self.size(5_000, 200);
        let figure = self.measure(|| {
            let started = Instant::now();
            for i in 0..n as u64 {
                assert_eq!(unidist::get(&task(i)).unwrap(), i);
            }
            started.elapsed().as_secs_f64() * 1e6 / n as f64
        });
        let ratio = self.rtt_ratio(figure.median);
        self.row(name, "us/call", figure, ratio);
    }

    fn throughput(&mut self) {
        let n = self.size(100_000, 5_000);
        let figure = self.measure(|| {
            let started = Instant::now();
            let refs: Vec<ObjectRef<u64>> = (0..n as u64).map(noop::remote).collect();
            let values = unidist::get(&refs).unwrap();
            let rate = n as f64 / started.elapsed().as_secs_f64();
            assert_eq!(values[n - 1], n as u64 - 1);
            rate
        });
        // The raw message rate: one 8-byte message per half round trip.
        let ratio = self.raw_half_rtt_us.map(|h| (figure.median / (1e6 / h), "x raw message rate"));
        self.row(&format!("throughput {n} no-op tasks"), "tasks/s", figure, ratio);
    }

    fn chain(&mut self) {
        let n = self.size(10_000, 500);
        self.chain_of(&format!("chain {n} dependent tasks"), n, |r| inc::remote(r));
        let name = format!("chain {n} dependent tasks, inline function");
        self.chain_of(&name, n, |r| inc_inline::remote(r));
    }

    fn chain_of(&mut self, name: &str, n: usize, task: fn(&ObjectRef<u64>) -> ObjectRef<u64>) {
        let figure = self.measure(|| {
            let started = Instant::now();
            let mut r = unidist::put(0_u64);
            for _ in 0..n {
                r = task(&r);
            }
            assert_eq!(unidist::get(&r).unwrap(), n as u64);
            started.elapsed().as_secs_f64() * 1e6 / n as f64
        });
        let ratio = self.rtt_ratio(figure.median);
        self.row(name, "us/task", figure, ratio);
    }

    /// Actors: the round trip of one method call (beside the task round trip), calls in a row
    /// on one actor, and queries over one table actor per worker.
    fn actors(&mut self) {
        let n = self.size(5_000, 200);
        let counter = Counter::remote();
        let figure = self.measure(|| {
            let started = Instant::now();
            let mut last = 0;
            for _ in 0..n {
                last = unidist::get(&counter.add(1)).unwrap();
            }
            black_box(last);
            started.elapsed().as_secs_f64() * 1e6 / n as f64
        });
        let ratio = self.rtt_ratio(figure.median);
        self.row("actor round trip get(counter.add(1))", "us/call", figure, ratio);

        let calls = self.size(20_000, 1_000);
        let figure = self.measure(|| {
            let started = Instant::now();
            let refs: Vec<ObjectRef<u64>> = (0..calls).map(|_| counter.add(1)).collect();
            let totals = unidist::get(&refs).unwrap();
            assert!(totals.windows(2).all(|w| w[1] == w[0] + 1), "calls ran in order");
            calls as f64 / started.elapsed().as_secs_f64()
        });
        self.row(&format!("actor {calls} calls in a row, one actor"), "calls/s", figure, None);

        let (len, queries) = if self.quick { (10_000, 1_000) } else { (1_000_000, 100_000) };
        let workers = unidist::num_workers();
        let tables: Vec<ActorRef<Table>> =
            (1..=workers).map(|w| Table::remote_on(w, len, w as u64)).collect();
        for table in &tables {
            unidist::get(ActorRef::ready(table).expect("owning handle")).expect("the table");
        }
        let figure = self.measure(|| {
            let started = Instant::now();
            let refs: Vec<ObjectRef<u64>> =
                (0..queries).map(|q| tables[q as usize % workers].lookup(q * 7919)).collect();
            let values = unidist::get(&refs).unwrap();
            let key = (queries - 1) * 7919 % len;
            let salt = ((queries - 1) as usize % workers + 1) as u64;
            assert_eq!(values[queries as usize - 1], key.wrapping_mul(2_654_435_761) ^ salt);
            queries as f64 / started.elapsed().as_secs_f64()
        });
        let name = format!("actor queries, {workers} tables of {len} entries");
        self.row(&name, "queries/s", figure, None);
    }

    /// CPU that ranks with no work use: each process's CPU time over a second in which the root
    /// only sleeps, as a fraction of a core per rank (the local backend's ranks share one
    /// process: its time is divided among them).
    fn idle(&mut self) {
        let workers = unidist::num_workers();
        let window = Duration::from_millis(if self.quick { 100 } else { 1_000 });
        let sample = || -> Vec<(u32, f64)> {
            let mut times = vec![cpu_time()];
            for w in 1..=workers {
                while unidist::schedule_rank() % workers + 1 != w {}
                times.push(unidist::get(&process_cpu_time::remote()).unwrap());
            }
            times.sort_by_key(|(pid, _)| *pid);
            times.dedup_by_key(|(pid, _)| *pid);
            times
        };
        let figure = self.measure(|| {
            let before = sample();
            let started = Instant::now();
            std::thread::sleep(window);
            let after = sample();
            let seconds = started.elapsed().as_secs_f64();
            let used: f64 = after.iter().zip(&before).map(|(a, b)| a.1 - b.1).sum();
            used / 1e6 / seconds / (workers + 1) as f64
        });
        self.row("idle CPU per rank", "cores", figure, None);
    }

    fn fanin(&mut self) {
        let n = self.size(1_000, 100);
        let figure = self.measure(|| {
            let started = Instant::now();
            let refs: Vec<ObjectRef<u64>> = (0..n as u64).map(noop::remote).collect();
            assert_eq!(unidist::get(&count::remote(&refs)).unwrap(), n as u64);
            started.elapsed().as_secs_f64() * 1e6
        });
        let ratio = self
            .rtt_ratio(figure.median / n as f64)
            .map(|(r, _)| (r, "x raw round trip per input"));
        self.row(&format!("fanin {n} tasks into one"), "us total", figure, ratio);
    }

    fn hosts(&mut self) {
        let hosts = unidist::cluster_resources();
        let with_workers: Vec<_> = hosts.iter().filter(|h| !h.workers.is_empty()).collect();
        assert!(with_workers.len() >= 2, "the hosts item needs workers on 2 hosts: {hosts:?}");
        let (a, b) = (with_workers[0].workers.clone(), with_workers[1].workers.clone());
        let workers = unidist::num_workers();
        let policy = std::env::var("UNIDIST_SCHEDULER").unwrap_or("host-aware".into());
        let len: u64 = self.input_bytes.unwrap_or_else(|| self.size(8 << 20, 1 << 20)) as u64;
        let readers = 4;
        let mut crossed = Vec::new();
        let figure = self.measure(|| {
            // One input on each worker of the first host.
            let inputs: Vec<ObjectRef<Vec<u8>>> = a
                .iter()
                .map(|w| {
                    while unidist::schedule_rank() % workers + 1 != *w {}
                    make_bytes::remote(len, 1)
                })
                .collect();
            let (ready, _) = unidist::wait(&inputs, inputs.len());
            assert_eq!(ready.len(), inputs.len());
            let before = unidist::transfer_stats();
            let started = Instant::now();
            let sums: Vec<ObjectRef<u64>> = inputs
                .iter()
                .flat_map(|input| (0..readers).map(move |_| sum_bytes::remote(input)))
                .collect();
            let got = unidist::get(&sums).unwrap();
            let seconds = started.elapsed().as_secs_f64();
            assert!(got.iter().all(|s| *s == len), "a reader saw other bytes");
            let after = unidist::transfer_stats();
            let moved: u64 = a
                .iter()
                .flat_map(|from| b.iter().map(move |to| (*from, *to)))
                .map(|(from, to)| {
                    after[from].peer(to).bytes_sent - before[from].peer(to).bytes_sent
                })
                .sum();
            crossed.push(moved as f64 / (1 << 20) as f64);
            seconds * 1e3
        });
        let size = if len >= 1 << 20 {
            format!("{} MiB", len >> 20)
        } else {
            format!("{} KiB", len >> 10)
        };
        let name = format!("hosts {policy}: {} x {readers} readers of {size}", a.len());
        self.row(&name, "ms", figure, None);
        let moved = Figure::of(crossed);
        self.row(&format!("hosts {policy}: input bytes that crossed hosts"), "MiB", moved, None);
    }

    fn large(&mut self) {
        let bytes = self.size(64 << 20, 4 << 20);
        self.large_step("Vec<u8>", bytes, vec![0xA5_u8; bytes], same_bytes::remote);
        self.large_step("Vec<f64>", bytes, vec![1.5_f64; bytes / 8], same_floats::remote);
    }

    /// `put` a copy of `value` (`bytes` long), a task that returns it unchanged, `get`: GB/s of
    /// payload. The payload crosses ranks twice (root to worker, worker to root).
    fn large_step<T: unidist::RemoteValue + Clone + PartialEq>(
        &mut self,
        type_name: &str,
        bytes: usize,
        value: T,
        same: fn(ObjectRef<T>) -> ObjectRef<T>,
    ) {
        let figure = self.measure(|| {
            let copy = value.clone();
            let started = Instant::now();
            let back = unidist::get(&same(unidist::put(copy))).unwrap();
            let gbps = bytes as f64 / started.elapsed().as_secs_f64() / 1e9;
            assert!(back == value, "a {type_name} came back changed");
            gbps
        });
        let ratio = self.raw_gbps.map(|raw| (figure.median / raw, "x raw bandwidth"));
        let name = format!("large {type_name} {} MiB put-task-get", bytes >> 20);
        self.row(&name, "GB/s payload", figure, ratio);
    }

    fn scaling(&mut self) {
        let rounds = (spin_rounds_per_us() * 1e3) as u64; // 1 ms of work
        let workers = unidist::num_workers();
        let per_worker = self.size(200, 20);
        // All tasks on worker 1: advance the round-robin cycle past the other workers.
        let on_one = |n: usize| {
            let started = Instant::now();
            let refs: Vec<ObjectRef<u64>> = (0..n)
                .map(|_| {
                    while unidist::schedule_rank() != workers {}
                    work::remote(rounds)
                })
                .collect();
            unidist::get(&refs).unwrap();
            started.elapsed().as_secs_f64()
        };
        let on_all = |n: usize| {
            let started = Instant::now();
            let refs: Vec<ObjectRef<u64>> = (0..n).map(|_| work::remote(rounds)).collect();
            unidist::get(&refs).unwrap();
            started.elapsed().as_secs_f64()
        };
        let one = self.measure(|| on_one(per_worker));
        let all = self.measure(|| on_all(per_worker * workers));
        // The same work per worker: efficiency is the one-worker time over the all-worker time.
        let efficiency = Figure {
            median: one.median / all.median,
            min: one.min / all.max,
            max: one.max / all.min,
        };
        self.row(&format!("scaling {per_worker} x 1 ms tasks on 1 worker"), "s", one, None);
        self.row(
            &format!("scaling {} x 1 ms tasks on {workers} workers", per_worker * workers),
            "s",
            all,
            None,
        );
        self.row(&format!("scaling efficiency on {workers} workers"), "ratio", efficiency, None);
    }

    fn nested(&mut self) {
        let n = if self.quick { 16 } else { 25 };
        let tasks = fib_tasks(n);
        let expected = fib_seq(n);
        let sequential = self.measure(|| {
            let started = Instant::now();
            assert_eq!(black_box(fib_seq(black_box(n))), expected);
            started.elapsed().as_secs_f64() * 1e3
        });
        let nested = self.measure(|| {
            let started = Instant::now();
            assert_eq!(unidist::get(&fib::remote(n)).unwrap(), expected);
            started.elapsed().as_secs_f64() * 1e3
        });
        let workers = unidist::num_workers();
        self.row(&format!("nested fib({n}) sequential, on the root"), "ms", sequential, None);
        self.row(
            &format!("nested fib({n}) in {tasks} tasks, {workers} workers"),
            "ms",
            nested,
            None,
        );
        let rate = Figure {
            median: tasks as f64 / nested.median * 1e3,
            min: tasks as f64 / nested.max * 1e3,
            max: tasks as f64 / nested.min * 1e3,
        };
        self.row(&format!("nested fib({n}) task rate, {workers} workers"), "tasks/s", rate, None);
    }

    /// Task graphs after Task Bench: METG at 50% efficiency per dependence pattern (see
    /// `taskbench.rs`), over `reps` sweeps (3 at most).
    fn taskbench(&mut self) {
        let rounds_per_us = spin_rounds_per_us();
        let slots: usize = unidist::cluster_resources().iter().map(|h| h.slots).sum();
        let (sweeps, max_steps, budget) = if self.quick {
            (1, 16, Duration::from_millis(5))
        } else {
            (self.reps.min(3), 1_000, Duration::from_millis(100))
        };
        for pattern in taskbench::Pattern::ALL {
            let runs: Vec<Vec<taskbench::Point>> = (0..sweeps)
                .map(|_| taskbench::sweep(pattern, rounds_per_us, slots, max_steps, budget))
                .collect();
            if !self.quick {
                // The sweeps themselves, for BENCHMARKS.md: kernel, efficiency, granularity.
                for run in &runs {
                    let steps: Vec<String> = run
                        .iter()
                        .map(|p| {
                            format!("{}:{:.2}:{}", p.kernel_us, p.efficiency, num(p.granularity_us))
                        })
                        .collect();
                    eprintln!(
                        "taskbench {} sweep (kernel us:efficiency:granularity us) {}",
                        pattern.name(),
                        steps.join(" ")
                    );
                }
            }
            let metgs: Option<Vec<f64>> = runs.iter().map(|r| taskbench::metg(r)).collect();
            match metgs {
                Some(metgs) => {
                    let name = format!("taskbench {} METG at 50% efficiency", pattern.name());
                    self.row(&name, "us", Figure::of(metgs), None);
                }
                None => {
                    let first = runs.iter().map(|r| r[0].efficiency).collect();
                    let name = format!("taskbench {}: efficiency with 2 ms tasks", pattern.name());
                    self.row(&name, "ratio", Figure::of(first), None);
                }
            }
        }
    }

    fn print(&self, json: bool) {
        let backend = unidist::backend();
        let workers = unidist::num_workers();
        println!(
            "unidist-bench: {backend} backend, root + {workers} workers, {} repetitions",
            self.reps
        );
        println!(
            "{:<48} {:>12} {:>12} {:>12}  {:<12} ratio",
            "item", "median", "min", "max", "unit"
        );
        for row in &self.rows {
            let ratio = row.ratio.map_or(String::new(), |(r, what)| format!("{r:.3} {what}"));
            println!(
                "{:<48} {:>12} {:>12} {:>12}  {:<12} {ratio}",
                row.name,
                num(row.figure.median),
                num(row.figure.min),
                num(row.figure.max),
                row.unit
            );
        }
        if json {
            let items: Vec<String> = self
                .rows
                .iter()
                .map(|row| {
                    let ratio = row.ratio.map_or("null".to_string(), |(r, _)| format!("{r}"));
                    format!(
                        "{{\"item\":{:?},\"unit\":{:?},\"median\":{},\"min\":{},\"max\":{},\"ratio\":{ratio}}}",
                        row.name, row.unit, row.figure.median, row.figure.min, row.figure.max
                    )
                })
                .collect();
            println!(
                "{{\"backend\":{backend:?},\"workers\":{workers},\"reps\":{},\"items\":[{}]}}",
                self.reps,
                items.join(",")
            );
        }
    }
}

/// A figure with about four significant digits.
fn num(x: f64) -> String {
    if x >= 1000.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

/// An item of the benchmark and the method that measures it.
type Item = (&'static str, fn(&mut Bench));

const ITEMS: [&str; 11] = [
    "raw",
    "roundtrip",
    "throughput",
    "chain",
    "fanin",
    "large",
    "scaling",
    "nested",
    "taskbench",
    "actors",
    "idle",
];

/// Steps of `spin` per microsecond on this machine (calibrated over at least 20 ms).
fn spin_rounds_per_us() -> f64 {
    let mut rounds = 100_000_u64;
    loop {
        let started = Instant::now();
        spin(rounds);
        let t = started.elapsed();
        if t > Duration::from_millis(20) {
            return rounds as f64 / (t.as_secs_f64() * 1e6);
        }
        rounds *= 2;
    }
}

fn main() {
    unidist::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut json = false;
    let mut quick = false;
    let mut reps = 5;
    let mut input_bytes = None;
    let mut timeline = None;
    let mut only: Vec<String> = ITEMS.iter().map(|s| s.to_string()).collect();
    let named = |i: &str| ITEMS.contains(&i) || i == "hosts";
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--json" => json = true,
            "--quick" => quick = true,
            "--reps" => {
                reps = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|r| *r >= 5)
                    .unwrap_or_else(|| panic!("--reps takes a number of at least 5"))
            }
            "--input-bytes" => {
                input_bytes = Some(
                    it.next()
                        .and_then(|v| v.parse().ok())
                        .filter(|n| *n > 0)
                        .unwrap_or_else(|| panic!("--input-bytes takes a number of bytes")),
                )
            }
            "--timeline" => {
                timeline = Some(it.next().expect("--timeline takes a file to write").clone());
            }
            "--only" => {
                let list = it.next().expect("--only takes a list of items");
                only = list.split(',').map(str::to_string).collect();
                if let Some(bad) = only.iter().find(|i| !named(i)) {
                    panic!("unknown item {bad}: the items are {}, hosts", ITEMS.join(", "));
                }
            }
            other => panic!("unknown option {other}: see the doc comment of bench/main.rs"),
        }
    }
    let mut bench =
        Bench { reps, quick, input_bytes, rows: Vec::new(), raw_half_rtt_us: None, raw_gbps: None };
    // In this order: the raw limits first (when asked for at all), since the ratios use them.
    let items: [Item; 12] = [
        ("raw", Bench::raw),
        ("roundtrip", Bench::roundtrip),
        ("throughput", Bench::throughput),
        ("chain", Bench::chain),
        ("fanin", Bench::fanin),
        ("large", Bench::large),
        ("scaling", Bench::scaling),
        ("nested", Bench::nested),
        ("taskbench", Bench::taskbench),
        ("actors", Bench::actors),
        ("idle", Bench::idle),
        ("hosts", Bench::hosts),
    ];
    if timeline.is_some() {
        unidist::record_timeline(true);
    }
    for (item, run) in items {
        if only.iter().any(|i| i == item) {
            run(&mut bench);
        }
    }
    bench.print(json);
    if let Some(path) = timeline {
        unidist::write_timeline(&path)
            .unwrap_or_else(|e| panic!("could not write the timeline to {path}: {e}"));
    }
    unidist::shutdown();
}
