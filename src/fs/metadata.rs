//! `Metadata`: the few facts about a file that `statx` reports and most
//! programs ask for (size, kind, modification time, permissions).

use std::fmt;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::ops;

/// What `statx` said about a file: its size, kind, last modification time
/// and permissions. A subset of [`std::fs::Metadata`], with the same
/// meanings; take [`std::fs::metadata`] for the rest (it blocks the worker
/// for one `statx`).
///
/// # Examples
///
/// ```
/// use std::os::unix::fs::PermissionsExt;
///
/// #[corering::main(pin = false)]
/// async fn main() -> std::io::Result<()> {
/// #   let path = std::env::temp_dir()
/// #       .join(format!("corering-doc-{}-metadata", std::process::id()));
///     corering::fs::write(&path, b"twelve bytes").await?;
///     let meta = corering::fs::metadata(&path).await?;
///     assert!(meta.is_file() && !meta.is_dir());
///     assert_eq!(meta.len(), 12);
///     assert!(meta.modified()? <= std::time::SystemTime::now());
///     assert_eq!(meta.permissions().mode() & 0o170000, 0o100000); // S_IFREG
/// #   corering::fs::remove_file(&path).await?;
///     Ok(())
/// }
/// ```
#[derive(Clone)]
pub struct Metadata {
    len: u64,
    /// `st_mode`: the file type and permission bits.
    mode: u32,
    /// `None` when the file system keeps no modification time.
    modified: Option<SystemTime>,
}

impl Metadata {
    pub(super) fn from_statx(stx: &libc::statx) -> Metadata {
        let modified = (stx.stx_mask & libc::STATX_MTIME != 0)
            .then(|| system_time(stx.stx_mtime.tv_sec, stx.stx_mtime.tv_nsec))
            .flatten();
        Metadata { len: stx.stx_size, mode: u32::from(stx.stx_mode), modified }
    }

    /// The size of the file in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// #[corering::main(pin = false)]
    /// async fn main() -> std::io::Result<()> {
    /// #   let path = std::env::temp_dir()
    /// #       .join(format!("corering-doc-{}-meta-len", std::process::id()));
    ///     corering::fs::write(&path, vec![0u8; 1000]).await?;
    ///     assert_eq!(corering::fs::metadata(&path).await?.len(), 1000);
    /// #   corering::fs::remove_file(&path).await?;
    ///     Ok(())
    /// }
    /// ```
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty (its [`len`](Self::len) is 0).
    ///
    /// # Examples
    ///
    /// ```
    /// #[corering::main(pin = false)]
    /// async fn main() -> std::io::Result<()> {
    /// #   let path = std::env::temp_dir()
    /// #       .join(format!("corering-doc-{}-meta-empty", std::process::id()));
    ///     corering::fs::write(&path, b"").await?;
    ///     assert!(corering::fs::metadata(&path).await?.is_empty());
    /// #   corering::fs::remove_file(&path).await?;
    ///     Ok(())
    /// }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether this is a regular file.
    ///
    /// # Examples
    ///
    /// ```
    /// #[corering::main(pin = false)]
    /// async fn main() -> std::io::Result<()> {
    /// #   let path = std::env::temp_dir()
    /// #       .join(format!("corering-doc-{}-meta-file", std::process::id()));
    ///     corering::fs::write(&path, b"x").await?;
    ///     assert!(corering::fs::metadata(&path).await?.is_file());
    ///     assert!(!corering::fs::metadata(std::env::temp_dir()).await?.is_file());
    /// #   corering::fs::remove_file(&path).await?;
    ///     Ok(())
    /// }
    /// ```
    pub fn is_file(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }

    /// Whether this is a directory.
    ///
    /// # Examples
    ///
    /// ```
    /// #[corering::main(pin = false)]
    /// async fn main() -> std::io::Result<()> {
    ///     assert!(corering::fs::metadata(std::env::temp_dir()).await?.is_dir());
    ///     assert!(!corering::fs::metadata("/proc/self/stat").await?.is_dir());
    ///     Ok(())
    /// }
    /// ```
    pub fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }

    /// When the file's contents last changed.
    ///
    /// # Examples
    ///
    /// ```
    /// #[corering::main(pin = false)]
    /// async fn main() -> std::io::Result<()> {
    /// #   let path = std::env::temp_dir()
    /// #       .join(format!("corering-doc-{}-meta-modified", std::process::id()));
    ///     let before = std::time::SystemTime::now();
    ///     corering::fs::write(&path, b"x").await?;
    ///     let modified = corering::fs::metadata(&path).await?.modified()?;
    ///     // The file system's clock may be coarser than the system's.
    ///     assert!(modified + std::time::Duration::from_secs(1) >= before);
    /// #   corering::fs::remove_file(&path).await?;
    ///     Ok(())
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// `Unsupported` if the file system keeps no modification time (or one
    /// no `SystemTime` can hold).
    pub fn modified(&self) -> io::Result<SystemTime> {
        self.modified.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                "the file system reported no modification time for this file",
            )
        })
    }

    /// The permissions, as std's type: [`PermissionsExt::mode`] is the
    /// whole `st_mode` (file type bits included, as std's is), and
    /// [`readonly`](std::fs::Permissions::readonly) says whether no write
    /// bit is set.
    ///
    /// # Examples
    ///
    /// ```
    /// #[corering::main(pin = false)]
    /// async fn main() -> std::io::Result<()> {
    /// #   let path = std::env::temp_dir()
    /// #       .join(format!("corering-doc-{}-meta-permissions", std::process::id()));
    ///     use std::os::unix::fs::PermissionsExt;
    ///
    ///     corering::fs::write(&path, b"x").await?;
    ///     std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444))?;
    ///     let perms = corering::fs::metadata(&path).await?.permissions();
    ///     assert_eq!(perms.mode() & 0o777, 0o444);
    ///     assert!(perms.readonly());
    /// #   corering::fs::remove_file(&path).await?;
    ///     Ok(())
    /// }
    /// ```
    pub fn permissions(&self) -> std::fs::Permissions {
        std::fs::Permissions::from_mode(self.mode)
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metadata")
            .field("len", &self.len)
            .field("mode", &format_args!("{:#o}", self.mode))
            .field("modified", &self.modified)
            .finish()
    }
}

/// A `statx_timestamp` as a `SystemTime`; `None` if it does not fit.
fn system_time(secs: i64, nanos: u32) -> Option<SystemTime> {
    let nanos = Duration::from_nanos(u64::from(nanos));
    if secs >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs as u64))?.checked_add(nanos)
    } else {
        SystemTime::UNIX_EPOCH
            .checked_sub(Duration::from_secs(secs.unsigned_abs()))?
            .checked_add(nanos)
    }
}

/// The metadata of the file at `path` (following symlinks), through one
/// `IORING_OP_STATX` (Linux 5.6 or later).
///
/// # Examples
///
/// ```
/// #[corering::main(pin = false)]
/// async fn main() -> std::io::Result<()> {
///     let meta = corering::fs::metadata(std::env::temp_dir()).await?;
///     assert!(meta.is_dir());
///     Ok(())
/// }
/// ```
///
/// # Errors
///
/// The kernel's: `NotFound`, `PermissionDenied` (a directory on the way
/// may not be searched), ...; `InvalidInput` for a path with a NUL byte.
///
/// # Panics
///
/// Outside a corering runtime.
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let path = ops::c_path(path.as_ref())?;
    Ok(Metadata::from_statx(&ops::statx_path(path).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_before_and_after_the_epoch() {
        let after = system_time(10, 500).unwrap();
        assert_eq!(after.duration_since(SystemTime::UNIX_EPOCH).unwrap(), Duration::new(10, 500));
        // -1.5 s is stored as secs = -2, nanos = 500_000_000.
        let before = system_time(-2, 500_000_000).unwrap();
        let gap = SystemTime::UNIX_EPOCH.duration_since(before).unwrap();
        assert_eq!(gap, Duration::from_millis(1500));
    }

    #[test]
    fn kinds_come_from_the_type_bits() {
        // SAFETY: `statx` is plain integers; all-zero is a valid value.
        let mut stx: libc::statx = unsafe { std::mem::zeroed() };
        stx.stx_mode = (libc::S_IFDIR | 0o755) as u16;
        stx.stx_size = 4096;
        let m = Metadata::from_statx(&stx);
        assert!(m.is_dir() && !m.is_file());
        assert_eq!(m.permissions().mode(), libc::S_IFDIR | 0o755);
        assert_eq!(m.modified().unwrap_err().kind(), io::ErrorKind::Unsupported);
    }
}
