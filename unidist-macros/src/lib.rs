//! The `#[remote]` and `#[actor]` attributes of [unidist](https://docs.rs/unidist).
//!
//! This crate only parses, checks and emits glue: every piece of logic lives in the runtime crate,
//! which the generated code reaches through `::unidist::__private` (never through the user's
//! imports). Use it through `unidist::remote`, not directly.

mod actor;
mod expand;
mod parse;

use proc_macro::TokenStream;

/// Makes a free function callable as a remote task.
///
/// The function stays as it is; next to it appears a module of the same name with
/// `pub fn remote(..) -> ObjectRef<R>`, one parameter per parameter of the function. Each
/// parameter of `remote` takes the value itself, an `ObjectRef<T>` or `&ObjectRef<T>`, and for a
/// `Vec<T>` parameter also a `Vec<ObjectRef<T>>` or `&[ObjectRef<T>]`. Beside it:
/// `remote_on(worker, ..)` (that worker only), `remote_with(options, ..)` (a
/// `unidist::TaskOptions`: retries, worker) and `try_remote(..)` (`Err(Error::Busy)` instead of
/// waiting at the bound on tasks in flight). The function must be declared at module level
/// (inside another function's body it is a compile error).
///
/// A parameter declared `Arc<T>` (or `std::sync::Arc<T>`, for a sized `T`) takes a `T` object, and
/// callers pass what a `T` parameter takes. An object passed by ref is decoded once per worker:
/// every task on that worker that takes it as `Arc<T>` gets the same value, until the object is
/// freed. Use it for a large input many tasks read (a lookup table, a model). `T` must be `Sync`.
///
/// `#[remote(max_retries = N)]` (0 to 255) runs a task that panicked again, up to N times
/// (see `unidist::TaskOptions::max_retries`).
///
/// `#[remote(num_returns = N)]` on a function returning an N-tuple makes `remote` return an
/// N-tuple of refs, one per element.
///
/// `#[remote(inline)]` marks a function whose tasks take microseconds and never wait on
/// anything but the runtime (`get`, `wait`): once its runs on a worker have been quick, that
/// worker's progress thread runs its tasks itself, saving two thread hand-overs per task. A
/// marked task that waits on anything else (a lock, a file, another task's progress) stalls its
/// worker's messages meanwhile. It pays on the local backend; under MPI, where the executor
/// thread that waits for work runs the worker's progress loop itself, there is no hand-over to
/// save and it changes nothing. The arguments combine: `#[remote(inline, num_returns = 2)]`.
///
/// See the `unidist` crate for examples.
#[proc_macro_attribute]
pub fn remote(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item2: proc_macro2::TokenStream = item.clone().into();
    match parse::parse(attr.into(), item.into()) {
        Ok(spec) => expand::expand(&spec).into(),
        Err(err) => {
            // Emit the user's function unchanged beside the error, so that the IDE and the rest
            // of the crate keep working and the user sees one error, not a cascade.
            let err = err.to_compile_error();
            quote::quote!(#item2 #err).into()
        }
    }
}

/// Makes a type an actor: a value that lives on one worker and serves method calls.
///
/// Put it on the type's `impl` block. The block needs a constructor `fn new(..) -> Self`; each
/// method taking `&self` or `&mut self` becomes a call on the actor. Beside the block appear
/// `Type::remote(..)` and `Type::remote_on(worker, ..)`, which run `new` on a worker and return
/// an `unidist::ActorRef<Type>`, and on that handle one method per method of the block, with the
/// same parameters (each a value, an `ObjectRef` or a `&ObjectRef`), returning an `ObjectRef` of
/// its result at once. Other associated functions stay as they are.
///
/// See `unidist::ActorRef` for the order of calls, errors and the actor's end.
#[proc_macro_attribute]
pub fn actor(attr: TokenStream, item: TokenStream) -> TokenStream {
    actor::actor(attr.into(), item.into()).into()
}
