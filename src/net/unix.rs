//! Unix domain stream sockets: [`UnixListener`] and [`UnixStream`], with the
//! same I/O as TCP.

use std::fmt;
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use socket2::{Domain, SockAddr, Socket, Type};

use crate::net::accept::{Acceptor, Registration};
use crate::net::ops;
use crate::net::stream::stream_io_methods;
use crate::runtime::fd::SharedFd;

/// A Unix domain stream listener.
///
/// # Examples
///
/// ```no_run
/// use corering::net::UnixListener;
///
/// #[corering::main]
/// async fn main() -> std::io::Result<()> {
///     let listener = UnixListener::bind("/tmp/corering.sock")?;
///     let (stream, _) = listener.accept().await?;
///     let (res, _) = stream.write_all(b"hello\n").await;
///     res
/// }
/// ```
pub struct UnixListener {
    acceptor: Acceptor,
}

impl UnixListener {
    /// Bind to the socket file `path` and listen.
    ///
    /// # Errors
    ///
    /// The kernel's error, e.g. `AddrInUse` if `path` exists.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let socket = Socket::new(Domain::UNIX, Type::STREAM.cloexec(), None)?;
        socket.bind(&unix_addr(path.as_ref())?)?;
        socket.listen(1024)?;
        Ok(UnixListener { acceptor: Acceptor::new(SharedFd::new(OwnedFd::from(socket))) })
    }

    /// Adopt a listening socket created elsewhere (configured with socket2, inherited
    /// from a parent, ...). Its blocking mode does not matter: io_uring
    /// never blocks on it.
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> UnixListener {
        UnixListener { acceptor: Acceptor::new(SharedFd::new(OwnedFd::from(listener))) }
    }

    /// Accept a connection.
    ///
    /// # Errors
    ///
    /// The kernel's error, e.g. `EMFILE`.
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let mut reg = self.acceptor.registration();
        std::future::poll_fn(|cx| self.poll_accept_as(cx, Some(&mut reg))).await
    }

    /// Poll for a connection.
    ///
    /// # Errors
    ///
    /// As [`UnixListener::accept`].
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        self.poll_accept_as(cx, None)
    }

    fn poll_accept_as(
        &self,
        cx: &mut Context<'_>,
        reg: Option<&mut Registration>,
    ) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        self.acceptor.poll_connection(
            cx,
            reg,
            |fd| UnixStream { fd: SharedFd::new(fd) },
            UnixStream::peer_addr,
        )
    }

    /// The bound address.
    ///
    /// # Errors
    ///
    /// The kernel's error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        std_view(&self.acceptor.fd).local_addr()
    }

    /// The accepted connections as a stream.
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming { reg: self.acceptor.registration(), listener: self }
    }
}

/// std's view of our socket, to read addresses the way std represents them
/// (including unnamed ones); never closes the fd. Callers use it at once,
/// while they still borrow `fd`.
fn std_view(fd: &SharedFd) -> ManuallyDrop<std::os::unix::net::UnixStream> {
    // SAFETY: `fd` is an open socket while the caller borrows it, which is
    // as long as the caller uses the view; ManuallyDrop keeps the std value
    // from closing it.
    ManuallyDrop::new(unsafe { std::os::unix::net::UnixStream::from_raw_fd(fd.raw()) })
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.acceptor.fd.raw()
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener").field("fd", &self.acceptor.fd.raw()).finish()
    }
}

/// The stream of [`UnixListener::incoming`].
#[derive(Debug)]
pub struct UnixIncoming<'a> {
    reg: Registration,
    listener: &'a UnixListener,
}

impl futures_core::Stream for UnixIncoming<'_> {
    type Item = io::Result<UnixStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        this.listener.poll_accept_as(cx, Some(&mut this.reg)).map(|r| Some(r.map(|(s, _)| s)))
    }
}

/// A connected Unix domain stream socket.
pub struct UnixStream {
    pub(crate) fd: SharedFd,
}

impl UnixStream {
    /// Connect to the socket file `path`.
    ///
    /// # Errors
    ///
    /// The kernel's error: `NotFound`, `ConnectionRefused`, ...
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let addr = unix_addr(path.as_ref())?;
        let socket = Socket::new(Domain::UNIX, Type::STREAM.cloexec(), None)?;
        let fd = SharedFd::new(OwnedFd::from(socket));
        ops::connect(&fd, addr).await?;
        Ok(UnixStream { fd })
    }

    /// Adopt a connected socket created elsewhere (configured with socket2, inherited
    /// from a parent, ...). Its blocking mode does not matter: io_uring
    /// never blocks on it.
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> UnixStream {
        UnixStream { fd: SharedFd::new(OwnedFd::from(stream)) }
    }

    /// A connected pair (`socketpair`).
    ///
    /// # Errors
    ///
    /// The kernel's error.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM.cloexec(), None)?;
        Ok((
            UnixStream { fd: SharedFd::new(OwnedFd::from(a)) },
            UnixStream { fd: SharedFd::new(OwnedFd::from(b)) },
        ))
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// The kernel's error.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        std_view(&self.fd).peer_addr()
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The kernel's error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        std_view(&self.fd).local_addr()
    }

    stream_io_methods!();
}

impl AsRawFd for UnixStream {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream").field("fd", &self.fd.raw()).finish()
    }
}

/// The socket address of `path`. A NUL inside a filesystem path is refused
/// (`InvalidInput`, as std does) rather than cut the path short. A leading
/// NUL names an abstract address, whose bytes are all its name, NULs too.
fn unix_addr(path: &Path) -> io::Result<SockAddr> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    if bytes.first() != Some(&0) && bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a Unix socket path may not contain a NUL byte",
        ));
    }
    SockAddr::unix(path)
}
