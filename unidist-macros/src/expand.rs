//! Turns a checked [`RemoteFn`] into the user's function, unchanged, and a module of the same
//! name holding the `remote` stub, the worker-side entry point and the registration.
//!
//! Everything is named by absolute path through `::unidist::__private`, so the expansion compiles
//! in any module whatever the user imported.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote, ToTokens};
use syn::visit_mut::VisitMut;
use syn::Type;

use crate::parse::RemoteFn;

pub fn expand(spec: &RemoteFn) -> TokenStream {
    let item = &spec.item;
    let name = &item.sig.ident;
    let vis = &item.vis;
    // `#[cfg]` on the function must also switch the module on and off.
    let cfgs = item.attrs.iter().filter(|a| a.path().is_ident("cfg"));
    let n = spec.outputs.len();
    let inline = if spec.inline {
        quote! { .inline() }
    } else {
        quote! {}
    };

    // Types are written for the parent module; the code below lives one module deeper.
    let ret = in_child(&spec.ret);
    let outputs: Vec<Type> = spec.outputs.iter().map(in_child).collect();
    let param_names: Vec<&Ident> = spec.params.iter().map(|p| &p.name).collect();
    let param_types: Vec<Type> = spec.params.iter().map(|p| in_child(&p.ty)).collect();
    // What callers pass and the worker takes: an `Arc<T>` parameter takes a `T` object.
    let object_types: Vec<Type> = spec.params.iter().map(|p| in_child(p.object_type())).collect();
    let takes: Vec<TokenStream> = spec
        .params
        .iter()
        .zip(&object_types)
        .map(|(p, t)| match p.shared() {
            Some(_) => quote!(take_shared::<#t>),
            None => quote!(take::<#t>),
        })
        .collect();
    let locals: Vec<Ident> =
        (0..spec.params.len()).map(|i| format_ident!("__unidist_arg{}", i)).collect();
    let results: Vec<Ident> = (0..n).map(|i| format_ident!("__unidist_out{}", i)).collect();
    let indexes = 0..n;

    let (ref_type, destructure) = if n == 1 {
        let r = &outputs[0];
        (quote!(::unidist::ObjectRef<#r>), quote!(let #(#results)* = __unidist_result;))
    } else {
        (
            quote!((#(::unidist::ObjectRef<#outputs>),*)),
            quote!(let (#(#results),*) = __unidist_result;),
        )
    };
    let make_refs = if n == 1 {
        quote!(::unidist::__private::output_ref(__unidist_first, 0))
    } else {
        quote!((#(::unidist::__private::output_ref(__unidist_first, #indexes)),*))
    };
    let doc = format!(
        "Remote stub of [`{name}`](fn@super::{name}): `{name}::remote(..)` runs it as a task on a worker."
    );
    // `remote_on`'s first parameter, named so that it cannot clash with the function's.
    let worker = if param_names.iter().any(|n| *n == "worker") {
        format_ident!("__unidist_worker")
    } else {
        format_ident!("worker")
    };
    let options = if param_names.iter().any(|n| *n == "options") {
        format_ident!("__unidist_options")
    } else {
        format_ident!("options")
    };
    let max_retries = spec.max_retries;
    let remote_with_doc = format!(
        "Submits `{name}` as a task with `options` (see `unidist::TaskOptions`: retries, \
         worker) and returns at once with a ref to its result."
    );
    let try_remote_doc = "Like `remote`, but when the root's program has as many tasks in \
                          flight as `unidist::set_max_in_flight` allows, returns `Error::Busy` at \
                          once instead of waiting (nothing is submitted). Inside a remote \
                          function it never refuses.";
    let remote_on_doc = format!(
        "Submits `{name}` as a task that runs on worker `worker` (1 to `unidist::num_workers()`) \
         and only there, and returns at once with a ref to its result."
    );
    let remote_doc = format!(
        "Submits `{name}` as a task and returns at once with a ref to its result.\n\n\
         Each argument may be the value itself, an `ObjectRef` or a `&ObjectRef` of it, and for a \
         `Vec<T>` parameter also a `Vec<ObjectRef<T>>` or `&[ObjectRef<T>]`."
    );

    let nested_note = format!(
        "`#[remote]` function `{name}` is declared inside a function body: move it to module \
         level (every rank finds a remote function by its module path)"
    );
    // A function deprecated by its author (maybe only under some `cfg`) would trip the check:
    // it goes without.
    let deprecated = item.attrs.iter().any(|a| {
        a.path().is_ident("deprecated")
            || (a.path().is_ident("cfg_attr")
                && a.meta.to_token_stream().to_string().contains("deprecated"))
    });
    // Found by the code that calls the function only where the parent module has none of this
    // name: `#[remote]` on a function inside another function's body, which a module cannot
    // see. Each use sits in a block that first imports the parent's items, which come first.
    let fallback = quote! {
        #[deprecated(note = #nested_note)]
        #[allow(unused_variables, dead_code)]
        fn #name(#( #param_names: #param_types ),*) -> #ret {
            ::core::panic!(#nested_note)
        }
    };
    // Using the fallback is the compile error that says so.
    let nested_check = if deprecated {
        quote! {}
    } else {
        quote! {
            #[deny(deprecated)]
            const _: () = {
                #[deprecated(note = #nested_note)]
                #[allow(dead_code)]
                fn #name() {}
                {
                    #[allow(unused_imports)]
                    use super::*;
                    let _ = #name;
                }
            };
        }
    };

    quote! {
        #item

        #(#cfgs)*
        #[doc = #doc]
        #[allow(dead_code, deprecated, non_snake_case, clippy::all)]
        #vis mod #name {
            #[allow(unused_imports)]
            use super::*;

            const __UNIDIST_PATH: &str = ::core::module_path!();
            const __UNIDIST_ID: u64 = ::unidist::__private::function_id(__UNIDIST_PATH);

            ::unidist::__private::inventory::submit! {
                ::unidist::__private::RemoteFunction::new(__UNIDIST_PATH, #n, __unidist_invoke, __unidist_types)#inline
            }

            fn __unidist_invoke(
                __unidist_args: &mut ::unidist::__private::TaskArgs,
            ) -> ::core::result::Result<::unidist::__private::Outputs, ::unidist::Error> {
                #fallback
                #( let #locals = __unidist_args.#takes()?; )*
                let __unidist_result: #ret = {
                    // The function in the parent module, ahead of the fallback.
                    #[allow(unused_imports)]
                    use super::*;
                    #name(#(#locals),*)
                };
                #destructure
                let mut __unidist_outputs = __unidist_args.outputs();
                #( __unidist_outputs.push::<#outputs>(#results)?; )*
                ::core::result::Result::Ok(__unidist_outputs)
            }

            #nested_check

            fn __unidist_types() -> ::unidist::__private::Vec<&'static str> {
                ::unidist::__private::vec![#( ::core::any::type_name::<#object_types>(), )* #( ::core::any::type_name::<#outputs>() ),*]
            }

            #[doc = #remote_on_doc]
            #[track_caller]
            pub fn remote_on(
                #worker: usize,
                #( #param_names: impl ::unidist::__private::IntoArg<#object_types> ),*
            ) -> #ref_type {
                let __unidist_first = ::unidist::__private::submit_on(
                    #worker,
                    __UNIDIST_ID,
                    #n,
                    ::unidist::__private::vec![
                        #( ::unidist::__private::IntoArg::<#object_types>::into_arg(#param_names) ),*
                    ],
                    #max_retries,
                );
                #make_refs
            }

            #[doc = #remote_with_doc]
            #[track_caller]
            pub fn remote_with(
                #options: ::unidist::TaskOptions,
                #( #param_names: impl ::unidist::__private::IntoArg<#object_types> ),*
            ) -> #ref_type {
                let __unidist_first = ::unidist::__private::submit(
                    __UNIDIST_ID,
                    #n,
                    ::unidist::__private::vec![
                        #( ::unidist::__private::IntoArg::<#object_types>::into_arg(#param_names) ),*
                    ],
                    #options,
                    #max_retries,
                );
                #make_refs
            }

            #[doc = #try_remote_doc]
            #[track_caller]
            pub fn try_remote(
                #( #param_names: impl ::unidist::__private::IntoArg<#object_types> ),*
            ) -> ::core::result::Result<#ref_type, ::unidist::Error> {
                let __unidist_first = ::unidist::__private::try_submit(
                    __UNIDIST_ID,
                    #n,
                    ::unidist::__private::vec![
                        #( ::unidist::__private::IntoArg::<#object_types>::into_arg(#param_names) ),*
                    ],
                    #max_retries,
                )?;
                ::core::result::Result::Ok(#make_refs)
            }

            #[doc = #remote_doc]
            #[track_caller]
            pub fn remote(
                #( #param_names: impl ::unidist::__private::IntoArg<#object_types> ),*
            ) -> #ref_type {
                let __unidist_first = ::unidist::__private::submit(
                    __UNIDIST_ID,
                    #n,
                    ::unidist::__private::vec![
                        #( ::unidist::__private::IntoArg::<#object_types>::into_arg(#param_names) ),*
                    ],
                    ::unidist::TaskOptions::new(),
                    #max_retries,
                );
                #make_refs
            }
        }
    }
}

/// Rewrites a type written in the parent module so that it names the same type from the generated
/// child module: a leading `self::` becomes `super::`, and a leading `super::` one more `super::`.
fn in_child(ty: &Type) -> Type {
    struct Rewrite;
    impl VisitMut for Rewrite {
        fn visit_path_mut(&mut self, path: &mut syn::Path) {
            if path.leading_colon.is_none() {
                if let Some(first) = path.segments.first_mut() {
                    if first.ident == "self" {
                        first.ident = Ident::new("super", first.ident.span());
                    } else if first.ident == "super" {
                        let span = first.ident.span();
                        path.segments.insert(0, Ident::new("super", span).into());
                    }
                }
            }
            syn::visit_mut::visit_path_mut(self, path);
        }
    }
    let mut ty = ty.clone();
    Rewrite.visit_type_mut(&mut ty);
    ty
}
