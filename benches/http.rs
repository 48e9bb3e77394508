//! HTTP/1.1 keep-alive "hello world": hyper on corering (`compat::Io`,
//! `HyperTimer`) against hyper on a tokio current-thread runtime, both
//! pinned to CPU 0, driven by the same load generator on CPU 1.
//!
//! Run: `cargo bench --features hyper --bench http` (about half a minute),
//! `-- --quick` for a smoke run. Each cell (connections) alternates the
//! servers round by round (3 rounds of 3 s by default; `--rounds N`,
//! `--secs S`; `--conns N` runs that cell only). The load generator is a
//! corering worker: every connection a task sending one `GET /` at a time
//! (`--pipeline K`: K in one write) and reading the whole response
//! (headers, then `content-length` bytes, checked) before the next. Both
//! servers run hyper with a timer (its 30 s `header_read_timeout` armed
//! for every request; `--no-timer`: neither). `--verbose` adds the
//! corering server's task polls and `io_uring_enter` calls per request.
//!
//! Columns: requests/s (median of the rounds), the ratio corering/tokio,
//! the server thread's CPU time per request (utime+stime from
//! `/proc/self/task/<tid>/stat`), and the load generator's CPU use.

#[path = "common/mod.rs"]
mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use corering::buf::IoBuf;
use http_body_util::Full;
use hyper::{Request, Response};

const CELLS: [usize; 3] = [1, 16, 128];
const BODY: &[u8] = b"hello world\n";

async fn hello(_: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(BODY))))
}

struct Server {
    name: &'static str,
    addr: SocketAddr,
    tid: i32,
}

/// The corering server's task polls and `io_uring_enter` calls so far, as
/// of the last connection that ended.
static CR_COUNTS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

fn start_corering(timer: bool) -> Server {
    let (tx, rx) = mpsc::channel();
    spawn_named("srv-corering", move || {
        common::pin_to_cpu(0);
        let rt = corering::Runtime::new_default().unwrap();
        rt.block_on(async move {
            let listener = corering::net::TcpListener::bind("127.0.0.1:0").unwrap();
            // SAFETY: gettid has no preconditions.
            tx.send((listener.local_addr().unwrap(), unsafe { libc::gettid() })).unwrap();
            loop {
                let Ok((s, _)) = listener.accept().await else { continue };
                let _ = s.set_nodelay(true);
                drop(corering::spawn(async move {
                    let mut http = hyper::server::conn::http1::Builder::new();
                    if timer {
                        http.timer(corering::compat::HyperTimer);
                    }
                    let _ = http
                        .serve_connection(
                            corering::compat::Io::new(s),
                            hyper::service::service_fn(hello),
                        )
                        .await;
                    if let Some(m) = corering::metrics() {
                        CR_COUNTS[0].store(m.tasks_polled, Relaxed);
                        CR_COUNTS[1].store(m.enters, Relaxed);
                    }
                }));
            }
        });
    });
    let (addr, tid) = rx.recv().unwrap();
    Server { name: "corering", addr, tid }
}

fn start_tokio(timer: bool) -> Server {
    let (tx, rx) = mpsc::channel();
    spawn_named("srv-tokio", move || {
        common::pin_to_cpu(0);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            // SAFETY: gettid has no preconditions.
            tx.send((listener.local_addr().unwrap(), unsafe { libc::gettid() })).unwrap();
            loop {
                let Ok((s, _)) = listener.accept().await else { continue };
                let _ = s.set_nodelay(true);
                tokio::spawn(async move {
                    let mut http = hyper::server::conn::http1::Builder::new();
                    if timer {
                        http.timer(TokioTimer);
                    }
                    let _ =
                        http.serve_connection(TokioIo(s), hyper::service::service_fn(hello)).await;
                });
            }
        });
    });
    let (addr, tid) = rx.recv().unwrap();
    Server { name: "tokio", addr, tid }
}

/// A server thread, named so that `perf report --comm` tells them apart.
fn spawn_named(name: &str, f: impl FnOnce() + std::marker::Send + 'static) {
    std::thread::Builder::new().name(name.into()).spawn(f).expect("spawn a server thread");
}

/// hyper's timer on tokio (what hyper-util's `TokioTimer` does), so that
/// both servers run hyper with the same settings: with a timer, hyper arms
/// its 30 s `header_read_timeout` for every request.
#[derive(Clone)]
struct TokioTimer;

struct TokioSleep(tokio::time::Sleep);

impl std::future::Future for TokioSleep {
    type Output = ();
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        // SAFETY: structural pinning: the field is never moved out of the
        // pinned TokioSleep, which has no Drop or Unpin impl of its own.
        unsafe { self.map_unchecked_mut(|s| &mut s.0) }.poll(cx)
    }
}

impl hyper::rt::Sleep for TokioSleep {}

impl hyper::rt::Timer for TokioTimer {
    fn sleep(&self, d: Duration) -> std::pin::Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(TokioSleep(tokio::time::sleep(d)))
    }
    fn sleep_until(&self, at: Instant) -> std::pin::Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(TokioSleep(tokio::time::sleep_until(at.into())))
    }
}

/// hyper's I/O traits over a tokio stream (what hyper-util's TokioIo does).
struct TokioIo(tokio::net::TcpStream);

impl hyper::rt::Read for TokioIo {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        // SAFETY: tokio's ReadBuf only writes initialised bytes into the
        // unfilled part and reports how many; we advance by exactly that.
        let n = unsafe {
            let mut tbuf = tokio::io::ReadBuf::uninit(buf.as_mut());
            match tokio::io::AsyncRead::poll_read(std::pin::Pin::new(&mut self.0), cx, &mut tbuf) {
                std::task::Poll::Ready(Ok(())) => tbuf.filled().len(),
                other => return other,
            }
        };
        // SAFETY: `n` bytes were filled above.
        unsafe { buf.advance(n) };
        std::task::Poll::Ready(Ok(()))
    }
}

impl hyper::rt::Write for TokioIo {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write(std::pin::Pin::new(&mut self.0), cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        tokio::io::AsyncWrite::poll_flush(std::pin::Pin::new(&mut self.0), cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        tokio::io::AsyncWrite::poll_shutdown(std::pin::Pin::new(&mut self.0), cx)
    }
}

/// Send `depth` pipelined `GET /`s in one write and read their whole
/// responses, checking each body; false when the connection failed.
async fn requests(s: &corering::net::TcpStream, depth: usize, buf: &mut Vec<u8>) -> bool {
    const REQ: &[u8] = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
    if s.write_all(REQ.repeat(depth)).await.0.is_err() {
        return false;
    }
    buf.clear();
    let (mut at, mut left) = (0, depth);
    loop {
        // Take every complete response in `buf[at..]`.
        while let Some(end) = buf[at..].windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[at..at + end]).unwrap_or("");
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_owned)
                })
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            let body = at + end + 4;
            if buf.len() < body + len {
                break;
            }
            assert_eq!(&buf[body..body + len], BODY, "wrong body");
            (at, left) = (body + len, left - 1);
            if left == 0 {
                return true;
            }
        }
        let mut spare = std::mem::take(buf);
        spare.reserve(4096);
        let (len, cap) = (spare.len(), spare.capacity());
        let (res, got) = s.read(spare.slice(len..cap)).await;
        *buf = got.into_inner();
        match res {
            Ok(n) if n > 0 => {}
            _ => return false,
        }
    }
}

/// One round against `addr`: requests per second and the generator's CPU.
fn round(
    load: &corering::Runtime,
    addr: SocketAddr,
    conns: usize,
    depth: usize,
    secs: f64,
) -> (f64, u64) {
    load.block_on(async move {
        let done = Rc::new(std::cell::Cell::new(false));
        let count = Rc::new(std::cell::Cell::new(0u64));
        let mut tasks = Vec::new();
        for _ in 0..conns {
            let s = corering::net::TcpStream::connect(addr).await.unwrap();
            let _ = s.set_nodelay(true);
            let (done, count) = (done.clone(), count.clone());
            tasks.push(corering::spawn(async move {
                let mut buf = Vec::with_capacity(8192);
                assert!(requests(&s, depth, &mut buf).await, "warm-up requests failed");
                while !done.get() {
                    if !requests(&s, depth, &mut buf).await {
                        return;
                    }
                    count.set(count.get() + depth as u64);
                }
            }));
        }
        corering::time::sleep(Duration::from_secs_f64(secs)).await;
        done.set(true);
        let n = count.get();
        for t in tasks {
            t.await.unwrap();
        }
        (n as f64 / secs, n)
    })
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut rounds, mut secs) = (3usize, 3.0f64);
    let mut cells = CELLS.to_vec();
    let mut timer = true;
    let mut verbose = false;
    let mut depth = 1;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => (rounds, secs) = (1, 0.5),
            "--rounds" => rounds = args.next().and_then(|v| v.parse().ok()).expect("--rounds N"),
            "--secs" => secs = args.next().and_then(|v| v.parse().ok()).expect("--secs S"),
            "--no-timer" => timer = false,
            "--verbose" => verbose = true,
            "--pipeline" => {
                depth = args.next().and_then(|v| v.parse().ok()).expect("--pipeline K");
            }
            "--conns" => {
                cells = vec![args.next().and_then(|v| v.parse().ok()).expect("--conns N")];
            }
            _ => {} // cargo bench passes --bench
        }
    }
    let servers = [start_corering(timer), start_tokio(timer)];
    common::pin_to_cpu(1);
    let load = corering::Runtime::new_default().unwrap();
    println!(
        "hyper HTTP/1.1 keep-alive hello world, {}, {depth} request(s) in flight per \
         connection; servers on CPU 0, load generator on CPU 1",
        if timer { "both with a hyper timer" } else { "no hyper timer" }
    );
    println!(
        "{:>6} {:>12} {:>12} {:>7} {:>13} {:>13} {:>9}",
        "conns", "corering/s", "tokio/s", "ratio", "cr us/req", "tk us/req", "gen cpu"
    );
    for conns in cells {
        let mut rate = [Vec::new(), Vec::new()];
        let mut cpu = [Vec::new(), Vec::new()];
        let mut gen_cpu = Vec::new();
        let (mut polls, mut enters) = (Vec::new(), Vec::new());
        for r in 0..rounds {
            let order: [usize; 2] = if r % 2 == 0 { [0, 1] } else { [1, 0] };
            for i in order {
                let s = &servers[i];
                let counts0 = CR_COUNTS.each_ref().map(|c| c.load(Relaxed));
                let (c0, g0, t0) = (common::thread_cpu(s.tid), gen_self_cpu(), Instant::now());
                let (rps, n) = round(&load, s.addr, conns, depth, secs);
                let wall = t0.elapsed().as_secs_f64();
                if i == 0 {
                    // The server's tasks end once they read the closes.
                    std::thread::sleep(Duration::from_millis(50));
                    let d = CR_COUNTS.each_ref().map(|c| c.load(Relaxed)).map(|c| c as f64);
                    polls.push((d[0] - counts0[0] as f64) / n.max(1) as f64);
                    enters.push((d[1] - counts0[1] as f64) / n.max(1) as f64);
                }
                rate[i].push(rps);
                cpu[i].push((common::thread_cpu(s.tid) - c0) / n.max(1) as f64 * 1e6);
                gen_cpu.push((gen_self_cpu() - g0) / wall);
            }
        }
        let m = |v: &mut Vec<f64>| common::median(v);
        let (cr, tk) = (m(&mut rate[0]), m(&mut rate[1]));
        println!(
            "{conns:>6} {cr:>12.0} {tk:>12.0} {:>7.2} {:>13.2} {:>13.2} {:>8.0}%",
            cr / tk,
            m(&mut cpu[0]),
            m(&mut cpu[1]),
            m(&mut gen_cpu) * 100.0
        );
        if verbose {
            println!(
                "{:>6} corering server per request: {:.2} task polls, {:.3} io_uring_enter",
                "",
                m(&mut polls),
                m(&mut enters)
            );
        }
        let _ = servers[0].name;
    }
}

/// CPU seconds of the calling thread (the load generator).
fn gen_self_cpu() -> f64 {
    // SAFETY: gettid has no preconditions.
    common::thread_cpu(unsafe { libc::gettid() })
}
