//! TCP echo over loopback: corering's echo server against tokio's, driven
//! by the same load generator.
//!
//! Run: `cargo bench --bench echo` (about a minute and a half), or
//! `cargo bench --bench echo -- --quick` (one short round per server, a
//! smoke test). `--workers 2` compares servers of two workers instead
//! (about two minutes and a half; see below). To profile or study one
//! case: `--server NAME` (run one server only), `--cell 16x64`
//! (connections x message size), `--rounds N`, `--secs S` (per round),
//! and `--rate R` (R messages per second in all, each connection sending
//! on its own schedule instead of as fast as it can: the servers' CPU per
//! message below saturation). `--serve NAME` runs one server alone and
//! prints `listening on ADDR`, for outside tools and loads
//! (`examples/echo_client`).
//!
//! The default run, one process, three threads:
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
//! `--matrix` runs the matrix of issue 10 instead (see `matrix.rs` and
//! docs/benchmarks.md): message sizes 64 B to 1 MiB x 1 to 4096
//! connections x ping-pong and pipelined (depth 8), four single-thread
//! servers on CPU 0 (corering `recv_stream`, corering owned `Vec`, tokio,
//! and a raw loop on `corering::uring` alone, `raw.rs`), 3 rounds of 0.5 s
//! per server and cell. `--sizes`, `--conns`, `--modes` pick a slice,
//! `--csv PATH` writes every cell; `--matrix --quick` is one 16 x 1 KiB
//! cell per mode, one short round each.
//!
//! With `--workers 2`, three servers of two threads each, every server
//! thread pinned, thread i to the i-th allowed CPU (when there are two):
//!
//! - `corering`: a runtime of 2 workers; worker 0 binds a `SO_REUSEPORT`
//!   listener on 127.0.0.1:0, then worker 1 binds its own on the address
//!   that got (the layout planned for `examples/echo.rs --workers N`);
//!   each serves the connections its listener accepts, as above;
//! - `tokio-mt`: tokio's `multi_thread` runtime with 2 workers, one
//!   listener whose accept loop is a task; tokio places the connections;
//! - `tokio-ct`: two tokio `current_thread` runtimes on two threads, each
//!   with its own `SO_REUSEPORT` listener on one address;
//!
//! and the load generator is a corering runtime of 2 workers, unpinned
//! (connection c on its worker c % 2): it shares the two cores with the
//! server, so the rates count both sides' CPU per message. The kernel
//! spreads connections over `SO_REUSEPORT` listeners by a hash of their
//! addresses: each round prints how many each listener took.
//!
//! Every server binds 127.0.0.1 and sets `TCP_NODELAY`, as does the load
//! generator. For each cell (connections x message size) the servers take
//! turns, round by round (round r starts with server r mod the number of
//! servers: corering first in even rounds of the default run, tokio first
//! in odd ones). Each round opens its connections, does one checked
//! ping-pong on each (so all are accepted and served) and only then starts
//! the clock; after it, it closes them and waits until the server has seen
//! every one close.
//!
//! Columns: msgs/s (median of the rounds), the ratio of corering's to each
//! other server's, the server threads' CPU time per message (utime+stime
//! from `/proc/self/task/<tid>/stat`, summed over the server's threads,
//! over the round), corering's `io_uring_enter` calls and operations
//! submitted per message (its workers' metrics, each fetched on its own
//! thread before and after each round; one send per message is the floor,
//! more means messages split across receive buffers, partial sends or
//! receives re-armed), the server's and the load generator's CPU use (CPU
//! time / wall time, summed over their threads, so up to 200% with two: a
//! load generator near 100% per thread means it, as much as the server,
//! sets the pace), and CPU time of every other thread of the process per
//! message (io_uring worker threads, if the kernel punted work to any,
//! would show up there).

#[path = "../common/mod.rs"]
mod common;
mod load;
mod matrix;
mod raw;
mod servers;

use std::process::ExitCode;
use std::time::Duration;

use common::allowed_cpus;
use load::{Round, round};
use matrix::{CONNS, SIZES};
use servers::{
    Server, Style, gettid, start_corering_server, start_tokio_ct_servers, start_tokio_mt_server,
    start_tokio_server,
};

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
    common::median(&mut v.to_vec())
}

/// Each server's short name in the table's headers.
fn abbrev(name: &str) -> &str {
    match name {
        "corering" => "cr",
        "tokio" => "tk",
        other => other.trim_start_matches("tokio-"),
    }
}

/// `values` formatted with `f`, joined with '/'.
fn joined(values: impl Iterator<Item = f64>, f: impl Fn(f64) -> String) -> String {
    values.map(f).collect::<Vec<_>>().join("/")
}

fn print_table(rounds: usize, names: &[&str], table: &[(usize, usize, Vec<Summary>)]) {
    let ab: Vec<&str> = names.iter().map(|n| abbrev(n)).collect();
    let ratios: Vec<String> = match ab.len() {
        2 => vec!["ratio".into()],
        _ => ab[1..].iter().map(|a| format!("cr/{a}")).collect(),
    };
    let all = ab.join("/");
    println!();
    println!("medians of {rounds} round(s); CPU us/msg = server threads' utime+stime per message");
    println!(
        "{:>5} {:>5} | {} {} | {} | {:>9} {:>9} | {:>13} | {:>13} | {:>11}",
        "conns",
        "size",
        names.iter().map(|n| format!("{:>10}", format!("{n}/s"))).collect::<Vec<_>>().join(" "),
        ratios.iter().map(|r| format!("{r:>6}")).collect::<Vec<_>>().join(" "),
        ab.iter().map(|a| format!("{:>8}", format!("{a} us/m"))).collect::<Vec<_>>().join(" "),
        "cr ent/m",
        "cr sqe/m",
        format!("srv CPU {all}"),
        format!("lg CPU {all}"),
        "other us/m"
    );
    for (conns, size, s) in table {
        let rates: Vec<f64> = s.iter().map(|s| median(&s.rates)).collect();
        let us = |s: &Summary| median(&s.server_us);
        println!(
            "{conns:>5} {size:>5} | {} {} | {} | {:>9.3} {:>9.3} | {:>13} | {:>13} | {:>11}",
            rates.iter().map(|r| format!("{r:>10.0}")).collect::<Vec<_>>().join(" "),
            rates[1..]
                .iter()
                .map(|r| format!("{:>6.2}", rates[0] / r))
                .collect::<Vec<_>>()
                .join(" "),
            s.iter().map(|s| format!("{:>8.2}", us(s))).collect::<Vec<_>>().join(" "),
            median(&s[0].enters),
            median(&s[0].sqes),
            joined(s.iter().map(|s| median(&s.server_util)), |v| format!("{v:.0}%")),
            joined(s.iter().map(|s| median(&s.loadgen_util)), |v| format!("{v:.0}%")),
            joined(s.iter().map(|s| median(&s.other_us)), |v| format!("{v:.2}")),
        );
    }
}

fn main() -> ExitCode {
    let usage = "usage: echo [--quick] [--rounds N] [--secs S] [--cell CONNSxSIZE] \
                 [--workers 1|2] [--server NAME] [--rate MSGS_PER_SEC] [--serve NAME]\n\
                 NAME: corering|tokio, or with --workers 2 corering|tokio-mt|tokio-ct\n\
                 matrix: echo --matrix [--quick] [--sizes 64,1024,..] [--conns 1,16,..] \
                 [--modes pingpong,pipelined] [--rounds N] [--secs S] [--csv PATH]";
    let (mut quick, mut rounds, mut duration, mut workers) = (false, None, None, 1);
    let (mut cells, mut only, mut rate, mut serve) = (CELLS.to_vec(), None, None, None);
    let (mut matrix, mut sizes, mut conns, mut modes, mut csv) = (false, None, None, None, None);
    let list = |v: String| -> Option<Vec<usize>> {
        let v: Option<Vec<usize>> = v.split(',').map(|s| s.trim().parse().ok()).collect();
        v.filter(|v| !v.is_empty() && v.iter().all(|&n| n > 0))
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        match arg.as_str() {
            "--quick" => quick = true,
            "--rounds" => match value().parse() {
                Ok(n) if n > 0 => rounds = Some(n),
                _ => return bad_args(usage),
            },
            "--secs" => match value().parse::<f64>() {
                Ok(s) if s > 0.0 && s < 3600.0 => duration = Some(Duration::from_secs_f64(s)),
                _ => return bad_args(usage),
            },
            "--matrix" => matrix = true,
            "--sizes" => match list(value()) {
                Some(v) => sizes = Some(v),
                None => return bad_args(usage),
            },
            "--conns" => match list(value()) {
                Some(v) => conns = Some(v),
                None => return bad_args(usage),
            },
            "--modes" => {
                let v: Option<Vec<matrix::Mode>> =
                    value().split(',').map(matrix::Mode::parse).collect();
                match v {
                    Some(v) if !v.is_empty() => modes = Some(v),
                    _ => return bad_args(usage),
                }
            }
            "--csv" => csv = Some(value()),
            "--cell" => match value().split_once('x').map(|(c, s)| (c.parse(), s.parse())) {
                Some((Ok(c), Ok(s))) if c > 0 && s > 0 => cells = vec![(c, s)],
                _ => return bad_args(usage),
            },
            "--workers" => match value().parse() {
                Ok(n @ (1 | 2)) => workers = n,
                _ => return bad_args(usage),
            },
            "--server" => only = Some(value()),
            "--rate" => match value().parse::<f64>() {
                Ok(r) if r >= 1.0 => rate = Some(r),
                _ => return bad_args(usage),
            },
            "--serve" => serve = Some(value()),
            "--bench" => {} // what `cargo bench` passes
            other => eprintln!("echo bench: ignoring argument {other:?}"),
        }
    }
    if matrix {
        if workers != 1 || only.is_some() || serve.is_some() || rate.is_some() {
            eprintln!("echo bench: --matrix takes no --workers, --server, --serve or --rate");
            return bad_args(usage);
        }
        // `--quick`: one small cell per mode with every server, seconds long.
        let (qs, qc) =
            if quick { (vec![1024], vec![16]) } else { (SIZES.to_vec(), CONNS.to_vec()) };
        return matrix::run(matrix::Options {
            sizes: sizes.unwrap_or(qs),
            conns: conns.unwrap_or(qc),
            modes: modes.unwrap_or(vec![matrix::Mode::PingPong, matrix::Mode::Pipelined]),
            rounds: rounds.unwrap_or(if quick { 1 } else { 3 }),
            duration: duration.unwrap_or(Duration::from_millis(if quick { 300 } else { 500 })),
            csv,
        });
    }
    if sizes.is_some() || conns.is_some() || modes.is_some() || csv.is_some() {
        eprintln!("echo bench: --sizes, --conns, --modes and --csv go with --matrix");
        return bad_args(usage);
    }
    let rounds = rounds.unwrap_or(if quick { 1 } else { 5 });
    let duration = duration.unwrap_or(Duration::from_millis(if quick { 300 } else { 1500 }));
    let names: &[&str] =
        if workers == 1 { &["corering", "tokio"] } else { &["corering", "tokio-mt", "tokio-ct"] };
    if only.iter().chain(&serve).any(|n| !names.contains(&n.as_str())) {
        return bad_args(usage);
    }
    let cpus = allowed_cpus();
    let pin = (cpus.len() >= 2).then(|| [cpus[0], cpus[1]]);
    let start = |name: &str| match name {
        "corering" => start_corering_server(workers, pin.is_some(), Style::RecvStream),
        "tokio" => start_tokio_server(),
        "tokio-mt" => start_tokio_mt_server(pin),
        _ => start_tokio_ct_servers(pin),
    };

    if let Some(name) = serve {
        // One server alone, for outside tools (strace, valgrind) and an
        // outside load such as examples/echo_client.
        println!("listening on {}", start(&name).addr);
        loop {
            std::thread::park();
        }
    }
    let servers: Vec<Server> = names.iter().map(|name| start(name)).collect();
    let mut builder = corering::Runtime::builder();
    if workers == 1 {
        builder.cpu(1)
    } else {
        builder.workers(workers)
    };
    let rt = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("echo bench: cannot start the load generator: {e}");
            return ExitCode::FAILURE;
        }
    };
    let loadgen: Vec<i32> = rt.block_on(async {
        let mut tids = Vec::new();
        for h in corering::spawn_on_all(|| async { gettid() }) {
            tids.push(h.await.expect("a load generator worker"));
        }
        tids
    });
    let how = duration.as_secs_f64();
    match (workers, pin) {
        (1, _) => println!(
            "echo over 127.0.0.1: servers on CPU 0, load generator on CPU 1; {rounds} round(s) \
             of {how:.1} s per server per cell, alternating"
        ),
        (_, pin) => println!(
            "echo over 127.0.0.1, 2 workers: corering (a SO_REUSEPORT listener per worker), \
             tokio-mt (multi_thread, one listener), tokio-ct (2 current_thread runtimes, a \
             SO_REUSEPORT listener each); server threads {}; load generator: corering, 2 \
             workers, unpinned, sharing the servers' cores; {rounds} round(s) of {how:.1} s \
             per server per cell, in turn",
            match pin {
                Some([a, b]) => format!("pinned to CPUs {a} and {b}"),
                None => "not pinned (fewer than 2 allowed CPUs)".into(),
            }
        ),
    }

    let mut table = Vec::new();
    for &(conns, size) in &cells {
        let mut summaries: Vec<Summary> = servers.iter().map(|_| Summary::default()).collect();
        for r in 0..rounds {
            for k in 0..servers.len() {
                let i = (r + k) % servers.len();
                let server = &servers[i];
                if only.as_ref().is_some_and(|name| name != server.name) {
                    continue;
                }
                match rt.block_on(round(server, &loadgen, conns, size, duration, rate)) {
                    Ok(res) => {
                        let split = match res.split.as_slice() {
                            [] => String::new(),
                            s => format!("  conns/listener {s:?}"),
                        };
                        println!(
                            "  {conns:>3} conns {size:>4} B round {r} {:<8} {:>9.0} msgs/s  \
                             server {:>5.1}% CPU  loadgen {:>5.1}% CPU{split}",
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
    print_table(rounds, names, &table);
    ExitCode::SUCCESS
}
