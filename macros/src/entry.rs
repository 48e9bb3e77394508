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
    workers: Option<Workers>,
    pin: Option<bool>,
}

/// How many workers the runtime gets.
enum Workers {
    /// This many, at least 1.
    Count(usize),
    /// One per CPU the calling thread may run on.
    PerCpu,
}

/// The options the macros take.
const OPTIONS: [&str; 3] = ["entries", "workers", "pin"];

pub(crate) fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(e) => return with_item(e, item),
    };
    match options(args).and_then(|o| check(kind, &func).map(|()| o)) {
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

fn options(args: TokenStream) -> syn::Result<Options> {
    let mut opts = Options { entries: None, workers: None, pin: None };
    let pairs = Punctuated::<MetaNameValue, Token![,]>::parse_terminated.parse2(args)?;
    let mut seen = Vec::new();
    for pair in pairs {
        let name = pair.path.get_ident().map(|i| i.to_string()).unwrap_or_default();
        if seen.contains(&name) {
            return Err(syn::Error::new(pair.path.span(), format!("`{name}` is given twice")));
        }
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
            "workers" => opts.workers = Some(workers(&pair.value)?),
            "pin" => match &pair.value {
                Expr::Lit(ExprLit { lit: Lit::Bool(b), .. }) => opts.pin = Some(b.value),
                other => {
                    return Err(syn::Error::new(other.span(), "`pin` takes `true` or `false`"));
                }
            },
            _ => return Err(unknown(&pair.path, &name)),
        }
        seen.push(name);
    }
    Ok(opts)
}

/// `workers = N` (N >= 1) or `workers = "per_cpu"`.
fn workers(value: &Expr) -> syn::Result<Workers> {
    const EXPECTED: &str = "`workers` takes a whole number of workers from 1 up (`workers = 4`), or \
         \"per_cpu\" for one worker per CPU this thread may run on";
    let negative = || {
        syn::Error::new(
            value.span(),
            "`workers` cannot be negative: it takes a whole number of workers from 1 up, or \
             \"per_cpu\"",
        )
    };
    match value {
        // syn reads `-2` as one negative literal, or as a negation.
        Expr::Lit(ExprLit { lit: Lit::Int(i), .. }) if i.base10_digits().starts_with('-') => {
            Err(negative())
        }
        Expr::Unary(syn::ExprUnary { op: syn::UnOp::Neg(_), .. }) => Err(negative()),
        Expr::Lit(ExprLit { lit: Lit::Int(i), .. }) => match i.base10_parse::<usize>()? {
            0 => Err(syn::Error::new(
                i.span(),
                "`workers = 0` is not a number of workers; for one worker per CPU this thread \
                 may run on, write `workers = \"per_cpu\"`",
            )),
            n => Ok(Workers::Count(n)),
        },
        Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) if s.value() == "per_cpu" => {
            Ok(Workers::PerCpu)
        }
        other => Err(syn::Error::new(other.span(), EXPECTED)),
    }
}

/// An unknown option, with the known one it is closest to, if any.
fn unknown(path: &syn::Path, name: &str) -> syn::Error {
    let expected = "expected `entries`, `workers` or `pin`";
    let near = OPTIONS.iter().find(|known| edit_distance(name, known) <= 2);
    let msg = match near {
        Some(known) if !name.is_empty() => {
            format!("unknown option `{name}`; did you mean `{known}`? ({expected})")
        }
        _ if !name.is_empty() => format!("unknown option `{name}`; {expected}"),
        _ => format!("unknown option; {expected}"),
    };
    syn::Error::new(path.span(), msg)
}

/// Levenshtein distance, for the hint on a misspelt option.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    row[b.len()]
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
    let entries = opts.entries.map(|n| quote!(.ring_entries(#n)));
    let workers = opts.workers.map(|w| match w {
        Workers::Count(n) => quote!(.workers(#n)),
        Workers::PerCpu => quote!(.workers_per_cpu()),
    });
    let pin = opts.pin.map(|p| quote!(.pin(#p)));
    // Hygienic names: the user's body cannot see or shadow them.
    let rt = proc_macro2::Ident::new("runtime", proc_macro2::Span::mixed_site());
    let out = proc_macro2::Ident::new("output", proc_macro2::Span::mixed_site());
    let run = quote_spanned! {span=>
        let #rt = ::corering::Runtime::builder()
            #entries
            #workers
            #pin
            .build()
            .unwrap_or_else(|e| panic!("corering: cannot start the runtime: {e}"));
        let #out = #rt.block_on(async move #body);
        // Every worker stops, drops its tasks on its own thread and is
        // joined before the function returns its output.
        ::core::mem::drop(#rt);
        #out
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
