//! The echo servers under test and what the load generator knows of each:
//! address, threads, live connections, errors, and corering's metrics.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Poll, Waker};

use corering::net::TcpListener;

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
pub struct Server {
    pub name: &'static str,
    pub addr: SocketAddr,
    pub tid: i32,
    /// Connections the server holds open.
    pub live: Arc<AtomicUsize>,
    /// Errors the server saw on its connections (should stay 0).
    pub errors: Arc<AtomicUsize>,
    /// corering's: ask for the worker's metrics.
    metrics: Option<MetricsPort>,
}

struct MetricsPort {
    requests: Arc<Mailbox<()>>,
    replies: Arc<Mailbox<corering::Metrics>>,
}

impl Server {
    /// The server worker's metrics, taken on its own thread.
    pub async fn metrics(&self) -> Option<corering::Metrics> {
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

pub fn start_corering_server() -> Server {
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

pub fn start_tokio_server() -> Server {
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
