//! A TCP echo server on corering's multishot receive: each connection's
//! data arrives as buffers from the worker's provided-buffer ring and is
//! written straight back from them, without a copy. With several workers,
//! each binds its own listener on the same address (`SO_REUSEPORT`) and
//! the kernel spreads the connections across them: nothing is shared.
//!
//! Run: `cargo run --release --example echo -- --addr 127.0.0.1:7000 --workers 2`
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

use corering::net::TcpStream;

async fn echo(stream: TcpStream) {
    let mut recv = stream.recv_stream();
    while let Some(chunk) = recv.next().await {
        let Ok(buf) = chunk else { return };
        // The received buffer goes back to the ring once it has been sent.
        let (res, _) = stream.write_all(buf).await;
        if res.is_err() {
            return;
        }
    }
}

// `pub`: tests/chaos_soak.rs runs this server in a child process of its own.
pub fn main() -> std::io::Result<()> {
    server::serve_main("echo", echo)
}
