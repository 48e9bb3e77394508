//! What `examples/echo.rs` and `examples/echo_buffers.rs` share: the flags,
//! one `SO_REUSEPORT` listener per worker, the accept loop, and stopping on
//! SIGINT or SIGTERM. Each example brings its per-connection handler.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use corering::net::{ListenOptions, TcpListener, TcpStream};
use corering::signal::{SIGINT, SIGTERM, signal};

struct Args {
    addr: SocketAddr,
    workers: usize,
}

fn usage(name: &str) -> String {
    format!(
        "usage: {name} [--addr HOST:PORT] [--workers N]
  --addr HOST:PORT  where to listen (default 127.0.0.1:7000; port 0 picks one)
  --workers N       workers, each with its own SO_REUSEPORT listener
                    (default 1; 0 = one per CPU this process may run on)"
    )
}

fn args(name: &str) -> Result<Args, String> {
    let mut out = Args { addr: "127.0.0.1:7000".parse().unwrap(), workers: 1 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            println!("{}", usage(name));
            std::process::exit(0);
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--addr" => out.addr = value.parse().map_err(|e| format!("--addr {value}: {e}"))?,
            "--workers" => {
                out.workers = value.parse().map_err(|e| format!("--workers {value}: {e}"))?
            }
            _ => return Err(format!("unknown flag {flag}\n{}", usage(name))),
        }
    }
    Ok(out)
}

/// Accept connections on this worker's listener and echo each on a task of
/// its own, counting them in `accepted[worker]`; returns only on an accept
/// error.
async fn serve<F, Fut>(
    name: &'static str,
    listener: TcpListener,
    accepted: Arc<[AtomicU64]>,
    handler: F,
) -> io::Error
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + 'static,
{
    let worker = corering::worker_id();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of fds (a flood of connections): serve the ones we
            // have and try again shortly, rather than exit.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                eprintln!("{name}: accept: {e}; retrying in 10 ms");
                corering::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            Err(e) => return e,
        };
        accepted[worker].fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        drop(corering::spawn(handler(stream)));
    }
}

/// Listen on every worker, then wait for SIGINT or SIGTERM (or a worker's
/// accept failing). Runs on worker 0.
async fn run<F, Fut>(
    name: &'static str,
    addr: SocketAddr,
    accepted: Arc<[AtomicU64]>,
    handler: F,
) -> io::Result<()>
where
    F: Fn(TcpStream) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    // First of all: from here on these signals stop the server cleanly
    // instead of killing the process.
    let mut int = signal(SIGINT)?;
    let mut term = signal(SIGTERM)?;
    let reuse = ListenOptions { reuse_port: true, ..ListenOptions::default() };
    // Worker 0 binds first, so that with port 0 the others join the port
    // it got.
    let first = TcpListener::bind_with(addr, reuse)?;
    let addr = first.local_addr()?;
    let mut servers = vec![corering::spawn(serve(name, first, accepted.clone(), handler))];
    let bound: Vec<_> = (1..corering::worker_count())
        .map(|i| {
            let accepted = accepted.clone();
            corering::spawn_on(i, move || async move {
                let listener = TcpListener::bind_with(addr, reuse).map_err(|e| {
                    io::Error::new(e.kind(), format!("worker {i}: bind {addr}: {e}"))
                })?;
                // The listener stays on this worker; its server's handle
                // comes back to worker 0.
                Ok::<_, io::Error>(corering::spawn(serve(name, listener, accepted, handler)))
            })
        })
        .collect();
    for b in bound {
        servers.push(b.await??);
    }
    println!("listening on {addr}");
    std::future::poll_fn(|cx| {
        for (signal, s) in [("SIGINT", &mut int), ("SIGTERM", &mut term)] {
            if s.poll_recv(cx).is_ready() {
                eprintln!("{name}: {signal}: stopping");
                return Poll::Ready(Ok(()));
            }
        }
        for (i, server) in servers.iter_mut().enumerate() {
            if let Poll::Ready(res) = Pin::new(server).poll(cx) {
                let e = res.unwrap_or_else(io::Error::from);
                return Poll::Ready(Err(io::Error::new(e.kind(), format!("worker {i}: {e}"))));
            }
        }
        Poll::Pending
    })
    .await
}

/// Parse the flags, serve with `handler` on every connection until SIGINT
/// or SIGTERM, then stop every worker and print how many connections each
/// accepted.
pub fn serve_main<F, Fut>(name: &'static str, handler: F) -> io::Result<()>
where
    F: Fn(TcpStream) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let args = args(name).unwrap_or_else(|e| {
        eprintln!("{name}: {e}");
        std::process::exit(2);
    });
    let rt = corering::Runtime::builder().workers(args.workers).build()?;
    let accepted: Arc<[AtomicU64]> = (0..rt.worker_count()).map(|_| AtomicU64::new(0)).collect();
    let res = rt.block_on(run(name, args.addr, accepted.clone(), handler));
    // Every worker stops: its connections and listener are closed on its
    // own thread, and it is joined.
    drop(rt);
    let counts: Vec<String> =
        accepted.iter().map(|n| n.load(Ordering::Relaxed).to_string()).collect();
    eprintln!("connections per worker: {}", counts.join(" "));
    res
}
