//! Renders the gathered timelines as a Chrome trace-event file (the JSON object form), which
//! Perfetto and `chrome://tracing` open as it is: one process per rank, one thread per lane
//! (the root's program or a worker's loop, each executor thread, and a lane of transfers), a
//! complete event per task and per blocked `get` or `wait`, and a flow (an arrow) from each
//! send of an object to its receipt. Every time is on the root's clock, in microseconds.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};

use crate::id::{ObjectId, Rank};
use crate::timeline::{Call, Event, RankTimeline, MAX_EVENTS};

/// The lane (`tid`) of a rank's sends and receipts.
pub(crate) const TRANSFERS: u32 = 1_000_000;

/// The name of lane `lane` of `rank`.
pub(crate) fn lane_name(rank: Rank, lane: u32) -> String {
    match (rank, lane) {
        (_, TRANSFERS) => "transfers".into(),
        (0, 0) => "program".into(),
        (_, 0) => "loop".into(),
        (_, n) => format!("executor {n}"),
    }
}

/// Writes the trace of `timelines` to `path`, functions named by their paths: as the page of
/// `timeline_page` if `path` ends in `.html` (or `.htm`), else as the trace's JSON.
pub(crate) fn write(path: &Path, timelines: &[RankTimeline]) -> std::io::Result<()> {
    let trace = render(timelines, crate::registry::name_of);
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    if matches!(extension.as_deref(), Some("html" | "htm")) {
        crate::timeline_page::write(&trace, &mut file)?;
    } else {
        serde_json::to_writer(&mut file, &trace)?;
    }
    file.flush()
}

/// The trace of `timelines` (one per rank, the root's first), with `name` naming functions.
pub(crate) fn render(timelines: &[RankTimeline], name: impl Fn(u64) -> String) -> Value {
    let mut events = Vec::new();
    let mut lanes = BTreeSet::new();
    // Sends and receipts of each object between two ranks, in the order they happened, to pair.
    let mut sends: HashMap<(ObjectId, Rank, Rank), VecDeque<(f64, u64)>> = HashMap::new();
    let mut receipts = Vec::new();
    for timeline in timelines {
        let rank = timeline.rank;
        let micros = |at: u64| {
            let root_nanos = (i128::from(at) - i128::from(timeline.offset)).max(0);
            root_nanos as f64 / 1000.0
        };
        let span = |start: u64, end: u64| (micros(start), micros(end.max(start)) - micros(start));
        let role = if rank == 0 { "root" } else { "worker" };
        events.push(json!({"name": "process_name", "ph": "M", "pid": rank,
                           "args": {"name": format!("rank {rank} ({role})")}}));
        events.push(json!({"name": "process_sort_index", "ph": "M", "pid": rank,
                           "args": {"sort_index": rank}}));
        for event in &timeline.events {
            match *event {
                Event::Task { function, task, lane, start, end, failed } => {
                    lanes.insert((rank, lane));
                    let (ts, dur) = span(start, end);
                    events.push(json!({
                        "name": name(function), "cat": "task", "ph": "X", "ts": ts, "dur": dur,
                        "pid": rank, "tid": lane,
                        "args": {"task": task.to_string(), "failed": failed},
                    }));
                }
                Event::Blocked { call, lane, start, end } => {
                    lanes.insert((rank, lane));
                    let (ts, dur) = span(start, end);
                    let name = match call {
                        Call::Get => "get",
                        Call::Wait => "wait",
                    };
                    events.push(json!({"name": name, "cat": "blocked", "ph": "X", "ts": ts,
                                       "dur": dur, "pid": rank, "tid": lane}));
                }
                Event::Moved { object, peer, sent, bytes, at } => {
                    lanes.insert((rank, TRANSFERS));
                    let ts = micros(at);
                    let (verb, to_or_from) =
                        if sent { ("send", "to") } else { ("receive", "from") };
                    events.push(json!({
                        "name": format!("{verb} {object}"), "cat": "transfer", "ph": "X",
                        "ts": ts, "dur": 1.0, "pid": rank, "tid": TRANSFERS,
                        "args": {"object": object.to_string(), to_or_from: peer, "bytes": bytes},
                    }));
                    if sent {
                        sends.entry((object, rank, peer)).or_default().push_back((ts, bytes));
                    } else {
                        receipts.push(((object, peer, rank), ts));
                    }
                }
            }
        }
    }
    // Each receipt with the earliest unpaired send of the same object between the same ranks (a
    // rank's events come in batches per thread, not in time order).
    receipts.sort_by(|a, b| a.1.total_cmp(&b.1));
    for sent in sends.values_mut() {
        sent.make_contiguous().sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let mut flow = 0_u64;
    for (key @ (_, from, to), received) in receipts {
        let Some((sent, _)) = sends.get_mut(&key).and_then(VecDeque::pop_front) else { continue };
        flow += 1;
        events.push(json!({"name": "transfer", "cat": "transfer", "ph": "s", "id": flow,
                           "ts": sent, "pid": from, "tid": TRANSFERS}));
        events.push(json!({"name": "transfer", "cat": "transfer", "ph": "f", "bp": "e",
                           "id": flow, "ts": received, "pid": to, "tid": TRANSFERS}));
    }
    for (rank, lane) in lanes {
        events.push(json!({"name": "thread_name", "ph": "M", "pid": rank, "tid": lane,
                           "args": {"name": lane_name(rank, lane)}}));
        events.push(json!({"name": "thread_sort_index", "ph": "M", "pid": rank, "tid": lane,
                           "args": {"sort_index": lane}}));
    }
    json!({
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": other_data(timelines),
    })
}

/// How the clocks were aligned and what was dropped, for the file's reader.
fn other_data(timelines: &[RankTimeline]) -> Value {
    let ranks: Vec<Value> = timelines
        .iter()
        .map(|t| {
            json!({"rank": t.rank, "clock_offset_ns": t.offset,
                   "clock_uncertainty_ns": t.uncertainty, "dropped_events": t.dropped})
        })
        .collect();
    let notes: Vec<String> = timelines
        .iter()
        .filter(|t| t.dropped > 0)
        .map(|t| {
            format!(
                "rank {} recorded more than {MAX_EVENTS} events: {} more were dropped",
                t.rank, t.dropped
            )
        })
        .collect();
    json!({
        "generator": concat!("unidist ", env!("CARGO_PKG_VERSION")),
        "clock": "times are on the root's clock; each worker's offset is taken from the \
                  shortest of several probe round trips, and is known to within half of it \
                  (clock_uncertainty_ns)",
        "ranks": ranks,
        "notes": notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(origin: Rank, sequence: u64) -> ObjectId {
        ObjectId::new(origin, sequence)
    }

    #[test]
    fn tasks_lanes_transfers_and_clock_offsets_become_trace_events() {
        let root = RankTimeline {
            rank: 0,
            events: vec![Event::Blocked { call: Call::Get, lane: 0, start: 1000, end: 9000 }],
            ..Default::default()
        };
        let worker = RankTimeline {
            rank: 1,
            // Its clock reads 500 ns ahead of the root's.
            offset: 500,
            uncertainty: 40,
            dropped: 3,
            events: vec![
                Event::Task {
                    function: 7,
                    task: id(0, 1),
                    lane: 2,
                    start: 2500,
                    end: 4500,
                    failed: true,
                },
                Event::Moved { object: id(0, 1), peer: 0, sent: true, bytes: 8, at: 5500 },
            ],
        };
        let receipt = Event::Moved { object: id(0, 1), peer: 1, sent: false, bytes: 8, at: 6000 };
        let root = RankTimeline { events: [root.events, vec![receipt]].concat(), ..root };
        let trace = render(&[root, worker], |f| format!("f{f}"));
        let events = trace["traceEvents"].as_array().unwrap();
        let find = |ph: &str, name: &str| {
            events.iter().filter(|e| e["ph"] == ph && e["name"] == name).collect::<Vec<_>>()
        };
        let task = find("X", "f7");
        assert_eq!(task.len(), 1);
        assert_eq!((task[0]["pid"].as_u64(), task[0]["tid"].as_u64()), (Some(1), Some(2)));
        assert_eq!((task[0]["ts"].as_f64(), task[0]["dur"].as_f64()), (Some(2.0), Some(2.0)));
        assert_eq!(task[0]["args"]["failed"], true);
        assert_eq!(find("X", "get")[0]["dur"].as_f64(), Some(8.0));
        let (start, end) = (find("s", "transfer"), find("f", "transfer"));
        assert_eq!((start.len(), end.len()), (1, 1));
        assert_eq!(start[0]["id"], end[0]["id"]);
        assert_eq!((start[0]["pid"].as_u64(), end[0]["pid"].as_u64()), (Some(1), Some(0)));
        assert_eq!((start[0]["ts"].as_f64(), end[0]["ts"].as_f64()), (Some(5.0), Some(6.0)));
        let lanes: Vec<(u64, u64, &str)> = find("M", "thread_name")
            .iter()
            .map(|e| {
                let name = e["args"]["name"].as_str().unwrap();
                (e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap(), name)
            })
            .collect();
        let transfers = u64::from(TRANSFERS);
        let expected = [
            (0, 0, "program"),
            (0, transfers, "transfers"),
            (1, 2, "executor 2"),
            (1, transfers, "transfers"),
        ];
        assert_eq!(lanes, expected);
        let ranks = &trace["otherData"]["ranks"];
        assert_eq!(ranks[1]["clock_uncertainty_ns"], 40);
        let notes = trace["otherData"]["notes"].as_array().unwrap();
        assert!(notes[0].as_str().unwrap().contains("rank 1 recorded more than"), "{notes:?}");
    }
}
