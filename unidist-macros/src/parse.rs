//! Turns the attribute and the function into a [`RemoteFn`], rejecting every form that cannot
//! run as a remote task with an error spanned on the offending tokens.

use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{Error, FnArg, Ident, ItemFn, LitInt, Pat, ReturnType, Type};

/// What the expansion needs to know about one `#[remote]` function.
pub struct RemoteFn {
    pub item: ItemFn,
    pub params: Vec<Param>,
    /// The return type (`()` when none is written).
    pub ret: Type,
    /// The types of the returned objects: `[ret]`, or the tuple's elements for `num_returns > 1`.
    pub outputs: Vec<Type>,
    /// `#[remote(inline)]`: the worker's loop thread may run its tasks itself.
    pub inline: bool,
    /// `#[remote(max_retries = N)]`: times a task that panics runs again (0 if not given).
    pub max_retries: u8,
}

pub struct Param {
    pub name: Ident,
    pub ty: Type,
}

impl Param {
    /// `T` if the parameter is declared `Arc<T>`, `sync::Arc<T>`, `std::sync::Arc<T>` or
    /// `alloc::sync::Arc<T>` with a sized `T` (not `str`, a slice or `dyn Trait`): the task takes
    /// the worker's one decoded value of an object of type `T`, and callers pass what a `T`
    /// parameter takes. Any other type, another crate's `Arc` among them, is taken as itself.
    pub fn shared(&self) -> Option<&Type> {
        let Type::Path(path) = &self.ty else { return None };
        if path.qself.is_some() {
            return None;
        }
        let names: Vec<String> = path.path.segments.iter().map(|s| s.ident.to_string()).collect();
        let std_arc = matches!(
            names.iter().map(String::as_str).collect::<Vec<_>>().as_slice(),
            ["Arc"] | ["sync", "Arc"] | ["std" | "alloc", "sync", "Arc"]
        );
        let leading_colon_needs_crate = path.path.leading_colon.is_some() && names.len() < 3;
        if !std_arc || leading_colon_needs_crate {
            return None;
        }
        let last = path.path.segments.last()?;
        let syn::PathArguments::AngleBracketed(args) = &last.arguments else { return None };
        let (1, Some(syn::GenericArgument::Type(inner))) = (args.args.len(), args.args.first())
        else {
            return None;
        };
        let unsized_inner = match inner {
            Type::Slice(_) | Type::TraitObject(_) => true,
            Type::Path(p) => p.path.is_ident("str"),
            _ => false,
        };
        (!unsized_inner).then_some(inner)
    }

    /// The type of the object this parameter takes: `T` for `Arc<T>`, else its own type.
    pub fn object_type(&self) -> &Type {
        self.shared().unwrap_or(&self.ty)
    }
}

pub fn parse(attr: TokenStream, item: TokenStream) -> syn::Result<RemoteFn> {
    let Attr { num_returns, inline, max_retries } = parse_attr(attr)?;
    let item: ItemFn = syn::parse2(item)?;
    let mut errors = Errors::default();
    let sig = &item.sig;

    if let Some(token) = &sig.asyncness {
        errors.push(token, "#[remote] cannot be used on an `async fn`: a remote function runs to completion on a worker; make it a plain `fn`");
    }
    if let Some(token) = &sig.unsafety {
        errors.push(token, "#[remote] cannot be used on an `unsafe fn`: a worker must be able to call it safely; make the function safe and keep the `unsafe` block inside it");
    }
    if !sig.generics.params.is_empty() {
        errors.push(&sig.generics, "#[remote] functions cannot be generic: every rank finds the function by one ID, so write one non-generic function per type");
    } else if let Some(clause) = &sig.generics.where_clause {
        errors.push(clause, "#[remote] functions cannot have a `where` clause: remove it and write the concrete types");
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(variadic, "#[remote] functions cannot be variadic");
    }

    for input in &sig.inputs {
        if let FnArg::Receiver(receiver) = input {
            errors.push(receiver, "#[remote] works on free functions, not methods: `self` cannot be sent to a worker; take the value as an ordinary parameter");
        }
    }
    let params = typed_params(&sig.inputs, "a #[remote] function", &mut errors);

    let ret = match &sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => {
            check_owned_in(ty, "return type", "a #[remote] function", &mut errors);
            (**ty).clone()
        }
    };
    let outputs = match num_returns {
        None => vec![ret.clone()],
        Some((1, _)) => vec![ret.clone()],
        Some((n, lit)) => {
            match &ret {
                Type::Tuple(tuple) if tuple.elems.len() == n => {
                    tuple.elems.iter().cloned().collect()
                }
                Type::Tuple(tuple) => {
                    errors.push(lit, format!("num_returns = {n} does not match the return type, a {}-tuple: set num_returns = {} or return a {n}-tuple", tuple.elems.len(), tuple.elems.len()));
                    Vec::new()
                }
                other => {
                    let span = if matches!(sig.output, ReturnType::Default) {
                        sig.ident.span()
                    } else {
                        other.span()
                    };
                    errors.push_span(span, format!("num_returns = {n} needs a return type written as a {n}-tuple, like `({})`", (0..n).map(|i| format!("T{i}")).collect::<Vec<_>>().join(", ")));
                    Vec::new()
                }
            }
        }
    };

    errors.finish()?;
    Ok(RemoteFn { item, params, ret, outputs, inline, max_retries })
}

/// The parameters of a function or method, each checked to be an owned type with a plain name;
/// `what` names the item in messages (`a #[remote] function`, `an #[actor] method`). A receiver is
/// left to the caller.
pub fn typed_params<'a>(
    inputs: impl IntoIterator<Item = &'a FnArg>,
    what: &str,
    errors: &mut Errors,
) -> Vec<Param> {
    let mut params = Vec::new();
    for input in inputs {
        let FnArg::Typed(typed) = input else { continue };
        check_owned_in(&typed.ty, "parameter", what, errors);
        if let Some(attr) = typed.attrs.first() {
            errors.push(attr, format!("attributes on parameters of {what} are not supported: every rank must see the same parameters; remove it"));
        }
        match &*typed.pat {
            Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => {
                params.push(Param { name: pat.ident.clone(), ty: (*typed.ty).clone() })
            }
            Pat::Wild(wild) => params.push(Param {
                name: Ident::new(&format!("__unidist_unused{}", params.len()), wild.span()),
                ty: (*typed.ty).clone(),
            }),
            other => errors.push(other, format!("parameters of {what} must be plain names (`x` or `mut x`): take the whole value and destructure it in the body")),
        }
    }
    params
}

/// The attribute's arguments.
struct Attr {
    num_returns: Option<(usize, LitInt)>,
    inline: bool,
    max_retries: u8,
}

/// Parses the attribute's arguments: `num_returns = N`, `max_retries = N` and `inline`, in any
/// order.
fn parse_attr(attr: TokenStream) -> syn::Result<Attr> {
    let mut num_returns = None;
    let mut inline = false;
    let mut max_retries = 0;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("inline") {
            inline = true;
            Ok(())
        } else if meta.path.is_ident("max_retries") {
            let lit: LitInt = meta.value()?.parse()?;
            max_retries = lit.base10_parse::<u8>().map_err(|_| {
                Error::new_spanned(&lit, "max_retries must be a whole number from 0 to 255")
            })?;
            Ok(())
        } else if meta.path.is_ident("num_returns") {
            let lit: LitInt = meta.value()?.parse()?;
            let n: usize = lit.base10_parse()?;
            if n == 0 {
                return Err(Error::new_spanned(&lit, "num_returns must be at least 1"));
            }
            num_returns = Some((n, lit));
            Ok(())
        } else {
            Err(meta.error(
                "unknown argument of #[remote]: the arguments are `num_returns = N`, \
                 `max_retries = N` and `inline`",
            ))
        }
    });
    syn::parse::Parser::parse2(parser, attr)?;
    Ok(Attr { num_returns, inline, max_retries })
}

/// Rejects references, `impl Trait` and non-`'static` lifetimes anywhere inside a type: values
/// cross process boundaries, so they must own their data.
pub fn check_owned_in(ty: &Type, what: &str, item: &str, errors: &mut Errors) {
    struct Check<'a> {
        what: &'a str,
        item: &'a str,
        errors: &'a mut Errors,
    }
    impl<'ast> Visit<'ast> for Check<'_> {
        fn visit_type_reference(&mut self, node: &'ast syn::TypeReference) {
            let msg = format!("a {} of {} must be an owned type: use `{}` instead of a reference, since the value is sent to another process", self.what, self.item, owned_text(&node.elem));
            self.errors.push(node, msg);
        }
        fn visit_type_impl_trait(&mut self, node: &'ast syn::TypeImplTrait) {
            let msg = format!("`impl Trait` cannot be the {} of {}: name a concrete type that implements Serialize and Deserialize", self.what, self.item);
            self.errors.push(node, msg);
        }
        fn visit_lifetime(&mut self, node: &'ast syn::Lifetime) {
            if node.ident != "static" {
                let msg = format!(
                    "a {} of {} cannot borrow: use owned data (`'static`) instead of `{node}`",
                    self.what, self.item
                );
                self.errors.push(node, msg);
            }
        }
    }
    Check { what, item, errors }.visit_type(ty);
}

/// The owned counterpart of a borrowed type, as text: `String` for `str`, `Vec<T>` for `[T]`.
fn owned_text(ty: &Type) -> String {
    match ty {
        Type::Path(p) if p.path.is_ident("str") => "String".into(),
        Type::Path(p) if p.path.is_ident("Path") => "PathBuf".into(),
        Type::Slice(slice) => format!("Vec<{}>", type_text(&slice.elem)),
        other => type_text(other),
    }
}

fn type_text(ty: &Type) -> String {
    quote::quote!(#ty).to_string().replace(" < ", "<").replace(" >", ">").replace(" ,", ",")
}

/// Collects every error instead of stopping at the first.
#[derive(Default)]
pub struct Errors(Option<Error>);

impl Errors {
    pub fn push(&mut self, tokens: impl quote::ToTokens, msg: impl std::fmt::Display) {
        self.add(Error::new_spanned(tokens, msg));
    }
    pub fn push_span(&mut self, span: Span, msg: impl std::fmt::Display) {
        self.add(Error::new(span, msg));
    }
    fn add(&mut self, err: Error) {
        match &mut self.0 {
            Some(all) => all.combine(err),
            None => self.0 = Some(err),
        }
    }
    pub fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(ty: Type) -> Option<String> {
        let param = Param { name: Ident::new("x", proc_macro2::Span::call_site()), ty };
        param.shared().map(|t| quote::quote!(#t).to_string())
    }

    #[test]
    fn only_the_standard_arc_of_a_sized_type_is_shared() {
        assert_eq!(shared(syn::parse_quote!(Arc<Table>)).as_deref(), Some("Table"));
        assert_eq!(
            shared(syn::parse_quote!(std::sync::Arc<Vec<u8>>)).as_deref(),
            Some("Vec < u8 >")
        );
        assert_eq!(shared(syn::parse_quote!(::std::sync::Arc<u8>)).as_deref(), Some("u8"));
        assert_eq!(shared(syn::parse_quote!(sync::Arc<u8>)).as_deref(), Some("u8"));
        assert_eq!(shared(syn::parse_quote!(alloc::sync::Arc<u8>)).as_deref(), Some("u8"));
        for taken_as_itself in [
            syn::parse_quote!(triomphe::Arc<u8>),
            syn::parse_quote!(my::Arc<u8>),
            syn::parse_quote!(Arc<str>),
            syn::parse_quote!(Arc<[u8]>),
            syn::parse_quote!(Arc<dyn Send>),
            syn::parse_quote!(Vec<Arc<u8>>),
            syn::parse_quote!(Rc<u8>),
            syn::parse_quote!(Arc),
        ] {
            let ty: Type = taken_as_itself;
            assert_eq!(shared(ty.clone()), None, "{}", quote::quote!(#ty));
        }
    }
}
