//! Two runtimes on one thread: an operation submitted under one and
//! awaited in a task of the other is woken when its runtime is dropped
//! (its completion is `ECANCELED`), never left asleep.

mod common;

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use common::bounded;
use corering::Runtime;
use corering::net::UnixStream;

fn rt() -> Runtime {
    Runtime::builder().pin(false).build().unwrap()
}

#[test]
fn dropping_a_runtime_wakes_another_runtimes_task_awaiting_its_op() {
    bounded(Duration::from_secs(30), || {
        let a = rt();
        let b = rt();
        let (ours, _peer) = a.block_on(async { UnixStream::pair() }).unwrap();
        let mut read = Box::pin(ours.read(Vec::with_capacity(16)));
        // Submit the read under A: polled once there, it waits for data.
        a.block_on(std::future::poll_fn(|cx| {
            assert!(read.as_mut().poll(cx).is_pending());
            Poll::Ready(())
        }));
        let mut a = Some(a);
        b.block_on(async {
            let mut read = pin!(read);
            let mut dropped = false;
            std::future::poll_fn(|cx| {
                if let Poll::Ready((res, _)) = read.as_mut().poll(cx) {
                    return Poll::Ready(res);
                }
                if !dropped {
                    dropped = true;
                    // A goes away while B's task awaits A's read: the read
                    // is cancelled, and B's task must hear of it.
                    drop(a.take());
                }
                Poll::Pending
            })
            .await
            .expect_err("the read was cancelled with its runtime");
        });
    });
}

/// Poll `f` once inside runtime `rt` (arming what it arms there).
fn poll_once_in<F: Future + Unpin>(rt: &Runtime, f: &mut F) -> Poll<F::Output> {
    rt.block_on(std::future::poll_fn(|cx| Poll::Ready(std::pin::Pin::new(&mut *f).poll(cx))))
}

#[test]
fn a_recv_stream_or_accept_armed_on_a_runtime_that_is_not_running_is_an_error() {
    bounded(Duration::from_secs(30), || {
        let a = rt();
        let b = rt();
        let (ours, _peer) = a.block_on(async { UnixStream::pair() }).unwrap();
        let mut recv = ours.recv_stream();
        let mut next = Box::pin(async move {
            let first = recv.next().await;
            (first, recv)
        });
        assert!(poll_once_in(&a, &mut next).is_pending(), "armed on A, nothing to read");
        let (first, mut recv) = b.block_on(next);
        let err = first.expect("an item").expect_err("an error, not a wait");
        assert!(err.to_string().contains("another corering runtime"), "{err}");
        assert!(b.block_on(recv.next()).is_none(), "and then the stream ends");

        let listener = a.block_on(async { corering::net::TcpListener::bind("127.0.0.1:0") });
        let listener = listener.unwrap();
        let mut accept = Box::pin(async { listener.accept().await.map(|_| ()) });
        assert!(poll_once_in(&a, &mut accept).is_pending());
        let err = b.block_on(accept).expect_err("an error, not a wait");
        assert!(err.to_string().contains("another corering runtime"), "{err}");
    });
}

#[test]
fn a_join_handle_awaited_in_another_runtime_on_its_thread_panics_clearly() {
    bounded(Duration::from_secs(30), || {
        let a = rt();
        let b = rt();
        let sleeper = async {
            corering::time::sleep(Duration::from_secs(60)).await;
        };
        let handle = a.handle().spawn(sleeper);
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.block_on(handle)));
        let msg = run.expect_err("a panic, not a wait");
        let msg = msg
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| msg.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        assert!(msg.contains("while that runtime is not running"), "{msg}");
    });
}
