//! Claims the ring's unsafe code relies on, checked against the real
//! kernel: a leaked completion batch neither loses nor repeats a
//! completion, and safe SQEs cannot be made to take a provided buffer.

mod common;

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
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

/// prep.rs: "`IOSQE_BUFFER_SELECT` is refused (`EOPNOTSUPP`) by every safe
/// `prep_*` method's opcode", so `Prepped::flags` cannot make a safe SQE
/// take (and write) a provided buffer.
#[test]
fn safe_preps_refuse_buffer_select() {
    bounded(Duration::from_secs(20), || {
        let (a, _b) = UnixStream::pair().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let file = std::fs::File::open("/proc/self/exe").unwrap();
        let mut ring = IoUring::new(32).unwrap();
        let _bufs = ring.register_buf_ring(4, 64, 0).unwrap();
        let sel = sys::IOSQE_BUFFER_SELECT;
        let (fd, lfd, ffd) = (a.as_raw_fd(), listener.as_raw_fd(), file.as_raw_fd());
        let _ = ring.prep_nop(1).unwrap().flags(sel);
        let _ = ring.prep_accept_multishot(lfd, 0, 2).unwrap().flags(sel);
        let _ = ring.prep_shutdown(fd, libc::SHUT_RD, 3).unwrap().flags(sel);
        let _ = ring.prep_timeout_remove(99, 4).unwrap().flags(sel);
        let _ = ring.prep_cancel(99, 0, 5).unwrap().flags(sel);
        let _ = ring.prep_cancel_fd(fd, 0, 6).unwrap().flags(sel);
        let _ = ring.prep_poll_add(fd, libc::POLLIN as u32, 7).unwrap().flags(sel);
        let _ = ring.prep_poll_multishot(fd, libc::POLLIN as u32, 8).unwrap().flags(sel);
        let _ = ring.prep_poll_remove(99, 9).unwrap().flags(sel);
        let _ = ring.prep_fsync(ffd, 0, 10).unwrap().flags(sel);
        let mut got = Vec::new();
        while got.len() < 10 {
            ring.submit_and_wait_timeout(1, Duration::from_secs(5)).unwrap();
            let batch: Vec<Completion> = ring.completions().collect();
            assert!(!batch.is_empty(), "missing completions; got {got:?}");
            got.extend(batch);
        }
        for c in &got {
            assert_eq!(c.raw_result(), -libc::EOPNOTSUPP, "{c:?}");
            assert_eq!(c.buffer_id(), None, "{c:?}");
        }
    });
}
