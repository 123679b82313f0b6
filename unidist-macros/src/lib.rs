//! The `#[remote]` attribute of [unidist](https://docs.rs/unidist).
//!
//! This crate only parses, checks and emits glue: every piece of logic lives in the runtime crate,
//! which the generated code reaches through `::unidist::__private` (never through the user's
//! imports). Use it through `unidist::remote`, not directly.

mod expand;
mod parse;

use proc_macro::TokenStream;

/// Makes a free function callable as a remote task.
///
/// The function stays as it is; next to it appears a module of the same name with
/// `pub fn remote(..) -> ObjectRef<R>`, one parameter per parameter of the function. Each
/// parameter of `remote` takes the value itself, an `ObjectRef<T>` or `&ObjectRef<T>`, and for a
/// `Vec<T>` parameter also a `Vec<ObjectRef<T>>` or `&[ObjectRef<T>]`.
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
/// save and it changes nothing. Both arguments combine: `#[remote(inline, num_returns = 2)]`.
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
