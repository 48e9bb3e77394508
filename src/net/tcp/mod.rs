//! TCP: [`TcpListener`] and [`TcpStream`].

mod listener;
mod stream;

pub use listener::{Incoming, ListenOptions, TcpListener};
pub use stream::{OwnedReadHalf, OwnedWriteHalf, TcpStream};
