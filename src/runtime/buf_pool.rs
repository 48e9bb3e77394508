//! The worker's provided-buffer ring, shared by every multishot receive on
//! the worker, owned by the driver and created on first use.
//!
//! Buffers come out of the ring one per completion (the driver counts them
//! as it reaps) and go back when their `RecvBuf` is dropped. Returns are
//! published once per tick, with one store, before the worker enters the
//! kernel. When fewer than a quarter are left (`low`), receives copy data
//! out of the ring rather than keep it, and arm with buffers of their own
//! (docs/networking.md, "No peer can drain the ring").

use std::io;

use crate::uring::{IoUring, ProvidedBufRing};

/// The buffer group id of the worker's ring.
pub(crate) const BGID: u16 = 0;

pub(crate) struct BufPool {
    ring: ProvidedBufRing,
    /// Buffers the kernel handed out (counted by the driver as it reaps)
    /// and not yet recycled.
    pub(crate) out: usize,
    /// Buffers whose data was copied out so they could go back early.
    pub(crate) copied: u64,
    dirty: bool,
}

impl BufPool {
    pub(crate) fn new(ring: &IoUring, entries: u16, size: u32) -> io::Result<BufPool> {
        let ring = ring.register_buf_ring(entries, size, BGID)?;
        Ok(BufPool { ring, out: 0, copied: 0, dirty: false })
    }

    /// Buffers in the ring, free for the kernel to pick.
    pub(crate) fn available(&self) -> usize {
        self.ring.entries() as usize - self.out
    }

    /// Fewer than a quarter of the buffers are left in the ring: receives
    /// copy what they get out of it rather than keep it unread (see
    /// docs/networking.md, "No peer can drain the ring").
    pub(crate) fn low(&self) -> bool {
        self.available() < (self.entries() / 4).max(1)
    }

    /// Where the first `len` bytes of buffer `bid` are.
    ///
    /// # Safety
    ///
    /// A completion handed `bid` out and it has not been recycled since
    /// (the caller owns it).
    pub(crate) unsafe fn ptr(&self, bid: u16, len: usize) -> *const u8 {
        // SAFETY: the caller owns `bid`, so the kernel is not writing it.
        unsafe { self.ring.buf(bid, len).as_ptr() }
    }

    /// The number of buffers in the ring.
    pub(crate) fn entries(&self) -> usize {
        self.ring.entries() as usize
    }

    /// Give buffer `bid` back; it reaches the kernel at the next publish.
    ///
    /// # Safety
    ///
    /// `bid` was handed out by a kernel completion for this pool and is
    /// recycled once.
    pub(crate) unsafe fn recycle(&mut self, bid: u16) {
        // SAFETY: the caller's contract is the ring's.
        unsafe { self.ring.recycle(bid) };
        self.out -= 1;
        self.dirty = true;
    }

    /// The size of each buffer.
    pub(crate) fn buf_size(&self) -> usize {
        self.ring.buf_size() as usize
    }

    /// Publish the recycled buffers to the kernel (once per tick).
    pub(crate) fn publish(&mut self) {
        if self.dirty {
            self.ring.publish();
            self.dirty = false;
        }
    }
}
