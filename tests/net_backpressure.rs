//! One slow consumer cannot starve the others: a reader that stops reading
//! holds at most its bound of the worker's buffers, and a tiny buffer ring
//! under many connections loses, reorders and strands nothing (ENOBUFS
//! re-arms once buffers return).

mod common;

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use common::bounded;
use corering::net::{TcpListener, TcpStream};
use corering::{Runtime, spawn};

fn pattern(seed: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + seed * 7) as u8).collect()
}

/// Echo through `recv_stream`; the first connection accepted instead
/// reads one buffer and then never reads again (holding its stream).
async fn serve(listener: TcpListener, stalled: Rc<Cell<bool>>) {
    let mut first = true;
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        if std::mem::take(&mut first) {
            drop(spawn(async move {
                let mut recv = stream.recv_stream();
                let held = recv.next().await;
                std::future::pending::<()>().await;
                drop((held, recv));
            }));
            stalled.set(true);
            continue;
        }
        drop(spawn(async move {
            let mut recv = stream.recv_stream();
            while let Some(Ok(buf)) = recv.next().await {
                if stream.write_all(buf).await.0.is_err() {
                    return;
                }
            }
        }));
    }
}

#[test]
fn a_reader_that_never_reads_does_not_starve_200_others() {
    bounded(Duration::from_secs(120), || {
        // 64 buffers of 4 KiB: the stalled reader's bound (32) is half of
        // them. Without the bound it would take all 64 and stall everyone.
        let rt = Runtime::builder().pin(false).buf_ring_entries(64).build().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();

        // The slow peer floods the stalled connection from a plain thread:
        // 4 MiB, far more than the whole buffer ring.
        let flood = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
            let chunk = vec![0xABu8; 64 * 1024];
            let mut sent = 0;
            while sent < 4 << 20 {
                match s.write(&chunk) {
                    Ok(n) => sent += n,
                    Err(_) => break, // the kernel buffers filled: it blocks, then times out
                }
            }
            sent
        });

        let stalled = Rc::new(Cell::new(false));
        rt.block_on(async {
            drop(spawn(serve(listener, stalled.clone())));
            while !stalled.get() {
                corering::time::sleep(Duration::from_millis(5)).await;
            }
            // Let the flood fill the stalled stream's queue to its bound.
            corering::time::sleep(Duration::from_millis(200)).await;
            let held = corering::metrics().unwrap();
            println!("after the flood: {held:?}");
            let tasks: Vec<_> = (0..200).map(|i| spawn(echo_client(addr, i))).collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        drop(rt); // closes the stalled connection, ending the flood
        let sent = flood.join().unwrap();
        println!("the stalled connection was sent {sent} bytes");
    });
}

async fn echo_client(addr: SocketAddr, id: usize) {
    let stream = TcpStream::connect(addr).await.unwrap();
    for m in 0..20 {
        let msg = pattern(id * 100 + m, 1000 + (id * 37 + m * 101) % 7000);
        let len = msg.len();
        let (res, msg) = stream.write_all(msg).await;
        res.unwrap();
        let mut got = Vec::new();
        while got.len() < len {
            let (res, chunk) = stream.read(Vec::with_capacity(len - got.len())).await;
            assert!(res.unwrap() > 0, "client {id}: early eof");
            got.extend_from_slice(&chunk);
        }
        assert!(got == msg, "client {id}: message {m} corrupted");
    }
}

/// `clients` plain-thread clients each send `len` bytes in one go and read
/// them back through a corering echo server (`recv_stream`, each buffer
/// written straight back) whose buffer ring has `entries` buffers of `size`
/// bytes: every connection needs many re-arms after `ENOBUFS`. Each client
/// checks every byte and gives up after 10 s without data (a stall).
fn echo_through_a_small_ring(entries: u16, size: u32, clients: usize, len: usize, seed: usize) {
    let rt =
        Runtime::builder().pin(false).buf_ring_entries(entries).buf_size(size).build().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let clients: Vec<_> = (0..clients)
        .map(|id| {
            std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let msg = pattern(seed + id, len);
                let mut w = s.try_clone().unwrap();
                let writer = {
                    let msg = msg.clone();
                    std::thread::spawn(move || w.write_all(&msg).unwrap())
                };
                let mut got = vec![0u8; msg.len()];
                let res = s.read_exact(&mut got);
                writer.join().unwrap();
                res.map_err(|e| format!("client {id}: {e} (a stalled receive)"))?;
                if got != msg {
                    return Err(format!("client {id}: bytes lost or reordered"));
                }
                Ok(())
            })
        })
        .collect();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let done = done.clone();
        std::thread::spawn(move || {
            let results: Vec<_> = clients.into_iter().map(|c| c.join()).collect();
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            results
        })
    };
    rt.block_on(async {
        drop(spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                drop(spawn(async move {
                    let mut recv = stream.recv_stream();
                    while let Some(Ok(buf)) = recv.next().await {
                        if stream.write_all(buf).await.0.is_err() {
                            return;
                        }
                    }
                }));
            }
        }));
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            corering::time::sleep(Duration::from_millis(10)).await;
        }
    });
    for r in watcher.join().unwrap() {
        match r {
            Ok(res) => res.unwrap(),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

#[test]
fn eight_buffers_under_64_connections_lose_nothing() {
    bounded(Duration::from_secs(120), || echo_through_a_small_ring(8, 1024, 64, 64 * 1024, 0));
}

/// Two 64-byte buffers under 8 connections of 128 KiB each, three times:
/// the ring runs dry all the time, and every receive must come back to life
/// (re-arm after `ENOBUFS`) when buffers return, losing nothing.
#[test]
fn two_tiny_buffers_under_eight_busy_connections_never_stall() {
    bounded(Duration::from_secs(120), || {
        for round in 0..3 {
            echo_through_a_small_ring(2, 64, 8, 128 * 1024, 100 * round);
        }
    });
}
