//! The worker's provided-buffer ring, shared by every multishot receive on
//! the worker, owned by the driver and created on first use.
//!
//! On kernels that have it (6.12), the ring is incremental: buffers are
//! large (64 KiB by default) and each receive takes only the part of the
//! head buffer it fills, so one buffer carries many small messages and a
//! bulk transfer moves up to a buffer per completion. A buffer then goes
//! back to the kernel once the kernel has filled it to the end and every
//! piece handed out of it has been dropped. On older kernels each
//! completion takes a whole (4 KiB) buffer.
//!
//! The driver takes each piece ([`BufPool::take`]) as it reaps, in
//! completion order (which is the order the kernel filled the buffer in);
//! pieces go back with [`BufPool::release`]. Returns are published once per
//! tick, with one store, before the worker enters the kernel. When fewer
//! than a quarter of the buffers are left (`low`), receives copy data out
//! of the ring rather than keep it, and arm with buffers of their own
//! (docs/networking.md, "No peer can drain the ring").

use std::io;

use crate::uring::{Completion, IoUring, ProvidedBufRing};

/// The buffer group id of the worker's ring.
pub(crate) const BGID: u16 = 0;

/// The geometry of the worker's ring: `(entries, buf_size)`, each `None`
/// for the default, and whether to ask for incremental consumption.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BufConfig {
    pub(crate) entries: Option<u16>,
    pub(crate) size: Option<u32>,
    pub(crate) incremental: bool,
}

impl BufConfig {
    /// The geometries the ring may get: incremental, then whole buffers.
    pub(crate) fn geometries(&self) -> [(u16, u32); 2] {
        [INC_DEFAULT, WHOLE_DEFAULT]
            .map(|(e, s)| (self.entries.unwrap_or(e), self.size.unwrap_or(s)))
    }
}

/// Defaults of an incremental ring: 32 buffers of 64 KiB.
const INC_DEFAULT: (u16, u32) = (32, 64 * 1024);
/// Defaults of a ring whose buffers are taken whole: 256 of 4 KiB.
const WHOLE_DEFAULT: (u16, u32) = (256, 4096);

/// What the pieces of one buffer look like from our side.
#[derive(Clone, Copy, Default)]
struct Piece {
    /// Bytes of it completions have handed out so far: the next
    /// completion's data starts here.
    filled: u32,
    /// Pieces handed out and not yet released.
    refs: u32,
    /// The kernel is done with it (a completion without `BUF_MORE`): it
    /// goes back once `refs` is 0.
    ours: bool,
}

pub(crate) struct BufPool {
    ring: ProvidedBufRing,
    pieces: Box<[Piece]>,
    /// Buffers the kernel is done with and that are not yet recycled.
    pub(crate) out: usize,
    /// Pieces whose data was copied out so they could go back early.
    pub(crate) copied: u64,
    dirty: bool,
}

impl BufPool {
    /// Register the ring: incremental if asked and the kernel has it
    /// (falling back to whole buffers if not), default geometry for what
    /// `config` leaves open.
    pub(crate) fn new(ring: &IoUring, config: BufConfig) -> io::Result<BufPool> {
        let [(inc_entries, inc_size), (entries, size)] = config.geometries();
        let inc = match config.incremental {
            true => match ring.register_buf_ring_incremental(inc_entries, inc_size, BGID) {
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    tracing::debug!("no incremental buffer rings (Linux < 6.12): whole buffers");
                    None
                }
                other => Some(other?),
            },
            false => None,
        };
        let ring = match inc {
            Some(ring) => ring,
            None => ring.register_buf_ring(entries, size, BGID)?,
        };
        let pieces = vec![Piece::default(); ring.entries() as usize].into_boxed_slice();
        Ok(BufPool { ring, pieces, out: 0, copied: 0, dirty: false })
    }

    /// Buffers in the ring, free for the kernel to fill.
    pub(crate) fn available(&self) -> usize {
        self.ring.entries() as usize - self.out
    }

    /// Fewer than a quarter of the buffers are left in the ring: receives
    /// copy what they get out of it rather than keep it unread (see
    /// docs/networking.md, "No peer can drain the ring").
    pub(crate) fn low(&self) -> bool {
        self.available() < (self.entries() / 4).max(1)
    }

    /// Take the piece of its buffer that `cqe` (of this pool's group)
    /// handed out: returns where its data starts in the buffer. Called
    /// once per such completion, in completion order, as it is reaped.
    pub(crate) fn take(&mut self, cqe: &Completion) -> Option<u32> {
        let bid = cqe.buffer_id()?;
        let piece = &mut self.pieces[bid as usize];
        let offset = piece.filled;
        piece.refs += 1;
        if self.ring.incremental() && cqe.buffer_more() {
            piece.filled += cqe.raw_result().max(0) as u32;
        } else {
            piece.ours = true;
            self.out += 1;
        }
        Some(offset)
    }

    /// Where the piece at `offset` of buffer `bid`, `len` bytes, is.
    ///
    /// # Panics
    ///
    /// If the piece is not inside the buffer.
    ///
    /// # Safety
    ///
    /// [`take`](BufPool::take) handed that piece out and it has not been
    /// released since (the caller owns it).
    pub(crate) unsafe fn ptr(&self, bid: u16, offset: u32, len: usize) -> *const u8 {
        // SAFETY: the caller owns the piece: the kernel filled it before
        // handing it out and does not write it again before it is recycled,
        // which waits for this piece's release.
        unsafe { self.ring.buf_at(bid, offset as usize, len).as_ptr() }
    }

    /// The number of buffers in the ring.
    pub(crate) fn entries(&self) -> usize {
        self.ring.entries() as usize
    }

    /// Give back a piece of buffer `bid`; the buffer reaches the kernel at
    /// the next publish once the kernel is done with it and every piece
    /// is released.
    ///
    /// # Safety
    ///
    /// [`take`](BufPool::take) handed the piece out, and each piece is
    /// released once.
    pub(crate) unsafe fn release(&mut self, bid: u16) {
        let piece = &mut self.pieces[bid as usize];
        piece.refs -= 1;
        if piece.refs == 0 && piece.ours {
            *piece = Piece::default();
            // SAFETY: the kernel handed the whole buffer over (a completion
            // without BUF_MORE) and no piece of it is held any more; it was
            // not recycled since (`ours` is reset here, set again only by
            // the next hand-over).
            unsafe { self.ring.recycle(bid) };
            self.out -= 1;
            self.dirty = true;
        }
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
