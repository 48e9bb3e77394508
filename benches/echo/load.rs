//! The load generator: one round of ping-pong on every connection of a
//! cell, timed, with the server's and its own CPU time. It runs on a
//! corering runtime of one worker or more: connection `c` is a task on
//! worker `c % workers` that connects, waits for the round's start, pings
//! and closes.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use corering::buf::IoBuf;
use corering::net::TcpStream;

use tokio::sync::watch;

use crate::STALL;
use crate::servers::{Server, process_cpu, thread_cpu};

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

/// One connection's progress: written by its task, on whichever of the
/// load generator's workers it runs, and read by the round's watchdog.
#[derive(Default)]
struct Progress {
    /// Connected, and echoed once.
    ready: AtomicBool,
    msgs: AtomicU64,
    finished: OnceLock<Instant>,
    error: OnceLock<String>,
}

/// What a round's connection tasks share.
struct Plan {
    addr: SocketAddr,
    conns: usize,
    size: usize,
    duration: Duration,
    rate: Option<f64>,
    progress: Vec<Progress>,
}

impl Plan {
    fn total(&self) -> u64 {
        self.progress.iter().map(|p| p.msgs.load(Ordering::Relaxed)).sum()
    }

    fn first_error(&self) -> Option<(usize, String)> {
        self.progress.iter().enumerate().find_map(|(c, p)| p.error.get().map(|e| (c, e.clone())))
    }
}

/// Connection `c`: connect and check one echo, wait for the round's start
/// (`go`), then ping-pong until its deadline (with a rate, on its own
/// schedule, staggered across the connections, skipping the slots it
/// misses), and close.
async fn connection(plan: Arc<Plan>, c: usize, mut go: watch::Receiver<Option<Instant>>) {
    let me = &plan.progress[c];
    let stream = match open(plan.addr, c, plan.size).await {
        Ok(stream) => stream,
        Err(e) => return drop(me.error.set(e)),
    };
    me.ready.store(true, Ordering::SeqCst);
    // The sender is dropped if the round fails before it starts.
    let Ok(start) = go.wait_for(Option::is_some).await.map(|start| start.unwrap()) else { return };
    let deadline = start + plan.duration;
    let mut pace = plan.rate.map(|rate| {
        let (conns, c) = (plan.conns as u32, c as u32);
        let period = Duration::from_secs_f64(f64::from(conns) / rate);
        let mut pace = corering::time::interval_at(start + period / conns * c, period);
        pace.set_missed_tick_behavior(corering::time::MissedTickBehavior::Skip);
        pace
    });
    let (mut msg, mut back) = (message(c, plan.size), Vec::with_capacity(plan.size));
    let mut msgs = 0;
    loop {
        if let Some(pace) = pace.as_mut() {
            pace.tick().await;
        }
        let (res, m, b) = ping_pong(&stream, msg, back).await;
        (msg, back) = (m, b);
        if let Err(e) = res {
            let _ = me.error.set(e);
            break;
        }
        msgs += 1;
        me.msgs.store(msgs, Ordering::Relaxed);
        if Instant::now() >= deadline {
            break;
        }
    }
    let _ = me.finished.set(Instant::now());
    drop(stream); // closes the connection
}

pub struct Round {
    pub msgs: u64,
    pub wall: f64,
    pub server_cpu: f64,
    pub loadgen_cpu: f64,
    pub other_cpu: f64,
    pub enters: Option<u64>,
    pub sqes: Option<u64>,
    /// Connections each of the server's listeners took, if it has several.
    pub split: Vec<usize>,
}

/// One round against `server`, run from the load generator's worker 0:
/// connection `c` is a task on its worker `c % workers`. `loadgen` are the
/// load generator's threads.
pub async fn round(
    server: &Server,
    loadgen: &[i32],
    conns: usize,
    size: usize,
    duration: Duration,
    rate: Option<f64>,
) -> Result<Round, String> {
    let what = format!("{} server, {conns} conns x {size} B", server.name);
    if server.live() != 0 {
        return Err(format!("{what}: server still holds connections from before the round"));
    }

    // Open every connection and see each served once, before the clock.
    let progress = (0..conns).map(|_| Progress::default()).collect();
    let plan = Arc::new(Plan { addr: server.addr, conns, size, duration, rate, progress });
    let (go, waiting) = watch::channel(None);
    let workers = corering::worker_count();
    for c in 0..conns {
        let (plan, go) = (plan.clone(), waiting.clone());
        drop(corering::spawn_on(c % workers, move || connection(plan, c, go)));
    }
    let opening = Instant::now();
    while let Some(c) = plan.progress.iter().position(|p| !p.ready.load(Ordering::SeqCst)) {
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
        corering::time::sleep(Duration::from_millis(2)).await;
    }
    let held = server.live();
    if held != conns {
        return Err(format!("{what}: server holds {held} connections, expected {conns}"));
    }
    let split = server.split();

    let loadgen_cpu = || loadgen.iter().map(|&t| thread_cpu(t)).sum::<f64>();
    let m0 = server.metrics().await;
    let (s0, l0, p0) = (server.cpu(), loadgen_cpu(), process_cpu());
    let start = Instant::now();
    go.send_replace(Some(start));

    // Watch the round: done when every connection finished; a stall when
    // no message completes for STALL.
    let progress = &plan.progress;
    let (mut last_total, mut last_change) = (0, Instant::now());
    loop {
        corering::time::sleep(Duration::from_millis(20)).await;
        if let Some((c, e)) = plan.first_error() {
            return Err(format!("{what}: conn {c}: {e}"));
        }
        if progress.iter().all(|p| p.finished.get().is_some()) {
            break;
        }
        let now = plan.total();
        if now != last_total {
            (last_total, last_change) = (now, Instant::now());
        } else if last_change.elapsed() >= STALL {
            let stuck: Vec<String> = progress
                .iter()
                .enumerate()
                .filter(|(_, p)| p.finished.get().is_none())
                .map(|(c, p)| format!("{c} (after {} msgs)", p.msgs.load(Ordering::Relaxed)))
                .take(20)
                .collect();
            let unfinished = progress.iter().filter(|p| p.finished.get().is_none()).count();
            return Err(format!(
                "{what}: STALL: no message completed for {STALL:?}, {:.2} s into the round; \
                 {now} msgs done; {unfinished} connections waiting for their echo, e.g. {}; \
                 server holds {} connections; server metrics: {:?}",
                start.elapsed().as_secs_f64(),
                stuck.join(", "),
                server.live(),
                server.metrics().await,
            ));
        }
    }
    let end = progress.iter().filter_map(|p| p.finished.get()).max().copied().unwrap_or(start);
    let wall = end.duration_since(start).as_secs_f64();
    let (s1, l1, p1) = (server.cpu(), loadgen_cpu(), process_cpu());
    let m1 = server.metrics().await;

    // Every connection is closed (its task ended); wait for the server.
    let closing = Instant::now();
    while server.live() != 0 {
        if closing.elapsed() >= STALL {
            return Err(format!(
                "{what}: server still holds {} of {conns} connections {STALL:?} after the \
                 load generator closed them; server metrics: {:?}",
                server.live(),
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
    // corering's counters, summed over its workers.
    type Field = fn(&corering::Metrics) -> u64;
    let sum =
        |m: &Option<Vec<corering::Metrics>>, f: Field| m.as_ref().map(|m| m.iter().map(f).sum());
    let delta = |f: Field| sum(&m0, f).zip(sum(&m1, f)).map(|(a, b): (u64, u64)| b - a);
    Ok(Round {
        msgs: plan.total(),
        wall,
        server_cpu,
        loadgen_cpu,
        other_cpu: (p1 - p0 - server_cpu - loadgen_cpu).max(0.0),
        enters: delta(|m| m.enters),
        sqes: delta(|m| m.sqes_submitted),
        split,
    })
}
