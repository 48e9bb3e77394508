//! Files on the worker's ring: [`File`] with positional reads and writes of
//! owned buffers, [`OpenOptions`], [`Metadata`], and whole-file and
//! directory functions ([`read`], [`write`](fn@write), [`create_dir`], [`rename`],
//! ...).
//!
//! Every call is one or a few SQEs on the worker's ring: opening is
//! `IORING_OP_OPENAT`, reads and writes are `READ`/`WRITE` at an offset,
//! `sync_*` is `FSYNC`, metadata is `STATX`, names in directories are
//! `MKDIRAT`, `UNLINKAT` and `RENAMEAT`, and a close is `CLOSE`. There is
//! no blocking thread pool in corering: where a file operation must wait
//! for the device, the kernel hands it to its own io-wq threads, and the
//! worker goes on running its other tasks. Each operation owns what its
//! SQE points at (the path as a heap `CString`, the buffer, the `statx`
//! result), so a future dropped in flight leaves nothing the kernel could
//! write into after it is freed, and holds the file open until the kernel
//! is done. This module talks to the runtime only through its operations;
//! it never blocks the worker and never calls a file syscall itself.
//!
//! ```
//! use corering::fs::{self, File};
//!
//! #[corering::main(pin = false)]
//! async fn main() -> std::io::Result<()> {
//! #   let path = std::env::temp_dir().join(format!("corering-doc-{}-fs", std::process::id()));
//!     fs::write(&path, b"hello").await?;
//!     let file = File::open(&path).await?;
//!     let (res, buf) = file.read_at(Vec::with_capacity(16), 0).await;
//!     assert_eq!(&buf[..res?], b"hello");
//!     fs::remove_file(&path).await?;
//!     Ok(())
//! }
//! ```
//!
//! # Kernels
//!
//! corering targets Linux 6.0 and later, where every opcode below exists.
//! On an older kernel that still runs the ring, a call whose opcode is
//! missing fails with `Unsupported`, naming the opcode and the kernel that
//! has it (the ring is probed only when the kernel answers `EINVAL`).
//!
//! | calls | opcode | Linux |
//! |---|---|---|
//! | `sync_all`, `sync_data` | `IORING_OP_FSYNC` | 5.1 |
//! | `File::open`, `File::create`, `OpenOptions::open` | `IORING_OP_OPENAT` | 5.6 |
//! | `read_at`, `read_exact_at`, `read` | `IORING_OP_READ` | 5.6 |
//! | `write_at`, `write_all_at`, `write` | `IORING_OP_WRITE` | 5.6 |
//! | `File::metadata`, `metadata`, `read` | `IORING_OP_STATX` | 5.6 |
//! | `File::close` (and a dropped `File`) | `IORING_OP_CLOSE` | 5.6 |
//! | `remove_file`, `remove_dir` | `IORING_OP_UNLINKAT` | 5.11 |
//! | `rename` | `IORING_OP_RENAMEAT` | 5.11 |
//! | `create_dir` | `IORING_OP_MKDIRAT` | 5.15 |

mod contents;
mod dir;
mod file;
mod metadata;
mod open_options;
mod ops;

pub use contents::{read, write};
pub use dir::{create_dir, remove_dir, remove_file, rename};
pub use file::File;
pub use metadata::{Metadata, metadata};
pub use open_options::OpenOptions;
