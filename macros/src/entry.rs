//! Expansion of `#[corering::main]` and `#[corering::test]`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ItemFn, Lit, MetaNameValue, Token};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Main,
    Test,
}

struct Options {
    entries: Option<u32>,
    pin: bool,
}

pub(crate) fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(e) => return with_item(e, item),
    };
    match options(kind, args).and_then(|o| check(kind, &func).map(|()| o)) {
        Ok(opts) => generate(kind, func, opts),
        Err(e) => with_item(e, inert(func)),
    }
}

/// The user's function, still type-checked (so editors keep working) but
/// neither `async` nor runnable, so the spanned error is the only one.
fn inert(mut func: ItemFn) -> TokenStream {
    let body = &func.block;
    // The body's value is given the function's return type, so that e.g.
    // `Ok(())` infers its error type as it would have (no second error).
    let output = match &func.sig.output {
        syn::ReturnType::Default => Some(quote!(())),
        syn::ReturnType::Type(_, ty) if nameable(ty) => Some(quote!(#ty)),
        syn::ReturnType::Type(..) => None,
    };
    let block = match output {
        Some(ty) => quote!({
            let _: ::core::pin::Pin<
                ::std::boxed::Box<dyn ::core::future::Future<Output = #ty>>,
            > = ::std::boxed::Box::pin(async move #body);
            ::core::unreachable!()
        }),
        None => quote!({
            let _ = async move #body;
            ::core::unreachable!()
        }),
    };
    *func.block = syn::parse2(block).expect("a block");
    func.sig.asyncness = None;
    quote!(#func)
}

/// Whether `ty` can be written as a future's `Output` in a type: not `!`,
/// and no `impl Trait` anywhere inside.
fn nameable(ty: &syn::Type) -> bool {
    fn has_impl(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|t| match t {
            proc_macro2::TokenTree::Ident(i) => i == "impl",
            proc_macro2::TokenTree::Group(g) => has_impl(g.stream()),
            _ => false,
        })
    }
    !matches!(ty, syn::Type::Never(_)) && !has_impl(quote!(#ty))
}

/// Report `err` but still emit the user's item, so editors keep working.
fn with_item(err: syn::Error, item: TokenStream) -> TokenStream {
    let err = err.to_compile_error();
    quote! { #err #item }
}

fn options(kind: Kind, args: TokenStream) -> syn::Result<Options> {
    let mut opts = Options { entries: None, pin: kind == Kind::Main };
    let pairs = Punctuated::<MetaNameValue, Token![,]>::parse_terminated.parse2(args)?;
    for pair in pairs {
        let name = pair.path.get_ident().map(|i| i.to_string()).unwrap_or_default();
        match name.as_str() {
            "entries" => {
                let n: u32 = int(&pair.value)?;
                if !n.is_power_of_two() || n > 32768 {
                    return Err(syn::Error::new(
                        pair.value.span(),
                        "`entries` must be a power of two from 1 to 32768",
                    ));
                }
                opts.entries = Some(n);
            }
            "workers" => {
                let n: usize = int(&pair.value)?;
                if n != 1 {
                    return Err(syn::Error::new(
                        pair.value.span(),
                        "`workers` must be 1 for now: one worker on the calling thread",
                    ));
                }
            }
            "pin" => match &pair.value {
                Expr::Lit(ExprLit { lit: Lit::Bool(b), .. }) => opts.pin = b.value,
                other => {
                    return Err(syn::Error::new(other.span(), "`pin` takes `true` or `false`"));
                }
            },
            _ => {
                return Err(syn::Error::new(
                    pair.path.span(),
                    "unknown option; expected `entries`, `workers` or `pin`",
                ));
            }
        }
    }
    Ok(opts)
}

fn int<N: std::str::FromStr<Err = std::num::ParseIntError> + std::fmt::Display>(
    value: &Expr,
) -> syn::Result<N> {
    match value {
        Expr::Lit(ExprLit { lit: Lit::Int(i), .. }) => i.base10_parse(),
        other => Err(syn::Error::new(other.span(), "expected an integer literal")),
    }
}

fn check(kind: Kind, func: &ItemFn) -> syn::Result<()> {
    let sig = &func.sig;
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(sig.fn_token.span, "the function must be `async fn`"));
    }
    if kind == Kind::Main && sig.ident != "main" {
        return Err(syn::Error::new(sig.ident.span(), "#[corering::main] goes on `async fn main`"));
    }
    if !sig.inputs.is_empty() {
        return Err(syn::Error::new(sig.inputs.span(), "the function must take no arguments"));
    }
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new(sig.generics.span(), "the function must not be generic"));
    }
    Ok(())
}

fn generate(kind: Kind, mut func: ItemFn, opts: Options) -> TokenStream {
    let span = func.sig.ident.span();
    let body = &func.block;
    let pin = opts.pin;
    let entries = opts.entries.map(|n| quote!(.ring_entries(#n)));
    let run = quote_spanned! {span=>
        ::corering::Runtime::builder()
            #entries
            .pin(#pin)
            .build()
            .unwrap_or_else(|e| panic!("corering: cannot start the runtime: {e}"))
            .block_on(async move #body)
    };
    func.sig.asyncness = None;
    let attrs = &func.attrs;
    let vis = &func.vis;
    let sig = &func.sig;
    let test_attr = (kind == Kind::Test).then(|| quote!(#[::core::prelude::v1::test]));
    quote! {
        #test_attr
        #(#attrs)*
        #vis #sig {
            #run
        }
    }
}
