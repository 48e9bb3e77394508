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
