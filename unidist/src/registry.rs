//! The function table: every `#[remote]` function of the binary, registered through `inventory`
//! under an ID hashed from its full path at compile time.
//!
//! Only IDs cross ranks, so at `init` every rank checks that its table has no two functions with
//! one ID, and the ranks compare a digest of their tables (see `runtime`).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use crate::arg::{Outputs, TaskArgs};
use crate::error::Error;
use crate::object::fnv1a;

/// The entry point the macro generates for a function: decodes the arguments, calls the function,
/// encodes the results.
pub type Invoke = fn(&mut TaskArgs) -> Result<Outputs, Error>;

/// One `#[remote]` function, as registered by the macro.
pub struct RemoteFunction {
    id: u64,
    path: &'static str,
    num_returns: usize,
    invoke: Invoke,
    types: fn() -> Vec<&'static str>,
    /// `#[remote(inline)]`: see [`RemoteFunction::runs_inline`].
    inline: bool,
}

/// What a rank learned of a function from its runs (kept beside the table: a `RemoteFunction`
/// is a constant of the generated code, with no room for state).
#[derive(Default)]
struct Profile {
    /// Runs in a row that each took less than [`QUICK_RUN`].
    quick_runs: AtomicU32,
    /// A run called `get` or `wait`.
    blocks: AtomicBool,
}

/// A run shorter than this is quick: a task that a worker's loop may run on its own thread.
const QUICK_RUN: Duration = Duration::from_micros(50);

/// Quick runs in a row that make a function one whose tasks run on the loop's thread.
const QUICK_RUNS_TO_INLINE: u32 = 4;

inventory::collect!(RemoteFunction);

impl RemoteFunction {
    /// Used by the code `#[remote]` generates; `path` is the function's full path.
    pub const fn new(
        path: &'static str,
        num_returns: usize,
        invoke: Invoke,
        types: fn() -> Vec<&'static str>,
    ) -> RemoteFunction {
        RemoteFunction { id: function_id(path), path, num_returns, invoke, types, inline: false }
    }

    /// Used by the code `#[remote(inline)]` generates: the function's tasks may run on the
    /// worker's loop thread (see [`RemoteFunction::runs_inline`]).
    pub const fn inline(mut self) -> RemoteFunction {
        self.inline = true;
        self
    }

    fn profile(&self) -> Option<&'static Profile> {
        table().profiles.get(&self.id)
    }

    /// True if a worker's loop may run a task of this function on its own thread: the function
    /// is marked `#[remote(inline)]`, its last runs on this rank were all quick, and none ever
    /// blocked in `get` or `wait` (one that does drives the loop while it waits). Only the mark
    /// makes it safe: a task that waits on anything else (a lock, a file, another task's
    /// progress) would stop the loop, so the runtime never guesses that from speed alone.
    pub(crate) fn runs_inline(&self) -> bool {
        self.inline
            && self.profile().is_some_and(|p| {
                p.quick_runs.load(Ordering::Relaxed) >= QUICK_RUNS_TO_INLINE
                    && !p.blocks.load(Ordering::Relaxed)
            })
    }

    /// True if marked `#[remote(inline)]`.
    pub(crate) fn is_inline(&self) -> bool {
        self.inline
    }

    /// Notes how long a run took.
    pub(crate) fn ran(&self, took: Duration) {
        let Some(profile) = self.profile() else { return };
        let quick = &profile.quick_runs;
        if took >= QUICK_RUN {
            quick.store(0, Ordering::Relaxed);
        } else if quick.load(Ordering::Relaxed) < QUICK_RUNS_TO_INLINE {
            quick.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Notes that a run called `get` or `wait`: its tasks go to executor threads from now on.
    pub(crate) fn blocked(&self) {
        if let Some(profile) = self.profile() {
            profile.blocks.store(true, Ordering::Relaxed);
        }
    }

    pub(crate) fn path(&self) -> &'static str {
        self.path
    }

    pub(crate) fn num_returns(&self) -> usize {
        self.num_returns
    }

    pub(crate) fn invoke(&self) -> Invoke {
        self.invoke
    }
}

/// A map keyed by function ID, hashed with FxHash (the runtime looks one up for every task).
pub(crate) type FunctionMap<V> = rustc_hash::FxHashMap<u64, V>;

/// The stable ID of a function: FNV-1a of its full path (`module_path!()` and name).
pub const fn function_id(path: &str) -> u64 {
    fnv1a(path.as_bytes())
}

struct Table {
    by_id: FunctionMap<&'static RemoteFunction>,
    profiles: FunctionMap<Profile>,
    /// Two functions whose paths hash to one ID, if any.
    collision: Option<(&'static str, &'static str)>,
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    digest: u64,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| build(inventory::iter::<RemoteFunction>().collect()))
}

fn build(mut all: Vec<&'static RemoteFunction>) -> Table {
    all.sort_by_key(|f| (f.id, f.path));
    let mut by_id = FunctionMap::with_capacity_and_hasher(all.len(), Default::default());
    let mut collision = None;
    let mut text = String::new();
    for f in &all {
        if let Some(other) = by_id.insert(f.id, *f) {
            collision.get_or_insert((other.path, f.path));
        }
        text.push_str(&format!("{:016x} {} {}\n", f.id, f.num_returns, f.path));
    }
    let profiles = by_id.keys().map(|id| (*id, Profile::default())).collect();
    Table { by_id, profiles, collision, digest: fnv1a(text.as_bytes()) }
}

/// Finds a function by ID.
pub(crate) fn lookup(id: u64) -> Option<&'static RemoteFunction> {
    table().by_id.get(&id).copied()
}

/// The path of function `id`, or its ID in hex if this rank does not have it.
pub(crate) fn name_of(id: u64) -> String {
    lookup(id).map_or_else(|| format!("<function {id:#018x}>"), |f| f.path().to_string())
}

/// A summary of this rank's table, compared across ranks at `init`: (digest, number of functions).
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
pub(crate) fn summary() -> (u64, u64) {
    let table = table();
    (table.digest, table.by_id.len() as u64)
}

/// Fails if two functions of the binary share one ID.
pub(crate) fn check_unique() -> Result<(), String> {
    collision_error(table())
}

fn collision_error(table: &Table) -> Result<(), String> {
    match table.collision {
        None => Ok(()),
        Some((a, b)) => Err(format!(
            "the remote functions `{a}` and `{b}` hash to the same ID {:#018x}: rename one of them",
            function_id(a)
        )),
    }
}

/// Names of every type that appears in a remote function's signature.
pub(crate) fn type_names() -> Vec<&'static str> {
    table().by_id.values().flat_map(|f| (f.types)()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invoke(_: &mut TaskArgs) -> Result<Outputs, Error> {
        unreachable!()
    }
    fn no_types() -> Vec<&'static str> {
        Vec::new()
    }
    static A: RemoteFunction = RemoteFunction::new("app::a", 1, invoke, no_types);
    static B: RemoteFunction = RemoteFunction::new("app::b", 1, invoke, no_types);
    static B_TWICE: RemoteFunction = RemoteFunction::new("app::b", 2, invoke, no_types);
    /// Another path forced onto A's ID, as a hash collision would.
    static FAKE: RemoteFunction = RemoteFunction {
        id: function_id("app::a"),
        ..RemoteFunction::new("app::z", 1, invoke, no_types)
    };

    #[test]
    fn ids_are_hashes_of_the_path() {
        assert_eq!(A.id, function_id("app::a"));
        assert_ne!(A.id, B.id);
    }

    #[test]
    fn a_collision_is_reported_with_both_paths() {
        assert!(collision_error(&build(vec![&A, &B])).is_ok());
        let error = collision_error(&build(vec![&A, &B, &FAKE])).unwrap_err();
        assert!(
            error.contains("`app::a`") && error.contains("`app::z`") && error.contains("rename"),
            "{error}"
        );
    }

    #[test]
    fn the_digest_depends_on_the_whole_table() {
        let ab = build(vec![&A, &B]).digest;
        assert_eq!(ab, build(vec![&B, &A]).digest, "the order of registration does not matter");
        assert_ne!(ab, build(vec![&A]).digest);
        assert_ne!(ab, build(vec![&A, &B_TWICE]).digest, "num_returns is part of the table");
    }
}
