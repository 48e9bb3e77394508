//! The provided-buffer ring is a fast path, never a gate: a send blocked by
//! a peer that does not read gives its ring buffer back, unread data is
//! copied out while the ring runs low, and a receive that finds the ring
//! dry still gets its data. Each test fails (a hang, caught by the
//! watchdog, or a count) if its rule is taken out.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::bounded;
use corering::net::{RecvBuf, TcpListener, TcpStream};
use corering::time::sleep;
use corering::{Runtime, spawn};
use socket2::{Domain, Socket, Type};

fn pattern(seed: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + seed * 7) as u8).collect()
}

fn copied() -> u64 {
    corering::metrics().unwrap().ring_bufs_copied
}

/// A connected pair: the corering side, and a std peer whose receive
/// buffer is small (so sends to it block soon).
async fn pair(listener: &TcpListener) -> (TcpStream, std::net::TcpStream) {
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.set_recv_buffer_size(4096).unwrap();
        s.connect(&addr.into()).unwrap();
        std::net::TcpStream::from(s)
    });
    let (stream, _) = listener.accept().await.unwrap();
    (stream, peer.join().unwrap())
}

/// Fill `stream`'s way to its peer until a write would block.
async fn fill(stream: &TcpStream) -> usize {
    let mut sent = 0;
    loop {
        let write = stream.write(vec![0xEE; 64 * 1024]);
        match corering::time::timeout(Duration::from_millis(100), write).await {
            Ok((res, _)) => sent += res.unwrap(),
            Err(_) => return sent, // blocked (the dropped write sent nothing)
        }
    }
}

/// Read `filler` bytes of 0xEE, then expect `want`.
fn drain(mut peer: std::net::TcpStream, filler: usize, want: Vec<u8>) {
    peer.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut skip = vec![0; filler];
    peer.read_exact(&mut skip).unwrap();
    assert!(skip.iter().all(|&b| b == 0xEE));
    let mut got = vec![0; want.len()];
    peer.read_exact(&mut got).unwrap();
    assert!(got == want, "bytes differ after the copy");
}

/// Receive exactly `len` bytes as `RecvBuf`s (kept, not dropped).
async fn recv_bufs(stream: &TcpStream, len: usize) -> Vec<RecvBuf> {
    let mut recv = stream.recv_stream();
    let mut bufs = Vec::new();
    let mut got = 0;
    while got < len {
        let buf = recv.next().await.unwrap().unwrap();
        got += buf.len();
        bufs.push(buf);
    }
    bufs
}

#[test]
fn a_send_blocked_by_a_peer_gives_its_ring_buffer_back() {
    for incremental in [true, false] {
        send_blocked_by_a_peer(incremental);
    }
}

fn send_blocked_by_a_peer(incremental: bool) {
    bounded(Duration::from_secs(60), move || {
        let rt = Runtime::builder().pin(false).buf_ring_incremental(incremental).build().unwrap();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let (src, mut src_peer) = pair(&listener).await;
            let (dst, dst_peer) = pair(&listener).await;
            // Fill, let the kernel settle (acks, buffer autotuning), fill
            // again: now a send waits.
            let mut filler = fill(&dst).await;
            sleep(Duration::from_millis(50)).await;
            filler += fill(&dst).await;

            // write_all of one RecvBuf, and writev of several.
            let msg = pattern(1, 20_000);
            src_peer.write_all(&msg).unwrap();
            let bufs = recv_bufs(&src, msg.len()).await;
            let before = copied();
            let writer = spawn(async move {
                let (res, bufs) = dst.writev(bufs).await;
                let n = res.unwrap();
                let total: usize = bufs.iter().map(|b| b.len()).sum();
                assert_eq!(n, total, "loopback took the whole writev once there was room");
                let more = recv_bufs(&src, 20_000).await;
                for b in more {
                    assert!(dst.write_all(b).await.0.is_ok());
                }
            });
            sleep(Duration::from_millis(200)).await;
            assert!(!writer.is_finished(), "the peer reads nothing, so the send must wait");
            let after = copied();
            assert!(
                after > before,
                "a send waiting on a peer still holds its ring buffers ({before} -> {after})"
            );
            let more = pattern(2, 20_000);
            src_peer.write_all(&more).unwrap();
            let mut want = msg;
            want.extend_from_slice(&more);
            let reader = std::thread::spawn(move || drain(dst_peer, filler, want));
            writer.await.unwrap();
            reader.join().unwrap();
        });
    });
}

#[test]
fn unread_buffers_are_copied_out_when_the_ring_runs_low() {
    bounded(Duration::from_secs(60), || {
        // 8 buffers of 64 bytes; each stream may hold 4 unread.
        let rt = Runtime::builder().pin(false).buf_ring_entries(8).buf_size(64).build().unwrap();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let mut conns = Vec::new();
            for i in 0..3 {
                let (stream, mut peer) = pair(&listener).await;
                let mut recv = stream.recv_stream();
                // Arm it (nothing to read yet), then leave it unread.
                let armed = corering::time::timeout(Duration::from_millis(1), recv.next()).await;
                assert!(armed.is_err());
                let msg = pattern(i, 64 * 4);
                peer.write_all(&msg).unwrap();
                conns.push((stream, recv, peer, msg));
            }
            sleep(Duration::from_millis(100)).await;
            // 3 streams x 4 unread buffers > 8: the ring ran low, and what
            // sat unread was copied out so the ring filled up again.
            let m = corering::metrics().unwrap();
            assert!(m.ring_bufs_copied >= 4, "{m:?}");
            for (stream, mut recv, peer, msg) in conns {
                let mut got = Vec::new();
                while got.len() < msg.len() {
                    got.extend_from_slice(&recv.next().await.unwrap().unwrap());
                }
                assert!(got == msg, "bytes lost or reordered by the copy");
                drop((stream, peer));
            }
        });
    });
}

#[test]
fn a_receive_that_finds_the_ring_dry_still_gets_its_data() {
    bounded(Duration::from_secs(60), || {
        let rt = Runtime::builder().pin(false).buf_ring_entries(8).buf_size(16).build().unwrap();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            // The program keeps every RecvBuf of one connection: as many
            // ring buffers as it can get.
            let (hog, mut hog_peer) = pair(&listener).await;
            hog_peer.write_all(&[7; 16 * 64]).unwrap();
            let held = recv_bufs(&hog, 16 * 64).await;
            // Another connection still echoes, every byte.
            let (echo, peer) = pair(&listener).await;
            drop(spawn(async move {
                let mut recv = echo.recv_stream();
                while let Some(Ok(buf)) = recv.next().await {
                    assert!(echo.write_all(buf).await.0.is_ok());
                }
            }));
            let client = std::thread::spawn(move || {
                let mut peer = peer;
                peer.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                for round in 0..50 {
                    let msg = pattern(round, 100);
                    peer.write_all(&msg).unwrap();
                    let mut got = vec![0; msg.len()];
                    peer.read_exact(&mut got).expect("the echo stalled: its receive waits");
                    assert!(got == msg);
                }
            });
            while !client.is_finished() {
                sleep(Duration::from_millis(5)).await;
            }
            client.join().unwrap();
            drop(held);
        });
    });
}
