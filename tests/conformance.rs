//! The API contract, end to end: each case of the conformance program as its own test, on the
//! local backend and as real MPI jobs of 2, 3 and 5 ranks (oversubscribed on a small machine);
//! every case in one job; and the start-up failures.

#[macro_use]
mod support;

use support::run;

const CONFORMANCE: &str = env!("CARGO_BIN_EXE_conformance");

case_tests! {
    program: CONFORMANCE,
    cases: [
        init,
        cluster_resources,
        task_slots,
        values_and_refs,
        num_returns,
        put_wait_get_many,
        vec_of_refs,
        signatures,
        panics,
        wait_returns_early,
        type_mismatch,
        undecodable_object,
        refs_across_workers,
        threads,
        memory,
        schedule_rank,
        after_shutdown,
    ],
    configs: {
        local3 => |case| {
            let env = [("UNIDIST_BACKEND", "local"), ("UNIDIST_CPUS", "3")];
            run(CONFORMANCE, &["local", "3", case], &env)
        },
        /// Several task slots per local worker: `task_slots` sees 3 tasks run at once on one.
        local2_slots3 => |case| {
            let env = [("UNIDIST_CPUS", "2"), ("UNIDIST_WORKER_THREADS", "3")];
            run(CONFORMANCE, &["local", "2", case], &env)
        },
        #[cfg(feature = "mpi")]
        mpi2 => |case| support::mpiexec(2, CONFORMANCE, &["mpi", "1", case], &[]),
        #[cfg(feature = "mpi")]
        mpi3 => |case| support::mpiexec(3, CONFORMANCE, &["mpi", "2", case], &[]),
        #[cfg(feature = "mpi")]
        mpi5 => |case| support::mpiexec(5, CONFORMANCE, &["mpi", "4", case], &[]),
        /// Several task slots per worker rank.
        #[cfg(feature = "mpi")]
        mpi3_slots3 => |case| {
            let env = [("UNIDIST_WORKER_THREADS", "3")];
            support::mpiexec(3, CONFORMANCE, &["mpi", "2", case], &env)
        },
    },
}

fn assert_all_passed(job: &support::Job, backend: &str, workers: usize) {
    job.assert_success();
    let last = format!("conformance: all cases passed on {backend} with {workers} workers");
    assert!(job.stdout.contains(&last), "missing {last:?} in:\n{}", job.stdout);
}

/// Every case in one job, one after the other: what one case leaves behind (objects not freed,
/// a worker in a bad state) fails a later one.
#[test]
fn local_backend_passes_every_case_in_one_job() {
    let job =
        run(CONFORMANCE, &["local", "3"], &[("UNIDIST_BACKEND", "local"), ("UNIDIST_CPUS", "3")]);
    assert_all_passed(&job, "local", 3);
}

#[test]
fn local_workers_run_as_many_tasks_at_once_as_they_have_slots() {
    let env = [("UNIDIST_CPUS", "2"), ("UNIDIST_WORKER_THREADS", "3")];
    let job = run(CONFORMANCE, &["local", "2", "task_slots"], &env);
    support::assert_case_passed(&job, CONFORMANCE, "task_slots");
    assert!(job.stdout.contains("task slots per worker: 3"), "{}", job.stdout);
}

#[test]
fn local_backend_is_the_default_without_a_launcher() {
    let job = run(CONFORMANCE, &["local", "1", "init"], &[("UNIDIST_CPUS", "1")]);
    support::assert_case_passed(&job, CONFORMANCE, "init");
}

#[test]
fn an_unknown_case_is_refused_before_anything_starts() {
    let job = run(CONFORMANCE, &["local", "1", "no_such_case"], &[("UNIDIST_CPUS", "1")]);
    assert!(!job.success());
    assert!(job.stderr.contains("conformance: no case named \"no_such_case\""), "{}", job.stderr);
    assert!(job.stderr.contains("cases: init cluster_resources"), "{}", job.stderr);
    assert!(!job.stdout.contains("ok "), "{}", job.stdout);
}

#[test]
fn a_bad_backend_name_fails_init_clearly() {
    let job = run(CONFORMANCE, &["local", "1"], &[("UNIDIST_BACKEND", "tcp")]);
    assert!(!job.success());
    assert!(
        job.stderr.contains("UNIDIST_BACKEND=tcp is not a backend: use `mpi` or `local`"),
        "{}",
        job.stderr
    );
}

#[test]
fn a_bad_worker_count_fails_init_clearly() {
    let job = run(CONFORMANCE, &["local", "1"], &[("UNIDIST_CPUS", "zero")]);
    assert!(!job.success());
    assert!(job.stderr.contains("UNIDIST_CPUS=zero is not a number of workers"), "{}", job.stderr);
}

#[cfg(not(feature = "mpi"))]
#[test]
fn a_launched_program_without_the_mpi_feature_fails_init() {
    // What a launcher tells each rank it started (MPICH's hydra sets PMI_SIZE).
    let job = run(CONFORMANCE, &["local", "1"], &[("PMI_SIZE", "3")]);
    assert!(!job.success());
    assert!(
        job.stderr.contains("started by an MPI launcher as 3 ranks (PMI_SIZE=3)"),
        "{}",
        job.stderr
    );
    assert!(job.stderr.contains("build with `--features mpi`"), "{}", job.stderr);
    assert!(!job.stdout.contains("ok init"), "main must not run past init");

    // And under a real launcher, when there is one: every rank stops at init.
    if std::process::Command::new("mpiexec").arg("--version").output().is_ok() {
        let job = support::mpiexec(3, CONFORMANCE, &["local", "1"], &[]);
        assert!(!job.success());
        assert_eq!(job.stderr.matches("build with `--features mpi`").count(), 3, "{}", job.stderr);
        assert!(!job.stdout.contains("ok init"));
    }
}

#[cfg(feature = "mpi")]
mod mpi {
    use super::*;
    use support::mpiexec;

    /// Every case in one job, as [`local_backend_passes_every_case_in_one_job`].
    #[test]
    fn three_ranks_pass_every_case_in_one_job() {
        let job = mpiexec(3, CONFORMANCE, &["mpi", "2"], &[]);
        assert_all_passed(&job, "mpi", 2);
        // Only the root runs main past init: one line per case, not one per rank.
        assert_eq!(job.stdout.matches("ok values_and_refs").count(), 1, "{}", job.stdout);
    }

    /// Batches go split in halves when they outgrow a chunk: 1 GiB normally, 256 bytes here, so
    /// that nearly every batch is split and every kind of message crosses in pieces.
    #[test]
    fn the_contract_holds_when_every_batch_is_split() {
        let env = [("UNIDIST_CHUNK_BYTES", "256"), ("UNIDIST_LOG", "debug")];
        let job = mpiexec(3, CONFORMANCE, &["mpi", "2"], &env);
        assert_all_passed(&job, "mpi", 2);
        let splits = job.stderr.matches("batch larger than a chunk split in two").count();
        assert!(splits > 0, "no batch was split:\n{}", job.stderr);
    }

    #[test]
    fn worker_ranks_run_as_many_tasks_at_once_as_they_have_slots() {
        let env = [("UNIDIST_WORKER_THREADS", "3")];
        let job = mpiexec(3, CONFORMANCE, &["mpi", "2", "task_slots"], &env);
        support::assert_case_passed(&job, CONFORMANCE, "task_slots");
        assert!(job.stdout.contains("task slots per worker: 3"), "{}", job.stdout);
    }

    #[test]
    fn a_bad_number_of_task_slots_fails_init_clearly() {
        let job = mpiexec(2, CONFORMANCE, &["mpi", "1"], &[("UNIDIST_WORKER_THREADS", "0")]);
        assert!(!job.success());
        let message = "UNIDIST_WORKER_THREADS=0 is not a number of task slots";
        assert_eq!(job.stderr.matches(message).count(), 2, "{}", job.stderr);
    }

    #[test]
    fn ranks_with_different_function_tables_all_fail_init() {
        let mismatch = env!("CARGO_BIN_EXE_mismatch");
        let job =
            support::launch(&["-n", "1", CONFORMANCE, "mpi", "2", ":", "-n", "2", mismatch], &[]);
        assert!(!job.success());
        assert_eq!(
            job.stderr.matches("the ranks disagree on the table of remote functions").count(),
            3,
            "every rank says so:\n{}",
            job.stderr
        );
        assert!(job.stderr.contains("every rank must run the same binary"));
        assert!(!job.stdout.contains("ok init"));
    }

    #[test]
    fn the_mpi_backend_needs_a_worker() {
        let job = mpiexec(1, CONFORMANCE, &["mpi", "0"], &[("UNIDIST_BACKEND", "mpi")]);
        assert!(!job.success());
        assert!(job.stderr.contains("the MPI backend needs at least 2 ranks"), "{}", job.stderr);
    }

    #[test]
    fn the_other_mpis_launcher_gets_a_clear_error_on_every_process() {
        // The suite is built against MPICH, or against Open MPI when scripts/test-openmpi.sh
        // sets UNIDIST_TEST_MPIEXEC; the other one's mpiexec (both are installed by
        // scripts/test.sh) starts processes whose MPI each comes up alone.
        let other = if std::env::var_os("UNIDIST_TEST_MPIEXEC").is_some() {
            vec!["mpiexec.mpich"]
        } else {
            vec!["mpiexec.openmpi", "--oversubscribe"]
        };
        let mut args = other[1..].to_vec();
        args.extend(["-n", "2", CONFORMANCE, "mpi", "1"]);
        let root = [("OMPI_ALLOW_RUN_AS_ROOT", "1"), ("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")];
        let job = support::run(other[0], &args, &root);
        assert!(!job.success(), "{}", job.stdout);
        let message = "but MPI sees this one alone in a job of 1: the launcher and this \
                       binary's MPI library are not connected";
        assert_eq!(job.stderr.matches(message).count(), 2, "both say so:\n{}", job.stderr);
        assert!(job.stderr.contains("the launcher started 2 processes"), "{}", job.stderr);
        assert!(job.stderr.contains("start it with the `mpiexec` of the MPI"), "{}", job.stderr);
        assert!(!job.stdout.contains("ok init"), "{}", job.stdout);
    }

    #[test]
    fn one_rank_under_mpiexec_runs_the_local_backend() {
        let job = mpiexec(1, CONFORMANCE, &["local", "2"], &[("UNIDIST_CPUS", "2")]);
        assert_all_passed(&job, "local", 2);
    }
}
