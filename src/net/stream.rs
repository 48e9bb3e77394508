//! The I/O methods every connected stream socket has (TCP and Unix), over
//! the socket operations, written once and stamped onto each type.

/// Write all of `buf`, continuing after partial writes without copying.
pub(crate) use super::ops::write_all;

/// Stamp the stream I/O methods onto a socket type with an `fd: SharedFd`.
macro_rules! stream_io_methods {
    () => {
        /// Read into `buf` (up to its capacity); returns the byte count (0
        /// at end of stream) and the buffer. A buffer with no room
        /// (`bytes_total() == 0`, e.g. `Vec::new()` or `slice(len..)` of a
        /// full one) returns `Ok(0)` at once without touching the socket,
        /// as std's `read(&mut [])` does: that 0 is not end of stream.
        ///
        /// If the read's future is dropped (e.g. a timeout) after the
        /// kernel received into the buffer, the buffer is gone with it but
        /// the bytes are not: the socket keeps them for its next read.
        ///
        /// # Errors
        ///
        /// The kernel's error for the receive, e.g. `ConnectionReset`.
        pub async fn read<B: $crate::buf::IoBufMut>(&self, buf: B) -> (std::io::Result<usize>, B) {
            $crate::net::ops::recv(&self.fd, buf).await
        }

        /// Write from `buf` (its initialised bytes); returns how many were
        /// written (maybe fewer) and the buffer.
        ///
        /// # Errors
        ///
        /// The kernel's error for the send, e.g. `BrokenPipe`.
        pub async fn write<B: $crate::buf::IoBuf>(&self, buf: B) -> (std::io::Result<usize>, B) {
            $crate::net::ops::send(&self.fd, buf).await
        }

        /// Write all of `buf`, continuing after partial writes.
        ///
        /// The future owns what it needs (the buffer and a handle on the
        /// socket), so it does not borrow `self`.
        ///
        /// # Errors
        ///
        /// The kernel's error, or `WriteZero` if the socket took nothing.
        pub fn write_all<B: $crate::buf::IoBuf>(
            &self,
            buf: B,
        ) -> impl std::future::Future<Output = (std::io::Result<()>, B)> + use<B> {
            $crate::net::stream::write_all(&self.fd, buf)
        }

        /// Read into several buffers in order (`readv`). With no room in
        /// any of them, `Ok(0)` at once, as [`read`](Self::read).
        ///
        /// # Errors
        ///
        /// The kernel's error for the read.
        pub async fn readv<B: $crate::buf::IoBufMut>(
            &self,
            bufs: Vec<B>,
        ) -> (std::io::Result<usize>, Vec<B>) {
            $crate::net::ops::readv(&self.fd, bufs).await
        }

        /// Write several buffers in order (`writev`); maybe not all of them.
        ///
        /// # Errors
        ///
        /// The kernel's error for the write.
        pub async fn writev<B: $crate::buf::IoBuf>(
            &self,
            bufs: Vec<B>,
        ) -> (std::io::Result<usize>, Vec<B>) {
            $crate::net::ops::writev(&self.fd, bufs).await
        }

        /// The receive side as a stream of buffers from the worker's
        /// provided-buffer ring (one multishot receive); see
        /// [`RecvStream`](crate::net::RecvStream). At most
        /// [`DEFAULT_RECV_LIMIT`](crate::net::DEFAULT_RECV_LIMIT) unread
        /// buffers are held before the receive pauses.
        ///
        /// # Panics
        ///
        /// The stream panics when polled outside a corering runtime.
        pub fn recv_stream(&self) -> $crate::net::RecvStream {
            $crate::net::RecvStream::new(self.fd.clone(), $crate::net::DEFAULT_RECV_LIMIT)
        }

        /// As [`recv_stream`](Self::recv_stream), holding at most `limit`
        /// unread buffers (and `limit` × 4 KiB unread bytes) before the
        /// receive pauses.
        pub fn recv_stream_with_limit(&self, limit: usize) -> $crate::net::RecvStream {
            $crate::net::RecvStream::new(self.fd.clone(), limit)
        }

        /// Shut down the read, write, or both halves.
        ///
        /// # Errors
        ///
        /// The kernel's error, e.g. `NotConnected`.
        pub async fn shutdown(&self, how: std::net::Shutdown) -> std::io::Result<()> {
            $crate::net::ops::shutdown(&self.fd, how).await
        }

        /// Close the socket through the ring and wait for the result.
        /// Dropping it closes it too, without waiting. If something else
        /// still holds the socket (a [`RecvStream`](crate::net::RecvStream),
        /// an operation in flight), the socket is shut down in both
        /// directions at once, so the peer sees the end and those holders
        /// see end of stream or `EPIPE`, and the fd itself is closed when the
        /// last of them goes.
        ///
        /// # Errors
        ///
        /// The kernel's error for the close.
        pub async fn close(self) -> std::io::Result<()> {
            $crate::net::ops::close(self.fd).await
        }
    };
}

pub(crate) use stream_io_methods;
