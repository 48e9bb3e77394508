//! The echo examples as a user runs them: a child process with
//! `--workers N`, every worker on its own `SO_REUSEPORT` listener on one
//! port, checked byte for byte by a corering client here, then stopped
//! with SIGTERM or SIGINT, which must end it with status 0 within a
//! second.
//!
//! The binaries are the ones `cargo test` builds next to this test
//! (`target/<profile>/examples/`). A focused `cargo test --test
//! echo_workers` does not build them: build them first with `cargo build
//! --examples` (the test says so rather than run a stale one).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use common::{bounded, fd_limit_below};
use corering::buf::IoBuf;
use corering::net::TcpStream;

/// `target/<profile>/examples/<name>`, checked to be newer than the
/// sources it is built from.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/echo_workers-<hash> -> target/<profile>
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = profile_dir.join("examples").join(name);
    let built = std::fs::metadata(&bin).and_then(|m| m.modified()).unwrap_or_else(|e| {
        panic!("{}: {e}; build it first: cargo build --examples", bin.display())
    });
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = root.join("examples").join(format!("{name}.rs"));
    let newest =
        [newest_in(&root.join("src")), modified(&source), modified(&root.join("Cargo.toml"))]
            .into_iter()
            .max()
            .unwrap();
    assert!(
        built >= newest,
        "{} is older than its sources; rebuild it: cargo build --examples",
        bin.display()
    );
    bin
}

fn modified(path: &Path) -> SystemTime {
    std::fs::metadata(path).and_then(|m| m.modified()).unwrap()
}

/// The newest modification time of any file under `dir`.
fn newest_in(dir: &Path) -> SystemTime {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            if path.is_dir() { newest_in(&path) } else { modified(&path) }
        })
        .max()
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// A running echo example.
struct Server {
    child: Child,
    addr: SocketAddr,
    /// Everything it writes to stderr, once it has exited.
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Server {
    /// Start example `name` with `workers` on a port of the kernel's
    /// choosing; returns once it printed `listening on HOST:PORT`.
    fn start(name: &str, workers: usize) -> Server {
        let mut child = Command::new(example(name))
            .args(["--addr", "127.0.0.1:0", "--workers", &workers.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(out).read_line(&mut line);
            let _ = tx.send(line);
        });
        let mut server = Server { child, addr: "0.0.0.0:0".parse().unwrap(), stderr: Some(stderr) };
        let line = rx.recv_timeout(Duration::from_secs(10)).expect("no first line within 10 s");
        let addr = line.trim_end().strip_prefix("listening on ");
        server.addr = match addr.map(str::parse) {
            Some(Ok(addr)) => addr,
            _ => panic!("the first line is not `listening on HOST:PORT`: {line:?}"),
        };
        server
    }

    /// Send `signum`; wait (at most `limit`) for the exit. Its status, how
    /// long it took, and its stderr.
    fn stop(mut self, signum: i32, limit: Duration) -> (ExitStatus, Duration, String) {
        // SAFETY: kill takes no pointers; the pid is our child's, not yet
        // reaped, so it names no other process.
        assert_eq!(unsafe { libc::kill(self.child.id() as libc::pid_t, signum) }, 0);
        let sent = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(sent.elapsed() < limit, "still running {limit:?} after signal {signum}");
            std::thread::sleep(Duration::from_millis(2));
        };
        let took = sent.elapsed();
        let stderr = self.stderr.take().unwrap().join().unwrap();
        (status, took, stderr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A failed test must not leave the server running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `connections per worker: 130 126` from the server's stderr.
fn connections_per_worker(stderr: &str) -> Vec<u64> {
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("connections per worker: "))
        .unwrap_or_else(|| panic!("no `connections per worker` line in stderr: {stderr:?}"));
    line.split(' ').map(|n| n.parse().unwrap()).collect()
}

/// Message `msg` of connection `conn`: its own length (1 to 3000 bytes,
/// so replies span several reads) and bytes.
fn message(conn: u64, msg: u64) -> Vec<u8> {
    let seed = conn.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ msg.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let len = 1 + (seed % 3000) as usize;
    (0..len as u64).map(|i| (seed.rotate_left((i % 64) as u32) ^ i) as u8).collect()
}

/// One connection: `msgs` messages sent and read back whole, every byte
/// compared.
async fn client(addr: SocketAddr, conn: u64, msgs: u64) -> Result<(), String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| format!("conn {conn}: {e}"))?;
    let mut back: Vec<u8> = Vec::with_capacity(3000);
    for msg in 0..msgs {
        let out = message(conn, msg);
        let (res, out) = stream.write_all(out).await;
        res.map_err(|e| format!("conn {conn} msg {msg}: write: {e}"))?;
        back.clear();
        while back.len() < out.len() {
            let got = back.len();
            let (res, s) = stream.read(back.slice(got..out.len())).await;
            back = s.into_inner();
            match res {
                Ok(0) => return Err(format!("conn {conn} msg {msg}: closed after {}", back.len())),
                Ok(_) => {}
                Err(e) => return Err(format!("conn {conn} msg {msg}: read: {e}")),
            }
        }
        if back != out {
            let at = back.iter().zip(&out).position(|(a, b)| a != b).unwrap();
            return Err(format!("conn {conn} msg {msg}: byte {at} differs"));
        }
    }
    Ok(())
}

/// `conns` concurrent connections of `msgs` messages each against `addr`.
fn load(addr: SocketAddr, conns: u64, msgs: u64) {
    bounded(Duration::from_secs(120), move || {
        let rt = corering::Runtime::builder().build().unwrap();
        rt.block_on(async move {
            let tasks: Vec<_> =
                (0..conns).map(|c| corering::spawn(client(addr, c, msgs))).collect();
            for t in tasks {
                t.await.unwrap().unwrap();
            }
        });
    });
}

/// Two workers, 256 connections of 100 messages: every byte comes back,
/// both workers served, and SIGTERM stops it cleanly.
fn serves_on_two_workers(name: &str) {
    if let Some(why) = fd_limit_below(1024) {
        println!("skipped: {why}");
        return;
    }
    let server = Server::start(name, 2);
    let start = Instant::now();
    load(server.addr, 256, 100);
    println!("{name}: 256 x 100 messages in {:?}", start.elapsed());
    let (status, took, stderr) = server.stop(libc::SIGTERM, Duration::from_secs(1));
    assert!(status.success(), "{name} exited with {status}: {stderr}");
    let counts = connections_per_worker(&stderr);
    assert_eq!(counts.len(), 2, "{stderr}");
    assert_eq!(counts.iter().sum::<u64>(), 256, "every connection counted once: {counts:?}");
    assert!(counts.iter().all(|&n| n > 0), "both workers served connections: {counts:?}");
    println!("{name}: connections per worker {counts:?}; stopped in {took:?}");
}

#[test]
fn echo_serves_256_connections_on_two_workers_sharing_one_port() {
    serves_on_two_workers("echo");
}

#[test]
fn echo_buffers_serves_256_connections_on_two_workers_sharing_one_port() {
    serves_on_two_workers("echo_buffers");
}

/// Started with `workers`, a few connections open and idle, `signum`
/// ends it with status 0 within a second.
fn stops_cleanly(workers: usize, signum: i32) {
    let server = Server::start("echo", workers);
    load(server.addr, 4, 3);
    // Open, echoed once (so accepted and served), then left idle.
    let idle: Vec<_> = (0..8)
        .map(|_| {
            let mut c = std::net::TcpStream::connect(server.addr).unwrap();
            c.write_all(b"x").unwrap();
            let mut byte = [0u8];
            c.read_exact(&mut byte).unwrap();
            c
        })
        .collect();
    let (status, took, stderr) = server.stop(signum, Duration::from_secs(1));
    assert!(status.success(), "exited with {status} after signal {signum}: {stderr}");
    let counts = connections_per_worker(&stderr);
    assert_eq!(counts.len(), workers);
    assert_eq!(counts.iter().sum::<u64>(), 12, "{counts:?}");
    println!("{workers} workers, signal {signum}: stopped in {took:?}");
    drop(idle);
}

#[test]
fn echo_exits_0_on_sigterm_with_one_worker() {
    stops_cleanly(1, libc::SIGTERM);
}

#[test]
fn echo_exits_0_on_sigterm_with_two_workers() {
    stops_cleanly(2, libc::SIGTERM);
}

#[test]
fn echo_exits_0_on_sigint_with_one_worker() {
    stops_cleanly(1, libc::SIGINT);
}

#[test]
fn echo_exits_0_on_sigint_with_two_workers() {
    stops_cleanly(2, libc::SIGINT);
}

#[test]
fn echo_with_workers_0_runs_one_worker_per_cpu() {
    // SAFETY: an all-zero cpu_set_t is a valid empty set; the kernel
    // writes at most its size.
    let cpus = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        assert_eq!(libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set), 0);
        libc::CPU_COUNT(&set) as usize
    };
    let server = Server::start("echo", 0);
    let (status, _, stderr) = server.stop(libc::SIGTERM, Duration::from_secs(1));
    assert!(status.success(), "{stderr}");
    assert_eq!(connections_per_worker(&stderr).len(), cpus, "{stderr}");
}
