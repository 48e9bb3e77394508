//! No pattern of peer behaviour stops a worker from serving its other
//! connections. Each run puts a server (one worker, echo on every
//! connection, the README's pattern) under 200 peers that send and never
//! read (with a small receive buffer, so the server's sends to them block
//! at once), 300 peers that connect and send nothing (more than the
//! listener's accept queue), and 100 that send one byte a second; then 200
//! well-behaved peers echo 1,000 messages each, every byte checked, while a
//! fresh connection's round trip is measured again and again.
//!
//! Before the ring was guarded, 9 peers that never read drained a
//! 256-buffer ring (their blocked sends and unread queues held its
//! buffers) and froze every connection on the worker.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream as StdStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use common::{bounded, fd_limit_below};
use corering::buf::IoBuf;
use corering::net::{TcpListener, TcpStream};
use corering::{Metrics, Runtime, spawn};
use socket2::{Domain, Socket, Type};

const FLOODERS: usize = 200;
const IDLE: usize = 300;
const SLOWLORIS: usize = 100;
const GOOD: usize = 200;
const ROUNDS: usize = 1_000;
const GOOD_THREADS: usize = 4;
/// The bound on a fresh connection's round trip while the bad peers push.
const PROBE_BOUND: Duration = Duration::from_millis(50);

#[derive(Clone, Copy, Debug)]
enum Style {
    /// `recv_stream`, each `RecvBuf` written straight back.
    Stream,
    /// One owned 64 KiB buffer per connection, read then written back.
    Owned,
}

async fn echo_stream(stream: TcpStream) {
    let mut recv = stream.recv_stream();
    while let Some(Ok(buf)) = recv.next().await {
        if stream.write_all(buf).await.0.is_err() {
            return;
        }
    }
}

async fn echo_owned(stream: TcpStream) {
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        let (res, b) = stream.read(buf).await;
        let n = match res {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let (res, slice) = stream.write_all(b.slice(..n)).await;
        if res.is_err() {
            return;
        }
        buf = slice.into_inner();
    }
}

/// Serve until `stop`; returns the worker's counters.
fn server(
    entries: Option<u16>,
    incremental: bool,
    style: Style,
    stop: Arc<AtomicBool>,
) -> (SocketAddr, thread::JoinHandle<Metrics>) {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let mut builder = Runtime::builder();
        builder.pin(false).buf_ring_incremental(incremental);
        if let Some(n) = entries {
            builder.buf_ring_entries(n);
        }
        let rt = builder.build().unwrap();
        rt.block_on(async {
            let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
            tx.send(listener.local_addr().unwrap()).unwrap();
            while !stop.load(Ordering::Relaxed) {
                let accept = corering::time::timeout(Duration::from_millis(50), listener.accept());
                let Ok(res) = accept.await else { continue };
                let (stream, _) = res.unwrap();
                drop(match style {
                    Style::Stream => spawn(echo_stream(stream)),
                    Style::Owned => spawn(echo_owned(stream)),
                });
            }
        });
        rt.metrics()
    });
    (rx.recv().unwrap(), handle)
}

fn pattern(conn: usize, round: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + conn * 7 + round * 13) as u8).collect()
}

fn connect_small_rcvbuf(addr: SocketAddr) -> StdStream {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.set_recv_buffer_size(4096).unwrap();
    s.connect(&addr.into()).unwrap();
    s.into()
}

/// The bad peers, each kind on a thread of its own, until `stop`. Returns
/// once they are connected and pushing.
fn bad_peers(addr: SocketAddr, stop: &Arc<AtomicBool>) -> Vec<thread::JoinHandle<()>> {
    let mut threads = Vec::new();
    let flooders: Vec<StdStream> = (0..FLOODERS).map(|_| connect_small_rcvbuf(addr)).collect();
    let idle: Vec<StdStream> = (0..IDLE).map(|_| StdStream::connect(addr).unwrap()).collect();
    let slow: Vec<StdStream> = (0..SLOWLORIS).map(|_| StdStream::connect(addr).unwrap()).collect();
    let s = stop.clone();
    threads.push(thread::spawn(move || {
        let chunk = vec![0x5a; 64 * 1024];
        for f in &flooders {
            f.set_nonblocking(true).unwrap();
        }
        while !s.load(Ordering::Relaxed) {
            for mut f in &flooders {
                match f.write(&chunk) {
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => panic!("a flooder's write failed: {e}"),
                }
            }
            thread::sleep(Duration::from_millis(2));
        }
    }));
    let s = stop.clone();
    threads.push(thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            for mut c in &slow {
                c.write_all(b"x").unwrap();
            }
            for _ in 0..10 {
                if s.load(Ordering::Relaxed) {
                    break;
                }
                thread::sleep(Duration::from_millis(100));
            }
        }
        drop(idle);
    }));
    // Let the flooders fill every buffer between them and the server.
    thread::sleep(Duration::from_millis(1500));
    threads
}

/// `GOOD` connections echo `ROUNDS` messages each, pipelined per thread.
fn good_peers(addr: SocketAddr) {
    let per = GOOD / GOOD_THREADS;
    let threads: Vec<_> = (0..GOOD_THREADS)
        .map(|t| {
            thread::spawn(move || {
                let mut conns: Vec<StdStream> = (0..per)
                    .map(|_| {
                        let c = StdStream::connect(addr).unwrap();
                        c.set_nodelay(true).unwrap();
                        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                        c
                    })
                    .collect();
                let mut back = vec![0; 512];
                for round in 0..ROUNDS {
                    for (i, c) in conns.iter_mut().enumerate() {
                        let id = t * per + i;
                        c.write_all(&pattern(id, round, 1 + (id + round) % 512)).unwrap();
                    }
                    for (i, c) in conns.iter_mut().enumerate() {
                        let id = t * per + i;
                        let want = pattern(id, round, 1 + (id + round) % 512);
                        let got = &mut back[..want.len()];
                        c.read_exact(got)
                            .unwrap_or_else(|e| panic!("conn {id} round {round}: {e}"));
                        assert_eq!(got, &want[..], "conn {id} round {round}: bytes differ");
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// Fresh connections' round trips (connect excluded) until `done`.
fn probe(addr: SocketAddr, done: Arc<AtomicBool>) -> thread::JoinHandle<Vec<Duration>> {
    thread::spawn(move || {
        let mut rtts = Vec::new();
        while !done.load(Ordering::Relaxed) || rtts.len() < 5 {
            let mut c = StdStream::connect(addr).unwrap();
            c.set_nodelay(true).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let start = Instant::now();
            c.write_all(b"ping").unwrap();
            let mut got = [0; 4];
            c.read_exact(&mut got).expect("a fresh connection got no echo");
            rtts.push(start.elapsed());
            assert_eq!(&got, b"ping");
            thread::sleep(Duration::from_millis(20));
        }
        rtts
    })
}

fn run(entries: Option<u16>, style: Style) {
    run_with(entries, true, style);
}

/// As `run`, choosing whether the ring is incremental (where the kernel
/// has it) or hands out whole buffers.
fn run_with(entries: Option<u16>, incremental: bool, style: Style) {
    if let Some(reason) = fd_limit_below(4 * (FLOODERS + IDLE + SLOWLORIS + GOOD) as u64 + 200) {
        println!("skipped: {reason}");
        return;
    }
    let _serial = common::serial(); // one run at a time: they measure latency
    let metrics = bounded(Duration::from_secs(240), move || {
        let stop = Arc::new(AtomicBool::new(false));
        let (addr, server) = server(entries, incremental, style, stop.clone());
        let bad = bad_peers(addr, &stop);
        let done = Arc::new(AtomicBool::new(false));
        let prober = probe(addr, done.clone());
        good_peers(addr);
        done.store(true, Ordering::Relaxed);
        let mut rtts = prober.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        for t in bad {
            t.join().unwrap();
        }
        let metrics = server.join().unwrap();
        rtts.sort();
        let max = *rtts.last().unwrap();
        println!(
            "{style:?}, ring {entries:?} (incremental: {incremental}): {} probes, median {:?}, max {max:?}; {metrics:?}",
            rtts.len(),
            rtts[rtts.len() / 2],
        );
        assert!(max < PROBE_BOUND, "a fresh connection waited {max:?} for its echo: {rtts:?}");
        metrics
    });
    if let Style::Stream = style {
        // The guard did its work: data the stalled handlers held was
        // copied out of the ring.
        assert!(metrics.ring_bufs_copied > 0, "{metrics:?}");
    }
}

#[test]
fn recv_stream_default_ring() {
    run(None, Style::Stream);
}

#[test]
fn recv_stream_8_buffer_ring() {
    run(Some(8), Style::Stream);
}

#[test]
fn recv_stream_8_whole_buffers() {
    run_with(Some(8), false, Style::Stream);
}

#[test]
fn owned_buffers_default_ring() {
    run(None, Style::Owned);
}

#[test]
fn owned_buffers_8_buffer_ring() {
    run(Some(8), Style::Owned);
}
