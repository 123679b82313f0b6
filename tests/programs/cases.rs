//! The command line every test program with cases shares, so that the suite can run each case
//! as its own job (and its own `#[test]`, made by `case_tests!` in `tests/support`):
//!
//! - `<program> <backend> <workers>` runs every case in order;
//! - `<program> <backend> <workers> <case>` runs that case alone;
//! - `<program> --list` prints the names of the cases, one per line, and starts nothing.
//!
//! Each case that runs prints `ok <case>`; the last line says what passed. A case name the
//! program does not know is an error, on the command line and in the program alike.

/// What the command line asked for.
pub struct Cases {
    program: &'static str,
    names: &'static [&'static str],
    only: Option<String>,
    /// The backend the job must run on: the program checks it after `init`.
    pub backend: String,
    /// The workers the job must have.
    pub workers: usize,
}

impl Cases {
    /// Reads the command line of `program`, whose cases are `names` in the order they run.
    /// Prints the names and exits on `--list`; exits with a usage line on anything else wrong.
    pub fn from_args(program: &'static str, names: &'static [&'static str]) -> Cases {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if args.first().map(String::as_str) == Some("--list") {
            for name in names {
                println!("{name}");
            }
            std::process::exit(0);
        }
        let usage = || -> ! {
            eprintln!(
                "usage: {program} <backend> <workers> [<case>], or {program} --list\n\
                 cases: {}",
                names.join(" ")
            );
            std::process::exit(2)
        };
        let (backend, workers, only) = match args.as_slice() {
            [backend, workers] => (backend, workers, None),
            [backend, workers, case] => (backend, workers, Some(case.clone())),
            _ => usage(),
        };
        let workers = workers.parse().unwrap_or_else(|_| usage());
        if let Some(case) = &only {
            if !names.contains(&case.as_str()) {
                eprintln!("{program}: no case named {case:?}");
                usage();
            }
        }
        Cases { program, names, only, backend: backend.clone(), workers }
    }

    /// Whether `name` runs in this job.
    pub fn selected(&self, name: &str) -> bool {
        assert!(
            self.names.contains(&name),
            "case {name:?} is missing from {}'s list",
            self.program
        );
        self.only.as_deref().map_or(true, |only| only == name)
    }

    /// Runs `f` as the case `name` if it is selected, then prints `ok <name>`.
    pub fn run(&self, name: &str, f: impl FnOnce()) {
        if self.selected(name) {
            f();
            println!("ok {name}");
        }
    }

    /// Prints the last line: every case, or the one case, passed.
    pub fn finish(&self) {
        let what = match &self.only {
            None => "all cases".to_string(),
            Some(case) => format!("case {case}"),
        };
        println!(
            "{}: {what} passed on {} with {} workers",
            self.program, self.backend, self.workers
        );
    }
}
