//! Whole-file reads and writes: [`read`] and [`write`], each an open, as
//! many transfers as the file needs, and a close, all through the ring.

use std::io;
use std::path::Path;

use crate::buf::IoBuf;

use super::File;

/// The first buffer for a file whose size says nothing (`/proc` files
/// report 0), and the least a full buffer grows by.
const MIN_CHUNK: usize = 8 * 1024;

/// Read the whole file at `path` into a `Vec`.
///
/// The buffer is sized from the file's length (one `statx`) plus a byte,
/// so a file that does not change while it is read takes one allocation
/// and ends with a read of 0 bytes into that spare byte. A file that grows
/// meanwhile is read to its new end.
///
/// # Examples
///
/// ```
/// #[corering::main(pin = false)]
/// async fn main() -> std::io::Result<()> {
/// #   let path = std::env::temp_dir()
/// #       .join(format!("corering-doc-{}-fs-read", std::process::id()));
///     corering::fs::write(&path, b"all of it").await?;
///     assert_eq!(corering::fs::read(&path).await?, b"all of it");
/// #   corering::fs::remove_file(&path).await?;
///     Ok(())
/// }
/// ```
///
/// # Errors
///
/// As [`File::open`] and [`File::read_at`]: `NotFound`, `PermissionDenied`,
/// `IsADirectory` (`EISDIR`, from the first read of a directory), ...
///
/// # Panics
///
/// When polled outside a corering runtime.
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let file = File::open(path).await?;
    let first = match usize::try_from(file.metadata().await?.len()) {
        Ok(0) | Err(_) => MIN_CHUNK,
        Ok(len) => len.saturating_add(1),
    };
    let mut buf = Vec::new();
    reserve(&mut buf, first)?;
    loop {
        if buf.len() == buf.capacity() {
            let more = buf.capacity().max(MIN_CHUNK);
            reserve(&mut buf, more)?;
        }
        let (filled, cap) = (buf.len(), buf.capacity());
        let (res, slice) = file.read_at(buf.slice(filled..cap), filled as u64).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    // A close of a file only read has nothing to report.
    let _ = file.close().await;
    Ok(buf)
}

/// Make room for `more` bytes, or say why not (a huge sparse file, say)
/// rather than abort.
fn reserve(buf: &mut Vec<u8>, more: usize) -> io::Result<()> {
    buf.try_reserve_exact(more).map_err(|e| {
        let msg = format!("cannot hold the file in memory: {e} ({more} more bytes)");
        io::Error::new(io::ErrorKind::OutOfMemory, msg)
    })
}

/// Write `contents` (its initialised bytes) as the whole file at `path`,
/// creating it if needed and replacing what it held, then close it.
///
/// `contents` is an owned buffer ([`IoBuf`]), written from where it lies:
/// a `Vec<u8>`, a `Box<[u8]>`, a `&'static` byte string, ... (a `String`
/// goes as `s.into_bytes()`).
///
/// # Examples
///
/// ```
/// #[corering::main(pin = false)]
/// async fn main() -> std::io::Result<()> {
/// #   let path = std::env::temp_dir()
/// #       .join(format!("corering-doc-{}-fs-write", std::process::id()));
///     corering::fs::write(&path, format!("{}\n", 42).into_bytes()).await?;
///     assert_eq!(std::fs::read_to_string(&path)?, "42\n");
/// #   corering::fs::remove_file(&path).await?;
///     Ok(())
/// }
/// ```
///
/// # Errors
///
/// As [`File::create`] and [`File::write_all_at`]: `PermissionDenied`,
/// `IsADirectory`, `StorageFull`, ...; and the close's (some file systems
/// report a failed write only there).
///
/// # Panics
///
/// When polled outside a corering runtime.
pub async fn write<B: IoBuf>(path: impl AsRef<Path>, contents: B) -> io::Result<()> {
    let file = File::create(path).await?;
    let (res, _) = file.write_all_at(contents, 0).await;
    res?;
    file.close().await
}
