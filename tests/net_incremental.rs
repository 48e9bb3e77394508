//! The incremental buffer ring: pieces of one ring buffer are handed out
//! in the order the kernel filled it, and a buffer goes back to the kernel
//! only once every piece of it is dropped, so the kernel never writes
//! under a piece a program holds, however much data passes through the
//! ring meanwhile.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::bounded;
use corering::net::{RecvBuf, TcpListener, TcpStream};
use corering::uring::IoUring;
use corering::{Runtime, spawn};

fn pattern(seed: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 131 + seed * 17) as u8).collect()
}

/// The ring buffer a `RecvBuf` is a piece of (from its `Debug`).
fn bid(buf: &RecvBuf) -> Option<u16> {
    let debug = format!("{buf:?}");
    let at = debug.find("bid: Some(")? + "bid: Some(".len();
    debug[at..].split(')').next()?.parse().ok()
}

/// Whether this kernel lacks incremental buffer rings (then the test says
/// so and does nothing).
fn skipped() -> bool {
    let ring = IoUring::new(4).unwrap();
    match ring.register_buf_ring_incremental(1, 4096, 1) {
        Ok(_) => false,
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            println!("skipped: this kernel has no incremental buffer rings (Linux < 6.12)");
            true
        }
        Err(e) => panic!("registering a probe ring: {e}"),
    }
}

async fn pair(listener: &TcpListener) -> (TcpStream, std::net::TcpStream) {
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || std::net::TcpStream::connect(addr).unwrap());
    let (stream, _) = listener.accept().await.unwrap();
    (stream, peer.join().unwrap())
}

#[test]
fn held_pieces_survive_the_ring_turning_over_many_times() {
    if skipped() {
        return;
    }
    bounded(Duration::from_secs(60), || {
        // 8 buffers of 4 KiB: 8 MiB through the ring turns it over 256
        // times while the held pieces sit in one buffer.
        let rt = Runtime::builder().pin(false).buf_ring_entries(8).buf_size(4096).build().unwrap();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let (held_conn, mut held_peer) = pair(&listener).await;
            let (bulk_conn, mut bulk_peer) = pair(&listener).await;

            // Ten small messages, each read before the next is sent, so
            // each is a piece of its own, and kept.
            let mut recv = held_conn.recv_stream();
            let mut held = Vec::new();
            for i in 0..10 {
                let msg = pattern(i, 100);
                held_peer.write_all(&msg).unwrap();
                let mut got = Vec::new();
                while got.len() < msg.len() {
                    let piece = recv.next().await.unwrap().unwrap();
                    got.extend_from_slice(&piece);
                    held.push(piece);
                }
                assert_eq!(got, msg);
            }
            let bids: Vec<_> = held.iter().map(bid).collect();
            assert!(
                bids.windows(2).any(|w| w[0].is_some() && w[0] == w[1]),
                "small messages share a ring buffer on an incremental ring: {bids:?}"
            );

            // Meanwhile 8 MiB pass through the ring on another connection,
            // echoed back and checked by the peer.
            const BULK: usize = 8 << 20;
            let data = pattern(99, BULK);
            let sent = data.clone();
            let peer = std::thread::spawn(move || {
                let mut reader = bulk_peer.try_clone().unwrap();
                let check = std::thread::spawn(move || {
                    let mut back = vec![0; BULK];
                    reader.read_exact(&mut back).unwrap();
                    back
                });
                bulk_peer.write_all(&sent).unwrap();
                check.join().unwrap()
            });
            let echo = spawn(async move {
                let mut recv = bulk_conn.recv_stream();
                let mut n = 0;
                while n < BULK {
                    let piece = recv.next().await.unwrap().unwrap();
                    n += piece.len();
                    bulk_conn.write_all(piece).await.0.unwrap();
                }
            });
            echo.await.unwrap();
            assert!(peer.join().unwrap() == data, "the bulk echo came back changed");

            // The kernel never wrote under the held pieces.
            let mut at = 0;
            for i in 0..10 {
                let msg = pattern(i, 100);
                let mut got = Vec::new();
                while got.len() < msg.len() {
                    got.extend_from_slice(&held[at]);
                    at += 1;
                }
                assert_eq!(got, msg, "held message {i} changed while the ring turned over");
            }
        });
    });
}

/// An unread stream pauses at its bound in bytes too (its limit times
/// 4 KiB), not only in completions: an incremental ring's pieces are up to
/// 64 KiB each, and sixteen of them would be a megabyte held per stalled
/// reader. Everything still arrives, in order, once it reads.
#[test]
fn an_unread_stream_pauses_at_its_byte_bound() {
    if skipped() {
        return;
    }
    bounded(Duration::from_secs(60), || {
        let rt = Runtime::builder().pin(false).build().unwrap();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let (conn, mut peer) = pair(&listener).await;
            let mut recv = conn.recv_stream_with_limit(16);
            // Arm it, then leave it unread while 512 KiB arrive.
            let armed = corering::time::timeout(Duration::from_millis(1), recv.next()).await;
            assert!(armed.is_err());
            let in_flight = corering::metrics().unwrap().ops_in_flight;
            let data = pattern(5, 512 * 1024);
            let sent = data.clone();
            let writer = std::thread::spawn(move || {
                for chunk in sent.chunks(64 * 1024) {
                    peer.write_all(chunk).unwrap();
                }
                peer
            });
            corering::time::sleep(Duration::from_millis(200)).await;
            let m = corering::metrics().unwrap();
            assert_eq!(
                m.ops_in_flight,
                in_flight - 1,
                "the receive should have paused at 64 KiB (its op ended): {m:?}"
            );
            let mut got = Vec::new();
            while got.len() < data.len() {
                got.extend_from_slice(&recv.next().await.unwrap().unwrap());
            }
            assert!(got == data, "bytes differ after the pause");
            drop(writer.join().unwrap());
        });
    });
}
