//! Operations on names in directories: [`create_dir`], [`remove_dir`],
//! [`remove_file`] and [`rename`], one SQE each. Relative paths are taken
//! from the process's working directory.

use std::io;
use std::path::Path;

use super::ops;

/// Create the directory `path` (its parent must exist), with mode `0o777`
/// less the umask; through `IORING_OP_MKDIRAT` (Linux 5.15 or later).
///
/// # Examples
///
/// ```
/// #[corering::main(pin = false)]
/// async fn main() -> std::io::Result<()> {
/// #   let dir = std::env::temp_dir()
/// #       .join(format!("corering-doc-{}-create-dir", std::process::id()));
///     corering::fs::create_dir(&dir).await?;
///     assert!(corering::fs::metadata(&dir).await?.is_dir());
///     let again = corering::fs::create_dir(&dir).await.unwrap_err();
///     assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
/// #   corering::fs::remove_dir(&dir).await?;
///     Ok(())
/// }
/// ```
///
/// # Errors
///
/// The kernel's: `AlreadyExists`, `NotFound` (no parent),
/// `PermissionDenied`, ...; `InvalidInput` for a path with a NUL byte;
/// `Unsupported`, naming the kernel needed, on a kernel without the opcode.
///
/// # Panics
///
/// When polled outside a corering runtime.
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    ops::mkdir(ops::c_path(path.as_ref())?, 0o777).await
}

/// Remove the empty directory `path`; through `IORING_OP_UNLINKAT` with
/// `AT_REMOVEDIR` (Linux 5.11 or later).
///
/// # Examples
///
/// ```
/// #[corering::main(pin = false)]
/// async fn main() -> std::io::Result<()> {
/// #   let dir = std::env::temp_dir()
/// #       .join(format!("corering-doc-{}-remove-dir", std::process::id()));
///     corering::fs::create_dir(&dir).await?;
///     corering::fs::remove_dir(&dir).await?;
///     let gone = corering::fs::metadata(&dir).await.unwrap_err();
///     assert_eq!(gone.kind(), std::io::ErrorKind::NotFound);
///     Ok(())
/// }
/// ```
///
/// # Errors
///
/// The kernel's: `NotFound`, `DirectoryNotEmpty`, `NotADirectory`,
/// `PermissionDenied`, ...; as [`create_dir`] for the rest.
///
/// # Panics
///
/// When polled outside a corering runtime.
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    ops::unlink(ops::c_path(path.as_ref())?, libc::AT_REMOVEDIR).await
}

/// Remove the file (or symlink, not what it points at) `path`; through
/// `IORING_OP_UNLINKAT` (Linux 5.11 or later). Open handles keep the
/// file's contents until they close.
///
/// # Examples
///
/// ```
/// #[corering::main(pin = false)]
/// async fn main() -> std::io::Result<()> {
/// #   let path = std::env::temp_dir()
/// #       .join(format!("corering-doc-{}-remove-file", std::process::id()));
///     corering::fs::write(&path, b"short-lived").await?;
///     corering::fs::remove_file(&path).await?;
///     let again = corering::fs::remove_file(&path).await.unwrap_err();
///     assert_eq!(again.kind(), std::io::ErrorKind::NotFound);
///     Ok(())
/// }
/// ```
///
/// # Errors
///
/// The kernel's: `NotFound`, `PermissionDenied`, `IsADirectory` (use
/// [`remove_dir`]), ...; as [`create_dir`] for the rest.
///
/// # Panics
///
/// When polled outside a corering runtime.
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    ops::unlink(ops::c_path(path.as_ref())?, 0).await
}

/// Rename `from` to `to`, replacing `to` if it exists (a file by a file,
/// an empty directory by a directory), atomically; through
/// `IORING_OP_RENAMEAT` (Linux 5.11 or later).
///
/// # Examples
///
/// ```
/// #[corering::main(pin = false)]
/// async fn main() -> std::io::Result<()> {
/// #   let tmp = std::env::temp_dir();
/// #   let id = std::process::id();
/// #   let (from, to) = (tmp.join(format!("corering-doc-{id}-rename-from")),
/// #       tmp.join(format!("corering-doc-{id}-rename-to")));
///     corering::fs::write(&from, b"moved").await?;
///     corering::fs::rename(&from, &to).await?;
///     assert_eq!(corering::fs::read(&to).await?, b"moved");
/// #   corering::fs::remove_file(&to).await?;
///     Ok(())
/// }
/// ```
///
/// # Errors
///
/// The kernel's: `NotFound`, `CrossesDevices` (another file system: copy
/// then remove instead), `IsADirectory`, `DirectoryNotEmpty`,
/// `PermissionDenied`, ...; as [`create_dir`] for the rest.
///
/// # Panics
///
/// When polled outside a corering runtime.
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let (from, to) = (ops::c_path(from.as_ref())?, ops::c_path(to.as_ref())?);
    ops::rename(from, to).await
}
