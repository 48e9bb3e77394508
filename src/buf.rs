//! Owned buffers for I/O: [`IoBuf`] (the kernel reads it), [`IoBufMut`]
//! (the kernel writes it), and [`Slice`], a range of one.
//!
//! Implemented for `Vec<u8>`, `Box<[u8]>`, `&'static [u8]`, `&'static [u8; N]`,
//! `&'static str`, `Rc<[u8]>` and `Arc<[u8]>` (shared, read-only: one buffer
//! for a broadcast), `bytes::Bytes` and `bytes::BytesMut` (feature `bytes`),
//! [`Slice`] and [`RecvBuf`](crate::net::RecvBuf).
//!
//! An operation takes its buffer by value and gives it back with the result,
//! so the buffer is the operation's while the kernel may touch it, even if
//! the operation's future is dropped. The traits are `unsafe` because the
//! kernel keeps the raw pointer across moves of the buffer value: it must
//! point at memory that does not move with it (a heap allocation or
//! `'static` data).

use std::ops::{Bound, RangeBounds};

/// A buffer the kernel may read from.
///
/// # Safety
///
/// `stable_ptr` points at `bytes_init` initialised bytes that stay at the
/// same address, unmodified, while the value is moved around and until it
/// is dropped (a heap allocation or `'static` data, not inline storage).
pub unsafe trait IoBuf: 'static {
    /// Where the bytes start.
    fn stable_ptr(&self) -> *const u8;

    /// How many bytes are initialised (what a write sends).
    fn bytes_init(&self) -> usize;

    /// How many bytes fit (what a read may fill).
    fn bytes_total(&self) -> usize;

    /// Whether the bytes sit in a worker's provided-buffer ring (a
    /// [`RecvBuf`](crate::net::RecvBuf) fresh from a receive), which every
    /// receive on the worker shares. A send of such a buffer does not wait
    /// for socket space while holding it: if the send would block, the
    /// bytes are first copied out ([`leave_ring`](Self::leave_ring)). Other
    /// buffers keep the default, `false`.
    #[doc(hidden)]
    fn in_ring(&self) -> bool {
        false
    }

    /// Copy the bytes out of the provided-buffer ring into memory of the
    /// buffer's own and give the ring's buffer back (`in_ring` is `false`
    /// afterwards). Called only while no operation uses the buffer; it may
    /// move `stable_ptr`. The default does nothing.
    #[doc(hidden)]
    fn leave_ring(&mut self) {}

    /// A view of `range` of this buffer, which owns it.
    ///
    /// # Panics
    ///
    /// If the range is out of bounds of `bytes_total`.
    fn slice(self, range: impl RangeBounds<usize>) -> Slice<Self>
    where
        Self: Sized,
    {
        let past = |n: usize| n.checked_add(1).expect("slice range out of bounds");
        let begin = match range.start_bound() {
            Bound::Included(&n) => n,
            Bound::Excluded(&n) => past(n),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&n) => past(n),
            Bound::Excluded(&n) => n,
            Bound::Unbounded => self.bytes_total(),
        };
        assert!(begin <= end && end <= self.bytes_total(), "slice {begin}..{end} out of bounds");
        Slice { buf: self, begin, end }
    }
}

/// A buffer the kernel may write into.
///
/// # Safety
///
/// As [`IoBuf`], and `stable_mut_ptr` is valid for writes of `bytes_total`
/// bytes.
pub unsafe trait IoBufMut: IoBuf {
    /// Where the kernel writes.
    fn stable_mut_ptr(&mut self) -> *mut u8;

    /// Record that the first `len` bytes are initialised.
    ///
    /// # Safety
    ///
    /// The first `len` bytes were written.
    unsafe fn set_init(&mut self, len: usize);
}

// SAFETY: a Vec's buffer is a heap allocation that moves with the Vec
// unchanged; `len` bytes are initialised and `capacity` fit.
unsafe impl IoBuf for Vec<u8> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

// SAFETY: as for `IoBuf`; writes up to `capacity` stay in the allocation.
unsafe impl IoBufMut for Vec<u8> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, len: usize) {
        if self.len() < len {
            // SAFETY: the caller guarantees `len` bytes were written, and
            // `len <= capacity` (the kernel wrote at most `bytes_total`).
            unsafe { self.set_len(len) };
        }
    }
}

// SAFETY: a boxed slice is a heap allocation, all of it initialised.
unsafe impl IoBuf for Box<[u8]> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: as for `IoBuf`; the whole box is writable.
unsafe impl IoBufMut for Box<[u8]> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, _len: usize) {}
}

// SAFETY: `'static` data never moves and is never freed.
unsafe impl IoBuf for &'static [u8] {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: `'static` data never moves and is never freed.
unsafe impl<const N: usize> IoBuf for &'static [u8; N] {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        N
    }
    fn bytes_total(&self) -> usize {
        N
    }
}

// SAFETY: `'static` data never moves and is never freed.
unsafe impl IoBuf for &'static str {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

/// Shared read-only bytes: one allocation that many writes may send at
/// once (a broadcast), each holding a clone of the `Rc`.
// SAFETY: the slice lives in the `Rc`'s heap allocation, which does not
// move when the `Rc` does and is freed only when the last clone (one of
// which the operation holds) drops; `[u8]` behind an `Rc` is never
// mutated while shared.
unsafe impl IoBuf for std::rc::Rc<[u8]> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

/// As for `Rc<[u8]>`, shareable across workers.
// SAFETY: as for `Rc<[u8]>`: a heap allocation freed with the last clone.
unsafe impl IoBuf for std::sync::Arc<[u8]> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

/// `bytes::Bytes` (feature `bytes`): shared read-only bytes, like `Arc<[u8]>`.
#[cfg(feature = "bytes")]
// SAFETY: a `Bytes` points at a heap allocation it shares (freed with the
// last clone, one of which the operation holds) or at `'static` data;
// neither moves with the handle, and `Bytes` is never mutated.
unsafe impl IoBuf for bytes::Bytes {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

/// `bytes::BytesMut` (feature `bytes`): a read fills its spare capacity.
#[cfg(feature = "bytes")]
// SAFETY: a `BytesMut`'s storage is always on the heap (never inline) and
// does not move when the handle does; `len` bytes are initialised and
// `capacity` fit.
unsafe impl IoBuf for bytes::BytesMut {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

#[cfg(feature = "bytes")]
// SAFETY: as for `IoBuf`; writes up to `capacity` stay in its allocation.
unsafe impl IoBufMut for bytes::BytesMut {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, len: usize) {
        if self.len() < len {
            // SAFETY: the caller guarantees `len` bytes were written, and
            // `len <= capacity` (the kernel wrote at most `bytes_total`).
            unsafe { self.set_len(len) };
        }
    }
}

/// A range of an owned buffer; `into_inner` gives the whole buffer back.
///
/// A partial write continues from where it stopped, and a read can fill the
/// tail of a buffer, without copying.
///
/// # Examples
///
/// ```
/// use corering::buf::IoBuf;
///
/// let s = b"hello world".to_vec().slice(6..);
/// assert_eq!(&s[..], b"world");
/// assert_eq!(s.into_inner().len(), 11);
/// ```
#[derive(Debug)]
pub struct Slice<T> {
    buf: T,
    begin: usize,
    end: usize,
}

impl<T> Slice<T> {
    /// The whole buffer.
    pub fn into_inner(self) -> T {
        self.buf
    }

    /// The buffer, borrowed.
    pub fn get_ref(&self) -> &T {
        &self.buf
    }

    /// Where the slice starts in the buffer.
    pub fn begin(&self) -> usize {
        self.begin
    }

    /// Where the slice ends in the buffer.
    pub fn end(&self) -> usize {
        self.end
    }
}

impl<T: IoBuf> std::ops::Deref for Slice<T> {
    type Target = [u8];

    /// The initialised part of the range.
    fn deref(&self) -> &[u8] {
        let end = self.end.min(self.buf.bytes_init()).max(self.begin);
        // SAFETY: `begin..end` lies within the initialised bytes (`end` is
        // clamped to `bytes_init`, and `begin <= end`).
        unsafe {
            std::slice::from_raw_parts(self.buf.stable_ptr().add(self.begin), end - self.begin)
        }
    }
}

// SAFETY: a range of a stable buffer is stable; its initialised part is
// the buffer's, clamped to the range.
unsafe impl<T: IoBuf> IoBuf for Slice<T> {
    fn stable_ptr(&self) -> *const u8 {
        // SAFETY: `begin <= bytes_total`, inside (or one past) the buffer.
        unsafe { self.buf.stable_ptr().add(self.begin) }
    }
    fn bytes_init(&self) -> usize {
        self.buf.bytes_init().clamp(self.begin, self.end) - self.begin
    }
    fn bytes_total(&self) -> usize {
        self.end - self.begin
    }
    fn in_ring(&self) -> bool {
        self.buf.in_ring()
    }
    fn leave_ring(&mut self) {
        self.buf.leave_ring();
    }
}

// SAFETY: writes within `begin..end` stay inside the buffer's writable
// `bytes_total`.
unsafe impl<T: IoBufMut> IoBufMut for Slice<T> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        // SAFETY: as in `stable_ptr`.
        unsafe { self.buf.stable_mut_ptr().add(self.begin) }
    }
    unsafe fn set_init(&mut self, len: usize) {
        if len == 0 {
            return; // nothing was written: the buffer stays as it was
        }
        let init = self.buf.bytes_init();
        if init < self.begin {
            // The range started past the initialised bytes: zero the gap so
            // that marking `begin + len` initialised exposes no garbage.
            // SAFETY: `init..begin` lies within `bytes_total` (begin <= end
            // <= total), writable by `IoBufMut`'s contract.
            unsafe { self.buf.stable_mut_ptr().add(init).write_bytes(0, self.begin - init) };
        }
        // SAFETY: bytes before `begin` are initialised (just above, or
        // already), and the caller wrote `len` bytes from `begin`.
        unsafe { self.buf.set_init(self.begin + len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_clamp_to_initialised_bytes() {
        let mut v = Vec::with_capacity(16);
        v.extend_from_slice(b"abcdef");
        let s = v.slice(2..10);
        assert_eq!(s.bytes_total(), 8);
        assert_eq!(s.bytes_init(), 4);
        assert_eq!(&s[..], b"cdef");
        let mut s = s;
        // SAFETY: pretend the kernel wrote 6 bytes from offset 2.
        unsafe {
            s.stable_mut_ptr().add(4).write(b'g');
            s.stable_mut_ptr().add(5).write(b'h');
            s.set_init(6);
        }
        assert_eq!(s.into_inner(), b"abcdefgh");
    }

    #[test]
    fn filling_a_tail_past_the_initialised_bytes_zeroes_the_gap() {
        let mut s = Vec::with_capacity(16).slice(8..);
        // SAFETY: pretend the kernel wrote 2 bytes at the slice's start.
        unsafe {
            s.stable_mut_ptr().write(b'x');
            s.stable_mut_ptr().add(1).write(b'y');
            s.set_init(2);
        }
        let v = s.into_inner();
        assert_eq!(v.len(), 10);
        assert_eq!(&v[..8], &[0; 8], "no uninitialised byte is exposed");
        assert_eq!(&v[8..], b"xy");
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn slice_past_capacity_panics() {
        let _ = Vec::<u8>::with_capacity(4).slice(0..5);
    }
}
