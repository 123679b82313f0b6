//! Every `UNIDIST_*` variable, read once at `init` into [`Settings`]. No other module reads the
//! environment for them: the layers below are handed the fields they need when they are made.
//! The table of variables (`settings.md`) is the one the crate docs show, and a test checks that
//! the README's table is the same.

use std::path::PathBuf;
use std::time::Duration;

use tracing::Level;

use crate::executor::MAX_EXECUTOR_THREADS;
use crate::garbage_collector::{GcConfig, DEFAULT_BYTES, DEFAULT_THRESHOLD};
use crate::heartbeat::DEFAULT_TIMEOUT;
use crate::progress::Progress;
use crate::scheduler::{Policy, LARGE_INPUT};
use crate::transport::MAX_CHUNK;

/// A backend named by `UNIDIST_BACKEND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Forced {
    Mpi,
    Local,
}

/// The runtime's settings, from these variables (a variable set to an empty value counts as
/// unset; any other value that is not one the table allows stops `init` with a message naming
/// the variable, its value and what to give):
///
#[doc = include_str!("settings.md")]
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Settings {
    /// `UNIDIST_BACKEND`.
    pub(crate) backend: Option<Forced>,
    /// `UNIDIST_CPUS`: workers of the local backend; `None`: the number of cores.
    pub(crate) cpus: Option<usize>,
    /// `UNIDIST_GC_THRESHOLD` and `UNIDIST_GC_BYTES`.
    pub(crate) gc: GcConfig,
    /// `UNIDIST_LOG`; `None`: off.
    pub(crate) log: Option<Level>,
    /// `UNIDIST_CHUNK_BYTES`.
    pub(crate) chunk_bytes: usize,
    /// `UNIDIST_SHARED_BYTES`; `None`: off.
    pub(crate) shared_bytes: Option<usize>,
    /// `UNIDIST_WORKER_THREADS`; `None`: the default of the backend.
    pub(crate) worker_threads: Option<usize>,
    /// `UNIDIST_SCHEDULER` and `UNIDIST_HOST_AWARE_BYTES`.
    pub(crate) policy: Policy,
    /// `UNIDIST_HOST_NAME`; `None`: the system's.
    pub(crate) host_name: Option<String>,
    /// `UNIDIST_HEARTBEAT_S`; `None`: no heartbeat.
    pub(crate) heartbeat: Option<Duration>,
    /// `UNIDIST_MAX_IN_FLIGHT`; `None`: no bound.
    pub(crate) max_in_flight: Option<usize>,
    /// `UNIDIST_TIMELINE`; `None`: no timeline.
    pub(crate) timeline: Option<PathBuf>,
    /// `UNIDIST_PROGRESS`.
    pub(crate) progress: Progress,
}

impl Settings {
    /// The settings of this process's environment.
    pub(crate) fn from_env() -> Result<Settings, String> {
        Settings::read(|name| std::env::var(name).ok())
    }

    /// The settings from `var`, which gives a variable's value if it is set.
    pub(crate) fn read(var: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let var = |name: &str| var(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let backend = match var("UNIDIST_BACKEND") {
            None => None,
            Some(v) if v == "mpi" => Some(Forced::Mpi),
            Some(v) if v == "local" => Some(Forced::Local),
            Some(v) => {
                return Err(format!("UNIDIST_BACKEND={v} is not a backend: use `mpi` or `local`"))
            }
        };
        let cpus = var("UNIDIST_CPUS")
            .map(|v| {
                positive(&v).ok_or_else(|| {
                    format!(
                        "UNIDIST_CPUS={v} is not a number of workers: give a whole number of at \
                         least 1"
                    )
                })
            })
            .transpose()?
            .map(|n| n as usize);
        let mut gc = GcConfig::default();
        if let Some(v) = var("UNIDIST_GC_THRESHOLD") {
            gc.threshold = positive(&v).ok_or_else(|| {
                format!(
                    "UNIDIST_GC_THRESHOLD={v} is not a number of objects: give a whole number of \
                     at least 1 (the objects to free that pile up per worker before they are \
                     freed; default {DEFAULT_THRESHOLD})"
                )
            })? as usize;
        }
        if let Some(v) = var("UNIDIST_GC_BYTES") {
            gc.bytes = positive(&v).ok_or_else(|| {
                format!(
                    "UNIDIST_GC_BYTES={v} is not a number of bytes: give a whole number of at \
                     least 1 (the bytes of objects to free that pile up per worker before they \
                     are freed; default {DEFAULT_BYTES})"
                )
            })?;
        }
        let log = match var("UNIDIST_LOG") {
            None => None,
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "off" => None,
                "error" => Some(Level::ERROR),
                "warn" => Some(Level::WARN),
                "info" => Some(Level::INFO),
                "debug" => Some(Level::DEBUG),
                "trace" => Some(Level::TRACE),
                _ => {
                    return Err(format!(
                        "UNIDIST_LOG={v} is not a level: use error, warn, info, debug or trace \
                         (or leave it unset)"
                    ))
                }
            },
        };
        let chunk_bytes = match var("UNIDIST_CHUNK_BYTES") {
            None => MAX_CHUNK,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_CHUNK).contains(&n) => n,
                _ => {
                    return Err(format!(
                        "UNIDIST_CHUNK_BYTES={v} is not a chunk size from 1 to {MAX_CHUNK}"
                    ))
                }
            },
        };
        let shared_bytes = match var("UNIDIST_SHARED_BYTES") {
            None => Some(crate::segment::DEFAULT_SHARE_FROM),
            Some(v) if v.eq_ignore_ascii_case("off") => None,
            Some(v) => Some(positive(&v).map(|n| n as usize).ok_or_else(|| {
                format!(
                    "UNIDIST_SHARED_BYTES={v} is not a size: give a whole number of bytes of at \
                     least 1, or `off`"
                )
            })?),
        };
        let worker_threads = match var("UNIDIST_WORKER_THREADS") {
            None => None,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_EXECUTOR_THREADS).contains(&n) => Some(n),
                _ => {
                    return Err(format!(
                        "UNIDIST_WORKER_THREADS={v} is not a number of task slots: give a whole \
                         number from 1 to {MAX_EXECUTOR_THREADS}"
                    ))
                }
            },
        };
        let threshold = match var("UNIDIST_HOST_AWARE_BYTES") {
            None => LARGE_INPUT,
            Some(v) => v.parse::<u64>().map_err(|_| {
                format!(
                    "UNIDIST_HOST_AWARE_BYTES={v} is not a number of bytes: give a whole number"
                )
            })?,
        };
        let policy = match var("UNIDIST_SCHEDULER") {
            None => Policy::HostAware { threshold },
            Some(v) if v == "host-aware" => Policy::HostAware { threshold },
            Some(v) if v == "round-robin" => Policy::RoundRobin,
            Some(v) => {
                return Err(format!(
                    "UNIDIST_SCHEDULER={v} is not a scheduler: give host-aware or round-robin"
                ))
            }
        };
        let host_name = var("UNIDIST_HOST_NAME");
        let heartbeat = match var("UNIDIST_HEARTBEAT_S") {
            None => Some(DEFAULT_TIMEOUT),
            Some(v) => match v.parse::<f64>() {
                Ok(0.0) => None,
                Ok(s) if (1.0..=1e6).contains(&s) => Some(Duration::from_secs_f64(s)),
                _ => {
                    return Err(format!(
                        "UNIDIST_HEARTBEAT_S={v} is not a timeout: give seconds, at least 1 (such \
                         as 60 or 2.5), or 0 to turn the heartbeat off"
                    ))
                }
            },
        };
        let max_in_flight = match var("UNIDIST_MAX_IN_FLIGHT") {
            None => None,
            Some(v) => match positive(&v) {
                Some(n) => Some(n as usize),
                None => {
                    return Err(format!(
                        "UNIDIST_MAX_IN_FLIGHT={v} is not a number of tasks: give a whole number \
                         of at least 1 (or leave it unset for no bound)"
                    ))
                }
            },
        };
        let timeline = var("UNIDIST_TIMELINE").map(PathBuf::from);
        let progress = match var("UNIDIST_PROGRESS").map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("off") => Progress::Off,
            Some("on") => Progress::Terminal,
            Some("always") => Progress::Always,
            Some(_) => {
                let v = var("UNIDIST_PROGRESS").unwrap_or_default();
                return Err(format!(
                    "UNIDIST_PROGRESS={v} is not a choice: use `off`, `on` (when stderr is a \
                     terminal) or `always`"
                ));
            }
        };
        Ok(Settings {
            progress,
            timeline,
            max_in_flight,
            backend,
            cpus,
            gc,
            log,
            chunk_bytes,
            shared_bytes,
            worker_threads,
            policy,
            host_name,
            heartbeat,
        })
    }
}

/// A whole number of at least 1 that fits a `usize`.
fn positive(v: &str) -> Option<u64> {
    v.parse::<u64>().ok().filter(|n| *n > 0 && usize::try_from(*n).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<Settings, String> {
        Settings::read(|name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn nothing_set_gives_the_defaults() {
        let s = read(&[]).unwrap();
        assert_eq!(s.backend, None);
        assert_eq!(s.cpus, None);
        assert_eq!(s.gc, GcConfig { threshold: 1024, bytes: 16 << 20 });
        assert_eq!(s.log, None);
        assert_eq!(s.chunk_bytes, 1 << 30);
        assert_eq!(s.shared_bytes, Some(1 << 20));
        assert_eq!(s.worker_threads, None);
        assert_eq!(s.policy, Policy::HostAware { threshold: 64 << 10 });
        assert_eq!(s.host_name, None);
        assert_eq!(s.heartbeat, Some(Duration::from_secs(60)));
        assert_eq!(s.timeline, None);
        assert_eq!(s.progress, Progress::Off);
    }

    #[test]
    fn an_empty_value_counts_as_unset() {
        let all = [
            "UNIDIST_BACKEND",
            "UNIDIST_CPUS",
            "UNIDIST_GC_THRESHOLD",
            "UNIDIST_GC_BYTES",
            "UNIDIST_LOG",
            "UNIDIST_CHUNK_BYTES",
            "UNIDIST_SHARED_BYTES",
            "UNIDIST_WORKER_THREADS",
            "UNIDIST_SCHEDULER",
            "UNIDIST_HOST_AWARE_BYTES",
            "UNIDIST_HOST_NAME",
            "UNIDIST_HEARTBEAT_S",
            "UNIDIST_MAX_IN_FLIGHT",
            "UNIDIST_TIMELINE",
            "UNIDIST_PROGRESS",
        ];
        let empty: Vec<(&str, &str)> = all.iter().map(|n| (*n, " ")).collect();
        assert_eq!(read(&empty), read(&[]));
    }

    #[test]
    fn every_variable_is_read() {
        let s = read(&[
            ("UNIDIST_BACKEND", "local"),
            ("UNIDIST_CPUS", "3"),
            ("UNIDIST_GC_THRESHOLD", "7"),
            ("UNIDIST_GC_BYTES", "4096"),
            ("UNIDIST_LOG", "Debug"),
            ("UNIDIST_CHUNK_BYTES", "256"),
            ("UNIDIST_SHARED_BYTES", "100"),
            ("UNIDIST_WORKER_THREADS", "3"),
            ("UNIDIST_SCHEDULER", "round-robin"),
            ("UNIDIST_HOST_NAME", " h2 "),
            ("UNIDIST_HEARTBEAT_S", "2.5"),
            ("UNIDIST_MAX_IN_FLIGHT", "1000"),
            ("UNIDIST_TIMELINE", "out/trace.json"),
            ("UNIDIST_PROGRESS", "Always"),
        ])
        .unwrap();
        assert_eq!(s.backend, Some(Forced::Local));
        assert_eq!(s.cpus, Some(3));
        assert_eq!(s.gc, GcConfig { threshold: 7, bytes: 4096 });
        assert_eq!(s.log, Some(Level::DEBUG));
        assert_eq!(s.chunk_bytes, 256);
        assert_eq!(s.shared_bytes, Some(100));
        assert_eq!(read(&[("UNIDIST_SHARED_BYTES", "OFF")]).unwrap().shared_bytes, None);
        assert_eq!(s.worker_threads, Some(3));
        assert_eq!(s.policy, Policy::RoundRobin);
        assert_eq!(s.host_name.as_deref(), Some("h2"));
        assert_eq!(s.heartbeat, Some(Duration::from_millis(2500)));
        assert_eq!(s.max_in_flight, Some(1000));
        assert_eq!(s.timeline, Some(PathBuf::from("out/trace.json")));
        assert_eq!(s.progress, Progress::Always);
        assert_eq!(read(&[("UNIDIST_PROGRESS", "on")]).unwrap().progress, Progress::Terminal);
        let s = read(&[("UNIDIST_HOST_AWARE_BYTES", "65536"), ("UNIDIST_BACKEND", "mpi")]);
        assert_eq!(s.as_ref().unwrap().policy, Policy::HostAware { threshold: 65536 });
        assert_eq!(s.unwrap().backend, Some(Forced::Mpi));
        assert_eq!(read(&[("UNIDIST_HEARTBEAT_S", "0")]).unwrap().heartbeat, None);
        assert_eq!(read(&[("UNIDIST_LOG", "off")]).unwrap().log, None);
    }

    #[test]
    fn a_bad_value_is_an_error_naming_the_variable_and_the_value() {
        let cases = [
            (
                "UNIDIST_BACKEND",
                "tcp",
                "UNIDIST_BACKEND=tcp is not a backend: use `mpi` or `local`",
            ),
            ("UNIDIST_CPUS", "zero", "UNIDIST_CPUS=zero is not a number of workers"),
            ("UNIDIST_CPUS", "0", "UNIDIST_CPUS=0 is not a number of workers"),
            ("UNIDIST_GC_THRESHOLD", "0", "UNIDIST_GC_THRESHOLD=0 is not a number of objects"),
            ("UNIDIST_GC_BYTES", "-1", "UNIDIST_GC_BYTES=-1 is not a number of bytes"),
            ("UNIDIST_LOG", "loud", "UNIDIST_LOG=loud is not a level"),
            ("UNIDIST_CHUNK_BYTES", "0", "UNIDIST_CHUNK_BYTES=0 is not a chunk size"),
            ("UNIDIST_SHARED_BYTES", "0", "UNIDIST_SHARED_BYTES=0 is not a size"),
            (
                "UNIDIST_SHARED_BYTES",
                "1 MiB",
                "give a whole number of bytes of at least 1, or `off`",
            ),
            ("UNIDIST_CHUNK_BYTES", "2147483648", "is not a chunk size from 1 to 1073741824"),
            ("UNIDIST_WORKER_THREADS", "257", "from 1 to 256"),
            ("UNIDIST_SCHEDULER", "random", "UNIDIST_SCHEDULER=random is not a scheduler"),
            ("UNIDIST_HOST_AWARE_BYTES", "big", "UNIDIST_HOST_AWARE_BYTES=big is not a number"),
            ("UNIDIST_HEARTBEAT_S", "soon", "UNIDIST_HEARTBEAT_S=soon is not a timeout"),
            ("UNIDIST_HEARTBEAT_S", "0.01", "UNIDIST_HEARTBEAT_S=0.01 is not a timeout"),
            ("UNIDIST_MAX_IN_FLIGHT", "0", "UNIDIST_MAX_IN_FLIGHT=0 is not a number of tasks"),
            ("UNIDIST_PROGRESS", "yes", "UNIDIST_PROGRESS=yes is not a choice: use `off`"),
        ];
        for (name, value, expected) in cases {
            let error = read(&[(name, value)]).expect_err(name);
            assert!(error.contains(expected), "{name}={value}: {error}");
        }
    }

    /// The rows of the table in `text` (lines that start with a variable's cell).
    fn rows(text: &str) -> Vec<&str> {
        text.lines().filter(|l| l.starts_with("| `UNIDIST_")).collect()
    }

    #[test]
    fn the_readme_shows_the_same_table() {
        let table = include_str!("settings.md");
        let readme = include_str!("../../README.md");
        assert_eq!(rows(readme), rows(table), "README.md's table differs from src/settings.md");
    }

    #[test]
    fn the_table_names_every_variable_read() {
        let source = include_str!("settings.rs");
        let tests = source.find("#[cfg(test)]").expect("a test module");
        let read: std::collections::BTreeSet<&str> = source[..tests]
            .match_indices("var(\"UNIDIST_")
            .map(|(at, _)| {
                let name = &source[at + 5..];
                &name[..name.find('"').expect("a closing quote")]
            })
            .collect();
        let table = include_str!("settings.md");
        let listed: std::collections::BTreeSet<&str> = rows(table)
            .iter()
            .map(|row| row.trim_start_matches("| `").split('`').next().expect("a name"))
            .collect();
        assert_eq!(read, listed);
    }
}
