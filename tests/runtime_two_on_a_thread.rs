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
