//! `TcpListener`: a listening TCP socket, accepting through one multishot
//! `ACCEPT` on the ring.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};

use crate::net::accept::{Acceptor, Registration};
use crate::runtime::fd::SharedFd;

use super::TcpStream;

/// A TCP listener.
///
/// Accepts come from one multishot `ACCEPT` SQE, re-armed when it ends;
/// connections that arrive while nobody awaits `accept` queue up (at most
/// 256, then the kernel's backlog), and are closed if the listener is
/// dropped.
///
/// # Examples
///
/// ```no_run
/// use corering::net::TcpListener;
///
/// #[corering::main]
/// async fn main() -> std::io::Result<()> {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     println!("listening on {}", listener.local_addr()?);
///     loop {
///         let (stream, peer) = listener.accept().await?;
///         corering::spawn(async move {
///             let (res, _) = stream.write_all(b"hello\n").await;
///             let _ = (res, peer);
///         });
///     }
/// }
/// ```
pub struct TcpListener {
    acceptor: Acceptor,
}

/// Options for [`TcpListener::bind_with`].
#[derive(Clone, Copy, Debug)]
pub struct ListenOptions {
    /// The `listen(2)` backlog. Default 1024.
    pub backlog: i32,
    /// `SO_REUSEPORT`: several listeners (one per worker) on one port, the
    /// kernel spreading connections across them. Default off.
    pub reuse_port: bool,
}

impl Default for ListenOptions {
    fn default() -> ListenOptions {
        ListenOptions { backlog: 1024, reuse_port: false }
    }
}

impl TcpListener {
    /// Bind to `addr` (`SO_REUSEADDR` on) and listen.
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
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        TcpListener::bind_with(addr, ListenOptions::default())
    }

    /// Bind with explicit options (backlog, `SO_REUSEPORT`); `addr` as for
    /// [`TcpListener::bind`].
    ///
    /// # Errors
    ///
    /// The kernel's error, e.g. `AddrInUse`, or the resolver's.
    pub fn bind_with(addr: impl ToSocketAddrs, options: ListenOptions) -> io::Result<TcpListener> {
        crate::net::each_addr(addr, |addr| TcpListener::bind_one(addr, options))
    }

    fn bind_one(addr: SocketAddr, options: ListenOptions) -> io::Result<TcpListener> {
        let socket =
            Socket::new(Domain::for_address(addr), Type::STREAM.cloexec(), Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        if options.reuse_port {
            socket.set_reuse_port(true)?;
        }
        socket.bind(&SockAddr::from(addr))?;
        socket.listen(options.backlog)?;
        Ok(TcpListener { acceptor: Acceptor::new(SharedFd::new(OwnedFd::from(socket))) })
    }

    /// Adopt a listening socket created elsewhere (configured with socket2, inherited
    /// from a parent, ...). Its blocking mode does not matter: io_uring
    /// never blocks on it.
    pub fn from_std(listener: std::net::TcpListener) -> TcpListener {
        TcpListener { acceptor: Acceptor::new(SharedFd::new(OwnedFd::from(listener))) }
    }

    /// The bound address (with the port the kernel chose for port 0).
    ///
    /// # Errors
    ///
    /// The kernel's error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        SockRef::from(&self.acceptor.fd)
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::ErrorKind::InvalidInput.into())
    }

    /// Accept a connection.
    ///
    /// # Errors
    ///
    /// The kernel's error, e.g. `EMFILE` when the process is out of fds: it
    /// is returned, not retried, so the caller decides (nothing spins).
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let mut reg = self.acceptor.registration();
        std::future::poll_fn(|cx| self.poll_accept_as(cx, Some(&mut reg))).await
    }

    /// Poll for a connection.
    ///
    /// # Errors
    ///
    /// As [`TcpListener::accept`].
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        self.poll_accept_as(cx, None)
    }

    fn poll_accept_as(
        &self,
        cx: &mut Context<'_>,
        reg: Option<&mut Registration>,
    ) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        self.acceptor.poll_connection(cx, reg, TcpStream::from_fd, TcpStream::peer_addr)
    }

    /// The accepted connections as a stream.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { reg: self.acceptor.registration(), listener: self }
    }
}

impl std::os::fd::AsFd for TcpListener {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.acceptor.fd.as_fd()
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.acceptor.fd.raw()
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("fd", &self.acceptor.fd.raw())
            .field("local", &self.local_addr().ok())
            .finish()
    }
}

/// The stream of [`TcpListener::incoming`]: each item an accepted stream.
#[derive(Debug)]
pub struct Incoming<'a> {
    reg: Registration,
    listener: &'a TcpListener,
}

impl futures_core::Stream for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        this.listener.poll_accept_as(cx, Some(&mut this.reg)).map(|r| Some(r.map(|(s, _)| s)))
    }
}
