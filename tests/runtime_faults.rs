//! Rare kernel failures, injected (`Builder::faults`), take paths that end
//! well: a park the kernel reports busy runs what it woke instead of
//! blocking again, a `MSG_RING` wake the kernel fails falls back to the
//! eventfd, and a ring that cannot be set up is an error that says why.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

use common::bounded;
use corering::net::UnixStream;
use corering::time::sleep;
use corering::{Faults, Runtime};

fn rt(faults: Faults) -> Runtime {
    Runtime::builder().pin(false).faults(faults).build().unwrap()
}

#[test]
fn a_park_reported_busy_runs_the_task_it_woke() {
    bounded(Duration::from_secs(30), || {
        // The first parks report EBUSY once the kernel returned: the reap
        // after the one that brought the data wakes the reader, which must
        // run, not wait for another event (there is none: no timer, no
        // more data).
        let rt = rt(Faults { busy_parks: 2, ..Faults::default() });
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            (&theirs).write_all(b"hello").unwrap();
            theirs
        });
        let (res, buf) = rt.block_on(async {
            let ours = UnixStream::from_std(ours);
            ours.read(Vec::with_capacity(16)).await
        });
        assert_eq!(res.unwrap(), 5);
        assert_eq!(buf, b"hello");
        drop(writer.join().unwrap());
    });
}

#[test]
fn a_failed_msg_ring_wake_falls_back_to_the_eventfd() {
    bounded(Duration::from_secs(30), || {
        let slot: Arc<Mutex<(bool, Option<Waker>)>> = Arc::default();
        let waker_side = slot.clone();
        let other = std::thread::spawn(move || {
            // This worker's MSG_RING wakes fail in the kernel.
            let rt = rt(Faults { failed_msg_wakes: u32::MAX, ..Faults::default() });
            rt.block_on(async {
                // Let the first worker park in the kernel, then wake it
                // from this worker's task (a MSG_RING, which fails).
                sleep(Duration::from_millis(200)).await;
                let waker = {
                    let mut s = waker_side.lock().unwrap();
                    s.0 = true;
                    s.1.take().expect("the first worker is waiting")
                };
                waker.wake();
                sleep(Duration::from_millis(50)).await; // reap the failure
            });
            rt.metrics()
        });
        let parked = rt(Faults::default());
        parked.block_on(std::future::poll_fn(|cx| {
            let mut s = slot.lock().unwrap();
            if s.0 {
                return Poll::Ready(());
            }
            s.1 = Some(cx.waker().clone());
            Poll::Pending
        }));
        let m = other.join().unwrap();
        assert!(m.msg_wakes_sent >= 1, "the wake went through MSG_RING first: {m:?}");
    });
}

#[test]
fn a_ring_that_cannot_be_set_up_says_why() {
    let err = Runtime::builder()
        .pin(false)
        .faults(Faults { setup_enomem: true, ..Faults::default() })
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("RLIMIT_MEMLOCK"), "{err}");
}

/// Echo through a server whose every resource is as small as it can be and
/// whose kernel "fails" often: a 2-entry SQ (always full), a 2-entry CQ
/// (overflowing), a 2-buffer ring of 64 bytes (ENOBUFS), and every 5th
/// enter reported busy. Both echo styles; every byte must come back.
#[test]
fn echo_under_injected_faults_loses_nothing_and_does_not_hang() {
    bounded(Duration::from_secs(120), || {
        let (tx, rx) = std::sync::mpsc::channel();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let server = std::thread::spawn(move || {
            let rt = Runtime::builder()
                .pin(false)
                .ring_entries(2)
                .cq_entries(2)
                .buf_ring_entries(2)
                .buf_size(64)
                .faults(Faults { busy_every: 5, ..Faults::default() })
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = corering::net::TcpListener::bind("127.0.0.1:0").unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let mut n = 0usize;
                while !s.load(std::sync::atomic::Ordering::Relaxed) {
                    let accept =
                        corering::time::timeout(Duration::from_millis(20), listener.accept());
                    let Ok(Ok((stream, _))) = accept.await else { continue };
                    n += 1;
                    drop(corering::spawn(async move {
                        if n.is_multiple_of(2) {
                            let mut recv = stream.recv_stream();
                            while let Some(Ok(buf)) = recv.next().await {
                                if stream.write_all(buf).await.0.is_err() {
                                    return;
                                }
                            }
                        } else {
                            let mut buf = Vec::with_capacity(1000);
                            loop {
                                let (res, b) = stream.read(buf).await;
                                let Ok(n @ 1..) = res else { return };
                                let (res, s) =
                                    stream.write_all(corering::buf::IoBuf::slice(b, ..n)).await;
                                if res.is_err() {
                                    return;
                                }
                                buf = s.into_inner();
                            }
                        }
                    }));
                }
            });
            rt.metrics()
        });
        let addr = rx.recv().unwrap();
        let clients: Vec<_> = (0..4)
            .map(|t| {
                std::thread::spawn(move || {
                    use std::io::Read;
                    let mut conns: Vec<_> = (0..8)
                        .map(|_| {
                            let c = std::net::TcpStream::connect(addr).unwrap();
                            c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                            c
                        })
                        .collect();
                    for round in 0..100usize {
                        let msgs: Vec<Vec<u8>> = (0..conns.len())
                            .map(|i| {
                                let len = 1 + (t * 977 + i * 131 + round * 37) % 3000;
                                (0..len).map(|k| (k * 7 + i + round + t) as u8).collect()
                            })
                            .collect();
                        for (c, m) in conns.iter_mut().zip(&msgs) {
                            c.write_all(m).unwrap();
                        }
                        for (c, m) in conns.iter_mut().zip(&msgs) {
                            let mut got = vec![0; m.len()];
                            c.read_exact(&mut got).expect("an echo stalled");
                            assert!(&got == m, "bytes differ");
                        }
                    }
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let m = server.join().unwrap();
        println!("under faults: {m:?}");
        assert!(m.ring_bufs_copied > 0, "the 2-buffer ring ran low: {m:?}");
    });
}
