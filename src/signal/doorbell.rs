//! Doorbells: the eventfds the signal handler writes to, and the `READ` a
//! listener keeps armed on its doorbell through its worker's ring.
//!
//! A doorbell is never closed. The handler may have read a doorbell's fd
//! from the registry just before its listener went away, and write to it
//! a moment later; were the fd closed, that write could land in whatever
//! file reused the number. So a listener borrows a doorbell from a pool and
//! gives it back, open, once its last read has completed; the pool only
//! grows to the most listeners alive at once. A late write only makes the
//! doorbell's next reader check the counters once for nothing.

use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::Mutex;

use crate::runtime::driver::Orphan;
use crate::runtime::op::OpData;
use crate::uring::{IoUring, SqFull};

/// Doorbells no listener holds, open.
static POOL: Mutex<Vec<RawFd>> = Mutex::new(Vec::new());

/// An eventfd borrowed from the pool; back to the pool (never closed) when
/// dropped.
#[derive(Debug)]
pub(super) struct Doorbell {
    fd: RawFd,
}

impl Doorbell {
    /// A doorbell from the pool, emptied, or a new one.
    ///
    /// # Errors
    ///
    /// `eventfd` failed (out of fds, or memory).
    pub(super) fn take() -> io::Result<Doorbell> {
        let pooled = POOL.lock().unwrap_or_else(|e| e.into_inner()).pop();
        if let Some(fd) = pooled {
            let mut stale: u64 = 0;
            // SAFETY: reads 8 bytes into `stale`, alive for the call, from a
            // doorbell the pool kept open. Non-blocking: EAGAIN when empty.
            unsafe { libc::read(fd, (&raw mut stale).cast(), 8) };
            return Ok(Doorbell { fd });
        }
        // Non-blocking, so the handler's write never blocks (it fails
        // instead, near the counter's maximum) and the ring polls the read.
        // SAFETY: eventfd takes no pointers; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("cannot create an eventfd to watch a signal with: {e}"),
            ));
        }
        Ok(Doorbell { fd })
    }

    pub(super) fn fd(&self) -> RawFd {
        self.fd
    }
}

impl Drop for Doorbell {
    fn drop(&mut self) {
        POOL.lock().unwrap_or_else(|e| e.into_inner()).push(self.fd);
    }
}

/// One `READ` of a doorbell's 8-byte counter: it completes when the
/// handler has rung the doorbell since the last read.
pub(super) struct BellRead {
    /// Held until the final completion, so no other listener reads the
    /// doorbell while this read may still take its ring.
    bell: Rc<Doorbell>,
    buf: Box<u64>,
}

impl BellRead {
    pub(super) fn new(bell: Rc<Doorbell>) -> BellRead {
        BellRead { bell, buf: Box::new(0) }
    }
}

impl Orphan for BellRead {}

// SAFETY: the SQE points into `buf`, on the heap and owned by `self`; the
// fd is a doorbell, never closed.
unsafe impl OpData for BellRead {
    fn prep(&mut self, ring: &mut IoUring, user_data: u64) -> Result<(), SqFull> {
        let buf: *mut u64 = &mut *self.buf;
        // SAFETY: `buf` is 8 writable bytes owned by `self` until the final
        // completion (the `Op` moves `self` into the driver if dropped).
        unsafe { ring.prep_read(self.bell.fd, buf.cast(), 8, u64::MAX, user_data) }.map(|_| ())
    }
}
