//! Provided-buffer rings (`IORING_REGISTER_PBUF_RING`): a group of
//! equal-sized buffers the kernel picks from for `IOSQE_BUFFER_SELECT`
//! receives, and the ring through which we hand them back.
//!
//! One anonymous mapping holds the ring of `io_uring_buf` entries (page
//! aligned, as the kernel requires) followed by the buffers. The kernel
//! consumes entries from the head; we append recycled buffers at the tail,
//! which lives in the `resv` field of entry 0 and is published once per
//! batch by [`ProvidedBufRing::publish`].

use core::fmt;
use core::sync::atomic::{AtomicU16, Ordering};
use std::io;
use std::rc::Rc;

use super::IoUring;
use super::region::Mmap;
use super::ring::RingFd;
use super::sys::{Buf, BufReg, IORING_REGISTER_PBUF_RING, IORING_UNREGISTER_PBUF_RING};

/// The most entries one buffer ring may have (`1 << 15`).
pub const MAX_BUF_RING_ENTRIES: u16 = 1 << 15;

/// A provided-buffer ring registered on an [`IoUring`] under a group id.
///
/// All buffers are given to the kernel at registration. A completion with
/// [`buffer_id`](super::Completion::buffer_id) hands buffer `bid` to us; we
/// read it with [`ProvidedBufRing::buf`] and hand it back with
/// [`recycle`](ProvidedBufRing::recycle) followed, once per batch, by
/// [`publish`](ProvidedBufRing::publish).
///
/// Dropping it unregisters the group, then frees the memory. It keeps the
/// ring's fd open for that, so it may outlive the [`IoUring`].
pub struct ProvidedBufRing {
    /// Owns the ring and the buffers; unmapped after the group is
    /// unregistered (leaked if that fails).
    map: Option<Mmap>,
    ring: *mut Buf,
    bufs: *mut u8,
    fd: Rc<RingFd>,
    entries: u16,
    buf_size: u32,
    bgid: u16,
    /// Local tail: entries written but maybe not yet published.
    tail: u16,
}

impl IoUring {
    /// Register a provided-buffer ring of `entries` buffers of `buf_size`
    /// bytes each under group id `bgid`, every buffer handed to the kernel.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `entries` is not a power of two between 1 and
    /// 32768 or `buf_size` is 0; `ENOMEM` if the mapping fails; `EEXIST`
    /// if `bgid` is taken; `EINVAL` on kernels without buffer rings (<5.19).
    pub fn register_buf_ring(
        &self,
        entries: u16,
        buf_size: u32,
        bgid: u16,
    ) -> io::Result<ProvidedBufRing> {
        ProvidedBufRing::new(self.ring_fd().clone(), entries, buf_size, bgid)
    }
}

impl ProvidedBufRing {
    fn new(fd: Rc<RingFd>, entries: u16, buf_size: u32, bgid: u16) -> io::Result<Self> {
        if !entries.is_power_of_two() || entries > MAX_BUF_RING_ENTRIES || buf_size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a buffer ring needs a power-of-two entry count up to \
                     {MAX_BUF_RING_ENTRIES} and a non-zero buffer size, got {entries} x {buf_size}"
                ),
            ));
        }
        let page = page_size();
        let ring_len = (entries as usize * size_of::<Buf>()).next_multiple_of(page);
        let bufs_len = entries as usize * buf_size as usize;
        let map = Mmap::anonymous(ring_len + bufs_len)?;
        let ring: *mut Buf = map.at(0);
        let bufs: *mut u8 = map.at(ring_len);

        let mut reg = BufReg {
            ring_addr: ring as u64,
            ring_entries: entries as u32,
            bgid,
            ..BufReg::default()
        };
        // SAFETY: the kernel reads one io_uring_buf_reg from `reg`, alive for
        // the call; the ring it names is our page-aligned mapping.
        unsafe { fd.register(IORING_REGISTER_PBUF_RING, (&raw mut reg).cast(), 1)? };
        let mut this =
            ProvidedBufRing { map: Some(map), ring, bufs, fd, entries, buf_size, bgid, tail: 0 };
        for bid in 0..entries {
            // SAFETY: the first hand-out of each buffer, once each.
            unsafe { this.recycle(bid) };
        }
        this.publish();
        Ok(this)
    }

    /// The buffer group id to put in SQEs.
    pub fn bgid(&self) -> u16 {
        self.bgid
    }

    /// The number of buffers.
    pub fn entries(&self) -> u16 {
        self.entries
    }

    /// The size of each buffer.
    pub fn buf_size(&self) -> u32 {
        self.buf_size
    }

    /// The first `len` bytes of buffer `bid`.
    ///
    /// # Panics
    ///
    /// If `bid` is out of range or `len` exceeds the buffer size.
    ///
    /// # Safety
    ///
    /// `bid` was handed to us by a kernel completion for this group and has
    /// not been recycled since, so the kernel does not write to it while the
    /// slice lives.
    pub unsafe fn buf(&self, bid: u16, len: usize) -> &[u8] {
        assert!(bid < self.entries && len <= self.buf_size as usize, "bad buffer {bid}/{len}");
        // SAFETY: in bounds (checked above); not written by the kernel while
        // ours, by the caller's contract.
        unsafe { core::slice::from_raw_parts(self.buf_ptr(bid), len) }
    }

    fn buf_ptr(&self, bid: u16) -> *mut u8 {
        assert!(bid < self.entries, "buffer id {bid} out of range");
        // SAFETY: `bid < entries`, so the offset stays inside the buffers.
        unsafe { self.bufs.add(bid as usize * self.buf_size as usize) }
    }

    /// Queue buffer `bid` for return to the kernel; it is handed back at the
    /// next [`publish`](ProvidedBufRing::publish).
    ///
    /// # Panics
    ///
    /// If `bid` is out of range.
    ///
    /// # Safety
    ///
    /// `bid` was handed to us by a kernel completion for this group and has
    /// not been recycled since. Recycling a buffer the kernel still owns, or
    /// one twice, lets the kernel hand one buffer out twice (and our tail
    /// lap its head), so it would write under a live [`buf`] slice.
    ///
    /// [`buf`]: ProvidedBufRing::buf
    pub unsafe fn recycle(&mut self, bid: u16) {
        assert!(bid < self.entries, "buffer id {bid} out of range");
        let idx = (self.tail & (self.entries - 1)) as usize;
        let entry = Buf { addr: self.buf_ptr(bid) as u64, len: self.buf_size, bid, resv: 0 };
        // SAFETY: `idx < entries` is inside the ring. The kernel only reads
        // entries between its head and the published tail; this one is past
        // the published tail, and (by the caller's contract: every buffer is
        // recycled once per hand-out) at most `entries` ahead of the kernel's
        // head, so it is not an entry the kernel may still read. Entry 0's
        // `resv` is the shared tail, so write the three fields only.
        unsafe {
            let slot = self.ring.add(idx);
            (&raw mut (*slot).addr).write(entry.addr);
            (&raw mut (*slot).len).write(entry.len);
            (&raw mut (*slot).bid).write(entry.bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    /// Publish every recycled buffer to the kernel with one store.
    pub fn publish(&mut self) {
        // SAFETY: the tail is the u16 at offset 14 of the ring (entry 0's
        // `resv`), 2-aligned inside our mapping; the kernel reads it with
        // an acquire load.
        let ktail = unsafe { &*(&raw const (*self.ring).resv).cast::<AtomicU16>() };
        // Release: the entries written by `recycle` are visible to the kernel
        // before the tail that covers them.
        ktail.store(self.tail, Ordering::Release);
    }
}

impl Drop for ProvidedBufRing {
    fn drop(&mut self) {
        let mut reg = BufReg { bgid: self.bgid, ..BufReg::default() };
        // Unregister before `map` drops, so the kernel stops picking buffers
        // from memory we are about to free. If the ring is already closing,
        // this fails harmlessly: the fd we share is still ours.
        // SAFETY: the kernel reads one io_uring_buf_reg from `reg`, alive for
        // the call.
        let res =
            unsafe { self.fd.register(IORING_UNREGISTER_PBUF_RING, (&raw mut reg).cast(), 1) };
        if res.is_err() {
            // The kernel may still hand out these buffers: never free them.
            std::mem::forget(self.map.take());
        }
    }
}

impl fmt::Debug for ProvidedBufRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProvidedBufRing")
            .field("bgid", &self.bgid)
            .field("entries", &self.entries)
            .field("buf_size", &self.buf_size)
            .finish()
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 { n as usize } else { 4096 }
}
