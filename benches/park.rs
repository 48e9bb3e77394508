//! How the idle worker should bound its park by the nearest timer: with
//! `IORING_ENTER_EXT_ARG` (a timeout argument to `io_uring_enter`, what
//! corering does) or with a `TIMEOUT` SQE queued before each wait.
//!
//! Run: `cargo bench --bench park` (optionally `-- --samples 11`).
//!
//! Each park waits for a 1 µs timeout to expire on an otherwise idle ring,
//! 20,000 parks a sample, the two ways alternating sample by sample. The
//! table shows the median ns per park (the timer's own 1 µs included).

mod common;

use std::time::{Duration, Instant};

use corering::uring::{IoUring, sys::Timespec};

const PARKS: u32 = 20_000;
const WAIT: Duration = Duration::from_micros(1);

fn ext_arg(ring: &mut IoUring) -> f64 {
    let start = Instant::now();
    for _ in 0..PARKS {
        ring.submit_and_wait_timeout(1, WAIT).unwrap();
        assert_eq!(ring.completions().count(), 0);
    }
    start.elapsed().as_nanos() as f64 / PARKS as f64
}

fn timeout_sqe(ring: &mut IoUring) -> f64 {
    let ts = Timespec::from(WAIT);
    let start = Instant::now();
    for _ in 0..PARKS {
        // SAFETY: `ts` outlives the timeout, whose completion is reaped
        // before the next iteration.
        unsafe { ring.prep_timeout(&ts, 0, 0, 1).unwrap() };
        ring.submit_and_wait(1).unwrap();
        assert_eq!(ring.completions().count(), 1);
    }
    start.elapsed().as_nanos() as f64 / PARKS as f64
}

fn main() {
    let samples = common::samples(11);
    let mut ring = IoUring::new(8).unwrap();
    let (mut e, mut t) = (Vec::new(), Vec::new());
    for i in 0..samples {
        if i % 2 == 0 {
            e.push(ext_arg(&mut ring));
            t.push(timeout_sqe(&mut ring));
        } else {
            t.push(timeout_sqe(&mut ring));
            e.push(ext_arg(&mut ring));
        }
    }
    let (e, t) = (common::median(&mut e), common::median(&mut t));
    println!("idle park bounded by a 1 µs timer, median of {samples} samples");
    println!("{:<24} {:>10}", "mechanism", "ns/park");
    println!("{:<24} {:>10.0}", "EXT_ARG timeout", e);
    println!("{:<24} {:>10.0}", "TIMEOUT SQE", t);
    println!("ratio EXT_ARG / TIMEOUT SQE: {:.3}", e / t);
}
