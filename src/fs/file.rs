//! `File`: an open file on the worker's ring, with positional reads and
//! writes of owned buffers, `fsync`, `statx` and an awaited close.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

use crate::buf::{IoBuf, IoBufMut};
use crate::runtime::fd::{self, SharedFd};

use super::{Metadata, OpenOptions, ops};

/// An open file whose I/O goes through the worker's io_uring.
///
/// Reads and writes are positional (`pread`/`pwrite`-like): each names its
/// file offset, and the file has no cursor of its own. They take an owned
/// buffer and give it back with the result, as the socket types do
/// ([`crate::buf`]). Every method takes `&self`, so several operations on
/// one file may be in flight at once (e.g. joined, or from several tasks
/// on this worker holding an `Rc<File>`).
///
/// Dropping a `File` closes it through the ring without waiting, once the
/// last operation in flight on it has ended (a dropped future's operation
/// holds the file open until the kernel is done with its buffer);
/// [`close`](File::close) closes it and waits for the kernel's answer.
/// Like the sockets, a `File` belongs to the worker it was opened on
/// (`!Send`):
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// fn check(file: corering::fs::File) {
///     send(file);
/// }
/// ```
///
/// # Examples
///
/// ```
/// use corering::fs::File;
///
/// #[corering::main(pin = false)]
/// async fn main() -> std::io::Result<()> {
/// #   let path = std::env::temp_dir()
/// #       .join(format!("corering-doc-{}-file", std::process::id()));
///     let file = File::create(&path).await?;
///     let (res, _) = file.write_all_at(b"hello, world", 0).await;
///     res?;
///     let (res, buf) = file.read_at(Vec::with_capacity(5), 7).await;
///     // `File::create` opens write-only: reading is refused by the kernel.
///     assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EBADF));
///     drop(file);
///
///     let file = File::open(&path).await?;
///     let (res, buf) = file.read_at(buf, 7).await;
///     assert_eq!(res?, 5);
///     assert_eq!(buf, b"world");
/// #   corering::fs::remove_file(&path).await?;
///     Ok(())
/// }
/// ```
pub struct File {
    fd: SharedFd,
}

impl File {
    /// Open `path` read-only.
    ///
    /// # Examples
    ///
    /// ```
    /// #[corering::main(pin = false)]
    /// async fn main() {
    ///     let err = corering::fs::File::open("/no/such/file").await.unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`OpenOptions::open`]: `NotFound`, `PermissionDenied`, ...
    ///
    /// # Panics
    ///
    /// When polled outside a corering runtime.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Open `path` write-only, creating it if it does not exist and cutting
    /// it to length 0 if it does.
    ///
    /// # Examples
    ///
    /// ```
    /// #[corering::main(pin = false)]
    /// async fn main() -> std::io::Result<()> {
    /// #   let path = std::env::temp_dir()
    /// #       .join(format!("corering-doc-{}-create", std::process::id()));
    ///     let file = corering::fs::File::create(&path).await?;
    ///     assert_eq!(file.metadata().await?.len(), 0);
    /// #   corering::fs::remove_file(&path).await?;
    ///     Ok(())
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`OpenOptions::open`]: `PermissionDenied`, `IsADirectory`, ...
    ///
    /// # Panics
    ///
    /// When polled outside a corering runtime.
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().write(true).create(true).truncate(true).open(path).await
    }

    /// A blank [`OpenOptions`], to open a file some other way.
    ///
    /// # Examples
    ///
    /// ```
    /// #[corering::main(pin = false)]
    /// async fn main() -> std::io::Result<()> {
    /// #   let path = std::env::temp_dir()
    /// #       .join(format!("corering-doc-{}-options", std::process::id()));
    ///     let file = corering::fs::File::options().read(true).write(true).create(true)
    ///         .open(&path).await?;
    /// #   drop(file);
    /// #   corering::fs::remove_file(&path).await?;
    ///     Ok(())
    /// }
    /// ```
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    pub(super) fn from_fd(fd: OwnedFd) -> File {
        File { fd: SharedFd::new(fd) }
    }

    /// Read into `buf` (up to its `bytes_total`, a `Vec`'s capacity) from
    /// file offset `pos`; returns how many bytes were read (0 at or past the
    /// end of the file; maybe fewer than asked) and the buffer.
    ///
    /// # Examples
    ///
    /// ```
    /// use corering::buf::IoBuf;
    ///
    /// #[corering::main(pin = false)]
    /// async fn main() -> std::io::Result<()> {
    /// #   let path = std::env::temp_dir()
    /// #       .join(format!("corering-doc-{}-read-at", std::process::id()));
    ///     corering::fs::write(&path, b"0123456789").await?;
    ///     let file = corering::fs::File::open(&path).await?;
    ///     // Fill bytes 2..6 of a buffer from file offset 3.
    ///     let (res, slice) = file.read_at(vec![b'.'; 8].slice(2..6), 3).await;
    ///     assert_eq!(res?, 4);
    ///     assert_eq!(slice.into_inner(), b"..3456..");
    /// #   corering::fs::remove_file(&path).await?;
    ///     Ok(())
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// The kernel's: `EBADF` (not open for reading), `IsADirectory`, ...;
    /// `InvalidInput` for `pos` past `i64::MAX`.
    ///
    /// # Panics
    ///
    /// When polled outside a corering runtime.
    pub async fn read_at<B: IoBufMut>(&self, buf: B, pos: u64) -> (io::Result<usize>, B) {
        ops::read_at(&self.fd, buf, pos).await
    }

    /// Fill all of `buf` (its `bytes_total`, a `Vec`'s capacity; slice it
    /// for fewer) from file offset `pos`, reading again after short reads
    /// into the rest of the same buffer, without copying.
    ///
    /// # Examples
    ///
    /// ```
    /// #[corering::main(pin = false)]
    /// async fn main() -> std::io::Result<()> {
    /// #   let path = std::env::temp_dir()
    /// #       .join(format!("corering-doc-{}-read-exact", std::process::id()));
    ///     corering::fs::write(&path, b"0123456789").await?;
    ///     let file = corering::fs::File::open(&path).await?;
    ///     let (res, buf) = file.read_exact_at(vec![0; 4], 6).await;
    ///     res?;
    ///     assert_eq!(buf, b"6789");
    ///     let (res, _) = file.read_exact_at(vec![0; 4], 8).await;
    ///     assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
    /// #   corering::fs::remove_file(&path).await?;
    ///     Ok(())
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// `UnexpectedEof` if the file ends first (the bytes before the end are
    /// in the buffer then); otherwise as [`read_at`](Self::read_at).
    ///
    /// # Panics
    ///
    /// When polled outside a corering runtime.
    pub async fn read_exact_at<B: IoBufMut>(&self, buf: B, pos: u64) -> (io::Result<()>, B) {
        let total = buf.bytes_total();
        let mut slice = buf.slice(..);
        let mut done = 0;
        while done < total {
            // Past `i64::MAX`, `ops::read_at` refuses the offset.
            let at = pos.saturating_add(done as u64);
            let (res, s) = ops::read_at(&self.fd, slice, at).await;
            let buf = s.into_inner();
            match res {
                Ok(0) => {
                    let msg = format!("the file ended {done} bytes into a {total}-byte read");
                    return (Err(io::Error::new(io::ErrorKind::UnexpectedEof, msg)), buf);
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (Err(e), buf),
            }
            slice = buf.slice(done..total);
        }
        (Ok(()), slice.into_inner())
    }

    /// Write `buf` (its initialised bytes) at file offset `pos`; returns
    /// how many bytes were written (maybe fewer) and the buffer. In append
    /// mode ([`OpenOptions::append`]) the bytes go to the end of the file,
    /// whatever `pos` says.
    ///
    /// # Examples
    ///
    /// ```
    /// #[corering::main(pin = false)]
    /// async fn main() -> std::io::Result<()> {
    /// #   let path = std::env::temp_dir()
    /// #       .join(format!("corering-doc-{}-write-at", std::process::id()));
    ///     let file = corering::fs::File::create(&path).await?;
    ///     let (res, _) = file.write_at(b"world", 7).await;
    ///     assert_eq!(res?, 5);
    ///     let (res, _) = file.write_at(b"hello,", 0).await;
    ///     assert_eq!(res?, 6);
    ///     // The byte never written reads as zero.
    ///     assert_eq!(corering::fs::read(&path).await?, b"hello,\0world");
    /// #   corering::fs::remove_file(&path).await?;
    ///     Ok(())
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// The kernel's: `EBADF` (not open for writing), `StorageFull`, ...;
    /// `InvalidInput` for `pos` past `i64::MAX`.
    ///
    /// # Panics
    ///
    /// When polled outside a corering runtime.
    pub async fn write_at<B: IoBuf>(&self, buf: B, pos: u64) -> (io::Result<usize>, B) {
        ops::write_at(&self.fd, buf, pos).await
    }

    /// Write all of `buf` at file offset `pos`, writing again after short
    /// writes from the rest of the same buffer, without copying.
    ///
    /// # Examples
    ///
    /// ```
    /// #[corering::main(pin = false)]
    /// async fn main() -> std::io::Result<()> {
    /// #   let path = std::env::temp_dir()
    /// #       .join(format!("corering-doc-{}-write-all", std::process::id()));
    ///     let file = corering::fs::File::create(&path).await?;
    ///     let (res, buf) = file.write_all_at(vec![7u8; 1 << 20], 0).await;
    ///     res?;
    ///     assert_eq!(file.metadata().await?.len(), buf.len() as u64);
    /// #   corering::fs::remove_file(&path).await?;
    ///     Ok(())
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// `WriteZero` if a write took no byte; otherwise as
    /// [`write_at`](Self::write_at).
    ///
    /// # Panics
    ///
    /// When polled outside a corering runtime.
    pub async fn write_all_at<B: IoBuf>(&self, buf: B, pos: u64) -> (io::Result<()>, B) {
        let total = buf.bytes_init();
        let mut slice = buf.slice(..total);
        let mut done = 0;
        while done < total {
            // Past `i64::MAX`, `ops::write_at` refuses the offset.
            let at = pos.saturating_add(done as u64);
            let (res, s) = ops::write_at(&self.fd, slice, at).await;
            let buf = s.into_inner();
            match res {
                Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), buf),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (Err(e), buf),
            }
            slice = buf.slice(done..total);
        }
        (Ok(()), slice.into_inner())
    }

    /// Flush the file's data and metadata to the device (`fsync`, through
    /// `IORING_OP_FSYNC`).
    ///
    /// # Examples
    ///
    /// ```
    /// #[corering::main(pin = false)]
    /// async fn main() -> std::io::Result<()> {
    /// #   let path = std::env::temp_dir()
    /// #       .join(format!("corering-doc-{}-sync-all", std::process::id()));
    ///     let file = corering::fs::File::create(&path).await?;
    ///     let (res, _) = file.write_all_at(b"durable", 0).await;
    ///     res?;
    ///     file.sync_all().await?;
    /// #   corering::fs::remove_file(&path).await?;
    ///     Ok(())
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// The kernel's, e.g. `EIO` for a write-back that failed.
    ///
    /// # Panics
    ///
    /// When polled outside a corering runtime.
    pub async fn sync_all(&self) -> io::Result<()> {
        ops::fsync(&self.fd, false).await
    }

    /// Flush the file's data, and only the metadata needed to read it back
    /// (`fdatasync`: `IORING_FSYNC_DATASYNC`), which may skip e.g. the
    /// modification time.
    ///
    /// # Examples
    ///
    /// ```
    /// #[corering::main(pin = false)]
    /// async fn main() -> std::io::Result<()> {
    /// #   let path = std::env::temp_dir()
    /// #       .join(format!("corering-doc-{}-sync-data", std::process::id()));
    ///     let file = corering::fs::File::create(&path).await?;
    ///     let (res, _) = file.write_all_at(b"data", 0).await;
    ///     res?;
    ///     file.sync_data().await?;
    /// #   corering::fs::remove_file(&path).await?;
    ///     Ok(())
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`sync_all`](Self::sync_all).
    ///
    /// # Panics
    ///
    /// When polled outside a corering runtime.
    pub async fn sync_data(&self) -> io::Result<()> {
        ops::fsync(&self.fd, true).await
    }

    /// The file's size, kind, modification time and permissions (`statx`
    /// of the open file, through `IORING_OP_STATX`).
    ///
    /// # Examples
    ///
    /// ```
    /// #[corering::main(pin = false)]
    /// async fn main() -> std::io::Result<()> {
    /// #   let path = std::env::temp_dir()
    /// #       .join(format!("corering-doc-{}-file-metadata", std::process::id()));
    ///     let file = corering::fs::File::create(&path).await?;
    ///     let (res, _) = file.write_all_at(b"abc", 10).await;
    ///     res?;
    ///     let meta = file.metadata().await?;
    ///     assert!(meta.is_file());
    ///     assert_eq!(meta.len(), 13);
    /// #   corering::fs::remove_file(&path).await?;
    ///     Ok(())
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// The kernel's (rare on an open file: `ENOMEM`, `EIO`, ...).
    ///
    /// # Panics
    ///
    /// When polled outside a corering runtime.
    pub async fn metadata(&self) -> io::Result<Metadata> {
        Ok(Metadata::from_statx(&ops::statx_fd(&self.fd).await?))
    }

    /// Close the file through the ring and wait for the kernel's answer
    /// (some file systems, NFS for one, report a failed write only here).
    /// If an operation whose future was dropped is still in flight, the
    /// file stays open until it ends and is then closed without waiting;
    /// this returns `Ok` at once.
    ///
    /// # Examples
    ///
    /// ```
    /// #[corering::main(pin = false)]
    /// async fn main() -> std::io::Result<()> {
    /// #   let path = std::env::temp_dir()
    /// #       .join(format!("corering-doc-{}-close", std::process::id()));
    ///     let file = corering::fs::File::create(&path).await?;
    ///     file.close().await?;
    /// #   corering::fs::remove_file(&path).await?;
    ///     Ok(())
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// The kernel's for the close, e.g. `EIO`. The fd is closed either way.
    ///
    /// # Panics
    ///
    /// When polled outside a corering runtime.
    pub async fn close(self) -> io::Result<()> {
        match self.fd.try_into_owned() {
            Ok(owned) => fd::close(owned).await,
            // The operations still holding it close it when the last ends.
            Err(_shared) => Ok(()),
        }
    }

    /// Adopt a file opened by std (or inherited). Its operations then go
    /// through the ring of the worker that runs them.
    ///
    /// # Examples
    ///
    /// ```
    /// #[corering::main(pin = false)]
    /// async fn main() -> std::io::Result<()> {
    ///     let file = corering::fs::File::from_std(std::fs::File::open("/proc/self/stat")?);
    ///     let (res, buf) = file.read_at(Vec::with_capacity(64), 0).await;
    ///     assert!(res? > 0 && buf.starts_with(std::process::id().to_string().as_bytes()));
    ///     Ok(())
    /// }
    /// ```
    pub fn from_std(file: std::fs::File) -> File {
        File::from_fd(OwnedFd::from(file))
    }

    /// The file as a `std::fs::File` (same fd, no syscall), or `self` back
    /// while an operation whose future was dropped still holds it (it is
    /// released when the kernel finishes that operation, within a turn or
    /// two of the worker for a regular file).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    ///
    /// #[corering::main(pin = false)]
    /// async fn main() -> std::io::Result<()> {
    /// #   let path = std::env::temp_dir()
    /// #       .join(format!("corering-doc-{}-into-std", std::process::id()));
    ///     corering::fs::write(&path, b"shared").await?;
    ///     let file = corering::fs::File::open(&path).await?;
    ///     let mut std_file = file.into_std().expect("no operation in flight");
    ///     let mut s = String::new();
    ///     std_file.read_to_string(&mut s)?;
    ///     assert_eq!(s, "shared");
    /// #   corering::fs::remove_file(&path).await?;
    ///     Ok(())
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// The `File` itself, while an orphaned operation holds its fd.
    pub fn into_std(self) -> Result<std::fs::File, File> {
        self.fd.try_into_owned().map(std::fs::File::from).map_err(|fd| File { fd })
    }
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File").field("fd", &self.fd.raw()).finish()
    }
}
