//! Memory shared with the kernel: one `mmap`ed region, unmapped on drop.
//!
//! The ring's three regions and each provided-buffer ring are `Mmap`s, so a
//! failure half-way through set-up unmaps what was mapped with no cleanup
//! code. Nothing here knows what the regions hold.

use core::ffi::{c_int, c_void};
use core::ptr::{self, NonNull};
use std::io;

/// One `mmap`ed region, unmapped on drop (so a failure half-way through set-up
/// unmaps what was mapped, in reverse order, with no cleanup code).
#[derive(Debug)]
pub(crate) struct Mmap {
    ptr: NonNull<c_void>,
    len: usize,
}

impl Mmap {
    pub(crate) fn ring_region(fd: c_int, len: usize, offset: i64) -> io::Result<Mmap> {
        // SAFETY: a fresh shared mapping of the ring fd at one of the three
        // offsets the kernel defines; a null hint lets the kernel choose the
        // address, so no existing mapping is touched.
        let ptr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                offset,
            )
        };
        Self::checked(ptr, len)
    }

    pub(crate) fn anonymous(len: usize) -> io::Result<Mmap> {
        // SAFETY: a fresh private anonymous mapping; touches no other memory.
        let ptr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        Self::checked(ptr, len)
    }

    fn checked(ptr: *mut c_void, len: usize) -> io::Result<Mmap> {
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mmap { ptr: NonNull::new(ptr).expect("mmap returned null"), len })
    }

    pub(crate) fn at<T>(&self, offset: usize) -> *mut T {
        assert!(offset < self.len, "offset {offset} outside a mapping of {}", self.len);
        // SAFETY: offsets come from the kernel's `io_uring_params` (or from
        // our own layout for anonymous maps) and lie inside the mapping.
        unsafe { self.ptr.as_ptr().cast::<u8>().add(offset).cast() }
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned; every pointer
        // into the region is owned by the struct that owns this `Mmap`.
        unsafe { libc::munmap(self.ptr.as_ptr(), self.len) };
    }
}
