//! Networking on the worker's ring: TCP, UDP and Unix sockets, with
//! owned-buffer I/O and multishot receive streams.
//!
//! Every operation is an SQE on the worker's ring (no readiness polling):
//! `read`/`write` take and return owned buffers ([`crate::buf`]), and
//! `recv_stream` turns one multishot receive into a stream of buffers from
//! the worker's provided-buffer ring. Sockets belong to the worker that
//! created them (`!Send`).

mod accept;
pub(crate) mod ops;
mod recv;
pub(crate) mod stream;
mod tcp;
mod udp;
mod unix;

pub use recv::{DEFAULT_RECV_LIMIT, RecvBuf, RecvStream};
pub use tcp::{Incoming, ListenOptions, OwnedReadHalf, OwnedWriteHalf, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixIncoming, UnixListener, UnixStream};

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// Run `f` on each address `addr` resolves to, in order, until one
/// succeeds: its result, or the last error (`InvalidInput` if `addr`
/// resolved to no address at all).
fn each_addr<T>(
    addr: impl ToSocketAddrs,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        match f(a) {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(no_address))
}

fn no_address() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "the address resolved to no socket address")
}
