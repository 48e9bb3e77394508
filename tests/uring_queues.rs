//! The SQ and CQ under pressure: a full SQ refuses rather than overwrites,
//! and no completion is lost when the CQ overflows.

use std::collections::HashSet;
use std::time::Duration;

use corering::uring::{IoUring, SqFull};

#[test]
fn full_sq_refuses_then_frees_slots_after_submit() {
    let mut ring = IoUring::builder().entries(8).build().unwrap();
    let n = ring.sq_entries();
    for i in 0..n {
        ring.prep_nop(i as u64).expect("slot free");
    }
    assert_eq!(ring.sq_space_left(), 0);
    assert_eq!(ring.prep_nop(999).unwrap_err(), SqFull);
    assert_eq!(ring.sq_pending(), n, "refusal must not overwrite or add");

    assert_eq!(ring.submit().unwrap(), n);
    assert_eq!(ring.sq_space_left(), n);
    ring.prep_nop(1000).expect("slots come back after submit");
    ring.submit().unwrap();

    let mut seen: Vec<u64> = Vec::new();
    while seen.len() < n as usize + 1 {
        ring.submit_and_wait_timeout(1, Duration::from_secs(5)).unwrap();
        seen.extend(ring.completions().map(|c| c.user_data()));
    }
    seen.sort();
    let want: Vec<u64> = (0..n as u64).chain([1000]).collect();
    assert_eq!(seen, want, "999 was refused, so it must never complete");
}

#[test]
fn no_cqe_lost_when_the_cq_overflows() {
    const TOTAL: u64 = 10_000;
    const BATCH: u64 = 64; // 16x the CQ
    let mut ring = IoUring::builder().entries(4).cq_entries(4).build().unwrap();
    assert_eq!(ring.cq_entries(), 4);
    let mut seen = HashSet::new();
    let mut next = 0;
    let mut overflowed = false;
    while next < TOTAL {
        // Queue a batch much larger than the CQ, submitting whenever the SQ
        // fills, without reaping in between.
        let end = (next + BATCH).min(TOTAL);
        while next < end {
            if ring.prep_nop(next).is_ok() {
                next += 1;
            } else {
                submit_reaping_on_busy(&mut ring, &mut seen);
            }
        }
        submit_reaping_on_busy(&mut ring, &mut seen);
        overflowed |= ring.cq_overflow_pending();
        reap_all(&mut ring, &mut seen);
    }
    // Drain whatever the kernel still holds on its overflow list.
    while seen.len() < TOTAL as usize {
        let before = seen.len();
        ring.submit_and_wait_timeout(1, Duration::from_secs(5)).unwrap();
        reap(&mut ring, &mut seen);
        assert!(seen.len() > before, "stuck at {} of {TOTAL}", seen.len());
    }
    assert!(overflowed, "the test never overflowed the CQ, so it proved nothing");
    assert_eq!(ring.cq_dropped(), 0);
    assert_eq!(seen.len(), TOTAL as usize);
    assert!(seen.iter().all(|&u| u < TOTAL));
}

fn submit_reaping_on_busy(ring: &mut IoUring, seen: &mut HashSet<u64>) {
    loop {
        match ring.submit() {
            Ok(_) => return,
            Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::EAGAIN)) => {
                reap(ring, seen);
            }
            Err(e) => panic!("submit: {e}"),
        }
    }
}

fn reap_all(ring: &mut IoUring, seen: &mut HashSet<u64>) {
    // Reap until both the CQ and the kernel's overflow list are empty.
    loop {
        let got = reap(ring, seen);
        if got == 0 && !ring.cq_overflow_pending() {
            return;
        }
        ring.submit_and_wait(0).unwrap(); // flushes the overflow list
    }
}

fn reap(ring: &mut IoUring, seen: &mut HashSet<u64>) -> usize {
    let mut n = 0;
    for cqe in ring.completions() {
        assert_eq!(cqe.result().unwrap(), 0);
        assert!(seen.insert(cqe.user_data()), "completion {} seen twice", cqe.user_data());
        n += 1;
    }
    n
}

#[test]
fn a_huge_timeout_waits_without_one_instead_of_panicking() {
    let mut ring = IoUring::new(4).unwrap();
    ring.prep_nop(1).unwrap();
    ring.submit_and_wait_timeout(1, Duration::MAX).unwrap();
    assert_eq!(ring.completions().map(|c| c.user_data()).collect::<Vec<_>>(), [1]);
}
