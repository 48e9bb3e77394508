//! Unix signals through the ring: real signals sent to this process
//! (`raise`, `kill`, `tgkill`), to listeners on one worker and on several,
//! busy or parked in the kernel.
//!
//! A binary of their own: a signal reaches every listener of it in the
//! process, so these tests take `serial()` to keep out of each other's
//! way, and no other test binary's threads are around to be interrupted.
//! Every signal raised here has its handler installed first (`handled`),
//! so none can terminate the test process.

mod common;

use std::io::{Read, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{bounded, open_fds, serial};
use corering::signal::{SIGINT, SIGTERM, SIGUSR1, SIGUSR2, Signal, ctrl_c, signal};
use corering::time::{sleep, timeout};
use corering::{Runtime, spawn_on, worker_id};
use futures_core::Stream;

/// Install corering's handler for every signal these tests send, before
/// any is sent: from then on none of them terminates the process.
fn handled() {
    for s in [SIGINT, SIGTERM, SIGUSR1, SIGUSR2] {
        drop(signal(s).expect("listen"));
    }
}

fn rt(workers: usize) -> Runtime {
    Runtime::builder().workers(workers).build().unwrap()
}

fn raise(signum: i32) {
    // SAFETY: raise takes no pointers; `signum` has our handler.
    assert_eq!(unsafe { libc::raise(signum) }, 0);
}

/// Send `signum` to the process: the kernel picks a thread that does not
/// block it.
fn kill_self(signum: i32) {
    // SAFETY: kill and getpid take no pointers; `signum` has our handler.
    assert_eq!(unsafe { libc::kill(libc::getpid(), signum) }, 0);
}

/// Send `signum` to thread `tid` of this process.
fn tgkill(tid: libc::pid_t, signum: i32) {
    // SAFETY: takes no pointers; `signum` has our handler.
    assert_eq!(unsafe { libc::tgkill(libc::getpid(), tid, signum) }, 0);
}

fn gettid() -> libc::pid_t {
    // SAFETY: gettid takes no arguments.
    unsafe { libc::gettid() }
}

/// Wait until thread `tid` has been asleep (state S) for several checks in
/// a row: blocked in a system call, e.g. parked in `io_uring_enter`.
fn wait_until_asleep(tid: libc::pid_t) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut in_a_row = 0;
    while in_a_row < 5 {
        assert!(Instant::now() < deadline, "thread {tid} never went to sleep");
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
        // The state follows the command name, which is in parentheses.
        let state = stat.rsplit(')').next().unwrap().trim_start().chars().next();
        in_a_row = if state == Some('S') { in_a_row + 1 } else { 0 };
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `f`'s output, which must come within a second: through the ring, not
/// only when a timer happens to wake the worker (a timeout polls its
/// future once more when it expires, which would hide a lost wake-up).
async fn prompt<F: std::future::Future>(f: F) -> F::Output {
    let start = Instant::now();
    let out = timeout(Duration::from_secs(5), f).await.expect("a signal within 5 s");
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "took {took:?}: the wake-up did not come through the ring"
    );
    out
}

/// The next arrival through the `Stream` impl.
async fn next(s: &mut Signal) -> Option<()> {
    std::future::poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)).await
}

#[test]
fn refuses_signals_that_cannot_or_must_not_be_caught() {
    let _serial = serial();
    let cases = [
        (libc::SIGKILL, "cannot be caught"),
        (libc::SIGSTOP, "cannot be caught"),
        (libc::SIGSEGV, "synchronous fault"),
        (libc::SIGBUS, "synchronous fault"),
        (libc::SIGILL, "synchronous fault"),
        (libc::SIGFPE, "synchronous fault"),
        (0, "not a signal number"),
        (-1, "not a signal number"),
        (libc::SIGRTMAX() + 1, "not a signal number"),
        (32, "reserved by the C library"),
    ];
    for (signum, why) in cases {
        let e = signal(signum).expect_err("refused");
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{signum}: {e}");
        assert!(e.to_string().contains(why), "{signum}: {e}");
    }
    let e = signal(libc::SIGKILL).unwrap_err().to_string();
    assert!(e.contains("SIGKILL"), "the error names the signal: {e}");
    // The first real-time signal the program may use is accepted.
    assert_eq!(signal(libc::SIGRTMIN()).unwrap().signum(), libc::SIGRTMIN());
}

#[test]
fn ctrl_c_resolves_on_a_sigint_received_after_it_was_created() {
    let _serial = serial();
    handled();
    bounded(Duration::from_secs(30), || {
        rt(1).block_on(async {
            let first = ctrl_c();
            // Sent before the first poll: the listener is registered at
            // creation, so it still counts.
            raise(SIGINT);
            prompt(first).await.unwrap();
            // A listener created afterwards waits for the next one.
            let later = ctrl_c();
            assert!(timeout(Duration::from_millis(100), later).await.is_err());
        });
    });
}

#[test]
fn a_stream_yields_once_per_arrival_and_merges_arrivals_between_polls() {
    let _serial = serial();
    handled();
    bounded(Duration::from_secs(30), || {
        rt(1).block_on(async {
            let mut term = signal(SIGTERM).unwrap();
            let quiet = Duration::from_millis(100);
            assert!(timeout(quiet, next(&mut term)).await.is_err(), "nothing before a signal");
            raise(SIGTERM);
            assert_eq!(prompt(next(&mut term)).await, Some(()));
            assert!(timeout(quiet, term.recv()).await.is_err(), "one arrival, one item");
            for _ in 0..3 {
                raise(SIGTERM);
            }
            assert_eq!(prompt(term.recv()).await, Some(()));
            assert!(timeout(quiet, term.recv()).await.is_err(), "three arrivals merged into one");
            raise(SIGTERM);
            assert_eq!(prompt(term.recv()).await, Some(()));
        });
    });
}

#[test]
fn several_listeners_on_one_worker_each_get_the_signal() {
    let _serial = serial();
    handled();
    bounded(Duration::from_secs(30), || {
        rt(1).block_on(async {
            let mut all: Vec<Signal> = (0..3).map(|_| signal(SIGUSR2).unwrap()).collect();
            let mut other = signal(SIGUSR1).unwrap();
            raise(SIGUSR2);
            for s in &mut all {
                assert_eq!(prompt(s.recv()).await, Some(()));
            }
            let quiet = Duration::from_millis(100);
            assert!(timeout(quiet, other.recv()).await.is_err(), "another signal's listener");
        });
    });
}

#[test]
fn two_listeners_on_two_workers_each_get_every_signal() {
    let _serial = serial();
    handled();
    bounded(Duration::from_secs(30), || {
        let rt = rt(2);
        rt.block_on(async {
            // Each listener bumps `stage` once registered and once per
            // arrival; signal k is sent once both have seen k - 1.
            let stage = Arc::new(AtomicUsize::new(0));
            let handles: Vec<_> = (0..2)
                .map(|w| {
                    let stage = stage.clone();
                    spawn_on(w, move || async move {
                        let mut usr1 = signal(SIGUSR1).unwrap();
                        stage.fetch_add(1, Ordering::SeqCst);
                        for _ in 0..2 {
                            assert_eq!(
                                prompt(usr1.recv()).await,
                                Some(()),
                                "worker {}",
                                worker_id()
                            );
                            stage.fetch_add(1, Ordering::SeqCst);
                        }
                        worker_id()
                    })
                })
                .collect();
            for round in 1..=2 {
                while stage.load(Ordering::SeqCst) < 2 * round {
                    sleep(Duration::from_millis(1)).await;
                }
                kill_self(SIGUSR1);
            }
            let mut ids = Vec::new();
            for h in handles {
                ids.push(h.await.unwrap());
            }
            assert_eq!(ids, [0, 1]);
            assert_eq!(stage.load(Ordering::SeqCst), 6, "two arrivals at each listener");
        });
    });
}

/// A one-worker runtime parked in the kernel on a signal's doorbell read,
/// woken by `send(worker's tid)` from a helper thread.
fn parked_listener_wakes(send: impl FnOnce(libc::pid_t) + Send + 'static) {
    bounded(Duration::from_secs(10), move || {
        let rt = rt(1);
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let helper = std::thread::spawn(move || {
            let tid = tid_rx.recv().unwrap();
            wait_until_asleep(tid);
            send(tid);
        });
        let parks_before = rt.metrics().parks;
        let got = rt.block_on(async move {
            let mut usr2 = signal(SIGUSR2).unwrap();
            tid_tx.send(gettid()).unwrap();
            // No timer: the worker parks with nothing but the ring to
            // wake it.
            usr2.recv().await
        });
        helper.join().unwrap();
        assert_eq!(got, Some(()));
        assert!(rt.metrics().parks > parks_before, "the worker was parked");
    });
}

#[test]
fn a_parked_listener_wakes_for_a_signal_handled_on_its_own_thread() {
    let _serial = serial();
    handled();
    // The handler interrupts io_uring_enter on the worker's thread itself.
    parked_listener_wakes(|worker| tgkill(worker, SIGUSR2));
}

#[test]
fn a_parked_listener_wakes_for_a_signal_handled_on_another_thread() {
    let _serial = serial();
    handled();
    // The handler runs on the helper thread; the worker learns of it
    // through its ring alone.
    parked_listener_wakes(|_| raise(SIGUSR2));
}

#[test]
fn a_blocking_read_on_a_thread_the_runtime_does_not_own_is_restarted() {
    let _serial = serial();
    handled();
    let (mut a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        tid_tx.send(gettid()).unwrap();
        let mut buf = [0u8; 4];
        a.read(&mut buf).map(|n| buf[..n].to_vec())
    });
    let tid = tid_rx.recv().unwrap();
    wait_until_asleep(tid);
    tgkill(tid, SIGUSR1);
    std::thread::sleep(Duration::from_millis(50));
    b.write_all(b"ok").unwrap();
    // SA_RESTART: the read resumed after the handler instead of failing
    // with EINTR.
    assert_eq!(reader.join().unwrap().unwrap(), b"ok");
}

/// The eventfds this process has open.
fn eventfds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.as_os_str() == "anon_inode:[eventfd]")
        .count()
}

/// Listen, wait until the doorbell read is in flight, then drop: the read
/// is cancelled.
async fn arm_and_drop(signum: i32) {
    let mut s = signal(signum).unwrap();
    assert!(timeout(Duration::from_micros(100), s.recv()).await.is_err());
}

#[test]
fn doorbells_are_never_closed_only_handed_to_the_next_listener() {
    let _serial = serial();
    handled();
    bounded(Duration::from_secs(60), || {
        rt(1).block_on(async {
            let mut held = Vec::new();
            for _ in 0..3 {
                let mut s = signal(SIGUSR1).unwrap();
                assert!(timeout(Duration::from_micros(100), s.recv()).await.is_err());
                held.push(s);
            }
            let open = eventfds();
            drop(held);
            sleep(Duration::from_millis(10)).await; // the cancels complete
            // Closed, a doorbell's number could be reused by a socket
            // while the handler is about to write to it.
            assert_eq!(eventfds(), open, "dropped listeners' eventfds stay open");
            for _ in 0..200 {
                arm_and_drop(SIGUSR1).await;
            }
            sleep(Duration::from_millis(10)).await;
            let grown = eventfds() - open;
            assert!(grown <= 2, "{grown} more eventfds after 200 listeners came and went");
            // And a listener still gets its signal from a reused doorbell.
            let mut s = signal(SIGUSR1).unwrap();
            assert_eq!(eventfds() - open, grown, "taken from the pool");
            raise(SIGUSR1);
            assert_eq!(prompt(s.recv()).await, Some(()));
        });
    });
}

#[test]
fn a_runtime_shuts_down_with_a_listener_armed_and_the_handler_stays() {
    let _serial = serial();
    handled();
    bounded(Duration::from_secs(60), || {
        // A runtime dropped with a listener armed on another worker shuts
        // down (its read cancelled, its doorbell back in the pool).
        let rt2 = rt(2);
        let started = Arc::new(AtomicUsize::new(0));
        let s2 = started.clone();
        rt2.block_on(async move {
            drop(spawn_on(1, move || async move {
                let mut s = signal(SIGUSR1).unwrap();
                s2.fetch_add(1, Ordering::SeqCst);
                s.recv().await
            }));
            while started.load(Ordering::SeqCst) == 0 {
                sleep(Duration::from_millis(1)).await;
            }
            sleep(Duration::from_millis(10)).await;
        });
        let fds = open_fds();
        drop(rt2);
        assert!(open_fds() < fds, "the runtime's own fds are closed");
        // With no listener left the handler stays: the signal is counted,
        // and does not terminate the process.
        raise(SIGUSR1);
        rt(2).block_on(async {
            let mut s = signal(SIGUSR1).unwrap();
            kill_self(SIGUSR1);
            assert_eq!(prompt(s.recv()).await, Some(()));
        });
    });
}
