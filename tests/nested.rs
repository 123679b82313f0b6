//! Nested tasks end to end: each case of the `nested` program (recursive fib, a recursion of
//! 20,000 remote calls under the bound on executor threads, a parallel merge sort of 1,000,000
//! integers, three levels of tasks, errors in children, `put` and `wait` in tasks) as its own
//! test, on the local backend and as MPI jobs of 2, 3 and 5 ranks; and every case in one job.

#[macro_use]
mod support;

const NESTED: &str = env!("CARGO_BIN_EXE_nested");

case_tests! {
    program: NESTED,
    cases: [
        fib,
        deep_recursion,
        merge_sort,
        three_levels,
        errors,
        put_and_wait,
        quick_tasks_on_the_loop_thread,
        misuse_in_task,
        refs_in_tasks_are_freed,
    ],
    configs: {
        local1 => |case| support::run(NESTED, &["local", "1", case], &[("UNIDIST_CPUS", "1")]),
        local4 => |case| support::run(NESTED, &["local", "4", case], &[("UNIDIST_CPUS", "4")]),
        #[cfg(feature = "mpi")]
        mpi2 => |case| support::mpiexec(2, NESTED, &["mpi", "1", case], &[]),
        #[cfg(feature = "mpi")]
        mpi3 => |case| support::mpiexec(3, NESTED, &["mpi", "2", case], &[]),
        #[cfg(feature = "mpi")]
        mpi5 => |case| support::mpiexec(5, NESTED, &["mpi", "4", case], &[]),
    },
}

/// Every case in one job: what one case leaves behind fails a later one.
#[test]
fn every_case_in_one_job() {
    let job = support::run(NESTED, &["local", "2"], &[("UNIDIST_CPUS", "2")]);
    job.assert_success();
    let last = "nested: all cases passed on local with 2 workers";
    assert!(job.stdout.contains(last), "missing {last:?} in:\n{}\n{}", job.stdout, job.stderr);
}
