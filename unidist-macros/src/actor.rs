//! `#[actor]` on a type's `impl` block: checks the block (a constructor `new` returning `Self`,
//! methods taking `&self` or `&mut self` and owned values) and emits, beside it unchanged, the
//! constructor's stubs (`remote`, `remote_on`), the handle's methods, the worker-side entry
//! points and their registration, all inside an anonymous `const` block that names everything
//! through `::unidist`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{Attribute, FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, ReturnType, Type, Visibility};

use crate::parse::{check_owned_in, typed_params, Errors, Param};

const METHOD: &str = "an #[actor] method";

/// The functions `#[actor]` adds to the type.
const RESERVED: [&str; 3] = ["remote", "remote_on", "remote_exclusive"];

/// A method of the block that becomes a call on the actor.
struct Method {
    /// `#[cfg]`s of the method, repeated on everything generated for it.
    cfgs: Vec<Attribute>,
    vis: Visibility,
    name: Ident,
    params: Vec<Param>,
    ret: Type,
}

struct ActorImpl {
    item: ItemImpl,
    /// The type's name, as written last in its path.
    name: Ident,
    ctor_vis: Visibility,
    ctor: Vec<Param>,
    methods: Vec<Method>,
}

pub fn actor(attr: TokenStream, item: TokenStream) -> TokenStream {
    match parse(attr, item.clone()) {
        Ok(spec) => expand(&spec),
        Err(err) => {
            let err = err.to_compile_error();
            quote!(#item #err)
        }
    }
}

fn parse(attr: TokenStream, item: TokenStream) -> syn::Result<ActorImpl> {
    if !attr.is_empty() {
        return Err(syn::Error::new_spanned(attr, "#[actor] takes no arguments"));
    }
    let item: ItemImpl = syn::parse2(item).map_err(|e| {
        syn::Error::new(e.span(), "#[actor] goes on a type's `impl` block: `#[actor] impl Counter { fn new(..) -> Self { .. } fn add(&mut self, ..) { .. } }`")
    })?;
    let mut errors = Errors::default();
    if let Some((_, path, _)) = &item.trait_ {
        errors.push(path, "#[actor] goes on the type's own `impl` block, not on a trait's: move the methods the actor offers into `impl Type { .. }`");
    }
    if let Some(token) = &item.unsafety {
        errors.push(token, "#[actor] cannot be used on an `unsafe impl`");
    }
    if !item.generics.params.is_empty() {
        errors.push(&item.generics, "an #[actor] type cannot be generic: every rank finds its methods by one ID, so write one actor type per concrete type");
    }
    let name = match &*item.self_ty {
        Type::Path(path) if path.qself.is_none() => {
            path.path.segments.last().map(|s| s.ident.clone())
        }
        _ => None,
    };
    let Some(name) = name else {
        errors.push(&item.self_ty, "#[actor] needs a named type: `impl Counter { .. }`");
        errors.finish()?;
        unreachable!("an error was pushed");
    };

    let mut ctor = None;
    let mut methods = Vec::new();
    for entry in &item.items {
        let ImplItem::Fn(f) = entry else { continue };
        let receiver = f.sig.inputs.first().and_then(|i| match i {
            FnArg::Receiver(r) => Some(r),
            FnArg::Typed(_) => None,
        });
        match receiver {
            None if f.sig.ident == "new" => {
                check_signature(f, "constructor", &mut errors);
                if !returns_self(&f.sig.output, &name) {
                    let span = match &f.sig.output {
                        ReturnType::Default => f.sig.ident.span(),
                        ReturnType::Type(_, ty) => ty.span(),
                    };
                    errors.push_span(span, "the constructor of an #[actor] must return `Self`: it builds the value that lives on the worker (a constructor that can fail should panic; its error reaches every call)");
                }
                ctor = Some((
                    f.vis.clone(),
                    typed_params(&f.sig.inputs, "an #[actor] constructor", &mut errors),
                ));
            }
            None if RESERVED.iter().any(|r| f.sig.ident == r) => {
                errors.push(
                    &f.sig.ident,
                    format!(
                        "#[actor] adds `{name}::{}`, which starts the actor: rename this function",
                        f.sig.ident
                    ),
                );
            }
            // Other associated functions stay plain functions.
            None => {}
            Some(receiver) => {
                if receiver.reference.is_none() || receiver.colon_token.is_some() {
                    errors.push(receiver, "a method of an #[actor] takes `&self` or `&mut self`: the actor's value stays on its worker, so a method cannot take it by value or in another type");
                } else if let Some((_, Some(lifetime))) = &receiver.reference {
                    errors.push(lifetime, "a method of an #[actor] takes `&self` or `&mut self` without a named lifetime");
                }
                check_signature(f, "method", &mut errors);
                let ret = match &f.sig.output {
                    ReturnType::Default => syn::parse_quote!(()),
                    ReturnType::Type(_, ty) => {
                        check_owned_in(ty, "return type", METHOD, &mut errors);
                        (**ty).clone()
                    }
                };
                if RESERVED.iter().any(|r| f.sig.ident == r) {
                    errors.push(&f.sig.ident, format!("an #[actor] method cannot be named `{}`: #[actor] adds `{name}::remote`, `{name}::remote_on` and `{name}::remote_exclusive`, which start the actor; rename the method", f.sig.ident));
                }
                methods.push(Method {
                    cfgs: f.attrs.iter().filter(|a| a.path().is_ident("cfg")).cloned().collect(),
                    vis: f.vis.clone(),
                    name: f.sig.ident.clone(),
                    params: typed_params(f.sig.inputs.iter().skip(1), METHOD, &mut errors),
                    ret,
                });
            }
        }
    }
    if ctor.is_none() && item.trait_.is_none() {
        errors.push(&item.self_ty, format!("an #[actor] impl needs a constructor, which runs on the actor's worker: add `fn new(..) -> Self` to this block of `{name}`"));
    }
    errors.finish()?;
    let (ctor_vis, ctor) = ctor.expect("checked");
    Ok(ActorImpl { item, name, ctor_vis, ctor, methods })
}

/// Rejects what cannot run as a call on a worker: `async`, `unsafe`, generics.
fn check_signature(f: &ImplItemFn, what: &str, errors: &mut Errors) {
    let sig = &f.sig;
    if let Some(token) = &sig.asyncness {
        errors.push(token, format!("an #[actor] {what} cannot be `async`: a call runs to completion on the actor's worker; make it a plain `fn`"));
    }
    if let Some(token) = &sig.unsafety {
        errors.push(
            token,
            format!(
                "an #[actor] {what} cannot be `unsafe`: a worker must be able to call it safely"
            ),
        );
    }
    if !sig.generics.params.is_empty() {
        errors.push(&sig.generics, format!("an #[actor] {what} cannot be generic: every rank finds it by one ID, so write one method per type"));
    } else if let Some(clause) = &sig.generics.where_clause {
        errors.push(clause, format!("an #[actor] {what} cannot have a `where` clause"));
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(variadic, format!("an #[actor] {what} cannot be variadic"));
    }
}

fn returns_self(output: &ReturnType, name: &Ident) -> bool {
    match output {
        ReturnType::Type(_, ty) => match &**ty {
            Type::Path(p) if p.qself.is_none() => {
                let last = p.path.segments.last().expect("a path has a segment");
                let own =
                    last.ident == *name || (p.path.segments.len() == 1 && last.ident == "Self");
                last.arguments.is_none() && own
            }
            _ => false,
        },
        ReturnType::Default => false,
    }
}

/// `ty` with every `Self` in it written as the actor's type: the generated code lives outside
/// the `impl` block, where `Self` means something else or nothing.
fn without_self(ty: &Type, self_ty: &Type) -> Type {
    struct Replace<'a>(&'a Type);
    impl VisitMut for Replace<'_> {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            if let Type::Path(p) = ty {
                if p.qself.is_none() && p.path.is_ident("Self") {
                    *ty = self.0.clone();
                    return;
                }
            }
            syn::visit_mut::visit_type_mut(self, ty);
        }
        fn visit_path_mut(&mut self, path: &mut syn::Path) {
            // `Self::Assoc`: the type's own path in front.
            if path.leading_colon.is_none()
                && path.segments.len() > 1
                && path.segments[0].ident == "Self"
            {
                if let Type::Path(own) = self.0 {
                    let rest: Vec<_> = path.segments.iter().skip(1).cloned().collect();
                    let mut segments = own.path.segments.clone();
                    segments.extend(rest);
                    path.segments = segments;
                    path.leading_colon = own.path.leading_colon;
                }
            }
            syn::visit_mut::visit_path_mut(self, path);
        }
    }
    let mut ty = ty.clone();
    Replace(self_ty).visit_type_mut(&mut ty);
    ty
}

fn expand(spec: &ActorImpl) -> TokenStream {
    let item = &spec.item;
    let self_ty = &item.self_ty;
    let name = &spec.name;
    let cfgs: Vec<_> = item.attrs.iter().filter(|a| a.path().is_ident("cfg")).collect();
    let ctor_vis = &spec.ctor_vis;
    let ctor_names: Vec<&Ident> = spec.ctor.iter().map(|p| &p.name).collect();
    let ctor_types: Vec<Type> = spec.ctor.iter().map(|p| without_self(&p.ty, self_ty)).collect();
    let ctor_locals: Vec<Ident> =
        (0..spec.ctor.len()).map(|i| format_ident!("__unidist_arg{}", i)).collect();
    // The type as written (`Counter`, `model::Counter`): two actor types of one module that share
    // a last name get distinct paths, and so distinct IDs.
    let written = quote!(#self_ty).to_string().replace(' ', "");
    let ctor_path = format!("::{written}::new");
    let remote_doc = format!(
        "Starts a `{name}` actor: `{name}::new(..)` runs on the next worker of the cycle, and the \
         value it builds lives there until the last handle is dropped.\n\n\
         Each argument may be the value itself, an `ObjectRef` or a `&ObjectRef` of it, as for \
         `remote` of a function."
    );
    let remote_on_doc = format!(
        "Starts a `{name}` actor on worker `worker` (1 to `unidist::num_workers()`), as \
         `{name}::remote` does on the next worker of the cycle."
    );
    let remote_exclusive_doc = format!(
        "Starts a `{name}` actor on a worker that it then has to itself until it ends: the next \
         worker of the cycle that no other actor has to itself. No task or actor is placed \
         there meanwhile, except those aimed there with `remote_on`.\n\n\
         # Panics\n\
         On the root, if every worker already has an actor of its own."
    );

    let mut method_items = Vec::new();
    let mut method_fns = Vec::new();
    for (i, m) in spec.methods.iter().enumerate() {
        let method = &m.name;
        let vis = &m.vis;
        let ret = without_self(&m.ret, self_ty);
        let cfgs = &m.cfgs;
        let path = format!("::{written}::{method}");
        let id = format_ident!("__UNIDIST_ID{}", i);
        let path_const = format_ident!("__UNIDIST_PATH{}", i);
        let invoke = format_ident!("__unidist_invoke{}", i);
        let types = format_ident!("__unidist_types{}", i);
        let names: Vec<&Ident> = m.params.iter().map(|p| &p.name).collect();
        let tys: Vec<Type> = m.params.iter().map(|p| without_self(&p.ty, self_ty)).collect();
        let locals: Vec<Ident> =
            (0..m.params.len()).map(|i| format_ident!("__unidist_arg{}", i)).collect();
        let doc = format!(
            "Calls `{name}::{method}` on the actor and returns at once with a ref to its result."
        );
        method_items.push(quote! {
            #(#cfgs)*
            const #path_const: &str = ::core::concat!(::core::module_path!(), #path);
            #(#cfgs)*
            const #id: u64 = ::unidist::__private::function_id(#path_const);

            #(#cfgs)*
            ::unidist::__private::inventory::submit! {
                ::unidist::__private::RemoteFunction::new(#path_const, 1, #invoke, #types)
            }

            #(#cfgs)*
            fn #invoke(
                __unidist_args: &mut ::unidist::__private::TaskArgs,
            ) -> ::core::result::Result<::unidist::__private::Outputs, ::unidist::Error> {
                #( let #locals = __unidist_args.take::<#tys>()?; )*
                let __unidist_result: #ret = ::unidist::__private::actor_call::<#self_ty, _>(
                    __unidist_args,
                    |__unidist_self| <#self_ty>::#method(__unidist_self, #(#locals),*),
                )?;
                let mut __unidist_outputs = __unidist_args.outputs();
                __unidist_outputs.push::<#ret>(__unidist_result)?;
                ::core::result::Result::Ok(__unidist_outputs)
            }

            #(#cfgs)*
            fn #types() -> ::unidist::__private::Vec<&'static str> {
                ::unidist::__private::vec![#( ::core::any::type_name::<#tys>(), )* ::core::any::type_name::<#ret>()]
            }
        });
        method_fns.push(quote! {
            #(#cfgs)*
            #[doc = #doc]
            #vis fn #method(
                &self,
                #( #names: impl ::unidist::__private::IntoArg<#tys> ),*
            ) -> ::unidist::ObjectRef<#ret> {
                let __unidist_first = self.actor.call(
                    #id,
                    ::unidist::__private::vec![
                        #( ::unidist::__private::IntoArg::<#tys>::into_arg(#names) ),*
                    ],
                );
                ::unidist::__private::output_ref(__unidist_first, 0)
            }
        });
    }
    let methods_struct = Ident::new("__UnidistActorMethods", Span::call_site());
    // The constructor's arguments as they travel, for each of the stubs that start the actor.
    let ctor_args = quote! {
        ::unidist::__private::vec![
            #( ::unidist::__private::IntoArg::<#ctor_types>::into_arg(#ctor_names) ),*
        ]
    };
    // `remote_on`'s first parameter, named so that it cannot clash with the constructor's.
    let worker = if ctor_names.iter().any(|n| *n == "worker") {
        format_ident!("__unidist_worker")
    } else {
        format_ident!("worker")
    };

    quote! {
        #item

        #(#cfgs)*
        #[allow(dead_code, deprecated, non_snake_case, non_upper_case_globals, clippy::all)]
        const _: () = {
            const __UNIDIST_NEW_PATH: &str = ::core::concat!(::core::module_path!(), #ctor_path);
            const __UNIDIST_NEW_ID: u64 = ::unidist::__private::function_id(__UNIDIST_NEW_PATH);

            ::unidist::__private::inventory::submit! {
                ::unidist::__private::RemoteFunction::new(__UNIDIST_NEW_PATH, 1, __unidist_invoke_new, __unidist_types_new)
            }

            fn __unidist_invoke_new(
                __unidist_args: &mut ::unidist::__private::TaskArgs,
            ) -> ::core::result::Result<::unidist::__private::Outputs, ::unidist::Error> {
                ::unidist::__private::actor_construct::<#self_ty>(__unidist_args, |__unidist_args| {
                    #( let #ctor_locals = __unidist_args.take::<#ctor_types>()?; )*
                    ::core::result::Result::Ok(<#self_ty>::new(#(#ctor_locals),*))
                })?;
                let mut __unidist_outputs = __unidist_args.outputs();
                __unidist_outputs.push::<()>(())?;
                ::core::result::Result::Ok(__unidist_outputs)
            }

            fn __unidist_types_new() -> ::unidist::__private::Vec<&'static str> {
                ::unidist::__private::vec![#( ::core::any::type_name::<#ctor_types>(), )* ::core::any::type_name::<()>()]
            }

            #(#method_items)*

            /// The methods of an `ActorRef` of this actor.
            pub struct #methods_struct {
                actor: ::unidist::__private::ActorId,
            }

            impl #methods_struct {
                #(#method_fns)*
            }

            impl ::unidist::Actor for #self_ty {
                type Methods = #methods_struct;

                fn methods(actor: ::unidist::__private::ActorId) -> #methods_struct {
                    #methods_struct { actor }
                }
            }

            impl #self_ty {
                #[doc = #remote_doc]
                #[track_caller]
                #ctor_vis fn remote(
                    #( #ctor_names: impl ::unidist::__private::IntoArg<#ctor_types> ),*
                ) -> ::unidist::ActorRef<#self_ty> {
                    ::unidist::ActorRef::create(
                        __UNIDIST_NEW_ID,
                        #ctor_args,
                        ::core::option::Option::None,
                    )
                }

                #[doc = #remote_exclusive_doc]
                #[track_caller]
                #ctor_vis fn remote_exclusive(
                    #( #ctor_names: impl ::unidist::__private::IntoArg<#ctor_types> ),*
                ) -> ::unidist::ActorRef<#self_ty> {
                    ::unidist::ActorRef::create_exclusive(
                        __UNIDIST_NEW_ID,
                        #ctor_args,
                    )
                }

                #[doc = #remote_on_doc]
                #[track_caller]
                #ctor_vis fn remote_on(
                    #worker: usize,
                    #( #ctor_names: impl ::unidist::__private::IntoArg<#ctor_types> ),*
                ) -> ::unidist::ActorRef<#self_ty> {
                    ::unidist::ActorRef::create(
                        __UNIDIST_NEW_ID,
                        #ctor_args,
                        ::core::option::Option::Some(#worker),
                    )
                }
            }
        };
    }
}
