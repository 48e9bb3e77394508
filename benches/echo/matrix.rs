//! Matrix mode (`--matrix`): message sizes x connections x {ping-pong,
//! pipelined}, four single-thread servers on CPU 0 (corering's
//! `recv_stream` echo, corering's owned-buffer echo, tokio's
//! `current_thread` echo, and the raw `corering::uring` loop), one load
//! generator on CPU 1 that checks every byte.
//!
//! Each connection runs a writer and a reader side by side (one task):
//!
//! - the writer sends the connection's message (a window of one shared
//!   pattern, never copied) with single `write`s, starting a message only
//!   while fewer than the mode's window (1 for ping-pong, [`DEPTH`] for
//!   pipelined) are unanswered, and stops at the round's deadline, even
//!   mid-message;
//! - the reader reads into one reused buffer of at most 64 KiB, never more
//!   than was written and not yet echoed, and compares every byte with the
//!   pattern at its offset in the stream; it ends once the writer stopped
//!   and everything written came back.
//!
//! So memory is bounded (one read buffer per connection, one pattern per
//! cell) whatever the size, and a round ends with every connection drained
//! and closed cleanly. A round's rate is echoed bytes / size / wall time:
//! messages, counting a last partial one as its fraction (with 1 MiB
//! messages on 4096 connections most connections complete only a few).

use std::cell::Cell;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corering::buf::IoBuf;
use corering::net::TcpStream;
use tokio::sync::{Notify, watch};

/// How long a round may go without a byte echoed before it is called a
/// stall: longer than the default run's, and longer than TCP's longest
/// retransmission timeout (120 s). At 4096 connections x 1 MiB the
/// kernel's TCP memory pressure drops segments (at both ends: `ss -tmi`
/// shows `d` counts and `backoff` 7, an RTO of 27 s, on the last few
/// connections), and a connection then sits out retransmission back-off
/// with hundreds of KiB queued in its sockets; seen on the recv_stream
/// server after 30 s, which is not a hang.
const STALL: Duration = Duration::from_secs(130);
use crate::raw::start_raw_server;
use crate::servers::{Server, Style, start_corering_server, start_tokio_server, thread_cpu};

/// Message sizes of the full matrix.
pub const SIZES: [usize; 6] = [64, 1024, 16 << 10, 64 << 10, 256 << 10, 1 << 20];
/// Connection counts of the full matrix.
pub const CONNS: [usize; 4] = [1, 16, 256, 4096];
/// Messages each connection keeps outstanding in pipelined mode.
pub const DEPTH: u64 = 8;
/// The most a connection's read buffer holds.
const READ_BUF: usize = 64 << 10;
/// Connections opened at once (below the servers' listen backlog, 1024).
const OPEN_WAVE: usize = 256;
/// Connection `c` sends the pattern from offset `c * 37 % PAD`: the
/// pattern is `PAD` bytes longer than a message.
const PAD: usize = 251;
/// A generator thread at or above this share of one CPU sets the pace.
const BOUND: f64 = 90.0;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    PingPong,
    Pipelined,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "pingpong" | "ping-pong" | "pp" => Some(Mode::PingPong),
            "pipelined" | "pipeline" | "pl" => Some(Mode::Pipelined),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mode::PingPong => "pingpong",
            Mode::Pipelined => "pipelined",
        }
    }

    /// Messages outstanding per connection.
    fn window(self) -> u64 {
        match self {
            Mode::PingPong => 1,
            Mode::Pipelined => DEPTH,
        }
    }
}

pub struct Options {
    pub sizes: Vec<usize>,
    pub conns: Vec<usize>,
    pub modes: Vec<Mode>,
    pub rounds: usize,
    pub duration: Duration,
    pub csv: Option<String>,
}

/// Byte `j` of the pattern: a hash of `j`, so a byte moved to another
/// offset (reordered, duplicated, lost) does not match.
fn pattern_byte(j: usize) -> u8 {
    let h = (j as u32).wrapping_mul(0x9e37_79b1);
    (h >> 24) as u8 ^ (j >> 24) as u8
}

fn pattern(size: usize) -> Rc<[u8]> {
    (0..size + PAD).map(pattern_byte).collect()
}

/// Raise the soft limit on open files to the hard one; an error if that
/// is fewer than `need`.
fn raise_nofile(need: u64) -> Result<(), String> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit into `lim`, alive for the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(format!("getrlimit(RLIMIT_NOFILE): {}", std::io::Error::last_os_error()));
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
        // SAFETY: setrlimit reads one rlimit from `raised`, alive for the call.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim = raised;
        }
    }
    if lim.rlim_cur < need {
        return Err(format!(
            "the open-file limit is {} (hard {}), and this matrix needs {need} (two fds per \
             connection, load generator and server in one process, plus slack): raise it \
             (ulimit -n {need}) or run fewer connections (--conns)",
            lim.rlim_cur, lim.rlim_max
        ));
    }
    Ok(())
}

// ---- the load ----

/// One connection's progress, read by the round's watchdog.
#[derive(Default)]
struct Progress {
    /// Connected, and echoed once.
    ready: Cell<bool>,
    /// Bytes echoed and checked.
    bytes: Cell<u64>,
    finished: Cell<Option<Instant>>,
    error: Cell<Option<String>>,
}

struct Plan {
    addr: SocketAddr,
    size: usize,
    mode: Mode,
    duration: Duration,
    pattern: Rc<[u8]>,
    progress: Vec<Progress>,
}

impl Plan {
    fn total(&self) -> u64 {
        self.progress.iter().map(|p| p.bytes.get()).sum()
    }

    fn first_error(&self) -> Option<(usize, String)> {
        self.progress.iter().enumerate().find_map(|(c, p)| {
            let e = p.error.take();
            p.error.set(e.clone());
            e.map(|e| (c, e))
        })
    }
}

/// Read exactly `n` bytes into `buf` (reused) and check them against
/// `expect`.
async fn read_exact_checked(
    stream: &TcpStream,
    mut buf: Vec<u8>,
    expect: &[u8],
) -> (Result<(), String>, Vec<u8>) {
    let mut got = 0;
    while got < expect.len() {
        let want = (expect.len() - got).min(buf.capacity());
        buf.clear();
        let (res, s) = stream.read(buf.slice(..want)).await;
        buf = s.into_inner();
        match res {
            Ok(0) => return (Err(format!("closed after {got} bytes")), buf),
            Ok(n) if buf[..n] == expect[got..got + n] => got += n,
            Ok(_) => return (Err(format!("echoed bytes differ at offset {got}")), buf),
            Err(e) => return (Err(format!("read after {got} bytes: {e}")), buf),
        }
    }
    (Ok(()), buf)
}

/// The writer and the reader of one connection, from the round's start to
/// its deadline and the drain after it.
async fn exchange(
    stream: &TcpStream,
    plan: &Plan,
    me: &Progress,
    off: usize,
    deadline: Instant,
    mut buf: Vec<u8>,
) -> Result<(), String> {
    let size = plan.size as u64;
    let limit = plan.mode.window() * size;
    let (written, received, stopped) = (Cell::new(0u64), Cell::new(0u64), Cell::new(false));
    let (to_reader, to_writer) = (Notify::new(), Notify::new());
    let writer = async {
        let mut at = 0; // offset in the message
        loop {
            if Instant::now() >= deadline {
                stopped.set(true);
                to_reader.notify_one();
                return Ok(());
            }
            if at == 0 && written.get() - received.get() + size > limit {
                to_writer.notified().await; // the window is full
                continue;
            }
            let msg = plan.pattern.clone().slice(off + at..off + plan.size);
            let (res, _) = stream.write(msg).await;
            match res {
                Ok(0) => return Err("write returned 0".to_string()),
                Ok(n) => {
                    written.set(written.get() + n as u64);
                    at = (at + n) % plan.size;
                    to_reader.notify_one();
                }
                Err(e) => return Err(format!("write: {e}")),
            }
        }
    };
    let reader = async {
        loop {
            let owed = written.get() - received.get();
            if owed == 0 {
                if stopped.get() {
                    return Ok(());
                }
                to_reader.notified().await;
                continue;
            }
            let want = (owed as usize).min(buf.capacity());
            buf.clear();
            let (res, s) = stream.read(buf.slice(..want)).await;
            buf = s.into_inner();
            let n = match res {
                Ok(0) => return Err(format!("closed with {owed} bytes owed")),
                Ok(n) => n,
                Err(e) => return Err(format!("read: {e}")),
            };
            // Check each byte against the pattern at its stream offset.
            let (mut k, mut pos) = (0, (received.get() % size) as usize);
            while k < n {
                let seg = (n - k).min(plan.size - pos);
                if buf[k..k + seg] != plan.pattern[off + pos..off + pos + seg] {
                    return Err(format!(
                        "echoed bytes differ from the pattern in stream bytes {}..{}",
                        received.get() + k as u64,
                        received.get() + (k + seg) as u64
                    ));
                }
                (k, pos) = (k + seg, (pos + seg) % plan.size);
            }
            received.set(received.get() + n as u64);
            me.bytes.set(received.get());
            to_writer.notify_one();
        }
    };
    futures::future::try_join(writer, reader).await.map(drop)
}

/// Connection `c`: connect and check one short echo, wait for the round's
/// start, exchange until the deadline and drain, close.
async fn connection(plan: Rc<Plan>, c: usize, mut go: watch::Receiver<Option<Instant>>) {
    let me = &plan.progress[c];
    let fail = |e: String| me.error.set(Some(e));
    let stream = match TcpStream::connect(plan.addr).await {
        Ok(s) => s,
        Err(e) => return fail(format!("connect: {e}")),
    };
    if let Err(e) = stream.set_nodelay(true) {
        return fail(format!("set_nodelay: {e}"));
    }
    let off = c * 37 % PAD;
    let buf = Vec::with_capacity(READ_BUF.min(plan.size * plan.mode.window() as usize));
    let warm = plan.size.min(64);
    let (res, _) = stream.write_all(plan.pattern.clone().slice(off..off + warm)).await;
    if let Err(e) = res {
        return fail(format!("warm-up write: {e}"));
    }
    let (res, buf) = read_exact_checked(&stream, buf, &plan.pattern[off..off + warm]).await;
    if let Err(e) = res {
        return fail(format!("warm-up: {e}"));
    }
    me.ready.set(true);
    let Ok(start) = go.wait_for(Option::is_some).await.map(|s| s.unwrap()) else { return };
    let res = exchange(&stream, &plan, me, off, start + plan.duration, buf).await;
    me.finished.set(Some(Instant::now()));
    if let Err(e) = res {
        fail(e);
    }
    drop(stream);
}

pub struct Round {
    /// Echoed bytes / size.
    pub msgs: f64,
    pub wall: f64,
    pub server_cpu: f64,
    pub loadgen_cpu: f64,
    pub sqes: Option<u64>,
}

/// One round against `server`, on the load generator's one worker.
async fn round(
    server: &Server,
    loadgen: i32,
    conns: usize,
    size: usize,
    mode: Mode,
    duration: Duration,
    pattern: Rc<[u8]>,
) -> Result<Round, String> {
    let what = format!("{} server, {} {conns} conns x {size} B", server.name, mode.name());
    if server.live() != 0 {
        return Err(format!("{what}: server still holds connections from before the round"));
    }
    let progress = (0..conns).map(|_| Progress::default()).collect();
    let plan = Rc::new(Plan { addr: server.addr, size, mode, duration, pattern, progress });
    let (go, waiting) = watch::channel(None);
    // Open the connections in waves, each connected and echoed once.
    for wave in (0..conns).step_by(OPEN_WAVE) {
        let end = (wave + OPEN_WAVE).min(conns);
        for c in wave..end {
            drop(corering::spawn(connection(plan.clone(), c, waiting.clone())));
        }
        let opening = Instant::now();
        while let Some(c) = (wave..end).find(|&c| !plan.progress[c].ready.get()) {
            if let Some((c, e)) = plan.first_error() {
                return Err(format!("{what}: conn {c}: {e}"));
            }
            if opening.elapsed() >= STALL {
                return Err(format!(
                    "{what}: conn {c} not connected and echoed once within {STALL:?} \
                     (server holds {} connections)",
                    server.live()
                ));
            }
            corering::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let held = server.live();
    if held != conns {
        return Err(format!("{what}: server holds {held} connections, expected {conns}"));
    }

    let m0 = server.metrics().await;
    let (s0, l0) = (server.cpu(), thread_cpu(loadgen));
    let start = Instant::now();
    go.send_replace(Some(start));
    let (mut last_total, mut last_change) = (0, Instant::now());
    loop {
        corering::time::sleep(Duration::from_millis(20)).await;
        if let Some((c, e)) = plan.first_error() {
            return Err(format!("{what}: conn {c}: {e}"));
        }
        if plan.progress.iter().all(|p| p.finished.get().is_some()) {
            break;
        }
        let now = plan.total();
        if now != last_total {
            (last_total, last_change) = (now, Instant::now());
        } else if last_change.elapsed() >= STALL {
            let unfinished = plan.progress.iter().filter(|p| p.finished.get().is_none()).count();
            let stuck: Vec<(usize, u64)> = (plan.progress.iter().enumerate())
                .filter(|(_, p)| p.finished.get().is_none())
                .map(|(c, p)| (c, p.bytes.get()))
                .take(5)
                .collect();
            return Err(format!(
                "{what}: STALL: no byte echoed for {STALL:?}, {:.2} s into the round; {now} \
                 bytes echoed; {unfinished} connections unfinished (e.g. {stuck:?}: bytes \
                 echoed); server holds {} connections; server metrics: {:?}",
                start.elapsed().as_secs_f64(),
                server.live(),
                server.metrics().await,
            ));
        }
    }
    let end = plan.progress.iter().filter_map(|p| p.finished.get()).max().unwrap_or(start);
    let wall = end.duration_since(start).as_secs_f64();
    let (s1, l1) = (server.cpu(), thread_cpu(loadgen));
    let m1 = server.metrics().await;

    let closing = Instant::now();
    while server.live() != 0 {
        if closing.elapsed() >= STALL {
            return Err(format!(
                "{what}: server still holds {} of {conns} connections {STALL:?} after the \
                 load generator closed them",
                server.live(),
            ));
        }
        corering::time::sleep(Duration::from_millis(2)).await;
    }
    let errors = server.errors.load(std::sync::atomic::Ordering::SeqCst);
    if errors != 0 {
        return Err(format!("{what}: the server reported {errors} errors (see above)"));
    }
    let sum = |m: &Option<Vec<corering::Metrics>>| {
        m.as_ref().map(|m| m.iter().map(|m| m.sqes_submitted).sum::<u64>())
    };
    Ok(Round {
        msgs: plan.total() as f64 / size as f64,
        wall,
        server_cpu: s1 - s0,
        loadgen_cpu: l1 - l0,
        sqes: sum(&m0).zip(sum(&m1)).map(|(a, b)| b - a),
    })
}

/// TCP counters of `/proc/net/netstat` that tell of the kernel's memory
/// pressure (machine-wide: other processes' connections count too).
const TCP_COUNTERS: [&str; 4] =
    ["TCPMemoryPressures", "TCPRcvQDrop", "TCPTimeouts", "TCPLossProbes"];

fn tcp_counters() -> Vec<u64> {
    let text = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = vec![0; TCP_COUNTERS.len()];
    for pair in lines.chunks(2) {
        let [names, values] = pair else { continue };
        for (name, value) in names.split_whitespace().zip(values.split_whitespace()) {
            if let Some(i) = TCP_COUNTERS.iter().position(|c| *c == name) {
                out[i] = value.parse().unwrap_or(0);
            }
        }
    }
    out
}

// ---- the table ----

#[derive(Default)]
struct Summary {
    rates: Vec<f64>,
    us: Vec<f64>,
    server_util: Vec<f64>,
    loadgen_util: Vec<f64>,
    sqes: Vec<f64>,
}

impl Summary {
    fn add(&mut self, r: &Round) {
        let msgs = r.msgs.max(1e-9);
        self.rates.push(r.msgs / r.wall);
        self.us.push(r.server_cpu * 1e6 / msgs);
        self.server_util.push(r.server_cpu / r.wall * 100.0);
        self.loadgen_util.push(r.loadgen_cpu / r.wall * 100.0);
        if let Some(s) = r.sqes {
            self.sqes.push(s as f64 / msgs);
        }
    }
}

fn median(v: &[f64]) -> f64 {
    crate::common::median(&mut v.to_vec())
}

/// One cell's medians, per server (in `NAMES` order).
struct Row {
    mode: Mode,
    conns: usize,
    size: usize,
    rate: Vec<f64>,
    us: Vec<f64>,
    srv: Vec<f64>,
    lg: Vec<f64>,
    sqes: Vec<f64>,
}

const NAMES: [&str; 4] = ["corering", "cr-owned", "tokio", "raw"];
const TK: usize = 2;
const RAW: usize = 3;

fn size_name(size: usize) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{}M", s >> 20),
        s if s >= 1 << 10 && s % (1 << 10) == 0 => format!("{}K", s >> 10),
        s => s.to_string(),
    }
}

fn print_table(rounds: usize, secs: f64, cells: &[Row]) {
    let f = |v: &[f64], w: usize, p: usize| {
        v.iter().map(|x| format!("{x:>w$.p$}")).collect::<Vec<_>>().join(" ")
    };
    println!();
    println!(
        "medians of {rounds} round(s) of {secs:.1} s; rs = corering recv_stream, own = corering \
         owned Vec, tk = tokio current_thread, raw = corering::uring loop; us/m = server CPU \
         us per message; x/tk = msgs/s over tokio's; cpu/raw, cpu/tk = us/m over raw's, \
         tokio's; srv%, lg% = server's and load generator's CPU use (medians), lg% marked '*' \
         where the load generator used >= {BOUND:.0}% of its thread: there it, not the \
         server, set the pace; gen = '*' if any server's was"
    );
    println!(
        "{:<9} {:>5} {:>5} | {:>9} {:>9} {:>9} {:>9} | {:>5} {:>5} {:>5} | {:>7} {:>7} {:>7} \
         {:>7} | {:>6} {:>6} | {:>5} {:>5} | {:>16} | {:>20} | gen",
        "mode",
        "conns",
        "size",
        "rs/s",
        "own/s",
        "tk/s",
        "raw/s",
        "rs/tk",
        "ow/tk",
        "rw/tk",
        "rs us/m",
        "ow us/m",
        "tk us/m",
        "rw us/m",
        "rs/raw",
        "ow/raw",
        "rs/tk",
        "ow/tk",
        "srv% rs/ow/tk/rw",
        "lg% rs/ow/tk/rw"
    );
    for c in cells {
        let x = |i: usize| c.rate[i] / c.rate[TK];
        let cr = |i: usize, j: usize| c.us[i] / c.us[j];
        let pct = |v: &[f64], mark: bool| {
            let star = |x: f64| if mark && x >= BOUND { "*" } else { "" };
            v.iter().map(|&x| format!("{x:.0}{}", star(x))).collect::<Vec<_>>().join("/")
        };
        let bound = c.lg.iter().any(|&l| l >= BOUND);
        println!(
            "{:<9} {:>5} {:>5} | {} | {:>5.2} {:>5.2} {:>5.2} | {} | {:>6.2} {:>6.2} | {:>5.2} \
             {:>5.2} | {:>16} | {:>20} | {}",
            c.mode.name(),
            c.conns,
            size_name(c.size),
            f(&c.rate, 9, 0),
            x(0),
            x(1),
            x(RAW),
            f(&c.us, 7, 2),
            cr(0, RAW),
            cr(1, RAW),
            cr(0, TK),
            cr(1, TK),
            pct(&c.srv, false),
            pct(&c.lg, true),
            if bound { "*" } else { "" },
        );
    }
}

fn write_csv(path: &str, rounds: usize, secs: f64, cells: &[Row]) -> std::io::Result<()> {
    use std::fmt::Write;
    let mut out = String::from(
        "mode,conns,size,server,msgs_per_s,ratio_to_tokio,cpu_us_per_msg,cpu_ratio_to_raw,\
         cpu_ratio_to_tokio,server_cpu_pct,loadgen_cpu_pct,generator_bound,sqes_per_msg,\
         rounds,secs\n",
    );
    for c in cells {
        for (i, name) in NAMES.iter().enumerate() {
            let sqes = c.sqes.get(i).filter(|s| s.is_finite()).map(|s| format!("{s:.3}"));
            let _ = writeln!(
                out,
                "{},{},{},{name},{:.0},{:.3},{:.3},{:.3},{:.3},{:.1},{:.1},{},{},{rounds},{secs}",
                c.mode.name(),
                c.conns,
                c.size,
                c.rate[i],
                c.rate[i] / c.rate[TK],
                c.us[i],
                c.us[i] / c.us[RAW],
                c.us[i] / c.us[TK],
                c.srv[i],
                c.lg[i],
                c.lg[i] >= BOUND,
                sqes.unwrap_or_default(),
            );
        }
    }
    std::fs::write(path, out)
}

/// Run the matrix; the load generator is a corering worker on CPU 1.
pub fn run(opts: Options) -> ExitCode {
    let max_conns = opts.conns.iter().copied().max().unwrap_or(0) as u64;
    if let Err(e) = raise_nofile(2 * max_conns + 512) {
        eprintln!("echo bench: {e}");
        return ExitCode::FAILURE;
    }
    let servers = [
        start_corering_server(1, true, Style::RecvStream),
        start_corering_server(1, true, Style::Owned),
        start_tokio_server(),
        start_raw_server(),
    ];
    debug_assert!(servers.iter().zip(NAMES).all(|(s, n)| s.name == n));
    let rt = match corering::Runtime::builder().cpu(1).build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("echo bench: cannot start the load generator: {e}");
            return ExitCode::FAILURE;
        }
    };
    let loadgen = crate::servers::gettid(); // worker 0 is this thread
    let secs = opts.duration.as_secs_f64();
    let n = opts.modes.len() * opts.sizes.len() * opts.conns.len();
    println!(
        "echo matrix over 127.0.0.1: {} servers on CPU 0 ({}), load generator on CPU 1; {n} \
         cell(s), {} round(s) of {secs:.1} s per server per cell, alternating; pipelined \
         depth {DEPTH}",
        servers.len(),
        NAMES.join(", "),
        opts.rounds,
    );
    let (t0, tcp0) = (Instant::now(), tcp_counters());
    let mut cells = Vec::new();
    // A failed round ends the run; the cells finished before it are still
    // printed (and written), so a long run is not lost to its last cell.
    let mut failed = false;
    'cells: for &mode in &opts.modes {
        for &size in &opts.sizes {
            let pattern = pattern(size);
            for &conns in &opts.conns {
                let mut sums: Vec<Summary> = servers.iter().map(|_| Summary::default()).collect();
                for r in 0..opts.rounds {
                    for k in 0..servers.len() {
                        let i = (r + k) % servers.len();
                        let server = &servers[i];
                        let p = pattern.clone();
                        let res = rt.block_on(round(
                            server,
                            loadgen,
                            conns,
                            size,
                            mode,
                            opts.duration,
                            p,
                        ));
                        match res {
                            Ok(res) => {
                                println!(
                                    "  {:<9} {conns:>4} x {:>5} round {r} {:<8} {:>9.0} msgs/s \
                                     server {:>5.1}% CPU {:>6.2} us/msg  loadgen {:>5.1}% CPU  wall {:.2} s",
                                    mode.name(),
                                    size_name(size),
                                    server.name,
                                    res.msgs / res.wall,
                                    res.server_cpu / res.wall * 100.0,
                                    res.server_cpu * 1e6 / res.msgs.max(1e-9),
                                    res.loadgen_cpu / res.wall * 100.0,
                                    res.wall,
                                );
                                sums[i].add(&res);
                            }
                            Err(e) => {
                                eprintln!("echo bench: FAILED: {e}");
                                failed = true;
                                break 'cells;
                            }
                        }
                    }
                }
                let m = |f: fn(&Summary) -> &Vec<f64>| sums.iter().map(|s| median(f(s))).collect();
                cells.push(Row {
                    mode,
                    conns,
                    size,
                    rate: m(|s| &s.rates),
                    us: m(|s| &s.us),
                    srv: m(|s| &s.server_util),
                    lg: m(|s| &s.loadgen_util),
                    sqes: m(|s| &s.sqes),
                });
            }
        }
    }
    if failed {
        println!("the cells finished before the failure:");
    }
    print_table(opts.rounds, secs, &cells);
    println!("matrix took {:.0} s", t0.elapsed().as_secs_f64());
    let tcp: Vec<String> = (TCP_COUNTERS.iter().zip(tcp_counters().iter().zip(tcp0)))
        .map(|(name, (b, a))| format!("{name} +{}", b.saturating_sub(a)))
        .collect();
    println!("kernel TCP counters over the run (machine-wide): {}", tcp.join(", "));
    if let Some(path) = &opts.csv {
        match write_csv(path, opts.rounds, secs, &cells) {
            Ok(()) => println!("wrote {path}"),
            Err(e) => {
                eprintln!("echo bench: cannot write {path}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
