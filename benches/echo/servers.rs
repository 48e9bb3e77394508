//! The echo servers under test and what the load generator knows of each:
//! address, threads, live connections, errors, and corering's metrics.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Poll, Waker};

use corering::net::{ListenOptions, TcpListener};

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
pub fn thread_cpu(tid: i32) -> f64 {
    stat_cpu(&format!("/proc/self/task/{tid}/stat"))
}

/// CPU seconds of the whole process (exited threads included).
pub fn process_cpu() -> f64 {
    stat_cpu("/proc/self/stat")
}

pub fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// Pin the calling thread to `cpu`.
pub fn pin_thread(cpu: usize) -> io::Result<()> {
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

/// What the load generator knows of a server.
pub struct Server {
    pub name: &'static str,
    pub addr: SocketAddr,
    /// Its threads: its CPU time is theirs, summed.
    tids: Vec<i32>,
    /// Connections each of its listeners' accept loops holds open.
    live: Vec<Arc<AtomicUsize>>,
    /// Errors the server saw on its connections (should stay 0).
    pub errors: Arc<AtomicUsize>,
    /// corering's: ask for every worker's metrics.
    metrics: Option<MetricsPort>,
}

struct MetricsPort {
    requests: Arc<Mailbox<()>>,
    replies: Arc<Mailbox<Vec<corering::Metrics>>>,
}

impl Server {
    /// A server of one thread and one listener, without corering metrics.
    pub fn plain(
        name: &'static str,
        addr: SocketAddr,
        tid: i32,
        live: Arc<AtomicUsize>,
        errors: Arc<AtomicUsize>,
    ) -> Server {
        Server { name, addr, tids: vec![tid], live: vec![live], errors, metrics: None }
    }

    /// Each worker's metrics, each taken on its own thread.
    pub async fn metrics(&self) -> Option<Vec<corering::Metrics>> {
        let port = self.metrics.as_ref()?;
        port.requests.send(());
        Some(port.replies.recv().await)
    }

    /// Connections the server holds open.
    pub fn live(&self) -> usize {
        self.live.iter().map(|l| l.load(Ordering::SeqCst)).sum()
    }

    /// Connections each listener took, when there are several.
    pub fn split(&self) -> Vec<usize> {
        match self.live.len() {
            1 => Vec::new(),
            _ => self.live.iter().map(|l| l.load(Ordering::SeqCst)).collect(),
        }
    }

    /// CPU seconds of the server's threads.
    pub fn cpu(&self) -> f64 {
        self.tids.iter().map(|&t| thread_cpu(t)).sum()
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

pub fn server_error(name: &str, errors: &AtomicUsize, what: &str, e: &io::Error) {
    if errors.fetch_add(1, Ordering::SeqCst) < 10 {
        eprintln!("{name} server: {what}: {e}");
    }
}

fn counters(n: usize) -> Vec<Arc<AtomicUsize>> {
    (0..n).map(|_| Arc::new(AtomicUsize::new(0))).collect()
}

/// How a corering server echoes a connection.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `recv_stream`, each `RecvBuf` written straight back (examples/echo.rs).
    RecvStream,
    /// `read` into one owned 64 KiB `Vec`, `write_all` of what was read
    /// (examples/echo_buffers.rs).
    Owned,
}

impl Style {
    fn name(self) -> &'static str {
        match self {
            Style::RecvStream => "corering",
            Style::Owned => "cr-owned",
        }
    }
}

/// `recv_stream`: each `RecvBuf` written straight back.
async fn echo_recv_stream(stream: corering::net::TcpStream, errors: &AtomicUsize) {
    let mut recv = stream.recv_stream();
    while let Some(chunk) = recv.next().await {
        let buf = match chunk {
            Ok(buf) => buf,
            Err(err) => return server_error("corering", errors, "recv", &err),
        };
        let (res, _) = stream.write_all(buf).await;
        if let Err(err) = res {
            return server_error("corering", errors, "write", &err);
        }
    }
}

/// One owned 64 KiB `Vec` per connection: `read` into it, `write_all` the
/// bytes read, the same `Vec` going to the kernel and back each time.
async fn echo_owned(stream: corering::net::TcpStream, errors: &AtomicUsize) {
    use corering::buf::IoBuf;
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        buf.clear();
        let (res, b) = stream.read(buf).await;
        let n = match res {
            Ok(0) => return,
            Ok(n) => n,
            Err(err) => return server_error("cr-owned", errors, "read", &err),
        };
        let (res, slice) = stream.write_all(b.slice(..n)).await;
        if let Err(err) = res {
            return server_error("cr-owned", errors, "write", &err);
        }
        buf = slice.into_inner();
    }
}

/// corering's accept loop: a task per connection, echoing in `style`.
async fn serve_corering(
    listener: TcpListener,
    live: Arc<AtomicUsize>,
    e: Arc<AtomicUsize>,
    style: Style,
) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                server_error(style.name(), &e, "accept", &err);
                continue;
            }
        };
        let (live, errors) = (LiveGuard::new(&live), e.clone());
        drop(corering::spawn(async move {
            let _live = live;
            let _ = stream.set_nodelay(true);
            match style {
                Style::RecvStream => echo_recv_stream(stream, &errors).await,
                Style::Owned => echo_owned(stream, &errors).await,
            }
        }));
    }
}

/// corering's server: one worker pinned to CPU 0 (`workers` 1), or
/// `workers` workers, worker i on the i-th allowed CPU if `pin`. Worker 0
/// binds 127.0.0.1:0; with more workers, each binds its own `SO_REUSEPORT`
/// listener on the address worker 0 got (the layout planned for
/// `examples/echo.rs --workers N`).
pub fn start_corering_server(workers: usize, pin: bool, style: Style) -> Server {
    let (live, errors) = (counters(workers), Arc::new(AtomicUsize::new(0)));
    let (requests, replies) = (Mailbox::new(), Mailbox::new());
    let (tx, rx) = mpsc::channel();
    let (l, e, req, rep) = (live.clone(), errors.clone(), requests.clone(), replies.clone());
    std::thread::Builder::new()
        .name(format!("{}-echo", style.name()))
        .spawn(move || {
            let mut b = corering::Runtime::builder();
            if workers == 1 {
                b.cpu(0)
            } else {
                b.workers(workers).pin(pin)
            };
            // For comparisons: the ring of whole 4 KiB buffers that kernels
            // before 6.12 get (docs/benchmarks.md).
            if std::env::var_os("CORERING_BENCH_WHOLE_BUFFERS").is_some() {
                b.buf_ring_incremental(false);
            }
            let rt = b.build().expect("corering server runtime");
            rt.block_on(async move {
                let options = ListenOptions { reuse_port: workers > 1, ..Default::default() };
                let listener = TcpListener::bind_with("127.0.0.1:0", options).unwrap();
                let addr = listener.local_addr().unwrap();
                let mut tids = vec![gettid()];
                for (i, live) in l.iter().enumerate().skip(1) {
                    let (live, e) = (live.clone(), e.clone());
                    let (bound, tid) = tokio::sync::oneshot::channel();
                    drop(corering::spawn_on(i, move || async move {
                        let listener = TcpListener::bind_with(addr, options)
                            .expect("bind another SO_REUSEPORT listener on the same address");
                        let _ = bound.send(gettid());
                        serve_corering(listener, live, e, style).await
                    }));
                    tids.push(tid.await.expect("worker {i} bound its listener"));
                }
                tx.send((addr, tids)).unwrap();
                drop(corering::spawn(async move {
                    loop {
                        req.recv().await;
                        let mut all = Vec::new();
                        for h in corering::spawn_on_all(|| async { corering::metrics().unwrap() }) {
                            all.push(h.await.expect("a worker's metrics"));
                        }
                        rep.send(all);
                    }
                }));
                serve_corering(listener, l[0].clone(), e, style).await
            })
        })
        .expect("spawn the corering server thread");
    let (addr, tids) = rx.recv().expect("the corering server started");
    let metrics = Some(MetricsPort { requests, replies });
    Server { name: style.name(), addr, tids, live, errors, metrics }
}

/// tokio's accept loop: a task per connection, `read` into a 64 KiB
/// buffer, `write_all` back.
async fn serve_tokio(
    name: &'static str,
    listener: tokio::net::TcpListener,
    live: Arc<AtomicUsize>,
    e: Arc<AtomicUsize>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let mut stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                server_error(name, &e, "accept", &err);
                continue;
            }
        };
        let (live, errors) = (LiveGuard::new(&live), e.clone());
        tokio::spawn(async move {
            let _live = live;
            let _ = stream.set_nodelay(true);
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match stream.read(&mut buf).await {
                    Ok(0) => return,
                    Ok(n) => n,
                    Err(err) => return server_error(name, &errors, "read", &err),
                };
                if let Err(err) = stream.write_all(&buf[..n]).await {
                    return server_error(name, &errors, "write", &err);
                }
            }
        });
    }
}

/// How a tokio server binds its listener.
#[derive(Clone, Copy)]
enum Bind {
    /// `tokio::net::TcpListener::bind("127.0.0.1:0")`.
    Plain,
    /// `SO_REUSEPORT` on this address (port 0: the kernel picks one).
    ReusePort(SocketAddr),
}

fn reuse_port_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// A thread `thread` running a tokio `current_thread` runtime that serves
/// one listener, pinned to `cpu` if given. Returns the bound address and
/// the thread's id.
fn spawn_tokio_ct(
    name: &'static str,
    thread: String,
    cpu: Option<usize>,
    bind: Bind,
    live: Arc<AtomicUsize>,
    errors: Arc<AtomicUsize>,
) -> (SocketAddr, i32) {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name(thread)
        .spawn(move || {
            if let Some(cpu) = cpu {
                pin_thread(cpu).unwrap_or_else(|e| panic!("pin {name} server to CPU {cpu}: {e}"));
            }
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio server runtime");
            rt.block_on(async move {
                let listener = match bind {
                    Bind::Plain => tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
                    Bind::ReusePort(addr) => {
                        let std = reuse_port_listener(addr).expect("an SO_REUSEPORT listener");
                        tokio::net::TcpListener::from_std(std).unwrap()
                    }
                };
                tx.send((listener.local_addr().unwrap(), gettid())).unwrap();
                serve_tokio(name, listener, live, errors).await
            })
        })
        .expect("spawn a tokio server thread");
    rx.recv().unwrap_or_else(|_| panic!("the {name} server started"))
}

/// tokio's `current_thread` server, pinned to CPU 0 (the default run).
pub fn start_tokio_server() -> Server {
    let (live, errors) = (counters(1), Arc::new(AtomicUsize::new(0)));
    let (l, e) = (live[0].clone(), errors.clone());
    let (addr, tid) = spawn_tokio_ct("tokio", "tokio-echo".into(), Some(0), Bind::Plain, l, e);
    Server { name: "tokio", addr, tids: vec![tid], live, errors, metrics: None }
}

/// Two tokio `current_thread` runtimes on two threads, thread i pinned to
/// `cpus[i]`, each with its own `SO_REUSEPORT` listener on one address
/// (thread 0's, bound first on port 0).
pub fn start_tokio_ct_servers(cpus: Option<[usize; 2]>) -> Server {
    let (live, errors) = (counters(2), Arc::new(AtomicUsize::new(0)));
    let mut addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut tids = Vec::new();
    for (i, l) in live.iter().enumerate() {
        let cpu = cpus.map(|c| c[i]);
        let (l, e) = (l.clone(), errors.clone());
        let thread = format!("tokio-ct-echo{i}");
        let (bound, tid) = spawn_tokio_ct("tokio-ct", thread, cpu, Bind::ReusePort(addr), l, e);
        addr = bound;
        tids.push(tid);
    }
    Server { name: "tokio-ct", addr, tids, live, errors, metrics: None }
}

/// tokio's `multi_thread` server: 2 workers, worker k pinned to
/// `cpus[k % 2]`, one listener whose accept loop is a task like the
/// connections (tokio places them all).
pub fn start_tokio_mt_server(cpus: Option<[usize; 2]>) -> Server {
    let (live, errors) = (counters(1), Arc::new(AtomicUsize::new(0)));
    let (l, e) = (live[0].clone(), errors.clone());
    let workers = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let w = workers.clone();
    std::thread::Builder::new()
        .name("tokio-mt-echo".into())
        .spawn(move || {
            let started = AtomicUsize::new(0);
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .on_thread_start(move || {
                    let k = started.fetch_add(1, Ordering::SeqCst);
                    if let Some(cpus) = cpus {
                        pin_thread(cpus[k % 2]).expect("pin a tokio-mt worker");
                    }
                    w.lock().unwrap().push(gettid());
                })
                .build()
                .expect("tokio-mt server runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send((listener.local_addr().unwrap(), gettid())).unwrap();
                tokio::spawn(serve_tokio("tokio-mt", listener, l, e)).await.unwrap()
            })
        })
        .expect("spawn the tokio-mt server thread");
    let (addr, main_tid) = rx.recv().expect("the tokio-mt server started");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while workers.lock().unwrap().len() < 2 {
        assert!(std::time::Instant::now() < deadline, "tokio-mt's workers did not start");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let tids = [vec![main_tid], workers.lock().unwrap().clone()].concat();
    Server { name: "tokio-mt", addr, tids, live, errors, metrics: None }
}
