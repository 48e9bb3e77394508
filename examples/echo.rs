//! A TCP echo server on corering's multishot receive: each connection's
//! data arrives as buffers from the worker's provided-buffer ring and is
//! written straight back from them, without a copy.
//!
//! Run: `cargo run --release --example echo -- --addr 127.0.0.1:7000`
//!
//! Flags: `--addr HOST:PORT` (default 127.0.0.1:7000; port 0 picks one),
//! `--workers N` (only 1 for now). The first line on stdout is
//! `listening on HOST:PORT`, the bound address; then it serves until
//! killed. Try it with `cargo run --release --example echo_client`.

use std::net::SocketAddr;

use corering::net::{TcpListener, TcpStream};

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
    let args = args().unwrap_or_else(|e| {
        eprintln!("echo: {e}");
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
                    eprintln!("echo: accept: {e}; retrying in 10 ms");
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
