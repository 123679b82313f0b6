//! The objects one rank holds, with a count of their bytes.

use rustc_hash::FxHashMap;

use crate::id::ObjectId;
use crate::object::Object;

#[derive(Default)]
pub(crate) struct ObjectStore {
    objects: FxHashMap<ObjectId, Object>,
    bytes: usize,
}

impl ObjectStore {
    pub(crate) fn insert(&mut self, id: ObjectId, object: Object) {
        self.bytes += object.len();
        if let Some(old) = self.objects.insert(id, object) {
            self.bytes -= old.len();
        }
    }

    pub(crate) fn get(&self, id: ObjectId) -> Option<&Object> {
        self.objects.get(&id)
    }

    pub(crate) fn contains(&self, id: ObjectId) -> bool {
        self.objects.contains_key(&id)
    }

    /// Frees object `id` (its bytes go to the kept large buffers if no one else holds them: see
    /// `Object`'s `Drop`).
    pub(crate) fn remove(&mut self, id: ObjectId) {
        if let Some(object) = self.objects.remove(&id) {
            self.bytes -= object.len();
        }
    }

    /// The objects held and their bytes, as rank `rank`'s statistics.
    pub(crate) fn memory(&self, rank: usize) -> crate::stats::MemoryStats {
        crate::stats::MemoryStats {
            rank,
            objects: self.objects.len() as u64,
            bytes: self.bytes as u64,
        }
    }
}
