//! Objects of every size class, byte for byte: the `objects` program on the local backend and
//! as MPI jobs, once with the default chunk size and once with 1 MiB chunks so that megabyte
//! objects cross in several chunks.

mod support;

const OBJECTS: &str = env!("CARGO_BIN_EXE_objects");

fn assert_all_passed(job: &support::Job, backend: &str, workers: usize) {
    job.assert_success();
    let last = format!("objects: all cases passed on {backend} with {workers} workers");
    assert!(job.stdout.contains(&last), "missing {last:?} in:\n{}\n{}", job.stdout, job.stderr);
}

#[test]
fn objects_cross_the_local_backend_unchanged() {
    let job = support::run(OBJECTS, &["local", "3"], &[("UNIDIST_CPUS", "3")]);
    assert_all_passed(&job, "local", 3);
}

#[cfg(feature = "mpi")]
mod mpi {
    use super::*;

    #[test]
    fn objects_cross_ranks_unchanged() {
        let job = support::mpiexec(3, OBJECTS, &["mpi", "2"], &[]);
        assert_all_passed(&job, "mpi", 2);
    }

    #[test]
    fn objects_cross_ranks_unchanged_in_many_chunks() {
        let job =
            support::mpiexec(4, OBJECTS, &["mpi", "3"], &[("UNIDIST_CHUNK_BYTES", "1048576")]);
        assert_all_passed(&job, "mpi", 3);
    }

    /// Slow and large (about 15 GiB at the peak over 3 ranks): `scripts/slow-tests.sh` runs it.
    #[test]
    #[ignore = "slow: run by scripts/slow-tests.sh"]
    fn objects_of_1_gib_and_over_2_gib_cross_ranks_unchanged() {
        for len in ["1073741824", "2400000000"] {
            let job = support::mpiexec(3, OBJECTS, &["huge", len], &[]);
            job.assert_success();
            let done = format!("objects: {len} bytes crossed unchanged");
            assert!(job.stdout.contains(&done), "{}\n{}", job.stdout, job.stderr);
        }
    }

    #[test]
    fn a_bad_chunk_size_fails_init_clearly() {
        let job = support::mpiexec(2, OBJECTS, &["mpi", "1"], &[("UNIDIST_CHUNK_BYTES", "0")]);
        assert!(!job.success(), "{}", job.stdout);
        assert!(job.stderr.contains("UNIDIST_CHUNK_BYTES=0 is not a chunk size"), "{}", job.stderr);
    }
}
