//! Load: the `load` program (several root threads submitting and getting at once, refs as
//! inputs, every result checked, nothing left behind) on both backends; a short version here,
//! 8 threads x 50,000 tasks in `scripts/slow-tests.sh`.

mod support;

const LOAD: &str = env!("CARGO_BIN_EXE_load");

fn check(job: &support::Job) {
    job.assert_success();
    assert!(job.stdout.contains("nothing left"), "{}\n{}", job.stdout, job.stderr);
}

#[test]
fn eight_threads_load_the_local_backend() {
    check(&support::run(LOAD, &["8", "2000"], &[("UNIDIST_CPUS", "2")]));
}

#[cfg(feature = "mpi")]
#[test]
fn eight_threads_load_an_mpi_job() {
    check(&support::mpiexec(3, LOAD, &["8", "2000"], &[]));
}

#[cfg(feature = "mpi")]
#[test]
#[ignore = "slow: run by scripts/slow-tests.sh"]
fn eight_threads_of_50000_tasks_load_an_mpi_job() {
    let job = support::mpiexec(3, LOAD, &["8", "50000"], &[]);
    check(&job);
    println!("{}", job.stdout);
}
