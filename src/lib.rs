//! corering: a thread-per-core async runtime for Linux, built directly on
//! io_uring.
//!
//! Each worker thread is pinned to one CPU and owns one io_uring; nothing is
//! shared between workers except explicit messages. This release ships the
//! lowest layer, [`uring`]: corering's own io_uring engine on raw syscalls.
//!
//! ```
//! use corering::uring::IoUring;
//!
//! let mut ring = IoUring::new(8)?;
//! ring.prep_nop(7)?;
//! ring.submit_and_wait(1)?;
//! assert_eq!(ring.completions().next().map(|c| c.user_data()), Some(7));
//! # Ok::<(), std::io::Error>(())
//! ```

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub,
    clippy::undocumented_unsafe_blocks
)]

pub mod uring;
