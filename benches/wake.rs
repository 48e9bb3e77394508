//! How a worker parked in `io_uring_enter` is best woken from another
//! thread: by writing an eventfd it keeps a READ armed on (what corering
//! does), or by a `MSG_RING` from a ring the waking thread owns.
//!
//! Run: `cargo bench --bench wake` (optionally `-- --samples 11`).
//!
//! Two threads, pinned to CPUs 0 and 1, each parked in its own ring, play
//! ping-pong: each wakes the other the same way, 20,000 round trips a
//! sample. The table shows the median µs per round trip (two wakes) for
//! each mechanism, measured alternately in one process.

mod common;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Barrier};
use std::time::Instant;

use corering::uring::IoUring;

const ROUNDS: u32 = 20_000;

fn eventfd() -> OwnedFd {
    // SAFETY: eventfd takes no pointers; the fd is checked and then owned.
    unsafe {
        let fd = libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK);
        assert!(fd >= 0);
        OwnedFd::from_raw_fd(fd)
    }
}

/// Park on `ring` until the armed eventfd read completes, then re-arm.
fn wait_eventfd(ring: &mut IoUring, efd: i32, buf: &mut u64) {
    loop {
        ring.submit_and_wait(1).unwrap();
        if ring.completions().count() > 0 {
            break;
        }
    }
    // SAFETY: `buf` outlives the read: every read is reaped before the
    // thread returns (the last one is completed by the partner's final wake).
    unsafe { ring.prep_read(efd, (buf as *mut u64).cast(), 8, u64::MAX, 1).unwrap() };
}

fn wake_eventfd(efd: i32) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from `one` to an eventfd we own.
    assert_eq!(unsafe { libc::write(efd, (&raw const one).cast(), 8) }, 8);
}

/// One eventfd ping-pong sample; returns µs per round trip.
fn eventfd_sample() -> f64 {
    let (a, b) = (eventfd(), eventfd());
    let (a_raw, b_raw) = (a.as_raw_fd(), b.as_raw_fd());
    let barrier = Arc::new(Barrier::new(2));
    let bar = barrier.clone();
    let partner = std::thread::spawn(move || {
        common::pin_to_cpu(1);
        let mut ring = IoUring::new(8).unwrap();
        let mut buf = 0u64;
        // SAFETY: `buf` outlives the read (see `wait_eventfd`).
        unsafe { ring.prep_read(b_raw, (&raw mut buf).cast(), 8, u64::MAX, 1).unwrap() };
        ring.submit().unwrap();
        bar.wait();
        for _ in 0..ROUNDS {
            wait_eventfd(&mut ring, b_raw, &mut buf);
            wake_eventfd(a_raw);
        }
        // Complete the read armed last, so `buf` outlives it.
        wake_eventfd(b_raw);
        ring.submit_and_wait(1).unwrap();
    });
    common::pin_to_cpu(0);
    let mut ring = IoUring::new(8).unwrap();
    let mut buf = 0u64;
    // SAFETY: `buf` outlives the read (see `wait_eventfd`).
    unsafe { ring.prep_read(a_raw, (&raw mut buf).cast(), 8, u64::MAX, 1).unwrap() };
    ring.submit().unwrap();
    barrier.wait();
    let start = Instant::now();
    for _ in 0..ROUNDS {
        wake_eventfd(b_raw);
        wait_eventfd(&mut ring, a_raw, &mut buf);
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / ROUNDS as f64;
    partner.join().unwrap();
    wake_eventfd(a_raw);
    ring.submit_and_wait(1).unwrap();
    drop((a, b));
    us
}

/// Park on `ring` until a message arrives.
fn wait_msg(ring: &mut IoUring) {
    loop {
        ring.submit_and_wait(1).unwrap();
        // The message (user_data 7) and our own MSG_RING's completion
        // (user_data 9) both land here; wait for the message.
        if ring.completions().filter(|c| c.user_data() == 7).count() > 0 {
            break;
        }
    }
}

fn wake_msg(ring: &mut IoUring, target: i32) {
    // SAFETY: `target` is our partner's ring, which treats user_data 7 as
    // a plain message.
    unsafe { ring.prep_msg_ring(target, 0, 7, 0, 9).unwrap() };
    ring.submit().unwrap();
}

/// One MSG_RING ping-pong sample; returns µs per round trip.
fn msg_ring_sample() -> f64 {
    let (tx, rx) = std::sync::mpsc::channel();
    let barrier = Arc::new(Barrier::new(2));
    let bar = barrier.clone();
    common::pin_to_cpu(0);
    let mut ring = IoUring::new(8).unwrap();
    let my_fd = ring.as_raw_fd();
    let partner = std::thread::spawn(move || {
        common::pin_to_cpu(1);
        let mut ring = IoUring::new(8).unwrap();
        tx.send(ring.as_raw_fd()).unwrap();
        bar.wait();
        for _ in 0..ROUNDS {
            wait_msg(&mut ring);
            wake_msg(&mut ring, my_fd);
        }
        bar.wait(); // keep this ring open until the last message landed
    });
    let partner_fd = rx.recv().unwrap();
    barrier.wait();
    let start = Instant::now();
    for _ in 0..ROUNDS {
        wake_msg(&mut ring, partner_fd);
        wait_msg(&mut ring);
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / ROUNDS as f64;
    barrier.wait();
    partner.join().unwrap();
    us
}

fn main() {
    let samples = common::samples(7);
    let (mut e, mut m) = (Vec::new(), Vec::new());
    for i in 0..samples {
        if i % 2 == 0 {
            e.push(eventfd_sample());
            m.push(msg_ring_sample());
        } else {
            m.push(msg_ring_sample());
            e.push(eventfd_sample());
        }
    }
    let (e, m) = (common::median(&mut e), common::median(&mut m));
    println!("cross-thread wake of a parked ring, ping-pong, median of {samples} samples");
    println!("{:<28} {:>12}", "mechanism", "µs/round trip");
    println!("{:<28} {:>12.2}", "eventfd + armed READ", e);
    println!("{:<28} {:>12.2}", "MSG_RING from own ring", m);
    println!("ratio eventfd / MSG_RING: {:.3}", e / m);
}
