//! TCP echo over loopback: corering's echo server against a tokio
//! current-thread one, on the same CPU, driven by the same load generator.
//!
//! Run: `cargo bench --bench echo` (about a minute and a half), or
//! `cargo bench --bench echo -- --quick` (one short round per server, a
//! smoke test). To profile or study one case: `--server corering|tokio`
//! (run one server only), `--cell 16x64` (connections x message size),
//! `--rounds N`, `--secs S` (per round), and `--rate R` (R messages per
//! second in all, each connection sending on its own schedule instead of
//! as fast as it can: the servers' CPU per message below saturation).
//! `--serve corering|tokio` runs one server alone and prints `listening on
//! ADDR`, for outside tools and loads (`examples/echo_client`).
//!
//! One process, three threads:
//!
//! - corering's server (multishot `recv_stream`, each `RecvBuf` written
//!   straight back with `write_all`, like `examples/echo.rs`), pinned to
//!   CPU 0;
//! - tokio's server (`current_thread`; `read` into a 64 KiB buffer,
//!   `write_all` back), also pinned to CPU 0;
//! - the load generator, a corering worker pinned to CPU 1: every
//!   connection a task, ping-pong (write one message, read exactly as many
//!   bytes back, compare), for a fixed time per round.
//!
//! Both servers bind 127.0.0.1:0 and set `TCP_NODELAY`, as does the load
//! generator. For each cell (connections x message size) the servers take
//! turns, round by round (corering first in even rounds, tokio first in odd
//! ones). Each round opens its connections, does one checked ping-pong on
//! each (so all are accepted and served) and only then starts the clock;
//! after it, it closes them and waits until the server has seen every one
//! close.
//!
//! Columns: msgs/s (median of the rounds), the ratio corering/tokio, the
//! server thread's CPU time per message (utime+stime from
//! `/proc/self/task/<tid>/stat`, over the round), corering's
//! `io_uring_enter` calls and operations submitted per message (its
//! worker's metrics, fetched from the server thread before and after each
//! round; one send per message is the floor, more means messages split
//! across receive buffers, partial sends or receives re-armed), the server
//! thread's and the load generator's CPU use (CPU time / wall time: a load
//! generator near 100% means it, as much as the server, sets the pace),
//! and CPU time of every other thread of the process per message (io_uring
//! worker threads, if the kernel punted work to any, would show up there).

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use corering::buf::IoBuf;
use corering::net::{TcpListener, TcpStream};

/// (connections, message size) of each cell.
const CELLS: [(usize, usize); 4] = [(16, 64), (16, 4096), (256, 64), (256, 4096)];

/// How long a connect, a warm-up ping-pong or the close of a round's
/// connections may take, and how long the load may go without a single
/// message completing, before the bench calls it a stall.
const STALL: Duration = Duration::from_secs(5);

// ---- a tiny cross-thread mailbox that wakes an async receiver ----

/// A queue whose receiver is a future: `send` from any thread wakes it
/// (corering's and tokio's wakers are both `Send`).
struct Mailbox<T> {
    inner: Mutex<(VecDeque<T>, Option<Waker>)>,
}

impl<T> Mailbox<T> {
    fn new() -> Arc<Mailbox<T>> {
        Arc::new(Mailbox { inner: Mutex::new((VecDeque::new(), None)) })
    }

    fn send(&self, value: T) {
        let waker = {
            let mut inner = self.inner.lock().unwrap();
            inner.0.push_back(value);
            inner.1.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn recv(&self) -> impl Future<Output = T> + '_ {
        std::future::poll_fn(|cx| {
            let mut inner = self.inner.lock().unwrap();
            match inner.0.pop_front() {
                Some(v) => Poll::Ready(v),
                None => {
                    inner.1 = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
    }
}

// ---- CPU time ----

fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { hz as f64 } else { 100.0 }
}

/// utime + stime, in seconds, from a `/proc/.../stat` file.
fn stat_cpu(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    // The command name (field 2) may hold spaces: count from its ')'.
    let rest = &stat[stat.rfind(')').expect("stat has a command name") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime and stime are fields 14, 15.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / clock_ticks_per_sec()
}

/// CPU seconds of one thread of this process.
fn thread_cpu(tid: i32) -> f64 {
    stat_cpu(&format!("/proc/self/task/{tid}/stat"))
}

/// CPU seconds of the whole process (exited threads included).
fn process_cpu() -> f64 {
    stat_cpu("/proc/self/stat")
}

fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// Pin the calling thread to `cpu`.
fn pin_thread(cpu: usize) -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes bit
    // `cpu` (< CPU_SETSIZE, checked); sched_setaffinity reads one set.
    unsafe {
        assert!(cpu < libc::CPU_SETSIZE as usize);
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

// ---- the servers ----

/// What the load generator knows of a server thread.
struct Server {
    name: &'static str,
    addr: SocketAddr,
    tid: i32,
    /// Connections the server holds open.
    live: Arc<AtomicUsize>,
    /// Errors the server saw on its connections (should stay 0).
    errors: Arc<AtomicUsize>,
    /// corering's: ask for the worker's metrics.
    metrics: Option<MetricsPort>,
}

struct MetricsPort {
    requests: Arc<Mailbox<()>>,
    replies: Arc<Mailbox<corering::Metrics>>,
}

impl Server {
    /// The server worker's metrics, taken on its own thread.
    async fn metrics(&self) -> Option<corering::Metrics> {
        let port = self.metrics.as_ref()?;
        port.requests.send(());
        Some(port.replies.recv().await)
    }
}

/// Decrements the live-connection count when a connection task ends.
struct LiveGuard(Arc<AtomicUsize>);

impl LiveGuard {
    fn new(live: &Arc<AtomicUsize>) -> LiveGuard {
        live.fetch_add(1, Ordering::SeqCst);
        LiveGuard(live.clone())
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn server_error(name: &str, errors: &AtomicUsize, what: &str, e: &io::Error) {
    if errors.fetch_add(1, Ordering::SeqCst) < 10 {
        eprintln!("{name} server: {what}: {e}");
    }
}

fn start_corering_server() -> Server {
    let (live, errors) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (requests, replies) = (Mailbox::new(), Mailbox::new());
    let (tx, rx) = mpsc::channel();
    let (l, e, req, rep) = (live.clone(), errors.clone(), requests.clone(), replies.clone());
    std::thread::Builder::new()
        .name("corering-echo".into())
        .spawn(move || {
            let rt = corering::Runtime::builder().cpu(0).build().expect("corering server runtime");
            rt.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                tx.send((listener.local_addr().unwrap(), gettid())).unwrap();
                drop(corering::spawn(async move {
                    loop {
                        req.recv().await;
                        rep.send(corering::metrics().expect("inside the runtime"));
                    }
                }));
                loop {
                    let stream = match listener.accept().await {
                        Ok((stream, _)) => stream,
                        Err(err) => {
                            server_error("corering", &e, "accept", &err);
                            continue;
                        }
                    };
                    let (live, errors) = (LiveGuard::new(&l), e.clone());
                    drop(corering::spawn(async move {
                        let _live = live;
                        let _ = stream.set_nodelay(true);
                        let mut recv = stream.recv_stream();
                        while let Some(chunk) = recv.next().await {
                            let buf = match chunk {
                                Ok(buf) => buf,
                                Err(err) => return server_error("corering", &errors, "recv", &err),
                            };
                            let (res, _) = stream.write_all(buf).await;
                            if let Err(err) = res {
                                return server_error("corering", &errors, "write", &err);
                            }
                        }
                    }));
                }
            })
        })
        .expect("spawn the corering server thread");
    let (addr, tid) = rx.recv().expect("the corering server started");
    Server {
        name: "corering",
        addr,
        tid,
        live,
        errors,
        metrics: Some(MetricsPort { requests, replies }),
    }
}

fn start_tokio_server() -> Server {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (live, errors) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (tx, rx) = mpsc::channel();
    let (l, e) = (live.clone(), errors.clone());
    std::thread::Builder::new()
        .name("tokio-echo".into())
        .spawn(move || {
            pin_thread(0).expect("pin the tokio server to CPU 0");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio server runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send((listener.local_addr().unwrap(), gettid())).unwrap();
                loop {
                    let mut stream = match listener.accept().await {
                        Ok((stream, _)) => stream,
                        Err(err) => {
                            server_error("tokio", &e, "accept", &err);
                            continue;
                        }
                    };
                    let (live, errors) = (LiveGuard::new(&l), e.clone());
                    tokio::spawn(async move {
                        let _live = live;
                        let _ = stream.set_nodelay(true);
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = match stream.read(&mut buf).await {
                                Ok(0) => return,
                                Ok(n) => n,
                                Err(err) => return server_error("tokio", &errors, "read", &err),
                            };
                            if let Err(err) = stream.write_all(&buf[..n]).await {
                                return server_error("tokio", &errors, "write", &err);
                            }
                        }
                    });
                }
            })
        })
        .expect("spawn the tokio server thread");
    let (addr, tid) = rx.recv().expect("the tokio server started");
    Server { name: "tokio", addr, tid, live, errors, metrics: None }
}

// ---- the load generator ----

/// Send `msg`, read exactly `msg.len()` bytes back into `back`, check them.
async fn ping_pong(
    stream: &TcpStream,
    msg: Vec<u8>,
    mut back: Vec<u8>,
) -> (Result<(), String>, Vec<u8>, Vec<u8>) {
    let size = msg.len();
    let (res, msg) = stream.write_all(msg).await;
    if let Err(e) = res {
        return (Err(format!("write: {e}")), msg, back);
    }
    back.clear();
    let mut got = 0;
    while got < size {
        let (res, s) = stream.read(back.slice(got..size)).await;
        back = s.into_inner();
        match res {
            Ok(0) => return (Err(format!("closed after {got} of {size} bytes")), msg, back),
            Ok(n) => got += n,
            Err(e) => return (Err(format!("read after {got} of {size} bytes: {e}")), msg, back),
        }
    }
    if back != msg {
        return (Err("echoed bytes differ from the message".into()), msg, back);
    }
    (Ok(()), msg, back)
}

fn message(conn: usize, size: usize) -> Vec<u8> {
    (0..size).map(|i| (conn.wrapping_mul(131) + i * 7) as u8).collect()
}

/// Connect and do one checked ping-pong.
async fn open(addr: SocketAddr, conn: usize, size: usize) -> Result<TcpStream, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
    stream.set_nodelay(true).map_err(|e| format!("set_nodelay: {e}"))?;
    let (res, _, _) = ping_pong(&stream, message(conn, size), Vec::with_capacity(size)).await;
    res.map(|()| stream).map_err(|e| format!("warm-up: {e}"))
}

/// Per-connection progress, shared between a connection task and the
/// round's watchdog (all on the load generator's one thread).
#[derive(Default)]
struct Progress {
    msgs: std::cell::Cell<u64>,
    finished: std::cell::Cell<Option<Instant>>,
    error: std::cell::RefCell<Option<String>>,
}

struct Round {
    msgs: u64,
    wall: f64,
    server_cpu: f64,
    loadgen_cpu: f64,
    other_cpu: f64,
    enters: Option<u64>,
    sqes: Option<u64>,
}

async fn round(
    server: &Server,
    loadgen_tid: i32,
    conns: usize,
    size: usize,
    duration: Duration,
    rate: Option<f64>,
) -> Result<Round, String> {
    let what = format!("{} server, {conns} conns x {size} B", server.name);
    if server.live.load(Ordering::SeqCst) != 0 {
        return Err(format!("{what}: server still holds connections from before the round"));
    }

    // Open every connection and see each served once, before the clock.
    let tasks: Vec<_> = (0..conns).map(|c| corering::spawn(open(server.addr, c, size))).collect();
    let mut streams = Vec::with_capacity(conns);
    for (c, task) in tasks.into_iter().enumerate() {
        match corering::time::timeout(STALL, task).await {
            Ok(Ok(Ok(stream))) => streams.push(stream),
            Ok(Ok(Err(e))) => return Err(format!("{what}: conn {c}: {e}")),
            Ok(Err(e)) => return Err(format!("{what}: conn {c}: task failed: {e}")),
            Err(_) => {
                return Err(format!(
                    "{what}: conn {c} not connected and echoed once within {STALL:?} \
                     (server holds {} connections)",
                    server.live.load(Ordering::SeqCst)
                ));
            }
        }
    }
    let held = server.live.load(Ordering::SeqCst);
    if held != conns {
        return Err(format!("{what}: server holds {held} connections, expected {conns}"));
    }

    let m0 = server.metrics().await;
    let (s0, l0, p0) = (thread_cpu(server.tid), thread_cpu(loadgen_tid), process_cpu());
    let start = Instant::now();
    let deadline = start + duration;
    let progress: Rc<Vec<Progress>> = Rc::new((0..conns).map(|_| Progress::default()).collect());
    for (c, stream) in streams.into_iter().enumerate() {
        let progress = progress.clone();
        // With a rate, each connection sends on its own schedule (staggered
        // across the connections), skipping the slots it misses.
        let mut pace = rate.map(|rate| {
            let period = Duration::from_secs_f64(conns as f64 / rate);
            let mut pace =
                corering::time::interval_at(start + period / conns as u32 * c as u32, period);
            pace.set_missed_tick_behavior(corering::time::MissedTickBehavior::Skip);
            pace
        });
        drop(corering::spawn(async move {
            let me = &progress[c];
            let (mut msg, mut back) = (message(c, size), Vec::with_capacity(size));
            loop {
                if let Some(pace) = pace.as_mut() {
                    pace.tick().await;
                }
                let (res, m, b) = ping_pong(&stream, msg, back).await;
                (msg, back) = (m, b);
                if let Err(e) = res {
                    *me.error.borrow_mut() = Some(e);
                    break;
                }
                me.msgs.set(me.msgs.get() + 1);
                if Instant::now() >= deadline {
                    break;
                }
            }
            me.finished.set(Some(Instant::now()));
            drop(stream); // closes the connection
        }));
    }

    // Watch the round: done when every connection finished; a stall when
    // no message completes for STALL.
    let total = |p: &[Progress]| p.iter().map(|p| p.msgs.get()).sum::<u64>();
    let (mut last_total, mut last_change) = (0, Instant::now());
    loop {
        corering::time::sleep(Duration::from_millis(20)).await;
        if let Some((c, e)) =
            progress.iter().enumerate().find_map(|(c, p)| p.error.borrow().clone().map(|e| (c, e)))
        {
            return Err(format!("{what}: conn {c}: {e}"));
        }
        if progress.iter().all(|p| p.finished.get().is_some()) {
            break;
        }
        let now = total(&progress);
        if now != last_total {
            (last_total, last_change) = (now, Instant::now());
        } else if last_change.elapsed() >= STALL {
            let stuck: Vec<String> = progress
                .iter()
                .enumerate()
                .filter(|(_, p)| p.finished.get().is_none())
                .map(|(c, p)| format!("{c} (after {} msgs)", p.msgs.get()))
                .take(20)
                .collect();
            let unfinished = progress.iter().filter(|p| p.finished.get().is_none()).count();
            return Err(format!(
                "{what}: STALL: no message completed for {STALL:?}, {:.2} s into the round; \
                 {now} msgs done; {unfinished} connections waiting for their echo, e.g. {}; \
                 server holds {} connections; server metrics: {:?}",
                start.elapsed().as_secs_f64(),
                stuck.join(", "),
                server.live.load(Ordering::SeqCst),
                server.metrics().await,
            ));
        }
    }
    let end = progress.iter().filter_map(|p| p.finished.get()).max().unwrap_or(start);
    let wall = end.duration_since(start).as_secs_f64();
    let (s1, l1, p1) = (thread_cpu(server.tid), thread_cpu(loadgen_tid), process_cpu());
    let m1 = server.metrics().await;

    // Every connection is closed (its task ended); wait for the server.
    let closing = Instant::now();
    while server.live.load(Ordering::SeqCst) != 0 {
        if closing.elapsed() >= STALL {
            return Err(format!(
                "{what}: server still holds {} of {conns} connections {STALL:?} after the \
                 load generator closed them; server metrics: {:?}",
                server.live.load(Ordering::SeqCst),
                server.metrics().await,
            ));
        }
        corering::time::sleep(Duration::from_millis(5)).await;
    }
    let errors = server.errors.load(Ordering::SeqCst);
    if errors != 0 {
        return Err(format!("{what}: the server reported {errors} errors (see above)"));
    }

    let (server_cpu, loadgen_cpu) = (s1 - s0, l1 - l0);
    Ok(Round {
        msgs: total(&progress),
        wall,
        server_cpu,
        loadgen_cpu,
        other_cpu: (p1 - p0 - server_cpu - loadgen_cpu).max(0.0),
        enters: m0.zip(m1).map(|(a, b)| b.enters - a.enters),
        sqes: m0.zip(m1).map(|(a, b)| b.sqes_submitted - a.sqes_submitted),
    })
}

// ---- the table ----

#[derive(Default)]
struct Summary {
    rates: Vec<f64>,
    server_us: Vec<f64>,
    server_util: Vec<f64>,
    loadgen_util: Vec<f64>,
    other_us: Vec<f64>,
    enters: Vec<f64>,
    sqes: Vec<f64>,
}

impl Summary {
    fn add(&mut self, r: &Round) {
        let msgs = r.msgs.max(1) as f64;
        self.rates.push(r.msgs as f64 / r.wall);
        self.server_us.push(r.server_cpu * 1e6 / msgs);
        self.server_util.push(r.server_cpu / r.wall * 100.0);
        self.loadgen_util.push(r.loadgen_cpu / r.wall * 100.0);
        self.other_us.push(r.other_cpu * 1e6 / msgs);
        if let Some(e) = r.enters {
            self.enters.push(e as f64 / msgs);
        }
        if let Some(s) = r.sqes {
            self.sqes.push(s as f64 / msgs);
        }
    }
}

fn bad_args(usage: &str) -> ExitCode {
    eprintln!("{usage}");
    ExitCode::FAILURE
}

fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> ExitCode {
    let usage = "usage: echo [--quick] [--rounds N] [--secs S] [--cell CONNSxSIZE] \
                 [--server corering|tokio] [--rate MSGS_PER_SEC] [--serve corering|tokio]";
    let (mut rounds, mut duration) = (5, Duration::from_millis(1500));
    let (mut cells, mut only, mut rate, mut serve) = (CELLS.to_vec(), None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        match arg.as_str() {
            "--quick" => (rounds, duration) = (1, Duration::from_millis(300)),
            "--rounds" => match value().parse() {
                Ok(n) if n > 0 => rounds = n,
                _ => return bad_args(usage),
            },
            "--secs" => match value().parse::<f64>() {
                Ok(s) if s > 0.0 && s < 3600.0 => duration = Duration::from_secs_f64(s),
                _ => return bad_args(usage),
            },
            "--cell" => match value().split_once('x').map(|(c, s)| (c.parse(), s.parse())) {
                Some((Ok(c), Ok(s))) if c > 0 && s > 0 => cells = vec![(c, s)],
                _ => return bad_args(usage),
            },
            "--server" => match value().as_str() {
                name @ ("corering" | "tokio") => only = Some(name.to_string()),
                _ => return bad_args(usage),
            },
            "--rate" => match value().parse::<f64>() {
                Ok(r) if r >= 1.0 => rate = Some(r),
                _ => return bad_args(usage),
            },
            "--serve" => match value().as_str() {
                name @ ("corering" | "tokio") => serve = Some(name.to_string()),
                _ => return bad_args(usage),
            },
            "--bench" => {} // what `cargo bench` passes
            other => eprintln!("echo bench: ignoring argument {other:?}"),
        }
    }

    if let Some(name) = serve {
        // One server alone, for outside tools (strace, valgrind) and an
        // outside load such as examples/echo_client.
        let server =
            if name == "corering" { start_corering_server() } else { start_tokio_server() };
        println!("listening on {}", server.addr);
        loop {
            std::thread::park();
        }
    }
    let servers = [start_corering_server(), start_tokio_server()];
    let rt = match corering::Runtime::builder().cpu(1).build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("echo bench: cannot start the load generator on CPU 1: {e}");
            return ExitCode::FAILURE;
        }
    };
    let loadgen_tid = gettid();
    println!(
        "echo over 127.0.0.1: servers on CPU 0, load generator on CPU 1; {rounds} round(s) of \
         {:.1} s per server per cell, alternating",
        duration.as_secs_f64()
    );

    let mut table = Vec::new();
    for &(conns, size) in &cells {
        let mut summaries = [Summary::default(), Summary::default()];
        for r in 0..rounds {
            let order: [usize; 2] = if r % 2 == 0 { [0, 1] } else { [1, 0] };
            for i in order {
                let server = &servers[i];
                if only.as_ref().is_some_and(|name| name != server.name) {
                    continue;
                }
                match rt.block_on(round(server, loadgen_tid, conns, size, duration, rate)) {
                    Ok(res) => {
                        println!(
                            "  {conns:>3} conns {size:>4} B round {r} {:<8} {:>9.0} msgs/s  \
                             server {:>5.1}% CPU  loadgen {:>5.1}% CPU",
                            server.name,
                            res.msgs as f64 / res.wall,
                            res.server_cpu / res.wall * 100.0,
                            res.loadgen_cpu / res.wall * 100.0,
                        );
                        summaries[i].add(&res);
                    }
                    Err(e) => {
                        eprintln!("echo bench: FAILED: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
        }
        table.push((conns, size, summaries));
    }

    println!();
    println!("medians of {rounds} round(s); CPU us/msg = server thread utime+stime per message");
    println!(
        "{:>5} {:>5} | {:>10} {:>10} {:>6} | {:>8} {:>8} | {:>9} {:>9} | {:>13} | {:>13} | {:>11}",
        "conns",
        "size",
        "corering/s",
        "tokio/s",
        "ratio",
        "cr us/m",
        "tk us/m",
        "cr ent/m",
        "cr sqe/m",
        "srv CPU cr/tk",
        "lg CPU cr/tk",
        "other us/m"
    );
    for (conns, size, [cr, tk]) in &table {
        let (rc, rt) = (median(&cr.rates), median(&tk.rates));
        println!(
            "{:>5} {:>5} | {:>10.0} {:>10.0} {:>6.2} | {:>8.2} {:>8.2} | {:>9.3} {:>9.3} | {:>5.0}%/{:>5.0}% | \
             {:>5.0}%/{:>5.0}% | {:>5.2}/{:.2}",
            conns,
            size,
            rc,
            rt,
            rc / rt,
            median(&cr.server_us),
            median(&tk.server_us),
            median(&cr.enters),
            median(&cr.sqes),
            median(&cr.server_util),
            median(&tk.server_util),
            median(&cr.loadgen_util),
            median(&tk.loadgen_util),
            median(&cr.other_us),
            median(&tk.other_us),
        );
    }
    ExitCode::SUCCESS
}
