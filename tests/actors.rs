//! Actors: each case of the `actors` program (state on a worker, calls in order, placement,
//! errors, the actor's end) as its own test, on the local backend and as an MPI job of 3 ranks;
//! every case in one job with 2 and 5 ranks.

#[macro_use]
mod support;

const ACTORS: &str = env!("CARGO_BIN_EXE_actors");

case_tests! {
    program: ACTORS,
    cases: [
        calls_run_in_order,
        state_stays_between_calls,
        one_actor_per_worker,
        an_exclusive_actor_has_its_worker_alone,
        plain_tasks_on_a_chosen_worker,
        a_task_chooses_workers_too,
        refs_flow_between_actors_and_tasks,
        a_method_submits_and_gets_tasks,
        a_handle_passed_to_tasks,
        an_actor_calls_another,
        an_actor_made_in_a_task,
        a_handle_kept_by_another_actor,
        a_handle_dropped_on_a_thread_of_a_task,
        calls_from_tasks_take_no_turn_of_the_cycle,
        a_panicking_method_fails_only_its_call,
        a_method_waiting_for_its_own_actor_fails,
        a_failed_constructor_fails_every_call,
        kill_runs_drop_and_later_calls_fail,
        the_last_handle_dropped_ends_the_actor,
        a_worker_that_is_not_one_is_a_clear_panic,
        macro_forms,
        live_actors_at_shutdown,
    ],
    configs: {
        local2 => |case| support::run(ACTORS, &["local", "2", case], &[("UNIDIST_CPUS", "2")]),
        #[cfg(feature = "mpi")]
        mpi3 => |case| support::mpiexec(3, ACTORS, &["mpi", "2", case], &[]),
    },
}

fn every_case(job: support::Job, backend: &str, workers: usize) {
    job.assert_success();
    let last = format!("actors: all cases passed on {backend} with {workers} workers");
    assert!(job.stdout.contains(&last), "missing {last:?} in:\n{}\n{}", job.stdout, job.stderr);
}

/// Every case in one job: what one case leaves behind fails a later one.
#[test]
fn every_case_in_one_job_local() {
    every_case(support::run(ACTORS, &["local", "3"], &[("UNIDIST_CPUS", "3")]), "local", 3);
}

#[cfg(feature = "mpi")]
#[test]
fn every_case_in_one_job_mpi2() {
    every_case(support::mpiexec(2, ACTORS, &["mpi", "1"], &[]), "mpi", 1);
}

#[cfg(feature = "mpi")]
#[test]
fn every_case_in_one_job_mpi5() {
    every_case(support::mpiexec(5, ACTORS, &["mpi", "4"], &[]), "mpi", 4);
}
