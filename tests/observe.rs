//! Seeing where the time goes: each case of the `observe` program (the counters per remote
//! function, the timeline of a known program) as its own test, on the local backend and as an
//! MPI job of 3 ranks; every case in one job with 2 ranks; and the file `UNIDIST_TIMELINE`
//! writes at `shutdown`.

#[macro_use]
mod support;

const OBSERVE: &str = env!("CARGO_BIN_EXE_observe");

case_tests! {
    program: OBSERVE,
    cases: [
        function_stats_count_every_task,
        the_timeline_has_every_task_lane_and_transfer,
        progress_bars_count_done_and_failed,
    ],
    configs: {
        local2 => |case| support::run(OBSERVE, &["local", "2", case], &[("UNIDIST_CPUS", "2")]),
        #[cfg(feature = "mpi")]
        mpi3 => |case| support::mpiexec(3, OBSERVE, &["mpi", "2", case], &[]),
    },
}

fn every_case(job: support::Job, backend: &str, workers: usize) {
    job.assert_success();
    let last = format!("observe: all cases passed on {backend} with {workers} workers");
    assert!(job.stdout.contains(&last), "missing {last:?} in:\n{}\n{}", job.stdout, job.stderr);
}

/// Every case in one job: what one case leaves behind fails a later one.
#[test]
fn every_case_in_one_job_local() {
    every_case(support::run(OBSERVE, &["local", "3"], &[("UNIDIST_CPUS", "3")]), "local", 3);
}

#[cfg(feature = "mpi")]
#[test]
fn every_case_in_one_job_mpi2() {
    every_case(support::mpiexec(2, OBSERVE, &["mpi", "1"], &[]), "mpi", 1);
}

/// Runs the counters' case with `UNIDIST_TIMELINE` set and reads the file the root wrote at
/// `shutdown`: every task of the case is in it, from `init` on, failures marked.
fn timeline_of_the_counters_case(launch: impl FnOnce(&[(&str, &str)]) -> support::Job) {
    let path = std::env::temp_dir().join(format!(
        "unidist-observe-variable-{}-{:?}.json",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_file(&path);
    let job = launch(&[("UNIDIST_TIMELINE", path.to_str().expect("a UTF-8 path"))]);
    job.assert_success();
    let text = std::fs::read_to_string(&path).expect("the root wrote the timeline at shutdown");
    std::fs::remove_file(&path).expect("written");
    let trace: serde_json::Value = serde_json::from_str(&text).expect("the trace is JSON");
    let events = trace["traceEvents"].as_array().expect("a list of trace events");
    let checked: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["ph"] == "X" && e["name"].as_str().is_some_and(|n| n.ends_with("::checked")))
        .collect();
    assert_eq!(checked.len(), 50, "every task of `checked`");
    assert_eq!(checked.iter().filter(|e| e["args"]["failed"] == true).count(), 5);
}

#[test]
fn the_timeline_variable_writes_the_file_at_shutdown_local() {
    timeline_of_the_counters_case(|env| {
        let env = [env, &[("UNIDIST_CPUS", "2")]].concat();
        support::run(OBSERVE, &["local", "2", "function_stats_count_every_task"], &env)
    });
}

#[cfg(feature = "mpi")]
#[test]
fn the_timeline_variable_writes_the_file_at_shutdown_mpi3() {
    timeline_of_the_counters_case(|env| {
        support::mpiexec(3, OBSERVE, &["mpi", "2", "function_stats_count_every_task"], env)
    });
}

/// A timeline file that cannot be written is a clear line at `shutdown`, and the job still ends
/// normally.
#[test]
fn a_timeline_path_that_cannot_be_written_is_a_clear_error() {
    let path = "/nonexistent-dir-of-unidist/trace.json";
    let env = [("UNIDIST_CPUS", "1"), ("UNIDIST_TIMELINE", path)];
    let job = support::run(OBSERVE, &["local", "1", "function_stats_count_every_task"], &env);
    job.assert_success();
    let line = format!("unidist: could not write the timeline to {path}: ");
    assert!(job.stderr.contains(&line), "{}", job.stderr);
}

/// The values of attribute `name` of every element of `dom` whose start tag begins
/// `<{tag} class="{class}"`, one map per element.
fn elements(dom: &str, tag: &str, class: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let start = format!("<{tag} class=\"{class}\"");
    dom.match_indices(&start)
        .map(|(at, _)| {
            let tag_text = &dom[at..at + dom[at..].find('>').expect("a whole start tag")];
            let mut attributes = std::collections::BTreeMap::new();
            for part in tag_text.split("\" ") {
                if let Some((name, value)) = part.split_once("=\"") {
                    let name = name.rsplit(' ').next().unwrap_or(name);
                    attributes.insert(name.to_string(), value.trim_end_matches('"').to_string());
                }
            }
            attributes
        })
        .collect()
}

/// Runs the timeline case with `UNIDIST_TIMELINE` naming an HTML page, opens the page in headless
/// Chromium and checks its rendered DOM against the trace the page carries: one lane per lane
/// of the trace (every thread that ran a task or blocked), one row per function, with the
/// program's counts and failures.
fn the_page_renders(launch: impl FnOnce(&[(&str, &str)]) -> support::Job) {
    let path = std::env::temp_dir().join(format!(
        "unidist-observe-page-{}-{:?}.html",
        std::process::id(),
        std::thread::current().id()
    ));
    let job = launch(&[("UNIDIST_TIMELINE", path.to_str().expect("a UTF-8 path"))]);
    job.assert_success();
    let page = std::fs::read_to_string(&path).expect("the root wrote the page at shutdown");
    let dom = support::rendered_dom(&path);
    std::fs::remove_file(&path).expect("written");

    let marker = r#"<script type="application/json" id="trace">"#;
    let carried = &page[page.find(marker).expect("the page carries its trace") + marker.len()..];
    let carried = &carried[..carried.find("</script>").expect("the end of the trace")];
    let trace: serde_json::Value =
        serde_json::from_str(carried).expect("the carried trace is JSON");
    let events = trace["traceEvents"].as_array().expect("a list of trace events");
    let expected_lanes: std::collections::BTreeSet<String> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .filter(|e| e["args"]["name"] != "transfers")
        .map(|e| format!("{}/{}", e["pid"], e["tid"]))
        .collect();
    let mut expected_functions = std::collections::BTreeMap::new();
    for task in events.iter().filter(|e| e["ph"] == "X" && e["cat"] == "task") {
        let name = task["name"].as_str().expect("a function").to_string();
        let (tasks, failures) = expected_functions.entry(name).or_insert((0, 0));
        *tasks += 1;
        *failures += usize::from(task["args"]["failed"] == true);
    }

    let lanes: std::collections::BTreeSet<String> =
        elements(&dom, "g", "lane").into_iter().map(|a| a["data-lane"].clone()).collect();
    assert_eq!(lanes, expected_lanes, "one lane per slot");
    assert!(lanes.contains("0/0"), "the program's lane");
    let rows: std::collections::BTreeMap<String, (usize, usize)> = elements(&dom, "tr", "function")
        .into_iter()
        .map(|a| {
            let count = |name: &str| a[name].parse().expect("a count");
            (a["data-function"].clone(), (count("data-tasks"), count("data-failures")))
        })
        .collect();
    assert_eq!(rows, expected_functions, "one row per function");
    let traced: Vec<(usize, usize)> =
        ["traced_link", "traced_part", "traced_sum", "traced_failure"]
            .iter()
            .map(|name| {
                let suffix = format!("::{name}");
                *rows.iter().find(|(f, _)| f.ends_with(&suffix)).expect("its row").1
            })
            .collect();
    assert_eq!(traced, [(3, 0), (3, 0), (1, 0), (1, 1)]);
    assert!(dom.contains(r#"class="busy""#), "a busy chart per worker");
    assert!(dom.contains(r#"data-from="1" data-to="0""#), "the matrix of bytes moved");
}

#[test]
fn the_timeline_page_renders_in_a_browser_local() {
    the_page_renders(|env| {
        let env = [env, &[("UNIDIST_CPUS", "2")]].concat();
        let case = "the_timeline_has_every_task_lane_and_transfer";
        support::run(OBSERVE, &["local", "2", case], &env)
    });
}

#[cfg(feature = "mpi")]
#[test]
fn the_timeline_page_renders_in_a_browser_mpi3() {
    the_page_renders(|env| {
        let case = "the_timeline_has_every_task_lane_and_transfer";
        support::mpiexec(3, OBSERVE, &["mpi", "2", case], env)
    });
}

const PROGRESS: &str = "progress_bars_count_done_and_failed";

/// The bars the progress case drew on stderr: its `wait`, `get_each` and `as_completed`, each
/// ending at 200 done with 20 failures.
fn assert_bars(job: &support::Job) {
    job.assert_success();
    for what in ["wait", "get_each", "as_completed"] {
        let bar = format!("unidist {what}: [");
        let last = job.stderr.rmatch_indices(&bar).next().map(|(at, _)| &job.stderr[at..]);
        let last = last.unwrap_or_else(|| panic!("no {what} bar in:\n{}", job.stderr));
        let line = last.split(['\n', '\r']).next().unwrap_or_default();
        assert!(line.contains("200/200 done, 20 failed"), "{what}: {line:?}");
    }
}

#[test]
fn progress_bars_show_when_asked_even_without_a_terminal_local() {
    let env = [("UNIDIST_CPUS", "2"), ("UNIDIST_PROGRESS", "always")];
    assert_bars(&support::run(OBSERVE, &["local", "2", PROGRESS], &env));
}

#[cfg(feature = "mpi")]
#[test]
fn progress_bars_show_when_asked_even_without_a_terminal_mpi3() {
    assert_bars(&support::mpiexec(
        3,
        OBSERVE,
        &["mpi", "2", PROGRESS],
        &[("UNIDIST_PROGRESS", "always")],
    ));
}

#[test]
fn progress_bars_are_asked_for_from_code() {
    let env = [("UNIDIST_CPUS", "2"), ("OBSERVE_SET_PROGRESS", "1")];
    assert_bars(&support::run(OBSERVE, &["local", "2", PROGRESS], &env));
}

/// Off by default, and `on` draws nothing when stderr is not a terminal (here, a pipe).
#[test]
fn no_progress_bars_by_default_nor_without_a_terminal() {
    for progress in ["", "on"] {
        let env = [("UNIDIST_CPUS", "2"), ("UNIDIST_PROGRESS", progress)];
        let job = support::run(OBSERVE, &["local", "2", PROGRESS], &env);
        job.assert_success();
        assert!(
            !job.stderr.contains("unidist wait:"),
            "UNIDIST_PROGRESS={progress:?}: {}",
            job.stderr
        );
    }
}
