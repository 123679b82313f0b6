//! The garbage collector, end to end: the `gc` program (objects freed under continuous load,
//! while a task is always in flight) on the local backend and as MPI jobs, with the default
//! thresholds and with extreme ones; and bad threshold settings failing `init` clearly.

mod support;

use support::run;

const GC: &str = env!("CARGO_BIN_EXE_gc");

fn assert_all_passed(job: &support::Job, backend: &str, workers: usize) {
    job.assert_success();
    let last = format!("gc: all cases passed on {backend} with {workers} workers");
    assert!(job.stdout.contains(&last), "missing {last:?} in:\n{}", job.stdout);
}

/// Every cleanup at once, and none until `memory_stats`, idleness or shutdown sends them.
const EXTREMES: &[&[(&str, &str)]] = &[
    &[("UNIDIST_GC_THRESHOLD", "1")],
    &[("UNIDIST_GC_THRESHOLD", "1000000000"), ("UNIDIST_GC_BYTES", "1000000000000")],
];

#[test]
fn local_backend_frees_under_load() {
    let job = run(GC, &["local", "3"], &[("UNIDIST_BACKEND", "local"), ("UNIDIST_CPUS", "3")]);
    assert_all_passed(&job, "local", 3);
}

#[test]
fn local_backend_frees_under_load_whatever_the_thresholds() {
    for env in EXTREMES {
        let mut env = env.to_vec();
        env.push(("UNIDIST_CPUS", "2"));
        assert_all_passed(&run(GC, &["local", "2"], &env), "local", 2);
    }
}

#[test]
fn bad_thresholds_fail_init_clearly() {
    let job = run(GC, &["local", "2"], &[("UNIDIST_CPUS", "2"), ("UNIDIST_GC_THRESHOLD", "0")]);
    assert!(!job.success());
    assert!(
        job.stderr.contains("UNIDIST_GC_THRESHOLD=0 is not a number of objects"),
        "{}",
        job.stderr
    );
    let job = run(GC, &["local", "2"], &[("UNIDIST_CPUS", "2"), ("UNIDIST_GC_BYTES", "1GiB")]);
    assert!(!job.success());
    assert!(
        job.stderr.contains("UNIDIST_GC_BYTES=1GiB is not a number of bytes"),
        "{}",
        job.stderr
    );
    assert!(!job.stdout.contains("ok "), "main must not run past init");
}

#[cfg(feature = "mpi")]
mod mpi {
    use super::*;
    use support::mpiexec;

    #[test]
    fn three_ranks_free_under_load() {
        assert_all_passed(&mpiexec(3, GC, &["mpi", "2"], &[]), "mpi", 2);
    }

    #[test]
    fn five_ranks_free_under_load() {
        assert_all_passed(&mpiexec(5, GC, &["mpi", "4"], &[]), "mpi", 4);
    }

    #[test]
    fn three_ranks_free_under_load_whatever_the_thresholds() {
        for env in EXTREMES {
            assert_all_passed(&mpiexec(3, GC, &["mpi", "2"], env), "mpi", 2);
        }
    }

    #[test]
    fn bad_thresholds_stop_every_rank() {
        let job = mpiexec(3, GC, &["mpi", "2"], &[("UNIDIST_GC_THRESHOLD", "many")]);
        assert!(!job.success());
        assert_eq!(
            job.stderr.matches("UNIDIST_GC_THRESHOLD=many is not a number of objects").count(),
            3,
            "every rank says so:\n{}",
            job.stderr
        );
    }
}
