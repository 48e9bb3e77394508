//! The worker's provided-buffer ring, shared by every multishot receive on
//! the worker, owned by the driver and created on first use.
//!
//! Buffers come out of the ring one per completion (the driver counts them
//! as it reaps) and go back when their `RecvBuf` is dropped. Returns are
//! published once per tick, with one store, before the worker enters the
//! kernel. A receive that found the ring empty (`ENOBUFS`) waits here until
//! a buffer is back instead of re-arming into the same `ENOBUFS`.

use std::io;
use std::task::Waker;

use crate::uring::{IoUring, ProvidedBufRing};

/// The buffer group id of the worker's ring.
pub(crate) const BGID: u16 = 0;

pub(crate) struct BufPool {
    ring: ProvidedBufRing,
    /// Buffers the kernel handed out (counted by the driver as it reaps)
    /// and not yet recycled.
    pub(crate) out: usize,
    dirty: bool,
    waiters: Vec<Waker>,
}

impl BufPool {
    pub(crate) fn new(ring: &IoUring, entries: u16, size: u32) -> io::Result<BufPool> {
        let ring = ring.register_buf_ring(entries, size, BGID)?;
        Ok(BufPool { ring, out: 0, dirty: false, waiters: Vec::new() })
    }

    /// Buffers in the ring, free for the kernel to pick.
    pub(crate) fn available(&self) -> usize {
        self.ring.entries() as usize - self.out
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

    /// Wait for a buffer to come back.
    pub(crate) fn wait(&mut self, waker: &Waker) {
        if !self.waiters.iter().any(|w| w.will_wake(waker)) {
            self.waiters.push(waker.clone());
        }
    }

    /// Publish the recycled buffers; hand back the wakers of receives that
    /// waited for them.
    pub(crate) fn publish(&mut self, wakers: &mut Vec<Waker>) {
        if self.dirty {
            self.ring.publish();
            self.dirty = false;
            if self.available() > 0 {
                wakers.append(&mut self.waiters);
            }
        }
    }
}
