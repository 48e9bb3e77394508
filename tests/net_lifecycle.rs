//! Connections come and go without leaking: fds and slab keys return to
//! where they started, and a dropped listener closes what it had queued.
//! (One test at a time in this binary: they count the process's fds.)

mod common;

use std::io::Read;
use std::time::Duration;

use common::{open_fds, serial};
use corering::net::{TcpListener, TcpStream};
use corering::{Runtime, spawn};

#[test]
fn ten_thousand_connect_echo_close_cycles_leak_nothing() {
    let _serial = serial();
    let rt = Runtime::builder().pin(false).build().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (fds_before, keys_before) = rt.block_on(async {
        let server = spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                drop(spawn(async move {
                    let mut recv = stream.recv_stream();
                    while let Some(Ok(buf)) = recv.next().await {
                        if stream.write_all(buf).await.0.is_err() {
                            break;
                        }
                    }
                }));
            }
        });
        // Warm up (the buffer ring, the slab) before taking the baseline.
        cycle(addr, 0).await;
        corering::time::sleep(Duration::from_millis(20)).await;
        let before = (open_fds(), corering::metrics().unwrap().live_op_keys);
        for i in 1..=10_000u32 {
            cycle(addr, i).await;
        }
        corering::time::sleep(Duration::from_millis(50)).await;
        drop(server);
        before
    });
    let (fds_after, keys_after) = rt.block_on(async {
        corering::time::sleep(Duration::from_millis(50)).await;
        (open_fds(), corering::metrics().unwrap().live_op_keys)
    });
    println!("fds {fds_before} -> {fds_after}, live keys {keys_before} -> {keys_after}");
    assert_eq!(fds_after, fds_before, "fds leaked");
    assert_eq!(keys_after, keys_before, "slab keys leaked");
}

async fn cycle(addr: std::net::SocketAddr, i: u32) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let msg = i.to_le_bytes().to_vec();
    stream.write_all(msg.clone()).await.0.unwrap();
    let (n, buf) = stream.read(vec![0u8; 4]).await;
    assert_eq!(&buf[..n.unwrap()], &msg[..], "cycle {i}");
    stream.close().await.unwrap();
}

#[test]
fn a_dropped_listener_closes_the_connections_it_had_queued() {
    let _serial = serial();
    let rt = Runtime::builder().pin(false).build().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let clients: Vec<std::net::TcpStream> = (0..8)
        .map(|_| {
            let c = std::net::TcpStream::connect(addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            c
        })
        .collect();
    rt.block_on(async {
        // Accept one: this arms the multishot accept, which then takes the
        // other seven into the listener's queue.
        let (first, _) = listener.accept().await.unwrap();
        corering::time::sleep(Duration::from_millis(50)).await;
        drop(first);
        drop(listener);
        corering::time::sleep(Duration::from_millis(50)).await;
    });
    for (i, mut c) in clients.into_iter().enumerate() {
        let mut b = [0u8; 1];
        match c.read(&mut b) {
            Ok(0) => {}
            other => panic!("client {i}: its server side was not closed ({other:?})"),
        }
    }
}
