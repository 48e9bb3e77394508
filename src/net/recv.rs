//! `RecvStream`: a multishot receive as a `Stream` of buffers borrowed from
//! the worker's provided-buffer ring, and `RecvBuf`, one such buffer.
//!
//! One `RECV` SQE with buffer select keeps delivering data until it ends;
//! the stream re-arms it, without losing or reordering a byte, when it ends
//! because the CQ overflowed or because the stream's unread queue reached
//! its bound (backpressure: a slow reader stops taking buffers from the
//! others). While the ring runs low, or after a receive found it dry
//! (`ENOBUFS`), the stream receives once into a buffer of its own instead:
//! no connection waits for the ring.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::buf::{IoBuf, IoBufMut};
use crate::runtime::fd::SharedFd;
use crate::runtime::op::{MultiOp, Op};
use crate::runtime::{Worker, context};
use crate::uring::Completion;

use super::ops::{Recv, RecvMulti};

/// Unread buffers one stream may hold before its receive is paused (never
/// more than half the worker's buffer ring), and, times 4 KiB, the unread
/// bytes it may hold.
pub const DEFAULT_RECV_LIMIT: usize = 32;

/// Received bytes in a buffer of the worker's ring; dropping it gives the
/// buffer back to the kernel. (On an incremental ring it is a piece of a
/// 64 KiB buffer that other receives share; the buffer goes back once the
/// kernel has filled it and every piece of it is dropped.)
///
/// It derefs to `&[u8]`, and it is an [`IoBuf`], so it can be written out
/// (echoed) without a copy: the buffer returns to the ring once that write
/// has completed. (Data that arrived past a stream's unread bound was
/// copied out of the ring; such a `RecvBuf` owns a plain allocation.)
///
/// A send of a `RecvBuf` that would wait for a peer to read copies the
/// bytes out first, so the ring's buffer goes back at once (the returned
/// `RecvBuf` owns the copy). A `RecvBuf` the program keeps does hold its
/// ring buffer: copy (`to_vec()`) what you keep for long (see
/// docs/networking.md, "No peer can drain the ring").
pub struct RecvBuf {
    home: Home,
    ptr: *const u8,
    len: usize,
}

/// Where a `RecvBuf`'s bytes live.
enum Home {
    /// In a piece of the worker's ring buffer `bid`, given back on drop.
    Ring(Rc<Worker>, u16),
    /// In an allocation of its own (`ptr` points into it): data copied
    /// out of the ring, or received into memory of the stream's own.
    Heap(#[allow(dead_code)] /* owns what `ptr` points at */ Vec<u8>),
}

impl RecvBuf {
    /// Take ownership of the piece of ring buffer `bid` at `offset` that a
    /// completion handed out.
    fn from_ring(worker: &Rc<Worker>, bid: u16, offset: u32, len: usize) -> io::Result<RecvBuf> {
        // SAFETY: a completion of this worker's ring handed the piece out,
        // and this RecvBuf is its only owner from now on.
        let ptr = worker.with_bufs(|pool| unsafe { pool.ptr(bid, offset, len) })?;
        Ok(RecvBuf { home: Home::Ring(worker.clone(), bid), ptr, len })
    }

    fn spilled(data: Vec<u8>) -> RecvBuf {
        RecvBuf { ptr: data.as_ptr(), len: data.len(), home: Home::Heap(data) }
    }

    /// The ring buffer the bytes are in, if they are in the ring.
    fn bid(&self) -> Option<u16> {
        match self.home {
            Home::Ring(_, bid) => Some(bid),
            Home::Heap(_) => None,
        }
    }

    /// The received bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` points at `len` received bytes: a piece of ring
        // buffer `bid` that the kernel has filled and does not write again
        // before the buffer is recycled, which waits for this piece's
        // release in `drop` (`BufPool::release`), or in `Home::Heap`, an
        // allocation we own and never change.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl std::ops::Deref for RecvBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for RecvBuf {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Drop for RecvBuf {
    fn drop(&mut self) {
        let Home::Ring(worker, bid) = &self.home else { return };
        // At shutdown the driver may be busy draining; the ring then goes
        // away with it, so a buffer not handed back is no loss.
        if let Ok(mut driver) = worker.driver.try_borrow_mut()
            && let Ok(pool) = driver.with_bufs()
        {
            // SAFETY: one completion handed this piece of `bid` to this
            // RecvBuf, created once per completion and not clonable: this is
            // its only release.
            unsafe { pool.release(*bid) };
        }
    }
}

impl fmt::Debug for RecvBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvBuf").field("bid", &self.bid()).field("len", &self.len).finish()
    }
}

// SAFETY: the bytes live in the worker's buffer ring, which does not move
// and outlives the RecvBuf (it holds the worker), or in the RecvBuf's own
// heap allocation; they are not modified while the RecvBuf owns them.
unsafe impl IoBuf for RecvBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.ptr
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
    fn bytes_total(&self) -> usize {
        self.len
    }
    fn in_ring(&self) -> bool {
        matches!(self.home, Home::Ring(..))
    }
    fn leave_ring(&mut self) {
        if let Home::Ring(worker, _) = &self.home {
            let _ = worker.with_bufs(|pool| pool.copied += 1);
            let copy = self.as_slice().to_vec();
            *self = RecvBuf::spilled(copy); // the old value's drop recycles the buffer
        }
    }
}

/// The receive side of a socket as a stream of [`RecvBuf`]s; see
/// `TcpStream::recv_stream`. Ends (`None`) at end of stream; an error ends
/// it after being yielded.
///
/// Once polled, it receives ahead of its reader (up to its unread bound).
/// Dropping it keeps what it received and did not yield (and whatever the
/// kernel hands it before its cancel lands) with the socket: the next
/// `read` or `recv_stream` on it returns those bytes first, so switching
/// styles midway loses nothing.
pub struct RecvStream {
    fd: SharedFd,
    op: Option<Armed>,
    limit: u32,
    done: bool,
    /// The last receive ended in `ENOBUFS`: receive once into memory of
    /// the stream's own before arming on the ring again.
    starved: bool,
    /// The size of the next receive into memory of our own: 4 KiB at
    /// first, doubled each time one comes back full, up to the ring's
    /// buffer size.
    own_size: u32,
}

/// The first receive into memory of a stream's own takes up to this much.
const FIRST_OWN_SIZE: u32 = 4096;

/// What a stream has in flight.
enum Armed {
    /// The multishot receive, and the worker it is armed on (whose buffer
    /// ring its buffers come from): the one polling when it was armed.
    Ring(MultiOp<RecvMulti>, Rc<Worker>),
    /// One receive into a buffer of the stream's own, while the worker's
    /// ring runs low (or this stream found it dry).
    Owned(Op<Recv<Vec<u8>>>),
}

impl RecvStream {
    pub(crate) fn new(fd: SharedFd, limit: usize) -> RecvStream {
        RecvStream {
            fd,
            op: None,
            limit: limit.clamp(1, u32::MAX as usize) as u32,
            done: false,
            starved: false,
            own_size: FIRST_OWN_SIZE,
        }
    }

    /// What to receive with next, on the worker polling us: the multishot
    /// receive on its ring, unless the ring runs low or this stream just
    /// found it dry. Then one receive into a buffer of our own (`own_size`):
    /// no connection ever waits for the ring to refill. One stream may hold
    /// at most half the ring.
    fn arm(&mut self) -> io::Result<Armed> {
        let worker = context::current().expect(context::NO_RUNTIME);
        let starved = std::mem::take(&mut self.starved);
        let (low, cap, size) =
            worker.with_bufs(|pool| (pool.low(), (pool.entries() / 2).max(1), pool.buf_size()))?;
        let fd = self.fd.clone();
        Ok(if starved || low {
            Armed::Owned(Op::new(Recv::new(
                fd,
                Vec::with_capacity((self.own_size as usize).min(size)),
            )))
        } else {
            Armed::Ring(
                MultiOp::with_limit(RecvMulti { fd }, (self.limit as usize).min(cap)),
                worker,
            )
        })
    }

    /// Poll for the next buffer (what `StreamExt::next` calls).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<RecvBuf>>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            // Bytes a dropped receive on this socket got ahead of its reader
            // come before anything still to arrive.
            if let Some(data) = self.fd.take_stash(usize::MAX) {
                return Poll::Ready(Some(Ok(RecvBuf::spilled(data))));
            }
            let armed = match &mut self.op {
                Some(armed) => armed,
                None => match self.arm() {
                    Ok(armed) => self.op.insert(armed),
                    Err(e) => {
                        self.done = true;
                        return Poll::Ready(Some(Err(e)));
                    }
                },
            };
            let (op, worker) = match armed {
                Armed::Ring(op, worker) => (op, worker.clone()),
                Armed::Owned(op) => {
                    let Poll::Ready((cqe, recv)) = Pin::new(&mut *op).poll(cx) else {
                        return self
                            .wait_or_fail(|a| matches!(a, Armed::Owned(o) if o.armed_elsewhere()));
                    };
                    self.op = None;
                    match cqe.result() {
                        Ok(0) => self.done = true,
                        Ok(n) => {
                            let mut data = recv.into_buf();
                            if n as usize == data.capacity() {
                                self.own_size = self.own_size.saturating_mul(2);
                            }
                            // SAFETY: the kernel wrote `n` bytes at its start.
                            unsafe { data.set_init(n as usize) };
                            return Poll::Ready(Some(Ok(RecvBuf::spilled(data))));
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            self.done = true;
                            return Poll::Ready(Some(Err(e)));
                        }
                    }
                    continue;
                }
            };
            let delivery = match op.poll_next(cx) {
                Poll::Pending => {
                    return self
                        .wait_or_fail(|a| matches!(a, Armed::Ring(o, _) if o.armed_elsewhere()));
                }
                Poll::Ready(None) => {
                    self.op = None;
                    continue;
                }
                Poll::Ready(Some(d)) => d,
            };
            if op.is_done() {
                self.op = None; // the final completion: arm again next time
            }
            if let Some(data) = delivery.spilled {
                return Poll::Ready(Some(Ok(RecvBuf::spilled(data.into_vec()))));
            }
            if let Some(item) = self.completion(&worker, delivery.cqe, delivery.offset) {
                return Poll::Ready(item);
            }
        }
    }

    /// The armed receive has nothing yet. If it is in flight on another
    /// runtime of this thread (not running now), waiting here would be
    /// forever: end the stream with an error instead.
    fn wait_or_fail(
        &mut self,
        elsewhere: impl Fn(&Armed) -> bool,
    ) -> Poll<Option<io::Result<RecvBuf>>> {
        if self.op.as_ref().is_some_and(elsewhere) {
            self.done = true;
            return Poll::Ready(Some(Err(context::elsewhere())));
        }
        Poll::Pending
    }

    /// What one completion means for the reader; `None`: nothing to yield,
    /// keep going (re-arm).
    fn completion(
        &mut self,
        worker: &Rc<Worker>,
        cqe: Completion,
        offset: u32,
    ) -> Option<Option<io::Result<RecvBuf>>> {
        if let Some(bid) = cqe.buffer_id() {
            let len = cqe.raw_result().max(0) as usize;
            let buf = RecvBuf::from_ring(worker, bid, offset, len);
            if len > 0 || buf.is_err() {
                return Some(Some(buf));
            }
            // An empty buffer: given back as `buf` drops; read the result.
        }
        match cqe.raw_result() {
            // End of stream. (The kernel may set F_SOCK_NONEMPTY on this
            // completion: TCP counts the FIN as queued. On a stream socket a
            // zero-byte receive is the end all the same.)
            0 => {
                self.done = true;
                Some(None)
            }
            e if e == -libc::ENOBUFS => {
                self.starved = true;
                tracing::debug!(fd = self.fd.raw(), "recv ran out of buffers");
                None
            }
            // Paused at the unread bound (our own cancel), or ended by a CQ
            // overflow: re-arm.
            e if e == -libc::ECANCELED => None,
            e => {
                self.done = true;
                Some(Some(Err(io::Error::from_raw_os_error(-e))))
            }
        }
    }
}

impl Stream for RecvStream {
    type Item = io::Result<RecvBuf>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx)
    }
}

impl fmt::Debug for RecvStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvStream")
            .field("fd", &self.fd.raw())
            .field("armed", &self.op.is_some())
            .field("limit", &self.limit)
            .finish()
    }
}

/// Await the next item of a [`RecvStream`] without a `StreamExt` import.
impl RecvStream {
    /// The next buffer, `None` at end of stream.
    pub async fn next(&mut self) -> Option<io::Result<RecvBuf>> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }
}
