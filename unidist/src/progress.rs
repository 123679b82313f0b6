//! Progress bars on stderr for the long waits of the root's program: a `get` or `wait` of many
//! refs and [`as_completed`](crate::as_completed). Off unless asked for (`UNIDIST_PROGRESS`, or
//! [`set_progress`]); drawn by indicatif.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// When unidist draws progress bars on stderr for the root's program: for a `get` or `wait` of
/// at least 100 refs, and for an [`as_completed`](crate::as_completed) over at least 100, each
/// bar shows the objects done of the total, the failures among them, the rate and the time so
/// far. Set it with `UNIDIST_PROGRESS` (`off`, `on`, `always`) or [`set_progress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// No bars (the default).
    Off,
    /// Bars when stderr is a terminal (`UNIDIST_PROGRESS=on`).
    Terminal,
    /// Bars even when stderr is not a terminal, such as a log file (`UNIDIST_PROGRESS=always`).
    Always,
}

/// The fewest refs a wait must name for a bar to show.
const MIN_REFS: usize = 100;

static MODE: AtomicU8 = AtomicU8::new(0);

/// Sets when progress bars show (see [`Progress`]); `UNIDIST_PROGRESS` sets it at `init`.
///
/// ```
/// unidist::set_progress(unidist::Progress::Terminal);
/// assert_eq!(unidist::progress(), unidist::Progress::Terminal);
/// unidist::set_progress(unidist::Progress::Off);
/// ```
pub fn set_progress(mode: Progress) {
    MODE.store(mode as u8, Ordering::Relaxed);
}

/// When progress bars show now.
pub fn progress() -> Progress {
    match MODE.load(Ordering::Relaxed) {
        1 => Progress::Terminal,
        2 => Progress::Always,
        _ => Progress::Off,
    }
}

/// A bar on stderr, if one shows for a wait named `what` over `total` objects, and the
/// failures it shows.
pub(crate) struct Bar(ProgressBar, AtomicU64);

impl Bar {
    pub(crate) fn new(what: &str, total: usize) -> Option<Bar> {
        if total < MIN_REFS {
            return None;
        }
        let stderr = console::Term::stderr();
        let target = match progress() {
            Progress::Off => return None,
            Progress::Always if !stderr.is_term() => {
                // A log file: a line a second (and the last), not one per change.
                ProgressDrawTarget::term_like_with_hz(Box::new(stderr), 1)
            }
            Progress::Terminal | Progress::Always => ProgressDrawTarget::stderr(),
        };
        if target.is_hidden() {
            return None;
        }
        let template = "{prefix}: [{bar:30}] {pos}/{len} done, {msg} failed, {rate}, {elapsed}";
        let style = ProgressStyle::with_template(template).expect("a valid template").with_key(
            "rate",
            |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}/s", state.per_sec());
            },
        );
        let bar = ProgressBar::with_draw_target(Some(total as u64), target);
        bar.set_style(style.progress_chars("=> "));
        bar.set_prefix(format!("unidist {what}"));
        bar.set_message("0");
        // Redrawn while the program blocks, so the time and rate stay current.
        bar.enable_steady_tick(Duration::from_millis(250));
        Some(Bar(bar, AtomicU64::new(0)))
    }

    /// `done` objects are done, `failed` of them failures.
    pub(crate) fn set(&self, done: usize, failed: usize) {
        self.0.set_position(done as u64);
        self.1.store(failed as u64, Ordering::Relaxed);
        self.0.set_message(failed.to_string());
    }

    /// One more done (a failure if `failed`).
    pub(crate) fn advance(&self, failed: bool) {
        if failed {
            let so_far = self.1.fetch_add(1, Ordering::Relaxed) + 1;
            self.0.set_message(so_far.to_string());
        }
        self.0.inc(1);
    }

    /// Leaves the bar drawn as it is now.
    pub(crate) fn finish(&self) {
        self.0.finish();
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if !self.0.is_finished() {
            self.0.abandon();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_bar_when_off_or_for_few_refs() {
        // The tests' stderr is not a terminal, so `Terminal` shows none either.
        for mode in [Progress::Off, Progress::Terminal] {
            set_progress(mode);
            assert!(Bar::new("get", 1000).is_none(), "{mode:?}");
        }
        set_progress(Progress::Always);
        assert!(Bar::new("get", MIN_REFS - 1).is_none());
        let bar = Bar::new("get", MIN_REFS).expect("asked for always");
        bar.set(10, 1);
        bar.advance(true);
        assert_eq!((bar.0.position(), bar.0.message()), (11, "2".to_string()));
        bar.0.finish_and_clear();
        set_progress(Progress::Off);
    }
}
