//! unidist inside a program that owns MPI (`unidist::init_in`): the program initializes MPI,
//! uses it before and after unidist, and finalizes it itself.
//!
//! Usage under `mpiexec`: `embedded <mode>`, where the mode is
//! - `world`: unidist on the whole world; every rank prints a line once back in the program;
//! - `sub`: unidist on the first 3 ranks of a world of 4; rank 3 takes no part;
//! - `funneled`: MPI initialized with `Funneled`; `init_in` must refuse it on every rank;
//! - `uninitialized`: `init_in` before MPI is initialized;
//! - `init-in-program-mpi`: `unidist::init()` where the program already initialized MPI.
//!
//! Every refusal is caught and printed as `rank R refused: <message>`; the program exits 0.

#[cfg(feature = "mpi")]
mod program {
    use std::panic::{catch_unwind, AssertUnwindSafe};

    use unidist::mpi::collective::SystemOperation;
    use unidist::mpi::topology::{Color, SimpleCommunicator};
    use unidist::mpi::traits::{Communicator, CommunicatorCollectives};
    use unidist::mpi::Threading;
    use unidist::{remote, ObjectRef, Role};

    #[remote]
    fn square(x: u64) -> u64 {
        x * x
    }

    /// A nested task: its children run on the workers too.
    #[remote]
    fn sum_of_squares(n: u64) -> u64 {
        let refs: Vec<ObjectRef<u64>> = (1..=n).map(square::remote).collect();
        unidist::get(&refs).unwrap().into_iter().sum()
    }

    #[remote]
    fn make_bytes(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[remote]
    fn checksum(bytes: Vec<u8>) -> u64 {
        bytes.iter().enumerate().map(|(i, b)| (i as u64 + 1) * u64::from(*b)).sum()
    }

    /// The sum of `value` over the ranks of `comm`: the program's own MPI at work.
    fn sum_over(comm: &SimpleCommunicator, value: u64) -> u64 {
        let mut sum = 0_u64;
        comm.all_reduce_into(&value, &mut sum, SystemOperation::sum());
        sum
    }

    /// The root's work: tasks, nested tasks, a large object made on one worker and read on
    /// another, all checked.
    fn run_tasks(workers: usize) {
        assert_eq!(unidist::backend(), "mpi");
        assert_eq!(unidist::num_workers(), workers);
        let squares: Vec<u64> =
            unidist::get(&(0..20).map(square::remote).collect::<Vec<_>>()).unwrap();
        assert_eq!(squares, (0..20).map(|x| x * x).collect::<Vec<u64>>());
        assert_eq!(unidist::get(&sum_of_squares::remote(10)).unwrap(), 385);
        let len = 8 << 20;
        let bytes = make_bytes::remote(len);
        let expected: u64 = (0..len).map(|i| (i as u64 + 1) * ((i % 251) as u64)).sum();
        // Round-robin: the checksum runs on the other worker than the bytes when there are two.
        assert_eq!(unidist::get(&checksum::remote(&bytes)).unwrap(), expected);
        let hosts = unidist::cluster_resources();
        assert_eq!(hosts.iter().map(|h| h.ranks.len()).sum::<usize>(), workers + 1);
    }

    fn refused(rank: i32, f: impl FnOnce()) {
        let result = catch_unwind(AssertUnwindSafe(f));
        let payload = result.expect_err("unidist should have refused to start");
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        println!("rank {rank} refused: {message}");
    }

    pub fn main() {
        let mode = std::env::args().nth(1).expect("usage: embedded <mode>");
        if mode == "uninitialized" {
            // No MPI to ask: the launcher's variable (hydra's, or Open MPI's).
            let rank = ["PMI_RANK", "OMPI_COMM_WORLD_RANK"]
                .iter()
                .find_map(|var| std::env::var(var).ok()?.parse().ok())
                .unwrap_or(-1);
            refused(rank, || {
                unidist::init_in(&SimpleCommunicator::world());
            });
            return;
        }
        let threading = if mode == "funneled" { Threading::Funneled } else { Threading::Multiple };
        let (universe, granted) =
            unidist::mpi::initialize_with_threading(threading).expect("MPI starts once");
        let world = universe.world();
        let rank = world.rank();
        // The program's MPI before unidist.
        let before = sum_over(&world, rank as u64 + 1);
        match mode.as_str() {
            "funneled" => {
                assert_eq!(granted, Threading::Funneled);
                refused(rank, || {
                    unidist::init_in(&world);
                });
            }
            "init-in-program-mpi" => refused(rank, unidist::init),
            "world" => {
                let role = unidist::init_in(&world);
                assert_eq!(role == Role::Root, rank == 0, "rank 0 of the communicator is root");
                if role == Role::Root {
                    run_tasks(world.size() as usize - 1);
                    unidist::shutdown();
                }
                let after = sum_over(&world, rank as u64 + 1);
                assert_eq!(before, after);
                println!("rank {rank} back in the program as {role:?}: sum {after}");
            }
            "sub" => {
                let inside = rank < 3;
                let color = if inside { Color::with_value(1) } else { Color::undefined() };
                let sub = world.split_by_color(color);
                if let Some(sub) = &sub {
                    let role = unidist::init_in(sub);
                    if role == Role::Root {
                        run_tasks(2);
                        unidist::shutdown();
                    }
                    println!("rank {rank} back in the program as {role:?}");
                } else {
                    println!("rank {rank} took no part");
                }
                let after = sum_over(&world, rank as u64 + 1);
                assert_eq!(before, after);
                println!("rank {rank} sum {after}");
            }
            other => panic!("unknown mode {other}"),
        }
        // Dropping `universe` finalizes MPI: the program's, never unidist's, job.
        drop(universe);
        println!("rank {rank} finalized");
    }
}

fn main() {
    #[cfg(feature = "mpi")]
    program::main();
    #[cfg(not(feature = "mpi"))]
    eprintln!("embedded: built without the `mpi` feature; nothing to do");
}
