//! Jobs that end normally across simulated hosts (`scripts/hosts.sh`: 3 network namespaces on a
//! bridge, TCP over the veths between them), under Open MPI. With Debian's MPICH 4.0.2 and UCX
//! 1.13 over TCP, `MPI_Finalize` often hangs after the work is done (see `tests/hosts.rs`); Open
//! MPI's ob1/TCP ends cleanly, so these run there: `scripts/test-openmpi.sh` builds the suite
//! with Open MPI and runs them (`-- --ignored`), as CI does. Needs root.

#![cfg(feature = "mpi")]

mod support;

use std::sync::Mutex;

const CONFORMANCE: &str = env!("CARGO_BIN_EXE_conformance");
const OBJECTS: &str = env!("CARGO_BIN_EXE_objects");

/// One test at a time: they share the namespaces' names.
static HOSTS: Mutex<()> = Mutex::new(());

/// Runs `$UNIDIST_MPIEXEC_OPENMPI --host HOSTS -n N PROGRAM ARGS` on 3 simulated hosts.
fn on_three_hosts(hosts: &str, ranks: usize, program: &str, args: &[&str]) -> support::Job {
    let job = format!("-n {ranks} {program} {}", args.join(" "));
    launch_on_three_hosts(hosts, &job)
}

/// Runs `$UNIDIST_MPIEXEC_OPENMPI --host HOSTS JOB` on 3 simulated hosts.
fn launch_on_three_hosts(hosts: &str, job: &str) -> support::Job {
    let _one = HOSTS.lock().unwrap_or_else(|e| e.into_inner());
    let script = format!(
        "$UNIDIST_MPIEXEC_OPENMPI -x OMPI_ALLOW_RUN_AS_ROOT -x OMPI_ALLOW_RUN_AS_ROOT_CONFIRM \
         --host {hosts} {job}"
    );
    let hosts_sh = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/hosts.sh");
    support::run("bash", &[hosts_sh, "3", "bash", "-c", &script], &[])
}

#[test]
#[ignore = "needs the suite built with Open MPI: scripts/test-openmpi.sh runs it"]
fn hosts_that_run_different_builds_all_stop_at_init_naming_the_hosts() {
    let mismatch = env!("CARGO_BIN_EXE_mismatch");
    let job = launch_on_three_hosts(
        "h1:1,h2:1,h3:1",
        &format!("-n 1 {CONFORMANCE} mpi 2 : -n 2 {mismatch}"),
    );
    assert!(!job.success(), "{}", job.stdout);
    let message = "the ranks disagree on the table of remote functions";
    assert_eq!(job.stderr.matches(message).count(), 3, "every rank says so:\n{}", job.stderr);
    assert!(job.stderr.contains("rank 0 (host h1)"), "{}", job.stderr);
    assert!(job.stderr.contains("rank 1 (host h2)"), "{}", job.stderr);
    assert!(!job.stdout.contains("ok init"), "{}", job.stdout);
}

#[test]
#[ignore = "needs the suite built with Open MPI: scripts/test-openmpi.sh runs it"]
fn the_contract_holds_across_three_hosts_with_the_root_alone_on_the_first() {
    let job = on_three_hosts("h1:1,h2:2,h3:2", 5, CONFORMANCE, &["mpi", "4"]);
    job.assert_success();
    assert!(job.stdout.contains("hosts: h1,h2,h3"), "cluster_resources:\n{}", job.stdout);
    assert!(
        job.stdout.contains("conformance: all cases passed on mpi with 4 workers"),
        "{}",
        job.stdout
    );
}

#[test]
#[ignore = "needs the suite built with Open MPI: scripts/test-openmpi.sh runs it"]
fn a_256_mib_object_crosses_from_a_worker_on_one_host_to_a_worker_on_another() {
    let len = (256 << 20).to_string();
    let job = on_three_hosts("h1:1,h2:1,h3:1", 3, OBJECTS, &["across", &len]);
    job.assert_success();
    assert!(job.stdout.contains("objects: worker 1 on h2, worker 2 on h3"), "{}", job.stdout);
    let crossed = format!("objects: {len} bytes crossed unchanged");
    assert!(job.stdout.contains(&crossed), "{}", job.stdout);
}
