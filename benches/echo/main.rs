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

mod load;
mod servers;

use std::process::ExitCode;
use std::time::Duration;

use load::{Round, round};
use servers::{gettid, start_corering_server, start_tokio_server};

/// (connections, message size) of each cell.
const CELLS: [(usize, usize); 4] = [(16, 64), (16, 4096), (256, 64), (256, 4096)];

/// How long a connect, a warm-up ping-pong or the close of a round's
/// connections may take, and how long the load may go without a single
/// message completing, before the bench calls it a stall.
const STALL: Duration = Duration::from_secs(5);

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
