//! Jobs across simulated hosts: `scripts/hosts.sh` makes 3 network namespaces on a bridge, each
//! with its own address and host name, and ranks talk TCP between them over the veths (UCX told
//! so), so a host can be cut off or killed while the others go on. Needs root, as CI has.
//!
//! Runs that end normally are not here: with Debian's MPICH 4.0.2 and UCX 1.13 over TCP,
//! `MPI_Finalize` often hangs after all the work is done (a plain C program that only calls
//! `MPI_Barrier` hangs the same way), which would make them flaky. The faults below end the job
//! with `MPI_Abort` or the launcher, never through `MPI_Finalize`; the runs that end normally
//! are in `tests/hosts_openmpi.rs`, under Open MPI.

#![cfg(feature = "mpi")]

mod support;

use std::sync::Mutex;

const FAULTS: &str = env!("CARGO_BIN_EXE_faults");

/// One test at a time: they share the namespaces' names.
static HOSTS: Mutex<()> = Mutex::new(());

/// Runs `faults until-killed` on 3 hosts, one rank each (the root alone on h1), and once it
/// runs, does `action` (a shell command) from outside the hosts; prints the job's exit code.
fn run_and_then(action: &str, env: &str) -> support::Job {
    let _one = HOSTS.lock().unwrap_or_else(|e| e.into_inner());
    let script = format!(
        r#"out=$(mktemp)
$UNIDIST_MPIEXEC {env} -hosts h1:1,h2:1,h3:1 -n 3 {FAULTS} until-killed >"$out" 2>&1 &
job=$!
until grep -q "faults: running on" "$out"; do kill -0 $job 2>/dev/null || break; sleep 0.05; done
{action}
wait $job
rc=$?
cat "$out"
echo "hosts-test: job exit code $rc""#
    );
    let hosts = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/hosts.sh");
    support::run("bash", &[hosts, "3", "bash", "-c", &script], &[])
}

fn job_exit_code(job: &support::Job) -> i32 {
    let line = job.stdout.lines().find_map(|l| l.strip_prefix("hosts-test: job exit code "));
    let code = line.unwrap_or_else(|| panic!("no exit code in:\n{}\n{}", job.stdout, job.stderr));
    code.trim().parse().expect("a number")
}

#[test]
fn a_host_cut_off_the_network_is_found_by_the_heartbeat() {
    // The link of h3 goes down on the bridge's side: no reset, no error reaches anyone.
    let job = run_and_then("ip link set ud-h3 down", "-genv UNIDIST_HEARTBEAT_S 2");
    job.assert_success(); // the script's own run
    assert!(job.stdout.contains("faults: running on h1,h2,h3"), "{}", job.stdout);
    assert_ne!(job_exit_code(&job), 0, "{}", job.stdout);
    assert!(
        job.stdout.contains("rank 0 has heard nothing from rank 2 on host h3 for"),
        "the root names the lost rank and host:\n{}",
        job.stdout
    );
}

#[test]
fn a_host_whose_processes_are_killed_ends_the_job() {
    // Every process of h3, the launcher's proxy included, as if the machine went down.
    let job = run_and_then("ip netns pids unidist-h3 | xargs -r kill -9", "");
    job.assert_success();
    assert!(job.stdout.contains("faults: running on h1,h2,h3"), "{}", job.stdout);
    assert_ne!(job_exit_code(&job), 0, "{}", job.stdout);
}
