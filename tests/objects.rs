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
        arrays_are_read_in_place,
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

/// The line `objects segments` ends with, after checking every object byte for byte and the
/// bytes each rank mapped; returns the bytes mapped.
fn segments_passed(job: &support::Job) -> u64 {
    job.assert_success();
    let line =
        job.stdout.lines().find(|l| l.starts_with("objects: segments: ")).unwrap_or_else(|| {
            panic!("no result line:\n{}\n{}", job.stdout, job.stderr);
        });
    let mapped = line.split("; ").nth(1).and_then(|m| m.split_whitespace().next());
    mapped.and_then(|m| m.parse().ok()).expect("a count of bytes mapped")
}

#[test]
fn the_local_backend_maps_nothing() {
    let env =
        [("UNIDIST_BACKEND", "local"), ("UNIDIST_CPUS", "2"), ("UNIDIST_SHARED_BYTES", "1000")];
    assert_eq!(segments_passed(&support::run(OBJECTS, &["segments"], &env)), 0);
}

#[cfg(feature = "mpi")]
mod mpi {
    use super::*;

    /// Objects whose encodings are 1 and 2 bytes, the threshold minus one, the threshold and
    /// plus one, and 64 MiB: the program checks each byte for byte and that exactly those of
    /// at least the threshold were mapped, root to worker, back, and worker to worker.
    #[test]
    fn objects_at_and_around_the_shared_threshold_cross_byte_for_byte() {
        let env = [("UNIDIST_SHARED_BYTES", "100000")];
        assert!(segments_passed(&support::mpiexec(3, OBJECTS, &["segments"], &env)) > 0);
    }

    #[test]
    fn empty_and_one_byte_values_cross_in_segments() {
        let env = [("UNIDIST_SHARED_BYTES", "1")];
        assert!(segments_passed(&support::mpiexec(3, OBJECTS, &["segments"], &env)) > 0);
    }

    #[test]
    fn with_shared_memory_off_every_object_crosses_by_mpi() {
        let env = [("UNIDIST_SHARED_BYTES", "off")];
        assert_eq!(segments_passed(&support::mpiexec(3, OBJECTS, &["segments"], &env)), 0);
    }

    /// Root on host a, workers 1-2 on b, worker 3 on c: only workers 1 and 2 map each other's
    /// objects; everything else crosses by MPI, byte for byte.
    #[test]
    fn only_ranks_of_one_host_share_segments() {
        let mut args: Vec<&str> = Vec::new();
        for (n, host) in [("1", "a"), ("2", "b"), ("1", "c")] {
            if !args.is_empty() {
                args.push(":");
            }
            args.extend(["-n", n, "-env", "UNIDIST_HOST_NAME", host]);
            args.extend(["-env", "UNIDIST_SHARED_BYTES", "100000", OBJECTS, "segments"]);
        }
        assert!(segments_passed(&support::run("mpiexec", &args, &[])) > 0);
    }

    /// Entries of `/dev/shm` that unidist named, whose process (the id in the name) is gone:
    /// leftovers of a dead job. Segments of objects have no name at all; the doorbells' files
    /// are named until every rank of the host has mapped them.
    fn dead_leftovers() -> Vec<String> {
        let alive = |pid: &str| std::path::Path::new(&format!("/proc/{pid}")).exists();
        std::fs::read_dir("/dev/shm")
            .expect("/dev/shm")
            .map(|e| e.expect("an entry").file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("unidist"))
            .filter(|name| !name.split('-').nth(2).is_some_and(alive))
            .collect()
    }

    /// The job's processes, as `objects segments-fault` printed them, that still run 10 s after
    /// the launcher returned (a killed rank may take a moment to end; a zombie has ended). A
    /// segment lives while a process maps it or holds it open: once they have all ended, the
    /// kernel has freed every segment of the job.
    fn survivors(job: &support::Job) -> Vec<u32> {
        let line =
            job.stdout.lines().find(|l| l.starts_with("objects: pids ")).unwrap_or_else(|| {
                panic!("no pids:\n{}\n{}", job.stdout, job.stderr);
            });
        let pids: Vec<u32> = line["objects: pids ".len()..]
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|p| p.parse().ok())
            .collect();
        assert_eq!(pids.len(), 3, "{line}");
        let running = |pid: &u32| match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // The state follows the command's closing parenthesis.
            Ok(stat) => {
                !matches!(stat.rsplit(") ").next().and_then(|s| s.chars().next()), Some('Z' | 'X'))
            }
            Err(_) => false,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let left: Vec<u32> = pids.iter().copied().filter(running).collect();
            if left.is_empty() || std::time::Instant::now() > deadline {
                return left;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// A job that ends normally, by a task that aborts, or by a root that panics, each with
    /// objects of 8 MiB and more in segments on every rank, leaves no file in `/dev/shm` and no
    /// process holding a segment; a stale file of a dead job (planted here) does not confuse the
    /// next one.
    #[test]
    fn no_segment_outlives_its_job_however_it_ends() {
        let stale = std::path::Path::new("/dev/shm/unidist-bell-999999999-00000000000000ff");
        std::fs::write(stale, [0_u8; 64]).expect("a stale file planted");
        let normal = support::mpiexec(3, OBJECTS, &["segments"], &[]);
        let _ = std::fs::remove_file(stale);
        assert!(segments_passed(&normal) > 0, "the objects went through segments");
        assert_eq!(dead_leftovers(), Vec::<String>::new(), "after a normal end");
        for (fault, needle) in [("abort", "SIGABRT"), ("panic", "the root gives up")] {
            let job = support::mpiexec(3, OBJECTS, &["segments-fault", fault], &[]);
            assert!(!job.success(), "{fault}: the job went on:\n{}", job.stdout);
            assert!(
                job.stdout.contains("objects: segments made"),
                "{}\n{}",
                job.stdout,
                job.stderr
            );
            assert!(job.stderr.contains(needle), "{fault}:\n{}", job.stderr);
            assert_eq!(survivors(&job), Vec::<u32>::new(), "processes of a job ended by {fault}");
            assert_eq!(dead_leftovers(), Vec::<String>::new(), "after a job ended by {fault}");
        }
    }

    #[test]
    fn a_bad_shared_threshold_fails_init_clearly() {
        let env = [("UNIDIST_SHARED_BYTES", "1MiB")];
        let job = support::mpiexec(2, OBJECTS, &["mpi", "1"], &env);
        assert!(!job.success(), "{}", job.stdout);
        assert!(job.stderr.contains("UNIDIST_SHARED_BYTES=1MiB is not a size"), "{}", job.stderr);
    }

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
