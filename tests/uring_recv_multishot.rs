//! Multishot recv over a provided-buffer ring: data arrives complete and in
//! order while buffers are recycled; a dry ring ends the multishot with
//! ENOBUFS, and re-arming after recycling loses no byte.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use corering::uring::{Completion, IoUring, ProvidedBufRing};

const RECV: u64 = 1;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Submit and wait for at least one completion, failing after 10 s.
fn wait(ring: &mut IoUring) {
    ring.submit_and_wait_timeout(1, Duration::from_secs(10)).unwrap();
    assert!(ring.completions().len() > 0, "no completion within 10 s");
}

/// What one reap of the multishot recv produced.
#[derive(Default)]
struct Outcome {
    /// The multishot ended (a completion without F_MORE) with this result.
    ended: Option<i32>,
}

/// Reap one batch: append received bytes, recycle their buffers, publish
/// once for the whole batch.
fn reap(ring: &mut IoUring, bufs: &mut ProvidedBufRing, out: &mut Vec<u8>) -> Outcome {
    let mut outcome = Outcome::default();
    let batch: Vec<Completion> = ring.completions().collect();
    for cqe in batch {
        assert_eq!(cqe.user_data(), RECV);
        if let Some(bid) = cqe.buffer_id() {
            let n = cqe.result().unwrap() as usize;
            // SAFETY: the kernel handed `bid` to us with this completion and
            // we recycle it only after copying out of it.
            out.extend_from_slice(unsafe { bufs.buf(bid, n) });
            // SAFETY: `bid` came from this completion and is recycled once.
            unsafe { bufs.recycle(bid) };
        }
        if !cqe.has_more() {
            assert!(outcome.ended.is_none(), "two final completions for one SQE");
            outcome.ended = Some(cqe.raw_result());
        }
    }
    bufs.publish();
    outcome
}

#[test]
fn ten_thousand_messages_arrive_complete_and_in_order() {
    const MESSAGES: usize = 10_000;
    let (mut tx, rx) = UnixStream::pair().unwrap();
    let mut ring = IoUring::new(64).unwrap();
    let mut bufs = ring.register_buf_ring(16, 1024, 7).unwrap();
    // SAFETY: `bufs` outlives the multishot: each test reaps its final
    // completion (EOF or ENOBUFS) before `bufs` is dropped.
    unsafe { ring.prep_recv_multishot(rx.as_raw_fd(), bufs.bgid(), 0, RECV).unwrap() };
    ring.submit().unwrap();

    // Messages of 1..=300 bytes, each a slice of one long pattern, so the
    // received stream must equal the pattern byte for byte.
    let sizes: Vec<usize> = (0..MESSAGES).map(|i| 1 + (i * 7919) % 300).collect();
    let total: usize = sizes.iter().sum();
    let expected = pattern(total);
    let sent = expected.clone();
    let writer = std::thread::spawn(move || {
        let mut at = 0;
        for n in sizes {
            tx.write_all(&sent[at..at + n]).unwrap();
            at += n;
        }
        // Dropping tx closes the stream: the multishot ends with res 0.
    });

    let mut got = Vec::with_capacity(total);
    let mut rearms = 0;
    loop {
        wait(&mut ring);
        match reap(&mut ring, &mut bufs, &mut got).ended {
            None => {}
            Some(0) => break, // end of stream
            Some(e) if e == -libc::ENOBUFS => {
                // The reader fell behind the 16 buffers; they are recycled
                // now, so arm again.
                rearms += 1;
                // SAFETY: `bufs` outlives the multishot: each test reaps its final
                // completion (EOF or ENOBUFS) before `bufs` is dropped.
                unsafe { ring.prep_recv_multishot(rx.as_raw_fd(), bufs.bgid(), 0, RECV).unwrap() };
            }
            Some(e) => panic!("multishot recv ended with {e}"),
        }
        assert!(got.len() <= total);
    }
    writer.join().unwrap();
    println!("{total} bytes in {MESSAGES} messages, {rearms} re-arms after ENOBUFS");
    assert_eq!(got.len(), total);
    assert!(got == expected, "bytes arrived corrupted or out of order");
}

#[test]
fn dry_ring_ends_with_enobufs_and_rearming_loses_no_byte() {
    let (mut tx, rx) = UnixStream::pair().unwrap();
    let mut ring = IoUring::new(16).unwrap();
    let mut bufs = ring.register_buf_ring(4, 64, 3).unwrap();
    // 1 KiB waiting in the socket: 16 buffers' worth, the ring holds 4.
    let expected = pattern(1024);
    tx.write_all(&expected).unwrap();

    let mut got = Vec::new();
    let mut enobufs = 0;
    let mut armed = false;
    while got.len() < expected.len() {
        if !armed {
            // SAFETY: `bufs` outlives the multishot: each test reaps its final
            // completion (EOF or ENOBUFS) before `bufs` is dropped.
            unsafe { ring.prep_recv_multishot(rx.as_raw_fd(), bufs.bgid(), 0, RECV).unwrap() };
            armed = true;
        }
        // Do not recycle until the multishot ended, so the ring runs dry.
        // The last round may end with the data instead: the socket is then
        // empty and the multishot stays armed, waiting with F_MORE.
        let mut held = Vec::new();
        while armed && got.len() < expected.len() {
            wait(&mut ring);
            if let Some(res) = reap_holding(&mut ring, &bufs, &mut got, &mut held) {
                assert_eq!(res, -libc::ENOBUFS, "the multishot should end as the ring ran dry");
                enobufs += 1;
                armed = false;
            }
        }
        assert_eq!(held.len(), 4, "every buffer of the ring is used each round");
        for bid in held {
            // SAFETY: each id came from one completion this round, once.
            unsafe { bufs.recycle(bid) };
        }
        bufs.publish();
    }
    assert!(enobufs >= 3, "1 KiB through 4 x 64 B needs several re-arms, saw {enobufs}");
    assert!(got == expected, "a byte was lost or reordered across re-arms");

    // Buffers recycled, the stream still works: more data, then EOF.
    tx.write_all(b"tail").unwrap();
    drop(tx);
    if !armed {
        // SAFETY: `bufs` outlives the multishot: each test reaps its final
        // completion (EOF or ENOBUFS) before `bufs` is dropped.
        unsafe { ring.prep_recv_multishot(rx.as_raw_fd(), bufs.bgid(), 0, RECV).unwrap() };
    }
    let mut tail = Vec::new();
    loop {
        wait(&mut ring);
        if let Some(res) = reap(&mut ring, &mut bufs, &mut tail).ended {
            assert_eq!(res, 0, "end of stream");
            break;
        }
    }
    assert_eq!(tail, b"tail");
}

/// Reap without recycling: the buffers stay ours (ids pushed to `held`), so
/// the ring runs dry. Returns the final result once the multishot ended.
fn reap_holding(
    ring: &mut IoUring,
    bufs: &ProvidedBufRing,
    out: &mut Vec<u8>,
    held: &mut Vec<u16>,
) -> Option<i32> {
    let mut ended = None;
    for cqe in ring.completions() {
        if let Some(bid) = cqe.buffer_id() {
            let n = cqe.result().unwrap() as usize;
            // SAFETY: `bid` was handed to us by this completion and is not
            // recycled before we are done reading it.
            out.extend_from_slice(unsafe { bufs.buf(bid, n) });
            held.push(bid);
        }
        if !cqe.has_more() {
            ended = Some(cqe.raw_result());
        }
    }
    ended
}

/// An incremental ring (Linux 6.12): each completion takes only what it
/// received, continuing in the same buffer where the previous one ended,
/// with BUF_MORE set until the kernel has filled the buffer to its end.
#[test]
fn an_incremental_ring_hands_out_pieces_of_one_buffer_in_order() {
    const SIZE: usize = 4096;
    let (mut tx, rx) = UnixStream::pair().unwrap();
    let mut ring = IoUring::new(64).unwrap();
    let mut bufs = match ring.register_buf_ring_incremental(2, SIZE as u32, 9) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            eprintln!("skipped: this kernel has no incremental buffer rings (Linux < 6.12)");
            return;
        }
        other => other.unwrap(),
    };
    assert!(bufs.incremental());
    // SAFETY: `bufs` outlives the multishot: the test reaps its final
    // completion (EOF) before `bufs` is dropped.
    unsafe { ring.prep_recv_multishot(rx.as_raw_fd(), bufs.bgid(), 0, RECV).unwrap() };
    ring.submit().unwrap();

    let data = pattern(100 + 200 + SIZE);
    // (bid, offset, len, buffer_more) of each completion with data.
    let mut pieces = Vec::new();
    let mut filled = [0usize; 2];
    let mut received = Vec::new();
    let mut ended = None;
    for chunk in [&data[..100], &data[100..300], &data[300..]] {
        tx.write_all(chunk).unwrap();
        let want = received.len() + chunk.len();
        while received.len() < want {
            wait(&mut ring);
            let batch: Vec<Completion> = ring.completions().collect();
            for cqe in batch {
                let Some(bid) = cqe.buffer_id() else {
                    ended = Some(cqe.raw_result());
                    continue;
                };
                let n = cqe.result().unwrap() as usize;
                let at = filled[bid as usize];
                // SAFETY: this completion handed out `n` bytes of `bid` from
                // where the previous one of it ended; `bid` is recycled
                // only once the kernel is done with it (below).
                received.extend_from_slice(unsafe { bufs.buf_at(bid, at, n) });
                pieces.push((bid, at, n, cqe.buffer_more()));
                filled[bid as usize] += n;
                if !cqe.buffer_more() {
                    filled[bid as usize] = 0;
                    // SAFETY: the kernel handed the whole buffer over.
                    unsafe { bufs.recycle(bid) };
                }
            }
            bufs.publish();
        }
    }
    assert_eq!(received, data, "pieces arrive complete and in order");
    let (b0, b1) = (pieces[0].0, 1 - pieces[0].0);
    assert_eq!(&pieces[..2], &[(b0, 0, 100, true), (b0, 100, 200, true)], "{pieces:?}");
    // The last write fills the rest of the first buffer, handing it over
    // (no BUF_MORE), and starts the second.
    let last_of_b0 = pieces.iter().rfind(|p| p.0 == b0).unwrap();
    assert_eq!(last_of_b0.1 + last_of_b0.2, SIZE, "{pieces:?}");
    assert!(!last_of_b0.3, "a full buffer is handed over: {pieces:?}");
    assert_eq!(pieces.last().map(|p| (p.0, p.3)), Some((b1, true)), "{pieces:?}");
    drop(tx);
    while ended.is_none() {
        wait(&mut ring);
        for cqe in ring.completions() {
            if !cqe.has_more() {
                ended = Some(cqe.raw_result());
            }
        }
    }
    assert_eq!(ended, Some(0), "end of stream ends the multishot");
}
