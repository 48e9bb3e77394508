//! Cross-worker costs: spawning a task on another worker, two tasks on two
//! workers exchanging messages, and a one-way stream between them. corering
//! with 2 workers against tokio's `multi_thread` runtime with 2 workers and
//! against two tokio `current_thread` runtimes on two threads, in one
//! process, taking turns sample by sample.
//!
//! Run: `cargo bench --bench xworker` (optionally `-- --samples 11`).
//! `--only KEY` runs the workloads whose key contains KEY; `--side
//! corering|tokio-mt|tokio-ct` runs one side alone (for `perf` or
//! `strace`); `--quick` runs one sample of a tenth of the work.
//!
//! Placement: with two or more allowed CPUs, corering's worker 0 and tokio
//! `current_thread` runtime 0 (both on this thread) run on the first,
//! corering's worker 1 and runtime 1 (a thread of its own) on the second,
//! tokio's two `multi_thread` workers one on each; all pinned. A workload
//! runs and times on worker 0 and puts its peer on worker 1:
//!
//! - corering: the workload is a task spawned on worker 0 (which
//!   `block_on` waits for), the peer `spawn_on(1, ..)`.
//! - tokio-ct: the workload is a task spawned on runtime 0 (which
//!   `block_on` waits for), the peer spawned with runtime 1's
//!   `Handle::spawn`.
//! - tokio-mt: workload and peer are `tokio::spawn`ed; tokio picks their
//!   workers and moves them as it likes (a wake on a worker queues the woken
//!   task there). The `mt crossed` column is the share of messages (or
//!   tasks' results) that reached the workload from another thread.
//!
//! Workloads (key: what worker 0 does):
//!
//! - `spawn-rt`: 10,000 times, spawn on worker 1 a task that returns a
//!   u64, and await it. corering `spawn_on(1, || async { x }).await`,
//!   tokio-ct `rt1.spawn(async { x }).await`. tokio-mt cannot choose a
//!   worker: it does `request-reply` instead.
//! - `request-reply`: 10,000 requests (a u64 and a `tokio::sync::oneshot`
//!   sender) over a `tokio::sync::mpsc` channel (bounded 1) to a peer task
//!   on worker 1, each answered on its oneshot before the next is sent.
//! - `spawn-many`: spawn 100,000 such tasks on worker 1 (tokio-mt:
//!   `tokio::spawn`, wherever tokio puts them), then await every handle.
//! - `pingpong-tokio`, `pingpong-async`: 10,000 round trips of a u64 with a
//!   peer on worker 1 over two bounded(1) channels (`tokio::sync::mpsc`,
//!   `async-channel`).
//! - `oneway-tokio`, `oneway-async`: the peer sends 1,000,000 u64 over one
//!   bounded(1024) channel; worker 0 receives them.
//!
//! Every message and result carries its sender's sequence number (checked)
//! and thread id (what `crossed` counts). Columns: the median ns per
//! operation (a round trip, a spawn, a message) of each side; tokio's time
//! over corering's (above 1: corering is faster), the median of the
//! per-sample ratios; and corering's `io_uring_enter` calls, parks and
//! `MSG_RING` wakes per operation, both workers together
//! (`Runtime::worker_metrics` before and after each sample).

mod common;

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use common::tid;

const ROUND_TRIPS: u64 = 10_000;
const SPAWNS: u64 = 100_000;
const ONE_WAY: u64 = 1_000_000;
const SIDES: [&str; 3] = ["corering", "tokio-mt", "tokio-ct"];

/// Which runtime runs a sample, and how it reaches worker 1.
#[derive(Clone)]
enum Side {
    Corering,
    TokioMt,
    /// Runtime 1's handle (runtime 0 runs the workload).
    TokioCt(tokio::runtime::Handle),
}

type Peer = Pin<Box<dyn Future<Output = ()> + Send>>;

impl Side {
    /// Start `f()` on worker 1; the returned future waits for it to end.
    fn peer<F, Fut>(&self, f: F) -> Peer
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        match self {
            Side::Corering => {
                let h = corering::spawn_on(1, f);
                Box::pin(async { h.await.expect("peer task") })
            }
            Side::TokioMt => {
                let h = tokio::spawn(f());
                Box::pin(async { h.await.expect("peer task") })
            }
            Side::TokioCt(rt1) => {
                let h = rt1.spawn(f());
                Box::pin(async { h.await.expect("peer task") })
            }
        }
    }
}

/// What a workload measured on worker 0.
#[derive(Clone, Copy)]
struct Sample {
    ns_per_op: f64,
    /// Share of the operations whose answer came from another thread.
    crossed: f64,
}

impl Sample {
    fn since(start: Instant, ops: u64, crossed: u64) -> Sample {
        let ns = start.elapsed().as_nanos() as f64;
        Sample { ns_per_op: ns / ops as f64, crossed: crossed as f64 / ops as f64 }
    }
}

/// A message: the sequence number `seq` and the sending thread's id.
fn stamp(seq: u64) -> u64 {
    (seq << 32) | u64::from(tid() as u32)
}

/// Check that `msg` carries `seq`; 1 if it came from another thread.
fn crossed(msg: u64, seq: u64) -> u64 {
    assert_eq!(msg >> 32, seq & 0xffff_ffff, "a message out of order");
    u64::from(msg as u32 != tid() as u32)
}

// ---- spawning ----

/// Spawn `n` tasks with `spawn`, `batch` at a time, awaiting each batch
/// before the next (`batch` 1: a round trip per task).
async fn spawn_batches<H, E>(n: u64, batch: u64, spawn: impl Fn(u64) -> H) -> Sample
where
    H: Future<Output = Result<u64, E>>,
    E: Debug,
{
    let start = Instant::now();
    let mut handles = Vec::with_capacity(batch as usize);
    let (mut seq, mut crossed_n) = (0, 0);
    while seq < n {
        let first = seq;
        handles.extend((first..n.min(first + batch)).map(&spawn));
        seq += handles.len() as u64;
        for (i, h) in (first..).zip(handles.drain(..)) {
            crossed_n += crossed(h.await.expect("spawned task"), i);
        }
    }
    Sample::since(start, n, crossed_n)
}

/// `n` tasks spawned on worker 1 (tokio-mt: wherever tokio puts them).
async fn spawn_join(side: Side, n: u64, batch: u64) -> Sample {
    match &side {
        Side::Corering => {
            spawn_batches(n, batch, |i| corering::spawn_on(1, move || async move { stamp(i) }))
                .await
        }
        Side::TokioMt => spawn_batches(n, batch, |i| tokio::spawn(async move { stamp(i) })).await,
        Side::TokioCt(rt1) => spawn_batches(n, batch, |i| rt1.spawn(async move { stamp(i) })).await,
    }
}

/// `n` requests to a peer task, each answered on its own oneshot.
async fn request_reply(side: Side, n: u64) -> Sample {
    use tokio::sync::{mpsc, oneshot};
    let (requests, mut inbox) = mpsc::channel::<(u64, oneshot::Sender<u64>)>(1);
    let start = Instant::now();
    let peer = side.peer(move || async move {
        while let Some((seq, reply)) = inbox.recv().await {
            let _ = reply.send(stamp(seq));
        }
    });
    let mut crossed_n = 0;
    for seq in 0..n {
        let (reply, answer) = oneshot::channel();
        requests.send((seq, reply)).await.expect("peer gone");
        crossed_n += crossed(answer.await.expect("peer answers"), seq);
    }
    drop(requests);
    peer.await;
    Sample::since(start, n, crossed_n)
}

// ---- channels ----

/// A bounded channel of u64 from the ecosystem.
trait Channel: 'static {
    type Tx: Send + Sync + 'static;
    type Rx: Send + 'static;
    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx);
    /// `false` once the receiver is gone.
    fn send(tx: &Self::Tx, v: u64) -> impl Future<Output = bool> + Send + '_;
    /// `None` once every sender is gone.
    fn recv(rx: &mut Self::Rx) -> impl Future<Output = Option<u64>> + Send + '_;
}

struct TokioMpsc;

impl Channel for TokioMpsc {
    type Tx = tokio::sync::mpsc::Sender<u64>;
    type Rx = tokio::sync::mpsc::Receiver<u64>;
    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx) {
        tokio::sync::mpsc::channel(capacity)
    }
    async fn send(tx: &Self::Tx, v: u64) -> bool {
        tx.send(v).await.is_ok()
    }
    fn recv(rx: &mut Self::Rx) -> impl Future<Output = Option<u64>> + Send + '_ {
        rx.recv()
    }
}

struct AsyncChannel;

impl Channel for AsyncChannel {
    type Tx = async_channel::Sender<u64>;
    type Rx = async_channel::Receiver<u64>;
    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx) {
        async_channel::bounded(capacity)
    }
    async fn send(tx: &Self::Tx, v: u64) -> bool {
        tx.send(v).await.is_ok()
    }
    async fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().await.ok()
    }
}

/// `n` round trips with a peer that echoes each message back.
async fn ping_pong<C: Channel>(side: Side, n: u64) -> Sample {
    let ((to_peer, mut from_me), (to_me, mut from_peer)) = (C::bounded(1), C::bounded(1));
    let start = Instant::now();
    let peer = side.peer(move || async move {
        while let Some(msg) = C::recv(&mut from_me).await {
            if !C::send(&to_me, stamp(msg >> 32)).await {
                break;
            }
        }
    });
    let mut crossed_n = 0;
    for seq in 0..n {
        assert!(C::send(&to_peer, stamp(seq)).await, "peer gone");
        crossed_n += crossed(C::recv(&mut from_peer).await.expect("peer answers"), seq);
    }
    drop(to_peer);
    peer.await;
    Sample::since(start, n, crossed_n)
}

/// `n` messages from a peer, received here.
async fn one_way<C: Channel>(side: Side, n: u64) -> Sample {
    let (tx, mut rx) = C::bounded(1024);
    let start = Instant::now();
    let peer = side.peer(move || async move {
        for seq in 0..n {
            assert!(C::send(&tx, stamp(seq)).await, "receiver gone");
        }
    });
    let mut crossed_n = 0;
    for seq in 0..n {
        crossed_n += crossed(C::recv(&mut rx).await.expect("sender gone early"), seq);
    }
    let sample = Sample::since(start, n, crossed_n);
    peer.await;
    sample
}

// ---- the runs ----

type Work = Pin<Box<dyn Future<Output = Sample> + Send>>;

struct Workload {
    key: &'static str,
    what: &'static str,
    unit: &'static str,
    n: u64,
    run: fn(Side, u64) -> Work,
}

const WORKLOADS: [Workload; 7] = [
    Workload {
        key: "spawn-rt",
        what: "spawn_on(1) + await (mt: request-reply)",
        unit: "ns/rt",
        n: ROUND_TRIPS,
        run: |side, n| match side {
            Side::TokioMt => Box::pin(request_reply(side, n)),
            side => Box::pin(spawn_join(side, n, 1)),
        },
    },
    Workload {
        key: "request-reply",
        what: "mpsc request + oneshot reply",
        unit: "ns/rt",
        n: ROUND_TRIPS,
        run: |side, n| Box::pin(request_reply(side, n)),
    },
    Workload {
        key: "spawn-many",
        what: "100k spawn_on(1), then join",
        unit: "ns/task",
        n: SPAWNS,
        run: |side, n| Box::pin(spawn_join(side, n, n)),
    },
    Workload {
        key: "pingpong-tokio",
        what: "ping-pong, tokio mpsc(1) x2",
        unit: "ns/rt",
        n: ROUND_TRIPS,
        run: |side, n| Box::pin(ping_pong::<TokioMpsc>(side, n)),
    },
    Workload {
        key: "pingpong-async",
        what: "ping-pong, async-channel(1) x2",
        unit: "ns/rt",
        n: ROUND_TRIPS,
        run: |side, n| Box::pin(ping_pong::<AsyncChannel>(side, n)),
    },
    Workload {
        key: "oneway-tokio",
        what: "1M one-way, tokio mpsc(1024)",
        unit: "ns/msg",
        n: ONE_WAY,
        run: |side, n| Box::pin(one_way::<TokioMpsc>(side, n)),
    },
    Workload {
        key: "oneway-async",
        what: "1M one-way, async-channel(1024)",
        unit: "ns/msg",
        n: ONE_WAY,
        run: |side, n| Box::pin(one_way::<AsyncChannel>(side, n)),
    },
];

/// The three sides' runtimes, built once.
struct Runtimes {
    corering: corering::Runtime,
    mt: tokio::runtime::Runtime,
    ct0: tokio::runtime::Runtime,
    ct1: tokio::runtime::Handle,
    /// Stops runtime 1's thread when dropped.
    _ct1_stop: tokio::sync::oneshot::Sender<()>,
}

impl Runtimes {
    /// Pinned to `cpus[0]` and `cpus[1]` when there are two.
    fn new(cpus: &[usize]) -> Runtimes {
        let pin = cpus.len() >= 2;
        let corering = corering::Runtime::builder().workers(2).pin(pin).build().unwrap();
        let (cpu0, cpu1) = if pin { (Some(cpus[0]), Some(cpus[1])) } else { (None, None) };
        let started = std::sync::atomic::AtomicUsize::new(0);
        let mt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .on_thread_start(move || {
                let k = started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if let Some(cpu) = if k.is_multiple_of(2) { cpu0 } else { cpu1 } {
                    common::pin_to_cpu(cpu);
                }
            })
            .build()
            .unwrap();
        let ct0 = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            if let Some(cpu) = cpu1 {
                common::pin_to_cpu(cpu);
            }
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            handle_tx.send(rt.handle().clone()).unwrap();
            let _ = rt.block_on(stopped);
        });
        let ct1 = handle_rx.recv().expect("tokio runtime 1 started");
        Runtimes { corering, mt, ct0, ct1, _ct1_stop: stop }
    }

    /// Run `w` on `side`: a task on worker 0 (tokio-mt: on a worker),
    /// which `block_on` waits for.
    fn run(&self, side: &str, w: &Workload, n: u64) -> Sample {
        let work = (w.run)(self.side(side), n);
        match side {
            "corering" => self.corering.block_on(async { corering::spawn(work).await.unwrap() }),
            "tokio-mt" => self.mt.block_on(async { tokio::spawn(work).await.unwrap() }),
            _ => self.ct0.block_on(async { tokio::spawn(work).await.unwrap() }),
        }
    }

    fn side(&self, side: &str) -> Side {
        match side {
            "corering" => Side::Corering,
            "tokio-mt" => Side::TokioMt,
            _ => Side::TokioCt(self.ct1.clone()),
        }
    }

    /// corering's io_uring_enter calls, parks and MSG_RING wakes so far,
    /// both workers together.
    fn corering_counts(&self) -> [u64; 3] {
        self.corering.worker_metrics().into_iter().fold([0; 3], |acc, m| {
            let m = m.expect("worker 1 answers");
            [acc[0] + m.enters, acc[1] + m.parks, acc[2] + m.msg_wakes_sent]
        })
    }
}

fn arg(name: &str) -> Option<String> {
    let mut args = std::env::args().skip(1);
    args.by_ref().find(|a| a == name)?;
    args.next()
}

fn median(v: &[f64]) -> f64 {
    common::median(&mut v.to_vec())
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let samples = if quick { 1 } else { common::samples(7) };
    let only = arg("--only");
    let sides: Vec<&str> = match arg("--side") {
        Some(s) => {
            vec![SIDES.into_iter().find(|&x| x == s).expect("--side corering|tokio-mt|tokio-ct")]
        }
        None => SIDES.to_vec(),
    };
    let cpus = common::allowed_cpus();
    let rt = Runtimes::new(&cpus);
    match cpus.get(..2) {
        Some(two) => println!(
            "cross-worker costs; worker 0 pinned to CPU {}, worker 1 to CPU {}",
            two[0], two[1]
        ),
        None => println!("cross-worker costs; one allowed CPU: nothing pinned"),
    }
    println!(
        "median of {samples} sample(s); mt/cr and ct/cr = tokio's time / corering's (above 1: \
         corering faster)"
    );
    for w in &WORKLOADS {
        println!("  {:<15} {}", w.key, w.what);
    }
    println!(
        "{:<15} {:>7} | {:>9} {:>9} {:>9} | {:>5} {:>5} | {:>10} | {:>22}",
        "workload",
        "unit",
        "corering",
        "tokio-mt",
        "tokio-ct",
        "mt/cr",
        "ct/cr",
        "mt crossed",
        "cr enters/parks/msg_ring per op"
    );
    for w in WORKLOADS.iter().filter(|w| only.as_ref().is_none_or(|o| w.key.contains(o.as_str()))) {
        let n = if quick { w.n / 10 } else { w.n };
        for &side in &sides {
            rt.run(side, w, n / 10); // warm-up
        }
        let mut ns: [Vec<f64>; 3] = Default::default();
        let mut mt_crossed = Vec::new();
        let mut counts = Vec::new();
        for s in 0..samples {
            for k in 0..3 {
                let i = (s + k) % 3;
                if !sides.contains(&SIDES[i]) {
                    continue;
                }
                let before = (i == 0).then(|| rt.corering_counts());
                let sample = rt.run(SIDES[i], w, n);
                if let Some(before) = before {
                    let after = rt.corering_counts();
                    counts.push([0, 1, 2].map(|c| (after[c] - before[c]) as f64 / n as f64));
                }
                if i == 1 {
                    mt_crossed.push(sample.crossed * 100.0);
                }
                ns[i].push(sample.ns_per_op);
            }
        }
        let ratio = |tokio: &[f64]| {
            let r: Vec<f64> = tokio.iter().zip(&ns[0]).map(|(t, c)| t / c).collect();
            median(&r)
        };
        let count = |c: usize| median(&counts.iter().map(|x| x[c]).collect::<Vec<_>>());
        println!(
            "{:<15} {:>7} | {:>9.1} {:>9.1} {:>9.1} | {:>5.2} {:>5.2} | {:>9.0}% | {:>6.3} {:>6.3} {:>7.3}",
            w.key,
            w.unit,
            median(&ns[0]),
            median(&ns[1]),
            median(&ns[2]),
            ratio(&ns[1]),
            ratio(&ns[2]),
            median(&mt_crossed),
            count(0),
            count(1),
            count(2),
        );
    }
}
