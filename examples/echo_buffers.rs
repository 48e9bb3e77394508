//! A TCP echo server on owned buffers: each connection reads into one
//! 64 KiB `Vec<u8>` of its own and writes back the bytes it got, the same
//! `Vec` going to the kernel and coming back with every operation (no
//! provided-buffer ring, no multishot receive; compare `examples/echo.rs`).
//!
//! Run: `cargo run --release --example echo_buffers -- --addr 127.0.0.1:7000`
//!
//! Flags: `--addr HOST:PORT` (default 127.0.0.1:7000; port 0 picks one),
//! `--workers N` (only 1 for now). The first line on stdout is
//! `listening on HOST:PORT`, the bound address; then it serves until
//! killed. Try it with `cargo run --release --example echo_client`.

use std::net::SocketAddr;

use corering::buf::IoBuf;
use corering::net::{TcpListener, TcpStream};

/// Each connection's buffer.
const BUF_SIZE: usize = 64 * 1024;

struct Args {
    addr: SocketAddr,
    workers: usize,
}

fn args() -> Result<Args, String> {
    let mut out = Args { addr: "127.0.0.1:7000".parse().unwrap(), workers: 1 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--addr" => out.addr = value.parse().map_err(|e| format!("--addr {value}: {e}"))?,
            "--workers" => {
                out.workers = value.parse().map_err(|e| format!("--workers {value}: {e}"))?
            }
            _ => return Err(format!("unknown flag {flag}; expected --addr or --workers")),
        }
    }
    Ok(out)
}

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
    let args = args().unwrap_or_else(|e| {
        eprintln!("echo_buffers: {e}");
        std::process::exit(2);
    });
    let rt = corering::Runtime::builder().workers(args.workers).build()?;
    rt.block_on(async {
        let listener = TcpListener::bind(args.addr)?;
        println!("listening on {}", listener.local_addr()?);
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                // Out of fds (a flood of connections): serve the ones we
                // have and try again shortly, rather than exit.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                    eprintln!("echo_buffers: accept: {e}; retrying in 10 ms");
                    corering::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let _ = stream.set_nodelay(true);
            drop(corering::spawn(echo(stream)));
        }
    })
}
