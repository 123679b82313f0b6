//! The root's garbage collector: the objects to free on each worker, sent in batches.
//!
//! The root decides *when* an object may be freed (its last ref is dropped, it is done and no
//! submitted task needs it; see `root`); this module decides when the worker is told. The IDs to
//! free pile up per holder, and a holder's batch goes out as one `Cleanup` message once it holds
//! [`GcConfig::threshold`] IDs or [`GcConfig::bytes`] bytes of objects, whichever comes first.
//! The root also sends every pending batch when its loop has nothing else to do (so an idle job
//! holds no garbage), before it asks the workers for statistics (so `memory_stats` counts every
//! drop made before the call) and before it stops the workers (so nothing is left behind).
//!
//! Delaying a `Cleanup` never frees anything early: it only frees later. Objects in the root's
//! own store do not come here; the root frees them at once.

use crate::event_loop::Outbox;
use crate::id::{ObjectId, Rank};
use crate::protocol::Message;

/// The default of [`GcConfig::threshold`] (`UNIDIST_GC_THRESHOLD`): the throughput of a loop
/// of small tasks with dropped refs was lower with 1 ID per batch and the same, within the noise,
/// from 64 to 16384 (see the README); 1024, in the middle, keeps a busy worker's garbage of
/// small objects to about a thousand.
pub(crate) const DEFAULT_THRESHOLD: usize = 1024;

/// The default of [`GcConfig::bytes`] (`UNIDIST_GC_BYTES`): 16 MiB per worker. The run time
/// of a loop of tasks with 1 MiB results was the same from 1 MiB to 1 GiB (see the README):
/// the bound costs at most one small message per 16 MiB freed, and caps a busy worker's garbage
/// of large objects.
pub(crate) const DEFAULT_BYTES: u64 = 16 << 20;

/// When a holder's batch of IDs to free goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GcConfig {
    /// Send a holder's batch once it holds this many IDs.
    pub(crate) threshold: usize,
    /// Send a holder's batch once its objects add up to this many bytes.
    pub(crate) bytes: u64,
}

impl Default for GcConfig {
    fn default() -> GcConfig {
        GcConfig { threshold: DEFAULT_THRESHOLD, bytes: DEFAULT_BYTES }
    }
}

#[derive(Default)]
struct Batch {
    ids: Vec<ObjectId>,
    bytes: u64,
}

/// The IDs to free, by holder, until they go out.
pub(crate) struct GarbageCollector {
    config: GcConfig,
    /// By holder; the root's own entry stays empty.
    batches: Vec<Batch>,
    /// Holders whose batch reached a bound.
    due: Vec<Rank>,
    /// IDs in every batch.
    pending: usize,
}

impl GarbageCollector {
    pub(crate) fn new(size: usize, config: GcConfig) -> GarbageCollector {
        GarbageCollector {
            config,
            batches: (0..size).map(|_| Batch::default()).collect(),
            due: Vec::new(),
            pending: 0,
        }
    }

    /// Queues object `id`, of `bytes` bytes, to be freed on worker `holder`.
    pub(crate) fn free(&mut self, holder: Rank, id: ObjectId, bytes: u64) {
        debug_assert_ne!(holder, 0, "the root frees its own objects at once");
        let config = self.config;
        let full =
            |batch: &Batch| batch.ids.len() >= config.threshold || batch.bytes >= config.bytes;
        let batch = &mut self.batches[holder];
        let was_due = full(batch);
        batch.ids.push(id);
        batch.bytes = batch.bytes.saturating_add(bytes);
        self.pending += 1;
        if !was_due && full(batch) {
            self.due.push(holder);
        }
    }

    /// IDs waiting to be sent, over every holder.
    #[cfg(test)]
    fn pending(&self) -> usize {
        self.pending
    }

    /// Takes the batches that reached a bound: one per holder.
    fn take_due(&mut self) -> Vec<(Rank, Vec<ObjectId>)> {
        let due = std::mem::take(&mut self.due);
        due.into_iter().map(|holder| (holder, self.take(holder))).collect()
    }

    /// Takes every batch that is not empty: one per holder.
    fn take_all(&mut self) -> Vec<(Rank, Vec<ObjectId>)> {
        self.due.clear();
        if self.pending == 0 {
            return Vec::new();
        }
        (0..self.batches.len())
            .filter(|holder| !self.batches[*holder].ids.is_empty())
            .collect::<Vec<_>>()
            .into_iter()
            .map(|holder| (holder, self.take(holder)))
            .collect()
    }

    fn take(&mut self, holder: Rank) -> Vec<ObjectId> {
        let batch = std::mem::take(&mut self.batches[holder]);
        self.pending -= batch.ids.len();
        batch.ids
    }

    /// Sends the batches that reached a bound.
    pub(crate) fn send_due(&mut self, out: &mut Outbox) {
        for (holder, ids) in self.take_due() {
            out.send(holder, Message::Cleanup(ids));
        }
    }

    /// Sends every pending batch.
    pub(crate) fn send_all(&mut self, out: &mut Outbox) {
        for (holder, ids) in self.take_all() {
            out.send(holder, Message::Cleanup(ids));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> ObjectId {
        ObjectId::new(0, n)
    }

    fn gc(threshold: usize, bytes: u64) -> GarbageCollector {
        GarbageCollector::new(4, GcConfig { threshold, bytes })
    }

    #[test]
    fn a_batch_goes_out_at_the_count_threshold() {
        let mut gc = gc(3, u64::MAX);
        gc.free(1, id(0), 10);
        gc.free(1, id(1), 10);
        gc.free(2, id(2), 10);
        assert!(gc.take_due().is_empty(), "below the threshold nothing is due");
        assert_eq!(gc.pending(), 3);
        gc.free(1, id(3), 10);
        gc.free(1, id(4), 10);
        assert_eq!(gc.take_due(), vec![(1, vec![id(0), id(1), id(3), id(4)])], "one per holder");
        assert_eq!(gc.pending(), 1);
        assert!(gc.take_due().is_empty());
        assert_eq!(gc.take_all(), vec![(2, vec![id(2)])]);
        assert_eq!(gc.pending(), 0);
        assert!(gc.take_all().is_empty());
    }

    #[test]
    fn a_batch_goes_out_at_the_byte_bound_first() {
        let mut gc = gc(1000, 100);
        gc.free(3, id(0), 60);
        assert!(gc.take_due().is_empty());
        gc.free(3, id(1), 40);
        assert_eq!(gc.take_due(), vec![(3, vec![id(0), id(1)])]);
        gc.free(2, id(2), 1 << 20);
        assert_eq!(gc.take_due(), vec![(2, vec![id(2)])], "one large object is due at once");
        assert_eq!(gc.pending(), 0);
    }

    #[test]
    fn a_threshold_of_one_frees_at_once() {
        let mut gc = gc(1, u64::MAX);
        gc.free(1, id(0), 0);
        gc.free(2, id(1), 0);
        gc.free(1, id(2), 0);
        assert_eq!(gc.take_due(), vec![(1, vec![id(0), id(2)]), (2, vec![id(1)])]);
    }

    #[test]
    fn sending_everything_clears_what_was_due() {
        let mut gc = gc(2, u64::MAX);
        gc.free(1, id(0), 0);
        gc.free(1, id(1), 0);
        gc.free(2, id(2), 0);
        assert_eq!(gc.take_all(), vec![(1, vec![id(0), id(1)]), (2, vec![id(2)])]);
        assert!(gc.take_due().is_empty(), "nothing is sent twice");
    }
}
