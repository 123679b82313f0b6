//! The garbage collector, end to end: each case of the `gc` program (objects freed under
//! continuous load, while a task is always in flight) as its own test, on the local backend and
//! as MPI jobs, with the default thresholds and with extreme ones; every case in one job; and bad
//! threshold settings failing `init` clearly.

#[macro_use]
mod support;

use support::run;

const GC: &str = env!("CARGO_BIN_EXE_gc");

/// Every cleanup at once, and none until `memory_stats`, idleness or shutdown sends them.
const EVERY_OBJECT: &[(&str, &str)] = &[("UNIDIST_GC_THRESHOLD", "1")];
const NEVER: &[(&str, &str)] =
    &[("UNIDIST_GC_THRESHOLD", "1000000000"), ("UNIDIST_GC_BYTES", "1000000000000")];

fn local(workers: &str, case: &str, env: &[(&str, &str)]) -> support::Job {
    let mut env = env.to_vec();
    env.extend([("UNIDIST_BACKEND", "local"), ("UNIDIST_CPUS", workers)]);
    run(GC, &["local", workers, case], &env)
}

case_tests! {
    program: GC,
    cases: [freed_under_continuous_load, dropped_inputs_wait_for_their_tasks],
    configs: {
        local3 => |case| local("3", case, &[]),
        local2_every_object => |case| local("2", case, EVERY_OBJECT),
        local2_never => |case| local("2", case, NEVER),
        #[cfg(feature = "mpi")]
        mpi3 => |case| support::mpiexec(3, GC, &["mpi", "2", case], &[]),
        #[cfg(feature = "mpi")]
        mpi5 => |case| support::mpiexec(5, GC, &["mpi", "4", case], &[]),
        #[cfg(feature = "mpi")]
        mpi3_every_object => |case| support::mpiexec(3, GC, &["mpi", "2", case], EVERY_OBJECT),
        #[cfg(feature = "mpi")]
        mpi3_never => |case| support::mpiexec(3, GC, &["mpi", "2", case], NEVER),
    },
}

/// Every case in one job: what one case leaves behind fails a later one.
#[test]
fn every_case_in_one_job() {
    let job = run(GC, &["local", "3"], &[("UNIDIST_BACKEND", "local"), ("UNIDIST_CPUS", "3")]);
    job.assert_success();
    let last = "gc: all cases passed on local with 3 workers";
    assert!(job.stdout.contains(last), "missing {last:?} in:\n{}", job.stdout);
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
