//! Timeouts (relative, absolute, by count, multishot), their removal, and
//! ASYNC_CANCEL by user_data, with the results the kernel defines.
//!
//! Time bounds are generous on the upper side: a timeout must never fire
//! early, and must fire within seconds.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use corering::uring::{Completion, IoUring, sys};

/// Collect exactly `n` completions, failing after 10 s.
fn wait(ring: &mut IoUring, n: usize) -> Vec<Completion> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    while got.len() < n {
        assert!(Instant::now() < deadline, "only {got:?} of {n} completions within 10 s");
        ring.submit_and_wait_timeout(1, Duration::from_millis(500)).unwrap();
        got.extend(ring.completions());
    }
    assert_eq!(got.len(), n, "unexpected extra completions: {got:?}");
    got
}

fn find(cqes: &[Completion], user_data: u64) -> Completion {
    *cqes.iter().find(|c| c.user_data() == user_data).expect("completion present")
}

#[test]
fn relative_timeout_fires_with_etime_not_early() {
    let mut ring = IoUring::new(8).unwrap();
    let ts = sys::Timespec::from(Duration::from_millis(50));
    let start = Instant::now();
    // SAFETY: `ts` lives on this frame until the completion is reaped below.
    unsafe { ring.prep_timeout(&ts, 0, 0, 1).unwrap() };
    let c = wait(&mut ring, 1)[0];
    let elapsed = start.elapsed();
    assert_eq!(c.raw_result(), -libc::ETIME);
    assert!(elapsed >= Duration::from_millis(50), "fired early: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "fired late: {elapsed:?}");
}

#[test]
fn absolute_timeout_fires_at_its_monotonic_deadline() {
    let mut ring = IoUring::new(8).unwrap();
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into `now`, which outlives it.
    assert_eq!(unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) }, 0);
    let at_ns = now.tv_sec as i128 * 1_000_000_000 + now.tv_nsec as i128 + 50_000_000;
    let ts = sys::Timespec {
        tv_sec: (at_ns / 1_000_000_000) as i64,
        tv_nsec: (at_ns % 1_000_000_000) as i64,
    };
    let start = Instant::now();
    // SAFETY: `ts` outlives the completion reaped below.
    unsafe { ring.prep_timeout(&ts, 0, sys::IORING_TIMEOUT_ABS, 2).unwrap() };
    let c = wait(&mut ring, 1)[0];
    assert_eq!(c.raw_result(), -libc::ETIME);
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(45), "fired early: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "fired late: {elapsed:?}");
}

#[test]
fn count_timeout_completes_with_zero_after_enough_completions() {
    let mut ring = IoUring::new(8).unwrap();
    let ts = sys::Timespec::from(Duration::from_secs(30));
    // SAFETY: `ts` outlives the completions reaped below.
    unsafe { ring.prep_timeout(&ts, 1, 0, 1).unwrap() };
    ring.prep_nop(2).unwrap();
    let cqes = wait(&mut ring, 2);
    assert_eq!(find(&cqes, 1).raw_result(), 0, "a count-satisfied timeout completes with 0");
}

#[test]
fn multishot_timeout_fires_repeatedly() {
    let mut ring = IoUring::new(8).unwrap();
    let ts = sys::Timespec::from(Duration::from_millis(10));
    // SAFETY: `ts` outlives every completion of this SQE, all reaped below.
    unsafe { ring.prep_timeout(&ts, 3, sys::IORING_TIMEOUT_MULTISHOT, 1).unwrap() };
    let first = wait(&mut ring, 1)[0];
    if first.raw_result() == -libc::EINVAL {
        println!("skipped: multishot timeouts need Linux 6.4 (kernel answered EINVAL)");
        return;
    }
    let mut shots = vec![first];
    shots.extend(wait(&mut ring, 2));
    assert!(shots.iter().all(|c| c.raw_result() == -libc::ETIME));
    assert!(shots[0].has_more() && shots[1].has_more());
    assert!(!shots[2].has_more(), "the third of three shots is the final one");
}

#[test]
fn timeout_remove_cancels_and_reports_enoent_for_unknown() {
    let mut ring = IoUring::new(8).unwrap();
    let ts = sys::Timespec::from(Duration::from_secs(30));
    // SAFETY: `ts` outlives the timeout's completion, reaped below.
    unsafe { ring.prep_timeout(&ts, 0, 0, 1).unwrap() };
    ring.submit().unwrap();
    ring.prep_timeout_remove(1, 2).unwrap();
    ring.prep_timeout_remove(12345, 3).unwrap();
    let cqes = wait(&mut ring, 3);
    assert_eq!(find(&cqes, 1).raw_result(), -libc::ECANCELED);
    assert_eq!(find(&cqes, 2).raw_result(), 0);
    assert_eq!(find(&cqes, 3).raw_result(), -libc::ENOENT);
}

#[test]
fn async_cancel_by_user_data() {
    let (r, _w) = std::io::pipe().unwrap();
    let mut ring = IoUring::new(8).unwrap();
    let mut buf = [0xAAu8; 16];
    // SAFETY: `buf` outlives the read's final completion, reaped below.
    unsafe { ring.prep_read(r.as_raw_fd(), buf.as_mut_ptr(), 16, u64::MAX, 1).unwrap() };
    ring.submit().unwrap();
    ring.prep_cancel(1, 0, 2).unwrap();
    ring.prep_cancel(777, 0, 3).unwrap();
    let cqes = wait(&mut ring, 3);
    assert_eq!(find(&cqes, 1).raw_result(), -libc::ECANCELED);
    assert_eq!(find(&cqes, 2).raw_result(), 0);
    assert_eq!(find(&cqes, 3).raw_result(), -libc::ENOENT);
    assert_eq!(buf, [0xAA; 16], "a cancelled read wrote nothing");
}
