//! `UdpSocket`: datagrams on the worker's ring.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};

use crate::buf::{IoBuf, IoBufMut};
use crate::net::ops;
use crate::runtime::fd::SharedFd;

/// A UDP socket.
///
/// # Examples
///
/// ```
/// use corering::net::UdpSocket;
///
/// #[corering::main(pin = false)]
/// async fn main() -> std::io::Result<()> {
///     let a = UdpSocket::bind("127.0.0.1:0")?;
///     let b = UdpSocket::bind("127.0.0.1:0")?;
///     let (res, _) = a.send_to(b"ping", b.local_addr()?).await;
///     res?;
///     let (res, buf) = b.recv_from(vec![0u8; 16]).await;
///     let (n, from) = res?;
///     assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr()?));
///     Ok(())
/// }
/// ```
pub struct UdpSocket {
    fd: SharedFd,
}

impl UdpSocket {
    /// Bind to `addr`.
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
    /// The kernel's error, e.g. `AddrInUse`, or the resolver's.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        crate::net::each_addr(addr, |addr| {
            let domain = Domain::for_address(addr);
            let socket = Socket::new(domain, Type::DGRAM.cloexec(), Some(Protocol::UDP))?;
            socket.bind(&SockAddr::from(addr))?;
            Ok(UdpSocket { fd: SharedFd::new(OwnedFd::from(socket)) })
        })
    }

    /// Adopt a UDP socket created elsewhere (configured with socket2, inherited
    /// from a parent, ...). Its blocking mode does not matter: io_uring
    /// never blocks on it.
    pub fn from_std(socket: std::net::UdpSocket) -> UdpSocket {
        UdpSocket { fd: SharedFd::new(OwnedFd::from(socket)) }
    }

    /// Set the default peer, for [`send`](Self::send) and
    /// [`recv`](Self::recv) (and to receive only from it); `addr` as for
    /// [`UdpSocket::bind`].
    ///
    /// # Errors
    ///
    /// The kernel's error, or the resolver's.
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        crate::net::each_addr(addr, |addr| SockRef::from(&self.fd).connect(&SockAddr::from(addr)))
    }

    /// Send `buf` as one datagram to `addr`.
    ///
    /// # Errors
    ///
    /// The kernel's error, e.g. `ConnectionRefused` reported for an earlier
    /// datagram.
    pub async fn send_to<B: IoBuf>(&self, buf: B, addr: SocketAddr) -> (io::Result<usize>, B) {
        ops::send_to(&self.fd, buf, SockAddr::from(addr)).await
    }

    /// Receive one datagram into `buf`; returns its length and sender.
    ///
    /// # Errors
    ///
    /// The kernel's error.
    pub async fn recv_from<B: IoBufMut>(&self, buf: B) -> (io::Result<(usize, SocketAddr)>, B) {
        let (res, buf) = ops::recv_from(&self.fd, buf).await;
        let res = res.and_then(|(n, a)| {
            a.as_socket().map(|a| (n, a)).ok_or_else(|| io::ErrorKind::InvalidData.into())
        });
        (res, buf)
    }

    /// Send `buf` to the connected peer.
    ///
    /// # Errors
    ///
    /// The kernel's error: `EDESTADDRREQ` (`raw_os_error() ==
    /// Some(libc::EDESTADDRREQ)`) without [`connect`](Self::connect).
    pub async fn send<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        ops::send(&self.fd, buf).await
    }

    /// Receive one datagram from the connected peer.
    ///
    /// # Errors
    ///
    /// The kernel's error.
    pub async fn recv<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        ops::recv(&self.fd, buf).await
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The kernel's error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        SockRef::from(&self.fd)
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::ErrorKind::InvalidInput.into())
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// `NotConnected` without [`connect`](Self::connect).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        SockRef::from(&self.fd)
            .peer_addr()?
            .as_socket()
            .ok_or_else(|| io::ErrorKind::InvalidInput.into())
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("fd", &self.fd.raw())
            .field("local", &self.local_addr().ok())
            .finish()
    }
}
