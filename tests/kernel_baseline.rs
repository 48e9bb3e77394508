//! The runtime on the oldest kernel it supports: every kernel feature it
//! can do without is turned off (`SINGLE_ISSUER`, `DEFER_TASKRUN`,
//! `COOP_TASKRUN`, `SUBMIT_ALL`, the registered ring fd, the incremental
//! buffer ring), and what users rely on still works: both echo styles with
//! every byte checked, timers and timeouts, spawns and wakes across
//! workers, files, blocking work. What is left (multishot receive, buffer
//! rings, `EXT_ARG`, `MSG_RING`) sets the README's minimum kernel.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::bounded;
use corering::net::TcpListener;
use corering::{Faults, Runtime};

fn runtime(workers: usize) -> Runtime {
    Runtime::builder()
        .pin(false)
        .workers(workers)
        .faults(Faults { baseline_kernel: true, ..Faults::default() })
        .build()
        .unwrap()
}

fn pattern(seed: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + seed * 13) as u8).collect()
}

#[test]
fn echo_timers_workers_files_and_blocking_work_without_optional_features() {
    bounded(Duration::from_secs(120), || {
        let rt = runtime(2);
        let dir = std::env::temp_dir().join(format!("corering-baseline-{}", std::process::id()));
        let out = rt.block_on(async move {
            use corering::uring::sys::*;
            let optional = IORING_SETUP_SINGLE_ISSUER
                | IORING_SETUP_DEFER_TASKRUN
                | IORING_SETUP_COOP_TASKRUN
                | IORING_SETUP_SUBMIT_ALL;
            let flags = corering::ring_setup_flags().unwrap();
            assert_eq!(flags & optional, 0, "an optional setup flag is on: {flags:#x}");

            // Echo, both styles, 8 connections each, 64 KiB per message.
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = corering::spawn(async move {
                for n in 0..16 {
                    let (s, _) = listener.accept().await.unwrap();
                    drop(corering::spawn(async move {
                        if n % 2 == 0 {
                            let mut recv = s.recv_stream();
                            while let Some(Ok(buf)) = recv.next().await {
                                if s.write_all(buf).await.0.is_err() {
                                    return;
                                }
                            }
                        } else {
                            let mut buf = Vec::with_capacity(4096);
                            loop {
                                let (res, b) = s.read(buf).await;
                                if !matches!(res, Ok(n) if n > 0) {
                                    return;
                                }
                                let (res, mut b) = s.write_all(b).await;
                                if res.is_err() {
                                    return;
                                }
                                b.clear();
                                buf = b;
                            }
                        }
                    }));
                }
            });
            let clients = corering::spawn_blocking(move || {
                let peers: Vec<_> = (0..16)
                    .map(|c| {
                        std::thread::spawn(move || {
                            let mut s = std::net::TcpStream::connect(addr).unwrap();
                            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                            for round in 0..8 {
                                let msg = pattern(c * 8 + round, 64 * 1024);
                                s.write_all(&msg).unwrap();
                                let mut back = vec![0; msg.len()];
                                s.read_exact(&mut back).unwrap();
                                assert!(back == msg, "connection {c} round {round}: bytes differ");
                            }
                        })
                    })
                    .collect();
                peers.into_iter().all(|p| p.join().is_ok())
            });
            assert!(clients.await.unwrap(), "an echo client failed");
            server.await.unwrap();

            // Timers and timeouts.
            let start = Instant::now();
            corering::time::sleep(Duration::from_millis(20)).await;
            assert!(start.elapsed() >= Duration::from_millis(20));
            let late =
                corering::time::timeout(Duration::from_millis(10), std::future::pending::<()>());
            assert!(late.await.is_err());

            // A spawn on the other worker, and its answer back (MSG_RING).
            let there = corering::spawn_on(1, || async { corering::worker_id() });
            assert_eq!(there.await.unwrap(), 1);

            // Files.
            corering::fs::create_dir(&dir).await.unwrap();
            let path = dir.join("f");
            let data = pattern(1, 1 << 20);
            corering::fs::write(&path, data.clone()).await.unwrap();
            assert!(corering::fs::read(&path).await.unwrap() == data);
            corering::fs::remove_file(&path).await.unwrap();
            dir
        });
        std::fs::remove_dir(out).unwrap();
    });
}
