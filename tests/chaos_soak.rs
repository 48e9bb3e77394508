//! The chaos soak: the chaos client (`examples/chaos/`) against
//! `examples/echo.rs` and `examples/echo_buffers.rs`, each server a process
//! of its own. Per server: a warm-up of `WARMUP_CYCLES` under the soak's
//! load, then the server's health (open fds and VmRSS from /proc, and the
//! bytes it has allocated), then the soak until `CYCLES` connect/echo/close
//! cycles are done with `CONNS` connections open throughout, then its
//! health again once every connection has closed. 42 to 60 s for the two
//! on an idle 2-core machine (up to 3 minutes while other builds ran).
//!
//! A server's soak fails on a wrong byte, an error or stall of a
//! well-behaved connection, a server that died, or a server that grew by
//! more than `FD_GROWTH` fds, `RSS_GROWTH_KIB` of RSS or `HEAP_GROWTH_KIB`
//! of allocated memory; the test fails if it fails twice in a row (see
//! `soak`).
//!
//! No libtest harness (`harness = false` in Cargo.toml): this binary is
//! also the servers and the client. Run with `CHAOS_SOAK_ROLE` set to
//! `echo`, `echo_buffers` or `chaos`, it runs that example's `main` (their
//! sources are compiled in below), so the soak always runs the current
//! examples; `cargo test --test chaos_soak` would not build `examples/`.

// Both servers load `examples/common/server.rs`, their shared scaffolding;
// each copy serves its own example.
#![allow(clippy::duplicate_mod)]

#[path = "../examples/chaos/main.rs"]
mod chaos;
#[path = "../examples/echo.rs"]
mod echo;
#[path = "../examples/echo_buffers.rs"]
mod echo_buffers;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// Set in a child process: the program it runs instead of the test.
const ROLE: &str = "CHAOS_SOAK_ROLE";
/// Connections the client keeps open (the server holds as many), if the fd
/// limit allows.
const CONNS: usize = 4000;
/// With fewer connections allowed, the test is skipped.
const MIN_CONNS: usize = 1000;
/// Cycles per server: 100,000 for the two.
const CYCLES: u64 = 50_000;
/// The warm-up's length, in cycles rather than seconds so that it does as
/// much on a loaded machine: the allocator and the runtime's slabs reach
/// their high water under the soak's load before the first measurement.
const WARMUP_CYCLES: u64 = 15_000;
/// A soak that has not done `CYCLES` by then fails: the server, or the
/// machine, is far slower than it should be. It takes 10 to 50 s.
const SOAK_LIMIT_SECS: u64 = 90;
/// Growth allowed in open fds.
const FD_GROWTH: i64 = 16;
/// Growth allowed in VmRSS: loose, because glibc keeps freed memory. The
/// recv_stream server's heap grows by fragmentation over a soak, all of it
/// free (malloc_info: 250 KB in use of a 114 MB heap); the heap check is
/// the exact one.
const RSS_GROWTH_KIB: i64 = 96 * 1024;
/// Growth allowed in bytes allocated and not freed (`Counting`): about 25
/// bytes per connection of the soak.
const HEAP_GROWTH_KIB: i64 = 2 * 1024;
/// The servers' glibc malloc settings: buffers of 64 KiB and more (each
/// of `echo_buffers`' connections has one) are mapped and unmapped on
/// their own and the heap's free top is returned, so that RSS after the
/// soak is nearer to what is still allocated.
const MALLOC_TUNABLES: &str =
    "glibc.malloc.mmap_threshold=65536:glibc.malloc.trim_threshold=131072:glibc.malloc.top_pad=0";

/// The system allocator, counting the bytes allocated and not yet freed
/// (`LIVE`): a server's leak shows up in them exactly, whatever its
/// allocator keeps in RSS.
struct Counting;

/// Bytes allocated and not freed, in this process.
static LIVE: AtomicI64 = AtomicI64::new(0);

// SAFETY: every call is forwarded to `System` with the caller's arguments
// and guarantees; the count on the side changes nothing about the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded; the caller upholds `alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as i64, Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded; the caller upholds `alloc_zeroed`'s contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as i64, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        // SAFETY: forwarded; `p` came from this allocator with `layout`.
        unsafe { System.dealloc(p, layout) };
        LIVE.fetch_sub(layout.size() as i64, Relaxed);
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded; the caller upholds `realloc`'s contract.
        let q = unsafe { System.realloc(p, layout, new_size) };
        if !q.is_null() {
            LIVE.fetch_add(new_size as i64 - layout.size() as i64, Relaxed);
        }
        q
    }
}

/// Every allocation of this binary, in all its roles, is counted.
#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A child runs its role; the test itself runs `test` if selected.
fn main() -> ExitCode {
    match std::env::var(ROLE).as_deref() {
        Ok(name @ ("echo" | "echo_buffers")) => serve(name),
        Ok("chaos") => chaos::main(),
        Ok(other) => panic!("unknown {ROLE}={other}"),
        Err(_) if !selected() => ExitCode::SUCCESS,
        Err(_) if std::env::var_os("CORERING_SOAK").is_none() => {
            println!(
                "chaos_soak: skipped: set CORERING_SOAK=1 to run the soak (about 80 s on 2 \
                 cores; .ci/run does)"
            );
            ExitCode::SUCCESS
        }
        Err(_) => test(),
    }
}

/// The libtest flags that matter to a one-test binary, so that `cargo
/// test NAME`, `--skip`, `--ignored` and `--list` behave.
fn selected() -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("chaos_soak: test");
        return false;
    }
    let (mut filters, mut skips, mut it) = (vec![], vec![], args.iter());
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--ignored" => return false,
            "--skip" => skips.extend(it.next().map(String::as_str)),
            "--test-threads" | "--color" | "--format" | "--logfile" | "-Z" => drop(it.next()),
            flag if flag.starts_with('-') => {}
            filter => filters.push(filter),
        }
    }
    let hit = |f: &&str| "chaos_soak".contains(f);
    (filters.is_empty() || filters.iter().any(hit)) && !skips.iter().any(hit)
}

/// Run server `name`, printing `heap N` (the bytes it has allocated) every
/// 100 ms on stdout beside its `listening on` line.
fn serve(name: &str) -> ExitCode {
    std::thread::spawn(|| {
        loop {
            println!("heap {}", LIVE.load(Relaxed));
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let res = if name == "echo" { echo::main() } else { echo_buffers::main() };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chaos_soak: {name}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Soak both servers, one after the other; report every failure.
fn test() -> ExitCode {
    // The servers inherit the raised limit; each process needs a few fds
    // besides one per connection.
    let limit = chaos::raise_fd_limit().unwrap_or(0);
    let conns = CONNS.min(limit.saturating_sub(100) as usize);
    if conns < MIN_CONNS {
        println!("chaos_soak: skipped: RLIMIT_NOFILE allows {limit} fds, {MIN_CONNS} + 100 needed");
        return ExitCode::SUCCESS;
    }
    let start = Instant::now();
    let results = [soak("echo", conns, 1), soak("echo_buffers", conns, 3)];
    println!("chaos_soak: both servers in {:.1} s", start.elapsed().as_secs_f64());
    let failures: Vec<_> = results.into_iter().filter_map(Result::err).collect();
    for failure in &failures {
        println!("chaos_soak: FAILED: {failure}");
    }
    if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// A server's open fds, resident memory and allocated bytes.
#[derive(Clone, Copy, Debug)]
struct Health {
    fds: usize,
    rss_kib: i64,
    heap_kib: i64,
}

/// Read `server`'s health now.
fn health(server: &Server) -> Health {
    let pid = server.child.id();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count());
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    Health { fds, rss_kib, heap_kib: server.heap.load(Relaxed) / 1024 }
}

/// The server's health once its fd count has held still for a second
/// (the connections the client closed are closed on its side too), or
/// after 20 s.
fn settled(server: &Server) -> Health {
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut last, mut since) = (usize::MAX, Instant::now());
    loop {
        let now = health(server);
        if now.fds != last {
            (last, since) = (now.fds, Instant::now());
        } else if since.elapsed() >= Duration::from_secs(1) || Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A server process, killed when dropped. A thread reads its stdout: the
/// `listening on` line, then its `heap` lines.
struct Server {
    child: Child,
    addr: String,
    heap: Arc<AtomicI64>,
}

impl Server {
    /// Start server `name` and wait for its address.
    fn start(name: &str) -> Result<Server, String> {
        let child = Command::new(std::env::current_exe().unwrap())
            .env(ROLE, name)
            .env("GLIBC_TUNABLES", MALLOC_TUNABLES)
            .args(["--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{name}: cannot start: {e}"))?;
        let mut server = Server { child, addr: String::new(), heap: Arc::default() };
        let (stdout, heap, (tx, rx)) =
            (server.child.stdout.take().unwrap(), server.heap.clone(), mpsc::channel());
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(bytes) = line.strip_prefix("heap ") {
                    heap.store(bytes.parse().unwrap_or(-1), Relaxed);
                } else if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.to_string());
                }
            }
        });
        server.addr = rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| format!("{name}: no `listening on` line (see its stderr above)"))?;
        Ok(server)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run the chaos client against `server` (its report goes to stdout);
/// an error with the command to reproduce the run if it did not pass.
fn chaos(
    name: &str,
    server: &Server,
    conns: usize,
    secs: u64,
    cycles: Option<u64>,
    seed: u64,
) -> Result<(), String> {
    let mut args: Vec<String> =
        ["--secs", &secs.to_string(), "--conns", &conns.to_string(), "--seed", &seed.to_string()]
            .map(String::from)
            .into();
    if let Some(cycles) = cycles {
        args.extend(["--cycles".into(), cycles.to_string()]);
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(ROLE, "chaos")
        .args(["--addr", &server.addr])
        .args(&args)
        .spawn()
        .map_err(|e| format!("cannot start the chaos client: {e}"))?;
    // The client stops by itself at `secs`; this is the watchdog.
    let deadline = Instant::now() + Duration::from_secs(secs + 30);
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            break child.wait().map_err(|e| e.to_string())?;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if status.success() {
        return Ok(());
    }
    Err(format!(
        "{name}: the chaos client {status}; reproduce with `cargo run --release --example {name} \
         -- --addr 127.0.0.1:7000` and `cargo run --release --example chaos -- --addr \
         127.0.0.1:7000 {}`",
        args.join(" ")
    ))
}

/// One server's soak, run again once if it fails: other load on the
/// machine can make the kernel drop or reset connections (the client's
/// report shows its TCP counters). A second failure fails the test; the
/// first one stays in the output either way.
fn soak(name: &str, conns: usize, seed: u64) -> Result<(), String> {
    soak_once(name, conns, seed).or_else(|first| {
        println!("chaos_soak: {name} failed: {first}\nchaos_soak: {name}: once more");
        soak_once(name, conns, seed).map_err(|e| format!("{e} (and the first time: {first})"))
    })
}

/// Warm up, measure, soak, measure again: one server's run.
fn soak_once(name: &str, conns: usize, seed: u64) -> Result<(), String> {
    let mut server = Server::start(name)?;
    println!(
        "chaos_soak: {name} (pid {}) listening on {}; warm-up",
        server.child.id(),
        server.addr
    );
    let died = |server: &mut Server, res: Result<(), String>| match server.child.try_wait() {
        Ok(Some(status)) => Err(format!("{name}: the server died ({status}); the client: {res:?}")),
        _ => res,
    };
    let res = chaos(name, &server, conns, SOAK_LIMIT_SECS, Some(WARMUP_CYCLES), seed);
    died(&mut server, res)?;
    let before = settled(&server);
    let start = Instant::now();
    let res = chaos(name, &server, conns, SOAK_LIMIT_SECS, Some(CYCLES), seed + 1);
    died(&mut server, res)?;
    let soak_secs = start.elapsed().as_secs_f64();
    let after = settled(&server);
    println!(
        "chaos_soak: {name}: soak {soak_secs:.1} s; after the warm-up {before:?}, after the soak {after:?}"
    );
    let checks = [
        ("fds", before.fds as i64, after.fds as i64, FD_GROWTH),
        ("RSS (KiB)", before.rss_kib, after.rss_kib, RSS_GROWTH_KIB),
        ("heap (KiB)", before.heap_kib, after.heap_kib, HEAP_GROWTH_KIB),
    ];
    for (what, before, after, bound) in checks {
        if after > before + bound {
            return Err(format!("{name}: {what} grew from {before} to {after} (bound +{bound})"));
        }
    }
    Ok(())
}
