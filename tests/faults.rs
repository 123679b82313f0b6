//! Faults end the whole job within the watchdog, non-zero, with a message that names the rank,
//! the peer and what went wrong (the `faults` program under `mpiexec`).

mod support;

const FAULTS: &str = env!("CARGO_BIN_EXE_faults");

#[test]
fn ten_thousand_panicking_tasks_leak_nothing_on_the_local_backend() {
    let job = support::run(FAULTS, &["panicking-tasks"], &[("UNIDIST_CPUS", "2")]);
    job.assert_success();
    assert!(job.stdout.contains("faults: 10000 panicking tasks freed, workers serving"));
}

#[test]
fn a_task_that_exits_with_0_fails_the_local_process() {
    let job = support::run(FAULTS, &["task-exits-0"], &[("UNIDIST_CPUS", "2")]);
    assert_eq!(job.status.code(), Some(70), "{}", job.stderr);
    assert!(job.stderr.contains("in task `faults::end_process`"), "{}", job.stderr);
}

#[test]
fn main_returning_without_shutdown_is_fine_on_the_local_backend() {
    let job = support::run(FAULTS, &["no-shutdown"], &[("UNIDIST_CPUS", "2")]);
    job.assert_success();
    assert!(job.stdout.contains("faults: main returns without shutdown"));
}

#[cfg(feature = "mpi")]
mod mpi {
    use super::*;
    fn ends_the_job(mode: &str, needles: &[&str]) {
        let job = support::mpiexec(3, FAULTS, &[mode], &[]);
        assert!(!job.success(), "{mode}: the job should fail:\n{}", job.stderr);
        for needle in needles {
            assert!(job.stderr.contains(needle), "{mode}: no {needle:?} in:\n{}", job.stderr);
        }
        assert!(
            !job.stderr.contains("panicked"),
            "{mode}: a panic in the runtime:\n{}",
            job.stderr
        );
    }

    #[test]
    fn a_garbage_message_to_a_worker_ends_the_job() {
        ends_the_job(
            "garbage-to-worker",
            &["rank 1 received a corrupt message of 5 bytes from rank 0", "batch header"],
        );
    }

    #[test]
    fn a_truncated_message_to_a_worker_names_its_kind() {
        ends_the_job(
            "truncated-to-worker",
            &["rank 1 received a corrupt message of 3 bytes from rank 0", "message 0 (Data)"],
        );
    }

    #[test]
    fn a_huge_length_field_is_an_error_not_an_allocation() {
        ends_the_job(
            "huge-length-to-worker",
            &["rank 1 received a corrupt message of 16 bytes from rank 0", "message 0 (Data)"],
        );
    }

    #[test]
    fn a_garbage_message_to_the_root_ends_the_job() {
        ends_the_job(
            "garbage-to-root",
            &["rank 0 received a corrupt message of 5 bytes from rank"],
        );
    }

    #[test]
    fn an_announced_object_that_never_comes_ends_the_job() {
        ends_the_job(
            "payload-without-chunks-to-worker",
            &["rank 1 received a corrupt object from rank 0", "announced as 100000 bytes"],
        );
    }

    #[test]
    fn a_panic_in_the_runtime_ends_the_job() {
        ends_the_job_with_panic("unknown-object-to-root", &["the root has no record of object"]);
    }

    #[test]
    fn a_panic_escaping_main_ends_the_job() {
        ends_the_job_with_panic("main-panics", &["main gave up on purpose"]);
    }

    /// Like `ends_the_job`, for faults that are panics: their message must be shown.
    fn ends_the_job_with_panic(mode: &str, needles: &[&str]) {
        let job = support::mpiexec(3, FAULTS, &[mode], &[]);
        assert!(!job.success(), "{mode}: the job should fail:\n{}", job.stderr);
        // The launcher writes its own report of a dead process to stdout.
        let all = format!("{}{}", job.stdout, job.stderr);
        for needle in needles {
            assert!(all.contains(needle), "{mode}: no {needle:?} in:\n{all}");
        }
    }

    /// A worker that stops answering (here it is stopped with SIGSTOP, as a hung host or a cut
    /// link would leave it: no error reaches anyone) is found by the heartbeat, and the job ends
    /// with a line naming it and its host.
    #[test]
    fn a_silent_worker_is_found_by_the_heartbeat() {
        let stopped = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
        let seen = std::sync::Arc::clone(&stopped);
        let job = support::run_watching(
            "mpiexec",
            &["-n", "3", FAULTS, "until-killed"],
            &[("UNIDIST_HEARTBEAT_S", "1")],
            move |line| {
                if let Some(pid) = line.strip_prefix("faults: worker 2 is process ") {
                    let status = std::process::Command::new("kill").args(["-STOP", pid]).status();
                    assert!(status.is_ok_and(|s| s.success()), "could not stop {pid}");
                    *seen.lock().unwrap() = Some(pid.to_string());
                }
            },
        );
        assert!(stopped.lock().unwrap().is_some(), "worker 2 never ran:\n{}", job.stdout);
        assert!(!job.success(), "the job should fail:\n{}", job.stderr);
        let expected = format!(
            "rank 0 has heard nothing from rank 2 on host {} for",
            String::from_utf8(std::process::Command::new("hostname").output().unwrap().stdout)
                .unwrap()
                .trim()
        );
        assert!(job.stderr.contains(&expected), "no {expected:?} in:\n{}", job.stderr);
        assert!(job.stderr.contains("(UNIDIST_HEARTBEAT_S=1)"), "{}", job.stderr);
    }

    #[test]
    fn a_bad_heartbeat_fails_init_clearly() {
        let job = support::mpiexec(2, FAULTS, &["no-shutdown"], &[("UNIDIST_HEARTBEAT_S", "-1")]);
        assert!(!job.success());
        assert!(job.stderr.contains("UNIDIST_HEARTBEAT_S=-1 is not a timeout"), "{}", job.stderr);
    }

    #[test]
    fn ten_thousand_panicking_tasks_leak_nothing() {
        let job = support::mpiexec(3, FAULTS, &["panicking-tasks"], &[]);
        job.assert_success();
        assert!(job.stdout.contains("faults: 10000 panicking tasks freed, workers serving"));
    }

    #[test]
    fn a_task_that_exits_with_0_fails_the_job() {
        ends_the_job_with_panic(
            "task-exits-0",
            &["the process is exiting while the runtime runs, in task `faults::end_process`"],
        );
    }

    #[test]
    fn a_task_that_aborts_ends_the_job() {
        ends_the_job_with_panic(
            "task-aborts",
            &["got SIGABRT while the runtime ran, in task `faults::end_process`"],
        );
    }

    #[test]
    fn a_task_that_segfaults_ends_the_job() {
        ends_the_job_with_panic(
            "task-segfaults",
            &["got SIGSEGV while the runtime ran, in task `faults::end_process`"],
        );
    }

    #[test]
    fn a_task_killed_by_a_signal_ends_the_job() {
        // SIGKILL cannot be caught: the launcher ends the job and says which process died.
        ends_the_job_with_panic("task-killed", &["signal 9"]);
    }

    #[test]
    fn main_returning_without_shutdown_ends_the_job_cleanly() {
        let job = support::mpiexec(3, FAULTS, &["no-shutdown"], &[]);
        job.assert_success();
        assert!(job.stdout.contains("faults: main returns without shutdown"));
        // The workers were stopped, not killed by the launcher.
        let all = format!("{}{}", job.stdout, job.stderr);
        assert!(!all.contains("BAD TERMINATION") && !all.contains("panicked"), "{all}");
    }
}
