//! What the test programs with stragglers share: a task that runs until a file exists, and the
//! file (a flag) a case raises to release it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use unidist::remote;

/// How long a straggler waits for its release file before it gives up (so a broken case fails
/// instead of hanging).
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Returns `value` once the file `release` exists (or after [`PATIENCE`]: then `u64::MAX`).
#[remote]
pub fn straggler(release: PathBuf, value: u64) -> u64 {
    let deadline = Instant::now() + PATIENCE;
    while !release.exists() {
        if Instant::now() > deadline {
            return u64::MAX;
        }
        // Waiting on a file: a millisecond is far below the patience.
        std::thread::sleep(Duration::from_millis(1));
    }
    value
}

/// A fresh file path for a case's release flag, removed when the case ends.
pub struct Flag(pub PathBuf);

impl Flag {
    pub fn new(case: &str) -> Flag {
        let path = std::env::temp_dir().join(format!("unidist-flag-{}-{case}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        Flag(path)
    }

    pub fn raise(&self) {
        std::fs::write(&self.0, b"").expect("the temporary directory is writable");
    }
}

impl Drop for Flag {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
