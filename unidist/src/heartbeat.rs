//! Finding a rank that went silent: a host that crashed, hangs or was cut off the network, which
//! no error from MPI or the launcher may ever report (a cut link resets no connection).
//!
//! Under MPI the root sends every worker a `Heartbeat` every second (four times per timeout if
//! that is shorter), and every worker sends the root one as often; any batch from a peer counts
//! as a sign of life. Sending often also finds a peer whose process or host died as soon as MPI
//! reports the failed send (UCX: "Endpoint timeout"), which `transport::mpi_errors` turns into a
//! line naming the peer, well before the timeout. A root that has heard nothing
//! from a worker for `UNIDIST_HEARTBEAT_S` seconds, or a worker that has heard nothing from the
//! root that long, ends the whole job with a line naming the silent rank and its host, instead
//! of waiting forever. The local backend has no heartbeat: its workers are threads.

use std::time::{Duration, Instant};

use crate::id::Rank;

/// The timeout when `UNIDIST_HEARTBEAT_S` is not set.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The most time between two heartbeats: a peer that died is found at the next send, when MPI
/// reports that send failed. One tiny message a second per worker costs nothing measurable.
pub(crate) const PERIOD: Duration = Duration::from_secs(1);

/// When this rank last heard from each peer it watches, and when it last sent heartbeats.
pub(crate) struct Heartbeat {
    timeout: Duration,
    /// `heard[rank]`: the last batch from `rank` (peers not watched stay at the start).
    heard: Vec<Instant>,
    watched: Vec<Rank>,
    last_sent: Instant,
    /// When this rank last checked: silence while it was not listening is its own.
    last_check: Instant,
    /// Host names by rank, for the message.
    hosts: Vec<String>,
}

impl Heartbeat {
    /// Watches `watched` among `hosts.len()` ranks.
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    pub(crate) fn new(timeout: Duration, watched: Vec<Rank>, hosts: Vec<String>) -> Heartbeat {
        let now = Instant::now();
        let heard = vec![now; hosts.len()];
        Heartbeat { timeout, heard, watched, last_sent: now, last_check: now, hosts }
    }

    /// A batch came from `from`.
    pub(crate) fn heard(&mut self, from: Rank) {
        if let Some(at) = self.heard.get_mut(from) {
            *at = Instant::now();
        }
    }

    /// True once per [`PERIOD`] (a quarter of the timeout if shorter): time to send the watched
    /// peers a heartbeat.
    pub(crate) fn due(&mut self) -> bool {
        let now = Instant::now();
        if now - self.last_sent < (self.timeout / 4).min(PERIOD) {
            return false;
        }
        self.last_sent = now;
        true
    }

    /// A watched peer silent for longer than the timeout, as the line that ends the job. Called
    /// every round of the loop; if this rank's own loop was held up (a long transfer, a task on
    /// its thread) for a quarter of the timeout, the peers' silence meanwhile does not count.
    pub(crate) fn silent(&mut self) -> Option<String> {
        let now = Instant::now();
        if now - self.last_check > self.timeout / 4 {
            for rank in &self.watched {
                self.heard[*rank] = now;
            }
        }
        self.last_check = now;
        let rank = *self.watched.iter().find(|r| now - self.heard[**r] > self.timeout)?;
        let who = if rank == 0 { "the root (rank 0)".to_string() } else { format!("rank {rank}") };
        Some(format!(
            "has heard nothing from {who} on host {} for {:.1} s (UNIDIST_HEARTBEAT_S={}): that \
             host is down, hung or cut off the network",
            self.hosts.get(rank).map_or("?", String::as_str),
            (now - self.heard[rank]).as_secs_f64(),
            self.timeout.as_secs_f64()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_peer_is_named_with_its_host() {
        let hosts = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        // Rank 2 first: if this thread is held up long enough for rank 1 to look silent too,
        // rank 2 is still the one named.
        let mut beat = Heartbeat::new(Duration::from_millis(20), vec![2, 1], hosts);
        assert!(beat.silent().is_none());
        assert!(!beat.due(), "not before a quarter of the timeout");
        // Listening all along, as the loop does every round, hearing only from rank 1.
        let start = Instant::now();
        let line = loop {
            beat.heard(1);
            if let Some(line) = beat.silent() {
                break line;
            }
            assert!(start.elapsed() < Duration::from_secs(5), "rank 2's silence went unseen");
            std::thread::yield_now();
        };
        assert!(line.contains("from rank 2 on host c for"), "{line}");
        assert!(beat.due());
    }

    #[test]
    fn silence_while_this_rank_was_not_listening_does_not_count() {
        let mut beat = Heartbeat::new(Duration::from_millis(20), vec![1], vec!["a".into(); 2]);
        assert!(beat.silent().is_none());
        std::thread::sleep(Duration::from_millis(50)); // this rank's loop is held up
        assert!(beat.silent().is_none(), "rank 1 was not heard because nobody listened");
    }
}
