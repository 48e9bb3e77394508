//! Claims the ring's unsafe code relies on, checked against the real
//! kernel: a leaked completion batch neither loses nor repeats a
//! completion, and safe code cannot make an SQE take a provided buffer.

mod common;

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use common::bounded;
use corering::uring::{Completion, IoUring, sys};

fn wait_one(ring: &mut IoUring) {
    ring.submit_and_wait_timeout(1, Duration::from_secs(5)).unwrap();
}

/// A batch that is leaked (`mem::forget` is safe) must not rewind the CQ:
/// the next batch yields only new completions, never one a second time.
#[test]
fn a_leaked_completions_batch_does_not_yield_its_cqes_again() {
    bounded(Duration::from_secs(20), || {
        let mut ring = IoUring::new(8).unwrap();
        ring.prep_nop(11).unwrap();
        wait_one(&mut ring);
        let mut batch = ring.completions();
        let first = batch.next().expect("the nop's completion");
        assert_eq!(first.user_data(), 11);
        std::mem::forget(batch);

        ring.prep_nop(22).unwrap();
        wait_one(&mut ring);
        let again: Vec<Completion> = ring.completions().collect();
        let uds: Vec<u64> = again.iter().map(|c| c.user_data()).collect();
        assert_eq!(uds, [22], "the nop tagged 11 completed once but was yielded twice: {again:?}");
    });
}

/// Why it matters for provided buffers: a caller recycles each buffer id
/// once per completion it is given (what `ProvidedBufRing::recycle`'s
/// contract asks). Were a completion repeated after a leaked batch, it
/// would recycle a buffer twice; the kernel would hand that buffer out
/// twice and overwrite bytes under a live `ProvidedBufRing::buf` slice.
#[test]
fn a_leaked_batch_does_not_make_the_kernel_write_under_a_held_buffer() {
    bounded(Duration::from_secs(20), || {
        let (mut tx, rx) = UnixStream::pair().unwrap();
        let mut ring = IoUring::new(8).unwrap();
        let mut bufs = ring.register_buf_ring(2, 16, 3).unwrap();
        // SAFETY: `bufs` outlives the multishot: the test closes `tx` and
        // reaps the final completion before `bufs` drops.
        unsafe { ring.prep_recv_multishot(rx.as_raw_fd(), bufs.bgid(), 0, 1).unwrap() };
        ring.submit().unwrap();

        // One message; its batch is leaked after the buffer was handled.
        tx.write_all(b"AAAA").unwrap();
        wait_one(&mut ring);
        let mut batch = ring.completions();
        let c = batch.next().expect("a recv completion");
        let bid = c.buffer_id().expect("names a buffer");
        // SAFETY: this completion handed `bid` to us; recycled once for it.
        unsafe {
            assert_eq!(bufs.buf(bid, 4), b"AAAA");
            bufs.recycle(bid);
        }
        std::mem::forget(batch);

        // Later batches: the caller handles every completion it is given,
        // and keeps (does not recycle) the buffers of new messages.
        let mut held: Vec<(u16, *const u8, [u8; 4])> = Vec::new();
        let mut ended = false;
        for msg in [b"BBBB", b"CCCC", b"DDDD"] {
            tx.write_all(msg).unwrap();
            wait_one(&mut ring);
            for c in ring.completions() {
                let Some(bid) = c.buffer_id() else {
                    ended |= !c.has_more(); // out of buffers: the multishot ends
                    continue;
                };
                let n = c.result().unwrap() as usize;
                // SAFETY: as far as the caller can tell, this completion
                // handed `bid` to it and it has not recycled it since.
                let data = unsafe { bufs.buf(bid, n) };
                if data == b"AAAA" {
                    // Already consumed: give it back (once per completion).
                    // SAFETY: as above.
                    unsafe { bufs.recycle(bid) };
                } else {
                    held.push((bid, data.as_ptr(), data.try_into().unwrap()));
                }
            }
            bufs.publish();
            for &(bid, ptr, was) in &held {
                // SAFETY: `bid` is held: never recycled since it was handed out.
                let now = unsafe { std::slice::from_raw_parts(ptr, 4) };
                assert_eq!(
                    now,
                    was,
                    "the kernel wrote into held buffer {bid} after {:?}",
                    std::str::from_utf8(msg)
                );
            }
        }
        drop(tx);
        // Reap to the final completion before `bufs` drops.
        for _ in 0..50 {
            if ended || ring.completions().any(|c| !c.has_more()) {
                break;
            }
            let _ = ring.submit_and_wait_timeout(1, Duration::from_millis(100));
        }
    });
}

/// The hole this closes: `prep_recv`'s contract covers the caller's buffer
/// only. Were the safe `Prepped::flags` to add `IOSQE_BUFFER_SELECT`, the
/// kernel would write into a buffer of group 0 instead, memory whose
/// `ProvidedBufRing` safe code may drop while the receive is in flight.
/// `flags` panics instead, and the SQE stays as `prep_recv` wrote it.
#[test]
fn safe_flags_cannot_make_a_recv_take_a_provided_buffer() {
    bounded(Duration::from_secs(20), || {
        let (mut tx, rx) = UnixStream::pair().unwrap();
        let mut buf = [0u8; 16];
        let mut ring = IoUring::new(8).unwrap();
        let group0 = ring.register_buf_ring(2, 16, 0).unwrap();
        // SAFETY: `buf` outlives the receive's completion, reaped below.
        let prepped = unsafe { ring.prep_recv(rx.as_raw_fd(), buf.as_mut_ptr(), 16, 0, 1) };
        let prepped = prepped.unwrap();
        let flagged = catch_unwind(AssertUnwindSafe(|| {
            let _ = prepped.flags(sys::IOSQE_BUFFER_SELECT);
        }));

        tx.write_all(b"mine").unwrap();
        wait_one(&mut ring);
        let c = ring.completions().next().expect("the receive's completion");
        assert_eq!(
            c.buffer_id(),
            None,
            "the kernel wrote into buffer {:?} of group 0, not the caller's buffer",
            c.buffer_id()
        );
        assert_eq!((c.result().unwrap(), &buf[..4]), (4, &b"mine"[..]));
        assert!(flagged.is_err(), "flags(IOSQE_BUFFER_SELECT) was accepted");
        drop(group0);
    });
}

/// The same for every flag that changes what the kernel touches
/// (`IOSQE_FIXED_FILE` makes the fd an index into the registered files;
/// unknown bits may mean anything on a later kernel), while the flags that
/// only order or route a request pass.
#[test]
fn safe_flags_take_only_the_ordering_flags() {
    let mut ring = IoUring::new(8).unwrap();
    let benign = [
        sys::IOSQE_IO_DRAIN,
        sys::IOSQE_IO_LINK,
        sys::IOSQE_IO_HARDLINK,
        sys::IOSQE_ASYNC,
        sys::IOSQE_CQE_SKIP_SUCCESS,
    ];
    for flag in benign {
        let p = ring.prep_nop(1).unwrap().flags(flag);
        assert_eq!(p.sqe().flags(), flag);
    }
    for flag in [sys::IOSQE_BUFFER_SELECT, sys::IOSQE_FIXED_FILE, 1 << 7] {
        let prepped = ring.prep_nop(2).unwrap();
        let res = catch_unwind(AssertUnwindSafe(|| {
            let _ = prepped.flags(sys::IOSQE_ASYNC | flag);
        }));
        assert!(res.is_err(), "flags({flag:#x}) was accepted");
    }
    let queued = ring.sq_pending();
    assert_eq!(queued, 8, "every SQE stays queued, refused flags or not");
}
