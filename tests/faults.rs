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
