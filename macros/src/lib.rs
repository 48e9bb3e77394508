//! Procedural macros for corering: `#[corering::main]` and
//! `#[corering::test]`. The logic lives in `entry.rs`.

mod entry;

use proc_macro::TokenStream;

/// Run an `async fn main` on a corering runtime.
///
/// `main` runs on worker 0, on the process's main thread. When it returns,
/// the runtime is dropped: every worker stops, drops its tasks on its own
/// thread and is joined, and only then does the process exit with `main`'s
/// result.
///
/// Options, all optional:
///
/// - `workers = N`: N workers (N from 1 up; default 1, the main thread
///   alone). Workers 1.. are threads named `corering-w{i}`.
///   `workers = "per_cpu"`: one worker per CPU the main thread may run on
///   (its `sched_getaffinity` set). `workers = 0` is refused rather than
///   given a meaning: write what you mean.
/// - `pin = bool`: pin worker `i` to the `i`-th allowed CPU (default
///   false, as `Builder::pin`).
/// - `entries = N`: SQ entries of each worker's ring (a power of two).
///
/// ```ignore
/// #[corering::main(workers = 4)]
/// async fn main() -> std::io::Result<()> {
///     for h in corering::spawn_on_all(|| async { corering::worker_id() }) {
///         println!("hello from worker {}", h.await?);
///     }
///     Ok(())
/// }
/// ```
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(entry::Kind::Main, args.into(), item.into()).into()
}

/// Run an `async fn` test on its own corering runtime (one worker, not
/// pinned, unless the options say otherwise). Same options as `main`.
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
