//! Nested tasks end to end: the `nested` program (recursive fib, a parallel merge sort of
//! 1,000,000 integers, three levels of tasks, errors in children, `put` and `wait` in tasks, and
//! the bound on executor threads) on the local backend and as MPI jobs of 2, 3 and 5 ranks.

mod support;

const NESTED: &str = env!("CARGO_BIN_EXE_nested");

fn assert_all_passed(job: &support::Job, backend: &str, workers: usize) {
    job.assert_success();
    let last = format!("nested: all cases passed on {backend} with {workers} workers");
    assert!(job.stdout.contains(&last), "missing {last:?} in:\n{}\n{}", job.stdout, job.stderr);
}

#[test]
fn nested_tasks_on_one_local_worker() {
    let job = support::run(NESTED, &["local", "1"], &[("UNIDIST_CPUS", "1")]);
    assert_all_passed(&job, "local", 1);
}

#[test]
fn nested_tasks_on_four_local_workers() {
    let job = support::run(NESTED, &["local", "4"], &[("UNIDIST_CPUS", "4")]);
    assert_all_passed(&job, "local", 4);
}

#[cfg(feature = "mpi")]
mod mpi {
    use super::*;

    fn ranks(n: usize) {
        let job = support::mpiexec(n, NESTED, &["mpi", &(n - 1).to_string()], &[]);
        assert_all_passed(&job, "mpi", n - 1);
    }

    #[test]
    fn nested_tasks_on_two_ranks() {
        ranks(2);
    }

    #[test]
    fn nested_tasks_on_three_ranks() {
        ranks(3);
    }

    #[test]
    fn nested_tasks_on_five_ranks() {
        ranks(5);
    }
}
