//! A keep-alive "hello world" HTTP/1.1 server: hyper on corering, through
//! `compat::Io`, with corering's executor and timer (so hyper's
//! header-read timeout works: a client that stalls mid-request is cut off).
//!
//! Run: `cargo run --release --features hyper --example hello_http -- --addr 127.0.0.1:8080`
//!
//! Flags: `--addr HOST:PORT` (default 127.0.0.1:8080; port 0 picks one),
//! `--workers N` (default 1; 0 = one per CPU: each worker has its own
//! `SO_REUSEPORT` listener on the one port). The first line on stdout is
//! `listening on HOST:PORT`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use corering::compat::{HyperTimer, Io};
use corering::net::{ListenOptions, TcpListener};
use http_body_util::Full;
use hyper::{Request, Response};

struct Args {
    addr: SocketAddr,
    workers: usize,
}

const USAGE: &str = "usage: hello_http [--addr HOST:PORT] [--workers N]";

fn args() -> Result<Args, String> {
    let mut out = Args { addr: "127.0.0.1:8080".parse().unwrap(), workers: 1 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = it.next().ok_or(format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--addr" => out.addr = value.parse().map_err(|e| format!("--addr {value}: {e}"))?,
            "--workers" => {
                out.workers = value.parse().map_err(|e| format!("--workers {value}: {e}"))?
            }
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    Ok(out)
}

async fn hello(_: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"hello world\n"))))
}

fn reuse_port() -> ListenOptions {
    ListenOptions { reuse_port: true, ..ListenOptions::default() }
}

/// Accept and serve HTTP/1.1 connections on this worker's listener.
async fn serve(listener: TcpListener) -> std::io::Result<()> {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                corering::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let _ = stream.set_nodelay(true);
        drop(corering::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(HyperTimer)
                .header_read_timeout(Duration::from_secs(5))
                .serve_connection(Io::new(stream), hyper::service::service_fn(hello));
            let _ = conn.await;
        }));
    }
}

fn main() -> std::io::Result<()> {
    let args = args().unwrap_or_else(|e| {
        eprintln!("hello_http: {e}");
        std::process::exit(2);
    });
    let rt = corering::Runtime::builder().workers(args.workers).build()?;
    rt.block_on(async {
        // Worker 0 binds first, so that port 0 becomes one port for all.
        let first = TcpListener::bind_with(args.addr, reuse_port())?;
        let addr = first.local_addr()?;
        println!("listening on {addr}");
        for worker in 1..corering::worker_count() {
            drop(corering::spawn_on(worker, move || async move {
                let listener = TcpListener::bind_with(addr, reuse_port())?;
                serve(listener).await
            }));
        }
        serve(first).await
    })
}
