//! Switching styles on one socket never loses or reorders a byte: data a
//! dropped `RecvStream` (or a dropped read) received ahead of its reader
//! goes to the socket's next `read` or `recv_stream`.

mod common;

use std::io::Write;
use std::task::Poll;
use std::time::Duration;

use common::bounded;
use corering::Runtime;
use corering::net::UnixStream;
use corering::time::timeout;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn streams_reads_and_dropped_reads_in_turn_lose_no_byte() {
    bounded(Duration::from_secs(60), || {
        // Small buffers and a small unread bound: each stream has queued
        // (and the kernel in-flight) data when it is dropped.
        let rt = Runtime::builder().pin(false).buf_ring_entries(32).buf_size(512).build().unwrap();
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let data = pattern(4 << 20);
        let sent = data.clone();
        let writer = std::thread::spawn(move || {
            for chunk in sent.chunks(3001) {
                (&theirs).write_all(chunk).unwrap();
            }
        });
        let got = rt.block_on(async move {
            let ours = UnixStream::from_std(ours);
            let mut got = Vec::with_capacity(data.len());
            let mut turn = 0usize;
            loop {
                turn += 1;
                match turn % 3 {
                    // A stream, read for a few items, then dropped with
                    // more queued behind.
                    0 => {
                        let mut recv = ours.recv_stream_with_limit(4);
                        for _ in 0..(turn % 5 + 1) {
                            match recv.next().await {
                                Some(Ok(buf)) => got.extend_from_slice(&buf),
                                Some(Err(e)) => panic!("{e}"),
                                None => return got,
                            }
                        }
                        // Let the kernel fill the queue before the drop.
                        corering::time::sleep(Duration::from_micros(200)).await;
                    }
                    // Owned reads of odd sizes.
                    1 => {
                        for _ in 0..3 {
                            let (res, buf) = ours.read(Vec::with_capacity(777)).await;
                            if res.unwrap() == 0 {
                                return got;
                            }
                            got.extend_from_slice(&buf);
                        }
                    }
                    // A read given up on (it may have received meanwhile).
                    _ => {
                        let read = ours.read(Vec::with_capacity(1500));
                        if let Ok((res, buf)) = timeout(Duration::from_micros(50), read).await {
                            if res.unwrap() == 0 {
                                return got;
                            }
                            got.extend_from_slice(&buf);
                        }
                    }
                }
                if got.len() == data.len() {
                    // Everything arrived; the writer closes next: end of stream.
                    let (res, _) = ours.read(Vec::with_capacity(1)).await;
                    assert_eq!(res.unwrap(), 0, "bytes past the end");
                    return got;
                }
            }
        });
        writer.join().unwrap();
        let want = pattern(4 << 20);
        assert_eq!(got.len(), want.len(), "bytes lost");
        let first_diff = got.iter().zip(&want).position(|(a, b)| a != b);
        assert_eq!(first_diff, None, "bytes reordered");
    });
}

/// A `read` whose completion is end-of-stream while bytes a dropped
/// `RecvStream` received wait in the stash returns Ok(0) (EOF) before them.
#[test]
fn read_reports_eof_before_stashed_bytes() {
    bounded(Duration::from_secs(20), || {
        let rt = Runtime::builder().pin(false).build().unwrap();
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        (&theirs).write_all(b"abc").unwrap();
        drop(theirs); // the FIN is already there too
        rt.block_on(async move {
            let ours = UnixStream::from_std(ours);
            let mut recv = ours.recv_stream();
            // Arm the multishot receive (its SQE is queued, not submitted)...
            let mut first = true;
            std::future::poll_fn(|cx| {
                if first {
                    first = false;
                    assert!(recv.poll_recv(cx).is_pending());
                }
                Poll::Ready(())
            })
            .await;
            // ...and drop it before the worker enters: its data goes to the
            // stash when the orphan's completions are reaped.
            drop(recv);
            let (res, buf) = ours.read(Vec::with_capacity(64)).await;
            let n = res.unwrap();
            assert_eq!(&buf[..n], b"abc", "read returned EOF while 'abc' was still unread");
        });
    });
}
