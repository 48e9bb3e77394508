//! A chaos soak for any TCP echo server on loopback: thousands of
//! connections that misbehave at random beside well-behaved ones whose
//! every byte is checked and whose round trips are timed. The client is
//! plain threads, non-blocking sockets and poll(2), not corering, so a bug
//! in the runtime cannot hide on both ends of the wire.
//!
//! Run, with a server listening in another process
//! (`cargo run --release --example echo`, or `echo_buffers`):
//! `cargo run --release --example chaos -- --addr 127.0.0.1:7000 --secs 600`
//!
//! Flags: `--addr HOST:PORT` (default 127.0.0.1:7000; loopback only),
//! `--secs N` (default 30), `--conns N` open at once (default 2000),
//! `--cycles N` (stop once N connect/echo/close cycles have ended;
//! default: no limit), `--seed N` (default 1), `--threads N` (default 2).
//! The run stops at `--secs` or at `--cycles`, whichever comes first, or
//! after 1,000 failures. It raises its soft fd limit to the hard one and
//! needs `--conns` + 64 fds.
//!
//! Each of the `--conns` slots opens a connection with a behaviour picked
//! at random (`peer::Kind`: well-behaved echo, connect/echo/close cycles,
//! half-close, partial writes, slow and stopped readers, RST mid-message,
//! connect/close churn, idle) and opens the next when it ends. Every byte
//! that comes back, on any connection, is compared with the byte sent
//! there (`pattern::Pattern`).
//!
//! A well-behaved connection has stalled when it is owed bytes and none
//! come for 5 s of the client's attentive time (`peer::Ctx::clock`: a
//! client too busy to poll does not count) while none wait unread in its
//! own socket. The report names the kernel's signs of dropping segments
//! meanwhile (`KERNEL_COUNTERS`), which can delay a connection too.
//!
//! Prints per-behaviour counts, errors by kind, the bytes checked, the
//! round trips of the well-behaved connections and failures (also on
//! stderr as they happen). Exit status: 0 passed; 1 a wrong byte, or a
//! well-behaved connection failed or stalled; 2 bad flags or too few fds;
//! 3 no failure, but fewer than `--cycles` cycles succeeded in `--secs`.

mod pattern;
mod peer;
mod tally;

use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use socket2::SockAddr;

use pattern::{CHUNK, Pattern, Rng};
use peer::{Conn, Ctx, Kind};
use tally::Stats;

/// The run stops early after this many failures: the server is gone or
/// badly broken, and more of them say nothing new.
const MAX_FAILURES: u64 = 1000;

/// A poll turn counts for at most this much attentive time.
const TURN_CAP: Duration = Duration::from_millis(100);

/// Counters of the kernel's TCP stack (the whole machine's, from
/// /proc/net/netstat) that rise when it drops or delays segments: an
/// overflowing accept queue, receive queues pruned or dropped under memory
/// pressure, retransmission timeouts. A stall that comes with them may be
/// the kernel's doing rather than the server's.
const KERNEL_COUNTERS: [&str; 6] = [
    "ListenOverflows",
    "TCPMemoryPressures",
    "PruneCalled",
    "TCPRcvQDrop",
    "TCPTimeouts",
    "TCPSynRetrans",
];

/// The values of `KERNEL_COUNTERS` now (zeros where unreadable).
fn kernel_counters() -> [u64; KERNEL_COUNTERS.len()] {
    let text = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let mut tcp_ext = text.lines().filter(|line| line.starts_with("TcpExt:"));
    let (names, values) = (tcp_ext.next().unwrap_or(""), tcp_ext.next().unwrap_or(""));
    let pairs: Vec<_> = names.split_whitespace().zip(values.split_whitespace()).collect();
    KERNEL_COUNTERS.map(|counter| {
        let value = pairs.iter().find(|(name, _)| *name == counter).map(|(_, value)| value);
        value.and_then(|v| v.parse().ok()).unwrap_or(0)
    })
}

/// The parsed flags (see the crate docs).
struct Args {
    addr: SocketAddr,
    secs: f64,
    conns: usize,
    cycles: Option<u64>,
    seed: u64,
    threads: usize,
}

/// Parse the flags; an error names the flag at fault.
fn args() -> Result<Args, String> {
    let mut out = Args {
        addr: "127.0.0.1:7000".parse().unwrap(),
        secs: 30.0,
        conns: 2000,
        cycles: None,
        seed: 1,
        threads: 2,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--addr" => out.addr = value.parse().map_err(|e| bad(&e))?,
            "--secs" => out.secs = value.parse().map_err(|e| bad(&e))?,
            "--conns" => out.conns = value.parse().map_err(|e| bad(&e))?,
            "--cycles" => out.cycles = Some(value.parse().map_err(|e| bad(&e))?),
            "--seed" => out.seed = value.parse().map_err(|e| bad(&e))?,
            "--threads" => out.threads = value.parse().map_err(|e| bad(&e))?,
            _ => {
                return Err(format!(
                    "unknown flag {flag}; expected --addr, --secs, --conns, --cycles, --seed or \
                     --threads"
                ));
            }
        }
    }
    if !out.addr.ip().is_loopback() {
        return Err(format!("--addr {}: only loopback addresses are allowed", out.addr));
    }
    if out.threads == 0 || out.threads > out.conns {
        return Err("--threads must be at least 1 and at most --conns".into());
    }
    Ok(out)
}

/// What all threads share: where to connect, what to send, when to stop.
struct Shared {
    addr: SockAddr,
    pattern: Pattern,
    deadline: Instant,
    cycles_target: Option<u64>,
    // Counters that publish no other data: Relaxed is enough.
    cycles_started: AtomicU64,
    /// Cycles that ended, however; and those that succeeded.
    cycles_ended: AtomicU64,
    cycles_done: AtomicU64,
    failures: AtomicU64,
}

impl Shared {
    /// Whether the run is over: `--secs` have passed, `--cycles` ended, or
    /// `MAX_FAILURES` failures happened.
    fn over(&self) -> bool {
        Instant::now() >= self.deadline
            || self.cycles_target.is_some_and(|t| self.cycles_ended.load(Relaxed) >= t)
            || self.failures.load(Relaxed) >= MAX_FAILURES
    }

    /// Whether another cycle may start: `--cycles` bounds them.
    fn take_cycle(&self) -> bool {
        let Some(target) = self.cycles_target else { return true };
        self.cycles_started
            .fetch_update(Relaxed, Relaxed, |n| (n < target).then_some(n + 1))
            .is_ok()
    }
}

/// One thread: keep `slots` connections open, each slot opening its next
/// connection as the last one ends, until the run is over.
fn run(shared: &Shared, index: usize, slots: usize, seed: u64) -> Stats {
    let mut cx = Ctx {
        shared,
        rng: Rng::new(seed, index),
        now: Instant::now(),
        clock: Duration::ZERO,
        recv_buf: vec![0; CHUNK],
        stats: Stats::default(),
    };
    let mut conns: Vec<Option<Conn>> = (0..slots).map(|_| None).collect();
    let mut fds: Vec<libc::pollfd> = Vec::with_capacity(slots);
    let mut last = cx.now;
    while !shared.over() {
        for slot in conns.iter_mut().filter(|slot| slot.is_none()) {
            match Conn::open(&mut cx) {
                Ok(conn) => *slot = Some(conn),
                Err((kind, end)) => cx.record(kind, end, || "connect".into()),
            }
        }
        fds.clear();
        fds.extend(conns.iter().map(|conn| match conn {
            Some(c) => libc::pollfd { fd: c.fd(), events: c.events(cx.now), revents: 0 },
            None => libc::pollfd { fd: -1, events: 0, revents: 0 },
        }));
        // SAFETY: `fds` is an initialised array of `fds.len()` pollfds that
        // outlives the call; poll writes only their `revents`.
        if unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 10) } < 0 {
            let e = io::Error::last_os_error();
            assert_eq!(e.kind(), ErrorKind::Interrupted, "poll: {e}");
        }
        cx.now = Instant::now();
        let turn = cx.now - last;
        (cx.clock, last) = (cx.clock + turn.min(TURN_CAP), cx.now);
        cx.stats.longest_turn = cx.stats.longest_turn.max(turn);
        for (slot, pfd) in conns.iter_mut().zip(&fds) {
            let Some(conn) = slot else { continue };
            if let Some(end) = conn.step(pfd.revents, &mut cx) {
                cx.finish(slot.take().expect("stepped just now"), end);
            }
        }
    }
    cx.stats
}

/// Raise the soft fd limit as far as the hard one allows (the servers and
/// this tool need one fd per connection); the soft limit now in force.
pub fn raise_fd_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit into `lim`, alive for the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // An unlimited hard limit cannot be the soft one for fds (the kernel
    // caps it at fs.nr_open); a million is enough.
    let want = lim.rlim_max.min(1 << 20);
    if want > lim.rlim_cur {
        let raised = libc::rlimit { rlim_cur: want, rlim_max: lim.rlim_max };
        // SAFETY: setrlimit reads one rlimit from `raised`, alive for the call.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = want;
        }
    }
    Ok(lim.rlim_cur)
}

/// Print the run's figures (`kernel`: `KERNEL_COUNTERS`' growth over the
/// run); the exit status says whether it passed.
fn report(
    args: &Args,
    shared: &Shared,
    stats: &Stats,
    kernel: &[u64],
    elapsed: Duration,
) -> ExitCode {
    let (cycles, secs) = (shared.cycles_done.load(Relaxed), elapsed.as_secs_f64());
    let (addr, conns, threads, seed) = (args.addr, args.conns, args.threads, args.seed);
    println!(
        "chaos against {addr}: {conns} connections on {threads} threads, seed {seed}, {secs:.1} s"
    );
    println!("{:<15} {:>9} {:>9} {:>9}", "behaviour", "opened", "done", "errors");
    for (kind, _) in Kind::ALL {
        let i = kind as usize;
        let (opened, done, errors) = (stats.opened[i], stats.done[i], stats.errors[i]);
        println!("{:<15} {opened:>9} {done:>9} {errors:>9}", format!("{kind:?}"));
    }
    println!("errors by kind:{}", if stats.errors_by_kind.is_empty() { " none" } else { "" });
    for (what, n) in &stats.errors_by_kind {
        println!("  {what}: {n}");
    }
    let mib = stats.verified_bytes as f64 / (1 << 20) as f64;
    println!("bytes checked: {} ({mib:.1} MiB)", stats.verified_bytes);
    let target = args.cycles.map_or(String::new(), |t| format!(" of {t}"));
    println!("cycles: {cycles}{target} ({:.0}/s)", cycles as f64 / secs);
    println!("round trip, good and cycle messages: {}", stats.rtt.line());
    println!("round trip, those of at most 4 KiB:  {}", stats.rtt_small.line());
    let turn_ms = stats.longest_turn.as_secs_f64() * 1000.0;
    println!(
        "longest poll turn: {turn_ms:.1} ms (counts {} ms toward a stall)",
        TURN_CAP.as_millis()
    );
    let counters = KERNEL_COUNTERS.iter().zip(kernel).map(|(c, n)| format!("{c} +{n}"));
    println!("kernel TCP, whole machine: {}", counters.collect::<Vec<_>>().join(", "));
    if stats.failures > 0 {
        println!("result: FAILED, {} failures; the first:", stats.failures);
        for failure in &stats.first_failures {
            println!("  {failure}");
        }
        return ExitCode::FAILURE;
    }
    if let Some(target) = args.cycles.filter(|&t| cycles < t) {
        println!("result: no failures, but only {cycles} of {target} cycles in {secs:.1} s");
        return ExitCode::from(3);
    }
    println!("result: ok");
    ExitCode::SUCCESS
}

// `pub`: tests/chaos_soak.rs runs this tool in a child process of its own.
/// Parse the flags, run the threads until the run is over, report.
pub fn main() -> ExitCode {
    let args = match args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("chaos: {e}");
            return ExitCode::from(2);
        }
    };
    let need = args.conns as u64 + 64;
    match raise_fd_limit() {
        Ok(limit) if limit >= need => {}
        Ok(limit) => {
            eprintln!(
                "chaos: --conns {} needs {need} fds, RLIMIT_NOFILE allows {limit}: lower --conns \
                 or raise the hard limit",
                args.conns
            );
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("chaos: getrlimit(RLIMIT_NOFILE): {e}");
            return ExitCode::from(2);
        }
    }
    let (start, kernel_before) = (Instant::now(), kernel_counters());
    let shared = Shared {
        addr: args.addr.into(),
        pattern: Pattern::new(),
        deadline: start + Duration::from_secs_f64(args.secs),
        cycles_target: args.cycles,
        cycles_started: AtomicU64::new(0),
        cycles_ended: AtomicU64::new(0),
        cycles_done: AtomicU64::new(0),
        failures: AtomicU64::new(0),
    };
    let stats = std::thread::scope(|s| {
        let threads: Vec<_> = (0..args.threads)
            .map(|i| {
                // Shares that add up to `conns` (Hermite's identity).
                let slots = (args.conns + i) / args.threads;
                let (shared, seed) = (&shared, args.seed);
                s.spawn(move || run(shared, i, slots, seed))
            })
            .collect();
        let stats = threads.into_iter().map(|t| t.join().expect("a chaos thread panicked"));
        stats.fold(Stats::default(), Stats::merge)
    });
    let kernel_after = kernel_counters();
    let kernel: Vec<_> = kernel_after.iter().zip(kernel_before).map(|(a, b)| a - b).collect();
    report(&args, &shared, &stats, &kernel, start.elapsed())
}
