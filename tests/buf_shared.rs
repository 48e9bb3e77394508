//! Shared read-only buffers: one allocation sent to many connections at
//! once, never copied per recipient.

mod common;

use std::io::Read;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use common::{bounded, fd_limit_below, serial};
use corering::Runtime;
use corering::net::UnixStream;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 13 + i / 256) as u8).collect()
}

#[test]
fn a_broadcast_to_1000_connections_shares_one_buffer() {
    let _serial = serial();
    if let Some(reason) = fd_limit_below(2 * 1000 + 100) {
        println!("skipped: {reason}");
        return;
    }
    bounded(Duration::from_secs(60), || {
        let rt = Runtime::builder().build().unwrap();
        let msg: Rc<[u8]> = pattern(16 * 1024).into();
        let (ours, peers): (Vec<_>, Vec<_>) =
            (0..1000).map(|_| std::os::unix::net::UnixStream::pair().unwrap()).unzip();
        // The peers read on a thread of their own, checking every byte.
        let want = msg.to_vec();
        let readers = std::thread::spawn(move || {
            for mut p in peers {
                p.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let mut got = vec![0; want.len()];
                p.read_exact(&mut got).unwrap();
                assert!(got == want, "a recipient got other bytes");
            }
        });
        rt.block_on(async {
            let sends: Vec<_> = ours
                .into_iter()
                .map(|s| {
                    let (s, m) = (UnixStream::from_std(s), msg.clone());
                    corering::spawn(async move { s.write_all(m).await.0 })
                })
                .collect();
            // While the sends are in flight, they all share the one buffer.
            assert!(Rc::strong_count(&msg) > 1);
            for s in sends {
                s.await.unwrap().unwrap();
            }
        });
        readers.join().unwrap();
        assert_eq!(Rc::strong_count(&msg), 1, "every send gave its clone back");
    });
}

#[test]
fn an_arc_buffer_is_sent_from_two_workers_at_once() {
    bounded(Duration::from_secs(30), || {
        let rt = Runtime::builder().workers(2).build().unwrap();
        let msg: Arc<[u8]> = pattern(100_000).into();
        let got = rt.block_on(async {
            let mut handles = Vec::new();
            for w in 0..2 {
                let m = msg.clone();
                handles.push(corering::spawn_on(w, move || async move {
                    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
                    let reader = std::thread::spawn(move || {
                        let mut b = b;
                        let mut got = Vec::new();
                        b.read_to_end(&mut got).unwrap();
                        got
                    });
                    let a = UnixStream::from_std(a);
                    a.write_all(m).await.0.unwrap();
                    a.close().await.unwrap(); // the reader sees the end
                    reader
                }));
            }
            let mut readers = Vec::new();
            for h in handles {
                readers.push(h.await.unwrap());
            }
            readers
        });
        for r in got {
            assert!(r.join().unwrap()[..] == msg[..]);
        }
        assert_eq!(Arc::strong_count(&msg), 1);
    });
}

#[cfg(feature = "bytes")]
#[test]
fn bytes_and_bytes_mut_are_owned_buffers() {
    bounded(Duration::from_secs(30), || {
        let rt = Runtime::builder().build().unwrap();
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let out = bytes::Bytes::from(pattern(5000));
            let (res, out) = a.write_all(out.clone()).await;
            res.unwrap();
            let mut got = bytes::BytesMut::with_capacity(8192);
            while got.len() < out.len() {
                let room = got.split_off(got.len());
                let (res, part) = b.read(room).await;
                assert!(res.unwrap() > 0);
                got.unsplit(part);
            }
            assert_eq!(&got[..], &out[..]);
        });
    });
}

#[cfg(not(feature = "bytes"))]
#[test]
fn bytes_and_bytes_mut_are_owned_buffers() {
    println!("skipped: needs the `bytes` feature (cargo test --features bytes)");
}
