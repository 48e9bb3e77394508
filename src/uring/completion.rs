//! One completion queue entry, and the batch iterator that reaps them.
//!
//! `Completion` is the kernel's 16-byte CQE, copied out of the ring before the
//! caller sees it. `Completion::result` is the one place in corering where a
//! negative `res` becomes an `io::Error`.

use core::fmt;
use core::sync::atomic::{AtomicU32, Ordering};
use std::io;

use super::sys::{
    IORING_CQE_BUFFER_SHIFT, IORING_CQE_F_BUF_MORE, IORING_CQE_F_BUFFER, IORING_CQE_F_MORE,
    IORING_CQE_F_NOTIF, IORING_CQE_F_SOCK_NONEMPTY,
};

/// `struct io_uring_cqe`: the outcome of one submission (or one shot of a
/// multishot submission).
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Completion {
    user_data: u64,
    res: i32,
    flags: u32,
}

impl Completion {
    /// Build a completion by hand (for tests of code that consumes them).
    pub fn new(user_data: u64, res: i32, flags: u32) -> Completion {
        Completion { user_data, res, flags }
    }

    /// The `user_data` of the SQE this completes.
    pub fn user_data(&self) -> u64 {
        self.user_data
    }

    /// The raw result: a byte count, an fd, or `-errno`.
    pub fn raw_result(&self) -> i32 {
        self.res
    }

    /// The raw `IORING_CQE_F_*` flags.
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// The result as `io::Result`: `Ok(n)` for `res >= 0`, else the errno.
    ///
    /// # Errors
    ///
    /// The operation's error as the kernel reported it (`-res`).
    pub fn result(&self) -> io::Result<u32> {
        if self.res >= 0 {
            Ok(self.res as u32)
        } else {
            Err(io::Error::from_raw_os_error(-self.res))
        }
    }

    /// `true` while a multishot submission will post further completions
    /// for the same `user_data` (`IORING_CQE_F_MORE`). A completion without
    /// it is the final one: only then may its `user_data` be reused.
    pub fn has_more(&self) -> bool {
        self.flags & IORING_CQE_F_MORE != 0
    }

    /// The provided buffer the kernel picked, if any (`IORING_CQE_F_BUFFER`).
    pub fn buffer_id(&self) -> Option<u16> {
        if self.flags & IORING_CQE_F_BUFFER != 0 {
            Some((self.flags >> IORING_CQE_BUFFER_SHIFT) as u16)
        } else {
            None
        }
    }

    /// The buffer is only partly consumed and will be used again
    /// (`IORING_CQE_F_BUF_MORE`, incremental buffer rings).
    pub fn buffer_more(&self) -> bool {
        self.flags & IORING_CQE_F_BUF_MORE != 0
    }

    /// The socket still held data after this receive
    /// (`IORING_CQE_F_SOCK_NONEMPTY`).
    pub fn sock_nonempty(&self) -> bool {
        self.flags & IORING_CQE_F_SOCK_NONEMPTY != 0
    }

    /// This is a zero-copy send's notification that the kernel released
    /// the buffer (`IORING_CQE_F_NOTIF`), not the send's result.
    pub fn is_notification(&self) -> bool {
        self.flags & IORING_CQE_F_NOTIF != 0
    }
}

impl fmt::Debug for Completion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completion")
            .field("user_data", &self.user_data)
            .field("res", &self.res)
            .field("flags", &format_args!("{:#x}", self.flags))
            .finish()
    }
}

/// An iterator over the completions available when it was created.
///
/// It loads the kernel's CQ tail once (Acquire) when created and stores the
/// new head once (Release) when dropped, so reaping a batch costs a few
/// atomic operations however large the batch is (the head is also stored
/// when a batch starts, for a batch that was leaked). Completions are copied out before
/// they are yielded; the slot is handed back to the kernel at drop, even if
/// iteration stopped early (the rest are then seen by the next batch) or the
/// consumer panicked. The ring keeps the head itself, so a batch that is
/// leaked (`mem::forget`) never yields its completions again: its slots are
/// handed back when the next batch starts.
pub struct Completions<'a> {
    khead: &'a AtomicU32,
    cqes: *const Completion,
    mask: u32,
    /// The ring's own consumer head, advanced as completions are taken.
    head: &'a mut u32,
    tail: u32,
}

impl<'a> Completions<'a> {
    /// # Safety
    ///
    /// `khead` and `ktail` are the CQ ring's head and tail, and `cqes` points
    /// to its `mask + 1` entries; all stay mapped for `'a`, and nothing else
    /// consumes this CQ meanwhile (the `&mut IoUring` borrow ensures that).
    /// `head` is the consumer position: every entry before it was read.
    #[inline]
    pub(super) unsafe fn new(
        khead: &'a AtomicU32,
        ktail: &'a AtomicU32,
        cqes: *const Completion,
        mask: u32,
        head: &'a mut u32,
    ) -> Completions<'a> {
        // Release: hand back whatever an earlier batch took and did not
        // publish (it was leaked). Our reads of those entries come first.
        khead.store(*head, Ordering::Release);
        // Acquire: pairs with the kernel's release of the tail, so the CQEs
        // up to `tail` are fully written before we read them.
        let tail = ktail.load(Ordering::Acquire);
        Completions { khead, cqes, mask, head, tail }
    }
}

impl Iterator for Completions<'_> {
    type Item = Completion;

    #[inline]
    fn next(&mut self) -> Option<Completion> {
        if *self.head == self.tail {
            return None;
        }
        let idx = (*self.head & self.mask) as usize;
        // SAFETY: `idx <= mask` indexes the CQE array (`new`'s contract), and
        // the entry lies before the tail we acquired, so the kernel finished
        // writing it and will not touch it until we publish a head past it.
        let cqe = unsafe { self.cqes.add(idx).read() };
        *self.head = self.head.wrapping_add(1);
        Some(cqe)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.tail.wrapping_sub(*self.head) as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Completions<'_> {}

impl Drop for Completions<'_> {
    #[inline]
    fn drop(&mut self) {
        // Release: our reads of the consumed entries happen before the kernel
        // may overwrite them.
        self.khead.store(*self.head, Ordering::Release);
    }
}

impl fmt::Debug for Completions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completions").field("remaining", &self.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cqe_is_sixteen_bytes() {
        assert_eq!(core::mem::size_of::<Completion>(), 16);
        assert_eq!(core::mem::offset_of!(Completion, res), 8);
        assert_eq!(core::mem::offset_of!(Completion, flags), 12);
    }

    #[test]
    fn flags_decode() {
        let c = Completion::new(1, 5, IORING_CQE_F_BUFFER | IORING_CQE_F_MORE | (42 << 16));
        assert_eq!(c.result().unwrap(), 5);
        assert_eq!(c.buffer_id(), Some(42));
        assert!(c.has_more());
        assert!(!c.sock_nonempty());
        assert!(!c.is_notification());
        let e = Completion::new(1, -libc::ENOBUFS, 0);
        assert_eq!(e.result().unwrap_err().raw_os_error(), Some(libc::ENOBUFS));
        assert_eq!(e.buffer_id(), None);
        assert!(!e.has_more());
    }
}
