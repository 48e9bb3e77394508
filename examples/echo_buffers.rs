//! A TCP echo server on owned buffers: each connection reads into one
//! 64 KiB `Vec<u8>` of its own and writes back the bytes it got, the same
//! `Vec` going to the kernel and coming back with every operation (no
//! provided-buffer ring, no multishot receive; compare `examples/echo.rs`).
//! With several workers, each binds its own listener on the same address
//! (`SO_REUSEPORT`) and the kernel spreads the connections across them.
//!
//! Run: `cargo run --release --example echo_buffers -- --addr 127.0.0.1:7000 --workers 2`
//!
//! Flags: `--addr HOST:PORT` (default 127.0.0.1:7000; port 0 picks one,
//! which every worker then shares), `--workers N` (default 1; 0 means one
//! per CPU this process may run on), `--help`. The first line on stdout is
//! `listening on HOST:PORT`, the bound address, once every worker listens.
//! It serves until SIGINT (Ctrl-C) or SIGTERM, then stops every worker and
//! exits 0, printing how many connections each worker accepted on stderr:
//! `connections per worker: 12 9`. Try it with
//! `cargo run --release --example echo_client`.

#[path = "common/server.rs"]
mod server;

use corering::buf::IoBuf;
use corering::net::TcpStream;

/// Each connection's buffer.
const BUF_SIZE: usize = 64 * 1024;

async fn echo(stream: TcpStream) {
    let mut buf = Vec::with_capacity(BUF_SIZE);
    loop {
        // The read may fill the whole capacity; it hands the Vec back with
        // the byte count.
        let (res, b) = stream.read(buf).await;
        let n = match res {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Write back just the `n` bytes read, then take the Vec back out of
        // the slice for the next read.
        let (res, slice) = stream.write_all(b.slice(..n)).await;
        if res.is_err() {
            return;
        }
        buf = slice.into_inner();
    }
}

// `pub`: tests/chaos_soak.rs runs this server in a child process of its own.
pub fn main() -> std::io::Result<()> {
    server::serve_main("echo_buffers", echo)
}
