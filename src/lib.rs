//! corering: a thread-per-core async runtime for Linux, built directly on
//! io_uring.
//!
//! Each worker is a thread that owns one io_uring (pinned to one CPU with
//! `Builder::pin(true)`); nothing is shared between workers except explicit
//! messages ([`spawn_on`], or any runtime-agnostic channel). Tasks need not
//! be `Send`: they never leave their worker.
//!
//! ```
//! use std::time::Duration;
//!
//! #[corering::main(pin = false)]
//! async fn main() {
//!     let task = corering::spawn(async {
//!         corering::time::sleep(Duration::from_millis(1)).await;
//!         "done"
//!     });
//!     assert_eq!(task.await.unwrap(), "done");
//! }
//! ```
//!
//! The layers, bottom up: [`uring`] (corering's own io_uring engine on raw
//! syscalls), [`runtime`] (workers, tasks, wakers, operations, the idle
//! park), [`time`] (timers), [`net`] (sockets) and [`fs`] (files), with
//! [`buf`] (the owned-buffer traits their I/O takes), and [`signal`] (Unix
//! signals as futures and streams).

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub,
    clippy::undocumented_unsafe_blocks
)]

pub mod buf;
pub mod compat;
pub mod fs;
pub mod net;
pub mod runtime;
pub mod signal;
pub mod time;
pub mod uring;

pub use corering_macros::{main, test};
pub use runtime::{
    Builder, Faults, Handle, JoinError, JoinHandle, Metrics, Runtime, TryCurrentError, YieldNow,
    metrics, ring_setup_flags, spawn, spawn_blocking, spawn_on, spawn_on_all, worker_count,
    worker_id, yield_now,
};
