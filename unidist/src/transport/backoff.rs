//! How an MPI rank's loop waits when a round found nothing: poll, yield or sleep, and for how
//! long. MPI cannot wake a sleeping thread, a blocking MPICH receive spins on a core that an
//! oversubscribed job needs for tasks, and every timed wake-up costs CPU too; the doorbell
//! (rung by this process's threads and by the ranks of this host after they send this rank a
//! batch) ends a sleep at once. Plain state, so each rule is tested by feeding it rounds.

use std::time::Duration;

use super::Pause;

/// An urgent idle loop polls until its idle round `SPIN_ROUNDS`, then yields as many rounds more,
/// before it sleeps.
const SPIN_ROUNDS: u32 = 64;
/// A loop woken by a ring polls this many rounds before it sleeps again: the sender rings after
/// the MPI progress that follows its send, by when the batch shows, and a thread that drives the
/// loop (see `event_loop::Drive`) has often taken it already; a woken loop that polled longer
/// would only take the core from it. (Measured under `mpiexec -n 3` on 2 cores: 128 rounds of
/// yields cost the Task Bench graphs twice the METG of 16, for no gain in the round trip.)
const AFTER_RING: u32 = 16;
/// After a ring, once a batch has come in, the loop polls at most this many rounds more.
const AFTER_BATCH: u32 = 2;
/// The first sleep of an urgent idle loop, and the step each next one grows by where some peer
/// cannot ring this rank (see [`idle_sleep`]).
const MIN_SLEEP: Duration = Duration::from_micros(10);
/// The longest sleep of an idle loop that some peer cannot ring (on another host): the most a
/// message from that peer waits to be noticed.
const MAX_SLEEP: Duration = Duration::from_millis(1);
/// The longest sleep of an idle loop that every other rank rings when it sends it a batch (all
/// on this host, every bell mapped): a ring ends it at once, so only a message sent without one
/// (a test's corrupt bytes) waits this long.
const LINKED_SLEEP: Duration = Duration::from_millis(100);

/// How long an urgent idle loop sleeps the `sleeps`-th time in a row (from 0), `rung_by_all`
/// when every peer rings this rank as it sends it a batch and no send of its own is in flight.
/// Then the sleeps only bound how long a message sent without a ring waits, so they double up to
/// [`LINKED_SLEEP`] (grown a step at a time, an idle worker woke about 450 times in its first
/// second: 1% of a core). Otherwise a message from a peer that cannot ring (on another host),
/// or a transfer that moves only while this rank calls MPI, waits for the next wake-up: the
/// sleeps grow a step at a time up to [`MAX_SLEEP`].
fn idle_sleep(sleeps: u32, rung_by_all: bool) -> Duration {
    if rung_by_all {
        (MIN_SLEEP * (1 << sleeps.min(16))).min(LINKED_SLEEP)
    } else {
        (MIN_SLEEP * sleeps.saturating_add(1)).min(MAX_SLEEP)
    }
}

/// The waiting state of one rank's loop.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    /// Each rank of this host has a core and threads that wait drive the loop (see
    /// `MpiTransport::set_core_per_rank`): a polling loop spins rather than yields.
    core_per_rank: bool,
    /// Every other rank rings this one when it sends it a batch.
    rung_by_all: bool,
    /// Rounds left to poll without sleeping after a ring woke this rank.
    after_ring: u32,
}

impl Backoff {
    /// Where each rank of the host has a core, a polling loop spins. Elsewhere it yields the core
    /// between rounds: a spinning thread keeps a woken peer from the core until the scheduler
    /// preempts it (BENCHMARKS.md, under `mpiexec -n 3` on 2 cores: round trip 51 → 29 µs,
    /// chain 22 → 9.7 µs a task).
    pub(crate) fn set_core_per_rank(&mut self, core_per_rank: bool) {
        self.core_per_rank = core_per_rank;
    }

    pub(crate) fn core_per_rank(&self) -> bool {
        self.core_per_rank
    }

    pub(crate) fn rung_by_all(&self) -> bool {
        self.rung_by_all
    }

    /// Every other rank rings this one when it sends it a batch: idle sleeps may be long.
    pub(crate) fn set_rung_by_all(&mut self, rung_by_all: bool) {
        self.rung_by_all = rung_by_all;
    }

    /// After a round that found nothing, the `idle_rounds`-th in a row (from 1): how to wait.
    /// A loop whose rank waits on the network (`urgent`: see `Node::urgent`; a rank with sends
    /// in flight is, since a large transfer moves only while both ends call MPI) polls, then
    /// yields, then sleeps in growing steps (see [`idle_sleep`]). Any other loop sleeps at once,
    /// as long as its peers allow. A ring ends any sleep, and then ([`Backoff::rang`]) the loop
    /// polls a few rounds before it sleeps again.
    pub(crate) fn pause(&mut self, idle_rounds: u32, urgent: bool, sending: bool) -> Pause {
        // Woken by a ring: the batch may take a few polls to show, so poll before sleeping.
        if self.after_ring > 0 {
            self.after_ring -= 1;
            return self.poll();
        }
        let rung_by_all = self.rung_by_all && !sending;
        if !urgent && !sending {
            // Every peer that can ring this rank does when it sends it a batch.
            let sleep = if rung_by_all { LINKED_SLEEP } else { MAX_SLEEP };
            Pause::Sleep { timeout: Some(sleep), spin_first: false }
        } else if idle_rounds < SPIN_ROUNDS {
            self.poll()
        } else if idle_rounds < 2 * SPIN_ROUNDS {
            Pause::Yield
        } else {
            // Growing up to the longest sleep of a rank its peers can wake (an idle worker waits
            // on the network too: at 1 ms it woke a thousand times a second).
            let sleep = idle_sleep(idle_rounds - 2 * SPIN_ROUNDS, rung_by_all);
            Pause::Sleep { timeout: Some(sleep), spin_first: false }
        }
    }

    /// A ring woke the loop: poll a few rounds for the batch before sleeping again.
    pub(crate) fn rang(&mut self) {
        self.after_ring = AFTER_RING;
    }

    /// A batch came in: the one a ring announced has likely shown, so the loop polls only
    /// [`AFTER_BATCH`] rounds more for another (two peers' rings wake the loop once). A worker
    /// whose task computes gave the core to its progress thread for 16 rounds after each ring.
    pub(crate) fn received(&mut self) {
        self.after_ring = self.after_ring.min(AFTER_BATCH);
    }

    /// How a loop that polls waits between rounds.
    fn poll(&self) -> Pause {
        if self.core_per_rank {
            Pause::Spin
        } else {
            Pause::Yield
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pauses of a loop's first `rounds` idle rounds in a row.
    fn pauses(backoff: &mut Backoff, rounds: u32, urgent: bool) -> Vec<Pause> {
        (1..=rounds).map(|idle| backoff.pause(idle, urgent, false)).collect()
    }

    fn backoff(core_per_rank: bool) -> Backoff {
        let mut backoff = Backoff::default();
        backoff.set_core_per_rank(core_per_rank);
        backoff.set_rung_by_all(true);
        backoff
    }

    fn sleeps_for(pause: &Pause, expected: Duration) -> bool {
        matches!(pause, Pause::Sleep { timeout: Some(t), .. } if *t == expected)
    }

    #[test]
    fn an_idle_rank_every_peer_rings_doubles_its_sleeps_up_to_the_linked_sleep() {
        let sleeps: Vec<Duration> = (0..20).map(|n| idle_sleep(n, true)).collect();
        assert_eq!(&sleeps[..3], [MIN_SLEEP, MIN_SLEEP * 2, MIN_SLEEP * 4]);
        // 10 µs doubled reaches 100 ms within 14 sleeps: a few wake-ups, not hundreds.
        assert_eq!(sleeps[14], LINKED_SLEEP);
        assert!(sleeps.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(idle_sleep(u32::MAX, true), LINKED_SLEEP);
    }

    #[test]
    fn an_idle_rank_some_peer_cannot_ring_grows_its_sleeps_a_step_at_a_time() {
        assert_eq!(idle_sleep(0, false), MIN_SLEEP);
        assert_eq!(idle_sleep(1, false), MIN_SLEEP * 2);
        assert_eq!(idle_sleep(9, false), MIN_SLEEP * 10);
        // Never longer than a message from another host may wait to be noticed.
        assert_eq!(idle_sleep(1_000, false), MAX_SLEEP);
        assert_eq!(idle_sleep(u32::MAX, false), MAX_SLEEP);
    }

    #[test]
    fn an_urgent_rank_with_a_core_spins_then_yields_then_sleeps() {
        let n = SPIN_ROUNDS as usize;
        let pauses = pauses(&mut backoff(true), 2 * SPIN_ROUNDS + 3, true);
        // Rounds are counted from 1: rounds 1 to SPIN_ROUNDS - 1 spin, round SPIN_ROUNDS yields.
        assert!(pauses[..n - 1].iter().all(|p| matches!(p, Pause::Spin)), "{pauses:?}");
        assert!(matches!(pauses[n - 1], Pause::Yield));
        assert!(pauses[n..2 * n - 1].iter().all(|p| matches!(p, Pause::Yield)), "{pauses:?}");
        // Round 2 * SPIN_ROUNDS is the first sleep; each next one twice as long.
        assert!(sleeps_for(&pauses[2 * n - 1], MIN_SLEEP));
        assert!(sleeps_for(&pauses[2 * n], MIN_SLEEP * 2));
        assert!(sleeps_for(&pauses[2 * n + 1], MIN_SLEEP * 4));
    }

    #[test]
    fn where_ranks_share_cores_a_polling_loop_yields_and_never_spins() {
        let pauses = pauses(&mut backoff(false), 2 * SPIN_ROUNDS - 1, true);
        assert!(pauses.iter().all(|p| matches!(p, Pause::Yield)), "{pauses:?}");
        let mut after_ring = backoff(false);
        after_ring.rang();
        let pauses = pauses_after_ring(&mut after_ring);
        assert_eq!(pauses.len() as u32, AFTER_RING);
        assert!(pauses.iter().all(|p| matches!(p, Pause::Yield)));
    }

    /// The pauses of a loop rung after it had slept a while, until it sleeps again.
    fn pauses_after_ring(backoff: &mut Backoff) -> Vec<Pause> {
        (1_000..)
            .map(|idle| backoff.pause(idle, true, false))
            .take_while(|p| !matches!(p, Pause::Sleep { .. }))
            .collect()
    }

    #[test]
    fn a_ring_buys_a_few_rounds_of_polling() {
        let mut backoff = backoff(true);
        assert!(pauses_after_ring(&mut backoff).is_empty());
        backoff.rang();
        let pauses = pauses_after_ring(&mut backoff);
        assert_eq!(pauses.len() as u32, AFTER_RING);
        assert!(pauses.iter().all(|p| matches!(p, Pause::Spin)));
        // A loop that waits on nothing polls after a ring too, then sleeps long.
        backoff.rang();
        let rounds: Vec<Pause> =
            (10..=10 + AFTER_RING).map(|idle| backoff.pause(idle, false, false)).collect();
        assert!(rounds[..AFTER_RING as usize].iter().all(|p| matches!(p, Pause::Spin)));
        assert!(sleeps_for(&rounds[AFTER_RING as usize], LINKED_SLEEP));
    }

    #[test]
    fn once_a_batch_comes_in_a_ring_buys_only_a_few_rounds_more() {
        let mut backoff = backoff(false);
        backoff.rang();
        assert!(matches!(backoff.pause(6, false, false), Pause::Yield));
        backoff.received();
        let pauses = pauses_after_ring(&mut backoff);
        assert_eq!(pauses.len() as u32, AFTER_BATCH);
        // A batch with no ring before it changes nothing.
        backoff.received();
        assert!(pauses_after_ring(&mut backoff).is_empty());
    }

    #[test]
    fn a_rank_that_waits_on_nothing_sleeps_at_once_unless_it_sends() {
        let mut backoff = backoff(true);
        assert!(sleeps_for(&backoff.pause(1, false, false), LINKED_SLEEP));
        // Sends in flight move only while this rank calls MPI, and nobody rings it for them:
        // it polls, then sleeps short.
        assert!(matches!(backoff.pause(1, false, true), Pause::Spin));
        assert!(sleeps_for(&backoff.pause(2 * SPIN_ROUNDS + 5, false, true), MIN_SLEEP * 6));
        // A rank some peer cannot ring hears that peer at its next wake-up: 1 ms at most.
        backoff.set_rung_by_all(false);
        assert!(sleeps_for(&backoff.pause(1, false, false), MAX_SLEEP));
        assert!(sleeps_for(&backoff.pause(u32::MAX, true, false), MAX_SLEEP));
    }
}
