//! Seeing where the time goes: the counters per remote function (`function_stats`) and the
//! timeline (`record_timeline`, `write_timeline`), read back as JSON.
//!
//! Usage: `observe <expected backend> <expected workers> [<case>]`, or `observe --list` (see
//! `cases.rs`).

#[path = "cases.rs"]
mod cases;
#[path = "release.rs"]
mod release;

use std::time::{Duration, Instant};

use release::{straggler, Flag, PATIENCE};
use serde_json::Value;
use unidist::{remote, FunctionStats};

const CASES: &[&str] = &[
    "function_stats_count_every_task",
    "the_timeline_has_every_task_lane_and_transfer",
    "progress_bars_count_done_and_failed",
];

#[remote]
fn checked(x: u64) -> u64 {
    assert!(x % 10 != 3, "bad parameter {x}");
    x
}

#[remote]
fn sleeps(millis: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(millis));
    millis
}

#[remote]
fn leaf(x: u64) -> u64 {
    x + 1
}

/// Submits `n` leaves from inside a task and adds up what they give.
#[remote]
fn fan_out(n: u64) -> u64 {
    let leaves: Vec<_> = (0..n).map(leaf::remote).collect();
    unidist::get(&leaves).unwrap().into_iter().sum()
}

#[remote(max_retries = 1)]
fn always_panics() -> u64 {
    panic!("every run")
}

#[remote]
fn progressed(x: u64) -> u64 {
    assert!(x % 10 != 3, "bad parameter {x}");
    x
}

#[remote]
fn traced_link(previous: u64) -> u64 {
    previous + 1
}

#[remote]
fn traced_part(x: u64) -> u64 {
    x * 10
}

#[remote]
fn traced_sum(parts: Vec<u64>) -> u64 {
    parts.iter().sum()
}

#[remote]
fn traced_failure(x: u64) -> u64 {
    panic!("traced failure {x}")
}

/// The trace events of `trace` with phase `ph`.
fn phase<'a>(trace: &'a Value, ph: &str) -> Vec<&'a Value> {
    let events = trace["traceEvents"].as_array().expect("a list of trace events");
    events.iter().filter(|e| e["ph"] == ph).collect()
}

/// The task events of `trace` whose function's path ends with `::name`.
fn tasks_of<'a>(trace: &'a Value, name: &str) -> Vec<&'a Value> {
    let suffix = format!("::{name}");
    let tasks = phase(trace, "X").into_iter().filter(|e| e["cat"] == "task");
    tasks.filter(|e| e["name"].as_str().is_some_and(|n| n.ends_with(&suffix))).collect()
}

/// The (pid, tid) of an event.
fn lane(event: &Value) -> (u64, u64) {
    (event["pid"].as_u64().expect("a pid"), event["tid"].as_u64().expect("a tid"))
}

/// The counters of the function whose path ends with `::name` (all zero if it never ran).
fn stats_of(name: &str) -> FunctionStats {
    let suffix = format!("::{name}");
    let all = unidist::function_stats();
    all.into_iter().find(|f| f.function.ends_with(&suffix)).unwrap_or_default()
}

fn main() {
    let cases = cases::Cases::from_args("observe", CASES);
    unidist::init();
    assert_eq!(unidist::backend(), cases.backend);
    assert_eq!(unidist::num_workers(), cases.workers);

    // Every task is counted once, under its function's path, wherever it was submitted (by the
    // program or by a task) and ran: submitted, running, done, failed, runs and their time.
    cases.run("function_stats_count_every_task", || {
        let refs: Vec<_> = (0..50).map(checked::remote).collect();
        let results = unidist::get_each(&refs);
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 5);
        let checked = stats_of("checked");
        assert!(checked.function.ends_with("observe::checked"), "{checked:?}");
        let counts = (checked.submitted, checked.running, checked.done, checked.failed);
        assert_eq!((counts, checked.runs), ((50, 0, 45, 5), 50), "{checked:?}");

        assert_eq!(unidist::get(&fan_out::remote(4)).unwrap(), 10);
        let leaf = stats_of("leaf");
        assert_eq!((leaf.submitted, leaf.done, leaf.runs), (4, 4, 4), "submitted by a task");
        assert_eq!(stats_of("fan_out").done, 1);

        let failed = unidist::get(&always_panics::remote()).unwrap_err();
        assert!(failed.to_string().contains("every run"), "{failed}");
        let panics = stats_of("always_panics");
        let counts = (panics.submitted, panics.done, panics.failed, panics.runs);
        assert_eq!(counts, (1, 0, 1, 2), "one task, two runs: {panics:?}");

        let slept = unidist::get(&sleeps::remote(20)).unwrap();
        let sleeps = stats_of("sleeps");
        assert!(sleeps.total_time >= Duration::from_millis(slept), "{sleeps:?}");
        assert_eq!(sleeps.mean_time(), Some(sleeps.total_time), "one run");

        // A task that runs until released counts as running meanwhile, on whichever rank runs
        // it, and as done afterwards.
        let flag = Flag::new("running");
        let r = straggler::remote(flag.0.clone(), 7);
        let deadline = Instant::now() + PATIENCE;
        while stats_of("straggler").running == 0 {
            assert!(Instant::now() < deadline, "the held task never counted as running");
            std::thread::yield_now();
        }
        assert_eq!((stats_of("straggler").running, stats_of("straggler").done), (1, 0));
        flag.raise();
        assert_eq!(unidist::get(&r).unwrap(), 7);
        let held = stats_of("straggler");
        assert_eq!((held.submitted, held.running, held.done), (1, 0, 1), "{held:?}");
    });

    // A known program recorded: a chain whose second link runs on another worker than the first
    // (when there are two), a fan-in and a failing task. Its trace has exactly those tasks, on
    // named lanes, the object moved worker to worker and to the root with its size, and the
    // root's blocked `get`s.
    cases.run("the_timeline_has_every_task_lane_and_transfer", || {
        let workers = unidist::num_workers();
        unidist::record_timeline(true);
        let first = traced_link::remote_on(1, 1);
        let second = traced_link::remote_on(workers, &first);
        let third = traced_link::remote(&second);
        let parts: Vec<_> = (1..=3).map(traced_part::remote).collect();
        let total = traced_sum::remote(&parts);
        let failure = traced_failure::remote(5);
        assert_eq!(unidist::get(&third).unwrap(), 4);
        assert_eq!(unidist::get(&total).unwrap(), 60);
        assert!(unidist::get(&failure).is_err());
        unidist::record_timeline(false);
        let path = std::env::temp_dir()
            .join(format!("unidist-observe-{}-timeline.json", std::process::id()));
        unidist::write_timeline(&path).expect("the temporary directory is writable");
        let text = std::fs::read_to_string(&path).expect("written");
        std::fs::remove_file(&path).expect("written");
        let trace: Value = serde_json::from_str(&text).expect("the trace is JSON");

        let counts: Vec<usize> = ["traced_link", "traced_part", "traced_sum", "traced_failure"]
            .iter()
            .map(|name| tasks_of(&trace, name).len())
            .collect();
        assert_eq!(counts, [3, 3, 1, 1], "exactly the program's tasks");
        assert_eq!(tasks_of(&trace, "traced_failure")[0]["args"]["failed"], true);
        assert_eq!(tasks_of(&trace, "traced_sum")[0]["args"]["failed"], false);
        let links = tasks_of(&trace, "traced_link");
        let link_of = |r: &unidist::ObjectRef<u64>| {
            let task = r.id().to_string();
            *links.iter().find(|e| e["args"]["task"] == task.as_str()).expect("its task")
        };
        assert_eq!(lane(link_of(&first)).0, 1, "pinned to worker 1");
        assert_eq!(lane(link_of(&second)).0, workers as u64, "pinned to the last worker");

        // Every task's lane is named, and is an executor or a worker's loop.
        let names: Vec<((u64, u64), &str)> = phase(&trace, "M")
            .into_iter()
            .filter(|e| e["name"] == "thread_name")
            .map(|e| (lane(e), e["args"]["name"].as_str().expect("a name")))
            .collect();
        let all_tasks = phase(&trace, "X").into_iter().filter(|e| e["cat"] == "task");
        for task in all_tasks {
            let name = names.iter().find(|(l, _)| *l == lane(task)).map(|(_, n)| *n);
            let name = name.unwrap_or_else(|| panic!("no name for the lane of {task}"));
            assert!(name.starts_with("executor ") || name == "loop", "{name}");
        }

        // The first link's result went from worker 1 to the second link's worker (with two
        // workers or more; with one, it stayed), and the third's to the root: a send and a
        // receipt of the same size, joined by one flow.
        let moved = |object: &unidist::ObjectRef<u64>, from: u64, to: u64| {
            let id = object.id().to_string();
            let with = |verb: &str, pid: u64| -> Vec<&Value> {
                let name = format!("{verb} {id}");
                let all = phase(&trace, "X");
                all.into_iter().filter(|e| e["name"] == name.as_str() && lane(e).0 == pid).collect()
            };
            let (sends, receipts) = (with("send", from), with("receive", to));
            assert_eq!((sends.len(), receipts.len()), (1, 1), "{id} from {from} to {to}");
            let bytes = sends[0]["args"]["bytes"].as_u64().expect("bytes");
            assert!(bytes > 0);
            assert_eq!(receipts[0]["args"]["bytes"].as_u64(), Some(bytes));
            let flow = |ph: &str, pid: u64, ts: &Value| {
                phase(&trace, ph).into_iter().find(|e| lane(e).0 == pid && e["ts"] == *ts).cloned()
            };
            let start = flow("s", from, &sends[0]["ts"]).expect("a flow starts at the send");
            let end = flow("f", to, &receipts[0]["ts"]).expect("a flow ends at the receipt");
            assert_eq!(start["id"], end["id"]);
        };
        if workers >= 2 {
            moved(&first, 1, workers as u64);
        }
        let third_at = lane(link_of(&third)).0;
        moved(&third, third_at, 0);

        // The root's program blocked in `get`, on its own lane.
        let gets =
            phase(&trace, "X").into_iter().filter(|e| e["name"] == "get" && lane(e) == (0, 0));
        assert!(gets.count() >= 3, "the three gets");
        let ranks = trace["otherData"]["ranks"].as_array().expect("the ranks' clocks");
        assert_eq!(ranks.len(), workers + 1);
        let uncertainty = ranks.iter().filter_map(|r| r["clock_uncertainty_ns"].as_u64()).max();
        println!("timeline: clocks aligned to within {} ns", uncertainty.unwrap_or(0));
    });

    // Waits of 200 refs, 20 of which fail: with bars asked for (`UNIDIST_PROGRESS`, or
    // `OBSERVE_SET_PROGRESS` for `set_progress`), each draws on stderr, which the tests read.
    cases.run("progress_bars_count_done_and_failed", || {
        if std::env::var_os("OBSERVE_SET_PROGRESS").is_some() {
            unidist::set_progress(unidist::Progress::Always);
        }
        let refs: Vec<_> = (0..200).map(progressed::remote).collect();
        let (ready, _) = unidist::wait(&refs, refs.len());
        assert_eq!(ready.len(), 200);
        let results = unidist::get_each(&refs);
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 20);
        let completed = unidist::as_completed(refs.iter().cloned().enumerate());
        assert_eq!(completed.filter(|(_, r)| r.is_err()).count(), 20);
    });

    unidist::shutdown();
    cases.finish();
}
