//! No task stuck behind a straggler: each case of the `stragglers` program (a task that holds
//! its worker's only slot until tasks submitted after it have run, some of them queued behind it
//! on that worker) as its own test, on the local backend and as MPI jobs of 3 and 5 ranks. A
//! runtime that leaves tasks behind the straggler fails a case after the straggler's patience
//! (30 s), never hangs it. A task aimed at a worker with `schedule_rank` stays there.

#[macro_use]
mod support;

const STRAGGLERS: &str = env!("CARGO_BIN_EXE_stragglers");

case_tests! {
    program: STRAGGLERS,
    cases: [
        queued_behind_a_blocked_task,
        results_follow_moved_tasks,
        large_arguments_move_too,
        sweep,
        aimed_tasks_stay,
    ],
    configs: {
        local2 => |case| {
            support::run(STRAGGLERS, &["local", "2", case], &[("UNIDIST_CPUS", "2")])
        },
        local3 => |case| {
            support::run(STRAGGLERS, &["local", "3", case], &[("UNIDIST_CPUS", "3")])
        },
        #[cfg(feature = "mpi")]
        mpi3 => |case| support::mpiexec(3, STRAGGLERS, &["mpi", "2", case], &[]),
        #[cfg(feature = "mpi")]
        mpi5 => |case| support::mpiexec(5, STRAGGLERS, &["mpi", "4", case], &[]),
    },
}

/// Every case in one job: what one case leaves behind fails a later one.
#[test]
fn every_case_in_one_job() {
    let job = support::run(STRAGGLERS, &["local", "2"], &[("UNIDIST_CPUS", "2")]);
    job.assert_success();
    let last = "stragglers: all cases passed on local with 2 workers";
    assert!(job.stdout.contains(last), "missing {last:?} in:\n{}\n{}", job.stdout, job.stderr);
}
