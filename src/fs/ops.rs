//! The file-system operations, as `OpData` for the runtime's `Op`: each
//! owns its fd (a `SharedFd` clone), its paths (heap `CString`s) and
//! whatever else its SQE points at, so a future dropped in flight leaves
//! the kernel nothing freed to write into.
//!
//! The `async fn`s here are the whole of `fs`'s contact with the runtime;
//! the public types above them hold no SQE logic.

use std::ffi::CString;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::buf::{IoBuf, IoBufMut};
use crate::runtime::context;
use crate::runtime::driver::Orphan;
use crate::runtime::fd::SharedFd;
use crate::runtime::op::{Op, OpData};
use crate::uring::sys::{
    IORING_FSYNC_DATASYNC, IORING_OP_FSYNC, IORING_OP_MKDIRAT, IORING_OP_OPENAT, IORING_OP_READ,
    IORING_OP_RENAMEAT, IORING_OP_STATX, IORING_OP_UNLINKAT, IORING_OP_WRITE,
};
use crate::uring::{Completion, IoUring, Prepped, SqFull};

/// The most bytes one read or write moves on Linux (`MAX_RW_COUNT`); the
/// kernel shortens a longer file transfer to this anyway, and the SQE's
/// length is 32 bits. The `_exact`/`_all` loops carry on from there.
const MAX_RW: usize = 0x7fff_f000;

/// The fields `Metadata` reads.
const STATX_MASK: u32 = libc::STATX_TYPE | libc::STATX_MODE | libc::STATX_SIZE | libc::STATX_MTIME;

fn len32(n: usize) -> u32 {
    n.min(MAX_RW) as u32
}

fn ok(res: Result<Prepped<'_>, SqFull>) -> Result<(), SqFull> {
    res.map(drop)
}

/// `path` as the kernel takes it: NUL-terminated, on the heap.
///
/// # Errors
///
/// `InvalidInput` if the path holds a NUL byte (no file can be named so).
pub(super) fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the path {path:?} contains a NUL byte, which no file name can hold"),
        )
    })
}

/// `offset` as an SQE takes it. The kernel reads the SQE's 64 bits as a
/// signed `loff_t`, and `-1` there means "the file's current position", so
/// offsets past `i64::MAX` are refused here rather than reinterpreted.
fn file_offset(offset: u64) -> io::Result<u64> {
    if offset > i64::MAX as u64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("file offset {offset} is past the largest one Linux takes (i64::MAX)"),
        ));
    }
    Ok(offset)
}

/// The completion's result. A kernel that lacks the opcode answers
/// `EINVAL`, as it does for a bad argument: then the ring is probed, and a
/// missing opcode becomes an `Unsupported` error that says which kernel has
/// it. Only this error path pays for the probe.
fn result(cqe: &Completion, opcode: u8) -> io::Result<u32> {
    cqe.result().map_err(|e| match e.raw_os_error() {
        Some(libc::EINVAL) if context::opcode_supported(opcode) == Some(false) => {
            unsupported(opcode)
        }
        _ => e,
    })
}

/// The error for an opcode this kernel's io_uring lacks.
pub(super) fn unsupported(opcode: u8) -> io::Error {
    let (name, linux) = match opcode {
        IORING_OP_FSYNC => ("IORING_OP_FSYNC", "5.1"),
        IORING_OP_OPENAT => ("IORING_OP_OPENAT", "5.6"),
        IORING_OP_STATX => ("IORING_OP_STATX", "5.6"),
        IORING_OP_READ => ("IORING_OP_READ", "5.6"),
        IORING_OP_WRITE => ("IORING_OP_WRITE", "5.6"),
        IORING_OP_RENAMEAT => ("IORING_OP_RENAMEAT", "5.11"),
        IORING_OP_UNLINKAT => ("IORING_OP_UNLINKAT", "5.11"),
        IORING_OP_MKDIRAT => ("IORING_OP_MKDIRAT", "5.15"),
        _ => ("this opcode", "a later one"),
    };
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!(
            "this kernel's io_uring has no {name} (Linux {linux} and later have it); \
             upgrade the kernel or use std::fs for this call"
        ),
    )
}

/// `openat(AT_FDCWD, path, flags, mode)`.
struct OpenAt {
    path: CString,
    flags: i32,
    mode: u32,
}

impl Orphan for OpenAt {
    /// The file was opened for a future that is gone: close it.
    fn completed(&mut self, cqe: &Completion) {
        if let Ok(fd) = cqe.result() {
            // SAFETY: the kernel created this fd for us and nobody has it.
            drop(unsafe { OwnedFd::from_raw_fd(fd as i32) });
        }
    }
}

// SAFETY: the SQE points at `path`'s heap buffer, owned by `self`; it names
// no fd but `AT_FDCWD`.
unsafe impl OpData for OpenAt {
    fn prep(&mut self, ring: &mut IoUring, user_data: u64) -> Result<(), SqFull> {
        let path = self.path.as_ptr();
        // SAFETY: `path` is NUL-terminated and owned by `self` until the
        // final completion.
        ok(unsafe { ring.prep_openat(libc::AT_FDCWD, path, self.flags, self.mode, user_data) })
    }
}

/// Open `path`; `flags` get `O_CLOEXEC` added.
pub(super) async fn open(path: CString, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let op = OpenAt { path, flags: flags | libc::O_CLOEXEC, mode };
    let (cqe, _) = Op::new(op).await;
    let fd = result(&cqe, IORING_OP_OPENAT)?;
    // SAFETY: the completion handed us this new fd; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `read` at a file offset into an owned buffer.
struct ReadAt<B> {
    fd: SharedFd,
    buf: B,
    offset: u64,
}

impl<B: 'static> Orphan for ReadAt<B> {}

// SAFETY: the SQE points into `buf`, stable across moves (`IoBufMut`); the
// fd is kept open by the `SharedFd` clone.
unsafe impl<B: IoBufMut> OpData for ReadAt<B> {
    fn prep(&mut self, ring: &mut IoUring, user_data: u64) -> Result<(), SqFull> {
        let (ptr, len) = (self.buf.stable_mut_ptr(), len32(self.buf.bytes_total()));
        // SAFETY: `buf` is writable for `len` bytes and owned by `self`
        // until the final completion.
        ok(unsafe { ring.prep_read(self.fd.raw(), ptr, len, self.offset, user_data) })
    }
}

pub(super) async fn read_at<B: IoBufMut>(
    fd: &SharedFd,
    buf: B,
    offset: u64,
) -> (io::Result<usize>, B) {
    let offset = match file_offset(offset) {
        Ok(o) => o,
        Err(e) => return (Err(e), buf),
    };
    let (cqe, mut op) = Op::new(ReadAt { fd: fd.clone(), buf, offset }).await;
    let res = result(&cqe, IORING_OP_READ).map(|n| n as usize);
    if let Ok(n) = res {
        // SAFETY: the kernel wrote `n` bytes at the start of the buffer.
        unsafe { op.buf.set_init(n) };
    }
    (res, op.buf)
}

/// `write` at a file offset from an owned buffer.
struct WriteAt<B> {
    fd: SharedFd,
    buf: B,
    offset: u64,
}

impl<B: 'static> Orphan for WriteAt<B> {}

// SAFETY: the SQE points into `buf`, stable across moves (`IoBuf`); the fd
// is kept open by the `SharedFd` clone.
unsafe impl<B: IoBuf> OpData for WriteAt<B> {
    fn prep(&mut self, ring: &mut IoUring, user_data: u64) -> Result<(), SqFull> {
        let (ptr, len) = (self.buf.stable_ptr(), len32(self.buf.bytes_init()));
        // SAFETY: `buf` holds `len` initialised bytes, owned by `self` until
        // the final completion.
        ok(unsafe { ring.prep_write(self.fd.raw(), ptr, len, self.offset, user_data) })
    }
}

pub(super) async fn write_at<B: IoBuf>(
    fd: &SharedFd,
    buf: B,
    offset: u64,
) -> (io::Result<usize>, B) {
    let offset = match file_offset(offset) {
        Ok(o) => o,
        Err(e) => return (Err(e), buf),
    };
    let (cqe, op) = Op::new(WriteAt { fd: fd.clone(), buf, offset }).await;
    (result(&cqe, IORING_OP_WRITE).map(|n| n as usize), op.buf)
}

/// `fsync`, or `fdatasync` with `IORING_FSYNC_DATASYNC`.
struct Fsync {
    fd: SharedFd,
    flags: u32,
}

impl Orphan for Fsync {}

// SAFETY: the SQE points at no memory; the fd is kept open by the clone.
unsafe impl OpData for Fsync {
    fn prep(&mut self, ring: &mut IoUring, user_data: u64) -> Result<(), SqFull> {
        ok(ring.prep_fsync(self.fd.as_fd(), self.flags, user_data))
    }
}

pub(super) async fn fsync(fd: &SharedFd, data_only: bool) -> io::Result<()> {
    let flags = if data_only { IORING_FSYNC_DATASYNC } else { 0 };
    let (cqe, _) = Op::new(Fsync { fd: fd.clone(), flags }).await;
    result(&cqe, IORING_OP_FSYNC).map(drop)
}

/// `statx` of an open file (`AT_EMPTY_PATH`) or of a path; the result
/// buffer lives on the heap.
struct Statx {
    /// The open file, or `None` for a path relative to the working
    /// directory.
    fd: Option<SharedFd>,
    /// The path, or `None` for the open file itself.
    path: Option<CString>,
    buf: Box<MaybeUninit<libc::statx>>,
}

impl Orphan for Statx {}

// SAFETY: the SQE points at `path`'s heap buffer (or at a `'static` empty
// string) and at the boxed `statx`, all owned by `self`; the fd, if any, is
// kept open by the `SharedFd` clone.
unsafe impl OpData for Statx {
    fn prep(&mut self, ring: &mut IoUring, user_data: u64) -> Result<(), SqFull> {
        let (dirfd, path, flags) = match (&self.fd, &self.path) {
            (_, Some(path)) => (libc::AT_FDCWD, path.as_c_str(), 0),
            (Some(fd), None) => (fd.raw(), c"", libc::AT_EMPTY_PATH),
            (None, None) => unreachable!("a statx names a file or a path"),
        };
        let buf = self.buf.as_mut_ptr();
        // SAFETY: `path` is NUL-terminated and `buf` a whole `statx`, both
        // owned by `self` (or `'static`) until the final completion.
        ok(unsafe { ring.prep_statx(dirfd, path.as_ptr(), flags, STATX_MASK, buf, user_data) })
    }
}

async fn statx(op: Statx) -> io::Result<libc::statx> {
    let (cqe, op) = Op::new(op).await;
    result(&cqe, IORING_OP_STATX)?;
    // SAFETY: the kernel filled the whole struct (it writes every field,
    // zeroing those it does not report, and says which in `stx_mask`).
    Ok(unsafe { op.buf.assume_init_read() })
}

pub(super) async fn statx_fd(fd: &SharedFd) -> io::Result<libc::statx> {
    statx(Statx { fd: Some(fd.clone()), path: None, buf: Box::new(MaybeUninit::zeroed()) }).await
}

/// `statx` of `path`, following symlinks.
pub(super) async fn statx_path(path: CString) -> io::Result<libc::statx> {
    statx(Statx { fd: None, path: Some(path), buf: Box::new(MaybeUninit::zeroed()) }).await
}

/// An operation on names in directories, relative to the working
/// directory.
enum DirOp {
    /// `unlinkat(path, flags)`.
    Unlink { path: CString, flags: i32 },
    /// `renameat2(from, to, 0)`.
    Rename { from: CString, to: CString },
    /// `mkdirat(path, mode)`.
    Mkdir { path: CString, mode: u32 },
}

impl DirOp {
    fn opcode(&self) -> u8 {
        match self {
            DirOp::Unlink { .. } => IORING_OP_UNLINKAT,
            DirOp::Rename { .. } => IORING_OP_RENAMEAT,
            DirOp::Mkdir { .. } => IORING_OP_MKDIRAT,
        }
    }
}

impl Orphan for DirOp {}

// SAFETY: the SQE points at the paths' heap buffers, owned by `self`; it
// names no fd but `AT_FDCWD`.
unsafe impl OpData for DirOp {
    fn prep(&mut self, ring: &mut IoUring, user_data: u64) -> Result<(), SqFull> {
        let cwd = libc::AT_FDCWD;
        // SAFETY: every path is NUL-terminated and owned by `self` until the
        // final completion.
        ok(unsafe {
            match self {
                DirOp::Unlink { path, flags } => {
                    ring.prep_unlinkat(cwd, path.as_ptr(), *flags, user_data)
                }
                DirOp::Rename { from, to } => {
                    ring.prep_renameat(cwd, from.as_ptr(), cwd, to.as_ptr(), 0, user_data)
                }
                DirOp::Mkdir { path, mode } => {
                    ring.prep_mkdirat(cwd, path.as_ptr(), *mode, user_data)
                }
            }
        })
    }
}

async fn dir_op(op: DirOp) -> io::Result<()> {
    let opcode = op.opcode();
    let (cqe, _) = Op::new(op).await;
    result(&cqe, opcode).map(drop)
}

pub(super) async fn unlink(path: CString, flags: i32) -> io::Result<()> {
    dir_op(DirOp::Unlink { path, flags }).await
}

pub(super) async fn rename(from: CString, to: CString) -> io::Result<()> {
    dir_op(DirOp::Rename { from, to }).await
}

pub(super) async fn mkdir(path: CString, mode: u32) -> io::Result<()> {
    dir_op(DirOp::Mkdir { path, mode }).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_with_a_nul_byte_is_refused() {
        let e = c_path(Path::new("a\0b")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("NUL"), "{e}");
        assert_eq!(c_path(Path::new("/tmp/x")).unwrap().as_bytes(), b"/tmp/x");
    }

    #[test]
    fn offsets_past_i64_max_are_refused_not_read_as_the_current_position() {
        assert_eq!(file_offset(i64::MAX as u64).unwrap(), i64::MAX as u64);
        for bad in [u64::MAX, i64::MAX as u64 + 1] {
            assert_eq!(file_offset(bad).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        }
    }

    #[test]
    fn a_missing_opcode_names_the_kernel_that_has_it() {
        let e = unsupported(IORING_OP_MKDIRAT);
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
        assert!(e.to_string().contains("IORING_OP_MKDIRAT"), "{e}");
        assert!(e.to_string().contains("5.15"), "{e}");
    }
}
