//! Poll-based I/O for the wider ecosystem: [`Io`] wraps a corering stream
//! and implements tokio's `AsyncRead`/`AsyncBufRead`/`AsyncWrite` (feature
//! `tokio-io`), the `futures-io` traits (feature `futures-io`) and hyper's
//! `rt::Read`/`rt::Write` (feature `hyper`, with `HyperExecutor` and
//! `HyperTimer`), so that hyper, codecs, TLS and the rest run on corering
//! sockets.
//!
//! corering's own I/O is completion-based: an operation owns its buffer
//! until the kernel is done with it. A poll-based caller lends a buffer for
//! one call only, so the wrapper owns the buffers the kernel uses, with at
//! most one receive and one send in flight:
//!
//! - **Reads** come from the socket's [`RecvStream`]: buffers of the
//!   worker's provided-buffer ring, copied into the caller's buffer (the one
//!   copy a poll-based read needs) or lent in place through
//!   `AsyncBufRead::poll_fill_buf` (no copy). An idle connection holds no
//!   read buffer at all.
//! - **Writes** are copied into the wrapper's send buffer (at most 64 KiB
//!   accepted ahead; then `poll_write` waits; a vectored write gathers its
//!   slices) and sent as one `send` with `MSG_WAITALL` while further
//!   writes gather behind it. `poll_write` returns as soon as the bytes are
//!   accepted; `poll_flush` as soon as every accepted byte has been handed
//!   to the kernel, without waiting for the send to complete: on a stream
//!   socket the kernel retries a short `MSG_WAITALL` send itself until all
//!   went or the connection failed, so no further poll is needed to finish
//!   it, and its completion wakes nobody (a hyper response costs one task
//!   poll, not two). A send that fails is therefore reported by a *later*
//!   call: the next `poll_write` or `poll_flush` once it has completed,
//!   and at the latest `poll_shutdown`, which waits for every send to
//!   complete ([`Io::poll_sent`] waits too, without shutting down).
//! - **Dropping** the wrapper with a send in flight does not cancel it: a
//!   task on the worker finishes it and what queued behind it, then the
//!   socket closes. A peer that reads nothing gets
//!   [`DEFAULT_DRAIN_TIMEOUT`] (or [`Io::set_drain_timeout`]) to do so;
//!   then the rest is dropped and the socket closes, so peers that never
//!   read cannot keep dropped connections open.
//! - **Shutdown** waits for every send, then shuts the write side down
//!   through the ring.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use crate::buf::{IoBuf, Slice};
use crate::net::{RecvBuf, RecvStream};
use crate::runtime::op::Op;

/// Bytes `poll_write` accepts ahead of the kernel before it waits.
const WRITE_AHEAD: usize = 64 * 1024;

/// Sockets [`Io`] can wrap: connected stream sockets and their halves.
/// Sealed: implemented for corering's stream types only.
pub trait Stream: sealed::Sealed {}
/// A [`Stream`] that can be read (a whole stream, or a read half).
pub trait Readable: Stream {}
/// A [`Stream`] that can be written (a whole stream, or a write half).
pub trait Writable: Stream {}

mod sealed {
    /// A stream's fd handle, out of reach outside the crate.
    #[derive(Debug)]
    pub struct Fd<'a>(pub(crate) &'a crate::runtime::fd::SharedFd);

    pub trait Sealed {
        fn fd(&self) -> Fd<'_>;
    }
}

macro_rules! compat_stream {
    ($t:ty: $($marker:ident),*) => {
        impl sealed::Sealed for $t {
            fn fd(&self) -> sealed::Fd<'_> {
                sealed::Fd(&self.fd)
            }
        }
        impl Stream for $t {}
        $(impl $marker for $t {})*
    };
}

compat_stream!(crate::net::TcpStream: Readable, Writable);
compat_stream!(crate::net::UnixStream: Readable, Writable);
compat_stream!(crate::net::OwnedReadHalf: Readable);
compat_stream!(crate::net::OwnedWriteHalf: Writable);

/// A corering stream with poll-based I/O; see the [module docs](self).
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "tokio-io")]
/// # {
/// use corering::compat::Io;
/// use corering::net::UnixStream;
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// let rt = corering::Runtime::new_default()?;
/// rt.block_on(async {
///     let (a, b) = UnixStream::pair()?;
///     let (mut a, mut b) = (Io::new(a), Io::new(b));
///     a.write_all(b"hello").await?;
///     a.flush().await?;
///     let mut got = [0; 5];
///     b.read_exact(&mut got).await?;
///     assert_eq!(&got, b"hello");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # }
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Io<T: Stream> {
    inner: T,
    read: ReadSide,
    write: WriteSide,
}

#[derive(Default)]
struct ReadSide {
    /// Armed at the first read.
    stream: Option<RecvStream>,
    /// A received buffer and how much of it was consumed.
    held: Option<(RecvBuf, usize)>,
    eof: bool,
}

#[derive(Default)]
struct WriteSide {
    /// Accepted by `poll_write`, not yet handed to the kernel. Non-empty
    /// only while a send is in flight (otherwise it goes out at once).
    pending: Vec<u8>,
    /// The send in flight, with the rest of its buffer.
    inflight: Option<Op<crate::net::ops::Send<Slice<Vec<u8>>>>>,
    /// A buffer to gather the next writes into.
    spare: Vec<u8>,
    /// The socket, for the sends (set at the first).
    fd: Option<crate::runtime::fd::SharedFd>,
    shutdown: Option<Pin<Box<dyn Future<Output = io::Result<()>>>>>,
    shut: bool,
    /// A send failed: the connection is broken, every later call fails.
    broken: Option<io::ErrorKind>,
    /// How long a drop keeps sending; `None`: [`DEFAULT_DRAIN_TIMEOUT`].
    drain_timeout: Option<std::time::Duration>,
}

/// How long a dropped [`Io`] keeps sending the bytes it accepted before it
/// gives up on a peer that does not read them (10 s).
pub const DEFAULT_DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl Drop for WriteSide {
    /// Bytes accepted and not yet sent still go out, in the background:
    /// a task on this worker waits for the send in flight and sends the
    /// rest, keeping the socket open until then (as the kernel sends what
    /// a closed socket still had buffered).
    fn drop(&mut self) {
        let Some(op) = self.inflight.take() else { return };
        let Some(worker) = crate::runtime::context::current() else { return };
        if self.broken.is_some() || op.armed_elsewhere() {
            return; // dropping `op` cancels it
        }
        let (pending, fd) = (std::mem::take(&mut self.pending), self.fd.take());
        let limit = self.drain_timeout.unwrap_or(DEFAULT_DRAIN_TIMEOUT);
        drop(worker.spawn(crate::time::timeout(limit, async move {
            let (cqe, send) = op.await;
            let slice = send.into_buf();
            let (begin, end) = (slice.begin(), slice.end());
            let Some(fd) = fd else { return };
            match cqe.result() {
                Ok(n) if begin + n as usize >= end => {}
                Ok(n) => {
                    let rest = slice.into_inner().slice(begin + n as usize..end);
                    if crate::net::stream::write_all(&fd, rest).await.0.is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    if crate::net::stream::write_all(&fd, slice).await.0.is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
            if !pending.is_empty() {
                let _ = crate::net::stream::write_all(&fd, pending).await;
            }
        })));
    }
}

impl<T: Stream> Io<T> {
    /// How long the wrapper, once dropped, keeps sending the bytes it
    /// accepted and has not sent yet (default [`DEFAULT_DRAIN_TIMEOUT`]);
    /// after that the rest is dropped and the socket closes.
    pub fn set_drain_timeout(&mut self, limit: std::time::Duration) {
        self.write.drain_timeout = Some(limit);
    }

    /// Wrap `inner`.
    pub fn new(inner: T) -> Io<T> {
        Io { inner, read: ReadSide::default(), write: WriteSide::default() }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped stream back. Bytes received and not yet read stay with
    /// the socket (its next read returns them). Bytes accepted by
    /// `poll_write` and not yet sent are still sent, in the background (as
    /// when the wrapper drops): wait for them with
    /// [`poll_sent`](Self::poll_sent) before writing to the stream
    /// directly, or the two may interleave.
    pub fn into_inner(mut self) -> T {
        // The stream's unread data goes back to the socket as it drops; the
        // rest of the buffer being read came before all of it.
        drop(self.read.stream.take());
        if let Some((buf, at)) = self.read.held.take() {
            self.inner.fd().0.stash_front(&buf[at..]);
        }
        self.inner
    }
}

impl<T: Readable> Io<T> {
    /// Received bytes not yet consumed, waiting for some if there are none:
    /// an empty slice at end of stream. (`AsyncBufRead::poll_fill_buf`.)
    ///
    /// # Errors
    ///
    /// The kernel's error for the receive.
    pub fn poll_fill_buf(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let read = &mut self.read;
        while read.held.is_none() && !read.eof {
            let fd = self.inner.fd().0;
            let stream = read
                .stream
                .get_or_insert_with(|| RecvStream::new(fd.clone(), crate::net::DEFAULT_RECV_LIMIT));
            match ready!(stream.poll_recv(cx)) {
                Some(Ok(buf)) if buf.is_empty() => {}
                Some(Ok(buf)) => read.held = Some((buf, 0)),
                Some(Err(e)) => return Poll::Ready(Err(e)),
                None => read.eof = true,
            }
        }
        Poll::Ready(Ok(match &read.held {
            Some((buf, at)) => &buf[*at..],
            None => &[],
        }))
    }

    /// Mark `n` bytes of [`poll_fill_buf`](Self::poll_fill_buf)'s slice as
    /// read. (`AsyncBufRead::consume`.)
    pub fn consume(&mut self, n: usize) {
        if let Some((buf, at)) = &mut self.read.held {
            *at = (*at + n).min(buf.len());
            if *at == buf.len() {
                self.read.held = None; // the ring buffer goes back
            }
        }
    }

    /// Copy received bytes into `dst`: how many (0 at end of stream, or
    /// for an empty `dst`).
    ///
    /// # Errors
    ///
    /// The kernel's error for the receive.
    pub fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        dst: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if dst.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let src = ready!(self.poll_fill_buf(cx))?;
        let n = src.len().min(dst.len());
        dst[..n].copy_from_slice(&src[..n]);
        self.consume(n);
        Poll::Ready(Ok(n))
    }
}

impl<T: Writable> Io<T> {
    /// Accept bytes from `src` for sending: how many (up to what fits in
    /// the send buffer; it waits while that is full). They go to the kernel
    /// at once unless a send is in flight, then as soon as it completes. A
    /// send that failed earlier is reported here.
    ///
    /// # Errors
    ///
    /// The error of an earlier send (`BrokenPipe`, `ConnectionReset`, ...),
    /// or `BrokenPipe` after shutdown.
    pub fn poll_write_from(&mut self, cx: &mut Context<'_>, src: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_gather(cx, std::iter::once(src))
    }

    /// [`poll_write_from`](Self::poll_write_from) for several buffers in
    /// order (a vectored write), gathered into one send.
    ///
    /// # Errors
    ///
    /// As [`poll_write_from`](Self::poll_write_from).
    pub fn poll_write_vectored_from(
        &mut self,
        cx: &mut Context<'_>,
        srcs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_gather(cx, srcs.iter().map(|s| &**s))
    }

    fn poll_write_gather<'a>(
        &mut self,
        cx: &mut Context<'_>,
        srcs: impl Iterator<Item = &'a [u8]>,
    ) -> Poll<io::Result<usize>> {
        self.check_open()?;
        self.poll_sends(None)?; // take a finished send's result and buffer
        if self.write.pending.len() >= WRITE_AHEAD {
            self.poll_sends(Some(cx))?;
            if self.write.pending.len() >= WRITE_AHEAD {
                return Poll::Pending; // the send in flight wakes us
            }
        }
        let mut room = WRITE_AHEAD - self.write.pending.len();
        let mut n = 0;
        for src in srcs {
            let take = room.min(src.len());
            self.write.pending.extend_from_slice(&src[..take]);
            (n, room) = (n + take, room - take);
            if room == 0 {
                break;
            }
        }
        self.poll_sends(None)?; // sends it now if nothing is in flight
        Poll::Ready(Ok(n))
    }

    /// Flush: ready once every accepted byte has been handed to the kernel
    /// in a send (waiting only while bytes queue behind the send in
    /// flight). It does not wait for that send to complete: the kernel
    /// finishes it on its own (`MSG_WAITALL`), and a failure is reported
    /// by the next call. [`poll_sent`](Self::poll_sent) waits for it.
    ///
    /// # Errors
    ///
    /// The error of a send.
    pub fn poll_flush_sends(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check_broken()?;
        self.poll_sends(None)?;
        if self.write.pending.is_empty() {
            return Poll::Ready(Ok(()));
        }
        self.poll_sends(Some(cx))?;
        if self.write.pending.is_empty() { Poll::Ready(Ok(())) } else { Poll::Pending }
    }

    /// Wait until every accepted byte has been sent (the kernel completed
    /// the sends): a flush that also waits for the send in flight.
    ///
    /// # Errors
    ///
    /// The error of a send.
    pub fn poll_sent(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check_broken()?;
        self.poll_sends(Some(cx))?;
        if self.write.inflight.is_none() && self.write.pending.is_empty() {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    /// Wait until every accepted byte has been sent, then shut the write
    /// side down (the peer reads end of stream).
    ///
    /// # Errors
    ///
    /// The error of a send or of the shutdown.
    pub fn poll_shutdown_write(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check_broken()?;
        if !self.write.shut {
            ready!(self.poll_sent(cx))?;
            let fd = self.inner.fd().0.clone();
            self.write.shutdown = Some(Box::pin(async move {
                crate::net::ops::shutdown(&fd, std::net::Shutdown::Write).await
            }));
            self.write.shut = true;
        }
        match &mut self.write.shutdown {
            Some(f) => {
                let res = ready!(f.as_mut().poll(cx));
                self.write.shutdown = None;
                Poll::Ready(res)
            }
            None => Poll::Ready(Ok(())),
        }
    }

    fn check_broken(&self) -> io::Result<()> {
        match self.write.broken {
            Some(kind) => Err(kind.into()),
            None => Ok(()),
        }
    }

    fn check_open(&self) -> io::Result<()> {
        self.check_broken()?;
        if self.write.shut {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        Ok(())
    }

    /// Drive the send in flight; start the next when it is done. With
    /// `Some(cx)`, returns with the send in flight (if any) registered to
    /// wake `cx`. With `None`, nobody is woken when it completes: its
    /// completion waits in the driver until a later call takes it, so a
    /// response costs its task no second wake-up and poll. (Nothing needs
    /// a wake-up to finish the send: `MSG_WAITALL` has the kernel retry a
    /// short send itself.)
    fn poll_sends(&mut self, cx: Option<&mut Context<'_>>) -> io::Result<()> {
        let mut quiet = Context::from_waker(std::task::Waker::noop());
        let cx = cx.unwrap_or(&mut quiet);
        let w = &mut self.write;
        let fd = w.fd.get_or_insert_with(|| self.inner.fd().0.clone());
        loop {
            if w.inflight.is_none() {
                if w.pending.is_empty() {
                    return Ok(());
                }
                let next = std::mem::replace(&mut w.pending, std::mem::take(&mut w.spare));
                let len = next.len();
                w.inflight =
                    Some(Op::new(crate::net::ops::Send::all(fd.clone(), next.slice(..len))));
            }
            let op = w.inflight.as_mut().expect("set above");
            let Poll::Ready((cqe, send)) = Pin::new(op).poll(cx) else { return Ok(()) };
            w.inflight = None;
            let slice = send.into_buf();
            let (begin, end) = (slice.begin(), slice.end());
            match cqe.result() {
                Ok(n) if begin + (n as usize) < end => {
                    // Short: the connection failed after `n` bytes (or the
                    // send was cancelled). Send the rest, before newer
                    // bytes; that send reports the failure.
                    let rest = slice.into_inner().slice(begin + n as usize..end);
                    w.inflight = Some(Op::new(crate::net::ops::Send::all(fd.clone(), rest)));
                }
                Ok(_) => {
                    let mut done = slice.into_inner();
                    done.clear();
                    w.spare = done;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    w.inflight = Some(Op::new(crate::net::ops::Send::all(fd.clone(), slice)));
                }
                Err(e) => {
                    // The connection is broken: what was accepted is lost,
                    // and every later write fails too.
                    w.pending.clear();
                    w.broken = Some(e.kind());
                    return Err(e);
                }
            }
        }
    }
}

impl<T: Stream + fmt::Debug> fmt::Debug for Io<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Io")
            .field("inner", &self.inner)
            .field("unsent", &self.write.pending.len())
            .field("sending", &self.write.inflight.is_some())
            .finish()
    }
}

#[cfg(feature = "tokio-io")]
mod tokio_impls {
    use super::*;

    impl<T: Readable + Unpin> tokio::io::AsyncRead for Io<T> {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            if buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            let src = ready!(this.poll_fill_buf(cx))?;
            let n = src.len().min(buf.remaining());
            buf.put_slice(&src[..n]);
            this.consume(n);
            Poll::Ready(Ok(()))
        }
    }

    impl<T: Readable + Unpin> tokio::io::AsyncBufRead for Io<T> {
        fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
            self.get_mut().poll_fill_buf(cx)
        }
        fn consume(self: Pin<&mut Self>, amt: usize) {
            self.get_mut().consume(amt);
        }
    }

    impl<T: Writable + Unpin> tokio::io::AsyncWrite for Io<T> {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().poll_write_from(cx, buf)
        }
        fn poll_write_vectored(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[io::IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().poll_write_vectored_from(cx, bufs)
        }
        fn is_write_vectored(&self) -> bool {
            true
        }
        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().poll_flush_sends(cx)
        }
        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().poll_shutdown_write(cx)
        }
    }
}

#[cfg(feature = "futures-io")]
mod futures_impls {
    use super::*;

    impl<T: Readable + Unpin> futures_io::AsyncRead for Io<T> {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().poll_read_into(cx, buf)
        }
    }

    impl<T: Readable + Unpin> futures_io::AsyncBufRead for Io<T> {
        fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
            self.get_mut().poll_fill_buf(cx)
        }
        fn consume(self: Pin<&mut Self>, amt: usize) {
            self.get_mut().consume(amt);
        }
    }

    impl<T: Writable + Unpin> futures_io::AsyncWrite for Io<T> {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().poll_write_from(cx, buf)
        }
        fn poll_write_vectored(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[io::IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().poll_write_vectored_from(cx, bufs)
        }
        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().poll_flush_sends(cx)
        }
        fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().poll_shutdown_write(cx)
        }
    }
}

#[cfg(feature = "hyper")]
mod hyper_impls {
    use super::*;

    impl<T: Readable + Unpin> hyper::rt::Read for Io<T> {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            mut buf: hyper::rt::ReadBufCursor<'_>,
        ) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            if buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            let src = ready!(this.poll_fill_buf(cx))?;
            let n = src.len().min(buf.remaining());
            buf.put_slice(&src[..n]);
            this.consume(n);
            Poll::Ready(Ok(()))
        }
    }

    impl<T: Writable + Unpin> hyper::rt::Write for Io<T> {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().poll_write_from(cx, buf)
        }
        fn poll_write_vectored(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[io::IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().poll_write_vectored_from(cx, bufs)
        }
        fn is_write_vectored(&self) -> bool {
            true
        }
        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().poll_flush_sends(cx)
        }
        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().poll_shutdown_write(cx)
        }
    }

    impl hyper::rt::Sleep for crate::time::SendSleep {}
}

/// hyper's executor on corering (feature `hyper`): spawns each future as a
/// task on the current worker (it need not be `Send`).
#[cfg(feature = "hyper")]
#[derive(Clone, Copy, Debug, Default)]
pub struct HyperExecutor;

#[cfg(feature = "hyper")]
impl<F> hyper::rt::Executor<F> for HyperExecutor
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn execute(&self, fut: F) {
        drop(crate::spawn(fut));
    }
}

/// hyper's timer on corering (feature `hyper`): [`SendSleep`]s on the
/// worker's timer store, which hyper needs for its timeouts (e.g.
/// `header_read_timeout`, which stays off without a timer).
///
/// [`SendSleep`]: crate::time::SendSleep
#[cfg(feature = "hyper")]
#[derive(Clone, Copy, Debug, Default)]
pub struct HyperTimer;

#[cfg(feature = "hyper")]
impl hyper::rt::Timer for HyperTimer {
    fn sleep(&self, duration: std::time::Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(crate::time::sleep_send(duration))
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(crate::time::sleep_send_until(deadline))
    }
}
