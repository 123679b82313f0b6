//! unidist inside a program that initialized MPI itself (`unidist::init_in`), under `mpiexec`:
//! the program's MPI works before and after, workers come back to the program, unidist never
//! finalizes MPI, a handed-over communicator bounds the job, and what cannot work is refused
//! with a message on every rank.

#[cfg(feature = "mpi")]
mod support;

#[cfg(feature = "mpi")]
mod mpi {
    use super::support;

    const EMBEDDED: &str = env!("CARGO_BIN_EXE_embedded");

    fn lines_of(job: &support::Job, needle: &str) -> usize {
        job.stdout.lines().filter(|l| l.contains(needle)).count()
    }

    #[test]
    fn every_rank_comes_back_to_the_program_and_finalizes_its_mpi() {
        let job = support::mpiexec(3, EMBEDDED, &["world"], &[]);
        job.assert_success();
        assert!(job.stdout.contains("rank 0 back in the program as Root: sum 6"), "{}", job.stdout);
        for rank in [1, 2] {
            let line = format!("rank {rank} back in the program as Worker: sum 6");
            assert!(job.stdout.contains(&line), "no {line:?} in:\n{}", job.stdout);
        }
        // The program's MPI_Finalize, once per rank: unidist did not finalize it before.
        assert_eq!(lines_of(&job, "finalized"), 3, "{}\n{}", job.stdout, job.stderr);
    }

    #[test]
    fn a_handed_over_communicator_bounds_the_job() {
        let job = support::mpiexec(4, EMBEDDED, &["sub"], &[]);
        job.assert_success();
        assert!(job.stdout.contains("rank 3 took no part"), "{}", job.stdout);
        assert!(job.stdout.contains("rank 0 back in the program as Root"), "{}", job.stdout);
        assert_eq!(lines_of(&job, "as Worker"), 2, "{}", job.stdout);
        assert_eq!(lines_of(&job, "sum 10"), 4, "{}", job.stdout);
        assert_eq!(lines_of(&job, "finalized"), 4, "{}", job.stdout);
    }

    fn refused_on_every_rank(mode: &str, needles: &[&str]) {
        let job = support::mpiexec(2, EMBEDDED, &[mode], &[]);
        job.assert_success();
        for rank in [0, 1] {
            let line = job
                .stdout
                .lines()
                .find(|l| l.starts_with(&format!("rank {rank} refused: ")))
                .unwrap_or_else(|| panic!("{mode}: rank {rank} did not refuse:\n{}", job.stdout));
            for needle in needles {
                assert!(line.contains(needle), "{mode}: no {needle:?} in {line:?}");
            }
        }
    }

    #[test]
    fn a_threading_level_below_multiple_is_refused_with_the_level_needed() {
        refused_on_every_rank(
            "funneled",
            &["unidist::init_in failed", "threading level Funneled", "MPI_THREAD_MULTIPLE"],
        );
    }

    #[test]
    fn init_in_before_mpi_is_initialized_is_refused() {
        refused_on_every_rank(
            "uninitialized",
            &["unidist::init_in failed", "MPI is not initialized", "initialize_with_threading"],
        );
    }

    #[test]
    fn init_where_the_program_owns_mpi_points_at_init_in() {
        refused_on_every_rank(
            "init-in-program-mpi",
            &["unidist::init failed", "already initialized", "unidist::init_in"],
        );
    }
}
