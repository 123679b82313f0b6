//! Objects of every size class, byte for byte: each case of the `objects` program as its own
//! test, on the local backend and as MPI jobs, once with the default chunk size and once with
//! 1 MiB chunks so that megabyte objects cross in several chunks.

#[macro_use]
mod support;

const OBJECTS: &str = env!("CARGO_BIN_EXE_objects");

case_tests! {
    program: OBJECTS,
    cases: [
        put_task_get,
        worker_to_worker,
        many_in_one_batch,
        kept_buffers_carry_no_old_bytes,
        arc_inputs_decode_once_per_worker,
    ],
    configs: {
        local3 => |case| support::run(OBJECTS, &["local", "3", case], &[("UNIDIST_CPUS", "3")]),
        #[cfg(feature = "mpi")]
        mpi3 => |case| support::mpiexec(3, OBJECTS, &["mpi", "2", case], &[]),
        /// 1 MiB chunks: megabyte objects cross in several.
        #[cfg(feature = "mpi")]
        mpi4_chunks_of_1_mib => |case| {
            let env = [("UNIDIST_CHUNK_BYTES", "1048576")];
            support::mpiexec(4, OBJECTS, &["mpi", "3", case], &env)
        },
    },
}

/// How far the root's peak memory rose for a `get` of a result, in units of the value, as the
/// `objects result` job printed it; the program itself checks that the root kept no encoded copy.
fn peak_rise_of_a_get(job: &support::Job) -> f64 {
    job.assert_success();
    let line = job.stdout.lines().find(|l| l.contains("peak rose by")).unwrap_or_else(|| {
        panic!("no figure:\n{}\n{}", job.stdout, job.stderr);
    });
    let rest = line.split("peak rose by ").nth(1).expect("a figure");
    rest.split_whitespace().next().and_then(|x| x.parse().ok()).expect("a number")
}

#[test]
fn the_root_keeps_no_encoded_copy_of_a_large_result_it_got_local() {
    let job = support::run(OBJECTS, &["result", "8388608"], &[("UNIDIST_BACKEND", "local")]);
    peak_rise_of_a_get(&job);
}

#[cfg(feature = "mpi")]
mod mpi {
    use super::*;

    #[test]
    fn the_root_keeps_no_encoded_copy_of_a_large_result_it_got() {
        peak_rise_of_a_get(&support::mpiexec(3, OBJECTS, &["result", "8388608"], &[]));
    }

    /// Slow and large (a 2.5 GiB result: about 5 GiB on the root at the peak).
    #[test]
    #[ignore = "slow: run by scripts/slow-tests.sh"]
    fn a_get_of_a_2_5_gib_result_needs_the_value_and_one_transient_copy() {
        let rise =
            peak_rise_of_a_get(&support::mpiexec(3, OBJECTS, &["result", "2684354560"], &[]));
        assert!(rise <= 2.05, "the root's peak rose by {rise} times the value");
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

    /// Ranks on pretend hosts (`UNIDIST_HOST_NAME`, one value per group of ranks): root on a,
    /// workers 1-2 on b, 3-4 on c.
    fn on_three_hosts(env: &[&str]) -> support::Job {
        let mut args: Vec<&str> = Vec::new();
        for (n, host) in [("1", "a"), ("2", "b"), ("2", "c")] {
            if !args.is_empty() {
                args.push(":");
            }
            args.extend(["-n", n, "-env", "UNIDIST_HOST_NAME", host]);
            args.extend(env);
            args.push(OBJECTS);
            args.push("placement");
            args.push(env.last().copied().unwrap_or("host-aware"));
        }
        support::run("mpiexec", &args, &[])
    }

    #[test]
    fn a_task_with_a_large_input_runs_on_the_inputs_host() {
        let job = on_three_hosts(&[]);
        job.assert_success();
        assert!(job.stdout.contains("placement: host-aware: 0 bytes"), "{}", job.stdout);
    }

    #[test]
    fn round_robin_placement_is_kept_on_request() {
        let job = on_three_hosts(&["-env", "UNIDIST_SCHEDULER", "round-robin"]);
        job.assert_success();
        assert!(job.stdout.contains("placement: round-robin: "), "{}", job.stdout);
    }

    #[test]
    fn a_bad_chunk_size_fails_init_clearly() {
        let job = support::mpiexec(2, OBJECTS, &["mpi", "1"], &[("UNIDIST_CHUNK_BYTES", "0")]);
        assert!(!job.success(), "{}", job.stdout);
        assert!(job.stderr.contains("UNIDIST_CHUNK_BYTES=0 is not a chunk size"), "{}", job.stderr);
    }
}
