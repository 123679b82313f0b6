//! Logging: off by default; `UNIDIST_LOG=debug` logs every rank's events to stderr, each line
//! with its rank and functions by name (and under MPI, which peers' doorbells each rank rings); a bad level stops
//! `init` clearly. (The `faults` program's `no-shutdown` mode
//! runs one task.)

mod support;

const FAULTS: &str = env!("CARGO_BIN_EXE_faults");

fn logs_every_rank(job: &support::Job) {
    job.assert_success();
    let lines: Vec<&str> = job.stderr.lines().collect();
    let has = |rank: &str, what: &str| lines.iter().any(|l| l.contains(rank) && l.contains(what));
    // Functions by name, never only by ID.
    assert!(has("rank=0", "task submitted"), "{}", job.stderr);
    let submitted = lines.iter().find(|l| l.contains("task submitted")).expect("found above");
    assert!(submitted.contains("function=faults::add"), "{submitted}");
    assert!(has("rank=0", "unidist started"), "{}", job.stderr);
    assert!(
        has("rank=1", "running task") || has("rank=2", "running task"),
        "no worker's line in:\n{}",
        job.stderr
    );
}

#[test]
fn the_local_backend_logs_with_ranks_when_asked() {
    let env = [("UNIDIST_CPUS", "2"), ("UNIDIST_LOG", "debug")];
    logs_every_rank(&support::run(FAULTS, &["no-shutdown"], &env));
}

#[test]
fn nothing_is_logged_by_default() {
    let job = support::run(FAULTS, &["no-shutdown"], &[("UNIDIST_CPUS", "2")]);
    job.assert_success();
    assert!(!job.stderr.contains("task submitted"), "{}", job.stderr);
}

#[test]
fn a_bad_level_stops_init_clearly() {
    let job = support::run(FAULTS, &["no-shutdown"], &[("UNIDIST_LOG", "loud")]);
    assert!(!job.success());
    assert!(job.stderr.contains("UNIDIST_LOG=loud is not a level"), "{}", job.stderr);
}

#[cfg(feature = "mpi")]
#[test]
fn an_mpi_job_logs_with_ranks_when_asked() {
    let job = support::mpiexec(3, FAULTS, &["no-shutdown"], &[("UNIDIST_LOG", "debug")]);
    logs_every_rank(&job);
    // Three ranks on one host: each can ring the other two when it sends them a batch.
    for rank in 0..3 {
        let linked = job.stderr.lines().any(|l| {
            l.contains(&format!("rank={rank} "))
                && l.contains("linked=2 on_host=2")
                && l.contains("doorbells of the ranks on this host linked")
        });
        assert!(linked, "rank {rank} did not link its peers' doorbells:\n{}", job.stderr);
    }
}
