//! The runtime's invariants, tested against the real kernel through the
//! internal `Op` API (the public I/O types build on it).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Duration;

use super::Runtime;
use super::driver::Orphan;
use super::op::{Op, OpData};
use crate::uring::{IoUring, SqFull};

/// A read into an owned, heap-allocated buffer.
struct Read {
    fd: i32,
    buf: Vec<u8>,
}

impl Orphan for Read {}

// SAFETY: the SQE points into `buf`'s heap allocation, which moves with
// `self` without changing address; the fd is kept open by the test.
unsafe impl OpData for Read {
    fn prep(&mut self, ring: &mut IoUring, user_data: u64) -> Result<(), SqFull> {
        let len = self.buf.capacity() as u32;
        // SAFETY: `buf` lives in `self` until the final completion (OpData).
        unsafe { ring.prep_read(self.fd, self.buf.as_mut_ptr(), len, u64::MAX, user_data) }
            .map(|_| ())
    }
}

fn rt() -> Runtime {
    Runtime::builder().pin(false).build().unwrap()
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let (r, w) = std::io::pipe().unwrap();
    (r.into(), w.into())
}

#[test]
fn op_reads_and_returns_its_buffer() {
    let rt = rt();
    let (r, w) = pipe();
    let n = rt.block_on(async {
        let read = Op::new(Read { fd: r.as_raw_fd(), buf: Vec::with_capacity(16) });
        // SAFETY: writes 3 bytes from a live array to our own pipe.
        assert_eq!(unsafe { libc::write(w.as_raw_fd(), b"abc".as_ptr().cast(), 3) }, 3);
        let (cqe, mut data) = read.await;
        let n = cqe.result().unwrap() as usize;
        // SAFETY: the kernel initialised `n` bytes of the buffer.
        unsafe { data.buf.set_len(n) };
        assert_eq!(data.buf, b"abc");
        n
    });
    assert_eq!(n, 3);
    assert_eq!(rt.metrics().live_op_keys, 0);
}

/// The kernel never writes into freed memory: reads dropped in flight keep
/// their buffers until their final completion, so fresh allocations made
/// afterwards (canaries) are never written by the kernel.
#[test]
fn canary_dropped_reads_never_write_into_reused_memory() {
    const N: usize = 1000;
    const LEN: usize = 64;
    let rt = Runtime::builder().pin(false).ring_entries(256).build().unwrap();
    let pipes: Vec<(OwnedFd, OwnedFd)> = (0..N).map(|_| pipe()).collect();
    rt.block_on(async {
        let mut reads = Vec::new();
        for (r, _) in &pipes {
            let mut op =
                Box::pin(Op::new(Read { fd: r.as_raw_fd(), buf: Vec::with_capacity(LEN) }));
            // Poll once so the SQE is queued, then yield so it is submitted.
            assert!(futures_poll_once(op.as_mut()).is_none());
            reads.push(op);
        }
        crate::yield_now().await;
        drop(reads);
        // Fresh buffers of the same size, likely in the freed places.
        let canaries: Vec<Vec<u8>> = (0..N).map(|_| vec![0xC5u8; LEN]).collect();
        for (_, w) in &pipes {
            // SAFETY: writes LEN bytes from a live array to our own pipe.
            let n = unsafe { libc::write(w.as_raw_fd(), [0xEEu8; LEN].as_ptr().cast(), LEN) };
            assert_eq!(n, LEN as isize);
        }
        // Let every cancellation and completion settle.
        crate::time::sleep(Duration::from_millis(50)).await;
        for c in &canaries {
            assert!(c.iter().all(|&b| b == 0xC5), "the kernel wrote into a canary");
        }
    });
    assert_eq!(rt.metrics().ops_in_flight, 0, "every dropped read reached its final CQE");
    assert_eq!(rt.metrics().live_op_keys, 0, "every slab key came back");
}

/// 100,000 operations dropped mid-flight by `timeout`: every key returns,
/// and the worker's tables stop growing once warm (they, not the process's
/// RSS, are measured: other tests run in parallel in this process).
#[test]
fn cancellation_storm_returns_every_key() {
    let rt = Runtime::builder().pin(false).ring_entries(1024).build().unwrap();
    let (r, _w) = pipe();
    let fd = r.as_raw_fd();
    let worker = rt.worker.clone();
    let mut warm = [0; 3];
    rt.block_on(async {
        for round in 0..100 {
            let mut tasks = Vec::new();
            for _ in 0..1000 {
                tasks.push(crate::spawn(async move {
                    let read = Op::new(Read { fd, buf: Vec::with_capacity(32) });
                    let r = crate::time::timeout(Duration::from_micros(50), read).await;
                    assert!(r.is_err(), "nothing is ever written to the pipe");
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            if round == 10 {
                // Allow the tables to grow to their working size.
                warm = worker.footprint();
            }
        }
        // Let the last cancellations complete.
        crate::time::sleep(Duration::from_millis(20)).await;
    });
    let m = rt.metrics();
    assert_eq!(m.ops_in_flight, 0);
    assert_eq!(m.live_op_keys, 0);
    assert_eq!(m.timers_pending, 0);
    let end = rt.worker.footprint();
    println!("table capacities (ops, tasks, timers): warm {warm:?}, end {end:?}");
    for (w, e) in warm.iter().zip(end) {
        assert!(e <= 2 * w + 64, "a table kept growing after warm-up: {warm:?} -> {end:?}");
    }
}

/// Poll a future once with a no-op waker; `Some` if it completed.
fn futures_poll_once<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> Option<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

/// Dropping the runtime with operations in flight cancels and drains them
/// before the ring closes; nothing is leaked.
#[test]
fn shutdown_drains_in_flight_ops() {
    let (r, _w) = pipe();
    let fd = r.as_raw_fd();
    let rt = rt();
    rt.block_on(async {
        for _ in 0..100 {
            std::mem::drop(crate::spawn(async move {
                let _ = Op::new(Read { fd, buf: Vec::with_capacity(8) }).await;
            }));
        }
        crate::yield_now().await;
        crate::yield_now().await;
    });
    assert_eq!(rt.metrics().ops_in_flight, 100);
    let fds_before = std::fs::read_dir("/proc/self/fd").unwrap().count();
    drop(rt);
    let fds_after = std::fs::read_dir("/proc/self/fd").unwrap().count();
    assert!(fds_after < fds_before, "the ring and eventfd closed: {fds_before} -> {fds_after}");
}

/// A multishot poll: several completions on one key, then dropped in flight.
struct PollMulti {
    fd: OwnedFd,
}

impl Orphan for PollMulti {}

// SAFETY: the SQE points at no memory; the fd is kept open by `self`.
unsafe impl OpData for PollMulti {
    const MULTISHOT: bool = true;

    fn prep(&mut self, ring: &mut IoUring, user_data: u64) -> Result<(), SqFull> {
        ring.prep_poll_multishot(self.fd.as_fd(), libc::POLLIN as u32, user_data).map(|_| ())
    }
}

#[test]
fn multishot_op_delivers_many_completions_then_frees_its_key_when_dropped() {
    use super::op::MultiOp;
    let rt = rt();
    let (r, w) = pipe();
    rt.block_on(async {
        let mut poll = MultiOp::new(PollMulti { fd: r.try_clone().unwrap() });
        for round in 0..3 {
            // SAFETY: writes 1 byte from a live array to our own pipe.
            assert_eq!(unsafe { libc::write(w.as_raw_fd(), b"x".as_ptr().cast(), 1) }, 1);
            let cqe = std::future::poll_fn(|cx| poll.poll_next(cx)).await.unwrap().cqe;
            assert!(cqe.has_more(), "round {round}: {cqe:?}");
            assert_eq!(cqe.result().unwrap() & libc::POLLIN as u32, libc::POLLIN as u32);
            let mut b = [0u8; 1];
            // SAFETY: reads 1 byte into a live array from our own pipe.
            assert_eq!(unsafe { libc::read(r.as_raw_fd(), b.as_mut_ptr().cast(), 1) }, 1);
        }
        assert!(!poll.is_done());
        assert_eq!(crate::metrics().unwrap().live_op_keys, 1, "one key for all shots");
        drop(poll);
        crate::time::sleep(Duration::from_millis(10)).await;
    });
    assert_eq!(rt.metrics().ops_in_flight, 0);
    assert_eq!(rt.metrics().live_op_keys, 0);
}

/// A read through a `SharedFd`, as the I/O types will do it.
struct SharedRead {
    fd: super::fd::SharedFd,
    buf: Vec<u8>,
}

impl Orphan for SharedRead {}

// SAFETY: the SQE points into `buf`'s heap allocation; the fd is kept open
// by the `SharedFd` clone `self` holds.
unsafe impl OpData for SharedRead {
    fn prep(&mut self, ring: &mut IoUring, user_data: u64) -> Result<(), SqFull> {
        let len = self.buf.capacity() as u32;
        // SAFETY: `buf` lives in `self` until the final completion (OpData).
        unsafe { ring.prep_read(self.fd.raw(), self.buf.as_mut_ptr(), len, u64::MAX, user_data) }
            .map(|_| ())
    }
}

fn fd_is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD only queries the descriptor table.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// Move `fd` to a high, otherwise unused number, so that no other test can
/// reuse its number between our close and our check.
fn high_fd(fd: OwnedFd, at: i32) -> OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: F_DUPFD_CLOEXEC returns a new fd >= `at` that we then own.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, at) };
    assert!(new >= at);
    // SAFETY: `new` was just created and is owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(new) }
}

#[test]
fn a_shared_fd_closes_only_after_its_last_op_completes() {
    let rt = rt();
    let (r, w) = pipe();
    let r = high_fd(r, 1500);
    let raw = r.as_raw_fd();
    rt.block_on(async {
        let fd = super::fd::SharedFd::new(r);
        let read = crate::spawn(Op::new(SharedRead { fd: fd.clone(), buf: Vec::with_capacity(4) }));
        crate::yield_now().await;
        drop(fd); // the handle goes; the read in flight still holds the fd
        crate::yield_now().await;
        assert!(fd_is_open(raw), "closed while a read was in flight");
        // SAFETY: writes 2 bytes from a live array to our own pipe.
        assert_eq!(unsafe { libc::write(w.as_raw_fd(), b"hi".as_ptr().cast(), 2) }, 2);
        let (cqe, data) = read.await.unwrap();
        assert_eq!(cqe.result().unwrap(), 2);
        drop(data); // the last clone: the close goes through the ring
        crate::yield_now().await;
        crate::yield_now().await;
        assert!(!fd_is_open(raw), "the fd was not closed after its last op");
    });
}

/// An accept whose future is dropped: the fd the kernel created for it is
/// closed, not leaked.
struct Accept {
    fd: i32,
}

impl Orphan for Accept {
    fn completed(&mut self, cqe: &crate::uring::Completion) {
        if let Ok(fd) = cqe.result() {
            // SAFETY: the kernel created this fd for our dropped accept;
            // nobody else knows it.
            unsafe { libc::close(fd as i32) };
        }
    }
}

// SAFETY: the SQE points at no memory; the listener is kept open by the test.
unsafe impl OpData for Accept {
    fn prep(&mut self, ring: &mut IoUring, user_data: u64) -> Result<(), SqFull> {
        // SAFETY: null address pointers: the kernel writes no sockaddr.
        unsafe {
            ring.prep_accept(
                self.fd,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC,
                user_data,
            )
        }
        .map(|_| ())
    }
}

#[test]
fn an_fd_arriving_for_a_dropped_accept_is_closed() {
    use std::io::Read as _;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // The connection waits in the backlog, so the accept completes at once,
    // in the same submission as its cancel, which then finds nothing.
    let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let rt = rt();
    rt.block_on(async {
        let mut accept = Box::pin(Op::new(Accept { fd: listener.as_raw_fd() }));
        assert!(futures_poll_once(accept.as_mut()).is_none());
        drop(accept);
        crate::time::sleep(Duration::from_millis(20)).await;
    });
    assert_eq!(rt.metrics().live_op_keys, 0);
    let mut b = [0u8; 1];
    match client.read(&mut b) {
        Ok(0) => {} // the server side was closed
        other => panic!("the accepted fd leaked (client read: {other:?})"),
    }
}

/// A park with the SQ full still arms the wake-up read, so a wake from
/// another thread ends it.
#[test]
fn a_full_sq_does_not_cost_the_park_its_wake_up_read() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let pipes: Vec<(OwnedFd, OwnedFd)> = (0..4).map(|_| pipe()).collect();
    let slot: Arc<Mutex<Option<std::task::Waker>>> = Arc::default();
    let flag = Arc::new(AtomicBool::new(false));
    let waker_thread = {
        let (slot, flag) = (slot.clone(), flag.clone());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            flag.store(true, Ordering::SeqCst);
            let w = slot.lock().unwrap().take();
            w.expect("the task stored its waker").wake();
        })
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let runner = std::thread::spawn(move || {
        let rt = Runtime::builder().pin(false).ring_entries(4).build().unwrap();
        rt.block_on(async {
            // Four reads queued and not submitted: the SQ is full.
            let mut reads: Vec<_> = pipes
                .iter()
                .map(|(r, _)| {
                    Box::pin(Op::new(Read { fd: r.as_raw_fd(), buf: Vec::with_capacity(8) }))
                })
                .collect();
            for r in &mut reads {
                assert!(futures_poll_once(r.as_mut()).is_none());
            }
            std::future::poll_fn(|cx| {
                if flag.load(Ordering::SeqCst) {
                    return std::task::Poll::Ready(());
                }
                *slot.lock().unwrap() = Some(cx.waker().clone());
                std::task::Poll::Pending
            })
            .await;
            drop(reads);
        });
        drop(pipes);
        tx.send(()).unwrap();
    });
    waker_thread.join().unwrap();
    rx.recv_timeout(Duration::from_secs(5)).expect("the parked worker missed the wake");
    runner.join().unwrap();
}

/// Many operations cancelled while the SQ keeps filling: each submit frees
/// keys (orphans' final completions) while an op is being queued. Its key
/// must be the one its SQE carries.
#[test]
fn keys_stay_right_when_a_full_sq_frees_slots_mid_submit() {
    let rt = Runtime::builder().pin(false).ring_entries(4).build().unwrap();
    let (r, _w) = pipe();
    let fd = r.as_raw_fd();
    rt.block_on(async {
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                crate::spawn(async move {
                    for _ in 0..20 {
                        let read = Op::new(Read { fd, buf: Vec::with_capacity(8) });
                        let r = crate::time::timeout(Duration::from_micros(1), read).await;
                        assert!(r.is_err());
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        crate::time::sleep(Duration::from_millis(20)).await;
    });
    assert_eq!(rt.metrics().live_op_keys, 0);
    assert_eq!(rt.metrics().ops_in_flight, 0);
}
