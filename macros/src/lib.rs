//! Procedural macros for corering: `#[corering::main]` and
//! `#[corering::test]`. The logic lives in `entry.rs`.

mod entry;

use proc_macro::TokenStream;

/// Run an `async fn main` on a corering runtime.
///
/// Options: `entries = N` (ring entries, a power of two), `workers = N`
/// (only 1 for now), `pin = bool` (pin the worker to a CPU; default true).
///
/// ```ignore
/// #[corering::main]
/// async fn main() -> std::io::Result<()> {
///     Ok(())
/// }
/// ```
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(entry::Kind::Main, args.into(), item.into()).into()
}

/// Run an `async fn` test on its own corering runtime (not pinned by
/// default, since tests run in parallel). Same options as `main`.
///
/// ```ignore
/// #[corering::test]
/// async fn sleeps() {
///     corering::time::sleep(std::time::Duration::from_millis(1)).await;
/// }
/// ```
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(entry::Kind::Test, args.into(), item.into()).into()
}
