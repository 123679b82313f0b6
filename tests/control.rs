//! Control over running work: each case of the `control` program (deadlines, results as they
//! complete, one result per ref, refs as keys, `&str` arguments, misuse panics at the caller's
//! line) as its own test, on the local backend and as an MPI job of 3 ranks; every case in one
//! job with 2 and 5 ranks.

#[macro_use]
mod support;

const CONTROL: &str = env!("CARGO_BIN_EXE_control");

case_tests! {
    program: CONTROL,
    cases: [
        deadlines_leave_a_straggler_running,
        as_completed_follows_completion_order,
        as_completed_keeps_keys_and_failures,
        as_completed_stops_at_its_deadline,
        get_each_keeps_every_success,
        refs_are_keys,
        strings_take_str,
        misuse_points_at_the_caller,
        cancelled_tasks_never_run,
        a_running_task_sees_its_cancel,
        cancel_after_the_end_changes_nothing,
        a_task_cancels_its_child,
        cancelled_actor_calls_never_run,
        retries_run_a_panicking_task_again,
        retries_per_call,
        at_the_bound_try_remote_is_refused,
        a_flood_of_tasks_stays_within_the_bound,
        refs_are_awaited_without_blocking,
        a_task_awaits_its_children,
        the_stream_of_results_follows_completion_order,
        deadlines_inside_a_task,
    ],
    configs: {
        local2 => |case| support::run(CONTROL, &["local", "2", case], &[("UNIDIST_CPUS", "2")]),
        #[cfg(feature = "mpi")]
        mpi3 => |case| support::mpiexec(3, CONTROL, &["mpi", "2", case], &[]),
    },
}

fn every_case(job: support::Job, backend: &str, workers: usize) {
    job.assert_success();
    let last = format!("control: all cases passed on {backend} with {workers} workers");
    assert!(job.stdout.contains(&last), "missing {last:?} in:\n{}\n{}", job.stdout, job.stderr);
}

/// Every case in one job: what one case leaves behind fails a later one.
#[test]
fn every_case_in_one_job_local() {
    every_case(support::run(CONTROL, &["local", "3"], &[("UNIDIST_CPUS", "3")]), "local", 3);
}

#[cfg(feature = "mpi")]
#[test]
fn every_case_in_one_job_mpi2() {
    every_case(support::mpiexec(2, CONTROL, &["mpi", "1"], &[]), "mpi", 1);
}

#[cfg(feature = "mpi")]
#[test]
fn every_case_in_one_job_mpi5() {
    every_case(support::mpiexec(5, CONTROL, &["mpi", "4"], &[]), "mpi", 4);
}
