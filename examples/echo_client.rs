//! A TCP echo load generator and checker, on corering: one worker, every
//! connection a task. Each connection sends its messages ping-pong style
//! (send one, read back exactly as many bytes, compare every byte), each
//! message filled with a pattern of its own (derived from the connection
//! and message numbers), so lost, duplicated, reordered or crossed bytes
//! are caught. Works against any echo server.
//!
//! Run, with a server listening (`cargo run --release --example echo`, or
//! `echo_buffers`):
//! `cargo run --release --example echo_client -- --addr 127.0.0.1:7000`
//!
//! Flags: `--addr HOST:PORT` (default 127.0.0.1:7000), `--conns N`
//! (default 16), `--msgs M` per connection (default 10000), `--size S`
//! bytes per message (default 64), `--cpu C` to pin the worker to CPU `C`
//! (default: not pinned), `--timeout SECS` to wait at most for a connect or
//! a reply (default 10).
//!
//! Prints the total messages, the elapsed time, messages per second and
//! MiB/s (echoed payload, one direction); exits with status 1 and a message
//! naming the connection and message on any mismatch, error or timeout.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use corering::buf::IoBuf;
use corering::net::TcpStream;

struct Args {
    addr: SocketAddr,
    conns: usize,
    msgs: u64,
    size: usize,
    cpu: Option<usize>,
    timeout: Duration,
}

fn args() -> Result<Args, String> {
    let mut out = Args {
        addr: "127.0.0.1:7000".parse().unwrap(),
        conns: 16,
        msgs: 10_000,
        size: 64,
        cpu: None,
        timeout: Duration::from_secs(10),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            println!(
                "usage: echo_client [--addr HOST:PORT] [--conns N] [--msgs M] [--size S] \
                 [--cpu C] [--timeout SECS]"
            );
            std::process::exit(0);
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--addr" => out.addr = value.parse().map_err(|e| bad(&e))?,
            "--conns" => out.conns = value.parse().map_err(|e| bad(&e))?,
            "--msgs" => out.msgs = value.parse().map_err(|e| bad(&e))?,
            "--size" => out.size = value.parse().map_err(|e| bad(&e))?,
            "--cpu" => out.cpu = Some(value.parse().map_err(|e| bad(&e))?),
            "--timeout" => {
                out.timeout = Duration::from_secs_f64(value.parse().map_err(|e| bad(&e))?)
            }
            _ => {
                return Err(format!(
                    "unknown flag {flag}; expected --addr, --conns, --msgs, --size, --cpu or \
                     --timeout"
                ));
            }
        }
    }
    if out.conns == 0 || out.size == 0 {
        return Err("--conns and --size must be at least 1".into());
    }
    Ok(out)
}

/// SplitMix64: a fast, well-mixed function of its input.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Fill `buf` with message `msg` of connection `conn`: every 8-byte word
/// a different function of (conn, msg, word index).
fn fill(buf: &mut [u8], conn: usize, msg: u64) {
    let seed = mix((conn as u64) << 40 ^ msg);
    for (i, chunk) in buf.chunks_mut(8).enumerate() {
        let word = mix(seed ^ i as u64).to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
}

/// Send `out`, then read exactly `out.len()` bytes back into `back`;
/// both buffers come back for the next message.
async fn exchange(
    stream: &TcpStream,
    out: Vec<u8>,
    mut back: Vec<u8>,
) -> (Result<(), String>, Vec<u8>, Vec<u8>) {
    let size = out.len();
    let (res, out) = stream.write_all(out).await;
    if let Err(e) = res {
        return (Err(format!("write: {e}")), out, back);
    }
    back.clear();
    let mut got = 0;
    while got < size {
        let (res, s) = stream.read(back.slice(got..size)).await;
        back = s.into_inner();
        match res {
            Ok(0) => {
                let e = format!("the server closed the connection after {got} of {size} bytes");
                return (Err(e), out, back);
            }
            Ok(n) => got += n,
            Err(e) => return (Err(format!("read after {got} of {size} bytes: {e}")), out, back),
        }
    }
    (Ok(()), out, back)
}

/// One connection: `msgs` ping-pongs of `size` bytes, each checked.
async fn connection(args: &Args, conn: usize) -> Result<(), String> {
    let (addr, size, limit) = (args.addr, args.size, args.timeout);
    let stream = corering::time::timeout(limit, TcpStream::connect(addr))
        .await
        .map_err(|_| format!("conn {conn}: connect to {addr} timed out after {limit:?}"))?
        .map_err(|e| format!("conn {conn}: connect to {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| format!("conn {conn}: set_nodelay: {e}"))?;
    let mut out = vec![0u8; size];
    let mut back: Vec<u8> = Vec::with_capacity(size);
    for msg in 0..args.msgs {
        fill(&mut out, conn, msg);
        let (res, o, b) = corering::time::timeout(limit, exchange(&stream, out, back))
            .await
            .map_err(|_| format!("conn {conn} msg {msg}: no full reply within {limit:?}"))?;
        res.map_err(|e| format!("conn {conn} msg {msg}: {e}"))?;
        (out, back) = (o, b);
        if back[..] != out[..] {
            let at = back.iter().zip(&out).position(|(a, b)| a != b).unwrap_or(0);
            return Err(format!(
                "conn {conn} msg {msg}: mismatch at byte {at} of {size}: sent {:#04x}, got back \
                 {:#04x}",
                out[at], back[at]
            ));
        }
    }
    stream.close().await.map_err(|e| format!("conn {conn}: close: {e}"))
}

fn main() -> ExitCode {
    let args = args().unwrap_or_else(|e| {
        eprintln!("echo_client: {e}");
        std::process::exit(2);
    });
    let mut builder = corering::Runtime::builder();
    match args.cpu {
        Some(cpu) => builder.cpu(cpu),
        None => builder.pin(false),
    };
    let rt = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("echo_client: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let args: &'static Args = Box::leak(Box::new(args));
    let result = rt.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> =
            (0..args.conns).map(|conn| corering::spawn(connection(args, conn))).collect();
        let mut first_error = None;
        let mut failed = 0;
        for task in tasks {
            let res = task.await.unwrap_or_else(|e| Err(format!("task failed: {e}")));
            if let Err(e) = res {
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(format!("{failed} of {} connections failed; first: {e}", args.conns)),
            None => Ok(start.elapsed()),
        }
    });
    match result {
        Ok(elapsed) => {
            let total = args.msgs * args.conns as u64;
            let secs = elapsed.as_secs_f64();
            let mib = (total as f64 * args.size as f64) / (1024.0 * 1024.0);
            println!(
                "{} conns x {} msgs x {} B to {}: all echoed intact",
                args.conns, args.msgs, args.size, args.addr
            );
            println!("total messages: {total}");
            println!("elapsed:        {secs:.3} s");
            println!("msgs/s:         {:.0}", total as f64 / secs);
            println!("MiB/s:          {:.1}", mib / secs);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("echo_client: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
