//! `OpenOptions`: which access and creation mode a file is opened with,
//! turned into `open(2)` flags, checked before anything reaches the ring.

use std::io;
use std::path::Path;

use super::File;
use super::ops;

/// How to open a file: the same switches as [`std::fs::OpenOptions`]
/// (with [`mode`](Self::mode) from its `OpenOptionsExt`), opening through
/// `IORING_OP_OPENAT` (Linux 5.6 or later). The file is always opened
/// close-on-exec.
///
/// # Examples
///
/// ```
/// use corering::fs::OpenOptions;
///
/// #[corering::main(pin = false)]
/// async fn main() -> std::io::Result<()> {
/// #   let path = std::env::temp_dir()
/// #       .join(format!("corering-doc-{}-open-options", std::process::id()));
///     let log = OpenOptions::new().append(true).create(true).mode(0o600).open(&path).await?;
///     let (res, _) = log.write_all_at(b"one line\n", 0).await;
///     res?;
///     log.close().await?;
/// #   corering::fs::remove_file(&path).await?;
///     Ok(())
/// }
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    mode: u32,
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions::new()
    }
}

impl OpenOptions {
    /// Every switch off, and mode `0o666` (less the process's umask) for a
    /// file that gets created.
    ///
    /// # Examples
    ///
    /// ```
    /// use corering::fs::OpenOptions;
    ///
    /// #[corering::main(pin = false)]
    /// async fn main() -> std::io::Result<()> {
    /// #   let path = std::env::temp_dir()
    /// #       .join(format!("corering-doc-{}-options-new", std::process::id()));
    ///     let file = OpenOptions::new().write(true).create(true).open(&path).await?;
    /// #   drop(file);
    /// #   corering::fs::remove_file(&path).await?;
    ///     Ok(())
    /// }
    /// ```
    pub fn new() -> OpenOptions {
        OpenOptions {
            read: false,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            mode: 0o666,
        }
    }

    /// Open for reading.
    ///
    /// # Examples
    ///
    /// ```
    /// use corering::fs::OpenOptions;
    ///
    /// #[corering::main(pin = false)]
    /// async fn main() -> std::io::Result<()> {
    /// #   let path = std::env::temp_dir()
    /// #       .join(format!("corering-doc-{}-options-read", std::process::id()));
    ///     corering::fs::write(&path, b"text").await?;
    ///     let file = OpenOptions::new().read(true).open(&path).await?;
    ///     let (res, _) = file.read_at(Vec::with_capacity(4), 0).await;
    ///     assert_eq!(res?, 4);
    /// #   corering::fs::remove_file(&path).await?;
    ///     Ok(())
    /// }
    /// ```
    pub fn read(&mut self, read: bool) -> &mut OpenOptions {
        self.read = read;
        self
    }

    /// Open for writing.
    ///
    /// # Examples
    ///
    /// ```
    /// use corering::fs::OpenOptions;
    ///
    /// #[corering::main(pin = false)]
    /// async fn main() -> std::io::Result<()> {
    /// #   let path = std::env::temp_dir()
    /// #       .join(format!("corering-doc-{}-options-write", std::process::id()));
    ///     corering::fs::write(&path, b"old text").await?;
    ///     let file = OpenOptions::new().write(true).open(&path).await?;
    ///     let (res, _) = file.write_all_at(b"new", 0).await;
    ///     res?;
    ///     assert_eq!(corering::fs::read(&path).await?, b"new text");
    /// #   corering::fs::remove_file(&path).await?;
    ///     Ok(())
    /// }
    /// ```
    pub fn write(&mut self, write: bool) -> &mut OpenOptions {
        self.write = write;
        self
    }

    /// Open for appending (implies writing): every write goes to the end of
    /// the file, whatever offset it was given (`O_APPEND`; Linux ignores
    /// `pwrite`'s offset on such a file, and so does io_uring's write).
    ///
    /// # Examples
    ///
    /// ```
    /// use corering::fs::OpenOptions;
    ///
    /// #[corering::main(pin = false)]
    /// async fn main() -> std::io::Result<()> {
    /// #   let path = std::env::temp_dir()
    /// #       .join(format!("corering-doc-{}-options-append", std::process::id()));
    ///     corering::fs::write(&path, b"one\n").await?;
    ///     let file = OpenOptions::new().append(true).open(&path).await?;
    ///     let (res, _) = file.write_all_at(b"two\n", 0).await; // the offset is ignored
    ///     res?;
    ///     assert_eq!(corering::fs::read(&path).await?, b"one\ntwo\n");
    /// #   corering::fs::remove_file(&path).await?;
    ///     Ok(())
    /// }
    /// ```
    pub fn append(&mut self, append: bool) -> &mut OpenOptions {
        self.append = append;
        self
    }

    /// Cut an existing file to length 0 (needs `write`).
    ///
    /// # Examples
    ///
    /// ```
    /// use corering::fs::OpenOptions;
    ///
    /// #[corering::main(pin = false)]
    /// async fn main() -> std::io::Result<()> {
    /// #   let path = std::env::temp_dir()
    /// #       .join(format!("corering-doc-{}-options-truncate", std::process::id()));
    ///     corering::fs::write(&path, b"forgotten").await?;
    ///     let file = OpenOptions::new().write(true).truncate(true).open(&path).await?;
    ///     assert_eq!(file.metadata().await?.len(), 0);
    /// #   corering::fs::remove_file(&path).await?;
    ///     Ok(())
    /// }
    /// ```
    pub fn truncate(&mut self, truncate: bool) -> &mut OpenOptions {
        self.truncate = truncate;
        self
    }

    /// Create the file if it does not exist (needs `write` or `append`).
    ///
    /// # Examples
    ///
    /// ```
    /// use corering::fs::OpenOptions;
    ///
    /// #[corering::main(pin = false)]
    /// async fn main() -> std::io::Result<()> {
    /// #   let path = std::env::temp_dir()
    /// #       .join(format!("corering-doc-{}-options-create", std::process::id()));
    ///     let file = OpenOptions::new().write(true).create(true).open(&path).await?;
    ///     assert!(file.metadata().await?.is_file());
    /// #   corering::fs::remove_file(&path).await?;
    ///     Ok(())
    /// }
    /// ```
    pub fn create(&mut self, create: bool) -> &mut OpenOptions {
        self.create = create;
        self
    }

    /// Create the file, failing with `AlreadyExists` if anything exists at
    /// the path, a symlink included (`O_CREAT | O_EXCL`; needs `write` or
    /// `append`). `create` and `truncate` are then ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use corering::fs::OpenOptions;
    ///
    /// #[corering::main(pin = false)]
    /// async fn main() -> std::io::Result<()> {
    /// #   let path = std::env::temp_dir()
    /// #       .join(format!("corering-doc-{}-options-create-new", std::process::id()));
    ///     let options = OpenOptions::new().write(true).create_new(true).clone();
    ///     let file = options.open(&path).await?;
    ///     let again = options.open(&path).await.unwrap_err();
    ///     assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
    /// #   drop(file);
    /// #   corering::fs::remove_file(&path).await?;
    ///     Ok(())
    /// }
    /// ```
    pub fn create_new(&mut self, create_new: bool) -> &mut OpenOptions {
        self.create_new = create_new;
        self
    }

    /// The permission bits of a file this creates (before the umask);
    /// `0o666` by default.
    ///
    /// # Examples
    ///
    /// ```
    /// use corering::fs::OpenOptions;
    ///
    /// #[corering::main(pin = false)]
    /// async fn main() -> std::io::Result<()> {
    /// #   let path = std::env::temp_dir()
    /// #       .join(format!("corering-doc-{}-options-mode", std::process::id()));
    ///     use std::os::unix::fs::PermissionsExt;
    ///
    ///     let file = OpenOptions::new().write(true).create(true).mode(0o600).open(&path).await?;
    ///     let mode = file.metadata().await?.permissions().mode();
    ///     assert_eq!(mode & 0o077, 0, "no access for group and others");
    /// #   corering::fs::remove_file(&path).await?;
    ///     Ok(())
    /// }
    /// ```
    pub fn mode(&mut self, mode: u32) -> &mut OpenOptions {
        self.mode = mode;
        self
    }

    /// Open the file at `path` with these options.
    ///
    /// # Examples
    ///
    /// ```
    /// use corering::fs::OpenOptions;
    ///
    /// #[corering::main(pin = false)]
    /// async fn main() -> std::io::Result<()> {
    /// #   let path = std::env::temp_dir()
    /// #       .join(format!("corering-doc-{}-options-open", std::process::id()));
    ///     let err = OpenOptions::new().read(true).open(&path).await.unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    ///     let err = OpenOptions::new().read(true).create(true).open(&path).await.unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput); // create needs write access
    /// #   corering::fs::write(&path, b"").await?;
    /// #   corering::fs::remove_file(&path).await?;
    ///     Ok(())
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// `InvalidInput` for contradictory switches (none of read, write and
    /// append; truncate, create or create_new without write access;
    /// truncate with append) or a path holding a NUL byte; otherwise the
    /// kernel's: `NotFound`, `PermissionDenied`, `AlreadyExists` (with
    /// `create_new`), `IsADirectory` (a directory opened for writing), ...
    ///
    /// # Panics
    ///
    /// When polled outside a corering runtime.
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let flags = self.flags()?;
        let path = ops::c_path(path.as_ref())?;
        let fd = ops::open(path, flags, self.mode).await?;
        Ok(File::from_fd(fd))
    }

    /// The `open(2)` flags these switches ask for (without `O_CLOEXEC`,
    /// which is always added).
    fn flags(&self) -> io::Result<i32> {
        let writes = self.write || self.append;
        let access = match (self.read, writes) {
            (true, false) => libc::O_RDONLY,
            (false, true) => libc::O_WRONLY,
            (true, true) => libc::O_RDWR,
            (false, false) => {
                return Err(invalid("open a file for read, write or append access (none was set)"));
            }
        };
        if !writes && (self.truncate || self.create || self.create_new) {
            return Err(invalid("truncate, create and create_new need write or append access"));
        }
        if self.append && self.truncate && !self.create_new {
            return Err(invalid("truncate and append contradict each other: choose one"));
        }
        let creation = if self.create_new {
            libc::O_CREAT | libc::O_EXCL
        } else {
            let create = if self.create { libc::O_CREAT } else { 0 };
            let truncate = if self.truncate { libc::O_TRUNC } else { 0 };
            create | truncate
        };
        let append = if self.append { libc::O_APPEND } else { 0 };
        Ok(access | creation | append)
    }
}

fn invalid(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("OpenOptions: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(f: impl FnOnce(&mut OpenOptions) -> &mut OpenOptions) -> io::Result<i32> {
        f(&mut OpenOptions::new()).flags()
    }

    #[test]
    fn switches_become_open_flags() {
        use libc::{O_APPEND, O_CREAT, O_EXCL, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY};
        assert_eq!(flags(|o| o.read(true)).unwrap(), O_RDONLY);
        assert_eq!(flags(|o| o.write(true)).unwrap(), O_WRONLY);
        assert_eq!(flags(|o| o.read(true).write(true)).unwrap(), O_RDWR);
        assert_eq!(flags(|o| o.append(true)).unwrap(), O_WRONLY | O_APPEND);
        assert_eq!(flags(|o| o.read(true).append(true)).unwrap(), O_RDWR | O_APPEND);
        let create = flags(|o| o.write(true).create(true).truncate(true)).unwrap();
        assert_eq!(create, O_WRONLY | O_CREAT | O_TRUNC);
        let new = flags(|o| o.write(true).create(true).truncate(true).create_new(true)).unwrap();
        assert_eq!(new, O_WRONLY | O_CREAT | O_EXCL, "create_new overrides create and truncate");
        let log = flags(|o| o.append(true).create(true)).unwrap();
        assert_eq!(log, O_WRONLY | O_APPEND | O_CREAT);
    }

    #[test]
    fn contradictions_are_refused_with_a_reason() {
        for bad in [
            flags(|o| o),
            flags(|o| o.read(true).create(true)),
            flags(|o| o.read(true).truncate(true)),
            flags(|o| o.read(true).create_new(true)),
            flags(|o| o.append(true).truncate(true)),
        ] {
            let e = bad.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
            assert!(e.to_string().starts_with("OpenOptions: "), "{e}");
        }
    }
}
