//! The decoded values of objects that tasks take as `Arc<T>` parameters, one per object and
//! worker: the first task on a worker to take an object decodes it, the others on that worker
//! get the same `Arc`, and the worker forgets it when the collector frees the object.
//!
//! Kept per process (the local backend's workers share one), by rank and object. Concurrent
//! first takes of one object wait for the one that decodes it instead of decoding it again.

use std::any::Any;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rustc_hash::FxHashMap;

use crate::error::Error;
use crate::id::{ObjectId, Rank};

/// A value once decoded; empty until then (or after its decoding failed).
type Slot = Arc<Mutex<Option<Arc<dyn Any + Send + Sync>>>>;

static VALUES: Mutex<Option<FxHashMap<(Rank, ObjectId), Slot>>> = Mutex::new(None);

/// How many values are kept: the collector's frees look up nothing while it is 0.
static VALUE_COUNT: AtomicUsize = AtomicUsize::new(0);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Rank `rank`'s decoded value of object `id`, decoded by `decode` if it has none yet.
pub(crate) fn shared<T: Send + Sync + 'static>(
    rank: Rank,
    id: ObjectId,
    decode: impl FnOnce() -> Result<T, Error>,
) -> Result<Arc<T>, Error> {
    let slot = {
        let mut values = lock(&VALUES);
        let slot =
            values.get_or_insert_with(FxHashMap::default).entry((rank, id)).or_insert_with(|| {
                VALUE_COUNT.fetch_add(1, Ordering::Relaxed);
                Slot::default()
            });
        Arc::clone(slot)
    };
    let mut value = lock(&slot);
    if let Some(kept) = value.as_ref() {
        // A value of another type under the same fingerprint cannot be handed out: decode anew.
        if let Ok(kept) = Arc::clone(kept).downcast::<T>() {
            return Ok(kept);
        }
        return decode().map(Arc::new);
    }
    let decoded = Arc::new(decode()?);
    *value = Some(Arc::clone(&decoded) as Arc<dyn Any + Send + Sync>);
    Ok(decoded)
}

/// Forgets rank `rank`'s decoded values of `ids` (freed by the collector): each goes once the
/// last task holding its `Arc` drops it. The values are dropped after the map's lock is let go
/// (a value's `Drop` is the user's code).
pub(crate) fn forget(rank: Rank, ids: &[ObjectId]) {
    if VALUE_COUNT.load(Ordering::Relaxed) == 0 {
        return;
    }
    let mut forgotten = Vec::new();
    if let Some(values) = lock(&VALUES).as_mut() {
        forgotten.extend(ids.iter().filter_map(|id| values.remove(&(rank, *id))));
    }
    VALUE_COUNT.fetch_sub(forgotten.len(), Ordering::Relaxed);
    drop(forgotten);
}

/// Forgets every decoded value of rank `rank` (its worker stops), dropped as in [`forget`].
pub(crate) fn forget_rank(rank: Rank) {
    let mut forgotten = Vec::new();
    if let Some(values) = lock(&VALUES).as_mut() {
        let ids: Vec<(Rank, ObjectId)> =
            values.keys().filter(|(r, _)| *r == rank).copied().collect();
        forgotten.extend(ids.iter().filter_map(|key| values.remove(key)));
    }
    VALUE_COUNT.fetch_sub(forgotten.len(), Ordering::Relaxed);
    drop(forgotten);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_decoded_once_per_rank_and_again_once_forgotten() {
        // Ranks of this test only: the crate's tests share the process.
        let (a, b) = (801, 802);
        let id = ObjectId::new(1, 5);
        let decodes = AtomicUsize::new(0);
        let decode = || {
            decodes.fetch_add(1, Ordering::Relaxed);
            Ok(vec![1_u64, 2, 3])
        };
        let first = shared(a, id, decode).unwrap();
        let second = shared(a, id, decode).unwrap();
        assert!(Arc::ptr_eq(&first, &second), "one value per rank and object");
        assert_eq!(decodes.load(Ordering::Relaxed), 1);
        shared(b, id, decode).unwrap();
        assert_eq!(decodes.load(Ordering::Relaxed), 2, "each rank decodes its own");
        forget(a, &[id]);
        let third = shared(a, id, decode).unwrap();
        assert!(!Arc::ptr_eq(&first, &third));
        assert_eq!(decodes.load(Ordering::Relaxed), 3, "decoded again once forgotten");
        forget_rank(a);
        forget_rank(b);
        assert!(lock(&VALUES).as_ref().unwrap().keys().all(|(r, _)| *r != a && *r != b));
    }

    #[test]
    fn a_failed_decoding_is_not_kept() {
        let id = ObjectId::new(1, 6);
        let failed: Result<Arc<u8>, Error> =
            shared(803, id, || Err(Error::Cancelled { object: id }));
        assert!(failed.is_err());
        assert_eq!(*shared(803, id, || Ok(4_u8)).unwrap(), 4);
        forget_rank(803);
    }
}
