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
use super::sys::{
    Buf, BufReg, IORING_REGISTER_PBUF_RING, IORING_UNREGISTER_PBUF_RING, IOU_PBUF_RING_INC,
};

/// The most entries one buffer ring may have (`1 << 15`).
pub const MAX_BUF_RING_ENTRIES: u16 = 1 << 15;

/// The most bytes one buffer ring's mapping may span: Rust's limit for one
/// allocation, which every pointer offset into it must respect.
const MAX_MAPPING: usize = isize::MAX as usize;

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
    /// Registered with `IOU_PBUF_RING_INC`: completions consume buffers
    /// piecewise.
    incremental: bool,
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
    /// 32768, `buf_size` is 0, or the ring and its buffers would span more
    /// than `isize::MAX` bytes (reachable where `usize` has 32 bits);
    /// `ENOMEM` if the mapping fails; `EEXIST`
    /// if `bgid` is taken; `EINVAL` on kernels without buffer rings (<5.19).
    pub fn register_buf_ring(
        &self,
        entries: u16,
        buf_size: u32,
        bgid: u16,
    ) -> io::Result<ProvidedBufRing> {
        ProvidedBufRing::new(self.ring_fd().clone(), entries, buf_size, bgid, false)
    }

    /// As [`register_buf_ring`](IoUring::register_buf_ring), with
    /// incremental consumption (`IOU_PBUF_RING_INC`, Linux 6.12): a receive
    /// takes only the part of the head buffer it fills, so one buffer
    /// serves many receives, each continuing where the last one ended. A
    /// completion whose [`buffer_more`](super::Completion::buffer_more) is set
    /// leaves its buffer with the kernel, which goes on filling it; the
    /// buffer is ours (to recycle) after the first completion of it
    /// without that flag. The data of each completion starts where the
    /// previous completion of the same buffer ended (0 for the first):
    /// the caller keeps that offset.
    ///
    /// # Errors
    ///
    /// As `register_buf_ring`; `EINVAL` on kernels without incremental
    /// consumption.
    pub fn register_buf_ring_incremental(
        &self,
        entries: u16,
        buf_size: u32,
        bgid: u16,
    ) -> io::Result<ProvidedBufRing> {
        ProvidedBufRing::new(self.ring_fd().clone(), entries, buf_size, bgid, true)
    }
}

impl ProvidedBufRing {
    fn new(
        fd: Rc<RingFd>,
        entries: u16,
        buf_size: u32,
        bgid: u16,
        incremental: bool,
    ) -> io::Result<Self> {
        if !entries.is_power_of_two() || entries > MAX_BUF_RING_ENTRIES || buf_size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a buffer ring needs a power-of-two entry count up to \
                     {MAX_BUF_RING_ENTRIES} and a non-zero buffer size, got {entries} x {buf_size}"
                ),
            ));
        }
        let Layout { ring_len, total } = Layout::new(entries, buf_size, page_size(), MAX_MAPPING)?;
        let map = Mmap::anonymous(total)?;
        let ring: *mut Buf = map.at(0);
        let bufs: *mut u8 = map.at(ring_len);

        let mut reg = BufReg {
            ring_addr: ring as u64,
            ring_entries: entries as u32,
            bgid,
            flags: if incremental { IOU_PBUF_RING_INC } else { 0 },
            ..BufReg::default()
        };
        // SAFETY: the kernel reads one io_uring_buf_reg from `reg`, alive for
        // the call; the ring it names is our page-aligned mapping.
        unsafe { fd.register(IORING_REGISTER_PBUF_RING, (&raw mut reg).cast(), 1)? };
        let mut this = ProvidedBufRing {
            map: Some(map),
            ring,
            bufs,
            fd,
            entries,
            buf_size,
            bgid,
            incremental,
            tail: 0,
        };
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

    /// Whether completions consume buffers piecewise (registered with
    /// [`register_buf_ring_incremental`](IoUring::register_buf_ring_incremental)).
    pub fn incremental(&self) -> bool {
        self.incremental
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
        // SAFETY: the caller's contract, for the bytes from offset 0.
        unsafe { self.buf_at(bid, 0, len) }
    }

    /// `len` bytes of buffer `bid` from `offset`: the data of one
    /// completion of an incremental ring.
    ///
    /// # Panics
    ///
    /// If `bid` is out of range or `offset + len` exceeds the buffer size.
    ///
    /// # Safety
    ///
    /// A completion of this group handed those bytes to us (they lie
    /// before the point the kernel has filled the buffer to), and `bid` has
    /// not been recycled since, so the kernel does not write them while
    /// the slice lives.
    pub unsafe fn buf_at(&self, bid: u16, offset: usize, len: usize) -> &[u8] {
        assert!(
            bid < self.entries
                && offset.checked_add(len).is_some_and(|e| e <= self.buf_size as usize),
            "bad buffer {bid} at {offset}+{len}"
        );
        // SAFETY: in bounds (checked above); not written by the kernel while
        // ours, by the caller's contract.
        unsafe { core::slice::from_raw_parts(self.buf_ptr(bid).add(offset), len) }
    }

    fn buf_ptr(&self, bid: u16) -> *mut u8 {
        assert!(bid < self.entries, "buffer id {bid} out of range");
        // SAFETY: `bid < entries`, so the offset stays inside the buffers,
        // whose length `entries * buf_size` fits the mapping (`Layout::new`
        // checked it), so the product cannot wrap either.
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

/// Where a buffer ring's parts lie in its one mapping: the ring of entries,
/// rounded up to whole pages, then the buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
    /// Bytes of the ring: the buffers start here.
    ring_len: usize,
    /// Bytes of the whole mapping.
    total: usize,
}

impl Layout {
    /// The layout of `entries` buffers of `buf_size` bytes on `page`-byte
    /// pages. Every size is computed with checked arithmetic.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if the mapping would span more than `max` bytes, or
    /// more than a `usize` can count.
    fn new(entries: u16, buf_size: u32, page: usize, max: usize) -> io::Result<Layout> {
        let n = usize::from(entries);
        let ring_len =
            n.checked_mul(size_of::<Buf>()).and_then(|r| r.checked_next_multiple_of(page));
        let bufs_len = usize::try_from(buf_size).ok().and_then(|b| b.checked_mul(n));
        let layout = ring_len
            .zip(bufs_len)
            .and_then(|(ring_len, b)| Some(Layout { ring_len, total: ring_len.checked_add(b)? }));
        match layout {
            Some(l) if l.total <= max => Ok(l),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a buffer ring of {entries} buffers of {buf_size} bytes needs more than the \
                     {max} bytes one mapping may span; use fewer or smaller buffers"
                ),
            )),
        }
    }
}

/// Check, without mapping anything, that a buffer ring of `entries`
/// buffers of `buf_size` bytes fits in one mapping.
///
/// # Errors
///
/// `InvalidInput` as [`IoUring::register_buf_ring`] for a size too large.
pub(crate) fn check_size(entries: u16, buf_size: u32) -> io::Result<()> {
    Layout::new(entries, buf_size, page_size(), MAX_MAPPING).map(drop)
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 { n as usize } else { 4096 }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: usize = 4096;
    /// The most a 32-bit `usize` can count.
    const MAX_32: usize = u32::MAX as usize;

    fn refused(entries: u16, buf_size: u32, max: usize) -> bool {
        Layout::new(entries, buf_size, PAGE, max)
            .is_err_and(|e| e.kind() == io::ErrorKind::InvalidInput)
    }

    #[test]
    fn the_buffers_start_on_the_page_after_the_ring() {
        let l = Layout::new(4, 100, PAGE, MAX_32).unwrap();
        assert_eq!(l, Layout { ring_len: PAGE, total: PAGE + 400 });
        let l = Layout::new(MAX_BUF_RING_ENTRIES, 1, PAGE, MAX_32).unwrap();
        assert_eq!(l.ring_len, (1 << 15) * size_of::<Buf>());
    }

    /// On a 32-bit target these sizes wrap: 2^15 buffers of 2^17 bytes
    /// make 2^32, which is 0, so the mapping would hold the ring alone and
    /// the kernel would be handed buffers past its end.
    #[test]
    fn a_size_that_would_wrap_a_32_bit_usize_is_refused() {
        assert!(refused(1 << 15, 1 << 17, MAX_32), "the buffers alone wrap");
        assert!(refused(1, u32::MAX, MAX_32), "the buffers fit, the ring in front does not");
        let fits = Layout::new(1, u32::MAX - PAGE as u32, PAGE, MAX_32).unwrap();
        assert_eq!(fits.total, MAX_32, "the largest that fits is taken");
    }

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn every_configuration_fits_a_64_bit_usize() {
        let max = isize::MAX as usize;
        let l = Layout::new(MAX_BUF_RING_ENTRIES, u32::MAX, PAGE, max).unwrap();
        assert_eq!(l.total, (1 << 15) * size_of::<Buf>() + (1 << 15) * u32::MAX as usize);
    }
}
