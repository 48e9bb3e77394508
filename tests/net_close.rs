//! Sockets close promptly: when `block_on` returns right after dropping
//! them (their close, or their operation's cancel, is submitted before it
//! returns), and when the runtime is dropped with finished operations
//! nobody collected.

mod common;

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::io::{Read, Write};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use common::bounded;
use corering::net::{TcpListener, TcpStream};
use corering::time::sleep;
use corering::{Runtime, spawn};

const LIMIT: Duration = Duration::from_secs(20);

/// A socket dropped in the last poll of `block_on`'s future queues its
/// `CLOSE` on the ring; `block_on` submits it before returning, so the peer
/// sees the end of stream while the runtime sits idle.
#[test]
fn a_stream_dropped_as_block_on_returns_is_closed() {
    bounded(LIMIT, || {
        let rt = Runtime::builder().pin(false).build().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        rt.block_on(async {
            let stream = TcpStream::connect(addr).await.unwrap();
            drop(stream);
        });
        let (mut peer, _) = listener.accept().unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let res = peer.read(&mut [0u8; 16]);
        // Keep the runtime alive (but idle) while the peer waits.
        drop(rt);
        assert!(
            matches!(res, Ok(0)),
            "the peer did not see end of stream after the stream was dropped: {res:?}"
        );
    });
}

/// The same through a dropped operation: a listener whose multishot accept
/// is armed, dropped as `block_on`'s future returns, leaves an orphan whose
/// cancel must be submitted, its final completion reaped, and then the
/// fd's close submitted, all before `block_on` returns; otherwise clients
/// still connect to a listener the program dropped.
#[test]
fn a_listener_dropped_as_block_on_returns_stops_listening() {
    bounded(LIMIT, || {
        let rt = Runtime::builder().pin(false).build().unwrap();
        let addr = rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            // Arm the multishot accept (the Acceptor keeps it after the
            // timed-out accept future is gone).
            let _ = corering::time::timeout(Duration::from_millis(5), listener.accept()).await;
            addr
        });
        let res = std::net::TcpStream::connect(addr);
        drop(rt);
        assert!(res.is_err(), "a client connected to a listener that was dropped");
    });
}

/// At shutdown, a task's completed but uncollected send of a `RecvBuf`
/// becomes an orphan in the driver's graveyard, holding the buffer (and so
/// an `Rc<Worker>`) and the socket. The drain must drop it even when
/// nothing else is in flight (no op, no armed wake-up read, no close);
/// otherwise the worker and the orphan keep each other alive, the ring is
/// never freed and the peer never sees the end of stream.
#[test]
fn a_runtime_dropped_with_a_completed_echo_of_a_recv_buf_closes_the_socket() {
    let peer_saw = bounded(LIMIT, || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"hi").unwrap();
            s.shutdown(std::net::Shutdown::Write).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 16];
            loop {
                match s.read(&mut buf) {
                    Ok(0) => return Ok(got),
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) => return Err((got, e.kind())),
                }
            }
        });
        let rt = Runtime::builder().pin(false).build().unwrap();
        rt.block_on(async {
            // Always something runnable: the worker never parks, so its
            // wake-up read is never armed (as in a busy server).
            drop(spawn(async {
                loop {
                    corering::yield_now().await;
                }
            }));
            let stream = TcpStream::connect(addr).await.unwrap();
            let echoing = Rc::new(Cell::new(false));
            let main_waker: Rc<RefCell<Option<Waker>>> = Rc::default();
            let (flag, waker) = (echoing.clone(), main_waker.clone());
            drop(spawn(async move {
                let mut recv = stream.recv_stream();
                let hi = recv.next().await.unwrap().unwrap();
                assert_eq!(&hi[..], b"hi");
                assert!(recv.next().await.is_none()); // end of stream: nothing armed
                // Let block_on's future finish in the same tick as the send
                // completes, before this task takes its result.
                flag.set(true);
                if let Some(w) = waker.borrow_mut().take() {
                    w.wake();
                }
                let _ = stream.write_all(hi).await;
                std::future::pending::<()>().await;
            }));
            std::future::poll_fn(|cx| {
                if echoing.get() {
                    Poll::Ready(())
                } else {
                    *main_waker.borrow_mut() = Some(cx.waker().clone());
                    Poll::Pending
                }
            })
            .await;
        });
        drop(rt);
        peer.join().unwrap()
    });
    assert_eq!(
        peer_saw,
        Ok(b"hi".to_vec()),
        "the echo arrived but the socket was never closed after the runtime was dropped"
    );
}

/// A read whose completion was reaped but never collected, dropped with
/// its stream as `block_on` returns: its data (holding the fd) goes to the
/// driver's graveyard with nothing queued; the flush still drops it and
/// submits the close it queues.
#[test]
fn a_stream_dropped_with_a_completed_uncollected_read_as_block_on_returns_is_closed() {
    bounded(LIMIT, || {
        let rt = Runtime::builder().pin(false).build().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut peer = rt.block_on(async {
            let stream = TcpStream::connect(addr).await.unwrap();
            let (mut peer, _) = listener.accept().unwrap();
            let mut read = Box::pin(stream.read(vec![0u8; 16]));
            // Submit the read (polled once, pending).
            poll_fn(|cx| {
                assert!(read.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            peer.write_all(b"x").unwrap();
            // The worker parks and reaps the read's completion; the read
            // future is not polled again.
            sleep(Duration::from_millis(50)).await;
            drop(read);
            drop(stream);
            peer
        });
        peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let res = peer.read(&mut [0u8; 16]);
        drop(rt);
        assert!(
            matches!(res, Ok(0)),
            "the peer did not see end of stream after block_on returned: {res:?}"
        );
    });
}

/// The same when `block_on`'s future panics: the socket it held is dropped
/// during the unwind, and its close is submitted before the panic leaves
/// `block_on` (the caller catches it and keeps the runtime, idle).
#[test]
fn a_stream_dropped_by_a_panicking_block_on_future_is_closed() {
    bounded(LIMIT, || {
        let rt = Runtime::builder().pin(false).build().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(async {
                let _stream = TcpStream::connect(addr).await.unwrap();
                panic!("the future fails while holding the stream");
            })
        }));
        assert!(res.is_err());
        let (mut peer, _) = listener.accept().unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let res = peer.read(&mut [0u8; 16]);
        drop(rt);
        assert!(matches!(res, Ok(0)), "the peer did not see end of stream: {res:?}");
    });
}
