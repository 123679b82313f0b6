//! Seeing where the time goes: each case of the `observe` program (the counters per remote
//! function) as its own test, on the local backend and as an MPI job of 3 ranks; every case in
//! one job with 2 ranks.

#[macro_use]
mod support;

const OBSERVE: &str = env!("CARGO_BIN_EXE_observe");

case_tests! {
    program: OBSERVE,
    cases: [
        function_stats_count_every_task,
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
