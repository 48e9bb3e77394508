//! The load generator: one round of ping-pong on every connection of a
//! cell, timed, with the servers' and its own CPU time.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use corering::buf::IoBuf;
use corering::net::TcpStream;

use crate::STALL;
use crate::servers::{Server, process_cpu, thread_cpu};

// ---- the load generator ----

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

/// Per-connection progress, shared between a connection task and the
/// round's watchdog (all on the load generator's one thread).
#[derive(Default)]
struct Progress {
    msgs: std::cell::Cell<u64>,
    finished: std::cell::Cell<Option<Instant>>,
    error: std::cell::RefCell<Option<String>>,
}

pub struct Round {
    pub msgs: u64,
    pub wall: f64,
    pub server_cpu: f64,
    pub loadgen_cpu: f64,
    pub other_cpu: f64,
    pub enters: Option<u64>,
    pub sqes: Option<u64>,
}

pub async fn round(
    server: &Server,
    loadgen_tid: i32,
    conns: usize,
    size: usize,
    duration: Duration,
    rate: Option<f64>,
) -> Result<Round, String> {
    let what = format!("{} server, {conns} conns x {size} B", server.name);
    if server.live.load(Ordering::SeqCst) != 0 {
        return Err(format!("{what}: server still holds connections from before the round"));
    }

    // Open every connection and see each served once, before the clock.
    let tasks: Vec<_> = (0..conns).map(|c| corering::spawn(open(server.addr, c, size))).collect();
    let mut streams = Vec::with_capacity(conns);
    for (c, task) in tasks.into_iter().enumerate() {
        match corering::time::timeout(STALL, task).await {
            Ok(Ok(Ok(stream))) => streams.push(stream),
            Ok(Ok(Err(e))) => return Err(format!("{what}: conn {c}: {e}")),
            Ok(Err(e)) => return Err(format!("{what}: conn {c}: task failed: {e}")),
            Err(_) => {
                return Err(format!(
                    "{what}: conn {c} not connected and echoed once within {STALL:?} \
                     (server holds {} connections)",
                    server.live.load(Ordering::SeqCst)
                ));
            }
        }
    }
    let held = server.live.load(Ordering::SeqCst);
    if held != conns {
        return Err(format!("{what}: server holds {held} connections, expected {conns}"));
    }

    let m0 = server.metrics().await;
    let (s0, l0, p0) = (thread_cpu(server.tid), thread_cpu(loadgen_tid), process_cpu());
    let start = Instant::now();
    let deadline = start + duration;
    let progress: Rc<Vec<Progress>> = Rc::new((0..conns).map(|_| Progress::default()).collect());
    for (c, stream) in streams.into_iter().enumerate() {
        let progress = progress.clone();
        // With a rate, each connection sends on its own schedule (staggered
        // across the connections), skipping the slots it misses.
        let mut pace = rate.map(|rate| {
            let period = Duration::from_secs_f64(conns as f64 / rate);
            let mut pace =
                corering::time::interval_at(start + period / conns as u32 * c as u32, period);
            pace.set_missed_tick_behavior(corering::time::MissedTickBehavior::Skip);
            pace
        });
        drop(corering::spawn(async move {
            let me = &progress[c];
            let (mut msg, mut back) = (message(c, size), Vec::with_capacity(size));
            loop {
                if let Some(pace) = pace.as_mut() {
                    pace.tick().await;
                }
                let (res, m, b) = ping_pong(&stream, msg, back).await;
                (msg, back) = (m, b);
                if let Err(e) = res {
                    *me.error.borrow_mut() = Some(e);
                    break;
                }
                me.msgs.set(me.msgs.get() + 1);
                if Instant::now() >= deadline {
                    break;
                }
            }
            me.finished.set(Some(Instant::now()));
            drop(stream); // closes the connection
        }));
    }

    // Watch the round: done when every connection finished; a stall when
    // no message completes for STALL.
    let total = |p: &[Progress]| p.iter().map(|p| p.msgs.get()).sum::<u64>();
    let (mut last_total, mut last_change) = (0, Instant::now());
    loop {
        corering::time::sleep(Duration::from_millis(20)).await;
        if let Some((c, e)) =
            progress.iter().enumerate().find_map(|(c, p)| p.error.borrow().clone().map(|e| (c, e)))
        {
            return Err(format!("{what}: conn {c}: {e}"));
        }
        if progress.iter().all(|p| p.finished.get().is_some()) {
            break;
        }
        let now = total(&progress);
        if now != last_total {
            (last_total, last_change) = (now, Instant::now());
        } else if last_change.elapsed() >= STALL {
            let stuck: Vec<String> = progress
                .iter()
                .enumerate()
                .filter(|(_, p)| p.finished.get().is_none())
                .map(|(c, p)| format!("{c} (after {} msgs)", p.msgs.get()))
                .take(20)
                .collect();
            let unfinished = progress.iter().filter(|p| p.finished.get().is_none()).count();
            return Err(format!(
                "{what}: STALL: no message completed for {STALL:?}, {:.2} s into the round; \
                 {now} msgs done; {unfinished} connections waiting for their echo, e.g. {}; \
                 server holds {} connections; server metrics: {:?}",
                start.elapsed().as_secs_f64(),
                stuck.join(", "),
                server.live.load(Ordering::SeqCst),
                server.metrics().await,
            ));
        }
    }
    let end = progress.iter().filter_map(|p| p.finished.get()).max().unwrap_or(start);
    let wall = end.duration_since(start).as_secs_f64();
    let (s1, l1, p1) = (thread_cpu(server.tid), thread_cpu(loadgen_tid), process_cpu());
    let m1 = server.metrics().await;

    // Every connection is closed (its task ended); wait for the server.
    let closing = Instant::now();
    while server.live.load(Ordering::SeqCst) != 0 {
        if closing.elapsed() >= STALL {
            return Err(format!(
                "{what}: server still holds {} of {conns} connections {STALL:?} after the \
                 load generator closed them; server metrics: {:?}",
                server.live.load(Ordering::SeqCst),
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
    Ok(Round {
        msgs: total(&progress),
        wall,
        server_cpu,
        loadgen_cpu,
        other_cpu: (p1 - p0 - server_cpu - loadgen_cpu).max(0.0),
        enters: m0.zip(m1).map(|(a, b)| b.enters - a.enters),
        sqes: m0.zip(m1).map(|(a, b)| b.sqes_submitted - a.sqes_submitted),
    })
}
