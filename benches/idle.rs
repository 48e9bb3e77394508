//! Memory per idle connection: a server's resident set (VmRSS) grown per
//! connection that echoed once and stays open, doing nothing.
//!
//! Run: `cargo bench --bench idle` (10,000 connections per server, about
//! half a minute), `-- --conns N`, `-- --server NAME`.
//!
//! Each server runs alone in a child process (this binary, re-run with
//! `--serve NAME`), on one thread:
//!
//! - `corering`: multishot `recv_stream`, each buffer written straight back
//!   (as `examples/echo.rs`), on a default runtime;
//! - `corering-owned`: `read` into an owned 4 KiB `Vec`, `write_all` back
//!   (as `examples/echo_buffers.rs`, which reads up to 64 KiB);
//! - `tokio`: a `current_thread` runtime; each connection reads into a
//!   reused 64 KiB buffer (reserved, not zeroed) and writes back what it
//!   read.
//!
//! This process connects: one connection first, echoed once, then the
//! server's VmRSS is the baseline; then `--conns` more, each echoing one
//! 64-byte message, then a pause of a second so the server settles; then
//! VmRSS again. The figure is (after - baseline) / conns. The server's
//! heap, its runtime's per-connection state and the pages of buffers it
//! touched count; the kernel's socket memory does not (it is not in the
//! process's RSS).

#[path = "common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

const SERVERS: [&str; 3] = ["corering", "corering-owned", "tokio"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1));
    if let Some(name) = value("--serve") {
        serve(name);
        return ExitCode::SUCCESS;
    }
    let conns: usize = value("--conns").map_or(10_000, |v| v.parse().expect("--conns N"));
    let servers: Vec<&str> = match value("--server") {
        Some(s) => vec![SERVERS.iter().find(|n| *n == s).expect("unknown --server")],
        None => SERVERS.to_vec(),
    };
    if !raise_fd_limit(conns as u64 + 100) {
        eprintln!("the fd limit is below {} (ulimit -n): use --conns", conns + 100);
        return ExitCode::FAILURE;
    }
    println!("RSS per idle connection ({conns} connections that each echoed 64 bytes once)");
    println!("{:<16} {:>12} {:>12} {:>14}", "server", "base KiB", "after KiB", "bytes/conn");
    for name in servers {
        let (mut child, addr) = spawn(name);
        let mut held = vec![echo_once(addr)];
        std::thread::sleep(Duration::from_millis(200));
        let base = rss_kib(child.id());
        for _ in 0..conns {
            held.push(echo_once(addr));
        }
        std::thread::sleep(Duration::from_secs(1));
        let after = rss_kib(child.id());
        let per = (after as f64 - base as f64) * 1024.0 / conns as f64;
        println!("{name:<16} {base:>12} {after:>12} {per:>14.0}");
        drop(held);
        let _ = child.kill();
        let _ = child.wait();
    }
    ExitCode::SUCCESS
}

/// Start `name` in a child process; returns it and its address.
fn spawn(name: &str) -> (Child, SocketAddr) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--serve", name])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = Vec::new();
    let out = child.stdout.as_mut().unwrap();
    let mut byte = [0u8];
    while out.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    let line = String::from_utf8(line).unwrap();
    let addr = line.strip_prefix("listening on ").expect("the server's first line").parse();
    (child, addr.unwrap())
}

/// Connect, echo one 64-byte message, and keep the connection.
fn echo_once(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let msg = [0x42u8; 64];
    s.write_all(&msg).unwrap();
    let mut back = [0u8; 64];
    s.read_exact(&mut back).unwrap();
    assert_eq!(back, msg);
    s
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Raise the soft fd limit to the hard one; whether `need` fit.
fn raise_fd_limit(need: u64) -> bool {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit into `lim`, alive for the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return false;
    }
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: setrlimit reads one rlimit from `lim`, alive for the call.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    lim.rlim_cur >= need
}

/// Run server `name` until killed, printing `listening on ADDR` first.
fn serve(name: &str) {
    raise_fd_limit(0);
    common::pin_to_cpu(0);
    let announce = |addr: SocketAddr| {
        println!("listening on {addr}");
        std::io::stdout().flush().unwrap();
    };
    match name {
        "corering" | "corering-owned" => {
            let owned = name == "corering-owned";
            let rt = corering::Runtime::new_default().unwrap();
            rt.block_on(async move {
                let listener = corering::net::TcpListener::bind("127.0.0.1:0").unwrap();
                announce(listener.local_addr().unwrap());
                loop {
                    let Ok((s, _)) = listener.accept().await else { continue };
                    drop(match owned {
                        false => corering::spawn(corering_stream(s)),
                        true => corering::spawn(corering_owned(s)),
                    });
                }
            });
        }
        "tokio" => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                announce(listener.local_addr().unwrap());
                loop {
                    let Ok((s, _)) = listener.accept().await else { continue };
                    tokio::spawn(tokio_echo(s));
                }
            });
        }
        other => panic!("unknown server {other}"),
    }
}

async fn corering_stream(s: corering::net::TcpStream) {
    let mut recv = s.recv_stream();
    while let Some(Ok(buf)) = recv.next().await {
        if s.write_all(buf).await.0.is_err() {
            return;
        }
    }
}

async fn corering_owned(s: corering::net::TcpStream) {
    let mut buf = Vec::with_capacity(4096);
    loop {
        let (res, b) = s.read(buf).await;
        match res {
            Ok(n) if n > 0 => {}
            _ => return,
        }
        let (res, mut b) = s.write_all(b).await;
        if res.is_err() {
            return;
        }
        b.clear();
        buf = b;
    }
}

/// A 64 KiB buffer reserved, not zeroed (`read_buf` fills it), so only
/// the pages a read touches count.
async fn tokio_echo(mut s: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        match s.read_buf(&mut buf).await {
            Ok(n) if n > 0 => {
                if s.write_all(&buf).await.is_err() {
                    return;
                }
                buf.clear();
            }
            _ => return,
        }
    }
}
