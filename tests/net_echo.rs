//! Many concurrent connections echo many messages of random sizes, every
//! byte checked, through each of the two I/O styles: `recv_stream` (buffers
//! from the worker's ring, written back without a copy) and owned buffers.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::bounded;
use corering::buf::IoBuf;
use corering::net::{TcpListener, TcpStream};
use corering::{Runtime, spawn};

const CONNS: usize = 1000;
const MSGS: usize = 100;

/// Server styles under test.
#[derive(Clone, Copy)]
enum Style {
    RecvStream,
    OwnedBuffers,
}

async fn serve_conn(stream: TcpStream, style: Style) {
    match style {
        Style::RecvStream => {
            let mut recv = stream.recv_stream();
            while let Some(Ok(buf)) = recv.next().await {
                if stream.write_all(buf).await.0.is_err() {
                    return;
                }
            }
        }
        Style::OwnedBuffers => {
            let mut buf = Vec::with_capacity(16 * 1024);
            loop {
                let (res, b) = stream.read(buf).await;
                let n = match res {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let (res, b) = stream.write_all(b.slice(..n)).await;
                if res.is_err() {
                    return;
                }
                buf = b.into_inner();
                buf.clear();
            }
        }
    }
}

/// Start a server on its own thread; returns its address.
fn server(style: Style) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = Runtime::builder().pin(false).ring_entries(1024).build().unwrap();
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                drop(spawn(serve_conn(stream, style)));
            }
        });
    });
    rx.recv().unwrap()
}

/// A deterministic generator: sizes log-uniform in 1 B ..= 64 KiB (most
/// messages small, some large), and the bytes of each message.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn size(&mut self) -> usize {
        let bits = self.next() % 17; // 2^0 ..= 2^16
        let max = 1usize << bits;
        (1 + self.next() as usize % max).min(64 * 1024)
    }
}

async fn client(addr: SocketAddr, id: u64) -> usize {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((id + 1) * 0x2545_f491));
    let mut bytes = 0;
    let mut got = Vec::with_capacity(64 * 1024);
    for m in 0..MSGS {
        let size = rng.size();
        let msg: Vec<u8> = (0..size).map(|i| (i as u64 ^ id ^ m as u64) as u8).collect();
        let (res, msg) = stream.write_all(msg).await;
        res.unwrap();
        got.clear();
        while got.len() < size {
            let (res, chunk) = stream.read(Vec::with_capacity(size - got.len())).await;
            let n = res.unwrap();
            assert!(n > 0, "conn {id}: eof after {} of {size} bytes of message {m}", got.len());
            got.extend_from_slice(&chunk);
        }
        assert!(got == msg, "conn {id}: message {m} ({size} B) came back corrupted");
        bytes += size;
    }
    bytes
}

fn run(style: Style) {
    if let Some(reason) = common::fd_limit_below(4 * CONNS as u64) {
        println!("skipped: {reason}");
        return;
    }
    let addr = server(style);
    let total = bounded(Duration::from_secs(240), move || {
        let rt = Runtime::builder().pin(false).ring_entries(1024).build().unwrap();
        rt.block_on(async move {
            let tasks: Vec<_> = (0..CONNS).map(|i| spawn(client(addr, i as u64))).collect();
            let mut total = 0;
            for t in tasks {
                total += t.await.unwrap();
            }
            total
        })
    });
    println!("{CONNS} connections x {MSGS} messages: {total} bytes echoed and checked");
    assert!(total > CONNS * MSGS);
}

#[test]
fn thousand_connections_echo_through_recv_stream() {
    run(Style::RecvStream);
}

#[test]
fn thousand_connections_echo_through_owned_buffers() {
    run(Style::OwnedBuffers);
}
