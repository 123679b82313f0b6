//! Runs the project's test programs as real jobs, with a watchdog that turns a hang into a
//! failure.

#![allow(dead_code)]

use std::io::{BufRead, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Generous: a job oversubscribed on 2 cores next to other test jobs takes seconds, not minutes.
pub const WATCHDOG: Duration = Duration::from_secs(900);

pub struct Job {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Job {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Panics with the job's output unless it succeeded.
    pub fn assert_success(&self) {
        assert!(
            self.success(),
            "the job failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
    }
}

/// The environment variables of launchers and of unidist, removed so that a test's job sees only
/// what the test sets.
const CLEARED: &[&str] = &[
    "UNIDIST_BACKEND",
    "UNIDIST_CPUS",
    "UNIDIST_CHUNK_BYTES",
    "UNIDIST_SHARED_BYTES",
    "UNIDIST_LOG",
    "UNIDIST_GC_THRESHOLD",
    "UNIDIST_GC_BYTES",
    "UNIDIST_HEARTBEAT_S",
    "UNIDIST_WORKER_THREADS",
    "UNIDIST_HOST_AWARE_BYTES",
    "PMI_SIZE",
    "PMI_RANK",
    "OMPI_COMM_WORLD_SIZE",
    "PMIX_SIZE",
    "SLURM_STEP_NUM_TASKS",
    "RUST_BACKTRACE",
];

/// Runs `program args` with `env`, killing it if it outlives the watchdog.
pub fn run(program: &str, args: &[&str], env: &[(&str, &str)]) -> Job {
    run_watching(program, args, env, |_| {})
}

/// Like [`run`], calling `on_line` with each line of the job's stdout as it comes.
pub fn run_watching(
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
    mut on_line: impl FnMut(&str) + Send + 'static,
) -> Job {
    let mut command = Command::new(program);
    command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for var in CLEARED {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    let mut child = command.spawn().unwrap_or_else(|e| panic!("could not start {program}: {e}"));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        for line in std::io::BufReader::new(&mut stdout).lines().map_while(Result::ok) {
            on_line(&line);
            s.push_str(&line);
            s.push('\n');
        }
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > WATCHDOG {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{program} {args:?} hung: killed after {WATCHDOG:?}\n--- stdout\n{}\n--- stderr\n{}",
                out.join().unwrap(),
                err.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Job { status, stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

/// Runs `ranks` ranks of `program` under `mpiexec`: MPICH's, or the launcher command in
/// `UNIDIST_TEST_MPIEXEC` (words split at spaces: `scripts/test-openmpi.sh` sets Open MPI's).
pub fn mpiexec(ranks: usize, program: &str, args: &[&str], env: &[(&str, &str)]) -> Job {
    let n = ranks.to_string();
    let mut all = vec!["-n", n.as_str(), program];
    all.extend_from_slice(args);
    launch(&all, env)
}

/// Runs the launcher of [`mpiexec`] with `args` as they are (an MPMD job, `A : B`).
pub fn launch(args: &[&str], env: &[(&str, &str)]) -> Job {
    let launcher = std::env::var("UNIDIST_TEST_MPIEXEC").unwrap_or_else(|_| "mpiexec".into());
    let mut words = launcher.split_whitespace();
    let command = words.next().expect("UNIDIST_TEST_MPIEXEC names a command").to_string();
    let mut all: Vec<&str> = words.collect();
    all.extend_from_slice(args);
    if !command.contains("openmpi") {
        return run(&command, &all, env);
    }
    // Open MPI's launchers share one session directory per host and user, which one that ends
    // removes while another starts in it ("orte_session_dir failed"): one each.
    static JOBS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = JOBS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let session = std::env::temp_dir().join(format!("unidist-ompi-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&session).expect("a session directory");
    let base = session.to_string_lossy().into_owned();
    let mut with_session = env.to_vec();
    with_session.push(("OMPI_MCA_orte_tmpdir_base", &base));
    let job = run(&command, &all, &with_session);
    let _ = std::fs::remove_dir_all(&session);
    job
}

/// Asserts that `job` ran `case` of `program` (see `tests/programs/cases.rs`) and that it
/// passed: printed once, by the root alone, and followed by the program's last line.
pub fn assert_case_passed(job: &Job, program: &str, case: &str) {
    job.assert_success();
    let ok = format!("ok {case}\n");
    assert_eq!(
        job.stdout.matches(&ok).count(),
        1,
        "`ok {case}` once, from the root alone:\n--- stdout\n{}\n--- stderr\n{}",
        job.stdout,
        job.stderr
    );
    let last = format!("{}: case {case} passed on ", program_name(program));
    assert!(job.stdout.contains(&last), "missing {last:?} in:\n{}", job.stdout);
}

/// Asserts that `program --list` names exactly `cases`, in order: a case added to a program
/// without a test, or a test whose case the program lost, fails here.
pub fn assert_lists(program: &str, cases: &[&str]) {
    let job = run(program, &["--list"], &[]);
    job.assert_success();
    let listed: Vec<&str> = job.stdout.lines().collect();
    assert_eq!(listed, cases, "{program} --list and the tests disagree");
}

fn program_name(program: &str) -> &str {
    std::path::Path::new(program).file_name().and_then(|n| n.to_str()).unwrap_or(program)
}

/// One `#[test]` per case and configuration of a test program (lamellar's `create_test!` is
/// the model): a failure names its case, the other cases still run, and one case runs alone
/// with `cargo test --test <file> <config>::<case>`.
///
/// ```ignore
/// case_tests! {
///     program: CONFORMANCE,
///     cases: [init, values_and_refs],
///     configs: {
///         local3 => |case| support::run(CONFORMANCE, &["local", "3", case], &[]),
///         #[cfg(feature = "mpi")]
///         mpi3 => |case| support::mpiexec(3, CONFORMANCE, &["mpi", "2", case], &[]),
///     }
/// }
/// ```
///
/// makes `local3::init`, `local3::values_and_refs`, `mpi3::init`, ... each of which launches the
/// job for its case and checks it with [`assert_case_passed`], and
/// `the_program_lists_these_cases`, which checks the list against the program's `--list`.
#[allow(unused_macros)]
macro_rules! case_tests {
    (
        program: $program:expr,
        cases: $cases:tt,
        configs: { $($(#[$attr:meta])* $config:ident => $launch:expr),* $(,)? } $(,)?
    ) => {
        case_tests!(@list $program, $cases);
        $( case_tests!(@config $program, $cases, $(#[$attr])* $config, $launch); )*
    };
    (@list $program:expr, [$($case:ident),* $(,)?]) => {
        #[test]
        fn the_program_lists_these_cases() {
            support::assert_lists($program, &[$(stringify!($case)),*]);
        }
    };
    (@config $program:expr, [$($case:ident),* $(,)?], $(#[$attr:meta])* $config:ident,
     $launch:expr) => {
        $(#[$attr])*
        mod $config {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $case() {
                    let launch = $launch;
                    let job: support::Job = launch(stringify!($case));
                    support::assert_case_passed(&job, $program, stringify!($case));
                }
            )*
        }
    };
}

/// The DOM of the page at `page` once its scripts ran, as headless Chromium renders it: Debian's
/// `chromium` (which `scripts/install-deps.sh` installs), or the browser `CHROMIUM` names. The
/// flags keep it from reaching the network, which a test machine may not have.
pub fn rendered_dom(page: &std::path::Path) -> String {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "no Chromium at {chromium}: run scripts/install-deps.sh, which installs Debian's chromium \
         (or set CHROMIUM to a Chromium or Chrome binary)"
    );
    let profile = std::env::temp_dir().join(format!(
        "unidist-chromium-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let profile_flag = format!("--user-data-dir={}", profile.display());
    let url = format!("file://{}", page.display());
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        profile_flag.as_str(),
        "--dump-dom",
        url.as_str(),
    ];
    let job = run(&chromium, &flags, &[]);
    let _ = std::fs::remove_dir_all(&profile);
    assert!(job.status.success(), "{chromium} failed:\n{}", job.stderr);
    job.stdout
}
