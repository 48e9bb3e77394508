//! corering's own io_uring engine, on raw syscalls: set-up and the three
//! shared mappings ([`IoUring`]), `prep_*` methods that queue SQEs, one
//! [`IoUring::submit_and_wait`], one [`IoUring::completions`], and
//! provided-buffer rings ([`ProvidedBufRing`]).
//!
//! This layer knows nothing of futures or tasks and allocates nothing per
//! operation. It never keeps memory alive on the caller's behalf: whatever an
//! SQE points at must outlive the SQE's final completion, which is the
//! contract of every `unsafe` method here.
//!
//! # Examples
//!
//! ```
//! use corering::uring::IoUring;
//!
//! let (r, w) = std::io::pipe()?;
//! # use std::os::fd::AsRawFd;
//! let mut ring = IoUring::new(8)?;
//! let msg = b"hello";
//! let mut buf = [0u8; 5];
//! // SAFETY: `msg` and `buf` outlive the completions reaped below.
//! unsafe {
//!     ring.prep_write(w.as_raw_fd(), msg.as_ptr(), 5, u64::MAX, 1)?;
//!     ring.prep_read(r.as_raw_fd(), buf.as_mut_ptr(), 5, u64::MAX, 2)?;
//! }
//! let mut done = 0;
//! while done < 2 {
//!     ring.submit_and_wait(1)?;
//!     for cqe in ring.completions() {
//!         assert_eq!(cqe.result()?, 5);
//!         done += 1;
//!     }
//! }
//! assert_eq!(&buf, b"hello");
//! # Ok::<(), std::io::Error>(())
//! ```

mod buf_ring;
mod completion;
mod prep;
mod probe;
mod region;
mod ring;
pub(crate) mod setup;
pub mod sys;

pub(crate) use buf_ring::check_size as check_buf_ring_size;
pub use buf_ring::{MAX_BUF_RING_ENTRIES, ProvidedBufRing};
pub use completion::{Completion, Completions};
pub use prep::Prepped;
pub use probe::Probe;
pub(crate) use ring::FORKED;
pub use ring::{IoUring, SqFull};
pub use setup::{Builder, MAX_CQ_ENTRIES, MAX_ENTRIES};
