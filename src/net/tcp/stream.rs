//! `TcpStream`: a connected TCP socket with owned-buffer I/O and a
//! multishot receive stream.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};

use crate::net::ops;
use crate::net::stream::stream_io_methods;
use crate::runtime::fd::SharedFd;

/// A TCP connection on the worker's ring.
///
/// All methods take `&self`, so one task may read while another writes;
/// [`TcpStream::into_split`] hands the two halves to separate owners.
///
/// # Examples
///
/// ```no_run
/// use corering::net::TcpStream;
///
/// #[corering::main]
/// async fn main() -> std::io::Result<()> {
///     let stream = TcpStream::connect("127.0.0.1:7000").await?;
///     let (res, _) = stream.write_all(b"hello").await;
///     res?;
///     let (n, buf) = stream.read(vec![0u8; 5]).await;
///     assert_eq!(&buf[..n?], b"hello");
///     Ok(())
/// }
/// ```
pub struct TcpStream {
    pub(crate) fd: SharedFd,
}

impl TcpStream {
    /// Connect to `addr`.
    ///
    /// `addr` is anything [`ToSocketAddrs`] takes: a `SocketAddr`, a
    /// `"127.0.0.1:7000"`, a `("localhost", 7000)`, ... Each address it
    /// resolves to is tried in turn. A host name is resolved by the system
    /// resolver synchronously, on the worker's thread, which stalls this
    /// worker's other tasks meanwhile: pass addresses in servers that must
    /// not stall.
    ///
    /// # Errors
    ///
    /// The kernel's error for the last address tried: `ConnectionRefused`,
    /// `HostUnreachable`, ...; or the resolver's. Addresses are tried one
    /// after another, each until it succeeds or fails: one that never
    /// answers holds the connect until the kernel gives up on it (minutes),
    /// so bound it with [`crate::time::timeout`] where that matters.
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let mut last = None;
        for addr in addr.to_socket_addrs()? {
            match TcpStream::connect_one(addr).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(crate::net::no_address))
    }

    async fn connect_one(addr: SocketAddr) -> io::Result<TcpStream> {
        let socket =
            Socket::new(Domain::for_address(addr), Type::STREAM.cloexec(), Some(Protocol::TCP))?;
        let fd = SharedFd::new(OwnedFd::from(socket));
        ops::connect(&fd, SockAddr::from(addr)).await?;
        Ok(TcpStream { fd })
    }

    /// Adopt a connected socket created elsewhere (configured with socket2, inherited
    /// from a parent, ...). Its blocking mode does not matter: io_uring
    /// never blocks on it.
    pub fn from_std(stream: std::net::TcpStream) -> TcpStream {
        TcpStream::from_fd(OwnedFd::from(stream))
    }

    pub(crate) fn from_fd(fd: OwnedFd) -> TcpStream {
        TcpStream { fd: SharedFd::new(fd) }
    }

    fn sock(&self) -> SockRef<'_> {
        SockRef::from(&self.fd)
    }

    /// The remote address.
    ///
    /// # Errors
    ///
    /// `NotConnected` once the peer is gone, or another kernel error.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock().peer_addr()?.as_socket().ok_or_else(|| io::ErrorKind::InvalidInput.into())
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The kernel's error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock().local_addr()?.as_socket().ok_or_else(|| io::ErrorKind::InvalidInput.into())
    }

    /// Disable (or enable) Nagle's algorithm.
    ///
    /// # Errors
    ///
    /// The kernel's error.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.sock().set_tcp_nodelay(nodelay)
    }

    /// Whether Nagle's algorithm is disabled.
    ///
    /// # Errors
    ///
    /// The kernel's error.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.sock().tcp_nodelay()
    }

    stream_io_methods!();

    /// Borrow as a read half and a write half. Every method takes `&self`,
    /// so the halves are the stream itself, named for what they do: two
    /// futures on one task (e.g. joined) may read and write at once.
    pub fn split(&self) -> (&TcpStream, &TcpStream) {
        (self, self)
    }

    /// Split into a read half and a write half, each usable from its own
    /// task on this worker. Dropping the write half shuts down the write
    /// side; the socket closes when both are dropped.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        (OwnedReadHalf { fd: self.fd.clone() }, OwnedWriteHalf { fd: self.fd })
    }
}

impl std::os::fd::AsFd for TcpStream {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("fd", &self.fd.raw())
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}

/// The read half of a [`TcpStream`], from [`TcpStream::into_split`].
#[derive(Debug)]
pub struct OwnedReadHalf {
    pub(crate) fd: SharedFd,
}

/// The write half of a [`TcpStream`], from [`TcpStream::into_split`].
/// Dropping it shuts down the write side (the peer reads end of stream),
/// as dropping a whole stream would; the read half keeps reading.
#[derive(Debug)]
pub struct OwnedWriteHalf {
    pub(crate) fd: SharedFd,
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        // Synchronous: one syscall per connection, and the drop cannot wait
        // for the ring. Fails harmlessly if the socket is already shut.
        let _ = SockRef::from(&self.fd).shutdown(std::net::Shutdown::Write);
    }
}

impl OwnedReadHalf {
    /// Read into `buf`; see [`TcpStream::read`].
    ///
    /// # Errors
    ///
    /// As [`TcpStream::read`].
    pub async fn read<B: crate::buf::IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        ops::recv(&self.fd, buf).await
    }

    /// The receive stream; see [`TcpStream::recv_stream`].
    pub fn recv_stream(&self) -> crate::net::RecvStream {
        crate::net::RecvStream::new(self.fd.clone(), crate::net::DEFAULT_RECV_LIMIT)
    }
}

impl OwnedWriteHalf {
    /// Write from `buf`; see [`TcpStream::write`].
    ///
    /// # Errors
    ///
    /// As [`TcpStream::write`].
    pub async fn write<B: crate::buf::IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        ops::send(&self.fd, buf).await
    }

    /// Write all of `buf`; see [`TcpStream::write_all`].
    ///
    /// # Errors
    ///
    /// As [`TcpStream::write_all`].
    pub fn write_all<B: crate::buf::IoBuf>(
        &self,
        buf: B,
    ) -> impl std::future::Future<Output = (io::Result<()>, B)> + use<B> {
        crate::net::stream::write_all(&self.fd, buf)
    }

    /// Shut down the write side (the peer reads end of stream).
    ///
    /// # Errors
    ///
    /// The kernel's error.
    pub async fn shutdown(&self) -> io::Result<()> {
        ops::shutdown(&self.fd, std::net::Shutdown::Write).await
    }
}
